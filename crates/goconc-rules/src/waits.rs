//! Whether a function waits for anything between two points: a channel operation, a `select`,
//! a range over a channel, or a call that waits (`Wait`, `Lock`, an atomic load, …). Goroutines
//! started before such a point may be finished (or ordered) by it.

use goconc_model::Ty;
use goconc_syntax::{text, walk_body, NodeExt};
use tree_sitter::Node;

use crate::Context;

/// Does `body` (outside its function literals) wait for anything between two offsets?
pub(crate) fn waits_between(cx: &Context, body: Node, from: usize, to: usize) -> bool {
    let mut sync = false;
    walk_body(body, |n| {
        if sync || n.end_offset() <= from || n.start_byte() >= to {
            return;
        }
        match n.kind_str() {
            "select_statement" | "send_statement" => sync = true,
            "unary_expression" => {
                if n.field("operator").is_some_and(|o| text(o, cx.src) == "<-") {
                    sync = true;
                }
            }
            "range_clause" => {
                let ty = n
                    .field("right")
                    .map(|r| cx.model.type_of(r))
                    .unwrap_or_default();
                if matches!(ty, Ty::Chan(_) | Ty::Unknown) {
                    sync = true;
                }
            }
            "call_expression" => {
                if let Some(name) = goconc_syntax::called_name(n, cx.src) {
                    if goconc_model::sync_calls::may_wait_by_name(name) {
                        sync = true;
                    }
                }
            }
            _ => {}
        }
    });
    sync
}
