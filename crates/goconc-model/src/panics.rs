//! Code that expects its panic: a test that closes a channel twice to see the runtime's error
//! runs that code under a deferred `recover()`. Rules about statements that panic (a second
//! `close`, a send on a closed channel) stay silent there: the panic is what the code is for.
//!
//! A panic is recovered when a function between the statement and the first goroutine boundary
//! defers a function literal that calls `recover()` before the statement runs:
//! - the statement's own function, or a function around a literal called on the spot
//!   (`func() { … }()`);
//! - a function of this file that the literal is handed to (`panicValue(func() { … })`), which
//!   defers such a literal;
//! - for a literal kept in a table (`cases := []func(){ … }`, or a field of a table's
//!   struct), the code that runs the table's entries in a `range` loop over it (`fn()`,
//!   `tc.run()`, `panicValue(fn)`), judged the same way.
//!
//! A literal started by `go`, handed to any other function, or stored elsewhere is not known
//! to run under the recover: its panics stay reported.

use goconc_syntax::{named_children, text, unparen, walk, walk_body, NodeExt};
use tree_sitter::Node;

use super::scope::FileModel;

/// Does a deferred `recover()` stop a panic raised at `node`?
pub fn recovered(model: &FileModel, node: Node) -> bool {
    recovered_within(model, node, 0)
}

/// How many tables deep a run of table entries is followed (a table of tables).
const MAX_TABLE_DEPTH: usize = 2;

fn recovered_within(model: &FileModel, node: Node, depth: usize) -> bool {
    let Some(mut index) = model.function_of(node) else {
        return false;
    };
    let at = node.start_byte();
    loop {
        let function = &model.functions[index];
        if function
            .body
            .is_some_and(|body| defers_recover_before(model, body, at))
        {
            return true;
        }
        let literal = function.node;
        if literal.kind_str() != "func_literal" {
            return false;
        }
        if called_on_the_spot(literal) {
            match function.parent {
                Some(parent) => {
                    index = parent;
                    continue;
                }
                None => return false,
            }
        }
        return handed_to_recovering_function(model, literal)
            || (depth < MAX_TABLE_DEPTH && run_from_table_under_recover(model, literal, depth));
    }
}

/// `func() { … }()`: run now, on the caller's goroutine (not `go func() { … }()`).
fn called_on_the_spot(literal: Node) -> bool {
    literal.parent_node().is_some_and(|call| {
        call.kind_str() == "call_expression"
            && call.field("function").map(unparen) == Some(literal)
            && call
                .parent_node()
                .is_none_or(|p| p.kind_str() != "go_statement")
    }) || literal.parent_node().is_some_and(|p| {
        p.kind_str() == "parenthesized_expression"
            && p.parent_node().is_some_and(|call| {
                call.kind_str() == "call_expression"
                    && call.field("function") == Some(p)
                    && call
                        .parent_node()
                        .is_none_or(|g| g.kind_str() != "go_statement")
            })
    })
}

/// Does `body` defer, before `at`, a literal that calls `recover()`?
fn defers_recover_before(model: &FileModel, body: Node, at: usize) -> bool {
    let known = model
        .first_recovering_defer
        .lock()
        .ok()
        .and_then(|firsts| firsts.get(&body.start_byte()).copied());
    let first = known.unwrap_or_else(|| {
        let first = first_recovering_defer(model, body);
        if let Ok(mut firsts) = model.first_recovering_defer.lock() {
            firsts.insert(body.start_byte(), first);
        }
        first
    });
    first.is_some_and(|start| start < at)
}

/// Where the first `defer func() { … recover() … }()` of `body` starts (not in a nested
/// literal).
fn first_recovering_defer(model: &FileModel, body: Node) -> Option<usize> {
    let mut found = None;
    walk_body(body, |node| {
        if found.is_some() || node.kind_str() != "defer_statement" {
            return;
        }
        let deferred = named_children(node)
            .next()
            .filter(|call| call.kind_str() == "call_expression")
            .and_then(|call| call.field("function"))
            .map(unparen);
        if deferred.is_some_and(|f| {
            f.kind_str() == "func_literal"
                && f.field("body").is_some_and(|b| calls_recover(model, b))
        }) {
            found = Some(node.start_byte());
        }
    });
    found
}

/// A call of the builtin `recover` directly in `body` (not in a nested literal, where it would
/// not stop the panic).
fn calls_recover(model: &FileModel, body: Node) -> bool {
    let mut found = false;
    walk_body(body, |node| {
        found |= node.kind_str() == "call_expression"
            && node.field("function").map(unparen).is_some_and(|f| {
                f.kind_str() == "identifier"
                    && text(f, model.src) == "recover"
                    && model.resolve(f).is_none()
            });
    });
    found
}

/// `runner(…, func() { … }, …)` where `runner` is a function of this file that defers a
/// literal calling `recover()`.
fn handed_to_recovering_function(model: &FileModel, literal: Node) -> bool {
    let Some(call) = literal
        .parent_node()
        .filter(|args| args.kind_str() == "argument_list")
        .and_then(|args| args.parent_node())
    else {
        return false;
    };
    recovering_function(model, call)
}

/// Is `call` a call of a plain function of this file whose body defers a recovering literal?
fn recovering_function(model: &FileModel, call: Node) -> bool {
    let Some(callee) = call.field("function").map(unparen) else {
        return false;
    };
    if callee.kind_str() != "identifier" {
        return false;
    }
    let name = text(callee, model.src);
    model.items.iter().any(|item| {
        item.kind_str() == "function_declaration"
            && item
                .field("name")
                .is_some_and(|n| text(n, model.src) == name)
            && item
                .field("body")
                .is_some_and(|body| defers_recover_before(model, body, body.end_offset()))
    })
}

/// The literal is an entry of a table (`cases := []func(){ … }`, `tests := []struct{ run
/// func() }{ … }`) that a `range` loop of the same function runs under a recover: every use
/// of the loop's value in the loop body that runs it (`fn()`, `tc.run()`) or hands it to a
/// recovering function (`panicValue(fn)`) is recovered, and there is at least one.
fn run_from_table_under_recover(model: &FileModel, literal: Node, depth: usize) -> bool {
    // Up through the composite literals around it to the table's declaration, noting the
    // struct field the literal is stored under (`run: func() { … }`), if any.
    let mut table = None;
    let mut field = None;
    let mut up = literal.parent_node();
    while let Some(node) = up {
        match node.kind_str() {
            "literal_element" | "keyed_element" | "literal_value" | "composite_literal" => {
                if node.kind_str() == "composite_literal" {
                    table = Some(node);
                }
                if node.kind_str() == "keyed_element" && table.is_none() && field.is_none() {
                    field = named_children(node)
                        .next()
                        .map(|key| text(key, model.src))
                        .filter(|key| key.starts_with(|c: char| c.is_alphabetic() || c == '_'));
                }
                up = node.parent_node();
            }
            _ => break,
        }
    }
    let (Some(table), Some(holder)) = (table, up) else {
        return false;
    };
    let name = match holder.kind_str() {
        "expression_list" => holder.parent_node().and_then(|decl| match decl.kind_str() {
            "short_var_declaration" | "assignment_statement" => decl
                .field("left")
                .and_then(|left| named_children(left).next()),
            _ => None,
        }),
        "var_spec" => holder.field("name"),
        _ => None,
    }
    .filter(|n| n.kind_str() == "identifier" && holder.start_byte() <= table.start_byte());
    let Some(name) = name.map(|n| text(n, model.src)) else {
        return false;
    };
    let Some(scope) = model
        .function_of(table)
        .and_then(|f| model.functions[f].body)
    else {
        return false;
    };
    let mut runs = 0;
    let mut unrecovered = false;
    walk(scope, |node| {
        if unrecovered || node.kind_str() != "for_statement" {
            return !unrecovered;
        }
        let Some(clause) = named_children(node).find(|c| c.kind_str() == "range_clause") else {
            return true;
        };
        let ranges_table = clause
            .field("right")
            .map(unparen)
            .is_some_and(|r| r.kind_str() == "identifier" && text(r, model.src) == name);
        let value = clause
            .field("left")
            .and_then(|left| named_children(left).nth(1))
            .map(|v| text(v, model.src));
        let (true, Some(value), Some(body)) = (ranges_table, value, node.field("body")) else {
            return true;
        };
        walk(body, |use_| {
            if use_.kind_str() != "call_expression" {
                return true;
            }
            let runs_entry = use_
                .field("function")
                .map(unparen)
                .is_some_and(|f| names_entry(f, value, field, model.src));
            let hands_entry = use_.field("arguments").is_some_and(|args| {
                named_children(args).any(|a| names_entry(unparen(a), value, field, model.src))
            });
            let handed_to_recovering = hands_entry && recovering_function(model, use_);
            if runs_entry || handed_to_recovering {
                runs += 1;
                let recovered = handed_to_recovering || recovered_within(model, use_, depth + 1);
                unrecovered |= !recovered;
            } else if hands_entry {
                // Handed to something that may run it anywhere.
                unrecovered = true;
            }
            true
        });
        true
    });
    runs > 0 && !unrecovered
}

/// `fn` or `tc.run`: the loop's value, or its field `field` (any field when the table's
/// entries are not keyed by field name).
fn names_entry(node: Node, value: &str, field: Option<&str>, src: &str) -> bool {
    match node.kind_str() {
        "identifier" => text(node, src) == value,
        "selector_expression" => {
            node.field("operand")
                .map(unparen)
                .is_some_and(|o| o.kind_str() == "identifier" && text(o, src) == value)
                && field.is_none_or(|f| node.field("field").is_some_and(|n| text(n, src) == f))
        }
        _ => false,
    }
}
