//! `--format github`: GitHub Actions workflow commands, one line per finding, which the runner
//! turns into annotations on the pull request's diff and the run's summary:
//!
//! ```text
//! ::error file=pkg/cache.go,line=45,endLine=45,col=8,endColumn=19,title=goconc mutex-defer-lock::`defer c.mu.Lock()` locks …
//! ```
//!
//! Errors are `error`, warnings `warning`, info and hints `notice`. Columns count characters.
//! Values are escaped as the Actions toolkit escapes them (`%`, CR, LF; in properties also `:`
//! and `,`).

use std::io::Write;

use goconc_analysis::Severity;

use super::Positions;
use crate::check::Report;

fn command(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info | Severity::Hint => "notice",
    }
}

fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

pub fn write(out: &mut dyn Write, report: &Report) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(out);
    for file in report.files.iter().filter(|f| !f.findings.is_empty()) {
        let positions = Positions::new(&file.text);
        let path = escape_property(&crate::fingerprint::slash_path(&file.path));
        for f in &file.findings {
            let (start, end) = positions.range(&f.range);
            let mut message = f.message.clone();
            if let Some(fix) = f.fixes.first() {
                message.push_str(&format!(" (fix available: {})", fix.title));
            }
            writeln!(
                out,
                "::{} file={path},line={},endLine={},col={},endColumn={},title={}::{}",
                command(f.severity),
                start.line,
                end.line,
                start.column,
                end.column,
                escape_property(&format!("goconc {}", f.rule)),
                escape_data(&message),
            )?;
        }
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_as_the_actions_toolkit_does() {
        assert_eq!(escape_data("50% done\r\nnext"), "50%25 done%0D%0Anext");
        assert_eq!(escape_property("a:b,c%"), "a%3Ab%2Cc%25");
    }
}
