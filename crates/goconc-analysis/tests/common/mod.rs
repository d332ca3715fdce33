//! What the fixture tests share: where the fixtures are, which folders are packages, and the Go
//! version of a folder's module; the inputs and random generator of the edit tests.

#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};

use goconc_analysis::GoVersion;

/// `tests/fixtures` at the top of the repository.
pub fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .canonicalize()
        .expect("tests/fixtures exists")
}

/// Every folder holding `.go` files, in sorted order, skipping `_stubs` and hidden folders.
pub fn package_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    if entries
        .iter()
        .any(|p| p.extension().is_some_and(|e| e == "go"))
    {
        out.push(dir.to_path_buf());
    }
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if path.is_dir() && !name.starts_with('_') && !name.starts_with('.') {
            package_dirs(&path, out);
        }
    }
}

/// The `.go` files directly in `dir`, sorted.
pub fn go_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "go"))
        .collect();
    files.sort();
    files
}

/// The `go` version of the nearest go.mod at or above `dir`.
pub fn module_version(dir: &Path) -> Option<GoVersion> {
    dir.ancestors()
        .find_map(|d| std::fs::read_to_string(d.join("go.mod")).ok())
        .and_then(|t| GoVersion::from_go_mod(&t))
}

/// A small deterministic generator (xorshift64*): the same sequence on every run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

pub fn fixture_files() -> Vec<PathBuf> {
    fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                collect(&path, out);
            } else if path.extension().is_some_and(|e| e == "go") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    collect(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures"),
        &mut out,
    );
    out.sort();
    out
}

/// `$(go env GOROOT)`, when `go` runs.
pub fn goroot() -> Option<PathBuf> {
    let output = std::process::Command::new("go")
        .args(["env", "GOROOT"])
        .output()
        .ok()?;
    Some(PathBuf::from(
        String::from_utf8_lossy(&output.stdout).trim(),
    ))
}

pub fn stdlib_files() -> Vec<PathBuf> {
    let Some(goroot) = goroot() else {
        return Vec::new();
    };
    let root = goroot.join("src");
    [
        "sync/mutex.go",
        "sync/waitgroup.go",
        "context/context.go",
        "net/http/transport.go",
        "database/sql/sql.go",
    ]
    .iter()
    .map(|p| root.join(p))
    .filter(|p| p.exists())
    .collect()
}

/// The exports of the packages of the fixtures' module that the files of `dir` import, each
/// summarised after the module packages it imports: what `goconc check` lays on the folder.
pub fn module_summaries(dir: &Path) -> Option<std::sync::Arc<goconc_analysis::ModuleSummaries>> {
    use goconc_analysis::module::{folder_in_module, module_imports, module_path};
    let root = dir.ancestors().find(|d| d.join("go.mod").is_file())?;
    let path = module_path(&std::fs::read_to_string(root.join("go.mod")).ok()?)?;
    let decls = folder_decls(dir);
    let mut done = std::collections::BTreeMap::new();
    let mut summaries = goconc_analysis::ModuleSummaries::default();
    for import in module_imports(&path, decls.iter().map(|(_, d)| d)) {
        let folder = root.join(folder_in_module(&path, &import)?);
        if folder != dir {
            let exports = exports_of(root, &path, &folder, &mut done, 0);
            summaries.insert(import, exports);
        }
    }
    (!summaries.is_empty()).then(|| std::sync::Arc::new(summaries))
}

fn folder_decls(dir: &Path) -> Vec<(String, goconc_analysis::FileDecls)> {
    go_files(dir)
        .iter()
        .map(|p| {
            let source = goconc_analysis::SourceFile::new(std::fs::read_to_string(p).unwrap());
            let decls =
                goconc_analysis::FileDecls::collect(source.tree().root_node(), source.text());
            (p.file_name().unwrap().to_string_lossy().to_string(), decls)
        })
        .collect()
}

fn exports_of(
    root: &Path,
    module: &str,
    dir: &Path,
    done: &mut std::collections::BTreeMap<
        PathBuf,
        std::sync::Arc<goconc_analysis::module::PackageExports>,
    >,
    depth: usize,
) -> std::sync::Arc<goconc_analysis::module::PackageExports> {
    use goconc_analysis::module::{folder_in_module, module_imports_of_exports, package_exports};
    if let Some(e) = done.get(dir) {
        return e.clone();
    }
    let decls = folder_decls(dir);
    let mut summaries = goconc_analysis::ModuleSummaries::default();
    if depth < 8 {
        for import in module_imports_of_exports(module, decls.iter().map(|(n, d)| (n.as_str(), d)))
        {
            if let Some(rel) = folder_in_module(module, &import) {
                let folder = root.join(rel);
                if folder != dir {
                    let exports = exports_of(root, module, &folder, done, depth + 1);
                    summaries.insert(import, exports);
                }
            }
        }
    }
    let summaries = std::sync::Arc::new(summaries);
    let exports = std::sync::Arc::new(package_exports(
        decls.iter().map(|(n, d)| (n.as_str(), d)),
        Some(&summaries),
    ));
    done.insert(dir.to_path_buf(), exports.clone());
    exports
}
