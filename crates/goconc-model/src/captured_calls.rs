//! A goroutine's method call on a value it captures, while the function that started it writes a
//! field of that value: `go func() { … c.finish() … }(); c.at = next`. Whatever the method
//! reads of the field races with the write; when it reaches a method with a value receiver, that
//! method copies the whole value — every field — at its call (`goroutine-captured-write` judges
//! that against the package's methods).
//!
//! Read from one top-level function's text alone (collected with the file's declarations, in
//! [`crate::goroutines::GoFacts`]), without offsets: the readers are methods of other functions.
//! A pair is kept only when nothing the syntax can see orders the write and the call:
//! - between the `go` statement and the write the function neither sends, receives, selects,
//!   ranges, nor calls anything that waits (`Wait`, `Lock`, …), and it takes no lock before the
//!   write;
//! - when the goroutine itself waits before the call (a receive, a `select`, a `Wait`), the
//!   function does nothing after the write that could let it go on (a send, receive, `select`,
//!   `close`, a call of a local function value such as `cancel`, `Unlock`, `Done`, …), and defers
//!   nothing of the kind.

use goconc_syntax::NodeExt;
use tree_sitter::Node;

use crate::imports::Imports;
use crate::summary::{call_targets, declared_names, CallTarget};
use goconc_syntax::{named_children, text, unparen, walk_body};

/// A call a goroutine makes on a captured variable, and a field of that variable the function
/// that started the goroutine writes afterwards.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WrittenWhileCalled {
    /// The captured variable, as the function names it (`c`).
    pub variable: String,
    /// What the call reaches, as summaries name it (`c` declared by `c, err := p.client(…)`).
    pub target: CallTarget,
    /// The method called (`batchDone`).
    pub method: String,
    /// The field written (`sessionAt`).
    pub field: String,
}

/// Calls that may wait for another goroutine.
const WAITS: [&str; 9] = [
    "Wait",
    "Lock",
    "RLock",
    "Load",
    "Swap",
    "CompareAndSwap",
    "Do",
    "Run",
    "Shutdown",
];

/// Calls that may let a waiting goroutine go on.
const RELEASES: [&str; 8] = [
    "Unlock",
    "RUnlock",
    "Done",
    "Signal",
    "Broadcast",
    "Store",
    "Add",
    "Release",
];

/// The pairs of one top-level function `decl` (see the module comment).
pub fn collect(decl: Node, body: Node, src: &str, imports: &Imports) -> Vec<WrittenWhileCalled> {
    let mut out: Vec<WrittenWhileCalled> = Vec::new();
    if !text(body, src).contains("go func") {
        return out;
    }
    let mut gos = Vec::new();
    walk_body(body, |n| {
        if n.kind_str() == "go_statement" {
            gos.push(n);
        }
    });
    for go in gos {
        let Some(literal) = named_children(go)
            .next()
            .filter(|c| c.kind_str() == "call_expression")
            .and_then(|c| c.field("function"))
            .map(unparen)
            .filter(|f| f.kind_str() == "func_literal")
        else {
            continue;
        };
        let Some(lit_body) = literal.field("body") else {
            continue;
        };
        let writes = writes_after(body, go, src);
        if writes.is_empty() {
            continue;
        }
        let own_names = declared_names(literal, src, true);
        let calls = captured_calls(lit_body, src, &own_names);
        let wanted: Vec<Node> = calls
            .iter()
            .filter(|(variable, _)| writes.iter().any(|(v, _, _)| v == variable))
            .map(|(_, call)| *call)
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let targets = call_targets(decl, body, src, imports, &wanted);
        for (call, target) in wanted.iter().zip(targets) {
            let Some((target, method)) = target else {
                continue;
            };
            let Some(variable) = call
                .field("function")
                .and_then(|f| f.field("operand"))
                .map(|o| text(o, src))
            else {
                continue;
            };
            let goroutine_waits = waits_in(src, lit_body, lit_body.start_byte(), call.start_byte());
            for (_, field, write) in writes.iter().filter(|(v, _, _)| *v == variable) {
                if !unordered(body, go, *write, goroutine_waits, src) {
                    continue;
                }
                let pair = WrittenWhileCalled {
                    variable: variable.to_string(),
                    target: target.clone(),
                    method: method.clone(),
                    field: field.to_string(),
                };
                if !out.contains(&pair) {
                    out.push(pair);
                }
            }
        }
    }
    out
}

/// `x.m(…)` calls in the goroutine's own body (not in nested literals) on a plain variable `x`
/// that the literal does not declare: the variable and the call.
fn captured_calls<'t, 's>(
    lit_body: Node<'t>,
    src: &'s str,
    own_names: &[&str],
) -> Vec<(&'s str, Node<'t>)> {
    let mut out = Vec::new();
    walk_body(lit_body, |n| {
        if n.kind_str() != "call_expression" {
            return;
        }
        let Some(operand) = n
            .field("function")
            .map(unparen)
            .filter(|f| f.kind_str() == "selector_expression")
            .and_then(|f| f.field("operand"))
            .map(unparen)
            .filter(|o| o.kind_str() == "identifier")
        else {
            return;
        };
        let name = text(operand, src);
        if !own_names.contains(&name) {
            out.push((name, n));
        }
    });
    out
}

/// `x.f = …`, `x.f += …`, `x.f++` statements of the function's own body after the `go`
/// statement: the variable, the field and the statement.
fn writes_after<'t, 's>(
    body: Node<'t>,
    go: Node<'t>,
    src: &'s str,
) -> Vec<(&'s str, &'s str, Node<'t>)> {
    let mut out = Vec::new();
    walk_body(body, |n| {
        if n.start_byte() < go.end_byte() {
            return;
        }
        let targets: Vec<Node> = match n.kind_str() {
            "assignment_statement" => n
                .field("left")
                .map(|l| named_children(l).collect())
                .unwrap_or_default(),
            "inc_statement" | "dec_statement" => named_children(n).take(1).collect(),
            _ => return,
        };
        for target in targets.into_iter().map(unparen) {
            if target.kind_str() != "selector_expression" {
                continue;
            }
            let (Some(operand), Some(field)) =
                (target.field("operand").map(unparen), target.field("field"))
            else {
                continue;
            };
            if operand.kind_str() == "identifier" {
                out.push((text(operand, src), text(field, src), n));
            }
        }
    });
    out
}

/// Nothing the syntax shows orders the goroutine's call and the write (see the module comment).
fn unordered(body: Node, go: Node, write: Node, goroutine_waits: bool, src: &str) -> bool {
    if waits_in(src, body, go.end_byte(), write.start_byte())
        || locks_before(src, body, write.start_byte())
    {
        return false;
    }
    !goroutine_waits || !releases_after(src, body, write.end_byte())
}

/// The name a call is made by: `m` of `x.m(…)`, `f` of `f(…)`.
fn called_name<'s>(call: Node, src: &'s str) -> Option<&'s str> {
    let function = unparen(call.field("function")?);
    match function.kind_str() {
        "selector_expression" => function.field("field").map(|f| text(f, src)),
        "identifier" => Some(text(function, src)),
        _ => None,
    }
}

fn is_receive(n: Node, src: &str) -> bool {
    n.kind_str() == "unary_expression" && n.field("operator").is_some_and(|o| text(o, src) == "<-")
}

/// Does `body` (outside its function literals) wait for anything between two offsets?
fn waits_in(src: &str, body: Node, from: usize, to: usize) -> bool {
    let mut waits = false;
    walk_body(body, |n| {
        if waits || n.end_byte() <= from || n.start_byte() >= to {
            return;
        }
        waits = match n.kind_str() {
            "select_statement" | "send_statement" | "range_clause" => true,
            "unary_expression" => is_receive(n, src),
            "call_expression" => called_name(n, src).is_some_and(|name| {
                WAITS.contains(&name) || crate::words::WAIT_CALL_FIRST.starts_identifier(name)
            }),
            _ => false,
        };
    });
    waits
}

/// Does the function's own body take a lock before `at`?
fn locks_before(src: &str, body: Node, at: usize) -> bool {
    let mut locks = false;
    walk_body(body, |n| {
        locks |= n.start_byte() < at
            && n.kind_str() == "call_expression"
            && called_name(n, src).is_some_and(|name| matches!(name, "Lock" | "RLock"));
    });
    locks
}

/// After `from`, or in any `defer` of the body, can the function let a waiting goroutine go on:
/// a send, receive, `select` or `close`, a call of a plain identifier that is no package
/// function the syntax can tell (a `cancel` func), or a releasing call (`Unlock`, `Done`, …)?
fn releases_after(src: &str, body: Node, from: usize) -> bool {
    let mut releases = false;
    walk_body(body, |n| {
        if releases {
            return;
        }
        let deferred = n.kind_str() == "defer_statement";
        if n.start_byte() < from && !deferred {
            return;
        }
        let mut check = |m: Node| {
            releases |= match m.kind_str() {
                "select_statement" | "send_statement" => true,
                "unary_expression" => is_receive(m, src),
                "call_expression" => {
                    let function = m.field("function").map(unparen);
                    let plain = function.is_some_and(|f| f.kind_str() == "identifier");
                    called_name(m, src).is_some_and(|name| {
                        RELEASES.contains(&name)
                            || plain
                                && !matches!(
                                    name,
                                    "len"
                                        | "cap"
                                        | "append"
                                        | "copy"
                                        | "make"
                                        | "new"
                                        | "delete"
                                        | "panic"
                                        | "print"
                                        | "println"
                                        | "min"
                                        | "max"
                                        | "clear"
                                        | "string"
                                )
                    })
                }
                _ => false,
            };
        };
        if deferred {
            goconc_syntax::walk(n, |m| {
                check(m);
                true
            });
        } else {
            check(n);
        }
    });
    releases
}

/// A method with a value receiver that a goroutine's call reaches on a captured value, while the
/// function that started the goroutine writes a field of that value (the copy the method makes
/// at its call reads the field): composed over the package's methods once.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CopiedWhileWritten {
    /// The value's type (`client`).
    pub type_name: String,
    /// The method with the value receiver (`AddInterval`).
    pub method: String,
    /// The function that starts the goroutine and writes the field, by summary key.
    pub starter: String,
    /// The captured variable (`c`).
    pub variable: String,
    /// The methods from the one the goroutine calls to the value method, both included
    /// (`batchDone`, `AddInterval`).
    pub path: Vec<String>,
    /// The field written (`sessionAt`).
    pub field: String,
}

/// The longest chain of receiver calls followed from the goroutine's call to a value method.
const MAX_PATH: usize = 8;

/// Every [`CopiedWhileWritten`] of the package, sorted.
pub fn copied_while_written(package: &crate::PackageModel) -> Vec<CopiedWhileWritten> {
    let mut out = Vec::new();
    for key in package.go_facts_keys() {
        let Some(facts) = package.go_facts(key) else {
            continue;
        };
        let owner = key.split_once('.').map(|(t, _)| t);
        for pair in &facts.written_while_called {
            let resolved =
                crate::lock_closure::resolve_call(package, owner, &pair.target, &pair.method);
            let Some((_, Some(type_name))) = resolved else {
                continue;
            };
            let has_field = package
                .struct_fields(&type_name)
                .is_some_and(|fields| fields.iter().any(|f| f.name == pair.field));
            if !has_field {
                continue;
            }
            for path in value_methods_reached(package, &type_name, &pair.method) {
                out.push(CopiedWhileWritten {
                    type_name: type_name.clone(),
                    method: path.last().cloned().unwrap_or_default(),
                    starter: key.clone(),
                    variable: pair.variable.clone(),
                    path,
                    field: pair.field.clone(),
                });
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The methods of `type_name` with a value receiver that a call of `method` reaches through
/// calls on its own receiver (`c.other()`), each with the path of methods to it: breadth first,
/// so each is reached by a shortest path.
fn value_methods_reached(
    package: &crate::PackageModel,
    type_name: &str,
    method: &str,
) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut seen: crate::HashSet<String> = crate::HashSet::default();
    let mut queue = std::collections::VecDeque::from([vec![method.to_string()]]);
    while let Some(path) = queue.pop_front() {
        let Some(last) = path.last().cloned() else {
            continue;
        };
        if !seen.insert(last.clone()) {
            continue;
        }
        let Some(sig) = package.method(type_name, &last) else {
            continue;
        };
        if !sig.pointer_receiver {
            out.push(path);
            continue;
        }
        if path.len() >= MAX_PATH {
            continue;
        }
        let key = crate::summary::summary_key(Some(type_name), &last);
        let Some(summary) = package.summary(&key) else {
            continue;
        };
        let mut next: Vec<&str> = summary
            .calls
            .iter()
            .filter(|c| c.target == CallTarget::Receiver(String::new()))
            .map(|c| c.name.as_str())
            .collect();
        next.sort_unstable();
        next.dedup();
        for name in next {
            let mut longer = path.clone();
            longer.push(name.to_string());
            queue.push_back(longer);
        }
    }
    out
}
