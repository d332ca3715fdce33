//! What rule unit tests share: one rule's findings on a text, where they are, and the text with
//! their fixes applied (the fixture harness does the same for folders of Go code).

use crate::{analyze_alone, apply_edits, FileOptions, Finding, SourceFile};

/// The findings of `rule` on `src`, analysed alone with `options`.
pub(crate) fn findings_with(rule: &str, src: &str, options: &FileOptions) -> Vec<Finding> {
    analyze_alone(&SourceFile::new(src), options)
        .findings
        .into_iter()
        .filter(|f| f.rule == rule)
        .collect()
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
