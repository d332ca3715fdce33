//! Byte offsets ⇄ (line, column) positions.
//!
//! The engine works in byte offsets; editors count columns in UTF-16 code units (the LSP default)
//! or in bytes (UTF-8, when negotiated). Lines end at `\n`; a `\r` before it belongs to the line
//! ending, never to a column. For the Language Server Protocol a lone `\r` ends a line too
//! ([`LineIndex::new_lsp`]); Go, and so the engine's messages and the command line, count `\n`
//! only ([`LineIndex::new`]).

/// How columns are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// Bytes of UTF-8.
    Utf8,
    /// UTF-16 code units (LSP's default).
    #[default]
    Utf16,
    /// Unicode scalar values (LSP's utf-32; also what terminals show as "characters").
    Utf32,
}

/// Which characters end a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum LineBreaks {
    /// `\n` only (a `\r` before it belongs to the line ending): Go's lines, as the compiler and
    /// `go vet` number them.
    #[default]
    Go,
    /// `\n`, `\r\n` and a lone `\r`: the lines of the Language Server Protocol.
    Lsp,
}

impl LineBreaks {
    /// Whether a line starts at byte `at` (> 0) of `bytes`.
    fn starts_line(self, bytes: &[u8], at: usize) -> bool {
        match bytes.get(at - 1) {
            Some(b'\n') => true,
            Some(b'\r') => self == LineBreaks::Lsp && bytes.get(at) != Some(&b'\n'),
            _ => false,
        }
    }
}

/// A zero-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct LineCol {
    pub line: u32,
    pub col: u32,
}

/// Line starts of one version of a text. Build once, then follow the text's edits with
/// [`LineIndex::edit`]; every lookup is a binary search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineIndex {
    line_starts: Vec<usize>,
    len: usize,
    breaks: LineBreaks,
}

impl LineIndex {
    /// The index of Go's lines: `\n` ends a line.
    pub fn new(text: &str) -> LineIndex {
        LineIndex::with_breaks(text, LineBreaks::Go)
    }

    /// The index of the Language Server Protocol's lines: `\n`, `\r\n` and a lone `\r` end a
    /// line.
    pub fn new_lsp(text: &str) -> LineIndex {
        LineIndex::with_breaks(text, LineBreaks::Lsp)
    }

    fn with_breaks(text: &str, breaks: LineBreaks) -> LineIndex {
        let bytes = text.as_bytes();
        let mut line_starts = vec![0];
        line_starts.extend(
            bytes
                .iter()
                .enumerate()
                .filter(|&(i, &b)| (b == b'\n' || b == b'\r') && breaks.starts_line(bytes, i + 1))
                .map(|(i, _)| i + 1),
        );
        LineIndex {
            line_starts,
            len: text.len(),
            breaks,
        }
    }

    /// Follows one edit of the text: `range` (byte offsets in the text before the edit) was
    /// replaced by `new_text`, giving `text_after`. Equal to a new index of `text_after`, reading only the new text and the bytes next to it (a keystroke in a 4 MB
    /// file rescanned all of it: ~3 ms). A range past the end or reversed is clamped, as
    /// [`crate::SourceFile::edit`] refuses it anyway; a `text_after` of another length than the
    /// edit gives is indexed afresh.
    pub fn edit(&mut self, range: std::ops::Range<usize>, new_text: &str, text_after: &str) {
        let end = range.end.min(self.len);
        let start = range.start.min(end);
        let added = new_text.len();
        let len = self.len - (end - start) + added;
        if text_after.len() != len {
            *self = LineIndex::with_breaks(text_after, self.breaks);
            return;
        }
        // Whether a line starts at s depends on the bytes at s - 1 and s (`\r` then `\n` is one
        // line break): the line starts next to or inside the replaced bytes are found again in
        // the new text, the others after it move. The first line always starts at 0.
        let from = start.max(1);
        let first_gone = self.line_starts.partition_point(|&s| s < from);
        let first_moved = self.line_starts.partition_point(|&s| s <= end + 1);
        let bytes = text_after.as_bytes();
        let breaks = self.breaks;
        let found: Vec<usize> = (from..=(start + added + 1).min(len))
            .filter(|&s| breaks.starts_line(bytes, s))
            .collect();
        let moved_from = first_gone + found.len();
        self.line_starts.splice(first_gone..first_moved, found);
        for s in &mut self.line_starts[moved_from..] {
            *s = *s - end + start + added;
        }
        self.len = len;
    }

    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }

    /// The byte range of line `line` without its line ending, or None past the last line.
    pub fn line_range(&self, text: &str, line: u32) -> Option<std::ops::Range<usize>> {
        let start = *self.line_starts.get(line as usize)?;
        let mut end = self
            .line_starts
            .get(line as usize + 1)
            .map_or(self.len, |next| next - 1);
        if end > start && text.as_bytes().get(end - 1) == Some(&b'\r') {
            end -= 1;
        }
        Some(start..end.max(start))
    }

    /// The position of a byte offset. Offsets past the end clamp to the end; an offset inside a
    /// character or inside a `\r\n` counts as the start of that character or of the line ending.
    pub fn position(&self, text: &str, offset: usize, encoding: Encoding) -> LineCol {
        let offset = offset.min(self.len);
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let line_range = self.line_range(text, line as u32).unwrap_or(offset..offset);
        let end = offset.min(line_range.end);
        let mut end = end;
        while end > line_range.start && !text.is_char_boundary(end) {
            end -= 1;
        }
        let segment = &text[line_range.start..end];
        LineCol {
            line: line as u32,
            col: column_width(segment, encoding) as u32,
        }
    }

    /// The byte offset of a position. A line past the end gives the end of the text; a column
    /// past the end of its line gives the end of that line (LSP clients may send either).
    /// A column in the middle of a UTF-16 surrogate pair rounds down to the character's start.
    pub fn offset(&self, text: &str, pos: LineCol, encoding: Encoding) -> usize {
        let Some(line_range) = self.line_range(text, pos.line) else {
            return self.len;
        };
        let line = &text[line_range.clone()];
        let mut units = 0usize;
        for (i, ch) in line.char_indices() {
            let width = match encoding {
                Encoding::Utf8 => ch.len_utf8(),
                Encoding::Utf16 => ch.len_utf16(),
                Encoding::Utf32 => 1,
            };
            if units + width > pos.col as usize {
                return line_range.start + i;
            }
            units += width;
        }
        line_range.end
    }
}

fn column_width(segment: &str, encoding: Encoding) -> usize {
    match encoding {
        Encoding::Utf8 => segment.len(),
        Encoding::Utf16 => segment.chars().map(char::len_utf16).sum(),
        Encoding::Utf32 => segment.chars().count(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_give_the_index_of_the_edited_text() {
        let pieces = [
            "", "x", "\n", "\r\n", "ab\ncd", "\n\n", "é😀\n", "\r", "a\rb", "\r\r",
        ];
        for breaks in [LineBreaks::Go, LineBreaks::Lsp] {
            let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
            let mut next = |n: usize| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed % n.max(1) as u64) as usize
            };
            let mut text = String::from("package p\n\nfunc f() {\r\n\tx := 1\n}\r");
            let mut index = LineIndex::with_breaks(&text, breaks);
            for _ in 0..5_000 {
                let boundary = |at: usize, text: &str| {
                    let mut at = at.min(text.len());
                    while !text.is_char_boundary(at) {
                        at -= 1;
                    }
                    at
                };
                let a = boundary(next(text.len() + 1), &text);
                let b = boundary((a + next(8)).min(text.len()), &text);
                let piece = pieces[next(pieces.len())];
                text.replace_range(a..b, piece);
                index.edit(a..b, piece, &text);
                assert_eq!(
                    index,
                    LineIndex::with_breaks(&text, breaks),
                    "{breaks:?}: after replacing {a}..{b} by {piece:?} in {text:?}"
                );
            }
        }
    }

    #[test]
    fn a_lone_cr_ends_an_lsp_line_but_not_a_go_line() {
        // Lines for LSP: "a😀", "b", "", "c", "d".
        let text = "a😀\rb\r\r\nc\nd";
        let lsp = LineIndex::new_lsp(text);
        let go = LineIndex::new(text);
        assert_eq!((lsp.line_count(), go.line_count()), (5, 3));
        let b = text.find('b').unwrap();
        let c = text.find('c').unwrap();
        assert_eq!(
            lsp.position(text, b, Encoding::Utf16),
            LineCol { line: 1, col: 0 }
        );
        assert_eq!(
            go.position(text, b, Encoding::Utf16),
            LineCol { line: 0, col: 4 }
        );
        assert_eq!(
            lsp.position(text, c, Encoding::Utf8),
            LineCol { line: 3, col: 0 }
        );
        // The end of a line is before its `\r`, and a column past it clamps there.
        assert_eq!(
            lsp.offset(text, LineCol { line: 0, col: 99 }, Encoding::Utf16),
            text.find('\r').unwrap()
        );
        assert_eq!(
            lsp.position(text, text.find('\r').unwrap(), Encoding::Utf16),
            LineCol { line: 0, col: 3 }
        );
        assert_eq!(lsp.line_range(text, 2), Some(b + 2..b + 2));
        assert_eq!(
            lsp.offset(text, LineCol { line: 4, col: 0 }, Encoding::Utf16),
            text.len() - 1
        );
        // A `\n` typed after a lone `\r` joins it into one line ending, and deleting it splits
        // them again.
        let mut index = LineIndex::new_lsp("x\ry");
        index.edit(2..2, "\n", "x\r\ny");
        assert_eq!(index.line_count(), 2);
        index.edit(2..3, "", "x\ry");
        assert_eq!(index, LineIndex::new_lsp("x\ry"));
    }

    #[test]
    fn utf16_and_utf8_columns() {
        let text = "a😀b\r\nçd\n";
        let index = LineIndex::new(text);
        let b = text.find('b').unwrap();
        assert_eq!(
            index.position(text, b, Encoding::Utf16),
            LineCol { line: 0, col: 3 }
        );
        assert_eq!(
            index.position(text, b, Encoding::Utf8),
            LineCol { line: 0, col: 5 }
        );
        assert_eq!(
            index.offset(text, LineCol { line: 0, col: 3 }, Encoding::Utf16),
            b
        );
        let d = text.find('d').unwrap();
        assert_eq!(
            index.position(text, d, Encoding::Utf16),
            LineCol { line: 1, col: 1 }
        );
        assert_eq!(
            index.offset(text, LineCol { line: 1, col: 2 }, Encoding::Utf8),
            d
        );
    }

    #[test]
    fn crlf_is_not_a_column_and_out_of_range_clamps() {
        let text = "ab\r\ncd";
        let index = LineIndex::new(text);
        assert_eq!(
            index.offset(text, LineCol { line: 0, col: 99 }, Encoding::Utf16),
            2
        );
        assert_eq!(
            index.offset(text, LineCol { line: 9, col: 0 }, Encoding::Utf16),
            text.len()
        );
        assert_eq!(
            index.position(text, 3, Encoding::Utf16),
            LineCol { line: 0, col: 2 }
        );
        assert_eq!(
            index.position(text, 99, Encoding::Utf16),
            LineCol { line: 1, col: 2 }
        );
    }

    #[test]
    fn surrogate_halves_round_down() {
        let text = "😀x";
        let index = LineIndex::new(text);
        assert_eq!(
            index.offset(text, LineCol { line: 0, col: 1 }, Encoding::Utf16),
            0
        );
        assert_eq!(
            index.offset(text, LineCol { line: 0, col: 2 }, Encoding::Utf16),
            4
        );
    }
}
