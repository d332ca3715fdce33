//! `--fix` and `--diff`: choose the fixes to apply together, and show what changed.

use goconc_analysis::{apply_edits, Applicability, Finding, Fix, SourceFile, TextEdit};

/// The fix `--fix` applies to a finding: its first safe one, or with `unsafe_fixes` its first.
pub fn applicable(finding: &Finding, unsafe_fixes: bool) -> Option<&Fix> {
    finding
        .fixes
        .iter()
        .find(|fix| unsafe_fixes || fix.applicability == Applicability::Safe)
}

/// Whether each line of `new` (1-based line n at index n-1) is added or changed relative to
/// `old`, by a line diff ([`diff_lines`]).
pub fn changed_lines(old: &str, new: &str) -> Vec<bool> {
    let a: Vec<&str> = old.split_inclusive('\n').collect();
    let b: Vec<&str> = new.split_inclusive('\n').collect();
    let mut changed = vec![true; b.len()];
    for op in diff_lines(&a, &b) {
        if let Op::Same(_, y) = op {
            changed[y] = false;
        }
    }
    changed
}

/// Applies the [`applicable`] fix of every finding that does not overlap a fix already taken. A fix is
/// taken whole or not at all (half a fix could leave code that does not compile). Returns the
/// new text and how many findings were fixed; the text is unchanged when the fixes would turn a
/// file that parsed cleanly into one with syntax errors (a goconc bug, reported by the caller
/// through the returned flag).
pub fn apply_first_fixes(text: &str, findings: &[Finding], unsafe_fixes: bool) -> FixResult {
    let mut taken: Vec<&TextEdit> = Vec::new();
    let mut fixed = 0;
    for finding in findings {
        let Some(fix) = applicable(finding, unsafe_fixes) else {
            continue;
        };
        let fits = fix.edits.iter().all(|edit| {
            edit.range.start <= edit.range.end
                && edit.range.end <= text.len()
                && text.is_char_boundary(edit.range.start)
                && text.is_char_boundary(edit.range.end)
                && taken
                    .iter()
                    .all(|other| !overlaps(&edit.range, &other.range))
        }) && !self_overlapping(&fix.edits);
        if fits {
            taken.extend(fix.edits.iter());
            fixed += 1;
        }
    }
    if fixed == 0 {
        return FixResult {
            text: text.to_string(),
            fixed: 0,
            broke_syntax: false,
        };
    }
    let edits: Vec<TextEdit> = taken.into_iter().cloned().collect();
    let (new_text, _) = apply_edits(text, &edits);
    let before_ok = !SourceFile::new(text).tree().root_node().has_error();
    let after_ok = !SourceFile::new(new_text.as_str())
        .tree()
        .root_node()
        .has_error();
    if before_ok && !after_ok {
        return FixResult {
            text: text.to_string(),
            fixed: 0,
            broke_syntax: true,
        };
    }
    FixResult {
        text: new_text,
        fixed,
        broke_syntax: false,
    }
}

pub struct FixResult {
    pub text: String,
    pub fixed: usize,
    pub broke_syntax: bool,
}

/// Two edits conflict when their ranges overlap, or when both insert at the same place (their
/// order would be arbitrary).
fn overlaps(a: &std::ops::Range<usize>, b: &std::ops::Range<usize>) -> bool {
    if a.start == a.end || b.start == b.end {
        return a.start == b.start
            || (a.start > b.start && a.start < b.end)
            || (b.start > a.start && b.start < a.end);
    }
    a.start < b.end && b.start < a.end
}

fn self_overlapping(edits: &[TextEdit]) -> bool {
    edits
        .iter()
        .enumerate()
        .any(|(i, a)| edits[i + 1..].iter().any(|b| overlaps(&a.range, &b.range)))
}

/// A unified diff of two texts, with three lines of context, `git diff` style headers (the path
/// as its bytes are).
pub fn unified_diff(path: &std::path::Path, old: &str, new: &str) -> Vec<u8> {
    let a: Vec<&str> = old.split_inclusive('\n').collect();
    let b: Vec<&str> = new.split_inclusive('\n').collect();
    let ops = diff_lines(&a, &b);
    let mut out = String::new();
    const CONTEXT: usize = 3;
    // Group the operations into hunks.
    let changed: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, op)| !matches!(op, Op::Same(..)))
        .map(|(i, _)| i)
        .collect();
    let mut i = 0;
    while i < changed.len() {
        let start = changed[i].saturating_sub(CONTEXT);
        let mut end = changed[i];
        while i < changed.len() && changed[i] <= end + 2 * CONTEXT + 1 {
            end = changed[i];
            i += 1;
        }
        let end = (end + CONTEXT + 1).min(ops.len());
        let (mut old_start, mut new_start) = (None, None);
        let (mut old_len, mut new_len) = (0, 0);
        let mut body = String::new();
        for op in &ops[start..end] {
            match *op {
                Op::Same(x, y) => {
                    old_start.get_or_insert(x);
                    new_start.get_or_insert(y);
                    old_len += 1;
                    new_len += 1;
                    push_line(&mut body, ' ', a[x]);
                }
                Op::Delete(x, y) => {
                    old_start.get_or_insert(x);
                    new_start.get_or_insert(y);
                    old_len += 1;
                    push_line(&mut body, '-', a[x]);
                }
                Op::Insert(x, y) => {
                    old_start.get_or_insert(x);
                    new_start.get_or_insert(y);
                    new_len += 1;
                    push_line(&mut body, '+', b[y]);
                }
            }
        }
        let os = old_start.unwrap_or(0) + usize::from(old_len > 0);
        let ns = new_start.unwrap_or(0) + usize::from(new_len > 0);
        out.push_str(&format!("@@ -{os},{old_len} +{ns},{new_len} @@\n"));
        out.push_str(&body);
    }
    let path = crate::discover::path_bytes(path);
    let mut diff = Vec::with_capacity(out.len() + 2 * path.len() + 16);
    for (sign, side) in [(b"---", b"a/"), (b"+++", b"b/")] {
        diff.extend_from_slice(sign);
        diff.push(b' ');
        diff.extend_from_slice(side);
        diff.extend_from_slice(&path);
        diff.push(b'\n');
    }
    diff.extend_from_slice(out.as_bytes());
    diff
}

fn push_line(out: &mut String, sign: char, line: &str) {
    out.push(sign);
    out.push_str(line);
    if !line.ends_with('\n') {
        out.push_str("\n\\ No newline at end of file\n");
    }
}

/// One step of a line diff: indices into the old and new lines (for inserts and deletes, the
/// position in the other text where it happens).
#[derive(Debug, Clone, Copy)]
enum Op {
    Same(usize, usize),
    Delete(usize, usize),
    Insert(usize, usize),
}

/// A line diff: common prefix and suffix are trimmed, the middle is diffed by longest common
/// subsequence when small enough (fixes change a few lines), else replaced whole.
fn diff_lines(a: &[&str], b: &[&str]) -> Vec<Op> {
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (am, bm) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);
    let mut ops: Vec<Op> = (0..prefix).map(|i| Op::Same(i, i)).collect();
    if am.len() * bm.len() <= 4_000_000 {
        // lcs[i][j] = LCS length of am[i..] and bm[j..]
        let w = bm.len() + 1;
        let mut lcs = vec![0u32; (am.len() + 1) * w];
        for i in (0..am.len()).rev() {
            for j in (0..bm.len()).rev() {
                lcs[i * w + j] = if am[i] == bm[j] {
                    lcs[(i + 1) * w + j + 1] + 1
                } else {
                    lcs[(i + 1) * w + j].max(lcs[i * w + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < am.len() || j < bm.len() {
            if i < am.len() && j < bm.len() && am[i] == bm[j] {
                ops.push(Op::Same(prefix + i, prefix + j));
                i += 1;
                j += 1;
            } else if i < am.len() && (j == bm.len() || lcs[(i + 1) * w + j] >= lcs[i * w + j + 1])
            {
                ops.push(Op::Delete(prefix + i, prefix + j));
                i += 1;
            } else {
                ops.push(Op::Insert(prefix + i, prefix + j));
                j += 1;
            }
        }
    } else {
        ops.extend((0..am.len()).map(|i| Op::Delete(prefix + i, prefix)));
        ops.extend((0..bm.len()).map(|j| Op::Insert(prefix + am.len(), prefix + j)));
    }
    let (ao, bo) = (a.len() - suffix, b.len() - suffix);
    ops.extend((0..suffix).map(|k| Op::Same(ao + k, bo + k)));
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_shows_changed_lines_with_context() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\n";
        let new = "a\nb\nc\nD\ne\nf\ng\nh\n";
        let x = std::path::Path::new("x.go");
        let d = unified_diff(x, old, new);
        assert_eq!(
            String::from_utf8_lossy(&d),
            "--- a/x.go\n+++ b/x.go\n@@ -1,7 +1,7 @@\n a\n b\n c\n-d\n+D\n e\n f\n g\n"
        );
        let d = unified_diff(x, "a\nb\n", "a\nnew\nb\n");
        assert_eq!(
            String::from_utf8_lossy(&d),
            "--- a/x.go\n+++ b/x.go\n@@ -1,2 +1,3 @@\n a\n+new\n b\n"
        );
    }

    #[test]
    fn overlap_rules() {
        assert!(overlaps(&(0..3), &(2..5)));
        assert!(!overlaps(&(0..2), &(2..5)));
        assert!(overlaps(&(2..2), &(2..2)));
        assert!(overlaps(&(3..3), &(2..5)));
        assert!(!overlaps(&(2..2), &(0..2)));
    }
}
