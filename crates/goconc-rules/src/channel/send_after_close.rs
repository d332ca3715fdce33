//! `channel-send-after-close`: a send on a channel after it was closed on the same path.

use crate::finding::LineOf;
use crate::finding::{Finding, Severity};
use crate::{Context, Family, RuleMeta};
use goconc_model::channels::fields::{range_in_file, FieldOpKind};
use goconc_model::channels::CloseEvent;
use goconc_syntax::{named_children, text, unparen, NodeExt};
use tree_sitter::Node;

pub static META: RuleMeta = RuleMeta {
    id: "channel-send-after-close",
    family: Family::Channel,
    severity: Severity::Error,
    summary: "A send on a channel after it was closed on the same path: the send panics.",
    fix: None,
    doc: r#"
## Why it matters
Sending on a closed channel panics (`send on closed channel`), and so does a `select` case that
sends on it when that case is chosen. The shape is usually a producer that closes its output to
signal "done" and then, on some path, still has one more value to deliver: an error sent after
the `close`, a final flush, or a loop whose body closes the channel and then sends again on the
next iteration.

## Example
```go
func scan(lines []string, out chan<- string, errc chan<- error) {
	for _, l := range lines {
		out <- l
	}
	close(out)
	if len(lines) == 0 {
		out <- "(empty)"
	}
}
```
```go
func scan(lines []string, out chan<- string, errc chan<- error) {
	defer close(out)
	for _, l := range lines {
		out <- l
	}
	if len(lines) == 0 {
		out <- "(empty)"
	}
}
```

## Fix
Close the channel after the last send on every path — `defer close(out)` at the top of the
producer does that — and never close a channel that another goroutine may still send on.

## Across methods
A channel held in a struct field is often closed in one method (`Close`, `Stop`) while a
goroutine of the package — a function literal started with `go`, or a function the package
starts by name — sends on it. Nothing stops that goroutine from sending after the close unless
something orders the two: the sender and the closer hold the same mutex (with a "closed" flag
checked under it), the closer waits for the senders (`wg.Wait()`) or calls the sending function
before it closes. When nothing does, the finding is a **warning** on the `close`, naming the
functions that can still send: whether the close comes while they run is the one fact the tool
cannot see. An **error** is for a send after a close on the same path. A send in an ordinary
method is left to the API's contract (callers do not send after `Close`).

## Channels kept in a map or slice field
A type that keeps its subscribers' channels in a field (`r.watchers map[int]chan T`) and closes
them all in `Close` without removing them hands closed channels to every function that later sends
to the subscribers it finds there (by `range` or by index): the send panics. The finding is a
**warning** on the close, naming those functions (when another function also closes the same
channels, `channel-double-close` reports the close and names the senders too). It stays silent
when the close removes the channels (`delete` in the loop, a new value or `clear` for the field
after it, or a loop over a copy taken out of the field), or when the closer marks a field of the
value as done (`r.closed = true`, `close(r.done)`) that the sender tests first, or when the
sender is an unexported function that no goroutine runs by name: it runs only when the package's
own code calls it (the loop that later closes, say), and the tool does not follow those calls.

## Closed before the goroutines that send have finished
A function that starts goroutines sending on a channel it made, then closes the channel with no
wait of any kind between the start and the close (no `Wait`, receive, send, `select`, lock or
range over a channel), closes it while a goroutine that has not sent yet still will: that send
panics. A `warning` on the close: the panic needs a sender slower than the close. Silent when
the close is deferred, runs in a goroutine (`go func() { wg.Wait(); close(ch) }()`, the idiom),
or anything above waits between the start and the close.

## When it stays silent
- The `close` is only on some of the paths to the send (closed in one branch, sent in another).
- The channel variable is assigned a new channel between the close and the send.
- The send runs in a goroutine or a function literal: each literal is checked on its own.
- The code runs under a deferred `recover()` that stops the panic, as a test of the runtime's
  error does: the same cases as `channel-double-close` lists (a deferred recovering literal
  before the send, a literal handed to a recovering function of the file, a table entry every
  `range` loop runs that way).
- Across methods: the other senders are ordinary methods, not goroutines; the closer and every
  other sender hold a common mutex; the closer calls `Wait()` (or the sending function) before
  the close; the closing function makes the value itself (it is not published yet); or only
  the closing function sends.
- Across methods, a semaphore orders them: the closer first takes back every token of a
  channel field used as one (`for range cap(v.slots) { <-v.slots }`), and every sender is a
  goroutine started right after taking a token (`<-v.slots`, or a `select` whose other cases
  return) that gives it back as its last statement, with no `return` before: taking them all
  back waits for every sender to be past its send. A goroutine that gives its token back
  before the send on some path, a closer that takes back fewer, or a goroutine started
  without a token stays reported (`tokens.go`).
- The function has more than 64 channels closed, or closes pending, at once on some path: its
  closes are not followed, as in a function with `goto` (no function of the pinned projects or
  the standard library has more than four).
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    if cx.index.calls_named("close").is_empty() {
        return;
    }
    check_across_methods(cx, out);
    check_registries(cx, out);
    check_goroutine_senders(cx, out);
    if cx.index.send_statements.is_empty() {
        return;
    }
    for event in cx.close_events().iter().cloned() {
        if let CloseEvent::SendAfterClose { close, send, path } = event {
            if cx.panic_is_expected(&send) {
                continue;
            }
            let message = if close.start >= send.start {
                format!("send on `{path}`, which the previous iteration closed: the send panics")
            } else {
                format!(
                    "send on `{path}` after it was closed on every path to here (line {}): the send panics",
                    LineOf(close.start)
                )
            };
            out.push(
                META.finding(send, message)
                    .with_related(close, format!("`{path}` closed here")),
            );
        }
    }
}

/// `close(s.ch)` in one function while another function of the package can still send on the
/// field, with nothing ordering the two.
fn check_across_methods(cx: &Context, out: &mut Vec<Finding>) {
    for super::FieldClose {
        call,
        arg,
        operand,
        here,
        ops,
        close: close_fact,
        ..
    } in super::field_closes(cx)
    {
        // The value is made right here: nobody else can hold it yet.
        if ops
            .iter()
            .any(|o| o.function == here && matches!(o.kind, FieldOpKind::Make(_)))
        {
            continue;
        }
        let close_locks: Vec<&String> = close_fact
            .map(|o| o.held.iter().chain(&o.read_held).collect())
            .unwrap_or_default();
        let package = cx.model.package;
        let senders: Vec<_> = ops
            .iter()
            .filter(|o| o.kind == FieldOpKind::Send && o.function != here)
            // A send that a goroutine of the package makes on its own: it runs concurrently
            // with the closer (a method that sends runs when its caller says, which is the
            // API's contract, not the package's to show).
            .filter(|o| o.in_goroutine || package.is_started_by_name(&o.function))
            // A mutex both hold (with a "closed" flag checked under it) orders them.
            .filter(|o| {
                !o.held
                    .iter()
                    .chain(&o.read_held)
                    .any(|l| close_locks.contains(&l))
            })
            // The closer itself calls the sender first: program order.
            .filter(|o| !calls_before(cx, call, &o.function))
            .collect();
        if senders.is_empty() || waits_before(cx, call) {
            continue;
        }
        if tokens_reclaimed_first(cx, call, operand, &senders) {
            continue;
        }
        let mut names: Vec<&str> = senders.iter().map(|o| o.function.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let path = text(arg, cx.src);
        let message = format!(
            "`{path}` is closed here while {} can still send on it (no mutex both hold, no wait for the senders first): such a send panics",
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut finding = META.finding(call.byte_span(), message);
        finding.severity = Severity::Warning;
        for o in &senders {
            if let Some(range) = range_in_file(cx.model, o) {
                finding = finding.with_related(range, "a send that can run after the close");
            }
        }
        out.push(finding);
    }
}

/// Channels kept in a map or slice field, closed here and left in it while another function of
/// the package sends on its members (when another function also closes them,
/// `channel-double-close` reports the close and names these sends).
fn check_registries(cx: &Context, out: &mut Vec<Finding>) {
    for hazard in super::registry::hazards(cx) {
        if !hazard.closers.is_empty() || hazard.senders.is_empty() {
            continue;
        }
        let op = hazard.op;
        let message = format!(
            "the channels of `{}.{}` are closed here but stay in it: {} can still send on them (send on closed channel)",
            op.owner,
            op.field,
            super::registry::function_list(&hazard.senders)
        );
        let mut finding = META.finding(hazard.close, message);
        finding.severity = Severity::Warning;
        for other in &hazard.senders {
            if let Some(range) = other.range_in_file(cx.model) {
                finding = finding.with_related(range, "sends on the same channels");
            }
        }
        out.push(finding);
    }
}

/// The close takes back every token of a semaphore (`for range cap(v.slots) { <-v.slots }`)
/// first, and every sender holds a token across its send: a goroutine started right after
/// taking one (`<-v.slots`, or a `select` whose other cases return) that gives it back as its
/// last statement and has no `return` before. Reclaiming all the tokens waits for every sender
/// to be past its send.
fn tokens_reclaimed_first(
    cx: &Context,
    close: Node,
    operand: Node,
    senders: &[&goconc_model::channels::fields::FieldChanOp],
) -> bool {
    let value = text(operand, cx.src);
    let Some(statement) = goconc_syntax::call_statement(close) else {
        return false;
    };
    let mut reclaimed: Vec<&str> = Vec::new();
    let mut before = statement.prev_named_sibling();
    while let Some(s) = before {
        if let Some(token) = reclaims_all(cx, s, value) {
            reclaimed.push(token);
        }
        before = s.prev_named_sibling();
    }
    !reclaimed.is_empty()
        && senders.iter().all(|o| {
            range_in_file(cx.model, o).is_some_and(|range| {
                cx.model
                    .root
                    .descendant_for_byte_range(range.start, range.end)
                    .is_some_and(|send| {
                        reclaimed
                            .iter()
                            .any(|token| holds_token_across(cx, send, token))
                    })
            })
        })
}

/// `for range cap(v.f) { <-v.f }` (or `for i := 0; i < cap(v.f); i++`) with the receive a
/// statement of the loop's own body: the field `f`.
fn reclaims_all<'s>(cx: &Context<'_, 's>, stmt: Node, value: &str) -> Option<&'s str> {
    if stmt.kind_str() != "for_statement" {
        return None;
    }
    let header = named_children(stmt).find(|c| c.kind_str() != "block")?;
    let bound = match header.kind_str() {
        "range_clause" => header.field("right").map(unparen)?,
        "for_clause" => header
            .field("condition")
            .filter(|c| c.kind_str() == "binary_expression")
            .and_then(|c| c.field("right"))
            .map(unparen)?,
        _ => return None,
    };
    let token = cap_of_field(cx, bound, value)?;
    let body = stmt.field("body")?;
    goconc_syntax::statements(body)
        .into_iter()
        .any(|s| {
            s.kind_str() == "expression_statement"
                && named_children(s)
                    .next()
                    .is_some_and(|e| receive_of(cx, e, value) == Some(token))
        })
        .then_some(token)
}

/// `cap(v.f)`: `f`.
fn cap_of_field<'s>(cx: &Context<'_, 's>, call: Node, value: &str) -> Option<&'s str> {
    if call.kind_str() != "call_expression" || text(call.field("function")?, cx.src) != "cap" {
        return None;
    }
    let arg = named_children(call.field("arguments")?)
        .next()
        .map(unparen)?;
    field_of(cx, arg, value)
}

/// `v.f` for the value named `value`: `f`.
fn field_of<'s>(cx: &Context<'_, 's>, node: Node, value: &str) -> Option<&'s str> {
    if node.kind_str() != "selector_expression" {
        return None;
    }
    (text(unparen(node.field("operand")?), cx.src) == value)
        .then(|| node.field("field").map(|f| text(f, cx.src)))
        .flatten()
}

/// `<-v.f`: `f`.
fn receive_of<'s>(cx: &Context<'_, 's>, node: Node, value: &str) -> Option<&'s str> {
    let node = unparen(node);
    if node.kind_str() != "unary_expression"
        || node.field("operator").map(|o| text(o, cx.src)) != Some("<-")
    {
        return None;
    }
    field_of(cx, unparen(node.field("operand")?), value)
}

/// Is `send` (on `v.c`) inside a goroutine literal that took a token of `v.token` right before
/// its `go` statement and gives it back as its last statement, with no `return` in between?
fn holds_token_across(cx: &Context, send: Node, token: &str) -> bool {
    let Some(send) = std::iter::successors(Some(send), |n| n.parent_node())
        .take(3)
        .find(|n| n.kind_str() == "send_statement")
    else {
        return false;
    };
    let Some(value) = send
        .field("channel")
        .map(unparen)
        .and_then(|c| c.field("operand"))
        .map(|o| text(unparen(o), cx.src))
    else {
        return false;
    };
    let Some(literal) = goconc_syntax::enclosing_function(send) else {
        return false;
    };
    let Some(go) = literal
        .parent_node()
        .filter(|c| c.kind_str() == "call_expression")
        .and_then(|c| c.parent_node())
        .filter(|g| g.kind_str() == "go_statement")
    else {
        return false;
    };
    let Some(body) = literal.field("body") else {
        return false;
    };
    if !goconc_syntax::returns_within(body).is_empty() {
        return false;
    }
    let gives_back = goconc_syntax::statements(body).pop().is_some_and(|last| {
        last.kind_str() == "send_statement"
            && last
                .field("channel")
                .map(unparen)
                .and_then(|c| field_of(cx, c, value))
                == Some(token)
    });
    gives_back
        && go
            .prev_named_sibling()
            .is_some_and(|taken| takes_token(cx, taken, value, token))
}

/// `<-v.token` as a statement, or a `select` with a `case <-v.token:` whose every other case
/// returns: past it, a token is held.
fn takes_token(cx: &Context, stmt: Node, value: &str, token: &str) -> bool {
    match stmt.kind_str() {
        "expression_statement" => named_children(stmt)
            .next()
            .is_some_and(|e| receive_of(cx, e, value) == Some(token)),
        "select_statement" => {
            let mut takes = false;
            let mut others_return = true;
            for case in named_children(stmt).filter(|c| c.kind_str() != "comment") {
                let receives = case
                    .field("communication")
                    .and_then(|c| named_children(c).next().or(Some(c)))
                    .is_some_and(|c| receive_of(cx, c, value) == Some(token));
                if receives {
                    takes = true;
                } else {
                    let returns = goconc_syntax::statements(case)
                        .pop()
                        .is_some_and(|l| l.kind_str() == "return_statement");
                    others_return &= returns;
                }
            }
            takes && others_return
        }
        _ => false,
    }
}

/// The function starts goroutines that send on a channel it made, then closes the channel
/// without waiting for anything: a goroutine that has not sent yet sends on a closed channel.
fn check_goroutine_senders(cx: &Context, out: &mut Vec<Finding>) {
    use goconc_model::channels::OpKind;
    for ch in cx.channels.iter() {
        let Some(parent_body) = cx.model.functions.get(ch.function).and_then(|f| f.body) else {
            continue;
        };
        for close in ch.parent_ops().filter(|op| op.kind == OpKind::Close) {
            let deferred = close
                .node
                .parent_node()
                .is_some_and(|p| p.kind_str() == "defer_statement");
            if deferred || cx.panic_is_expected(&close.node.byte_span()) {
                continue;
            }
            // A sender started before the close, by this function itself, with no wait of any
            // kind between its start and the close. The last one started is enough to ask
            // about: a wait after it is after every earlier start too.
            let sender = ch
                .ops_of(OpKind::Send)
                .filter_map(|send| Some((send, send.goroutine.filter(|_| !send.in_closure)?)))
                .filter(|(send, g)| {
                    g.start.end_offset() <= close.node.start_byte()
                        && cx.model.function_of(g.start) == Some(ch.function)
                        && !cx.panic_is_expected(&send.node.byte_span())
                })
                .max_by_key(|(_, g)| g.start.end_offset());
            let Some((send, g)) = sender else { continue };
            if crate::waits::waits_between(
                cx,
                parent_body,
                g.start.end_offset(),
                close.node.start_byte(),
            ) {
                continue;
            }
            let message = format!(
                "`{}` is closed while the goroutine started at line {} may still send on it (line {}), and nothing waits for that goroutine first: its send panics",
                ch.name,
                LineOf(g.start.start_byte()),
                LineOf(send.node.start_byte()),
            );
            // The panic needs a second iteration, or a sender slower than the close: one fact
            // the code does not settle.
            let mut finding = META.finding(close.node.byte_span(), message);
            finding.severity = Severity::Warning;
            out.push(
                finding
                    .with_related(send.node.byte_span(), "this send can run after the close")
                    .with_related(
                        g.start.start_byte()..g.start.start_byte() + 2,
                        "the sender starts here",
                    ),
            );
        }
    }
}

/// Does the function around `close` call the function `key` (`Type.method` or `func`) before the
/// close? Then that function's sends run first.
fn calls_before(cx: &Context, close: Node, key: &str) -> bool {
    let name = key.rsplit('.').next().unwrap_or(key);
    let Some(function) = goconc_syntax::enclosing_function(close) else {
        return false;
    };
    cx.index
        .calls_named_within(name, function)
        .any(|c| c.end_offset() <= close.start_byte())
}

/// A `Wait()` call before the close in its function: the senders are finished.
fn waits_before(cx: &Context, close: Node) -> bool {
    let Some(function) = goconc_syntax::enclosing_function(close) else {
        return false;
    };
    cx.index
        .calls_named_within("Wait", function)
        .any(|w| w.end_offset() <= close.start_byte() && goconc_syntax::method_call(w).is_some())
}

#[cfg(test)]
mod tests {
    use super::super::test_util::lines_of;

    const ID: &str = "channel-send-after-close";

    #[test]
    fn sends_after_close() {
        let src = "package p\n\nfunc a(ch chan int) {\n\tclose(ch)\n\tch <- 1\n}\n\nfunc b(ch chan int, xs []int) {\n\tfor _, x := range xs {\n\t\tch <- x\n\t\tclose(ch)\n\t}\n}\n\nfunc c(ch chan int, done chan struct{}) {\n\tclose(ch)\n\tselect {\n\tcase ch <- 1:\n\tcase <-done:\n\t}\n}\n";
        assert_eq!(lines_of(src, ID), vec![5, 10, 18]);
    }

    #[test]
    fn other_paths_are_silent() {
        let src = "package p\n\nfunc a(ch chan int, x bool) {\n\tif x {\n\t\tclose(ch)\n\t\treturn\n\t}\n\tch <- 1\n}\n\nfunc b(ch chan int) {\n\tclose(ch)\n\tch = make(chan int, 1)\n\tch <- 1\n}\n\nfunc c(ch chan int) {\n\tclose(ch)\n\tgo func() { ch <- 1 }()\n}\n";
        assert!(lines_of(src, ID).is_empty());
    }
}
