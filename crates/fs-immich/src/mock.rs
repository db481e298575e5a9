//! A loopback stand-in for an Immich server, for tests and benchmarks only (feature
//! `mock-server`). It serves the endpoints the client uses with answers shaped like the
//! SDK's DTOs, counts requests per asset, and can fail, slow down or answer badly on
//! demand. It binds 127.0.0.1 only.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

/// One asset the mock serves.
#[derive(Clone, Debug)]
pub struct MockAsset {
    /// Asset id.
    pub id: String,
    /// `originalPath` as the server reports it (may be hostile).
    pub original_path: String,
    /// The original's bytes.
    pub bytes: Vec<u8>,
    /// Original width and height.
    pub size: (u32, u32),
    /// Face boxes `[x1, y1, x2, y2]` in the coordinates of `preview`.
    pub faces: Vec<[f64; 4]>,
    /// The analysed preview's size (`imageWidth`, `imageHeight`).
    pub preview: (f64, f64),
    /// Serve this text instead of the faces JSON (for malformed answers).
    pub faces_override: Option<String>,
    /// Answer HTTP 500 to every request about this asset.
    pub always_fail: bool,
    /// `IMAGE` or `VIDEO`.
    pub asset_type: String,
    /// Immich's JPEG rendering (`/thumbnail?size=preview`); `None` answers 404.
    pub rendering: Option<Vec<u8>>,
    /// Answer `size=fullsize` with 404, as servers from before it existed do.
    pub no_fullsize: bool,
}

impl MockAsset {
    /// An image asset with one face box covering `face_fraction` of the short side.
    pub fn image(
        id: &str,
        original_path: &str,
        bytes: Vec<u8>,
        size: (u32, u32),
        faces: Vec<[f64; 4]>,
    ) -> Self {
        Self {
            id: id.into(),
            original_path: original_path.into(),
            bytes,
            size,
            faces,
            preview: (f64::from(size.0), f64::from(size.1)),
            faces_override: None,
            always_fail: false,
            asset_type: "IMAGE".into(),
            rendering: None,
            no_fullsize: false,
        }
    }
}

struct Inner {
    assets: Vec<MockAsset>,
    key: String,
    page_size: usize,
    cursor_paging: bool,
    failing: AtomicBool,
    latency_ms: AtomicU64,
    requests: AtomicU64,
    originals: Mutex<HashMap<String, usize>>,
    seen_keys_in_urls: AtomicBool,
}

/// The running mock. Stops when dropped.
pub struct MockImmich {
    inner: Arc<Inner>,
    server: Arc<tiny_http::Server>,
    url: String,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl MockImmich {
    /// Starts serving `assets` on 127.0.0.1 for requests bearing `api_key`.
    pub fn start(assets: Vec<MockAsset>, api_key: &str) -> Self {
        Self::start_with(assets, api_key, 2, false)
    }

    /// Like [`MockImmich::start`], with `page_size` assets per page and cursor paging
    /// (Immich 3.x style) when `cursor_paging`.
    pub fn start_with(
        assets: Vec<MockAsset>,
        api_key: &str,
        page_size: usize,
        cursor_paging: bool,
    ) -> Self {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind loopback"));
        let url = format!(
            "http://{}",
            server.server_addr().to_ip().expect("ip address")
        );
        let inner = Arc::new(Inner {
            assets,
            key: api_key.into(),
            page_size: page_size.max(1),
            cursor_paging,
            failing: AtomicBool::new(false),
            latency_ms: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            originals: Mutex::new(HashMap::new()),
            seen_keys_in_urls: AtomicBool::new(false),
        });
        // Enough handler threads for 16 concurrent clients with simulated latency.
        let threads = (0..24)
            .map(|_| {
                let (server, inner) = (Arc::clone(&server), Arc::clone(&inner));
                std::thread::spawn(move || {
                    while let Ok(request) = server.recv() {
                        handle(&inner, request);
                    }
                })
            })
            .collect();
        Self {
            inner,
            server,
            url,
            threads,
        }
    }

    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Make every request fail with HTTP 503 (an outage), or stop doing so.
    pub fn set_failing(&self, failing: bool) {
        self.inner.failing.store(failing, Ordering::SeqCst);
    }

    /// Delay every answer by `latency`.
    pub fn set_latency(&self, latency: Duration) {
        self.inner.latency_ms.store(
            u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
            Ordering::SeqCst,
        );
    }

    /// Requests served so far.
    pub fn requests(&self) -> u64 {
        self.inner.requests.load(Ordering::SeqCst)
    }

    /// Successful original downloads of each asset.
    pub fn originals(&self) -> HashMap<String, usize> {
        self.inner.originals.lock().expect("not poisoned").clone()
    }

    /// Whether any request carried the API key in its URL.
    pub fn saw_key_in_url(&self) -> bool {
        self.inner.seen_keys_in_urls.load(Ordering::SeqCst)
    }
}

impl Drop for MockImmich {
    fn drop(&mut self) {
        self.server.unblock();
        for _ in 1..self.threads.len() {
            self.server.unblock();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn respond(request: tiny_http::Request, status: u16, body: Vec<u8>, json: bool) {
    let mut response = tiny_http::Response::from_data(body).with_status_code(status);
    if json {
        response.add_header(
            tiny_http::Header::from_bytes("content-type", "application/json")
                .expect("valid header"),
        );
    }
    let _ = request.respond(response);
}

fn handle(inner: &Inner, mut request: tiny_http::Request) {
    inner.requests.fetch_add(1, Ordering::SeqCst);
    let latency = inner.latency_ms.load(Ordering::SeqCst);
    if latency > 0 {
        std::thread::sleep(Duration::from_millis(latency));
    }
    let url = request.url().to_string();
    if url.contains(&inner.key) {
        inner.seen_keys_in_urls.store(true, Ordering::SeqCst);
    }
    if inner.failing.load(Ordering::SeqCst) {
        return respond(
            request,
            503,
            b"{\"message\":\"Service Unavailable\"}".to_vec(),
            true,
        );
    }
    let key_ok = request
        .headers()
        .iter()
        .any(|h| h.field.equiv("x-api-key") && h.value.as_str() == inner.key);
    if !key_ok {
        return respond(
            request,
            401,
            br#"{"message":"Invalid API key","error":"Unauthorized","statusCode":401}"#.to_vec(),
            true,
        );
    }
    let decoded = percent_decode(&url);
    let (path, query) = decoded.split_once('?').unwrap_or((&decoded, ""));
    match (request.method().as_str(), path) {
        ("GET", "/api/server/ping") => respond(request, 200, br#"{"res":"pong"}"#.to_vec(), true),
        ("GET", "/api/server/version") => {
            respond(
                request,
                200,
                br#"{"major":2,"minor":7,"patch":2,"prerelease":null}"#.to_vec(),
                true,
            );
        }
        ("POST", "/api/search/metadata") => {
            let mut body = String::new();
            let _ = std::io::Read::read_to_string(request.as_reader(), &mut body);
            let dto: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            let start = if inner.cursor_paging {
                dto["cursor"]
                    .as_str()
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0usize)
            } else {
                (usize::try_from(dto["page"].as_u64().unwrap_or(1).max(1)).unwrap_or(1) - 1)
                    * inner.page_size
            };
            let end = (start + inner.page_size).min(inner.assets.len());
            let items: Vec<serde_json::Value> = inner
                .assets
                .get(start..end)
                .unwrap_or_default()
                .iter()
                .map(asset_json)
                .collect();
            let more = end < inner.assets.len();
            let page = dto["page"].as_u64().unwrap_or(1);
            let answer = json!({
                "albums": {"count": 0, "facets": [], "items": [], "total": 0},
                "assets": {
                    "count": items.len(),
                    "facets": [],
                    "items": items,
                    "nextPage": if more && !inner.cursor_paging { json!((page + 1).to_string()) } else { json!(null) },
                    "nextCursor": if more && inner.cursor_paging { json!(end.to_string()) } else { json!(null) },
                    "total": inner.assets.len(),
                }
            });
            respond(request, 200, answer.to_string().into_bytes(), true);
        }
        ("GET", "/api/faces") => {
            let id = query.strip_prefix("id=").unwrap_or_default();
            match inner.assets.iter().find(|a| a.id == id) {
                Some(a) if a.always_fail => respond(request, 500, b"{}".to_vec(), true),
                Some(a) => {
                    let body = a
                        .faces_override
                        .clone()
                        .unwrap_or_else(|| faces_json(a).to_string());
                    respond(request, 200, body.into_bytes(), true);
                }
                None => respond(request, 404, b"{}".to_vec(), true),
            }
        }
        ("GET", p) if p.starts_with("/api/assets/") && p.ends_with("/original") => {
            let id = &p["/api/assets/".len()..p.len() - "/original".len()];
            match inner.assets.iter().find(|a| a.id == id) {
                Some(a) if a.always_fail => respond(request, 500, Vec::new(), false),
                Some(a) => {
                    *inner
                        .originals
                        .lock()
                        .expect("not poisoned")
                        .entry(a.id.clone())
                        .or_default() += 1;
                    respond(request, 200, a.bytes.clone(), false);
                }
                None => respond(request, 404, Vec::new(), false),
            }
        }
        ("GET", p) if p.starts_with("/api/assets/") && p.ends_with("/thumbnail") => {
            let id = &p["/api/assets/".len()..p.len() - "/thumbnail".len()];
            let fullsize = query.contains("size=fullsize");
            match inner.assets.iter().find(|a| a.id == id) {
                Some(a) if a.no_fullsize && fullsize => respond(request, 404, Vec::new(), false),
                Some(MockAsset {
                    rendering: Some(jpeg),
                    ..
                }) => respond(request, 200, jpeg.clone(), false),
                _ => respond(request, 404, Vec::new(), false),
            }
        }
        _ => respond(request, 404, b"{\"message\":\"Not Found\"}".to_vec(), true),
    }
}

fn asset_json(a: &MockAsset) -> serde_json::Value {
    json!({
        "checksum": "AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "createdAt": "2024-01-01T00:00:00.000Z",
        "duration": null,
        "fileCreatedAt": "2024-01-01T00:00:00.000Z",
        "fileModifiedAt": "2024-01-01T00:00:00.000Z",
        "hasMetadata": true,
        "height": a.size.1,
        "id": a.id,
        "isArchived": false,
        "isEdited": false,
        "isFavorite": false,
        "isOffline": false,
        "isTrashed": false,
        "localDateTime": "2024-01-01T00:00:00.000Z",
        "originalFileName": a.original_path.rsplit('/').next().unwrap_or_default(),
        "originalPath": a.original_path,
        "ownerId": "owner",
        "thumbhash": null,
        "type": a.asset_type,
        "updatedAt": "2024-01-01T00:00:00.000Z",
        "visibility": "timeline",
        "width": a.size.0,
        "exifInfo": {"exifImageWidth": a.size.0, "exifImageHeight": a.size.1}
    })
}

fn faces_json(a: &MockAsset) -> serde_json::Value {
    serde_json::Value::Array(
        a.faces
            .iter()
            .enumerate()
            .map(|(i, b)| {
                json!({
                    "boundingBoxX1": b[0], "boundingBoxY1": b[1], "boundingBoxX2": b[2], "boundingBoxY2": b[3],
                    "id": format!("{}-face{i}", a.id), "imageWidth": a.preview.0, "imageHeight": a.preview.1,
                    "person": null, "sourceType": "machine-learning"
                })
            })
            .collect(),
    )
}

/// `%XX` → byte, as any HTTP server does before routing.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
