//! `--format sarif`: SARIF 2.1.0, as GitHub code scanning and other viewers read it.
//!
//! One run; `tool.driver.rules` lists every rule of the catalog (so `ruleIndex` is stable);
//! each result has its location, related locations, and its fixes as SARIF `fixes`
//! (`artifactChanges` with `replacements`). Columns count Unicode code points (declared with
//! `columnKind`), lines and columns are 1-based, end columns exclusive.

use std::io::Write;
use std::ops::Range;

use goconc_analysis::{rules, Severity};
use serde_json::{json, Value};

use super::Positions;
use crate::check::Report;

pub const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info | Severity::Hint => "note",
    }
}

/// A relative path as a URI reference: slash-separated, with the few characters that would
/// change its meaning escaped.
pub fn uri(path: &str) -> String {
    let mut out = String::new();
    for c in path.replace('\\', "/").chars() {
        match c {
            ' ' => out.push_str("%20"),
            '%' => out.push_str("%25"),
            '#' => out.push_str("%23"),
            '?' => out.push_str("%3F"),
            _ => out.push(c),
        }
    }
    out
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
fn full_description(meta: &rules::RuleMeta) -> String {
    let doc = meta.doc.trim();
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
        Some(why) if !why.is_empty() => format!("{} {}", meta.summary, why),
        _ => meta.summary.to_string(),
    }
}

pub fn sarif_json(report: &Report) -> Value {
    let all = rules::all();
    let rules_json: Vec<Value> = all
        .iter()
        .map(|meta| {
            json!({
                "id": meta.id,
                "name": meta.id,
                "shortDescription": {"text": meta.summary},
                "fullDescription": {"text": full_description(meta)},
                "help": {"text": meta.summary, "markdown": meta.page()},
                "helpUri": crate::rule_url(meta.id),
                "defaultConfiguration": {"level": level(meta.severity)},
                "properties": {"tags": [meta.family.key()], "fix": meta.fix},
            })
        })
        .collect();
    let mut results = Vec::new();
    for file in &report.files {
        if file.findings.is_empty() {
            continue;
        }
        let positions = Positions::new(&file.text);
        let artifact = json!({"uri": uri(&file.path), "uriBaseId": "%SRCROOT%"});
        for f in &file.findings {
            let mut result = json!({
                "ruleId": f.rule,
                "level": level(f.severity),
                "message": {"text": f.message},
                "locations": [{
                    "physicalLocation": {"artifactLocation": artifact, "region": region(&positions, &f.range)}
                }],
                "properties": {"severity": f.severity.as_str()},
            });
            if let Some(index) = all.iter().position(|m| m.id == f.rule) {
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

pub fn print(report: &Report) -> std::io::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    serde_json::to_writer_pretty(&mut out, &sarif_json(report))?;
    writeln!(out)
}
