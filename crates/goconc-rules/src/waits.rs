//! Whether a function waits for anything between two points: a channel operation, a `select`,
//! a range over a channel, or a call that waits (`Wait`, `Lock`, an atomic load, …). Goroutines
//! started before such a point may be finished (or ordered) by it.

use goconc_model::Ty;
use goconc_syntax::{text, walk_body, NodeExt};
use tree_sitter::Node;

use crate::Context;

/// Does `body` (outside its function literals) wait for anything between two offsets?
pub(crate) fn waits_between(cx: &Context, body: Node, from: usize, to: usize) -> bool {
    WaitSpans::of(cx, body).between(from, to)
}

/// Where a body (outside its function literals) waits, gathered in one walk: a rule that asks
/// about many pairs of points in one body (each of thousands of goroutines a function starts)
/// asks these instead of walking the body each time.
pub(crate) struct WaitSpans(Spans);

impl WaitSpans {
    pub(crate) fn of(cx: &Context, body: Node) -> WaitSpans {
        let mut spans = Vec::new();
        walk_body(body, |n| {
            if waits(cx, n) {
                spans.push(n.byte_span());
            }
        });
        // The walk visits nodes in document order: their starts never decrease.
        WaitSpans(Spans::new(spans))
    }

    /// Does a node that waits overlap the bytes from `from` to `to`?
    pub(crate) fn between(&self, from: usize, to: usize) -> bool {
        self.0.overlaps(from, to)
    }
}

/// Byte spans of nodes in document order (nested ones included), asked whether any overlaps a
/// range in a bisection.
pub(crate) struct Spans {
    /// Each span's start, in order.
    starts: Vec<usize>,
    /// For each span in that order, the furthest end among it and those before it.
    furthest_ends: Vec<usize>,
}

impl Spans {
    /// `spans` in document order: their starts never decrease.
    pub(crate) fn new(spans: Vec<std::ops::Range<usize>>) -> Spans {
        let starts = spans.iter().map(|s| s.start).collect();
        let furthest_ends = spans
            .iter()
            .scan(0, |furthest, s| {
                *furthest = s.end.max(*furthest);
                Some(*furthest)
            })
            .collect();
        Spans {
            starts,
            furthest_ends,
        }
    }

    /// Does a span overlap the bytes from `from` to `to`?
    pub(crate) fn overlaps(&self, from: usize, to: usize) -> bool {
        let starting_before = self.starts.partition_point(|&s| s < to);
        starting_before > 0 && self.furthest_ends[starting_before - 1] > from
    }
}

/// Does the node itself wait: a channel operation, a `select`, a range over a channel, or a call
/// that may wait?
fn waits(cx: &Context, n: Node) -> bool {
    match n.kind_str() {
        "select_statement" | "send_statement" => true,
        "call_expression" => goconc_syntax::called_name(n, cx.src)
            .is_some_and(goconc_model::sync_calls::may_wait_by_name),
        _ => receives(cx, n),
    }
}

/// Is the node a receive (`<-ch`) or a range over a channel (or over a value of a type not
/// known)?
pub(crate) fn receives(cx: &Context, n: Node) -> bool {
    match n.kind_str() {
        "unary_expression" => n.field("operator").is_some_and(|o| text(o, cx.src) == "<-"),
        "range_clause" => {
            let ty = n
                .field("right")
                .map(|r| cx.model.type_of(r))
                .unwrap_or_default();
            matches!(ty, Ty::Chan(_) | Ty::Unknown)
        }
        _ => false,
    }
}
