//! The identity stages of `face-sets run`, as one function: cluster (or extend) the
//! cache, refine (or extend) the facesets, and on a re-run discover the new people among
//! faces that joined no identity, so a person first seen in a later batch gets a
//! faceset. The library is grown from the result with [`Library::refresh_refined`].
//!
//! ```text
//! first run:  cluster → refine                       (facesets numbered from 001)
//! re-run:     extend raw → extend refine → discover  (new facesets past the highest)
//! ```

use std::collections::HashSet;

use fs_cache::Cache;
use fs_identities::cluster::{ClusterOptions, cluster_cache_reporting};
use fs_identities::discover::{DiscoverOptions, discover_indexed};
use fs_identities::extend::{ExtendOptions, extend_raw, extend_refine};
use fs_identities::faces::FaceIndex;
use fs_identities::gates::RefineOptions;
use fs_identities::manifest::{
    self, Faceset, RAW_MANIFEST, REFINE_MANIFEST, RawManifest, RefineManifest,
};
use fs_identities::materialize::{Mode, Over, write_raw, write_refine};
use fs_identities::refine::refine_cache_reporting;
use fs_library::Library;
use fs_progress::Progress;

use crate::layout::RunLayout;

use crate::Result;

/// Options of the identity stages.
#[derive(Clone, Debug, Default)]
pub struct GrowOptions {
    /// First-run clustering.
    pub cluster: ClusterOptions,
    /// First-run refinement.
    pub refine: RefineOptions,
    /// Folding new faces into the raw clusters on a re-run.
    pub extend: ExtendOptions,
    /// Discovery of new identities on a re-run; give it `refine` as its gates, so new
    /// identities pass what the first run's facesets did.
    pub discover: DiscoverOptions,
    /// How faces are placed into the `raw/` and `facesets/` folders.
    pub materialize: Mode,
}

/// What the identity stages produced.
#[derive(Clone, Debug)]
pub struct Grown {
    /// The raw clusters, as written.
    pub raw: RawManifest,
    /// The facesets, as written (new identities appended).
    pub refine: RefineManifest,
    /// Refine names of the identities discovered this run.
    pub discovered: Vec<String>,
}

/// Runs the identity stages of `run` over `cache`, reading and writing the manifests
/// under `layout`. New identities are numbered past the highest faceset of both the
/// refine manifest and `library`, so the library can take the same name.
pub fn identities(
    cache: &Cache,
    layout: &RunLayout,
    library: &Library,
    options: &GrowOptions,
    progress: &dyn Progress,
) -> Result<Grown> {
    let raw_path = layout.raw().join(RAW_MANIFEST);
    let refine_path = layout.facesets().join(REFINE_MANIFEST);
    let raw = if raw_path.is_file() {
        let old: RawManifest = manifest::read(&raw_path)?;
        let (raw, _) = extend_raw(cache, &old, &options.extend);
        write_raw(&layout.raw(), &raw, options.materialize, Over::Earlier)?;
        raw
    } else {
        let raw = cluster_cache_reporting(cache, &options.cluster, progress);
        write_raw(&layout.raw(), &raw, options.materialize, Over::Nothing)?;
        raw
    };
    let mut discovered = Vec::new();
    let refine = if refine_path.is_file() {
        let old: RefineManifest = manifest::read(&refine_path)?;
        let (mut refine, _) = extend_refine(cache, &old);
        discovered = discover_new(cache, &mut refine, library, &options.discover)?;
        write_refine(
            &layout.facesets(),
            &refine,
            options.materialize,
            Over::Earlier,
        )?;
        refine
    } else {
        let refine = refine_cache_reporting(cache, &options.refine, progress);
        write_refine(
            &layout.facesets(),
            &refine,
            options.materialize,
            Over::Nothing,
        )?;
        refine
    };
    Ok(Grown {
        raw,
        refine,
        discovered,
    })
}

/// Clusters the faces that belong to no faceset (as a member or a dropped face) and
/// match no known identity (of the library or the refine manifest), and appends the
/// clusters that pass discovery's rules as new facesets.
fn discover_new(
    cache: &Cache,
    refine: &mut RefineManifest,
    library: &Library,
    options: &DiscoverOptions,
) -> Result<Vec<String>> {
    let taken: HashSet<&str> = refine
        .facesets
        .iter()
        .flat_map(|f| {
            f.faces
                .iter()
                .map(|r| r.key.as_str())
                .chain(f.dropped.iter().map(|d| d.face.key.as_str()))
        })
        .collect();
    let mut existing: Vec<Vec<f32>> = library
        .known_identities(cache.model(), &[cache])?
        .into_iter()
        .map(|(_, c)| c)
        .collect();
    let index = FaceIndex::of(cache);
    existing.extend(refine_centroids(&index, refine));
    let found = discover_indexed(
        &index,
        |row| !taken.contains(row.key.as_str()),
        &existing,
        options,
    );
    let mut next = refine
        .facesets
        .iter()
        .filter_map(|f| manifest::number_of("faceset", &f.name))
        .max()
        .unwrap_or(0)
        .max(library.next_number() - 1)
        + 1;
    let mut names = Vec::new();
    let new: Vec<Faceset> = found
        .kept()
        .map(|c| {
            let name = manifest::numbered("faceset", next);
            next += 1;
            names.push(name.clone());
            Faceset {
                name,
                images: fs_identities::faces::distinct_images(&c.survivors),
                faces: c.survivors.clone(),
                dropped: Vec::new(),
            }
        })
        .collect();
    refine.facesets.extend(new);
    Ok(names)
}

/// Centroids of the refine manifest's facesets, from the cache's faces.
fn refine_centroids(index: &FaceIndex, refine: &RefineManifest) -> Vec<Vec<f32>> {
    refine
        .facesets
        .iter()
        .filter_map(|f| {
            let rows = index.rows_of(f.faces.iter().map(|r| r.key.as_str()));
            (!rows.is_empty()).then(|| fs_cluster::centroid::centroid(&index.embeddings, &rows))
        })
        .collect()
}
