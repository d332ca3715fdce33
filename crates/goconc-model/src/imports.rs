//! The imports of one file: which local names stand for which import paths.

use crate::HashMap;
use goconc_syntax::NodeExt;

use tree_sitter::Node;

use goconc_syntax::{named_children, text};

/// The first elements of the standard library's import paths (Go 1.27's `src`, and cgo's `C`).
const STANDARD_ROOTS: &[&str] = &[
    "C",
    "archive",
    "arena",
    "bufio",
    "builtin",
    "bytes",
    "cmd",
    "cmp",
    "compress",
    "container",
    "context",
    "crypto",
    "database",
    "debug",
    "embed",
    "encoding",
    "errors",
    "expvar",
    "flag",
    "fmt",
    "go",
    "hash",
    "html",
    "image",
    "index",
    "internal",
    "io",
    "iter",
    "log",
    "maps",
    "math",
    "mime",
    "net",
    "os",
    "path",
    "plugin",
    "reflect",
    "regexp",
    "runtime",
    "simd",
    "slices",
    "sort",
    "strconv",
    "strings",
    "structs",
    "sync",
    "syscall",
    "testing",
    "text",
    "time",
    "unicode",
    "unique",
    "unsafe",
    "uuid",
    "vendor",
    "weak",
];

/// Whether `path` is a package of the standard library: its first element has no dot and is
/// one of the standard library's. A module may be named without a dot (`go mod init shop`):
/// `shop/store` is its package, not the standard library's.
pub fn is_standard_library(path: &str) -> bool {
    let first = path.split('/').next().unwrap_or_default();
    !first.contains('.') && STANDARD_ROOTS.contains(&first)
}

#[derive(Debug, Default, Clone)]
pub struct Imports {
    /// Local name → import path (`sync` → "sync", `eg` → "golang.org/x/sync/errgroup").
    by_name: HashMap<String, String>,
    /// Paths imported with `.`: their exported names are in file scope.
    dot_paths: Vec<String>,
}

impl Imports {
    pub fn from_tree(root: Node, src: &str) -> Imports {
        let mut imports = Imports::default();
        // Imports come before every other declaration: stop at the first one (listing all of a
        // long file's declarations costs more than reading its imports).
        let head = named_children(root).take_while(|n| {
            matches!(
                n.kind_str(),
                "package_clause" | "import_declaration" | "ERROR"
            )
        });
        for decl in head.filter(|n| n.kind_str() == "import_declaration") {
            for child in named_children(decl) {
                if child.kind_str() == "import_spec" {
                    imports.add_spec(child, src);
                } else if child.kind_str() == "import_spec_list" {
                    for spec in named_children(child).filter(|n| n.kind_str() == "import_spec") {
                        imports.add_spec(spec, src);
                    }
                }
            }
        }
        imports
    }

    fn add_spec(&mut self, spec: Node, src: &str) {
        let Some(path_node) = spec.field("path") else {
            return;
        };
        let path = text(path_node, src)
            .trim_matches(|c| c == '"' || c == '`')
            .to_string();
        match spec.field("name") {
            Some(name) if name.kind_str() == "dot" => self.dot_paths.push(path),
            Some(name) if name.kind_str() == "blank_identifier" => {}
            Some(name) => {
                self.by_name.insert(text(name, src).to_string(), path);
            }
            None => {
                self.by_name.insert(default_name(&path).to_string(), path);
            }
        }
    }

    /// The import path a local package name refers to.
    pub fn path_of(&self, local_name: &str) -> Option<&str> {
        self.by_name.get(local_name).map(String::as_str)
    }

    /// Whether `local_name` names the package `path` (`sync`, or an alias of it).
    pub fn is(&self, local_name: &str, path: &str) -> bool {
        self.path_of(local_name) == Some(path)
    }

    /// The local name a path is imported under (not a dot import).
    pub fn local_names_of(&self, path: &str) -> Option<&str> {
        self.by_name
            .iter()
            .find(|(_, p)| p.as_str() == path)
            .map(|(name, _)| name.as_str())
    }

    /// Every path the file imports (dot imports included; blank imports run only their
    /// `init`), sorted, each once.
    pub fn paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = self
            .by_name
            .values()
            .chain(&self.dot_paths)
            .cloned()
            .collect();
        paths.sort_unstable();
        paths.dedup();
        paths
    }

    /// Paths imported with a dot.
    pub fn dot_paths(&self) -> &[String] {
        &self.dot_paths
    }

    /// Whether every import of `path` (if any) uses the package's own name: no alias, no dot.
    pub fn is_spelled_plainly(&self, path: &str) -> bool {
        !self.dot_paths.iter().any(|p| p == path)
            && self
                .by_name
                .iter()
                .all(|(name, p)| p != path || name == default_name(path))
    }

    /// Does the file import `path` at all (under any name)?
    pub fn imports(&self, path: &str) -> bool {
        self.by_name.values().any(|p| p == path) || self.dot_paths.iter().any(|p| p == path)
    }
}

/// The package name Go uses for an import without a name: the last path element, minus a
/// `go-` prefix or `.go`/`-go` suffix and a major-version element (`/v2`).
fn default_name(path: &str) -> &str {
    let mut parts = path.rsplit('/');
    let mut last = parts.next().unwrap_or(path);
    if last.len() > 1 && last.starts_with('v') && last[1..].bytes().all(|b| b.is_ascii_digit()) {
        if let Some(prev) = parts.next() {
            last = prev;
        }
    }
    let last = last.strip_prefix("go-").unwrap_or(last);
    let last = last
        .strip_suffix(".go")
        .or_else(|| last.strip_suffix("-go"))
        .unwrap_or(last);
    last
}

#[cfg(test)]
mod standard_library_tests {
    use super::is_standard_library;

    #[test]
    fn the_standard_library_is_known_by_its_first_element() {
        for path in [
            "sync",
            "net/http",
            "internal/poll",
            "C",
            "crypto/tls",
            "uuid",
        ] {
            assert!(is_standard_library(path), "{path}");
        }
        // A module named without a dot, one whose name only starts like the standard
        // library's, and the usual dotted module paths.
        for path in [
            "shop/lib",
            "netx/http",
            "synced",
            "example.com/net",
            "golang.org/x/sync",
        ] {
            assert!(!is_standard_library(path), "{path}");
        }
    }
}
