//! The background check: the workspace folders' Go files that are not open, checked folder by
//! folder so the editor can list the whole module's findings (VS Code's Problems panel).
//!
//! - **Bounded, lowest priority.** A few threads of its own (`workspaceDiagnostics.threads`; by
//!   default a quarter of the cores, at least one), at nice 19 on Linux, never tokio's: an open
//!   document's worker never waits for a background folder, and shares no lock with one except
//!   for map updates (see [`crate::workspace`]).
//! - **What is checked.** The folders `goconc check` would walk under each workspace folder
//!   (`vendor`, `testdata`, hidden and `_` folders skipped; `.gitignore` honoured), whole folders
//!   in path order up to `workspaceDiagnostics.maxFiles` files. Generated files are read for
//!   their declarations but not reported, nor are files excluded by goconc.toml, nor, with
//!   `runOutsideModule` off, files outside a module. Open files are their documents' business.
//! - **Memory.** One folder at a time per thread: its files' texts, and their trees while they
//!   fit in [`TREE_BUDGET`]; afterwards only declarations and findings stay, in the index.
//! - **When.** A full round after `initialized` and after a settings change, with `$/progress`
//!   (files checked of all); one folder again when a file of it changes on disk, is closed, or
//!   an open sibling's declarations change; a walk for changes (file stamps) when the client
//!   cannot watch files ([`Background::rescan`]).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant, SystemTime};

use goconc_analysis::{Encoding, FileDecls, LineIndex, SourceFile};
use tracing::{debug, error, info, warn};

use crate::convert::{self, Positions};
use crate::settings::{Settings, WorkspaceDiagnostics};
use crate::workspace::{self, ReportChange, ReportUpdate, ScannedFile, Workspace};

/// The bytes of one folder's texts whose trees are kept between reading the folder's
/// declarations and analysing its files; beyond it, a file is parsed again when its turn comes
/// (a few folders hold megabytes of generated code).
pub const TREE_BUDGET: u64 = 8 * 1024 * 1024;

/// What the background check needs from the server.
pub trait Host: Send + Sync {
    fn workspace(&self) -> &Workspace;
    fn settings(&self) -> Arc<Settings>;
    fn encoding(&self) -> Encoding;
    /// Whether a file is open in the editor (its buffer wins over the disk).
    fn is_open(&self, path: &Path) -> bool;
    /// Reports of closed files changed: tell the client.
    fn reports_changed(&self, changes: Vec<ReportChange>);
    /// A folder's declarations on disk changed: its open documents need a new look.
    fn declarations_changed(&self, dir: &Path);
    /// The progress of a full round.
    fn progress(&self, progress: Progress);
}

/// Where a full round is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// Numbers the rounds; a new number is a new round.
    pub round: u64,
    pub checked: usize,
    pub total: usize,
    /// Set when the round is over.
    pub finished: Option<Finished>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub findings: usize,
    /// Files under the workspace folders left out by `maxFiles`.
    pub left_out: usize,
    pub elapsed: Duration,
}

impl Progress {
    /// "12/340 files", "340 files checked: 7 findings", … for the client's progress bar.
    pub fn message(&self) -> String {
        match &self.finished {
            None => format!("{}/{} files", self.checked, self.total),
            Some(done) => {
                let mut m = format!(
                    "{} files checked: {} finding{}",
                    self.total,
                    done.findings,
                    if done.findings == 1 { "" } else { "s" }
                );
                if done.left_out > 0 {
                    m.push_str(&format!(
                        "; {} more left out (goconc.workspaceDiagnostics.maxFiles)",
                        done.left_out
                    ));
                }
                m
            }
        }
    }

    pub fn percentage(&self) -> u32 {
        match self.total {
            0 => 100,
            total => (self.checked.min(total) * 100 / total) as u32,
        }
    }
}

/// What a walk is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Walk {
    /// Only folders whose files changed since the index read them (no file watcher).
    Changes,
    /// Every folder (start, settings): a round with progress.
    Full,
}

enum Job {
    Walk(Walk),
    Folder(PathBuf),
}

struct Round {
    id: u64,
    /// Folders of the round still to check, with their number of files.
    pending: HashMap<PathBuf, usize>,
    checked: usize,
    total: usize,
    findings: usize,
    left_out: usize,
    started: Instant,
}

#[derive(Default)]
struct State {
    host: Option<Weak<dyn Host>>,
    runtime: Option<tokio::runtime::Handle>,
    roots: Vec<PathBuf>,
    limits: Option<WorkspaceDiagnostics>,
    walk: Option<Walk>,
    walking: bool,
    queue: VecDeque<PathBuf>,
    running: HashSet<PathBuf>,
    /// The folders of the last walk that are checked, with their number of `.go` files.
    indexed: BTreeMap<PathBuf, usize>,
    threads: usize,
    round: Option<Round>,
    rounds: u64,
    stopped: bool,
}

impl State {
    fn enabled(&self) -> bool {
        self.limits.is_some_and(|l| l.enabled) && !self.roots.is_empty() && !self.stopped
    }

    fn host(&self) -> Option<Arc<dyn Host>> {
        self.host.as_ref()?.upgrade()
    }

    /// Queues a folder; `urgent` ones (a user's save or close) go first.
    fn enqueue(&mut self, dir: PathBuf, urgent: bool) {
        if let Some(at) = self.queue.iter().position(|d| *d == dir) {
            if !urgent {
                return;
            }
            self.queue.remove(at);
        }
        if urgent {
            self.queue.push_front(dir);
        } else {
            self.queue.push_back(dir);
        }
    }

    /// The next job thread `index` may take.
    fn next_job(&mut self, index: usize) -> Option<Job> {
        if !self.enabled() || index >= self.limits.map_or(0, |l| l.thread_count()) {
            return None;
        }
        if let Some(walk) = self.walk.filter(|_| !self.walking) {
            self.walk = None;
            self.walking = true;
            return Some(Job::Walk(walk));
        }
        // A folder being checked by another thread waits for it.
        let at = self.queue.iter().position(|d| !self.running.contains(d))?;
        let dir = self.queue.remove(at)?;
        self.running.insert(dir.clone());
        Some(Job::Folder(dir))
    }

    /// Ends the round when nothing of it is left; returns the progress to report.
    fn round_progress(&mut self) -> Option<Progress> {
        let round = self.round.as_ref()?;
        let over = round.pending.is_empty() && !self.walking && self.walk != Some(Walk::Full);
        let progress = Progress {
            round: round.id,
            checked: round.checked,
            total: round.total,
            finished: over.then(|| Finished {
                findings: round.findings,
                left_out: round.left_out,
                elapsed: round.started.elapsed(),
            }),
        };
        if over {
            self.round = None;
        }
        Some(progress)
    }
}

/// The background check's queue and threads.
#[derive(Default)]
pub struct Background {
    state: Mutex<State>,
    wake: Condvar,
}

use crate::go_files::{is_go_name, skip_dir};

/// Whether a Go file says it is generated: one definition, in the model.
pub use goconc_analysis::is_generated;

/// A file's modification time and length.
type Stamp = (Option<SystemTime>, u64);

/// The folders under `roots` the background check reads, with their `.go` files, as
/// `goconc check` walks: nested roots are walked once.
fn walk(roots: &[PathBuf]) -> BTreeMap<PathBuf, BTreeMap<PathBuf, Stamp>> {
    let mut found: BTreeMap<PathBuf, BTreeMap<PathBuf, Stamp>> = BTreeMap::new();
    for root in roots {
        if roots.iter().any(|r| r != root && root.starts_with(r)) {
            continue;
        }
        for entry in crate::go_files::walker(root).build() {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    debug!("walking {}: {e}", root.display());
                    continue;
                }
            };
            if entry.file_type().is_some_and(|t| t.is_dir()) || !is_go_name(entry.file_name()) {
                continue;
            }
            // Links to files count (as for `goconc check`); anything else that is no regular
            // file does not.
            let Ok(meta) = std::fs::metadata(entry.path()) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            let Some(dir) = entry.path().parent() else {
                continue;
            };
            found.entry(dir.to_path_buf()).or_default().insert(
                entry.path().to_path_buf(),
                (meta.modified().ok(), meta.len()),
            );
        }
    }
    found
}

/// The regular, not hidden `.go` files of one folder.
fn folder_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| is_go_name(&e.file_name()))
        .map(|e| e.path())
        .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file()))
        .collect();
    files.sort();
    files
}

/// The lowest priority the thread can give itself (nice 19; Linux sets it per thread).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: two system calls about the calling thread, no memory is shared.
        let done = unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::setpriority(libc::PRIO_PROCESS, tid, 19)
        };
        if done != 0 {
            debug!(
                "the background thread keeps its priority: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

impl Background {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts checking `roots` (the workspace folders) with `limits`, reporting to `host`.
    /// Threads enter `runtime`, so what the host does for them may spawn tasks.
    pub fn start(
        self: &Arc<Self>,
        host: Weak<dyn Host>,
        runtime: tokio::runtime::Handle,
        roots: Vec<PathBuf>,
        limits: WorkspaceDiagnostics,
    ) {
        {
            let mut state = self.lock();
            state.host = Some(host);
            state.runtime = Some(runtime);
            state.roots = roots;
        }
        self.configure(limits, true);
    }

    /// New settings. `recheck`: what the findings depend on changed (rules, Go version, …),
    /// so every folder is checked again. Turning the check off withdraws every report.
    pub fn configure(self: &Arc<Self>, limits: WorkspaceDiagnostics, recheck: bool) {
        let mut state = self.lock();
        if state.host.is_none() {
            return; // not started: `start` applies the settings
        }
        let was_enabled = state.enabled();
        state.limits = Some(limits);
        if !state.enabled() {
            if was_enabled {
                info!("workspace diagnostics off: the findings of closed files are withdrawn");
            }
            state.queue.clear();
            state.walk = None;
            let ended = state.round.take().map(|round| Progress {
                round: round.id,
                checked: round.checked,
                total: round.total,
                finished: Some(Finished {
                    findings: round.findings,
                    left_out: round.left_out,
                    elapsed: round.started.elapsed(),
                }),
            });
            let indexed = std::mem::take(&mut state.indexed);
            let host = state.host();
            drop(state);
            if let Some(host) = host {
                if let Some(ended) = ended {
                    host.progress(ended);
                }
                let changes = host.workspace().drop_reports(|d| indexed.contains_key(d));
                host.reports_changed(changes);
            }
            return;
        }
        if recheck || !was_enabled {
            state.walk = Some(Walk::Full);
        }
        let wanted = limits.thread_count();
        while state.threads < wanted {
            let index = state.threads;
            state.threads += 1;
            let me = self.clone();
            let runtime = state.runtime.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("goconc-background-{index}"))
                .spawn(move || {
                    lower_priority();
                    let _entered = runtime.as_ref().map(|r| r.enter());
                    me.work(index);
                });
            if let Err(e) = spawned {
                error!("cannot start a background thread: {e}");
                state.threads -= 1;
                break;
            }
        }
        drop(state);
        self.wake.notify_all();
    }

    /// Checks one folder again (a file of it changed on disk or was closed, an open sibling's
    /// declarations changed). `urgent`: ahead of the rest of a round. A folder outside the
    /// workspace folders, or one `goconc check` would not walk, is left alone.
    pub fn recheck(&self, dir: &Path, urgent: bool) {
        let mut state = self.lock();
        if !state.enabled() {
            return;
        }
        if !state.indexed.contains_key(dir) {
            let walked = state.roots.iter().any(|root| {
                dir.strip_prefix(root)
                    .is_ok_and(|rel| !rel.components().any(|c| skip_dir(c.as_os_str())))
            });
            if !walked {
                return;
            }
        }
        state.enqueue(dir.to_path_buf(), urgent);
        drop(state);
        self.wake.notify_one();
    }

    /// Checks again every checked folder at or below `dir` (a go.mod or goconc.toml in it
    /// changed), or the folder `dir` is or was (a folder was created or deleted).
    pub fn recheck_under(&self, dir: &Path) {
        let is_dir = dir.is_dir();
        let mut state = self.lock();
        if !state.enabled() {
            return;
        }
        let below: Vec<PathBuf> = state
            .indexed
            .keys()
            .filter(|d| d.starts_with(dir))
            .cloned()
            .collect();
        if below.is_empty() {
            if !is_dir {
                return; // a file that is no Go file, or a folder that held none, is gone
            }
            // A new folder, or one never walked: look for changes everywhere.
            state.walk = Some(state.walk.map_or(Walk::Changes, |w| w.max(Walk::Changes)));
        }
        for d in below {
            state.enqueue(d, false);
        }
        drop(state);
        self.wake.notify_all();
    }

    /// Looks for files changed on disk since the index read them (for clients that cannot
    /// watch files): a walk of stamps, then only the folders that changed are checked.
    pub fn rescan(&self) {
        let mut state = self.lock();
        if !state.enabled() || state.walk.is_some() || state.walking {
            return;
        }
        state.walk = Some(Walk::Changes);
        drop(state);
        self.wake.notify_one();
    }

    /// Whether `path` is in a folder the check covers.
    pub fn covers(&self, path: &Path) -> bool {
        let state = self.lock();
        state.enabled() && path.parent().is_some_and(|d| state.indexed.contains_key(d))
    }

    /// Stops the threads (after the job each is doing).
    pub fn stop(&self) {
        self.lock().stopped = true;
        self.wake.notify_all();
    }

    /// A background thread: jobs until the server stops.
    fn work(self: Arc<Self>, index: usize) {
        loop {
            let job = {
                let mut state = self.lock();
                loop {
                    if state.stopped {
                        return;
                    }
                    if let Some(job) = state.next_job(index) {
                        break job;
                    }
                    state = self.wake.wait(state).unwrap_or_else(|p| p.into_inner());
                }
            };
            let host = self.lock().host();
            let Some(host) = host else {
                return;
            };
            match job {
                Job::Walk(kind) => {
                    let roots = self.lock().roots.clone();
                    let started = Instant::now();
                    let found =
                        catch_unwind(AssertUnwindSafe(|| walk(&roots))).unwrap_or_else(|_| {
                            error!("goconc bug: walking the workspace folders panicked");
                            BTreeMap::new()
                        });
                    debug!(
                        "walked the workspace folders in {:.1} ms: {} folders with Go files",
                        started.elapsed().as_secs_f64() * 1000.0,
                        found.len()
                    );
                    self.walked(host.as_ref(), kind, found);
                }
                Job::Folder(dir) => {
                    let started = Instant::now();
                    let checked =
                        catch_unwind(AssertUnwindSafe(|| check_folder(host.as_ref(), &dir)))
                            .unwrap_or_else(|_| {
                                error!(
                                    "goconc bug: the background check of {} panicked",
                                    dir.display()
                                );
                                Checked::default()
                            });
                    debug!(
                        "checked {} ({} files, {} findings) in {:.1} ms",
                        dir.display(),
                        checked.files,
                        checked.findings,
                        started.elapsed().as_secs_f64() * 1000.0
                    );
                    let progress = {
                        let mut state = self.lock();
                        state.running.remove(&dir);
                        match state.round.as_mut() {
                            Some(round) => {
                                if let Some(files) = round.pending.remove(&dir) {
                                    round.checked += files;
                                    round.findings += checked.findings;
                                }
                                state.round_progress()
                            }
                            None => None,
                        }
                    };
                    // Another thread may wait for this folder.
                    self.wake.notify_all();
                    if let Some(progress) = progress {
                        if let Some(done) = &progress.finished {
                            info!(
                                "workspace diagnostics: {} in {:.1} s",
                                progress.message(),
                                done.elapsed.as_secs_f64()
                            );
                        }
                        host.progress(progress);
                    }
                }
            }
        }
    }

    /// After a walk: the folders to check within `maxFiles`, reports withdrawn from folders no
    /// longer checked, the queue and (for a full walk) the round.
    fn walked(
        &self,
        host: &dyn Host,
        kind: Walk,
        found: BTreeMap<PathBuf, BTreeMap<PathBuf, Stamp>>,
    ) {
        let max_files = self.lock().limits.map_or(0, |l| l.max_files);
        let mut kept: BTreeMap<PathBuf, usize> = BTreeMap::new();
        let mut kept_files = 0;
        let mut left_out = 0;
        for (dir, files) in &found {
            if kept_files + files.len() <= max_files && left_out == 0 {
                kept_files += files.len();
                kept.insert(dir.clone(), files.len());
            } else {
                left_out += files.len();
            }
        }
        if left_out > 0 {
            warn!(
                "workspace diagnostics: {kept_files} files are checked, {left_out} more are left out (goconc.workspaceDiagnostics.maxFiles is {max_files})"
            );
        }
        // Which folders to check: all of them, or those whose files differ from the index.
        let changed: Vec<PathBuf> = match kind {
            Walk::Full => kept.keys().cloned().collect(),
            Walk::Changes => kept
                .keys()
                .filter(|dir| {
                    let on_disk = &found[*dir];
                    host.workspace().disk_stamps(dir).is_none_or(|known| {
                        known.len() != on_disk.len()
                            || on_disk.iter().any(|(p, stamp)| known.get(p) != Some(stamp))
                    })
                })
                .cloned()
                .collect(),
        };
        let (dropped, progress) = {
            let mut state = self.lock();
            state.walking = false;
            let dropped: HashSet<PathBuf> = state
                .indexed
                .keys()
                .filter(|d| !kept.contains_key(*d))
                .cloned()
                .collect();
            for dir in &changed {
                state.enqueue(dir.clone(), false);
            }
            if kind == Walk::Full {
                state.rounds += 1;
                let pending: HashMap<PathBuf, usize> = kept.clone().into_iter().collect();
                state.round = Some(Round {
                    id: state.rounds,
                    total: kept_files,
                    pending,
                    checked: 0,
                    findings: 0,
                    left_out,
                    started: Instant::now(),
                });
            }
            state.indexed = kept;
            (dropped, state.round_progress())
        };
        self.wake.notify_all();
        if !dropped.is_empty() {
            let changes = host.workspace().drop_reports(|d| dropped.contains(d));
            host.reports_changed(changes);
        }
        if let Some(progress) = progress {
            host.progress(progress);
        }
    }
}

#[derive(Default)]
struct Checked {
    files: usize,
    findings: usize,
}

/// One file of a folder, read for the check.
struct ReadFile {
    path: PathBuf,
    modified: Option<SystemTime>,
    len: u64,
    /// Go text: UTF-8 without NUL bytes (another file is read for declarations only).
    go: bool,
    generated: bool,
    /// The parsed text, while it fits in the budget.
    source: Option<SourceFile>,
    /// Its text, when its tree was not kept.
    text: Option<String>,
}

/// Checks the closed files of one folder against the package model of all its files (open
/// buffers winning over the disk) and stores what it found in the index.
fn check_folder(host: &dyn Host, dir: &Path) -> Checked {
    let workspace = host.workspace();
    let settings = host.settings();
    let encoding = host.encoding();
    let mut files = Vec::new();
    let mut scanned = Vec::new();
    let mut kept_bytes = 0;
    for path in folder_files(dir) {
        let Some((meta, bytes)) = workspace::read_regular(&path) else {
            continue;
        };
        let (text, go) = match String::from_utf8(bytes) {
            Ok(text) => {
                let go = !text.contains('\0');
                (text, go)
            }
            Err(e) => (String::from_utf8_lossy(e.as_bytes()).into_owned(), false),
        };
        let generated = is_generated(&text);
        let source = SourceFile::new(text);
        scanned.push(ScannedFile {
            path: path.clone(),
            modified: meta.modified().ok(),
            len: meta.len(),
            decls: Arc::new(workspace::collect_decls(&source)),
        });
        let keep = kept_bytes + meta.len() <= TREE_BUDGET;
        kept_bytes += if keep { meta.len() } else { 0 };
        let (source, text) = match keep {
            true => (Some(source), None),
            false => (None, Some(source.text().to_string())),
        };
        files.push(ReadFile {
            path,
            modified: meta.modified().ok(),
            len: meta.len(),
            go,
            generated,
            source,
            text,
        });
    }
    let present: HashSet<PathBuf> = files.iter().map(|f| f.path.clone()).collect();
    let snapshot = workspace.index_folder(dir, scanned);
    if snapshot.changed {
        host.declarations_changed(dir);
    }
    let context = workspace.file_context(&dir.join("x.go"));
    // Each file sees the declarations of its package's files it can be compiled with (not a
    // `_windows.go` sibling's on Linux), merged in path order: what `goconc check` does.
    let mut folder: Vec<&(PathBuf, Arc<FileDecls>)> = snapshot.decls.iter().collect();
    folder.sort_by(|a, b| a.0.cmp(&b.0));
    let names: Vec<String> = folder
        .iter()
        .map(|(p, _)| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let decls: Vec<FileDecls> = folder.iter().map(|(_, d)| d.as_ref().clone()).collect();
    // Calls into the module's other packages use their exports, as `goconc check` does.
    let imports: Vec<String> = decls.iter().flat_map(|d| d.imports.clone()).collect();
    let module = workspace
        .module_summaries(dir, &imports, false)
        .map(|(_, module)| module);
    let Ok(models) = catch_unwind(AssertUnwindSafe(|| {
        goconc_analysis::package_models_in_module(&names, &decls, module.as_ref())
    })) else {
        error!(
            "goconc bug: merging the declarations of {} panicked; its files keep their findings",
            dir.display()
        );
        return Checked::default();
    };
    let index_of: HashMap<&Path, usize> = folder
        .iter()
        .enumerate()
        .map(|(i, (p, _))| (p.as_path(), i))
        .collect();
    let mut updates = Vec::new();
    let mut checked = Checked::default();
    for file in files {
        if snapshot.open.contains(&file.path) || host.is_open(&file.path) {
            continue; // its document's worker reports it
        }
        checked.files += 1;
        let options = match context.options(&file.path, &settings) {
            Ok(options) if file.go && !file.generated => options,
            _ => {
                updates.push(ReportUpdate::Remove(file.path));
                continue;
            }
        };
        let Some(uri) = convert::path_to_uri(&file.path) else {
            continue;
        };
        let Some(&index) = index_of.get(file.path.as_path()) else {
            continue;
        };
        let source = match (file.source, file.text) {
            (Some(source), _) => source,
            (None, Some(text)) => SourceFile::new(text),
            (None, None) => continue,
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            goconc_analysis::analyze(&source, models.of(index), &options)
        }));
        let findings = match outcome {
            Ok(outcome) => {
                if !outcome.failed_rules.is_empty() {
                    error!(
                        "goconc bug: rules failed on {} and were skipped: {}",
                        file.path.display(),
                        outcome.failed_rules.join(", ")
                    );
                }
                outcome.findings
            }
            Err(_) => {
                error!(
                    "goconc bug: the analysis of {} panicked; its findings are kept as they were",
                    file.path.display()
                );
                continue;
            }
        };
        checked.findings += findings.len();
        let index = LineIndex::new_lsp(source.text());
        let at = Positions::new(source.text(), &index, encoding);
        let diagnostics = findings
            .iter()
            .map(|f| convert::diagnostic(f, &uri, &at, &settings.rules_base_url))
            .collect();
        updates.push(ReportUpdate::Set {
            path: file.path,
            uri,
            modified: file.modified,
            len: file.len,
            diagnostics,
        });
    }
    let changes = workspace.store_reports(dir, updates, &present);
    if !changes.is_empty() {
        host.reports_changed(changes);
    }
    checked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_files_are_told_by_their_header() {
        assert!(is_generated(
            "// Code generated by stringer; DO NOT EDIT.\n\npackage p\n"
        ));
        assert!(!is_generated(
            "package p\n// Code generated by x. DO NOT EDIT.\n"
        ));
        assert!(!is_generated("// Code generated by hand.\npackage p\n"));
    }

    #[test]
    fn walks_skip_what_go_skips_and_nested_roots_once() {
        let root = std::env::temp_dir().join(format!("goconc-walk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for dir in ["a", "a/vendor/v", "testdata", ".hidden", "_skip", "b"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
            std::fs::write(root.join(dir).join("x.go"), "package x\n").unwrap();
        }
        std::fs::write(root.join("a/.y.go"), "package x\n").unwrap();
        std::fs::write(root.join("a/notes.txt"), "").unwrap();
        let found = walk(&[root.clone(), root.join("a")]);
        let dirs: Vec<&Path> = found
            .keys()
            .map(|d| d.strip_prefix(&root).unwrap())
            .collect();
        assert_eq!(dirs, [Path::new("a"), Path::new("b")]);
        assert_eq!(found[&root.join("a")].len(), 1);
        let _ = std::fs::remove_dir_all(&root);
    }
}
