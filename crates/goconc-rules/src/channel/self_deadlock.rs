//! `channel-self-deadlock`: the goroutine whose loop is the only receiver of a channel field
//! reaches, from inside that loop and on its own goroutine, a send on the same channel. The
//! facts (who receives each field channel, the calls each function makes on its own goroutine,
//! the walk from the loop) are the model's: [`goconc_model::channels::own_goroutine`].

use crate::finding::{Finding, Severity};
use crate::{Context, Family, RuleMeta};
use goconc_model::channels::fields::offsets_in_file;
use goconc_model::channels::own_goroutine::{Place, SelfSend, SelfSendCapacity};

pub static META: RuleMeta = RuleMeta {
    id: "channel-self-deadlock",
    family: Family::Channel,
    severity: Severity::Error,
    summary: "The goroutine whose loop alone receives from a channel field sends on that channel itself, from inside the loop (directly or through calls): the send waits for a receiver that is the sender.",
    fix: Some("send from a new goroutine: `go d.Refresh(id)` (unsafe: the send no longer happens before the call returns)"),
    doc: r#"
## Why it matters
A dispatcher loop often owns a channel: `go d.loop()` receives every request and handles it.
When handling one request sends a new request on the same channel — directly, or through a few
calls that end in the method everyone else uses to submit work — the send waits for a receiver.
The only receiver is the loop, and the loop is the goroutine that is sending. It never comes
back to its receive: the loop, and every caller that submits work after it, hang for good.

## Example
```go
func (d *dispatcher) loop() {
	for op := range d.ops {
		d.apply(op)
	}
}

func (d *dispatcher) apply(op op) {
	if op.kind == opJoin {
		d.Refresh(op.id) // sends on d.ops: the loop waits for itself
	}
}

func (d *dispatcher) Refresh(id string) {
	d.ops <- op{kind: opRefresh, id: id}
}
```
```go
func (d *dispatcher) apply(op op) {
	if op.kind == opJoin {
		go d.Refresh(op.id) // queued by another goroutine: the loop keeps receiving
	}
}
```

## Fix
Send from another goroutine (`go d.Refresh(id)`), do the work in place instead of queueing it
(`d.refreshLocked(id)`), or keep work the loop produces for itself in a local queue it drains.
Where the finding is a call whose result is unused (an expression statement), an unsafe quick
fix starts it on a new goroutine: the loop goes back to its receive, and the queued work runs
after the current one instead of during it — whether the order still holds is for a person to
read.

## Where it is reported
At the place where the goroutine commits to the send: the last call on the way after which
every step sits in a top-level statement of its function (not in a nested block, `case` or
function literal), so that the callee sends whenever it is called — the call a fix usually
changes. When the send itself is conditional, at the send. The message names the whole chain
from the loop, and the line of the send when it is in the same file; the loop's receive, the
calls and the send in the same file are related locations.

## Evidence and severity
The package's own code shows every receiver of the field: the receives and ranges of `x.f`, and
the receives of a parameter of a function started with the field as argument (`go d.loop(ctx,
d.ops)`, the loop reading `ops`). All of them sit in one loop of one function, on that
function's own goroutine, and one `go` statement of the package, outside any loop, starts that
function. The calls from the loop to the send are calls of the same package, each resolved to
one function or method (through the receiver, a field, a parameter or a local holding a call's
result), followed breadth first for at most 8 calls.

An **error** when every `make` of the field in the package is unbuffered and the chain stays on
one value: the loop reads the field of its own receiver, and every call on the way is a method
of the same type called on its receiver (`d.apply(o)`, `d.Refresh(id)`). The path is concrete —
the chain the message names reaches a send that can only be taken by the loop that is making
it. A **warning** when the chain passes through another value (`n.driver.initPeers()` from a
method of `network`, a local holding a call's result) or the loop reads the channel through a
parameter it was started with (`go d.loop(ctx, d.ops)`): types are followed, not values, and
that other value may hold another channel (a parent's, a sibling's). Also a **warning** when the capacity is unknown (a `make` with a variable size, a channel stored
from elsewhere, no `make` in the package), or when it is buffered with a constant: a buffer
only delays the deadlock. While the loop handles one value, other senders (or the loop's own
earlier sends) can fill the buffer; then the loop's send waits for itself, as in the unbuffered
case, and a sender blocked on the full buffer may take the slot the loop's next receive frees.
Whether the buffer can fill depends on the load, which the tool does not see.

## When it stays silent
- The send runs on another goroutine (`go d.Refresh(id)`, inside `go func(){…}()`), or inside a
  function literal handed to a call (a callback may run anywhere). Deferred calls and literals
  called in place (`defer func(){…}()`) run on the loop's goroutine and are followed.
- The send is a case of a `select` that can give up (a `default`, or another case).
- Another goroutine also receives the channel: another function, or the same one started by
  several `go` statements or by one inside a loop (a pool of workers).
- A receive sits outside the loop or in a goroutine the loop starts, or the channel is handed
  elsewhere (aliased, passed to a call other than the `go` that starts the loop, returned,
  stored), or a value the text cannot type uses a field of that name: a receiver may exist out
  of sight.
- The field is exported: another package's code may receive from it.
- The call chain leaves the package, goes through an interface or a function value, or is longer
  than 8 calls.
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    let package = cx.model.package;
    for found in package.self_sends() {
        let Some(range) = place_here(cx, &found.report) else {
            continue;
        };
        if cx.is_skipped(range.start) {
            continue;
        }
        let mut finding = META.finding(range.clone(), message(cx, found, &range));
        if found.capacity != SelfSendCapacity::Unbuffered || !found.same_value {
            finding.severity = Severity::Warning;
        }
        for receive in &found.receives {
            if let Some(r) = place_here(cx, receive) {
                finding = finding.with_related(
                    r,
                    format!("the only receive of `{}.{}`", found.owner, found.field),
                );
            }
        }
        for step in &found.chain {
            if step.call.offset == found.report.offset
                && step.call.function == found.report.function
            {
                continue;
            }
            if let Some(r) = place_here(cx, &step.call) {
                finding = finding.with_related(r, format!("calls `{}`", step.callee));
            }
        }
        if found.send != found.report {
            if let Some(r) = place_here(cx, &found.send) {
                finding = finding.with_related(r, "the send that waits for its own goroutine");
            }
        }
        if let Some(edit) = go_prefix(cx, range.start) {
            finding = finding.with_unsafe_fix("Send from a new goroutine: `go …`", vec![edit]);
        }
        out.push(finding);
    }
}

/// `go ` before the reported call, when it is a whole expression statement (its results unused).
fn go_prefix(cx: &Context, start: usize) -> Option<crate::finding::TextEdit> {
    use goconc_syntax::NodeExt;
    let node = cx.model.root.descendant_for_byte_range(start, start)?;
    let mut call = node;
    while call.start_byte() == start && call.kind_str() != "call_expression" {
        call = call.parent_node()?;
    }
    let statement = call.parent_node()?;
    (call.kind_str() == "call_expression"
        && call.start_byte() == start
        && statement.kind_str() == "expression_statement")
        .then(|| crate::finding::TextEdit {
            range: start..start,
            new_text: "go ".to_string(),
        })
}

fn place_here(cx: &Context, place: &Place) -> Option<std::ops::Range<usize>> {
    offsets_in_file(cx.model, &place.function, place.offset, place.len)
}

fn message(cx: &Context, found: &SelfSend, here: &std::ops::Range<usize>) -> String {
    let mut chain = vec![format!("`{}`", found.receiver)];
    chain.extend(found.chain.iter().map(|s| match s.call == found.report {
        true => format!("`{}` (this call)", s.callee),
        false => format!("`{}`", s.callee),
    }));
    let send = match place_here(cx, &found.send) {
        Some(r) if r == *here => "this send".to_string(),
        Some(r) => format!("the send at line {}", line_of(cx.src, r.start)),
        None => format!("the send in `{}`", found.send.function),
    };
    let channel = format!("`{}.{}`", found.owner, found.field);
    let (kind, outcome) = match found.capacity {
        SelfSendCapacity::Unbuffered => (
            format!("unbuffered {channel}"),
            "the send waits for a receiver that is the sender itself: a deadlock",
        ),
        SelfSendCapacity::Buffered(n) => (
            format!("{channel} (buffered, {n})"),
            "once other senders fill the buffer, the send waits for a receiver that is the sender itself: a deadlock",
        ),
        SelfSendCapacity::Unknown => (
            format!("{channel} (capacity unknown here)"),
            "unless the buffer has room, the send waits for a receiver that is the sender itself: a deadlock",
        ),
    };
    let values = match found.same_value {
        true => "",
        false => " (if the calls reach the same value: the chain passes through another value or a channel handed in, which the tool takes to be the same)",
    };
    format!(
        "the loop of `{}` is the only receiver of {kind}, and on its own goroutine it reaches {send}: {} → send; {outcome}{values}",
        found.receiver,
        chain.join(" → "),
    )
}

fn line_of(src: &str, offset: usize) -> usize {
    src.as_bytes()[..offset.min(src.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}
