//! The benchmarks behind `cargo xtask bench` (a package of its own, so that `cargo
//! xtask setup` builds none of the crates measured here):
//!
//! - `embed [DIR] [--models yunet_sface]`: `face-sets embed` beside Python InsightFace
//!   (and, for `yunet_sface`, beside OpenCV) on the same photos, models and machine, in
//!   one run.
//! - `cluster [N...]`, `export`, `immich`: see `cargo xtask --help`.
//!
//! Without DIR, `embed` runs on two sets made from the fixtures. The small set: each
//! photo in 8 byte-distinct copies (a few bytes after the end of the image change the
//! hash, not the picture), so that both tools do the same work and nothing is
//! deduplicated away. The camera set: every fixture with a face as 12-megapixel JPEGs,
//! as phones write them (`fs-fixtures`), filling the frame and small in it.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark driver"
)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail, ensure};
use fs_packs::Locations;

const COPIES: u8 = 8;

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> anyhow::Result<()> {
    match args.first().map(String::as_str) {
        Some("embed") => {
            // `embed [DIR] [--provider P] [--models PACK[,PACK]]`, in any order.
            let mut dir = None;
            let mut provider = "cpu".to_string();
            let mut packs = Vec::new();
            let mut rest = args[1..].iter();
            while let Some(arg) = rest.next() {
                if arg == "--provider" {
                    provider.clone_from(rest.next().context("--provider needs a value")?);
                } else if arg == "--models" {
                    let value = rest.next().context("--models needs a value")?;
                    packs.extend(value.split(',').map(str::to_string));
                } else {
                    dir = Some(PathBuf::from(arg));
                }
            }
            embed(dir, &provider, &packs)
        }
        Some("cluster") => cluster(&args[1..]),
        Some("export") => {
            // `export [--keep DIR]`: the photo sets and outputs stay in DIR.
            let keep = match args.get(1).map(String::as_str) {
                Some("--keep") => {
                    Some(PathBuf::from(args.get(2).context("--keep needs a folder")?))
                }
                Some(other) => anyhow::bail!("bench export: unknown argument {other:?}"),
                None => None,
            };
            export(keep.as_deref())
        }
        Some("immich") => immich(),
        Some("review") => review(),
        Some("decode") => decode(),
        Some("quality") => {
            // `quality DIR [PACK...] [--cluster D,D...]`
            let dir = args
                .get(1)
                .context("usage: cargo xtask bench quality DIR [PACK...] [--cluster D,D...]")?;
            let (mut packs, mut sweep) = (Vec::new(), Vec::new());
            let (mut opencv, mut insightface) = (false, false);
            let mut rest = args[2..].iter();
            while let Some(arg) = rest.next() {
                if arg == "--opencv" {
                    opencv = true;
                } else if arg == "--insightface" {
                    insightface = true;
                } else if arg == "--cluster" {
                    let list = rest.next().context("--cluster needs distances")?;
                    for d in list.split(',') {
                        sweep.push(d.parse::<f32>().with_context(|| format!("--cluster {d}"))?);
                    }
                } else {
                    packs.push(arg.clone());
                }
            }
            if packs.is_empty() {
                packs = vec!["buffalo_s".into(), "yunet_sface".into()];
            }
            quality(Path::new(dir), &packs, &sweep, opencv, insightface)
        }
        _ => bail!(
            "usage: cargo xtask bench embed [DIR] [--provider P] [--models PACK] | cluster [--shape S]... [--seed K] [N...] | export | immich | review | decode | quality DIR [PACK...]"
        ),
    }
}

/// Builds `face-sets` in release and returns the binary.
fn build_release(root: &Path) -> anyhow::Result<PathBuf> {
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "-p", "face-sets"])
        .current_dir(root)
        .status()?;
    ensure!(status.success(), "release build failed");
    Ok(root.join("target/release/face-sets"))
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// One tool timed by `bench embed`.
struct Contender {
    label: String,
    program: PathBuf,
    args: Vec<std::ffi::OsString>,
    /// Prints the reference's JSON (Python) rather than face-sets' summary line.
    python: bool,
}

/// What one timed run did.
#[derive(Clone, Copy)]
struct EmbedTiming {
    secs: f64,
    images: usize,
    faces: usize,
    /// Python only: model loading and the photo loop, timed inside the process.
    split: Option<(f64, f64)>,
}

/// `face-sets embed` on `provider` with `buffalo_s` and each pack of `extra_packs`,
/// beside the Python reference of each pack (InsightFace for `buffalo_s`, OpenCV for
/// `yunet_sface`, both on the CPU), in one run.
fn embed(dir: Option<PathBuf>, provider: &str, extra_packs: &[String]) -> anyhow::Result<()> {
    let root = workspace_root();
    let scratch = tempfile::tempdir()?;
    let sets = if let Some(d) = dir {
        vec![("photos given".to_string(), d)]
    } else {
        let fixtures = root.join("fixtures/images");
        let small = make_bench_set(&fixtures, &scratch.path().join("small"))?;
        let camera = make_camera_set(&root, &scratch.path().join("camera"))?;
        vec![
            (format!("small web photos, {COPIES} copies each"), small),
            (
                "camera-size: 12-MP JPEGs (4032×3024), faces large and small".into(),
                camera,
            ),
        ]
    };
    let locations = Locations::with_overrides(
        std::env::var_os(fs_packs::locations::MODELS_VARIABLE),
        std::env::var_os(fs_packs::locations::RUNTIME_VARIABLE),
    );

    eprintln!("building face-sets (release)…");
    let bin = build_release(&root)?;
    let python = bench_python(&root)?;

    let mut packs = vec!["buffalo_s".to_string()];
    packs.extend(extra_packs.iter().filter(|p| *p != "buffalo_s").cloned());
    for (label, dir) in &sets {
        let contenders = embed_contenders(&root, &locations, &bin, &python, &packs, provider, dir)?;
        let best = time_contenders(&contenders, scratch.path())?;
        print_embed_table(label, dir, provider, &contenders, &best);
    }
    Ok(())
}

/// The camera set: every fixture with a face as 12-MP JPEGs, into `out`.
fn make_camera_set(root: &Path, out: &Path) -> anyhow::Result<PathBuf> {
    eprintln!("making the camera-size set (12-MP JPEGs)…");
    let labelled = fs_fixtures::labels(&root.join("fixtures"))?;
    fs_fixtures::write_camera_set(&root.join("fixtures/images"), out, CAMERA_COPIES, |p| {
        p.file_name()
            .and_then(|n| labelled.get(&n.to_string_lossy().into_owned()))
            .is_some_and(|identity| !identity.is_empty())
    })?;
    Ok(out.to_path_buf())
}

/// Copies of each fixture in the camera set, in each framing.
const CAMERA_COPIES: u64 = 2;

/// `face-sets embed` with each pack beside the Python reference of that pack.
fn embed_contenders(
    root: &Path,
    locations: &Locations,
    bin: &Path,
    python: &Path,
    packs: &[String],
    provider: &str,
    dir: &Path,
) -> anyhow::Result<Vec<Contender>> {
    let mut contenders = Vec::new();
    for pack in packs {
        let pack_dir = locations.pack_dir(pack);
        ensure!(
            pack_dir.is_dir(),
            "pack {pack} is not installed at {} (run `cargo xtask setup`)",
            pack_dir.display()
        );
        contenders.push(Contender {
            label: format!("face-sets embed {pack}"),
            program: bin.to_path_buf(),
            args: ["--quiet", "embed", "--provider", provider, "--models", pack]
                .into_iter()
                .map(Into::into)
                .chain([dir.as_os_str().to_owned()])
                .collect(),
            python: false,
        });
        let (script, label) = match pack.as_str() {
            "yunet_sface" => ("scripts/bench_opencv.py", "OpenCV (Python)"),
            _ => ("scripts/bench_insightface.py", "InsightFace (Python)"),
        };
        contenders.push(Contender {
            label: format!("{label} {pack}"),
            program: python.to_path_buf(),
            args: vec![
                root.join(script).into_os_string(),
                "--models".into(),
                pack_dir.into_os_string(),
                dir.as_os_str().to_owned(),
            ],
            python: true,
        });
    }
    Ok(contenders)
}

/// Runs every contender three times, alternating, and keeps each one's best run.
fn time_contenders(contenders: &[Contender], scratch: &Path) -> anyhow::Result<Vec<EmbedTiming>> {
    // Alternate the tools, three runs each, and keep each one's best.
    let mut best: Vec<Option<EmbedTiming>> = vec![None; contenders.len()];
    for round in 0..3 {
        for (i, contender) in contenders.iter().enumerate() {
            let mut command = Command::new(&contender.program);
            command.args(&contender.args);
            if !contender.python {
                // A fresh cache each round, so every round embeds every photo.
                let cache = scratch.join(format!("bench{round}-{i}.fsc"));
                let _ = fs::remove_file(&cache);
                command.arg(cache);
            }
            let start = Instant::now();
            let out = command.output()?;
            let secs = start.elapsed().as_secs_f64();
            let timing = if contender.python {
                ensure!(
                    out.status.success(),
                    "{} failed: {}",
                    contender.label,
                    String::from_utf8_lossy(&out.stderr)
                );
                let r: Reference = serde_json::from_slice(&out.stdout).with_context(|| {
                    format!("reference printed {}", String::from_utf8_lossy(&out.stdout))
                })?;
                EmbedTiming {
                    secs,
                    images: r.images,
                    faces: r.faces,
                    split: Some((r.load_s, r.run_s)),
                }
            } else {
                ensure!(
                    out.status.code().is_some_and(|c| c <= 1),
                    "{} failed: {}",
                    contender.label,
                    String::from_utf8_lossy(&out.stderr)
                );
                let (images, faces) = parse_summary(&String::from_utf8_lossy(&out.stderr))?;
                EmbedTiming {
                    secs,
                    images,
                    faces,
                    split: None,
                }
            };
            if best[i].is_none_or(|b| timing.secs < b.secs) {
                best[i] = Some(timing);
            }
        }
    }
    Ok(best.into_iter().map(|b| b.expect("three runs")).collect())
}

fn print_embed_table(
    label: &str,
    dir: &Path,
    provider: &str,
    contenders: &[Contender],
    best: &[EmbedTiming],
) {
    #[expect(clippy::cast_precision_loss, reason = "counts are small")]
    let rate = |n: usize, s: f64| n as f64 / s;
    println!(
        "\nbench embed, {label}: {} photos in {}; face-sets on {provider}",
        best[0].images,
        dir.display()
    );
    println!(
        "{:<34} {:>9} {:>9} {:>9} {:>7}",
        "", "seconds", "images/s", "faces/s", "faces"
    );
    for (contender, t) in contenders.iter().zip(best) {
        println!(
            "{:<34} {:>9.2} {:>9.2} {:>9.2} {:>7}",
            contender.label,
            t.secs,
            rate(t.images, t.secs),
            rate(t.faces, t.secs),
            t.faces
        );
        if let Some((load_s, run_s)) = t.split {
            println!(
                "{:<34} {:>9.2} {:>9.2} (model load {load_s:.2}s + loop {run_s:.2}s)",
                "  of which loop only",
                run_s,
                rate(t.images, run_s),
            );
        }
    }
    let baseline = best[0].secs;
    println!("ratios (images/s, whole process; against face-sets embed buffalo_s):");
    for (contender, t) in contenders.iter().zip(best).skip(1) {
        println!("  {:<32} {:.2}x", contender.label, baseline / t.secs);
    }
    for (pair, names) in best.chunks(2).zip(contenders.chunks(2)) {
        if let ([ours, theirs], [our_name, their_name]) = (pair, names) {
            println!(
                "  {} / {}: {:.2}x the images/s",
                our_name.label,
                their_name.label,
                theirs.secs / ours.secs
            );
            if ours.faces != theirs.faces {
                println!(
                    "note: face counts differ ({} vs {}): the recovery pass finds frame-filling faces",
                    ours.faces, theirs.faces
                );
            }
        }
    }
}

/// `cargo xtask bench export`: `run` end to end on the bench set beside the sum of its
/// stages run one by one, crops/s of export-swap, and `.fsz` MB/s.
/// A labelled set's photo → person: `DIR/labels.csv` (`path,identity`, LFW's layout as
/// `extract-dev.sh` writes it; each photo's labelled face is the one nearest the centre),
/// else one folder per person (the largest face of each photo).
fn labelled_set(dir: &Path) -> anyhow::Result<(PathBuf, BTreeMap<PathBuf, String>, bool)> {
    let csv = dir.join("labels.csv");
    let mut labels = BTreeMap::new();
    if csv.is_file() {
        for line in std::fs::read_to_string(&csv)?.lines().skip(1) {
            if let Some((path, identity)) = line.split_once(',')
                && !identity.is_empty()
            {
                labels.insert(std::path::absolute(dir.join(path))?, identity.to_string());
            }
        }
        let photos = dir.join("images");
        return Ok((
            if photos.is_dir() {
                photos
            } else {
                dir.to_path_buf()
            },
            labels,
            true,
        ));
    }
    for person in std::fs::read_dir(dir)? {
        let person = person?.path();
        if !person.is_dir() {
            continue;
        }
        let name = person
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        for photo in walkdir::WalkDir::new(&person).into_iter().flatten() {
            if photo.file_type().is_file() {
                labels.insert(std::path::absolute(photo.path())?, name.clone());
            }
        }
    }
    Ok((dir.to_path_buf(), labels, false))
}

/// B³ and pairwise precision, recall and F over `items` (predicted cluster, label).
#[expect(clippy::cast_precision_loss, reason = "shares of counts")]
fn clustering_scores(items: &[(usize, &str)]) -> [f64; 6] {
    use std::collections::HashMap;
    fn pairs<K>(m: &HashMap<K, f64>) -> f64 {
        m.values().map(|k| k * (k - 1.0) / 2.0).sum()
    }
    let mut cluster_size: HashMap<usize, f64> = HashMap::new();
    let mut label_size: HashMap<&str, f64> = HashMap::new();
    let mut both: HashMap<(usize, &str), f64> = HashMap::new();
    for &(c, l) in items {
        *cluster_size.entry(c).or_default() += 1.0;
        *label_size.entry(l).or_default() += 1.0;
        *both.entry((c, l)).or_default() += 1.0;
    }
    let n = items.len().max(1) as f64;
    let (mut p, mut r) = (0.0, 0.0);
    for &(c, l) in items {
        let common = both[&(c, l)];
        p += common / cluster_size[&c];
        r += common / label_size[&l];
    }
    let (p, r) = (p / n, r / n);
    let (tp, predicted, actual) = (pairs(&both), pairs(&cluster_size), pairs(&label_size));
    let (pp, pr) = (tp / predicted.max(1.0), tp / actual.max(1.0));
    let f = |a: f64, b: f64| {
        if a + b > 0.0 {
            2.0 * a * b / (a + b)
        } else {
            0.0
        }
    };
    [p, r, f(p, r), pp, pr, f(pp, pr)]
}

/// `bench quality DIR`: each pack embeds the labelled photos and clusters them at its
/// defaults; each photo is represented by its labelled face.
#[expect(clippy::cast_precision_loss, reason = "shares of counts")]
fn quality(
    dir: &Path,
    packs: &[String],
    sweep: &[f32],
    opencv: bool,
    insightface: bool,
) -> anyhow::Result<()> {
    let (photos, labels, centred) = labelled_set(dir)?;
    ensure!(
        !labels.is_empty(),
        "{} holds no labelled photos",
        dir.display()
    );
    let people = labels
        .values()
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let root = workspace_root();
    let bin = build_release(&root)?;
    // Caches kept between runs (a set of thousands of photos takes minutes to embed).
    let scratch = root.join("target/bench-quality").join(
        std::path::absolute(dir)?
            .to_string_lossy()
            .replace(['/', '\\', ':'], "_"),
    );
    std::fs::create_dir_all(&scratch)?;
    println!(
        "{}: {} photos of {people} people; each photo is its {} face",
        dir.display(),
        labels.len(),
        if centred { "most central" } else { "largest" }
    );
    println!(
        "{:<20} {:>7} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>8} {:>7} {:>10}",
        "pack",
        "recall",
        "B3-P",
        "B3-R",
        "B3-F",
        "pair-P",
        "pair-R",
        "pair-F",
        "clusters",
        "impure",
        "same-photo"
    );
    for pack in packs {
        let cache_path = scratch.join(format!("{pack}.fsc"));
        let start = Instant::now();
        let out = Command::new(&bin)
            .args(["--quiet", "embed", "--provider", "cpu", "--models", pack])
            .arg(&photos)
            .arg(&cache_path)
            .output()?;
        ensure!(
            out.status.code().is_some_and(|c| c <= 1),
            "{pack}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let embed_secs = start.elapsed().as_secs_f64();
        let cache = fs_cache::Cache::open_read_only(&cache_path)?;
        let at: Vec<Option<f32>> = if sweep.is_empty() {
            vec![None]
        } else {
            sweep.iter().copied().map(Some).collect()
        };
        let linkings = [
            ("", None),
            (
                " no-bar",
                Some(fs_identities::linking::Linking {
                    bar: None,
                    apart: true,
                }),
            ),
            (" plain", Some(fs_identities::linking::Linking::plain())),
        ];
        for (cluster_at, (how, linking)) in at
            .iter()
            .flat_map(|&d| linkings.iter().map(move |l| (d, *l)))
        {
            let overrides: fs_pipeline::Overrides =
                [(fs_packs::thresholds::Family::Cluster, cluster_at)]
                    .into_iter()
                    .collect();
            let clusters = fs_pipeline::identities::people_linked(
                &cache,
                &overrides,
                linking,
                &fs_progress::Silent,
            );
            // Clusters holding two faces of one photo (what cannot-link forbids).
            let same_photo = clusters
                .clusters
                .iter()
                .filter(|c| fs_identities::faces::distinct_images(&c.faces) < c.faces.len())
                .count();
            let name = cluster_at.map_or_else(|| pack.clone(), |d| format!("{pack}@{d:.2}")) + how;
            let mut cluster_of: std::collections::HashMap<&str, usize> =
                std::collections::HashMap::new();
            for (c, cluster) in clusters.clusters.iter().enumerate() {
                for face in &cluster.faces {
                    cluster_of.insert(face.key.as_str(), c);
                }
            }
            let mut items: Vec<(usize, &str)> = Vec::new();
            let mut found = 0usize;
            for image in cache.images() {
                let Some(label) = image.all_paths().find_map(|p| labels.get(p)) else {
                    continue;
                };
                let chosen = if centred {
                    image.central_face()
                } else {
                    image.largest_face()
                };
                let Some((index, _)) = chosen else { continue };
                found += image
                    .all_paths()
                    .filter(|p| labels.contains_key(*p))
                    .count();
                let key = fs_cache::FaceKey {
                    hash: image.hash,
                    index: u32::try_from(index)?,
                }
                .to_string();
                // A face in no cluster is a cluster of its own.
                let cluster = cluster_of
                    .get(key.as_str())
                    .copied()
                    .unwrap_or(usize::MAX - items.len());
                items.push((cluster, label.as_str()));
            }
            let scores = clustering_scores(&items);
            let mut mixed: BTreeMap<usize, BTreeMap<&str, usize>> = BTreeMap::new();
            for &(c, l) in &items {
                *mixed.entry(c).or_default().entry(l).or_default() += 1;
            }
            let impure: Vec<&BTreeMap<&str, usize>> =
                mixed.values().filter(|m| m.len() > 1).collect();
            println!(
                "{name:<20} {:>7.4} {:>6.4} {:>6.4} {:>6.4} {:>6.4} {:>6.4} {:>6.4} {:>8} {:>7} {same_photo:>10}   (embed {embed_secs:.0} s)",
                found as f64 / labels.len() as f64,
                scores[0],
                scores[1],
                scores[2],
                scores[3],
                scores[4],
                scores[5],
                clusters.clusters.len(),
                impure.len()
            );
            for m in impure.iter().take(5) {
                let parts: Vec<String> = m.iter().map(|(l, n)| format!("{l} {n}")).collect();
                println!("    impure: {}", parts.join(", "));
            }
        }
    }
    if opencv {
        let python = venv_python(
            &root,
            "bench-venv-opencv",
            "cv2",
            &["opencv-python-headless==5.0.0.93"],
        )?;
        let reference = RefPipeline {
            name: "OpenCV",
            python,
            script: "scripts/bench_opencv.py",
            pack: "yunet_sface",
        };
        reference_quality(&root, &reference, &photos, &labels, &scratch, sweep)?;
    }
    if insightface {
        let reference = RefPipeline {
            name: "InsightFace",
            python: bench_python(&root)?,
            script: "scripts/bench_insightface.py",
            pack: "buffalo_s",
        };
        reference_quality(&root, &reference, &photos, &labels, &scratch, sweep)?;
    }
    Ok(())
}

/// A reference pipeline run by `bench quality`: a Python script on a pack's files.
struct RefPipeline {
    name: &'static str,
    python: PathBuf,
    script: &'static str,
    /// The pack whose files it runs, and whose cluster distance it is clustered at.
    pack: &'static str,
}

/// A reference pipeline on the same photos (its script writes every face's box and
/// embedding), clustered by the same average linkage at its pack's cluster distance (or
/// each of `sweep`), each photo its face nearest the centre.
#[expect(clippy::cast_precision_loss, reason = "shares of counts")]
fn reference_quality(
    root: &Path,
    reference: &RefPipeline,
    photos: &Path,
    labels: &BTreeMap<PathBuf, String>,
    scratch: &Path,
    sweep: &[f32],
) -> anyhow::Result<()> {
    let locations = Locations::with_overrides(
        std::env::var_os(fs_packs::locations::MODELS_VARIABLE),
        std::env::var_os(fs_packs::locations::RUNTIME_VARIABLE),
    );
    let lines = scratch.join(format!("{}.jsonl", reference.name));
    if !lines.is_file() {
        let out = Command::new(&reference.python)
            .arg(root.join(reference.script))
            .arg("--models")
            .arg(locations.pack_dir(reference.pack))
            .arg("--embeddings")
            .arg(&lines)
            .arg(photos)
            .output()?;
        ensure!(
            out.status.success(),
            "{}: {}",
            reference.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Every face of every photo, and each labelled photo's face nearest its centre.
    let mut rows: Vec<Vec<f32>> = Vec::new();
    let mut chosen: Vec<(usize, &str)> = Vec::new();
    for line in std::fs::read_to_string(&lines)?.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let path = PathBuf::from(v["path"].as_str().context("path")?);
        let (w, h) = (
            v["width"].as_f64().unwrap_or(0.0),
            v["height"].as_f64().unwrap_or(0.0),
        );
        let numbers = |x: &serde_json::Value| -> Vec<f64> {
            x.as_array()
                .map(|a| a.iter().filter_map(serde_json::Value::as_f64).collect())
                .unwrap_or_default()
        };
        let mut best: Option<(f64, usize)> = None;
        for face in v["faces"].as_array().context("faces")? {
            let b = numbers(&face["bbox"]);
            ensure!(b.len() == 4, "a box of four numbers");
            let off =
                (f64::midpoint(b[0], b[2]) - w / 2.0).hypot(f64::midpoint(b[1], b[3]) - h / 2.0);
            #[expect(clippy::cast_possible_truncation, reason = "embeddings are f32")]
            let e: Vec<f32> = numbers(&face["embedding"])
                .into_iter()
                .map(|x| x as f32)
                .collect();
            let norm = e.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            rows.push(e.iter().map(|x| x / norm).collect());
            if best.is_none_or(|(o, _)| off < o) {
                best = Some((off, rows.len() - 1));
            }
        }
        if let (Some(label), Some((_, row))) = (labels.get(&path), best) {
            chosen.push((row, label.as_str()));
        }
    }
    let embeddings = fs_cluster::Embeddings::from_rows(rows.first().map_or(128, Vec::len), &rows);
    let default = fs_packs::thresholds::for_pack(reference.pack).0.cluster;
    let at: Vec<f32> = if sweep.is_empty() {
        vec![default]
    } else {
        sweep.to_vec()
    };
    for threshold in at {
        let clusters = fs_cluster::agglomerative::cluster(&embeddings, threshold);
        let mut cluster_of = vec![usize::MAX; rows.len()];
        for (c, members) in clusters.iter().enumerate() {
            for &m in members {
                cluster_of[m] = c;
            }
        }
        let items: Vec<(usize, &str)> = chosen
            .iter()
            .map(|&(row, l)| (cluster_of[row], l))
            .collect();
        let s = clustering_scores(&items);
        let multi = clusters.iter().filter(|c| c.len() > 1).count();
        println!(
            "{:<12} {:>7.4} {:>6.4} {:>6.4} {:>6.4} {:>6.4} {:>6.4} {:>6.4} {:>8}",
            format!("{}@{threshold:.2}", reference.name),
            chosen.len() as f64 / labels.len() as f64,
            s[0],
            s[1],
            s[2],
            s[3],
            s[4],
            s[5],
            multi
        );
    }
    Ok(())
}

/// Scaled decoding, measured: a large face's export crop from the scaled decode against
/// the full one (the README's "2.35× faster"), and `face-sets embed` on a 100-megapixel
/// JPEG with and without `--full-decode` (time and peak resident memory).
fn decode() -> anyhow::Result<()> {
    use fs_detect::crop::{crop_decode_side, crop_single_face};
    use fs_detect::decode::{decode_photo, decode_photo_scaled};
    let root = workspace_root();
    let source = image::open(root.join("fixtures/images/f0009.jpg"))?.to_rgb8();
    let portrait = fs_fixtures::jpeg(&fs_fixtures::camera_photo(
        &source,
        fs_fixtures::Framing::Fill,
        7,
    ));
    let full = decode_photo(None, &portrait)?;
    let size = full.dimensions();
    // A face of about 1,400 px in the middle, as in crates/fs-export/tests/crop_decode.rs.
    let half = |v: u32| f32::from(u16::try_from(v / 2).expect("a camera's side"));
    let (cx, cy) = (half(size.0), half(size.1));
    let bbox = [cx - 600.0, cy - 700.0, cx + 600.0, cy + 700.0];
    let side = crop_decode_side(size, bbox, 512);
    let best_of = |f: &dyn Fn() -> anyhow::Result<()>| -> anyhow::Result<f64> {
        let mut best = f64::INFINITY;
        for _ in 0..7 {
            let start = Instant::now();
            f()?;
            best = best.min(start.elapsed().as_secs_f64());
        }
        Ok(best)
    };
    let scaled_secs = best_of(&|| {
        let scaled = decode_photo_scaled(None, &portrait, side)?;
        crop_single_face(&scaled.image, scaled.map_box(bbox), &[], 0.5, 512);
        Ok(())
    })?;
    let full_secs = best_of(&|| {
        let full = decode_photo(None, &portrait)?;
        crop_single_face(&full, bbox, &[], 0.5, 512);
        Ok(())
    })?;
    println!(
        "export crop of a 1,400-px face in a {}x{} JPEG (best of 7): decoded to {side} px {:.0} ms, \
         full size {:.0} ms: {:.2}x faster",
        size.0,
        size.1,
        scaled_secs * 1e3,
        full_secs * 1e3,
        full_secs / scaled_secs
    );

    let bin = build_release(&root)?;
    let scratch = tempfile::tempdir()?;
    let photos = scratch.path().join("photos");
    std::fs::create_dir_all(&photos)?;
    let big = fs_detect::decode::resize_lanczos(&source, 10_000, 10_000);
    std::fs::write(photos.join("100mp.jpg"), fs_fixtures::jpeg(&big))?;
    let small = scratch.path().join("small");
    std::fs::create_dir_all(&small)?;
    std::fs::copy(root.join("fixtures/images/f0009.jpg"), small.join("a.jpg"))?;
    println!("face-sets embed, one photo (wall time, peak resident memory):");
    for (what, dir, flags) in [
        ("a small photo (the models loaded)", &small, &[][..]),
        ("100-MP JPEG, scaled decoding", &photos, &[][..]),
        (
            "100-MP JPEG, --full-decode",
            &photos,
            &["--full-decode"][..],
        ),
    ] {
        let cache = scratch
            .path()
            .join(format!("{}.fsc", flags.len() + what.len()));
        let start = Instant::now();
        let mut child = Command::new(&bin)
            .args(["--quiet", "embed", "--provider", "cpu"])
            .args(flags)
            .arg(dir)
            .arg(&cache)
            .stderr(std::process::Stdio::null())
            .spawn()?;
        let status_file = format!("/proc/{}/status", child.id());
        let mut peak_kb = 0u64;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if let Ok(text) = std::fs::read_to_string(&status_file) {
                let hwm = text
                    .lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok());
                peak_kb = peak_kb.max(hwm.unwrap_or(0));
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        ensure!(status.success(), "{what}: embed failed");
        println!(
            "  {what:<36} {:>6.2} s {:>6} MB",
            start.elapsed().as_secs_f64(),
            peak_kb / 1024
        );
    }
    Ok(())
}

fn export(keep: Option<&Path>) -> anyhow::Result<()> {
    let root = workspace_root();
    let temporary = tempfile::tempdir()?;
    let scratch = keep.unwrap_or(temporary.path());
    if keep.is_some() && scratch.exists() {
        anyhow::bail!("{} exists; --keep wants a new folder", scratch.display());
    }
    let fixtures = root.join("fixtures/images");
    let photos = make_bench_set(&fixtures, &scratch.join("photos"))?;
    let camera = make_camera_set(&root, &scratch.join("camera"))?;
    let bin = build_release(&root)?;
    let timed = |args: &[&std::ffi::OsStr]| -> anyhow::Result<f64> {
        let start = Instant::now();
        let out = Command::new(&bin).arg("--quiet").args(args).output()?;
        ensure!(
            out.status.code().is_some_and(|c| c <= 1),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(start.elapsed().as_secs_f64())
    };
    let os = |s: &str| std::ffi::OsString::from(s);

    let mut d = PathBuf::new();
    for (label, set) in [
        ("small web photos", &photos),
        ("camera-size 12-MP JPEGs", &camera),
    ] {
        let count = fs::read_dir(set)?.count();
        // `run` from scratch against `embed` alone, alternating, the better of two each.
        let (mut run_secs, mut embed_secs) = (f64::INFINITY, f64::INFINITY);
        for round in 0..2 {
            let fresh = scratch.join(format!("pair-{label}-{round}"));
            run_secs = run_secs.min(timed(&[
                &os("run"),
                &os("--min-faces"),
                &os("2"),
                set.as_os_str(),
                fresh.join("run").as_os_str(),
            ])?);
            embed_secs = embed_secs.min(timed(&[
                &os("embed"),
                set.as_os_str(),
                fresh.join("embed.fsc").as_os_str(),
            ])?);
        }
        d = scratch.join(format!("stages-{label}"));
        fs::create_dir_all(&d)?;
        let p = |name: &str| d.join(name).into_os_string();
        let stages: Vec<(&str, Vec<std::ffi::OsString>)> = vec![
            (
                "embed",
                vec![os("embed"), set.clone().into_os_string(), p("cache.fsc")],
            ),
            ("cluster", vec![os("cluster"), p("cache.fsc"), p("raw")]),
            (
                "refine",
                vec![
                    os("refine"),
                    os("--min-faces"),
                    os("2"),
                    p("cache.fsc"),
                    p("facesets"),
                ],
            ),
            ("dedup", vec![os("dedup"), p("cache.fsc")]),
            ("enrich", vec![os("enrich"), p("cache.fsc")]),
            (
                "export-swap",
                vec![
                    os("export-swap"),
                    p("cache.fsc"),
                    d.join("facesets/refine_manifest.json").into_os_string(),
                    p("facesets_swap_ready"),
                    os("--raw-manifest"),
                    d.join("raw/manifest.json").into_os_string(),
                    os("--candidates"),
                ],
            ),
            ("report", vec![os("report"), d.clone().into_os_string()]),
        ];
        println!("bench export: {count} {label}");
        let mut total = 0.0;
        for (name, args) in &stages {
            let refs: Vec<&std::ffi::OsStr> =
                args.iter().map(std::ffi::OsString::as_os_str).collect();
            let secs = timed(&refs)?;
            println!("  {name:<12} {secs:>7.2} s");
            total += secs;
        }
        println!("  {:<12} {total:>7.2} s  (sum of stages)", "total");
        println!(
            "  run from scratch {run_secs:.2} s, embed alone {embed_secs:.2} s (better of two each): \
             run / embed = {:.2}",
            run_secs / embed_secs
        );
    }
    // The crop check's cost: the same export into fresh libraries with and without it.
    let export_into = |out: &str, flags: &[&str]| {
        let mut args: Vec<&std::ffi::OsStr> = vec!["export-swap".as_ref()];
        args.extend(flags.iter().map(std::ffi::OsStr::new));
        let (cache, refined, out, raw) = (
            d.join("cache.fsc"),
            d.join("facesets/refine_manifest.json"),
            d.join(out),
            d.join("raw/manifest.json"),
        );
        args.extend([cache.as_os_str(), refined.as_os_str(), out.as_os_str()]);
        args.extend([
            "--raw-manifest".as_ref(),
            raw.as_os_str(),
            "--candidates".as_ref(),
        ]);
        timed(&args)
    };
    let export_secs = export_into("checked", &[])?;
    let unchecked_secs = export_into("unchecked", &["--no-crop-check"])?;
    let library = fs_library::read_manifest(&d.join("checked/manifest.json"))?;
    let crops: usize = library.facesets.iter().map(|e| e.export.faces.len()).sum();
    let mut pngs = Vec::new();
    for f in library.facesets.iter().map(|e| &e.export) {
        for face in &f.faces {
            pngs.push(fs::read(d.join("checked").join(&f.name).join(&face.png))?);
        }
    }
    let bytes: usize = pngs.iter().map(Vec::len).sum();
    let target = scratch.join("bench.fsz");
    let start = Instant::now();
    let rounds = 20;
    for _ in 0..rounds {
        fs_export::swap::write_bundle(&target, &pngs)?;
    }
    let bundle_secs = start.elapsed().as_secs_f64() / f64::from(rounds);
    #[expect(clippy::cast_precision_loss, reason = "small counts")]
    {
        println!(
            "export-swap     {:.1} crops/s ({crops} crops in {export_secs:.2} s, whole process)",
            crops as f64 / export_secs
        );
        println!(
            "crop check      export-swap {export_secs:.2} s with it, {unchecked_secs:.2} s without \
             (--no-crop-check): {:.2}x",
            export_secs / unchecked_secs
        );
        println!(
            ".fsz bundles    {:.0} MB/s ({:.1} MB of PNGs)",
            bytes as f64 / 1e6 / bundle_secs,
            bytes as f64 / 1e6
        );
    }
    Ok(())
}

/// `cargo xtask bench immich`: staging throughput against the loopback Immich double
/// with 50 ms added to every answer, at 1, 4, 8 and 16 workers.
fn immich() -> anyhow::Result<()> {
    use fs_immich::mock::{MockAsset, MockImmich};
    const ASSETS: usize = 64;
    let base = fs::read(workspace_root().join("fixtures/images/f0012.jpg"))?;
    let assets: Vec<MockAsset> = (0..ASSETS)
        .map(|i| {
            let mut bytes = base.clone();
            bytes.extend_from_slice(&u32::try_from(i).expect("small").to_le_bytes());
            MockAsset::image(
                &format!("a{i}"),
                &format!("/lib/{i}.jpg"),
                bytes,
                (910, 1137),
                vec![[0.0, 0.0, 300.0, 300.0]],
            )
        })
        .collect();
    println!("bench immich: {ASSETS} assets (faces + original each), 50 ms per answer");
    let mut baseline = None;
    for workers in [1, 4, 8, 16] {
        let mock = MockImmich::start_with(assets.clone(), "bench-key", 250, false);
        mock.set_latency(std::time::Duration::from_millis(50));
        let dir = tempfile::tempdir()?;
        let mut options = fs_immich::stage::StageOptions::new("bench", dir.path());
        options.workers = workers;
        let client = fs_immich::client::Client::new(mock.url(), "bench-key");
        let start = Instant::now();
        let summary = fs_immich::stage::stage(&client, &options, &fs_progress::Silent)?;
        let secs = start.elapsed().as_secs_f64();
        ensure!(
            summary.staged == ASSETS,
            "staged {} of {ASSETS}",
            summary.staged
        );
        #[expect(clippy::cast_precision_loss, reason = "small counts")]
        let rate = ASSETS as f64 / secs;
        let base = *baseline.get_or_insert(rate);
        println!(
            "  {workers:>2} workers: {secs:>6.2} s, {rate:>6.1} assets/s ({:.1}x one worker)",
            rate / base
        );
    }
    Ok(())
}

/// `cargo xtask bench review`: the review page over a library of 300 identities and
/// 50,000 faces: opening it, its first view beside a view of every face, thumbnails
/// made and then read back, and the page in headless Chromium beside a small library.
#[expect(
    clippy::cast_precision_loss,
    reason = "byte and face counts far below 2^52"
)]
fn review() -> anyhow::Result<()> {
    const IDENTITIES: usize = 300;
    const FACES: usize = 50_000;
    const THUMBNAILS: usize = 300;
    const DECISIONS: usize = 10;
    let dir = tempfile::tempdir()?;
    let library = dir.path().join("facesets_swap_ready");
    let large = fs_fixtures::library::write_large(&library, IDENTITIES, FACES)?;
    let cache = dir.path().join("cache.fsc");
    drop(fs_cache::Cache::open(&cache)?);
    println!(
        "bench review: {IDENTITIES} identities, {} faces",
        large.faces()
    );

    let start = Instant::now();
    let opened = fs_library::Library::open(&library)?;
    let parse = start.elapsed().as_secs_f64();
    drop(opened);
    // Opening the library and cache is part of serving them.
    let serve_library = |library: PathBuf, cache: PathBuf| -> anyhow::Result<fs_review::Server> {
        Ok(fs_review::Server::start(fs_review::Config {
            library: fs_library::Library::open(library)?,
            cache: fs_cache::Cache::open_read_only(cache)?,
            raw: None,
            thumbnails: dir.path().join("thumbnails"),
            port: 0,
            options: fs_export::swap::SwapOptions::default(),
        })?)
    };
    let start = Instant::now();
    let server = serve_library(library.clone(), cache.clone())?;
    let serve = start.elapsed().as_secs_f64();
    println!(
        "  open:        {:>8.1} ms to serve ({:.2}x the first open, {:.1} ms, which imports its version-3 manifest into library.sqlite)",
        serve * 1e3,
        serve / parse,
        parse * 1e3
    );

    let base = format!("http://{}", server.address());
    let token = server.token().to_string();
    let agent = ureq::Agent::new_with_defaults();
    let get = |path: &str| -> anyhow::Result<Vec<u8>> {
        let separator = if path.contains('?') { '&' } else { '?' };
        Ok(agent
            .get(format!("{base}{path}{separator}token={token}"))
            .call()?
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_vec()?)
    };
    let start = Instant::now();
    let mut first = Vec::new();
    for _ in 0..10 {
        first = get("/api/library")?;
    }
    let first_view = start.elapsed().as_secs_f64() / 10.0;
    let start = Instant::now();
    let mut every = 0;
    for (name, _) in &large.identities {
        every += get(&format!("/api/entry/{name}"))?.len();
    }
    let every_view = start.elapsed().as_secs_f64();
    println!(
        "  first view:  {:>8.1} ms, {:>6} KB; every face: {:.1} ms, {} KB ({:.1}x the bytes, {:.1}x the time)",
        first_view * 1e3,
        first.len() / 1024,
        every_view * 1e3,
        every / 1024,
        every as f64 / first.len() as f64,
        every_view / first_view
    );

    let view: serde_json::Value = serde_json::from_slice(&first)?;
    // A decision, commit and views included: lock and unlock the largest identity.
    let largest = large
        .identities
        .iter()
        .max_by_key(|(_, n)| *n)
        .map(|(name, _)| name.clone())
        .context("identities")?;
    let mut revision = view["revision"].as_u64().context("revision")?;
    let mut decide = |locked: bool| -> anyhow::Result<f64> {
        let body = serde_json::json!({"revision": revision, "decision":
            {"op": "lock", "entry": largest, "locked": locked}});
        let start = Instant::now();
        let answer: serde_json::Value = serde_json::from_slice(
            &agent
                .post(format!("{base}/api/decide"))
                .header("x-review-token", &token)
                .header("content-type", "application/json")
                .send(body.to_string().as_bytes())?
                .body_mut()
                .read_to_vec()?,
        )?;
        let took = start.elapsed().as_secs_f64();
        revision = answer["revision"]
            .as_u64()
            .context("a committed decision")?;
        Ok(took)
    };
    // As a person decides: one at a time, its views written before the next.
    let mut answers = Vec::new();
    for i in 0..DECISIONS {
        answers.push(decide(i % 2 == 0)?);
        std::thread::sleep(std::time::Duration::from_millis(700));
    }
    answers.sort_by(f64::total_cmp);
    // As a script decides: back to back, each waiting for the views of the one before.
    let start = Instant::now();
    for i in 0..DECISIONS {
        decide(i % 2 == 0)?;
    }
    let back_to_back = start.elapsed().as_secs_f64() / DECISIONS as f64;
    println!(
        "  decision:    {:>8.1} ms to the answer, committed (median of {DECISIONS}, worst {:.1} ms; a lock \
         of the largest identity); {:.1} ms each back to back, views included",
        answers[DECISIONS / 2] * 1e3,
        answers[DECISIONS - 1] * 1e3,
        back_to_back * 1e3
    );
    let keys: Vec<String> = view["entries"]
        .as_array()
        .context("entries")?
        .iter()
        .flat_map(|e| e["faces"].as_array().cloned().unwrap_or_default())
        .filter_map(|f| f["key"].as_str().map(|k| k.replace(':', "%3A")))
        .take(THUMBNAILS)
        .collect();
    let per_thumbnail = || -> anyhow::Result<f64> {
        let start = Instant::now();
        for key in &keys {
            get(&format!("/face/{key}"))?;
        }
        Ok(start.elapsed().as_secs_f64() / keys.len() as f64)
    };
    let cold = per_thumbnail()?;
    let warm = per_thumbnail()?;
    println!(
        "  thumbnails:  {:>8.2} ms each made from a 512-px crop, {:.2} ms read back ({:.1}x faster), {} of them",
        cold * 1e3,
        warm * 1e3,
        cold / warm,
        keys.len()
    );
    drop(server);

    // The page itself, against a library of two identities as the baseline.
    let Some(chromium) = fs_fixtures::chromium() else {
        println!("  page:        skipped (no Chromium)");
        return Ok(());
    };
    let small = tempfile::tempdir()?;
    fs_fixtures::library::write_large(&small.path().join("facesets_swap_ready"), 2, 40)?;
    let small_cache = small.path().join("cache.fsc");
    drop(fs_cache::Cache::open(&small_cache)?);
    let render = |library: PathBuf, cache: PathBuf| -> anyhow::Result<f64> {
        let server = serve_library(library, cache)?;
        let profile = tempfile::tempdir()?;
        let start = Instant::now();
        let out = Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args([
                "--virtual-time-budget=30000",
                "--blink-settings=imagesEnabled=false",
                "--dump-dom",
            ])
            .arg(server.url())
            .output()?;
        ensure!(out.status.success(), "chromium failed");
        let dom = String::from_utf8_lossy(&out.stdout);
        ensure!(
            dom.contains("section class=\"identity"),
            "the page rendered no identity"
        );
        Ok(start.elapsed().as_secs_f64())
    };
    let baseline = render(small.path().join("facesets_swap_ready"), small_cache)?;
    let page = render(library, cache)?;
    println!(
        "  page:        {:>8.0} ms to load and render ({:.2}x a library of 2 identities, {:.0} ms)",
        page * 1e3,
        page / baseline,
        baseline * 1e3
    );
    Ok(())
}

/// Largest input given to scikit-learn: it holds an n² float64 distance matrix (and
/// copies of it), which past this no longer fits the 24 GiB of the reference machine.
const SKLEARN_MAX_N: usize = 20_000;
/// Largest input clustered with the exact graph: its products grow as n², and at the
/// `buffalo_s` distance (0.65) its linkage over the dense graph took 424 s at 100,000.
const EXACT_MAX_N: usize = 20_000;
/// The shapes of `synthetic gen --shape` (see that example's documentation).
const SHAPES: [&str; 3] = ["mixed", "one-blur", "hubs"];
/// The seed every reported figure uses, written down before the linkage and the
/// quality bar were tuned (on seed 42).
const REPORT_SEED: &str = "7";
/// `buffalo_s`'s cluster and join distances: the synthetic faces are calibrated on it.
const CLUSTER_AT: &str = "0.65";
const JOIN_AT: &str = "0.55";
/// The synthetic quality score below which a face is attached, not linked.
const QUALITY_BAR: &str = "0.6";

/// `cargo xtask bench cluster [--shape S]... [--seed K] [N...]`: for every library shape
/// and size, seconds, peak memory and clusters of the exact graph (to 100,000), the
/// approximate graph, and the approximate graph with the quality bar; ARI against the
/// exact clusters (and scikit-learn's at 20,000) and B³ against the true identities.
fn cluster(args: &[String]) -> anyhow::Result<()> {
    let mut sizes: Vec<usize> = Vec::new();
    let mut shapes: Vec<String> = Vec::new();
    let mut seed = REPORT_SEED.to_owned();
    let mut rest = args.iter();
    while let Some(a) = rest.next() {
        match a.as_str() {
            "--shape" => shapes.push(rest.next().context("--shape needs a name")?.clone()),
            "--seed" => seed.clone_from(rest.next().context("--seed needs a number")?),
            n => sizes.push(
                n.parse()
                    .with_context(|| format!("size {n:?} is not a number"))?,
            ),
        }
    }
    if sizes.is_empty() {
        sizes = vec![20_000, 100_000, 1_000_000];
    }
    if shapes.is_empty() {
        shapes = SHAPES.iter().map(|s| (*s).to_owned()).collect();
    }
    let root = workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .args([
            "build",
            "--release",
            "-p",
            "fs-cluster",
            "--example",
            "synthetic",
        ])
        .current_dir(&root)
        .status()?;
    ensure!(status.success(), "building the synthetic example failed");
    let synthetic = root.join("target/release/examples/synthetic");
    let scratch = tempfile::tempdir()?;
    let run = |args: &[&std::ffi::OsStr]| -> anyhow::Result<Vec<u8>> {
        let out = Command::new(&synthetic).args(args).output()?;
        ensure!(
            out.status.success(),
            "synthetic {:?} failed: {}",
            args,
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(out.stdout)
    };
    println!(
        "seed {seed}, cluster distance {CLUSTER_AT}; quality bar {QUALITY_BAR}, join {JOIN_AT}"
    );
    println!(
        "{:>9} {:<9} {:<22} {:>8} {:>8} {:>8} {:>8} {:>7} {:>7} {:>7}",
        "faces", "shape", "", "seconds", "peak MiB", "clusters", "ARI", "B³-P", "B³-R", "B³-F"
    );
    for shape in &shapes {
        for &n in &sizes {
            let data = scratch.path().join(format!("{shape}{n}.f32"));
            let truth = scratch.path().join(format!("{shape}{n}.f32.truth"));
            let labels = |stage: &str| scratch.path().join(format!("{shape}{n}.{stage}.labels"));
            run(&[
                "gen".as_ref(),
                n.to_string().as_ref(),
                data.as_os_str(),
                "--shape".as_ref(),
                shape.as_ref(),
                "--seed".as_ref(),
                seed.as_ref(),
            ])?;
            let score = |got: &Path, want: &Path| -> anyhow::Result<Score> {
                Ok(serde_json::from_slice(&run(&[
                    "score".as_ref(),
                    got.as_os_str(),
                    want.as_os_str(),
                ])?)?)
            };
            let mut exact: Option<Timing> = None;
            for (method, graph, bar) in [
                ("exact", "exact", false),
                ("approximate", "approximate", false),
                ("approximate + bar", "approximate", true),
            ] {
                if graph == "exact" && n > EXACT_MAX_N {
                    println!("{n:>9} {shape:<9} {method:<22} (skipped: n² pairs)");
                    continue;
                }
                let out = labels(&method.replace([' ', '+'], ""));
                let mut args: Vec<&std::ffi::OsStr> = vec![
                    "cluster".as_ref(),
                    data.as_os_str(),
                    out.as_os_str(),
                    "--graph".as_ref(),
                    graph.as_ref(),
                    "--threshold".as_ref(),
                    CLUSTER_AT.as_ref(),
                ];
                if bar {
                    args.extend::<[&std::ffi::OsStr; 4]>([
                        "--quality-bar".as_ref(),
                        QUALITY_BAR.as_ref(),
                        "--join".as_ref(),
                        JOIN_AT.as_ref(),
                    ]);
                }
                let r: Timing = serde_json::from_slice(&run(&args)?)?;
                let vs_truth = score(&out, &truth)?;
                // The approximate graph against the exact one, where both ran.
                let vs_exact = match (&exact, bar) {
                    (Some(_), false) if graph == "approximate" => {
                        Some(score(&out, &labels("exact"))?)
                    }
                    _ => None,
                };
                println!(
                    "{n:>9} {shape:<9} {method:<22} {:>8.2} {:>8.0} {:>8} {:>7} {:>7.4} {:>7.4} {:>7.4}",
                    r.seconds,
                    r.peak_mib,
                    r.clusters,
                    vs_exact
                        .as_ref()
                        .map_or(String::new(), |s| format!("{:.4}", s.ari)),
                    vs_truth.b3_precision,
                    vs_truth.b3_recall,
                    vs_truth.b3_f,
                );
                if graph == "exact" {
                    exact = Some(r);
                }
            }
            if n > SKLEARN_MAX_N || exact.is_none() {
                continue;
            }
            let python = sklearn_python(&root)?;
            let out = Command::new(&python)
                .arg(root.join("scripts/bench_sklearn_cluster.py"))
                .arg(&data)
                .arg(labels("exact"))
                .arg(CLUSTER_AT)
                .output()?;
            ensure!(
                out.status.success(),
                "scikit-learn failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let r: Timing = serde_json::from_slice(&out.stdout)?;
            let ours = exact.as_ref().map_or(f64::NAN, |e| e.seconds);
            println!(
                "{n:>9} {shape:<9} {:<22} {:>8.2} {:>8.0} {:>8} {:>7.4}   (ARI against face-sets exact; face-sets exact {:.1}x faster)",
                "scikit-learn",
                r.seconds,
                r.peak_mib,
                r.clusters,
                r.ari_vs_ours.unwrap_or(f64::NAN),
                r.seconds / ours
            );
        }
    }
    Ok(())
}

/// What `synthetic score` prints.
#[derive(Debug, serde::Deserialize)]
struct Score {
    ari: f64,
    b3_precision: f64,
    b3_recall: f64,
    b3_f: f64,
}

#[derive(Debug, serde::Deserialize)]
struct Timing {
    seconds: f64,
    peak_mib: f64,
    clusters: usize,
    #[serde(default)]
    ari_vs_ours: Option<f64>,
}

/// "N photo files: … K images embedded (F faces, …" → (N, F).
fn parse_summary(stderr: &str) -> anyhow::Result<(usize, usize)> {
    let line = stderr
        .lines()
        .find(|l| l.contains("photo files:"))
        .context("no summary line")?;
    let files = line
        .split_whitespace()
        .next()
        .context("no count")?
        .parse()?;
    let faces = line
        .split('(')
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .context("no face count")?
        .parse()?;
    Ok((files, faces))
}

fn make_bench_set(fixtures: &Path, out: &Path) -> anyhow::Result<PathBuf> {
    fs::create_dir_all(out)?;
    for (index, entry) in fs::read_dir(fixtures)?.enumerate() {
        let entry = entry?;
        let bytes = fs::read(entry.path())?;
        // Byte-identical fixtures must not stay identical, or face-sets would embed
        // them once and do less work than the reference.
        let index = u8::try_from(index).context("too many fixtures")?;
        for copy in 0..COPIES {
            let mut b = bytes.clone();
            b.extend_from_slice(&[copy, index, 0xFF, 0xD9]);
            fs::write(
                out.join(format!("{copy}_{}", entry.file_name().to_string_lossy())),
                b,
            )?;
        }
    }
    Ok(out.to_path_buf())
}

/// A Python with insightface and the pinned onnxruntime: `$BENCH_PYTHON`, or a venv
/// made under target/ on first use (from PyPI).
fn bench_python(root: &Path) -> anyhow::Result<PathBuf> {
    venv_python(
        root,
        "bench-venv",
        "insightface, onnxruntime, sklearn, cv2",
        &[
            "insightface",
            "onnxruntime==1.31.1",
            "opencv-python-headless==5.0.0.93",
        ],
    )
}

/// A Python with numpy and scikit-learn, the same way.
fn sklearn_python(root: &Path) -> anyhow::Result<PathBuf> {
    venv_python(
        root,
        "bench-venv-sklearn",
        "numpy, sklearn",
        &["numpy", "scikit-learn"],
    )
}

/// `$BENCH_PYTHON`, or the Python of `target/NAME`, a venv made on first use with
/// `packages` installed by pip (until `imports` import).
fn venv_python(
    root: &Path,
    name: &str,
    imports: &str,
    packages: &[&str],
) -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("BENCH_PYTHON") {
        return Ok(PathBuf::from(p));
    }
    let venv = root.join("target").join(name);
    let python = venv.join("bin/python");
    let ready = Command::new(&python)
        .args(["-c", &format!("import {imports}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ready {
        eprintln!(
            "creating {} with {} (pip)…",
            venv.display(),
            packages.join(", ")
        );
        ensure!(
            Command::new("python3")
                .arg("-m")
                .arg("venv")
                .arg(&venv)
                .status()?
                .success(),
            "venv failed"
        );
        ensure!(
            Command::new(&python)
                .args(["-m", "pip", "install", "--quiet"])
                .args(packages)
                .status()?
                .success(),
            "pip install {} failed",
            packages.join(" ")
        );
    }
    Ok(python)
}

/// What `scripts/bench_insightface.py` prints.
#[derive(Clone, Debug, serde::Deserialize)]
struct Reference {
    images: usize,
    faces: usize,
    load_s: f64,
    run_s: f64,
}
