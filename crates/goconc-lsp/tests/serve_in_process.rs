//! `goconc_lsp::serve` is a library call: an editor host or a test that embeds the server keeps
//! running after the client's `exit`. Only `run_stdio` (the `goconc lsp` command) ends the
//! process. A child copy of this test binary runs two sessions in a row and prints a line after
//! each; the parent reads them, so a `process::exit` inside `serve` (which would end the child
//! with status 0 before its lines) fails the test.

use std::process::Command;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CHILD: &str = "GOCONC_SERVE_IN_PROCESS_CHILD";

fn frame(body: &str) -> String {
    format!("Content-Length: {}\r\n\r\n{body}", body.len())
}

/// One session: initialize, shutdown, exit; the exit code `serve` returns.
async fn session() -> i32 {
    let (client, server) = tokio::io::duplex(1 << 16);
    let (server_read, server_write) = tokio::io::split(server);
    let serving = tokio::spawn(goconc_lsp::serve(server_read, server_write));
    let (mut client_read, mut client_write) = tokio::io::split(client);
    let draining = tokio::spawn(async move {
        let mut sink = Vec::new();
        let _ = client_read.read_to_end(&mut sink).await;
    });
    let messages = [
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}"#,
        r#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#,
        r#"{"jsonrpc":"2.0","id":2,"method":"shutdown"}"#,
        r#"{"jsonrpc":"2.0","method":"exit"}"#,
    ];
    for message in messages {
        client_write
            .write_all(frame(message).as_bytes())
            .await
            .expect("the server reads its input");
    }
    let code = serving.await.expect("serve does not panic");
    drop(client_write);
    let _ = draining.await;
    code
}

#[test]
fn serve_returns_to_its_caller_after_exit() {
    if std::env::var_os(CHILD).is_some() {
        let runtime = tokio::runtime::Runtime::new().expect("a runtime");
        for n in 1..=2 {
            let code = runtime.block_on(session());
            println!("session {n} returned {code}");
        }
        return;
    }
    let output = Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "serve_returns_to_its_caller_after_exit",
            "--exact",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .expect("the child runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("session 1 returned 0") && stdout.contains("session 2 returned 0"),
        "the child ended before both sessions returned (status {:?}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}
