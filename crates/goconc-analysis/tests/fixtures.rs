//! The fixture method (Go's analysistest habit): every folder under `tests/fixtures` is a package
//! whose `.go` files mark each finding a user must read with `// want rule-id "message piece"`
//! (a `:COLUMN` after the id where the finding does not start at the line's first token; see
//! `tests/common/wants.rs`). Nothing else may draw a finding. A `name.go.golden` beside a file
//! holds its text after every fix is applied; the fixed text must reparse without syntax errors.
//!
//! Each folder is a test of its own, named by its path: `cargo test -p goconc-analysis --test
//! fixtures mutex-unlock-missing` runs one rule's fixtures. After an intended change to what fixes
//! write, `GOCONC_BLESS=1` rewrites the goldens (review the diff before committing).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

mod common;
#[path = "../../../tests/common/wants.rs"]
mod wants;

use common::{fixtures_root, go_files, module_summaries, module_version, package_dirs};
use goconc_analysis::{
    analyze_package_in_module, apply_edits, Config, Encoding, LineIndex, PackageFile, SourceFile,
};
use libtest_mimic::{Arguments, Failed, Trial};

fn main() {
    let args = Arguments::from_args();
    let mut dirs = Vec::new();
    package_dirs(&fixtures_root(), &mut dirs);
    let mut trials: Vec<Trial> = dirs
        .into_iter()
        .map(|dir| {
            let name = dir
                .strip_prefix(fixtures_root())
                .unwrap()
                .display()
                .to_string();
            Trial::test(name, move || check_dir(&dir))
        })
        .collect();
    trials.push(Trial::test("the want parser", || {
        wants::check_parser().map_err(Failed::from)
    }));
    trials.push(Trial::test("there are fixture folders", || {
        let mut dirs = Vec::new();
        package_dirs(&fixtures_root(), &mut dirs);
        match dirs.len() > 40 {
            true => Ok(()),
            false => Err(format!("only {} fixture folders found", dirs.len()).into()),
        }
    }));
    libtest_mimic::run(&args, trials).exit();
}

fn check_dir(dir: &Path) -> Result<(), Failed> {
    let names = go_files(dir);
    let files: Vec<PackageFile> = names
        .iter()
        .map(|p| PackageFile {
            name: p.file_name().unwrap().to_string_lossy().to_string(),
            source: SourceFile::new(std::fs::read_to_string(p).unwrap()),
        })
        .collect();
    // As `goconc check` reads the folder: with the summaries of the module packages it imports.
    let module = module_summaries(dir);
    let outcomes = analyze_package_in_module(
        &files,
        module_version(dir),
        &Config::default(),
        module.as_ref(),
    );
    let mut failures = Vec::new();
    // Every text after its fixes, the package analysed again from them below.
    let mut fixed_files = Vec::new();
    let mut fixed_rules: HashSet<&str> = HashSet::new();
    for ((path, file), outcome) in names.iter().zip(&files).zip(&outcomes) {
        let rel = path.file_name().unwrap().to_string_lossy().to_string();
        let text = file.source.text();
        if !outcome.failed_rules.is_empty() {
            failures.push(format!("{rel}: rules panicked: {:?}", outcome.failed_rules));
        }
        let index = LineIndex::new(text);
        let seen: Vec<wants::Seen> = outcome
            .findings
            .iter()
            .map(|f| {
                let at = index.position(text, f.range.start, Encoding::Utf32);
                wants::Seen {
                    line: at.line as usize + 1,
                    column: at.col as usize + 1,
                    rule: f.rule.to_string(),
                    message: f.message.clone(),
                }
            })
            .collect();
        match wants::parse(text) {
            Ok(expected) => failures.extend(
                wants::compare(text, &expected, &seen)
                    .into_iter()
                    .map(|p| format!("{rel}:{p}")),
            ),
            Err(e) => failures.push(format!("{rel}: {e}")),
        }
        // Fixes: all of them together must give the golden text.
        fixed_rules.extend(
            outcome
                .findings
                .iter()
                .filter(|f| !f.fixes.is_empty())
                .map(|f| f.rule),
        );
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
                failures.push(format!("{rel}: has a golden file but no fix applies"));
            }
            continue;
        }
        let (fixed, _) = apply_edits(text, &edits);
        fixed_files.push((rel.clone(), fixed.clone()));
        if SourceFile::new(fixed.clone())
            .tree()
            .root_node()
            .has_error()
        {
            failures.push(format!("{rel}: fixed text has syntax errors"));
        }
        if std::env::var_os("GOCONC_BLESS").is_some() {
            std::fs::write(&golden_path, &fixed).unwrap();
            continue;
        }
        match golden {
            None => failures.push(format!(
                "{rel}: fixes apply but there is no {rel}.golden (GOCONC_BLESS=1 writes it); fixed text:\n{fixed}"
            )),
            Some(golden) if golden != fixed => failures.push(format!(
                "{rel}: fixed text differs from the golden file:\n{}",
                diff(&golden, &fixed)
            )),
            Some(_) => {}
        }
    }
    failures.extend(fixes_settle(dir, &files, fixed_files, &fixed_rules));
    match failures.is_empty() {
        true => Ok(()),
        false => Err(format!("{} problems:\n{}", failures.len(), failures.join("\n")).into()),
    }
}

/// Every fix clears the finding it fixes (issue 18): the package analysed again with every fixed
/// text in place of its file offers no fix of a rule whose fix was applied, so a quick fix never
/// leaves its own diagnostic behind. A fix may reveal another rule's finding (a deferred `Done`
/// that `wg.Go` now expresses, a second defect the first one hid): `--fix` applies those in its
/// next round.
fn fixes_settle(
    dir: &Path,
    files: &[PackageFile],
    fixed: Vec<(String, String)>,
    fixed_rules: &HashSet<&str>,
) -> Vec<String> {
    if fixed.is_empty() {
        return Vec::new();
    }
    let again: Vec<PackageFile> = files
        .iter()
        .map(|f| PackageFile {
            name: f.name.clone(),
            source: match fixed.iter().find(|(name, _)| *name == f.name) {
                Some((_, text)) => SourceFile::new(text.clone()),
                None => SourceFile::new(f.source.text().to_string()),
            },
        })
        .collect();
    let outcomes = analyze_package_in_module(
        &again,
        module_version(dir),
        &Config::default(),
        module_summaries(dir).as_ref(),
    );
    let mut failures = Vec::new();
    for (file, outcome) in again.iter().zip(&outcomes) {
        let text = file.source.text();
        let index = LineIndex::new(text);
        for finding in outcome
            .findings
            .iter()
            .filter(|f| !f.fixes.is_empty() && fixed_rules.contains(f.rule))
        {
            let line = index
                .position(text, finding.range.start, Encoding::Utf32)
                .line
                + 1;
            failures.push(format!(
                "{}:{line}: after every fix was applied, {} still offers a fix: {}",
                file.name, finding.rule, finding.message
            ));
        }
    }
    failures
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
