//! The records a cache holds: images, their faces, path aliases and unreadable files.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// BLAKE3 hash of a file's bytes; the identity of an image in the cache.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    /// Hashes a byte slice.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }

    /// Hashes everything a reader yields.
    pub fn of_reader(reader: impl std::io::Read) -> std::io::Result<Self> {
        let mut hasher = blake3::Hasher::new();
        hasher.update_reader(reader)?;
        Ok(Self(*hasher.finalize().as_bytes()))
    }

    /// Lower-case hex, 64 characters.
    pub fn to_hex(&self) -> String {
        blake3::Hash::from_bytes(self.0).to_hex().to_string()
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({})", &self.to_hex()[..16])
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for ContentHash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for ContentHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes: serde_bytes::ByteBuf = Deserialize::deserialize(d)?;
        let array: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| serde::de::Error::invalid_length(bytes.len(), &"32 bytes"))?;
        Ok(Self(array))
    }
}

/// Size and modification time of a file when it was last hashed. A path whose stamp is
/// unchanged is not read again on the next run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStamp {
    /// File size in bytes.
    pub size: u64,
    /// Modification time in nanoseconds since the Unix epoch (0 when unknown).
    pub modified_ns: u64,
}

impl FileStamp {
    /// The stamp of a file from its metadata.
    pub fn from_metadata(meta: &std::fs::Metadata) -> Self {
        let modified_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        Self {
            size: meta.len(),
            modified_ns,
        }
    }
}

/// An ArcFace embedding: the L2-normalised vector used for every comparison, plus the
/// norm of the raw output (`raw = unit * norm`), which some quality heuristics use.
#[derive(Clone, Debug, PartialEq)]
pub struct Embedding {
    unit: Vec<f32>,
    norm: f32,
}

impl Embedding {
    /// Normalises a raw recogniser output. A zero vector stays zero with norm 0.
    pub fn from_raw(raw: &[f32]) -> Self {
        let norm = raw.iter().map(|v| v * v).sum::<f32>().sqrt();
        let unit = if norm > 0.0 {
            raw.iter().map(|v| v / norm).collect()
        } else {
            raw.to_vec()
        };
        Self { unit, norm }
    }

    /// The L2-normalised vector.
    pub fn unit(&self) -> &[f32] {
        &self.unit
    }

    /// The norm of the raw recogniser output.
    pub fn norm(&self) -> f32 {
        self.norm
    }

    /// The raw recogniser output.
    pub fn raw(&self) -> Vec<f32> {
        self.unit.iter().map(|v| v * self.norm).collect()
    }

    /// Cosine similarity with another embedding.
    pub fn cosine(&self, other: &Embedding) -> f32 {
        self.unit.iter().zip(&other.unit).map(|(a, b)| a * b).sum()
    }
}

// Stored as little-endian bytes: 2 KiB per 512-d vector instead of 2.5 KiB of
// MessagePack floats, and one memcpy-like pass to decode.
impl Serialize for Embedding {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let bytes: Vec<u8> = self.unit.iter().flat_map(|v| v.to_le_bytes()).collect();
        (serde_bytes::Bytes::new(&bytes), self.norm).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Embedding {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (bytes, norm): (serde_bytes::ByteBuf, f32) = Deserialize::deserialize(d)?;
        if bytes.len() % 4 != 0 {
            return Err(serde::de::Error::custom(
                "embedding byte length not a multiple of 4",
            ));
        }
        let unit = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok(Self { unit, norm })
    }
}

/// Where a face's pose came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PoseSource {
    /// InsightFace's `1k3d68` model (`buffalo_l`).
    Landmark3d68,
    /// Estimated from the five detector keypoints against a mean 3D face
    /// (scaled-orthographic fit), when `1k3d68` is not available.
    MeanFace5,
}

/// Head pose in degrees.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pose {
    /// Nodding up/down.
    pub pitch: f32,
    /// Turning left/right.
    pub yaw: f32,
    /// Tilting toward a shoulder.
    pub roll: f32,
    /// Which model or method produced it.
    pub source: PoseSource,
}

/// One detected face.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Face {
    /// Box `[x1, y1, x2, y2]` in pixels of the EXIF-oriented image.
    pub bbox: [f32; 4],
    /// Five keypoints: left eye, right eye, nose, left and right mouth corner.
    pub kps: [[f32; 2]; 5],
    /// Detector confidence in `[0, 1]`.
    pub det_score: f32,
    /// ArcFace embedding of the aligned face.
    pub embedding: Embedding,
    /// Laplacian variance of the face region (sharpness), when measured.
    #[serde(default)]
    pub sharpness: Option<f32>,
    /// 106 2D landmarks, filled by `enrich`.
    #[serde(default)]
    pub landmarks_2d_106: Option<Vec<[f32; 2]>>,
    /// 68 3D landmarks, filled by `enrich` with `buffalo_l`.
    #[serde(default)]
    pub landmarks_3d_68: Option<Vec<[f32; 3]>>,
    /// Head pose, filled by `enrich`.
    #[serde(default)]
    pub pose: Option<Pose>,
}

impl Face {
    /// The shorter side of the box in pixels, the size the quality gates use.
    pub fn short_side(&self) -> f32 {
        let [x1, y1, x2, y2] = self.bbox;
        (x2 - x1).min(y2 - y1).max(0.0)
    }
}

/// What embedding an image found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ImageOutcome {
    /// One or more faces.
    Faces(Vec<Face>),
    /// Decoded fine, no face found.
    NoFace,
    /// The bytes could not be decoded as an image; the message says why.
    DecodeError(String),
}

/// One distinct image (one content hash) and what was found in it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// Hash of the file's bytes.
    pub hash: ContentHash,
    /// The canonical path: the first path (in sorted order) seen with these bytes.
    #[serde(with = "crate::path_bytes")]
    pub path: PathBuf,
    /// Stamp of the canonical path when it was hashed.
    pub stamp: FileStamp,
    /// Width and height after EXIF orientation, 0 when undecodable.
    pub width: u32,
    /// See `width`.
    pub height: u32,
    /// The faces, "no face", or the decode error.
    pub outcome: ImageOutcome,
    /// 64-bit difference hash of the whole picture (see `fs_quality::dhash`), for
    /// near-duplicate reports; `None` for undecodable images.
    #[serde(default)]
    pub dhash: Option<u64>,
    /// Other paths with byte-identical content. Filled from alias entries on load.
    #[serde(skip)]
    pub aliases: Vec<PathBuf>,
}

impl ImageRecord {
    /// The faces found, empty for no-face and undecodable images.
    pub fn faces(&self) -> &[Face] {
        match &self.outcome {
            ImageOutcome::Faces(faces) => faces,
            _ => &[],
        }
    }

    /// The largest face (by box area) and its index: the one a photo of one person is
    /// taken to show.
    pub fn largest_face(&self) -> Option<(usize, &Face)> {
        let area = |b: &[f32; 4]| (b[2] - b[0]) * (b[3] - b[1]);
        self.faces()
            .iter()
            .enumerate()
            .max_by(|a, b| area(&a.1.bbox).total_cmp(&area(&b.1.bbox)))
    }

    /// The face whose box centre is nearest the image's centre, and its index: the one
    /// a photo labelled with its person centres (LFW).
    pub fn central_face(&self) -> Option<(usize, &Face)> {
        #[expect(clippy::cast_precision_loss, reason = "pixel sizes")]
        let (cx, cy) = (self.width as f32 / 2.0, self.height as f32 / 2.0);
        let off =
            |b: &[f32; 4]| (f32::midpoint(b[0], b[2]) - cx).hypot(f32::midpoint(b[1], b[3]) - cy);
        self.faces()
            .iter()
            .enumerate()
            .min_by(|a, b| off(&a.1.bbox).total_cmp(&off(&b.1.bbox)))
    }

    /// The canonical path followed by every alias.
    pub fn all_paths(&self) -> impl Iterator<Item = &PathBuf> {
        std::iter::once(&self.path).chain(&self.aliases)
    }
}

/// A file that could not be read at all (so it has no content hash).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnreadableRecord {
    /// The path that failed.
    #[serde(with = "crate::path_bytes")]
    pub path: PathBuf,
    /// Why, as the operating system put it.
    pub error: String,
}

/// Stable identity of one face: the image's content hash and the face's index in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FaceKey {
    /// The image.
    pub hash: ContentHash,
    /// Index into the image's faces (detector order, highest score first).
    pub index: u32,
}

impl fmt::Display for FaceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.hash, self.index)
    }
}

impl std::str::FromStr for FaceKey {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (hex, index) = s
            .split_once(':')
            .ok_or_else(|| format!("face key {s:?} lacks ':'"))?;
        let hash = blake3::Hash::from_hex(hex).map_err(|e| format!("face key {s:?}: {e}"))?;
        let index = index
            .parse()
            .map_err(|e| format!("face key {s:?}: bad index: {e}"))?;
        Ok(Self {
            hash: ContentHash(*hash.as_bytes()),
            index,
        })
    }
}

/// One journal entry. Later entries for the same key replace earlier ones.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Entry {
    /// An image and its faces.
    Image(ImageRecord),
    /// Another path with the bytes of `hash`.
    Alias {
        /// Content hash of the file.
        hash: ContentHash,
        /// The alias path.
        #[serde(with = "crate::path_bytes")]
        path: PathBuf,
        /// Its stamp when hashed.
        stamp: FileStamp,
    },
    /// A path that could not be read.
    Unreadable(UnreadableRecord),
    /// Replaces the faces of an image (after `enrich` or a quality measurement).
    Faces {
        /// The image.
        hash: ContentHash,
        /// The new faces, same order and count as before.
        faces: Vec<Face>,
    },
    /// The models that made every face of the cache (written once, first).
    Model(ModelId),
    /// One run that added to the cache: what ran it and on which execution provider.
    Run(RunRecord),
}

/// An entry of the cache's run log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// When it started (seconds since the Unix epoch).
    pub started: u64,
    /// The program and command (`face-sets 0.1.0 embed`).
    pub tool: String,
    /// The ONNX Runtime execution provider the models ran on (`cpu`, `cuda`, …).
    /// Embeddings from any provider are comparable: it is not part of the model id.
    pub provider: String,
}

/// The models behind a set of embeddings. Two embeddings are comparable only when their
/// model ids are equal: another recogniser means another embedding space, and another
/// detector finds other faces and other boxes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ModelId {
    /// The pack's name (its directory), e.g. `buffalo_s`.
    pub pack: String,
    /// The recogniser's file name.
    pub recognizer: String,
    /// SHA-256 of the recogniser file, lower-case hex.
    pub recognizer_sha256: String,
    /// Length of its embeddings.
    pub embedding_size: u32,
    /// The detector's file name.
    pub detector: String,
    /// SHA-256 of the detector file, lower-case hex.
    pub detector_sha256: String,
}

impl fmt::Display for ModelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let short = |h: &str| h.get(..12).unwrap_or(h).to_string();
        write!(
            f,
            "{} ({} sha256 {}…, {}-d; detector {} sha256 {}…)",
            self.pack,
            self.recognizer,
            short(&self.recognizer_sha256),
            self.embedding_size,
            self.detector,
            short(&self.detector_sha256)
        )
    }
}
