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
use crate::summary::{call_targets, declared_names, CallTarget, NamesByFunction};
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

/// What the function's own body does, in one walk: where it starts goroutines, writes fields,
/// waits, locks and may let a goroutine go on (start offsets, in document order).
#[derive(Default)]
struct Points<'t, 's> {
    gos: Vec<Node<'t>>,
    /// `x.f = …`, `x.f += …`, `x.f++`: the variable, the field and the statement.
    writes: Vec<(&'s str, &'s str, Node<'t>)>,
    waits: Vec<usize>,
    locks: Vec<usize>,
    releases: Vec<usize>,
    /// Some `defer` may let a goroutine go on.
    deferred_release: bool,
}

impl<'t, 's> Points<'t, 's> {
    fn of(body: Node<'t>, src: &'s str) -> Self {
        let mut points = Points::default();
        walk_body(body, |n| {
            let at = n.start_byte();
            match n.kind_str() {
                "go_statement" => points.gos.push(n),
                "assignment_statement" => {
                    for target in n.field("left").into_iter().flat_map(named_children) {
                        points.writes.extend(field_write(target, n, src));
                    }
                }
                "inc_statement" | "dec_statement" => {
                    if let Some(target) = named_children(n).next() {
                        points.writes.extend(field_write(target, n, src));
                    }
                }
                "defer_statement" => {
                    goconc_syntax::walk(n, |m| {
                        points.deferred_release |= may_release(m, src);
                        true
                    });
                }
                _ => {}
            }
            if may_wait(n, src) {
                points.waits.push(at);
            }
            if n.kind_str() == "call_expression"
                && goconc_syntax::called_name(n, src)
                    .is_some_and(|name| matches!(name, "Lock" | "RLock"))
            {
                points.locks.push(at);
            }
            if may_release(n, src) {
                points.releases.push(at);
            }
        });
        points
    }

    /// Nothing the syntax shows orders the goroutine started by `go` and the write (see the
    /// module comment).
    fn unordered(&self, go: Node, write: Node, goroutine_waits: bool) -> bool {
        let between =
            |points: &[usize], from: usize, to: usize| points.iter().any(|&p| p >= from && p < to);
        if between(&self.waits, go.end_offset(), write.start_byte())
            || self.locks.iter().any(|&p| p < write.start_byte())
        {
            return false;
        }
        let released =
            self.deferred_release || self.releases.iter().any(|&p| p >= write.end_offset());
        !goroutine_waits || !released
    }
}

/// `x.f` as the target of a write statement: the variable, the field and the statement.
fn field_write<'t, 's>(
    target: Node<'t>,
    stmt: Node<'t>,
    src: &'s str,
) -> Option<(&'s str, &'s str, Node<'t>)> {
    let target = unparen(target);
    if target.kind_str() != "selector_expression" {
        return None;
    }
    let operand = target.field("operand").map(unparen)?;
    let field = target.field("field")?;
    (operand.kind_str() == "identifier").then(|| (text(operand, src), text(field, src), stmt))
}

/// The pairs of one top-level function `decl` (see the module comment).
pub fn collect<'a, 's>(
    decl: Node,
    body: Node,
    src: &'s str,
    imports: &'a Imports,
    names: &NamesByFunction<'a, 's>,
) -> Vec<WrittenWhileCalled> {
    let mut out: Vec<WrittenWhileCalled> = Vec::new();
    if !text(body, src).contains("go func") {
        return out;
    }
    let points = Points::of(body, src);
    if points.writes.is_empty() {
        return out;
    }
    // Each goroutine literal's calls on captured variables that the function writes a field of
    // afterwards, with whether the goroutine waits before the call.
    let mut wanted: Vec<(Node, Node, bool)> = Vec::new();
    for &go in &points.gos {
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
        let written_later = |variable: &str| {
            points
                .writes
                .iter()
                .any(|(v, _, w)| *v == variable && w.start_byte() >= go.end_offset())
        };
        let mut calls: Vec<(&str, Node)> = Vec::new();
        let mut waits_at: Vec<usize> = Vec::new();
        walk_body(lit_body, |n| {
            if may_wait(n, src) {
                waits_at.push(n.start_byte());
            }
            if let Some(variable) = captured_call(n, src).filter(|v| written_later(v)) {
                calls.push((variable, n));
            }
        });
        if calls.is_empty() {
            continue;
        }
        let own_names = declared_names(literal, src, true);
        for (variable, call) in calls {
            if own_names.contains(&variable) {
                continue;
            }
            let waits = waits_at.iter().any(|&w| w < call.start_byte());
            wanted.push((go, call, waits));
        }
    }
    if wanted.is_empty() {
        return out;
    }
    let calls: Vec<Node> = wanted.iter().map(|(_, call, _)| *call).collect();
    let targets = call_targets(decl, body, src, imports, &calls, names);
    // (variable, method, field) already paired: a hash, not a scan of `out`, for a function of
    // thousands of goroutines and writes.
    let mut paired: crate::HashSet<(&str, String, &str)> = crate::HashSet::default();
    for ((go, call, goroutine_waits), target) in wanted.into_iter().zip(targets) {
        let Some((target, method)) = target else {
            continue;
        };
        let Some(variable) = captured_call(call, src) else {
            continue;
        };
        for (_, field, write) in points
            .writes
            .iter()
            .filter(|(v, _, w)| *v == variable && w.start_byte() >= go.end_offset())
        {
            let key = (variable, method.clone(), *field);
            if paired.contains(&key) || !points.unordered(go, *write, goroutine_waits) {
                continue;
            }
            paired.insert(key);
            out.push(WrittenWhileCalled {
                variable: variable.to_string(),
                target: target.clone(),
                method: method.clone(),
                field: field.to_string(),
            });
        }
    }
    out
}

/// `x.m(…)` on a plain variable `x`: the variable.
fn captured_call<'s>(n: Node, src: &'s str) -> Option<&'s str> {
    if n.kind_str() != "call_expression" {
        return None;
    }
    let operand = n
        .field("function")
        .map(unparen)
        .filter(|f| f.kind_str() == "selector_expression")
        .and_then(|f| f.field("operand"))
        .map(unparen)
        .filter(|o| o.kind_str() == "identifier")?;
    Some(text(operand, src))
}

/// Can this node wait for another goroutine: a send, receive, `select`, `range` (over what may
/// be a channel), or a call that waits?
fn may_wait(n: Node, src: &str) -> bool {
    match n.kind_str() {
        "select_statement" | "send_statement" | "range_clause" => true,
        "unary_expression" => goconc_syntax::is_receive(n, src),
        "call_expression" => {
            goconc_syntax::called_name(n, src).is_some_and(crate::sync_calls::may_wait_by_name)
        }
        _ => false,
    }
}

/// Can this node let a waiting goroutine go on: a send, receive, `select` or `close`, a call of
/// a plain identifier (a `cancel` func, which the syntax cannot tell from a package function),
/// or a releasing call (`Unlock`, `Done`, …)?
fn may_release(n: Node, src: &str) -> bool {
    match n.kind_str() {
        "select_statement" | "send_statement" => true,
        "unary_expression" => goconc_syntax::is_receive(n, src),
        "call_expression" => {
            let plain = n
                .field("function")
                .map(unparen)
                .is_some_and(|f| f.kind_str() == "identifier");
            goconc_syntax::called_name(n, src).is_some_and(|name| {
                RELEASES.contains(&name)
                    || plain && (name == "close" || !crate::summary::BUILTINS.contains(&name))
            })
        }
        _ => false,
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use goconc_syntax::SourceFile;

    /// The pairs of the file's last function, as `variable.method/field`.
    fn pairs(body: &str) -> Vec<String> {
        let src = format!("package p\n\nfunc f(c *T) {{\n{body}\n}}\n");
        let file = SourceFile::new(src.clone());
        let root = file.tree().root_node();
        let decl = named_children(root).last().unwrap();
        let imports = Imports::default();
        let names = NamesByFunction::default();
        collect(decl, decl.field("body").unwrap(), &src, &imports, &names)
            .into_iter()
            .map(|p| format!("{}.{}/{}", p.variable, p.method, p.field))
            .collect()
    }

    #[test]
    fn a_write_after_the_go_statement_is_paired() {
        let found = pairs("\tgo func() {\n\t\tc.finish()\n\t}()\n\tc.at = 1");
        assert_eq!(found, vec!["c.finish/at".to_string()]);
    }

    #[test]
    fn a_write_before_the_go_statement_is_not() {
        assert!(pairs("\tc.at = 1\n\tgo func() {\n\t\tc.finish()\n\t}()").is_empty());
    }

    #[test]
    fn a_wait_between_orders_them() {
        let body = "\tdone := make(chan int)\n\tgo func() {\n\t\tc.finish()\n\t\tdone <- 1\n\t}()\n\t<-done\n\tc.at = 1";
        assert!(pairs(body).is_empty());
    }

    #[test]
    fn a_release_after_the_write_orders_a_waiting_goroutine() {
        let body = "\tready := make(chan int)\n\tgo func() {\n\t\t<-ready\n\t\tc.finish()\n\t}()\n\tc.at = 1\n\tclose(ready)";
        assert!(pairs(body).is_empty());
        let unordered = "\tready := make(chan int)\n\tgo func() {\n\t\t<-ready\n\t\tc.finish()\n\t}()\n\tclose(ready)\n\tc.at = 1";
        // Closed before the write, the channel lets the goroutine call while the write runs.
        assert_eq!(pairs(unordered), vec!["c.finish/at".to_string()]);
    }

    #[test]
    fn a_builtin_or_conversion_releases_nothing_a_function_value_may() {
        // `ready` waits for a receive; after the write only a conversion and a builtin run.
        let body = "\tready := make(chan int)\n\tgo func() {\n\t\t<-ready\n\t\tc.finish()\n\t}()\n\tc.at = 1\n\t_ = string(c.name)\n\t_ = len(c.name)";
        assert_eq!(pairs(body), vec!["c.finish/at".to_string()]);
        // A call of a plain name may be a `cancel` func that lets it go on.
        let released = "\tready := make(chan int)\n\tgo func() {\n\t\t<-ready\n\t\tc.finish()\n\t}()\n\tc.at = 1\n\tlet()";
        assert!(pairs(released).is_empty());
    }

    #[test]
    fn a_variable_of_the_goroutine_is_not_captured() {
        let body = "\tgo func() {\n\t\tc := other()\n\t\tc.finish()\n\t}()\n\tc.at = 1";
        assert!(pairs(body).is_empty());
    }
}
