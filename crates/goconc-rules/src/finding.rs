//! What a rule reports: a finding with its byte range, message, related places and fixes.

use std::ops::Range;

/// How serious a finding is. Ordered: `Hint < Info < Warning < Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Hint,
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Hint => "hint",
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }

    pub fn parse(word: &str) -> Option<Severity> {
        Some(match word {
            "hint" => Severity::Hint,
            "info" | "information" => Severity::Info,
            "warning" | "warn" => Severity::Warning,
            "error" => Severity::Error,
            _ => return None,
        })
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Replace the bytes of `range` with `new_text`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TextEdit {
    pub range: Range<usize>,
    pub new_text: String,
}

/// A quick fix: a title for the editor's menu and the edits it makes, none overlapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fix {
    pub title: String,
    pub edits: Vec<TextEdit>,
    pub applicability: Applicability,
}

/// Whether a fix may be applied without review (ruff's model): `goconc check --fix` applies
/// the safe ones, `--unsafe-fixes` the others too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Applicability {
    /// Fixes the bug and changes nothing else the program does.
    #[default]
    Safe,
    /// Fixes the bug but may change behaviour beyond it (a new early return, a changed method
    /// set or API, different synchronization): a person should read it.
    Unsafe,
}

impl Applicability {
    pub fn as_str(self) -> &'static str {
        match self {
            Applicability::Safe => "safe",
            Applicability::Unsafe => "unsafe",
        }
    }
}

/// Another place that explains a finding (where the lock was taken, the `go` statement, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Related {
    pub range: Range<usize>,
    pub message: String,
}

/// One problem found in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The rule id, as in the catalog (`mutex-unlock-missing`).
    pub rule: &'static str,
    /// The severity after configuration.
    pub severity: Severity,
    pub range: Range<usize>,
    pub message: String,
    pub related: Vec<Related>,
    pub fixes: Vec<Fix>,
}

/// Applies edits to a text. Edits are sorted; one that overlaps an earlier edit is skipped, so
/// fixes from several findings can be applied together. Returns the new text and how many edits
/// were applied.
pub fn apply_edits(text: &str, edits: &[TextEdit]) -> (String, usize) {
    let mut sorted: Vec<&TextEdit> = edits.iter().collect();
    sorted.sort_by_key(|e| (e.range.start, e.range.end));
    let mut out = String::with_capacity(text.len());
    let mut cursor = 0;
    let mut applied = 0;
    let mut last_insert_at = None;
    for edit in sorted {
        let Range { start, end } = edit.range;
        if start < cursor || end > text.len() || start > end {
            continue;
        }
        if start == end && last_insert_at == Some(start) && start == cursor {
            // Two insertions at one place from two fixes would be applied twice; keep the first.
            continue;
        }
        if !text.is_char_boundary(start) || !text.is_char_boundary(end) {
            continue;
        }
        out.push_str(&text[cursor..start]);
        out.push_str(&edit.new_text);
        cursor = end;
        last_insert_at = (start == end).then_some(start);
        applied += 1;
    }
    out.push_str(&text[cursor..]);
    (out, applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_edits_keep_the_first() {
        let edits = vec![
            TextEdit {
                range: 4..5,
                new_text: "X".into(),
            },
            TextEdit {
                range: 0..1,
                new_text: "A".into(),
            },
            TextEdit {
                range: 0..2,
                new_text: "B".into(),
            },
        ];
        assert_eq!(apply_edits("abcdef", &edits), ("AbcdXf".to_string(), 2));
    }
}

/// A line number in a message, written as the byte offset it stands for until the findings of
/// the file are final ([`resolve_line_refs`]): an incremental analysis moves a kept finding to
/// where its function is now, and the line numbers in its message follow.
#[derive(Debug, Clone, Copy)]
pub struct LineOf(pub usize);

const LINE_OPEN: char = '\u{E000}';
const LINE_CLOSE: char = '\u{E001}';

impl std::fmt::Display for LineOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{LINE_OPEN}{}{LINE_CLOSE}", self.0)
    }
}

/// Rewrites each line reference of a message with `map` (to a 1-based line for the final
/// text, or to a moved offset).
pub fn map_line_refs(message: &str, mut map: impl FnMut(usize) -> String) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(open) = rest.find(LINE_OPEN) {
        out.push_str(&rest[..open]);
        let after = &rest[open + LINE_OPEN.len_utf8()..];
        let Some(close) = after.find(LINE_CLOSE) else {
            rest = after;
            break;
        };
        if let Ok(offset) = after[..close].parse::<usize>() {
            out.push_str(&map(offset));
        }
        rest = &after[close + LINE_CLOSE.len_utf8()..];
    }
    out.push_str(rest);
    out
}

/// The offsets the line references of a message stand for.
pub fn line_refs(message: &str) -> Vec<usize> {
    let mut found = Vec::new();
    map_line_refs(message, |offset| {
        found.push(offset);
        String::new()
    });
    found
}

/// Puts findings in their final form: sorted by position, one per rule and range, line
/// references turned into line numbers of `src`.
pub fn settle(findings: &mut Vec<Finding>, src: &str) {
    findings.sort_by(|a, b| {
        (a.range.start, a.range.end, a.rule).cmp(&(b.range.start, b.range.end, b.rule))
    });
    findings.dedup_by(|a, b| a.rule == b.rule && a.range == b.range);
    resolve_line_refs(findings, src);
}

/// Turns the line references in the messages of findings into 1-based line numbers of `src`.
fn resolve_line_refs(findings: &mut [Finding], src: &str) {
    let has_refs = |m: &str| m.contains(LINE_OPEN);
    if !findings
        .iter()
        .any(|f| has_refs(&f.message) || f.related.iter().any(|r| has_refs(&r.message)))
    {
        return;
    }
    let index = goconc_syntax::LineIndex::new(src);
    let line = |offset: usize| {
        let at = index.position(src, offset.min(src.len()), goconc_syntax::Encoding::Utf8);
        (at.line + 1).to_string()
    };
    for finding in findings {
        if has_refs(&finding.message) {
            finding.message = map_line_refs(&finding.message, line);
        }
        for related in &mut finding.related {
            if has_refs(&related.message) {
                related.message = map_line_refs(&related.message, line);
            }
        }
    }
}
