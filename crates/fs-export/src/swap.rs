//! `export-swap`: per identity, the faces worth using, as square single-face PNG crops
//! ranked by quality, plus `.fsz` bundles (plain zips of `0.png`, `1.png`, …, as
//! roop-unleashed writes them).
//!
//! Per faceset: tight outlier gate (0.45 from the centroid) → minimum face size (100 px)
//! → visual duplicates (faces as alike as `dedup`'s near-duplicates) collapsed to their
//! best face → composite-quality rank → crops
//! with 50 % padding, resized to 512². A crop never shows a second face: the padding
//! shrinks until other faces of the photo fall outside, and whatever still overlaps is
//! painted over, so re-detecting a crop finds only its own face.
//!
//! ```text
//! OUT/faceset_001/<hash>_<n>.png   crops (names stable across runs)
//! OUT/faceset_001/faceset_001_top30.fsz, faceset_001_all.fsz, manifest.json
//! OUT/_candidates/faceset_001/…   rescued singletons (with --candidates)
//! ```
//!
//! A faceset that keeps no crop leaves the disk untouched: nothing is created for a new
//! one, and an existing folder keeps its crops. The top-level `OUT/manifest.json` is the
//! library's (crate `fs-library`), which decides names and folders and calls this module.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use fs_cache::{Cache, Face, FaceKey, ImageRecord};
use fs_cluster::centroid::{assign, centroid};
use fs_cluster::{Embeddings, cosine_distance};
use fs_detect::crop::{crop_decode_side, crop_single_face};
use fs_packs::Thresholds;
use fs_quality::{Quality, QualityInputs};
use image::RgbImage;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, io_err};
use fs_identities::dedup::DedupOptions;
use fs_identities::faces::FaceRow;
use fs_identities::manifest::RawManifest;

/// Options of `export-swap`; the distances by default are the default pack's
/// ([`SwapOptions::at`] takes another pack's), the rest the original tool's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SwapOptions {
    /// Faces in the `_topN.fsz` bundle. 30.
    pub top_n: usize,
    /// Drop faces farther than this from the faceset centroid
    /// ([`Thresholds::export_outlier`]).
    pub outlier_threshold: f32,
    /// Padding around the face box on each side, as a fraction of its longer side. 0.5.
    pub pad_ratio: f32,
    /// Side of the square PNG crops. 512.
    pub out_size: u32,
    /// Minimum face short side in pixels. 100.
    pub min_face_short: f32,
    /// Rescue singletons into `_candidates/`.
    pub candidates: bool,
    /// A singleton is a candidate for the nearest faceset within this distance
    /// ([`Thresholds::candidate`]).
    pub candidate_match_threshold: f32,
    /// ... and with at least this composite quality. 0.40.
    pub candidate_min_score: f32,
    /// A face at least this alike (cosine similarity) to a better one already kept is a
    /// visual duplicate and is left out. 0.85, as `dedup`.
    #[serde(default = "default_duplicate_similarity")]
    pub duplicate_similarity: f32,
}

fn default_duplicate_similarity() -> f32 {
    DedupOptions::default().face_similarity
}

impl SwapOptions {
    /// The options at a pack's distances.
    pub fn at(t: &Thresholds) -> Self {
        Self {
            outlier_threshold: t.export_outlier,
            candidate_match_threshold: t.candidate,
            ..Self::default()
        }
    }
}

impl Default for SwapOptions {
    /// At the default pack's distances.
    fn default() -> Self {
        let t = Thresholds::default();
        Self {
            top_n: 30,
            outlier_threshold: t.export_outlier,
            pad_ratio: 0.5,
            out_size: 512,
            min_face_short: 100.0,
            candidates: false,
            candidate_match_threshold: t.candidate,
            candidate_min_score: 0.40,
            duplicate_similarity: default_duplicate_similarity(),
        }
    }
}

/// One exported crop.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExportedFace {
    /// Rank by composite quality, 0 = best; also its name inside the bundles.
    pub rank: usize,
    /// The PNG, relative to the faceset folder.
    pub png: String,
    /// The face.
    pub face: FaceRow,
    /// Its quality.
    pub quality: Quality,
}

/// A face left out, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SkippedFace {
    /// The face.
    pub face: FaceRow,
    /// The gate that dropped it.
    pub reason: String,
}

/// `OUT/<faceset>/manifest.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FacesetExport {
    /// The faceset's name (from the refine manifest).
    pub name: String,
    /// Crops, best first.
    pub faces: Vec<ExportedFace>,
    /// Faces the gates dropped.
    pub dropped: Vec<SkippedFace>,
    /// The top-N bundle's file name.
    pub top_bundle: String,
    /// The bundle with every crop.
    pub all_bundle: String,
    /// Mean composite quality of the exported crops.
    pub mean_quality: f32,
    /// Folder relative to the top-level manifest, when not simply `name` (e.g. under
    /// `_thin/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
    /// Where the identity came from (a hand-sorted folder's label, a source root), when
    /// a workflow made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// One faceset to export: what [`export_faceset`] needs beyond the faces.
#[derive(Clone, Debug)]
pub struct ExportRequest<'a> {
    /// The faceset (name and faces).
    pub faceset: &'a fs_identities::manifest::Faceset,
    /// Its folder, relative to OUT (usually the name).
    pub dir: String,
    /// Stem of the bundle files (usually the name; a label for hand-sorted imports).
    pub bundle_stem: String,
    /// Provenance label, recorded in the manifest.
    pub label: Option<String>,
    /// Keys of faces the outlier gate leaves alone (a person's choice; the other gates
    /// still apply).
    pub chosen: &'a std::collections::BTreeSet<String>,
    /// Folders (relative to OUT) whose crops were made with these same options and
    /// check: a face's crop found in one is read instead of decoding its photo again
    /// (a crop depends only on its face, the options and the check). Faces without one
    /// are rendered as usual.
    pub reuse_crops: Vec<String>,
}

/// What exporting one faceset did.
#[derive(Clone, Debug)]
pub struct ExportOutcome {
    /// Its manifest (also written as `OUT/<dir>/manifest.json` when crops were kept).
    pub export: FacesetExport,
    /// Centroid of the exported faces (of every face found in the cache when none was
    /// exported).
    pub centroid: Vec<f32>,
    /// Photos that could not be read while cropping, with why.
    pub errors: Vec<(PathBuf, String)>,
}

impl ExportOutcome {
    /// Whether any crop was kept (and so written).
    pub fn is_empty(&self) -> bool {
        self.export.faces.is_empty()
    }
}

/// A singleton offered for review.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The faceset it resembles.
    pub faceset: String,
    /// The PNG, relative to OUT.
    pub png: String,
    /// The face.
    pub face: FaceRow,
    /// Its distance to the faceset centroid.
    pub distance: f32,
    /// Its quality.
    pub quality: Quality,
}

/// Name of the manifest in each faceset folder and at the top.
pub const SWAP_MANIFEST: &str = "manifest.json";
/// Folder of rescued singletons.
pub const CANDIDATES: &str = "_candidates";

/// Everything known about one face of the cache, by key.
struct Known<'a> {
    image: &'a ImageRecord,
    face: &'a Face,
    index: usize,
}

/// The faces of a cache by key, as exporting looks them up. Build it once and export
/// every faceset with it.
pub struct CacheFaces<'a>(HashMap<String, Known<'a>>);

impl std::fmt::Debug for CacheFaces<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheFaces")
            .field("faces", &self.0.len())
            .finish()
    }
}

impl<'a> CacheFaces<'a> {
    /// Indexes every face of `cache`.
    pub fn of(cache: &'a Cache) -> Self {
        Self(key_index(cache))
    }

    /// The unit embedding of the face `key`, if the cache holds it.
    pub fn embedding(&self, key: &str) -> Option<&'a [f32]> {
        self.0.get(key).map(|k| k.face.embedding.unit())
    }

    /// Whether faces `a` and `b` are at least `similarity` alike (cosine): copies of
    /// one photo (a re-encode, a resize) score near 1, other photos of one person about
    /// 0.6–0.75. False when the cache lacks either.
    pub fn alike(&self, a: &str, b: &str, similarity: f32) -> bool {
        match (self.embedding(a), self.embedding(b)) {
            (Some(x), Some(y)) => 1.0 - cosine_distance(x, y) >= similarity,
            _ => false,
        }
    }
}

fn key_index(cache: &Cache) -> HashMap<String, Known<'_>> {
    let mut map = HashMap::new();
    for image in cache.images() {
        for (i, face) in image.faces().iter().enumerate() {
            let key = FaceKey {
                hash: image.hash,
                index: u32::try_from(i).expect("few faces"),
            };
            map.insert(
                key.to_string(),
                Known {
                    image,
                    face,
                    index: i,
                },
            );
        }
    }
    map
}

/// The quality of one cached face (pose from `enrich` when present, else estimated from
/// the keypoints).
pub fn face_quality(face: &Face) -> Quality {
    let pose = face
        .pose
        .unwrap_or_else(|| fs_embedder::pose::pose_from_keypoints(&face.kps));
    fs_quality::score(&QualityInputs {
        yaw: pose.yaw,
        pitch: pose.pitch,
        det_score: face.det_score,
        symmetry: fs_quality::keypoint_symmetry(&face.kps),
        short_side: face.short_side(),
        sharpness: face.sharpness.unwrap_or(0.0),
    })
}

/// Stable PNG name of a face.
fn png_name(key: &str) -> String {
    let (hash, index) = key.split_once(':').unwrap_or((key, "0"));
    format!("{}_{index}.png", &hash[..hash.len().min(16)])
}

/// Exports one faceset into its folder under `out`: decides its crops and writes the
/// ones not there yet. Nothing already in the folder is removed or replaced, so an
/// export that is never committed leaves only extra crops behind; [`write_views`]
/// writes the bundles and `manifest.json` once it is. A faceset that keeps no crop
/// writes nothing (see the module docs). With a `check`, each crop is
/// re-detected as roop-unleashed will ([`CropCheck`]); a face no padding makes pass is
/// dropped, with why.
pub fn export_faceset(
    faces: &CacheFaces<'_>,
    request: &ExportRequest<'_>,
    out: &Path,
    options: &SwapOptions,
    check: Option<&CropCheck>,
) -> Result<ExportOutcome> {
    let faceset = request.faceset;
    let Selection {
        present,
        embeddings,
        centre,
        kept,
        mut dropped,
    } = select(faces, faceset, request.chosen, options);

    let dir = out.join(&request.dir);
    // (the crop, whether it is new and must be written)
    let crops: Vec<(Rendered, bool)> = kept
        .par_iter()
        .map(|(i, _)| {
            let (row, k) = present[*i];
            let file = png_name(&row.key);
            let existing = request.reuse_crops.iter().find_map(|folder| {
                fs::read(out.join(folder).join(&file))
                    .ok()
                    // A damaged file is made again, not passed on into the bundles.
                    .filter(|bytes| bytes.starts_with(b"\x89PNG\r\n\x1a\n"))
                    .map(|bytes| (bytes, *folder == request.dir))
            });
            match existing {
                // Written again only when it came from another folder.
                Some((bytes, here)) => (Rendered::Png(bytes), !here),
                None => (render_crop(k.image, k.index, options, check), true),
            }
        })
        .collect();
    let mut errors = Vec::new();
    let mut rendered = Vec::new();
    for (rank, result) in crops.into_iter().enumerate() {
        match result {
            (Rendered::Png(png), new) => rendered.push((rank, png, new)),
            (Rendered::Unreadable(path, e), _) => errors.push((path, e)),
            (Rendered::Rejected(reason), _) => dropped.push(SkippedFace {
                face: present[kept[rank].0].0.clone(),
                reason,
            }),
        }
    }
    let top_bundle = format!("{}_top{}.fsz", request.bundle_stem, options.top_n);
    let all_bundle = format!("{}_all.fsz", request.bundle_stem);
    let mut export = FacesetExport {
        name: faceset.name.clone(),
        dir: (request.dir != faceset.name).then(|| request.dir.clone()),
        label: request.label.clone(),
        faces: Vec::new(),
        dropped,
        top_bundle,
        all_bundle,
        mean_quality: 0.0,
    };
    if rendered.is_empty() {
        // Nothing to show: leave whatever is on disk as it is.
        return Ok(ExportOutcome {
            export,
            centroid: centre,
            errors,
        });
    }

    fs::create_dir_all(&dir).map_err(io_err(&dir, "create faceset directory"))?;
    let mut exported = Vec::new();
    for (rank, bytes, new) in rendered {
        let (i, quality) = kept[rank];
        exported.push(i);
        let row = present[i].0;
        let name = png_name(&row.key);
        if new {
            crate::write_file(&dir.join(&name), &bytes)?;
        }
        export.faces.push(ExportedFace {
            rank: export.faces.len(),
            png: name,
            face: row.clone(),
            quality,
        });
    }
    #[expect(clippy::cast_precision_loss, reason = "counts are small")]
    let mean_quality = export
        .faces
        .iter()
        .map(|f| f.quality.composite)
        .sum::<f32>()
        / export.faces.len() as f32;
    export.mean_quality = mean_quality;
    Ok(ExportOutcome {
        centroid: centroid(&embeddings, &exported),
        export,
        errors,
    })
}

/// What an export of a faceset keeps and drops, before any crop is made.
struct Selection<'f, 'a> {
    /// The faces the cache holds, with what it knows of them.
    present: Vec<(&'f FaceRow, &'f Known<'a>)>,
    /// Their embeddings, in that order.
    embeddings: Embeddings,
    /// Their centroid.
    centre: Vec<f32>,
    /// Indices into `present` that pass the gates, best first, with their quality.
    kept: Vec<(usize, Quality)>,
    /// The faces the gates dropped, with why.
    dropped: Vec<SkippedFace>,
}

/// The gates of an export, in order: in the cache, the outlier gate (`chosen` faces
/// excepted), the size gate, then visual duplicates of a better face.
fn select<'f, 'a>(
    faces: &'f CacheFaces<'a>,
    faceset: &'f fs_identities::manifest::Faceset,
    chosen: &std::collections::BTreeSet<String>,
    options: &SwapOptions,
) -> Selection<'f, 'a> {
    let known = &faces.0;
    let mut dropped = Vec::new();
    let present: Vec<(&FaceRow, &Known<'_>)> = faceset
        .faces
        .iter()
        .filter_map(|row| {
            let found = known.get(&row.key).map(|k| (row, k));
            if found.is_none() {
                dropped.push(SkippedFace {
                    face: row.clone(),
                    reason: "not in the cache".into(),
                });
            }
            found
        })
        .collect();
    let embeddings = Embeddings::from_rows(
        present
            .first()
            .map_or(512, |(_, k)| k.face.embedding.unit().len()),
        &present
            .iter()
            .map(|(_, k)| k.face.embedding.unit())
            .collect::<Vec<_>>(),
    );
    let all: Vec<usize> = (0..present.len()).collect();
    let centre = centroid(&embeddings, &all);
    let mut kept: Vec<(usize, Quality)> = Vec::new();
    for (i, (row, k)) in present.iter().enumerate() {
        let d = cosine_distance(embeddings.row(i).as_slice().expect("contiguous"), &centre);
        if present.len() >= 2 && d > options.outlier_threshold && !chosen.contains(&row.key) {
            dropped.push(SkippedFace {
                face: (*row).clone(),
                reason: format!(
                    "outlier: {d:.3} from the centroid > {}",
                    options.outlier_threshold
                ),
            });
        } else if k.face.short_side() < options.min_face_short {
            dropped.push(SkippedFace {
                face: (*row).clone(),
                reason: format!(
                    "face {:.0} px < {} px",
                    k.face.short_side(),
                    options.min_face_short
                ),
            });
        } else {
            kept.push((i, face_quality(k.face)));
        }
    }
    kept.sort_by(|a, b| {
        b.1.composite
            .total_cmp(&a.1.composite)
            .then(present[a.0].0.key.cmp(&present[b.0].0.key))
    });
    // Visual duplicates (re-encodes, resizes, crops of one photo): a face nearly
    // identical to a better one already kept adds nothing to a faceset.
    let duplicate_similarity = options.duplicate_similarity;
    let mut unique: Vec<usize> = Vec::new();
    kept.retain(|(i, _)| {
        let embedding = present[*i].1.face.embedding.unit();
        let better = unique.iter().find(|&&u| {
            1.0 - cosine_distance(present[u].1.face.embedding.unit(), embedding)
                >= duplicate_similarity
        });
        if let Some(&u) = better {
            dropped.push(SkippedFace {
                face: present[*i].0.clone(),
                reason: format!("visual duplicate of {}", present[u].0.path.display()),
            });
            false
        } else {
            unique.push(*i);
            true
        }
    });

    Selection {
        present,
        embeddings,
        centre,
        kept,
        dropped,
    }
}

/// The faces of `faceset` an export with `options` would crop (all but those its gates
/// drop), for making their crops ahead ([`prepare_crops`]).
pub fn exported_keys(
    faces: &CacheFaces<'_>,
    faceset: &fs_identities::manifest::Faceset,
    options: &SwapOptions,
) -> Vec<String> {
    let selection = select(faces, faceset, &std::collections::BTreeSet::new(), options);
    selection
        .kept
        .iter()
        .map(|(i, _)| selection.present[*i].0.key.clone())
        .collect()
}

/// Writes what a faceset folder shows of `export` once it is decided: its bundles
/// (from the crops in the folder, in rank order), its `manifest.json`, and no crop it
/// does not list. `bundles: false` writes no bundle and removes the ones it names (an
/// identity merged into another must not load in roop as a second person). Files
/// already holding these bytes are left alone.
pub fn write_views(out: &Path, export: &FacesetExport, top_n: usize, bundles: bool) -> Result<()> {
    let dir = out.join(export.dir.as_deref().unwrap_or(&export.name));
    fs::create_dir_all(&dir).map_err(io_err(&dir, "create faceset directory"))?;
    remove_stale_pngs(&dir, &export.faces)?;
    if bundles {
        let mut pngs = Vec::with_capacity(export.faces.len());
        for face in &export.faces {
            let path = dir.join(&face.png);
            pngs.push(fs::read(&path).map_err(io_err(&path, "read crop"))?);
        }
        for (bundle, crops) in [
            (&export.top_bundle, &pngs[..pngs.len().min(top_n)]),
            (&export.all_bundle, &pngs[..]),
        ] {
            let path = dir.join(bundle);
            crate::write_if_changed(&path, &bundle_bytes(&path, crops)?)?;
        }
    } else {
        for bundle in [&export.top_bundle, &export.all_bundle] {
            let path = dir.join(bundle);
            match fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(io_err(&path, "remove bundle")(e));
                }
                _ => {}
            }
        }
    }
    let mut json = serde_json::to_vec_pretty(export).expect("a manifest always serialises");
    json.push(b'\n');
    crate::write_if_changed(&dir.join(SWAP_MANIFEST), &json)
}

/// Crops an export lists that are not in its folder (or are not PNGs any more).
pub fn missing_crops(out: &Path, export: &FacesetExport) -> Vec<String> {
    let dir = out.join(export.dir.as_deref().unwrap_or(&export.name));
    export
        .faces
        .iter()
        .filter(|f| {
            let mut magic = [0u8; 8];
            !fs::File::open(dir.join(&f.png))
                .and_then(|mut file| std::io::Read::read_exact(&mut file, &mut magic))
                .is_ok_and(|()| magic == *b"\x89PNG\r\n\x1a\n")
        })
        .map(|f| f.face.key.clone())
        .collect()
}

/// Makes again the crops of `export` whose files are gone or damaged, from their photos
/// (with the same options and check they were made with). Returns the faces that could
/// not be made again, with why.
pub fn remake_crops(
    faces: &CacheFaces<'_>,
    out: &Path,
    export: &FacesetExport,
    options: &SwapOptions,
    check: Option<&CropCheck>,
) -> Result<Vec<(String, String)>> {
    let dir = out.join(export.dir.as_deref().unwrap_or(&export.name));
    let missing = missing_crops(out, export);
    let mut failed = Vec::new();
    for key in missing {
        let Some(k) = faces.0.get(&key) else {
            failed.push((key, "not in the cache".into()));
            continue;
        };
        match render_crop(k.image, k.index, options, check) {
            Rendered::Png(png) => {
                fs::create_dir_all(&dir).map_err(io_err(&dir, "create faceset directory"))?;
                crate::write_file(&dir.join(png_name(&key)), &png)?;
            }
            Rendered::Unreadable(path, why) => {
                failed.push((key, format!("{}: {why}", path.display())));
            }
            Rendered::Rejected(why) => failed.push((key, why)),
        }
    }
    Ok(failed)
}

/// Renders ahead of an export, holding no lock, the crops of `keys` that none of
/// `folders` (relative to `out`) holds yet, into the folder `staging` (relative to
/// `out`), named as exports name them; an export given `staging` among its
/// [`ExportRequest::reuse_crops`] then reads them instead of decoding photos. Faces the
/// size gate drops are skipped. Only an optimisation: a crop that cannot be made or
/// written here is made by the export. Returns how many were made.
pub fn prepare_crops(
    faces: &CacheFaces<'_>,
    keys: &[&str],
    out: &Path,
    folders: &[String],
    staging: &str,
    options: &SwapOptions,
    check: Option<&CropCheck>,
) -> usize {
    let dir = out.join(staging);
    if fs::create_dir_all(&dir).is_err() {
        return 0;
    }
    keys.par_iter()
        .filter(|key| {
            let file = png_name(key);
            faces
                .0
                .get(**key)
                .is_some_and(|k| k.face.short_side() >= options.min_face_short)
                && !std::iter::once(staging)
                    .chain(folders.iter().map(String::as_str))
                    .any(|folder| out.join(folder).join(&file).is_file())
        })
        .filter(|key| {
            let k = &faces.0[**key];
            match render_crop(k.image, k.index, options, check) {
                Rendered::Png(png) => crate::write_file(&dir.join(png_name(key)), &png).is_ok(),
                _ => false,
            }
        })
        .count()
}

fn remove_stale_pngs(dir: &Path, faces: &[ExportedFace]) -> Result<()> {
    let wanted: HashSet<&str> = faces.iter().map(|f| f.png.as_str()).collect();
    for entry in fs::read_dir(dir).map_err(io_err(dir, "list faceset directory"))? {
        let entry = entry.map_err(io_err(dir, "list faceset directory"))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_png = Path::new(&name)
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("png"));
        if is_png && !wanted.contains(name.as_str()) {
            fs::remove_file(entry.path()).map_err(io_err(entry.path(), "remove stale crop"))?;
        }
    }
    Ok(())
}

/// Rescues singletons of `raw` that resemble a faceset (by `centroids`, named by
/// folder) into `out/_candidates/<faceset>/`; photos that cannot be read go to `errors`.
pub fn rescue_candidates(
    faces: &CacheFaces<'_>,
    raw: &RawManifest,
    centroids: &[(String, Vec<f32>)],
    out: &Path,
    options: &SwapOptions,
    errors: &mut Vec<(PathBuf, String)>,
) -> Result<Vec<Candidate>> {
    let known = &faces.0;
    let centres: Vec<Vec<f32>> = centroids.iter().map(|(_, c)| c.clone()).collect();
    let mut candidates = Vec::new();
    for row in &raw.singletons {
        let Some(k) = known.get(&row.key) else {
            continue;
        };
        let query = k.face.embedding.unit();
        let Some(f) = assign(&centres, query, options.candidate_match_threshold) else {
            continue;
        };
        let quality = face_quality(k.face);
        if quality.composite < options.candidate_min_score {
            continue;
        }
        let name = &centroids[f].0;
        let dir = out.join(CANDIDATES).join(name);
        match render_crop(k.image, k.index, options, None) {
            Rendered::Png(png) => {
                fs::create_dir_all(&dir).map_err(io_err(&dir, "create candidates directory"))?;
                let file = png_name(&row.key);
                crate::write_file(&dir.join(&file), &png)?;
                candidates.push(Candidate {
                    faceset: name.clone(),
                    png: format!("{CANDIDATES}/{name}/{file}"),
                    face: row.clone(),
                    distance: cosine_distance(query, &centres[f]),
                    quality,
                });
            }
            Rendered::Unreadable(path, e) => errors.push((path, e)),
            Rendered::Rejected(_) => {}
        }
    }
    Ok(candidates)
}

/// The boxes of every face of `image` but the `index`-th.
pub fn other_faces(image: &ImageRecord, index: usize) -> Vec<[f32; 4]> {
    image
        .faces()
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != index)
        .map(|(_, f)| f.bbox)
        .collect()
}

/// Re-detects each crop the way roop-unleashed does before it swaps (InsightFace's
/// SCRFD letterboxed into 640×640, score ≥ 0.5, no second pass), so a bundle only holds
/// crops in which it finds exactly one face: the target's, at the centre.
pub struct CropCheck {
    detector: std::sync::Mutex<fs_detect::Detector>,
}

impl std::fmt::Debug for CropCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CropCheck").finish_non_exhaustive()
    }
}

impl CropCheck {
    /// Loads the detector model (the pack's SCRFD) with `threads` intra-op threads.
    /// Requires [`fs_detect::runtime::init`].
    pub fn new(detector_model: &Path, threads: usize) -> fs_detect::Result<Self> {
        let detector = fs_detect::Detector::builder(detector_model)
            .input_size(640)
            .det_thresh(0.5)
            .shape_to_image(false)
            .recover_filling_faces(false)
            .threads(threads)
            .build()?;
        Ok(Self {
            detector: std::sync::Mutex::new(detector),
        })
    }

    /// Why roop-unleashed could not use `crop`, or `None` when it finds exactly one
    /// face there and that face is centred (the target: crops are centred on it).
    pub fn problem(&self, crop: &RgbImage) -> Option<String> {
        let found = {
            let mut detector = self
                .detector
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match detector.detect(crop) {
                Ok(found) => found,
                Err(e) => return Some(format!("re-detection failed: {e}")),
            }
        };
        #[expect(clippy::cast_precision_loss, reason = "crop sides are small")]
        let (cx, cy, side) = (
            crop.width() as f32 / 2.0,
            crop.height() as f32 / 2.0,
            crop.width().max(crop.height()) as f32,
        );
        match found.as_slice() {
            [one] => {
                let (fx, fy) = (
                    f32::midpoint(one.bbox[0], one.bbox[2]),
                    f32::midpoint(one.bbox[1], one.bbox[3]),
                );
                let off = (fx - cx).hypot(fy - cy);
                (off > 0.2 * side).then(|| "the one face found is not the target".to_string())
            }
            many => Some(format!("{} faces found", many.len())),
        }
    }
}

/// Crop paddings tried in turn when the re-detection rejects a crop: the asked one,
/// wider (a face that fills the frame is missed without a second pass), then tighter
/// (a neighbour's face at the edge).
fn paddings(pad_ratio: f32) -> [f32; 3] {
    [pad_ratio, pad_ratio * 1.6 + 0.2, pad_ratio * 0.5]
}

/// What rendering one face's crop gave.
enum Rendered {
    /// The PNG bytes.
    Png(Vec<u8>),
    /// The photo could not be read or decoded: (path, why).
    Unreadable(PathBuf, String),
    /// Every padding failed the re-detection.
    Rejected(String),
}

/// Decodes the photo (canonical path, else an alias) and renders the crop of its
/// `index`-th face as PNG; with a `check`, the first padding whose crop passes it.
fn render_crop(
    image: &ImageRecord,
    index: usize,
    options: &SwapOptions,
    check: Option<&CropCheck>,
) -> Rendered {
    let face = &image.faces()[index];
    let source = match CropSource::decode(
        image.all_paths(),
        (image.width, image.height),
        face.bbox,
        &other_faces(image, index),
        options.out_size,
    ) {
        Ok(source) => source,
        Err(why) => return Rendered::Unreadable(image.path.clone(), why),
    };
    let crop_with = |pad: f32| source.crop(pad, options.out_size);
    let crop = match check {
        None => crop_with(options.pad_ratio),
        Some(check) => {
            let mut why = String::new();
            let passing = paddings(options.pad_ratio).into_iter().find_map(|pad| {
                let crop = crop_with(pad);
                match check.problem(&crop) {
                    None => Some(crop),
                    Some(problem) => {
                        if why.is_empty() {
                            why = problem;
                        }
                        None
                    }
                }
            });
            match passing {
                Some(crop) => crop,
                None => {
                    return Rendered::Rejected(format!(
                        "roop check: {why} when the crop is re-detected at 640"
                    ));
                }
            }
        }
    };
    let mut png = Vec::new();
    match crop.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png) {
        Ok(()) => Rendered::Png(png),
        Err(e) => Rendered::Unreadable(image.path.clone(), e.to_string()),
    }
}

/// A photo decoded for cropping one of its faces: only as finely as the crop needs
/// ([`crop_decode_side`]), with the face's box and the other faces' boxes on its pixels.
/// Export crops and the review page's thumbnails of faces that have no crop are cut
/// from one.
pub struct CropSource {
    pixels: RgbImage,
    bbox: [f32; 4],
    others: Vec<[f32; 4]>,
}

impl CropSource {
    /// Decodes the first of `paths` that reads and decodes, for a crop of `out_size`²
    /// around `bbox`; `full` is the photo's upright size (`(0, 0)` when unknown: then it
    /// is decoded at full size), and boxes are in full-size coordinates. The error is
    /// the last path's, naming it.
    pub fn decode<'a>(
        paths: impl IntoIterator<Item = &'a PathBuf>,
        full: (u32, u32),
        bbox: [f32; 4],
        others: &[[f32; 4]],
        out_size: u32,
    ) -> std::result::Result<Self, String> {
        let long_side = crop_decode_side(full, bbox, out_size);
        let mut last_error = String::from("no readable path");
        for path in paths {
            let decoded = fs::read(path).map_err(|e| e.to_string()).and_then(|b| {
                fs_detect::decode::decode_photo_scaled(Some(path), &b, long_side)
                    .map_err(|e| e.to_string())
            });
            match decoded {
                Ok(decoded) => {
                    return Ok(Self {
                        bbox: decoded.map_box(bbox),
                        others: others.iter().map(|o| decoded.map_box(*o)).collect(),
                        pixels: decoded.image,
                    });
                }
                Err(e) => last_error = format!("{}: {e}", path.display()),
            }
        }
        Err(last_error)
    }

    /// The face, cropped as [`crop_single_face`] crops it.
    pub fn crop(&self, pad_ratio: f32, out_size: u32) -> RgbImage {
        crop_single_face(&self.pixels, self.bbox, &self.others, pad_ratio, out_size)
    }
}

/// A plain zip of PNGs named `0.png`, `1.png`, … in order, stored uncompressed (PNG is
/// compressed already), written to a temp file and renamed into place.
pub fn write_bundle(path: &Path, pngs: &[Vec<u8>]) -> Result<()> {
    crate::write_file(path, &bundle_bytes(path, pngs)?)
}

/// The bytes of the bundle `path` would hold.
fn bundle_bytes(path: &Path, pngs: &[Vec<u8>]) -> Result<Vec<u8>> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut bytes);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            // A fixed time: the same crops make the same bytes, so an unchanged bundle
            // is never rewritten.
            .last_modified_time(zip::DateTime::default());
        for (i, png) in pngs.iter().enumerate() {
            zip.start_file(format!("{i}.png"), options)
                .and_then(|()| zip.write_all(png).map_err(Into::into))
                .map_err(|e| Error::Io {
                    path: path.to_path_buf(),
                    action: "write bundle",
                    source: std::io::Error::other(e),
                })?;
        }
        zip.finish().map_err(|e| Error::Io {
            path: path.to_path_buf(),
            action: "write bundle",
            source: std::io::Error::other(e),
        })?;
    }
    Ok(bytes.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundles_are_zips_of_numbered_pngs() {
        let dir = tempfile::tempdir().unwrap();
        let png = |v: u8| {
            let mut out = Vec::new();
            RgbImage::from_pixel(4, 4, image::Rgb([v; 3]))
                .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
                .unwrap();
            out
        };
        let path = dir.path().join("x.fsz");
        write_bundle(&path, &[png(1), png(2)]).unwrap();
        let mut zip = zip::ZipArchive::new(fs::File::open(&path).unwrap()).unwrap();
        assert_eq!(zip.len(), 2);
        let names: Vec<String> = (0..2)
            .map(|i| zip.by_index(i).unwrap().name().to_string())
            .collect();
        assert_eq!(names, ["0.png", "1.png"]);
    }
}
