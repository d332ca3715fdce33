//! The module around the folders a check names: the packages of the same module they import
//! (named or not), summarised dependencies first, so a call into another package of the module
//! (a test helper that never returns, a method that blocks) is judged by that package's own
//! summaries, and a folder gets the same findings whichever other folders are named with it.
//!
//! Only summaries stay ([`PackageExports`]): each folder is parsed, only what its exports are
//! made of is collected ([`FileDecls::collect_for_exports`]), and that is dropped once its
//! exports are made.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use goconc_analysis::module::{
    folder_in_module, module_imports, module_imports_of_exports, package_exports, PackageExports,
};
use goconc_analysis::{FileDecls, ModuleSummaries, SourceFile};
use rayon::prelude::*;

use crate::discover::{DirJob, Lookup};
use crate::files;

/// The module a folder belongs to: its root folder and import path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Module {
    pub root: PathBuf,
    pub path: String,
}

/// One folder of a module as the index reads it.
struct Folder {
    module: Module,
    /// File names and their cut-down declarations.
    files: Vec<(String, FileDecls)>,
}

impl Folder {
    fn import_folders(&self, exports_only: bool) -> Vec<PathBuf> {
        let imports = match exports_only {
            true => module_imports_of_exports(
                &self.module.path,
                self.files.iter().map(|(n, d)| (n.as_str(), d)),
            ),
            false => module_imports(&self.module.path, self.files.iter().map(|(_, d)| d)),
        };
        imports
            .iter()
            .filter_map(|p| folder_in_module(&self.module.path, p))
            .map(|rel| self.module.root.join(rel))
            .collect()
    }
}

/// Reads and cuts down the `.go` files of a folder: those of `job` when the command line named
/// it (standard input's text included), else every `.go` file in it. Unreadable files are left
/// out (a named one is reported by the check itself).
fn read_folder(dir: &Path, job: Option<&DirJob>, module: Module) -> Folder {
    let mut texts: Vec<(String, String)> = Vec::new();
    match job {
        Some(job) => {
            for (name, file) in &job.files {
                let text = match &file.stdin_text {
                    Some(text) => Some(text.as_str().to_string()),
                    None => files::read_regular(&file.path)
                        .ok()
                        .and_then(|b| files::go_text(b).ok()),
                };
                if let Some(text) = text {
                    texts.push((name.to_string_lossy().into_owned(), text));
                }
            }
        }
        None => {
            let mut names: Vec<_> = std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| e.file_name())
                .filter(|n| goconc_lsp::go_files::is_go_name(n))
                .collect();
            names.sort();
            for name in names {
                let text = files::read_regular(&dir.join(&name))
                    .ok()
                    .and_then(|b| files::go_text(b).ok());
                if let Some(text) = text {
                    texts.push((name.to_string_lossy().into_owned(), text));
                }
            }
        }
    }
    let files = texts
        .into_iter()
        .map(|(name, text)| {
            let decls = std::panic::catch_unwind(|| {
                let source = SourceFile::new(text.as_str());
                FileDecls::collect_for_exports(source.tree().root_node(), source.text())
            })
            .unwrap_or_default();
            (name, decls)
        })
        .collect();
    Folder { module, files }
}

/// For each named folder (canonical), the exports of the module packages it imports; None for a
/// folder outside any module or importing none of it.
pub fn summaries_for(
    named: &[(&Path, &DirJob)],
    lookup: &mut Lookup,
) -> Vec<Option<Arc<ModuleSummaries>>> {
    let jobs: BTreeMap<&Path, &DirJob> = named.iter().copied().collect();
    let mut folders: BTreeMap<PathBuf, Folder> = BTreeMap::new();
    // Folders read wave by wave: the named ones, then what they import, and so on.
    let mut wave: Vec<(PathBuf, Module)> = named
        .iter()
        .filter_map(|(dir, _)| Some((dir.to_path_buf(), lookup.module(dir)?)))
        .collect();
    while !wave.is_empty() {
        let read: Vec<(PathBuf, Folder)> = wave
            .into_par_iter()
            .map(|(dir, module)| {
                let folder = read_folder(&dir, jobs.get(dir.as_path()).copied(), module);
                (dir, folder)
            })
            .collect();
        let mut next: BTreeSet<(PathBuf, Module)> = BTreeSet::new();
        for (dir, folder) in read {
            // A named folder's tests call into the module too; a dependency matters only
            // through what other packages see of it.
            let exports_only = !jobs.contains_key(dir.as_path());
            for import in folder.import_folders(exports_only) {
                // A folder with a go.mod of its own is another module.
                let module = lookup.module(&import);
                if module.as_ref() == Some(&folder.module)
                    && !folders.contains_key(&import)
                    && import.is_dir()
                {
                    next.insert((import, folder.module.clone()));
                }
            }
            folders.insert(dir, folder);
        }
        next.retain(|(dir, _)| !folders.contains_key(dir));
        wave = next.into_iter().collect();
    }
    let exports = exports_in_import_order(&folders);
    named
        .iter()
        .map(|(dir, _)| {
            let folder = folders.get(*dir)?;
            let mut summaries = ModuleSummaries::default();
            for import in folder.import_folders(false) {
                if let (Some(e), Some(f)) = (exports.get(&import), folders.get(&import)) {
                    if import != *dir {
                        summaries.insert(import_path_of(&f.module, &import)?, e.clone());
                    }
                }
            }
            (!summaries.is_empty()).then(|| Arc::new(summaries))
        })
        .collect()
}

/// The import path of a folder of a module.
fn import_path_of(module: &Module, dir: &Path) -> Option<String> {
    let rel = dir.strip_prefix(&module.root).ok()?;
    let rel = rel.to_str()?.replace(std::path::MAIN_SEPARATOR, "/");
    Some(match rel.is_empty() {
        true => module.path.clone(),
        false => format!("{}/{rel}", module.path),
    })
}

/// Every folder's exports, each made after those of the packages it imports (a level at a time,
/// in parallel). Packages of one module cannot import each other in a cycle; broken code that
/// does is summarised with what is ready.
fn exports_in_import_order(
    folders: &BTreeMap<PathBuf, Folder>,
) -> BTreeMap<PathBuf, Arc<PackageExports>> {
    let deps: BTreeMap<&PathBuf, Vec<PathBuf>> = folders
        .iter()
        .map(|(dir, f)| {
            let mut imports = f.import_folders(true);
            imports.retain(|i| i != dir && folders.contains_key(i));
            (dir, imports)
        })
        .collect();
    let mut done: BTreeMap<PathBuf, Arc<PackageExports>> = BTreeMap::new();
    while done.len() < folders.len() {
        let pending: Vec<&PathBuf> = folders.keys().filter(|d| !done.contains_key(*d)).collect();
        let mut ready: Vec<&PathBuf> = pending
            .iter()
            .copied()
            .filter(|d| deps[d].iter().all(|i| done.contains_key(i)))
            .collect();
        if ready.is_empty() {
            ready = pending;
        }
        let made: Vec<(PathBuf, Arc<PackageExports>)> = ready
            .into_par_iter()
            .map(|dir| {
                let folder = &folders[dir];
                let mut module = ModuleSummaries::default();
                for import in &deps[dir] {
                    if let (Some(e), Some(path)) =
                        (done.get(import), import_path_of(&folder.module, import))
                    {
                        module.insert(path, e.clone());
                    }
                }
                let module = Arc::new(module);
                let exports = package_exports(
                    folder.files.iter().map(|(n, d)| (n.as_str(), d)),
                    Some(&module),
                );
                (dir.clone(), Arc::new(exports))
            })
            .collect();
        done.extend(made);
    }
    done
}
