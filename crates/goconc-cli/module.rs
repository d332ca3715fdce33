//! The module around the folders a check names: the packages of the same module they import
//! (named or not), summarised dependencies first, so a call into another package of the module
//! (a test helper that never returns, a method that blocks) is judged by that package's own
//! summaries, and a folder gets the same findings whichever other folders are named with it.
//!
//! Only summaries stay ([`PackageExports`]). The folders are found from their files' headers
//! (package clause and imports, parsed alone), then run in import order: a named folder is
//! checked once the exports of what it imports are made, and its exports are made from the
//! declarations its check reads (one parse per file, not one for the index and one for the
//! check). A folder no named one is, or one whose test files import a package that imports it,
//! is summarised apart: only what its exports are made of is collected
//! ([`FileDecls::collect_for_exports`]), and dropped once they are made.

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
    /// File names and the declarations of their headers: package name and imports.
    headers: Vec<(String, FileDecls)>,
}

impl Folder {
    fn import_folders(&self, exports_only: bool) -> Vec<PathBuf> {
        let imports = match exports_only {
            true => module_imports_of_exports(
                &self.module.path,
                self.headers.iter().map(|(n, d)| (n.as_str(), d)),
            ),
            false => module_imports(&self.module.path, self.headers.iter().map(|(_, d)| d)),
        };
        imports
            .iter()
            .filter_map(|p| folder_in_module(&self.module.path, p))
            .map(|rel| self.module.root.join(rel))
            .collect()
    }
}

/// The texts of the `.go` files of a folder: those of `job` when the command line named it
/// (standard input's text included), else every `.go` file in it. Unreadable files are left out
/// (a named one is reported by the check itself).
fn read_texts(dir: &Path, job: Option<&DirJob>) -> Vec<(String, String)> {
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
    texts
}

/// The exports of a folder summarised apart, from its texts: only what they are made of is
/// collected.
fn exports_apart(
    dir: &Path,
    job: Option<&DirJob>,
    module: &Arc<ModuleSummaries>,
) -> PackageExports {
    let decls: Vec<(String, FileDecls)> = read_texts(dir, job)
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
    package_exports(decls.iter().map(|(n, d)| (n.as_str(), d)), Some(module))
}

/// What a named folder's check is handed: the exports of the module packages it imports (None
/// when it imports none), and, when its exports are wanted from its declarations, the exports
/// of the packages those exports are made with.
pub struct CheckInput {
    pub module: Option<Arc<ModuleSummaries>>,
    pub exports_with: Option<Arc<ModuleSummaries>>,
}

/// What a finished task hands back: its task, a check's result, the exports it made.
type Made<R> = (Task, Option<R>, Option<PackageExports>);

/// A task with what it is handed: a check with its input, or a folder to summarise apart with
/// the exports of what it imports.
enum Job {
    Check(usize, CheckInput),
    Exports(PathBuf, Arc<ModuleSummaries>),
}

/// A unit of work: a named folder's check (by index among the named), or a folder's exports
/// made apart.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Task {
    Check(usize),
    Exports(PathBuf),
}

/// Checks each named folder (canonical) with `check`, each once the exports of the module
/// packages it imports are made, and returns the results in the order named. `check` returns
/// its result and, when [`CheckInput::exports_with`] asked for them, the folder's exports
/// (None when it read no declarations: they are then made apart).
pub fn check_in_import_order<R: Send + Default>(
    named: &[(&Path, &DirJob)],
    lookup: &mut Lookup,
    check: impl Fn(usize, CheckInput) -> (R, Option<PackageExports>) + Sync,
) -> Vec<R> {
    let jobs: BTreeMap<&Path, &DirJob> = named.iter().copied().collect();
    let folders = read_headers(named, lookup);
    let in_folders = |dir: &PathBuf, deps: Vec<PathBuf>| -> Vec<PathBuf> {
        let mut deps: Vec<PathBuf> = deps
            .into_iter()
            .filter(|i| i != dir && folders.contains_key(i))
            .collect();
        deps.sort();
        deps.dedup();
        deps
    };
    let export_deps: BTreeMap<PathBuf, Vec<PathBuf>> = folders
        .iter()
        .map(|(dir, f)| (dir.clone(), in_folders(dir, f.import_folders(true))))
        .collect();
    let check_deps: Vec<Vec<PathBuf>> = named
        .iter()
        .map(|(dir, _)| {
            let dir = dir.to_path_buf();
            match folders.get(&dir) {
                Some(f) => in_folders(&dir, f.import_folders(false)),
                None => Vec::new(),
            }
        })
        .collect();
    // The folders whose exports some task needs.
    let mut needed: BTreeSet<PathBuf> = BTreeSet::new();
    let mut stack: Vec<PathBuf> = check_deps.iter().flatten().cloned().collect();
    while let Some(dir) = stack.pop() {
        if needed.insert(dir.clone()) {
            stack.extend(export_deps[&dir].iter().cloned());
        }
    }
    let named_index: BTreeMap<PathBuf, usize> = named
        .iter()
        .enumerate()
        .map(|(i, (dir, _))| (dir.to_path_buf(), i))
        .collect();
    let mut producers = producers(&needed, &named_index, &export_deps, &check_deps);
    let deps_of = |task: &Task| -> &[PathBuf] {
        match task {
            Task::Check(i) => &check_deps[*i],
            Task::Exports(dir) => &export_deps[dir],
        }
    };
    let mut pending: BTreeSet<Task> = (0..named.len()).map(Task::Check).collect();
    pending.extend(
        producers
            .iter()
            .filter(|(_, t)| matches!(t, Task::Exports(_)))
            .map(|(_, t)| t.clone()),
    );
    let mut done: BTreeMap<PathBuf, Arc<PackageExports>> = BTreeMap::new();
    let mut results: Vec<Option<R>> = (0..named.len()).map(|_| None).collect();
    let summaries_of = |deps: &[PathBuf], done: &BTreeMap<PathBuf, Arc<PackageExports>>| {
        let mut summaries = ModuleSummaries::default();
        for import in deps {
            if let (Some(e), Some(f)) = (done.get(import), folders.get(import)) {
                if let Some(path) = import_path_of(&f.module, import) {
                    summaries.insert(path, e.clone());
                }
            }
        }
        summaries
    };
    // Kahn's algorithm: each pending task counts the exports it still waits for, and each
    // folder lists the tasks waiting for its exports, so a result readies its dependents
    // without a scan of every pending task (a chain of thousands of packages was quadratic).
    let mut ready: Vec<Task> = Vec::new();
    let mut waiting = Waiting::default();
    for task in &pending {
        waiting.add(task.clone(), deps_of(task), &done, &mut ready);
    }
    // Each task starts as soon as what it needs is made (not a level of the import graph at a
    // time: a level's one large folder would hold the others back). This thread hands out the
    // tasks and takes their results; the pool runs them.
    let (sender, receiver) = std::sync::mpsc::channel::<Made<R>>();
    rayon::in_place_scope(|scope| {
        let mut running = 0usize;
        loop {
            // A task started out of order (below) may still be readied by its last export.
            ready.retain(|t| pending.contains(t));
            // Packages of one module cannot import each other in a cycle; broken code that does
            // is summarised with what is ready, and then checked with those summaries.
            if ready.is_empty() && running == 0 {
                ready = pending
                    .iter()
                    .filter(|t| matches!(t, Task::Exports(_)))
                    .cloned()
                    .collect();
                if ready.is_empty() {
                    ready = pending.iter().cloned().collect();
                }
            }
            for task in std::mem::take(&mut ready) {
                pending.remove(&task);
                let job = match &task {
                    Task::Check(i) => {
                        let dir = named[*i].0.to_path_buf();
                        let summaries = summaries_of(&check_deps[*i], &done);
                        let exports_with = (producers.get(&dir) == Some(&task))
                            .then(|| Arc::new(summaries_of(&export_deps[&dir], &done)));
                        Job::Check(
                            *i,
                            CheckInput {
                                module: (!summaries.is_empty()).then(|| Arc::new(summaries)),
                                exports_with,
                            },
                        )
                    }
                    Task::Exports(dir) => Job::Exports(
                        dir.clone(),
                        Arc::new(summaries_of(&export_deps[dir], &done)),
                    ),
                };
                let sender = sender.clone();
                let (check, jobs) = (&check, &jobs);
                running += 1;
                scope.spawn(move |_| {
                    // Sent even when the task panics, so that this thread does not wait for it
                    // (the panic is then the scope's, as a parallel iterator's would be).
                    let made =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match job {
                            Job::Check(i, input) => {
                                let (result, exports) = check(i, input);
                                (Some(result), exports)
                            }
                            Job::Exports(dir, module) => {
                                let job = jobs.get(dir.as_path()).copied();
                                (None, Some(exports_apart(&dir, job, &module)))
                            }
                        }));
                    match made {
                        Ok((result, exports)) => {
                            let _ = sender.send((task, result, exports));
                        }
                        Err(panic) => {
                            let _ = sender.send((task, None, None));
                            std::panic::resume_unwind(panic);
                        }
                    }
                });
            }
            if running == 0 {
                break;
            }
            let Ok((task, result, exports)) = receiver.recv() else {
                break;
            };
            running -= 1;
            let dir = match &task {
                Task::Check(i) => {
                    results[*i] = result;
                    named[*i].0.to_path_buf()
                }
                Task::Exports(dir) => dir.clone(),
            };
            if producers.get(&dir) != Some(&task) {
                continue;
            }
            match exports {
                Some(exports) => {
                    done.insert(dir.clone(), Arc::new(exports));
                    waiting.made(&dir, &mut ready);
                }
                // The check read no declarations (no file of it is reported): made apart.
                None => {
                    let task = Task::Exports(dir.clone());
                    producers.insert(dir, task.clone());
                    waiting.add(task.clone(), deps_of(&task), &done, &mut ready);
                    pending.insert(task);
                }
            }
        }
    });
    // Every check ran once: it left `pending` only to run.
    results.into_iter().map(Option::unwrap_or_default).collect()
}

/// The tasks still waiting for exports: how many each waits for, and who waits for each folder.
#[derive(Default)]
struct Waiting {
    unmet: BTreeMap<Task, usize>,
    on: BTreeMap<PathBuf, Vec<Task>>,
}

impl Waiting {
    /// Counts what `task` waits for among `deps` (sorted, without repeats); ready at once when
    /// nothing.
    fn add(
        &mut self,
        task: Task,
        deps: &[PathBuf],
        done: &BTreeMap<PathBuf, Arc<PackageExports>>,
        ready: &mut Vec<Task>,
    ) {
        let unmet: Vec<&PathBuf> = deps.iter().filter(|d| !done.contains_key(*d)).collect();
        if unmet.is_empty() {
            ready.push(task);
            return;
        }
        for dep in &unmet {
            self.on
                .entry((*dep).clone())
                .or_default()
                .push(task.clone());
        }
        self.unmet.insert(task, unmet.len());
    }

    /// `dir`'s exports are made: the tasks that waited only for them are ready.
    fn made(&mut self, dir: &Path, ready: &mut Vec<Task>) {
        for task in self.on.remove(dir).unwrap_or_default() {
            if let Some(count) = self.unmet.get_mut(&task) {
                *count -= 1;
                if *count == 0 {
                    self.unmet.remove(&task);
                    ready.push(task);
                }
            }
        }
    }
}

/// Which task makes each needed folder's exports: a named folder's own check, unless that
/// check would wait on them (its test files import a package that imports it), then a task of
/// their own, as for a folder that is not named.
fn producers(
    needed: &BTreeSet<PathBuf>,
    named_index: &BTreeMap<PathBuf, usize>,
    export_deps: &BTreeMap<PathBuf, Vec<PathBuf>>,
    check_deps: &[Vec<PathBuf>],
) -> BTreeMap<PathBuf, Task> {
    let mut producers: BTreeMap<PathBuf, Task> = needed
        .iter()
        .map(|dir| {
            let task = match named_index.get(dir) {
                Some(&i) => Task::Check(i),
                None => Task::Exports(dir.clone()),
            };
            (dir.clone(), task)
        })
        .collect();
    loop {
        let deps_of = |dir: &PathBuf| -> &[PathBuf] {
            match &producers[dir] {
                Task::Check(i) => &check_deps[*i],
                Task::Exports(_) => &export_deps[dir],
            }
        };
        let stuck: BTreeSet<PathBuf> = on_cycles(needed, deps_of).into_iter().collect();
        let fused = |dir: &&PathBuf| matches!(producers[*dir], Task::Check(_));
        // The export imports alone never close a cycle in code that compiles: a check closes
        // one through a package only its tests import. Those checks make their exports apart;
        // the folders that only depend on a cycle are free once it is broken.
        let mut waiting_on_themselves: Vec<PathBuf> = stuck
            .iter()
            .filter(fused)
            .filter(|dir| {
                let Task::Check(i) = producers[*dir] else {
                    return false;
                };
                check_deps[i]
                    .iter()
                    .any(|d| stuck.contains(d) && !export_deps[*dir].contains(d))
            })
            .cloned()
            .collect();
        // Code whose packages import each other: every check on it makes its exports apart,
        // and the run summarises them with what is ready before it checks.
        if waiting_on_themselves.is_empty() {
            waiting_on_themselves = stuck.iter().filter(fused).cloned().collect();
        }
        if waiting_on_themselves.is_empty() {
            return producers;
        }
        for dir in waiting_on_themselves {
            producers.insert(dir.clone(), Task::Exports(dir));
        }
    }
}

/// The folders of `nodes` that cannot be ordered after what they depend on: those on a cycle
/// of `deps_of`, or depending on one (Kahn's algorithm, whatever it cannot take off).
fn on_cycles<'a>(
    nodes: &'a BTreeSet<PathBuf>,
    deps_of: impl Fn(&PathBuf) -> &'a [PathBuf],
) -> Vec<PathBuf> {
    let mut waiting: BTreeMap<&PathBuf, usize> = BTreeMap::new();
    let mut dependents: BTreeMap<&PathBuf, Vec<&PathBuf>> = BTreeMap::new();
    for node in nodes {
        let deps: Vec<&PathBuf> = deps_of(node)
            .iter()
            .filter(|d| nodes.contains(*d))
            .collect();
        waiting.insert(node, deps.len());
        for dep in deps {
            dependents.entry(dep).or_default().push(node);
        }
    }
    let mut free: Vec<&PathBuf> = waiting
        .iter()
        .filter(|(_, &n)| n == 0)
        .map(|(&d, _)| d)
        .collect();
    while let Some(node) = free.pop() {
        for &dependent in dependents.get(node).map(Vec::as_slice).unwrap_or_default() {
            if let Some(n) = waiting.get_mut(dependent) {
                *n -= 1;
                if *n == 0 {
                    free.push(dependent);
                }
            }
        }
    }
    waiting
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(d, _)| d.clone())
        .collect()
}

/// The folders of the module the named ones (canonical) reach by their imports, named or not,
/// each with its files' headers: the named ones, then what they import, and so on.
fn read_headers(named: &[(&Path, &DirJob)], lookup: &mut Lookup) -> BTreeMap<PathBuf, Folder> {
    let jobs: BTreeMap<&Path, &DirJob> = named.iter().copied().collect();
    let mut folders: BTreeMap<PathBuf, Folder> = BTreeMap::new();
    let mut wave: Vec<(PathBuf, Module)> = named
        .iter()
        .filter_map(|(dir, _)| Some((dir.to_path_buf(), lookup.module(dir)?)))
        .collect();
    while !wave.is_empty() {
        let read: Vec<(PathBuf, Folder)> = wave
            .into_par_iter()
            .map(|(dir, module)| {
                let headers = read_texts(&dir, jobs.get(dir.as_path()).copied())
                    .into_iter()
                    .map(|(name, text)| (name, goconc_analysis::header_decls(&text)))
                    .collect();
                (dir, Folder { module, headers })
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
    folders
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `lib`'s tests import `app`, which imports `lib`: `lib`'s check would wait on its own
    /// exports, so they are made apart. `app`, on the cycle only through `lib`, and `top`, which
    /// only depends on it, still make theirs from their checks.
    #[test]
    fn only_a_check_closing_a_cycle_through_its_tests_makes_its_exports_apart() {
        let [lib, app, top, cmd] = ["lib", "app", "top", "cmd"].map(PathBuf::from);
        let needed: BTreeSet<PathBuf> = [lib.clone(), app.clone(), top.clone()].into();
        let named_index: BTreeMap<PathBuf, usize> = [
            (lib.clone(), 0),
            (app.clone(), 1),
            (top.clone(), 2),
            (cmd.clone(), 3),
        ]
        .into();
        let export_deps: BTreeMap<PathBuf, Vec<PathBuf>> = [
            (lib.clone(), vec![]),
            (app.clone(), vec![lib.clone()]),
            (top.clone(), vec![app.clone()]),
            (cmd.clone(), vec![top.clone()]),
        ]
        .into();
        let check_deps = vec![
            vec![app.clone()],
            vec![lib.clone()],
            vec![app.clone()],
            vec![top.clone()],
        ];
        let producers = producers(&needed, &named_index, &export_deps, &check_deps);
        assert_eq!(producers[&lib], Task::Exports(lib.clone()));
        assert_eq!(producers[&app], Task::Check(1));
        assert_eq!(producers[&top], Task::Check(2));
    }
}
