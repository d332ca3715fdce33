//! Which files to check, and what applies to them: folders walked like the go tool walks them,
//! the module's Go version from the nearest `go.mod`, the nearest `goconc.toml`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use goconc_analysis::{Config, GoVersion};

/// The files of one directory: every `.go` file is analyzed together (so types resolve across
/// them), findings are reported for `report` only.
#[derive(Debug, Default)]
pub struct DirJob {
    /// Every `.go` file of the folder that is not excluded, sorted.
    pub files: Vec<PathBuf>,
    /// The files whose findings are reported (all of `files` when the folder was walked; only
    /// the named ones when files were given on the command line).
    pub report: BTreeSet<PathBuf>,
}

/// What the command line names: jobs by folder, and the paths that could not be read.
#[derive(Debug, Default)]
pub struct Inputs {
    pub dirs: BTreeMap<PathBuf, DirJob>,
    pub errors: Vec<String>,
}

/// Folders the go tool ignores: `vendor`, `testdata`, and names starting with `.` or `_`.
pub fn skip_dir(name: &str) -> bool {
    name == "vendor" || name == "testdata" || name.starts_with('.') || name.starts_with('_')
}

fn is_go_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "go")
}

/// `./...` → `.`, `dir/...` → `dir`.
pub fn strip_ellipsis(arg: &str) -> &str {
    if arg == "..." {
        return ".";
    }
    match arg.strip_suffix("/...") {
        Some("") => "/",
        Some(dir) => dir,
        None => arg,
    }
}

/// A path as shown to the user: without a leading `./`.
pub fn display_path(path: &Path) -> String {
    let s = path.to_string_lossy();
    let s = s.strip_prefix("./").unwrap_or(&s);
    s.to_string()
}

impl Inputs {
    pub fn collect(args: &[String]) -> Inputs {
        let mut inputs = Inputs::default();
        for arg in args {
            let path = PathBuf::from(strip_ellipsis(arg));
            match std::fs::metadata(&path) {
                Ok(meta) if meta.is_dir() => inputs.walk(&path),
                Ok(_) => inputs.add_named_file(&path),
                Err(e) => inputs
                    .errors
                    .push(format!("{}: {}", display_path(&path), e)),
            }
        }
        inputs
    }

    /// Every `.go` file under `dir`, skipping what the go tool skips (but never the folder the
    /// user named). Symbolic links to folders are not followed, like the go tool.
    fn walk(&mut self, dir: &Path) {
        let mut stack = vec![dir.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) => {
                    self.errors.push(format!("{}: {}", display_path(&dir), e));
                    continue;
                }
            };
            let mut files = Vec::new();
            let mut subdirs = Vec::new();
            for entry in entries.flatten() {
                let path = entry.path();
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                let name = entry.file_name().to_string_lossy().to_string();
                if kind.is_dir() {
                    if !skip_dir(&name) {
                        subdirs.push(path);
                    }
                } else if is_go_file(&path)
                    && !name.starts_with('.')
                    && (kind.is_file() || path.is_file())
                {
                    files.push(path);
                }
            }
            if !files.is_empty() {
                files.sort();
                let job = self.dirs.entry(dir.clone()).or_default();
                job.report.extend(files.iter().cloned());
                job.files = files;
            }
            subdirs.sort();
            stack.extend(subdirs.into_iter().rev());
        }
    }

    /// A file named on the command line: its folder's other `.go` files come along for the
    /// package's types, but only the named file is reported.
    fn add_named_file(&mut self, path: &Path) {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let path = if path.parent().is_some_and(|p| p.as_os_str().is_empty()) {
            dir.join(path)
        } else {
            path.to_path_buf()
        };
        let job = self.dirs.entry(dir.clone()).or_default();
        if job.files.is_empty() {
            if let Ok(entries) = std::fs::read_dir(&dir) {
                let mut files: Vec<PathBuf> = entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        is_go_file(p)
                            && p.is_file()
                            && !p
                                .file_name()
                                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                    })
                    .collect();
                files.sort();
                job.files = files;
            }
        }
        if !job.files.contains(&path) {
            job.files.push(path.clone());
            job.files.sort();
        }
        job.report.insert(path);
    }
}

/// A `goconc.toml` that was found and read.
#[derive(Debug, Clone)]
pub struct FoundConfig {
    /// The folder holding it: exclude globs are relative to it.
    pub dir: PathBuf,
    pub config: Config,
}

/// Looks up, once per folder, the nearest `go.mod` and `goconc.toml` at or above it.
#[derive(Default)]
pub struct Lookup {
    go_mods: HashMap<PathBuf, Option<GoVersion>>,
    configs: HashMap<PathBuf, Option<FoundConfig>>,
    /// Config files that failed to parse, with their message (`path:line: key: message`).
    pub config_errors: BTreeMap<PathBuf, String>,
}

impl Lookup {
    /// The Go version of the nearest go.mod at or above `dir` (absolute); None when there is
    /// none or it has no `go` line (the engine then assumes the newest Go).
    pub fn go_version(&mut self, dir: &Path) -> Option<GoVersion> {
        if let Some(found) = self.go_mods.get(dir) {
            return *found;
        }
        let found = if let Ok(text) = std::fs::read_to_string(dir.join("go.mod")) {
            GoVersion::from_go_mod(&text)
        } else {
            match dir.parent() {
                Some(parent) => self.go_version(parent),
                None => None,
            }
        };
        self.go_mods.insert(dir.to_path_buf(), found);
        found
    }

    /// The nearest `goconc.toml` at or above `dir` (absolute). A file that does not parse is
    /// recorded in `config_errors` and counts as found (so a folder below it does not silently
    /// fall back to a config further up).
    pub fn config(&mut self, dir: &Path) -> Option<FoundConfig> {
        if let Some(found) = self.configs.get(dir) {
            return found.clone();
        }
        let path = dir.join("goconc.toml");
        let found = match std::fs::read_to_string(&path) {
            Ok(text) => match Config::parse_toml(&text) {
                Ok(config) => Some(FoundConfig {
                    dir: dir.to_path_buf(),
                    config,
                }),
                Err(e) => {
                    let key = e
                        .key
                        .as_deref()
                        .map(|k| format!(" {k}:"))
                        .unwrap_or_default();
                    self.config_errors.insert(
                        path.clone(),
                        format!("{}:{}:{} {}", display_path(&path), e.line, key, e.message),
                    );
                    None
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match dir.parent() {
                Some(parent) => self.config(parent),
                None => None,
            },
            Err(e) => {
                self.config_errors
                    .insert(path.clone(), format!("{}: {}", display_path(&path), e));
                None
            }
        };
        self.configs.insert(dir.to_path_buf(), found.clone());
        found
    }
}

/// `dir` made absolute and free of `.`/`..`, for looking upward.
pub fn absolute(dir: &Path) -> PathBuf {
    dir.canonicalize()
        .or_else(|_| std::path::absolute(dir))
        .unwrap_or_else(|_| dir.to_path_buf())
}

/// `path` relative to `base`, slash-separated, for exclude globs.
pub fn relative_slash(path: &Path, base: &Path) -> Option<String> {
    let rel = path.strip_prefix(base).ok()?;
    Some(
        rel.components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ellipsis_and_skips() {
        assert_eq!(strip_ellipsis("./..."), ".");
        assert_eq!(strip_ellipsis("..."), ".");
        assert_eq!(strip_ellipsis("pkg/..."), "pkg");
        assert_eq!(strip_ellipsis("a.go"), "a.go");
        assert!(skip_dir("vendor") && skip_dir("testdata") && skip_dir(".git") && skip_dir("_old"));
        assert!(!skip_dir("internal"));
        assert_eq!(display_path(Path::new("./a/b.go")), "a/b.go");
        assert_eq!(
            relative_slash(Path::new("/x/y/z.go"), Path::new("/x")).as_deref(),
            Some("y/z.go")
        );
    }
}
