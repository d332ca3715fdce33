//! `--new-from-rev REV` and `--new-from-merge-base BRANCH`: only findings on lines changed since
//! a git revision, as golangci-lint does. A line is changed when `git diff REV` (the revision
//! against the working tree: commits since, staged and unstaged edits) adds or modifies it, or
//! when its file is untracked (and not ignored). A finding counts as new when the line it starts
//! on is changed.
//!
//! The text read from standard input (`--stdin-filename`) is compared with the file at `REV`
//! (`git show REV:path`) in memory, since it may not be what is on disk.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::check::FileReport;

/// Changed lines per file, by path relative to the repository's top folder.
pub struct ChangedLines {
    rev: String,
    top: PathBuf,
    files: HashMap<PathBuf, Changed>,
}

enum Changed {
    /// An untracked file: every line is new.
    All,
    /// 1-based line ranges (inclusive) that are added or modified.
    Lines(Vec<(u32, u32)>),
}

/// Runs git with `args` in the current folder; stdout, or a message naming the command.
fn git(args: &[&str]) -> Result<Vec<u8>, String> {
    let output = Command::new("git")
        .args(args)
        .output()
        .map_err(|e| format!("running git: {e} (--new-from-rev needs git on PATH)"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!(
            "`git {}` failed: {}",
            args.join(" "),
            stderr.trim()
        ));
    }
    Ok(output.stdout)
}

fn git_text(args: &[&str]) -> Result<String, String> {
    git(args).map(|out| String::from_utf8_lossy(&out).trim_end().to_string())
}

impl ChangedLines {
    /// The lines changed since `rev`.
    pub fn since(rev: &str) -> Result<ChangedLines, String> {
        let top = PathBuf::from(git_text(&["rev-parse", "--show-toplevel"])?);
        let top = top.canonicalize().unwrap_or(top);
        let commit = git_text(&[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ])
        .map_err(|_| format!("--new-from-rev: `{rev}` is not a revision of this repository"))?;
        let diff = git(&[
            "-c",
            "core.quotePath=false",
            "diff",
            "--no-color",
            "--no-ext-diff",
            "--no-renames",
            "--src-prefix=a/",
            "--dst-prefix=b/",
            "--unified=0",
            &commit,
            "--",
        ])?;
        let mut files = parse_diff(&String::from_utf8_lossy(&diff));
        let untracked = git(&[
            "ls-files",
            "--others",
            "--exclude-standard",
            "-z",
            "--full-name",
            ":/",
        ])?;
        for name in untracked.split(|&b| b == 0).filter(|n| !n.is_empty()) {
            files.insert(
                PathBuf::from(String::from_utf8_lossy(name).into_owned()),
                Changed::All,
            );
        }
        Ok(ChangedLines {
            rev: commit,
            top,
            files,
        })
    }

    /// The lines changed since the merge base of HEAD and `branch`.
    pub fn since_merge_base(branch: &str) -> Result<ChangedLines, String> {
        let base = git_text(&["merge-base", branch, "HEAD"]).map_err(|e| {
            format!("--new-from-merge-base: no merge base of HEAD and `{branch}`: {e}")
        })?;
        ChangedLines::since(&base)
    }

    /// The file's path relative to the repository's top folder, if it is inside it.
    fn relative(&self, path: &Path) -> Option<PathBuf> {
        let folder = path.parent().filter(|p| !p.as_os_str().is_empty());
        let absolute = crate::discover::absolute(folder.unwrap_or(Path::new(".")));
        let absolute = absolute.join(path.file_name()?);
        absolute.strip_prefix(&self.top).ok().map(Path::to_path_buf)
    }

    /// Keeps only the findings that start on a changed line. `stdin`: the file's text came from
    /// standard input and is compared with the revision in memory.
    pub fn keep_new(&self, file: &mut FileReport, stdin: bool) {
        let Some(relative) = self.relative(&file.path) else {
            // Outside the repository: nothing of it is in the diff.
            file.retain(|_| false);
            return;
        };
        let starts: Vec<usize> = file.findings.iter().map(|f| f.range.start).collect();
        let line_of = |offset: usize| {
            file.text[..offset.min(file.text.len())]
                .matches('\n')
                .count() as u32
                + 1
        };
        let lines: Vec<u32> = starts.iter().map(|&s| line_of(s)).collect();
        let changed: Box<dyn Fn(u32) -> bool> = if stdin {
            let spec = format!(
                "{}:{}",
                self.rev,
                relative.to_string_lossy().replace('\\', "/")
            );
            match git(&["show", &spec]) {
                Ok(old) => {
                    let new_lines =
                        crate::fix::changed_lines(&String::from_utf8_lossy(&old), &file.text);
                    Box::new(move |line| new_lines.get(line as usize - 1).copied().unwrap_or(true))
                }
                // Not in the revision: a new file.
                Err(_) => Box::new(|_| true),
            }
        } else {
            match self.files.get(&relative) {
                None => Box::new(|_| false),
                Some(Changed::All) => Box::new(|_| true),
                Some(Changed::Lines(ranges)) => {
                    let ranges = ranges.clone();
                    Box::new(move |line| ranges.iter().any(|&(a, b)| a <= line && line <= b))
                }
            }
        };
        file.retain(|i| changed(lines[i]));
    }
}

/// The added or modified lines of each file of a `git diff --unified=0`, by its new path.
fn parse_diff(diff: &str) -> HashMap<PathBuf, Changed> {
    let mut files: HashMap<PathBuf, Changed> = HashMap::new();
    let mut current: Option<PathBuf> = None;
    for line in diff.lines() {
        if let Some(name) = line.strip_prefix("+++ ") {
            current = match name {
                "/dev/null" => None,
                name => Some(PathBuf::from(unquote(name).trim_start_matches("b/"))),
            };
            continue;
        }
        let Some(hunk) = line.strip_prefix("@@ ") else {
            continue;
        };
        let Some(path) = &current else { continue };
        // `@@ -a[,b] +c[,d] @@`: d new lines from c (d = 1 when left out; 0 for a deletion).
        let Some(new) = hunk.split_whitespace().find(|w| w.starts_with('+')) else {
            continue;
        };
        let mut parts = new[1..].splitn(2, ',');
        let start: u32 = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        let count: u32 = parts
            .next()
            .map_or(Some(1), |s| s.parse().ok())
            .unwrap_or(0);
        if count == 0 {
            continue;
        }
        let entry = files
            .entry(path.clone())
            .or_insert_with(|| Changed::Lines(Vec::new()));
        if let Changed::Lines(ranges) = entry {
            ranges.push((start, start + count - 1));
        }
    }
    files
}

/// A path as git prints it: C-quoted (`"a\tb.go"`) when it holds unusual bytes.
fn unquote(name: &str) -> String {
    let Some(inner) = name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) else {
        return name.to_string();
    };
    let mut bytes = Vec::with_capacity(inner.len());
    let mut chars = inner.bytes().peekable();
    while let Some(b) = chars.next() {
        if b != b'\\' {
            bytes.push(b);
            continue;
        }
        match chars.next() {
            Some(b'n') => bytes.push(b'\n'),
            Some(b't') => bytes.push(b'\t'),
            Some(b'"') => bytes.push(b'"'),
            Some(b'\\') => bytes.push(b'\\'),
            Some(d @ b'0'..=b'7') => {
                let mut value = u32::from(d - b'0');
                for _ in 0..2 {
                    if let Some(&d @ b'0'..=b'7') = chars.peek() {
                        value = value * 8 + u32::from(d - b'0');
                        chars.next();
                    }
                }
                bytes.push(value as u8);
            }
            Some(other) => bytes.push(other),
            None => {}
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hunks_give_the_new_lines() {
        let diff = "diff --git a/a.go b/a.go\n--- a/a.go\n+++ b/a.go\n@@ -3 +3 @@\n-x\n+y\n@@ -10,0 +11,2 @@\n+p\n+q\n@@ -20,2 +21,0 @@\n-gone\n-gone\n--- a/old.go\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n+++ \"b/sp\\303\\251cial\\tname.go\"\n@@ -0,0 +1 @@\n+new\n";
        let files = parse_diff(diff);
        match files.get(Path::new("a.go")) {
            Some(Changed::Lines(ranges)) => assert_eq!(ranges, &[(3, 3), (11, 12)]),
            _ => panic!("a.go"),
        }
        assert!(!files.contains_key(Path::new("old.go")));
        assert!(
            files.contains_key(Path::new("spécial\tname.go")),
            "{:?}",
            files.keys().collect::<Vec<_>>()
        );
    }
}
