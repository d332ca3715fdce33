//! `goroutine-send-without-cancel`: a goroutine sends in a loop with a bare `ch <- v` while a
//! context or done channel is in scope: when the consumer stops reading, the producer blocks
//! forever instead of noticing the cancellation.

use goconc_syntax::NodeExt;
use tree_sitter::Node;

use crate::finding::{Finding, Severity, TextEdit};
use crate::{Context, Family, RuleMeta};
use goconc_model::channels::{Capacity, Channels, OpKind};
use goconc_model::goroutines::goroutine_start;
use goconc_model::{DeclKind, Ty};
use goconc_syntax::{line_indent, newline, text, unparen, walk_body};

use goconc_syntax::returns_within;

pub static META: RuleMeta = RuleMeta {
    id: "goroutine-send-without-cancel",
    family: Family::Goroutine,
    severity: Severity::Warning,
    summary: "A goroutine's bare send `ch <- v` where a context or done channel is in scope but the send cannot be abandoned (generator ignoring cancellation).",
    fix: Some("wrap in `select { case ch <- v: case <-ctx.Done(): return }`"),
    doc: r#"
## Why it matters
A producer goroutine that feeds a channel in a loop relies on its consumer to keep reading. When
the consumer stops early — its context was cancelled, it hit an error, it found what it wanted —
a bare `ch <- v` blocks forever and the producer leaks. The function already has the means to
notice: a `context.Context` or a done channel is in scope, but the send does not listen to it.

## Example
```go
func numbers(ctx context.Context) <-chan int {
	ch := make(chan int)
	go func() {
		defer close(ch)
		for i := 0; ; i++ {
			ch <- i
		}
	}()
	return ch
}
```
```go
func numbers(ctx context.Context) <-chan int {
	ch := make(chan int)
	go func() {
		defer close(ch)
		for i := 0; ; i++ {
			select {
			case ch <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch
}
```

## Fix
Make the send abandonable: `select` between the send and the cancellation signal, and return
when cancelled. The quick fix writes that `select` (with `ctx.Done()`, or the done channel in
scope) when the goroutine's function has no results.

## When it stays silent
- The send is already a case of a `select`, or is not inside a loop of the goroutine.
- No `context.Context` and no done/stop/quit channel is in scope at the send.
- The channel is made locally with a buffer, or the function that made it drains it with a
  `range` loop that has no way out.
- The goroutine also receives from the channel (a token handed back and forth), or the send is
  on the done channel itself.
- Test files: ping-pong and hand-off goroutines in tests are paced by the test itself.
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    if cx.is_test_file {
        return;
    }
    if cx.index.go_statements.is_empty() && cx.index.calls_named("Go").is_empty() {
        return;
    }
    for &lit in &cx.index.func_literals {
        let Some(start) = goroutine_start(cx.model, lit) else {
            continue;
        };
        let Some(body) = lit.field("body") else {
            continue;
        };
        let mut sends = Vec::new();
        walk_body(body, |n| {
            if n.kind_str() == "send_statement" {
                sends.push(n);
            }
        });
        for send in sends {
            check_send(cx, &cx.channels, lit, start, send, out);
        }
    }
}

fn check_send<'t>(
    cx: &Context<'_, 't>,
    channels: &Channels<'t>,
    lit: Node<'t>,
    start: Node<'t>,
    send: Node<'t>,
    out: &mut Vec<Finding>,
) {
    if send
        .parent()
        .is_some_and(|p| p.kind_str() == "communication_case")
    {
        return;
    }
    // `send` is inside `lit`, a function literal: a loop of the literal is a loop of its own.
    if goconc_syntax::enclosing_loop(send).is_none() {
        return;
    }
    let Some(channel) = send.field("channel").map(unparen) else {
        return;
    };
    let Some(value) = send.field("value") else {
        return;
    };
    if !matches!(channel.kind_str(), "identifier" | "selector_expression") {
        return;
    }
    if let Some(ch) = channels.of_expr(cx.model, channel) {
        if ch.capacity != Capacity::Unbuffered {
            return;
        }
        // Drained by the function that made it: a range with no way out.
        if !ch.escaped() {
            let drained = ch.parent_ops().any(|op| {
                op.kind == OpKind::Range
                    && returns_within(op.node).is_empty()
                    && !has_break(op.node)
            });
            if drained {
                return;
            }
        }
    } else if channel.kind_str() == "identifier" {
        // A channel of the goroutine's own making, or a parameter of the literal: its consumer
        // is the goroutine's business.
        if cx
            .model
            .resolve(channel)
            .is_some_and(|d| goconc_syntax::is_within(d.ident, lit))
        {
            return;
        }
    }
    // A token passed back and forth (`s := <-h.s; …; h.s <- s`) is a lock, not a stream.
    if receives_from(cx, lit, text(channel, cx.src)) {
        return;
    }
    let Some(cancel) = cancel_in_scope(cx, send, start) else {
        return;
    };
    // `done <- true`: the send is the signal itself.
    if cancel.name == text(channel, cx.src) {
        return;
    }
    let message = format!(
        "bare send on `{}` in a goroutine's loop: when the receiver stops reading it blocks forever, though `{}` is in scope to abandon it",
        text(channel, cx.src),
        cancel.name,
    );
    let mut finding = META.finding(send.byte_range(), message);
    if lit.field("result").is_none() && starts_own_line(cx.src, send) {
        let indent = line_indent(cx.src, send.start_byte());
        let nl = newline(cx.src);
        let recv = if cancel.is_context {
            format!("{}.Done()", cancel.name)
        } else {
            cancel.name.clone()
        };
        let new_text = format!(
            "select {{{nl}{indent}case {} <- {}:{nl}{indent}case <-{recv}:{nl}{indent}\treturn{nl}{indent}}}",
            text(channel, cx.src),
            text(value, cx.src),
        );
        finding = finding.with_unsafe_fix(
            format!("Abandon the send when `{}` is cancelled", cancel.name),
            vec![TextEdit {
                range: send.byte_range(),
                new_text,
            }],
        );
    }
    out.push(finding);
}

struct Cancel {
    name: String,
    is_context: bool,
}

/// A `context.Context` or a done channel visible at the send (declared outside the goroutine or
/// as one of its parameters).
fn cancel_in_scope(cx: &Context, send: Node, start: Node) -> Option<Cancel> {
    let at = send.start_byte();
    let _ = start;
    let mut best: Option<(usize, Cancel)> = None;
    for decl in cx.model.decls() {
        if !(decl.visible.start <= at && at < decl.visible.end) {
            continue;
        }
        // The name must really resolve to this declaration at the send.
        if cx.model.resolve_name(decl.name, at).map(|d| d.ident) != Some(decl.ident) {
            continue;
        }
        let cancel = if decl.ty.deref().is_named("context", "Context") {
            Cancel {
                name: decl.name.to_string(),
                is_context: true,
            }
        } else if is_done_channel(&decl.ty, decl.name) && decl.kind != DeclKind::LoopVar {
            Cancel {
                name: decl.name.to_string(),
                is_context: false,
            }
        } else {
            continue;
        };
        let rank = decl.visible.start;
        if best
            .as_ref()
            .is_none_or(|(r, c)| (cancel.is_context, rank) > (c.is_context, *r))
        {
            best = Some((rank, cancel));
        }
    }
    best.map(|(_, c)| c)
}

/// `done chan struct{}`, `stop <-chan struct{}`, `quit chan bool`…
fn is_done_channel(ty: &Ty, name: &str) -> bool {
    let Ty::Chan(elem) = ty else { return false };
    let named = goconc_model::words::STOP_CHANNEL.in_identifier(name);
    named && (matches!(**elem, Ty::Struct(ref f) if f.is_empty()) || elem.is_named("", "bool"))
}

/// Does the goroutine receive from the channel it sends on?
fn receives_from(cx: &Context, lit: Node, channel: &str) -> bool {
    let mut found = false;
    if let Some(body) = lit.field("body") {
        walk_body(body, |n| {
            if !found
                && n.kind_str() == "unary_expression"
                && n.field("operator").is_some_and(|o| text(o, cx.src) == "<-")
                && n.field("operand")
                    .is_some_and(|o| text(unparen(o), cx.src) == channel)
            {
                found = true;
            }
        });
    }
    found
}

fn has_break(for_stmt: Node) -> bool {
    let mut found = false;
    if let Some(body) = for_stmt.field("body") {
        walk_body(body, |n| {
            if matches!(n.kind_str(), "break_statement" | "goto_statement") {
                found = true;
            }
        });
    }
    found
}

fn starts_own_line(src: &str, node: Node) -> bool {
    let start = goconc_syntax::line_start(src, node.start_byte());
    src.get(start..node.start_byte())
        .is_some_and(|s| s.trim().is_empty())
}
