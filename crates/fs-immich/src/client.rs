//! A typed, blocking client for the Immich endpoints the importer uses.
//!
//! The API key travels only in the `x-api-key` header. It is never part of a URL, an
//! error message or `Debug` output, so logs and state files cannot leak it.

use std::io::Read;
use std::time::Duration;

use crate::dto::{
    AssetFaceResponseDto, AssetResponseDto, MetadataSearchDto, SearchResponseDto,
    ServerPingResponse, ServerVersionResponseDto,
};
use crate::error::{Error, Result};

/// Where the next page of a listing starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageToken {
    /// Page paging (`page` / `nextPage`).
    Page(u32),
    /// Cursor paging (`cursor` / `nextCursor`).
    Cursor(String),
}

/// One page of assets (photos and videos) and where the next one starts.
#[derive(Clone, Debug)]
pub struct Page {
    /// The assets.
    pub assets: Vec<AssetResponseDto>,
    /// `None` at the end.
    pub next: Option<PageToken>,
}

/// The client.
#[derive(Clone)]
pub struct Client {
    base: String,
    key: String,
    agent: ureq::Agent,
    page_size: u32,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("key", &"<redacted>")
            .field("page_size", &self.page_size)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for the server at `base_url` (with or without a trailing `/api`).
    pub fn new(base_url: &str, api_key: &str) -> Self {
        let base = base_url
            .trim_end_matches('/')
            .trim_end_matches("/api")
            .to_string();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_mins(2)))
            .timeout_connect(Some(Duration::from_secs(10)))
            .build()
            .into();
        Self {
            base,
            key: api_key.to_string(),
            agent,
            page_size: 250,
        }
    }

    /// Assets per listing page. Default 250.
    #[must_use]
    pub fn with_page_size(mut self, size: u32) -> Self {
        self.page_size = size.max(1);
        self
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api{path}", self.base)
    }

    fn check(
        endpoint: &str,
        response: ureq::http::Response<ureq::Body>,
    ) -> Result<ureq::http::Response<ureq::Body>> {
        let status = response.status().as_u16();
        match status {
            200..=299 => Ok(response),
            401 | 403 => Err(Error::Unauthorized { status }),
            _ => Err(Error::Status {
                endpoint: endpoint.to_string(),
                status,
            }),
        }
    }

    fn get_json<T: serde::de::DeserializeOwned>(&self, endpoint: &str) -> Result<T> {
        let response = self
            .agent
            .get(&self.url(endpoint))
            .header("x-api-key", &self.key)
            .header("accept", "application/json")
            .call()
            .map_err(|e| Error::transport(endpoint, &e))?;
        let mut response = Self::check(endpoint, response)?;
        let bytes = response
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .map_err(|e| Error::transport(endpoint, &e))?;
        serde_json::from_slice(&bytes).map_err(|source| Error::Decode {
            endpoint: endpoint.to_string(),
            source,
        })
    }

    /// `GET /api/server/ping`.
    pub fn ping(&self) -> Result<()> {
        let pong: ServerPingResponse = self.get_json("/server/ping")?;
        if pong.res == "pong" {
            Ok(())
        } else {
            Err(Error::Status {
                endpoint: "/server/ping".into(),
                status: 200,
            })
        }
    }

    /// `GET /api/server/version`.
    pub fn version(&self) -> Result<ServerVersionResponseDto> {
        self.get_json("/server/version")
    }

    /// `POST /api/search/metadata` for every asset (photos and videos), one page.
    pub fn search_assets(&self, at: &PageToken) -> Result<Page> {
        let endpoint = "/search/metadata";
        let body = MetadataSearchDto {
            page: match at {
                PageToken::Page(p) => Some(*p),
                PageToken::Cursor(_) => None,
            },
            cursor: match at {
                PageToken::Cursor(c) => Some(c.clone()),
                PageToken::Page(_) => None,
            },
            size: Some(self.page_size),
            asset_type: None,
            with_exif: Some(true),
        };
        let json = serde_json::to_vec(&body).expect("a request always serialises");
        let response = self
            .agent
            .post(&self.url(endpoint))
            .header("x-api-key", &self.key)
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .send(&json[..])
            .map_err(|e| Error::transport(endpoint, &e))?;
        let mut response = Self::check(endpoint, response)?;
        let bytes = response
            .body_mut()
            .with_config()
            .limit(256 << 20)
            .read_to_vec()
            .map_err(|e| Error::transport(endpoint, &e))?;
        let parsed: SearchResponseDto =
            serde_json::from_slice(&bytes).map_err(|source| Error::Decode {
                endpoint: endpoint.to_string(),
                source,
            })?;
        let next = match (parsed.assets.next_cursor, parsed.assets.next_page) {
            (Some(cursor), _) if !cursor.is_empty() => Some(PageToken::Cursor(cursor)),
            (_, Some(page)) => page.parse().ok().map(PageToken::Page),
            _ => None,
        };
        Ok(Page {
            assets: parsed.assets.items,
            next,
        })
    }

    /// `GET /api/faces?id=ASSET`.
    pub fn faces(&self, asset_id: &str) -> Result<Vec<AssetFaceResponseDto>> {
        self.get_json(&format!("/faces?id={}", encode(asset_id)))
    }

    /// `GET /api/assets/{id}/original`, streamed into `out`; returns the bytes written.
    pub fn download_original(&self, asset_id: &str, out: &mut impl std::io::Write) -> Result<u64> {
        self.download(&format!("/assets/{}/original", encode(asset_id)), out)
    }

    /// Immich's own JPEG rendering of an asset: the full-size one
    /// (`GET /api/assets/{id}/thumbnail?size=fullsize`, on servers that have it), else
    /// the preview (`size=preview`, 1440 px on the long side by default).
    pub fn download_rendering(&self, asset_id: &str) -> Result<Vec<u8>> {
        let base = format!("/assets/{}/thumbnail", encode(asset_id));
        let mut bytes = Vec::new();
        match self.download(&format!("{base}?size=fullsize"), &mut bytes) {
            Err(Error::Status { status, .. }) if status == 400 || status == 404 => {
                bytes.clear();
                self.download(&format!("{base}?size=preview"), &mut bytes)?;
            }
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        Ok(bytes)
    }

    fn download(&self, endpoint: &str, out: &mut impl std::io::Write) -> Result<u64> {
        let endpoint = endpoint.to_string();
        let response = self
            .agent
            .get(&self.url(&endpoint))
            .header("x-api-key", &self.key)
            .call()
            .map_err(|e| Error::transport(&endpoint, &e))?;
        let response = Self::check(&endpoint, response)?;
        let mut reader = response.into_body().into_reader();
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0u64;
        loop {
            let n = reader
                .read(&mut buf)
                .map_err(|e| Error::transport(&endpoint, &e))?;
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n])
                .map_err(|e| Error::transport(&endpoint, &e))?;
            total += n as u64;
        }
        Ok(total)
    }
}

/// Percent-encodes an id for a URL path or query (ids are UUIDs, but answers are not
/// trusted).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
