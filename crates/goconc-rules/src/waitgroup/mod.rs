//! `sync.WaitGroup` rules, one file each, and what they share: which WaitGroup a call is on.

use goconc_syntax::NodeExt;
use tree_sitter::Node;

use super::{Context, Rule};
use goconc_model::sync_calls::{waitgroup_call, WaitGroupCall, WaitGroupOp};
use goconc_model::FileModel;
use goconc_syntax::{access_path, path_root, text, unparen};

pub mod add_in_goroutine;
pub mod done_in_go;
pub mod done_not_deferred;
pub mod go_available;
pub mod wait_in_loop;

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
        Rule {
            meta: &wait_in_loop::META,
            check: wait_in_loop::check,
        },
    ]
}

/// Which WaitGroup a call is on: its access path (`s.wg`) and the declaration of the path's root
/// (so that a shadowing `wg` is another group).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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
            .is_some_and(|at| at >= node.start_byte() && at < node.end_offset())
    }
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
    cx.index
        .calls_named_within(name, node)
        .filter_map(|c| waitgroup_call(cx.model, c))
        .filter(move |c| c.op == op && wg_key(cx.model, c.receiver).as_ref() == Some(key))
}

/// Is the argument of `wg.Add(n)` a negative constant (`wg.Add(-1)` is a `Done`)?
pub(crate) fn is_negative_add(call: Node, src: &str) -> bool {
    goconc_syntax::call_args(call)
        .first()
        .is_some_and(|a| text(unparen(*a), src).trim_start().starts_with('-'))
}

/// `recv.Go(func() {…})` in place of the text from `from` to the end of the `go` statement: the
/// body of its literal without the whole lines of the statements in `drop`. A dropped line that
/// is `bare` must hold nothing but its statement (a comment there is kept by giving up).
pub(crate) fn go_rewrite(
    src: &str,
    from: usize,
    go: Node,
    body: Node,
    drop: &[(Node, bool)],
    recv: &str,
) -> Option<crate::TextEdit> {
    let open = body.start_byte() + 1;
    let close = body.end_offset().checked_sub(1)?;
    if src.get(close..close + 1) != Some("}") {
        return None;
    }
    // After the body's closing brace the go statement has only `()` left.
    if src.get(body.end_offset()..go.end_offset())?.trim() != "()" {
        return None;
    }
    let mut lines = Vec::new();
    for &(stmt, bare) in drop {
        let line = goconc_syntax::statement_line(stmt, src)?;
        if bare && !src.get(stmt.end_offset()..line.end)?.trim().is_empty() {
            return None;
        }
        if line.start < open || line.end > close {
            return None;
        }
        lines.push(line);
    }
    lines.sort_by_key(|l| l.start);
    let mut inner = String::new();
    let mut at = open;
    for line in lines {
        inner.push_str(src.get(at..line.start.max(at))?);
        at = at.max(line.end);
    }
    inner.push_str(src.get(at..close)?);
    Some(crate::TextEdit {
        range: from..go.end_offset(),
        new_text: format!("{recv}.Go(func() {{{inner}}})"),
    })
}
