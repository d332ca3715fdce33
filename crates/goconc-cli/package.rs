//! Analyzing the files of one folder within a memory budget.
//!
//! `analyze_package` wants every file of the package parsed at once, and a tree-sitter tree takes
//! some 20–40 bytes per byte of Go. Most folders are small; a few are not
//! (`cmd/compile/internal/ssa` holds 12 MB of generated Go: about 450 MB of trees). For folders
//! larger than [`TREE_BUDGET`], this keeps the trees of the files that fit in the budget, reads the
//! declarations of the others and drops their trees, then parses those again one at a time for
//! the analysis. The results are the same as `analyze_package`'s. The budget trades memory for
//! time: at 9 MB, `goconc bench` (one thread, the standard library) peaks at ~360 MB and parses
//! 3 MB of `ssa` twice; at 6 MB it peaked at ~280 MB and parsed 6 MB twice (ratio +0.09); at
//! 13 MB nothing is parsed twice but the peak is ~460 MB.

use std::panic::{catch_unwind, AssertUnwindSafe};

use goconc_analysis::{
    analyze, analyze_package, Config, FileDecls, FileOptions, GoVersion, Outcome, PackageFile,
    SourceFile,
};

/// Bytes of source per folder whose trees are kept in memory together.
pub const TREE_BUDGET: usize = 9_000_000;

/// Checks the files of one folder, given by name and text, as one package (two when there is an
/// external `_test` package). One outcome per file, in the order given.
pub fn analyze_dir(
    files: &[(String, &str)],
    module_go_version: Option<GoVersion>,
    config: &Config,
) -> Vec<Outcome> {
    let total: usize = files.iter().map(|(_, text)| text.len()).sum();
    if total <= TREE_BUDGET {
        let package: Vec<PackageFile> = files
            .iter()
            .map(|(name, text)| PackageFile {
                name: name.clone(),
                source: SourceFile::new(*text),
            })
            .collect();
        return analyze_package(&package, module_go_version, config);
    }
    let mut kept: Vec<Option<SourceFile>> = Vec::with_capacity(files.len());
    let mut decls: Vec<FileDecls> = Vec::with_capacity(files.len());
    let mut budget = TREE_BUDGET;
    for (_, text) in files {
        let source = SourceFile::new(*text);
        decls.push(
            catch_unwind(AssertUnwindSafe(|| {
                FileDecls::collect(source.tree().root_node(), source.text())
            }))
            .unwrap_or_default(),
        );
        if text.len() <= budget {
            budget -= text.len();
            kept.push(Some(source));
        } else {
            kept.push(None);
        }
    }
    let models = goconc_analysis::package_models(&decls);
    files
        .iter()
        .zip(&decls)
        .zip(kept)
        .map(|(((name, text), d), source)| {
            let source = source.unwrap_or_else(|| SourceFile::new(*text));
            let options = FileOptions {
                module_go_version,
                is_test_file: name.ends_with("_test.go"),
                config: config.clone(),
            };
            analyze(&source, &models[d.package_name.as_str()], &options)
        })
        .collect()
}
