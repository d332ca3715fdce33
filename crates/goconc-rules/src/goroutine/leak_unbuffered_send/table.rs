//! Channels held in a field of every element of a local slice (a table of test cases): one
//! goroutine per element sends once on its element's channel, and one later loop receives from
//! each element in turn. A `return`, a `t.Fatal` or a `break` inside that loop leaves the
//! goroutines of the elements it has not reached yet blocked on their sends.

use goconc_model::channels::tables::{table_channels, TableChannel};
use goconc_model::channels::Capacity;
use goconc_syntax::{text, NodeExt};
use tree_sitter::Node;

use super::{buffer_edit, followed_by_return, on_exclusive_branches, META};
use crate::finding::{Finding, LineOf};
use crate::messages::function_name;
use crate::Context;

pub(super) fn check(cx: &Context, out: &mut Vec<Finding>) {
    let makes: Vec<Node> = cx
        .index
        .calls_named("make")
        .iter()
        .copied()
        .filter(|call| !cx.is_skipped(call.start_byte()))
        .collect();
    for table in table_channels(cx.model, &makes) {
        if table.capacity != Capacity::Unbuffered || !sends_once(&table) {
            continue;
        }
        let Some(exit) = first_exit(cx, table.receive_loop) else {
            continue;
        };
        out.push(finding(cx, &table, exit));
    }
}

/// Each goroutine sends at most once, and cannot give the send up: every send is a bare
/// statement (not a `select` case), outside any loop of the goroutine unless the goroutine
/// returns right after it, and of two sends one leaves the goroutine right after it or they
/// sit on exclusive branches.
fn sends_once(table: &TableChannel) -> bool {
    let sends = &table.sends;
    let bare = sends.iter().all(|s| {
        (goconc_syntax::enclosing_loop(*s).is_none() || followed_by_return(*s))
            && s.parent_node()
                .is_some_and(|p| p.kind_str() != "communication_case")
    });
    bare && sends.iter().enumerate().all(|(i, s)| {
        sends[i + 1..]
            .iter()
            .all(|later| followed_by_return(*s) || on_exclusive_branches(*s, *later))
    })
}

/// The first statement of the receiving loop's body that leaves the loop for good: a `return`,
/// a call that ends the goroutine (`t.Fatal`), or a `break` out of it. None when there is none,
/// or a `goto` makes the way out unclear.
fn first_exit<'t>(cx: &Context<'_, 't>, receive_loop: Node<'t>) -> Option<Node<'t>> {
    let body = receive_loop.field("body")?;
    let mut exits = Vec::new();
    let mut gave_up = false;
    goconc_syntax::walk_body(body, |n| match n.kind_str() {
        "return_statement" => exits.push(n),
        "goto_statement" => gave_up = true,
        "break_statement" if goconc_syntax::break_leaves(n, receive_loop, cx.src) => exits.push(n),
        "expression_statement" => {
            let stops = goconc_syntax::statement_call(n)
                .is_some_and(|c| goconc_model::goroutines::goroutine_exit(cx.model, c).is_some());
            if stops {
                exits.push(n);
            }
        }
        _ => {}
    });
    if gave_up {
        return None;
    }
    exits.into_iter().min_by_key(|n| n.start_byte())
}

fn finding(cx: &Context, table: &TableChannel, exit: Node) -> Finding {
    let at = LineOf(exit.start_byte());
    let how = match exit.kind_str() {
        "break_statement" => format!("can break out at line {at}"),
        "return_statement" => format!("can return at line {at}"),
        _ => {
            let stop = goconc_syntax::statement_call(exit)
                .and_then(|c| c.field("function"))
                .map_or("", |f| text(f, cx.src));
            format!("can stop at line {at} (`{stop}`)")
        }
    };
    let name = text(table.target, cx.src);
    let sends: Vec<String> = table
        .sends
        .iter()
        .map(|s| LineOf(s.start_byte()).to_string())
        .collect();
    let sends = match sends.as_slice() {
        [one] => format!("line {one}"),
        _ => format!("lines {}", sends.join(", ")),
    };
    let message = format!(
        "`{name}` is unbuffered: the goroutine started for each element of `{}` on line {} sends on its element's channel once ({sends}), and the loop of {} that receives them in turn {how}: the goroutines of the elements it has not reached then block forever",
        table.table,
        LineOf(table.go.start_byte()),
        function_name(cx.model, table.function),
    );
    let mut finding = META
        .finding(table.make_call.byte_span(), message)
        .with_related(
            table.go.byte_span(),
            "one goroutine per element starts here",
        );
    for (i, send) in table.sends.iter().enumerate() {
        let note = match i {
            0 => "each goroutine blocks forever here",
            _ => "or here",
        };
        finding = finding.with_related(send.byte_span(), note);
    }
    finding = finding.with_related(exit.byte_span(), "leaves without receiving the rest");
    if let Some(edit) = buffer_edit(cx, table.make_call, table.chan_type, table.capacity_expr) {
        finding = finding.with_unsafe_fix(
            format!(
                "Make `{name}` buffered: `make({}, 1)`",
                text(table.chan_type, cx.src)
            ),
            vec![edit],
        );
    }
    finding
}
