//! Progress bars for long work (an import, an analysis run, the demo, an export): drawn on
//! stderr, and only when stderr is a terminal — a log file or a pipe gets nothing from them.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar of `len` steps laid out by `template` (indicatif's syntax), or `None` when stderr is
/// not a terminal.
pub fn bar(len: u64, template: &str) -> Option<ProgressBar> {
    std::io::stderr().is_terminal().then(|| styled(len, template))
}

/// The bar whatever stderr is (the caller has decided to draw one).
pub fn styled(len: u64, template: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    bar.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()));
    bar
}
