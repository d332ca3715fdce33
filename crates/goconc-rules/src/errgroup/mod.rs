//! errgroup (`golang.org/x/sync/errgroup`) rules, one file each, and the helpers they share with
//! other families: which values are groups, and how to return an error from the enclosing
//! function (the zero values of its other results).

use tree_sitter::Node;

use super::Rule;
use goconc_model::FileModel;
use goconc_syntax::{method_call, unparen};

pub mod context_unused;
pub mod wait_error_ignored;

pub const ERRGROUP: &str = "golang.org/x/sync/errgroup";

pub fn rules() -> Vec<Rule> {
    vec![
        Rule {
            meta: &context_unused::META,
            check: context_unused::check,
        },
        Rule {
            meta: &wait_error_ignored::META,
            check: wait_error_ignored::check,
        },
    ]
}

/// Is `expr` an `errgroup.Group` (or a pointer to one)?
pub(crate) fn is_group(model: &FileModel, expr: Node) -> bool {
    model.type_of(expr).deref().is_named(ERRGROUP, "Group")
}

/// `g.Go(f)` / `g.TryGo(f)` on a group: the receiver and the function argument.
pub(crate) fn group_go<'t>(model: &FileModel<'t>, call: Node<'t>) -> Option<(Node<'t>, Node<'t>)> {
    let mc = method_call(call)?;
    if !matches!(goconc_syntax::text(mc.method, model.src), "Go" | "TryGo") {
        return None;
    }
    if !is_group(model, mc.receiver) {
        return None;
    }
    let arg = goconc_syntax::named_children(mc.args).next().map(unparen)?;
    Some((mc.receiver, arg))
}
