//! Which files to check, and what applies to them: folders walked like the go tool walks them
//! (and as ripgrep honours `.gitignore`), the module's Go version from the nearest `go.mod`, the
//! nearest `goconc.toml`.
//!
//! A file is known by where its name lives: its folder's canonical path and its file name. So
//! `a.go`, `./a.go`, `dir/../a.go`, or a folder and a file in it, are one file, checked and
//! reported once, under the first spelling that asked for it.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};

use goconc_analysis::{Config, GoVersion};

/// A message about one path, shown as `PATH: MESSAGE` with the path's own bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathMessage {
    pub path: PathBuf,
    pub message: String,
}

impl PathMessage {
    pub fn new(path: &Path, message: impl Into<String>) -> PathMessage {
        PathMessage {
            path: shown(path).to_path_buf(),
            message: message.into(),
        }
    }

    /// `LEVEL: PATH: MESSAGE` on stderr; a message without a path prints without one.
    pub fn eprint(&self, level: &str) {
        let stderr = std::io::stderr();
        let mut err = stderr.lock();
        let _ = err.write_all(level.as_bytes());
        let _ = err.write_all(b": ");
        if !self.path.as_os_str().is_empty() {
            let _ = err.write_all(&path_bytes(&self.path));
            let _ = err.write_all(b": ");
        }
        let _ = writeln!(err, "{}", self.message);
    }
}

/// One `.go` file of a folder.
#[derive(Debug, Clone)]
pub struct GoFile {
    /// As the user spelled it (or the folder they named, joined with the file name): for reading,
    /// writing and showing.
    pub path: PathBuf,
    /// Whether its findings are reported; the others are read for the package's types only.
    pub report: bool,
    /// Named on the command line (not found by a walk): checked even when generated.
    pub named: bool,
    /// Its text, when it comes from standard input rather than from disk.
    pub stdin_text: Option<std::sync::Arc<String>>,
}

/// The file read from standard input (`-`), and the path it stands for.
pub struct StdinFile {
    pub path: PathBuf,
    pub text: String,
}

/// The `.go` files of one folder, by file name: analyzed together (so types resolve across them),
/// findings reported for those marked `report`.
#[derive(Debug, Default)]
pub struct DirJob {
    pub files: BTreeMap<OsString, GoFile>,
}

/// What the command line names: jobs by canonical folder, and the paths that could not be used.
#[derive(Debug, Default)]
pub struct Inputs {
    pub dirs: BTreeMap<PathBuf, DirJob>,
    /// Paths that could not be read or are not files to check (exit 2).
    pub errors: Vec<PathMessage>,
    /// Problems that do not stop the check (an ignore file with a bad glob).
    pub warnings: Vec<PathMessage>,
    /// Spelled folder → canonical folder, so each folder is resolved once.
    canonical: HashMap<PathBuf, PathBuf>,
    /// Files already reported as errors (canonical folder, name): one message however named.
    failed: HashSet<(PathBuf, OsString)>,
}

use goconc_lsp::go_files::is_go_name;

/// `./...` → `.`, `dir/...` → `dir`.
pub fn strip_ellipsis(arg: &Path) -> PathBuf {
    if arg.as_os_str() == "..." {
        return PathBuf::from(".");
    }
    if arg.file_name().is_some_and(|n| n == "...") {
        return match arg.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
    }
    arg.to_path_buf()
}

/// A path as shown to the user: without a leading `./` (`.` itself stays).
pub fn shown(path: &Path) -> &Path {
    match path.strip_prefix(".") {
        Ok(rest) if !rest.as_os_str().is_empty() => rest,
        _ => path,
    }
}

/// The bytes of a path for output: on Unix exactly its bytes (a name that is not UTF-8 is
/// printed as it is, as ripgrep does), elsewhere its lossy UTF-8.
pub fn path_bytes(path: &Path) -> Cow<'_, [u8]> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Cow::Borrowed(path.as_os_str().as_bytes())
    }
    #[cfg(not(unix))]
    {
        match path.to_string_lossy() {
            Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
            Cow::Owned(s) => Cow::Owned(s.into_bytes()),
        }
    }
}

/// What a file that is not a regular file is, for messages.
fn kind_name(kind: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_socket() {
            return "a socket";
        }
        if kind.is_char_device() {
            return "a character device";
        }
        if kind.is_block_device() {
            return "a block device";
        }
    }
    if kind.is_dir() {
        "a folder"
    } else {
        "not a regular file"
    }
}

/// Why a file of this type is not checked, or None for a regular file.
pub fn not_regular(kind: std::fs::FileType) -> Option<String> {
    if kind.is_file() {
        None
    } else {
        Some(format!(
            "not a regular file ({}); only regular files are checked",
            kind_name(kind)
        ))
    }
}

/// Whether `path` (found as a symbolic link or named) is a regular file to check: Ok(true) yes,
/// Ok(false) a folder (or a link to one), Err why not (a dangling or looping link, a FIFO, a
/// device…). Only `stat`s: a FIFO or device is never opened.
fn check_target(path: &Path) -> Result<bool, String> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Ok(false),
        Ok(meta) => match not_regular(meta.file_type()) {
            None => Ok(true),
            Some(why) => Err(why),
        },
        Err(e) => {
            let link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
            if !link {
                return Err(e.to_string());
            }
            let target = std::fs::read_link(path)
                .map(|t| t.to_string_lossy().into_owned())
                .unwrap_or_default();
            Err(if e.kind() == std::io::ErrorKind::NotFound {
                format!("broken symbolic link: its target `{target}` does not exist")
            } else {
                format!("symbolic link to `{target}` cannot be followed: {e}")
            })
        }
    }
}

impl Inputs {
    pub fn collect(args: &[PathBuf], stdin: Option<StdinFile>) -> Inputs {
        let mut inputs = Inputs::default();
        let mut stdin = stdin;
        for arg in args {
            if arg.as_os_str() == "-" {
                if let Some(file) = stdin.take() {
                    inputs.add_stdin_file(file);
                }
                continue;
            }
            let path = strip_ellipsis(arg);
            match check_target(&path) {
                Ok(false) => inputs.walk(&path),
                Ok(true) => inputs.add_named_file(&path),
                Err(why) => inputs.file_error(&path, why),
            }
        }
        inputs
    }

    fn canonical(&mut self, dir: &Path) -> PathBuf {
        match self.canonical.get(dir) {
            Some(c) => c.clone(),
            None => {
                let c = absolute(dir);
                self.canonical.insert(dir.to_path_buf(), c.clone());
                c
            }
        }
    }

    /// The job of the folder `dir` (as spelled), created with every regular `.go` file in it as
    /// a file read for types only.
    fn job(&mut self, dir: &Path) -> &mut DirJob {
        let canonical = self.canonical(dir);
        self.dirs.entry(canonical).or_insert_with(|| DirJob {
            files: siblings(dir),
        })
    }

    /// An error about a file, once however often and however it is named.
    fn file_error(&mut self, path: &Path, why: String) {
        if let (Some(dir), Some(name)) = (path.parent(), path.file_name()) {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            let key = (self.canonical(dir), name.to_os_string());
            if !self.failed.insert(key) {
                return;
            }
        }
        self.errors.push(PathMessage::new(path, why));
    }

    /// Marks a file as reported, under this spelling unless an earlier one already asked.
    /// `named`: the user named the file itself.
    fn report(&mut self, dir: &Path, name: &OsStr, path: &Path, named: bool) -> &mut GoFile {
        let job = self.job(dir);
        let file = job.files.entry(name.to_os_string()).or_insert(GoFile {
            path: path.to_path_buf(),
            report: false,
            named: false,
            stdin_text: None,
        });
        if !file.report {
            file.path = path.to_path_buf();
            file.report = true;
        }
        file.named |= named;
        file
    }

    /// The file read from standard input: checked as if it were at its path (which need not
    /// exist), with the other `.go` files of that folder read from disk for the package.
    fn add_stdin_file(&mut self, stdin: StdinFile) {
        let dir = match stdin.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let Some(name) = stdin.path.file_name().map(OsStr::to_os_string) else {
            self.errors.push(PathMessage::new(
                &stdin.path,
                "--stdin-filename: not a file name".to_string(),
            ));
            return;
        };
        let file = self.report(&dir, &name, &stdin.path, true);
        file.stdin_text = Some(std::sync::Arc::new(stdin.text));
    }

    /// Every `.go` file under `dir`, skipping what the go tool skips and what `.gitignore`,
    /// `.ignore` and git's exclude files ignore (as ripgrep does), but never the folder the user
    /// named. Symbolic links to folders are not followed, like the go tool; a `.go` entry that is
    /// not a regular file (a dangling or looping link, a FIFO) is an error.
    fn walk(&mut self, root: &Path) {
        for result in goconc_lsp::go_files::walker(root).build() {
            let entry = match result {
                Ok(entry) => entry,
                Err(e) => {
                    self.walk_error(&e, None);
                    continue;
                }
            };
            if let Some(e) = entry.error() {
                // A problem in an ignore file: the walk goes on with the rest of it.
                let mut problems = Vec::new();
                flatten(e, None, None, &mut problems);
                self.warnings
                    .extend(problems.into_iter().map(|(message, _)| message));
            }
            let Some(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() || !is_go_name(entry.file_name()) {
                continue;
            }
            let path = entry.path();
            let regular = if kind.is_symlink() {
                check_target(path)
            } else {
                not_regular(kind).map_or(Ok(true), Err)
            };
            match regular {
                Ok(true) => {
                    let dir = path.parent().unwrap_or(Path::new("."));
                    self.report(dir, entry.file_name(), path, false);
                }
                // A link named `.go` to a folder: not followed, like any folder link.
                Ok(false) => {}
                Err(why) => self.file_error(path, why),
            }
        }
    }

    fn walk_error(&mut self, e: &ignore::Error, path: Option<&Path>) {
        let mut problems = Vec::new();
        flatten(e, path, None, &mut problems);
        for (message, fatal) in problems {
            if fatal {
                self.errors.push(message);
            } else {
                self.warnings.push(message);
            }
        }
    }

    /// A file named on the command line: its folder's other `.go` files come along for the
    /// package's types, but only the named file is reported. Named files are checked whatever
    /// their name and whatever `.gitignore` says.
    fn add_named_file(&mut self, path: &Path) {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let Some(name) = path.file_name() else {
            self.errors
                .push(PathMessage::new(path, "not a file name".to_string()));
            return;
        };
        let name = name.to_os_string();
        self.report(&dir, &name, path, true);
    }
}

/// Every regular, not hidden `.go` file of `dir` (links to files included), read for types only.
/// What cannot be listed or followed is left out silently: these files are not reported.
fn siblings(dir: &Path) -> BTreeMap<OsString, GoFile> {
    let mut files = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !is_go_name(&name) {
            continue;
        }
        let path = entry.path();
        let regular = match entry.file_type() {
            Ok(kind) if kind.is_symlink() => check_target(&path) == Ok(true),
            Ok(kind) => kind.is_file(),
            Err(_) => false,
        };
        if regular {
            files.insert(
                name,
                GoFile {
                    path,
                    report: false,
                    named: false,
                    stdin_text: None,
                },
            );
        }
    }
    files
}

/// The messages of a walk error: (message, whether it is an error rather than a warning).
/// Problems in ignore files (a glob that does not parse) are warnings; a folder that cannot be
/// read is an error.
fn flatten(
    e: &ignore::Error,
    path: Option<&Path>,
    line: Option<u64>,
    out: &mut Vec<(PathMessage, bool)>,
) {
    use ignore::Error;
    match e {
        Error::Partial(errors) => {
            for e in errors {
                flatten(e, path, line, out);
            }
        }
        Error::WithDepth { err, .. } => flatten(err, path, line, out),
        Error::WithPath { path, err } => flatten(err, Some(path), line, out),
        Error::WithLineNumber { line, err } => flatten(err, path, Some(*line), out),
        other => {
            let fatal = matches!(other, Error::Io(_) | Error::Loop { .. });
            let message = match line {
                Some(line) => format!("line {line}: {other}"),
                None => other.to_string(),
            };
            let message = if fatal {
                message
            } else {
                format!("{message}; the rest of the file is used")
            };
            out.push((
                PathMessage::new(path.unwrap_or(Path::new("")), message),
                fatal,
            ));
        }
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
    /// `--config FILE`: used for every folder instead of the nearest `goconc.toml`.
    forced: Option<FoundConfig>,
    go_mods: HashMap<PathBuf, Option<GoVersion>>,
    modules: HashMap<PathBuf, Option<crate::module::Module>>,
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

    /// The module of the nearest go.mod at or above `dir` (absolute): its root folder and its
    /// `module` path. None without a go.mod, or when it names no module.
    pub fn module(&mut self, dir: &Path) -> Option<crate::module::Module> {
        if let Some(found) = self.modules.get(dir) {
            return found.clone();
        }
        let found = match std::fs::read_to_string(dir.join("go.mod")) {
            Ok(text) => {
                goconc_analysis::module::module_path(&text).map(|path| crate::module::Module {
                    root: dir.to_path_buf(),
                    path,
                })
            }
            Err(_) => dir.parent().and_then(|parent| self.module(parent)),
        };
        self.modules.insert(dir.to_path_buf(), found.clone());
        found
    }

    /// A lookup that gives every folder the configuration of `path` (`--config FILE`); its
    /// exclude globs are relative to its folder. Err: why it cannot be used.
    pub fn with_config_file(path: &Path) -> Result<Lookup, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--config {}: {e}", path.display()))?;
        let config = Config::parse_toml(&text).map_err(|e| config_message(path, &e))?;
        let dir = absolute(
            path.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new(".")),
        );
        Ok(Lookup {
            forced: Some(FoundConfig { dir, config }),
            ..Lookup::default()
        })
    }

    /// The nearest `goconc.toml` at or above `dir` (absolute), or the `--config` file. A file
    /// that does not parse is recorded in `config_errors` and counts as found (so a folder below
    /// it does not silently fall back to a config further up).
    pub fn config(&mut self, dir: &Path) -> Option<FoundConfig> {
        if let Some(forced) = &self.forced {
            return Some(forced.clone());
        }
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
                    self.config_errors
                        .insert(path.clone(), config_message(&path, &e));
                    None
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match dir.parent() {
                Some(parent) => self.config(parent),
                None => None,
            },
            Err(e) => {
                self.config_errors
                    .insert(path.clone(), format!("{}: {}", shown(&path).display(), e));
                None
            }
        };
        self.configs.insert(dir.to_path_buf(), found.clone());
        found
    }
}

/// `PATH:LINE: KEY: MESSAGE` for a configuration file that does not parse.
fn config_message(path: &Path, e: &goconc_analysis::ConfigError) -> String {
    let key = e
        .key
        .as_deref()
        .map(|k| format!(" {k}:"))
        .unwrap_or_default();
    format!("{}:{}:{} {}", shown(path).display(), e.line, key, e.message)
}

/// `dir` made absolute and free of `.`/`..` and links, for looking upward and for knowing a
/// folder however it is spelled.
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
        assert_eq!(strip_ellipsis(Path::new("./...")), Path::new("."));
        assert_eq!(strip_ellipsis(Path::new("...")), Path::new("."));
        assert_eq!(strip_ellipsis(Path::new("pkg/...")), Path::new("pkg"));
        assert_eq!(strip_ellipsis(Path::new("a.go")), Path::new("a.go"));
        assert_eq!(shown(Path::new("./a/b.go")), Path::new("a/b.go"));
        assert_eq!(shown(Path::new(".")), Path::new("."));
        assert_eq!(
            relative_slash(Path::new("/x/y/z.go"), Path::new("/x")).as_deref(),
            Some("y/z.go")
        );
    }
}
