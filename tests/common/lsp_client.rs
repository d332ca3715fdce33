//! A small LSP client for tests and benchmarks: runs the real `goconc lsp` binary and speaks
//! JSON-RPC with `Content-Length` framing over its stdio. A reader thread answers the server's own
//! requests (`workspace/configuration` with [`LspClient::configuration`], `workspace/applyEdit`
//! and `window/showDocument` with success, anything else with null), keeps them in
//! [`LspClient::server_request_log`], and queues everything else.
//!
//! It also carries a client-side text model (`Text`) that turns byte offsets into LSP positions
//! in UTF-8, UTF-16 or UTF-32 (lines end at `\n`, `\r\n` or a lone `\r`, as LSP says), written
//! independently of the server's conversions.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const TIMEOUT: Duration = Duration::from_secs(30);

pub struct LspClient {
    child: Child,
    stdin: Arc<Mutex<ChildStdin>>,
    incoming: Receiver<Received>,
    /// Messages read but not yet asked for.
    queue: VecDeque<Received>,
    next_id: i64,
    /// What the client answers to `workspace/configuration` (section `goconc`).
    pub configuration: Arc<Mutex<Value>>,
    /// Server requests seen (method names), for assertions.
    pub server_requests: Arc<Mutex<Vec<String>>>,
    /// Server requests seen, whole (method and params).
    pub server_request_log: Arc<Mutex<Vec<Value>>>,
    pub init_result: Value,
    /// While true, the reader thread reads nothing more (a client that stopped reading).
    paused: Arc<(Mutex<bool>, Condvar)>,
    /// The server's stderr lines, when started with [`LspClient::start_capturing_log`].
    log: Option<Arc<Mutex<Vec<String>>>>,
}

/// A message from the server and the moment its last byte was read (before the client parsed
/// it: a benchmark of the server must not count the client's JSON parsing).
#[derive(Debug)]
pub struct Received {
    pub at: Instant,
    pub message: Value,
}

pub fn frame(body: &str) -> Vec<u8> {
    let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

/// Reads one `Content-Length` framed message.
pub fn read_message(reader: &mut impl BufRead) -> Option<Value> {
    read_received(reader).map(|r| r.message)
}

/// Reads one framed message, stamped with the time its body was complete.
pub fn read_received(reader: &mut impl BufRead) -> Option<Received> {
    let mut len = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("Content-Length:") {
            len = v.trim().parse::<usize>().ok();
        }
    }
    let mut body = vec![0; len?];
    reader.read_exact(&mut body).ok()?;
    let at = Instant::now();
    Some(Received {
        at,
        message: serde_json::from_slice(&body).ok()?,
    })
}

impl LspClient {
    /// Starts `goconc lsp --stdio` and runs `initialize`/`initialized`.
    /// `capabilities` is the client's capabilities object; `init_options` its initializationOptions.
    pub fn start(capabilities: Value, init_options: Value) -> LspClient {
        Self::start_with(
            env!("CARGO_BIN_EXE_goconc"),
            capabilities,
            init_options,
            &[],
        )
    }

    pub fn start_with(
        binary: &str,
        capabilities: Value,
        init_options: Value,
        env: &[(&str, &str)],
    ) -> LspClient {
        Self::spawn(binary, capabilities, init_options, env, false, &[])
    }

    /// Starts the server with workspace folders (the first is also the `rootUri`).
    pub fn start_in(
        binary: &str,
        capabilities: Value,
        init_options: Value,
        folders: &[&Path],
        env: &[(&str, &str)],
    ) -> LspClient {
        Self::spawn(binary, capabilities, init_options, env, false, folders)
    }

    /// Starts the server with `GOCONC_LOG=filter` and keeps its stderr lines (see
    /// [`LspClient::wait_log`]).
    pub fn start_capturing_log(
        capabilities: Value,
        init_options: Value,
        filter: &str,
    ) -> LspClient {
        Self::spawn(
            env!("CARGO_BIN_EXE_goconc"),
            capabilities,
            init_options,
            &[("GOCONC_LOG", filter)],
            true,
            &[],
        )
    }

    fn spawn(
        binary: &str,
        capabilities: Value,
        init_options: Value,
        env: &[(&str, &str)],
        capture_log: bool,
        folders: &[&Path],
    ) -> LspClient {
        let mut cmd = Command::new(binary);
        cmd.args(["lsp", "--stdio"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(if capture_log {
                Stdio::piped()
            } else {
                Stdio::inherit()
            });
        if std::env::var_os("GOCONC_LOG").is_none() {
            cmd.env("GOCONC_LOG", "warn");
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start goconc lsp");
        let log = child.stderr.take().map(|stderr| {
            let lines = Arc::new(Mutex::new(Vec::new()));
            let sink = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    sink.lock().unwrap().push(line);
                }
            });
            lines
        });
        let paused = Arc::new((Mutex::new(false), Condvar::new()));
        let gate = paused.clone();
        let stdin = Arc::new(Mutex::new(child.stdin.take().unwrap()));
        let answers = stdin.clone();
        let stdout = child.stdout.take().unwrap();
        let configuration = Arc::new(Mutex::new(init_options.clone()));
        let server_requests = Arc::new(Mutex::new(Vec::new()));
        let server_request_log = Arc::new(Mutex::new(Vec::new()));
        let request_log = server_request_log.clone();
        let (tx, incoming) = channel();
        let mut client = LspClient {
            child,
            stdin,
            incoming,
            queue: VecDeque::new(),
            next_id: 1,
            configuration: configuration.clone(),
            server_requests: server_requests.clone(),
            server_request_log,
            init_result: Value::Null,
            paused,
            log,
        };
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                {
                    let (lock, resumed) = &*gate;
                    let mut paused = lock.lock().unwrap();
                    while *paused {
                        paused = resumed.wait(paused).unwrap();
                    }
                }
                let Some(received) = read_received(&mut reader) else {
                    break;
                };
                let msg = &received.message;
                let is_request = msg.get("id").is_some() && msg.get("method").is_some();
                if is_request {
                    let method = msg["method"].as_str().unwrap_or("").to_string();
                    request_log.lock().unwrap().push(msg.clone());
                    server_requests.lock().unwrap().push(method.clone());
                    let result = match method.as_str() {
                        "workspace/configuration" => {
                            let n = msg["params"]["items"].as_array().map_or(1, Vec::len);
                            let v = configuration.lock().unwrap().clone();
                            Value::Array(vec![v; n])
                        }
                        "workspace/applyEdit" => json!({"applied": true}),
                        "window/showDocument" => json!({"success": true}),
                        _ => Value::Null,
                    };
                    let body =
                        json!({"jsonrpc": "2.0", "id": msg["id"], "result": result}).to_string();
                    let mut w = answers.lock().unwrap();
                    if w.write_all(&frame(&body)).and_then(|_| w.flush()).is_err() {
                        break;
                    }
                    continue;
                }
                if tx.send(received).is_err() {
                    break;
                }
            }
        });
        let folders: Vec<Value> = folders
            .iter()
            .map(|f| json!({"uri": file_uri(f), "name": f.file_name().map(|n| n.to_string_lossy().into_owned())}))
            .collect();
        let init = client.request(
            "initialize",
            json!({
                "processId": null,
                "rootUri": folders.first().map(|f| f["uri"].clone()),
                "workspaceFolders": if folders.is_empty() { Value::Null } else { Value::Array(folders) },
                "capabilities": capabilities,
                "initializationOptions": init_options,
            }),
        );
        client.init_result = init;
        client.notify("initialized", json!({}));
        client
    }

    /// Stops reading the server's output (after the message being read, if any): the pipe
    /// fills and the server can no longer write.
    pub fn pause_reading(&self) {
        *self.paused.0.lock().unwrap() = true;
    }

    pub fn resume_reading(&self) {
        *self.paused.0.lock().unwrap() = false;
        self.paused.1.notify_all();
    }

    /// Waits until a line of the server's log satisfies `pred` (needs
    /// [`LspClient::start_capturing_log`]).
    pub fn wait_log(&self, pred: impl Fn(&str) -> bool, timeout: Duration) -> bool {
        let log = self.log.as_ref().expect("started with start_capturing_log");
        let deadline = Instant::now() + timeout;
        loop {
            if log.lock().unwrap().iter().any(|l| pred(l)) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The server's peak resident memory so far (VmHWM), in kB.
    pub fn peak_memory_kb(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        let mut w = self.stdin.lock().unwrap();
        w.write_all(bytes).unwrap();
        w.flush().unwrap();
    }

    pub fn send(&mut self, msg: &Value) {
        let bytes = frame(&msg.to_string());
        self.send_raw(&bytes);
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Sends a request and returns its id without waiting.
    pub fn send_request(&mut self, method: &str, params: Value) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        id
    }

    /// Sends a request and waits for its response; returns `result` (panics on an error response).
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.send_request(method, params);
        let response = self.wait_response(id);
        if let Some(err) = response.get("error") {
            panic!("{method} failed: {err}");
        }
        response["result"].clone()
    }

    pub fn wait_response(&mut self, id: i64) -> Value {
        self.wait_for(|m| {
            m.get("id").and_then(Value::as_i64) == Some(id) && m.get("method").is_none()
        })
    }

    /// Whether the server sent a request of `method`, waiting for it a while: a request the
    /// server makes from `initialized` may arrive after the first diagnostics.
    pub fn server_requested(&self, method: &str) -> bool {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if self
                .server_requests
                .lock()
                .unwrap()
                .iter()
                .any(|m| m == method)
            {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for (and removes) the first message matching `pred`, keeping the others queued.
    pub fn wait_for(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        self.try_wait_for(&pred, TIMEOUT)
            .unwrap_or_else(|| panic!("timed out; queued: {:?}", self.queue))
    }

    pub fn try_wait_for(
        &mut self,
        pred: &dyn Fn(&Value) -> bool,
        timeout: Duration,
    ) -> Option<Value> {
        self.try_wait_for_received(pred, timeout).map(|r| r.message)
    }

    /// Like [`Self::try_wait_for`], with the moment the message arrived.
    pub fn try_wait_for_received(
        &mut self,
        pred: &dyn Fn(&Value) -> bool,
        timeout: Duration,
    ) -> Option<Received> {
        if let Some(i) = self.queue.iter().position(|r| pred(&r.message)) {
            return self.queue.remove(i);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.incoming.recv_timeout(left) {
                Ok(r) if pred(&r.message) => return Some(r),
                Ok(r) => self.queue.push_back(r),
                Err(RecvTimeoutError::Timeout) => return None,
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// Waits for `publishDiagnostics` of `uri` (at `version`, when given); returns its params.
    pub fn diagnostics(&mut self, uri: &str, version: Option<i64>) -> Value {
        let uri = uri.to_string();
        self.wait_for(move |m| {
            m["method"] == "textDocument/publishDiagnostics"
                && m["params"]["uri"] == uri.as_str()
                && version.is_none_or(|v| m["params"]["version"].as_i64() == Some(v))
        })["params"]
            .clone()
    }

    /// The server's requests of `method` seen so far (whole messages), waiting a while for at
    /// least `n`.
    pub fn server_requests_of(&self, method: &str, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let seen: Vec<Value> = self
                .server_request_log
                .lock()
                .unwrap()
                .iter()
                .filter(|m| m["method"] == method)
                .cloned()
                .collect();
            if seen.len() >= n || Instant::now() >= deadline {
                return seen;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Every message read and not yet taken (without waiting for more).
    pub fn queued(&mut self) -> Vec<Value> {
        while let Ok(m) = self.incoming.try_recv() {
            self.queue.push_back(m);
        }
        self.queue.iter().map(|r| r.message.clone()).collect()
    }

    /// Drops queued notifications (for example diagnostics of versions no longer interesting).
    pub fn drain(&mut self) {
        while let Ok(m) = self.incoming.try_recv() {
            self.queue.push_back(m);
        }
        self.queue.clear();
    }

    pub fn open(&mut self, uri: &str, version: i64, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "go", "version": version, "text": text}}),
        );
    }

    pub fn change(&mut self, uri: &str, version: i64, changes: Value) {
        self.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": changes}),
        );
    }

    pub fn close(&mut self, uri: &str) {
        self.notify(
            "textDocument/didClose",
            json!({"textDocument": {"uri": uri}}),
        );
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `shutdown` then `exit`; returns the exit status.
    pub fn shutdown(mut self) -> ExitStatus {
        self.request("shutdown", Value::Null);
        self.notify("exit", Value::Null);
        self.wait_exit()
    }

    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the server did not exit");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for LspClient {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A `file://` URI for a path.
pub fn file_uri(path: &Path) -> String {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let mut out = String::from("file://");
    for b in path.to_string_lossy().bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Client capabilities, with the position encodings offered (empty: none offered, so UTF-16).
pub fn capabilities(encodings: &[&str]) -> Value {
    let mut caps = json!({
        "textDocument": {
            "synchronization": {"didSave": true},
            "publishDiagnostics": {"relatedInformation": true, "versionSupport": true},
            "codeAction": {"codeActionLiteralSupport": {"codeActionKind": {"valueSet": ["quickfix", "source", "source.fixAll"]}}}
        },
        "workspace": {"configuration": true, "didChangeWatchedFiles": {"dynamicRegistration": true}},
    });
    if !encodings.is_empty() {
        caps["general"] = json!({"positionEncodings": encodings});
    }
    caps
}

/// How the client counts columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enc {
    Utf8,
    Utf16,
    Utf32,
}

/// Client-side text: byte offsets ⇄ LSP positions, and applying LSP edits.
pub struct Text;

impl Text {
    /// Where each line starts: after `\n`, and after a `\r` that no `\n` follows.
    pub fn line_starts(text: &str) -> Vec<usize> {
        let bytes = text.as_bytes();
        let mut starts = vec![0];
        for (i, &b) in bytes.iter().enumerate() {
            if b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')) {
                starts.push(i + 1);
            }
        }
        starts
    }

    pub fn position(text: &str, offset: usize, enc: Enc) -> Value {
        let bytes = text.as_bytes();
        let (mut line, mut line_start) = (0, 0);
        for i in 0..offset {
            if bytes[i] == b'\n' || (bytes[i] == b'\r' && bytes.get(i + 1) != Some(&b'\n')) {
                line += 1;
                line_start = i + 1;
            }
        }
        let seg = &text[line_start..offset];
        let col = match enc {
            Enc::Utf8 => seg.len(),
            Enc::Utf16 => seg.encode_utf16().count(),
            Enc::Utf32 => seg.chars().count(),
        };
        json!({"line": line, "character": col})
    }

    pub fn range(text: &str, start: usize, end: usize, enc: Enc) -> Value {
        json!({"start": Text::position(text, start, enc), "end": Text::position(text, end, enc)})
    }

    pub fn offset(text: &str, pos: &Value, enc: Enc) -> usize {
        let line = pos["line"].as_u64().unwrap() as usize;
        let col = pos["character"].as_u64().unwrap() as usize;
        let starts = Text::line_starts(text);
        let Some(&start) = starts.get(line) else {
            return text.len();
        };
        let end = starts.get(line + 1).map_or(text.len(), |&next| next);
        let line_text = &text[start..end];
        let line_text = line_text
            .strip_suffix("\r\n")
            .or_else(|| line_text.strip_suffix('\n'))
            .or_else(|| line_text.strip_suffix('\r'))
            .unwrap_or(line_text);
        let mut units = 0;
        for (i, ch) in line_text.char_indices() {
            if units >= col {
                return start + i;
            }
            units += match enc {
                Enc::Utf8 => ch.len_utf8(),
                Enc::Utf16 => ch.len_utf16(),
                Enc::Utf32 => 1,
            };
        }
        start + line_text.len()
    }

    /// Applies LSP text edits (all relative to `text`, non-overlapping) and returns the new text.
    pub fn apply(text: &str, edits: &[Value], enc: Enc) -> String {
        let mut spans: Vec<(usize, usize, String)> = edits
            .iter()
            .map(|e| {
                (
                    Text::offset(text, &e["range"]["start"], enc),
                    Text::offset(text, &e["range"]["end"], enc),
                    e["newText"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        spans.sort_by_key(|s| (s.0, s.1));
        let mut out = String::new();
        let mut cursor = 0;
        for (s, e, t) in spans {
            assert!(s >= cursor, "overlapping edits from the server");
            out.push_str(&text[cursor..s]);
            out.push_str(&t);
            cursor = e;
        }
        out.push_str(&text[cursor..]);
        out
    }

    /// The text edits of a WorkspaceEdit for one URI (`changes` or `documentChanges`).
    pub fn workspace_edits(edit: &Value, uri: &str) -> Vec<Value> {
        if let Some(changes) = edit.get("changes").and_then(|c| c.get(uri)) {
            return changes.as_array().cloned().unwrap_or_default();
        }
        let mut out = Vec::new();
        for dc in edit
            .get("documentChanges")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if dc["textDocument"]["uri"] == uri {
                out.extend(dc["edits"].as_array().cloned().unwrap_or_default());
            }
        }
        out
    }
}
