//! One module per subcommand.

mod embed;
mod identities;
mod immich;
mod inspect;
mod pipeline;

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
        Command::Immich(crate::cli::ImmichCommand::Stage(args)) => immich::stage(&args, bars),
    }
}

/// Loads ONNX Runtime and resolves the model pack (`--models`, else the default).
pub(crate) fn load_pack(models: Option<&str>) -> anyhow::Result<fs_embed::pack::ModelPack> {
    let locations = fs_embed::locations::Locations::from_env();
    fs_detect::runtime::init(&locations.runtime)?;
    Ok(match models {
        Some(name) => fs_embed::pack::ModelPack::resolve(&locations.models, name)?,
        None => fs_embed::pack::ModelPack::from_dir(locations.default_pack())?,
    })
}

/// `--threads`, or every core.
pub(crate) fn threads(flag: Option<u16>) -> usize {
    flag.map_or_else(
        || std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
        usize::from,
    )
}
