//! Each document's worker: takes the edits that arrived, brings the tree up to date, analyses
//! the text and publishes what it found (see the module doc of `server`).

use super::*;

/// What an analysis needs besides the tree, taken under a short guard.
pub(super) struct JobInfo {
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
pub(super) struct Job {
    info: JobInfo,
    source: Option<SourceFile>,
    pending: Pending,
    /// The text, when the tree must be built or compared with it, or the text is not Go.
    text: Option<Arc<String>>,
    len: usize,
    nuls: usize,
}

pub(super) struct Analysis {
    findings: Arc<Vec<Finding>>,
    diagnostics: Diagnostics,
    decls: Arc<FileDecls>,
    decls_changed: bool,
}

/// The diagnostics of an analysis, as the client takes them.
pub(super) enum Diagnostics {
    /// The framed `publishDiagnostics` (None if it could not be serialized).
    Push(Option<Vec<u8>>),
    /// What `textDocument/diagnostic` answers.
    Pull(Arc<Vec<Diagnostic>>),
}

pub(super) enum Outcome {
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

pub(super) struct Done {
    source: Option<SourceFile>,
    outcome: Outcome,
}

impl Inner {
    /// Takes the worker's next job from a document.
    pub(super) fn take_job(&self, uri: &Uri, doc: &mut Document) -> Job {
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
    pub(super) fn run_job(&self, job: Job) -> Done {
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
    pub(super) fn diagnostics(&self, info: &JobInfo, diagnostics: Vec<Diagnostic>) -> Diagnostics {
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
    pub(super) fn analyse(&self, info: &JobInfo, source: &SourceFile) -> Analysis {
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
    pub(super) fn schedule(self: &Arc<Self>, uri: &Uri) {
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
    pub(super) async fn work(self: Arc<Self>, uri: Uri, epoch: u64) {
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
    pub(super) fn reanalyse_dir(self: &Arc<Self>, dir: &Path, except: Option<&Uri>) {
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

    pub(super) fn reanalyse_all(self: &Arc<Self>) {
        let uris: Vec<Uri> = self.docs.iter().map(|d| d.key().clone()).collect();
        for uri in uris {
            self.schedule(&uri);
        }
    }
}
