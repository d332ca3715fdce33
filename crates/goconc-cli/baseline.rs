//! Baselines: `--write-baseline FILE` records the findings of today, `--baseline FILE` hides
//! them, so that a team adopting goconc on an old code base fails only on new findings.
//!
//! Findings are matched by fingerprint ([`crate::fingerprint`]), which ignores line numbers: a
//! recorded finding stays hidden while code above it changes, and comes back when its statement
//! or function changes. The file is JSON, sorted, one finding per entry, so it diffs well:
//!
//! ```json
//! {
//!   "goconc_baseline": 1,
//!   "findings": [
//!     {"fingerprint": "9c1f…", "rule": "mutex-defer-lock", "path": "pkg/cache.go", "line": 45,
//!      "message": "…"}
//!   ]
//! }
//! ```
//!
//! Only `fingerprint` is read back; the rest is there for people reading the file.

use std::collections::HashSet;
use std::path::Path;

use serde_json::{json, Value};

use crate::check::Report;
use crate::output::Positions;

/// The format version written in `goconc_baseline`.
const VERSION: u64 = 1;

/// The fingerprints of a baseline file.
pub struct Baseline {
    fingerprints: HashSet<String>,
}

/// What a baseline did to a report.
pub struct Applied {
    /// Findings hidden because the baseline has them.
    pub hidden: usize,
    /// Baseline entries that matched no finding (fixed, or changed past recognition).
    pub stale: usize,
}

impl Baseline {
    pub fn read(path: &Path) -> Result<Baseline, String> {
        let shown = path.display();
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!("--baseline {shown}: {e} (write one with --write-baseline {shown})")
        })?;
        let value: Value = serde_json::from_str(&text).map_err(|e| {
            format!(
                "--baseline {shown}:{}:{}: not a goconc baseline: {e}",
                e.line(),
                e.column()
            )
        })?;
        match value.get("goconc_baseline").and_then(Value::as_u64) {
            Some(VERSION) => {}
            Some(other) => {
                return Err(format!(
                    "--baseline {shown}: baseline format {other} is newer than this goconc reads ({VERSION})"
                ))
            }
            None => {
                return Err(format!(
                    "--baseline {shown}: not a goconc baseline (no \"goconc_baseline\" key)"
                ))
            }
        }
        let entries = value
            .get("findings")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("--baseline {shown}: no \"findings\" list"))?;
        let mut fingerprints = HashSet::new();
        for (i, entry) in entries.iter().enumerate() {
            let fingerprint = entry
                .get("fingerprint")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("--baseline {shown}: finding {i} has no \"fingerprint\""))?;
            fingerprints.insert(fingerprint.to_string());
        }
        Ok(Baseline { fingerprints })
    }

    /// Drops the findings the baseline has.
    pub fn apply(&self, report: &mut Report) -> Applied {
        let mut matched = HashSet::new();
        let mut hidden = 0;
        for file in &mut report.files {
            let mut keep = Vec::with_capacity(file.findings.len());
            for fingerprint in &file.fingerprints {
                let known = self.fingerprints.contains(fingerprint);
                if known {
                    matched.insert(fingerprint.clone());
                    hidden += 1;
                }
                keep.push(!known);
            }
            file.retain(|i| keep[i]);
        }
        Applied {
            hidden,
            stale: self.fingerprints.len() - matched.len(),
        }
    }
}

/// Writes every finding of the report as a baseline; returns how many.
pub fn write(path: &Path, report: &Report) -> Result<usize, String> {
    let mut entries = Vec::new();
    for file in &report.files {
        let positions = Positions::new(&file.text);
        for (f, fingerprint) in file.findings.iter().zip(&file.fingerprints) {
            entries.push(json!({
                "fingerprint": fingerprint,
                "rule": f.rule,
                "path": crate::fingerprint::slash_path(&file.path),
                "line": positions.pos(f.range.start).line,
                "message": f.message,
            }));
        }
    }
    let count = entries.len();
    let document = json!({"goconc_baseline": VERSION, "findings": entries});
    let mut text = serde_json::to_string_pretty(&document).map_err(|e| e.to_string())?;
    text.push('\n');
    std::fs::write(path, text).map_err(|e| format!("--write-baseline {}: {e}", path.display()))?;
    Ok(count)
}
