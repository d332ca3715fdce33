//! The fixture method (Go's analysistest habit): every folder under `tests/fixtures` is a package
//! whose `.go` files mark each line that must draw a finding with `// want "rule-id"`. Nothing
//! else may draw one. A `name.go.golden` beside a file holds its text after every fix is applied;
//! the fixed text must reparse without syntax errors.
//!
//! Run one rule's fixtures with `FIXTURE=RULE_ID cargo test -p goconc-analysis --test fixtures` (a substring of
//! the folder's path).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod common;

use common::{fixtures_root, go_files, module_version, package_dirs};
use goconc_analysis::{analyze_package, apply_edits, Config, LineIndex, PackageFile, SourceFile};

/// `// want "a" "b"` → the rule ids expected on that line.
fn wants(text: &str) -> BTreeMap<usize, Vec<String>> {
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let Some(at) = line.find("// want ") else {
            continue;
        };
        let ids: Vec<String> = line[at + 8..]
            .split('"')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect();
        if !ids.is_empty() {
            out.insert(i + 1, ids);
        }
    }
    out
}

struct Failure(String);

fn check_dir(dir: &Path, failures: &mut Vec<Failure>) {
    let names = go_files(dir);
    let files: Vec<PackageFile> = names
        .iter()
        .map(|p| PackageFile {
            name: p.file_name().unwrap().to_string_lossy().to_string(),
            source: SourceFile::new(std::fs::read_to_string(p).unwrap()),
        })
        .collect();
    let outcomes = analyze_package(&files, module_version(dir), &Config::default());
    for ((path, file), outcome) in names.iter().zip(&files).zip(&outcomes) {
        let rel = path
            .strip_prefix(fixtures_root())
            .unwrap()
            .display()
            .to_string();
        let text = file.source.text();
        if !outcome.failed_rules.is_empty() {
            failures.push(Failure(format!(
                "{rel}: rules panicked: {:?}",
                outcome.failed_rules
            )));
        }
        let index = LineIndex::new(text);
        let mut got: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        for f in &outcome.findings {
            let line = index
                .position(text, f.range.start, goconc_analysis::Encoding::Utf8)
                .line as usize
                + 1;
            got.entry(line).or_default().push(f.rule.to_string());
        }
        let want = wants(text);
        for (line, ids) in &want {
            for id in ids {
                if !got.get(line).is_some_and(|g| g.contains(id)) {
                    failures.push(Failure(format!(
                        "{rel}:{line}: expected {id}, got {:?}",
                        got.get(line)
                    )));
                }
            }
        }
        for (line, ids) in &got {
            for id in ids {
                if !want.get(line).is_some_and(|w| w.contains(id)) {
                    let msg = outcome
                        .findings
                        .iter()
                        .find(|f| {
                            f.rule == id
                                && index
                                    .position(text, f.range.start, goconc_analysis::Encoding::Utf8)
                                    .line as usize
                                    + 1
                                    == *line
                        })
                        .map(|f| f.message.clone())
                        .unwrap_or_default();
                    failures.push(Failure(format!("{rel}:{line}: unexpected {id}: {msg}")));
                }
            }
        }
        // Fixes: all of them together must give the golden text.
        let edits: Vec<_> = outcome
            .findings
            .iter()
            .flat_map(|f| f.fixes.iter().take(1))
            .flat_map(|fix| fix.edits.clone())
            .collect();
        let golden_path = PathBuf::from(format!("{}.golden", path.display()));
        let golden = std::fs::read_to_string(&golden_path).ok();
        if edits.is_empty() {
            if golden.is_some() {
                failures.push(Failure(format!(
                    "{rel}: has a golden file but no fix applies"
                )));
            }
            continue;
        }
        let (fixed, _) = apply_edits(text, &edits);
        match golden {
            None => failures.push(Failure(format!(
                "{rel}: fixes apply but there is no {rel}.golden; fixed text:\n{fixed}"
            ))),
            Some(golden) if golden != fixed => failures.push(Failure(format!(
                "{rel}: fixed text differs from the golden file:\n{}",
                diff(&golden, &fixed)
            ))),
            Some(_) => {
                if SourceFile::new(fixed.clone())
                    .tree()
                    .root_node()
                    .has_error()
                {
                    failures.push(Failure(format!("{rel}: fixed text has syntax errors")));
                }
            }
        }
    }
}

/// A minimal line diff for failure messages.
fn diff(expected: &str, actual: &str) -> String {
    let e: Vec<&str> = expected.lines().collect();
    let a: Vec<&str> = actual.lines().collect();
    let mut out = String::new();
    let first = e
        .iter()
        .zip(&a)
        .position(|(x, y)| x != y)
        .unwrap_or(e.len().min(a.len()));
    for (i, line) in e.iter().enumerate().skip(first).take(8) {
        out.push_str(&format!("  golden {:>4}: {line}\n", i + 1));
    }
    for (i, line) in a.iter().enumerate().skip(first).take(8) {
        out.push_str(&format!("  fixed  {:>4}: {line}\n", i + 1));
    }
    out
}

#[test]
fn fixtures_match_their_want_comments_and_goldens() {
    let mut dirs = Vec::new();
    package_dirs(&fixtures_root(), &mut dirs);
    assert!(
        !dirs.is_empty(),
        "no fixture folders under {}",
        fixtures_root().display()
    );
    let mut failures = Vec::new();
    let mut checked = 0;
    for dir in &dirs {
        let rel = dir
            .strip_prefix(fixtures_root())
            .unwrap()
            .display()
            .to_string();
        if std::env::var("FIXTURE").is_ok_and(|f| !rel.contains(&f)) {
            continue;
        }
        checked += 1;
        check_dir(dir, &mut failures);
    }
    assert!(checked > 0, "no fixture folder matched");
    if !failures.is_empty() {
        let text: Vec<String> = failures.into_iter().map(|f| f.0).collect();
        panic!("{} fixture problems:\n{}", text.len(), text.join("\n"));
    }
}
