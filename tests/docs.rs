//! `docs/rules/*.md` are generated from each rule's own documentation (`RuleMeta::page()`).
//! This test fails when they are stale; `cargo run -- gen-docs` rewrites them.

use std::path::Path;
use std::process::Command;

#[test]
fn rule_docs_are_up_to_date() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(env!("CARGO_BIN_EXE_goconc"))
        .args(["gen-docs", "--check", "--out"])
        .arg(root.join("docs/rules"))
        .output()
        .expect("run goconc gen-docs --check");
    assert!(
        out.status.success(),
        "{}{}\nThe rule pages are generated from the rules' source: run `cargo run -- gen-docs` and commit docs/rules.",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
