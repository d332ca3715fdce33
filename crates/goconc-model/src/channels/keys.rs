//! Which channel an expression names, and the builtin `close`: the keys every channel fact uses.

use goconc_syntax::NodeExt;
use tree_sitter::Node;

use crate::FileModel;
use goconc_syntax::{access_path, call_args, path_root, text, unparen};

/// Which channel an expression names: its access path (`ch`, `s.done`) and the declaration of
/// the path's root (so that a shadowing `ch` is another channel). Package-level roots have no
/// declaration here.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChanKey {
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
            .is_some_and(|at| at >= node.start_byte() && at < node.end_offset())
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

pub fn chan_key(model: &FileModel, expr: Node) -> Option<ChanKey> {
    let path = access_path(expr, model.src)?;
    let root = path_root(expr)?;
    if root.kind_str() != "identifier" {
        return None;
    }
    let root_decl = model.resolve(root).map(|d| d.ident.start_byte());
    Some(ChanKey { path, root_decl })
}

/// The argument of a call to the builtin `name` (`close(ch)` → `ch`), when it has exactly one.
pub fn builtin_arg<'t>(model: &FileModel<'t>, call: Node<'t>, name: &str) -> Option<Node<'t>> {
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
