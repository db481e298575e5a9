//! Progress of long clustering runs, reported to whoever draws it (the library never
//! prints).

/// A phase of [`crate::agglomerative::cluster_with`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Building the HNSW index (approximate graph only); counted in rows.
    Index,
    /// Finding the candidate pairs; counted in rows.
    Graph,
    /// Merging clusters; counted in rows settled (merged away or final).
    Linkage,
}

impl Phase {
    /// A short name for a progress bar.
    pub fn label(self) -> &'static str {
        match self {
            Self::Index => "index",
            Self::Graph => "pairs",
            Self::Linkage => "linkage",
        }
    }
}

/// Receives progress; every method may be called from several threads.
pub trait Progress: Sync {
    /// A phase starts with `total` units of work.
    fn start(&self, _phase: Phase, _total: u64) {}
    /// `units` more are done.
    fn advance(&self, _units: u64) {}
    /// The phase is over.
    fn finish(&self, _phase: Phase) {}
}

/// Reports nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Progress for Silent {}
