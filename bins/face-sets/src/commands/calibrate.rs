//! calibrate: the distance thresholds measured on the user's labelled folders.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use fs_cache::Cache;
use fs_cluster::Embeddings;
use fs_cluster::calibrate::{CalibrateOptions, Calibration, Labelled, calibrate};
use fs_library::Calibrated;
use fs_packs::thresholds::Family;

use crate::ExitStatus;
use crate::cli::CalibrateArgs;

/// The labelled faces found in the cache, and what was left out.
struct Gathered {
    rows: Vec<Vec<f32>>,
    person: Vec<usize>,
    photo: Vec<u64>,
    in_two_folders: usize,
    without_face: usize,
    not_in_cache: usize,
}

pub(crate) fn run(args: &CalibrateArgs) -> anyhow::Result<ExitStatus> {
    let cache = Cache::open_read_only(&args.cache)
        .with_context(|| format!("cannot read cache {}", args.cache.display()))?;
    let mut roots = Vec::new();
    for (label, dir) in &args.folders {
        if !dir.is_dir() {
            bail!("{label}={}: no such folder", dir.display());
        }
        roots.push(std::path::absolute(dir).unwrap_or_else(|_| dir.clone()));
    }
    let gathered = gather(&cache, &roots);
    let embeddings =
        Embeddings::from_rows(gathered.rows.first().map_or(512, Vec::len), &gathered.rows);
    let options = CalibrateOptions {
        false_match_rate: args.false_match_rate,
        ..CalibrateOptions::default()
    };
    let calibration = calibrate(
        Labelled {
            embeddings: &embeddings,
            person: &gathered.person,
            photo: &gathered.photo,
        },
        &options,
    )
    .with_context(|| {
        format!(
            "{} labelled folders hold faces of {} people in {}",
            args.folders.len(),
            gathered.person.iter().collect::<HashSet<_>>().len(),
            args.cache.display()
        )
    })?;

    let library = args
        .write
        .as_deref()
        .map(|dir| super::open_named(dir, "calibrate"))
        .transpose()?;
    let (current, origin) = super::default_distances(&cache, library.as_ref());
    if args.json {
        let json = serde_json::json!({
            "people": calibration.people,
            "faces": calibration.faces,
            "false_match_rate": args.false_match_rate,
            "warning": calibration.too_few(),
            "current": current,
            "current_from": origin.to_string(),
            "recommended": calibration.thresholds_over(&current),
            "measurement": calibration,
        });
        writeln!(std::io::stdout(), "{json:#}")?;
    } else {
        print_table(args, &gathered, &calibration, &current, &origin)?;
    }
    let mut err = std::io::stderr().lock();
    if gathered.not_in_cache > 0 {
        writeln!(
            err,
            "warning: {} photos under the folders are not in {}; embed them first with \
             `face-sets embed DIR... {}`",
            gathered.not_in_cache,
            args.cache.display(),
            args.cache.display()
        )?;
    }
    if let Some(why) = calibration.too_few() {
        writeln!(err, "warning: {why}")?;
    }
    if let Some(mut library) = library {
        if calibration.too_few().is_some() && !args.force {
            bail!(
                "not kept in {}: the folders are too few to trust (pass --force to keep them anyway)",
                library.dir().display()
            );
        }
        library.set_calibrated(Calibrated {
            model: cache.model().cloned(),
            thresholds: calibration.thresholds_over(&current),
            people: calibration.people,
            faces: calibration.faces,
            false_match_rate: args.false_match_rate,
            created: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        })?;
        library.save()?;
        writeln!(
            err,
            "kept as the distance defaults of {} (export-swap and run use them; flags override)",
            library.dir().display()
        )?;
    }
    Ok(ExitStatus::Success)
}

/// The largest face of every cached photo under exactly one of `roots`.
fn gather(cache: &Cache, roots: &[PathBuf]) -> Gathered {
    let mut gathered = Gathered {
        rows: Vec::new(),
        person: Vec::new(),
        photo: Vec::new(),
        in_two_folders: 0,
        without_face: 0,
        not_in_cache: 0,
    };
    let mut cached: HashSet<&Path> = HashSet::new();
    for (photo, image) in (0u64..).zip(cache.images()) {
        cached.extend(image.all_paths().map(PathBuf::as_path));
        let owners: Vec<usize> = (0..roots.len())
            .filter(|&r| image.all_paths().any(|p| p.starts_with(&roots[r])))
            .collect();
        match owners.as_slice() {
            [] => {}
            [owner] => {
                let area = |b: &[f32; 4]| (b[2] - b[0]) * (b[3] - b[1]);
                match image
                    .faces()
                    .iter()
                    .max_by(|a, b| area(&a.bbox).total_cmp(&area(&b.bbox)))
                {
                    Some(face) => {
                        gathered.rows.push(face.embedding.unit().to_vec());
                        gathered.person.push(*owner);
                        gathered.photo.push(photo);
                    }
                    None => gathered.without_face += 1,
                }
            }
            _ => gathered.in_two_folders += 1,
        }
    }
    gathered.not_in_cache = roots
        .iter()
        .flat_map(|root| walkdir::WalkDir::new(root).into_iter().flatten())
        .filter(|e| e.file_type().is_file() && fs_embed::pipeline::is_photo_name(e.path()))
        .filter(|e| !cached.contains(e.path()))
        .count();
    gathered
}

fn print_table(
    args: &CalibrateArgs,
    gathered: &Gathered,
    calibration: &Calibration,
    current: &fs_packs::Thresholds,
    origin: &fs_packs::thresholds::Origin,
) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "measured on {} people, {} faces ({} photos in two people's folders and {} without a face left out)",
        calibration.people, calibration.faces, gathered.in_two_folders, gathered.without_face
    )?;
    writeln!(
        out,
        "recommended at a false-match rate of {:.1}%; now in force: {origin}\n",
        100.0 * args.false_match_rate
    )?;
    writeln!(
        out,
        "{:<15} {:<36} {:>5} {:>12}  because",
        "family", "compares", "now", "recommended"
    )?;
    let recommended = calibration.thresholds_over(current);
    for r in &calibration.recommended {
        writeln!(
            out,
            "{:<15} {:<36} {:>5.2} {:>12.2}  {}{}",
            r.family.name(),
            r.family.compares(),
            current.get(r.family),
            recommended.get(r.family),
            r.because,
            match r.as_good_to {
                None => format!(
                    "; as good from {:.2} to the end of the range measured (the folders \
                     set no upper limit)",
                    r.as_good_from
                ),
                Some(to) if to > r.as_good_from => {
                    format!("; as good from {:.2} to {to:.2}", r.as_good_from)
                }
                Some(_) => String::new(),
            }
        )?;
    }
    writeln!(out, "\nface to centroid:   distance  own   other")?;
    for p in calibration
        .face_to_centroid
        .iter()
        .filter(|p| is_shown(p.threshold))
    {
        writeln!(
            out,
            "                    {:>8.2} {:>5.1}% {:>5.1}%",
            p.threshold,
            100.0 * p.own,
            100.0 * p.other
        )?;
    }
    writeln!(out, "\nclustering:         distance  B³-P   B³-R   B³-F")?;
    for c in calibration
        .clustering
        .iter()
        .filter(|c| is_shown(c.threshold))
    {
        writeln!(
            out,
            "                    {:>8.2} {:>6.3} {:>6.3} {:>6.3}",
            c.threshold, c.precision, c.recall, c.f
        )?;
    }
    debug_assert_eq!(calibration.recommended.len(), Family::ALL.len());
    Ok(())
}

/// Whether `t` is a multiple of 0.05 (the rows the table shows; --json has them all).
fn is_shown(t: f32) -> bool {
    let hundredths = (t * 100.0).round();
    (t * 100.0 - hundredths).abs() < 1e-3 && hundredths % 5.0 == 0.0
}
