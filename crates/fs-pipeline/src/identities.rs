//! The identity stages on their own, from a cache file to result folders: `cluster`,
//! `refine`, `extend` and `dedup`. Their distances are the cache's pack's unless given.

use std::fmt;
use std::path::{Path, PathBuf};

use fs_cache::Cache;
use fs_cluster::graph::GraphChoice;
use fs_identities::cluster::{ClusterOptions, cluster_cache_reporting};
use fs_identities::dedup::{DedupOptions, find_duplicates};
use fs_identities::extend::{ExtendOptions, extend_raw, extend_refine};
use fs_identities::gates::RefineOptions;
use fs_identities::linking::Linking;
use fs_identities::manifest::{self, RAW_MANIFEST, REFINE_MANIFEST, RawManifest, RefineManifest};
use fs_identities::materialize::{Mode, Over, write_raw, write_refine};
use fs_identities::refine::refine_cache_reporting;
use fs_progress::Progress;
use serde::Serialize;

use crate::error::{Result, input};
use crate::models::{Overrides, distances};

/// Opens `path` for reading, naming it when it is not a cache.
pub fn read_cache(path: &Path) -> Result<Cache> {
    Cache::open_read_only(path).map_err(|e| input(path, format!("cannot read the cache: {e}")))
}

/// The people of `cache`: its faces clustered at the cluster distance in force (the
/// pack's that made them, or `overrides`'), said to `progress`. Nothing is written.
pub fn people(cache: &Cache, overrides: &Overrides, progress: &dyn Progress) -> RawManifest {
    people_linked(cache, overrides, None, progress)
}

/// [`people`] linked as `linking` says (`None`: the defaults), at the distances in force.
pub fn people_linked(
    cache: &Cache,
    overrides: &Overrides,
    linking: Option<Linking>,
    progress: &dyn Progress,
) -> RawManifest {
    let (values, _) = distances(cache, None, overrides, progress);
    let mut options = ClusterOptions::at(&values);
    if let Some(linking) = linking {
        options.linking = linking.at_distances(&values);
    }
    cluster_cache_reporting(cache, &options, progress)
}

/// What `cluster` wrote.
#[derive(Clone, Debug, Serialize)]
pub struct Clustered {
    /// The manifest written.
    pub manifest: PathBuf,
    /// Clusters of two or more faces.
    pub people: usize,
    /// Faces in them.
    pub faces: usize,
    /// Faces that joined no cluster.
    pub singletons: usize,
    /// Photos without a face.
    pub noface: usize,
    /// Photos placed this time.
    pub placed: usize,
    /// Photos already there.
    pub existing: usize,
    /// Inputs that failed: clustering reads only the cache, so it fails whole or
    /// leaves this empty.
    pub errors: Vec<String>,
}

impl fmt::Display for Clustered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} people ({} faces), {} singletons, {} photos without a face; {} files placed, \
             {} already there → {}",
            self.people,
            self.faces,
            self.singletons,
            self.noface,
            self.placed,
            self.existing,
            self.manifest.display()
        )
    }
}

/// Clusters every face of `cache` into `out` (`person_NNN/`, `_singletons/`,
/// `_noface/`, `manifest.json`) at the cluster distance in force.
pub fn cluster(
    cache: &Path,
    out: &Path,
    overrides: &Overrides,
    graph: GraphChoice,
    linking: Linking,
    mode: Mode,
    progress: &dyn Progress,
) -> Result<Clustered> {
    let cache = read_cache(cache)?;
    let (values, _) = distances(&cache, None, overrides, progress);
    let manifest = cluster_cache_reporting(
        &cache,
        &ClusterOptions {
            threshold: values.cluster,
            graph,
            linking: linking.at_distances(&values),
        },
        progress,
    );
    let written = write_raw(out, &manifest, mode, Over::Nothing)?;
    Ok(Clustered {
        manifest: out.join(RAW_MANIFEST),
        people: manifest.clusters.len(),
        faces: manifest.clusters.iter().map(|c| c.faces.len()).sum(),
        singletons: manifest.singletons.len(),
        noface: manifest.noface.len(),
        placed: written.placed,
        existing: written.existing,
        errors: Vec::new(),
    })
}

/// What `refine` wrote.
#[derive(Clone, Debug, Serialize)]
pub struct Refined {
    /// The manifest written.
    pub manifest: PathBuf,
    /// One line per faceset: faces, photos, dropped.
    pub facesets: Vec<String>,
    /// Photos placed this time.
    pub placed: usize,
    /// Photos already there.
    pub existing: usize,
}

impl fmt::Display for Refined {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} facesets:", self.facesets.len())?;
        for line in &self.facesets {
            writeln!(f, "  {line}")?;
        }
        write!(
            f,
            "{} files placed, {} already there → {}",
            self.placed,
            self.existing,
            self.manifest.display()
        )
    }
}

/// Refines every face of `cache` into quality-gated facesets under `out`. The
/// cluster, merge and outlier distances of `options` are replaced by those in force.
pub fn refine(
    cache: &Path,
    out: &Path,
    options: &RefineOptions,
    overrides: &Overrides,
    mode: Mode,
    progress: &dyn Progress,
) -> Result<Refined> {
    let cache = read_cache(cache)?;
    let (values, _) = distances(&cache, None, overrides, progress);
    let options = RefineOptions {
        initial_threshold: values.cluster,
        merge_threshold: values.merge,
        outlier_threshold: values.outlier,
        linking: options.linking.at_distances(&values),
        ..options.clone()
    };
    let manifest = refine_cache_reporting(&cache, &options, progress);
    let written = write_refine(out, &manifest, mode, Over::Nothing)?;
    Ok(Refined {
        manifest: out.join(REFINE_MANIFEST),
        facesets: manifest
            .facesets
            .iter()
            .map(|f| {
                format!(
                    "{}: {} faces from {} photos ({} dropped)",
                    f.name,
                    f.faces.len(),
                    f.images,
                    f.dropped.len()
                )
            })
            .collect(),
        placed: written.placed,
        existing: written.existing,
    })
}

/// What `extend` changed.
#[derive(Clone, Debug, Serialize)]
pub struct Extended {
    /// Faces the raw result did not hold.
    pub new_faces: usize,
    /// Of them, how many joined an existing person.
    pub joined_existing: usize,
    /// People created.
    pub new_people: Vec<String>,
    /// Photos placed in the raw folders.
    pub placed: usize,
    /// With a refine result: new faces that joined facesets, and photos placed.
    pub refine: Option<(usize, usize)>,
}

impl fmt::Display for Extended {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} new faces: {} joined existing people, {} new people{}; {} files placed",
            self.new_faces,
            self.joined_existing,
            self.new_people.len(),
            if self.new_people.is_empty() {
                String::new()
            } else {
                format!(" ({})", self.new_people.join(", "))
            },
            self.placed
        )?;
        if let Some((joined, placed)) = self.refine {
            write!(
                f,
                "\n{joined} new faces joined facesets; {placed} files placed"
            )?;
        }
        Ok(())
    }
}

/// Folds the faces of `cache` that `raw_out` (and `refine_out`) do not hold yet into
/// them, without renumbering.
pub fn extend(
    cache: &Path,
    raw_out: &Path,
    refine_out: Option<&Path>,
    overrides: &Overrides,
    mode: Mode,
    progress: &dyn Progress,
) -> Result<Extended> {
    let cache = read_cache(cache)?;
    let old: RawManifest = manifest::read(&raw_out.join(RAW_MANIFEST)).map_err(|e| {
        input(
            raw_out,
            format!("holds no cluster result to extend (cluster it first): {e}"),
        )
    })?;
    let (values, _) = distances(&cache, None, overrides, progress);
    let (raw, report) = extend_raw(&cache, &old, &ExtendOptions::at(&values));
    let written = write_raw(raw_out, &raw, mode, Over::Earlier)?;
    let refine = match refine_out {
        None => None,
        Some(dir) => {
            let old: RefineManifest = manifest::read(&dir.join(REFINE_MANIFEST))
                .map_err(|e| input(dir, format!("holds no refine result to extend: {e}")))?;
            let (refined, joined) = extend_refine(&cache, &old);
            let written = write_refine(dir, &refined, mode, Over::Earlier)?;
            Some((joined, written.placed))
        }
    };
    Ok(Extended {
        new_faces: report.new_faces,
        joined_existing: report.joined_existing,
        new_people: report.new_clusters,
        placed: written.placed,
        refine,
    })
}

/// What `dedup` found.
#[derive(Clone, Debug, Serialize)]
pub struct Deduplicated {
    /// The report written beside the cache.
    pub report: PathBuf,
    /// Groups of byte-identical photos.
    pub byte_identical: usize,
    /// Groups of near-duplicates.
    pub near_duplicates: usize,
}

impl fmt::Display for Deduplicated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} byte-identical groups, {} near-duplicate groups → {}",
            self.byte_identical,
            self.near_duplicates,
            self.report.display()
        )
    }
}

/// Finds duplicate photos in `cache` and writes the report beside it.
pub fn dedup(cache_path: &Path, options: &DedupOptions) -> Result<Deduplicated> {
    let cache = read_cache(cache_path)?;
    let report = find_duplicates(&cache, options);
    let path = fs_identities::dedup::write_report(cache_path, &report)?;
    Ok(Deduplicated {
        report: path,
        byte_identical: report.byte_identical.len(),
        near_duplicates: report.near_duplicates.len(),
    })
}
