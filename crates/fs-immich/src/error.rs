use std::path::PathBuf;

/// Errors talking to Immich or staging. None of them ever contains the API key.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server refused the key.
    #[error("Immich refused the API key (HTTP {status}); check IMMICH_API_KEY")]
    Unauthorized {
        /// 401 or 403.
        status: u16,
    },
    /// A non-success status other than 401/403.
    #[error("Immich answered HTTP {status} to {endpoint}")]
    Status {
        /// The endpoint path.
        endpoint: String,
        /// The status.
        status: u16,
    },
    /// The server could not be reached, or the connection broke.
    #[error("cannot reach Immich for {endpoint}: {message}")]
    Transport {
        /// The endpoint path.
        endpoint: String,
        /// What went wrong.
        message: String,
    },
    /// The answer was not the JSON the SDK documents.
    #[error("Immich's answer to {endpoint} is not valid")]
    Decode {
        /// The endpoint path.
        endpoint: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A local file could not be written.
    #[error("{}: {action}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Another stager is writing to the same staging folder.
    #[error(
        "{} is being staged by {holder}; wait for it to finish (one stager per folder: two \
         at once would write the same partial files)",
        path.display()
    )]
    Busy {
        /// The staging folder.
        path: PathBuf,
        /// Who holds it ("pid 123").
        holder: String,
    },
    /// Too many consecutive failures and the server does not answer a ping: the state is
    /// saved and staging stopped.
    #[error(
        "Immich stopped answering ({failures} requests failed in a row and /api/server/ping failed too); \
         progress is saved in {}; run the same command again to resume",
        state.display()
    )]
    BreakerOpen {
        /// Consecutive failures seen.
        failures: u32,
        /// The saved state file.
        state: PathBuf,
    },
}

impl Error {
    pub(crate) fn transport(endpoint: &str, e: &dyn std::fmt::Display) -> Self {
        Self::Transport {
            endpoint: endpoint.to_string(),
            message: e.to_string(),
        }
    }

    /// Whether retrying may help (server errors, timeouts, broken connections).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport { .. } => true,
            Self::Status { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            _ => false,
        }
    }
}

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
