//! Where `run` puts each part of its output folder.

use std::path::PathBuf;

/// The folder of the library inside a `run` output.
pub const LIBRARY: &str = "facesets_swap_ready";

/// Where `run` puts each part, relative to its OUT.
#[derive(Clone, Debug)]
pub struct RunLayout {
    /// The run's output directory.
    pub root: PathBuf,
}

impl RunLayout {
    /// The layout under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
    /// `cache.fsc`.
    pub fn cache(&self) -> PathBuf {
        self.root.join("cache.fsc")
    }
    /// `raw/` (cluster).
    pub fn raw(&self) -> PathBuf {
        self.root.join("raw")
    }
    /// `facesets/` (refine).
    pub fn facesets(&self) -> PathBuf {
        self.root.join("facesets")
    }
    /// `facesets_swap_ready/` (export-swap).
    pub fn swap(&self) -> PathBuf {
        self.root.join(LIBRARY)
    }
    /// `report.html`.
    pub fn report(&self) -> PathBuf {
        self.root.join("report.html")
    }
    /// `report_assets/`.
    pub fn assets(&self) -> PathBuf {
        self.root.join("report_assets")
    }
}

impl RunLayout {
    /// The duplicates report beside the cache.
    pub fn duplicates(&self) -> PathBuf {
        fs_identities::dedup::report_path(&self.cache())
    }

    /// What the report reads and writes.
    pub fn report_paths(&self) -> fs_export::report::ReportPaths {
        fs_export::report::ReportPaths {
            page: self.report(),
            assets: self.assets(),
            library: self.swap(),
            raw_manifest: self.raw().join(fs_identities::manifest::RAW_MANIFEST),
            duplicates: self.duplicates(),
        }
    }

    /// The library of a `run` output, or `dir` itself when it is a library; `None`
    /// when neither holds one.
    pub fn library_in(dir: &std::path::Path) -> Option<PathBuf> {
        let holds = |d: &std::path::Path| {
            d.join(fs_export::swap::SWAP_MANIFEST).is_file()
                || d.join(fs_library::DATABASE).is_file()
        };
        let inside = dir.join(LIBRARY);
        if holds(&inside) {
            Some(inside)
        } else {
            holds(dir).then(|| dir.to_path_buf())
        }
    }
}
