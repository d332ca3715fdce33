//! A guard in front of tower-lsp-server's transport.
//!
//! tower-lsp-server answers a body that is not JSON with a parse error, but its framed reader
//! (tokio-util) ends the input stream after any decode error, so the server would then stop
//! reading and exit. This layer reads the client's frames itself, forwards only well-formed
//! JSON-RPC messages, and answers the rest itself: `-32700 Parse error` for a body that is not
//! JSON (or a header without a usable `Content-Length`), `-32600 Invalid Request` for JSON that is
//! no JSON-RPC message. Input that is no part of any message (what is left of a body whose
//! `Content-Length` was too short) is skipped up to the next `Content-Length:` header, and what
//! was skipped is logged.
//!
//! Output: tower-lsp-server's frames (responses, its requests, log messages: back-pressured by a
//! small pipe) and the server's own [`Outbox`] (diagnostics and the guard's answers) are written
//! between whole frames. The outbox is bounded, so a client that stops reading does not grow the
//! server: only the newest diagnostics of each document wait, and other messages beyond a limit
//! are dropped (and counted in the log).

use std::collections::{HashSet, VecDeque};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, Notify};
use tower_lsp_server::jsonrpc::{Request, Response};
use tower_lsp_server::ls_types::notification::{LogMessage, Notification};
use tower_lsp_server::ls_types::{LogMessageParams, MessageType};
use tracing::{debug, warn};

/// Bodies larger than this are refused (a broken Content-Length must not allocate gigabytes).
const MAX_BODY: usize = 256 * 1024 * 1024;

/// A header line longer than this is no header: it is skipped (in pieces, so garbage without a
/// line break does not pile up in memory).
const MAX_HEADER_LINE: usize = 64 * 1024;

/// Messages other than diagnostics that may wait for a client that does not read, and their
/// bytes; beyond either, new ones are dropped.
const MAX_WAITING_MESSAGES: usize = 1024;
const MAX_WAITING_BYTES: usize = 8 * 1024 * 1024;

const CONTENT_LENGTH: &[u8] = b"content-length:";

/// Messages the server writes straight to the client, framed between the frames of
/// tower-lsp-server's output. `publishDiagnostics` goes this way: serialized once from its typed
/// params, where tower-lsp-server would first build a JSON value tree of every diagnostic (a
/// third of the publishing cost of a file with 171 findings). Every publication must take this one
/// path so they reach the client in the order they were sent.
///
/// Bounded: a publication replaces the one of the same document still waiting (the client only
/// wants the newest), and other messages beyond [`MAX_WAITING_MESSAGES`] or
/// [`MAX_WAITING_BYTES`] are dropped.
#[derive(Clone, Default)]
pub struct Outbox(Arc<Queue>);

#[derive(Default)]
struct Queue {
    state: Mutex<QueueState>,
    /// One consumer (the writer): a permit stored by `notify_one` is never lost.
    ready: Notify,
}

#[derive(Default)]
struct QueueState {
    waiting: VecDeque<Waiting>,
    /// The documents open in the editor: their diagnostics come from their own analyses only,
    /// never from the background check of the files on disk.
    claimed: HashSet<String>,
    /// Messages and bytes waiting that are not diagnostics.
    other_messages: usize,
    other_bytes: usize,
    dropped: u64,
    superseded: u64,
}

struct Waiting {
    /// The document a publication is about (None: another message).
    uri: Option<String>,
    frame: Vec<u8>,
}

/// Serializes a notification and frames it.
pub fn notification_frame<N: Notification>(params: &N::Params) -> Option<Vec<u8>> {
    #[derive(serde::Serialize)]
    struct Message<'a, P> {
        jsonrpc: &'static str,
        method: &'static str,
        params: &'a P,
    }
    let message = Message {
        jsonrpc: "2.0",
        method: N::METHOD,
        params,
    };
    match serde_json::to_vec(&message) {
        Ok(body) => Some(frame(&body)),
        Err(e) => {
            warn!("goconc bug: {} not serialized: {e}", N::METHOD);
            None
        }
    }
}

impl Outbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.0.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues the diagnostics of `uri` (a frame from [`notification_frame`]), replacing those of
    /// the same document still waiting to be written.
    pub fn publish(&self, uri: &str, frame: Vec<u8>) {
        {
            let mut state = self.lock();
            if let Some(i) = state
                .waiting
                .iter()
                .position(|w| w.uri.as_deref() == Some(uri))
            {
                state.waiting.remove(i);
                state.superseded += 1;
                debug!(
                    uri,
                    superseded = state.superseded,
                    "newer diagnostics replace ones the client has not read yet"
                );
            }
            state.waiting.push_back(Waiting {
                uri: Some(uri.to_string()),
                frame,
            });
        }
        self.0.ready.notify_one();
    }

    /// Marks a document as open: [`Outbox::publish_closed`] leaves it alone until it is released.
    pub fn claim(&self, uri: &str) {
        self.lock().claimed.insert(uri.to_string());
    }

    pub fn release(&self, uri: &str) {
        self.lock().claimed.remove(uri);
    }

    /// Queues the diagnostics of a file that is not open (the background check's), unless it is
    /// claimed: deciding under the queue's lock means a document opened meanwhile never has its
    /// own diagnostics overtaken by those of the file on disk.
    pub fn publish_closed(&self, uri: &str, frame: Vec<u8>) -> bool {
        let mut state = self.lock();
        if state.claimed.contains(uri) {
            return false;
        }
        if let Some(i) = state
            .waiting
            .iter()
            .position(|w| w.uri.as_deref() == Some(uri))
        {
            state.waiting.remove(i);
            state.superseded += 1;
        }
        state.waiting.push_back(Waiting {
            uri: Some(uri.to_string()),
            frame,
        });
        drop(state);
        self.0.ready.notify_one();
        true
    }

    /// Queues a message that is not a publication (dropped when too many are waiting).
    pub fn send(&self, frame: Vec<u8>) {
        {
            let mut state = self.lock();
            if state.other_messages >= MAX_WAITING_MESSAGES
                || state.other_bytes + frame.len() > MAX_WAITING_BYTES
            {
                state.dropped += 1;
                // Logged at 1, 2, 4, 8, … so a client that never reads does not flood the log.
                if state.dropped.is_power_of_two() {
                    warn!(
                        "the client is not reading: {} messages dropped so far",
                        state.dropped
                    );
                }
                return;
            }
            state.other_messages += 1;
            state.other_bytes += frame.len();
            state.waiting.push_back(Waiting { uri: None, frame });
        }
        self.0.ready.notify_one();
    }

    /// Queues a notification that is not a publication.
    pub fn notify<N: Notification>(&self, params: &N::Params) {
        if let Some(frame) = notification_frame::<N>(params) {
            self.send(frame);
        }
    }

    /// Sends `window/logMessage` (the log in the editor's output panel).
    pub fn log(&self, typ: MessageType, message: String) {
        self.notify::<LogMessage>(&LogMessageParams { typ, message });
    }

    fn pop(&self) -> Option<Vec<u8>> {
        let mut state = self.lock();
        let waiting = state.waiting.pop_front()?;
        if waiting.uri.is_none() {
            state.other_messages -= 1;
            state.other_bytes -= waiting.frame.len();
        }
        Some(waiting.frame)
    }

    /// The next message to write, waiting for one. Cancel-safe: a message is taken only when
    /// it is returned.
    async fn next(&self) -> Vec<u8> {
        loop {
            if let Some(frame) = self.pop() {
                return frame;
            }
            self.0.ready.notified().await;
        }
    }
}

pub enum Frame {
    Body(Vec<u8>),
    /// A header block without a usable `Content-Length`.
    BadHeader(String),
}

/// Reads `Content-Length` framed messages, skipping input that is not part of one.
pub struct FrameReader<R> {
    input: R,
    /// Bytes given back (found after a header inside a line, or inside a body that overran),
    /// read before `input`.
    carry: Vec<u8>,
    carry_at: usize,
    /// Bytes skipped since [`FrameReader::take_skipped`] was last called, and the first of them.
    skipped: usize,
    skipped_start: Vec<u8>,
}

/// Where `needle` (lowercase ASCII) starts in `haystack`, ignoring ASCII case.
fn find_ignore_case(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

/// `Name: value` with a token for a name (RFC 7230): a header line, not garbage.
fn is_header_line(line: &[u8]) -> bool {
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return false;
    };
    colon > 0
        && line[..colon]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl<R: AsyncBufRead + Unpin> FrameReader<R> {
    pub fn new(input: R) -> Self {
        FrameReader {
            input,
            carry: Vec::new(),
            carry_at: 0,
            skipped: 0,
            skipped_start: Vec::new(),
        }
    }

    async fn fill(&mut self) -> io::Result<&[u8]> {
        if self.carry_at < self.carry.len() {
            return Ok(&self.carry[self.carry_at..]);
        }
        self.input.fill_buf().await
    }

    fn consume(&mut self, n: usize) {
        if self.carry_at < self.carry.len() {
            self.carry_at += n;
            if self.carry_at >= self.carry.len() {
                self.carry.clear();
                self.carry_at = 0;
            }
        } else {
            self.input.consume(n);
        }
    }

    /// Puts bytes back in front of the input.
    fn give_back(&mut self, bytes: &[u8]) {
        let mut carry = bytes.to_vec();
        carry.extend_from_slice(&self.carry[self.carry_at..]);
        self.carry = carry;
        self.carry_at = 0;
    }

    fn skip(&mut self, bytes: &[u8]) {
        if self.skipped_start.len() < 64 {
            let room = 64 - self.skipped_start.len();
            self.skipped_start
                .extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
        self.skipped += bytes.len();
    }

    /// How many bytes were skipped since the last call, and how they began.
    pub fn take_skipped(&mut self) -> Option<(usize, String)> {
        if self.skipped == 0 {
            return None;
        }
        let start = String::from_utf8_lossy(&self.skipped_start)
            .escape_debug()
            .to_string();
        let skipped = (self.skipped, start);
        self.skipped = 0;
        self.skipped_start.clear();
        Some(skipped)
    }

    /// A line with its line break, at most `MAX_HEADER_LINE` bytes (then without one); None at
    /// the end of input.
    async fn read_line(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut line = Vec::new();
        loop {
            let buf = self.fill().await?;
            if buf.is_empty() {
                return Ok((!line.is_empty()).then_some(line));
            }
            let room = MAX_HEADER_LINE - line.len();
            let window = &buf[..buf.len().min(room)];
            if let Some(i) = window.iter().position(|&b| b == b'\n') {
                line.extend_from_slice(&window[..=i]);
                self.consume(i + 1);
                return Ok(Some(line));
            }
            let n = window.len();
            line.extend_from_slice(window);
            self.consume(n);
            if line.len() >= MAX_HEADER_LINE {
                return Ok(Some(line));
            }
        }
    }

    async fn read_body(&mut self, len: usize) -> io::Result<Vec<u8>> {
        let mut body = Vec::with_capacity(len);
        while body.len() < len {
            let buf = self.fill().await?;
            if buf.is_empty() {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let n = buf.len().min(len - body.len());
            body.extend_from_slice(&buf[..n]);
            self.consume(n);
        }
        Ok(body)
    }

    /// Reads one `Content-Length` framed message; None at the end of input. A line that is no
    /// header is skipped, as is anything before a `Content-Length:` inside a line: the reader
    /// finds its way back to the next message.
    pub async fn read_frame(&mut self) -> io::Result<Option<Frame>> {
        let mut len: Option<Result<usize, String>> = None;
        let mut in_header = false;
        loop {
            let Some(line) = self.read_line().await? else {
                return Ok(None);
            };
            if !line.ends_with(b"\n") {
                // The input ends inside this line: nothing in it can be a message. Otherwise it
                // is too long for a header: skip it, but not a header starting inside it after
                // its first byte (giving back a header at its start would read it again
                // forever, as would giving back a whole last line: a client's last 14 bytes
                // without a line break hung the server).
                let keep = if line.len() < MAX_HEADER_LINE {
                    line.len()
                } else {
                    match find_ignore_case(&line[1..], CONTENT_LENGTH) {
                        Some(at) => at + 1,
                        None => line.len() - (CONTENT_LENGTH.len() - 1),
                    }
                };
                self.skip(&line[..keep]);
                self.give_back(&line[keep..]);
                in_header = false;
                len = None;
                continue;
            }
            let trimmed = line.trim_ascii_end();
            if trimmed.is_empty() {
                if in_header {
                    break;
                }
                continue; // a blank line between messages
            }
            let header = match find_ignore_case(trimmed, CONTENT_LENGTH) {
                Some(at) if at > 0 => {
                    // The rest of something else, then a header: start again there.
                    self.skip(&trimmed[..at]);
                    len = None;
                    &trimmed[at..]
                }
                _ if is_header_line(trimmed) => trimmed,
                _ => {
                    self.skip(&line);
                    in_header = false;
                    len = None;
                    continue;
                }
            };
            in_header = true;
            let text = String::from_utf8_lossy(header);
            if let Some((name, value)) = text.split_once(':') {
                if name.trim().eq_ignore_ascii_case("content-length") {
                    len = Some(
                        value
                            .trim()
                            .parse::<usize>()
                            .map_err(|e| format!("bad Content-Length `{}`: {e}", value.trim())),
                    );
                }
            }
        }
        let len = match len {
            None => {
                return Ok(Some(Frame::BadHeader(
                    "a message header without Content-Length".to_string(),
                )))
            }
            Some(Err(message)) => return Ok(Some(Frame::BadHeader(message))),
            Some(Ok(n)) if n > MAX_BODY => {
                return Ok(Some(Frame::BadHeader(format!(
                    "Content-Length {n} is too large"
                ))))
            }
            Some(Ok(n)) => n,
        };
        Ok(Some(Frame::Body(self.read_body(len).await?)))
    }
}

pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

fn error_response(id: Value, code: i64, message: &str) -> Vec<u8> {
    frame(
        json!({"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": id})
            .to_string()
            .as_bytes(),
    )
}

/// What to do with a body: forward it (rewritten when `params` is `null`, which tower-lsp-server
/// refuses for methods without parameters such as `shutdown` and `exit`), or answer it with an
/// error.
fn check(body: &[u8]) -> Result<Option<Vec<u8>>, Vec<u8>> {
    let mut value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            warn!("a message body is not JSON: {e}");
            return Err(error_response(Value::Null, -32700, "Parse error"));
        }
    };
    if value.get("params").is_some_and(Value::is_null) {
        if let Some(object) = value.as_object_mut() {
            object.remove("params");
        }
        if serde_json::from_value::<Request>(value.clone()).is_ok() {
            return Ok(Some(value.to_string().into_bytes()));
        }
    }
    if serde_json::from_value::<Request>(value.clone()).is_ok()
        || serde_json::from_value::<Response>(value.clone()).is_ok()
    {
        return Ok(None);
    }
    warn!("a message is not a JSON-RPC request, notification or response");
    let id = match value.get("id") {
        Some(id @ (Value::Number(_) | Value::String(_))) => id.clone(),
        _ => Value::Null,
    };
    Err(error_response(id, -32600, "Invalid Request"))
}

/// A body that is not JSON but holds a `Content-Length:` header: its length overran it into
/// the next message. Gives the next message back to the reader and returns the body's own part.
fn split_overrun<R: AsyncBufRead + Unpin>(body: Vec<u8>, reader: &mut FrameReader<R>) -> Vec<u8> {
    if serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_ok() {
        return body;
    }
    match find_ignore_case(&body, CONTENT_LENGTH) {
        Some(at) if at > 0 => {
            warn!(
                "a message's Content-Length overran it by {} bytes: the next message is read from there",
                body.len() - at
            );
            reader.give_back(&body[at..]);
            body[..at].trim_ascii_end().to_vec()
        }
        _ => body,
    }
}

/// Copies the client's messages to the server, answering malformed ones through `outbox`. Also
/// records whether `shutdown` was requested (in input order, before `exit` can end the server).
async fn read_client<I: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    input: I,
    mut to_server: W,
    outbox: Outbox,
    shutdown: Arc<AtomicBool>,
    on_exit: OnExit,
) {
    let mut input = FrameReader::new(BufReader::with_capacity(1 << 16, input));
    loop {
        let read = input.read_frame().await;
        if let Some((bytes, start)) = input.take_skipped() {
            let message = format!(
                "skipped {bytes} bytes of input that were no part of a message (starting `{start}`): read on from the next Content-Length header"
            );
            warn!("{message}");
            outbox.log(MessageType::WARNING, format!("goconc: {message}"));
        }
        match read {
            Ok(Some(Frame::Body(body))) => {
                let body = split_overrun(body, &mut input);
                let body = match check(&body) {
                    Ok(rewritten) => rewritten.unwrap_or(body),
                    Err(answer) => {
                        outbox.send(answer);
                        continue;
                    }
                };
                if is_method(&body, "shutdown") {
                    shutdown.store(true, Ordering::SeqCst);
                }
                if is_method(&body, "exit") {
                    on_exit(shutdown.load(Ordering::SeqCst));
                }
                if to_server.write_all(&frame(&body)).await.is_err() {
                    return;
                }
                let _ = to_server.flush().await;
            }
            Ok(Some(Frame::BadHeader(message))) => {
                warn!("{message}");
                outbox.send(error_response(Value::Null, -32700, "Parse error"));
            }
            Ok(None) => return,
            Err(e) => {
                warn!("reading the client's input failed: {e}");
                return;
            }
        }
    }
}

/// What to do when the client's `exit` arrives (with whether `shutdown` came first), besides
/// letting the server stop: the process that owns stdin/stdout ends itself (see
/// [`exit_soon`]); a library caller (a test, a fuzz target) does nothing.
pub type OnExit = Arc<dyn Fn(bool) + Send + Sync>;

/// `exit` means exit: give the server a moment to stop on its own (and flush what it wrote),
/// then leave the process even if something is still running — an analysis of a huge file on a
/// blocking thread, or a runtime waiting on a task.
pub fn exit_soon(after_shutdown: bool) {
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(500));
        std::process::exit(if after_shutdown { 0 } else { 1 });
    });
}

/// Reads tower-lsp-server's frames whole (a frame half read when another branch of a `select!`
/// won would be lost) and hands them on; the small channel keeps tower-lsp-server waiting while
/// the client does not read.
async fn read_server<R: AsyncRead + Unpin>(from_server: R, frames: mpsc::Sender<Vec<u8>>) {
    let mut from_server = FrameReader::new(BufReader::with_capacity(1 << 16, from_server));
    while let Ok(Some(Frame::Body(body))) = from_server.read_frame().await {
        if frames.send(frame(&body)).await.is_err() {
            return;
        }
    }
}

/// Writes tower-lsp-server's frames and the outbox's to the client, whole frames each.
async fn write_client<O: AsyncWrite + Unpin>(
    mut server_frames: mpsc::Receiver<Vec<u8>>,
    outbox: Outbox,
    mut output: O,
) {
    loop {
        let bytes = tokio::select! {
            biased;
            frame = server_frames.recv() => match frame {
                Some(bytes) => bytes,
                None => break,
            },
            bytes = outbox.next() => bytes,
        };
        if output.write_all(&bytes).await.is_err() || output.flush().await.is_err() {
            return;
        }
    }
    // The server has stopped: what it queued last (a close's empty diagnostics) still goes out.
    while let Some(bytes) = outbox.pop() {
        if output.write_all(&bytes).await.is_err() {
            return;
        }
    }
    let _ = output.flush().await;
}

fn is_method(body: &[u8], method: &str) -> bool {
    serde_json::from_slice::<Value>(body)
        .is_ok_and(|v| v.get("method").and_then(Value::as_str) == Some(method))
}

/// Runs `serve_lsp` on guarded streams: it gets a clean stream of valid messages and writes into a
/// pipe whose frames are copied to `output`, and an [`Outbox`] for messages it writes itself.
/// Returns the exit code: 0 when `shutdown` came before the end, 1 otherwise.
pub async fn guarded<I, O, F, Fut>(input: I, output: O, on_exit: OnExit, serve_lsp: F) -> i32
where
    I: AsyncRead + Unpin + Send + 'static,
    O: AsyncWrite + Unpin + Send + 'static,
    F: FnOnce(tokio::io::DuplexStream, tokio::io::DuplexStream, Outbox) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let shutdown = Arc::new(AtomicBool::new(false));
    let (to_server, server_in) = tokio::io::duplex(1 << 16);
    let (server_out, from_server) = tokio::io::duplex(1 << 16);
    let outbox = Outbox::default();
    let (frames_tx, frames_rx) = mpsc::channel(4);
    let reader = tokio::spawn(read_client(
        input,
        to_server,
        outbox.clone(),
        shutdown.clone(),
        on_exit,
    ));
    tokio::spawn(read_server(from_server, frames_tx));
    let writer = tokio::spawn(write_client(frames_rx, outbox.clone(), output));
    serve_lsp(server_in, server_out, outbox).await;
    // The reader may wait on input forever (the client need not close it after `exit`).
    reader.abort();
    // Everything the server wrote is flushed once its output pipe closes; never wait longer
    // than that for a client that stopped reading.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), writer).await;
    if shutdown.load(Ordering::SeqCst) {
        0
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn frames_of(input: &[u8]) -> (Vec<Result<Vec<u8>, String>>, Vec<(usize, String)>) {
        let mut reader = FrameReader::new(BufReader::new(input));
        let (mut frames, mut skipped) = (Vec::new(), Vec::new());
        while let Some(frame) = reader.read_frame().await.unwrap() {
            frames.push(match frame {
                Frame::Body(body) => Ok(split_overrun(body, &mut reader)),
                Frame::BadHeader(message) => Err(message),
            });
            skipped.extend(reader.take_skipped());
        }
        skipped.extend(reader.take_skipped());
        (frames, skipped)
    }

    #[tokio::test]
    async fn frames_and_checks() {
        let input =
            b"Content-Length: 2\r\n\r\n{}\r\nX: y\r\n\r\nContent-Length: 5\r\n\r\n{nope".to_vec();
        let (frames, skipped) = frames_of(&input).await;
        assert!(skipped.is_empty(), "{skipped:?}");
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[0].as_deref(), Ok(&b"{}"[..]));
        assert!(check(b"{}").is_err());
        assert!(frames[1].is_err());
        assert!(
            String::from_utf8(check(frames[2].as_ref().unwrap()).unwrap_err())
                .unwrap()
                .contains("-32700")
        );
        assert_eq!(
            check(br#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#),
            Ok(None)
        );
        assert_eq!(
            check(br#"{"jsonrpc":"2.0","id":3,"result":null}"#),
            Ok(None)
        );
        let exit = check(br#"{"jsonrpc":"2.0","method":"exit","params":null}"#)
            .unwrap()
            .unwrap();
        assert!(!String::from_utf8(exit).unwrap().contains("params"));
        let answer = String::from_utf8(check(br#"[1, 2]"#).unwrap_err()).unwrap();
        assert!(
            answer.contains("-32600") && answer.contains("\"id\":null"),
            "{answer}"
        );
    }

    #[tokio::test]
    async fn a_short_content_length_is_skipped_past_to_the_next_message() {
        let first = br#"{"jsonrpc":"2.0","id":1,"method":"shutdown"}"#;
        let second = br#"{"jsonrpc":"2.0","method":"exit"}"#;
        let mut input = b"Content-Length: 10\r\n\r\n".to_vec();
        input.extend_from_slice(first);
        input.extend_from_slice(&frame(second));
        // Garbage with line breaks, then a header glued to the end of a line.
        input.extend_from_slice(b"\r\nnot a header\r\n\r\nmore junk");
        input.extend_from_slice(&frame(second));
        let (frames, skipped) = frames_of(&input).await;
        assert_eq!(frames.len(), 3, "{frames:?}");
        assert_eq!(frames[0].as_deref(), Ok(&first[..10]));
        assert_eq!(frames[1].as_deref(), Ok(&second[..]));
        assert_eq!(frames[2].as_deref(), Ok(&second[..]));
        assert_eq!(skipped.len(), 2, "{skipped:?}");
        assert_eq!(skipped[0].0, first.len() - 10);
        assert!(skipped[0].1.starts_with(":\\\"2.0"), "{skipped:?}");
        assert_eq!(skipped[1].0, "not a header\r\nmore junk".len());
    }

    #[tokio::test]
    async fn a_long_content_length_gives_the_next_message_back() {
        let first = br#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#;
        let second = br#"{"jsonrpc":"2.0","method":"exit"}"#;
        let mut input = format!("Content-Length: {}\r\n\r\n", first.len() + 30).into_bytes();
        input.extend_from_slice(first);
        input.extend_from_slice(&frame(second));
        let (frames, _) = frames_of(&input).await;
        assert_eq!(frames.len(), 2, "{frames:?}");
        assert_eq!(frames[0].as_deref(), Ok(&first[..]));
        assert_eq!(frames[1].as_deref(), Ok(&second[..]));
    }

    #[tokio::test]
    async fn garbage_without_line_breaks_is_skipped_in_pieces() {
        let message = br#"{"jsonrpc":"2.0","method":"exit"}"#;
        let mut input = vec![b'x'; 3 * MAX_HEADER_LINE + 7];
        input.extend_from_slice(&frame(message));
        let (frames, skipped) = frames_of(&input).await;
        assert_eq!(frames, vec![Ok(message.to_vec())]);
        assert_eq!(
            skipped.iter().map(|s| s.0).sum::<usize>(),
            3 * MAX_HEADER_LINE + 7
        );
    }

    /// Found by the `lsp_input` fuzz target: input that ends in a fragment without a line break
    /// as long as `content-length` (14 bytes) was given back and read again forever; shorter
    /// ones overflowed the arithmetic that kept a header's start.
    #[test]
    fn a_last_line_without_a_line_break_ends_the_input() {
        for tail in [
            &b"ersith\x01{\"a\":1}"[..],
            b"x",
            b"ersit\x01{\"a\":1}",
            b"Content-Length: 3",
        ] {
            // On a thread of its own: a reader that loops without waiting cannot be timed out
            // from inside its runtime.
            let (sent, read) = std::sync::mpsc::channel();
            let input = tail.to_vec();
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap();
                let _ = sent.send(runtime.block_on(frames_of(&input)));
            });
            let (frames, skipped) = read
                .recv_timeout(std::time::Duration::from_secs(10))
                .expect("the reader ends at the end of input");
            assert!(frames.is_empty(), "{tail:?}: {frames:?}");
            assert_eq!(
                skipped.iter().map(|s| s.0).sum::<usize>(),
                tail.len(),
                "{tail:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_header_too_long_for_a_line_is_skipped() {
        let message = br#"{"jsonrpc":"2.0","method":"exit"}"#;
        let mut input = b"Content-Length: ".to_vec();
        input.extend(std::iter::repeat_n(b'1', MAX_HEADER_LINE));
        input.extend_from_slice(b"\r\n\r\n");
        input.extend_from_slice(&frame(message));
        let (frames, _) = frames_of(&input).await;
        assert_eq!(frames.last(), Some(&Ok(message.to_vec())), "{frames:?}");
    }

    #[test]
    fn the_outbox_keeps_the_newest_diagnostics_per_document_and_bounds_the_rest() {
        let outbox = Outbox::default();
        for version in 0..100 {
            outbox.publish("file:///a.go", format!("a{version}").into_bytes());
            outbox.publish("file:///b.go", format!("b{version}").into_bytes());
        }
        for i in 0..2 * MAX_WAITING_MESSAGES {
            outbox.send(format!("m{i}").into_bytes());
        }
        let mut written = Vec::new();
        while let Some(frame) = outbox.pop() {
            written.push(String::from_utf8(frame).unwrap());
        }
        assert_eq!(written[..2], ["a99", "b99"]);
        assert_eq!(written.len(), 2 + MAX_WAITING_MESSAGES);
        assert_eq!(
            written.last().unwrap(),
            &format!("m{}", MAX_WAITING_MESSAGES - 1)
        );
        // Once read, there is room again.
        outbox.send(b"later".to_vec());
        assert_eq!(outbox.pop().as_deref(), Some(&b"later"[..]));
    }
}
