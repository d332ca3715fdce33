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
/// file, not the external test package.
fn is_importable(name: &str, decls: &FileDecls) -> bool {
    !name.ends_with("_test.go") && !decls.package_name.ends_with("_test")
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

/// A file's declarations cut down to what its package's exports are computed from (types,
/// signatures, summaries, goroutine facts): an index of a whole module keeps these, never the
/// field accesses, atomics and call sites only an analysis of the file itself reads.
pub fn for_summaries(decls: FileDecls) -> FileDecls {
    FileDecls {
        atomics: Vec::new(),
        call_sites: Vec::new(),
        field_accesses: Vec::new(),
        method_calls: Vec::new(),
        usage: Default::default(),
        ..decls
    }
}
