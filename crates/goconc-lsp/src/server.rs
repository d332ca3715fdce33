//! The language server proper: open documents, their workers, and the LSP handlers.
//!
//! Ordering: tower-lsp-server polls handlers concurrently, so every handler that changes a
//! document does so synchronously before its first `.await`, and never holds a `DashMap` guard
//! across an `.await`. A change costs the handler only string edits (the text, its line index):
//! edits are applied in the order they arrive, whatever the document, and no document waits for
//! another's parse.
//!
//! Each document has at most one worker task. It takes the edits that arrived since it last
//! looked, brings its syntax tree up to date on a blocking thread (edits close together are
//! reparsed as one), analyses the result unless a newer change came meanwhile, and publishes it
//! if the document is still at that text; then it looks again. Typing into a file that is still
//! being parsed thus costs one more incremental reparse, not one full parse per keystroke.
//!
//! A `didChange` whose version is not above the document's is applied anyway: stdio keeps the
//! client's order, so it is the next change whatever its number (dropping it is what made the
//! texts differ). It is logged, and the document is marked as possibly out of step with the
//! editor: its quick fixes are withheld until a full-text change, a reopen, or a save (the saved
//! file is then read back from disk). An exact repeat of the previous notification (same version,
//! same changes) is taken for a duplicate delivery and dropped, with a log line.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::Duration;

use dashmap::DashMap;
use goconc_analysis::{
    Encoding, FileDecls, FileOptions, Finding, IncrementalFile, LineIndex, PackageModel, SourceFile,
};
use serde_json::Value;
use tokio::sync::Notify;
use tower_lsp_server::jsonrpc::Result as RpcResult;
use tower_lsp_server::ls_types::notification::PublishDiagnostics;
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer};
use tracing::{debug, error, info, trace, warn};

use crate::actions;
use crate::background::{self, Background};
use crate::convert::{self, Positions};
use crate::settings::Settings;
use crate::transport::{notification_frame, Outbox};
use crate::workspace::{ReportChange, Workspace};

/// Edits kept for the worker before it compares whole texts instead.
const MAX_PENDING_EDITS: usize = 256;
const MAX_PENDING_BYTES: usize = 1024 * 1024;

/// Waiting edits whose span in the old text is at most this long are reparsed as one edit.
const MERGE_EDITS_WITHIN: usize = 64 * 1024;

/// How long a request about a document's findings (code actions, hover, pull diagnostics, fix
/// all) waits for the analysis of its text.
const CODE_ACTION_WAIT: Duration = Duration::from_secs(30);

/// How often a client that cannot watch files has the workspace folders looked at for changes
/// (`GOCONC_RESCAN_SECONDS` sets another period).
const RESCAN_EVERY: Duration = Duration::from_secs(30);

fn rescan_every() -> Duration {
    std::env::var("GOCONC_RESCAN_SECONDS")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map_or(RESCAN_EVERY, Duration::from_secs_f64)
}

/// At most this often a progress bar moves.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// A notification's changes up to this size are remembered, to tell a repeated delivery from a
/// new change with a stale version.
const REMEMBER_CHANGES_UP_TO: usize = 64 * 1024;

/// What changed in the text since the worker last took it.
enum Pending {
    /// Byte-range edits in order, each relative to the text after the one before.
    Edits {
        edits: Vec<(Range<usize>, String)>,
        bytes: usize,
    },
    /// Too much to list (a full-text change, many edits): the worker compares whole texts.
    Whole,
}

impl Pending {
    fn nothing() -> Pending {
        Pending::Edits {
            edits: Vec::new(),
            bytes: 0,
        }
    }

    fn push(&mut self, range: Range<usize>, text: String) {
        if let Pending::Edits { edits, bytes } = self {
            if edits.len() < MAX_PENDING_EDITS && *bytes + text.len() <= MAX_PENDING_BYTES {
                *bytes += text.len();
                edits.push((range, text));
                return;
            }
        }
        *self = Pending::Whole;
    }
}

/// The findings of one text.
struct Analysed {
    revision: u64,
    /// Changes when the diagnostics of the document do (pull diagnostics' `resultId`).
    generation: u64,
    findings: Arc<Vec<Finding>>,
    /// What a client that pulls diagnostics is answered (push: the publication went out).
    diagnostics: Option<Arc<Vec<Diagnostic>>>,
}

pub struct Document {
    /// Distinguishes this opening of the URI from an earlier one.
    epoch: u64,
    /// The client's version of the current text.
    version: i32,
    /// Counts the texts this document had (the client's versions may repeat or go back).
    revision: u64,
    path: Option<PathBuf>,
    text: Arc<String>,
    /// The line index of exactly the current text, in LSP lines.
    index: Arc<LineIndex>,
    /// NUL bytes in the text: Go source has none, so such a text is not parsed.
    nuls: usize,
    pending: Pending,
    /// The worker's syntax tree while it is idle (it takes it with each job): the text of the
    /// last job, before the edits in `pending`.
    parsed: Option<SourceFile>,
    analysed: Option<Analysed>,
    /// This file's declarations at its last analysis.
    decls: Option<Arc<FileDecls>>,
    /// What the engine keeps between analyses of this opening of the document.
    incremental: Arc<Mutex<IncrementalFile>>,
    /// A worker task runs for this document.
    working: bool,
    /// The text, the settings or the package changed since the worker last took a job.
    wanted: bool,
    /// A change came with a version that was not above the document's: the texts may differ.
    diverged: bool,
    /// The version and changes of the last `didChange` (when small).
    last_changes: Option<(i32, Vec<TextDocumentContentChangeEvent>)>,
    /// The revision and generation of the diagnostics a pulling client was last answered.
    served: Option<(u64, u64)>,
}

/// What the client can do, from `initialize`.
#[derive(Debug, Default, Clone, Copy)]
struct ClientCaps {
    configuration: bool,
    document_changes: bool,
    watch_dynamic: bool,
    /// Pull diagnostics: the client asks for them (`textDocument/diagnostic`) and can be told
    /// to ask again (`workspace/diagnostic/refresh`). Such a client is never pushed any.
    pull: bool,
    work_done_progress: bool,
    show_document: bool,
    apply_edit: bool,
}

pub struct Inner {
    /// This, for callbacks that get `&Inner` and must start tasks.
    me: Weak<Inner>,
    client: Client,
    /// Where diagnostics and the server's own log messages go (see [`Outbox`]).
    outbox: Outbox,
    docs: DashMap<Uri, Document>,
    /// Woken whenever a document gets findings (code actions wait for them).
    analysed: Notify,
    settings: RwLock<Arc<Settings>>,
    encoding: OnceLock<Encoding>,
    caps: OnceLock<ClientCaps>,
    workspace: Workspace,
    epochs: AtomicU64,
    background: Arc<Background>,
    /// The paths of the open documents, and their URIs as the client spells them.
    open_paths: DashMap<PathBuf, Uri>,
    /// The workspace folders, from `initialize`.
    roots: OnceLock<Vec<PathBuf>>,
    /// Woken when a report of a closed file changes (waiting `workspace/diagnostic` pulls).
    reports_changed: Notify,
    /// A `workspace/diagnostic/refresh` is on its way.
    refresh_pending: AtomicBool,
    /// The newest progress of the background check, for the task that reports it.
    progress: tokio::sync::watch::Sender<Option<background::Progress>>,
}

#[derive(Clone)]
pub struct Server(pub(crate) Arc<Inner>);

impl Server {
    pub fn new(client: Client, outbox: Outbox) -> Server {
        Server(Arc::new_cyclic(|me| Inner {
            me: me.clone(),
            client,
            outbox,
            docs: DashMap::new(),
            analysed: Notify::new(),
            settings: RwLock::new(Arc::new(Settings::default())),
            encoding: OnceLock::new(),
            caps: OnceLock::new(),
            workspace: Workspace::default(),
            epochs: AtomicU64::new(1),
            background: Arc::default(),
            open_paths: DashMap::new(),
            roots: OnceLock::new(),
            reports_changed: Notify::new(),
            refresh_pending: AtomicBool::new(false),
            progress: tokio::sync::watch::channel(None).0,
        }))
    }
}

/// What an analysis needs besides the tree, taken under a short guard.
struct JobInfo {
    uri: Uri,
    epoch: u64,
    revision: u64,
    version: i32,
    path: Option<PathBuf>,
    /// The line index of the job's text.
    index: Arc<LineIndex>,
    settings: Arc<Settings>,
    encoding: Encoding,
    incremental: Arc<Mutex<IncrementalFile>>,
}

/// One round of a document's worker.
struct Job {
    info: JobInfo,
    source: Option<SourceFile>,
    pending: Pending,
    /// The text, when the tree must be built or compared with it, or the text is not Go.
    text: Option<Arc<String>>,
    len: usize,
    nuls: usize,
}

struct Analysis {
    findings: Arc<Vec<Finding>>,
    diagnostics: Diagnostics,
    decls: Arc<FileDecls>,
    decls_changed: bool,
}

/// The diagnostics of an analysis, as the client takes them.
enum Diagnostics {
    /// The framed `publishDiagnostics` (None if it could not be serialized).
    Push(Option<Vec<u8>>),
    /// What `textDocument/diagnostic` answers.
    Pull(Arc<Vec<Diagnostic>>),
}

enum Outcome {
    Analysed(Analysis),
    /// The text holds NUL bytes: one diagnostic says it is not checked.
    NotGo(Diagnostics),
    /// A newer change came while the tree was brought up to date: not analysed.
    Superseded,
    /// The tree could not follow the edits (a goconc bug): parse the text afresh, once.
    TreeLost {
        retry: bool,
    },
}

struct Done {
    source: Option<SourceFile>,
    outcome: Outcome,
}

fn count_nuls(text: &str) -> usize {
    text.bytes().filter(|&b| b == 0).count()
}

/// The length of the longest common prefix of two byte strings.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    // Whole blocks first (a memcmp each), then bytes.
    while i + 4096 <= n && a[i..i + 4096] == b[i..i + 4096] {
        i += 4096;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

fn common_suffix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let (a, b) = (&a[a.len() - n..], &b[b.len() - n..]);
    let mut i = 0;
    while i + 4096 <= n && a[n - i - 4096..n - i] == b[n - i - 4096..n - i] {
        i += 4096;
    }
    while i < n && a[n - i - 1] == b[n - i - 1] {
        i += 1;
    }
    i
}

/// The one edit that turns `old` into `new`: the range of `old` between their common prefix and
/// suffix (on character boundaries), and what replaces it.
fn difference<'n>(old: &str, new: &'n str) -> (Range<usize>, &'n str) {
    let mut prefix = common_prefix(old.as_bytes(), new.as_bytes());
    while !(old.is_char_boundary(prefix) && new.is_char_boundary(prefix)) {
        prefix -= 1;
    }
    let mut suffix = common_suffix(&old.as_bytes()[prefix..], &new.as_bytes()[prefix..]);
    while !(old.is_char_boundary(old.len() - suffix) && new.is_char_boundary(new.len() - suffix)) {
        suffix -= 1;
    }
    (prefix..old.len() - suffix, &new[prefix..new.len() - suffix])
}

/// Waiting edits as one edit of `old` (the text before the first), when they lie within
/// [`MERGE_EDITS_WITHIN`] bytes of each other.
fn merged(old: &str, edits: &[(Range<usize>, String)]) -> Option<(Range<usize>, String)> {
    // Every edit leaves the first `keep_start` and the last `keep_end` bytes as they were.
    let (mut keep_start, mut keep_end, mut len) = (old.len(), old.len(), old.len());
    for (range, text) in edits {
        if range.start > range.end || range.end > len {
            return None;
        }
        keep_start = keep_start.min(range.start);
        keep_end = keep_end.min(len - range.end);
        len = len - range.len() + text.len();
    }
    let keep_end = keep_end.min(old.len().min(len) - keep_start);
    let replaced = keep_start..old.len() - keep_end;
    if replaced.len() > MERGE_EDITS_WITHIN {
        return None;
    }
    let mut middle = old.get(replaced.clone())?.to_string();
    for (range, text) in edits {
        let range = range.start - keep_start..range.end - keep_start;
        if range.end > middle.len()
            || !middle.is_char_boundary(range.start)
            || !middle.is_char_boundary(range.end)
        {
            return None;
        }
        middle.replace_range(range, text);
    }
    Some((replaced, middle))
}

/// Brings the worker's tree to the document's text: parses it afresh when there is no tree,
/// else applies what is pending as incremental edits. None when the edits do not fit the tree.
fn updated_tree(
    source: Option<SourceFile>,
    pending: Pending,
    text: Option<&str>,
    len: usize,
) -> Option<SourceFile> {
    let Some(mut source) = source else {
        return Some(SourceFile::new(text?.to_string()));
    };
    match pending {
        Pending::Whole => {
            let (range, new) = difference(source.text(), text?);
            if !range.is_empty() || !new.is_empty() {
                source.edit(range, new).ok()?;
            }
        }
        Pending::Edits { edits, .. } => match edits.len() {
            0 => {}
            1 => {
                let (range, new) = &edits[0];
                source.edit(range.clone(), new).ok()?;
            }
            _ => match merged(source.text(), &edits) {
                Some((range, new)) => source.edit(range, &new).ok()?,
                None => {
                    for (range, new) in edits {
                        source.edit(range, &new).ok()?;
                    }
                }
            },
        },
    }
    (source.text().len() == len).then_some(source)
}

impl Inner {
    fn encoding(&self) -> Encoding {
        self.encoding.get().copied().unwrap_or_default()
    }

    fn caps(&self) -> ClientCaps {
        self.caps.get().copied().unwrap_or_default()
    }

    fn settings(&self) -> Arc<Settings> {
        self.settings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Tells the client, and the log.
    fn warn_client(&self, message: String) {
        warn!("{message}");
        self.outbox
            .log(MessageType::WARNING, format!("goconc: {message}"));
    }

    /// Takes the worker's next job from a document.
    fn take_job(&self, uri: &Uri, doc: &mut Document) -> Job {
        doc.wanted = false;
        let pending = std::mem::replace(&mut doc.pending, Pending::nothing());
        let source = doc.parsed.take();
        let needs_text = source.is_none() || matches!(pending, Pending::Whole) || doc.nuls > 0;
        Job {
            info: JobInfo {
                uri: uri.clone(),
                epoch: doc.epoch,
                revision: doc.revision,
                version: doc.version,
                path: doc.path.clone(),
                index: doc.index.clone(),
                settings: self.settings(),
                encoding: self.encoding(),
                incremental: doc.incremental.clone(),
            },
            source,
            pending,
            text: needs_text.then(|| doc.text.clone()),
            len: doc.text.len(),
            nuls: doc.nuls,
        }
    }

    /// One round of a worker, on a blocking thread: the tree brought up to date, then the
    /// analysis (unless the document moved on meanwhile).
    fn run_job(&self, job: Job) -> Done {
        let Job {
            info,
            source,
            pending,
            text,
            len,
            nuls,
        } = job;
        if nuls > 0 {
            let diagnostics = text.map(|text| {
                let first = text.bytes().position(|b| b == 0).unwrap_or(0);
                let at = Positions::new(&text, &info.index, info.encoding);
                debug!(
                    uri = info.uri.as_str(),
                    nuls, "not parsed: the text holds NUL bytes"
                );
                vec![convert::not_go_source(&at, first, nuls)]
            });
            return Done {
                source: None,
                outcome: Outcome::NotGo(self.diagnostics(&info, diagnostics.unwrap_or_default())),
            };
        }
        let had_tree = source.is_some();
        let started = std::time::Instant::now();
        let updated = catch_unwind(AssertUnwindSafe(|| {
            updated_tree(source, pending, text.as_deref().map(String::as_str), len)
        }));
        drop(text);
        let Ok(Some(source)) = updated else {
            error!(
                uri = info.uri.as_str(),
                "goconc bug: the syntax tree could not follow the edits; parsing afresh"
            );
            return Done {
                source: None,
                outcome: Outcome::TreeLost { retry: had_tree },
            };
        };
        trace!(
            uri = info.uri.as_str(),
            revision = info.revision,
            "tree up to date in {:.1} ms",
            started.elapsed().as_secs_f64() * 1000.0
        );
        let superseded = self
            .docs
            .get(&info.uri)
            .is_none_or(|d| d.epoch != info.epoch || d.revision != info.revision);
        if superseded {
            return Done {
                source: Some(source),
                outcome: Outcome::Superseded,
            };
        }
        let analysis = self.analyse(&info, &source);
        Done {
            source: Some(source),
            outcome: Outcome::Analysed(analysis),
        }
    }

    /// A document's diagnostics as this client takes them: framed for a push, kept for a pull.
    fn diagnostics(&self, info: &JobInfo, diagnostics: Vec<Diagnostic>) -> Diagnostics {
        if self.caps().pull {
            return Diagnostics::Pull(Arc::new(diagnostics));
        }
        Diagnostics::Push(notification_frame::<PublishDiagnostics>(
            &PublishDiagnosticsParams {
                uri: info.uri.clone(),
                diagnostics,
                version: Some(info.version),
            },
        ))
    }

    /// Analyses a tree, reusing what the document's incremental analysis kept of the functions
    /// the edits did not touch. Blocking: run it on a blocking thread.
    fn analyse(&self, info: &JobInfo, source: &SourceFile) -> Analysis {
        let settings = &info.settings;
        let mut options = FileOptions {
            config: settings.config.clone(),
            ..FileOptions::default()
        };
        if let Some(path) = &info.path {
            match self.workspace.file_context(path).options(path, settings) {
                Ok(file_options) => options = file_options,
                Err(skip) => {
                    debug!(uri = info.uri.as_str(), "not checked: {}", skip.reason());
                    return Analysis {
                        findings: Arc::default(),
                        diagnostics: self.diagnostics(info, vec![]),
                        decls: Arc::new(crate::workspace::collect_decls(source)),
                        decls_changed: false,
                    };
                }
            }
        }
        let started = std::time::Instant::now();
        let mut decls_changed = false;
        let mut package_time = Duration::ZERO;
        let mut incremental = info
            .incremental
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            incremental.analyze(source, &options, |decls, facts| match &info.path {
                Some(path) => {
                    let started = std::time::Instant::now();
                    let view = self.workspace.package_model(path, decls, facts);
                    decls_changed = view.changed;
                    package_time = started.elapsed();
                    (view.model, view.others)
                }
                None => (Arc::new(PackageModel::from_files([decls.as_ref()])), 0),
            })
        }));
        let (decls, findings) = match outcome {
            Ok((decls, outcome, reuse)) => {
                debug!(
                    uri = info.uri.as_str(),
                    version = info.version,
                    functions = reuse.functions,
                    analysed = reuse.analysed,
                    "analysed in {:.1} ms (package model {:.1} ms)",
                    started.elapsed().as_secs_f64() * 1000.0,
                    package_time.as_secs_f64() * 1000.0
                );
                for skipped in incremental.untold_too_deep(source.text(), &outcome) {
                    let before = source.text().get(..skipped.start).unwrap_or("");
                    warn!(
                        uri = info.uri.as_str(),
                        "not checked: the declaration on line {} nests brackets deeper than {} \
                         levels (generated code?), too deep to analyse safely",
                        1 + before.matches('\n').count(),
                        goconc_analysis::MAX_NESTING
                    );
                }
                if !outcome.failed_rules.is_empty() {
                    error!(
                        uri = info.uri.as_str(),
                        version = info.version,
                        "goconc bug: rules failed and were skipped: {}",
                        outcome.failed_rules.join(", ")
                    );
                }
                (decls, outcome.findings)
            }
            Err(_) => {
                error!(
                    uri = info.uri.as_str(),
                    version = info.version,
                    "goconc bug: the analysis panicked; no findings for this version"
                );
                // What was kept may be half updated: start again next time.
                *incremental = IncrementalFile::new();
                (Arc::default(), Vec::new())
            }
        };
        drop(incremental);
        let at = Positions::new(source.text(), &info.index, info.encoding);
        let diagnostics = findings
            .iter()
            .map(|f| convert::diagnostic(f, &info.uri, &at, &settings.rules_base_url))
            .collect();
        Analysis {
            diagnostics: self.diagnostics(info, diagnostics),
            findings: Arc::new(findings),
            decls,
            decls_changed,
        }
    }

    /// Asks for an analysis of the document's current text, starting its worker if it has
    /// none. Never blocks, never awaits.
    fn schedule(self: &Arc<Self>, uri: &Uri) {
        let epoch = {
            let Some(mut doc) = self.docs.get_mut(uri) else {
                return;
            };
            doc.wanted = true;
            if doc.working {
                return;
            }
            doc.working = true;
            doc.epoch
        };
        let inner = self.clone();
        let uri = uri.clone();
        tokio::spawn(async move { inner.work(uri, epoch).await });
    }

    /// A document's worker: one job at a time until nothing is wanted.
    async fn work(self: Arc<Self>, uri: Uri, epoch: u64) {
        loop {
            let job = {
                let Some(mut doc) = self.docs.get_mut(&uri) else {
                    return;
                };
                if doc.epoch != epoch {
                    return;
                }
                if !doc.wanted {
                    doc.working = false;
                    return;
                }
                self.take_job(&uri, &mut doc)
            };
            let revision = job.info.revision;
            let path = job.info.path.clone();
            let inner = self.clone();
            let done = tokio::task::spawn_blocking(move || inner.run_job(job))
                .await
                .unwrap_or_else(|e| {
                    error!(uri = uri.as_str(), "goconc bug: the worker failed: {e}");
                    Done {
                        source: None,
                        outcome: Outcome::TreeLost { retry: false },
                    }
                });
            let decls_changed = {
                let Some(mut doc) = self.docs.get_mut(&uri) else {
                    return;
                };
                if doc.epoch != epoch {
                    return;
                }
                doc.parsed = done.source;
                if doc.parsed.is_none() {
                    // The edits waiting are relative to a tree that is gone.
                    doc.pending = Pending::Whole;
                }
                let current = doc.revision == revision;
                let (analysed, decls_changed) = match done.outcome {
                    Outcome::Analysed(a) => {
                        doc.decls = Some(a.decls);
                        (Some((a.findings, a.diagnostics)), a.decls_changed)
                    }
                    Outcome::NotGo(diagnostics) => (Some((Arc::default(), diagnostics)), false),
                    Outcome::Superseded => (None, false),
                    Outcome::TreeLost { retry } => {
                        doc.wanted |= retry;
                        (None, false)
                    }
                };
                match analysed {
                    Some((findings, diagnostics)) if current => {
                        let previous = doc.analysed.take();
                        let (diagnostics, publication) = match diagnostics {
                            Diagnostics::Push(publication) => (None, publication),
                            Diagnostics::Pull(diagnostics) => (Some(diagnostics), None),
                        };
                        // A pulling client is told to ask again when a text it was answered
                        // about has new diagnostics (a sibling or the settings changed); after
                        // its own edits it asks by itself.
                        let generation = match &previous {
                            Some(p) if p.revision == revision && p.diagnostics == diagnostics => {
                                p.generation
                            }
                            Some(p) => p.generation + 1,
                            None => 1,
                        };
                        let stale_answer = doc.served.is_some_and(|(served_revision, served)| {
                            served_revision == revision && served != generation
                        });
                        doc.analysed = Some(Analysed {
                            revision,
                            generation,
                            findings,
                            diagnostics,
                        });
                        // Queued under the guard: a close that removes the document queues its
                        // empty diagnostics after these, never before.
                        if let Some(publication) = publication {
                            self.outbox.publish(uri.as_str(), publication);
                        }
                        trace!(uri = uri.as_str(), version = doc.version, "published");
                        self.analysed.notify_waiters();
                        if stale_answer {
                            self.refresh_pulls();
                        }
                    }
                    Some(_) => debug!(
                        uri = uri.as_str(),
                        "dropping the results of a text that changed meanwhile"
                    ),
                    None => {}
                }
                // Even when the results are dropped: the workspace already holds the new
                // declarations, so the next analysis would not see them change.
                decls_changed
            };
            if decls_changed {
                if let Some(dir) = path.as_deref().and_then(Path::parent) {
                    self.reanalyse_dir(dir, Some(&uri));
                    // The folder's closed files see the new declarations too.
                    self.background.recheck(dir, false);
                }
            }
        }
    }

    /// Re-analyses the open documents of a folder (a sibling's declarations changed).
    fn reanalyse_dir(self: &Arc<Self>, dir: &Path, except: Option<&Uri>) {
        let uris: Vec<Uri> = self
            .docs
            .iter()
            .filter(|d| {
                Some(d.key()) != except && d.path.as_deref().and_then(Path::parent) == Some(dir)
            })
            .map(|d| d.key().clone())
            .collect();
        for uri in uris {
            self.schedule(&uri);
        }
    }

    fn reanalyse_all(self: &Arc<Self>) {
        let uris: Vec<Uri> = self.docs.iter().map(|d| d.key().clone()).collect();
        for uri in uris {
            self.schedule(&uri);
        }
    }

    /// Applies the changes of one notification in order: string edits only (see the module
    /// doc), then wakes the document's worker.
    fn apply_changes(self: &Arc<Self>, params: DidChangeTextDocumentParams) {
        let uri = params.text_document.uri;
        let version = params.text_document.version;
        let changes = params.content_changes;
        let encoding = self.encoding();
        {
            let Some(mut entry) = self.docs.get_mut(&uri) else {
                warn!(
                    uri = uri.as_str(),
                    version, "didChange for a document that is not open: ignored"
                );
                return;
            };
            let doc = &mut *entry;
            if version <= doc.version {
                let repeated = doc
                    .last_changes
                    .as_ref()
                    .is_some_and(|(v, c)| *v == version && *c == changes);
                if repeated {
                    self.warn_client(format!(
                        "didChange of {} repeats the previous one (version {version}, same changes): taken for a duplicate and ignored",
                        uri.as_str()
                    ));
                    return;
                }
                self.warn_client(format!(
                    "didChange of {} has version {version}, not above {}: applied in the order it came, but the editor's text and goconc's may differ; quick fixes are withheld until the file is saved or reopened",
                    uri.as_str(),
                    doc.version
                ));
                doc.diverged = true;
            }
            let small =
                changes.iter().map(|c| c.text.len()).sum::<usize>() <= REMEMBER_CHANGES_UP_TO;
            doc.last_changes = small.then(|| (version, changes.clone()));
            for change in changes {
                match change.range {
                    None => {
                        // The whole text: in step with the editor again.
                        doc.diverged = false;
                        doc.index = Arc::new(LineIndex::new_lsp(&change.text));
                        doc.nuls = count_nuls(&change.text);
                        doc.text = Arc::new(change.text);
                        doc.pending = Pending::Whole;
                    }
                    Some(range) => {
                        let bytes =
                            Positions::new(&doc.text, &doc.index, encoding).byte_range(range);
                        doc.nuls = doc.nuls - count_nuls(&doc.text[bytes.clone()])
                            + count_nuls(&change.text);
                        let text = Arc::make_mut(&mut doc.text);
                        text.replace_range(bytes.clone(), &change.text);
                        Arc::make_mut(&mut doc.index).edit(bytes.clone(), &change.text, text);
                        doc.pending.push(bytes, change.text);
                    }
                }
            }
            doc.version = version;
            doc.revision += 1;
        }
        trace!(uri = uri.as_str(), version, "change applied");
        self.schedule(&uri);
    }

    /// After a save of a document that may be out of step: the file on disk is what the editor
    /// had, so it becomes the text (unless the document changed since the save).
    fn resync_from_disk(self: &Arc<Self>, uri: &Uri, revision: u64, text: String) {
        {
            let Some(mut doc) = self.docs.get_mut(uri) else {
                return;
            };
            if doc.revision != revision {
                return;
            }
            doc.diverged = false;
            if *doc.text == text {
                info!(uri = uri.as_str(), "the saved file matches goconc's text");
                return;
            }
            doc.index = Arc::new(LineIndex::new_lsp(&text));
            doc.nuls = count_nuls(&text);
            doc.text = Arc::new(text);
            doc.pending = Pending::Whole;
            doc.revision += 1;
        }
        self.warn_client(format!(
            "{} differed from the saved file: goconc now checks the saved text",
            uri.as_str()
        ));
        self.schedule(uri);
    }

    async fn log(&self, typ: MessageType, message: String) {
        self.client.log_message(typ, message).await;
    }

    /// Applies new settings and re-checks every open document, and the closed ones when what
    /// their findings depend on changed.
    async fn apply_settings(self: &Arc<Self>, value: &Value) {
        let (settings, problems) = Settings::from_json(value);
        crate::logging::set_level(settings.log_level.as_deref());
        info!(
            "settings: {} rule severities set, go version {:?}",
            settings.config.severities.len(),
            settings.config.go_version
        );
        let before = self.settings();
        let findings_change = before.config != settings.config
            || before.rules_base_url != settings.rules_base_url
            || before.run_outside_module != settings.run_outside_module;
        let background = settings.workspace_diagnostics;
        *self.settings.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(settings);
        self.reanalyse_all();
        self.background.configure(background, findings_change);
        for problem in problems {
            warn!("{problem}");
            self.log(MessageType::WARNING, problem).await;
        }
    }

    /// Reads the `goconc` section with `workspace/configuration` (None when unsupported or empty).
    async fn pull_configuration(&self) -> Option<Value> {
        if !self.caps().configuration {
            return None;
        }
        let items = vec![ConfigurationItem {
            scope_uri: None,
            section: Some("goconc".to_string()),
        }];
        match self.client.configuration(items).await {
            Ok(mut values) if !values.is_empty() && !values[0].is_null() => {
                Some(values.swap_remove(0))
            }
            Ok(_) => None,
            Err(e) => {
                warn!("workspace/configuration failed: {e}");
                None
            }
        }
    }

    /// A .go file changed on disk (save or watcher): re-read it and re-check its open siblings.
    fn file_changed_on_disk(self: &Arc<Self>, path: &Path) {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name == "go.mod" || name == "goconc.toml" {
            self.workspace.forget_settings_files();
            self.reanalyse_all();
            if let Some(dir) = path.parent() {
                self.background.recheck_under(dir);
            }
            return;
        }
        if !name.ends_with(".go") {
            // A folder created, deleted or renamed: its files are news to the index.
            if !path.is_file() {
                self.background.recheck_under(path);
            }
            return;
        }
        if self.workspace.refresh_file(path) {
            if let Some(dir) = path.parent() {
                self.reanalyse_dir(dir, None);
            }
        }
        if let Some(dir) = path.parent() {
            self.background.recheck(dir, true);
        }
    }
}

/// A document's text and the findings of exactly that text.
struct Snapshot {
    revision: u64,
    generation: u64,
    version: i32,
    text: Arc<String>,
    index: Arc<LineIndex>,
    findings: Arc<Vec<Finding>>,
    diagnostics: Option<Arc<Vec<Diagnostic>>>,
    /// The text may differ from the editor's (see the module doc).
    diverged: bool,
}

/// Why a document's findings are not at hand.
#[derive(Debug, PartialEq, Eq)]
enum NotAnalysed {
    NotOpen,
    /// The text changed while waiting (the client asks again about the new one).
    MovedOn,
    TimedOut,
}

/// `ServerCancelled` (LSP 3.17): the client may ask again.
fn server_cancelled(message: &str) -> tower_lsp_server::jsonrpc::Error {
    tower_lsp_server::jsonrpc::Error {
        code: tower_lsp_server::jsonrpc::ErrorCode::ServerError(-32802),
        message: message.to_string().into(),
        data: Some(serde_json::json!({"retriggerRequest": true})),
    }
}

fn invalid_params(message: String) -> tower_lsp_server::jsonrpc::Error {
    tower_lsp_server::jsonrpc::Error::invalid_params(message)
}

impl Inner {
    /// The findings of a document's current text, waiting for its analysis when that is still
    /// running. `follow`: when the text changes meanwhile, wait for the new one instead.
    async fn analysed_now(&self, uri: &Uri, follow: bool) -> Result<Snapshot, NotAnalysed> {
        let asked = self
            .docs
            .get(uri)
            .map(|d| d.revision)
            .ok_or(NotAnalysed::NotOpen)?;
        let deadline = tokio::time::Instant::now() + CODE_ACTION_WAIT;
        loop {
            // Created before looking, so a publication in between still wakes it.
            let analysed = self.analysed.notified();
            {
                let doc = self.docs.get(uri).ok_or(NotAnalysed::NotOpen)?;
                if doc.revision != asked && !follow {
                    return Err(NotAnalysed::MovedOn);
                }
                if let Some(a) = doc.analysed.as_ref().filter(|a| a.revision == doc.revision) {
                    return Ok(Snapshot {
                        revision: a.revision,
                        generation: a.generation,
                        version: doc.version,
                        text: doc.text.clone(),
                        index: doc.index.clone(),
                        findings: a.findings.clone(),
                        diagnostics: a.diagnostics.clone(),
                        diverged: doc.diverged,
                    });
                }
            }
            if tokio::time::timeout_at(deadline, analysed).await.is_err() {
                warn!(
                    uri = uri.as_str(),
                    "the analysis took longer than {CODE_ACTION_WAIT:?}"
                );
                return Err(NotAnalysed::TimedOut);
            }
        }
    }

    /// Code actions for a document, from the findings of the text it was asked about.
    async fn code_actions(self: &Arc<Self>, params: CodeActionParams) -> Vec<CodeActionOrCommand> {
        let uri = params.text_document.uri.clone();
        let snapshot = match self.analysed_now(&uri, false).await {
            Ok(snapshot) => snapshot,
            Err(_) => return vec![],
        };
        if snapshot.diverged {
            debug!(
                uri = uri.as_str(),
                "no code actions: the text may differ from the editor's"
            );
            return vec![];
        }
        let settings = self.settings();
        let at = Positions::new(&snapshot.text, &snapshot.index, self.encoding());
        let req = actions::Request {
            uri: &uri,
            version: snapshot.version,
            range: at.byte_range(params.range),
            only: params.context.only.clone(),
            document_changes: self.caps().document_changes,
            rules_base_url: &settings.rules_base_url,
        };
        actions::code_actions(&snapshot.findings, &at, &req)
    }

    /// The hover of the findings under the cursor: each rule's summary, why it matters, the
    /// fix and its page.
    async fn hover(&self, params: HoverParams) -> Option<Hover> {
        let uri = &params.text_document_position_params.text_document.uri;
        let snapshot = self.analysed_now(uri, false).await.ok()?;
        let at = Positions::new(&snapshot.text, &snapshot.index, self.encoding());
        let offset = at.offset(params.text_document_position_params.position);
        let settings = self.settings();
        let mut shown: Vec<&str> = Vec::new();
        let mut parts = Vec::new();
        let mut range: Option<std::ops::Range<usize>> = None;
        for finding in snapshot.findings.iter() {
            if !(finding.range.start <= offset && offset <= finding.range.end) {
                continue;
            }
            if shown.contains(&finding.rule) {
                continue;
            }
            let Some(doc) = crate::rule_docs::find(finding.rule) else {
                continue;
            };
            shown.push(finding.rule);
            let url = convert::rule_page(&settings.rules_base_url, finding.rule);
            parts.push(doc.hover(finding.severity, url.as_ref().map(|u| u.as_str())));
            // The narrowest finding's range is what the client highlights.
            if range.as_ref().is_none_or(|r| finding.range.len() < r.len()) {
                range = Some(finding.range.clone());
            }
        }
        if parts.is_empty() {
            return None;
        }
        Some(Hover {
            contents: HoverContents::Markup(MarkupContent {
                kind: MarkupKind::Markdown,
                value: parts.join("\n---\n\n"),
            }),
            range: range.map(|r| at.range(&r)),
        })
    }

    /// `textDocument/diagnostic`: an open document's diagnostics once its current text is
    /// analysed; a closed file's from the background check.
    async fn pull_document(
        &self,
        params: DocumentDiagnosticParams,
    ) -> RpcResult<DocumentDiagnosticReportResult> {
        let uri = params.text_document.uri;
        let full = |result_id: String, items: Vec<Diagnostic>| {
            DocumentDiagnosticReportResult::Report(DocumentDiagnosticReport::Full(
                RelatedFullDocumentDiagnosticReport {
                    related_documents: None,
                    full_document_diagnostic_report: FullDocumentDiagnosticReport {
                        result_id: Some(result_id),
                        items,
                    },
                },
            ))
        };
        let unchanged = |result_id: String| {
            DocumentDiagnosticReportResult::Report(DocumentDiagnosticReport::Unchanged(
                RelatedUnchangedDocumentDiagnosticReport {
                    related_documents: None,
                    unchanged_document_diagnostic_report: UnchangedDocumentDiagnosticReport {
                        result_id,
                    },
                },
            ))
        };
        match self.analysed_now(&uri, true).await {
            Ok(snapshot) => {
                let epoch = self.docs.get(&uri).map_or(0, |d| d.epoch);
                let result_id = format!("d{epoch}:{}:{}", snapshot.revision, snapshot.generation);
                if let Some(mut doc) = self.docs.get_mut(&uri) {
                    if doc.revision == snapshot.revision {
                        doc.served = Some((snapshot.revision, snapshot.generation));
                    }
                }
                if params.previous_result_id.as_deref() == Some(result_id.as_str()) {
                    return Ok(unchanged(result_id));
                }
                let items = snapshot
                    .diagnostics
                    .map(|d| d.as_ref().clone())
                    .unwrap_or_default();
                Ok(full(result_id, items))
            }
            Err(NotAnalysed::NotOpen) => {
                let report = convert::uri_to_path(&uri).and_then(|p| self.workspace.report(&p));
                let (result_id, items) = match report {
                    Some(report) => (format!("w{}", report.result_id), report.diagnostics.clone()),
                    None => ("none".to_string(), Vec::new()),
                };
                if params.previous_result_id.as_deref() == Some(result_id.as_str()) {
                    return Ok(unchanged(result_id));
                }
                Ok(full(result_id, items))
            }
            Err(NotAnalysed::MovedOn | NotAnalysed::TimedOut) => Err(server_cancelled(
                "goconc has not finished checking this text yet",
            )),
        }
    }

    /// `workspace/diagnostic`: the reports of closed files the client does not have yet (by
    /// result id), or, when it has them all, an answer held back until one changes. Files whose
    /// report is empty are sent only to clear what the client holds; open documents are pulled
    /// one by one.
    async fn pull_workspace(
        &self,
        params: WorkspaceDiagnosticParams,
    ) -> RpcResult<WorkspaceDiagnosticReportResult> {
        let known: HashMap<String, String> = params
            .previous_result_ids
            .into_iter()
            .map(|p| (p.uri.as_str().to_string(), p.value))
            .collect();
        loop {
            let changed = self.reports_changed.notified();
            let mut items = Vec::new();
            let mut reported: HashSet<String> = HashSet::new();
            for (path, report) in self.workspace.reports() {
                if self.open_paths.contains_key(&path) {
                    continue;
                }
                let key = report.uri.as_str().to_string();
                let result_id = format!("w{}", report.result_id);
                let previous = known.get(&key);
                reported.insert(key);
                if previous == Some(&result_id)
                    || (previous.is_none() && report.diagnostics.is_empty())
                {
                    continue;
                }
                items.push(WorkspaceDocumentDiagnosticReport::Full(
                    WorkspaceFullDocumentDiagnosticReport {
                        uri: report.uri.clone(),
                        version: None,
                        full_document_diagnostic_report: FullDocumentDiagnosticReport {
                            result_id: Some(result_id),
                            items: report.diagnostics.clone(),
                        },
                    },
                ));
            }
            // What the client holds of files that have no report (gone, no longer checked,
            // closed without one) is cleared, once.
            for (uri, previous) in &known {
                if reported.contains(uri) || previous == "none" {
                    continue;
                }
                let Ok(parsed) = uri.parse::<Uri>() else {
                    continue;
                };
                let open = convert::uri_to_path(&parsed)
                    .is_some_and(|p| self.open_paths.contains_key(&p))
                    || self.docs.contains_key(&parsed);
                if open {
                    continue;
                }
                items.push(WorkspaceDocumentDiagnosticReport::Full(
                    WorkspaceFullDocumentDiagnosticReport {
                        uri: parsed,
                        version: None,
                        full_document_diagnostic_report: FullDocumentDiagnosticReport {
                            result_id: Some("none".to_string()),
                            items: vec![],
                        },
                    },
                ));
            }
            if !items.is_empty() {
                return Ok(WorkspaceDiagnosticReportResult::Report(
                    WorkspaceDiagnosticReport { items },
                ));
            }
            // Nothing new: hold the answer until something is (the client cancels it when it
            // wants to ask differently).
            changed.await;
        }
    }

    /// Tells a pulling client to ask for its open documents' diagnostics again (once for a
    /// burst of changes).
    fn refresh_pulls(self: &Arc<Self>) {
        if self.refresh_pending.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            inner.refresh_pending.store(false, Ordering::Release);
            if let Err(e) = inner.client.workspace_diagnostic_refresh().await {
                debug!("workspace/diagnostic/refresh: {e}");
            }
        });
    }

    /// `workspace/executeCommand`.
    async fn execute_command(
        self: &Arc<Self>,
        params: ExecuteCommandParams,
    ) -> RpcResult<Option<Value>> {
        match params.command.as_str() {
            crate::commands::FIX_ALL => {
                let uri =
                    crate::commands::fix_all_target(&params.arguments).map_err(invalid_params)?;
                self.fix_all(uri).await.map(Some)
            }
            crate::commands::EXPLAIN => {
                let id =
                    crate::commands::explain_target(&params.arguments).map_err(invalid_params)?;
                self.explain(id).await.map(|page| Some(Value::String(page)))
            }
            other => Err(invalid_params(format!(
                "unknown command `{other}`; goconc knows {}",
                crate::commands::ALL.join(", ")
            ))),
        }
    }

    /// `goconc.fixAll`: the safe fixes of an open document, applied by the client.
    async fn fix_all(&self, uri: Uri) -> RpcResult<Value> {
        let snapshot = match self.analysed_now(&uri, true).await {
            Ok(snapshot) => snapshot,
            Err(NotAnalysed::NotOpen) => {
                return Err(invalid_params(format!(
                    "{}: {} is not open",
                    crate::commands::FIX_ALL,
                    uri.as_str()
                )))
            }
            Err(_) => {
                return Err(server_cancelled(
                    "goconc has not finished checking this text yet",
                ))
            }
        };
        if snapshot.diverged {
            return Err(server_cancelled(
                "goconc's text of this file may differ from the editor's: save it and try again",
            ));
        }
        let (edits, fixes) = actions::fix_all_edits(&snapshot.findings);
        if fixes == 0 {
            return Ok(serde_json::json!({"applied": false, "fixes": 0}));
        }
        if !self.caps().apply_edit {
            return Err(invalid_params(format!(
                "{}: the client cannot apply edits (workspace.applyEdit); use the code action source.fixAll.goconc",
                crate::commands::FIX_ALL
            )));
        }
        let at = Positions::new(&snapshot.text, &snapshot.index, self.encoding());
        let edit = convert::workspace_edit(
            &uri,
            snapshot.version,
            convert::text_edits(&edits, &at),
            self.caps().document_changes,
        );
        match self.client.apply_edit(edit).await {
            Ok(response) => {
                if !response.applied {
                    info!(
                        uri = uri.as_str(),
                        "the client did not apply the fixes: {}",
                        response
                            .failure_reason
                            .as_deref()
                            .unwrap_or("no reason given")
                    );
                }
                Ok(serde_json::json!({"applied": response.applied, "fixes": fixes}))
            }
            Err(e) => Err(invalid_params(format!("workspace/applyEdit failed: {e}"))),
        }
    }

    /// `goconc.explain`: a rule's page, shown in the editor.
    async fn explain(&self, id: &str) -> RpcResult<String> {
        let doc = crate::rule_docs::find(id)
            .ok_or_else(|| invalid_params(crate::rule_docs::unknown_rule(id)))?;
        let page = doc.page();
        if self.caps().show_document {
            let written = {
                let (id, page) = (doc.id, page.clone());
                tokio::task::spawn_blocking(move || crate::commands::write_page(id, &page)).await
            };
            match written {
                Ok(Ok(path)) => {
                    if let Some(uri) = convert::path_to_uri(&path) {
                        let shown = self
                            .client
                            .show_document(ShowDocumentParams {
                                uri,
                                external: Some(false),
                                take_focus: Some(true),
                                selection: None,
                            })
                            .await;
                        match shown {
                            Ok(true) => return Ok(page),
                            Ok(false) => debug!("the client did not show {}", path.display()),
                            Err(e) => debug!("window/showDocument failed: {e}"),
                        }
                    }
                }
                Ok(Err(message)) => warn!("{message}"),
                Err(e) => warn!("writing the rule page failed: {e}"),
            }
        }
        self.client.show_message(MessageType::INFO, &page).await;
        Ok(page)
    }

    /// Tells the client about reports of closed files that changed.
    fn publish_reports(&self, changes: Vec<ReportChange>) {
        if changes.is_empty() {
            return;
        }
        if self.caps().pull {
            self.reports_changed.notify_waiters();
            return;
        }
        for change in changes {
            let diagnostics = change
                .report
                .as_ref()
                .map(|r| r.diagnostics.clone())
                .unwrap_or_default();
            if let Some(frame) =
                notification_frame::<PublishDiagnostics>(&PublishDiagnosticsParams {
                    uri: change.uri.clone(),
                    diagnostics,
                    version: None,
                })
            {
                self.outbox.publish_closed(change.uri.as_str(), frame);
            }
        }
    }

    /// Reports the background check's rounds as `$/progress` (begin, a report at most every
    /// [`PROGRESS_EVERY`], end) when the client supports work-done progress.
    async fn report_progress(self: Arc<Self>) {
        let mut updates = self.progress.subscribe();
        let mut current: Option<(u64, ProgressToken)> = None;
        loop {
            if updates.changed().await.is_err() {
                return;
            }
            let Some(progress) = updates.borrow_and_update().clone() else {
                continue;
            };
            if current
                .as_ref()
                .is_none_or(|(round, _)| *round != progress.round)
            {
                if let Some((_, token)) = current.take() {
                    self.send_progress(
                        token,
                        WorkDoneProgress::End(WorkDoneProgressEnd { message: None }),
                    );
                }
                let token = ProgressToken::String(format!("goconc-workspace-{}", progress.round));
                if self
                    .client
                    .create_work_done_progress(token.clone())
                    .await
                    .is_err()
                {
                    continue;
                }
                self.send_progress(
                    token.clone(),
                    WorkDoneProgress::Begin(WorkDoneProgressBegin {
                        title: "goconc: checking the workspace".to_string(),
                        cancellable: Some(false),
                        message: Some(progress.message()),
                        percentage: Some(progress.percentage()),
                    }),
                );
                current = Some((progress.round, token));
            }
            let Some((_, token)) = current.clone() else {
                continue;
            };
            // The newest state, after a pause: a round of small folders moves in bursts.
            let progress = updates.borrow_and_update().clone().unwrap_or(progress);
            if progress.finished.is_some() {
                self.send_progress(
                    token,
                    WorkDoneProgress::End(WorkDoneProgressEnd {
                        message: Some(progress.message()),
                    }),
                );
                current = None;
                continue;
            }
            self.send_progress(
                token,
                WorkDoneProgress::Report(WorkDoneProgressReport {
                    cancellable: Some(false),
                    message: Some(progress.message()),
                    percentage: Some(progress.percentage()),
                }),
            );
            tokio::time::sleep(PROGRESS_EVERY).await;
        }
    }

    fn send_progress(&self, token: ProgressToken, value: WorkDoneProgress) {
        self.outbox
            .notify::<notification::Progress>(&ProgressParams {
                token,
                value: ProgressParamsValue::WorkDone(value),
            });
    }
}

impl background::Host for Inner {
    fn workspace(&self) -> &Workspace {
        &self.workspace
    }

    fn settings(&self) -> Arc<Settings> {
        Inner::settings(self)
    }

    fn encoding(&self) -> Encoding {
        Inner::encoding(self)
    }

    fn is_open(&self, path: &Path) -> bool {
        self.open_paths.contains_key(path)
    }

    fn reports_changed(&self, changes: Vec<ReportChange>) {
        self.publish_reports(changes);
    }

    fn declarations_changed(&self, dir: &Path) {
        // Open documents are re-analysed by their workers; the runtime was entered by the
        // background thread.
        let uris: Vec<Uri> = self
            .docs
            .iter()
            .filter(|d| d.path.as_deref().and_then(Path::parent) == Some(dir))
            .map(|d| d.key().clone())
            .collect();
        if uris.is_empty() {
            return;
        }
        if let Some(inner) = self.me.upgrade() {
            for uri in uris {
                inner.schedule(&uri);
            }
        }
    }

    fn progress(&self, progress: background::Progress) {
        if self.caps().work_done_progress {
            self.progress.send_replace(Some(progress));
        }
    }
}

impl LanguageServer for Server {
    async fn initialize(&self, params: InitializeParams) -> RpcResult<InitializeResult> {
        let caps = &params.capabilities;
        let offered = caps
            .general
            .as_ref()
            .and_then(|g| g.position_encodings.as_deref());
        let (encoding, kind) = convert::negotiate_encoding(offered);
        let _ = self.0.encoding.set(encoding);
        if let Some(options) = &params.initialization_options {
            let (settings, problems) = Settings::from_json(options);
            crate::logging::set_level(settings.log_level.as_deref());
            for p in problems {
                warn!("{p}");
            }
            *self.0.settings.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(settings);
        }
        let workspace = caps.workspace.as_ref();
        let window = caps.window.as_ref();
        let pulls_documents = caps
            .text_document
            .as_ref()
            .is_some_and(|t| t.diagnostic.is_some());
        let can_refresh = workspace
            .and_then(|w| w.diagnostics.as_ref())
            .and_then(|d| d.refresh_support)
            .unwrap_or(false);
        let client_caps = ClientCaps {
            configuration: workspace.and_then(|w| w.configuration).unwrap_or(false),
            document_changes: workspace
                .and_then(|w| w.workspace_edit.as_ref())
                .and_then(|e| e.document_changes)
                .unwrap_or(false),
            watch_dynamic: workspace
                .and_then(|w| w.did_change_watched_files.as_ref())
                .and_then(|w| w.dynamic_registration)
                .unwrap_or(false),
            // A client that pulls but cannot be told to pull again would miss what a sibling's
            // change does to its open documents: it is pushed to.
            pull: pulls_documents && can_refresh && self.0.settings().pull_diagnostics,
            work_done_progress: window.and_then(|w| w.work_done_progress).unwrap_or(false),
            show_document: window
                .and_then(|w| w.show_document.as_ref())
                .is_some_and(|d| d.support),
            apply_edit: workspace.and_then(|w| w.apply_edit).unwrap_or(false),
        };
        let _ = self.0.caps.set(client_caps);
        let mut roots: Vec<PathBuf> = params
            .workspace_folders
            .iter()
            .flatten()
            .filter_map(|f| convert::uri_to_path(&f.uri))
            .collect();
        #[allow(deprecated)]
        if roots.is_empty() {
            roots.extend(params.root_uri.as_ref().and_then(convert::uri_to_path));
        }
        let _ = self.0.roots.set(roots);
        info!(
            encoding = kind.as_str(),
            diagnostics = if client_caps.pull { "pull" } else { "push" },
            "initialize"
        );
        Ok(InitializeResult {
            capabilities: ServerCapabilities {
                position_encoding: Some(kind),
                text_document_sync: Some(TextDocumentSyncCapability::Options(
                    TextDocumentSyncOptions {
                        open_close: Some(true),
                        change: Some(TextDocumentSyncKind::INCREMENTAL),
                        save: Some(TextDocumentSyncSaveOptions::SaveOptions(SaveOptions {
                            include_text: Some(false),
                        })),
                        ..TextDocumentSyncOptions::default()
                    },
                )),
                code_action_provider: Some(CodeActionProviderCapability::Options(
                    CodeActionOptions {
                        code_action_kinds: Some(vec![
                            CodeActionKind::QUICKFIX,
                            CodeActionKind::from(actions::FIX_ALL_KIND),
                        ]),
                        resolve_provider: Some(false),
                        ..CodeActionOptions::default()
                    },
                )),
                hover_provider: Some(HoverProviderCapability::Simple(true)),
                execute_command_provider: Some(ExecuteCommandOptions {
                    commands: crate::commands::ALL.iter().map(|c| c.to_string()).collect(),
                    ..ExecuteCommandOptions::default()
                }),
                diagnostic_provider: client_caps.pull.then(|| {
                    DiagnosticServerCapabilities::Options(DiagnosticOptions {
                        identifier: Some("goconc".to_string()),
                        inter_file_dependencies: true,
                        workspace_diagnostics: true,
                        work_done_progress_options: WorkDoneProgressOptions::default(),
                    })
                }),
                ..ServerCapabilities::default()
            },
            server_info: Some(ServerInfo {
                name: "goconc".to_string(),
                version: Some(env!("CARGO_PKG_VERSION").to_string()),
            }),
            offset_encoding: None,
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        let inner = &self.0;
        let mut watching = false;
        if inner.caps().watch_dynamic {
            let mut watchers: Vec<FileSystemWatcher> = ["**/*.go", "**/go.mod", "**/goconc.toml"]
                .into_iter()
                .map(|glob| FileSystemWatcher {
                    glob_pattern: GlobPattern::String(glob.to_string()),
                    kind: None,
                })
                .collect();
            // A folder deleted, moved or copied in comes as one event for the folder (VS Code
            // drops its files' events): the background check must hear of it.
            watchers.push(FileSystemWatcher {
                glob_pattern: GlobPattern::String("**/*".to_string()),
                kind: Some(WatchKind::Create | WatchKind::Delete),
            });
            let registration = Registration {
                id: "goconc-watch-go-files".to_string(),
                method: "workspace/didChangeWatchedFiles".to_string(),
                register_options: serde_json::to_value(DidChangeWatchedFilesRegistrationOptions {
                    watchers,
                })
                .ok(),
            };
            match inner.client.register_capability(vec![registration]).await {
                Ok(()) => watching = true,
                Err(e) => warn!("could not register the file watcher: {e}"),
            }
        }
        if let Some(value) = inner.pull_configuration().await {
            inner.apply_settings(&value).await;
        }
        // The background check starts once the settings are known.
        tokio::spawn(inner.clone().report_progress());
        let roots = inner.roots.get().cloned().unwrap_or_default();
        if roots.is_empty() {
            info!("no workspace folder: only open files are checked");
        }
        let host: Weak<dyn background::Host> = Arc::downgrade(inner) as Weak<dyn background::Host>;
        inner.background.start(
            host,
            tokio::runtime::Handle::current(),
            roots,
            inner.settings().workspace_diagnostics,
        );
        if !watching {
            // Without a watcher, files changed outside the editor are found by looking.
            let background = inner.background.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(rescan_every());
                every.tick().await;
                loop {
                    every.tick().await;
                    background.rescan();
                }
            });
        }
    }

    async fn shutdown(&self) -> RpcResult<()> {
        self.0.background.stop();
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let inner = &self.0;
        let doc = params.text_document;
        let epoch = inner.epochs.fetch_add(1, Ordering::Relaxed);
        let path = convert::uri_to_path(&doc.uri);
        if let Some(path) = &path {
            inner.open_paths.insert(path.clone(), doc.uri.clone());
            // The background check's report of the file on disk gives way to the buffer's.
            if let Some(ours) = convert::path_to_uri(path).filter(|u| *u != doc.uri) {
                inner.outbox.claim(ours.as_str());
                if inner
                    .workspace
                    .report(path)
                    .is_some_and(|r| !r.diagnostics.is_empty())
                    && !inner.caps().pull
                {
                    if let Some(frame) =
                        notification_frame::<PublishDiagnostics>(&PublishDiagnosticsParams {
                            uri: ours.clone(),
                            diagnostics: vec![],
                            version: None,
                        })
                    {
                        inner.outbox.publish(ours.as_str(), frame);
                    }
                }
            }
        }
        inner.outbox.claim(doc.uri.as_str());
        let index = Arc::new(LineIndex::new_lsp(&doc.text));
        // Parsed by the document's worker, not here: a large or slow file holds up no other.
        inner.docs.insert(
            doc.uri.clone(),
            Document {
                epoch,
                version: doc.version,
                revision: 0,
                path,
                nuls: count_nuls(&doc.text),
                text: Arc::new(doc.text),
                index,
                pending: Pending::Whole,
                parsed: None,
                analysed: None,
                decls: None,
                incremental: Arc::default(),
                working: false,
                wanted: true,
                diverged: false,
                last_changes: None,
                served: None,
            },
        );
        inner.schedule(&doc.uri);
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        self.0.apply_changes(params);
    }

    async fn did_save(&self, params: DidSaveTextDocumentParams) {
        let inner = &self.0;
        let uri = params.text_document.uri;
        let Some(path) = convert::uri_to_path(&uri) else {
            inner.schedule(&uri);
            return;
        };
        let out_of_step = inner
            .docs
            .get(&uri)
            .filter(|d| d.diverged)
            .map(|d| d.revision);
        if let Some(revision) = out_of_step {
            // First, so the re-checks the save starts below see the saved text.
            let file = path.clone();
            if let Ok(Ok(text)) =
                tokio::task::spawn_blocking(move || std::fs::read_to_string(file)).await
            {
                inner.resync_from_disk(&uri, revision, text);
            }
        }
        let inner2 = inner.clone();
        // Reading files is blocking work.
        let _ = tokio::task::spawn_blocking(move || inner2.file_changed_on_disk(&path)).await;
        inner.schedule(&uri);
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        let inner = &self.0;
        let uri = params.text_document.uri;
        let Some((_, doc)) = inner.docs.remove(&uri) else {
            warn!(
                uri = uri.as_str(),
                "didClose for a document that is not open"
            );
            return;
        };
        inner.outbox.release(uri.as_str());
        // What the file on disk has, when the background check covers it and read this text
        // of it; else nothing until it is checked again.
        let mut on_disk = Vec::new();
        if let Some(path) = &doc.path {
            inner.open_paths.remove(path);
            if let Some(ours) = convert::path_to_uri(path) {
                inner.outbox.release(ours.as_str());
            }
            if inner.background.covers(path) {
                let stamp = std::fs::metadata(path)
                    .ok()
                    .map(|m| (m.modified().ok(), m.len()));
                match inner.workspace.report(path) {
                    Some(report)
                        if report.uri == uri && stamp == Some((report.modified, report.len)) =>
                    {
                        on_disk = report.diagnostics.clone();
                    }
                    // Told nothing now, the check's report will be news.
                    Some(_) => inner.workspace.forget_report(path),
                    None => {}
                }
            }
        }
        if let Some(path) = doc.path {
            let inner2 = inner.clone();
            tokio::spawn(async move {
                let i = inner2.clone();
                let p = path.clone();
                if let Ok(true) = tokio::task::spawn_blocking(move || i.workspace.close(&p)).await {
                    if let Some(dir) = path.parent() {
                        inner2.reanalyse_dir(dir, None);
                    }
                }
                if let Some(dir) = path.parent() {
                    inner2.background.recheck(dir, true);
                }
            });
        }
        if inner.caps().pull {
            // The client pulls the closed file's diagnostics from the workspace report now.
            inner.reports_changed.notify_waiters();
            return;
        }
        // After the removal: a worker that finishes now finds no document and publishes nothing.
        if let Some(publication) =
            notification_frame::<PublishDiagnostics>(&PublishDiagnosticsParams {
                uri: uri.clone(),
                diagnostics: on_disk,
                version: None,
            })
        {
            inner.outbox.publish(uri.as_str(), publication);
        }
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        let inner = &self.0;
        let value = match inner.pull_configuration().await {
            Some(v) => v,
            None => params.settings,
        };
        inner.apply_settings(&value).await;
    }

    async fn did_change_watched_files(&self, params: DidChangeWatchedFilesParams) {
        let inner = self.0.clone();
        let paths: Vec<PathBuf> = params
            .changes
            .iter()
            .filter_map(|c| convert::uri_to_path(&c.uri))
            .collect();
        let _ = tokio::task::spawn_blocking(move || {
            for path in paths {
                inner.file_changed_on_disk(&path);
            }
        })
        .await;
    }

    async fn code_action(&self, params: CodeActionParams) -> RpcResult<Option<CodeActionResponse>> {
        let actions = self.0.code_actions(params).await;
        Ok(Some(actions))
    }

    async fn hover(&self, params: HoverParams) -> RpcResult<Option<Hover>> {
        Ok(self.0.hover(params).await)
    }

    async fn diagnostic(
        &self,
        params: DocumentDiagnosticParams,
    ) -> RpcResult<DocumentDiagnosticReportResult> {
        self.0.pull_document(params).await
    }

    async fn workspace_diagnostic(
        &self,
        params: WorkspaceDiagnosticParams,
    ) -> RpcResult<WorkspaceDiagnosticReportResult> {
        self.0.pull_workspace(params).await
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> RpcResult<Option<Value>> {
        self.0.execute_command(params).await
    }
}
