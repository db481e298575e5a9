//! Logging through `tracing`, to stderr, around the progress bars.

use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

use crate::cli::GlobalArgs;
use crate::progress::Bars;

/// Installs the subscriber: warnings by default, `-v` debug and `-vv` trace for our
/// crates, `--quiet` errors only; `RUST_LOG` overrides all of it.
pub(crate) fn init(global: &GlobalArgs, bars: &Bars) {
    let ours = match (global.quiet, global.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let default = if global.quiet {
        "error".to_string()
    } else {
        format!(
            "warn,ort=warn,face_sets={ours},fs_cache={ours},fs_detect={ours},fs_embedder={ours},fs_quality={ours}"
        )
    };
    // `target=level` directives, comma-separated (RUST_LOG's common form; a value
    // that does not parse leaves the default in force).
    let from_env = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<Targets>().ok());
    let filter = from_env.unwrap_or_else(|| default.parse().expect("the default filter parses"));
    // Colour only on a terminal: logs redirected to a file stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_ansi(ansi)
        .with_writer(BarWriter(bars.clone()))
        .with_target(global.verbose > 0)
        .without_time()
        .finish()
        .with(filter)
        .init();
}

#[derive(Clone)]
struct BarWriter(Bars);

impl std::io::Write for BarWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write_stderr(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BarWriter {
    type Writer = BarWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
