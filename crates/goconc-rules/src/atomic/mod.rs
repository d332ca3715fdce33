//! `sync/atomic` rules, one file each, and the helper they share: which field or package variable
//! an expression names, as a package-wide key (`Counter.n`, `hits`).

use goconc_syntax::NodeExt;
use tree_sitter::Node;

use super::Rule;
use goconc_model::atomics::owner_key;
use goconc_model::FileModel;
use goconc_syntax::{text, unparen};

pub mod mixed_access;
pub mod result_assigned;
pub mod typed_available;

pub fn rules() -> Vec<Rule> {
    vec![
        Rule {
            meta: &mixed_access::META,
            check: mixed_access::check,
        },
        Rule {
            meta: &result_assigned::META,
            check: result_assigned::check,
        },
        Rule {
            meta: &typed_available::META,
            check: typed_available::check,
        },
    ]
}

/// The key of a field selection (`Owner.field`) or package variable (its name) an expression
/// names; None for locals and unknown types.
pub(crate) fn access_key(model: &FileModel, expr: Node) -> Option<String> {
    let expr = unparen(expr);
    match expr.kind_str() {
        "selector_expression" => {
            let operand = expr.field("operand")?;
            let field = text(expr.field("field")?, model.src);
            if operand.kind_str() == "identifier"
                && model.resolve(operand).is_none()
                && model.imports.path_of(text(operand, model.src)).is_some()
            {
                return None;
            }
            owner_key(model.package, &model.type_of(operand), field)
        }
        "identifier" => {
            let name = text(expr, model.src);
            (model.resolve(expr).is_none() && model.package.var(name).is_some())
                .then(|| name.to_string())
        }
        _ => None,
    }
}
