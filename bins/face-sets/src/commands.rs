//! Each subcommand: its flags into the pipeline's options, the call, the summary out
//! (the lines on stderr, `--json` on stdout).

use std::fmt::Display;
use std::io::Write;

use anyhow::Context;
use fs_cache::Cache;
use fs_packs::Locations;
use fs_packs::locations::{MODELS_VARIABLE, RUNTIME_VARIABLE};
use fs_pipeline::stages;
use fs_pipeline::{Models, identities, inspect};
use serde::Serialize;

use crate::ExitStatus;
use crate::cli::{Cli, Command, ImmichCommand, RuntimeFlags};
use crate::progress::{Bars, StageProgress};

pub(crate) fn run(cli: Cli, bars: &Bars) -> anyhow::Result<ExitStatus> {
    let progress = StageProgress::new(bars);
    let p = &progress;
    match cli.command {
        Command::Embed(args) => {
            let request = args.request()?;
            let report = stages::embed(&request, &models(&args.runtime, args.threads), p)?;
            let errors = report.summary.errors.len();
            finish(bars, &report, args.json, errors)
        }
        Command::Inspect(args) => {
            let cache = identities::read_cache(&args.cache)?;
            let mut out = std::io::stdout().lock();
            if args.json {
                for line in inspect::json_lines(&cache) {
                    writeln!(out, "{line}")?;
                }
            } else {
                write!(out, "{}", inspect::Summary(&cache))?;
            }
            Ok(ExitStatus::Success)
        }
        Command::Cluster(args) => {
            let overrides = args.overrides();
            let summary = identities::cluster(
                &args.cache,
                &args.out,
                &overrides,
                args.graph.into(),
                args.link.linking(),
                args.materialize.into(),
                p,
            )?;
            finish(bars, &summary, args.json, 0)
        }
        Command::Refine(args) => {
            let summary = identities::refine(
                &args.cache,
                &args.out,
                &args.options(),
                &args.overrides(),
                args.materialize.into(),
                p,
            )?;
            finish(bars, &summary, false, 0)
        }
        Command::Extend(args) => {
            let summary = identities::extend(
                &args.cache,
                &args.raw_out,
                args.refine_out.as_deref(),
                &args.overrides(),
                args.materialize.into(),
                p,
            )?;
            finish(bars, &summary, false, 0)
        }
        Command::Dedup(args) => {
            let options = fs_identities::dedup::DedupOptions {
                face_similarity: args.face_similarity,
                dhash_bits: args.dhash_bits,
            };
            finish(bars, &identities::dedup(&args.cache, &options)?, false, 0)
        }
        Command::Enrich(args) => {
            let mut cache = Cache::open(&args.cache)
                .with_context(|| format!("cannot open cache {}", args.cache.display()))?;
            let models = models(&args.runtime, args.threads);
            let summary = stages::enrich(
                &mut cache,
                args.models.as_deref(),
                &models,
                args.flush_every as usize,
                p,
            )?;
            let errors = summary.errors.len();
            finish(bars, &summary, false, errors)
        }
        Command::ExportSwap(args) => {
            let summary = stages::export_files(
                &args.cache,
                &args.refine_manifest,
                args.raw_manifest.as_deref(),
                &args.out,
                &args.swap.settings("face-sets export-swap"),
                &models(&args.runtime, None),
                p,
            )?;
            let errors = summary.changes.errors.len();
            finish(bars, &summary, false, errors)
        }
        Command::Run(args) => {
            let options = args.options();
            let summary = options.run(&models(&args.runtime, args.threads), p)?;
            let errors = summary.errors.len();
            let status = finish(bars, &summary, args.json, errors)?;
            if !args.json {
                writeln!(std::io::stdout(), "{}", summary.report.display())?;
            }
            Ok(status)
        }
        Command::Report(args) => {
            writeln!(
                std::io::stdout(),
                "{}",
                stages::report(&args.out)?.display()
            )?;
            Ok(ExitStatus::Success)
        }
        Command::Review(args) => review(&args, p),
        Command::Calibrate(args) => calibrate(&args, p),
        Command::Setup(args) => {
            let options = args.options();
            #[expect(clippy::print_stderr, reason = "setup's progress, line by line")]
            fs_setup::setup(&options, &|line| eprintln!("{line}"))?;
            Ok(ExitStatus::Success)
        }
        Command::Immich(ImmichCommand::Stage(args)) => {
            let key = std::env::var("IMMICH_API_KEY")
                .ok()
                .filter(|k| !k.trim().is_empty())
                .context("IMMICH_API_KEY is not set (the key is only read from the environment)")?;
            let options = args.options()?;
            let client = fs_immich::client::Client::new(&args.url, &key);
            let result = fs_immich::stage::stage(&client, &options, p);
            let summary = result?;
            let errors = summary.errors.len();
            finish(bars, &summary, false, errors)?;
            let queue = options.user_dir().join(fs_immich::stage::QUEUE_FILE);
            let q = queue.display();
            writeln!(
                std::io::stderr(),
                "queue: {q} (embed it with `face-sets embed --list {q} CACHE`)"
            )?;
            Ok(if errors == 0 {
                ExitStatus::Success
            } else {
                ExitStatus::PartialFailure
            })
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            // Into a buffer first: the generator panics on a closed pipe.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "face-sets", &mut script);
            std::io::stdout().lock().write_all(&script)?;
            Ok(ExitStatus::Success)
        }
        Command::Man => {
            use clap::CommandFactory;
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout().lock())?;
            Ok(ExitStatus::Success)
        }
    }
}

/// Where the runtime and the packs are: this process's variables, else the defaults.
pub(crate) fn locations() -> Locations {
    Locations::with_overrides(
        std::env::var_os(MODELS_VARIABLE),
        std::env::var_os(RUNTIME_VARIABLE),
    )
}

/// The models of `runtime`'s provider on `threads` threads (every core by default).
fn models(runtime: &RuntimeFlags, threads: Option<u16>) -> Models {
    Models {
        locations: locations(),
        provider: runtime.provider,
        threads: threads.map_or(0, usize::from),
    }
}

/// Prints `summary` on stderr (and as JSON on stdout with `json`); the exit status
/// says whether any of its inputs failed.
fn finish(
    bars: &Bars,
    summary: &(impl Display + Serialize),
    json: bool,
    errors: usize,
) -> anyhow::Result<ExitStatus> {
    bars.clear();
    writeln!(std::io::stderr(), "{summary}")?;
    if json {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer(&mut out, summary)?;
        out.write_all(b"\n")?;
    }
    Ok(if errors == 0 {
        ExitStatus::Success
    } else {
        ExitStatus::PartialFailure
    })
}

fn calibrate(
    args: &crate::cli::CalibrateArgs,
    p: &StageProgress<'_>,
) -> anyhow::Result<ExitStatus> {
    let cache = identities::read_cache(&args.cache)?;
    let library = args
        .write
        .as_deref()
        .map(|dir| stages::open_library(dir, "face-sets calibrate", p))
        .transpose()?;
    let measured = match &args.labels {
        Some(file) => {
            let labels = fs_pipeline::calibrate::read_labels(file)?;
            let gathered = fs_pipeline::calibrate::gather_labelled(&cache, &labels);
            let rate = args.false_match_rate;
            fs_pipeline::calibrate::measure_gathered(&cache, gathered, rate, library.as_ref())
                .with_context(|| format!("the labels of {}", file.display()))?
        }
        None => fs_pipeline::calibrate::measure(
            &cache,
            &args.folders,
            args.false_match_rate,
            library.as_ref(),
        )
        .with_context(|| format!("{} labelled folders", args.folders.len()))?,
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{:#}", measured.to_json())?;
    } else {
        writeln!(out, "{measured}")?;
    }
    let mut err = std::io::stderr().lock();
    for warning in measured.warnings(&args.cache) {
        writeln!(err, "warning: {warning}")?;
    }
    if let Some(mut library) = library {
        let dir = library.dir().display().to_string();
        measured
            .keep(&cache, &mut library, args.force)
            .context("the calibration is not kept (pass --force to keep it anyway)")?;
        writeln!(
            err,
            "kept as the distance defaults of {dir} (export-swap and run use them; flags override)"
        )?;
    }
    Ok(ExitStatus::Success)
}

fn review(args: &crate::cli::ReviewArgs, p: &StageProgress<'_>) -> anyhow::Result<ExitStatus> {
    let models = Models {
        locations: locations(),
        ..Models::default()
    };
    // A decision waits a few seconds at most for another writer (a `run`), then the
    // page says the library is busy and nothing changed.
    let wait = std::time::Duration::from_secs(10);
    let inputs = fs_pipeline::review::open(
        &args.out,
        args.cache.as_deref(),
        !args.no_crop_check,
        wait,
        &models,
        p,
    )?;
    let thumbnails = match &args.thumbnails {
        Some(dir) => dir.clone(),
        None => dirs::cache_dir()
            .map(|d| d.join("face-sets").join("thumbnails"))
            .context("no cache folder for thumbnails here: give one with --thumbnails")?,
    };
    let dir = inputs.dir.clone();
    let server = fs_review::Server::start(fs_review::Config {
        library: inputs.library,
        cache: inputs.cache,
        raw: inputs.raw,
        thumbnails,
        port: args.port,
        options: inputs.options,
    })
    .with_context(|| format!("cannot serve {}", dir.display()))?;
    writeln!(std::io::stdout(), "{}", server.url())?;
    fs_progress::Progress::note(p, &format!("reviewing {} (Ctrl-C to stop)", dir.display()));
    if !args.no_open {
        fs_review::open_in_browser(server.url());
    }
    server.wait();
    Ok(ExitStatus::Success)
}
