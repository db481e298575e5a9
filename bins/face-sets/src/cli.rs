#![allow(
    clippy::doc_markdown,
    reason = "doc comments here are --help text, shown as written"
)]

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const AFTER_HELP: &str = "\
Exit status: 0 when everything was done; 1 when the command finished but some inputs \
failed (each is listed on stderr and recorded in the cache); 2 when it could not go on \
(bad flags, unreadable cache, missing runtime or models).

Environment: FACE_SETS_MODELS (models directory), ORT_DYLIB_PATH (the ONNX Runtime \
library, e.g. libonnxruntime.so.1.31.1), RUST_LOG (log filter). `cargo xtask setup` \
installs both the runtime and the buffalo_s models.";

/// Sort a photo library by person and build clean, quality-ranked facesets.
#[derive(Debug, Parser)]
#[command(name = "face-sets", version, after_help = AFTER_HELP, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Args)]
pub(crate) struct GlobalArgs {
    /// More logging: -v for debug, -vv for trace (RUST_LOG overrides).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// No progress bars, only errors.
    #[arg(short, long, global = true)]
    pub(crate) quiet: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Detect and embed every face under SOURCE into CACHE (resumable, incremental).
    ///
    /// Scans each SOURCE (a directory, recursively, or a single photo) for JPEG, PNG and
    /// WebP files, hashes them (byte-identical files are embedded once and recorded as
    /// aliases), and runs SCRFD detection and ArcFace embedding on every image the cache
    /// does not hold yet. Results are flushed to CACHE every --flush-every images, so an
    /// interrupted run loses at most that many; run the same command again to resume.
    /// Files that fail are recorded with their error and the run goes on.
    #[command(after_help = AFTER_HELP)]
    Embed(EmbedArgs),
    /// Summarise a cache, or dump it as JSON lines.
    #[command(after_help = AFTER_HELP)]
    Inspect(InspectArgs),
}

#[derive(Debug, Args)]
pub(crate) struct EmbedArgs {
    /// Photo directories or files to embed (none when --list gives them), then the
    /// cache file to create or extend, e.g. `photos/ work/photos.fsc`.
    #[arg(value_name = "SOURCE... CACHE", num_args = 1.., required = true)]
    pub(crate) paths: Vec<PathBuf>,
    /// Also embed the files listed in FILE: one path per line, or a JSON array of paths
    /// (an Immich staging queue.json).
    #[arg(long, value_name = "FILE")]
    pub(crate) list: Option<PathBuf>,
    /// Model pack: a name under the models directory (buffalo_s, buffalo_l) or a
    /// directory of .onnx files. Default: buffalo_l when installed, else buffalo_s.
    #[arg(long, value_name = "PACK|DIR")]
    pub(crate) models: Option<String>,
    /// Side of the square the detector letterboxes each photo into.
    #[arg(long, default_value_t = 640, value_parser = clap::value_parser!(u32).range(64..=4096))]
    pub(crate) det_size: u32,
    /// Inference threads (ONNX Runtime intra-op). Default: all cores.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) threads: Option<u16>,
    /// Threads decoding photos ahead of inference. Default: 1 per 4 cores, at least 1.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) decode_threads: Option<u16>,
    /// Images per durable flush of the cache; a crash loses at most this many.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) flush_every: u32,
    /// Skip the second detection pass that finds faces filling the whole frame (face
    /// chips, thumbnails); detection then behaves exactly like InsightFace.
    #[arg(long)]
    pub(crate) no_recovery: bool,
}

impl EmbedArgs {
    /// The sources: every path but the last.
    pub(crate) fn sources(&self) -> &[PathBuf] {
        &self.paths[..self.paths.len() - 1]
    }

    /// The cache: the last path.
    pub(crate) fn cache(&self) -> &PathBuf {
        self.paths.last().expect("clap requires at least one path")
    }
}

#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// The cache file.
    pub(crate) cache: PathBuf,
    /// One JSON object per line for every image (path, aliases, hash, error, faces with
    /// box, keypoints, score and embedding), then one per unreadable file.
    #[arg(long)]
    pub(crate) json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
