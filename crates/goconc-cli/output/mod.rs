//! Output formats. Every format counts lines and columns from 1, columns in characters
//! (Unicode scalar values), converted from the engine's byte offsets at this edge.

pub mod json;
pub mod sarif;
pub mod text;

use std::ops::Range;

use goconc_analysis::{Encoding, LineCol, LineIndex};

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

    /// The text of the 1-based line (without its line ending) and its byte range.
    pub fn line(&self, line: u32) -> Option<(&'a str, Range<usize>)> {
        let range = self.index.line_range(self.text, line.checked_sub(1)?)?;
        Some((&self.text[range.clone()], range))
    }
}
