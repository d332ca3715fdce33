//! `goroutine-leak-ncast`: goroutines started in a loop each send one value on an unbuffered
//! channel, and the parent receives fewer values than it started senders ("first answer wins",
//! or a receive loop that returns on the first error): the other senders block forever.

use crate::finding::LineOf;
use goconc_syntax::NodeExt;
use tree_sitter::Node;

use crate::finding::{Finding, Severity, TextEdit};
use crate::{Context, Family, RuleMeta};
use goconc_model::channels::{LocalChannel, OpKind};
use goconc_model::Ty;
use goconc_syntax::{access_path, named_children, path_root, text, unparen};

use crate::messages::function_name;
use goconc_model::channels::senders::{is_single_blocking_send, lone_sender_to_parent};
use goconc_syntax::{closing_paren, returns_within};

pub static META: RuleMeta = RuleMeta {
    id: "goroutine-leak-ncast",
    family: Family::Goroutine,
    severity: Severity::Warning,
    summary: "N goroutines started in a loop each send one result on an unbuffered channel, and the parent receives fewer than N (\"first answer wins\"): the rest block forever.",
    fix: Some("`make(chan T, len(items))`"),
    doc: r#"
## Why it matters
Starting one goroutine per item and taking the first answer (or returning at the first error) is
a popular pattern, but with an unbuffered channel every goroutine after the first one that is
received blocks forever on its send: nobody will receive again. Each call of the function leaks
N − 1 goroutines and everything they hold.

## Example
```go
func first(replicas []string, q string) Result {
	ch := make(chan Result)
	for _, r := range replicas {
		go func(r string) {
			ch <- search(r, q)
		}(r)
	}
	return <-ch
}
```
```go
func first(replicas []string, q string) Result {
	ch := make(chan Result, len(replicas))
	for _, r := range replicas {
		go func(r string) {
			ch <- search(r, q)
		}(r)
	}
	return <-ch
}
```

## Fix
Give the channel room for every sender: with a buffer as large as the number of goroutines,
each send completes at once and every goroutine exits, whether its value is read or not. When
the loop ranges over a slice or map `items`, the quick fix writes `make(chan T, len(items))`.

## When it stays silent
- The channel is buffered, or its capacity is not a constant.
- The parent receives in a loop with no `return` in it (it collects every result), or whose
  `return` is guarded by a counter the loop counts (`if active == 0 { return … }`), or ranges
  over the channel; or it receives several times one by one (it counted its senders).
- A goroutine sends more than once, or inside a `select` that can give up.
- The channel escapes: passed to a function, stored, returned, used in another closure, or
  received by another goroutine.
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    if cx.index.go_statements.is_empty() || cx.index.for_statements.is_empty() {
        return;
    }
    for ch in cx.channels.iter() {
        check_channel(cx, ch, out);
    }
}

fn check_channel(cx: &Context, ch: &LocalChannel, out: &mut Vec<Finding>) {
    let Some((sender, sends)) = lone_sender_to_parent(ch) else {
        return;
    };
    if sends.len() != 1 || !is_single_blocking_send(sends[0]) {
        return;
    }
    if sender.start.kind_str() != "go_statement"
        || cx.model.function_of(sender.start) != Some(ch.function)
    {
        return;
    }
    let Some(go_loop) = goconc_syntax::enclosing_loop(sender.start) else {
        return;
    };
    if go_loop.start_byte() < ch.make_call.end_offset() {
        return;
    }
    let receives: Vec<_> = ch.ops_of(OpKind::Receive).collect();
    let Some(first) = receives.first() else {
        return;
    };
    // Fewer than N receives: none in a loop, or a receive loop that can return early.
    let mut early = None;
    for r in &receives {
        match r.loop_stmt {
            None => {}
            Some(l) if l == go_loop || goconc_syntax::is_within(go_loop, l) => return,
            Some(l) => {
                let body = l.field("body").unwrap_or(l);
                let counters = counters_of(cx, body);
                match returns_within(body)
                    .into_iter()
                    .find(|r| !guarded_by_counter(cx, *r, body, &counters))
                {
                    Some(ret) => early = early.or(Some(ret)),
                    None => return,
                }
            }
        }
    }
    let all_outside_loops = receives.iter().all(|r| r.loop_stmt.is_none());
    // Several receives written out one by one: the author counted the senders.
    if all_outside_loops && receives.len() > 1 {
        return;
    }
    let why = if all_outside_loops {
        let n = receives.len();
        format!(
            "{} receives {n} value{} from `{}`",
            function_name(cx.model, ch.function),
            if n == 1 { "" } else { "s" },
            ch.name
        )
    } else if let Some(ret) = early {
        format!(
            "the receive loop returns early (line {})",
            LineOf(ret.start_byte())
        )
    } else {
        return;
    };
    let message = format!(
        "`{}` is unbuffered, and one goroutine per iteration sends on it (line {}), but {why}: the other senders block forever",
        ch.name,
        LineOf(sends[0].node.start_byte()),
    );
    // On the `make`, where the fix goes.
    let mut finding = META
        .finding(ch.make_call.byte_span(), message)
        .with_related(sends[0].node.byte_span(), "each goroutine sends here")
        .with_related(sender.start.byte_span(), "started once per loop iteration")
        .with_related(first.node.byte_span(), "received here");
    if let Some((items, edit)) = fix(cx, ch, go_loop) {
        finding = finding.with_fix(
            format!(
                "Buffer `{}` for every sender: `make({}, len({items}))`",
                ch.name,
                text(ch.chan_type, cx.src)
            ),
            vec![edit],
        );
    }
    out.push(finding);
}

/// Variables counted up or down inside a loop body (`n++`, `active--`, `done += 1`).
fn counters_of<'t>(cx: &Context<'_, 't>, body: Node<'t>) -> Vec<&'t str> {
    let mut out = Vec::new();
    goconc_syntax::walk_body(body, |n| {
        let target = match n.kind_str() {
            "inc_statement" | "dec_statement" => named_children(n).next(),
            "assignment_statement"
                if n.field("operator")
                    .is_some_and(|o| matches!(o.kind_str(), "+=" | "-=")) =>
            {
                n.field("left").and_then(|l| named_children(l).next())
            }
            _ => None,
        };
        if let Some(t) = target {
            out.push(text(t, cx.src));
        }
    });
    out
}

/// Is a `return` inside an `if` (within the loop body) whose condition tests a counter — the
/// loop leaves once it has counted every sender?
fn guarded_by_counter(cx: &Context, ret: Node, body: Node, counters: &[&str]) -> bool {
    let mut current = ret.parent_node();
    while let Some(n) = current {
        if n == body {
            return false;
        }
        if n.kind_str() == "if_statement" {
            if let Some(cond) = n.field("condition") {
                let mut hit = false;
                goconc_syntax::walk(cond, |c| {
                    hit |= c.kind_str() == "identifier" && counters.contains(&text(c, cx.src));
                    !hit
                });
                if hit {
                    return true;
                }
            }
        }
        current = n.parent_node();
    }
    false
}

/// `make(chan T, len(items))` when the loop ranges over `items`, a slice, array or map visible
/// (as the same variable) at the `make`.
fn fix(cx: &Context, ch: &LocalChannel, go_loop: Node) -> Option<(String, TextEdit)> {
    let clause = named_children(go_loop).find(|n| n.kind_str() == "range_clause")?;
    let ranged = unparen(clause.field("right")?);
    let items = access_path(ranged, cx.src)?;
    if text(ranged, cx.src) != items {
        return None;
    }
    if !matches!(
        cx.model.type_of(ranged).deref(),
        Ty::Slice(_) | Ty::Array(_) | Ty::Map(..)
    ) {
        return None;
    }
    let root = path_root(ranged)?;
    let at_loop = cx.model.resolve(root).map(|d| d.ident);
    let at_make = cx
        .model
        .resolve_name(text(root, cx.src), ch.make_call.start_byte())
        .map(|d| d.ident);
    if at_loop != at_make {
        return None;
    }
    // Nothing may assign the ranged variable between the make and the loop.
    if at_loop.is_none() && cx.model.package.var(text(root, cx.src)).is_none() {
        return None;
    }
    let capacity = format!("len({items})");
    let edit = match ch.capacity_expr {
        Some(expr) => TextEdit {
            range: expr.byte_span(),
            new_text: capacity,
        },
        None => {
            let paren = closing_paren(ch.make_call)?;
            if !cx
                .src
                .get(ch.chan_type.end_offset()..paren)?
                .trim()
                .is_empty()
            {
                return None;
            }
            TextEdit {
                range: ch.chan_type.end_offset()..paren,
                new_text: format!(", {capacity}"),
            }
        }
    };
    Some((items, edit))
}
