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

use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
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
use crate::convert::{self, Positions};
use crate::settings::Settings;
use crate::transport::{notification_frame, Outbox};
use crate::workspace::Workspace;

/// Edits kept for the worker before it compares whole texts instead.
const MAX_PENDING_EDITS: usize = 256;
const MAX_PENDING_BYTES: usize = 1024 * 1024;

/// Waiting edits whose span in the old text is at most this long are reparsed as one edit.
const MERGE_EDITS_WITHIN: usize = 64 * 1024;

/// How long a code action request waits for the analysis of the text it was asked about.
const CODE_ACTION_WAIT: Duration = Duration::from_secs(30);

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
    findings: Arc<Vec<Finding>>,
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
}

/// What the client can do, from `initialize`.
#[derive(Debug, Default, Clone, Copy)]
struct ClientCaps {
    configuration: bool,
    document_changes: bool,
    watch_dynamic: bool,
}

pub struct Inner {
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
}

#[derive(Clone)]
pub struct Server(pub(crate) Arc<Inner>);

impl Server {
    pub fn new(client: Client, outbox: Outbox) -> Server {
        Server(Arc::new(Inner {
            client,
            outbox,
            docs: DashMap::new(),
            analysed: Notify::new(),
            settings: RwLock::new(Arc::new(Settings::default())),
            encoding: OnceLock::new(),
            caps: OnceLock::new(),
            workspace: Workspace::default(),
            epochs: AtomicU64::new(1),
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
    /// The framed `publishDiagnostics`.
    publication: Option<Vec<u8>>,
    decls: Arc<FileDecls>,
    decls_changed: bool,
}

enum Outcome {
    Analysed(Analysis),
    /// The text holds NUL bytes: one diagnostic says it is not checked.
    NotGo(Option<Vec<u8>>),
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
            let publication = text.map(|text| {
                let first = text.bytes().position(|b| b == 0).unwrap_or(0);
                let at = Positions::new(&text, &info.index, info.encoding);
                let diagnostic = convert::not_go_source(&at, first, nuls);
                debug!(
                    uri = info.uri.as_str(),
                    nuls, "not parsed: the text holds NUL bytes"
                );
                self.publication(&info, vec![diagnostic])
            });
            return Done {
                source: None,
                outcome: Outcome::NotGo(publication.flatten()),
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

    fn publication(&self, info: &JobInfo, diagnostics: Vec<Diagnostic>) -> Option<Vec<u8>> {
        notification_frame::<PublishDiagnostics>(&PublishDiagnosticsParams {
            uri: info.uri.clone(),
            diagnostics,
            version: Some(info.version),
        })
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
            let context = self.workspace.file_context(path);
            let skip = if context.module.is_none() && !settings.run_outside_module {
                Some("outside a module (runOutsideModule is off)")
            } else if context.excluded(path) {
                Some("excluded by goconc.toml")
            } else {
                None
            };
            if let Some(reason) = skip {
                debug!(uri = info.uri.as_str(), "not checked: {reason}");
                let decls = catch_unwind(AssertUnwindSafe(|| {
                    FileDecls::collect(source.tree().root_node(), source.text())
                }))
                .unwrap_or_default();
                return Analysis {
                    findings: Arc::default(),
                    publication: self.publication(info, vec![]),
                    decls: Arc::new(decls),
                    decls_changed: false,
                };
            }
            options.module_go_version = context.module.and_then(|m| m.go_version);
            options.is_test_file = path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().ends_with("_test.go"));
            if let Some(found) = &context.toml {
                match &found.config {
                    // The client's settings win over goconc.toml.
                    Ok(config) => options.config = config.merged_with(&settings.config),
                    Err(message) => warn!("{message}"),
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
            publication: self.publication(info, diagnostics),
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
                let (analysed, publication, decls_changed) = match done.outcome {
                    Outcome::Analysed(a) => {
                        doc.decls = Some(a.decls);
                        (Some(a.findings), a.publication, a.decls_changed)
                    }
                    Outcome::NotGo(publication) => (Some(Arc::default()), publication, false),
                    Outcome::Superseded => (None, None, false),
                    Outcome::TreeLost { retry } => {
                        doc.wanted |= retry;
                        (None, None, false)
                    }
                };
                match analysed {
                    Some(findings) if current => {
                        doc.analysed = Some(Analysed { revision, findings });
                        // Queued under the guard: a close that removes the document queues its
                        // empty diagnostics after these, never before.
                        if let Some(publication) = publication {
                            self.outbox.publish(uri.as_str(), publication);
                        }
                        trace!(uri = uri.as_str(), version = doc.version, "published");
                        self.analysed.notify_waiters();
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

    /// Applies new settings and re-checks every open document.
    async fn apply_settings(self: &Arc<Self>, value: &Value) {
        let (settings, problems) = Settings::from_json(value);
        crate::logging::set_level(settings.log_level.as_deref());
        info!(
            "settings: {} rule severities set, go version {:?}",
            settings.config.severities.len(),
            settings.config.go_version
        );
        *self.settings.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(settings);
        self.reanalyse_all();
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
            return;
        }
        if !name.ends_with(".go") {
            return;
        }
        if self.workspace.refresh_file(path) {
            if let Some(dir) = path.parent() {
                self.reanalyse_dir(dir, None);
            }
        }
    }
}

impl Inner {
    /// Code actions for a document, from the findings of the text it was asked about (waiting
    /// for its analysis when that is still running).
    async fn code_actions(self: &Arc<Self>, params: CodeActionParams) -> Vec<CodeActionOrCommand> {
        let uri = params.text_document.uri.clone();
        let settings = self.settings();
        let build = |doc: &Document, findings: &[Finding]| {
            let at = Positions::new(&doc.text, &doc.index, self.encoding());
            let req = actions::Request {
                uri: &uri,
                version: doc.version,
                range: at.byte_range(params.range),
                only: params.context.only.clone(),
                document_changes: self.caps().document_changes,
                rules_base_url: &settings.rules_base_url,
            };
            actions::code_actions(findings, &at, &req)
        };
        let Some(asked) = self.docs.get(&uri).map(|d| d.revision) else {
            return vec![];
        };
        let deadline = tokio::time::Instant::now() + CODE_ACTION_WAIT;
        loop {
            // Created before looking, so a publication in between still wakes it.
            let analysed = self.analysed.notified();
            {
                let Some(doc) = self.docs.get(&uri) else {
                    return vec![];
                };
                if doc.revision != asked {
                    return vec![]; // the text moved on meanwhile; the client asks again
                }
                if doc.diverged {
                    debug!(
                        uri = uri.as_str(),
                        "no code actions: the text may differ from the editor's"
                    );
                    return vec![];
                }
                if let Some(a) = doc.analysed.as_ref().filter(|a| a.revision == asked) {
                    let findings = a.findings.clone();
                    return build(&doc, &findings);
                }
            }
            if tokio::time::timeout_at(deadline, analysed).await.is_err() {
                warn!(
                    uri = uri.as_str(),
                    "no code actions: the analysis took longer than {CODE_ACTION_WAIT:?}"
                );
                return vec![];
            }
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
        let workspace = caps.workspace.as_ref();
        let _ = self.0.caps.set(ClientCaps {
            configuration: workspace.and_then(|w| w.configuration).unwrap_or(false),
            document_changes: workspace
                .and_then(|w| w.workspace_edit.as_ref())
                .and_then(|e| e.document_changes)
                .unwrap_or(false),
            watch_dynamic: workspace
                .and_then(|w| w.did_change_watched_files.as_ref())
                .and_then(|w| w.dynamic_registration)
                .unwrap_or(false),
        });
        if let Some(options) = &params.initialization_options {
            let (settings, problems) = Settings::from_json(options);
            crate::logging::set_level(settings.log_level.as_deref());
            for p in problems {
                warn!("{p}");
            }
            *self.0.settings.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(settings);
        }
        info!(encoding = kind.as_str(), "initialize");
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
        if inner.caps().watch_dynamic {
            let watchers = ["**/*.go", "**/go.mod", "**/goconc.toml"]
                .into_iter()
                .map(|glob| FileSystemWatcher {
                    glob_pattern: GlobPattern::String(glob.to_string()),
                    kind: None,
                })
                .collect();
            let registration = Registration {
                id: "goconc-watch-go-files".to_string(),
                method: "workspace/didChangeWatchedFiles".to_string(),
                register_options: serde_json::to_value(DidChangeWatchedFilesRegistrationOptions {
                    watchers,
                })
                .ok(),
            };
            if let Err(e) = inner.client.register_capability(vec![registration]).await {
                warn!("could not register the file watcher: {e}");
            }
        }
        if let Some(value) = inner.pull_configuration().await {
            inner.apply_settings(&value).await;
        }
    }

    async fn shutdown(&self) -> RpcResult<()> {
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let inner = &self.0;
        let doc = params.text_document;
        let epoch = inner.epochs.fetch_add(1, Ordering::Relaxed);
        let path = convert::uri_to_path(&doc.uri);
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
            });
        }
        // After the removal: a worker that finishes now finds no document and publishes nothing.
        if let Some(publication) =
            notification_frame::<PublishDiagnostics>(&PublishDiagnosticsParams {
                uri: uri.clone(),
                diagnostics: vec![],
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
}
