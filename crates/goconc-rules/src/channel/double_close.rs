//! `channel-double-close`: `close(ch)` reachable twice on one path, or inside a loop without
//! exit.

use crate::finding::LineOf;
use crate::finding::{Finding, Severity};
use crate::{Context, Family, RuleMeta};
use goconc_model::channels::registries::RegistryOpKind;
use goconc_model::channels::CloseEvent;
use goconc_syntax::NodeExt;
use goconc_syntax::{text, unparen};

pub static META: RuleMeta = RuleMeta {
    id: "channel-double-close",
    family: Family::Channel,
    severity: Severity::Error,
    summary: "`close(ch)` reachable twice on one path, or inside a loop without exit: the second close panics.",
    fix: None,
    doc: r#"
## Why it matters
Closing a channel that is already closed panics (`close of closed channel`). The second `close`
usually comes from a cleanup path added later (an error branch that closes and then falls through
to the normal close, a `defer close(ch)` plus an explicit `close(ch)`), or from a `close` inside a
loop that runs more than once.

## Example
```go
func produce(items []string, out chan string) error {
	defer close(out)
	for _, it := range items {
		if it == "" {
			close(out)
			return errors.New("empty item")
		}
		out <- it
	}
	return nil
}
```
```go
func produce(items []string, out chan string) error {
	defer close(out)
	for _, it := range items {
		if it == "" {
			return errors.New("empty item")
		}
		out <- it
	}
	return nil
}
```

## Fix
Close the channel in exactly one place, usually with `defer close(ch)` in the function that
owns the sending side. When several goroutines may close it, guard the close with a
`sync.Once`.

## Channels kept in a map or slice field
A type that keeps its subscribers' channels in a field (`p.subs map[chan T]struct{}`,
`s.waiters []chan struct{}`, `b.subs map[int]*sub` closing `sub.ch`) closes them in two ways: all
at once (`for c := range p.subs { close(c) }` in `Close`) and one at a time (`delete(p.subs, c);
close(c)` in `Evict`). Two shapes close a channel twice:
- the close of every channel leaves them in the field, and another function of the package
  closes channels it finds there (by `range`, by index, or the key it deletes): after `Close`,
  that function closes a closed channel. The finding is on the close of every channel and names
  the other closers (and the functions that send on the channels, which panic too);
- the close of one channel does not check that the channel is still in the field (`_, ok :=
  p.subs[c]`), while another function closes every channel of the field: after that, this close
  panics. The finding is on the close of the one channel.

Both are **warnings**: the panic needs the two functions to be called in that order, which the
callers decide.

## Closed under a read lock
`close(s.ch)` while the function holds only the read lock of the same value (`s.mu.RLock()`) —
the lock that guards replacing `s.ch` — lets two callers close at once: read locks do not
exclude each other, and a check before the close (`select { case <-s.ch: default: close(s.ch)
}`) is passed by both. A **warning**: it needs two callers at once. Silent when the write lock
is held, when the close runs inside a `sync.Once` literal (each literal is its own function, so
the read lock is not held inside it), or in a branch that one caller wins: an `if` whose
condition calls an atomic `CompareAndSwap` or `Swap` (a method of `sync/atomic`'s types, or
`atomic.CompareAndSwapInt32` and its kin). A call of another function whose name merely holds
the word (`n.noteSwap()`) claims nothing and stays reported.

## Closed by every goroutine of a loop
A loop that starts one goroutine per iteration, each closing (or deferring the close of) a
channel made before the loop, closes it once per goroutine: the second `close` panics. A
`warning` on the close, since the panic needs a second iteration. Silent when the close is
conditional in the goroutine (`if remaining.Add(-1) == 0 { close(done) }`: the last one
closes), inside `once.Do`, or when the channel is made (or assigned anew) inside the loop.

## When it stays silent
- Channels kept in a field: the close of every channel removes them (`delete` in the loop, or a
  new value or `clear` for the field after the loop; or the loop ranges over a copy taken out of
  the field); the close of one channel runs only when its lookup found it (`if _, ok :=
  p.subs[c]; ok`, `c, ok := p.subs[id]; if !ok { return }`); the closer of every channel marks
  a field of the value as done (`p.closed = true`, `close(p.done)`) that the other function
  tests (`if p.closed`, `<-p.done`) before it reaches the channels; nothing else closes the
  channels (a `sync.Once` around the close of every channel makes it run once, which is enough
  only then; a second call of the one-at-a-time close with the same channel is the caller's
  mistake); the other function is unexported and no goroutine runs it by name (it runs only
  when the package's own code calls it, which the tool does not follow).
- The two `close` calls are on exclusive paths (`if … { close(ch) } else { close(ch) }`), or the
  first `close` is only on some of the paths to the second.
- The channel variable is assigned a new channel between the two (`close(ch); ch = make(…)`).
- The close sits inside `once.Do(func() { close(ch) })` or another function literal: each
  literal is checked on its own.
- A loop's `close` is followed on every path by a `return` or `break`, or the channel is made
  inside the loop.
- The code runs under a deferred `recover()` that stops the panic, as a test that closes a
  channel twice to see the runtime's error does: the function (or one around a literal called
  on the spot) defers a literal calling `recover()` before the second `close`; or the closes
  are in a literal handed to a function of the file that does (`panicValue(func() { … })`);
  or in a table entry (`cases := []func(){ … }`) that every `range` loop over the table runs
  that way. A literal started by `go` or handed to anything else stays reported.
- The `close` sits in `if !flag { … }` whose branch sets the local `flag = true`, and nothing in
  the function sets it to anything else: it runs once however often the loop turns (a branch
  that sets another variable, or a reset of the flag, keeps the finding).
- The function has more than 64 channels closed, or closes pending, at once on some path: its
  closes are not followed, as in a function with `goto` (no function of the pinned projects or
  the standard library has more than four).
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    if cx.index.calls_named("close").is_empty() {
        return;
    }
    check_registries(cx, out);
    check_closes_under_read_lock(cx, out);
    check_closes_per_iteration(cx, out);
    for event in cx.close_events().iter().cloned() {
        let panics_at = match &event {
            CloseEvent::DoubleClose { second, .. } => second,
            CloseEvent::DeferredDoubleClose { deferred, .. } => deferred,
            CloseEvent::SendAfterClose { .. } => continue,
        };
        if cx.panic_is_expected(panics_at) {
            continue;
        }
        match event {
            CloseEvent::DoubleClose {
                first,
                second,
                path,
            } => {
                let in_loop = first.start >= second.start;
                let message = if in_loop {
                    format!("`{path}` is closed again on the next iteration of the loop: the second `close` panics")
                } else {
                    format!(
                        "`{path}` is already closed on every path to this `close` (line {}): it panics",
                        LineOf(first.start)
                    )
                };
                let related = if in_loop {
                    "closed here in the previous iteration"
                } else {
                    "first closed here"
                };
                out.push(META.finding(second, message).with_related(first, related));
            }
            CloseEvent::DeferredDoubleClose {
                close,
                deferred,
                path,
            } => {
                let message = format!(
                    "`{path}` is closed here and again by `defer close({path})` (line {}) when the function returns: the deferred close panics",
                    LineOf(deferred.start)
                );
                out.push(
                    META.finding(close, message)
                        .with_related(deferred, "the deferred close runs at return"),
                );
            }
            CloseEvent::SendAfterClose { .. } => {}
        }
    }
}

/// `close(s.ch)` of a channel field while the function holds only the read lock of the same
/// value (`s.mu.RLock()`): read locks do not exclude each other, so two callers can both pass
/// whatever check comes before and both close.
/// A goroutine started once per iteration of a loop closes, unconditionally, a channel made
/// before the loop: the second iteration's goroutine closes it again and panics.
fn check_closes_per_iteration(cx: &Context, out: &mut Vec<Finding>) {
    for ch in cx.channels.iter() {
        for close in ch.ops_of(goconc_model::channels::OpKind::Close) {
            let Some(g) = close.goroutine.filter(|_| !close.in_closure) else {
                continue;
            };
            let Some(body) = g.literal.field("body") else {
                continue;
            };
            // Closed at the top level of the goroutine (or deferred there): every goroutine
            // closes. A close under a condition (`if remaining.Add(-1) == 0`) is the last one's.
            let unconditional = goconc_syntax::call_statement(close.node)
                .is_some_and(|stmt| goconc_syntax::statements(body).contains(&stmt));
            if !unconditional || cx.panic_is_expected(&close.node.byte_span()) {
                continue;
            }
            let Some(lp) = goconc_syntax::enclosing_loops(g.start)
                .find(|l| !goconc_syntax::is_within(ch.make_call, *l))
            else {
                continue;
            };
            if reassigned_within(cx, ch.name, lp) {
                continue;
            }
            let message = format!(
                "`{}` is closed by every goroutine this loop starts, and it is made before the loop: the second goroutine's `close` panics",
                ch.name
            );
            // The panic needs a second iteration, or a sender slower than the close: one fact
            // the code does not settle.
            let mut finding = META.finding(close.node.byte_span(), message);
            finding.severity = Severity::Warning;
            out.push(
                finding
                    .with_related(
                        g.start.byte_span().start..g.start.start_byte() + 2,
                        "one goroutine per iteration starts here",
                    )
                    .with_related(
                        ch.make_call.byte_span(),
                        format!("`{}` is made once, here", ch.name),
                    ),
            );
            break;
        }
    }
}

/// Is `name` assigned anywhere inside `scope` (a new channel each iteration)?
fn reassigned_within(cx: &Context, name: &str, scope: tree_sitter::Node) -> bool {
    let mut found = false;
    goconc_syntax::walk(scope, |n| {
        if found {
            return false;
        }
        if n.kind_str() == "assignment_statement" {
            if let Some(left) = n.field("left") {
                found = goconc_syntax::named_children(left)
                    .any(|t| goconc_syntax::text(t, cx.src) == name);
            }
        }
        true
    });
    found
}

fn check_closes_under_read_lock(cx: &Context, out: &mut Vec<Finding>) {
    for super::FieldClose {
        call,
        arg,
        operand,
        close,
        ..
    } in super::field_closes(cx)
    {
        let Some(close) = close else {
            continue;
        };
        let [read_lock] = close.read_held.as_slice() else {
            continue;
        };
        if !close.held.is_empty() || swapped_first(cx, call) {
            continue;
        }
        let root = text(operand, cx.src);
        let message = format!(
            "`{}` is closed while only the read lock `{root}.{read_lock}` is held: read locks do not exclude each other, so two callers can both close it (close of closed channel)",
            text(arg, cx.src)
        );
        let mut finding = META.finding(call.byte_span(), message);
        finding.severity = Severity::Warning;
        out.push(finding);
    }
}

/// The close sits in a branch taken by one caller only: its condition calls an atomic swap
/// (`if atomic.CompareAndSwapInt32(…)`, `if x.closed.Swap(true) == false`).
fn swapped_first(cx: &Context, call: tree_sitter::Node) -> bool {
    goconc_syntax::ancestors(call)
        .into_iter()
        .rev()
        .take_while(|n| !goconc_syntax::is_function(n.kind_str()))
        .filter(|n| n.kind_str() == "if_statement")
        .filter_map(|n| n.field("condition"))
        .any(|condition| calls_a_swap(cx, condition))
}

fn calls_a_swap(cx: &Context, condition: tree_sitter::Node) -> bool {
    let mut found = false;
    goconc_syntax::walk(condition, |n| {
        if n.kind_str() == "call_expression" {
            let method = n
                .field("function")
                .map(unparen)
                .filter(|f| f.kind_str() == "selector_expression")
                .and_then(|f| f.field("field"))
                .map_or("", |name| text(name, cx.src));
            // A method of sync/atomic's types, or its package functions (`CompareAndSwapInt32`).
            found |= matches!(method, "Swap" | "CompareAndSwap")
                || goconc_model::atomics::atomic_func(n, cx.src, &cx.model.imports)
                    .and_then(goconc_model::atomics::split_func)
                    .is_some_and(|(op, _)| matches!(op, "Swap" | "CompareAndSwap"));
        }
        !found
    });
    found
}

/// Channels kept in a map or slice field: closed here while another function of the package can
/// close them again (see [`super::registry`]).
fn check_registries(cx: &Context, out: &mut Vec<Finding>) {
    for hazard in super::registry::hazards(cx) {
        if hazard.closers.is_empty() {
            continue;
        }
        let op = hazard.op;
        let place = format!("`{}.{}`", op.owner, op.field);
        let closers = super::registry::function_list(&hazard.closers);
        let message = match op.kind {
            RegistryOpKind::CloseMember { .. } => format!(
                "this closes a channel of {place} without checking that it is still there: {closers} also closes every channel of {place}, so this one may be closed already (close of closed channel)"
            ),
            _ => {
                let mut message = format!(
                    "the channels of {place} are closed here but stay in it: {closers} can close them again (close of closed channel)"
                );
                if !hazard.senders.is_empty() {
                    message.push_str(&format!(
                        ", and {} can send on them (send on closed channel)",
                        super::registry::function_list(&hazard.senders)
                    ));
                }
                message
            }
        };
        let mut finding = META.finding(hazard.close, message);
        finding.severity = Severity::Warning;
        for other in &hazard.closers {
            if let Some(range) = other.range_in_file(cx.model) {
                finding = finding.with_related(range, "closes the same channels");
            }
        }
        for other in &hazard.senders {
            if let Some(range) = other.range_in_file(cx.model) {
                finding = finding.with_related(range, "sends on the same channels");
            }
        }
        out.push(finding);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::lines_of;

    const ID: &str = "channel-double-close";

    /// A function closing more channels than a flow analysis follows is not followed (as one
    /// with `goto`): its double close goes unreported, where the same one with one channel
    /// fewer closed is reported. Past the limit each join went through thousands of channels.
    #[test]
    fn gives_up_past_the_channels_a_flow_follows() {
        let closing = |n: usize| {
            let params: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
            let closes: String = (0..n).map(|i| format!("\tclose(c{i})\n")).collect();
            format!(
                "package p\n\nfunc f({} chan int) {{\n{closes}\tclose(c0)\n}}\n",
                params.join(", ")
            )
        };
        let limit = goconc_model::flow::MAX_FOLLOWED;
        assert_eq!(lines_of(&closing(limit), ID).len(), 1);
        assert!(lines_of(&closing(limit + 1), ID).is_empty());
        for meta in [&super::META, &super::super::send_after_close::META] {
            let words = format!("more than {limit} channels");
            assert!(crate::test_support::page_says(meta, &words), "{}", meta.id);
        }
    }

    #[test]
    fn sequential_and_deferred_and_loop() {
        let src = "package p\n\nfunc a(ch chan int) {\n\tclose(ch)\n\tclose(ch)\n}\n\nfunc b(ch chan int, bad bool) {\n\tdefer close(ch)\n\tif bad {\n\t\tclose(ch)\n\t\treturn\n\t}\n}\n\nfunc c(ch chan int, xs []int) {\n\tfor range xs {\n\t\tclose(ch)\n\t}\n}\n";
        assert_eq!(lines_of(src, ID), vec![5, 11, 18]);
    }

    #[test]
    fn close_that_every_path_closes_again() {
        // The error branch closes and falls through; the deferred close after an error close.
        let src = "package p\n\nfunc a(ch chan int, err error) {\n\tif err != nil {\n\t\tclose(ch)\n\t}\n\tclose(ch)\n}\n\nfunc b(ch chan int, err error) {\n\tdefer close(ch)\n\tif err != nil {\n\t\tclose(ch)\n\t}\n}\n\nfunc c(ch chan int, err error) {\n\tif err != nil {\n\t\tclose(ch)\n\t}\n\tif err == nil {\n\t\tclose(ch)\n\t}\n}\n";
        assert_eq!(lines_of(src, ID), vec![7, 13]);
    }

    #[test]
    fn exclusive_branches_reassignment_and_loop_exit_are_silent() {
        let src = "package p\n\nfunc a(ch chan int, x bool) {\n\tif x {\n\t\tclose(ch)\n\t} else {\n\t\tclose(ch)\n\t}\n}\n\nfunc b(ch chan int) {\n\tclose(ch)\n\tch = make(chan int)\n\tclose(ch)\n}\n\nfunc c(ch chan int, xs []int) {\n\tfor _, x := range xs {\n\t\tif x > 0 {\n\t\t\tclose(ch)\n\t\t\treturn\n\t\t}\n\t}\n}\n\nfunc d(xs []int) {\n\tfor range xs {\n\t\tch := make(chan int)\n\t\tclose(ch)\n\t}\n}\n";
        assert!(lines_of(src, ID).is_empty());
    }
}
