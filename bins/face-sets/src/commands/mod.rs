//! One module per subcommand.

mod embed;
mod identities;
mod inspect;

use crate::ExitStatus;
use crate::cli::{Cli, Command};
use crate::progress::Bars;

pub(crate) fn run(cli: Cli, bars: &Bars) -> anyhow::Result<ExitStatus> {
    match cli.command {
        Command::Embed(args) => embed::run(&args, bars),
        Command::Inspect(args) => inspect::run(&args),
        Command::Cluster(args) => identities::cluster(&args),
        Command::Refine(args) => identities::refine(&args),
        Command::Extend(args) => identities::extend(&args),
        Command::Dedup(args) => identities::dedup(&args),
    }
}
