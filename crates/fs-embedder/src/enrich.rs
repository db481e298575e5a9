//! `enrich`: 106-point landmarks and head pose for every cached face.
//!
//! Idempotent and resumable like embedding: faces that already have both are skipped,
//! results are flushed every `flush_every` images, and a photo that cannot be read is
//! reported and left for the next run.

use fs_cache::{Cache, ContentHash};
use image::RgbImage;

use crate::error::Result;
use crate::landmark::{Landmarker, Landmarks};
use crate::pose::{pose_from_keypoints, pose_from_landmarks_3d};
use fs_progress::{Phase, Progress};

/// What one run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnrichSummary {
    /// Images whose faces were enriched.
    pub images: usize,
    /// Faces enriched.
    pub faces: usize,
    /// Images already complete.
    pub skipped: usize,
    /// Photos that could not be read, with why.
    pub errors: Vec<(std::path::PathBuf, String)>,
}

/// The landmark models `enrich` uses; either may be absent.
#[derive(Debug, Default)]
pub struct LandmarkModels<'a> {
    /// `2d106det`.
    pub points_2d_106: Option<&'a mut Landmarker>,
    /// `1k3d68` (`buffalo_l`): its landmarks also give the pose.
    pub points_3d_68: Option<&'a mut Landmarker>,
}

/// Adds landmarks and pose to every face that lacks them. Pose comes from `1k3d68`
/// when given, else from the five keypoints.
pub fn enrich(
    cache: &mut Cache,
    mut models: LandmarkModels<'_>,
    flush_every: usize,
    progress: &dyn Progress,
) -> Result<EnrichSummary> {
    let (wants_2d, wants_3d) = (
        models.points_2d_106.is_some(),
        models.points_3d_68.is_some(),
    );
    let todo: Vec<ContentHash> = cache
        .images()
        .filter(|i| {
            i.faces().iter().any(|f| {
                f.pose.is_none()
                    || (wants_2d && f.landmarks_2d_106.is_none())
                    || (wants_3d && f.landmarks_3d_68.is_none())
            })
        })
        .map(|i| i.hash)
        .collect();
    let mut summary = EnrichSummary {
        skipped: cache.images().filter(|i| !i.faces().is_empty()).count() - todo.len(),
        ..EnrichSummary::default()
    };
    progress.start(Phase::Enrich, todo.len() as u64);
    let mut since_flush = 0;
    for hash in todo {
        let image = cache.image(&hash).expect("listed above").clone();
        let pixels = match read_any(&image) {
            Ok(p) => p,
            Err(message) => {
                tracing::warn!(path = %image.path.display(), "{message}");
                progress.failed(&image.path, &message);
                summary.errors.push((image.path.clone(), message));
                progress.done(&image.path);
                continue;
            }
        };
        let mut faces = image.faces().to_vec();
        for face in &mut faces {
            if let Some(model) = models.points_2d_106.as_deref_mut()
                && face.landmarks_2d_106.is_none()
                && let Landmarks::Points2d(points) = model.predict(&pixels, face.bbox)?
            {
                face.landmarks_2d_106 = Some(points);
            }
            if let Some(model) = models.points_3d_68.as_deref_mut()
                && face.landmarks_3d_68.is_none()
                && let Landmarks::Points3d(points) = model.predict(&pixels, face.bbox)?
            {
                face.pose = pose_from_landmarks_3d(&points).or(face.pose);
                face.landmarks_3d_68 = Some(points);
            }
            if face.pose.is_none() {
                face.pose = Some(pose_from_keypoints(&face.kps));
            }
        }
        summary.faces += faces.len();
        summary.images += 1;
        cache.replace_faces(hash, faces)?;
        since_flush += 1;
        if since_flush >= flush_every.max(1) {
            cache.flush()?;
            since_flush = 0;
        }
        progress.done(&image.path);
    }
    cache.flush()?;
    progress.finish(Phase::Enrich);
    Ok(summary)
}

/// Decodes the image from its canonical path, or from an alias when that one is gone.
fn read_any(image: &fs_cache::ImageRecord) -> std::result::Result<RgbImage, String> {
    let mut last = String::from("no path");
    for path in image.all_paths() {
        match std::fs::read(path) {
            Ok(bytes) => match fs_detect::decode::decode_photo(Some(path), &bytes) {
                Ok(pixels) => return Ok(pixels),
                Err(e) => last = format!("{}: {e}", path.display()),
            },
            Err(e) => last = format!("{}: cannot read: {e}", path.display()),
        }
    }
    Err(last)
}
