//! Byte offsets ⇄ (line, column) positions.
//!
//! The engine works in byte offsets; editors count columns in UTF-16 code units (the LSP default)
//! or in bytes (UTF-8, when negotiated). Lines end at `\n`; a `\r` before it belongs to the line
//! ending, never to a column.

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
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let mut line_starts = vec![0];
        line_starts.extend(memchr_newlines(text.as_bytes()).map(|i| i + 1));
        LineIndex {
            line_starts,
            len: text.len(),
        }
    }

    /// Follows one edit of the text: `range` (byte offsets in the text before the edit) was
    /// replaced by `new_text`. Equal to [`LineIndex::new`] of the edited text, without reading
    /// the rest of it (a keystroke in a 4 MB file rescanned all of it: ~3 ms). A range past the
    /// end or reversed is clamped, as [`crate::SourceFile::edit`] refuses it anyway.
    pub fn edit(&mut self, range: std::ops::Range<usize>, new_text: &str) {
        let end = range.end.min(self.len);
        let start = range.start.min(end);
        // A line start s follows the newline at s - 1: those inside the replaced range go.
        let first_gone = self.line_starts.partition_point(|&s| s <= start);
        let first_kept = self.line_starts.partition_point(|&s| s <= end);
        let inserted = memchr_newlines(new_text.as_bytes()).map(|i| start + i + 1);
        self.line_starts.splice(first_gone..first_kept, inserted);
        let added = new_text.len();
        let moved_from = first_gone + new_text.bytes().filter(|&b| b == b'\n').count();
        for s in &mut self.line_starts[moved_from..] {
            *s = *s - end + start + added;
        }
        self.len = self.len - (end - start) + added;
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

fn memchr_newlines(bytes: &[u8]) -> impl Iterator<Item = usize> + '_ {
    bytes
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'\n')
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_give_the_index_of_the_edited_text() {
        let pieces = ["", "x", "\n", "\r\n", "ab\ncd", "\n\n", "é😀\n", "\r"];
        let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n.max(1) as u64) as usize
        };
        let mut text = String::from("package p\n\nfunc f() {\r\n\tx := 1\n}\n");
        let mut index = LineIndex::new(&text);
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
            index.edit(a..b, piece);
            assert_eq!(
                index,
                LineIndex::new(&text),
                "after replacing {a}..{b} by {piece:?}"
            );
        }
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
