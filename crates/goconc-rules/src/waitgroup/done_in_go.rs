//! `waitgroup-done-in-go`: `wg.Done()` inside the function given to `wg.Go`.

use super::{wg_calls_within, wg_key};
use crate::finding::LineOf;
use crate::finding::{Finding, Severity, TextEdit};
use crate::{Context, Family, RuleMeta};
use goconc_model::goroutines::in_nested_goroutine;
use goconc_model::sync_calls::{waitgroup_call, WaitGroupOp};
use goconc_syntax::NodeExt;
use goconc_syntax::{call_args, text, unparen};
use goconc_syntax::{call_statement, statement_line};

pub static META: RuleMeta = RuleMeta {
    id: "waitgroup-done-in-go",
    family: Family::WaitGroup,
    severity: Severity::Error,
    summary: "`wg.Done()` inside `wg.Go(func(){ … })`: `Go` already calls `Done`, so the counter goes negative and panics.",
    fix: Some("delete the `Done`"),
    doc: r#"
## Why it matters
`wg.Go(f)` (Go 1.25) adds one to the counter, runs `f` on a new goroutine and calls `Done` when `f`
returns. A `Done` written inside `f` out of the `Add`/`go`/`defer Done` habit is a second `Done`
for the same `Add`: the counter goes below zero and the program panics with
`sync: negative WaitGroup counter` — or, when the count happens to be positive from other
goroutines, `Wait` returns while work is still running.

## Example
```go
for _, f := range files {
	wg.Go(func() {
		defer wg.Done()
		compress(f)
	})
}
wg.Wait()
```
```go
for _, f := range files {
	wg.Go(func() {
		compress(f)
	})
}
wg.Wait()
```

## Fix
The quick fix deletes the line of the `Done` statement (`defer` included).

## When it stays silent
- The `Done` is on another group (an inner `WaitGroup` the function counts itself), or inside a
  goroutine the function starts.
- The function also calls `Add` on the same group, so its counting is its own.
- `errgroup.Group.Go`, and types with `Go` and `Done` methods of their own.
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    if cx.index.calls_named("Done").is_empty() {
        return;
    }
    for &node in cx.index.calls_named("Go") {
        let Some(go) = waitgroup_call(cx.model, node).filter(|c| c.op == WaitGroupOp::Go) else {
            continue;
        };
        let Some(lit) = call_args(go.call)
            .first()
            .map(|a| unparen(*a))
            .filter(|a| a.kind_str() == "func_literal")
        else {
            continue;
        };
        let Some(key) = wg_key(cx.model, go.receiver) else {
            continue;
        };
        let Some(body) = lit.field("body") else {
            continue;
        };
        if wg_calls_within(cx, WaitGroupOp::Add, &key, body)
            .any(|a| !in_nested_goroutine(cx.model, a.call, body))
        {
            continue;
        }
        let recv = text(go.receiver, cx.src);
        for done in wg_calls_within(cx, WaitGroupOp::Done, &key, body) {
            if in_nested_goroutine(cx.model, done.call, body) {
                continue;
            }
            let mut finding = META
                .finding(
                    done.call.byte_span(),
                    format!("`{recv}.Done()` inside `{recv}.Go`: `Go` already calls `Done` when the function returns, so the counter goes negative and panics"),
                )
                .with_related(go.call.byte_span(), format!("`{recv}.Go` runs the function here (line {})", LineOf(go.call.start_byte())));
            if let Some(line) = call_statement(done.call).and_then(|s| statement_line(s, cx.src)) {
                finding = finding.with_fix(
                    format!("Delete `{}`", text(done.call, cx.src)),
                    vec![TextEdit {
                        range: line,
                        new_text: String::new(),
                    }],
                );
            }
            out.push(finding);
        }
    }
}
