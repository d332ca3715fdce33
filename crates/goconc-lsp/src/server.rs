//! The language server proper: open documents, the analysis scheduler, and the LSP handlers.
//!
//! Ordering: tower-lsp-server polls handlers concurrently, so every handler that changes a
//! document does so synchronously before its first `.await`, and never holds a `DashMap` guard
//! across an `.await`. Analysis runs on blocking threads, at most one per document at a time;
//! edits that arrive meanwhile mark the document for one more run on the newest text. Results are
//! published only if the document is still at the analysed version.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use dashmap::DashMap;
use goconc_analysis::{
    Encoding, FileDecls, FileOptions, Finding, IncrementalFile, LineIndex, PackageModel, SourceFile,
};
use serde_json::Value;
use tower_lsp_server::jsonrpc::Result as RpcResult;
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer};
use tracing::{debug, error, info, trace, warn};

use crate::actions;
use crate::convert::{self, Positions};
use crate::settings::Settings;
use crate::transport::Outbox;
use crate::workspace::Workspace;

/// Texts larger than this are parsed on a blocking thread when opened (a 5 MB file takes most of
/// a second), so other documents are not held up meanwhile.
const PARSE_OFF_THREAD: usize = 256 * 1024;

enum Text {
    Ready {
        source: Arc<SourceFile>,
    },
    /// Being parsed for the first time; edits are applied to the plain text meanwhile.
    Parsing {
        text: String,
    },
}

impl Text {
    fn as_str(&self) -> &str {
        match self {
            Text::Ready { source } => source.text(),
            Text::Parsing { text } => text,
        }
    }
}

/// The findings of one version.
struct Analysed {
    version: i32,
    findings: Arc<Vec<Finding>>,
}

pub struct Document {
    /// Distinguishes this opening of the URI from an earlier one.
    epoch: u64,
    version: i32,
    path: Option<PathBuf>,
    text: Text,
    /// The line index of exactly the current text (built once per version).
    index: Arc<LineIndex>,
    analysed: Option<Analysed>,
    /// This file's declarations at its last analysis.
    decls: Option<Arc<FileDecls>>,
    /// What the engine keeps between analyses of this opening of the document.
    incremental: Arc<std::sync::Mutex<IncrementalFile>>,
    running: bool,
    again: bool,
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
    /// Where diagnostics are published (see [`Outbox`]).
    outbox: Outbox,
    docs: DashMap<Uri, Document>,
    /// Serialises publishing per URI, so a close's empty publish is never overtaken.
    publish_locks: DashMap<Uri, Arc<tokio::sync::Mutex<()>>>,
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
            publish_locks: DashMap::new(),
            settings: RwLock::new(Arc::new(Settings::default())),
            encoding: OnceLock::new(),
            caps: OnceLock::new(),
            workspace: Workspace::default(),
            epochs: AtomicU64::new(1),
        }))
    }
}

/// A copy of what an analysis needs, taken under a short guard.
struct Snapshot {
    uri: Uri,
    version: i32,
    path: Option<PathBuf>,
    source: Arc<SourceFile>,
    index: Arc<LineIndex>,
    settings: Arc<Settings>,
    encoding: Encoding,
    incremental: Arc<std::sync::Mutex<IncrementalFile>>,
}

struct Result_ {
    findings: Arc<Vec<Finding>>,
    diagnostics: Vec<Diagnostic>,
    decls: Arc<FileDecls>,
    decls_changed: bool,
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

    fn snapshot(&self, uri: &Uri, doc: &Document) -> Option<Snapshot> {
        let Text::Ready { source } = &doc.text else {
            return None;
        };
        Some(Snapshot {
            uri: uri.clone(),
            version: doc.version,
            path: doc.path.clone(),
            source: source.clone(),
            index: doc.index.clone(),
            settings: self.settings(),
            encoding: self.encoding(),
            incremental: doc.incremental.clone(),
        })
    }

    /// Analyses a snapshot, reusing what the document's incremental analysis kept of the
    /// functions the edits did not touch. Blocking: run it on a blocking thread.
    fn analyse(&self, snap: &Snapshot) -> Result_ {
        let source = &snap.source;
        let settings = &snap.settings;
        let mut options = FileOptions {
            config: settings.config.clone(),
            ..FileOptions::default()
        };
        if let Some(path) = &snap.path {
            let context = self.workspace.file_context(path);
            let skip = if context.module.is_none() && !settings.run_outside_module {
                Some("outside a module (runOutsideModule is off)")
            } else if context.excluded(path) {
                Some("excluded by goconc.toml")
            } else {
                None
            };
            if let Some(reason) = skip {
                debug!(uri = snap.uri.as_str(), "not checked: {reason}");
                let decls = catch_unwind(AssertUnwindSafe(|| {
                    FileDecls::collect(source.tree().root_node(), source.text())
                }))
                .unwrap_or_default();
                return Result_ {
                    findings: Arc::default(),
                    diagnostics: vec![],
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
        let mut package_time = std::time::Duration::ZERO;
        let mut incremental = snap
            .incremental
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            incremental.analyze(source, &options, |decls, facts| match &snap.path {
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
                    uri = snap.uri.as_str(),
                    version = snap.version,
                    functions = reuse.functions,
                    analysed = reuse.analysed,
                    "analysed in {:.1} ms (package model {:.1} ms)",
                    started.elapsed().as_secs_f64() * 1000.0,
                    package_time.as_secs_f64() * 1000.0
                );
                for skipped in incremental.untold_too_deep(source.text(), &outcome) {
                    let before = source.text().get(..skipped.start).unwrap_or("");
                    warn!(
                        uri = snap.uri.as_str(),
                        "not checked: the declaration on line {} nests brackets deeper than {} \
                         levels (generated code?), too deep to analyse safely",
                        1 + before.matches('\n').count(),
                        goconc_analysis::MAX_NESTING
                    );
                }
                if !outcome.failed_rules.is_empty() {
                    error!(
                        uri = snap.uri.as_str(),
                        version = snap.version,
                        "goconc bug: rules failed and were skipped: {}",
                        outcome.failed_rules.join(", ")
                    );
                }
                (decls, outcome.findings)
            }
            Err(_) => {
                error!(
                    uri = snap.uri.as_str(),
                    version = snap.version,
                    "goconc bug: the analysis panicked; no findings for this version"
                );
                // What was kept may be half updated: start again next time.
                *incremental = IncrementalFile::new();
                (Arc::default(), Vec::new())
            }
        };
        drop(incremental);
        let at = Positions::new(source.text(), &snap.index, snap.encoding);
        let diagnostics = findings
            .iter()
            .map(|f| convert::diagnostic(f, &snap.uri, &at, &settings.rules_base_url))
            .collect();
        Result_ {
            findings: Arc::new(findings),
            diagnostics,
            decls,
            decls_changed,
        }
    }

    fn publish_diagnostics(&self, uri: Uri, diagnostics: Vec<Diagnostic>, version: Option<i32>) {
        use tower_lsp_server::ls_types::notification::PublishDiagnostics;
        self.outbox
            .notify::<PublishDiagnostics>(&PublishDiagnosticsParams {
                uri,
                diagnostics,
                version,
            });
    }

    fn publish_lock(&self, uri: &Uri) -> Arc<tokio::sync::Mutex<()>> {
        self.publish_locks.entry(uri.clone()).or_default().clone()
    }

    /// Asks for an analysis of the document's current text. Never blocks, never awaits.
    fn schedule(self: &Arc<Self>, uri: &Uri) {
        let epoch = {
            let Some(mut doc) = self.docs.get_mut(uri) else {
                return;
            };
            if !matches!(doc.text, Text::Ready { .. }) {
                return; // the parse in progress schedules when done
            }
            if doc.running {
                doc.again = true;
                return;
            }
            doc.running = true;
            doc.epoch
        };
        let inner = self.clone();
        let uri = uri.clone();
        tokio::spawn(async move { inner.analysis_loop(uri, epoch).await });
    }

    async fn analysis_loop(self: Arc<Self>, uri: Uri, epoch: u64) {
        loop {
            let snap = {
                let Some(mut doc) = self.docs.get_mut(&uri) else {
                    return;
                };
                if doc.epoch != epoch {
                    return;
                }
                doc.again = false;
                match self.snapshot(&uri, &doc) {
                    Some(s) => s,
                    None => {
                        doc.running = false;
                        return;
                    }
                }
            };
            let inner = self.clone();
            let joined = tokio::task::spawn_blocking(move || {
                let result = inner.analyse(&snap);
                (snap.version, snap.path, result)
            })
            .await;
            match joined {
                Ok((version, path, result)) => {
                    self.publish(&uri, epoch, version, path.as_deref(), result)
                        .await
                }
                Err(e) => error!(
                    uri = uri.as_str(),
                    "goconc bug: the analysis task failed: {e}"
                ),
            }
            let Some(mut doc) = self.docs.get_mut(&uri) else {
                return;
            };
            if doc.epoch != epoch {
                return;
            }
            if !doc.again {
                doc.running = false;
                return;
            }
        }
    }

    async fn publish(
        self: &Arc<Self>,
        uri: &Uri,
        epoch: u64,
        version: i32,
        path: Option<&Path>,
        result: Result_,
    ) {
        let lock = self.publish_lock(uri);
        let _guard = lock.lock().await;
        {
            let Some(mut doc) = self.docs.get_mut(uri) else {
                return;
            };
            if doc.epoch != epoch || doc.version != version {
                debug!(
                    uri = uri.as_str(),
                    version,
                    current = doc.version,
                    "dropping results of an old version"
                );
                return;
            }
            doc.analysed = Some(Analysed {
                version,
                findings: result.findings,
            });
            doc.decls = Some(result.decls);
        }
        self.publish_diagnostics(uri.clone(), result.diagnostics, Some(version));
        trace!(uri = uri.as_str(), version, "published");
        if result.decls_changed {
            if let Some(dir) = path.and_then(Path::parent) {
                self.reanalyse_dir(dir, Some(uri));
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

    /// Applies the changes of one notification in order. Synchronous on purpose (see module doc).
    fn apply_changes(self: &Arc<Self>, params: DidChangeTextDocumentParams) {
        let uri = params.text_document.uri;
        let version = params.text_document.version;
        let encoding = self.encoding();
        let mut start_parse = None;
        {
            let Some(mut doc) = self.docs.get_mut(&uri) else {
                warn!(
                    uri = uri.as_str(),
                    version, "didChange for a document that is not open: ignored"
                );
                return;
            };
            if version <= doc.version {
                warn!(
                    uri = uri.as_str(),
                    version,
                    current = doc.version,
                    "didChange with a stale version: dropped"
                );
                return;
            }
            let doc = &mut *doc;
            for change in params.content_changes {
                match change.range {
                    None => {
                        doc.index = Arc::new(LineIndex::new(&change.text));
                        if change.text.len() > PARSE_OFF_THREAD {
                            doc.text = Text::Parsing { text: change.text };
                        } else {
                            match &mut doc.text {
                                Text::Ready { source } => {
                                    Arc::make_mut(source).replace_all(change.text)
                                }
                                Text::Parsing { text } => *text = change.text,
                            }
                        }
                    }
                    Some(range) => {
                        let bytes = Positions::new(doc.text.as_str(), &doc.index, encoding)
                            .byte_range(range);
                        let applied = match &mut doc.text {
                            Text::Ready { source } => {
                                match Arc::make_mut(source).edit(bytes.clone(), &change.text) {
                                    Ok(()) => true,
                                    Err(e) => {
                                        error!(
                                            uri = uri.as_str(),
                                            "goconc bug: edit not applied: {e}"
                                        );
                                        false
                                    }
                                }
                            }
                            Text::Parsing { text } => {
                                text.replace_range(bytes.clone(), &change.text);
                                true
                            }
                        };
                        // The line index follows the edit (a 4 MB text is not rescanned); a
                        // refused edit changed no text, so the index still holds.
                        if applied {
                            Arc::make_mut(&mut doc.index).edit(bytes, &change.text);
                        }
                    }
                }
            }
            doc.version = version;
            if matches!(doc.text, Text::Parsing { .. }) {
                start_parse = Some(doc.epoch);
            }
        }
        trace!(uri = uri.as_str(), version, "change applied");
        match start_parse {
            Some(epoch) => self.parse_off_thread(uri, epoch),
            None => self.schedule(&uri),
        }
    }

    /// Parses a large text on a blocking thread, then installs the tree if the text did not change
    /// meanwhile (else parses again), and schedules the analysis.
    fn parse_off_thread(self: &Arc<Self>, uri: Uri, epoch: u64) {
        let inner = self.clone();
        tokio::spawn(async move {
            loop {
                let (text, version) = {
                    let Some(doc) = inner.docs.get(&uri) else {
                        return;
                    };
                    match &doc.text {
                        Text::Parsing { text } if doc.epoch == epoch => (text.clone(), doc.version),
                        _ => return,
                    }
                };
                let Ok(source) = tokio::task::spawn_blocking(move || SourceFile::new(text)).await
                else {
                    error!(uri = uri.as_str(), "goconc bug: parsing failed");
                    return;
                };
                {
                    let Some(mut doc) = inner.docs.get_mut(&uri) else {
                        return;
                    };
                    if doc.epoch != epoch || !matches!(doc.text, Text::Parsing { .. }) {
                        return;
                    }
                    if doc.version != version {
                        continue;
                    }
                    doc.text = Text::Ready {
                        source: Arc::new(source),
                    };
                }
                inner.schedule(&uri);
                return;
            }
        });
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
    /// Code actions for a document, from the findings of its current version (analysed now if
    /// the last results are older).
    async fn code_actions(self: &Arc<Self>, params: CodeActionParams) -> Vec<CodeActionOrCommand> {
        let uri = params.text_document.uri;
        let settings = self.settings();
        let build = |doc: &Document, findings: &[Finding]| {
            let at = Positions::new(doc.text.as_str(), &doc.index, self.encoding());
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
        let snap = {
            let Some(doc) = self.docs.get(&uri) else {
                return vec![];
            };
            if let Some(a) = doc.analysed.as_ref().filter(|a| a.version == doc.version) {
                let findings = a.findings.clone();
                return build(&doc, &findings);
            }
            let Some(snap) = self.snapshot(&uri, &doc) else {
                return vec![];
            };
            snap
        };
        let inner = self.clone();
        let Ok((version, result)) =
            tokio::task::spawn_blocking(move || (snap.version, inner.analyse(&snap))).await
        else {
            return vec![];
        };
        let Some(doc) = self.docs.get(&uri) else {
            return vec![];
        };
        if doc.version != version {
            return vec![]; // the text moved on meanwhile; the client asks again
        }
        build(&doc, &result.findings)
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
        let index = Arc::new(LineIndex::new(&doc.text));
        let big = doc.text.len() > PARSE_OFF_THREAD;
        let text = if big {
            Text::Parsing { text: doc.text }
        } else {
            Text::Ready {
                source: Arc::new(SourceFile::new(doc.text)),
            }
        };
        inner.docs.insert(
            doc.uri.clone(),
            Document {
                epoch,
                version: doc.version,
                path,
                text,
                index,
                analysed: None,
                decls: None,
                incremental: Arc::default(),
                running: false,
                again: false,
            },
        );
        if big {
            inner.parse_off_thread(doc.uri, epoch);
        } else {
            inner.schedule(&doc.uri);
        }
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        self.0.apply_changes(params);
    }

    async fn did_save(&self, params: DidSaveTextDocumentParams) {
        let inner = &self.0;
        if let Some(path) = convert::uri_to_path(&params.text_document.uri) {
            let inner = inner.clone();
            // Reading the file is blocking work.
            let _ = tokio::task::spawn_blocking(move || inner.file_changed_on_disk(&path)).await;
        }
        inner.schedule(&params.text_document.uri);
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
        let lock = inner.publish_lock(&uri);
        let _guard = lock.lock().await;
        inner.publish_diagnostics(uri, vec![], None);
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
