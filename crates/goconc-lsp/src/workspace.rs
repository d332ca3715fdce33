//! The module index: per folder (one Go package, and its external test package), what every
//! `.go` file declares, the merged package models, and what the background check found in the
//! files that are not open; per folder upward, the module (nearest `go.mod`) and the nearest
//! `goconc.toml`.
//!
//! Files are parsed from disk and kept as [`FileDecls`] (a few kilobytes each; the trees are
//! dropped), and closed files keep their findings as a [`FileReport`]: declarations and findings,
//! never trees, so memory grows with the number of files, not with their syntax. An open buffer's
//! declarations override its file on disk. A merged [`PackageModel`] is cached per folder and
//! package name and rebuilt only when some file's declarations change, so a keystroke inside a
//! function body costs no disk access and no merge. Disk declarations enter through a folder's
//! load (the first open file of a folder), a refresh (save, watched-file event) or the
//! background check ([`Workspace::index_folder`]).
//!
//! All methods block (file system, parsing): call them from blocking threads only. Locks are
//! held for map updates only, never while reading or parsing a file, so the background check
//! (at the lowest priority) never makes an open document's analysis wait for its work.

use std::collections::{HashMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use goconc_analysis::module::{self, PackageExports};
use goconc_analysis::{
    Build, Config, FileDecls, FileOptions, GoVersion, ModuleSummaries, PackageModel, SourceFile,
};
use tower_lsp_server::ls_types::{Diagnostic, Uri};

use crate::settings::Settings;

/// The nearest `go.mod` at or above a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Module {
    pub go_version: Option<GoVersion>,
}

/// A `goconc.toml` that was found: the folder it is in and what it says (or why it does not parse).
#[derive(Debug, Clone)]
pub struct FoundConfig {
    pub path: PathBuf,
    pub config: Result<Config, String>,
}

/// What a file's analysis needs from the file system.
#[derive(Debug, Clone, Default)]
pub struct FileContext {
    pub module: Option<Module>,
    pub toml: Option<Arc<FoundConfig>>,
}

/// Why a file is not checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotChecked {
    OutsideModule,
    Excluded,
}

impl NotChecked {
    pub fn reason(self) -> &'static str {
        match self {
            NotChecked::OutsideModule => "outside a module (runOutsideModule is off)",
            NotChecked::Excluded => "excluded by goconc.toml",
        }
    }
}

impl FileContext {
    /// What the engine needs to check the file at `path` with the client's `settings` layered
    /// over the goconc.toml, or why it is not checked. A goconc.toml that does not parse is
    /// logged and the client's settings apply alone.
    pub fn options(&self, path: &Path, settings: &Settings) -> Result<FileOptions, NotChecked> {
        if self.module.is_none() && !settings.run_outside_module {
            return Err(NotChecked::OutsideModule);
        }
        if self.excluded(path) {
            return Err(NotChecked::Excluded);
        }
        let mut options = FileOptions {
            config: settings.config.clone(),
            module_go_version: self.module.as_ref().and_then(|m| m.go_version),
            is_test_file: path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().ends_with("_test.go")),
        };
        if let Some(found) = &self.toml {
            match &found.config {
                // The client's settings win over goconc.toml.
                Ok(config) => options.config = config.merged_with(&settings.config),
                Err(message) => tracing::warn!("{message}"),
            }
        }
        Ok(options)
    }

    /// Whether the file is excluded by the `exclude` globs of its goconc.toml.
    pub fn excluded(&self, path: &Path) -> bool {
        let Some(found) = &self.toml else {
            return false;
        };
        let (Ok(config), Some(base)) = (&found.config, found.path.parent()) else {
            return false;
        };
        let Ok(rel) = path.strip_prefix(base) else {
            return false;
        };
        let rel: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        config.excludes(&rel.join("/"))
    }
}

#[derive(Debug)]
struct DiskFile {
    modified: Option<SystemTime>,
    len: u64,
    decls: Arc<FileDecls>,
    /// Changes whenever the file's declarations may have changed (see [`PackageView::others`]).
    revision: u64,
    /// Whether `decls` are all the file declares, or only what the package exports to others
    /// are made of ([`FileDecls::collect_for_exports`]).
    complete: bool,
}

/// An open buffer's declarations.
#[derive(Debug)]
struct OpenFile {
    decls: Arc<FileDecls>,
    /// The engine's key of what the declarations say, offsets left out.
    facts: u64,
    revision: u64,
}

/// What the background check last found in a closed file, as the client reads it.
#[derive(Debug, PartialEq)]
pub struct FileReport {
    pub uri: Uri,
    /// The file on disk that was checked: its modification time and length.
    pub modified: Option<SystemTime>,
    pub len: u64,
    pub diagnostics: Vec<Diagnostic>,
    /// Changes whenever the diagnostics do (pull diagnostics' `resultId`).
    pub result_id: u64,
}

/// A file's declarations as the background check read them from disk.
pub struct ScannedFile {
    pub path: PathBuf,
    pub modified: Option<SystemTime>,
    pub len: u64,
    pub decls: Arc<FileDecls>,
}

/// What a background check of a folder works from, taken in one short look at the index.
pub struct FolderSnapshot {
    /// The declarations of every file of the folder, open buffers winning over the disk.
    pub decls: Vec<(PathBuf, Arc<FileDecls>)>,
    /// The files open in the editor (their buffers are analysed by their documents' workers).
    pub open: HashSet<PathBuf>,
    /// Some file's declarations on disk differ from what the index held: open siblings need a
    /// new look.
    pub changed: bool,
}

/// A new report for a file, or none (the file is gone, or no longer checked).
pub enum ReportUpdate {
    Set {
        path: PathBuf,
        uri: Uri,
        modified: Option<SystemTime>,
        len: u64,
        diagnostics: Vec<Diagnostic>,
    },
    Remove(PathBuf),
}

/// A report that changed: what to tell the client about `uri` (no diagnostics: clear them).
pub struct ReportChange {
    pub uri: Uri,
    pub report: Option<Arc<FileReport>>,
}

#[derive(Debug, Default)]
struct DirState {
    loaded: bool,
    /// Every file on disk was read for all it declares, not only for the exports: a folder
    /// only imported is read for its exports, and read again in full once a model of it is
    /// built.
    complete: bool,
    disk: HashMap<PathBuf, DiskFile>,
    open: HashMap<PathBuf, OpenFile>,
    /// The background check's findings in the folder's files, kept while they are closed and
    /// after (an open buffer's findings are its document's).
    reports: HashMap<PathBuf, Arc<FileReport>>,
    /// The merged model of each package of the folder, by package name and the build
    /// configuration of the files that see it.
    models: HashMap<(String, Build), Arc<PackageModel>>,
    /// The file being typed in: the model of its package's other files, and its declarations
    /// laid over that. A keystroke that moves offsets in its declarations lays the new ones over
    /// the same base instead of merging every file again. One per folder: a base is nearly a
    /// whole package.
    typing: Option<Typing>,
    /// The last revision handed out to a file of this folder.
    revision: u64,
    /// What the folder's package exports to the rest of the module, with the key of the files'
    /// revisions and of its dependencies' exports it was made from.
    exports: Option<CachedExports>,
    /// The exports of the module packages the folder imports that its cached models were built
    /// with (see [`Workspace::module_summaries`]); other exports make them stale.
    module: Option<(u64, Arc<ModuleSummaries>)>,
}

#[derive(Debug)]
struct CachedExports {
    files: u64,
    deps: u64,
    exports: Arc<PackageExports>,
    /// The content key of `exports`.
    key: u64,
}

#[derive(Debug)]
struct Typing {
    path: PathBuf,
    package_name: String,
    /// The file's build configuration: the base holds the files it can be compiled with.
    build: Build,
    base: Arc<PackageModel>,
    model: Arc<PackageModel>,
}

/// The package around one file, as [`Workspace::package_model`] sees it.
pub struct PackageView {
    pub model: Arc<PackageModel>,
    /// What the file declares differs from what its siblings last saw of it: open siblings
    /// need a new look.
    pub changed: bool,
    /// A key of the declarations of every other file of the folder: equal keys, equal
    /// declarations (an incremental analysis keeps its findings while it stays the same).
    pub others: u64,
}

#[derive(Default)]
pub struct Workspace {
    dirs: Mutex<HashMap<PathBuf, Arc<Mutex<DirState>>>>,
    modules: Mutex<HashMap<PathBuf, Option<Module>>>,
    /// Per folder, the nearest go.mod's folder and `module` path.
    module_paths: Mutex<HashMap<PathBuf, Option<(PathBuf, String)>>>,
    configs: Mutex<HashMap<PathBuf, Option<Arc<FoundConfig>>>>,
    /// The last result id handed out to a report.
    result_ids: AtomicU64,
}

/// A folder on the way down its imports while its exports are made: what it is imported as,
/// what it is made of, the imports still to follow and the exports of those followed.
struct ExportsFrame {
    folder: PathBuf,
    import: String,
    state: Arc<Mutex<DirState>>,
    files: u64,
    named: Vec<(String, Arc<FileDecls>)>,
    imports: Vec<String>,
    deps: ModuleSummaries,
    keys: Vec<(String, u64)>,
    /// The folder was read from disk for the first time to make these exports.
    first_read: bool,
}

/// A key of a list of (name, key) pairs.
fn hash_of(keys: &[(String, u64)]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    keys.hash(&mut hasher);
    hasher.finish()
}

/// Locks a mutex, recovering it if a panic poisoned it (the data are caches: at worst stale).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A file's build configuration: its constraint line and its name.
fn file_build(path: &Path, decls: &FileDecls) -> Build {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    decls.build.with_file_name(&name)
}

fn is_go_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "go")
}

/// The metadata and bytes of a regular file. Opened without blocking on unix (a FIFO put in a
/// file's place would otherwise wait for a writer forever), its type checked on the open file.
pub fn read_regular(path: &Path) -> Option<(std::fs::Metadata, Vec<u8>)> {
    use std::io::Read;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = options.open(path).ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    let mut bytes = Vec::new();
    file.take(meta.len()).read_to_end(&mut bytes).ok()?;
    Some((meta, bytes))
}

/// A file's declarations, from its parsed tree (none when the parse or the collection fails).
pub fn collect_decls(source: &SourceFile) -> FileDecls {
    collect_decls_for(source, true)
}

/// A file's declarations: all of them, or (not `complete`) only what its package's exports are
/// made of (none when the collection fails).
fn collect_decls_for(source: &SourceFile, complete: bool) -> FileDecls {
    catch_unwind(AssertUnwindSafe(|| {
        let (root, text) = (source.tree().root_node(), source.text());
        match complete {
            true => FileDecls::collect(root, text),
            false => FileDecls::collect_for_exports(root, text),
        }
    }))
    .unwrap_or_default()
}

/// Parses a file from disk and keeps only its declarations: all of them, or (not `complete`)
/// what its package's exports are made of.
fn read_decls(path: &Path, revision: u64, complete: bool) -> Option<DiskFile> {
    let (meta, bytes) = read_regular(path)?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let decls = collect_decls_for(&SourceFile::new(text), complete);
    Some(DiskFile {
        modified: meta.modified().ok(),
        len: meta.len(),
        decls: Arc::new(decls),
        revision,
        complete,
    })
}

impl DirState {
    /// Reads the folder's files from disk unless they were (in full when `complete`).
    fn ensure_loaded(&mut self, dir: &Path, complete: bool) {
        if !self.loaded || (complete && !self.complete) {
            self.load(dir, complete);
        }
    }

    /// Reads the files of the folder that changed on disk since they were read, or that were
    /// read only for the exports when `complete` asks for all they declare.
    fn load(&mut self, dir: &Path, complete: bool) {
        self.loaded = true;
        self.complete |= complete;
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut seen = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if !is_go_file(&path) {
                continue;
            }
            seen.push(path.clone());
            let meta = entry.metadata().ok();
            let unchanged = self.disk.get(&path).is_some_and(|old| {
                (old.complete || !complete)
                    && meta
                        .as_ref()
                        .is_some_and(|m| m.modified().ok() == old.modified && m.len() == old.len)
            });
            if !unchanged {
                self.revision += 1;
                match read_decls(&path, self.revision, complete) {
                    Some(file) => {
                        self.disk.insert(path, file);
                    }
                    None => {
                        self.disk.remove(&path);
                    }
                }
                self.forget_models();
            }
        }
        let before = self.disk.len();
        self.disk.retain(|p, _| seen.contains(p));
        if self.disk.len() != before {
            self.forget_models();
        }
    }

    /// Some file of the folder changed on disk, opened or closed: every merged model is stale.
    fn forget_models(&mut self) {
        self.models.clear();
        self.typing = None;
    }

    /// The merged model of a package (and its external test package) as a file of the build
    /// configuration `build` sees it.
    fn model_for(&mut self, package_name: &str, build: &Build) -> Arc<PackageModel> {
        let key = (package_name.to_string(), build.clone());
        if let Some(model) = self.models.get(&key) {
            return model.clone();
        }
        let model = Arc::new(self.others_model(None, package_name, build));
        self.models.insert(key, model.clone());
        model
    }

    /// The model of the package of `path`, whose declarations just changed: `own` laid over the
    /// other files, whose merge is kept for the next keystroke.
    fn model_while_typing(&mut self, path: &Path, own: &Arc<FileDecls>) -> Arc<PackageModel> {
        let build = file_build(path, own);
        let base = match &self.typing {
            Some(t) if t.path == path && t.package_name == own.package_name && t.build == build => {
                t.base.clone()
            }
            _ => Arc::new(self.others_model(Some(path), &own.package_name, &build)),
        };
        let model = PackageModel::over(base.clone(), own);
        if let Some(previous) = &self.typing {
            model.reuse_type_facts(&previous.model);
        }
        let model = Arc::new(model);
        self.typing = Some(Typing {
            path: path.to_path_buf(),
            package_name: own.package_name.clone(),
            build,
            base,
            model: model.clone(),
        });
        model
    }

    /// Every file's declarations (open buffers winning over the disk), by path.
    fn all_decls(&self) -> Vec<(PathBuf, Arc<FileDecls>)> {
        let mut files: Vec<(PathBuf, Arc<FileDecls>)> = self
            .open
            .iter()
            .map(|(p, f)| (p.clone(), f.decls.clone()))
            .chain(
                self.disk
                    .iter()
                    .filter(|(p, _)| !self.open.contains_key(*p))
                    .map(|(p, f)| (p.clone(), f.decls.clone())),
            )
            .collect();
        files.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        files
    }

    /// Lays the module's exports on the models built from now on: models built with others are
    /// forgotten.
    fn use_module(&mut self, module: Option<(u64, Arc<ModuleSummaries>)>) {
        let key = |m: &Option<(u64, Arc<ModuleSummaries>)>| m.as_ref().map(|(k, _)| *k);
        if key(&self.module) != key(&module) {
            self.forget_models();
            self.module = module;
        }
    }

    /// The merged declarations of the folder's files of `package_name` (and its external test
    /// package) but `left_out` that a file of configuration `build` can be compiled with; open
    /// buffers win over the files on disk.
    fn others_model(
        &self,
        left_out: Option<&Path>,
        package_name: &str,
        build: &Build,
    ) -> PackageModel {
        let kept = |p: &PathBuf| Some(p.as_path()) != left_out;
        let base = package_name.strip_suffix("_test").unwrap_or(package_name);
        let belongs = |d: &FileDecls| d.package_name == base || d.package_name == package_name;
        let open = self
            .open
            .iter()
            .filter(|(p, _)| kept(p))
            .map(|(p, f)| (p, f.decls.as_ref()));
        let disk = self
            .disk
            .iter()
            .filter(|(p, _)| kept(p) && !self.open.contains_key(*p))
            .map(|(p, f)| (p, f.decls.as_ref()));
        // In path order, as the command line merges them: where two files declare the same name
        // (invalid Go) the later one wins, and a map's order would pick a different one in each
        // server process.
        let mut files: Vec<(&PathBuf, &FileDecls, Build)> = open
            .chain(disk)
            .filter(|(_, d)| belongs(d))
            .map(|(p, d)| (p, d, file_build(p, d)))
            .filter(|(_, _, b)| b.compatible(build))
            .collect();
        files.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let files: Vec<(&FileDecls, &Build)> = files.iter().map(|(_, d, b)| (*d, b)).collect();
        let mut model = PackageModel::from_configured(&files);
        if let Some((_, module)) = &self.module {
            model.set_module(module.clone());
        }
        model
    }

    /// A key of the revisions of every file of the folder but `path`. Revisions are handed out
    /// once each, so the set of them says which versions the other files are at; it is summed,
    /// not sorted, as this runs on every keystroke.
    fn others_key(&self, path: &Path) -> u64 {
        // splitmix64's finalizer: a sum of well-mixed values changes when any value does.
        let mix = |mut x: u64| {
            x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            x ^ (x >> 31)
        };
        let open = self.open.iter().map(|(p, f)| (p, f.revision));
        let disk = self
            .disk
            .iter()
            .filter(|(p, _)| !self.open.contains_key(*p))
            .map(|(p, f)| (p, f.revision));
        open.chain(disk)
            .filter(|(p, _)| p.as_path() != path)
            .fold(0u64, |key, (_, revision)| key.wrapping_add(mix(revision)))
    }
}

impl Workspace {
    fn dir(&self, dir: &Path) -> Arc<Mutex<DirState>> {
        lock(&self.dirs)
            .entry(dir.to_path_buf())
            .or_default()
            .clone()
    }

    /// The package model for a file whose current declarations are `own` (`facts`: the
    /// engine's key of them, offsets left out).
    pub fn package_model(&self, path: &Path, own: &Arc<FileDecls>, facts: u64) -> PackageView {
        let Some(dir) = path.parent() else {
            return PackageView {
                model: Arc::new(PackageModel::from_files([own.as_ref()])),
                changed: false,
                others: 0,
            };
        };
        // The exports of the module packages the folder imports, made before this folder's
        // lock is taken (they lock the folders they read, one at a time).
        let imports = {
            let state = self.dir(dir);
            let mut state = lock(&state);
            state.ensure_loaded(dir, true);
            let mut imports = own.imports.clone();
            for (p, d) in state.all_decls() {
                if p != path {
                    imports.extend(d.imports.iter().cloned());
                }
            }
            imports
        };
        let module = self.module_summaries(dir, &imports, true);
        let module_key = module.as_ref().map_or(0, |(k, _)| *k);
        let state = self.dir(dir);
        let mut state = lock(&state);
        state.ensure_loaded(dir, true);
        state.use_module(module);
        let changed = match state.open.get(path) {
            Some(old) => old.facts != facts,
            None => state
                .disk
                .get(path)
                .is_none_or(|d| d.decls.as_ref() != own.as_ref()),
        };
        // Equal declarations (a keystroke that moved no offset they hold) keep the merged model.
        let moved = state
            .open
            .get(path)
            .is_none_or(|old| !Arc::ptr_eq(&old.decls, own) && old.decls != *own);
        if moved {
            let revision = match state.open.get(path) {
                Some(old) if !changed => old.revision,
                _ => {
                    state.revision += 1;
                    state.revision
                }
            };
            state.open.insert(
                path.to_path_buf(),
                OpenFile {
                    decls: own.clone(),
                    facts,
                    revision,
                },
            );
            // The merged models hold this file's old offsets (related locations).
            state.models.clear();
        }
        let build = file_build(path, own);
        let model = match &state.typing {
            _ if moved => state.model_while_typing(path, own),
            Some(t) if t.path == path && t.package_name == own.package_name && t.build == build => {
                t.model.clone()
            }
            _ => state.model_for(&own.package_name, &build),
        };
        PackageView {
            model,
            changed,
            others: state.others_key(path) ^ module_key,
        }
    }

    /// The nearest go.mod at or above `dir`: its folder and `module` path.
    fn module_path(&self, dir: &Path) -> Option<(PathBuf, String)> {
        if let Some(found) = lock(&self.module_paths).get(dir) {
            return found.clone();
        }
        let found = match std::fs::read_to_string(dir.join("go.mod")) {
            Ok(text) => module::module_path(&text).map(|path| (dir.to_path_buf(), path)),
            Err(_) => dir.parent().and_then(|up| self.module_path(up)),
        };
        lock(&self.module_paths).insert(dir.to_path_buf(), found.clone());
        found
    }

    /// The exports of the packages of `dir`'s module among `imports`, each made from the
    /// index's declarations (open buffers first, folders not yet indexed read from disk) after
    /// its own module dependencies', with a key of their content. None outside a module or when
    /// none is imported. `read_ahead`: folders never read are read on every core (for an open
    /// document; the background check keeps to its own bounded threads).
    pub fn module_summaries(
        &self,
        dir: &Path,
        imports: &[String],
        read_ahead: bool,
    ) -> Option<(u64, Arc<ModuleSummaries>)> {
        let (root, path) = self.module_path(dir)?;
        let mut summaries = ModuleSummaries::default();
        let mut keys: Vec<(String, u64)> = Vec::new();
        // An import that leads back to `dir` (broken code) is left out.
        let mut made = HashMap::default();
        made.insert(dir.to_path_buf(), None);
        let mut wanted: Vec<&String> = imports.iter().collect();
        wanted.sort_unstable();
        wanted.dedup();
        if read_ahead {
            self.read_ahead(wanted.iter().copied(), &root, &path, &made);
        }
        for import in wanted {
            let Some(rel) = module::folder_in_module(&path, import) else {
                continue;
            };
            let folder = root.join(rel);
            if let Some((exports, key)) =
                self.exports_of(&folder, &root, &path, &mut made, read_ahead)
            {
                summaries.insert(import.clone(), exports);
                keys.push((import.clone(), key));
            }
        }
        if summaries.is_empty() {
            return None;
        }
        Some((hash_of(&keys), Arc::new(summaries)))
    }

    /// What the package in `folder` exports, and a key of it: cached per folder while its
    /// files and its dependencies' exports stay the same. Its module imports are followed depth
    /// first on a stack of our own, however deep (the command line follows them all, and
    /// go-ethereum's run 29 packages deep), and each folder is made once per call, however many
    /// paths lead to it.
    fn exports_of(
        &self,
        folder: &Path,
        root: &Path,
        module_path: &str,
        made: &mut HashMap<PathBuf, Option<(Arc<PackageExports>, u64)>>,
        read_ahead: bool,
    ) -> Option<(Arc<PackageExports>, u64)> {
        if let Some(made) = made.get(folder) {
            return made.clone();
        }
        let first = self.start_exports(folder, root, module_path, String::new())?;
        if read_ahead && first.first_read {
            self.read_ahead(&first.imports, root, module_path, made);
        }
        let mut stack = vec![first];
        loop {
            let top = stack.last_mut()?;
            if let Some(import) = top.imports.pop() {
                let Some(rel) = module::folder_in_module(module_path, &import) else {
                    continue;
                };
                let dep = root.join(rel);
                if let Some(done) = made.get(&dep) {
                    if let Some((exports, key)) = done.clone() {
                        top.deps.insert(import.clone(), exports);
                        top.keys.push((import, key));
                    }
                    continue;
                }
                // Packages of one module import each other without cycles; broken code may
                // not: the import that closes a cycle is left out.
                if stack.iter().any(|f| f.folder == dep) {
                    continue;
                }
                match self.start_exports(&dep, root, module_path, import) {
                    Some(frame) => {
                        // A folder read before had what it imports read ahead then: on a
                        // keystroke, nothing is looked up again.
                        if read_ahead && frame.first_read {
                            self.read_ahead(&frame.imports, root, module_path, made);
                        }
                        stack.push(frame);
                    }
                    None => {
                        made.insert(dep, None);
                    }
                }
                continue;
            }
            let mut frame = stack.pop()?;
            let result = self.finish_exports(&mut frame);
            made.insert(frame.folder.clone(), Some(result.clone()));
            let Some(parent) = stack.last_mut() else {
                return Some(result);
            };
            parent.deps.insert(frame.import.clone(), result.0);
            parent.keys.push((frame.import, result.1));
        }
    }

    /// Reads the module folders of `imports` that were never read, on as many threads as there
    /// are cores: most of the time to a file's first diagnostics is parsing what it imports.
    fn read_ahead<'i>(
        &self,
        imports: impl IntoIterator<Item = &'i String>,
        root: &Path,
        module_path: &str,
        made: &HashMap<PathBuf, Option<(Arc<PackageExports>, u64)>>,
    ) {
        let unread: Vec<PathBuf> = imports
            .into_iter()
            .filter_map(|import| module::folder_in_module(module_path, import))
            .map(|rel| root.join(rel))
            .filter(|dir| !made.contains_key(dir))
            .filter(|dir| {
                let state = lock(&self.dirs).get(dir).cloned();
                state.is_none_or(|state| !lock(&state).loaded)
            })
            .filter(|dir| self.in_module(dir, root))
            .collect();
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(unread.len());
        if threads < 2 {
            return;
        }
        let next = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    while let Some(dir) = unread.get(next.fetch_add(1, Ordering::Relaxed)) {
                        lock(&self.dir(dir)).ensure_loaded(dir, false);
                    }
                });
            }
        });
    }

    /// Whether `folder` is a folder of the module at `root` (one with a go.mod of its own is
    /// another module).
    fn in_module(&self, folder: &Path, root: &Path) -> bool {
        self.module_path(folder).is_some_and(|(r, _)| r == root) && folder.is_dir()
    }

    /// A folder whose exports are to be made, with the module imports of its exports still to
    /// follow. None outside the module (a folder with a go.mod of its own is another module).
    fn start_exports(
        &self,
        folder: &Path,
        root: &Path,
        module_path: &str,
        import: String,
    ) -> Option<ExportsFrame> {
        if !self.in_module(folder, root) {
            return None;
        }
        let state = self.dir(folder);
        let (files, decls, first_read) = {
            let mut state = lock(&state);
            let first_read = !state.loaded;
            state.ensure_loaded(folder, false);
            (
                state.others_key(Path::new("")),
                state.all_decls(),
                first_read,
            )
        };
        let named = |(p, d): &(PathBuf, Arc<FileDecls>)| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            (name.unwrap_or_default(), d.clone())
        };
        let named: Vec<(String, Arc<FileDecls>)> = decls.iter().map(named).collect();
        let mut imports = module::module_imports_of_exports(
            module_path,
            named.iter().map(|(n, d)| (n.as_str(), d.as_ref())),
        );
        // Popped from the end: followed in the order they are listed.
        imports.reverse();
        Some(ExportsFrame {
            folder: folder.to_path_buf(),
            import,
            state,
            files,
            named,
            imports,
            deps: ModuleSummaries::default(),
            keys: Vec::new(),
            first_read,
        })
    }

    /// A folder's exports from its declarations and its dependencies', from the cache while
    /// neither changed.
    fn finish_exports(&self, frame: &mut ExportsFrame) -> (Arc<PackageExports>, u64) {
        let deps_key = hash_of(&frame.keys);
        if let Some(cached) = &lock(&frame.state).exports {
            if cached.files == frame.files && cached.deps == deps_key {
                return (cached.exports.clone(), cached.key);
            }
        }
        let deps = Arc::new(std::mem::take(&mut frame.deps));
        let exports = catch_unwind(AssertUnwindSafe(|| {
            module::package_exports(
                frame.named.iter().map(|(n, d)| (n.as_str(), d.as_ref())),
                Some(&deps),
            )
        }))
        .unwrap_or_default();
        let key = exports.content_key();
        let exports = Arc::new(exports);
        lock(&frame.state).exports = Some(CachedExports {
            files: frame.files,
            deps: deps_key,
            exports: exports.clone(),
            key,
        });
        (exports, key)
    }

    /// Forgets an open buffer's declarations: the file on disk counts again (re-read if it changed).
    pub fn close(&self, path: &Path) -> bool {
        let Some(dir) = path.parent() else {
            return false;
        };
        let state = self.dir(dir);
        let mut state = lock(&state);
        let Some(open) = state.open.remove(path) else {
            return false;
        };
        if state.loaded {
            Self::refresh_in(&mut state, path);
        }
        state.forget_models();
        state.disk.get(path).is_none_or(|d| d.decls != open.decls)
    }

    /// Re-reads one file from disk after a save or a watched-file event (or forgets it when it is
    /// gone). Returns true when the directory's summaries were loaded (so open siblings may care).
    pub fn refresh_file(&self, path: &Path) -> bool {
        let Some(dir) = path.parent() else {
            return false;
        };
        let Some(state) = lock(&self.dirs).get(dir).cloned() else {
            return false;
        };
        let mut state = lock(&state);
        Self::refresh_in(&mut state, path);
        state.forget_models();
        true
    }

    fn refresh_in(state: &mut DirState, path: &Path) {
        state.revision += 1;
        match read_decls(path, state.revision, true) {
            Some(file) => {
                state.disk.insert(path.to_path_buf(), file);
            }
            None => {
                state.disk.remove(path);
            }
        }
    }

    /// Lays what the background check read of a folder over the index: each file's disk
    /// declarations (a file whose declarations did not change keeps its revision, so open
    /// siblings keep what they learnt), and forgets files no longer there. Returns what the check
    /// of the folder works from.
    pub fn index_folder(&self, dir: &Path, scanned: Vec<ScannedFile>) -> FolderSnapshot {
        let state = self.dir(dir);
        let mut state = lock(&state);
        let mut changed = false;
        let present: HashSet<&Path> = scanned.iter().map(|f| f.path.as_path()).collect();
        let before = state.disk.len();
        state.disk.retain(|p, _| present.contains(p.as_path()));
        changed |= state.disk.len() != before;
        for file in &scanned {
            let same = state
                .disk
                .get(&file.path)
                .is_some_and(|old| old.complete && old.decls == file.decls);
            if same {
                if let Some(old) = state.disk.get_mut(&file.path) {
                    old.modified = file.modified;
                    old.len = file.len;
                }
                continue;
            }
            state.revision += 1;
            let revision = state.revision;
            state.disk.insert(
                file.path.clone(),
                DiskFile {
                    modified: file.modified,
                    len: file.len,
                    decls: file.decls.clone(),
                    revision,
                    complete: true,
                },
            );
            changed = true;
        }
        state.loaded = true;
        state.complete = true;
        if changed {
            state.forget_models();
        }
        let open: HashSet<PathBuf> = state.open.keys().cloned().collect();
        let decls = state
            .open
            .iter()
            .map(|(p, f)| (p.clone(), f.decls.clone()))
            .chain(
                state
                    .disk
                    .iter()
                    .filter(|(p, _)| !state.open.contains_key(*p))
                    .map(|(p, f)| (p.clone(), f.decls.clone())),
            )
            .collect();
        FolderSnapshot {
            decls,
            open,
            changed,
        }
    }

    /// Stores the background check's new reports of a folder's files, and forgets the reports
    /// of files that are not in `present` (gone from disk). Returns the changes the client must
    /// hear of: a report whose diagnostics differ from what it was told before (a file that had
    /// none and still has none is no news).
    pub fn store_reports(
        &self,
        dir: &Path,
        updates: Vec<ReportUpdate>,
        present: &HashSet<PathBuf>,
    ) -> Vec<ReportChange> {
        let state = self.dir(dir);
        let mut state = lock(&state);
        let mut updates = updates;
        updates.extend(
            state
                .reports
                .keys()
                .filter(|p| !present.contains(*p))
                .map(|p| ReportUpdate::Remove(p.clone())),
        );
        let mut changes = Vec::new();
        for update in updates {
            match update {
                ReportUpdate::Set {
                    path,
                    uri,
                    modified,
                    len,
                    diagnostics,
                } => {
                    let old = state.reports.get(&path);
                    let same = old.is_some_and(|o| o.uri == uri && o.diagnostics == diagnostics);
                    let result_id = match old {
                        Some(old) if same => old.result_id,
                        _ => self.result_ids.fetch_add(1, Ordering::Relaxed) + 1,
                    };
                    let news = !same
                        && (!diagnostics.is_empty()
                            || old.is_some_and(|o| !o.diagnostics.is_empty() || o.uri != uri));
                    if let Some(old) = old.filter(|o| o.uri != uri && !o.diagnostics.is_empty()) {
                        changes.push(ReportChange {
                            uri: old.uri.clone(),
                            report: None,
                        });
                    }
                    let report = Arc::new(FileReport {
                        uri: uri.clone(),
                        modified,
                        len,
                        diagnostics,
                        result_id,
                    });
                    state.reports.insert(path, report.clone());
                    if news {
                        changes.push(ReportChange {
                            uri,
                            report: Some(report),
                        });
                    }
                }
                ReportUpdate::Remove(path) => {
                    if let Some(old) = state.reports.remove(&path) {
                        if !old.diagnostics.is_empty() {
                            changes.push(ReportChange {
                                uri: old.uri.clone(),
                                report: None,
                            });
                        }
                    }
                }
            }
        }
        changes
    }

    /// Forgets the report of one file (what the client was told of it is no longer known).
    pub fn forget_report(&self, path: &Path) {
        let Some(state) = path.parent().and_then(|d| lock(&self.dirs).get(d).cloned()) else {
            return;
        };
        lock(&state).reports.remove(path);
    }

    /// The modification time and length of every file of a folder as the index last read them
    /// from disk (None: the folder was never read).
    pub fn disk_stamps(&self, dir: &Path) -> Option<HashMap<PathBuf, (Option<SystemTime>, u64)>> {
        let state = lock(&self.dirs).get(dir)?.clone();
        let state = lock(&state);
        state.loaded.then(|| {
            state
                .disk
                .iter()
                .map(|(p, f)| (p.clone(), (f.modified, f.len)))
                .collect()
        })
    }

    /// Forgets every report of the folders `dropped` says (no longer checked); returns them.
    pub fn drop_reports(&self, dropped: impl Fn(&Path) -> bool) -> Vec<ReportChange> {
        let dirs: Vec<(PathBuf, Arc<Mutex<DirState>>)> = lock(&self.dirs)
            .iter()
            .filter(|(d, _)| dropped(d))
            .map(|(d, s)| (d.clone(), s.clone()))
            .collect();
        let mut changes = Vec::new();
        for (_, state) in dirs {
            let mut state = lock(&state);
            changes.extend(
                state
                    .reports
                    .drain()
                    .filter(|(_, old)| !old.diagnostics.is_empty())
                    .map(|(_, old)| ReportChange {
                        uri: old.uri.clone(),
                        report: None,
                    }),
            );
        }
        changes
    }

    /// The report of one file, if the background check made one.
    pub fn report(&self, path: &Path) -> Option<Arc<FileReport>> {
        let state = lock(&self.dirs).get(path.parent()?)?.clone();
        let state = lock(&state);
        state.reports.get(path).cloned()
    }

    /// Every report, with its file's path.
    pub fn reports(&self) -> Vec<(PathBuf, Arc<FileReport>)> {
        let dirs: Vec<Arc<Mutex<DirState>>> = lock(&self.dirs).values().cloned().collect();
        let mut out = Vec::new();
        for state in dirs {
            let state = lock(&state);
            out.extend(state.reports.iter().map(|(p, r)| (p.clone(), r.clone())));
        }
        out
    }

    /// Forgets every cached go.mod and goconc.toml (one of them changed).
    pub fn forget_settings_files(&self) {
        lock(&self.modules).clear();
        lock(&self.configs).clear();
    }

    pub fn file_context(&self, path: &Path) -> FileContext {
        let Some(dir) = path.parent() else {
            return FileContext::default();
        };
        FileContext {
            module: self.module(dir),
            toml: self.config(dir),
        }
    }

    fn module(&self, dir: &Path) -> Option<Module> {
        if let Some(found) = lock(&self.modules).get(dir) {
            return *found;
        }
        let found = match std::fs::read_to_string(dir.join("go.mod")) {
            Ok(text) => Some(Module {
                go_version: GoVersion::from_go_mod(&text),
            }),
            Err(_) => dir.parent().and_then(|up| self.module(up)),
        };
        lock(&self.modules).insert(dir.to_path_buf(), found);
        found
    }

    fn config(&self, dir: &Path) -> Option<Arc<FoundConfig>> {
        if let Some(found) = lock(&self.configs).get(dir) {
            return found.clone();
        }
        let path = dir.join("goconc.toml");
        let found = match std::fs::read_to_string(&path) {
            Ok(text) => Some(Arc::new(FoundConfig {
                config: Config::parse_toml(&text).map_err(|e| format!("{}: {e}", path.display())),
                path,
            })),
            Err(_) => dir.parent().and_then(|up| self.config(up)),
        };
        lock(&self.configs).insert(dir.to_path_buf(), found.clone());
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siblings_on_disk_and_open_buffers() {
        let dir = std::env::temp_dir().join(format!("goconc-lsp-ws-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("go.mod"), "module m\n\ngo 1.21\n").unwrap();
        std::fs::write(dir.join("goconc.toml"), "exclude = [\"sub/gen_*.go\"]\n").unwrap();
        std::fs::write(
            dir.join("sub/types.go"),
            "package p\n\nimport \"sync\"\n\ntype S struct{ mu sync.Mutex }\n",
        )
        .unwrap();
        let ws = Workspace::default();
        let main = dir.join("sub/main.go");
        let own = |src: &str| {
            let f = SourceFile::new(src.to_string());
            Arc::new(FileDecls::collect(f.tree().root_node(), f.text()))
        };
        let first = ws.package_model(&main, &own("package p\n"), 1);
        assert!(first.changed);
        assert!(first.model.struct_fields("S").is_some());
        let again = ws.package_model(&main, &own("package p\n"), 1);
        assert!(!again.changed);
        assert_eq!(first.others, again.others);
        let ctx = ws.file_context(&main);
        assert_eq!(
            ctx.module,
            Some(Module {
                go_version: Some(GoVersion::new(21))
            })
        );
        assert!(ctx.excluded(&dir.join("sub/gen_x.go")));
        assert!(!ctx.excluded(&main));
        std::fs::write(dir.join("sub/types.go"), "package p\n\ntype T struct{}\n").unwrap();
        assert!(ws.refresh_file(&dir.join("sub/types.go")));
        let after = ws.package_model(&main, &own("package p\n"), 1);
        assert!(
            after.model.struct_fields("S").is_none() && after.model.struct_fields("T").is_some()
        );
        assert_ne!(after.others, again.others, "a sibling changed");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
