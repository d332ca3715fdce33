//! The goconc analysis engine: Go concurrency rules over tree-sitter syntax trees, with a model
//! of Go built from the package's own source instead of a type checker.
//!
//! It knows nothing of LSP, JSON or the file system. Front ends hand it texts and get back
//! [`Finding`]s with byte ranges; they convert positions at their edge with [`LineIndex`].

// Visitors match on node kinds and then test fields; folding those tests into match guards
// would scatter one check over several arms.
#![allow(clippy::collapsible_match)]

pub mod config;
pub mod incremental;
pub mod module;
#[cfg(test)]
mod quiet_tests;
pub mod suppress;

use std::panic::{catch_unwind, AssertUnwindSafe};

pub use config::{Config, ConfigError};
pub use goconc_model::build::Build;
pub use goconc_model::header::header_decls;
pub use goconc_model::package::{is_generated, PackageViews};
pub use goconc_model::quiet::{is_quiet_file, is_quiet_text};
pub use goconc_model::scope::MAX_NESTING;
pub use goconc_model::{FileDecls, GoVersion, PackageModel};
/// The rule catalog: [`rules::all`], [`rules::find`], each rule's [`RuleMeta`].
pub use goconc_rules as rules;
pub use goconc_rules::{
    apply_edits, Applicability, Finding, Fix, Outcome, Related, RuleMeta, Severity, TextEdit,
};
pub use goconc_syntax::{parse_text, EditError, Encoding, LineCol, LineIndex, SourceFile};
pub use goconc_syntax::{HashMap, HashSet};
pub use incremental::IncrementalFile;
pub use module::ModuleSummaries;

/// What the engine needs to know about a file besides its text.
#[derive(Debug, Clone, Default)]
pub struct FileOptions {
    /// The module's Go version (`go.mod`); None means the newest Go.
    pub module_go_version: Option<GoVersion>,
    /// `_test.go` files: test-only rules apply.
    pub is_test_file: bool,
    pub config: Config,
}

/// The Go version rules use for a file: a `//go:build go1.N` line lowers it below the module's (or
/// the configured) version.
pub fn effective_go_version(src: &str, options: &FileOptions) -> GoVersion {
    let base = options
        .config
        .go_version
        .or(options.module_go_version)
        .unwrap_or(GoVersion::NEWEST);
    match GoVersion::from_build_constraint(src) {
        Some(file) => file.min(base),
        None => base,
    }
}

/// Checks one file. `package` holds the declarations of every file of its package (including
/// this one); [`analyze_alone`] builds it from the file by itself.
pub fn analyze(file: &SourceFile, package: &PackageModel, options: &FileOptions) -> Outcome {
    analyze_skipping(file.tree(), file.text(), package, options, true)
}

/// [`analyze`] for a tree and the text it was parsed from ([`parse_text`]), held apart: the CLI
/// keeps each file's text and would otherwise hold a second copy in a [`SourceFile`].
pub fn analyze_tree(
    tree: &tree_sitter::Tree,
    src: &str,
    package: &PackageModel,
    options: &FileOptions,
) -> Outcome {
    analyze_skipping(tree, src, package, options, true)
}

/// Lays out the tree of `src` for the walks of the model and the rules, as [`analyze`] does:
/// without the top-level declarations nested too deep to read. While the layout is installed
/// ([`goconc_syntax::preorder::LaidOut::install`]), reading the file's declarations and
/// analysing it share it instead of each building its own.
pub fn lay_out(tree: tree_sitter::Tree, src: &str) -> goconc_syntax::preorder::LaidOut {
    let too_deep = goconc_model::scope::too_deep_items(tree.root_node(), src);
    goconc_syntax::preorder::LaidOut::new(tree, &too_deep)
}

/// [`analyze`], optionally reading the quiet functions too (the tests compare both).
pub(crate) fn analyze_skipping(
    tree: &tree_sitter::Tree,
    src: &str,
    package: &PackageModel,
    options: &FileOptions,
    skip_quiet: bool,
) -> Outcome {
    let root = tree.root_node();
    // Said even of a quiet file: the user learns that part of the file was not read.
    let too_deep = goconc_model::scope::too_deep_items(root, src);
    // Every walk of the model and the rules below reads this layout of the tree.
    let _layout = goconc_syntax::preorder::install_skipping(root, &too_deep);
    let built = catch_unwind(AssertUnwindSafe(|| {
        let imports = goconc_model::imports::Imports::from_tree(root, src);
        let items = goconc_model::scope::top_level_items(root, src);
        // No rule reports in a quiet file, nor in a quiet function: neither the model nor the
        // rules read them.
        let quiet_file = skip_quiet
            && goconc_model::quiet::is_quiet_text(
                src,
                goconc_model::quiet::declarations_start(&items, src),
                goconc_model::quiet::spells_sync_plainly(&imports),
                package,
            );
        if quiet_file {
            return None;
        }
        let quiet = match skip_quiet {
            true => goconc_model::quiet::quiet_functions(&items, src, &imports, package),
            false => Default::default(),
        };
        let skipped: Vec<std::ops::Range<usize>> = items
            .iter()
            .filter(|item| quiet.contains(&item.start_byte()))
            .map(|item| item.byte_range())
            .collect();
        let (model, index) =
            goconc_model::FileModel::build_partial(root, src, package, &quiet, imports, &items);
        Some((model, index, skipped))
    }));
    let Ok(built) = built else {
        return Outcome {
            findings: Vec::new(),
            failed_rules: vec!["model"],
            too_deep: Vec::new(),
        };
    };
    let Some((model, index, skipped)) = built else {
        // A quiet file: no rule reports, but its suppression comments still may.
        let mut outcome = Outcome {
            too_deep,
            ..Outcome::default()
        };
        finish(&mut outcome.findings, Some(root), src, options);
        return outcome;
    };
    let mut outcome = run_rules(model, index, options, skipped);
    outcome.too_deep = too_deep;
    finish(&mut outcome.findings, Some(root), src, options);
    outcome
}

/// The outcome of a file in which no rule can report ([`is_quiet_file`]), told without parsing
/// it: only the findings about its suppression comments.
pub fn quiet_outcome(src: &str, options: &FileOptions) -> Outcome {
    let mut outcome = Outcome::default();
    finish(&mut outcome.findings, None, src, options);
    outcome
}

/// Runs every enabled rule over a model, with the severities of the configuration. `skipped`:
/// the top-level functions the model leaves out.
fn run_rules<'t>(
    model: goconc_model::FileModel<'t>,
    index: goconc_model::index::NodeIndex<'t>,
    options: &FileOptions,
    skipped: Vec<std::ops::Range<usize>>,
) -> Outcome {
    let facts = goconc_rules::FileFacts {
        go_version: effective_go_version(model.src, options),
        is_test_file: options.is_test_file,
    };
    let config = &options.config;
    goconc_rules::run(model, index, facts, skipped, &|meta| match (
        config.severities.contains_key(meta.id),
        config.severity(meta),
    ) {
        (_, None) => goconc_rules::RuleSetting::Off,
        (true, Some(severity)) => goconc_rules::RuleSetting::Severity(severity),
        (false, Some(_)) => goconc_rules::RuleSetting::Default,
    })
}

/// Drops suppressed findings and adds those about the suppression comments
/// ([`suppress::Suppressions::apply`]), then settles them all
/// ([`goconc_rules::finding::settle`]). `root`: the file's tree, for directives that cover a
/// declaration.
fn finish(
    findings: &mut Vec<Finding>,
    root: Option<tree_sitter::Node>,
    src: &str,
    options: &FileOptions,
) {
    let suppressions = suppress::Suppressions::parse(src, root);
    suppressions.apply(findings, src, &options.config);
    goconc_rules::finding::settle(findings, src);
}

/// Checks one file on its own, as if it were the whole package.
pub fn analyze_alone(file: &SourceFile, options: &FileOptions) -> Outcome {
    let decls = FileDecls::collect(file.tree().root_node(), file.text());
    let package = PackageModel::from_files([&decls]);
    analyze(file, &package, options)
}

/// One file of a package, named by its file name (for `_test.go`).
pub struct PackageFile {
    pub name: String,
    pub source: SourceFile,
}

/// Checks the files of one directory together: each file sees the declarations of every file of
/// the same package (an external `foo_test` package also sees those of `foo`). Returns one
/// outcome per file, in the order given.
pub fn analyze_package(
    files: &[PackageFile],
    module_go_version: Option<GoVersion>,
    config: &Config,
) -> Vec<Outcome> {
    analyze_package_in_module(files, module_go_version, config, None)
}

/// [`analyze_package`], with the exports of the module's other packages the files import (see
/// [`module`]).
pub fn analyze_package_in_module(
    files: &[PackageFile],
    module_go_version: Option<GoVersion>,
    config: &Config,
    module: Option<&std::sync::Arc<ModuleSummaries>>,
) -> Vec<Outcome> {
    let decls: Vec<FileDecls> = files
        .iter()
        .map(|f| {
            catch_unwind(AssertUnwindSafe(|| {
                FileDecls::collect(f.source.tree().root_node(), f.source.text())
            }))
            .unwrap_or_default()
        })
        .collect();
    let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    let models = package_models_in_module(&names, &decls, module);
    files
        .iter()
        .enumerate()
        .map(|(i, file)| {
            let options = FileOptions {
                module_go_version,
                is_test_file: file.name.ends_with("_test.go"),
                config: config.clone(),
            };
            analyze(&file.source, models.of(i), &options)
        })
        .collect()
}

/// The package model each file of one directory sees: its package's declarations (an external
/// test package `foo_test` also sees `foo`'s), from the files it can be compiled with — a file
/// for another GOOS or GOARCH (`x_windows.go`, `//go:build windows`) does not lend its
/// declarations to a Linux file. `names` are the files' names, in the order of `decls`.
pub fn package_models(names: &[&str], decls: &[FileDecls]) -> PackageModels {
    package_models_in_module(names, decls, None)
}

/// [`package_models`], with the exports of the module's other packages laid on every model (calls
/// into them use their summaries).
pub fn package_models_in_module(
    names: &[&str],
    decls: &[FileDecls],
    module: Option<&std::sync::Arc<ModuleSummaries>>,
) -> PackageModels {
    let mut models = PackageModels::for_files(decls.len());
    for (package, members) in packages_of(decls) {
        let files: Vec<(&FileDecls, Build)> = members
            .iter()
            .map(|&i| (&decls[i], file_build(names, decls, i)))
            .collect();
        models.add(&package, &members, decls, PackageViews::new(&files), module);
    }
    models
}

/// [`package_models_in_module`], taking the declarations: each file's are moved into the model
/// of the last package that merges them whole (a package without build constraints), not copied.
pub fn package_models_given(
    names: &[&str],
    mut decls: Vec<FileDecls>,
    module: Option<&std::sync::Arc<ModuleSummaries>>,
) -> PackageModels {
    let mut models = PackageModels::for_files(decls.len());
    let packages = packages_of(&decls);
    // The last package each file is a member of (a file of `foo` is one of `foo_test`'s too).
    let mut last_use = vec![0; decls.len()];
    for (k, (_, members)) in packages.iter().enumerate() {
        for &i in members {
            last_use[i] = k;
        }
    }
    for (k, (package, members)) in packages.into_iter().enumerate() {
        let builds: Vec<Build> = members
            .iter()
            .map(|&i| file_build(names, &decls, i))
            .collect();
        // What tells models apart is kept: a file's package name.
        let mut given: Vec<Option<FileDecls>> = members
            .iter()
            .map(|&i| {
                (last_use[i] == k).then(|| {
                    let package_name = decls[i].package_name.clone();
                    std::mem::replace(
                        &mut decls[i],
                        FileDecls {
                            package_name,
                            ..FileDecls::default()
                        },
                    )
                })
            })
            .collect();
        let files: Vec<(std::borrow::Cow<FileDecls>, Build)> = members
            .iter()
            .zip(given.iter_mut())
            .zip(builds)
            .map(|((&i, given), build)| match given.take() {
                Some(owned) => (std::borrow::Cow::Owned(owned), build),
                None => (std::borrow::Cow::Borrowed(&decls[i]), build),
            })
            .collect();
        let views = PackageViews::new_given(files);
        models.add(&package, &members, &decls, views, module);
    }
    models
}

/// The package names of the files, in order of first appearance, each with its members: its own
/// files, and for an external test package `foo_test` the files of `foo` too.
fn packages_of(decls: &[FileDecls]) -> Vec<(String, Vec<usize>)> {
    let mut packages: Vec<&str> = Vec::new();
    for d in decls {
        if !packages.contains(&d.package_name.as_str()) {
            packages.push(&d.package_name);
        }
    }
    packages
        .into_iter()
        .map(|package| {
            let base = package.strip_suffix("_test").unwrap_or(package);
            let members: Vec<usize> = (0..decls.len())
                .filter(|&i| decls[i].package_name == base || decls[i].package_name == package)
                .collect();
            (package.to_string(), members)
        })
        .collect()
}

/// The build configuration of file `i`: its constraint line and its name's.
fn file_build(names: &[&str], decls: &[FileDecls], i: usize) -> Build {
    let name = names.get(i).copied().unwrap_or("");
    decls[i].build.with_file_name(name)
}

/// What [`package_models`] returns: the model each file sees.
pub struct PackageModels {
    views: Vec<PackageViews>,
    of_file: Vec<(usize, usize)>,
}

impl PackageModels {
    fn for_files(count: usize) -> PackageModels {
        PackageModels {
            views: Vec::new(),
            of_file: vec![(0, 0); count],
        }
    }

    /// Adds the views of `package`, whose `members` are indices of `decls`.
    fn add(
        &mut self,
        package: &str,
        members: &[usize],
        decls: &[FileDecls],
        mut views: PackageViews,
        module: Option<&std::sync::Arc<ModuleSummaries>>,
    ) {
        for (k, &i) in members.iter().enumerate() {
            if decls[i].package_name == package {
                self.of_file[i] = (self.views.len(), k);
            }
        }
        if let Some(module) = module {
            views.set_module(module);
        }
        self.views.push(views);
    }

    /// The model file `index` (in the order given to [`package_models`]) sees.
    pub fn of(&self, index: usize) -> &PackageModel {
        let (view, member) = self.of_file[index];
        self.views[view].of(member)
    }
}

#[cfg(test)]
mod given_tests {
    use super::*;

    /// Taking the declarations builds the models that lending them does: for a package with an
    /// external test package (whose model merges the package's files too) and for files with
    /// build constraints (merged per configuration, so copied).
    #[test]
    fn models_of_given_declarations_are_those_of_lent_ones() {
        let files = [
            ("a.go", "package p\n\nimport \"sync\"\n\ntype S struct {\n\tmu sync.Mutex\n\tn  int\n}\n\nfunc (s *S) Lock() { s.mu.Lock() }\n"),
            ("b_linux.go", "package p\n\nfunc (s *S) Get() int {\n\ts.Lock()\n\treturn s.n\n}\n"),
            ("b_windows.go", "//go:build windows\n\npackage p\n\nfunc (s *S) Get() int { return 0 }\n"),
            ("a_test.go", "package p_test\n\nimport \"p\"\n\nfunc use(s *p.S) { s.Lock() }\n"),
            ("c.go", "package p\n\nvar global p.S\n\nfunc F() { global.Lock() }\n"),
        ];
        let decls: Vec<FileDecls> = files
            .iter()
            .map(|(_, text)| {
                let source = SourceFile::new(*text);
                FileDecls::collect(source.tree().root_node(), source.text())
            })
            .collect();
        let names: Vec<&str> = files.iter().map(|(name, _)| *name).collect();
        let lent = package_models_in_module(&names, &decls, None);
        let given = package_models_given(&names, decls.clone(), None);
        for (i, (name, _)) in files.iter().enumerate() {
            let (lent, given) = (format!("{:?}", lent.of(i)), format!("{:?}", given.of(i)));
            assert!(lent.contains("Lock"), "{name}: {lent}");
            assert_eq!(lent, given, "{name}");
        }
    }
}
