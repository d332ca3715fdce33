//! Which function literals run on a goroutine of their own: `go func(){…}()`, and the literals
//! handed to a `sync.WaitGroup`'s `Go` or an `errgroup.Group`'s `Go`/`TryGo`.

use goconc_syntax::NodeExt;
use tree_sitter::Node;

use crate::sync_calls::{waitgroup_call, WaitGroupOp};
use crate::FileModel;
use goconc_syntax::{method_call, text};

/// The statement or call that runs a function literal on a new goroutine: the `go` statement of
/// `go func(){…}(…)`, or the call `x.Go(func…)` / `x.TryGo(func…)` on a group.
pub fn goroutine_start<'t>(model: &FileModel<'t>, lit: Node<'t>) -> Option<Node<'t>> {
    go_statement_of(lit).or_else(|| group_go_call_of(model, lit))
}

/// The `go` statement that starts a function literal directly: `go func(…){…}(…)`.
pub fn go_statement_of(lit: Node) -> Option<Node> {
    let mut node = lit;
    let mut parent = lit.parent()?;
    while parent.kind_str() == "parenthesized_expression" {
        node = parent;
        parent = parent.parent()?;
    }
    if parent.kind_str() != "call_expression" || parent.field("function")? != node {
        return None;
    }
    let go = parent.parent()?;
    (go.kind_str() == "go_statement").then_some(go)
}

/// The call `x.Go(lit)` / `x.TryGo(lit)` that hands a function literal to a group (a
/// `sync.WaitGroup` or an `errgroup.Group`) to run on a new goroutine.
pub fn group_go_call_of<'t>(model: &FileModel<'t>, lit: Node<'t>) -> Option<Node<'t>> {
    let mut node = lit;
    let mut parent = lit.parent()?;
    while parent.kind_str() == "parenthesized_expression" {
        node = parent;
        parent = parent.parent()?;
    }
    if parent.kind_str() != "argument_list" || parent.named_child(0)? != node {
        return None;
    }
    let call = parent.parent()?;
    let mc = method_call(call)?;
    match text(mc.method, model.src) {
        "Go" => {
            if waitgroup_call(model, call).is_some_and(|c| c.op == WaitGroupOp::Go) {
                return Some(call);
            }
        }
        "TryGo" => {}
        _ => return None,
    }
    let ty = model.type_of(mc.receiver);
    ty.deref()
        .is_named("golang.org/x/sync/errgroup", "Group")
        .then_some(call)
}

/// Is `node` (inside `outer`) inside a function literal, strictly between the two, that runs on
/// a goroutine of its own (`go func(){…}()`, `g.Go(func(){…})`)?
pub fn in_nested_goroutine(model: &FileModel, node: Node, outer: Node) -> bool {
    let mut current = node.parent();
    while let Some(n) = current {
        if n == outer {
            return false;
        }
        if n.kind_str() == "func_literal" && goroutine_start(model, n).is_some() {
            return true;
        }
        current = n.parent();
    }
    false
}
