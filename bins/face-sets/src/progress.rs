//! Progress bars on stderr (hidden off a terminal and under --quiet), implementing the
//! library's [`Reporter`].

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use fs_embed::pipeline::{Reporter, Stage};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The bars of one process; log lines are printed through it so they don't tear bars.
#[derive(Clone, Debug)]
pub(crate) struct Bars {
    multi: MultiProgress,
}

impl Bars {
    pub(crate) fn new(quiet: bool) -> Self {
        let target = if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        Self {
            multi: MultiProgress::with_draw_target(target),
        }
    }

    /// A bar for `total` items (a spinner when the total is unknown).
    pub(crate) fn bar(&self, message: &str, total: u64) -> ProgressBar {
        let bar = self.multi.add(ProgressBar::new(total));
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:>9.bold} [{bar:30}] {pos}/{len} {per_sec:.dim} eta {eta:.dim} {wide_msg:.dim}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_message(message.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }

    /// Writes log output without tearing the bars.
    pub(crate) fn write_stderr(&self, buf: &[u8]) -> std::io::Result<()> {
        self.multi
            .suspend(|| std::io::stderr().lock().write_all(buf))
    }

    pub(crate) fn clear(&self) {
        let _ = self.multi.clear();
    }
}

/// One bar per stage of embedding, enrichment or clustering, for the libraries'
/// progress traits.
pub(crate) struct StageProgress<'a> {
    bars: &'a Bars,
    current: Mutex<Option<ProgressBar>>,
}

impl<'a> StageProgress<'a> {
    pub(crate) fn new(bars: &'a Bars) -> Self {
        Self {
            bars,
            current: Mutex::new(None),
        }
    }

    fn start(&self, name: &str, total: u64) {
        *self.current.lock().expect("not poisoned") = Some(self.bars.bar(name, total));
    }

    /// Applies `f` to the current bar, if a stage is running.
    fn with_bar(&self, f: impl FnOnce(&ProgressBar)) {
        if let Some(bar) = &*self.current.lock().expect("not poisoned") {
            f(bar);
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.current.lock().expect("not poisoned").take() {
            bar.finish_and_clear();
        }
    }
}

impl Reporter for StageProgress<'_> {
    fn on_start(&self, stage: Stage, total: u64) {
        let name = match stage {
            Stage::Hash => "hashing",
            Stage::Embed => "embedding",
            Stage::Enrich => "enriching",
        };
        self.start(name, total);
    }

    fn on_item(&self, _stage: Stage, path: &Path) {
        self.with_bar(|bar| {
            bar.inc(1);
            if let Some(name) = path.file_name() {
                bar.set_message(name.to_string_lossy().into_owned());
            }
        });
    }

    fn on_finish(&self, _stage: Stage) {
        self.finish();
    }
}

impl fs_cluster::progress::Progress for StageProgress<'_> {
    fn start(&self, phase: fs_cluster::progress::Phase, total: u64) {
        StageProgress::start(self, phase.label(), total);
    }

    fn advance(&self, units: u64) {
        self.with_bar(|bar| bar.inc(units));
    }

    fn finish(&self, _phase: fs_cluster::progress::Phase) {
        StageProgress::finish(self);
    }
}
