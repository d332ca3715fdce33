//! Fingerprints: a name for a finding that stays the same while the code around it moves, for
//! baselines (`--baseline`), SARIF's `partialFingerprints` and GitLab's `fingerprint`.
//!
//! A fingerprint is the first 16 hex digits of the 64-bit FNV-1a hash of these fields, each
//! followed by a NUL byte:
//!
//! 1. `goconc/v1`;
//! 2. the rule id;
//! 3. the file's path as goconc shows it (relative to the folder goconc runs in, `/`-separated);
//! 4. the first line of the top-level declaration that holds the finding (`func (s *Store)
//!    Put(k string) {`, `type Cache struct {`), whitespace runs made one space;
//! 5. the statement that holds the finding's start, from its start to the end of the line the
//!    finding starts on (so a `go func() {` statement is named by its first line, not its whole
//!    body), whitespace runs made one space;
//! 6. how many findings of this file before it have the same fields 2–5 (0, 1, …).
//!
//! Line and column numbers are not part of it: adding or removing lines above a finding, or
//! reindenting it, keeps its fingerprint. Renaming its function, editing its statement, or moving
//! it to another file changes it.

use std::ops::Range;

use goconc_analysis::{Finding, SourceFile};
use goconc_syntax::NodeExt;
use tree_sitter::Node;

use crate::check::FileReport;

/// The fingerprint of each finding of a file, in order. Parses the file: the check names the
/// findings while its analysis holds the tree ([`of_findings`]) unless fixes changed the text.
pub fn of_file(file: &FileReport) -> Vec<String> {
    if file.findings.is_empty() {
        return Vec::new();
    }
    let source = SourceFile::new(file.text.as_str());
    of_findings(
        &file.path,
        source.text(),
        source.tree().root_node(),
        &file.findings,
    )
}

/// The fingerprint of each of `findings`, in order, in the file shown as `path` whose text is
/// `text` and tree `root`.
pub fn of_findings(
    path: &std::path::Path,
    text: &str,
    root: Node,
    findings: &[Finding],
) -> Vec<String> {
    if findings.is_empty() {
        return Vec::new();
    }
    // Each finding's ancestors below (`context`) follow the layout's parent links (the
    // analysis's own, when it is still installed).
    let _layout = goconc_syntax::preorder::install(root);
    let path = slash_path(path);
    // The contexts in the order of the findings' starts, so that the descent to each finding
    // starts where the one before left off: a file whose findings sit thousands of levels deep
    // (nested closures) costs each finding the levels it adds, not the whole depth again.
    let mut order: Vec<usize> = (0..findings.len()).collect();
    order.sort_by_key(|&i| findings[i].range.start);
    let mut contexts: Vec<(String, String)> = vec![Default::default(); findings.len()];
    let mut sweep = Sweep { path: vec![root] };
    for i in order {
        contexts[i] = sweep.context(text, findings[i].range.start);
    }
    // How many findings before each one had the same key: a map, since a file can hold tens of
    // thousands of findings.
    let mut seen: goconc_analysis::HashMap<u64, usize> = goconc_analysis::HashMap::default();
    findings
        .iter()
        .zip(&contexts)
        .map(|(finding, (declaration, statement))| {
            let key = fnv1a(&[
                finding.rule.as_bytes(),
                path.as_bytes(),
                declaration.as_bytes(),
                statement.as_bytes(),
            ]);
            let count = seen.entry(key).or_insert(0);
            let occurrence = *count;
            *count += 1;
            let hash = fnv1a(&[
                b"goconc/v1",
                finding.rule.as_bytes(),
                path.as_bytes(),
                declaration.as_bytes(),
                statement.as_bytes(),
                occurrence.to_string().as_bytes(),
            ]);
            format!("{hash:016x}")
        })
        .collect()
}

/// The path as it is shown, `/`-separated.
pub fn slash_path(path: &std::path::Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}

fn fnv1a(fields: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for field in fields {
        for &byte in field.iter().chain(&[0u8]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

/// Whitespace runs made one space, ends trimmed.
fn normalized(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Kinds whose children are statements (or declarations, or fields).
const CONTAINERS: &[&str] = &[
    "source_file",
    "block",
    "statement_list",
    "field_declaration_list",
    "expression_case",
    "type_case",
    "communication_case",
    "default_case",
    "labeled_statement",
];

/// The path from the root to the deepest node at the last offset asked, kept between findings
/// taken in the order of their starts.
struct Sweep<'t> {
    path: Vec<Node<'t>>,
}

impl<'t> Sweep<'t> {
    /// The root and every ancestor of the deepest node at `offset`, and that node last: the node
    /// `root.descendant_for_byte_range(offset, offset)` finds. A kept node that still holds the
    /// offset (non-empty, start ≤ offset < end) is the node the descent from the root would pass
    /// through, since offsets only grow: no earlier sibling can hold it.
    fn descend(&mut self, offset: usize) {
        while self.path.len() > 1 {
            let last = self.path[self.path.len() - 1];
            if last.start_byte() <= offset && offset < last.end_byte() {
                break;
            }
            self.path.pop();
        }
        let from = self.path[self.path.len() - 1];
        let Some(deepest) = from.descendant_for_byte_range(offset, offset) else {
            return;
        };
        if deepest != from {
            let between = goconc_syntax::ancestors_under(from, deepest);
            self.path.extend(between.into_iter().skip(1));
            self.path.push(deepest);
        }
    }

    /// (first line of the top-level declaration, the statement's text to the end of the
    /// finding's first line), both normalized.
    fn context(&mut self, text: &str, start: usize) -> (String, String) {
        let start = start.min(text.len());
        let line = line_around(text, start);
        self.descend(start);
        // The nearest child of a container, climbing only as far as that container; the
        // top-level declaration is the path's second node (only the root is a source file).
        let statement = self
            .path
            .windows(2)
            .rev()
            .find(|pair| CONTAINERS.contains(&pair[0].kind_str()))
            .map(|pair| pair[1]);
        let top = match self.path.as_slice() {
            [root, top, ..] if root.kind_str() == "source_file" => Some(*top),
            _ => None,
        };
        let declaration = top.map_or(String::new(), |top| {
            let range = top.byte_range();
            let first_line_end = text[range.clone()]
                .find('\n')
                .map_or(range.end, |i| range.start + i);
            normalized(&text[range.start..first_line_end])
        });
        let statement = match statement {
            Some(s) if s.start_byte() <= start => {
                let end = s.end_byte().min(line.end).max(start);
                normalized(&text[s.start_byte()..end])
            }
            _ => normalized(&text[line]),
        };
        (declaration, statement)
    }
}

/// The byte range of the line holding `offset`, without its line ending.
fn line_around(text: &str, offset: usize) -> Range<usize> {
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    start..end
}

#[cfg(test)]
mod tests {
    use super::*;
    use goconc_analysis::Severity;

    fn report(text: &str, needles: &[&str]) -> FileReport {
        let starts: Vec<(usize, usize)> = needles
            .iter()
            .map(|needle| (text.find(needle).expect(needle), needle.len()))
            .collect();
        report_at(text, &starts)
    }

    /// Findings at (offset, length).
    fn report_at(text: &str, at: &[(usize, usize)]) -> FileReport {
        let findings = at
            .iter()
            .map(|&(at, len)| Finding {
                rule: "mutex-defer-lock",
                severity: Severity::Error,
                range: at..at + len,
                message: String::new(),
                related: Vec::new(),
                fixes: Vec::new(),
            })
            .collect();
        FileReport {
            path: "pkg/a.go".into(),
            text: text.to_string(),
            findings,
            fingerprints: Vec::new(),
            fixed: 0,
            original: None,
            from_stdin: false,
        }
    }

    #[test]
    fn lines_above_and_indentation_do_not_change_it_but_the_statement_does() {
        let a = "package p\n\nfunc F() {\n\tmu.Lock()\n\tdefer mu.Lock()\n}\n";
        let moved = "package p\n\n// F does things,\n// now documented.\nfunc F() {\n\tmu.Lock()\n\n\n        defer   mu.Lock()\n}\n";
        let edited = "package p\n\nfunc F() {\n\tmu.Lock()\n\tdefer mu.Lock() // x\n}\n";
        let renamed = "package p\n\nfunc G() {\n\tmu.Lock()\n\tdefer mu.Lock()\n}\n";
        let fp = |text: &str| of_file(&report(text, &["defer"]));
        assert_eq!(fp(a), fp(moved));
        assert_eq!(fp(a)[0].len(), 16);
        assert_ne!(fp(a), fp(renamed));
        // A comment after the statement is not part of the statement node.
        assert_eq!(fp(a), fp(edited));
        let b = "package p\n\nfunc F() {\n\tmu.Lock()\n\tdefer mu.Unlock()\n}\n";
        assert_ne!(fp(a), fp(b));
    }

    /// The context the way it was first found: a descent from the root for each finding and
    /// `parent()` links up from there.
    fn context_by_descent(root: Node, text: &str, start: usize) -> (String, String) {
        let line = line_around(text, start);
        let mut node = root.descendant_for_byte_range(start, start).unwrap();
        let (mut statement, mut top) = (None, None);
        while let Some(parent) = node.parent() {
            if statement.is_none() && CONTAINERS.contains(&parent.kind()) {
                statement = Some(node);
            }
            if parent.kind() == "source_file" {
                top = Some(node);
                break;
            }
            node = parent;
        }
        let declaration = top.map_or(String::new(), |top: Node| {
            let range = top.byte_range();
            let end = text[range.clone()]
                .find('\n')
                .map_or(range.end, |i| range.start + i);
            normalized(&text[range.start..end])
        });
        let statement = match statement {
            Some(s) if s.start_byte() <= start => {
                normalized(&text[s.start_byte()..s.end_byte().min(line.end).max(start)])
            }
            _ => normalized(&text[line]),
        };
        (declaration, statement)
    }

    #[test]
    fn the_sweep_finds_the_context_a_descent_from_the_root_finds() {
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut files = Vec::new();
        let mut folders = vec![fixtures];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(&folder).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    folders.push(path);
                } else if path.extension().is_some_and(|e| e == "go") {
                    files.push(path);
                }
            }
        }
        assert!(files.len() > 100, "the fixtures were not found");
        let mut compared = 0;
        for path in files {
            let text = std::fs::read_to_string(&path).unwrap();
            let source = SourceFile::new(text.as_str());
            let root = source.tree().root_node();
            let _layout = goconc_syntax::preorder::install(root);
            let mut sweep = Sweep { path: vec![root] };
            // Every node's start and end, and the byte after its start (inside a token): where
            // an empty node or two adjacent nodes could make two descents differ.
            let mut offsets = vec![text.len()];
            goconc_syntax::walk(root, |node| {
                offsets.extend([node.start_byte(), node.end_byte(), node.start_byte() + 1]);
                true
            });
            offsets.retain(|&i| i <= text.len() && text.is_char_boundary(i));
            offsets.sort_unstable();
            offsets.dedup();
            for start in offsets {
                assert_eq!(
                    sweep.context(&text, start),
                    context_by_descent(root, &text, start),
                    "{} at byte {start}",
                    path.display()
                );
                compared += 1;
            }
        }
        assert!(compared > 50_000, "{compared}");
    }

    #[test]
    fn twins_in_one_function_differ_and_a_body_is_named_by_its_first_line() {
        let text = "package p\n\nfunc F() {\n\tgo func() {\n\t\twork()\n\t}()\n\tgo func() {\n\t\twork()\n\t}()\n}\n";
        let starts: Vec<(usize, usize)> =
            text.match_indices("go func").map(|(i, _)| (i, 7)).collect();
        let twins = of_file(&report_at(text, &starts));
        assert_ne!(twins[0], twins[1]);
        let longer = text.replacen("work()", "work()\n\t\tmore()", 1);
        assert_eq!(
            of_file(&report(&longer, &["go func"]))[0],
            twins[0],
            "the body is not part of it"
        );
    }
}
