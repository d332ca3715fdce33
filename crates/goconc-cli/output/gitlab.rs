//! `--format gitlab`: GitLab's code quality report (a subset of Code Climate's JSON), for a CI
//! job's `artifacts:reports:codequality`: an array of issues with `description`, `check_name`,
//! `fingerprint` (see [`crate::fingerprint`]), `severity` and `location` (`path`,
//! `lines.begin`). Errors are `critical`, warnings `major`, info `minor`, hints `info`.

use std::io::Write;

use goconc_analysis::Severity;
use serde_json::{json, Value};

use super::Positions;
use crate::check::Report;

fn severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "critical",
        Severity::Warning => "major",
        Severity::Info => "minor",
        Severity::Hint => "info",
    }
}

pub fn issues_json(report: &Report) -> Value {
    let mut issues = Vec::new();
    for file in report.files.iter().filter(|f| !f.findings.is_empty()) {
        let positions = Positions::new(&file.text);
        let path = crate::fingerprint::slash_path(&file.path);
        for (f, fingerprint) in file.findings.iter().zip(&file.fingerprints) {
            let (start, end) = positions.range(&f.range);
            issues.push(json!({
                "type": "issue",
                "description": f.message,
                "check_name": f.rule,
                "categories": ["Bug Risk"],
                "fingerprint": fingerprint,
                "severity": severity(f.severity),
                "location": {"path": path, "lines": {"begin": start.line, "end": end.line}},
            }));
        }
    }
    Value::Array(issues)
}

pub fn write(out: &mut dyn Write, report: &Report) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &issues_json(report))?;
    writeln!(out)
}
