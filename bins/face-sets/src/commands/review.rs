//! `face-sets review`: serve the review page until interrupted.

use anyhow::Context;
use fs_export::swap::SWAP_MANIFEST;

use crate::ExitStatus;
use crate::cli::ReviewArgs;

/// The library folder inside a `run` output.
const LIBRARY: &str = "facesets_swap_ready";

pub(crate) fn run(args: &ReviewArgs) -> anyhow::Result<ExitStatus> {
    let holds = |dir: &std::path::Path| {
        dir.join(SWAP_MANIFEST).is_file() || dir.join(fs_library::DATABASE).is_file()
    };
    let library = if holds(&args.out.join(LIBRARY)) {
        args.out.join(LIBRARY)
    } else if holds(&args.out) {
        args.out.clone()
    } else {
        anyhow::bail!(
            "{} holds no library (no {LIBRARY}/{SWAP_MANIFEST}): give the folder `face-sets run` wrote",
            args.out.display()
        );
    };
    let cache = if let Some(cache) = &args.cache {
        cache.clone()
    } else {
        let beside = args.out.join("cache.fsc");
        anyhow::ensure!(
            beside.is_file(),
            "no cache at {}: give the one the library's faces come from with --cache",
            beside.display()
        );
        beside
    };
    let cache = fs_cache::Cache::open_read_only(&cache)
        .with_context(|| format!("cannot read the cache {}", cache.display()))?;
    // A decision waits a few seconds at most for another writer (a `run`), then the
    // page says the library is busy and nothing changed.
    let mut opened = super::open_named(&library, "review")?
        .with_busy_timeout(std::time::Duration::from_secs(10));
    // Each identity is exported again with the settings it recorded; these are for
    // identities from before settings were recorded: the library's distances.
    let (distances, _) = opened.distances_for(cache.model());
    let options = fs_export::swap::SwapOptions::at(&distances);
    let checked = opened
        .entries()
        .any(|e| e.exported_with.as_ref().is_some_and(|s| s.crop_check));
    if checked && !args.no_crop_check {
        opened = opened.with_crop_check(
            fs_library::crop_check_for(&cache, &fs_library::Locations::from_env(), 0).context(
                "identities here were exported with the roop crop check, which needs the \
                 detector: run `face-sets setup`, or pass --no-crop-check",
            )?,
        );
    }
    let raw = args.out.join("raw").join(fs_export::manifest::RAW_MANIFEST);
    let thumbnails = match &args.thumbnails {
        Some(dir) => dir.clone(),
        None => dirs::cache_dir()
            .map(|d| d.join("face-sets").join("thumbnails"))
            .context("no cache folder for thumbnails here: give one with --thumbnails")?,
    };
    let server = fs_review::Server::start(fs_review::Config {
        library: opened,
        cache,
        raw: raw.is_file().then_some(raw),
        thumbnails,
        port: args.port,
        options,
    })
    .with_context(|| format!("cannot serve {}", library.display()))?;
    #[expect(clippy::print_stdout, reason = "the address is the command's output")]
    {
        println!("{}", server.url());
    }
    super::notice(&format!("reviewing {} (Ctrl-C to stop)", library.display()))?;
    if !args.no_open {
        open_browser(server.url());
    }
    server.wait();
    Ok(ExitStatus::Success)
}

/// Opens `url` in the desktop's browser; when there is none, the printed address is
/// enough.
fn open_browser(url: &str) {
    let opener: &[&str] = if cfg!(target_os = "macos") {
        &["open"]
    } else if cfg!(windows) {
        &["cmd", "/C", "start", ""]
    } else {
        &["xdg-open"]
    };
    let started = std::process::Command::new(opener[0])
        .args(&opener[1..])
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Err(e) = started {
        tracing::debug!("no browser opened ({e}); open the address by hand");
    }
}
