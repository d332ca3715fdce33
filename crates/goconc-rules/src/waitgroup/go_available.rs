//! `waitgroup-go-available`: `wg.Add(1)` + `go func() { defer wg.Done(); … }()` is what
//! `wg.Go(func() { … })` does (Go 1.25).

use goconc_syntax::NodeExt;
use tree_sitter::Node;

use super::{wg_calls_within, wg_key};
use crate::finding::{Finding, Severity, TextEdit};
use crate::{Context, Family, RuleMeta};
use goconc_model::goroutines::in_nested_goroutine;
use goconc_model::sync_calls::{waitgroup_call, WaitGroupOp};
use goconc_model::SyncKind;
use goconc_syntax::call_statement;
use goconc_syntax::{call_args, named_children, statement_call, statements, text, unparen};

pub static META: RuleMeta = RuleMeta {
    id: "waitgroup-go-available",
    family: Family::WaitGroup,
    severity: Severity::Hint,
    summary: "`wg.Add(1); go func() { defer wg.Done(); … }()` is what `wg.Go(func() { … })` does (Go ≥ 1.25).",
    fix: Some("rewrite to `wg.Go(func() { … })`"),
    doc: r#"
## Why it matters
Go 1.25 added `sync.WaitGroup.Go`, which adds one, starts the function on a new goroutine and
calls `Done` when it returns. The three-part idiom it replaces is where WaitGroup bugs live: the
`Add` drifts into the goroutine, the `Done` loses its `defer`, or one `Add(1)` ends up counting two
goroutines. With `wg.Go` there is nothing to get out of step.

## Example
```go
for _, u := range urls {
	wg.Add(1)
	go func() {
		defer wg.Done()
		fetch(u)
	}()
}
wg.Wait()
```
```go
for _, u := range urls {
	wg.Go(func() {
		fetch(u)
	})
}
wg.Wait()
```

## Fix
The quick fix replaces the `Add` and the `go` statement by `wg.Go(func() { … })`, keeping the body
without its `defer wg.Done()` line.

## When it stays silent
- The module's Go version (its `go.mod`, or a `//go:build go1.N` line) is below 1.25.
- The literal takes parameters or arguments, `Add` adds more than one, a statement or a comment
  line stands between `Add` and `go`, the `defer wg.Done()` is not the first statement, or the `Done`
  is on another group.
- The receiver is not a `sync.WaitGroup` itself (a type embedding one may have a `Go` of its own).
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    if !cx.go_version.at_least(25) || cx.index.go_statements.is_empty() {
        return;
    }
    for &node in cx.index.calls_named("Add") {
        let Some(add) = waitgroup_call(cx.model, node).filter(|c| c.op == WaitGroupOp::Add) else {
            continue;
        };
        if cx.model.type_of(add.receiver).deref().sync_kind() != Some(SyncKind::WaitGroup) {
            continue;
        }
        if call_args(add.call)
            .iter()
            .map(|a| text(unparen(*a), cx.src))
            .collect::<Vec<_>>()
            != ["1"]
        {
            continue;
        }
        let Some(stmt) =
            call_statement(add.call).filter(|s| s.kind_str() == "expression_statement")
        else {
            continue;
        };
        let Some(go) = next_statement(stmt, cx.src).filter(|n| n.kind_str() == "go_statement")
        else {
            continue;
        };
        let Some(key) = wg_key(cx.model, add.receiver) else {
            continue;
        };
        let Some(go_call) = statement_call(go) else {
            continue;
        };
        let Some(lit) = go_call
            .field("function")
            .map(unparen)
            .filter(|f| f.kind_str() == "func_literal")
        else {
            continue;
        };
        if !call_args(go_call).is_empty()
            || lit.field("result").is_some()
            || lit
                .field("parameters")
                .is_some_and(|p| named_children(p).next().is_some())
        {
            continue;
        }
        let Some(body) = lit.field("body") else {
            continue;
        };
        let Some(first) = statements(body)
            .first()
            .copied()
            .filter(|s| s.kind_str() == "defer_statement")
        else {
            continue;
        };
        let first_is_done = statement_call(first)
            .and_then(|c| waitgroup_call(cx.model, c))
            .is_some_and(|c| {
                c.op == WaitGroupOp::Done && wg_key(cx.model, c.receiver).as_ref() == Some(&key)
            });
        if !first_is_done {
            continue;
        }
        // Any other Add or Done of the goroutine itself on this group would be off by one in `Go`.
        let others = wg_calls_within(cx, WaitGroupOp::Done, &key, body)
            .chain(wg_calls_within(cx, WaitGroupOp::Add, &key, body))
            .filter(|c| !in_nested_goroutine(cx.model, c.call, body))
            .count();
        if others != 1 {
            continue;
        }
        let recv = text(add.receiver, cx.src);
        let mut finding = META
            .finding(add.call.byte_span(), format!("`{recv}.Add(1)` and a `go` statement with `defer {recv}.Done()` are what `{recv}.Go` does"))
            .with_related(go.byte_span().start..go.byte_span().start + 2, "the goroutine it counts");
        if let Some(edit) = fix(cx.src, stmt, go, body, first, recv) {
            finding = finding.with_fix(
                format!("Rewrite to `{recv}.Go(func() {{ … }})`"),
                vec![edit],
            );
        }
        out.push(finding);
    }
}

/// The statement after `stmt` when only a comment on `stmt`'s own line stands between them.
fn next_statement<'t>(stmt: Node<'t>, src: &str) -> Option<Node<'t>> {
    let mut next = stmt.next_named_sibling();
    while let Some(n) = next {
        if n.kind_str() != "comment" {
            return Some(n);
        }
        if n.start_position().row != stmt.end_position().row || text(n, src).starts_with("/*") {
            return None;
        }
        next = n.next_named_sibling();
    }
    None
}

/// Replaces `wg.Add(1)` … `}()` by `wg.Go(func() {` + the body without the defer line + `})`.
fn fix(
    src: &str,
    add_stmt: Node,
    go: Node,
    body: Node,
    defer: Node,
    recv: &str,
) -> Option<TextEdit> {
    super::go_rewrite(src, add_stmt.start_byte(), go, body, &[(defer, true)], recv)
}
