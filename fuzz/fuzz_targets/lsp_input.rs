//! Bytes into the language server's public entry point (`goconc_lsp::serve`), as a client would
//! send them on stdin: either raw (misframed headers, truncated bodies) or, when the first byte
//! is odd, split at 0xFF into bodies that are each framed with a correct `Content-Length`. The
//! server must answer or drop each message and end at `exit` or at the end of input, without
//! panicking or hanging.
#![no_main]

use libfuzzer_sys::fuzz_target;

fn framed(bodies: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for body in bodies.split(|&b| b == 0xFF) {
        out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        out.extend_from_slice(body);
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let input = if mode % 2 == 1 { framed(rest) } else { rest.to_vec() };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async move {
        let code = goconc_lsp::serve(std::io::Cursor::new(input), tokio::io::sink()).await;
        assert!(code == 0 || code == 1, "exit code {code}");
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
});
