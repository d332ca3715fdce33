//! Which files and folders are Go source the way the go tool sees it, and the walk that finds
//! them: one definition for `goconc check` and the server's background check, so that both
//! report the same files.

use std::ffi::OsStr;
use std::path::Path;

/// Folders the go tool ignores: `vendor`, `testdata`, and names starting with `.` or `_`.
pub fn skip_dir(name: &OsStr) -> bool {
    let name = name.as_encoded_bytes();
    name == b"vendor" || name == b"testdata" || name.starts_with(b".") || name.starts_with(b"_")
}

/// A `.go` file the go tool would read: the extension, and not hidden.
pub fn is_go_name(name: &OsStr) -> bool {
    let bytes = name.as_encoded_bytes();
    bytes.ends_with(b".go") && bytes.len() > 3 && !bytes.starts_with(b".")
}

/// A walk of `root` in file-name order that honours `.gitignore` and the like, does not follow
/// links, and leaves out the folders the go tool ignores (the root itself is always walked).
/// Hidden names are left to [`skip_dir`] and [`is_go_name`], the go tool's rules.
pub fn walker(root: &Path) -> ignore::WalkBuilder {
    let mut builder = ignore::WalkBuilder::new(root);
    builder
        .standard_filters(true)
        .hidden(false)
        .follow_links(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry(|entry| {
            entry.depth() == 0
                || !entry.file_type().is_some_and(|t| t.is_dir())
                || !skip_dir(entry.file_name())
        });
    builder
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_go_tools_rules() {
        for skipped in ["vendor", "testdata", ".git", "_old"] {
            assert!(skip_dir(OsStr::new(skipped)), "{skipped}");
        }
        assert!(!skip_dir(OsStr::new("internal")));
        assert!(is_go_name(OsStr::new("a.go")) && !is_go_name(OsStr::new(".a.go")));
        assert!(!is_go_name(OsStr::new(".go")) && !is_go_name(OsStr::new("a.gox")));
    }
}
