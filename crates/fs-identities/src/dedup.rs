//! `dedup`: byte-identical groups and visual near-duplicates.
//!
//! Byte-identical groups come straight from the cache (an image and its aliases). Two
//! distinct images are near-duplicates when they show the same faces — the same number
//! of faces, matched one to one with embedding cosine similarity at least
//! `face_similarity` (0.85; different photos of one person score about 0.6–0.75, a
//! re-encode, resize, crop or greyscale copy 0.93 and up) — or, for photos without
//! faces, when their difference hashes differ in at most `dhash_bits` bits.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use fs_cache::{Cache, ContentHash, ImageOutcome};
use fs_cluster::{Embeddings, connected_groups};
use serde::{Deserialize, Serialize};

/// Thresholds of the near-duplicate test.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DedupOptions {
    /// Minimum cosine similarity of matched faces. 0.85.
    pub face_similarity: f32,
    /// Maximum differing bits of the 64-bit dHash for photos without faces. 6.
    pub dhash_bits: u32,
}

impl Default for DedupOptions {
    fn default() -> Self {
        Self {
            face_similarity: 0.85,
            dhash_bits: 6,
        }
    }
}

/// A group of near-duplicate images.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NearGroup {
    /// Canonical path of each image, sorted.
    pub paths: Vec<PathBuf>,
    /// How the images were linked: "faces" or "dhash".
    pub evidence: Vec<String>,
}

/// `<cache>.duplicates.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DuplicateReport {
    /// Manifest format version.
    pub version: u32,
    /// The cache examined.
    pub cache: PathBuf,
    /// Thresholds used.
    pub params: DedupOptions,
    /// Paths with identical bytes, each group sorted, canonical path first.
    pub byte_identical: Vec<Vec<PathBuf>>,
    /// Groups of distinct images that look the same.
    pub near_duplicates: Vec<NearGroup>,
}

/// Finds both kinds of duplicates.
pub fn find_duplicates(cache: &Cache, options: &DedupOptions) -> DuplicateReport {
    let byte_identical = cache
        .images()
        .filter(|i| !i.aliases.is_empty())
        .map(|i| i.all_paths().cloned().collect())
        .collect();

    let images: Vec<_> = cache
        .images()
        .filter(|i| !matches!(i.outcome, ImageOutcome::DecodeError(_)))
        .collect();
    let image_index: HashMap<ContentHash, usize> = images
        .iter()
        .enumerate()
        .map(|(n, i)| (i.hash, n))
        .collect();
    let mut evidence: BTreeMap<(usize, usize), &'static str> = BTreeMap::new();

    // Faces: candidate image pairs from close face pairs, then the one-to-one check.
    let mut owners = Vec::new();
    let mut vectors: Vec<&[f32]> = Vec::new();
    for image in &images {
        for face in image.faces() {
            owners.push(image_index[&image.hash]);
            vectors.push(face.embedding.unit());
        }
    }
    if !vectors.is_empty() {
        let embeddings = Embeddings::from_rows(vectors[0].len(), &vectors);
        let max_distance = 1.0 - options.face_similarity;
        // Exact pairs, or near-exact ones from the approximate graph in very large
        // libraries (near-duplicates are each other's nearest neighbours).
        let graph = fs_cluster::graph::build(
            &embeddings,
            max_distance,
            fs_cluster::graph::GraphChoice::Auto,
            &fs_progress::Silent,
        );
        let mut candidates: Vec<(usize, usize)> = graph
            .edges()
            .filter(|&(_, _, d)| d <= max_distance)
            .map(|(a, b, _)| (owners[a].min(owners[b]), owners[a].max(owners[b])))
            .filter(|(a, b)| a != b)
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        for (a, b) in candidates {
            if faces_match(
                images[a].faces(),
                images[b].faces(),
                options.face_similarity,
            ) {
                evidence.insert((a, b), "faces");
            }
        }
    }
    // Pictures without faces: perceptual hash.
    let faceless: Vec<(usize, u64)> = images
        .iter()
        .enumerate()
        .filter(|(_, i)| i.faces().is_empty())
        .filter_map(|(n, i)| i.dhash.map(|h| (n, h)))
        .collect();
    for (x, &(a, ha)) in faceless.iter().enumerate() {
        for &(b, hb) in &faceless[x + 1..] {
            if fs_quality::hamming(ha, hb) <= options.dhash_bits {
                evidence.insert((a.min(b), a.max(b)), "dhash");
            }
        }
    }

    // Link the pairs into groups; images linked to nothing are not duplicates.
    let mut near_duplicates: Vec<NearGroup> =
        connected_groups(images.len(), evidence.keys().copied())
            .into_iter()
            .filter(|g| g.len() > 1)
            .map(|group| {
                let mut kinds: Vec<String> = evidence
                    .iter()
                    .filter(|((a, _), _)| group.binary_search(a).is_ok())
                    .map(|(_, kind)| (*kind).to_string())
                    .collect();
                kinds.sort();
                kinds.dedup();
                let mut paths: Vec<PathBuf> =
                    group.iter().map(|&n| images[n].path.clone()).collect();
                paths.sort();
                NearGroup {
                    paths,
                    evidence: kinds,
                }
            })
            .collect();
    near_duplicates.sort_by(|a, b| a.paths.cmp(&b.paths));

    DuplicateReport {
        version: crate::manifest::VERSION,
        cache: std::path::absolute(cache.path()).unwrap_or_else(|_| cache.path().to_path_buf()),
        params: options.clone(),
        byte_identical,
        near_duplicates,
    }
}

/// Same face count, and a greedy one-to-one matching (best pairs first) in which every
/// face finds a partner at least `min_similarity` alike.
fn faces_match(a: &[fs_cache::Face], b: &[fs_cache::Face], min_similarity: f32) -> bool {
    if a.len() != b.len() || a.is_empty() {
        return false;
    }
    let mut pairs: Vec<(f32, usize, usize)> = a
        .iter()
        .enumerate()
        .flat_map(|(i, fa)| {
            b.iter()
                .enumerate()
                .map(move |(j, fb)| (fa.embedding.cosine(&fb.embedding), i, j))
        })
        .filter(|p| p.0 >= min_similarity)
        .collect();
    pairs.sort_by(|x, y| y.0.total_cmp(&x.0));
    let (mut used_a, mut used_b) = (vec![false; a.len()], vec![false; b.len()]);
    let mut matched = 0;
    for (_, i, j) in pairs {
        if !used_a[i] && !used_b[j] {
            used_a[i] = true;
            used_b[j] = true;
            matched += 1;
        }
    }
    matched == a.len()
}

/// The report's path: `<cache>.duplicates.json` beside the cache.
pub fn report_path(cache: &std::path::Path) -> PathBuf {
    let mut name = cache.as_os_str().to_os_string();
    name.push(".duplicates.json");
    PathBuf::from(name)
}

/// Writes `report` beside `cache` (at [`report_path`]), atomically: the only writer of a
/// duplicates report. Returns its path.
pub fn write_report(cache: &std::path::Path, report: &DuplicateReport) -> crate::Result<PathBuf> {
    let path = report_path(cache);
    crate::manifest::write_json(&path, report)?;
    Ok(path)
}
