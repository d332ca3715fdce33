//! A guard in front of tower-lsp-server's transport.
//!
//! tower-lsp-server answers a body that is not JSON with a parse error, but its framed reader
//! (tokio-util) ends the input stream after any decode error, so the server would then stop
//! reading and exit. This layer reads the client's frames itself, forwards only well-formed
//! JSON-RPC messages, and answers the rest itself: `-32700 Parse error` for a body that is not
//! JSON (or a header without a usable `Content-Length`), `-32600 Invalid Request` for JSON that is
//! no JSON-RPC message. Answers are written between whole frames of the server's output.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};
use tokio::sync::mpsc;
use tower_lsp_server::jsonrpc::{Request, Response};
use tracing::warn;

/// Bodies larger than this are refused (a broken Content-Length must not allocate gigabytes).
const MAX_BODY: usize = 256 * 1024 * 1024;

/// Notifications the server writes straight to the client, framed between the frames of
/// tower-lsp-server's output. `publishDiagnostics` goes this way: serialized once from its typed
/// params, where tower-lsp-server would first build a JSON value tree of every diagnostic (a
/// third of the publishing cost of a file with 171 findings). Every publication must take this one
/// path so they reach the client in the order they were sent.
#[derive(Clone)]
pub struct Outbox(mpsc::UnboundedSender<Vec<u8>>);

impl Outbox {
    /// Sends a notification (dropped once the output is closed: the client is gone).
    pub fn notify<N: tower_lsp_server::ls_types::notification::Notification>(
        &self,
        params: &N::Params,
    ) {
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
            Ok(body) => {
                let _ = self.0.send(frame(&body));
            }
            Err(e) => warn!("goconc bug: {} not serialized: {e}", N::METHOD),
        }
    }
}

pub enum Frame {
    Body(Vec<u8>),
    /// A header block without a usable `Content-Length`.
    BadHeader(String),
}

/// Reads one `Content-Length` framed message; None at the end of input.
pub async fn read_frame<R: AsyncBufRead + Unpin>(r: &mut R) -> io::Result<Option<Frame>> {
    let mut len: Option<Result<usize, String>> = None;
    let mut saw_header = false;
    loop {
        let mut line = Vec::new();
        if r.read_until(b'\n', &mut line).await? == 0 {
            return Ok(None);
        }
        let line = String::from_utf8_lossy(&line);
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            if !saw_header {
                continue; // stray blank line between messages
            }
            break;
        }
        saw_header = true;
        if let Some((name, value)) = line.split_once(':') {
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
    let mut body = vec![0; len];
    r.read_exact(&mut body).await?;
    Ok(Some(Frame::Body(body)))
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

/// Copies the client's messages to the server, answering malformed ones on `answers`. Also
/// records whether `shutdown` was requested (in input order, before `exit` can end the server).
async fn read_client<I: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    input: I,
    mut to_server: W,
    answers: mpsc::UnboundedSender<Vec<u8>>,
    shutdown: Arc<AtomicBool>,
) {
    let mut input = BufReader::with_capacity(1 << 16, input);
    loop {
        match read_frame(&mut input).await {
            Ok(Some(Frame::Body(body))) => match check(&body) {
                Ok(rewritten) => {
                    let body = rewritten.unwrap_or(body);
                    if is_method(&body, "shutdown") {
                        shutdown.store(true, Ordering::SeqCst);
                    }
                    if is_method(&body, "exit") {
                        exit_soon(shutdown.load(Ordering::SeqCst));
                    }
                    if to_server.write_all(&frame(&body)).await.is_err() {
                        return;
                    }
                    let _ = to_server.flush().await;
                }
                Err(answer) => {
                    let _ = answers.send(answer);
                }
            },
            Ok(Some(Frame::BadHeader(message))) => {
                warn!("{message}");
                let _ = answers.send(error_response(Value::Null, -32700, "Parse error"));
            }
            Ok(None) => return,
            Err(e) => {
                warn!("reading the client's input failed: {e}");
                return;
            }
        }
    }
}

/// `exit` means exit: give the server a moment to stop on its own (and flush what it wrote),
/// then leave even if something is still running — an analysis of a huge file on a blocking
/// thread, or a runtime waiting on a task.
fn exit_soon(after_shutdown: bool) {
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(500));
        std::process::exit(if after_shutdown { 0 } else { 1 });
    });
}

/// Copies the server's frames to the client, with our own answers between whole frames.
async fn write_client<R: AsyncRead + Unpin, O: AsyncWrite + Unpin>(
    from_server: R,
    mut answers: mpsc::UnboundedReceiver<Vec<u8>>,
    mut output: O,
) {
    let mut from_server = BufReader::with_capacity(1 << 16, from_server);
    let mut server_open = true;
    let mut answers_open = true;
    while server_open {
        let bytes = tokio::select! {
            frame = read_frame(&mut from_server), if server_open => match frame {
                Ok(Some(Frame::Body(body))) => crate::transport::frame(&body),
                _ => { server_open = false; continue; }
            },
            answer = answers.recv(), if answers_open => match answer {
                Some(bytes) => bytes,
                None => { answers_open = false; continue; }
            },
        };
        if output.write_all(&bytes).await.is_err() || output.flush().await.is_err() {
            return;
        }
    }
}

fn is_method(body: &[u8], method: &str) -> bool {
    serde_json::from_slice::<Value>(body)
        .is_ok_and(|v| v.get("method").and_then(Value::as_str) == Some(method))
}

/// Runs `serve_lsp` on guarded streams: it gets a clean stream of valid messages and writes into a
/// pipe whose frames are copied to `output`, and an [`Outbox`] for notifications it writes
/// itself.
/// Returns the exit code: 0 when `shutdown` came before the end, 1 otherwise.
pub async fn guarded<I, O, F, Fut>(input: I, output: O, serve_lsp: F) -> i32
where
    I: AsyncRead + Unpin + Send + 'static,
    O: AsyncWrite + Unpin + Send + 'static,
    F: FnOnce(tokio::io::DuplexStream, tokio::io::DuplexStream, Outbox) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let shutdown = Arc::new(AtomicBool::new(false));
    let (to_server, server_in) = tokio::io::duplex(1 << 16);
    let (server_out, from_server) = tokio::io::duplex(1 << 16);
    let (answers_tx, answers_rx) = mpsc::unbounded_channel();
    let outbox = Outbox(answers_tx.clone());
    let reader = tokio::spawn(read_client(input, to_server, answers_tx, shutdown.clone()));
    let writer = tokio::spawn(write_client(from_server, answers_rx, output));
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

    #[tokio::test]
    async fn frames_and_checks() {
        let input =
            b"Content-Length: 2\r\n\r\n{}\r\nX: y\r\n\r\nContent-Length: 5\r\n\r\n{nope".to_vec();
        let mut r = BufReader::new(&input[..]);
        let Some(Frame::Body(b)) = read_frame(&mut r).await.unwrap() else {
            panic!()
        };
        assert_eq!(b, b"{}");
        assert!(check(&b).is_err());
        assert!(matches!(
            read_frame(&mut r).await.unwrap(),
            Some(Frame::BadHeader(_))
        ));
        let Some(Frame::Body(b)) = read_frame(&mut r).await.unwrap() else {
            panic!()
        };
        assert!(String::from_utf8(check(&b).unwrap_err())
            .unwrap()
            .contains("-32700"));
        assert!(read_frame(&mut r).await.unwrap().is_none());
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
}
