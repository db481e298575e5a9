//! `run`: every stage, from a photo folder to a grown library and its report.
//!
//! ```text
//! embed → identities (cluster/refine, or extend/discover) → duplicates → enrich
//!       → export to the library → report
//! ```
//!
//! Everything lands under one output folder ([`RunLayout`]); running it again embeds
//! only new photos and grows identities without renumbering them.

use std::fmt;
use std::path::PathBuf;

use fs_cache::Cache;
use fs_cluster::graph::GraphChoice;
use fs_embedder::pipeline::{EmbedOptions, Source};
use fs_identities::cluster::ClusterOptions;
use fs_identities::discover::DiscoverOptions;
use fs_identities::extend::ExtendOptions;
use fs_identities::gates::RefineOptions;
use fs_identities::linking::Linking;
use fs_identities::materialize::Mode;
use fs_progress::Progress;
use serde::Serialize;

use crate::error::{Result, input};
use crate::grow::GrowOptions;
use crate::layout::RunLayout;
use crate::models::Models;
use crate::stages::{
    EmbedCounts, EmbedRequest, ExportReport, ExportSettings, Failures, embed_into, enrich,
    export_at, open_library,
};

/// The steps of `run`, in order, as progress names them.
pub const STEPS: [&str; 6] = [
    "embed",
    "identities",
    "duplicates",
    "enrich",
    "export",
    "report",
];

/// What `run` does. [`RunOptions::new`] gives the defaults; the builder methods change
/// one thing each.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The photo folder.
    pub src: PathBuf,
    /// The output folder: cache, results, library, report.
    pub out: PathBuf,
    /// A pack name or folder; `None`: the cache's pack, else the default.
    pub pack: Option<String>,
    /// Enter folders reached through symbolic links.
    pub follow_links: bool,
    /// Distinct photos a faceset needs.
    pub min_faces: usize,
    /// Exact or approximate candidate pairs for clustering.
    pub graph: GraphChoice,
    /// Link only the faces above the quality bar, attaching the others.
    pub quality_bar: bool,
    /// Never put two faces of one photo in one identity.
    pub apart: bool,
    /// How photos appear in `raw/` and `facesets/`.
    pub materialize: Mode,
    /// How identities go into the library.
    pub export: ExportSettings,
}

impl RunOptions {
    /// Sorts `src` into `out` with the defaults.
    pub fn new(src: impl Into<PathBuf>, out: impl Into<PathBuf>) -> Self {
        Self {
            src: src.into(),
            out: out.into(),
            pack: None,
            follow_links: false,
            min_faces: RefineOptions::default().min_faces,
            graph: GraphChoice::Auto,
            quality_bar: true,
            apart: true,
            materialize: Mode::default(),
            export: ExportSettings {
                writer: "face-sets run".into(),
                ..ExportSettings::default()
            },
        }
    }

    /// With the pack `name` (or a folder of models).
    #[must_use]
    pub fn pack(mut self, name: impl Into<String>) -> Self {
        self.pack = Some(name.into());
        self
    }

    /// Keeping facesets of at least `min_faces` distinct photos.
    #[must_use]
    pub fn min_faces(mut self, min_faces: usize) -> Self {
        self.min_faces = min_faces;
        self
    }

    /// With the roop crop check on or off.
    #[must_use]
    pub fn crop_check(mut self, on: bool) -> Self {
        self.export.crop_check = on;
        self
    }

    /// Runs every stage; see [`run`].
    pub fn run(&self, models: &Models, progress: &dyn Progress) -> Result<RunSummary> {
        run(self, models, progress)
    }
}

/// What `run` did.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    /// The output folder.
    pub out: PathBuf,
    /// The report page.
    pub report: PathBuf,
    /// The library folder.
    pub library: PathBuf,
    /// The model whose faces the cache holds.
    pub model: String,
    /// Whether the cache was new (its model chosen by this run).
    pub new_cache: bool,
    /// Photo files found.
    pub photos: usize,
    /// Images embedded this run.
    pub embedded: usize,
    /// Faces found this run.
    pub faces_found: usize,
    /// Faces in the cache.
    pub faces: usize,
    /// Raw clusters (people).
    pub people: usize,
    /// Identities discovered this run.
    pub new_identities: Vec<String>,
    /// Identities in the library.
    pub identities: usize,
    /// Identities added to the library.
    pub added: Vec<String>,
    /// Identities updated in the library.
    pub updated: Vec<String>,
    /// Identities not exported, with why (`{"identity": …, "why": …}`).
    #[serde(serialize_with = "left_out_json")]
    pub left_out: Vec<(String, String)>,
    /// The library's revision.
    pub revision: u64,
    /// What opening the library put right.
    pub healed: Vec<String>,
    /// What the embed scan saw besides photos.
    #[serde(skip)]
    pub scan: Option<String>,
    /// Every input that failed, in any stage.
    #[serde(serialize_with = "crate::stages::failures_json")]
    pub errors: Failures,
}

impl fmt::Display for RunSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.new_cache {
            writeln!(f, "new cache: faces by {}", self.model)?;
        }
        write!(
            f,
            "{} photos ({} images embedded this run, {} faces found this run); {} faces in the \
             cache; {} people; {} new identities; library: {} identities ({} added, {} \
             updated); {} errors",
            self.photos,
            self.embedded,
            self.faces_found,
            self.faces,
            self.people,
            self.new_identities.len(),
            self.identities,
            self.added.len(),
            self.updated.len(),
            self.errors.len()
        )?;
        if let Some(line) = &self.scan {
            write!(f, "\n{line}")?;
        }
        for (name, why) in &self.left_out {
            write!(f, "\n  not exported {name}: {why}")?;
        }
        for (path, message) in &self.errors {
            write!(f, "\n  {}: {message}", path.display())?;
        }
        Ok(())
    }
}

fn left_out_json<S: serde::Serializer>(
    left_out: &[(String, String)],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(
        left_out
            .iter()
            .map(|(name, why)| serde_json::json!({ "identity": name, "why": why })),
    )
}

/// Runs every stage of `options` (see the module docs).
pub fn run(options: &RunOptions, models: &Models, progress: &dyn Progress) -> Result<RunSummary> {
    if !options.src.is_dir() {
        return Err(input(&options.src, "the photo source is not a folder"));
    }
    let layout = RunLayout::new(&options.out);
    std::fs::create_dir_all(&options.out).map_err(|e| {
        input(
            &options.out,
            format!("cannot create the output folder: {e}"),
        )
    })?;
    let step = |n: usize| {
        progress.step(n, STEPS.len(), STEPS.get(n).copied().unwrap_or("done"));
        tracing::info!(
            "step {}/{}: {}",
            n + 1,
            STEPS.len(),
            STEPS.get(n).unwrap_or(&"")
        );
    };

    step(0);
    let mut request = EmbedRequest::new(vec![Source::Tree(options.src.clone())], layout.cache());
    request.pack.clone_from(&options.pack);
    request.options = EmbedOptions {
        tool: format!("{} {}", options.export.writer, env!("CARGO_PKG_VERSION")),
        follow_links: options.follow_links,
        // The report's thumbnails, cut from the images this pass decodes anyway.
        thumbnails: Some(layout.assets()),
        ..request.options
    };
    let mut cache = Cache::open(layout.cache())?;
    let embed_report = embed_into(&request, &mut cache, models, progress)?;
    let (model, new_cache) = (embed_report.model, embed_report.new_cache);
    let embedded: EmbedCounts = embed_report.summary;

    step(1);
    let library = open_library(&layout.swap(), &options.export.writer, progress)?;
    let (distances, origin) =
        crate::models::distances(&cache, Some(&library), &options.export.overrides, progress);
    // New identities on a re-run pass the same gates as the first run's facesets.
    let linking = Linking::chosen(&distances, options.quality_bar, options.apart);
    let refine = RefineOptions {
        min_faces: options.min_faces,
        graph: options.graph,
        linking,
        ..RefineOptions::at(&distances)
    };
    let grow = GrowOptions {
        cluster: ClusterOptions {
            graph: options.graph,
            linking,
            ..ClusterOptions::at(&distances)
        },
        discover: DiscoverOptions::at(&distances, refine.clone()),
        refine,
        extend: ExtendOptions {
            linking,
            ..ExtendOptions::at(&distances)
        },
        materialize: options.materialize,
    };
    let grown = crate::grow::identities(&cache, &layout, &library, &grow, progress)?;

    step(2);
    let duplicates = fs_identities::dedup::find_duplicates(
        &cache,
        &fs_identities::dedup::DedupOptions::default(),
    );
    fs_identities::dedup::write_report(&layout.cache(), &duplicates)?;

    step(3);
    let enriched = enrich(&mut cache, options.pack.as_deref(), models, 50, progress)?;

    step(4);
    let mut settings = options.export.clone();
    settings.swap.candidates = true;
    settings.pack.clone_from(&options.pack);
    let exported: ExportReport = export_at(
        &cache,
        &grown.refine,
        Some(&grown.raw),
        library,
        (distances, origin),
        &settings,
        models,
        progress,
    )?;

    step(5);
    let report = fs_export::report::write_report(&layout.report_paths(), &cache)?;
    step(STEPS.len());

    let changes = &exported.changes;
    let errors: Failures = embedded
        .errors
        .iter()
        .chain(&enriched.errors)
        .chain(&changes.errors)
        .cloned()
        .collect();
    Ok(RunSummary {
        out: options.out.clone(),
        report,
        library: layout.swap(),
        model,
        new_cache,
        photos: embedded.files,
        embedded: embedded.embedded,
        faces_found: embedded.faces,
        faces: cache.stats().faces,
        people: grown.raw.clusters.len(),
        new_identities: grown.discovered,
        identities: exported.identities,
        added: changes.added.clone(),
        updated: changes.updated.clone(),
        left_out: changes.left_out.clone(),
        revision: exported.revision,
        healed: exported.healed,
        scan: embedded.scan_line(),
        errors,
    })
}
