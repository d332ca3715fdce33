//! The human format, in the style of rustc and ruff (`tests/snapshots/example-shop.txt` holds the
//! example package's whole output):
//!
//! ```text
//! examples/shop/cache.go:45:8: error[mutex-defer-lock] `defer c.mu.Lock()` locks `c.mu` again at return while it is still held: this should be `defer c.mu.Unlock()`
//!    |
//! 45 |     defer c.mu.Lock()
//!    |           ^^^^^^^^^^^
//!    = note: examples/shop/cache.go:44:2: `c.mu` was locked here (line 44)
//!    = help: fix available: Change to `defer c.mu.Unlock()`
//! ```

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};

use goconc_analysis::Severity;

use super::Positions;
use crate::check::{plural, Report};
use crate::ColorChoice;

/// Tabs are shown as this many spaces so that the caret lines up in every terminal.
const TAB_WIDTH: usize = 4;

/// Color on a terminal; `NO_COLOR` (any non-empty value) turns it off, `CLICOLOR_FORCE` turns
/// it on when stdout is not a terminal; `--color always|never` wins over both.
pub fn use_color(choice: ColorChoice) -> bool {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            !set("NO_COLOR") && (set("CLICOLOR_FORCE") || std::io::stdout().is_terminal())
        }
    }
}

struct Style {
    color: bool,
}

impl Style {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    fn severity_code(severity: Severity) -> &'static str {
        match severity {
            Severity::Error => "1;31",
            Severity::Warning => "1;33",
            Severity::Info => "1;34",
            Severity::Hint => "1;36",
        }
    }
}

/// Expands tabs to spaces.
fn expand(s: &str) -> String {
    s.replace('\t', &" ".repeat(TAB_WIDTH))
}

/// The display width of a line prefix (tabs expanded, one column per character).
fn width(s: &str) -> usize {
    s.chars()
        .map(|c| if c == '\t' { TAB_WIDTH } else { 1 })
        .sum()
}

pub fn print(report: &Report, color: bool) -> std::io::Result<()> {
    let style = Style { color };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for file in &report.files {
        if file.findings.is_empty() {
            continue;
        }
        let positions = Positions::new(&file.text);
        for finding in &file.findings {
            let (start, _) = positions.range(&finding.range);
            let sev = finding.severity;
            let code = Style::severity_code(sev);
            writeln!(
                out,
                "{}: {}{} {}",
                style.paint(
                    "1",
                    &format!("{}:{}:{}", file.path, start.line, start.column)
                ),
                style.paint(code, sev.as_str()),
                style.paint(code, &format!("[{}]", finding.rule)),
                style.paint("1", &finding.message),
            )?;
            if let Some((line_text, line_range)) = positions.line(start.line) {
                let gutter = start.line.to_string().len();
                let pad = " ".repeat(gutter);
                let bar = style.paint("1;34", "|");
                let caret_start =
                    finding.range.start.clamp(line_range.start, line_range.end) - line_range.start;
                let caret_end =
                    finding.range.end.clamp(line_range.start, line_range.end) - line_range.start;
                let before = line_text.get(..caret_start).unwrap_or("");
                let under = line_text.get(caret_start..caret_end).unwrap_or("");
                let carets = "^".repeat(width(under).max(1));
                writeln!(out, "{pad} {bar}")?;
                writeln!(
                    out,
                    "{} {bar} {}",
                    style.paint("1;34", &start.line.to_string()),
                    expand(line_text).trim_end()
                )?;
                writeln!(
                    out,
                    "{pad} {bar} {}{}",
                    " ".repeat(width(before)),
                    style.paint(code, &carets)
                )?;
                for related in &finding.related {
                    let at = positions.pos(related.range.start);
                    writeln!(
                        out,
                        "{pad} {} {}: {}:{}:{}: {}",
                        style.paint("1;34", "="),
                        style.paint("1", "note"),
                        file.path,
                        at.line,
                        at.column,
                        related.message
                    )?;
                }
                for fix in finding.fixes.iter().take(1) {
                    writeln!(
                        out,
                        "{pad} {} {}: fix available: {}",
                        style.paint("1;34", "="),
                        style.paint("1", "help"),
                        fix.title
                    )?;
                }
            }
            writeln!(out)?;
        }
    }
    writeln!(out, "{}", summary(report))?;
    out.flush()
}

/// `3 findings (1 error, 2 warnings) in 12 files; 2 fixable with --fix`, or `no findings in 12 files`.
pub fn summary(report: &Report) -> String {
    let files = plural(report.files.len(), "file");
    let total = report.findings().count();
    if total == 0 {
        return format!("no findings in {files}");
    }
    let mut by_severity: BTreeMap<std::cmp::Reverse<Severity>, usize> = BTreeMap::new();
    for (_, f) in report.findings() {
        *by_severity
            .entry(std::cmp::Reverse(f.severity))
            .or_default() += 1;
    }
    let parts: Vec<String> = by_severity
        .iter()
        .map(|(s, n)| plural(*n, s.0.as_str()))
        .collect();
    let fixable = report
        .findings()
        .filter(|(_, f)| !f.fixes.is_empty())
        .count();
    let mut line = format!(
        "{} ({}) in {files}",
        plural(total, "finding"),
        parts.join(", ")
    );
    if fixable > 0 {
        line.push_str(&format!("; {fixable} fixable with --fix"));
    }
    line
}
