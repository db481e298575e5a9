//! One module per subcommand.

mod embed;
mod inspect;

use crate::ExitStatus;
use crate::cli::{Cli, Command};
use crate::progress::Bars;

pub(crate) fn run(cli: Cli, bars: &Bars) -> anyhow::Result<ExitStatus> {
    match cli.command {
        Command::Embed(args) => embed::run(&args, bars),
        Command::Inspect(args) => inspect::run(&args),
    }
}
