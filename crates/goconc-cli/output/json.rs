//! `--format json`: an array with one object per finding.
//!
//! ```json
//! [{"path": "cache.go", "rule": "mutex-unlock-missing", "severity": "error",
//!   "message": "…", "range": {"start": {"line": 14, "column": 2}, "end": {"line": 14, "column": 13}},
//!   "offsets": {"start": 210, "end": 221},
//!   "related": [{"message": "…", "range": {…}, "offsets": {…}}],
//!   "fixes": [{"title": "…", "applicability": "safe", "edits": [{"range": {…}, "offsets": {…}, "new_text": "…"}]}],
//!   "url": "https://…/docs/rules/mutex-unlock-missing.md", "fingerprint": "3f2a…"}]
//! ```
//!
//! `fingerprint` names the finding across unrelated edits (see [`crate::fingerprint`]).
//!
//! `path` is the file as named on the command line (lossy, with a warning on stderr, when the
//! name is not UTF-8). Lines and columns are 1-based, columns counted in characters; `end` is exclusive. Offsets
//! are byte offsets into the file (end exclusive).

use std::io::Write;
use std::ops::Range;

use goconc_analysis::Finding;
use serde::ser::{Serialize, SerializeSeq, Serializer};
use serde_json::{json, Value};

use super::Positions;
use crate::check::Report;

pub fn range_json(positions: &Positions, range: &Range<usize>) -> Value {
    let (start, end) = positions.range(range);
    json!({
        "start": {"line": start.line, "column": start.column},
        "end": {"line": end.line, "column": end.column},
    })
}

fn offsets(range: &Range<usize>) -> Value {
    json!({"start": range.start, "end": range.end})
}

/// The JSON of one finding.
fn finding_json(positions: &Positions, path: &str, f: &Finding, fingerprint: &str) -> Value {
    json!({
        "path": path,
        "rule": f.rule,
        "severity": f.severity.as_str(),
        "message": f.message,
        "range": range_json(positions, &f.range),
        "offsets": offsets(&f.range),
        "related": f.related.iter().map(|r| json!({
            "message": r.message,
            "range": range_json(positions, &r.range),
            "offsets": offsets(&r.range),
        })).collect::<Vec<_>>(),
        "fixes": f.fixes.iter().map(|fix| json!({
            "title": fix.title,
            "applicability": fix.applicability.as_str(),
            "edits": fix.edits.iter().map(|e| json!({
                "range": range_json(positions, &e.range),
                "offsets": offsets(&e.range),
                "new_text": e.new_text,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "url": crate::rule_url(f.rule),
        "fingerprint": fingerprint,
    })
}

/// The array of every finding of a report, each built and written in turn: built as one
/// `Value`, the JSON of 45,000 findings held 300 MB at once.
struct Findings<'r>(&'r Report);

impl Serialize for Findings<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut items = serializer.serialize_seq(None)?;
        for file in &self.0.files {
            if file.findings.is_empty() {
                continue;
            }
            let positions = Positions::new(&file.text);
            // JSON strings are Unicode: a name that is not UTF-8 is shown lossy (with a warning).
            let path = file.path.to_string_lossy();
            for (f, fingerprint) in file.findings.iter().zip(&file.fingerprints) {
                items.serialize_element(&finding_json(&positions, &path, f, fingerprint))?;
            }
        }
        items.end()
    }
}

pub fn write(out: &mut dyn Write, report: &Report) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &Findings(report))?;
    writeln!(out)
}
