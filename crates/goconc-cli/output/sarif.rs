//! `--format sarif`: SARIF 2.1.0, as GitHub code scanning and other viewers read it.
//!
//! One run; `tool.driver.rules` lists every rule of the catalog (so `ruleIndex` is stable);
//! each result has its location, related locations, `partialFingerprints` (`goconc/v1`, see
//! [`crate::fingerprint`]: code scanning keeps an alert's identity across edits above it), and
//! its fixes as SARIF `fixes`
//! (`artifactChanges` with `replacements`). Columns count Unicode code points (declared with
//! `columnKind`), lines and columns are 1-based, end columns exclusive.

use std::io::Write;
use std::ops::Range;
use std::path::{Component, Path};

use serde_json::{json, Value};

use super::{three_levels as level, Positions};
use crate::catalog::{self, Entry};
use crate::check::Report;
use crate::discover::path_bytes;

pub const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// A path as a SARIF `uri`: a relative one as a relative reference (resolved against
/// `%SRCROOT%`), an absolute one as a `file:` URI. Every byte but the unreserved characters of
/// RFC 3986 (`A-Z a-z 0-9 - . _ ~`) and the `/` between segments is percent-encoded, so a space,
/// `#`, `%`, `?`, a `:` that would read as a scheme, and non-ASCII or non-UTF-8 names all survive.
pub fn uri(path: &Path) -> (String, bool) {
    let mut out = String::new();
    let absolute = path.has_root();
    if absolute {
        out.push_str("file://");
    }
    let mut first = true;
    for component in path.components() {
        let segment: std::borrow::Cow<[u8]> = match component {
            Component::RootDir => {
                out.push('/');
                continue;
            }
            // A Windows drive (`C:`): its colon stays.
            Component::Prefix(prefix) => {
                let drive = prefix.as_os_str().to_string_lossy().replace('\\', "/");
                out.push('/');
                out.push_str(drive.trim_start_matches('/'));
                continue;
            }
            Component::CurDir => b".".as_slice().into(),
            Component::ParentDir => b"..".as_slice().into(),
            Component::Normal(name) => path_bytes(Path::new(name)),
        };
        if !first && !out.ends_with('/') {
            out.push('/');
        }
        first = false;
        percent_encode(&segment, &mut out);
    }
    (out, absolute)
}

fn percent_encode(bytes: &[u8], out: &mut String) {
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

fn artifact_location(path: &Path) -> Value {
    match uri(path) {
        (uri, true) => json!({ "uri": uri }),
        (uri, false) => json!({ "uri": uri, "uriBaseId": "%SRCROOT%" }),
    }
}

fn region(positions: &Positions, range: &Range<usize>) -> Value {
    let (start, end) = positions.range(range);
    json!({
        "startLine": start.line,
        "startColumn": start.column,
        "endLine": end.line,
        "endColumn": end.column,
    })
}

/// The first paragraph of a rule page after its header: the text under `## Why it matters`.
fn full_description(entry: Entry) -> String {
    let doc = entry.doc().trim();
    let why = doc
        .split("## ")
        .find(|s| s.starts_with("Why it matters"))
        .map(|s| {
            s.trim_start_matches("Why it matters")
                .trim()
                .split("\n\n")
                .next()
                .unwrap_or("")
                .trim()
                .replace('\n', " ")
        });
    match why {
        Some(why) if !why.is_empty() => format!("{} {}", entry.summary(), why),
        _ => entry.summary().to_string(),
    }
}

pub fn sarif_json(report: &Report) -> Value {
    let all = catalog::all();
    let rules_json: Vec<Value> = all
        .iter()
        .map(|&entry| {
            json!({
                "id": entry.id(),
                "name": entry.id(),
                "shortDescription": {"text": entry.summary()},
                "fullDescription": {"text": full_description(entry)},
                "help": {"text": entry.summary(), "markdown": entry.page()},
                "helpUri": crate::rule_url(entry.id()),
                "defaultConfiguration": {"level": level(entry.severity())},
                "properties": {"tags": [entry.family_key()], "fix": entry.fix()},
            })
        })
        .collect();
    let mut results = Vec::new();
    for file in &report.files {
        if file.findings.is_empty() {
            continue;
        }
        let positions = Positions::new(&file.text);
        let artifact = artifact_location(&file.path);
        for (f, fingerprint) in file.findings.iter().zip(&file.fingerprints) {
            let mut result = json!({
                "ruleId": f.rule,
                "level": level(f.severity),
                "message": {"text": f.message},
                "locations": [{
                    "physicalLocation": {"artifactLocation": artifact, "region": region(&positions, &f.range)}
                }],
                "partialFingerprints": {"goconc/v1": fingerprint},
                "properties": {"severity": f.severity.as_str()},
            });
            if let Some(index) = all.iter().position(|e| e.id() == f.rule) {
                result["ruleIndex"] = json!(index);
            }
            if !f.related.is_empty() {
                result["relatedLocations"] = f
                    .related
                    .iter()
                    .enumerate()
                    .map(|(i, r)| {
                        json!({
                            "id": i,
                            "message": {"text": r.message},
                            "physicalLocation": {"artifactLocation": artifact, "region": region(&positions, &r.range)},
                        })
                    })
                    .collect();
            }
            if !f.fixes.is_empty() {
                result["fixes"] = f
                    .fixes
                    .iter()
                    .map(|fix| {
                        json!({
                            "description": {"text": fix.title},
                            "properties": {"applicability": fix.applicability.as_str()},
                            "artifactChanges": [{
                                "artifactLocation": artifact,
                                "replacements": fix.edits.iter().map(|e| json!({
                                    "deletedRegion": region(&positions, &e.range),
                                    "insertedContent": {"text": e.new_text},
                                })).collect::<Vec<_>>(),
                            }],
                        })
                    })
                    .collect();
            }
            results.push(result);
        }
    }
    json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "goconc",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "informationUri": crate::HOME_URL,
                "rules": rules_json,
            }},
            "columnKind": "unicodeCodePoints",
            "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "The folder goconc was run from."}}},
            "results": results,
        }],
    })
}

pub fn write(out: &mut dyn Write, report: &Report) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &sarif_json(report))?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_percent_encoded() {
        assert_eq!(
            uri(Path::new("pkg/put.go")),
            ("pkg/put.go".to_string(), false)
        );
        assert_eq!(
            uri(Path::new("a b/#1 100%/é.go")).0,
            "a%20b/%231%20100%25/%C3%A9.go"
        );
        assert_eq!(uri(Path::new("../x:y.go")).0, "../x%3Ay.go");
        assert_eq!(
            uri(Path::new("/tmp/a b.go")),
            ("file:///tmp/a%20b.go".to_string(), true)
        );
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let raw = Path::new(std::ffi::OsStr::from_bytes(b"bad\xffname.go"));
            assert_eq!(uri(raw).0, "bad%FFname.go");
        }
    }
}
