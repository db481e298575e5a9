//! `report`: one static HTML page to review a `run` result in a browser.
//!
//! A contact sheet per exported identity (its crops, size, mean quality, and the faces
//! the gates dropped), the singletons, and the near-duplicate groups. Every image is a
//! local file beside the page (the crops themselves, or small thumbnails written to
//! `report_assets/`), so the page works from `file://` with no network.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use fs_cache::{Cache, ContentHash, FaceKey, ImageRecord};
use fs_detect::crop::{THUMB_SIDE as THUMB, crop_decode_side};
use fs_embedder::thumbnails;
use rayon::prelude::*;

use crate::error::{Result, io_err};
use crate::swap::FacesetExport;
use fs_identities::dedup::DuplicateReport;
use fs_identities::faces::FaceRow;
use fs_identities::manifest::{self, RawManifest};

/// What the report reads of the library's manifest.
#[derive(serde::Deserialize)]
struct Listed {
    facesets: Vec<FacesetExport>,
}

/// What a report shows and where it goes. The page links to the library's crops by
/// `library`'s folder name, so the page lies beside the library.
#[derive(Clone, Debug)]
pub struct ReportPaths {
    /// The page (`report.html`).
    pub page: PathBuf,
    /// Its thumbnails (`report_assets/`).
    pub assets: PathBuf,
    /// The library folder (`facesets_swap_ready/`).
    pub library: PathBuf,
    /// The raw clusters (for the singletons), when there are any.
    pub raw_manifest: PathBuf,
    /// The duplicates report, when there is one.
    pub duplicates: PathBuf,
}

/// Writes the page (and its thumbnails) for the faces of `cache`; returns its path.
pub fn write_report(paths: &ReportPaths, cache: &Cache) -> Result<PathBuf> {
    let swap: Listed = manifest::read(&paths.library.join(crate::swap::SWAP_MANIFEST))?;
    let raw: Option<RawManifest> = manifest::read(&paths.raw_manifest).ok();
    let dups: Option<DuplicateReport> = manifest::read(&paths.duplicates).ok();
    let library = escape(
        &paths
            .library
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
    );
    let assets = paths.assets.clone();
    fs::create_dir_all(&assets).map_err(io_err(&assets, "create report assets"))?;
    remove_old_thumbs(&assets);
    // Every thumbnail first, in parallel; the page then only names them.
    let shown: Vec<&FaceRow> = swap
        .facesets
        .iter()
        .flat_map(|f| f.dropped.iter().map(|d| &d.face))
        .chain(raw.iter().flat_map(|r| &r.singletons))
        .collect();
    make_face_thumbs(cache, &shown, &assets)?;

    let mut html = String::new();
    let exported: Vec<_> = swap
        .facesets
        .iter()
        .filter(|f| !f.faces.is_empty())
        .collect();
    let _ = write!(
        html,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>face-sets report</title>\
         <style>{STYLE}</style></head>\n<body data-identities=\"{}\">\n<h1>face-sets report</h1>\n\
         <p>{} identities exported from <code>{}</code>.</p>\n",
        exported.len(),
        exported.len(),
        escape(&cache.path().to_string_lossy())
    );
    for faceset in &exported {
        let _ = write!(
            html,
            "<section class=\"identity\" data-name=\"{0}\"><h2>{0}</h2><p>{1} crops · mean quality {2:.2} · \
             <a href=\"{library}/{0}/{3}\">{3}</a></p><div class=\"sheet\">",
            escape(&faceset.name),
            faceset.faces.len(),
            faceset.mean_quality,
            escape(&faceset.all_bundle)
        );
        for face in &faceset.faces {
            let _ = write!(
                html,
                "<figure><img src=\"{library}/{}/{}\" width=\"{THUMB}\" height=\"{THUMB}\" alt=\"\"><figcaption>#{} · {:.2}</figcaption></figure>",
                escape(&faceset.name),
                escape(&face.png),
                face.rank,
                face.quality.composite
            );
        }
        html.push_str("</div>");
        if !faceset.dropped.is_empty() {
            html.push_str("<h3>Dropped by the gates</h3><div class=\"sheet dropped\">");
            for skipped in &faceset.dropped {
                let src = face_thumb(&skipped.face);
                let _ = write!(
                    html,
                    "<figure><img src=\"{}\" width=\"{THUMB}\" height=\"{THUMB}\" alt=\"\"><figcaption>{}</figcaption></figure>",
                    escape(&src),
                    escape(&skipped.reason)
                );
            }
            html.push_str("</div>");
        }
        html.push_str("</section>\n");
    }
    if let Some(raw) = &raw {
        let _ = write!(
            html,
            "<section class=\"singletons\"><h2>Singletons ({})</h2><div class=\"sheet\">",
            raw.singletons.len()
        );
        for face in &raw.singletons {
            let src = face_thumb(face);
            let _ = write!(
                html,
                "<figure><img src=\"{}\" width=\"{THUMB}\" height=\"{THUMB}\" alt=\"\"></figure>",
                escape(&src)
            );
        }
        html.push_str("</div></section>\n");
    }
    if let Some(dups) = &dups {
        let _ = write!(
            html,
            "<section class=\"duplicates\"><h2>Near-duplicate groups ({})</h2>",
            dups.near_duplicates.len()
        );
        let by_path: std::collections::HashMap<&Path, &ImageRecord> =
            cache.images().map(|i| (i.path.as_path(), i)).collect();
        let images: Vec<&ImageRecord> = dups
            .near_duplicates
            .iter()
            .flat_map(|g| &g.paths)
            .filter_map(|p| by_path.get(p.as_path()).copied())
            .collect();
        images
            .par_iter()
            .try_for_each(|image| make_image_thumb(image, &assets))?;
        for group in &dups.near_duplicates {
            html.push_str("<div class=\"sheet\">");
            for path in &group.paths {
                if let Some(image) = by_path.get(path.as_path()) {
                    let src = image_thumb_name(image);
                    let _ = write!(
                        html,
                        "<figure><img src=\"{}\" alt=\"\"><figcaption>{}</figcaption></figure>",
                        escape(&src),
                        escape(&path.file_name().unwrap_or_default().to_string_lossy())
                    );
                }
            }
            let _ = write!(html, "<p>{}</p></div>", escape(&group.evidence.join(", ")));
        }
        html.push_str("</section>\n");
    }
    html.push_str(SCRIPT);
    html.push_str("</body></html>\n");
    crate::write_file(&paths.page, html.as_bytes())?;
    Ok(paths.page.clone())
}

/// Removes the PNG thumbnails that reports wrote before thumbnails were JPEGs cut by
/// the embed pass: no page names them any more.
fn remove_old_thumbs(assets: &Path) {
    let Ok(entries) = fs::read_dir(assets) else {
        return;
    };
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let old = (name.starts_with("face_") || name.starts_with("image_"))
            && path.extension().is_some_and(|e| e == "png");
        if old {
            // One left behind is only clutter.
            let _ = fs::remove_file(&path);
        }
    }
}

/// The page-relative URL of a face's thumbnail.
fn face_thumb(row: &FaceRow) -> String {
    let name = row.key.parse::<FaceKey>().map_or_else(
        |_| "missing.jpg".to_owned(),
        |key| thumbnails::file_name(&key),
    );
    format!("report_assets/{name}")
}

/// Makes the thumbnails of `faces` that `assets` lacks (the embed pass of `run` cuts
/// them as it goes): each photo is decoded once, as finely as its smallest face needs,
/// and photos are decoded in parallel. A face whose photo cannot be read gets a grey
/// square.
fn make_face_thumbs(cache: &Cache, faces: &[&FaceRow], assets: &Path) -> Result<()> {
    let mut by_image = std::collections::BTreeMap::<ContentHash, Vec<u32>>::new();
    for key in faces.iter().filter_map(|f| f.key.parse::<FaceKey>().ok()) {
        if !thumbnails::path(assets, &key).exists() {
            by_image.entry(key.hash).or_default().push(key.index);
        }
    }
    let by_image: Vec<(ContentHash, Vec<u32>)> = by_image.into_iter().collect();
    by_image.par_iter().try_for_each(|(hash, indices)| {
        let cut = cache
            .image(hash)
            .and_then(|image| thumbs_of_photo(image, indices))
            .unwrap_or_default();
        for (i, &index) in indices.iter().enumerate() {
            let key = FaceKey { hash: *hash, index };
            let jpeg = cut.get(i).cloned().flatten().unwrap_or_else(grey_jpeg);
            thumbnails::write(assets, &key, &jpeg)
                .map_err(io_err(&thumbnails::path(assets, &key), "write"))?;
        }
        Ok(())
    })
}

/// The thumbnails of the faces `wanted` of `image`, in that order, from one decode of
/// the photo, as finely as the smallest of them needs.
fn thumbs_of_photo(image: &ImageRecord, wanted: &[u32]) -> Option<Vec<Option<Vec<u8>>>> {
    let boxes: Vec<[f32; 4]> = image.faces().iter().map(|f| f.bbox).collect();
    let side = wanted
        .iter()
        .filter_map(|&i| boxes.get(i as usize))
        .map(|b| crop_decode_side((image.width, image.height), *b, THUMB))
        .max()?;
    let decoded = decode_any(image, side)?;
    let boxes: Vec<[f32; 4]> = boxes.iter().map(|b| decoded.map_box(*b)).collect();
    Some(
        wanted
            .iter()
            .map(|&i| thumbnails::cut_one(&decoded.image, &boxes, i as usize))
            .collect(),
    )
}

fn grey_jpeg() -> Vec<u8> {
    let grey = image::RgbImage::from_pixel(THUMB, THUMB, image::Rgb([128, 128, 128]));
    fs_detect::crop::thumbnail_jpeg(&grey).expect("a non-empty image encodes")
}

/// The page-relative URL of a photo's thumbnail.
fn image_thumb_name(image: &ImageRecord) -> String {
    format!("report_assets/{}", thumbnails::photo_file_name(&image.hash))
}

/// A thumbnail of a whole photo in `report_assets/`, unless it is there (the embed pass
/// of `run` cuts them as it goes). A photo that cannot be read gets a grey square.
fn make_image_thumb(image: &ImageRecord, assets: &Path) -> Result<()> {
    let target = thumbnails::photo_path(assets, &image.hash);
    if !target.exists() {
        let jpeg = decode_any(image, thumbnails::PHOTO_SIDE)
            .and_then(|p| thumbnails::photo(&p.image).ok())
            .unwrap_or_else(grey_jpeg);
        thumbnails::write_photo(assets, &image.hash, &jpeg).map_err(io_err(&target, "write"))?;
    }
    Ok(())
}

/// The photo (canonical path, else an alias), decoded only as finely as a picture of
/// `long_side` pixels needs: a 12-megapixel JPEG at 1/8 of its side.
fn decode_any(image: &ImageRecord, long_side: u32) -> Option<fs_detect::decode::Decoded> {
    image.all_paths().find_map(|p| {
        fs::read(p)
            .ok()
            .and_then(|b| fs_detect::decode::decode_photo_scaled(Some(p), &b, long_side).ok())
    })
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem;background:#fafafa;color:#222}\
section{margin-bottom:2rem}.sheet{display:flex;flex-wrap:wrap;gap:6px}figure{margin:0;text-align:center;\
font-size:11px;max-width:160px}img{display:block;border-radius:4px;background:#ddd}.dropped img{opacity:.6}\
code{font-size:12px}";

/// Counts images that failed to load, for people (a banner) and for tests (attributes).
const SCRIPT: &str = "<script>window.addEventListener('load',function(){var imgs=Array.prototype.slice.call(document.images);\
var broken=imgs.filter(function(i){return !(i.complete&&i.naturalWidth>0)}).length;\
document.body.setAttribute('data-images',imgs.length);document.body.setAttribute('data-broken',broken);\
if(broken){var p=document.createElement('p');p.textContent=broken+' images failed to load';p.style.color='#b00';\
document.body.insertBefore(p,document.body.firstChild)}});</script>\n";
