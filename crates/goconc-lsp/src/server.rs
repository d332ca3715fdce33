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

mod edits;
mod requests;
mod worker;

use edits::*;

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
