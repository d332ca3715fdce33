//! `waitgroup-done-not-deferred`: `wg.Done()` called at the end of a goroutine instead of
//! deferred, so that an early return or a panic skips it.

use crate::finding::LineOf;
use goconc_syntax::NodeExt;
use tree_sitter::Node;

use super::{wg_calls_within, wg_key, WgKey};
use crate::finding::{Finding, Severity, TextEdit};
use crate::{Context, Family, RuleMeta};
use goconc_model::channels::chan_key;
use goconc_model::flow::{self, ExitKind, FlowAnalysis};
use goconc_model::goroutines::{
    go_statement_of, go_statement_through_local, goroutine_exit, in_nested_goroutine,
    is_started_by_name, GoroutineExit,
};
use goconc_model::sync_calls::{is_testing_handle, waitgroup_call, WaitGroupOp};
use goconc_model::{FileModel, Ty};
use goconc_syntax::{call_statement, starts_line, statement_line};
use goconc_syntax::{
    enclosing_function, line_end_after_newline, line_indent, statement_call, statements, text,
    unparen, walk, walk_calls,
};

pub static META: RuleMeta = RuleMeta {
    id: "waitgroup-done-not-deferred",
    family: Family::WaitGroup,
    severity: Severity::Error,
    summary: "`wg.Done()` is not deferred: an early return, `t.FailNow` or a recovered panic skips it and `wg.Wait` blocks forever.",
    fix: Some("`defer wg.Done()` at the top of the goroutine"),
    doc: r#"
## Why it matters
Every `Add` must be matched by exactly one `Done`, whatever way the goroutine ends. A `Done` written
as the goroutine's last statement is skipped by every `return` above it, by a branch that does not
reach it, and by a panic in the work before it (recovered further up, or in a test). The counter
never reaches zero and `wg.Wait` blocks forever: the program hangs instead of failing, which is
much harder to diagnose. `defer wg.Done()` as the goroutine's first statement runs on every exit.

## Example
```go
go func(u string) {
	body, err := fetch(u)
	if err != nil {
		return // Done is skipped: Wait hangs
	}
	store(u, body)
	wg.Done()
}(u)
```
```go
go func(u string) {
	defer wg.Done()
	body, err := fetch(u)
	if err != nil {
		return
	}
	store(u, body)
}(u)
```

## Fix
When `wg.Done()` is the last statement of the goroutine's body and its only `Done` on that group,
the quick fix removes it and inserts `defer wg.Done()` (with the same receiver) as the first line of
the body. When `Done` sits in the middle of the work or in a branch, moving it changes when the
parent wakes up, so the fix is left to you.

## Severity: what the finding has shown
- **error** — a concrete path skips `Done`, and the message names it: the `return` on line N, a
  `continue` of the loop around a per-item `Done`, the end of a branch that does not call it,
  `t.Fatal`/`t.FailNow`/`t.Skip…` or `runtime.Goexit()` (they end the goroutine), an assertion
  documented to call `t.FailNow` (testify's `require`, gotest.tools' `assert.Assert`, `NilError`,
  `Equal`, …), a helper of the same package — or an exported one of another package of the
  same module (`testutil.MustStart(t, …)`) — that calls one of those, or a panic before `Done`
  that the goroutine's own deferred `recover` turns into a normal end.
- **warning** — before `Done`, a call hands the test's `t` to a function of another module (or
  of a module package whose folder goconc did not read): if that function calls `t.FailNow`,
  `Done` is skipped (one fact the tool cannot see). A module helper that never ends the
  goroutine gives no finding.
- **hint** — `Done` is a plain last statement that only a panic in the work before it can skip,
  and nothing in the goroutine recovers: that panic ends the program, so `Wait` never hangs.
  Deferring is still the better habit, and the quick fix is offered.
- **hint** — the group orders peer goroutines rather than counting them for their starter: it is a
  local of the starting function, which never calls `Wait` on it (only goroutines it started do),
  and every `return` that skips `Done` first sends on a channel that the starter receives from
  once, outside any loop. The failure reaches the starter; only the peer waiting on the group
  stays blocked. No quick fix: in a handshake (`ready.Done(); other.Wait()`) a deferred `Done`
  would deadlock. A starter that ranges over the channel, or waits on the group, still hangs and
  stays an error.

## When it stays silent
- `Done` is the goroutine's first statement, or nothing before it can return early or panic.
- `Done` is deferred, or called from a deferred closure (a `recover` handler).
- The group is a start latch, not a completion counter: after its `Done` the goroutine waits for
  the parent to go on (`Wait` on the same group, a channel receive, a `range` over a channel),
  or the goroutine defers the `Done` of another group that counts its completion. Deferring this
  `Done` would deadlock: the parent waits for it before it lets the goroutine finish.
- A `Done` inside a loop of the goroutine counts work items: it is reported only when a
  `continue` or `return` of that loop skips it.
- `Done` is in an ordinary function or closure that is not itself the goroutine (a helper the
  goroutine defers), or the receiver is not known to be a `sync.WaitGroup`.
- `os.Exit`, `log.Fatal` and a panic nothing recovers end the program: they skip nothing `Wait`
  could notice.
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    let mut seen = crate::HashSet::default();
    for &node in cx.index.calls_named("Done") {
        let Some(done) = waitgroup_call(cx.model, node).filter(|c| c.op == WaitGroupOp::Done)
        else {
            continue;
        };
        let Some(stmt) =
            call_statement(done.call).filter(|s| s.kind_str() == "expression_statement")
        else {
            continue;
        };
        let Some(lit) = enclosing_function(done.call) else {
            continue;
        };
        // The goroutine: `go func(){…}()`, `f := func(){…}; go f()`, or a function the package
        // starts by name (`go worker(&wg, …)`, possibly from another file: no `go` to point at).
        let go = match lit.kind_str() {
            "func_literal" => {
                let Some(go) =
                    go_statement_of(lit).or_else(|| go_statement_through_local(cx.model, lit))
                else {
                    continue;
                };
                Some(go)
            }
            _ => {
                let started = cx
                    .model
                    .function_index(lit)
                    .is_some_and(|i| is_started_by_name(cx.model, &cx.model.functions[i]));
                if !started {
                    continue;
                }
                None
            }
        };
        let Some(body) = lit.field("body") else {
            continue;
        };
        let Some(key) = wg_key(cx.model, done.receiver) else {
            continue;
        };
        if key.declared_within(body) {
            continue;
        }
        let stmts = statements(body);
        if stmts.first() == Some(&stmt) {
            continue;
        }
        // Every Done of the goroutine itself on this group must be a plain statement of its own
        // body: a deferred one as well means a double Done, another problem.
        let dones: Vec<_> = wg_calls_within(cx, WaitGroupOp::Done, &key, body)
            .filter(|d| !in_nested_goroutine(cx.model, d.call, body))
            .collect();
        let all_plain = dones.iter().all(|d| {
            call_statement(d.call).is_some_and(|s| s.kind_str() == "expression_statement")
                && enclosing_function(d.call) == Some(lit)
        });
        if !all_plain {
            continue;
        }
        // Report each goroutine once, at its first Done that can be skipped.
        if !seen.insert((lit.start_byte(), key.path.clone())) {
            continue;
        }
        if is_latch(cx, go, body, &key, &dones) {
            continue;
        }
        let in_loop = dones.iter().any(|d| in_loop_of(d.call, body));
        let found = if in_loop {
            // A Done inside a loop counts work items, not the goroutine: only a `continue` or a
            // `return` that skips it is evidence, and deferring it makes no sense.
            dones
                .iter()
                .find_map(|d| loop_skip(cx, d.call, body, &key).map(|r| (*d, r)))
        } else {
            dones
                .iter()
                .find_map(|d| skip_reason(cx, d.call, body, &key).map(|r| (*d, r)))
        };
        let Some((done, reason)) = found else {
            continue;
        };
        let Some(stmt) = call_statement(done.call) else {
            continue;
        };
        let recv = text(done.receiver, cx.src);
        // Every path that skips Done first reports to the starter, which takes one message and
        // never waits on the group: only the peer goroutine waiting on it stays blocked.
        if let Skip::Return(_) = reason {
            if let Some(handoff) = go.and_then(|go| reported_to_starter(cx, go, body, &key)) {
                let mut finding = META.finding(
                    done.call.byte_span(),
                    format!(
                        "`{recv}.Done()` is not deferred: every `return` that skips it first sends on `{}`, which the starting function receives once without waiting on `{recv}`; only the goroutine waiting in `{recv}.Wait` on line {} stays blocked",
                        handoff.channel,
                        LineOf(handoff.waiter.start_byte()),
                    ),
                )
                .with_related(handoff.waiter.byte_span(), "waits for this `Done`");
                finding.severity = Severity::Hint;
                out.push(finding);
                continue;
            }
        }
        let line = |n: Node| LineOf(n.start_byte());
        let (why, severity) = match reason {
            Skip::Return(ret) => (
                format!("the `return` on line {} skips it", line(ret)),
                Severity::Error,
            ),
            Skip::Continue(c) => (
                format!("the `continue` on line {} skips it", line(c)),
                Severity::Error,
            ),
            Skip::Branch => (
                "a path through the goroutine ends without it".to_string(),
                Severity::Error,
            ),
            Skip::Goexit(call) => (
                format!(
                    "`{}` on line {} ends the goroutine without it",
                    callee_text(cx, call),
                    line(call)
                ),
                Severity::Error,
            ),
            Skip::FailingAssertion(call) => (
                format!(
                    "`{}` on line {} stops the goroutine with `FailNow` when it fails, skipping it",
                    callee_text(cx, call),
                    line(call)
                ),
                Severity::Error,
            ),
            Skip::HelperGoexit { call, ref exit } => (
                format!(
                    "`{}` on line {} can end the goroutine with `{exit}`, skipping it",
                    callee_text(cx, call),
                    line(call),
                ),
                Severity::Error,
            ),
            Skip::RecoveredPanic { recover, .. } => (
                format!(
                    "a panic in the work before it is recovered by the deferred `{}` on line {}, so the goroutine ends normally without it",
                    callee_text(cx, recover),
                    line(recover)
                ),
                Severity::Error,
            ),
            Skip::UnseenCallee(call) => (
                format!(
                    "if `{}` on line {} stops the goroutine with `t.FailNow`, it is skipped",
                    callee_text(cx, call),
                    line(call)
                ),
                Severity::Warning,
            ),
            Skip::Panic(_) => (
                "only a panic in the work before it can skip it (a panic that, unrecovered, ends the program)".to_string(),
                Severity::Hint,
            ),
        };
        let consequence = match severity {
            Severity::Hint => "deferring it is the habit that keeps `Wait` safe".to_string(),
            _ => format!("`{recv}.Wait` blocks forever"),
        };
        let mut finding = META.finding(
            done.call.byte_span(),
            format!("`{recv}.Done()` is not deferred: {why}, and {consequence}"),
        );
        if let Some(go) = go {
            finding = finding.with_related(
                go.start_byte()..go.start_byte() + 2,
                format!(
                    "the goroutine starts here (line {})",
                    LineOf(go.start_byte())
                ),
            );
        }
        finding.severity = severity;
        match reason {
            Skip::Return(ret) => {
                finding = finding.with_related(ret.byte_span(), "returns without calling `Done`")
            }
            Skip::Continue(c) => {
                finding = finding.with_related(c.byte_span(), "continues without calling `Done`")
            }
            Skip::Goexit(call)
            | Skip::FailingAssertion(call)
            | Skip::UnseenCallee(call)
            | Skip::HelperGoexit { call, .. } => {
                finding = finding.with_related(call.byte_span(), "ends the goroutine here")
            }
            Skip::RecoveredPanic { risky, recover } => {
                finding = finding
                    .with_related(first_line(cx, risky), "a panic here skips `Done`")
                    .with_related(recover.byte_span(), "the panic is recovered here")
            }
            Skip::Panic(risky) => {
                finding = finding.with_related(first_line(cx, risky), "a panic here skips `Done`");
            }
            Skip::Branch => {}
        }
        if !in_loop && dones.len() == 1 && stmts.last() == Some(&stmt) {
            if let Some(edits) = fix(cx.src, body, stmt, recv) {
                finding = finding.with_unsafe_fix(
                    format!("Defer `{recv}.Done()` at the top of the goroutine"),
                    edits,
                );
            }
        }
        out.push(finding);
    }
}

/// How a goroutine whose early returns skip `Done` still lets its starter go on.
struct Handoff<'t> {
    /// The channel each skipping `return` sends on first, as written.
    channel: String,
    /// A `Wait` on the group in another goroutine of the starter.
    waiter: Node<'t>,
}

/// `if err != nil { errc <- err; return }` in a goroutine whose group is a local of the starting
/// function, which never waits on the group itself and takes a single message from `errc` (no
/// loop, no `range`): the failure reaches the starter, and only a peer goroutine that waits on
/// the group is left blocked. A starter that loops over the channel, or waits on the group (or
/// a goroutine that closes the channel after `Wait`) still hangs, and stays an error.
fn reported_to_starter<'t>(
    cx: &Context<'_, 't>,
    go: Node<'t>,
    body: Node<'t>,
    key: &WgKey,
) -> Option<Handoff<'t>> {
    let starter = enclosing_function(go)?;
    let starter_body = starter.field("body")?;
    if !key.declared_within(starter_body) || key.declared_within(body) {
        return None;
    }
    let waits: Vec<_> = wg_calls_within(cx, WaitGroupOp::Wait, key, starter_body).collect();
    if waits
        .iter()
        .any(|w| enclosing_function(w.call) == Some(starter))
    {
        return None;
    }
    // Each waiter is itself a goroutine: a closure the starter calls would make it wait.
    let in_goroutine = |call: Node<'t>| {
        enclosing_function(call).is_some_and(|f| {
            f.kind_str() == "func_literal"
                && (go_statement_of(f).is_some()
                    || go_statement_through_local(cx.model, f).is_some())
        })
    };
    if !waits.iter().all(|w| in_goroutine(w.call)) {
        return None;
    }
    let waiter = waits.first()?.call;
    let mut analysis = DoneFlow {
        model: cx.model,
        key,
    };
    let exits = flow::run(cx.model, body, &mut analysis, false)?;
    let mut channel = None;
    for exit in exits.iter().filter(|e| !e.state) {
        if exit.kind != ExitKind::Return {
            return None;
        }
        let send = exit
            .node
            .prev_named_sibling()
            .filter(|s| s.kind_str() == "send_statement")?;
        let ch = chan_key(cx.model, send.field("channel")?)?;
        match &channel {
            None => channel = Some(ch),
            Some(c) if *c == ch => {}
            Some(_) => return None,
        }
    }
    let channel = channel?;
    if !received_once_by(cx, starter, go, &channel) {
        return None;
    }
    Some(Handoff {
        channel: channel.path,
        waiter,
    })
}

/// Does `starter`, after `go`, receive from `channel` itself, with no loop or `range` around the
/// receive, and never receive from it in a loop?
fn received_once_by(
    cx: &Context,
    starter: Node,
    go: Node,
    channel: &goconc_model::channels::ChanKey,
) -> bool {
    let Some(starter_body) = starter.field("body") else {
        return false;
    };
    let mut once = false;
    let mut looped = false;
    walk(starter_body, |n| {
        if n.kind_str() == "func_literal" {
            return false;
        }
        let operand = match n.kind_str() {
            "unary_expression" if n.field("operator").is_some_and(|o| text(o, cx.src) == "<-") => {
                n.field("operand")
            }
            "range_clause" => n.field("right"),
            _ => None,
        };
        if let Some(ch) = operand.filter(|c| chan_key(cx.model, *c).as_ref() == Some(channel)) {
            let in_loop = n.kind_str() == "range_clause"
                || goconc_syntax::enclosing_loops(n)
                    .any(|l| goconc_syntax::is_within(l, starter_body));
            if in_loop {
                looped = true;
            } else if ch.start_byte() > go.end_offset() {
                once = true;
            }
        }
        true
    });
    once && !looped
}

fn first_line(cx: &Context, node: Node) -> std::ops::Range<usize> {
    node.start_byte()..line_end_after_newline(cx.src, node.start_byte()).min(node.end_offset())
}

/// `t.Fatal`, `require.NoError`, `check`: the called function as written.
fn callee_text<'t>(cx: &Context<'_, 't>, call: Node<'t>) -> &'t str {
    call.field("function").map_or("", |f| text(f, cx.src))
}

#[derive(Clone)]
enum Skip<'t> {
    /// A `return` reached without calling Done.
    Return(Node<'t>),
    /// A `continue` of the loop around Done reached without calling it.
    Continue(Node<'t>),
    /// The end of the body reached without calling Done (Done is in a branch).
    Branch,
    /// `t.FailNow()` & co or `runtime.Goexit()` before Done.
    Goexit(Node<'t>),
    /// `require.NoError(t, err)` & co before Done.
    FailingAssertion(Node<'t>),
    /// A call of a function of this file that calls `t.FailNow()` & co on the goroutine.
    HelperGoexit { call: Node<'t>, exit: String },
    /// A statement that can panic before Done, and the goroutine's deferred `recover`.
    RecoveredPanic { risky: Node<'t>, recover: Node<'t> },
    /// A call that hands a testing handle to a function this file does not show.
    UnseenCallee(Node<'t>),
    /// A statement before Done that can panic (and nothing recovers it).
    Panic(Node<'t>),
}

/// Is `call` inside a loop of the goroutine's body?
fn in_loop_of(call: Node, body: Node) -> bool {
    goconc_syntax::enclosing_loops(call).any(|l| goconc_syntax::is_within(l, body))
}

/// A start latch, not a completion counter: after its Done the goroutine waits for the parent to
/// go on (`Wait` on the same group, a receive, a `range` over a channel), or it defers the Done
/// of another group, which counts its completion. Deferring this Done would deadlock.
fn is_latch(
    cx: &Context,
    go: Option<Node>,
    body: Node,
    key: &WgKey,
    dones: &[goconc_model::sync_calls::WaitGroupCall],
) -> bool {
    let deferred_other = cx.index.calls_named_within("Done", body).any(|c| {
        call_statement(c).is_some_and(|s| s.kind_str() == "defer_statement")
            && enclosing_function(c).and_then(|f| f.field("body")) == Some(body)
            && waitgroup_call(cx.model, c)
                .and_then(|w| wg_key(cx.model, w.receiver))
                .is_some_and(|k| &k != key)
    });
    if deferred_other {
        return true;
    }
    dones.iter().any(|d| {
        statements_after(d.call, body)
            .into_iter()
            .any(|stmt| waits_for_parent(cx, go, stmt, key))
    })
}

/// The statements that run after `call`'s statement on its way out of `body`: its later
/// siblings, then those of each enclosing statement, level by level.
fn statements_after<'t>(call: Node<'t>, body: Node<'t>) -> Vec<Node<'t>> {
    let mut after = Vec::new();
    let Some(mut current) = call_statement(call) else {
        return after;
    };
    while current != body {
        let Some(parent) = current.parent_node() else {
            break;
        };
        let siblings = statements(parent);
        if let Some(pos) = siblings.iter().position(|s| *s == current) {
            after.extend(siblings[pos + 1..].iter().copied());
        }
        current = parent;
    }
    after
}

/// Does the statement wait for someone else: `Wait` on the group, a receive that is no probe, a
/// `range` over a channel?
fn waits_for_parent(cx: &Context, go: Option<Node>, stmt: Node, key: &WgKey) -> bool {
    let mut waits = false;
    walk(stmt, |n| {
        if waits || n.kind_str() == "func_literal" {
            return false;
        }
        waits = match n.kind_str() {
            "unary_expression" => {
                n.field("operator").is_some_and(|o| text(o, cx.src) == "<-")
                    && !in_select_with_default(n)
                    && !go.is_some_and(|go| {
                        n.field("operand")
                            .is_some_and(|ch| token_taken_before(cx, go, ch))
                    })
            }
            "range_clause" => n
                .field("right")
                .is_some_and(|r| matches!(cx.model.type_of(r), Ty::Chan(_))),
            "call_expression" => waitgroup_call(cx.model, n).is_some_and(|w| {
                w.op == WaitGroupOp::Wait && wg_key(cx.model, w.receiver).as_ref() == Some(key)
            }),
            _ => false,
        };
        !waits
    });
    waits
}

/// `sem <- 1; go func() { …; <-sem }()`: the starter put a token in the channel before the
/// goroutine started, so taking it back does not wait for anyone.
fn token_taken_before(cx: &Context, go: Node, channel: Node) -> bool {
    let Some(key) = chan_key(cx.model, channel) else {
        return false;
    };
    let Some(function) = enclosing_function(go) else {
        return false;
    };
    let mut found = false;
    walk(function, |n| {
        if found || n.start_byte() >= go.start_byte() {
            return false;
        }
        if n.kind_str() == "send_statement"
            && n.field("channel")
                .is_some_and(|c| chan_key(cx.model, c).as_ref() == Some(&key))
        {
            found = true;
        }
        true
    });
    found
}

/// `case <-ch:` of a `select` with a `default`: a probe that does not wait.
fn in_select_with_default(recv: Node) -> bool {
    let mut n = recv;
    for _ in 0..4 {
        let Some(p) = n.parent_node() else {
            return false;
        };
        if p.kind_str() == "communication_case" {
            return p.parent_node().is_some_and(|s| {
                goconc_syntax::named_children(s).any(|c| c.kind_str() == "default_case")
            });
        }
        n = p;
    }
    false
}

/// Why a Done inside a loop of the goroutine may not run for an iteration: a `continue` of its
/// loop (or a `return`) before it, with no Done of the group before that on its way.
fn loop_skip<'t>(
    cx: &Context<'_, 't>,
    done: Node<'t>,
    body: Node<'t>,
    key: &WgKey,
) -> Option<Skip<'t>> {
    let lp = goconc_syntax::enclosing_loop(done)?;
    let lp_body = lp.field("body")?;
    let label = lp
        .parent_node()
        .filter(|p| p.kind_str() == "labeled_statement")
        .and_then(|p| p.field("label"))
        .map(|l| text(l, cx.src));
    let mut skip = None;
    walk(lp_body, |n| {
        if skip.is_some() || n.start_byte() >= done.start_byte() {
            return false;
        }
        if n.kind_str() == "func_literal" {
            return false;
        }
        let leaves = match n.kind_str() {
            "return_statement" => Some(Skip::Return(n)),
            "continue_statement" => {
                let target = goconc_syntax::named_children(n)
                    .next()
                    .map(|l| text(l, cx.src));
                let ours = match target {
                    Some(t) => Some(t) == label,
                    None => goconc_syntax::enclosing_loop(n) == Some(lp),
                };
                ours.then_some(Skip::Continue(n))
            }
            _ => None,
        };
        if let Some(leaves) = leaves {
            if !done_before(cx, n, lp_body, key) {
                skip = Some(leaves);
            }
        }
        true
    });
    let _ = body;
    skip
}

/// Is there a Done on the group in a statement that runs before `stmt` within `within`?
fn done_before(cx: &Context, stmt: Node, within: Node, key: &WgKey) -> bool {
    let mut current = stmt;
    while current != within {
        let Some(parent) = current.parent_node() else {
            return false;
        };
        let siblings = statements(parent);
        if let Some(pos) = siblings.iter().position(|s| *s == current) {
            let done = siblings[..pos].iter().any(|s| {
                s.kind_str() == "expression_statement"
                    && statement_call(*s)
                        .and_then(|c| waitgroup_call(cx.model, c))
                        .is_some_and(|c| {
                            c.op == WaitGroupOp::Done
                                && wg_key(cx.model, c.receiver).as_ref() == Some(key)
                        })
            });
            if done {
                return true;
            }
        }
        current = parent;
    }
    false
}

/// Why this Done may not run: a path to an exit without it, a call that ends the goroutine, or a
/// statement before it that can panic. None when nothing can skip it.
fn skip_reason<'t>(
    cx: &Context<'_, 't>,
    done: Node<'t>,
    body: Node<'t>,
    key: &WgKey,
) -> Option<Skip<'t>> {
    let mut analysis = DoneFlow {
        model: cx.model,
        key,
    };
    let recover = deferred_recover(cx, body);
    if let Some(exits) = flow::run(cx.model, body, &mut analysis, false) {
        let mut branch = false;
        let mut ended = None;
        for exit in exits.iter().filter(|e| !e.state) {
            match exit.kind {
                ExitKind::Return => return Some(Skip::Return(exit.node)),
                ExitKind::EndOfBody => branch = true,
                ExitKind::NoReturn => {
                    // os.Exit, log.Fatal and an unrecovered panic end the program anyway.
                    let Some(call) = statement_call(exit.node) else {
                        continue;
                    };
                    if goroutine_exit(cx.model, call).is_some() {
                        ended.get_or_insert(Skip::Goexit(call));
                    } else if let Some(recover) = recover.filter(|_| is_panic(cx, call)) {
                        ended.get_or_insert(Skip::RecoveredPanic {
                            risky: exit.node,
                            recover,
                        });
                    }
                }
            }
        }
        if branch {
            return Some(Skip::Branch);
        }
        if ended.is_some() {
            return ended;
        }
    }
    // Statements that run before Done, level by level up to the body.
    let mut before: Vec<Node<'t>> = Vec::new();
    let mut current = call_statement(done)?;
    while current != body {
        let parent = current.parent_node()?;
        let siblings = statements(parent);
        if let Some(pos) = siblings.iter().position(|s| *s == current) {
            before.extend(siblings[..pos].iter().copied());
        }
        current = parent;
    }
    before.sort_by_key(|n| n.start_byte());
    let mut unseen = None;
    for &stmt in &before {
        let mut found = None;
        walk_calls(stmt, cx.src, |call| {
            if found.is_some() || call.kind_str() == "func_literal" {
                return false;
            }
            if call.kind_str() != "call_expression" {
                return true;
            }
            match goroutine_exit(cx.model, call) {
                Some(GoroutineExit::Goexit) => found = Some(Skip::Goexit(call)),
                Some(GoroutineExit::FailingAssertion) => found = Some(Skip::FailingAssertion(call)),
                None => {
                    if hands_testing_handle(cx, call) {
                        match helper_exit(cx, call) {
                            Some(Some(exit)) => found = Some(Skip::HelperGoexit { call, exit }),
                            Some(None) => {}
                            None => {
                                unseen.get_or_insert(Skip::UnseenCallee(call));
                            }
                        }
                    }
                }
            }
            true
        });
        if found.is_some() {
            return found;
        }
    }
    let risky = before.iter().copied().find(|s| can_panic(cx.model, *s));
    match (risky, recover) {
        (Some(risky), Some(recover)) => Some(Skip::RecoveredPanic { risky, recover }),
        _ => unseen.or(risky.map(Skip::Panic)),
    }
}

fn is_panic(cx: &Context, call: Node) -> bool {
    call.field("function")
        .map(unparen)
        .is_some_and(|f| f.kind_str() == "identifier" && text(f, cx.src) == "panic")
}

/// The `recover()` call of a function the goroutine defers (`defer func() { recover() … }()`),
/// or the deferred call of a package function that recovers (`defer handle()`).
fn deferred_recover<'t>(cx: &Context<'_, 't>, body: Node<'t>) -> Option<Node<'t>> {
    let mut found = None;
    for defer in cx
        .index
        .defer_statements
        .iter()
        .copied()
        .filter(|d| goconc_syntax::is_within(*d, body))
    {
        if enclosing_function(defer).and_then(|f| f.field("body")) != Some(body) {
            continue;
        }
        let Some(call) = statement_call(defer) else {
            continue;
        };
        let Some(function) = call.field("function").map(unparen) else {
            continue;
        };
        // `defer handle()`: whether `handle` recovers is a fact of the package's summaries.
        if function.kind_str() == "identifier" && cx.model.resolve(function).is_none() {
            let recovers = cx
                .model
                .package
                .go_facts(text(function, cx.src))
                .is_some_and(|f| f.recovers);
            if recovers {
                found = Some(call);
                break;
            }
            continue;
        }
        if function.kind_str() != "func_literal" {
            continue;
        }
        let target = function;
        walk(target, |n| {
            if found.is_none()
                && n.kind_str() == "call_expression"
                && n.field("function")
                    .is_some_and(|f| f.kind_str() == "identifier" && text(f, cx.src) == "recover")
            {
                found = Some(n);
            }
            found.is_none()
        });
        if found.is_some() {
            break;
        }
    }
    found
}

/// `check(t, x)`: a call that hands a testing handle to a function (not a method of the handle).
fn hands_testing_handle(cx: &Context, call: Node) -> bool {
    let on_handle = goconc_syntax::method_call(call)
        .is_some_and(|mc| is_testing_handle(&cx.model.type_of(mc.receiver)));
    !on_handle
        && goconc_syntax::call_args(call)
            .iter()
            .any(|a| is_testing_handle(&cx.model.type_of(*a)))
}

/// For a call of a function or method of the package, or of another package of the module:
/// Some(the call in its body that ends the goroutine, as written), Some(None) when it has none;
/// None when the callee's package is not at hand (another module's helper: unseen).
fn helper_exit(cx: &Context, call: Node) -> Option<Option<String>> {
    if let Some(imported) = goconc_model::module::imported_callee(cx.model, call) {
        return Some(imported.facts.and_then(|f| f.ends_goroutine.clone()));
    }
    let function = call.field("function").map(unparen)?;
    let package = cx.model.package;
    let key = match function.kind_str() {
        "identifier" if cx.model.resolve(function).is_none() => {
            let name = text(function, cx.src);
            package.func(name)?;
            name.to_string()
        }
        "selector_expression" => {
            let operand = function.field("operand")?;
            let method = text(function.field("field")?, cx.src);
            match cx.model.type_of(operand).deref() {
                Ty::Named { pkg, name } if pkg.is_empty() => {
                    package.method(name, method)?;
                    format!("{name}.{method}")
                }
                _ => return None,
            }
        }
        _ => return None,
    };
    Some(
        package
            .go_facts(&key)
            .and_then(|f| f.ends_goroutine.clone()),
    )
}

/// "Done was called on this path."
struct DoneFlow<'a, 't> {
    model: &'a FileModel<'t>,
    key: &'a WgKey,
}

impl<'t> FlowAnalysis<'t> for DoneFlow<'_, 't> {
    type State = bool;

    fn transfer(&mut self, stmt: Node<'t>, state: &mut bool) {
        if stmt.kind_str() != "expression_statement" {
            return;
        }
        let is_done = statement_call(stmt)
            .and_then(|c| waitgroup_call(self.model, c))
            .is_some_and(|c| {
                c.op == WaitGroupOp::Done
                    && wg_key(self.model, c.receiver).as_ref() == Some(self.key)
            });
        if is_done {
            *state = true;
        }
    }

    fn join(&self, a: &bool, b: &bool) -> bool {
        *a && *b
    }
}

/// Predeclared functions and conversions that do not panic on ordinary arguments.
const HARMLESS_CALLS: &[&str] = &[
    "len", "cap", "append", "new", "min", "max", "print", "println", "real", "imag", "complex",
    "bool", "string", "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16",
    "uint32", "uint64", "uintptr", "float32", "float64", "byte", "rune",
];

/// Can running this statement panic or leave the function? Calls (other than harmless builtins),
/// indexing, slicing, type assertions, dereferences, sends, division and `return` count.
fn can_panic(model: &FileModel, stmt: Node) -> bool {
    let src = model.src;
    if matches!(
        stmt.kind_str(),
        "defer_statement" | "go_statement" | "empty_statement"
    ) {
        return false;
    }
    let mut risky = false;
    walk(stmt, |n| {
        if risky || n.kind_str() == "func_literal" {
            return false;
        }
        risky = match n.kind_str() {
            "call_expression" => {
                let function = n.field("function").map(unparen);
                let harmless_builtin = function.is_some_and(|f| {
                    f.kind_str() == "identifier" && HARMLESS_CALLS.contains(&text(f, src))
                });
                // `t.Log`, `t.Errorf`: reporting on a testing handle does not panic (the calls
                // that end the goroutine are judged before this).
                let reports_on_handle = goconc_syntax::method_call(n)
                    .is_some_and(|mc| is_testing_handle(&model.type_of(mc.receiver)));
                !harmless_builtin && !reports_on_handle
            }
            "index_expression"
            | "slice_expression"
            | "type_assertion_expression"
            | "send_statement"
            | "return_statement" => true,
            "unary_expression" => n.field("operator").is_some_and(|o| text(o, src) == "*"),
            "binary_expression" => n
                .field("operator")
                .is_some_and(|o| matches!(text(o, src), "/" | "%")),
            "assignment_statement" => n
                .field("operator")
                .is_some_and(|o| matches!(text(o, src), "/=" | "%=")),
            _ => false,
        };
        !risky
    });
    risky
}

/// Deletes the final `wg.Done()` line and inserts `defer wg.Done()` as the body's first line.
fn fix(src: &str, body: Node, stmt: Node, recv: &str) -> Option<Vec<TextEdit>> {
    let delete = statement_line(stmt, src)?;
    if !starts_line(stmt, src) {
        return None;
    }
    let open = body.start_byte();
    let at = line_end_after_newline(src, open);
    if !src.get(open + 1..at)?.trim().is_empty() || at >= delete.start {
        return None;
    }
    let indent = line_indent(src, stmt.start_byte());
    Some(vec![
        TextEdit {
            range: at..at,
            new_text: format!("{indent}defer {recv}.Done()\n"),
        },
        TextEdit {
            range: delete,
            new_text: String::new(),
        },
    ])
}

#[cfg(test)]
mod tests {
    use crate::test_support::{analyze_alone, FileOptions};
    use goconc_syntax::SourceFile;

    fn severities(src: &str, test_file: bool) -> Vec<(usize, crate::Severity)> {
        let file = SourceFile::new(src);
        let options = FileOptions {
            is_test_file: test_file,
            ..FileOptions::default()
        };
        analyze_alone(&file, &options)
            .findings
            .into_iter()
            .filter(|f| f.rule == super::META.id)
            .map(|f| (crate::test_support::line_of(src, f.range.start), f.severity))
            .collect()
    }

    #[test]
    fn severity_follows_the_evidence() {
        use crate::Severity::{Error, Hint};
        // A plain last statement after work that can panic: a hint. A return that skips it: an
        // error.
        let src = "package p\n\nimport \"sync\"\n\nfunc f(xs []int) {\n\tvar wg sync.WaitGroup\n\twg.Add(2)\n\tgo func() {\n\t\twork(xs)\n\t\twg.Done()\n\t}()\n\tgo func() {\n\t\tif len(xs) == 0 {\n\t\t\treturn\n\t\t}\n\t\twork(xs)\n\t\twg.Done()\n\t}()\n\twg.Wait()\n}\n\nfunc work([]int) {}\n";
        assert_eq!(severities(src, false), vec![(10, Hint), (17, Error)]);
    }

    #[test]
    fn a_helper_of_a_package_out_of_sight_is_a_warning() {
        // No summaries of `example.com/other/check` are at hand (another module, or a module
        // package whose folder was not read): whether it stops the goroutine is unknown.
        let src = "package p\n\nimport (\n\t\"sync\"\n\t\"testing\"\n\n\t\"example.com/other/check\"\n)\n\nfunc TestX(t *testing.T) {\n\tvar wg sync.WaitGroup\n\twg.Add(1)\n\tgo func() {\n\t\tcheck.Stored(t, \"c\")\n\t\twg.Done()\n\t}()\n\twg.Wait()\n}\n";
        assert_eq!(severities(src, true), vec![(15, crate::Severity::Warning)]);
    }

    #[test]
    fn a_failing_require_assertion_is_an_error() {
        let src = "package p\n\nimport (\n\t\"sync\"\n\t\"testing\"\n\n\t\"github.com/stretchr/testify/require\"\n)\n\nfunc TestX(t *testing.T) {\n\tvar wg sync.WaitGroup\n\twg.Add(1)\n\tgo func() {\n\t\trequire.NoError(t, nil)\n\t\twg.Done()\n\t}()\n\twg.Wait()\n}\n";
        assert_eq!(severities(src, true), vec![(15, crate::Severity::Error)]);
        let found = crate::test_support::findings(super::META.id, src);
        assert!(found[0].message.contains(
            "`require.NoError` on line 14 stops the goroutine with `FailNow` when it fails"
        ));
    }

    fn lines(src: &str) -> Vec<usize> {
        let file = SourceFile::new(src);
        analyze_alone(&file, &FileOptions::default())
            .findings
            .into_iter()
            .filter(|f| f.rule == super::META.id)
            .map(|f| crate::test_support::line_of(src, f.range.start))
            .collect()
    }

    #[test]
    fn done_after_trivial_statements_is_silent() {
        let src = "package p\n\nimport \"sync\"\n\nfunc f(ch chan int) {\n\tvar wg sync.WaitGroup\n\twg.Add(1)\n\tgo func() {\n\t\tx := 1\n\t\tx++\n\t\twg.Done()\n\t}()\n\twg.Wait()\n}\n";
        assert!(lines(src).is_empty());
    }

    #[test]
    fn done_on_every_select_branch_is_reported_once_for_panics() {
        let src = "package p\n\nimport \"sync\"\n\nfunc f(ch chan int, quit chan bool) {\n\tvar wg sync.WaitGroup\n\twg.Add(1)\n\tgo func() {\n\t\tselect {\n\t\tcase v := <-ch:\n\t\t\tuse(v)\n\t\t\twg.Done()\n\t\tcase <-quit:\n\t\t\twg.Done()\n\t\t}\n\t}()\n\twg.Wait()\n}\n\nfunc use(int) {}\n";
        assert_eq!(lines(src), vec![12]);
    }

    #[test]
    fn done_after_loop_with_return_inside_is_reported() {
        let src = "package p\n\nimport \"sync\"\n\nfunc f(ch chan int) {\n\tvar wg sync.WaitGroup\n\twg.Add(1)\n\tgo func() {\n\t\tfor v := range ch {\n\t\t\tif v < 0 {\n\t\t\t\treturn\n\t\t\t}\n\t\t}\n\t\twg.Done()\n\t}()\n\twg.Wait()\n}\n";
        assert_eq!(lines(src), vec![14]);
    }
}
