//! Code actions from findings: a `quickfix` per fix (unsafe ones marked in their title and never
//! preferred), "Ignore RULE on this line", "Show documentation for RULE", and
//! `source.fixAll.goconc` (safe fixes only). Byte-offset logic lives here; LSP conversion in
//! [`crate::convert`].

use std::ops::Range;

use goconc_analysis::{Applicability, Finding, Fix, TextEdit};
use tower_lsp_server::ls_types::{CodeAction, CodeActionKind, CodeActionOrCommand, Command, Uri};

use crate::commands;
use crate::convert::{self, Positions};

/// What the title of an unsafe fix ends with: the fix is right for the bug but may change more,
/// so it is offered one at a time, for a person to read, and never applied by fix-all.
pub const UNSAFE_MARK: &str = " (unsafe: may change behaviour)";

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
        let mut documented: Vec<&str> = Vec::new();
        for finding in findings {
            let touches =
                finding.range.start <= req.range.end && req.range.start <= finding.range.end;
            if !touches {
                continue;
            }
            let diagnostic = convert::diagnostic(finding, req.uri, at, req.rules_base_url);
            let preferred = finding
                .fixes
                .iter()
                .position(|f| f.applicability == Applicability::Safe);
            for (i, fix) in finding.fixes.iter().enumerate() {
                let title = match fix.applicability {
                    Applicability::Safe => fix.title.clone(),
                    Applicability::Unsafe => format!("{}{UNSAFE_MARK}", fix.title),
                };
                actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                    title,
                    kind: Some(CodeActionKind::QUICKFIX),
                    diagnostics: Some(vec![diagnostic.clone()]),
                    edit: Some(convert::workspace_edit(
                        req.uri,
                        req.version,
                        convert::text_edits(&fix.edits, at),
                        req.document_changes,
                    )),
                    is_preferred: Some(preferred == Some(i)),
                    ..CodeAction::default()
                }));
            }
            if let Some(ignore) = ignore_edit(finding, at) {
                actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                    title: format!("Ignore {} on this line", finding.rule),
                    kind: Some(CodeActionKind::QUICKFIX),
                    diagnostics: Some(vec![diagnostic.clone()]),
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
            // Once per rule: two findings of one rule share one page.
            if !documented.contains(&finding.rule) {
                documented.push(finding.rule);
                let title = format!("Show documentation for {}", finding.rule);
                actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                    title: title.clone(),
                    kind: Some(CodeActionKind::QUICKFIX),
                    diagnostics: Some(vec![diagnostic]),
                    command: Some(Command {
                        title,
                        command: commands::EXPLAIN.to_string(),
                        arguments: Some(vec![serde_json::Value::from(finding.rule)]),
                    }),
                    is_preferred: Some(false),
                    ..CodeAction::default()
                }));
            }
        }
    }
    if req.wants(FIX_ALL_KIND) {
        let (edits, _) = fix_all_edits(findings);
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

/// The edits of fix-all and how many findings they fix: the first safe fix of every finding,
/// taken whole, in the findings' order, unless one of its edits overlaps an edit already taken
/// (half a fix could leave code that does not compile). The selection `goconc check --fix` makes
/// in one round.
pub fn fix_all_edits(findings: &[Finding]) -> (Vec<TextEdit>, usize) {
    let mut taken: Vec<&TextEdit> = Vec::new();
    let mut fixed = 0;
    for finding in findings {
        let Some(fix) = finding
            .fixes
            .iter()
            .find(|f| f.applicability == Applicability::Safe)
        else {
            continue;
        };
        if fits(fix, &taken) {
            taken.extend(&fix.edits);
            fixed += 1;
        }
    }
    let mut edits: Vec<TextEdit> = taken.into_iter().cloned().collect();
    edits.sort_by_key(|e| (e.range.start, e.range.end));
    (edits, fixed)
}

/// Whether a fix's edits are well formed and overlap neither each other nor `taken`. Two
/// insertions at one offset overlap: their order would be up to the client.
fn fits(fix: &Fix, taken: &[&TextEdit]) -> bool {
    let overlaps = |a: &Range<usize>, b: &Range<usize>| {
        a.start < b.end && b.start < a.end || a.start == b.start
    };
    fix.edits.iter().enumerate().all(|(i, edit)| {
        edit.range.start <= edit.range.end
            && taken.iter().all(|t| !overlaps(&edit.range, &t.range))
            && fix.edits[..i]
                .iter()
                .all(|e| !overlaps(&edit.range, &e.range))
    })
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

    fn fix(range: Range<usize>, applicability: Applicability) -> Fix {
        Fix {
            title: "f".into(),
            edits: vec![TextEdit {
                range,
                new_text: "X".into(),
            }],
            applicability,
        }
    }

    #[test]
    fn fix_all_skips_overlaps_and_takes_fixes_whole() {
        let mut a = finding("abcdef", "ab");
        a.fixes.push(fix(0..2, Applicability::Safe));
        let mut b = finding("abcdef", "bc");
        b.fixes.push(fix(1..3, Applicability::Safe));
        // Two edits, the second overlapping `a`'s: none of them is taken.
        let mut c = finding("abcdef", "ef");
        let mut two = fix(4..5, Applicability::Safe);
        two.edits.push(TextEdit {
            range: 1..2,
            new_text: "Z".into(),
        });
        c.fixes.push(two);
        let (edits, fixed) = fix_all_edits(&[a, b, c]);
        assert_eq!((edits.len(), fixed), (1, 1), "{edits:?}");
        assert_eq!(edits[0].range, 0..2);
    }

    #[test]
    fn fix_all_takes_the_first_safe_fix_and_leaves_unsafe_ones() {
        let mut a = finding("abcdef", "ab");
        a.fixes.push(fix(0..1, Applicability::Unsafe));
        a.fixes.push(fix(1..2, Applicability::Safe));
        let mut b = finding("abcdef", "ef");
        b.fixes.push(fix(4..6, Applicability::Unsafe));
        let (edits, fixed) = fix_all_edits(&[a, b]);
        assert_eq!(fixed, 1);
        assert_eq!(edits.len(), 1);
        assert_eq!(edits[0].range, 1..2);
    }
}
