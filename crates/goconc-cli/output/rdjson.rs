//! `--format rdjson`: reviewdog's Diagnostic Format (`DiagnosticResult`), for
//! `reviewdog -f=rdjson`, which comments on pull requests and turns suggestions into GitHub
//! suggested changes.
//!
//! Lines count from 1, columns in UTF-8 bytes from 1 (reviewdog's unit), ends exclusive. A fix
//! made of one edit becomes a `suggestion`; reviewdog applies each suggestion on its own, so a
//! fix of several edits is not offered (it would be applied half).

use std::io::Write;
use std::ops::Range;

use goconc_analysis::Severity;
use serde_json::{json, Value};

use super::Positions;
use crate::check::Report;

fn severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "ERROR",
        Severity::Warning => "WARNING",
        Severity::Info | Severity::Hint => "INFO",
    }
}

fn range(positions: &Positions, range: &Range<usize>) -> Value {
    let (start, end) = (
        positions.byte_pos(range.start),
        positions.byte_pos(range.end),
    );
    json!({
        "start": {"line": start.line, "column": start.column},
        "end": {"line": end.line, "column": end.column},
    })
}

pub fn result_json(report: &Report) -> Value {
    let mut diagnostics = Vec::new();
    for file in report.files.iter().filter(|f| !f.findings.is_empty()) {
        let positions = Positions::new(&file.text);
        let path = crate::fingerprint::slash_path(&file.path);
        for f in &file.findings {
            let mut diagnostic = json!({
                "message": f.message,
                "location": {"path": path, "range": range(&positions, &f.range)},
                "severity": severity(f.severity),
                "code": {"value": f.rule, "url": crate::rule_url(f.rule)},
            });
            let suggestions: Vec<Value> = f
                .fixes
                .iter()
                .filter(|fix| fix.edits.len() == 1)
                .take(1)
                .flat_map(|fix| &fix.edits)
                .map(|edit| json!({"range": range(&positions, &edit.range), "text": edit.new_text}))
                .collect();
            if !suggestions.is_empty() {
                diagnostic["suggestions"] = Value::Array(suggestions);
            }
            diagnostics.push(diagnostic);
        }
    }
    json!({
        "source": {"name": "goconc", "url": crate::HOME_URL},
        "diagnostics": diagnostics,
    })
}

pub fn write(out: &mut dyn Write, report: &Report) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &result_json(report))?;
    writeln!(out)
}
