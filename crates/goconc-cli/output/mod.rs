//! Output formats. Every format counts lines and columns from 1, columns in characters
//! (Unicode scalar values), converted from the engine's byte offsets at this edge.

pub mod checkstyle;
pub mod github;
pub mod gitlab;
pub mod json;
pub mod rdjson;
pub mod sarif;
pub mod statistics;
pub mod text;

use std::io::Write;
use std::ops::Range;

use goconc_analysis::{Encoding, LineCol, LineIndex, Severity};

use crate::check::Report;
use crate::Format;

/// Writes the report in one format.
pub fn write(
    format: Format,
    report: &Report,
    out: &mut dyn Write,
    color: bool,
) -> std::io::Result<()> {
    match format {
        Format::Text => text::write(out, report, color),
        Format::Json => json::write(out, report),
        Format::Sarif => sarif::write(out, report),
        Format::Github => github::write(out, report),
        Format::Rdjson => rdjson::write(out, report),
        Format::Checkstyle => checkstyle::write(out, report),
        Format::Gitlab => gitlab::write(out, report),
    }
}

/// Whether a format shows fingerprints (they cost a parse of each file with findings).
pub fn shows_fingerprints(format: Format) -> bool {
    matches!(format, Format::Json | Format::Sarif | Format::Gitlab)
}

/// The severity words of formats with three levels (SARIF, GitHub, checkstyle, reviewdog):
/// info and hint are both the lowest.
pub fn three_levels(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info | Severity::Hint => "note",
    }
}

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

/// Converts byte offsets of one text to 1-based positions.
pub struct Positions<'a> {
    text: &'a str,
    index: LineIndex,
}

impl<'a> Positions<'a> {
    pub fn new(text: &'a str) -> Positions<'a> {
        Positions {
            text,
            index: LineIndex::new(text),
        }
    }

    pub fn pos(&self, offset: usize) -> Pos {
        let LineCol { line, col } = self.index.position(self.text, offset, Encoding::Utf32);
        Pos {
            line: line + 1,
            column: col + 1,
        }
    }

    pub fn range(&self, range: &Range<usize>) -> (Pos, Pos) {
        (self.pos(range.start), self.pos(range.end))
    }

    /// The 1-based line and the 1-based column counted in UTF-8 bytes (reviewdog's unit).
    pub fn byte_pos(&self, offset: usize) -> Pos {
        let LineCol { line, col } = self.index.position(self.text, offset, Encoding::Utf8);
        Pos {
            line: line + 1,
            column: col + 1,
        }
    }

    /// The text of the 1-based line (without its line ending) and its byte range.
    pub fn line(&self, line: u32) -> Option<(&'a str, Range<usize>)> {
        let range = self.index.line_range(self.text, line.checked_sub(1)?)?;
        Some((&self.text[range.clone()], range))
    }
}
