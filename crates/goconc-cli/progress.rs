//! A progress bar on the terminal for runs over many files: on stderr, and only when both
//! stdout and stderr are terminals (never in a pipe, a file or CI's log), so that nothing but
//! the report reaches what reads goconc's output.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Runs over fewer files than this finish before a bar would be worth reading.
pub const MIN_FILES: usize = 200;

/// A bar counting `files`, or a hidden one.
pub fn bar(files: usize) -> ProgressBar {
    let terminal = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
    if !terminal || files < MIN_FILES {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(files as u64), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} checking {bar:30} {pos}/{len} files {elapsed}")
    {
        bar.set_style(style);
    }
    bar
}
