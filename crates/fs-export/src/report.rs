//! `report`: one static HTML page to review a `run` result in a browser.
//!
//! A contact sheet per exported identity (its crops, size, mean quality, and the faces
//! the gates dropped), the singletons, and the near-duplicate groups. Every image is a
//! local file beside the page (the crops themselves, or small thumbnails written to
//! `report_assets/`), so the page works from `file://` with no network.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use fs_cache::{Cache, FaceKey, ImageRecord};

use crate::error::{Result, io_err};
use crate::swap::{CropSource, FacesetExport, other_faces};
use fs_identities::dedup::DuplicateReport;
use fs_identities::faces::FaceRow;
use fs_identities::manifest::{self, RawManifest};

const THUMB: u32 = 128;

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
                let src = face_thumb(cache, &skipped.face, &assets)?;
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
            let src = face_thumb(cache, face, &assets)?;
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
        for group in &dups.near_duplicates {
            html.push_str("<div class=\"sheet\">");
            for path in &group.paths {
                if let Some(image) = by_path.get(path.as_path()) {
                    let src = image_thumb(image, &assets)?;
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

/// A small crop of one face in `report_assets/`, returned as a page-relative URL.
fn face_thumb(cache: &Cache, row: &FaceRow, assets: &Path) -> Result<String> {
    let name = format!("face_{}.png", row.key.replace(':', "_"));
    let target = assets.join(&name);
    if !target.exists() {
        let key: Option<FaceKey> = row.key.parse().ok();
        let source = key
            .and_then(|k| cache.image(&k.hash).map(|i| (i, k.index as usize)))
            .and_then(|(image, index)| {
                CropSource::decode(
                    image.all_paths(),
                    (image.width, image.height),
                    row.bbox,
                    &other_faces(image, index),
                    THUMB,
                )
                .ok()
            });
        let thumb = source.map_or_else(
            || image::RgbImage::from_pixel(THUMB, THUMB, image::Rgb([128, 128, 128])),
            |source| source.crop(0.3, THUMB),
        );
        save_png(&thumb, &target)?;
    }
    Ok(format!("report_assets/{name}"))
}

/// A thumbnail of a whole photo in `report_assets/`.
fn image_thumb(image: &ImageRecord, assets: &Path) -> Result<String> {
    let name = format!("image_{}.png", &image.hash.to_hex()[..16]);
    let target = assets.join(&name);
    if !target.exists() {
        let thumb = decode_any(image, THUMB * 5 / 4).map_or_else(
            || image::RgbImage::from_pixel(THUMB, THUMB, image::Rgb([128, 128, 128])),
            |p| image::imageops::thumbnail(&p, THUMB * 5 / 4, THUMB * 5 / 4),
        );
        save_png(&thumb, &target)?;
    }
    Ok(format!("report_assets/{name}"))
}

/// The photo (canonical path, else an alias), decoded only as finely as a picture of
/// `long_side` pixels needs: a 12-megapixel JPEG at 1/8 of its side.
fn decode_any(image: &ImageRecord, long_side: u32) -> Option<image::RgbImage> {
    image.all_paths().find_map(|p| {
        fs::read(p).ok().and_then(|b| {
            fs_detect::decode::decode_photo_scaled(Some(p), &b, long_side)
                .ok()
                .map(|d| d.image)
        })
    })
}

fn save_png(img: &image::RgbImage, target: &Path) -> Result<()> {
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| crate::error::Error::Io {
            path: target.to_path_buf(),
            action: "encode thumbnail",
            source: std::io::Error::other(e),
        })?;
    crate::write_file(target, &png)
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
