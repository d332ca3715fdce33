//! Every conversion between LSP types and the engine's: positions ⇄ byte offsets, findings →
//! diagnostics, fixes → text edits, URIs ⇄ paths.
//!
//! The engine speaks byte offsets; the client speaks (line, column) in the negotiated encoding,
//! with LSP's lines: `\n`, `\r\n` and a lone `\r` end a line (build indexes with
//! [`LineIndex::new_lsp`]; Go, and the engine's messages, count `\n` only).
//! Nothing else in the server touches an `ls_types::Position`, so a change of the types crate or of
//! the position rules touches this module only.

use std::ops::Range;
use std::path::{Path, PathBuf};

use goconc_analysis::{Encoding, Finding, LineCol, LineIndex, Severity};
use tower_lsp_server::ls_types::{
    self as lsp, CodeDescription, Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity,
    Location, NumberOrString, OneOf, OptionalVersionedTextDocumentIdentifier, Position,
    PositionEncodingKind, TextDocumentEdit, Uri, WorkspaceEdit,
};

/// What `diagnostic.source` says.
pub const SOURCE: &str = "goconc";

/// Picks the position encoding from what the client offers (`general.positionEncodings`): UTF-8
/// when offered (no conversion at all), else UTF-16 (the protocol's default, which every client
/// must support), else UTF-32 if it is all the client names.
pub fn negotiate_encoding(
    offered: Option<&[PositionEncodingKind]>,
) -> (Encoding, PositionEncodingKind) {
    let offered = offered.unwrap_or(&[]);
    let has = |kind: &PositionEncodingKind| offered.iter().any(|o| o == kind);
    if has(&PositionEncodingKind::UTF8) {
        (Encoding::Utf8, PositionEncodingKind::UTF8)
    } else if offered.is_empty() || has(&PositionEncodingKind::UTF16) {
        (Encoding::Utf16, PositionEncodingKind::UTF16)
    } else if has(&PositionEncodingKind::UTF32) {
        (Encoding::Utf32, PositionEncodingKind::UTF32)
    } else {
        (Encoding::Utf16, PositionEncodingKind::UTF16)
    }
}

/// A text with the line index of exactly that text: what every conversion needs.
#[derive(Clone, Copy)]
pub struct Positions<'a> {
    pub text: &'a str,
    pub index: &'a LineIndex,
    pub encoding: Encoding,
}

impl<'a> Positions<'a> {
    pub fn new(text: &'a str, index: &'a LineIndex, encoding: Encoding) -> Self {
        Positions {
            text,
            index,
            encoding,
        }
    }

    /// The byte offset of a client position. Out-of-range lines and columns clamp (to the end of
    /// the text, the end of the line); a column inside a character rounds down to its start; a
    /// `\r\n` line ending is never inside a column.
    pub fn offset(&self, pos: Position) -> usize {
        self.index.offset(
            self.text,
            LineCol {
                line: pos.line,
                col: pos.character,
            },
            self.encoding,
        )
    }

    /// The byte range of a client range, clamped and ordered (a reversed range is read
    /// backwards rather than refused).
    pub fn byte_range(&self, range: lsp::Range) -> Range<usize> {
        let (a, b) = (self.offset(range.start), self.offset(range.end));
        a.min(b)..a.max(b)
    }

    pub fn position(&self, offset: usize) -> Position {
        let lc = self.index.position(self.text, offset, self.encoding);
        Position {
            line: lc.line,
            character: lc.col,
        }
    }

    pub fn range(&self, range: &Range<usize>) -> lsp::Range {
        lsp::Range {
            start: self.position(range.start),
            end: self.position(range.end),
        }
    }

    /// The byte offset where the line holding `offset` starts.
    pub fn line_start(&self, offset: usize) -> usize {
        let line = self.index.position(self.text, offset, Encoding::Utf8).line;
        self.index
            .line_range(self.text, line)
            .map_or(0, |r| r.start)
    }

    /// The byte range of line `line` without its line ending.
    pub fn line_range(&self, line: u32) -> Option<Range<usize>> {
        self.index.line_range(self.text, line)
    }

    pub fn line_of(&self, offset: usize) -> u32 {
        self.index.position(self.text, offset, Encoding::Utf8).line
    }
}

pub fn severity(severity: Severity) -> DiagnosticSeverity {
    match severity {
        Severity::Hint => DiagnosticSeverity::HINT,
        Severity::Info => DiagnosticSeverity::INFORMATION,
        Severity::Warning => DiagnosticSeverity::WARNING,
        Severity::Error => DiagnosticSeverity::ERROR,
    }
}

/// The page of a rule: `base` (with a `/` added when missing) + `<id>.md`.
pub fn rule_page(base: &str, rule: &str) -> Option<Uri> {
    let sep = if base.ends_with('/') { "" } else { "/" };
    format!("{base}{sep}{rule}.md").parse().ok()
}

/// The diagnostic of one finding. Code actions rebuild it the same way so clients that match
/// diagnostics by value find it.
pub fn diagnostic(
    finding: &Finding,
    uri: &Uri,
    at: &Positions,
    rules_base_url: &str,
) -> Diagnostic {
    let related: Vec<DiagnosticRelatedInformation> = finding
        .related
        .iter()
        .map(|r| DiagnosticRelatedInformation {
            location: Location {
                uri: uri.clone(),
                range: at.range(&r.range),
            },
            message: r.message.clone(),
        })
        .collect();
    Diagnostic {
        range: at.range(&finding.range),
        severity: Some(severity(finding.severity)),
        code: Some(NumberOrString::String(finding.rule.to_string())),
        code_description: rule_page(rules_base_url, finding.rule)
            .map(|href| CodeDescription { href }),
        source: Some(SOURCE.to_string()),
        message: finding.message.clone(),
        related_information: (!related.is_empty()).then_some(related),
        tags: None,
        data: None,
    }
}

/// The one diagnostic of a text with NUL bytes (at the first, `nul`), which is not parsed.
pub fn not_go_source(at: &Positions, nul: usize, count: usize) -> Diagnostic {
    let bytes = if count == 1 {
        "a NUL byte"
    } else {
        "NUL bytes"
    };
    Diagnostic {
        range: at.range(&(nul..nul + 1)),
        severity: Some(DiagnosticSeverity::WARNING),
        source: Some(SOURCE.to_string()),
        message: format!(
            "Not checked: this text has {bytes} ({count}), so it is not Go source (Go source is UTF-8 text without NUL bytes)"
        ),
        ..Diagnostic::default()
    }
}

/// The rule id of a diagnostic we published (None for other sources).
pub fn diagnostic_rule(d: &Diagnostic) -> Option<&str> {
    if d.source.as_deref() != Some(SOURCE) {
        return None;
    }
    match &d.code {
        Some(NumberOrString::String(s)) => Some(s),
        _ => None,
    }
}

pub fn text_edits(edits: &[goconc_analysis::TextEdit], at: &Positions) -> Vec<lsp::TextEdit> {
    edits
        .iter()
        .map(|e| lsp::TextEdit {
            range: at.range(&e.range),
            new_text: e.new_text.clone(),
        })
        .collect()
}

/// A workspace edit of one document: `documentChanges` with the version the edits were computed
/// against when the client supports it (it then refuses the edit on a newer text), else `changes`.
pub fn workspace_edit(
    uri: &Uri,
    version: i32,
    edits: Vec<lsp::TextEdit>,
    document_changes: bool,
) -> WorkspaceEdit {
    if document_changes {
        WorkspaceEdit {
            document_changes: Some(lsp::DocumentChanges::Edits(vec![TextDocumentEdit {
                text_document: OptionalVersionedTextDocumentIdentifier {
                    uri: uri.clone(),
                    version: Some(version),
                },
                edits: edits.into_iter().map(OneOf::Left).collect(),
            }])),
            ..WorkspaceEdit::default()
        }
    } else {
        WorkspaceEdit {
            changes: Some([(uri.clone(), edits)].into_iter().collect()),
            ..WorkspaceEdit::default()
        }
    }
}

/// The file path of a `file:` URI (None for other schemes such as `untitled:`).
pub fn uri_to_path(uri: &Uri) -> Option<PathBuf> {
    if !uri.scheme().as_str().eq_ignore_ascii_case("file") {
        return None;
    }
    uri.to_file_path().map(|p| p.into_owned())
}

pub fn path_to_uri(path: &Path) -> Option<Uri> {
    Uri::from_file_path(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(line: u32, character: u32) -> Position {
        Position { line, character }
    }

    #[test]
    fn negotiation_prefers_utf8() {
        let kinds = |v: &[&'static str]| {
            v.iter()
                .map(|s| PositionEncodingKind::from(*s))
                .collect::<Vec<_>>()
        };
        assert_eq!(negotiate_encoding(None).0, Encoding::Utf16);
        assert_eq!(
            negotiate_encoding(Some(&kinds(&["utf-16"]))).0,
            Encoding::Utf16
        );
        assert_eq!(
            negotiate_encoding(Some(&kinds(&["utf-16", "utf-8"]))).0,
            Encoding::Utf8
        );
        assert_eq!(
            negotiate_encoding(Some(&kinds(&["utf-32"]))).0,
            Encoding::Utf32
        );
    }

    #[test]
    fn positions_clamp_and_skip_crlf() {
        let text = "a😀b\r\nxy\r\n";
        let index = LineIndex::new_lsp(text);
        let at = Positions::new(text, &index, Encoding::Utf16);
        assert_eq!(at.offset(pos(0, 3)), text.find('b').unwrap());
        assert_eq!(at.offset(pos(0, 99)), text.find('\r').unwrap());
        assert_eq!(at.offset(pos(99, 0)), text.len());
        assert_eq!(
            at.byte_range(lsp::Range {
                start: pos(1, 1),
                end: pos(0, 1)
            }),
            1..text.find('y').unwrap()
        );
        assert_eq!(at.position(text.find('y').unwrap()), pos(1, 1));
        let at8 = Positions::new(text, &index, Encoding::Utf8);
        assert_eq!(at8.position(text.find('b').unwrap()), pos(0, 5));
        let at32 = Positions::new(text, &index, Encoding::Utf32);
        assert_eq!(at32.position(text.find('b').unwrap()), pos(0, 2));
    }

    #[test]
    fn rule_pages() {
        assert_eq!(
            rule_page("https://x.test/rules/", "a-b").unwrap().as_str(),
            "https://x.test/rules/a-b.md"
        );
        assert_eq!(
            rule_page("https://x.test/rules", "a-b").unwrap().as_str(),
            "https://x.test/rules/a-b.md"
        );
    }
}
