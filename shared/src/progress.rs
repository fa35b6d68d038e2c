//! What the binaries tell the user while they work: a progress bar on a terminal (indicatif),
//! with messages printed above it, or plain lines on stderr when stderr is not a terminal
//! (logs, CI). Every "skipped this file" warning goes through [`Console::skipped`].

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;

/// Called once per skipped item with its path and the reason, from any thread:
/// [`Console::reporter`] prints it; tests collect it.
pub type Reporter = Arc<dyn Fn(&Path, &str) + Send + Sync>;

/// A progress bar and the messages printed above it. Cheap to clone (clones share the bar);
/// `Send + Sync`, so loader and encoder threads report through it too.
#[derive(Debug, Clone)]
pub struct Console {
    bar: ProgressBar,
}

impl Console {
    /// A bar of `len` units drawn with an indicatif `template`, starting at `done`; hidden
    /// when stderr is not a terminal.
    fn with_template(len: Option<u64>, done: u64, template: &str) -> Self {
        if !std::io::stderr().is_terminal() {
            return Console::hidden();
        }
        let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr());
        bar.set_style(ProgressStyle::with_template(template).expect("static template"));
        bar.set_position(done);
        Console { bar }
    }

    /// Training steps: `step 120/1500 [elapsed < ETA] <message>`, starting at step `done`.
    pub fn steps(total: u64, done: u64) -> Self {
        Self::with_template(Some(total), done, "{spinner} step {pos}/{len} [{elapsed_precise} < {eta_precise}] {msg}")
    }

    /// Frames of a folder or video (`len` when known): bar, count, ETA and frames/s.
    pub fn frames(len: Option<u64>) -> Self {
        Self::with_template(len, 0, "{bar:30} {pos}/{len} frames [{elapsed_precise} < {eta_precise}] {per_sec}")
    }

    /// No bar: every message is a plain line on stderr.
    pub fn hidden() -> Self {
        Console { bar: ProgressBar::hidden() }
    }

    /// Whether messages go out as plain lines (no bar is drawn).
    pub fn is_plain(&self) -> bool {
        self.bar.is_hidden()
    }

    /// Prints `msg` above the bar, or as a line on stderr.
    pub fn say(&self, msg: &str) {
        if self.bar.is_hidden() {
            eprintln!("{msg}");
        } else {
            self.bar.println(msg);
        }
    }

    /// Reports a file that was skipped and why: `warning: skipped PATH: WHY` (the path once,
    /// see [`crate::error::about`]).
    pub fn skipped(&self, path: &Path, why: &str) {
        self.say(&format!("warning: skipped {}", crate::error::about(path, why)));
    }

    /// A [`Reporter`] that prints through [`Console::skipped`].
    pub fn reporter(&self) -> Reporter {
        let console = self.clone();
        Arc::new(move |path: &Path, why: &str| console.skipped(path, why))
    }

    /// The bar (to advance it, or set its message).
    pub fn bar(&self) -> &ProgressBar {
        &self.bar
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
