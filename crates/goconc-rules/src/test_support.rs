//! What rule unit tests share: one rule's findings on a text, where they are, and the text with
//! their fixes applied (the fixture harness does the same for folders of Go code).

use crate::{apply_edits, FileFacts, Finding, Outcome, RuleSetting};
use goconc_model::{FileDecls, FileModel, GoVersion, Imports, PackageModel};
use goconc_syntax::SourceFile;

/// What the engine knows of a test's file besides its text.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FileOptions {
    /// None: the newest Go.
    pub module_go_version: Option<GoVersion>,
    pub is_test_file: bool,
}

/// Every rule on `file`, analysed alone as its own package, every function read (the engine's
/// `analyze_alone` without suppressions or quiet functions), findings settled.
pub(crate) fn analyze_alone(file: &SourceFile, options: &FileOptions) -> Outcome {
    let src = file.text();
    let root = file.tree().root_node();
    let decls = FileDecls::collect(root, src);
    let package = PackageModel::from_files([&decls]);
    let items = goconc_model::scope::top_level_items(root, src);
    let imports = Imports::from_tree(root, src);
    let (model, index) =
        FileModel::build_partial(root, src, &package, &Default::default(), imports, &items);
    let base = options.module_go_version.unwrap_or(GoVersion::NEWEST);
    let go_version = match GoVersion::from_build_constraint(src) {
        Some(file) => file.min(base),
        None => base,
    };
    let facts = FileFacts {
        go_version,
        is_test_file: options.is_test_file,
    };
    let mut outcome = crate::run(model, index, facts, Vec::new(), &|_| RuleSetting::Default);
    crate::finding::settle(&mut outcome.findings, src);
    outcome
}

/// The findings of `rule` on `src`, analysed alone with `options`.
pub(crate) fn findings_with(rule: &str, src: &str, options: &FileOptions) -> Vec<Finding> {
    analyze_alone(&SourceFile::new(src), options)
        .findings
        .into_iter()
        .filter(|f| f.rule == rule)
        .collect()
}

/// Does the rule's page say `words`, whatever its line breaks? (A limit in the code is named on
/// the pages of the rules it silences.)
pub(crate) fn page_says(meta: &crate::RuleMeta, words: &str) -> bool {
    let page = meta.doc.split_whitespace().collect::<Vec<_>>().join(" ");
    page.contains(words)
}

/// The findings of `rule` on `src` with default options.
pub(crate) fn findings(rule: &str, src: &str) -> Vec<Finding> {
    findings_with(rule, src, &FileOptions::default())
}

/// The source text each finding covers.
pub(crate) fn snippets(findings: &[Finding], src: &str) -> Vec<String> {
    findings
        .iter()
        .map(|f| src[f.range.clone()].to_string())
        .collect()
}

/// The 1-based lines the findings start on, and the text after every first fix.
pub(crate) fn lines_and_fixed(findings: &[Finding], src: &str) -> (Vec<usize>, String) {
    let lines = findings
        .iter()
        .map(|f| src[..f.range.start].matches('\n').count() + 1)
        .collect();
    let edits: Vec<_> = findings
        .iter()
        .filter_map(|f| f.fixes.first())
        .flat_map(|fix| fix.edits.clone())
        .collect();
    (lines, apply_edits(src, &edits).0)
}

/// The 1-based line of a byte offset.
pub(crate) fn line_of(src: &str, offset: usize) -> usize {
    src[..offset.min(src.len())].matches('\n').count() + 1
}
