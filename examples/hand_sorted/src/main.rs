//! Import hand-sorted folders (one person per folder) as identities.
//!
//! ```text
//! hand_sorted --cache work/photos.fsc --swap-out out/facesets_swap_ready \
//!     --trusted alice=/photos/alice --trusted bob=/photos/bob --mixed /photos/mixed
//! ```
//!
//! When folders are already sorted by person, the identity is asserted, not inferred:
//!
//! 1. For each trusted folder, its faces build the identity's centroid in two passes of
//!    outlier rejection (the `outlier` then `export-outlier` distance: 0.55, then 0.50
//!    for `buffalo_s`), so bystanders in group photos drop out.
//! 2. Each face of the `--mixed` folders joins every identity whose centroid is within
//!    `--route-threshold` (the `known` distance, 0.50): a photo of two known people
//!    lands in both.
//! 3. Each identity is exported like `export-swap` (whose per-face gate keeps only the
//!    matching face of a group photo in each crop), numbered past the highest existing
//!    `faceset_NNN`, with bundles named after the label (`alice_top30.fsz`) and an
//!    `alice.txt` marker, and merged into the top-level manifest. Existing facesets are
//!    left untouched; a label imported before is skipped.
//!
//! Folders can also come from a TOML file (`--config`):
//!
//! ```toml
//! mixed = ["/photos/mixed"]
//! route_threshold = 0.50
//! [trusted]
//! alice = "/photos/alice"
//! bob = "/photos/bob"
//! ```
#![allow(
    clippy::print_stdout,
    clippy::doc_markdown,
    reason = "an example program: reports on stdout, doc comments are --help text"
)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Parser;
use fs_cache::Cache;
use fs_cluster::Embeddings;
use fs_cluster::centroid::{centroid, reject_outliers};
use fs_cluster::cosine_distance;
use fs_identities::discover::under_root;
use fs_identities::faces::{self, FaceRow};
use fs_packs::thresholds::Family;
use fs_pipeline::Models;
use fs_pipeline::stages::{ExportSettings, LibraryAt, library_for};
use fs_progress::Silent;

use fs_library::{Kind, NewFaceset};

/// Import hand-sorted folders as identities, routing a mixed folder into them.
#[derive(Debug, Parser)]
#[command(version, max_term_width = 100)]
struct Args {
    /// The cache holding every folder's photos (`face-sets embed DIR... CACHE`).
    #[arg(long)]
    cache: PathBuf,
    /// The exported library to add to (facesets_swap_ready/).
    #[arg(long)]
    swap_out: PathBuf,
    /// A trusted folder holding one person: LABEL=DIR (repeatable).
    #[arg(long, value_name = "LABEL=DIR", value_parser = parse_trusted)]
    trusted: Vec<(String, PathBuf)>,
    /// A TOML file with `[trusted]` LABEL = "DIR" entries (and optional `mixed`,
    /// `route_threshold`); merged with the flags.
    #[arg(long)]
    config: Option<PathBuf>,
    /// A folder of mixed photos to route into the identities (repeatable).
    #[arg(long)]
    mixed: Vec<PathBuf>,
    /// A mixed face joins every identity whose centroid is this close. Default: the
    /// config's, else the library's calibrated `known` distance, else the pack's
    /// (docs/thresholds.md).
    #[arg(long)]
    route_threshold: Option<f32>,
    /// First and second outlier passes when building a centroid. Default: the
    /// `outlier` and `export-outlier` distances (the library's calibrated, else the
    /// pack's).
    #[arg(long, num_args = 2)]
    centroid_passes: Option<Vec<f32>>,
    /// Do not re-detect each crop as roop-unleashed does (SCRFD at 640, no second pass);
    /// by default a crop in which it would not find exactly the target's face is
    /// re-cropped, or left out with the reason in the manifest.
    #[arg(long)]
    no_crop_check: bool,
    /// Print what would happen; write nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Default, serde::Deserialize)]
struct Config {
    #[serde(default)]
    trusted: BTreeMap<String, PathBuf>,
    #[serde(default)]
    mixed: Vec<PathBuf>,
    route_threshold: Option<f32>,
}

fn parse_trusted(s: &str) -> Result<(String, PathBuf), String> {
    let (label, dir) = s
        .split_once('=')
        .ok_or_else(|| format!("expected LABEL=DIR, got {s:?}"))?;
    if label.is_empty() || dir.is_empty() {
        return Err(format!("expected LABEL=DIR, got {s:?}"));
    }
    Ok((label.to_string(), PathBuf::from(dir)))
}

/// An identity being built.
struct Identity {
    label: String,
    faces: Vec<FaceRow>,
    centre: Vec<f32>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config: Config = match &args.config {
        Some(path) => toml::from_str(
            &std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?,
        )
        .with_context(|| format!("{} is not a valid config", path.display()))?,
        None => Config::default(),
    };
    let mut trusted: Vec<(String, PathBuf)> = config.trusted.into_iter().collect();
    trusted.extend(args.trusted.iter().cloned());
    if trusted.is_empty() {
        bail!("no trusted folders: give --trusted LABEL=DIR or a --config with [trusted]");
    }
    let mut mixed = config.mixed;
    mixed.extend(args.mixed.iter().cloned());
    let route_threshold = args.route_threshold.or(config.route_threshold);
    for (_, dir) in &trusted {
        if !dir.is_dir() {
            bail!("trusted folder {} does not exist", dir.display());
        }
    }

    let cache = Cache::open_read_only(&args.cache)
        .with_context(|| format!("cannot read {}", args.cache.display()))?;
    let settings = ExportSettings {
        overrides: [(Family::Known, route_threshold)].into_iter().collect(),
        crop_check: !args.no_crop_check && !args.dry_run,
        writer: "hand_sorted".into(),
        ..ExportSettings::default()
    };
    let LibraryAt {
        mut library,
        distances,
        origin,
        swap: swap_options,
    } = library_for(
        &args.swap_out,
        &cache,
        &settings,
        &Models::default(),
        &Silent,
    )?;
    let route_threshold = distances.known;
    let centroid_passes = args
        .centroid_passes
        .clone()
        .unwrap_or_else(|| vec![distances.outlier, distances.export_outlier]);
    println!(
        "distances: route {route_threshold:.2}, centroid passes {centroid_passes:.2?} ({origin})"
    );
    let (rows, embeddings) = faces::collect(&cache, |_| true);

    let mut identities = Vec::new();
    for (label, dir) in &trusted {
        if library.has_label(Kind::HandSorted, label) {
            println!("{label}: imported before, skipped");
            continue;
        }
        let members: Vec<usize> = (0..rows.len())
            .filter(|&i| under_root(&rows[i], dir))
            .collect();
        let (kept, centre) = two_pass_centroid(&embeddings, &members, &centroid_passes);
        println!(
            "{label}: {} faces in {}, {} kept as the identity",
            members.len(),
            dir.display(),
            kept.len()
        );
        if kept.is_empty() {
            continue;
        }
        identities.push(Identity {
            label: label.clone(),
            faces: kept.iter().map(|&i| rows[i].clone()).collect(),
            centre,
        });
    }
    for (i, row) in rows.iter().enumerate() {
        if !mixed.iter().any(|m| under_root(row, m)) {
            continue;
        }
        let v = embeddings.row(i);
        for identity in &mut identities {
            let already = identity.faces.iter().any(|f| f.key == row.key);
            if !already
                && cosine_distance(v.as_slice().expect("contiguous"), &identity.centre)
                    <= route_threshold
            {
                identity.faces.push(row.clone());
            }
        }
    }
    for identity in &identities {
        println!(
            "{}: {} faces after routing the mixed folders",
            identity.label,
            identity.faces.len()
        );
    }
    if args.dry_run {
        println!(
            "dry run: would start at faceset_{:03}",
            library.next_number()
        );
        return Ok(());
    }
    let params = serde_json::json!({
        "route_threshold": route_threshold,
        "centroid_passes": centroid_passes,
    });
    let absolute = |p: &PathBuf| std::path::absolute(p).unwrap_or_else(|_| p.clone());
    let new: Vec<NewFaceset> = identities
        .into_iter()
        .map(|id| {
            let mut sources: Vec<PathBuf> = trusted
                .iter()
                .filter(|(label, _)| *label == id.label)
                .map(|(_, dir)| absolute(dir))
                .collect();
            sources.extend(mixed.iter().map(absolute));
            NewFaceset {
                faces: id.faces,
                kind: Kind::HandSorted,
                marker: id.label.clone(),
                label: id.label,
                sources,
                params: params.clone(),
                label_bundles: true,
                thin: false,
                suffix: String::new(),
            }
        })
        .collect();
    let changes = library.add(&cache, &new, &swap_options)?;
    for name in &changes.added {
        let entry = library.entry(name).expect("just added");
        println!(
            "added {name} ({}) with {} crops",
            entry.provenance.label,
            entry.export.faces.len()
        );
    }
    for (label, why) in &changes.left_out {
        println!("not added ({label}): {why}");
    }
    library.save()?;
    Ok(())
}

/// Centroid after successive outlier passes (each pass recomputes the centroid of what
/// survived the last one and drops members farther than its threshold).
fn two_pass_centroid(
    embeddings: &Embeddings,
    members: &[usize],
    passes: &[f32],
) -> (Vec<usize>, Vec<f32>) {
    let mut kept = members.to_vec();
    for &threshold in passes {
        kept = reject_outliers(embeddings, &kept, threshold, 1).0;
    }
    let centre = centroid(embeddings, &kept);
    (kept, centre)
}
