//! `--statistics`: how many findings each rule has, most first, as ruff prints them:
//!
//! ```text
//!  7  mutex-defer-lock              [*] error    `defer mu.Lock()` where `Unlock` was meant
//!  2  mutex-empty-critical-section      warning  A `Lock` immediately followed by its `Unlock`
//! ```
//!
//! `[*]` marks rules whose findings all have a quick fix `--fix` applies. With `--format json`:
//! `[{"code", "name", "count", "fixable"}]`, as `ruff --statistics --output-format json`.

use std::collections::BTreeMap;
use std::io::Write;

use serde_json::json;

use crate::check::Report;

struct Row {
    rule: &'static str,
    count: usize,
    fixable: usize,
    severity: &'static str,
}

fn rows(report: &Report, unsafe_fixes: bool) -> Vec<Row> {
    let mut by_rule: BTreeMap<&'static str, Row> = BTreeMap::new();
    for (_, f) in report.findings() {
        let row = by_rule.entry(f.rule).or_insert(Row {
            rule: f.rule,
            count: 0,
            fixable: 0,
            severity: f.severity.as_str(),
        });
        row.count += 1;
        if crate::fix::applicable(f, unsafe_fixes).is_some() {
            row.fixable += 1;
        }
    }
    let mut rows: Vec<Row> = by_rule.into_values().collect();
    rows.sort_by(|a, b| b.count.cmp(&a.count).then(a.rule.cmp(b.rule)));
    rows
}

pub fn write_text(out: &mut dyn Write, report: &Report, unsafe_fixes: bool) -> std::io::Result<()> {
    let rows = rows(report, unsafe_fixes);
    let count_width = rows
        .iter()
        .map(|r| r.count.to_string().len())
        .max()
        .unwrap_or(1);
    let rule_width = rows.iter().map(|r| r.rule.len()).max().unwrap_or(0);
    for row in &rows {
        let summary = crate::catalog::find(row.rule).map_or("", |e| e.summary());
        let marker = if row.fixable == row.count {
            "[*]"
        } else {
            "   "
        };
        writeln!(
            out,
            "{:>count_width$}  {:rule_width$}  {marker} {:7}  {summary}",
            row.count, row.rule, row.severity
        )?;
    }
    let total: usize = rows.iter().map(|r| r.count).sum();
    writeln!(
        out,
        "{} in {}",
        crate::check::plural(total, "finding"),
        crate::check::plural(rows.len(), "rule")
    )
}

pub fn write_json(out: &mut dyn Write, report: &Report, unsafe_fixes: bool) -> std::io::Result<()> {
    let rows: Vec<serde_json::Value> = rows(report, unsafe_fixes)
        .iter()
        .map(|row| {
            json!({
                "code": row.rule,
                "name": row.rule,
                "count": row.count,
                "fixable": row.fixable == row.count,
                "severity": row.severity,
            })
        })
        .collect();
    serde_json::to_writer_pretty(&mut *out, &rows)?;
    writeln!(out)
}
