//! `extend`: fold faces that are not in a result yet into it, without renumbering.
//!
//! New faces join the nearest existing person (centroid within the cutoff); the rest,
//! with the old singletons, are clustered and every new multi-face cluster becomes a
//! `person_NNN` numbered past the highest existing number. With a refine result, new
//! faces that pass the quality gate join the nearest faceset within its outlier
//! threshold. Running it again with no new photos changes nothing.

use std::collections::HashSet;

use fs_cache::Cache;
use fs_cluster::centroid::{assign, centroid, nearest};
use fs_cluster::graph::GraphChoice;
use fs_progress::Silent;

use fs_packs::Thresholds;

use crate::faces::{FaceIndex, FaceRow, other_images};
use crate::gates::quality_gate;
use crate::linking::{Linking, link_faces};
use crate::manifest::{self, Cluster, RawManifest, RefineManifest};

/// Options of `extend`.
#[derive(Clone, Debug, PartialEq)]
pub struct ExtendOptions {
    /// A new face joins the nearest person whose centroid is within this distance
    /// ([`Thresholds::join`]).
    pub assign_threshold: f32,
    /// Threshold for clustering the faces no person took ([`Thresholds::cluster`]).
    pub cluster_threshold: f32,
    /// How the faces no person took are linked; with `apart`, a person takes at most
    /// one face of a photo (the nearest).
    pub linking: Linking,
}

impl ExtendOptions {
    /// The options at a pack's distances.
    pub fn at(t: &Thresholds) -> Self {
        Self {
            assign_threshold: t.join,
            cluster_threshold: t.cluster,
            linking: Linking::at(t),
        }
    }
}

impl Default for ExtendOptions {
    /// At the default pack's distances.
    fn default() -> Self {
        Self::at(&Thresholds::default())
    }
}

/// What `extend` changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExtendReport {
    /// Faces in the cache that the result did not hold.
    pub new_faces: usize,
    /// New faces that joined an existing person.
    pub joined_existing: usize,
    /// Names of the persons created.
    pub new_clusters: Vec<String>,
    /// New faces that joined an existing faceset (with a refine result).
    pub joined_facesets: usize,
}

/// Folds the cache's new faces into a raw result.
pub fn extend_raw(
    cache: &Cache,
    old: &RawManifest,
    options: &ExtendOptions,
) -> (RawManifest, ExtendReport) {
    let ix = FaceIndex::of(cache);
    let mut report = ExtendReport::default();
    // Existing members, refreshed from the cache (new aliases appear in `paths`).
    let refresh = |f: &FaceRow| {
        ix.by_key
            .get(&f.key)
            .map_or_else(|| f.clone(), |&i| ix.rows[i].clone())
    };
    let mut clusters: Vec<Cluster> = old
        .clusters
        .iter()
        .map(|c| Cluster {
            name: c.name.clone(),
            faces: c.faces.iter().map(refresh).collect(),
        })
        .collect();
    let known: HashSet<&str> = old
        .clusters
        .iter()
        .flat_map(|c| &c.faces)
        .chain(&old.singletons)
        .map(|f| f.key.as_str())
        .collect();
    let centroids: Vec<Vec<f32>> = clusters
        .iter()
        .map(|c| {
            let members = ix.rows_of(c.faces.iter().map(|f| f.key.as_str()));
            centroid(&ix.embeddings, &members)
        })
        .collect();

    let mut pool = ix.rows_of(old.singletons.iter().map(|f| f.key.as_str()));
    let mut new_in_pool: HashSet<usize> = HashSet::new();
    // Each new face's nearest person within the cutoff; the nearer faces choose first,
    // so that of two faces of one photo the nearer joins and the other stays open.
    let mut wanted: Vec<(usize, Option<(usize, f32)>)> = Vec::new();
    for (i, row) in ix.rows.iter().enumerate() {
        if known.contains(row.key.as_str()) {
            continue;
        }
        report.new_faces += 1;
        let query = ix.embeddings.row(i);
        let near = nearest(&centroids, query.as_slice().expect("contiguous"))
            .filter(|&(_, d)| d <= options.assign_threshold);
        wanted.push((i, near));
    }
    wanted.sort_by(|a, b| {
        let d = |w: &(usize, Option<(usize, f32)>)| w.1.map_or(f32::INFINITY, |n| n.1);
        d(a).total_cmp(&d(b)).then(a.0.cmp(&b.0))
    });
    let mut photos: Vec<HashSet<String>> = clusters
        .iter()
        .map(|c| c.faces.iter().map(|f| f.image_key().to_owned()).collect())
        .collect();
    for (i, near) in wanted {
        let row = &ix.rows[i];
        let free = |c: usize, photos: &[HashSet<String>]| {
            !options.linking.apart || !photos[c].contains(row.image_key())
        };
        match near {
            Some((c, _)) if free(c, &photos) => {
                photos[c].insert(row.image_key().to_owned());
                clusters[c].faces.push(row.clone());
                report.joined_existing += 1;
            }
            _ => {
                pool.push(i);
                new_in_pool.insert(i);
            }
        }
    }
    pool.sort_unstable();

    let mut next = old
        .clusters
        .iter()
        .filter_map(|c| manifest::number_of("person", &c.name))
        .max()
        .unwrap_or(0);
    let mut singletons = Vec::new();
    if new_in_pool.is_empty() {
        singletons = old.singletons.iter().map(refresh).collect();
    } else {
        let pool_rows: Vec<&FaceRow> = pool.iter().map(|&i| &ix.rows[i]).collect();
        let groups = link_faces(
            &pool_rows,
            &ix.embeddings.select(&pool),
            options.cluster_threshold,
            GraphChoice::Auto,
            &options.linking,
            &Silent,
        )
        .clusters;
        for group in groups {
            let members: Vec<usize> = group.iter().map(|&g| pool[g]).collect();
            if members.len() >= 2 {
                next += 1;
                let name = manifest::numbered("person", next);
                report.new_clusters.push(name.clone());
                clusters.push(Cluster {
                    name,
                    faces: members.iter().map(|&i| ix.rows[i].clone()).collect(),
                });
            } else {
                singletons.extend(members.iter().map(|&i| ix.rows[i].clone()));
            }
        }
    }
    for c in &mut clusters {
        c.faces
            .sort_by(|a, b| a.path.cmp(&b.path).then(a.key.cmp(&b.key)));
    }
    singletons.sort_by(|a, b| a.path.cmp(&b.path).then(a.key.cmp(&b.key)));
    let (noface, undecodable) = other_images(cache);
    let manifest = RawManifest {
        version: manifest::VERSION,
        cache: old.cache.clone(),
        threshold: old.threshold,
        clusters,
        singletons,
        noface,
        undecodable,
    };
    (manifest, report)
}

/// Folds new faces that pass the quality gate into the nearest faceset (centroid within
/// the refine outlier threshold). Facesets are never created or renumbered here.
pub fn extend_refine(cache: &Cache, old: &RefineManifest) -> (RefineManifest, usize) {
    let ix = FaceIndex::of(cache);
    let params = &old.params;
    let mut manifest = old.clone();
    let known: HashSet<String> = old
        .facesets
        .iter()
        .flat_map(|f| f.faces.iter().chain(f.dropped.iter().map(|d| &d.face)))
        .map(|f| f.key.clone())
        .collect();
    let centroids: Vec<Vec<f32>> = old
        .facesets
        .iter()
        .map(|f| {
            let members = ix.rows_of(f.faces.iter().map(|r| r.key.as_str()));
            centroid(&ix.embeddings, &members)
        })
        .collect();
    let mut joined = 0;
    for (i, row) in ix.rows.iter().enumerate() {
        if known.contains(&row.key) || quality_gate(row, params).is_some() {
            continue;
        }
        let query = ix.embeddings.row(i);
        if let Some(f) = assign(
            &centroids,
            query.as_slice().expect("contiguous"),
            params.outlier_threshold,
        ) {
            manifest.facesets[f].faces.push(row.clone());
            joined += 1;
        }
    }
    for faceset in &mut manifest.facesets {
        faceset
            .faces
            .sort_by(|a, b| a.path.cmp(&b.path).then(a.key.cmp(&b.key)));
        let mut images: Vec<&str> = faceset.faces.iter().map(FaceRow::image_key).collect();
        images.sort_unstable();
        images.dedup();
        faceset.images = images.len();
    }
    (manifest, joined)
}
