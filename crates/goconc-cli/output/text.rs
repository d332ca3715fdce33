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
use std::ops::Range;

use goconc_analysis::{Applicability, Severity};

use super::Positions;
use crate::check::{plural, Report};
use crate::discover::path_bytes;
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

    /// `bytes` in the color `code`, written as they are (a file name that is not UTF-8 is printed
    /// with its own bytes, as ripgrep does).
    fn write_painted(&self, out: &mut dyn Write, code: &str, bytes: &[u8]) -> std::io::Result<()> {
        if self.color {
            write!(out, "\x1b[{code}m")?;
        }
        out.write_all(bytes)?;
        if self.color {
            write!(out, "\x1b[0m")?;
        }
        Ok(())
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

/// A source line longer than this many columns is shown cut around the caret (50 findings on a
/// 1 MB line must not print 50 MB).
const MAX_SHOWN_COLUMNS: usize = 120;
/// Columns of the line kept before the caret when it is cut.
const COLUMNS_BEFORE_CARET: usize = 40;
/// Marks where a shown line was cut.
const ELLIPSIS: &str = "...";

fn char_width(c: char) -> usize {
    if c == '\t' {
        TAB_WIDTH
    } else {
        1
    }
}

/// The display width of a line prefix (tabs expanded, one column per character).
fn width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

/// Expands tabs to spaces.
fn expand(s: &str) -> String {
    s.replace('\t', &" ".repeat(TAB_WIDTH))
}

/// What is shown of a source line: its text (tabs expanded, cut when long), and where the caret
/// goes in it (0-based column and width, at least 1).
#[derive(Debug, PartialEq, Eq)]
struct Excerpt {
    text: String,
    caret_column: usize,
    caret_width: usize,
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The line as shown under a finding whose range covers `caret` (byte offsets in `line`). Work
/// and output are bounded by [`MAX_SHOWN_COLUMNS`], whatever the line's length.
fn excerpt(line: &str, caret: Range<usize>) -> Excerpt {
    let start = floor_char_boundary(line, caret.start);
    let end = floor_char_boundary(line, caret.end).max(start);
    let short = line
        .chars()
        .scan(0, |columns, c| {
            *columns += char_width(c);
            Some(*columns)
        })
        .all(|columns| columns <= MAX_SHOWN_COLUMNS);
    if short {
        return Excerpt {
            text: expand(line).trim_end().to_string(),
            caret_column: width(&line[..start]),
            caret_width: width(&line[start..end]).max(1),
        };
    }
    // Back from the caret, up to COLUMNS_BEFORE_CARET columns.
    let mut from = start;
    let mut before = 0;
    for (i, c) in line[..start].char_indices().rev() {
        if before + char_width(c) > COLUMNS_BEFORE_CARET {
            break;
        }
        before += char_width(c);
        from = i;
    }
    let prefix = if from > 0 { ELLIPSIS } else { "" };
    // Forward from there, leaving room for an ellipsis at the end.
    let budget = MAX_SHOWN_COLUMNS - prefix.len() - ELLIPSIS.len();
    let mut to = from;
    let mut shown = 0;
    for (i, c) in line[from..].char_indices() {
        if shown + char_width(c) > budget {
            break;
        }
        shown += char_width(c);
        to = from + i + c.len_utf8();
    }
    let cut_end = to < line.len();
    let body = expand(&line[from..to]);
    let text = if cut_end {
        format!("{prefix}{body}{ELLIPSIS}")
    } else {
        format!("{prefix}{}", body.trim_end())
    };
    Excerpt {
        text,
        caret_column: prefix.len() + width(&line[from..start]),
        caret_width: width(&line[start..end.clamp(start, to)]).max(1),
    }
}

pub fn write(out: &mut dyn Write, report: &Report, color: bool) -> std::io::Result<()> {
    let style = Style { color };
    let mut out = std::io::BufWriter::new(out);
    for file in &report.files {
        if file.findings.is_empty() {
            continue;
        }
        let path = path_bytes(&file.path);
        let positions = Positions::new(&file.text);
        for finding in &file.findings {
            let (start, _) = positions.range(&finding.range);
            let sev = finding.severity;
            let code = Style::severity_code(sev);
            let location = [
                &path[..],
                format!(":{}:{}", start.line, start.column).as_bytes(),
            ]
            .concat();
            style.write_painted(&mut out, "1", &location)?;
            writeln!(
                out,
                ": {}{} {}",
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
                let shown = excerpt(line_text, caret_start..caret_end);
                writeln!(out, "{pad} {bar}")?;
                writeln!(
                    out,
                    "{} {bar} {}",
                    style.paint("1;34", &start.line.to_string()),
                    shown.text
                )?;
                writeln!(
                    out,
                    "{pad} {bar} {}{}",
                    " ".repeat(shown.caret_column),
                    style.paint(code, &"^".repeat(shown.caret_width))
                )?;
                for related in &finding.related {
                    let at = positions.pos(related.range.start);
                    write!(
                        out,
                        "{pad} {} {}: ",
                        style.paint("1;34", "="),
                        style.paint("1", "note"),
                    )?;
                    out.write_all(&path)?;
                    writeln!(out, ":{}:{}: {}", at.line, at.column, related.message)?;
                }
                for fix in finding.fixes.iter().take(1) {
                    let kind = match fix.applicability {
                        Applicability::Safe => "fix available",
                        Applicability::Unsafe => "unsafe fix available (--unsafe-fixes)",
                    };
                    writeln!(
                        out,
                        "{pad} {} {}: {kind}: {}",
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

/// `3 findings (1 error, 2 warnings) in 12 files; 1 fixable with --fix (1 more with
/// --unsafe-fixes)`, or `no findings in 12 files`.
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
        .filter(|(_, f)| crate::fix::applicable(f, report.unsafe_fixes).is_some())
        .count();
    let mut line = format!(
        "{} ({}) in {files}",
        plural(total, "finding"),
        parts.join(", ")
    );
    if fixable > 0 {
        line.push_str(&format!("; {fixable} fixable with --fix"));
    }
    // As ruff says it: the fixes `--fix` leaves alone until asked.
    let hidden = report
        .findings()
        .filter(|(_, f)| crate::fix::applicable(f, report.unsafe_fixes).is_none())
        .filter(|(_, f)| crate::fix::applicable(f, true).is_some())
        .count();
    if hidden > 0 && fixable > 0 {
        line.push_str(&format!(" ({hidden} more with --unsafe-fixes)"));
    } else if hidden > 0 {
        line.push_str(&format!("; {hidden} fixable with --unsafe-fixes"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_lines_are_shown_whole() {
        let e = excerpt("\tdefer mu.Lock()  ", 7..16);
        assert_eq!(e.text, "    defer mu.Lock()");
        assert_eq!((e.caret_column, e.caret_width), (10, 9));
    }

    #[test]
    fn long_lines_are_cut_around_the_caret() {
        let line = format!("{}mu.Lock(){}", "x".repeat(100_000), "y".repeat(100_000));
        let e = excerpt(&line, 100_000..100_009);
        assert_eq!(e.text.chars().count(), MAX_SHOWN_COLUMNS);
        assert!(
            e.text.starts_with("...xxx") && e.text.ends_with("yyy..."),
            "{}",
            e.text
        );
        assert_eq!(
            &e.text[e.caret_column..e.caret_column + e.caret_width],
            "mu.Lock()"
        );
        assert_eq!(e.caret_column, ELLIPSIS.len() + COLUMNS_BEFORE_CARET);
        // At the start and at the end of a long line: one ellipsis.
        let e = excerpt(&line, 0..1);
        assert!(e.text.starts_with("xxx") && e.text.ends_with("..."));
        assert_eq!((e.caret_column, e.caret_width), (0, 1));
        let end = line.len();
        let e = excerpt(&line, end - 1..end);
        assert!(e.text.starts_with("...") && e.text.ends_with('y'));
        assert_eq!(&e.text[e.caret_column..], "y");
        // A caret longer than the window is cut with it; multi-byte characters are not split.
        let wide = "é".repeat(1000);
        let e = excerpt(&wide, 2..1998);
        assert!(e.caret_column + e.caret_width <= e.text.chars().count());
        assert_eq!(e.text.chars().count(), MAX_SHOWN_COLUMNS);
    }
}
