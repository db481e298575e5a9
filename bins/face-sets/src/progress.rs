//! Progress bars on stderr (hidden off a terminal and under --quiet), implementing the
//! libraries' [`fs_progress::Progress`].

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use fs_progress::Phase;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The bars of one process; log lines are printed through it so they don't tear bars.
#[derive(Clone, Debug)]
pub(crate) struct Bars {
    multi: MultiProgress,
    /// `--quiet`: no bars and no notes.
    quiet: bool,
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
            quiet,
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

/// The libraries' [`fs_progress::Progress`] as bars: one for the steps of a `run`, one
/// for the phase under way (embedding, linkage, staging).
pub(crate) struct StageProgress<'a> {
    bars: &'a Bars,
    steps: Mutex<Option<ProgressBar>>,
    current: Mutex<Option<ProgressBar>>,
}

impl<'a> StageProgress<'a> {
    pub(crate) fn new(bars: &'a Bars) -> Self {
        Self {
            bars,
            steps: Mutex::new(None),
            current: Mutex::new(None),
        }
    }

    /// Applies `f` to the current bar, if a stage is running.
    fn with_bar(&self, f: impl FnOnce(&ProgressBar)) {
        if let Some(bar) = &*self.current.lock().expect("not poisoned") {
            f(bar);
        }
    }
}

impl fs_progress::Progress for StageProgress<'_> {
    fn step(&self, index: usize, count: usize, name: &str) {
        let mut steps = self.steps.lock().expect("not poisoned");
        let bar = steps.get_or_insert_with(|| self.bars.bar("stages", count as u64));
        bar.set_position(index as u64);
        bar.set_message(name.to_string());
        if index >= count {
            // Past the last step: the command is done.
            if let Some(bar) = steps.take() {
                bar.finish_and_clear();
            }
        }
    }

    fn start(&self, phase: Phase, total: u64) {
        *self.current.lock().expect("not poisoned") = Some(self.bars.bar(phase.label(), total));
    }

    fn advance(&self, units: u64) {
        self.with_bar(|bar| bar.inc(units));
    }

    fn done(&self, item: &Path) {
        self.with_bar(|bar| {
            bar.inc(1);
            if let Some(name) = item.file_name() {
                bar.set_message(name.to_string_lossy().into_owned());
            }
        });
    }

    fn finish(&self, _phase: Phase) {
        if let Some(bar) = self.current.lock().expect("not poisoned").take() {
            bar.finish_and_clear();
        }
    }

    fn note(&self, line: &str) {
        if !self.bars.quiet {
            let _ = self.bars.write_stderr(format!("{line}\n").as_bytes());
        }
    }
}
