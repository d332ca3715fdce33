//! Time rules (`time.NewTicker`, `time.Tick`, `time.After`), one file each, and the helpers they
//! share. Before Go 1.23 a timer or ticker is freed only once it is stopped (or, for a timer,
//! fired); from 1.23 on the garbage collector reclaims unreferenced ones, so most of these rules
//! apply only to older modules.

use goconc_syntax::NodeExt;
use goconc_syntax::{named_children, statements, walk_body};
use tree_sitter::Node;

use crate::Context;

use super::Rule;

pub mod after_in_loop;
pub mod tick_leak;
pub mod ticker_not_stopped;

pub fn rules() -> Vec<Rule> {
    vec![
        Rule {
            meta: &ticker_not_stopped::META,
            check: ticker_not_stopped::check,
        },
        Rule {
            meta: &tick_leak::META,
            check: tick_leak::check,
        },
        Rule {
            meta: &after_in_loop::META,
            check: after_in_loop::check,
        },
    ]
}

/// Does the identifier `name` appear anywhere in `node`?
pub(crate) fn mentions(src: &str, node: Node, name: &str) -> bool {
    let mut found = false;
    goconc_syntax::walk(node, |n| {
        if matches!(n.kind_str(), "identifier" | "field_identifier")
            && goconc_syntax::text(n, src) == name
        {
            found = true;
        }
        !found
    });
    found
}

/// Can the body return: a `return` of its own, or an end that is not an endless loop?
pub(crate) fn can_return(cx: &Context, body: Node) -> bool {
    let mut has_return = false;
    walk_body(body, |n| {
        if n.kind_str() == "return_statement" {
            has_return = true;
        }
    });
    if has_return {
        return true;
    }
    let Some(last) = statements(body).last().copied() else {
        return true;
    };
    match last.kind_str() {
        "for_statement" => !endless(cx, last),
        "select_statement" => named_children(last).next().is_some(),
        _ => true,
    }
}

/// A `for` without condition, or ranging over `time.Tick` (a channel never closed), whose body
/// has no `break` leaving it.
fn endless(cx: &Context, stmt: Node) -> bool {
    let clause = named_children(stmt).find(|n| n.kind_str() != "block");
    let endless_header = match clause {
        None => true,
        Some(c) if c.kind_str() == "for_clause" => c.field("condition").is_none(),
        Some(c) if c.kind_str() == "range_clause" => c.field("right").is_some_and(|r| {
            r.kind_str() == "call_expression"
                && r.field("function")
                    .and_then(|f| cx.model.qualified_name(f, "time"))
                    == Some("Tick")
        }),
        _ => false,
    };
    let Some(body) = stmt.field("body") else {
        return false;
    };
    endless_header && !breaks_out(body)
}

/// Does a `break` in `body` leave the loop around it (an unlabelled one not inside a nested
/// `for`/`switch`/`select`, or any labelled one)?
fn breaks_out(body: Node) -> bool {
    let mut found = false;
    walk_body(body, |n| {
        if n.kind_str() != "break_statement" {
            return;
        }
        if named_children(n).next().is_some() {
            found = true;
            return;
        }
        let mut current = n.parent_node();
        while let Some(p) = current {
            if p == body {
                found = true;
                return;
            }
            if matches!(
                p.kind_str(),
                "for_statement"
                    | "expression_switch_statement"
                    | "type_switch_statement"
                    | "select_statement"
            ) {
                return;
            }
            current = p.parent_node();
        }
    });
    found
}
