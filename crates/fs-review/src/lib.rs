//! The review page: a local web server over a library (`facesets_swap_ready/`) where a
//! person looks at every identity and decides: rename, merge, split, move or reject
//! faces, lock an identity, undo. Each decision goes through
//! [`fs_library::Library::decide`], which changes the entries and their folders at once
//! and logs it; later runs keep it.
//!
//! Safety:
//! - it listens on 127.0.0.1 only;
//! - every request needs the random token of the URL [`Server::url`] gives (a query
//!   parameter for pages and images, the `x-review-token` header for changes);
//! - a request that changes the library is refused from any other origin, and must be
//!   JSON with the token header, which a page elsewhere cannot send without asking;
//! - images are looked up by identity name and rank in the manifest: no part of a
//!   request is ever used as a path;
//! - each change names the revision it was made on, and a change made on an older one
//!   is refused with 409 ("reload"), so two tabs never overwrite each other.
//!
//! The page is plain HTML, CSS and JavaScript inside this crate: it works offline.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use fs_cache::Cache;
use fs_export::swap::SwapOptions;
use fs_library::{Decision, Library};
use serde::Deserialize;
use serde_json::json;

/// The page, served as is.
const PAGE: &str = include_str!("page.html");

/// Header that carries the token on changes.
pub const TOKEN_HEADER: &str = "x-review-token";

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The port is taken or not allowed.
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind {
        /// The port asked for.
        port: u16,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The library could not be opened.
    #[error(transparent)]
    Library(#[from] fs_library::Error),
    /// The cache could not be opened.
    #[error(transparent)]
    Cache(#[from] fs_cache::Error),
    /// No randomness for the token, or no thread for the server.
    #[error("cannot start the server: {0}")]
    Start(String),
}

/// What to serve.
#[derive(Debug)]
pub struct Config {
    /// The library folder (`facesets_swap_ready/`).
    pub library: PathBuf,
    /// The cache its faces come from.
    pub cache: PathBuf,
    /// Port on 127.0.0.1; 0 for any free one.
    pub port: u16,
    /// Export settings for the folders decisions change.
    pub options: SwapOptions,
}

/// A running review server; stopped when dropped.
#[derive(Debug)]
pub struct Server {
    url: String,
    address: SocketAddr,
    token: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Opens the library and its cache and starts serving on 127.0.0.1.
    pub fn start(config: Config) -> Result<Self, Error> {
        let library = Library::open(&config.library)?;
        let cache = Cache::open_read_only(&config.cache)?;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, config.port)).map_err(|source| {
            Error::Bind {
                port: config.port,
                source,
            }
        })?;
        let address = listener
            .local_addr()
            .map_err(|e| Error::Start(e.to_string()))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::Start(e.to_string()))?;
        let token = new_token()?;
        let app = Arc::new(App {
            token: token.clone(),
            origin: format!("http://{address}"),
            dropped_crops: Mutex::new(std::collections::HashMap::new()),
            inner: Mutex::new(Inner {
                stamps: Inner::stamps(&config.library, &config.cache),
                library_dir: config.library,
                cache_path: config.cache,
                library,
                cache,
                options: config.options,
            }),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Start(e.to_string()))?;
        let thread = std::thread::Builder::new()
            .name("review-server".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::error!("review server: {e}");
                            return;
                        }
                    };
                    let served = axum::serve(listener, router(app))
                        .with_graceful_shutdown(async {
                            let _ = stopped.await;
                        })
                        .await;
                    if let Err(e) = served {
                        tracing::error!("review server: {e}");
                    }
                });
            })
            .map_err(|e| Error::Start(e.to_string()))?;
        Ok(Self {
            url: format!("http://{address}/?token={token}"),
            address,
            token,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The page's address, token included: what a person opens.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The token every request must carry.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Blocks until the server stops (it runs until the process ends).
    pub fn wait(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// 128 random bits, as hex.
fn new_token() -> Result<String, Error> {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).map_err(|e| Error::Start(format!("no randomness: {e}")))?;
    Ok(bytes.iter().fold(String::with_capacity(32), |mut hex, b| {
        use std::fmt::Write;
        let _ = write!(hex, "{b:02x}");
        hex
    }))
}

struct App {
    token: String,
    origin: String,
    inner: Mutex<Inner>,
    /// Crops of dropped faces, made from their photos once, by face key.
    dropped_crops: Mutex<std::collections::HashMap<String, Vec<u8>>>,
}

struct Inner {
    library: Library,
    cache: Cache,
    options: SwapOptions,
    library_dir: PathBuf,
    cache_path: PathBuf,
    /// When the manifest and the cache were last changed, as loaded.
    stamps: [Option<std::time::SystemTime>; 2],
}

impl Inner {
    fn stamps(
        library: &std::path::Path,
        cache: &std::path::Path,
    ) -> [Option<std::time::SystemTime>; 2] {
        let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        [
            modified(&library.join(fs_export::swap::SWAP_MANIFEST)),
            modified(cache),
        ]
    }

    /// Reads the library and cache again when a command (`run`, `export-swap`, a
    /// workflow) changed them while the page was open.
    fn refresh(&mut self) -> Result<(), String> {
        let now = Self::stamps(&self.library_dir, &self.cache_path);
        if now == self.stamps {
            return Ok(());
        }
        self.library = Library::open(&self.library_dir).map_err(|e| e.to_string())?;
        self.cache = Cache::open_read_only(&self.cache_path).map_err(|e| e.to_string())?;
        self.stamps = now;
        Ok(())
    }
}

fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/api/library", get(library_view))
        .route("/api/decide", post(decide))
        .route("/crop/{entry}/{rank}", get(crop))
        .route("/candidate/{index}", get(candidate))
        .route("/dropped/{entry}/{index}", get(dropped))
        .fallback(|| async { StatusCode::NOT_FOUND })
        .layer(middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app)
}

/// The token on every request; for changes, in the header and from this origin only.
async fn guard(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let from_header = headers.get(TOKEN_HEADER).and_then(|v| v.to_str().ok());
    let from_query = request
        .uri()
        .query()
        .and_then(|q| q.split('&').find_map(|pair| pair.strip_prefix("token=")));
    let changes = !matches!(*request.method(), Method::GET | Method::HEAD);
    let token = if changes {
        from_header
    } else {
        from_header.or(from_query)
    };
    if token != Some(app.token.as_str()) {
        return (
            StatusCode::FORBIDDEN,
            "a valid token is needed: open the address `face-sets review` printed",
        )
            .into_response();
    }
    if changes
        && let Some(origin) = headers.get(header::ORIGIN)
        && origin != HeaderValue::from_str(&app.origin).expect("an address is a valid header")
    {
        return (
            StatusCode::FORBIDDEN,
            "changes are only accepted from the review page itself",
        )
            .into_response();
    }
    next.run(request).await
}

async fn page() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-store")], Html(PAGE))
}

/// Every identity with its faces, the candidates, and the revision.
async fn library_view(State(app): State<Arc<App>>) -> Response {
    let mut inner = app.inner.lock().expect("not poisoned");
    if let Err(e) = inner.refresh() {
        return (StatusCode::INTERNAL_SERVER_ERROR, e).into_response();
    }
    let library = &inner.library;
    let revision = match library.decisions() {
        Ok(log) => log.revision(),
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    let entries: Vec<serde_json::Value> = library
        .entries()
        .map(|e| {
            json!({
                "name": e.export.name,
                "label": e.display_label(),
                "named": e.review.label.is_some(),
                "kind": e.provenance.kind,
                "locked": e.review.locked,
                "merged_into": e.review.merged_into,
                "mean_quality": e.export.mean_quality,
                "faces": e.export.faces.iter().map(|f| json!({
                    "key": f.face.key,
                    "rank": f.rank,
                    "photo": f.face.path,
                    "quality": f.quality.composite,
                })).collect::<Vec<_>>(),
                "dropped": e.export.dropped.iter().map(|d| json!({
                    "key": d.face.key,
                    "photo": d.face.path,
                    "reason": d.reason,
                })).collect::<Vec<_>>(),
                "excluded": e.review.excluded.len(),
            })
        })
        .collect();
    let candidates: Vec<serde_json::Value> = library
        .manifest()
        .candidates
        .iter()
        .enumerate()
        .map(|(index, c)| {
            json!({
                "index": index,
                "faceset": c.faceset,
                "key": c.face.key,
                "photo": c.face.path,
                "distance": c.distance,
            })
        })
        .collect();
    axum::Json(json!({
        "revision": revision,
        "library": library.dir(),
        "entries": entries,
        "candidates": candidates,
    }))
    .into_response()
}

#[derive(Deserialize)]
struct DecideBody {
    /// The revision the page showed.
    revision: u64,
    decision: Decision,
}

async fn decide(State(app): State<Arc<App>>, axum::Json(body): axum::Json<DecideBody>) -> Response {
    let worker = app.clone();
    let result = tokio::task::spawn_blocking(move || {
        let mut inner = worker.inner.lock().expect("not poisoned");
        inner.refresh().map_err(|why| fs_library::Error::Decision {
            decision: body.decision.describe(),
            why: format!("the library could not be read again: {why}"),
        })?;
        let Inner {
            library,
            cache,
            options,
            ..
        } = &mut *inner;
        let applied = library.decide(cache, body.decision, Some(body.revision), options)?;
        // What was just written is what is loaded.
        let stamps = Inner::stamps(&inner.library_dir, &inner.cache_path);
        inner.stamps = stamps;
        Ok(applied)
    })
    .await;
    let (status, answer) = match result {
        Ok(Ok(applied)) => (
            StatusCode::OK,
            json!({
                "revision": applied.revision,
                "description": applied.description,
                "created": applied.created,
            }),
        ),
        Ok(Err(e @ fs_library::Error::Conflict { .. })) => {
            (StatusCode::CONFLICT, json!({ "error": e.to_string() }))
        }
        Ok(Err(e @ fs_library::Error::Decision { .. })) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({ "error": e.to_string() }),
        ),
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({ "error": e.to_string() }),
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({ "error": e.to_string() }),
        ),
    };
    (status, axum::Json(answer)).into_response()
}

/// The crop of an identity's face of that rank, from the file the manifest names.
async fn crop(
    State(app): State<Arc<App>>,
    Path((entry, rank)): Path<(String, String)>,
) -> Response {
    let file = {
        let inner = app.inner.lock().expect("not poisoned");
        let library = &inner.library;
        let Some(e) = library.entry(&entry) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        let Some(face) = rank
            .parse::<usize>()
            .ok()
            .and_then(|r| e.export.faces.get(r))
        else {
            return StatusCode::NOT_FOUND.into_response();
        };
        library.dir().join(e.dir()).join(&face.png)
    };
    png(file).await
}

/// The crop of a candidate (a singleton resembling an identity), by its index.
async fn candidate(State(app): State<Arc<App>>, Path(index): Path<String>) -> Response {
    let file = {
        let inner = app.inner.lock().expect("not poisoned");
        let library = &inner.library;
        let Some(c) = index
            .parse::<usize>()
            .ok()
            .and_then(|i| library.manifest().candidates.get(i))
        else {
            return StatusCode::NOT_FOUND.into_response();
        };
        library.dir().join(&c.png)
    };
    png(file).await
}

/// The crop of a face an identity's gates dropped (it has no file of its own): made
/// from its photo the first time it is asked for, then kept. The photo is only read.
async fn dropped(
    State(app): State<Arc<App>>,
    Path((entry, index)): Path<(String, String)>,
) -> Response {
    let found = {
        let inner = app.inner.lock().expect("not poisoned");
        let face = inner.library.entry(&entry).and_then(|e| {
            index
                .parse::<usize>()
                .ok()
                .and_then(|i| e.export.dropped.get(i))
                .map(|d| d.face.clone())
        });
        face.map(|face| {
            let others = face
                .key
                .parse::<fs_cache::FaceKey>()
                .ok()
                .and_then(|key| {
                    let record = inner.cache.image(&key.hash)?;
                    Some(fs_export::swap::other_faces(record, key.index as usize))
                })
                .unwrap_or_default();
            (face, others)
        })
    };
    let Some((face, others)) = found else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if let Some(bytes) = app
        .dropped_crops
        .lock()
        .expect("not poisoned")
        .get(&face.key)
    {
        return png_response(bytes.clone());
    }
    let key = face.key.clone();
    let made = tokio::task::spawn_blocking(move || {
        let photo = face.paths.iter().chain([&face.path]).find_map(|p| {
            let bytes = std::fs::read(p).ok()?;
            fs_detect::decode::decode_photo(Some(p), &bytes).ok()
        })?;
        let crop = fs_export::swap::crop_single_face(&photo, face.bbox, &others, 0.3, 128);
        let mut png = Vec::new();
        crop.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .ok()?;
        Some(png)
    })
    .await;
    match made {
        Ok(Some(bytes)) => {
            app.dropped_crops
                .lock()
                .expect("not poisoned")
                .insert(key, bytes.clone());
            png_response(bytes)
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

fn png_response(bytes: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        bytes,
    )
        .into_response()
}

async fn png(file: PathBuf) -> Response {
    match tokio::task::spawn_blocking(move || std::fs::read(file)).await {
        Ok(Ok(bytes)) => png_response(bytes),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}
