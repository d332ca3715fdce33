//! `sync.WaitGroup` rules, one file each, and the small helpers they share: which goroutine a
//! function literal is, which WaitGroup a call is on, and how to cut a statement's line out.

use goconc_syntax::NodeExt;
use std::ops::Range;

use tree_sitter::Node;

use super::{Context, Rule};
use goconc_model::sync_calls::{waitgroup_call, WaitGroupCall, WaitGroupOp};
use goconc_model::FileModel;
use goconc_syntax::{
    access_path, is_within, line_end_after_newline, line_start, method_call, path_root, text,
    unparen,
};

pub mod add_in_goroutine;
pub mod done_in_go;
pub mod done_not_deferred;
pub mod go_available;

pub fn rules() -> Vec<Rule> {
    vec![
        Rule {
            meta: &add_in_goroutine::META,
            check: add_in_goroutine::check,
        },
        Rule {
            meta: &done_not_deferred::META,
            check: done_not_deferred::check,
        },
        Rule {
            meta: &done_in_go::META,
            check: done_in_go::check,
        },
        Rule {
            meta: &go_available::META,
            check: go_available::check,
        },
    ]
}

/// The `go` statement that starts a function literal directly: `go func(…){…}(…)`.
pub(crate) fn go_statement_of(lit: Node) -> Option<Node> {
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
pub(crate) fn group_go_call_of<'t>(model: &FileModel<'t>, lit: Node<'t>) -> Option<Node<'t>> {
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

/// Which WaitGroup a call is on: its access path (`s.wg`) and the declaration of the path's root
/// (so that a shadowing `wg` is another group).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WgKey {
    pub path: String,
    root_decl: Option<usize>,
}

pub(crate) fn wg_key(model: &FileModel, receiver: Node) -> Option<WgKey> {
    let path = access_path(receiver, model.src)?;
    let root = path_root(receiver)?;
    let root_decl = model.resolve(root).map(|d| d.ident.start_byte());
    Some(WgKey { path, root_decl })
}

impl WgKey {
    /// Is the root of the path declared inside `node` (a local of a function literal's body)?
    pub fn declared_within(&self, node: Node) -> bool {
        self.root_decl
            .is_some_and(|at| at >= node.start_byte() && at < node.end_byte())
    }
}

/// The calls named `name` inside `node`, in document order (the index is in document order).
pub(crate) fn calls_within<'a, 't>(
    cx: &'a Context<'_, 't>,
    name: &str,
    node: Node<'t>,
) -> impl Iterator<Item = Node<'t>> + 'a {
    let calls = cx.index.calls_named(name);
    let first = calls.partition_point(|c| c.start_byte() < node.start_byte());
    let end = node.end_byte();
    calls[first..]
        .iter()
        .copied()
        .take_while(move |c| c.start_byte() < end)
        .filter(move |c| is_within(*c, node))
}

/// WaitGroup calls of one kind on the group `key` inside `node`.
pub(crate) fn wg_calls_within<'a, 't>(
    cx: &'a Context<'_, 't>,
    op: WaitGroupOp,
    key: &'a WgKey,
    node: Node<'t>,
) -> impl Iterator<Item = WaitGroupCall<'t>> + 'a {
    let name = match op {
        WaitGroupOp::Add => "Add",
        WaitGroupOp::Done => "Done",
        WaitGroupOp::Wait => "Wait",
        WaitGroupOp::Go => "Go",
    };
    calls_within(cx, name, node)
        .filter_map(|c| waitgroup_call(cx.model, c))
        .filter(move |c| c.op == op && wg_key(cx.model, c.receiver).as_ref() == Some(key))
}

/// Is `node` (inside `outer`) inside a function literal, strictly between the two, that runs on
/// a goroutine of its own (`go func(){…}()`, `g.Go(func(){…})`)?
pub(crate) fn in_nested_goroutine(model: &FileModel, node: Node, outer: Node) -> bool {
    let mut current = node.parent();
    while let Some(n) = current {
        if n == outer {
            return false;
        }
        if n.kind_str() == "func_literal"
            && (go_statement_of(n).is_some() || group_go_call_of(model, n).is_some())
        {
            return true;
        }
        current = n.parent();
    }
    false
}

/// The statement a call stands in (`wg.Done()` → its expression statement, `defer wg.Done()` →
/// the defer statement).
pub(crate) fn call_statement(call: Node) -> Option<Node> {
    let mut node = call.parent()?;
    while node.kind_str() == "parenthesized_expression" {
        node = node.parent()?;
    }
    matches!(
        node.kind_str(),
        "expression_statement" | "defer_statement" | "go_statement"
    )
    .then_some(node)
}

/// The whole line(s) of a statement that stands alone on its line(s), including a trailing `//`
/// comment (the fixture convention: deleting a statement line takes its trailing comment along).
pub(crate) fn statement_line(node: Node, src: &str) -> Option<Range<usize>> {
    let start = line_start(src, node.start_byte());
    if !src.get(start..node.start_byte())?.trim().is_empty() {
        return None;
    }
    let end = line_end_after_newline(src, node.end_byte());
    let after = src.get(node.end_byte()..end)?.trim();
    if !after.is_empty() && !after.starts_with("//") {
        return None;
    }
    Some(start..end)
}

/// Does the statement start its line (only indentation before it)?
pub(crate) fn starts_line(node: Node, src: &str) -> bool {
    let start = line_start(src, node.start_byte());
    src.get(start..node.start_byte())
        .is_some_and(|s| s.trim().is_empty())
}

/// Is the argument of `wg.Add(n)` a negative constant (`wg.Add(-1)` is a `Done`)?
pub(crate) fn is_negative_add(call: Node, src: &str) -> bool {
    goconc_syntax::call_args(call)
        .first()
        .is_some_and(|a| text(unparen(*a), src).trim_start().starts_with('-'))
}
