//! Requests about a document's findings (code actions, hover, pulled diagnostics, commands)
//! and the reports and progress of the background check.

use super::*;

/// A document's text and the findings of exactly that text.
pub(super) struct Snapshot {
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
pub(super) enum NotAnalysed {
    NotOpen,
    /// The text changed while waiting (the client asks again about the new one).
    MovedOn,
    TimedOut,
}

/// `ServerCancelled` (LSP 3.17): the client may ask again.
pub(super) fn server_cancelled(message: &str) -> tower_lsp_server::jsonrpc::Error {
    tower_lsp_server::jsonrpc::Error {
        code: tower_lsp_server::jsonrpc::ErrorCode::ServerError(-32802),
        message: message.to_string().into(),
        data: Some(serde_json::json!({"retriggerRequest": true})),
    }
}

pub(super) fn invalid_params(message: String) -> tower_lsp_server::jsonrpc::Error {
    tower_lsp_server::jsonrpc::Error::invalid_params(message)
}

impl Inner {
    /// The findings of a document's current text, waiting for its analysis when that is still
    /// running. `follow`: when the text changes meanwhile, wait for the new one instead.
    pub(super) async fn analysed_now(
        &self,
        uri: &Uri,
        follow: bool,
    ) -> Result<Snapshot, NotAnalysed> {
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
    pub(super) async fn code_actions(
        self: &Arc<Self>,
        params: CodeActionParams,
    ) -> Vec<CodeActionOrCommand> {
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
    pub(super) async fn hover(&self, params: HoverParams) -> Option<Hover> {
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
    pub(super) async fn pull_document(
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
    pub(super) async fn pull_workspace(
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
    pub(super) fn refresh_pulls(self: &Arc<Self>) {
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
    pub(super) async fn execute_command(
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
    pub(super) async fn fix_all(&self, uri: Uri) -> RpcResult<Value> {
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
    pub(super) async fn explain(&self, id: &str) -> RpcResult<String> {
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
    pub(super) fn publish_reports(&self, changes: Vec<ReportChange>) {
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
    pub(super) async fn report_progress(self: Arc<Self>) {
        let mut updates = self.progress.subscribe();
        // A receiver has seen the value it starts from: a round of a small workspace that began
        // and ended before this task first ran would never be reported, and a client waiting
        // for its end would wait for ever.
        updates.mark_changed();
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

    pub(super) fn send_progress(&self, token: ProgressToken, value: WorkDoneProgress) {
        self.outbox
            .notify::<notification::Progress>(&ProgressParams {
                token,
                value: ProgressParamsValue::WorkDone(value),
            });
    }
}
