//! A server lays the declarations of the file being typed in over a model of its package's
//! other files (`PackageModel::over`) instead of merging every file again on each keystroke.
//! That must change nothing: for every file of every package folder, the findings with the
//! overlay equal the findings with the whole package merged at once.
//!
//! Inputs: every fixture folder and, when `go` is on PATH, whole standard-library packages where
//! locks, atomics and guarded fields cross files.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{fixtures_root, go_files, goroot, package_dirs};
use goconc_analysis::{analyze, Build, FileDecls, FileOptions, PackageModel, SourceFile};

/// Checks every file of one folder; returns how many findings were compared.
fn check_folder(dir: &Path) -> usize {
    let sources: Vec<SourceFile> = go_files(dir)
        .iter()
        .map(|p| SourceFile::new(std::fs::read_to_string(p).unwrap()))
        .collect();
    let decls: Vec<FileDecls> = sources
        .iter()
        .map(|s| FileDecls::collect(s.tree().root_node(), s.text()))
        .collect();
    let names: Vec<String> = go_files(dir)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
        .collect();
    let builds: Vec<Build> = decls
        .iter()
        .zip(&names)
        .map(|(d, n)| d.build.with_file_name(n))
        .collect();
    let mut compared = 0;
    for (i, source) in sources.iter().enumerate() {
        let package = &decls[i].package_name;
        // The files of the package this one can be compiled with (see `package_models`).
        let seen = |j: usize| decls[j].package_name == *package && builds[j].compatible(&builds[i]);
        let merged_files: Vec<(&FileDecls, &Build)> = (0..decls.len())
            .filter(|&j| seen(j))
            .map(|j| (&decls[j], &builds[j]))
            .collect();
        let merged = PackageModel::from_configured(&merged_files);
        let other_files: Vec<(&FileDecls, &Build)> = (0..decls.len())
            .filter(|&j| j != i && seen(j))
            .map(|j| (&decls[j], &builds[j]))
            .collect();
        let others = PackageModel::from_configured(&other_files);
        let overlay = PackageModel::over(Arc::new(others), &Arc::new(decls[i].clone()));
        let options = FileOptions::default();
        let expected = analyze(source, &merged, &options).findings;
        let found = analyze(source, &overlay, &options).findings;
        assert_eq!(
            found,
            expected,
            "{}: the overlay model changes the findings",
            go_files(dir)[i].display()
        );
        compared += expected.len();
    }
    compared
}

#[test]
fn overlay_equals_the_merged_package_on_fixtures() {
    let mut dirs = Vec::new();
    package_dirs(&fixtures_root(), &mut dirs);
    let compared: usize = dirs.iter().map(|d| check_folder(d)).sum();
    assert!(compared > 100, "only {compared} findings compared");
}

#[test]
fn overlay_equals_the_merged_package_on_the_standard_library() {
    let Some(goroot) = goroot() else {
        eprintln!("go not found: standard library packages skipped");
        return;
    };
    let src = goroot.join("src");
    let mut compared = 0;
    for package in [
        "sync",
        "context",
        "database/sql",
        "net/http",
        "testing",
        "os/exec",
    ] {
        let dir = src.join(package);
        if dir.is_dir() {
            compared += check_folder(&dir);
        }
    }
    eprintln!("{compared} findings compared");
}

/// A keystroke inside a body keeps the file's types: the next overlay takes over what the
/// previous one computed from the package's types, and its findings still equal the merge.
#[test]
fn reused_type_facts_equal_the_merged_package_after_an_edit() {
    let mut dirs = Vec::new();
    package_dirs(&fixtures_root(), &mut dirs);
    let mut reused = 0;
    for dir in dirs {
        let texts: Vec<String> = go_files(&dir)
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect();
        for (i, text) in texts.iter().enumerate() {
            // A blank line typed at the start of the first function body.
            let Some(at) = text
                .find("func ")
                .and_then(|f| text[f..].find("{\n").map(|b| f + b + 2))
            else {
                continue;
            };
            let mut edited = text.clone();
            edited.insert(at, '\n');
            let decls_of = |t: &str| {
                let s = SourceFile::new(t.to_string());
                Arc::new(FileDecls::collect(s.tree().root_node(), s.text()))
            };
            let others: Vec<FileDecls> = texts
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, t)| decls_of(t).as_ref().clone())
                .collect();
            let package = decls_of(text).package_name.clone();
            let base = Arc::new(PackageModel::from_files(
                others.iter().filter(|d| d.package_name == package),
            ));
            let options = FileOptions::default();
            let before = PackageModel::over(base.clone(), &decls_of(text));
            analyze(&SourceFile::new(text.clone()), &before, &options);
            let after_decls = decls_of(&edited);
            let after = PackageModel::over(base, &after_decls);
            after.reuse_type_facts(&before);
            let merged = PackageModel::from_files(
                others
                    .iter()
                    .chain(std::iter::once(after_decls.as_ref()))
                    .filter(|d| d.package_name == package),
            );
            let source = SourceFile::new(edited);
            assert_eq!(
                analyze(&source, &after, &options).findings,
                analyze(&source, &merged, &options).findings,
                "{}",
                go_files(&dir)[i].display()
            );
            reused += 1;
        }
    }
    assert!(reused > 50, "only {reused} edits checked");
}
