//! Progress of long work (embedding, clustering, staging, a whole `run`), reported to
//! whoever draws it. Libraries never print: they call a [`Progress`], and the binary's
//! implementation draws bars.
//!
//! ```
//! use fs_progress::{Phase, Progress, Silent};
//! fn count(progress: &dyn Progress) {
//!     progress.start(Phase::Embed, 2);
//!     progress.done(std::path::Path::new("a.jpg"));
//!     progress.advance(1);
//!     progress.finish(Phase::Embed);
//! }
//! count(&Silent);
//! ```
#![warn(missing_docs)]

use std::path::Path;

/// What is being counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase {
    /// Reading and hashing new or changed files; counted in files.
    Hash,
    /// Decoding, detecting and embedding distinct new images; counted in images.
    Embed,
    /// Adding landmarks and pose to cached faces; counted in images.
    Enrich,
    /// Building the approximate nearest-neighbour index; counted in faces.
    Index,
    /// Finding the candidate pairs; counted in faces.
    Graph,
    /// Merging clusters; counted in faces settled (merged away or final).
    Linkage,
    /// Downloading assets from a photo server; counted in assets.
    Download,
}

impl Phase {
    /// A short name for a progress bar.
    pub fn label(self) -> &'static str {
        match self {
            Self::Hash => "hashing",
            Self::Embed => "embedding",
            Self::Enrich => "enriching",
            Self::Index => "index",
            Self::Graph => "pairs",
            Self::Linkage => "linkage",
            Self::Download => "staging",
        }
    }
}

/// Receives progress. Every method has a no-op default and may be called from several
/// threads at once.
pub trait Progress: Sync {
    /// A multi-step command (`run`) begins step `index` of `count`, named `name`.
    fn step(&self, _index: usize, _count: usize, _name: &str) {}
    /// A phase starts with `total` units of work.
    fn start(&self, _phase: Phase, _total: u64) {}
    /// `units` more are done.
    fn advance(&self, _units: u64) {}
    /// One unit is done: the file `item`.
    fn done(&self, _item: &Path) {
        self.advance(1);
    }
    /// `item` failed; the work goes on (it is also in the summary's errors).
    fn failed(&self, _item: &Path, _message: &str) {}
    /// The phase is over.
    fn finish(&self, _phase: Phase) {}
    /// A line worth telling the person waiting (which execution provider runs, which
    /// distances apply, what opening the library put right); not an error.
    fn note(&self, _line: &str) {}
}

/// Reports nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Progress for Silent {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[derive(Default)]
    struct Count(AtomicU64);

    impl Progress for Count {
        fn advance(&self, units: u64) {
            self.0.fetch_add(units, Ordering::Relaxed);
        }
    }

    #[test]
    fn a_finished_item_counts_as_one_unit_unless_overridden() {
        let count = Count::default();
        count.done(Path::new("a.jpg"));
        count.advance(3);
        assert_eq!(count.0.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn every_phase_has_its_own_label() {
        let all = [
            Phase::Hash,
            Phase::Embed,
            Phase::Enrich,
            Phase::Index,
            Phase::Graph,
            Phase::Linkage,
            Phase::Download,
        ];
        let labels: std::collections::HashSet<_> = all.iter().map(|p| p.label()).collect();
        assert_eq!(labels.len(), all.len());
    }
}
