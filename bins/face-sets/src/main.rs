//! `face-sets`: sort a photo library by person.
//!
//! The binary parses flags, sets up logging and progress, calls the library crates and
//! maps the outcome to an exit code (0 all done, 1 done but some inputs failed, 2 could
//! not go on).

mod cli;
mod commands;
mod logging;
mod progress;

use std::process::ExitCode;

use clap::Parser;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExitStatus {
    /// Everything was done.
    Success,
    /// Done, but some inputs failed (they are listed on stderr and in the cache).
    PartialFailure,
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        match status {
            ExitStatus::Success => ExitCode::SUCCESS,
            ExitStatus::PartialFailure => ExitCode::from(1),
        }
    }
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let multi = progress::Bars::new(cli.global.quiet);
    logging::init(&cli.global, &multi);
    match commands::run(cli, &multi) {
        Ok(status) => status.into(),
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            multi.clear();
            #[expect(clippy::print_stderr, reason = "the one place errors reach the user")]
            {
                eprintln!("error: {err:#}");
            }
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
