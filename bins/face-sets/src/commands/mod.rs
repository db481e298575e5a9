//! One module per subcommand.

mod calibrate;
mod embed;
mod identities;
mod immich;
mod inspect;
mod pipeline;
mod review;

use fs_detect::provider::{Choice, Provider};
use fs_packs::Thresholds;
use fs_packs::thresholds::{Family, Origin};

use crate::ExitStatus;
use crate::cli::{Cli, Command};
use crate::progress::Bars;

pub(crate) fn run(cli: Cli, bars: &Bars) -> anyhow::Result<ExitStatus> {
    match cli.command {
        Command::Embed(args) => embed::run(&args, bars),
        Command::Inspect(args) => inspect::run(&args),
        Command::Cluster(args) => identities::cluster(&args, bars),
        Command::Refine(args) => identities::refine(&args, bars),
        Command::Extend(args) => identities::extend(&args),
        Command::Dedup(args) => identities::dedup(&args),
        Command::Enrich(args) => pipeline::enrich(&args, bars),
        Command::ExportSwap(args) => pipeline::export_swap(&args),
        Command::Run(args) => pipeline::run(&args, bars),
        Command::Report(args) => pipeline::report(&args),
        Command::Review(args) => review::run(&args),
        Command::Calibrate(args) => calibrate::run(&args),
        Command::Setup(args) => setup(args),
        Command::Immich(crate::cli::ImmichCommand::Stage(args)) => immich::stage(&args, bars),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            // Into a buffer first: the generator panics on a closed pipe.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "face-sets", &mut script);
            std::io::Write::write_all(&mut std::io::stdout().lock(), &script)?;
            Ok(ExitStatus::Success)
        }
        Command::Man => {
            use clap::CommandFactory;
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout().lock())?;
            Ok(ExitStatus::Success)
        }
    }
}

/// `face-sets setup`: what `cargo xtask setup` does, from the release binary.
fn setup(args: crate::cli::SetupArgs) -> anyhow::Result<ExitStatus> {
    let options = fs_setup::SetupOptions {
        home: args.home,
        buffalo_s: args.buffalo_s,
        buffalo_l: args.buffalo_l,
        gpu: args.gpu,
        index_url: args.index_url,
    };
    #[expect(clippy::print_stderr, reason = "setup's progress, line by line")]
    fs_setup::setup(&options, &|line| eprintln!("{line}"))?;
    Ok(ExitStatus::Success)
}

/// Whether `--quiet` asked for no notices (the summaries and errors still print).
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub(crate) fn set_quiet(quiet: bool) {
    QUIET.store(quiet, std::sync::atomic::Ordering::Relaxed);
}

/// A notice on stderr (which provider, which distances), unless `--quiet`.
pub(crate) fn notice(line: &str) -> std::io::Result<()> {
    use std::io::Write;
    if QUIET.load(std::sync::atomic::Ordering::Relaxed) {
        return Ok(());
    }
    writeln!(std::io::stderr(), "{line}")
}

/// Loads ONNX Runtime for `choice` and selects the execution provider, saying on
/// stderr which one runs (and, for `auto`, why no GPU did).
pub(crate) fn start_runtime(choice: Choice) -> anyhow::Result<Provider> {
    let selected = fs_detect::runtime::start(&fs_embed::locations::Locations::from_env(), choice)?;
    let failed: Vec<String> = selected
        .passed_over
        .iter()
        .filter(|(_, why)| why != fs_detect::runtime::NOT_BUILT_IN)
        .map(|(p, why)| format!("{p}: {why}"))
        .collect();
    let note = match (choice, failed.is_empty(), selected.provider) {
        (Choice::Only(_), ..) => String::new(),
        (Choice::Auto, true, Provider::Cpu) => {
            " (auto: no GPU provider in this ONNX Runtime; `face-sets setup --gpu cuda` \
             installs one)"
                .into()
        }
        (Choice::Auto, true, _) => " (auto)".into(),
        (Choice::Auto, false, _) => format!(" (auto; passed over {})", failed.join("; ")),
    };
    notice(&format!("execution provider: {}{note}", selected.provider))?;
    Ok(selected.provider)
}

/// Loads ONNX Runtime on `choice`'s provider and resolves the model pack: `--models`,
/// else the pack that made the cache (so installing another pack never changes what
/// an existing cache uses), else the default for new caches.
pub(crate) fn load_pack(
    models: Option<&str>,
    cache_model: Option<&fs_cache::ModelId>,
    choice: Choice,
) -> anyhow::Result<fs_embed::pack::ModelPack> {
    let locations = fs_embed::locations::Locations::from_env();
    start_runtime(choice)?;
    Ok(match (models, cache_model) {
        (Some(name), _) => fs_embed::pack::ModelPack::resolve(&locations.models, name)?,
        (None, Some(model)) => fs_embed::pack::ModelPack::from_dir(
            locations.pack_for(Some(&model.pack)),
        )
        .map_err(|e| {
            anyhow::anyhow!(
                "the cache was made by {model}, whose pack is not installed ({e}); \
                     install it or pass --models DIR"
            )
        })?,
        (None, None) => fs_embed::pack::ModelPack::from_dir(locations.pack_for(None))?,
    })
}

/// Writes `summary` to stdout as one line of JSON (`--json`).
pub(crate) fn print_json(summary: &serde_json::Value) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, summary)?;
    std::io::Write::write_all(&mut out, b"\n")
}

/// Failed inputs as JSON: `[{"path": …, "error": …}]`.
pub(crate) fn errors_json<'a>(
    errors: impl IntoIterator<Item = &'a (std::path::PathBuf, String)>,
) -> serde_json::Value {
    errors
        .into_iter()
        .map(|(path, error)| serde_json::json!({ "path": path, "error": error }))
        .collect()
}

/// The library in `dir`, opened for `command` (named in its lock while it writes; a
/// second writer waits for it, saying so on stderr), with what opening healed said.
pub(crate) fn open_named(
    dir: &std::path::Path,
    command: &str,
) -> anyhow::Result<fs_library::Library> {
    let library = fs_library::Library::open(dir)?
        .with_writer_name(format!("face-sets {command}"))
        .with_busy_notice(|holder| {
            let _ = std::io::Write::write_fmt(
                &mut std::io::stderr(),
                format_args!("library busy: {holder}; waiting for it to finish\n"),
            );
        });
    for line in library.healed() {
        notice(&format!("library: {line}"))?;
    }
    Ok(library)
}

/// The library in `dir`, opened for `command`, re-detecting its crops with the
/// detector `check` loads unless the flags say not to (then no model is loaded at all).
pub(crate) fn open_library(
    dir: &std::path::Path,
    command: &str,
    flags: &crate::cli::SwapFlags,
    check: impl FnOnce() -> anyhow::Result<fs_export::swap::CropCheck>,
) -> anyhow::Result<fs_library::Library> {
    let library = open_named(dir, command)?
        .with_busy_timeout(std::time::Duration::from_secs(flags.lock_timeout));
    Ok(if flags.no_crop_check {
        library
    } else {
        library.with_crop_check(check()?)
    })
}

/// Says on stderr which models a cache's new faces come from, once, when it is new.
pub(crate) fn announce_new_cache(
    cache: &std::path::Path,
    model: &fs_cache::ModelId,
) -> std::io::Result<()> {
    use std::io::Write;
    writeln!(
        std::io::stderr(),
        "new cache {}: faces by {model} (choose another pack with --models)",
        cache.display()
    )
}

/// The distance defaults for a cache's embeddings: `library`'s calibrated ones for its
/// model, else the table of the pack whose recogniser made them (a cache that records
/// no model is taken to be the default pack's).
pub(crate) fn default_distances(
    cache: &fs_cache::Cache,
    library: Option<&fs_library::Library>,
) -> (Thresholds, Origin) {
    match library {
        Some(library) => library.distances_for(cache.model()),
        None => fs_library::pack_distances(cache.model()),
    }
}

/// [`default_distances`], said on stderr (which values, and where they come from).
pub(crate) fn announced_distances(
    cache: &fs_cache::Cache,
    library: Option<&fs_library::Library>,
) -> std::io::Result<(Thresholds, Origin)> {
    let (values, origin) = default_distances(cache, library);
    let listed: Vec<String> = Family::ALL
        .iter()
        .map(|f| format!("{} {:.2}", f.name(), values.get(*f)))
        .collect();
    notice(&format!(
        "distances: {} ({}; flags override)",
        listed.join(", "),
        origin
    ))?;
    Ok((values, origin))
}

/// `--threads`, or every core.
pub(crate) fn threads(flag: Option<u16>) -> usize {
    flag.map_or_else(
        || std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
        usize::from,
    )
}
