//! `waitgroup-wait-in-loop`: `wg.Wait()` inside the loop that starts the goroutines it waits
//! for: each iteration waits for its own goroutine, so they run one at a time.

use super::{wg_calls_within, wg_key};
use crate::finding::LineOf;
use crate::finding::{Finding, Severity};
use crate::{Context, Family, RuleMeta};
use goconc_model::goroutines::goroutine_start;
use goconc_model::sync_calls::{waitgroup_call, WaitGroupOp};
use goconc_syntax::NodeExt;
use goconc_syntax::{enclosing_loop, is_within};
use tree_sitter::Node;

pub static META: RuleMeta = RuleMeta {
    id: "waitgroup-wait-in-loop",
    family: Family::WaitGroup,
    severity: Severity::Warning,
    summary: "`wg.Wait()` inside the loop that starts the goroutines it waits for: every iteration waits for its own goroutine, so they run one at a time.",
    fix: None,
    doc: r#"
## Why it matters
The point of starting goroutines in a loop is to let them run together. When `wg.Wait()` sits
inside that loop, after the `go` statement, each iteration blocks until its own goroutine is
done before the next one starts: the work runs one item at a time, with the cost of a goroutine
per item and none of the concurrency. It usually comes from moving a block of code, or from a
`Wait` meant to follow the loop.

## Example
```go
for _, u := range urls {
	wg.Add(1)
	go func() {
		defer wg.Done()
		fetch(u)
	}()
	wg.Wait()
}
```
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

## Fix
Move `wg.Wait()` after the loop. If one goroutine at a time is what you want, call the work
directly instead of starting a goroutine for it. No automatic fix: a `Wait` in the loop may be
there on purpose (a batch boundary), which the code does not say.

## When it stays silent
- The goroutines started in the loop do not count on that group (no `Done` on it, not started
  with its `Go`).
- The `Wait` is in a nested loop or branch of its own that the starting statement is not in
  (a batch boundary: `if i%batch == 0 { wg.Wait() }`).
- The `Wait` comes before the `go` statement in the iteration (it waits for the previous one).
- The iteration starts two or more goroutines on the group before the `Wait`: they run
  together, and the `Wait` closes the batch.
- The iteration does work of its own between starting its goroutine and the `Wait` (any
  statement but another call on a WaitGroup): the goroutine runs beside that work (a collector
  the loop body feeds, a reader paired with the body's writer), and the `Wait` joins the two.
  The goroutine followed at once by the `Wait` (or by only `Add`/`Done` calls) stays reported.
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    if cx.index.go_statements.is_empty() && cx.index.calls_named("Go").is_empty() {
        return;
    }
    for &call in cx.index.calls_named("Wait") {
        let Some(wait) = waitgroup_call(cx.model, call).filter(|c| c.op == WaitGroupOp::Wait)
        else {
            continue;
        };
        let Some(key) = wg_key(cx.model, wait.receiver) else {
            continue;
        };
        let Some(lp) = enclosing_loop(call) else {
            continue;
        };
        let Some(body) = lp.field("body") else {
            continue;
        };
        // The Wait must be a statement of the loop body itself (not a batch boundary in a
        // branch or an inner loop).
        let Some(stmt) = goconc_syntax::call_statement(call) else {
            continue;
        };
        if goconc_syntax::parent_block(stmt) != Some(body) {
            continue;
        }
        // The goroutines started earlier in the same iteration that count on this group.
        // Only a literal inside the loop's body can start there.
        let started: Vec<_> = cx
            .index
            .func_literals_within(body)
            .filter(|&lit| {
                let Some(start) = goroutine_start(cx.model, lit) else {
                    return false;
                };
                if !is_within(start, body)
                    || start.start_byte() >= call.start_byte()
                    || enclosing_loop(start) != Some(lp)
                {
                    return false;
                }
                let group_go = start.kind_str() == "call_expression"
                    && waitgroup_call(cx.model, start).is_some_and(|g| {
                        g.op == WaitGroupOp::Go
                            && wg_key(cx.model, g.receiver).as_ref() == Some(&key)
                    });
                group_go
                    || wg_calls_within(cx, WaitGroupOp::Done, &key, lit)
                        .next()
                        .is_some()
            })
            .collect();
        // Several goroutines in one iteration run together: the `Wait` closes a batch.
        let [lit] = started[..] else {
            continue;
        };
        let start = goroutine_start(cx.model, lit).unwrap_or(lit);
        if works_alongside(cx, body, start, stmt) {
            continue;
        }
        let recv = goconc_syntax::text(wait.receiver, cx.src);
        let message = format!(
            "`{recv}.Wait()` inside the loop that starts the goroutines (line {}): each iteration waits for its own goroutine, so they run one at a time",
            LineOf(start.start_byte())
        );
        out.push(META.finding(call.byte_span(), message).with_related(
            start.byte_span(),
            "the goroutine started in the same iteration",
        ));
    }
}

/// Does the iteration do work of its own between starting its goroutine and waiting for it (a
/// statement other than a call on a WaitGroup)? Then the goroutine runs beside that work — a
/// collector fed by the loop body, a reader paired with a writer — and the `Wait` joins the two.
fn works_alongside(cx: &Context, body: Node, start: Node, wait_stmt: Node) -> bool {
    let stmts = goconc_syntax::statements(body);
    let Some(from) = stmts.iter().position(|s| is_within(start, *s)) else {
        return false;
    };
    let Some(to) = stmts.iter().position(|s| *s == wait_stmt) else {
        return false;
    };
    stmts.get(from + 1..to).unwrap_or_default().iter().any(|s| {
        goconc_syntax::statement_call(*s)
            .is_none_or(|call| waitgroup_call(cx.model, call).is_none())
    })
}
