//! `channel-send-before-receiver`: a send on an unbuffered channel the function has just made,
//! before anything else could have the channel: no goroutine can receive it, so the send blocks
//! forever.

use goconc_syntax::NodeExt;
use tree_sitter::Node;

use crate::finding::{Finding, LineOf, Severity};
use crate::{Context, Family, RuleMeta};
use goconc_model::channels::{Capacity, LocalChannel, OpKind};
use goconc_syntax::{enclosing_loop, is_within, walk_body};

pub static META: RuleMeta = RuleMeta {
    id: "channel-send-before-receiver",
    family: Family::Channel,
    severity: Severity::Error,
    summary: "A send on an unbuffered channel the function has just made, before any goroutine that could receive it exists: the send blocks forever.",
    fix: None,
    doc: r#"
## Why it matters
A send on an unbuffered channel completes only when another goroutine receives it at the same
time. When the channel was made a moment ago and nothing has been handed it yet — no goroutine
started with it, no call given it, nothing storing it — no one can be receiving: the send blocks
forever, and so does the goroutine that runs it (the whole program, when it is the last one).
The receiver is usually there, one line too late: the `go` statement that reads the channel was
written after the send instead of before it.

## Example
```go
func handshake() int {
	ready := make(chan int)
	ready <- 1
	go func() {
		fmt.Println(<-ready)
	}()
	return 1
}
```
```go
func handshake() int {
	ready := make(chan int)
	go func() {
		fmt.Println(<-ready)
	}()
	ready <- 1
	return 1
}
```

## Fix
Start the receiving goroutine (or hand the channel on) before the send, or make the channel
buffered when the value is meant to wait for its reader. No quick fix: which of the two is meant
is not in the code.

## Severity
**error**: the message names the path: the channel is made on line N and the send is the first
thing done with it; on that path nothing else has the channel, so the send cannot complete. When
a goroutine started later receives it, the message names it too.

## When it stays silent
Whenever the channel could reach a receiver before the send:
- it was handed to a call (including `go f(ch)` and `signal.Notify(ch, …)`), captured by a
  goroutine or a function literal written before the send, stored in a field, a map, a slice or
  a composite literal, assigned to another variable, sent on another channel, returned, or had
  its address taken — anything but `len`, `cap` and a comparison with `nil`;
- the variable was assigned another channel before the send;
- it was made with a capacity other than a literal `0`, constant or not (`make(chan T, n)`):
  a buffer may take the value;
- the send is a case of a `select` with other cases or a `default` (it can be passed over);
- the function received from or ranged over the channel before the send (that would block
  first, and is another matter);
- the send is in a loop that does not contain the `make` but does contain another use of the
  channel: a later iteration may have handed it on before an earlier one's send runs (`if i > 0
  { ch <- v }`);
- the function uses `goto`, or the send is the update statement of a `for` clause (`for ; ;
  ch <- v { … }`, run only after an iteration of the body, which may leave the loop): the
  order of the text is not the order of the run;
- the send runs in a goroutine or a function literal of its own (the channel was captured).

`_test.go` files are read like any other: such a test hangs until its timeout.
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    if cx.index.send_statements.is_empty() {
        return;
    }
    // The context builds the channels only in files that start goroutines; a file that does
    // not can still send before any receiver exists.
    let channels = cx.local_channels();
    for ch in channels.iter() {
        if ch.capacity != Capacity::Unbuffered {
            continue;
        }
        if let Some(finding) = check_channel(cx, ch) {
            out.push(finding);
        }
    }
}

fn check_channel(cx: &Context, ch: &LocalChannel) -> Option<Finding> {
    // The first send on the function's own goroutine, blocking.
    let send = ch
        .ops
        .iter()
        .find(|op| op.kind == OpKind::Send && op.goroutine.is_none() && !op.in_closure)?;
    if send.select.is_some_and(|s| s.can_leave()) {
        return None;
    }
    // `for ; ; ch <- v { … }`: the send runs after a whole iteration of the body, which may
    // leave the loop first; the order of the text is not the order of the run.
    if send
        .node
        .parent_node()
        .is_some_and(|p| p.kind_str() == "for_clause")
    {
        return None;
    }
    let at = send.node.start_byte();
    if cx.is_skipped(at) || at < ch.make_call.end_offset() {
        return None;
    }
    // Anything done with the channel before the send: a receiver may exist.
    let before = |ident: Node| ident.start_byte() < at;
    if ch.escapes.iter().any(|e| before(e.ident)) {
        return None;
    }
    if ch
        .ops
        .iter()
        .any(|op| op.node != send.node && before(op.ident))
    {
        return None;
    }
    let function = cx.model.functions.get(ch.function)?.node;
    if uses_goto(function) {
        return None;
    }
    // In a loop that the `make` is outside of, a later use in the loop may run first.
    let mut lp = enclosing_loop(send.node);
    while let Some(l) = lp.filter(|l| is_within(*l, function)) {
        if is_within(ch.make_call, l) {
            break;
        }
        let other_use = ch
            .ops
            .iter()
            .map(|op| op.ident)
            .chain(ch.escapes.iter().map(|e| e.ident))
            .any(|ident| ident != send.ident && is_within(ident, l));
        if other_use {
            return None;
        }
        lp = enclosing_loop(l);
    }
    // The first use after the send: named in the message.
    let later = ch
        .ops
        .iter()
        .filter(|op| op.node != send.node && op.ident.start_byte() > at)
        .map(|op| match op.goroutine {
            Some(g) => Later::Goroutine(g.start),
            None if op.in_closure => Later::HandedOn(op.ident),
            None => Later::OwnReceive(op.ident),
        })
        .chain(
            ch.escapes
                .iter()
                .filter(|e| e.ident.start_byte() > at)
                .map(|e| match go_statement_around(e.ident, function) {
                    Some(go) => Later::Goroutine(go),
                    None => Later::HandedOn(e.ident),
                }),
        )
        .min_by_key(|l| l.node().start_byte());
    let name = ch.name;
    let made = LineOf(ch.make_call.start_byte());
    let tail = match later {
        Some(l @ Later::Goroutine(_)) => format!(
            "; the goroutine that could receive it starts on line {}, after the send",
            LineOf(l.node().start_byte())
        ),
        Some(l @ Later::HandedOn(_)) => format!(
            "; the channel is first handed on on line {}, after the send",
            LineOf(l.node().start_byte())
        ),
        Some(l @ Later::OwnReceive(_)) => format!(
            "; the function itself uses it next on line {}, after the send, on the same goroutine",
            LineOf(l.node().start_byte())
        ),
        None => String::new(),
    };
    let message = format!(
        "send on unbuffered `{name}` before any goroutine could receive it: on the path from its `make` (line {made}) to this send nothing else has the channel, so the send blocks forever{tail}",
    );
    let mut finding = META.finding(send.node.byte_span(), message).with_related(
        ch.make_call.byte_span(),
        "the channel is made here, unbuffered",
    );
    if let Some(l) = later {
        finding = finding.with_related(l.node().byte_span(), "the next use of the channel");
    }
    Some(finding)
}

/// The first use of the channel after the send.
#[derive(Clone, Copy)]
enum Later<'t> {
    /// A goroutine that uses it starts here (its `go` statement or `Go` call).
    Goroutine(Node<'t>),
    /// Handed to a call, stored, captured by a literal…
    HandedOn(Node<'t>),
    /// Received or closed by the function itself.
    OwnReceive(Node<'t>),
}

impl<'t> Later<'t> {
    fn node(self) -> Node<'t> {
        match self {
            Later::Goroutine(n) | Later::HandedOn(n) | Later::OwnReceive(n) => n,
        }
    }
}

/// The `go` statement whose call `ident` is part of (`go work(ch)`), inside `function`.
fn go_statement_around<'t>(ident: Node<'t>, function: Node<'t>) -> Option<Node<'t>> {
    let mut node = ident.parent_node()?;
    while node != function {
        match node.kind_str() {
            "go_statement" => return Some(node),
            "func_literal" | "block" => return None,
            _ => node = node.parent_node()?,
        }
    }
    None
}

/// Does the function's body (its own, not nested literals') hold a `goto`?
fn uses_goto(function: Node) -> bool {
    let Some(body) = function.field("body") else {
        return false;
    };
    let mut found = false;
    walk_body(body, |n| {
        if n.kind_str() == "goto_statement" {
            found = true;
        }
    });
    found
}
