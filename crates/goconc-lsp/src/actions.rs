//! Code actions from findings: a `quickfix` per fix, "Ignore RULE on this line", and
//! `source.fixAll.goconc`. Byte-offset logic lives here; LSP conversion in [`crate::convert`].

use std::ops::Range;

use goconc_analysis::{Finding, TextEdit};
use tower_lsp_server::ls_types::{CodeAction, CodeActionKind, CodeActionOrCommand, Uri};

use crate::convert::{self, Positions};

/// The fix-all kind we offer (under `source.fixAll`, so "fix all on save" settings pick it up).
pub const FIX_ALL_KIND: &str = "source.fixAll.goconc";

/// What the code action request asks and what the client accepts.
pub struct Request<'a> {
    pub uri: &'a Uri,
    pub version: i32,
    /// The requested range, in bytes.
    pub range: Range<usize>,
    /// `context.only`, if given.
    pub only: Option<Vec<CodeActionKind>>,
    pub document_changes: bool,
    pub rules_base_url: &'a str,
}

impl Request<'_> {
    /// Whether an action of `kind` is wanted: `only` entries are prefixes (`source` matches
    /// `source.fixAll.goconc`).
    fn wants(&self, kind: &str) -> bool {
        match &self.only {
            None => true,
            Some(only) => only.iter().any(|o| {
                let o = o.as_str();
                kind == o
                    || kind
                        .strip_prefix(o)
                        .is_some_and(|rest| rest.starts_with('.'))
            }),
        }
    }
}

pub fn code_actions(
    findings: &[Finding],
    at: &Positions,
    req: &Request,
) -> Vec<CodeActionOrCommand> {
    let mut actions = Vec::new();
    if req.wants(CodeActionKind::QUICKFIX.as_str()) {
        for finding in findings {
            let touches =
                finding.range.start <= req.range.end && req.range.start <= finding.range.end;
            if !touches {
                continue;
            }
            let diagnostic = convert::diagnostic(finding, req.uri, at, req.rules_base_url);
            for (i, fix) in finding.fixes.iter().enumerate() {
                actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                    title: fix.title.clone(),
                    kind: Some(CodeActionKind::QUICKFIX),
                    diagnostics: Some(vec![diagnostic.clone()]),
                    edit: Some(convert::workspace_edit(
                        req.uri,
                        req.version,
                        convert::text_edits(&fix.edits, at),
                        req.document_changes,
                    )),
                    is_preferred: Some(i == 0),
                    ..CodeAction::default()
                }));
            }
            let Some(ignore) = ignore_edit(finding, at) else {
                continue;
            };
            actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                title: format!("Ignore {} on this line", finding.rule),
                kind: Some(CodeActionKind::QUICKFIX),
                diagnostics: Some(vec![diagnostic]),
                edit: Some(convert::workspace_edit(
                    req.uri,
                    req.version,
                    convert::text_edits(&[ignore], at),
                    req.document_changes,
                )),
                is_preferred: Some(false),
                ..CodeAction::default()
            }));
        }
    }
    if req.wants(FIX_ALL_KIND) {
        let edits = fix_all_edits(findings);
        if !edits.is_empty() {
            actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                title: "Fix all goconc problems".to_string(),
                kind: Some(CodeActionKind::from(FIX_ALL_KIND)),
                edit: Some(convert::workspace_edit(
                    req.uri,
                    req.version,
                    convert::text_edits(&edits, at),
                    req.document_changes,
                )),
                ..CodeAction::default()
            }));
        }
    }
    actions
}

/// The first fix of every finding, minus edits that overlap an earlier one (the same selection
/// `goconc check --fix` and the fixture goldens make with `apply_edits`).
pub fn fix_all_edits(findings: &[Finding]) -> Vec<TextEdit> {
    let mut edits: Vec<&TextEdit> = findings
        .iter()
        .filter_map(|f| f.fixes.first())
        .flat_map(|fix| &fix.edits)
        .collect();
    edits.sort_by_key(|e| (e.range.start, e.range.end));
    let mut kept: Vec<TextEdit> = Vec::new();
    let mut cursor = 0;
    let mut last_insert_at = None;
    for edit in edits {
        let Range { start, end } = edit.range;
        if start < cursor || start > end {
            continue;
        }
        if start == end && last_insert_at == Some(start) && start == cursor {
            continue;
        }
        cursor = end;
        last_insert_at = (start == end).then_some(start);
        kept.push(edit.clone());
    }
    kept
}

/// `//goconc:ignore RULE reason` on its own line above the finding's first line, indented like
/// that line (gofmt keeps it as is). When the line above already holds an ignore directive, the
/// rule is added to it instead (a second directive line would push the first one off its line).
/// None when the line above already ignores the rule.
pub fn ignore_edit(finding: &Finding, at: &Positions) -> Option<TextEdit> {
    let text = at.text;
    let line = at.line_of(finding.range.start);
    let line_start = at.line_start(finding.range.start);
    if line > 0 {
        if let Some(above) = at.line_range(line - 1) {
            let above_text = &text[above.clone()];
            let trimmed = above_text.trim_start();
            if let Some(rest) = trimmed.strip_prefix("//goconc:ignore") {
                let ids_start =
                    above.start + (above_text.len() - trimmed.len()) + "//goconc:ignore".len();
                let ids_len = rest.len() - rest.trim_start().len();
                let ids = rest.split_whitespace().next().unwrap_or("");
                let ids_at = ids_start + ids_len;
                if ids.is_empty() || ids.split(',').any(|id| id == finding.rule || id == "all") {
                    // Already ignored (the findings are not yet re-analysed).
                    return None;
                }
                let end = ids_at + ids.len();
                return Some(TextEdit {
                    range: end..end,
                    new_text: format!(",{}", finding.rule),
                });
            }
        }
    }
    let indent: String = text[line_start..]
        .chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .collect();
    let newline = if text[line_start..]
        .split('\n')
        .next()
        .is_some_and(|l| l.ends_with('\r'))
    {
        "\r\n"
    } else {
        "\n"
    };
    Some(TextEdit {
        range: line_start..line_start,
        new_text: format!("{indent}//goconc:ignore {} reason{newline}", finding.rule),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use goconc_analysis::{apply_edits, Encoding, LineIndex, Severity};

    fn finding(text: &str, at: &str) -> Finding {
        let start = text.find(at).unwrap();
        Finding {
            rule: "mutex-defer-lock",
            severity: Severity::Error,
            range: start..start + at.len(),
            message: String::new(),
            related: vec![],
            fixes: vec![],
        }
    }

    #[test]
    fn ignore_comment_is_indented_and_merges() {
        let text = "func f() {\n\tif x {\n\t\tmu.Lock()\n\t}\n}\n";
        let index = LineIndex::new(text);
        let at = Positions::new(text, &index, Encoding::Utf16);
        let edit = ignore_edit(&finding(text, "mu.Lock()"), &at).unwrap();
        let (out, _) = apply_edits(text, &[edit]);
        assert_eq!(out, "func f() {\n\tif x {\n\t\t//goconc:ignore mutex-defer-lock reason\n\t\tmu.Lock()\n\t}\n}\n");

        let text = "\t//goconc:ignore mutex-unlock-missing why\n\tmu.Lock()\n";
        let index = LineIndex::new(text);
        let at = Positions::new(text, &index, Encoding::Utf16);
        let (out, _) = apply_edits(
            text,
            &[ignore_edit(&finding(text, "mu.Lock()"), &at).unwrap()],
        );
        assert_eq!(
            out,
            "\t//goconc:ignore mutex-unlock-missing,mutex-defer-lock why\n\tmu.Lock()\n"
        );
    }

    #[test]
    fn fix_all_skips_overlaps() {
        let mut a = finding("abcdef", "ab");
        a.fixes.push(goconc_analysis::Fix {
            title: "a".into(),
            edits: vec![TextEdit {
                range: 0..2,
                new_text: "X".into(),
            }],
            applicability: Default::default(),
        });
        let mut b = finding("abcdef", "bc");
        b.fixes.push(goconc_analysis::Fix {
            title: "b".into(),
            edits: vec![TextEdit {
                range: 1..3,
                new_text: "Y".into(),
            }],
            applicability: Default::default(),
        });
        let edits = fix_all_edits(&[a, b]);
        assert_eq!(edits.len(), 1);
    }
}
