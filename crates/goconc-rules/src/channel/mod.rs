//! Channel rules, one file each, and the helpers they share: which channel an expression names,
//! the builtin `close`, and a "closed on this path" dataflow (`closed.rs`) that the double-close
//! and send-after-close rules both read.

use goconc_syntax::NodeExt;
use tree_sitter::Node;

use super::Rule;
use goconc_model::FileModel;
use goconc_syntax::{access_path, call_args, path_root, text, unparen};

mod closed;

pub mod close_by_receiver;
pub mod double_close;
pub mod mutated_after_send;
pub mod range_not_closed;
pub mod select_busy_default;
pub mod send_after_close;
pub mod signal_notify_unbuffered;

pub fn rules() -> Vec<Rule> {
    vec![
        Rule {
            meta: &close_by_receiver::META,
            check: close_by_receiver::check,
        },
        Rule {
            meta: &double_close::META,
            check: double_close::check,
        },
        Rule {
            meta: &send_after_close::META,
            check: send_after_close::check,
        },
        Rule {
            meta: &mutated_after_send::META,
            check: mutated_after_send::check,
        },
        Rule {
            meta: &signal_notify_unbuffered::META,
            check: signal_notify_unbuffered::check,
        },
        Rule {
            meta: &select_busy_default::META,
            check: select_busy_default::check,
        },
        Rule {
            meta: &range_not_closed::META,
            check: range_not_closed::check,
        },
    ]
}

/// Which channel an expression names: its access path (`ch`, `s.done`) and the declaration of
/// the path's root (so that a shadowing `ch` is another channel). Package-level roots have no
/// declaration here.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ChanKey {
    pub path: String,
    pub root_decl: Option<usize>,
}

impl ChanKey {
    /// The root variable's name (`s` in `s.done`).
    pub fn root_name(&self) -> &str {
        self.path.split('.').next().unwrap_or("")
    }

    /// Is the root declared inside `node` (a loop body's local, a loop variable)?
    pub fn declared_within(&self, node: Node) -> bool {
        self.root_decl
            .is_some_and(|at| at >= node.start_byte() && at < node.end_byte())
    }

    /// Does writing to `written` (an access path) change which channel this key names?
    pub fn is_overwritten_by(&self, written: &str) -> bool {
        self.path == written
            || self
                .path
                .strip_prefix(written)
                .is_some_and(|rest| rest.starts_with('.'))
    }
}

pub(crate) fn chan_key(model: &FileModel, expr: Node) -> Option<ChanKey> {
    let path = access_path(expr, model.src)?;
    let root = path_root(expr)?;
    if root.kind_str() != "identifier" {
        return None;
    }
    let root_decl = model.resolve(root).map(|d| d.ident.start_byte());
    Some(ChanKey { path, root_decl })
}

/// The argument of a call to the builtin `name` (`close(ch)` → `ch`), when it has exactly one.
pub(crate) fn builtin_arg<'t>(
    model: &FileModel<'t>,
    call: Node<'t>,
    name: &str,
) -> Option<Node<'t>> {
    let function = unparen(call.field("function")?);
    if function.kind_str() != "identifier"
        || text(function, model.src) != name
        || model.resolve(function).is_some()
        || model.package.func(name).is_some()
    {
        return None;
    }
    let args = call_args(call);
    (args.len() == 1).then(|| args[0])
}

/// Is the function node `f` the innermost function around `node`?
pub(crate) fn in_own_body(node: Node, f: Node) -> bool {
    goconc_syntax::enclosing_function(node) == Some(f)
}

#[cfg(test)]
pub(crate) mod test_util {
    use crate::test_support::{analyze_alone, FileOptions};
    use goconc_syntax::SourceFile;

    /// (line, rule) of every finding of `rule` in `src`.
    pub fn lines_of(src: &str, rule: &str) -> Vec<usize> {
        let file = SourceFile::new(src);
        analyze_alone(&file, &FileOptions::default())
            .findings
            .into_iter()
            .filter(|f| f.rule == rule)
            .map(|f| crate::test_support::line_of(src, f.range.start))
            .collect()
    }
}
