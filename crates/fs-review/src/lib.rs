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
//! - images are looked up by face key among the faces the page shows (or by identity
//!   name and rank for a full-size crop): no part of a request is ever used as a path;
//! - each change names the revision it was made on, and a change made on an older one
//!   is refused with 409 ("reload"), so two tabs never overwrite each other.
//!
//! At scale (300 identities, 50,000 faces) the first view holds each identity's best
//! row of faces and its counts; an identity's whole sheet, its dropped faces and the
//! singletons (a page at a time) are fetched when opened. Thumbnails are made once and
//! kept on disk, named by what they show.
//!
//! The page is plain HTML, CSS and JavaScript inside this crate: it works offline.

#![warn(missing_docs)]

mod thumbs;
mod view;

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use fs_cache::Cache;
use fs_export::swap::SwapOptions;
use fs_identities::manifest::RawManifest;
use fs_library::{Decision, Library};
use serde::Deserialize;
use serde_json::json;

use thumbs::Thumbnails;
use view::View;

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
    /// The clusters manifest (for the singletons) could not be read.
    #[error(transparent)]
    Raw(#[from] fs_identities::Error),
    /// No randomness for the token, or no thread for the server.
    #[error("cannot start the server: {0}")]
    Start(String),
}

/// What to serve.
#[derive(Debug)]
pub struct Config {
    /// The library (`facesets_swap_ready/`), opened, with the roop re-detection
    /// ([`Library::with_crop_check`]) when its entries were exported with it.
    pub library: Library,
    /// The cache its faces come from, opened read-only.
    pub cache: Cache,
    /// The clusters manifest of the run that made it (`raw/manifest.json`), whose
    /// singletons the page shows; `None` to show none.
    pub raw: Option<PathBuf>,
    /// Where thumbnails are kept between runs.
    pub thumbnails: PathBuf,
    /// Port on 127.0.0.1; 0 for any free one.
    pub port: u16,
    /// Export settings for entries that recorded none (each entry is exported again
    /// with the settings it was exported with).
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
    /// Starts serving the library on 127.0.0.1.
    pub fn start(config: Config) -> Result<Self, Error> {
        let Config {
            library,
            cache,
            raw: raw_path,
            thumbnails,
            port,
            options,
        } = config;
        // A decision is answered once committed; its views are written right after.
        let library = library.with_deferred_views(true);
        let raw = read_raw(raw_path.as_deref())?;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))
            .map_err(|source| Error::Bind { port, source })?;
        let address = listener
            .local_addr()
            .map_err(|e| Error::Start(e.to_string()))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::Start(e.to_string()))?;
        let token = new_token()?;
        let view = View::of(&library, &cache, raw.as_ref());
        let workers = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        let app = Arc::new(App {
            token: token.clone(),
            origin: format!("http://{address}"),
            thumbnails: Thumbnails::new(thumbnails),
            makers: tokio::sync::Semaphore::new(workers),
            inner: Mutex::new(Inner {
                stamps: stamps(cache.path(), raw_path.as_deref()),
                views_due: false,
                raw_path,
                library,
                cache,
                raw,
                view,
                options,
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
    thumbnails: Thumbnails,
    /// At most one thumbnail being made per core: a page scrolled fast asks for
    /// hundreds at once, and each may decode a photo.
    makers: tokio::sync::Semaphore,
}

struct Inner {
    library: Library,
    cache: Cache,
    raw: Option<RawManifest>,
    /// What the page shows, indexed.
    view: View,
    options: SwapOptions,
    raw_path: Option<PathBuf>,
    /// When the cache and the clusters were last changed, as loaded.
    stamps: Stamps,
    /// A decision was answered and its views are still to write (and the page's index
    /// to make again): done before anything else is served.
    views_due: bool,
}

type Stamps = [Option<std::time::SystemTime>; 2];

/// When the cache and the clusters manifest were last changed.
fn stamps(cache: &std::path::Path, raw: Option<&std::path::Path>) -> Stamps {
    let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    [modified(cache), raw.and_then(modified)]
}

impl Inner {
    fn stamps(&self) -> Stamps {
        stamps(self.cache.path(), self.raw_path.as_deref())
    }

    /// Reads the library again when another program (`run`, `export-swap`, a
    /// workflow, another review page) committed since (its revision moved), and the
    /// cache and clusters when they changed.
    fn refresh(&mut self) -> Result<(), String> {
        self.catch_up();
        let now = self.stamps();
        let revision = self.library.current_revision().map_err(|e| e.to_string())?;
        if now == self.stamps && revision == self.library.revision() {
            return Ok(());
        }
        self.library.reload().map_err(|e| e.to_string())?;
        if now != self.stamps {
            self.cache = Cache::open_read_only(self.cache.path()).map_err(|e| e.to_string())?;
            self.raw = read_raw(self.raw_path.as_deref()).map_err(|e| e.to_string())?;
            self.stamps = now;
        }
        self.reindex();
        Ok(())
    }

    /// Writes the views of the decision answered last, and indexes what the page
    /// shows again.
    fn catch_up(&mut self) {
        if !self.views_due {
            return;
        }
        self.views_due = false;
        if let Err(e) = self.library.finish() {
            // Kept marked in the library: the next writer puts it right.
            tracing::error!("writing the views of a decision: {e}");
        }
        self.reindex();
    }

    fn reindex(&mut self) {
        self.view = View::of(&self.library, &self.cache, self.raw.as_ref());
    }
}

fn read_raw(path: Option<&std::path::Path>) -> Result<Option<RawManifest>, fs_identities::Error> {
    path.filter(|p| p.is_file())
        .map(fs_identities::manifest::read)
        .transpose()
}

fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/api/library", get(library_view))
        .route("/api/entry/{name}", get(entry_view))
        .route("/api/singletons", get(singletons_view))
        .route("/api/decide", post(decide))
        .route("/face/{key}", get(face))
        .route("/crop/{entry}/{rank}", get(crop))
        .fallback(|| async { StatusCode::NOT_FOUND })
        .layer(middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app)
}

/// The token on every request; for changes, in the header and from this origin only.
/// A request for another host name is refused, so a page elsewhere that rebinds its
/// own name to 127.0.0.1 reaches nothing. Every answer forbids framing, referrers and
/// content from elsewhere.
async fn guard(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let mut response = check(&app, request, next).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
             script-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; \
             base-uri 'none'; form-action 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Whether `host` (a `Host` header) names this machine's loopback.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    matches!(name, "127.0.0.1" | "localhost" | "::1")
}

async fn check(app: &App, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    if !host.is_some_and(is_loopback_host) {
        return (
            StatusCode::FORBIDDEN,
            "the review page answers only to 127.0.0.1 and localhost",
        )
            .into_response();
    }
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

/// Runs `f` on the state, read again first if a command changed it; the error says
/// why it could not be read.
fn with_inner<T>(app: &App, f: impl FnOnce(&Inner) -> T) -> Result<T, String> {
    let mut inner = app.inner.lock().expect("not poisoned");
    inner.refresh()?;
    Ok(f(&inner))
}

/// Runs `f` on the state as loaded: for the image routes, whose keys and names come
/// from a view the page fetched (and which read the state again) just before.
fn as_loaded<T>(app: &App, f: impl FnOnce(&Inner) -> T) -> T {
    let mut inner = app.inner.lock().expect("not poisoned");
    inner.catch_up();
    f(&inner)
}

fn unreadable(why: String) -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, why).into_response()
}

/// Every identity in brief (its best faces, its counts), the candidates, how many
/// singletons there are, and the revision: what the page first shows, small however
/// large the library.
async fn library_view(State(app): State<Arc<App>>) -> Response {
    match with_inner(&app, |inner| inner.view.summary(&inner.library)) {
        Ok(Ok(body)) => axum::Json(body).into_response(),
        Ok(Err(e)) => unreadable(e.to_string()),
        Err(why) => unreadable(why),
    }
}

/// One identity whole: every face, and the faces its gates dropped.
async fn entry_view(State(app): State<Arc<App>>, Path(name): Path<String>) -> Response {
    match with_inner(&app, |inner| {
        inner.library.entry(&name).map(view::entry_detail)
    }) {
        Ok(Some(body)) => axum::Json(body).into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(why) => unreadable(why),
    }
}

#[derive(Deserialize)]
struct Slice {
    #[serde(default)]
    offset: usize,
    #[serde(default = "default_limit")]
    limit: usize,
}

fn default_limit() -> usize {
    view::SINGLETONS_PAGE
}

/// A page of the singletons (faces that joined no identity), largest faces first.
async fn singletons_view(State(app): State<Arc<App>>, Query(slice): Query<Slice>) -> Response {
    match with_inner(&app, |inner| {
        inner
            .view
            .singletons(slice.offset, slice.limit.min(view::SINGLETONS_PAGE))
    }) {
        Ok(body) => axum::Json(body).into_response(),
        Err(why) => unreadable(why),
    }
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
        let applied = library.decide(cache, body.decision, Some(body.revision), options);
        // Answered now; its views and the page's index are made next (a refused decision
        // may have moved the library to another program's newer revision: shown too).
        inner.views_due = true;
        applied
    })
    .await;
    let worker = app.clone();
    drop(tokio::task::spawn_blocking(move || {
        worker.inner.lock().expect("not poisoned").catch_up();
    }));
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
        Ok(Err(e @ fs_library::Error::Busy { .. })) => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "error": format!("{e}; try again in a moment") }),
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

/// The thumbnail of a face the page shows, by its key: looked up among the library's
/// faces, candidates and singletons, never used as a path.
async fn face(
    State(app): State<Arc<App>>,
    Path(key): Path<String>,
    headers: axum::http::HeaderMap,
) -> Response {
    let Some(source) = as_loaded(&app, |inner| inner.view.source(&key, &inner.cache)) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let etag = format!("\"{}\"", source.file_name());
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|seen| seen.as_bytes() == etag.as_bytes())
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    let Ok(_permit) = app.makers.acquire().await else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let thumbnails = app.thumbnails.clone();
    match tokio::task::spawn_blocking(move || thumbnails.get(&source)).await {
        Ok(Some(jpeg)) => (
            [
                (header::CONTENT_TYPE, "image/jpeg".to_string()),
                (header::CACHE_CONTROL, "no-cache".to_string()),
                (header::ETAG, etag),
            ],
            jpeg,
        )
            .into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The full-size crop of an identity's face of that rank, from the file the manifest
/// names.
async fn crop(
    State(app): State<Arc<App>>,
    Path((entry, rank)): Path<(String, String)>,
) -> Response {
    let file = as_loaded(&app, |inner| {
        let library = &inner.library;
        let e = library.entry(&entry)?;
        let face = rank
            .parse::<usize>()
            .ok()
            .and_then(|r| e.export.faces.get(r))?;
        Some(library.dir().join(e.dir()).join(&face.png))
    });
    let Some(file) = file else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match tokio::task::spawn_blocking(move || std::fs::read(file)).await {
        Ok(Ok(bytes)) => (
            [
                (header::CONTENT_TYPE, "image/png"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            bytes,
        )
            .into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Opens `url` in the desktop's browser; when there is none, the printed address is
/// enough.
pub fn open_in_browser(url: &str) {
    let opener: &[&str] = if cfg!(target_os = "macos") {
        &["open"]
    } else if cfg!(windows) {
        &["cmd", "/C", "start", ""]
    } else {
        &["xdg-open"]
    };
    let started = std::process::Command::new(opener[0])
        .args(&opener[1..])
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Err(e) = started {
        tracing::debug!("no browser opened ({e}); open the address by hand");
    }
}
