//! What the fixture tests share: where the fixtures are, which folders are packages, and the Go
//! version of a folder's module.

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

/// The `go` version of the nearest go.mod at or above `dir`.
pub fn module_version(dir: &Path) -> Option<GoVersion> {
    dir.ancestors()
        .find_map(|d| std::fs::read_to_string(d.join("go.mod")).ok())
        .and_then(|t| GoVersion::from_go_mod(&t))
}
