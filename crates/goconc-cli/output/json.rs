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

use serde::Serialize;

use super::{Pos, Positions};
use crate::check::Report;

// The objects are serialized from borrowed structs, their fields in the order the format shows:
// building a `serde_json::Value` per finding (a map and an owned key per field) cost more than
// writing the text (45,000 findings: a third of the check).

#[derive(Serialize)]
struct LineColumn {
    line: u32,
    column: u32,
}

impl From<Pos> for LineColumn {
    fn from(p: Pos) -> LineColumn {
        LineColumn {
            line: p.line,
            column: p.column,
        }
    }
}

#[derive(Serialize)]
struct RangeJson {
    start: LineColumn,
    end: LineColumn,
}

impl RangeJson {
    fn new(positions: &Positions, range: &Range<usize>) -> RangeJson {
        let (start, end) = positions.range(range);
        RangeJson {
            start: start.into(),
            end: end.into(),
        }
    }
}

#[derive(Serialize)]
struct Offsets {
    start: usize,
    end: usize,
}

impl Offsets {
    fn new(range: &Range<usize>) -> Offsets {
        Offsets {
            start: range.start,
            end: range.end,
        }
    }
}

#[derive(Serialize)]
struct RelatedJson<'a> {
    message: &'a str,
    range: RangeJson,
    offsets: Offsets,
}

#[derive(Serialize)]
struct EditJson<'a> {
    range: RangeJson,
    offsets: Offsets,
    new_text: &'a str,
}

#[derive(Serialize)]
struct FixJson<'a> {
    title: &'a str,
    applicability: &'static str,
    edits: Vec<EditJson<'a>>,
}

#[derive(Serialize)]
struct FindingJson<'a> {
    path: &'a str,
    rule: &'a str,
    severity: &'static str,
    message: &'a str,
    range: RangeJson,
    offsets: Offsets,
    related: Vec<RelatedJson<'a>>,
    fixes: Vec<FixJson<'a>>,
    url: String,
    fingerprint: &'a str,
}

/// One finding's object.
fn finding_json<'a>(
    positions: &Positions,
    path: &'a str,
    f: &'a goconc_analysis::Finding,
    fingerprint: &'a str,
) -> FindingJson<'a> {
    FindingJson {
        path,
        rule: f.rule,
        severity: f.severity.as_str(),
        message: &f.message,
        range: RangeJson::new(positions, &f.range),
        offsets: Offsets::new(&f.range),
        related: f
            .related
            .iter()
            .map(|r| RelatedJson {
                message: &r.message,
                range: RangeJson::new(positions, &r.range),
                offsets: Offsets::new(&r.range),
            })
            .collect(),
        fixes: f
            .fixes
            .iter()
            .map(|fix| FixJson {
                title: &fix.title,
                applicability: fix.applicability.as_str(),
                edits: fix
                    .edits
                    .iter()
                    .map(|e| EditJson {
                        range: RangeJson::new(positions, &e.range),
                        offsets: Offsets::new(&e.range),
                        new_text: &e.new_text,
                    })
                    .collect(),
            })
            .collect(),
        url: crate::rule_url(f.rule),
        fingerprint,
    }
}

/// The array, written one finding at a time: tens of thousands of findings never sit in memory
/// as one JSON tree (the text is the same as pretty-printing the whole array).
/// The serializer's writer: its many small writes (a quote, an indent, a key) go into a
/// buffer of this type, passed on in large pieces. Written through `dyn Write` one by one they
/// were a call each through a pointer (45,000 findings: 3% of the check's samples).
struct Chunks<'a> {
    buffer: Vec<u8>,
    out: &'a mut dyn Write,
}

const CHUNK: usize = 64 * 1024;

impl Write for Chunks<'_> {
    #[inline]
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.write_all(bytes)?;
        Ok(bytes.len())
    }

    #[inline]
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= CHUNK {
            self.out.write_all(&self.buffer)?;
            self.buffer.clear();
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.write_all(&self.buffer)?;
        self.buffer.clear();
        self.out.flush()
    }
}

pub fn write(out: &mut dyn Write, report: &Report) -> std::io::Result<()> {
    let mut chunks = Chunks {
        buffer: Vec::with_capacity(2 * CHUNK),
        out,
    };
    write_findings(&mut chunks, report)?;
    // What is left; the caller flushes its writer.
    chunks.out.write_all(&chunks.buffer)
}

fn write_findings(out: &mut Chunks, report: &Report) -> std::io::Result<()> {
    use serde::ser::{SerializeSeq, Serializer};
    let mut serializer = serde_json::Serializer::pretty(&mut *out);
    let mut array = serializer
        .serialize_seq(None)
        .map_err(std::io::Error::from)?;
    for file in &report.files {
        if file.findings.is_empty() {
            continue;
        }
        let positions = Positions::new(&file.text);
        // JSON strings are Unicode: a name that is not UTF-8 is shown lossy (with a warning).
        let path = file.path.to_string_lossy();
        for (f, fingerprint) in file.findings.iter().zip(&file.fingerprints) {
            array
                .serialize_element(&finding_json(&positions, &path, f, fingerprint))
                .map_err(std::io::Error::from)?;
        }
    }
    array.end().map_err(std::io::Error::from)?;
    writeln!(out)
}
