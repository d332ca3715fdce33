//! `context-loop-ignores-cancel`: a loop that blocks or does long work in a function with a
//! context, but never checks the context nor passes it on: cancelling does not stop it.

use goconc_syntax::NodeExt;
use tree_sitter::Node;

use super::background_in_context_func::context_param;
use crate::finding::{Finding, Severity, TextEdit};
use crate::fixes::return_error;
use crate::{Context, Family, RuleMeta};
use goconc_model::blocking::{blocking_call, blocking_method};
use goconc_model::flow::is_no_return_call;
use goconc_model::Ty;
use goconc_syntax::{
    enclosing_function, line_end_after_newline, line_indent, method_call, named_children, newline,
    text, unparen, walk,
};

pub static META: RuleMeta = RuleMeta {
    id: "context-loop-ignores-cancel",
    family: Family::Context,
    severity: Severity::Warning,
    summary: "A loop in a function with a context that neither checks `ctx.Done()`/`ctx.Err()` nor passes the context to anything it calls, and blocks or does long work.",
    fix: Some("insert a `select` on `ctx.Done()` at the top of the loop when the function returns an error"),
    doc: r#"
## Why it matters
A function that takes a context should stop soon after the context is cancelled. A loop inside it
that sleeps, waits on channels or does I/O without ever looking at the context keeps going after
the caller has given up: a shutdown waits for it, a cancelled request keeps its goroutine and its
connections busy.

## Example
```go
func Poll(ctx context.Context, s *Source) error {
	for {
		if s.Ready() {
			return nil
		}
		time.Sleep(time.Second)
	}
}
```
```go
func Poll(ctx context.Context, s *Source) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if s.Ready() {
			return nil
		}
		time.Sleep(time.Second)
	}
}
```

## Fix
When the function's last result is an `error` (and its other results have simple zero values), the
quick fix inserts a non-blocking `select` on `ctx.Done()` at the top of the loop body that returns
`ctx.Err()`. Passing the context to the blocking calls (`http.NewRequestWithContext`,
`QueryContext`, a `select` that also waits on `ctx.Done()`) is often better still.

The inserted `select` mentions the context, so the loop is not reported again once fixed.

## Severity
- **warning**: the loop has no way out: no condition or range clause, and no `return`, `goto`,
  call that never returns or `break` leaving it. Nothing but the process can end it, so the
  function never gives control back to the caller that cancels (`for { job := <-jobs; run(job) }`
  in a worker that takes a context).
- **hint**: the loop ends by its own condition (a bounded retry, a poll that returns when ready, a
  receive that returns once the channel is closed); cancelling only fails to cut it short.

## When it stays silent
- The loop mentions the context (or any other `context.Context`) anywhere, a `select` or a
  function literal of the loop included: it checks it or passes it on.
- Nothing in the loop's own body blocks: no sleep, no network, file, database or process I/O from
  the standard library, no bare channel receive (a `select` may have a cancel case of its own,
  ranging over a channel ends when its producer closes it, and sends are the business of
  `goroutine-send-without-cancel`). A `select` whose every case waits on a timer or ticker
  (`<-t.C`, `<-time.After(d)`) has no case that could stop it and blocks like a receive; a
  range over a timer's or ticker's channel blocks and is no way out, since nothing closes it.
- The function has no named `context.Context` parameter.
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    // No context without importing the context package (a context.Context parameter names it).
    if !cx.model.imports.imports("context") {
        return;
    }
    for &stmt in &cx.index.for_statements {
        if let Some(f) = check_loop(cx, stmt) {
            out.push(f);
        }
    }
}

fn check_loop(cx: &Context, stmt: Node) -> Option<Finding> {
    let ctx = context_param(cx, stmt)?;
    let body = stmt.field("body")?;
    let names_context = |m: Node| {
        m.kind_str() == "identifier"
            && cx
                .model
                .resolve(m)
                .is_some_and(|d| d.ident == ctx.ident || d.ty.is_named("context", "Context"))
    };
    let mut mentions_context = false;
    let mut blocking: Option<(Node, String)> = None;
    walk(stmt, |n| {
        if mentions_context {
            return false;
        }
        match n.kind_str() {
            "identifier" => mentions_context = names_context(n),
            // Goroutines and callbacks of the loop, and its `select`s (which may have a cancel
            // case of their own): a context use there counts, their blocking does not.
            "func_literal" | "select_statement" => {
                walk(n, |m| {
                    mentions_context |= names_context(m);
                    !mentions_context
                });
                // A `select` that waits only for timers and tickers has no case that could
                // stop it: it blocks like a bare receive.
                if blocking.is_none()
                    && n.kind_str() == "select_statement"
                    && timers_only(cx, n)
                    && goconc_syntax::enclosing_loop(n) == Some(stmt)
                {
                    blocking = Some((n, "waits in a `select` on timers only".to_string()));
                }
                return false;
            }
            _ => {}
        }
        // The operation first: `enclosing_loop` climbs with `parent()`, which searches down
        // from the root, and most nodes block nothing.
        if blocking.is_none() {
            if let Some(what) = blocking_op(cx, n) {
                if goconc_syntax::is_within(n, body)
                    && goconc_syntax::enclosing_loop(n) == Some(stmt)
                {
                    blocking = Some((n, what));
                }
            }
        }
        true
    });
    if mentions_context {
        return None;
    }
    // `for range ticker.C`: a ticker's channel is never closed, so the range is no way out.
    let ticker_range = ranged_timer(cx, stmt);
    let (op, what) = match ticker_range {
        Some(range) => (
            range,
            "ranges over a timer's channel (never closed)".to_string(),
        ),
        None => blocking?,
    };
    let name = ctx.name;
    // A loop that nothing but the process can end never returns to the caller who cancels; one
    // with a way out ends when its own condition says so, which may be soon enough.
    let endless = !has_way_out(cx, stmt, body, ticker_range.is_some());
    let mut finding = match endless {
        true => META.finding(
            stmt.start_byte()..stmt.start_byte() + 3,
            format!("this loop {what} and has no way out, and never checks `{name}`: cancelling the context cannot stop it"),
        ),
        false => {
            let mut finding = META.finding(
                stmt.start_byte()..stmt.start_byte() + 3,
                format!("this loop {what} but never checks `{name}`: cancelling the context does not stop it"),
            );
            finding.severity = Severity::Hint;
            finding
        }
    }
    .with_related(op.byte_span(), "blocks here");
    if let Some(edit) = fix(cx, stmt, body, name) {
        finding = finding.with_unsafe_fix(
            format!("Return when `{name}` is done, at the top of each iteration"),
            vec![edit],
        );
    }
    Some(finding)
}

/// Whether anything but the context could end the loop: a condition or range clause in its
/// header, or in its body (outside function literals) a `return`, a `goto`, a call that never
/// returns, or a `break` that leaves it.
fn has_way_out(cx: &Context, stmt: Node, body: Node, ranges_timer: bool) -> bool {
    if named_children(stmt).any(|c| c != body && c.kind_str() != "for_clause" && !ranges_timer)
        || named_children(stmt)
            .any(|c| c.kind_str() == "for_clause" && c.field("condition").is_some())
    {
        return true;
    }
    let label = stmt
        .parent_node()
        .filter(|p| p.kind_str() == "labeled_statement")
        .and_then(|p| p.field("label"))
        .map(|l| text(l, cx.src));
    let mut out = false;
    walk(body, |n| {
        if out {
            return false;
        }
        match n.kind_str() {
            "func_literal" => return false,
            "return_statement" | "goto_statement" => out = true,
            "break_statement" => {
                out = match named_children(n).next() {
                    Some(target) => Some(text(target, cx.src)) == label,
                    None => breaks_this_loop(n, body),
                }
            }
            "call_expression" => out = is_no_return_call(cx.model, n),
            _ => {}
        }
        !out
    });
    out
}

/// Whether an unlabelled `break` leaves the loop whose body is `body` (it is not inside a nested
/// `for`, `switch` or `select`).
fn breaks_this_loop(brk: Node, body: Node) -> bool {
    let mut up = brk.parent_node();
    while let Some(p) = up {
        if p == body {
            return true;
        }
        if matches!(
            p.kind_str(),
            "for_statement"
                | "expression_switch_statement"
                | "type_switch_statement"
                | "select_statement"
        ) {
            return false;
        }
        up = p.parent_node();
    }
    false
}

/// A channel that only a timer sends on and nothing closes: `time.After(d)`, `time.Tick(d)`,
/// `t.C` of a `*time.Timer` or `*time.Ticker`.
fn timer_channel(cx: &Context, expr: Node) -> bool {
    let expr = unparen(expr);
    match expr.kind_str() {
        "call_expression" => expr
            .field("function")
            .and_then(|f| cx.model.qualified_name(f, "time"))
            .is_some_and(|name| matches!(name, "After" | "Tick")),
        "selector_expression" => {
            let (Some(operand), Some(field)) = (expr.field("operand"), expr.field("field")) else {
                return false;
            };
            text(field, cx.src) == "C"
                && matches!(cx.model.type_of(operand).deref(),
                    Ty::Named { pkg, name } if pkg == "time" && matches!(name.as_str(), "Ticker" | "Timer"))
        }
        _ => false,
    }
}

/// A `select` with no `default` whose every case receives from a timer's channel.
fn timers_only(cx: &Context, select: Node) -> bool {
    let mut cases = 0;
    for case in named_children(select) {
        match case.kind_str() {
            "communication_case" => {
                let Some(communication) = case.field("communication") else {
                    return false;
                };
                let receive = match communication.kind_str() {
                    "receive_statement" => communication.field("right"),
                    "expression_statement" => named_children(communication).next(),
                    _ => None,
                };
                let channel = receive
                    .map(unparen)
                    .filter(|r| r.kind_str() == "unary_expression")
                    .and_then(|r| r.field("operand"));
                if !channel.is_some_and(|c| timer_channel(cx, c)) {
                    return false;
                }
                cases += 1;
            }
            "comment" => {}
            _ => return false,
        }
    }
    cases > 0
}

/// The range expression of `for … range t.C` over a timer's channel.
fn ranged_timer<'t>(cx: &Context<'_, 't>, stmt: Node<'t>) -> Option<Node<'t>> {
    let clause = named_children(stmt).find(|c| c.kind_str() == "range_clause")?;
    let right = clause.field("right")?;
    timer_channel(cx, right).then_some(right)
}

/// What blocks at this node, described: a blocking library call or a bare receive. (Sends are
/// `goroutine-send-without-cancel`'s, and do not block on a buffered channel.)
fn blocking_op(cx: &Context, n: Node) -> Option<String> {
    match n.kind_str() {
        "call_expression" => {
            if let Some(call) = blocking_call(n, cx.src, &cx.model.imports) {
                return Some(format!("calls `{call}`"));
            }
            let mc = method_call(n)?;
            let method = text(mc.method, cx.src);
            match cx.model.type_of(mc.receiver).deref() {
                Ty::Named { pkg, name } if blocking_method(pkg, name, method) => {
                    Some(format!("calls `{}.{method}`", text(mc.receiver, cx.src)))
                }
                _ => None,
            }
        }
        "unary_expression" => {
            let op = n.field("operator")?;
            (text(op, cx.src) == "<-").then(|| "receives from a channel".to_string())
        }
        _ => None,
    }
}

fn fix(cx: &Context, stmt: Node, body: Node, ctx: &str) -> Option<TextEdit> {
    let function = enclosing_function(stmt)?;
    let ret = return_error(cx.model, function, &format!("{ctx}.Err()"))?;
    // The body's `{` must end its line (a trailing comment may follow).
    let open_end = body.start_byte() + 1;
    let at = line_end_after_newline(cx.src, open_end);
    let rest = cx.src.get(open_end..at)?.trim();
    if !(rest.is_empty() || rest.starts_with("//") && !rest.contains("*/"))
        || at >= body.end_offset()
    {
        return None;
    }
    let indent = format!("{}\t", line_indent(cx.src, stmt.start_byte()));
    let nl = newline(cx.src);
    Some(TextEdit {
        range: at..at,
        new_text: format!(
            "{indent}select {{{nl}{indent}case <-{ctx}.Done():{nl}{indent}\t{ret}{nl}{indent}default:{nl}{indent}}}{nl}"
        ),
    })
}
