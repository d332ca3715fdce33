//! The packages of one module, for calls from one package into another: which packages of the
//! module a package imports, and what each exports ([`PackageExports`]), so that a front end can
//! build them dependencies first and lay them on the models of the packages it analyses.
//!
//! Front ends read `go.mod` and folders; this module turns declarations into summaries.

use std::sync::Arc;

pub use goconc_model::module::{
    folder_in_module, module_path, ExportedFacts, ModuleSummaries, PackageExports,
};

use crate::{FileDecls, PackageModel};

/// Whether a file of a folder belongs to the package other packages import: not a `_test.go`
/// file, not the external test package, not a command, not a file never built.
fn is_importable(name: &str, decls: &FileDecls) -> bool {
    // A command (`package main`, such as a generator kept beside the package it writes) cannot
    // be imported, nor can a file that is never built.
    !name.ends_with("_test.go")
        && !decls.package_name.ends_with("_test")
        && decls.package_name != "main"
        && !decls.build.is_ignored()
}

/// The import paths of packages of the module (`module_path`) that the files of one folder
/// import (test files included: their calls are checked too), sorted, each once.
pub fn module_imports<'a>(
    module_path: &str,
    decls: impl IntoIterator<Item = &'a FileDecls>,
) -> Vec<String> {
    let mut paths: Vec<String> = decls
        .into_iter()
        .flat_map(|d| d.imports.iter())
        .filter(|p| folder_in_module(module_path, p).is_some())
        .cloned()
        .collect();
    paths.sort_unstable();
    paths.dedup();
    paths
}

/// The module imports of only the files another package sees (its non-test files): what must be
/// summarised before this package's exports are.
pub fn module_imports_of_exports<'a>(
    module_path: &str,
    files: impl IntoIterator<Item = (&'a str, &'a FileDecls)>,
) -> Vec<String> {
    module_imports(
        module_path,
        files
            .into_iter()
            .filter(|(name, d)| is_importable(name, d))
            .map(|(_, d)| d),
    )
}

/// What one folder's package exports to the rest of the module, from its files' declarations
/// (`_test.go` files and the external test package left out: no other package sees them), its
/// own calls into the module resolved through `module`.
pub fn package_exports<'a>(
    files: impl IntoIterator<Item = (&'a str, &'a FileDecls)>,
    module: Option<&Arc<ModuleSummaries>>,
) -> PackageExports {
    let importable: Vec<&FileDecls> = files
        .into_iter()
        .filter(|(name, d)| is_importable(name, d))
        .map(|(_, d)| d)
        .collect();
    // A folder holds one importable package; broken code may name two: the most files win.
    let mut names: Vec<&str> = importable.iter().map(|d| d.package_name.as_str()).collect();
    names.sort_unstable();
    let Some(package) = names
        .chunk_by(|a, b| a == b)
        .max_by_key(|run| run.len())
        .and_then(|run| run.first().copied())
    else {
        return PackageExports::default();
    };
    let mut model =
        PackageModel::from_files(importable.into_iter().filter(|d| d.package_name == package));
    if let Some(module) = module {
        model.set_module(module.clone());
    }
    PackageExports::of(&model)
}

#[cfg(test)]
mod tests {
    use super::*;
    use goconc_syntax::SourceFile;

    /// The exports of one folder's `.go` files, from `collect`'s declarations of each file.
    fn exports_of(
        dir: &std::path::Path,
        collect: fn(tree_sitter::Node, &str) -> FileDecls,
    ) -> PackageExports {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "go"))
            .collect();
        names.sort();
        let files: Vec<(String, FileDecls)> = names
            .iter()
            .filter_map(|p| {
                let text = std::fs::read_to_string(p).ok()?;
                let source = SourceFile::new(text);
                let decls = collect(source.tree().root_node(), source.text());
                Some((p.file_name()?.to_string_lossy().into_owned(), decls))
            })
            .collect();
        package_exports(files.iter().map(|(n, d)| (n.as_str(), d)), None)
    }

    fn folders(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        out.push(dir.to_path_buf());
        let mut subs: Vec<_> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        subs.sort();
        for sub in subs {
            folders(&sub, out);
        }
    }

    /// The module's index collects only what exports are made of: each folder's exports are
    /// those the whole declarations make, over the fixtures and standard library packages that
    /// export blocking methods, lockers and functions that end their goroutine.
    #[test]
    fn exports_from_what_they_need_equal_exports_from_whole_declarations() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut dirs = Vec::new();
        folders(&root.join("tests/fixtures"), &mut dirs);
        if let Ok(output) = std::process::Command::new("go")
            .args(["env", "GOROOT"])
            .output()
        {
            let src = std::path::PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
                .join("src");
            for package in [
                "sync",
                "context",
                "net/http",
                "database/sql",
                "testing",
                "log",
            ] {
                dirs.push(src.join(package));
            }
        }
        let mut exported = 0;
        for dir in &dirs {
            let whole = exports_of(dir, FileDecls::collect);
            let needed = exports_of(dir, FileDecls::collect_for_exports);
            assert_eq!(
                whole.content_key(),
                needed.content_key(),
                "{}",
                dir.display()
            );
            exported += whole.len();
        }
        assert!(exported > 50, "only {exported} exported facts compared");
    }
}
