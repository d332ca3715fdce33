//! A Go source text together with its tree-sitter syntax tree.
//!
//! The tree is kept in step with the text through [`SourceFile::edit`], which tells tree-sitter
//! what changed (`Tree::edit`) and reparses with the old tree so only the damaged region is redone.

use std::ops::Range;

use tree_sitter::{InputEdit, Parser, Point, Tree};

/// The text of one Go file and its syntax tree, always describing the same text.
pub struct SourceFile {
    text: String,
    tree: Tree,
    parser: Parser,
}

/// Why an edit could not be applied. The file is left unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditError {
    /// The range does not lie inside the text (after clamping it would change meaning).
    OutOfRange { range: Range<usize>, len: usize },
    /// One end of the range falls inside a multi-byte UTF-8 character.
    NotCharBoundary { offset: usize },
}

impl std::fmt::Display for EditError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EditError::OutOfRange { range, len } => write!(
                f,
                "edit range {}..{} is outside the text of {} bytes",
                range.start, range.end, len
            ),
            EditError::NotCharBoundary { offset } => {
                write!(f, "edit offset {offset} falls inside a UTF-8 character")
            }
        }
    }
}

impl std::error::Error for EditError {}

fn new_parser() -> Parser {
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_go::LANGUAGE.into())
        .expect("tree-sitter-go is built for the linked tree-sitter ABI");
    parser
}

fn parse(parser: &mut Parser, text: &str, old: Option<&Tree>) -> Tree {
    // `parse` only returns None when a cancellation flag or timeout is set; we set neither.
    parser
        .parse(text, old)
        .expect("parsing without timeout or cancellation always yields a tree")
}

/// The syntax tree of `text`, parsed from scratch, for a caller that keeps the text itself and
/// will not edit it (a [`SourceFile`] holds a copy of the text and a parser).
pub fn parse_text(text: &str) -> Tree {
    parse(&mut new_parser(), text, None)
}

impl SourceFile {
    /// Parses `text` from scratch.
    pub fn new(text: impl Into<String>) -> SourceFile {
        let text = text.into();
        let mut parser = new_parser();
        let tree = parse(&mut parser, &text, None);
        SourceFile { text, tree, parser }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    /// Replaces the whole text (a full-document sync) and parses it afresh.
    pub fn replace_all(&mut self, text: impl Into<String>) {
        self.text = text.into();
        self.tree = parse(&mut self.parser, &self.text, None);
    }

    /// Replaces the bytes in `range` by `new_text` and reparses incrementally.
    pub fn edit(&mut self, range: Range<usize>, new_text: &str) -> Result<(), EditError> {
        let len = self.text.len();
        if range.start > range.end || range.end > len {
            return Err(EditError::OutOfRange { range, len });
        }
        for offset in [range.start, range.end] {
            if !self.text.is_char_boundary(offset) {
                return Err(EditError::NotCharBoundary { offset });
            }
        }
        let start_position = point_at(&self.text, range.start);
        let old_end_position = advance_point(start_position, &self.text[range.clone()]);
        self.text.replace_range(range.clone(), new_text);
        let new_end_byte = range.start + new_text.len();
        let new_end_position = advance_point(start_position, new_text);
        self.tree.edit(&InputEdit {
            start_byte: range.start,
            old_end_byte: range.end,
            new_end_byte,
            start_position,
            old_end_position,
            new_end_position,
        });
        self.tree = parse(&mut self.parser, &self.text, Some(&self.tree));
        // Error recovery can differ between an incremental reparse and a fresh parse of the same
        // text: broken code is parsed afresh, so the server and the CLI see the same tree.
        if self.tree.root_node().has_error() {
            self.tree = parse(&mut self.parser, &self.text, None);
        }
        Ok(())
    }
}

impl Clone for SourceFile {
    fn clone(&self) -> Self {
        SourceFile {
            text: self.text.clone(),
            tree: self.tree.clone(),
            parser: new_parser(),
        }
    }
}

impl std::fmt::Debug for SourceFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceFile")
            .field("len", &self.text.len())
            .finish()
    }
}

/// The tree-sitter point (row, byte column) of a byte offset.
fn point_at(text: &str, offset: usize) -> Point {
    let before = &text.as_bytes()[..offset];
    let row = before.iter().filter(|&&b| b == b'\n').count();
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    Point {
        row,
        column: offset - line_start,
    }
}

fn advance_point(start: Point, inserted: &str) -> Point {
    match inserted.rfind('\n') {
        None => Point {
            row: start.row,
            column: start.column + inserted.len(),
        },
        Some(last) => Point {
            row: start.row + inserted.bytes().filter(|&b| b == b'\n').count(),
            column: inserted.len() - last - 1,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_match_a_fresh_parse() {
        let mut file = SourceFile::new("package p\n\nfunc f() {\n\tx := 1\n}\n");
        let at = file.text().find("1").unwrap();
        file.edit(at..at + 1, "\"héllo\"\n\ty := 2").unwrap();
        let fresh = SourceFile::new(file.text().to_string());
        assert_eq!(
            file.tree().root_node().to_sexp(),
            fresh.tree().root_node().to_sexp()
        );
    }

    #[test]
    fn bad_ranges_are_refused_and_change_nothing() {
        let mut file = SourceFile::new("package é");
        assert!(file.edit(3..100, "x").is_err());
        assert!(file.edit(9..9, "x").is_err());
        assert_eq!(file.text(), "package é");
    }
}
