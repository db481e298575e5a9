//! Split one identity by era (EXIF capture year).
//!
//! Long-running libraries put the 2009 face and the 2024 face of a person in one
//! identity (rightly), but a face swap meant for one period wants one era. Two modes:
//!
//! ```text
//! era_split probe --cache C --swap-out OUT --faceset faceset_001
//! era_split split --cache C --swap-out OUT --faceset faceset_001 --root /photos
//! ```
//!
//! **probe** reports the identity's pairwise distance histogram, its sub-cluster sizes
//! at thresholds 0.30–0.50, and the EXIF-year distribution of each sub-cluster at 0.35:
//! if sub-clusters line up with distinct years, the identity is age-sortable.
//!
//! **split**:
//! 1. seed centroid from the exported faceset's faces;
//! 2. wide recovery: every face under `--root` within 0.55 of the seed;
//! 3. quality gate (face size, sharpness, detector score);
//! 4. re-centroid and tighten at 0.50;
//! 5. sub-cluster the survivors at 0.35 (average linkage);
//! 6. anchors are sub-clusters of at least 20 faces; a smaller fragment joins the single
//!    nearest anchor only if their centroids are within 0.40 AND their dominant EXIF
//!    years within ±5 (never fragment to fragment: transitive merging drifts in time);
//! 7. each era is exported (crops, bundles, manifest, `<era>.txt`); eras under 20 faces
//!    get `THIN.txt` and go under `_thin/`, listed in the manifest's `thin_eras`.
//!
//! EXIF years (DateTimeOriginal, else DateTime) are cached by content hash in
//! `<cache>.exif-years.json`, so a re-run after a parameter tweak reads no EXIF.
#![allow(
    clippy::print_stdout,
    clippy::doc_markdown,
    reason = "an example program: reports on stdout, doc comments are --help text"
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args as ClapArgs, Parser, Subcommand};
use fs_cache::{Cache, FaceKey, ImageRecord};
use fs_cluster::agglomerative::cluster;
use fs_cluster::centroid::centroid;
use fs_cluster::cosine_distance;
use fs_identities::discover::under_root;
use fs_identities::faces::{FaceIndex, FaceRow};
use fs_identities::gates::{RefineOptions, quality_gate};
use fs_pipeline::Models;
use fs_pipeline::stages::{ExportSettings, LibraryAt, library_for};
use fs_progress::Silent;

use fs_library::{Kind, Library, NewFaceset};

/// Split one exported identity into eras by EXIF capture year.
#[derive(Debug, Parser)]
#[command(version, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Report whether the identity looks age-sortable; writes nothing but the EXIF cache.
    Probe(Common),
    /// Split the identity into era facesets.
    Split(SplitArgs),
}

#[derive(Debug, ClapArgs)]
struct Common {
    /// The cache (`face-sets embed`).
    #[arg(long)]
    cache: PathBuf,
    /// The exported library (facesets_swap_ready/).
    #[arg(long)]
    swap_out: PathBuf,
    /// The identity to split, e.g. faceset_001.
    #[arg(long)]
    faceset: String,
    /// Where EXIF years are cached. Default: `<cache>.exif-years.json`.
    #[arg(long)]
    exif_cache: Option<PathBuf>,
    /// Sub-cluster threshold for eras.
    #[arg(long, default_value_t = 0.35)]
    era_threshold: f32,
}

#[derive(Debug, ClapArgs)]
struct SplitArgs {
    #[command(flatten)]
    common: Common,
    /// Source folders to recover the identity's faces from (repeatable).
    #[arg(long, required = true)]
    root: Vec<PathBuf>,
    /// Wide recovery distance from the seed centroid.
    #[arg(long, default_value_t = 0.55)]
    recover: f32,
    /// Tighten distance after re-centring.
    #[arg(long, default_value_t = 0.50)]
    tighten: f32,
    /// Sub-clusters this large are anchors.
    #[arg(long, default_value_t = 20)]
    anchor_min: usize,
    /// A fragment joins an anchor whose centroid is this close...
    #[arg(long, default_value_t = 0.40)]
    fragment_distance: f32,
    /// ...and whose dominant year is within this many years.
    #[arg(long, default_value_t = 5)]
    year_window: i32,
    /// Eras with fewer faces are thin (under _thin/).
    #[arg(long, default_value_t = 20)]
    thin_below: usize,
    /// Quality gate: minimum face short side.
    #[arg(long, default_value_t = 90.0)]
    min_short: f32,
    /// Quality gate: minimum sharpness.
    #[arg(long, default_value_t = 40.0)]
    min_blur: f32,
    /// Quality gate: minimum detector score.
    #[arg(long, default_value_t = 0.6)]
    min_det_score: f32,
    /// Print the eras; write nothing but the EXIF cache.
    #[arg(long)]
    dry_run: bool,
    /// Do not re-detect each crop as roop-unleashed does (SCRFD at 640, no second pass);
    /// by default a crop in which it would not find exactly the target's face is
    /// re-cropped, or left out with the reason in the manifest.
    #[arg(long)]
    no_crop_check: bool,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().mode {
        Mode::Probe(args) => probe(&args),
        Mode::Split(args) => split(&args),
    }
}

/// EXIF capture years by content hash, read once and kept on disk.
struct Years {
    path: PathBuf,
    known: BTreeMap<String, Option<i32>>,
    read: usize,
}

impl Years {
    fn open(common: &Common) -> anyhow::Result<Self> {
        let path = common.exif_cache.clone().unwrap_or_else(|| {
            let mut p = common.cache.clone().into_os_string();
            p.push(".exif-years.json");
            PathBuf::from(p)
        });
        let known = if path.is_file() {
            serde_json::from_str(&std::fs::read_to_string(&path)?)
                .with_context(|| format!("{} is not valid", path.display()))?
        } else {
            BTreeMap::new()
        };
        Ok(Self {
            path,
            known,
            read: 0,
        })
    }

    fn year(&mut self, image: &ImageRecord) -> Option<i32> {
        let key = image.hash.to_hex();
        if let Some(year) = self.known.get(&key) {
            return *year;
        }
        self.read += 1;
        let year = image.all_paths().find_map(|p| exif_year(p));
        self.known.insert(key, year);
        year
    }

    fn save(&self) -> anyhow::Result<()> {
        fs_cache::atomic::write(
            &self.path,
            serde_json::to_string_pretty(&self.known)?.as_bytes(),
        )
        .with_context(|| format!("cannot write {}", self.path.display()))?;
        println!(
            "EXIF: {} photos read, {} from {}",
            self.read,
            self.known.len() - self.read,
            self.path.display()
        );
        Ok(())
    }
}

/// DateTimeOriginal, else DateTime, as a year.
fn exif_year(path: &Path) -> Option<i32> {
    let file = std::fs::File::open(path).ok()?;
    let exif = exif::Reader::new()
        .read_from_container(&mut std::io::BufReader::new(file))
        .ok()?;
    [exif::Tag::DateTimeOriginal, exif::Tag::DateTime]
        .into_iter()
        .find_map(|tag| {
            let field = exif.get_field(tag, exif::In::PRIMARY)?;
            match &field.value {
                exif::Value::Ascii(parts) => parts
                    .first()
                    .and_then(|v| std::str::from_utf8(v.get(..4)?).ok()?.parse().ok()),
                _ => None,
            }
        })
}

/// The exported faces of `name` and the cache.
fn seed_faces(library: &Library, name: &str) -> anyhow::Result<Vec<String>> {
    let faceset = library
        .manifest()
        .facesets
        .iter()
        .map(|e| &e.export)
        .find(|f| f.name == name)
        .with_context(|| {
            format!(
                "{name} is not in {}",
                library.dir().join("manifest.json").display()
            )
        })?;
    Ok(faceset.faces.iter().map(|f| f.face.key.clone()).collect())
}

fn image_of<'c>(cache: &'c Cache, row: &FaceRow) -> &'c ImageRecord {
    let key: FaceKey = row.key.parse().expect("keys come from the cache");
    cache.image(&key.hash).expect("keys come from the cache")
}

/// The most common year among faces (ties: the earlier year); `None` without years.
fn dominant_year(years: &[Option<i32>]) -> Option<i32> {
    let mut counts: BTreeMap<i32, usize> = BTreeMap::new();
    for y in years.iter().flatten() {
        *counts.entry(*y).or_default() += 1;
    }
    counts
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map(|(y, _)| *y)
}

#[expect(clippy::cast_precision_loss, reason = "histogram bin edges")]
fn probe(args: &Common) -> anyhow::Result<()> {
    let cache = Cache::open_read_only(&args.cache)?;
    let library = Library::open(&args.swap_out)?.with_writer_name("era_split");
    let all = FaceIndex::of(&cache);
    let members = all.rows_of(
        seed_faces(&library, &args.faceset)?
            .iter()
            .map(String::as_str),
    );
    if members.len() < 2 {
        bail!(
            "{} has {} faces in the cache; nothing to probe",
            args.faceset,
            members.len()
        );
    }
    let sub = all.embeddings.select(&members);
    let histogram = sub.distance_histogram(0.05, 20);
    println!(
        "{}: {} faces; pairwise cosine distances:",
        args.faceset,
        members.len()
    );
    for (bin, n) in histogram.iter().enumerate().filter(|(_, n)| **n > 0) {
        println!(
            "  {:.2}–{:.2} {n:>6}",
            bin as f32 * 0.05,
            (bin + 1) as f32 * 0.05
        );
    }
    for t in [0.30, 0.35, 0.40, 0.45, 0.50] {
        let sizes: Vec<usize> = cluster(&sub, t).iter().map(Vec::len).collect();
        println!("  sub-clusters at {t:.2}: {sizes:?}");
    }
    let mut years = Years::open(args)?;
    println!("  EXIF years per sub-cluster at {:.2}:", args.era_threshold);
    for (n, c) in cluster(&sub, args.era_threshold).iter().enumerate() {
        let mut dist: BTreeMap<String, usize> = BTreeMap::new();
        for &i in c {
            let y = years.year(image_of(&cache, &all.rows[members[i]]));
            *dist
                .entry(y.map_or_else(|| "unknown".into(), |y| y.to_string()))
                .or_default() += 1;
        }
        println!("    {:>3} ({} faces): {dist:?}", n + 1, c.len());
    }
    years.save()
}

fn split(args: &SplitArgs) -> anyhow::Result<()> {
    let common = &args.common;
    let cache = Cache::open_read_only(&common.cache)?;
    let settings = ExportSettings {
        crop_check: !args.no_crop_check && !args.dry_run,
        writer: "era_split".into(),
        ..ExportSettings::default()
    };
    // The export gates at the library's distances (or the pack's), as `run` exports.
    let LibraryAt {
        mut library,
        swap: swap_options,
        ..
    } = library_for(
        &common.swap_out,
        &cache,
        &settings,
        &Models::default(),
        &Silent,
    )?;
    let all = FaceIndex::of(&cache);
    let seed = all.rows_of(
        seed_faces(&library, &common.faceset)?
            .iter()
            .map(String::as_str),
    );
    if seed.is_empty() {
        bail!("{} has no faces in this cache", common.faceset);
    }
    let seed_centre = centroid(&all.embeddings, &seed);
    let gates = RefineOptions {
        min_short: args.min_short,
        min_blur: args.min_blur,
        min_det_score: args.min_det_score,
        ..RefineOptions::default()
    };
    let distance = |i: usize, c: &[f32]| {
        cosine_distance(all.embeddings.row(i).as_slice().expect("contiguous"), c)
    };
    let recovered: Vec<usize> = (0..all.rows.len())
        .filter(|&i| args.root.iter().any(|r| under_root(&all.rows[i], r)))
        .filter(|&i| distance(i, &seed_centre) <= args.recover)
        .filter(|&i| quality_gate(&all.rows[i], &gates).is_none())
        .collect();
    let centre = centroid(&all.embeddings, &recovered);
    let tight: Vec<usize> = recovered
        .iter()
        .copied()
        .filter(|&i| distance(i, &centre) <= args.tighten)
        .collect();
    println!(
        "{}: {} seed faces, {} recovered under the roots, {} after tightening",
        common.faceset,
        seed.len(),
        recovered.len(),
        tight.len()
    );

    let mut years = Years::open(common)?;
    let year_of: Vec<Option<i32>> = tight
        .iter()
        .map(|&i| years.year(image_of(&cache, &all.rows[i])))
        .collect();
    years.save()?;
    let sub = all.embeddings.select(&tight);
    let groups = cluster(&sub, common.era_threshold);
    let group_centre = |g: &[usize]| centroid(&sub, g);
    let group_year =
        |g: &[usize]| dominant_year(&g.iter().map(|&i| year_of[i]).collect::<Vec<_>>());
    let (anchors, fragments): (Vec<Vec<usize>>, Vec<Vec<usize>>) =
        groups.into_iter().partition(|g| g.len() >= args.anchor_min);
    let anchor_centres: Vec<Vec<f32>> = anchors.iter().map(|a| group_centre(a)).collect();
    let mut eras: Vec<Vec<usize>> = anchors.clone();
    for fragment in fragments {
        let c = group_centre(&fragment);
        let y = group_year(&fragment);
        let nearest = anchor_centres
            .iter()
            .enumerate()
            .map(|(a, ac)| (a, cosine_distance(ac, &c)))
            .min_by(|x, y| x.1.total_cmp(&y.1));
        let joins = nearest.filter(|&(a, d)| {
            d <= args.fragment_distance
                && matches!((y, group_year(&anchors[a])), (Some(fy), Some(ay)) if (fy - ay).abs() <= args.year_window)
        });
        match joins {
            Some((a, _)) => eras[a].extend(fragment),
            None => eras.push(fragment),
        }
    }
    let mut new = Vec::new();
    for era in &eras {
        let ys: Vec<i32> = era.iter().filter_map(|&i| year_of[i]).collect();
        let label = match (ys.iter().min(), ys.iter().max()) {
            (Some(a), Some(b)) if a == b => a.to_string(),
            (Some(a), Some(b)) => format!("{a}-{b}"),
            _ => "unknown".into(),
        };
        let thin = era.len() < args.thin_below;
        println!(
            "  era {label}: {} faces{}",
            era.len(),
            if thin { " (thin)" } else { "" }
        );
        new.push(NewFaceset {
            faces: era.iter().map(|&i| all.rows[tight[i]].clone()).collect(),
            kind: Kind::Era,
            label: format!("{} era {label}", common.faceset),
            sources: args
                .root
                .iter()
                .map(|r| std::path::absolute(r).unwrap_or_else(|_| r.clone()))
                .collect(),
            params: serde_json::json!({
                "faceset": common.faceset,
                "era_threshold": common.era_threshold,
                "recover": args.recover,
                "tighten": args.tighten,
                "anchor_min": args.anchor_min,
                "fragment_distance": args.fragment_distance,
                "year_window": args.year_window,
                "thin_below": args.thin_below,
            }),
            marker: label.clone(),
            label_bundles: false,
            thin,
            suffix: format!("_{label}"),
        });
    }
    new.retain(|n| {
        let done = library.has_label(Kind::Era, &n.label);
        if done {
            println!("  {}: split before, skipped", n.label);
        }
        !done
    });
    if args.dry_run {
        return Ok(());
    }
    let changes = library.add(&cache, &new, &swap_options)?;
    for name in &changes.added {
        let crops = library.entry(name).map_or(0, |e| e.export.faces.len());
        println!("added {name} ({crops} crops)");
    }
    for (label, why) in &changes.left_out {
        println!("not added ({label}): {why}");
    }
    library.save()?;
    Ok(())
}
