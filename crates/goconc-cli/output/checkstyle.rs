//! `--format checkstyle`: Checkstyle's XML report, which Jenkins (Warnings NG), reviewdog
//! (`-f=checkstyle`), SonarQube and others read. One `<file>` per file with findings, one
//! `<error>` per finding; `source` is `goconc.RULE`. Columns count characters.

use std::io::Write;

use goconc_analysis::Severity;

use super::Positions;
use crate::check::Report;

fn severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info | Severity::Hint => "info",
    }
}

/// Text for an XML attribute value. Characters XML 1.0 cannot hold at all (most control
/// characters) become U+FFFD.
fn attribute(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

pub fn write(out: &mut dyn Write, report: &Report) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(out);
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(out, r#"<checkstyle version="5.0">"#)?;
    for file in report.files.iter().filter(|f| !f.findings.is_empty()) {
        let positions = Positions::new(&file.text);
        writeln!(
            out,
            r#"  <file name="{}">"#,
            attribute(&crate::fingerprint::slash_path(&file.path))
        )?;
        for f in &file.findings {
            let start = positions.pos(f.range.start);
            writeln!(
                out,
                r#"    <error line="{}" column="{}" severity="{}" message="{}" source="goconc.{}"/>"#,
                start.line,
                start.column,
                severity(f.severity),
                attribute(&f.message),
                attribute(f.rule),
            )?;
        }
        writeln!(out, "  </file>")?;
    }
    writeln!(out, "</checkstyle>")?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::attribute;

    #[test]
    fn attributes_are_escaped() {
        assert_eq!(
            attribute("`a` < \"b\" & 'c'\n\u{1}"),
            "`a` &lt; &quot;b&quot; &amp; &apos;c&apos;&#10;\u{FFFD}"
        );
    }
}
