use std::path::PathBuf;

use fs_cache::ModelId;

/// Everything that can go wrong with a library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A manifest, crop or bundle could not be read or written.
    #[error(transparent)]
    Export(#[from] fs_export::Error),
    /// A file of the library could not be read or written.
    #[error("{}: cannot {action}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The manifest is not valid JSON of its version.
    #[error("library manifest {} is damaged", path.display())]
    Manifest {
        /// The manifest.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The manifest is of a version this build does not know.
    #[error(
        "library manifest {} has version {found}, but this build reads versions 1 to {}; \
         use the face-sets release that wrote it (nothing was changed)",
        path.display(),
        crate::VERSION
    )]
    UnsupportedVersion {
        /// The manifest.
        path: PathBuf,
        /// The version it names (`none` when it has no version).
        found: String,
    },
    /// New faces come from another model than an identity of the library.
    #[error(
        "{entry} in {} was made by {library}, but these faces come from {requested}; \
         embeddings of different models cannot be compared: embed with the library's model \
         (the {} pack) or start another library",
        path.display(),
        library.pack
    )]
    ModelMismatch {
        /// The library manifest.
        path: PathBuf,
        /// The entry.
        entry: String,
        /// Its model.
        library: Box<ModelId>,
        /// The model of the faces being matched.
        requested: Box<ModelId>,
    },
    /// A line of the decisions log does not parse.
    #[error("decisions log {} is damaged at line {line}", path.display())]
    DecisionLog {
        /// The log.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A decision that cannot be applied to the library as it stands.
    #[error("cannot apply \"{decision}\": {why}")]
    Decision {
        /// The decision, described.
        decision: String,
        /// Why not.
        why: String,
    },
    /// The library's database could not be read or written.
    #[error("library database {}: {source}", path.display())]
    Database {
        /// The database file.
        path: PathBuf,
        /// What `SQLite` said.
        #[source]
        source: rusqlite::Error,
    },
    /// A row of the database does not hold what this build expects.
    #[error("library database {} is damaged: {what} does not parse", path.display())]
    DatabaseRow {
        /// The database file.
        path: PathBuf,
        /// Which row.
        what: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The database was written by a newer build.
    #[error(
        "library database {} has schema version {found}, but this build knows versions up \
         to {}; use the face-sets release that wrote it (nothing was changed)",
        path.display(),
        known
    )]
    NewerDatabase {
        /// The database file.
        path: PathBuf,
        /// The newest schema version this build knows.
        known: u32,
        /// Its `user_version`.
        found: u32,
    },
    /// Another program is writing to the library and did not finish in time.
    #[error(
        "library busy: {holder} is writing to it; gave up after {} s (nothing was changed)",
        waited.as_secs()
    )]
    Busy {
        /// Who holds it ("face-sets review, pid 123").
        holder: String,
        /// How long this one waited.
        waited: std::time::Duration,
    },
    /// The library changed since the decision was made (another tab, another command).
    #[error(
        "the library changed since this page was loaded (revision {found}, the page saw \
         {expected}): reload and decide again"
    )]
    Conflict {
        /// The revision the decision was made on.
        expected: u64,
        /// The library's revision now.
        found: u64,
    },
}

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
