//! The goconc language server: diagnostics and quick fixes for Go concurrency mistakes, on every
//! keystroke, over LSP on stdio (`goconc lsp`).
//!
//! Code map:
//! - [`server`]: open documents (`DashMap<Uri, Document>`), a worker per document that parses and
//!   analyses off the handlers, the LSP handlers;
//! - [`convert`]: every conversion between LSP types and the engine's byte offsets;
//! - [`actions`]: quick fixes, "ignore on this line", fix-all;
//! - [`workspace`]: the module index: per folder the files' declarations, merged package models
//!   and the background check's findings in closed files; go.mod, goconc.toml;
//! - [`background`]: the background check of the workspace folders (workspace diagnostics);
//!   [`go_files`]: which files are Go source, and the walk that finds them (the CLI's too);
//! - [`rule_docs`]: hovers and pages of the rules; [`commands`]: `workspace/executeCommand`;
//! - [`settings`]: the client's settings; [`logging`]: stderr logs;
//! - [`transport`]: a guard that answers malformed input itself (tower-lsp-server's reader stops
//!   at the first undecodable message).
//!
//! The engine (`goconc_analysis`) never sees an LSP type; this crate never looks at Go semantics.

pub mod actions;
pub mod background;
pub mod commands;
pub mod convert;
pub mod go_files;
pub mod logging;
pub mod rule_docs;
pub mod server;
pub mod settings;
pub mod transport;
pub mod workspace;

use tokio::io::{AsyncRead, AsyncWrite};
use tower_lsp_server::{LspService, Server as LspServer};

/// Serves LSP on the given streams until `exit` (or the end of input). Returns the process exit
/// code: 0 when `shutdown` came before `exit`, 1 otherwise (as the protocol asks). The process
/// is left alone: see [`run_stdio`] for the one that ends itself at `exit`.
pub async fn serve<I, O>(stdin: I, stdout: O) -> i32
where
    I: AsyncRead + Unpin + Send + 'static,
    O: AsyncWrite + Unpin + Send + 'static,
{
    serve_with(stdin, stdout, std::sync::Arc::new(|_| {})).await
}

/// [`serve`], calling `on_exit` when the client's `exit` arrives.
pub async fn serve_with<I, O>(stdin: I, stdout: O, on_exit: transport::OnExit) -> i32
where
    I: AsyncRead + Unpin + Send + 'static,
    O: AsyncWrite + Unpin + Send + 'static,
{
    transport::guarded(stdin, stdout, on_exit, |input, output, outbox| async move {
        let (service, socket) = LspService::new(|client| server::Server::new(client, outbox));
        // Requests that wait hold a slot each (a held `workspace/diagnostic`, code actions and
        // pulls waiting for an analysis); notifications must never queue behind them.
        LspServer::new(input, output, socket)
            .concurrency_level(64)
            .serve(service)
            .await;
    })
    .await
}

/// Runs the server on stdin/stdout with its own runtime; returns the exit code.
pub fn run_stdio() -> i32 {
    logging::init();
    // The engine bounds its own recursion (`MAX_NESTING`); a larger stack than tokio's 2 MiB is
    // a margin for the blocking threads that analyse, not the guard.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(16 << 20)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return 2;
        }
    };
    let code = runtime.block_on(serve_with(
        tokio::io::stdin(),
        tokio::io::stdout(),
        std::sync::Arc::new(transport::exit_soon),
    ));
    // The stdin reader may sit in a blocking read forever, and an analysis may still be running
    // on a blocking thread: after `exit` nothing of either is wanted, so leave at once.
    use std::io::Write;
    let _ = std::io::stdout().flush();
    std::process::exit(code)
}
