//! Discover new identities in a mixed folder, beside the ones already exported.
//!
//! ```text
//! discover --cache work/photos.fsc --source /photos/mixed --swap-out out/facesets_swap_ready
//! ```
//!
//! 1. Take the cache's faces whose photo (or any byte-identical copy) lies under
//!    `--source`.
//! 2. Set aside faces already covered by an identity of the library, whatever cache
//!    its faces came from (centroid within `--existing-threshold`: the `known` distance,
//!    0.50 for `buffalo_s`).
//! 3. Cluster the rest (`--cluster-threshold`: the `cluster` distance, 0.65); apply refine's gates (face size,
//!    sharpness, detector score) and outlier rejection; keep clusters with at least
//!    `--min-faces` distinct photos.
//! 4. Export each as `faceset_NNN` numbered past the highest existing one, with a
//!    `<source>.txt` provenance marker, and add it to the library. A cluster whose
//!    export keeps no crop is left out and uses no number; running again on the same
//!    folder finds its identities covered and changes nothing.
//!
//! `--dry-run` prints the clusters and what would survive, and writes nothing.
//! Built only from the library crates: copy it and change what your workflow needs.
#![allow(
    clippy::print_stdout,
    clippy::doc_markdown,
    reason = "an example program: reports on stdout, doc comments are --help text"
)]

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use fs_cache::Cache;
use fs_export::swap::SwapOptions;
use fs_identities::discover::{DiscoverOptions, discover, under_root};
use fs_identities::gates::RefineOptions;

use fs_library::{Kind, NewFaceset};
use fs_packs::thresholds::Family;
use fs_pipeline::Models;
use fs_pipeline::stages::{ExportSettings, LibraryAt, library_for};
use fs_progress::Silent;

/// Discover new identities among the photos under one source folder.
#[derive(Debug, Parser)]
#[command(version, max_term_width = 100)]
struct Args {
    /// The cache holding the source's photos (run `face-sets embed SOURCE CACHE`).
    #[arg(long)]
    cache: PathBuf,
    /// The mixed folder to discover identities in.
    #[arg(long)]
    source: PathBuf,
    /// The exported library to add to (facesets_swap_ready/).
    #[arg(long)]
    swap_out: PathBuf,
    /// A face this close to an exported identity is covered already. Default: the
    /// library's calibrated `known` distance, else the pack's (docs/thresholds.md).
    #[arg(long)]
    existing_threshold: Option<f32>,
    /// Clustering threshold for the uncovered faces. Default: the library's calibrated
    /// `cluster` distance, else the pack's.
    #[arg(long)]
    cluster_threshold: Option<f32>,
    /// Distinct photos a new identity needs.
    #[arg(long, default_value_t = 15)]
    min_faces: usize,
    /// Minimum face short side, in pixels.
    #[arg(long, default_value_t = 90.0)]
    min_short: f32,
    /// Minimum sharpness (Laplacian variance).
    #[arg(long, default_value_t = 40.0)]
    min_blur: f32,
    /// Minimum detector score.
    #[arg(long, default_value_t = 0.6)]
    min_det_score: f32,
    /// Export gate: minimum face short side of a crop, in pixels (stricter than the
    /// discovery gate by default, as in export-swap).
    #[arg(long, default_value_t = 100.0)]
    min_face_short: f32,
    /// Provenance label for the marker file; default: the source folder's name.
    #[arg(long)]
    label: Option<String>,
    /// Do not re-detect each crop as roop-unleashed does (SCRFD at 640, no second pass);
    /// by default a crop in which it would not find exactly the target's face is
    /// re-cropped, or left out with the reason in the manifest.
    #[arg(long)]
    no_crop_check: bool,
    /// Print what would happen; write nothing.
    #[arg(long)]
    dry_run: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cache = Cache::open_read_only(&args.cache)
        .with_context(|| format!("cannot read {}", args.cache.display()))?;
    let settings = ExportSettings {
        swap: SwapOptions {
            min_face_short: args.min_face_short,
            ..SwapOptions::default()
        },
        overrides: [
            (Family::Known, args.existing_threshold),
            (Family::Cluster, args.cluster_threshold),
        ]
        .into_iter()
        .collect(),
        crop_check: !args.no_crop_check && !args.dry_run,
        writer: "discover".into(),
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
    println!(
        "distances: known {:.2}, cluster {:.2} ({origin})",
        distances.known, distances.cluster
    );
    let existing: Vec<Vec<f32>> = library
        .known_identities(cache.model(), &[&cache])?
        .into_iter()
        .map(|(_, c)| c)
        .collect();
    let options = DiscoverOptions::at(
        &distances,
        RefineOptions {
            min_faces: args.min_faces,
            min_short: args.min_short,
            min_blur: args.min_blur,
            min_det_score: args.min_det_score,
            ..RefineOptions::at(&distances)
        },
    );
    let found = discover(
        &cache,
        |row| under_root(row, &args.source),
        &existing,
        &options,
    );
    println!(
        "{} faces under {}; {} covered by {} existing identities; {} clusters",
        found.faces,
        args.source.display(),
        found.covered,
        existing.len(),
        found.clusters.len()
    );
    for (n, c) in found.clusters.iter().enumerate() {
        println!(
            "  cluster {:>3}: {:>4} faces, {:>4} survive the gates{}",
            n + 1,
            c.cluster.len(),
            c.survivors.len(),
            if c.kept { "  → new identity" } else { "" }
        );
    }
    let label = args.label.clone().unwrap_or_else(|| {
        args.source
            .file_name()
            .map_or_else(|| "source".into(), |n| n.to_string_lossy().into_owned())
    });
    let new: Vec<NewFaceset> = found
        .kept()
        .map(|c| NewFaceset {
            faces: c.survivors.clone(),
            kind: Kind::Discovered,
            label: label.clone(),
            sources: vec![
                std::path::absolute(&args.source).unwrap_or_else(|_| args.source.clone()),
            ],
            params: serde_json::json!({
                "existing_threshold": distances.known,
                "cluster_threshold": distances.cluster,
                "min_faces": args.min_faces,
                "min_short": args.min_short,
                "min_blur": args.min_blur,
                "min_det_score": args.min_det_score,
                "min_face_short": args.min_face_short,
            }),
            marker: label.clone(),
            label_bundles: false,
            thin: false,
            suffix: String::new(),
        })
        .collect();
    if args.dry_run {
        println!(
            "dry run: {} new identities would start at faceset_{:03}",
            new.len(),
            library.next_number()
        );
        return Ok(());
    }
    let changes = library.add(&cache, &new, &swap_options)?;
    library.save()?;
    for name in &changes.added {
        let crops = library.entry(name).map_or(0, |e| e.export.faces.len());
        println!("added {name} ({crops} crops)");
    }
    for (label, why) in &changes.left_out {
        println!("not added ({label}): {why}");
    }
    if changes.added.is_empty() {
        println!("no new identity; the library is unchanged");
    }
    Ok(())
}
