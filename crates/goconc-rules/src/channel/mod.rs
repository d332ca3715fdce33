//! Channel rules, one file each. Which channel an expression names, the builtin `close` and the
//! "closed on this path" dataflow the double-close and send-after-close rules read are the
//! model's (`goconc_model::channels`).

use super::Rule;

pub mod close_by_receiver;
pub mod double_close;
pub mod lock_deadlock;
pub mod mutated_after_send;
pub mod range_not_closed;
mod registry;
pub mod select_busy_default;
pub mod self_deadlock;
pub mod send_after_close;
pub mod send_before_receiver;
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
            meta: &send_before_receiver::META,
            check: send_before_receiver::check,
        },
        Rule {
            meta: &lock_deadlock::META,
            check: lock_deadlock::check,
        },
        Rule {
            meta: &self_deadlock::META,
            check: self_deadlock::check,
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

/// A `close(v.f)` of a channel field of a type declared in this package, with what the package
/// knows of that field.
pub(crate) struct FieldClose<'a, 't> {
    pub call: tree_sitter::Node<'t>,
    /// `v.f`, parentheses removed.
    pub arg: tree_sitter::Node<'t>,
    /// `v`, parentheses removed.
    pub operand: tree_sitter::Node<'t>,
    /// The key of the function holding the close.
    pub here: String,
    /// Every use of the field in the package.
    pub ops: &'a [goconc_model::channels::fields::FieldChanOp],
    /// This close among them.
    pub close: Option<&'a goconc_model::channels::fields::FieldChanOp>,
}

/// Every `close` of a channel field of a package type outside the skipped functions.
pub(crate) fn field_closes<'a, 't>(cx: &crate::Context<'a, 't>) -> Vec<FieldClose<'a, 't>> {
    use goconc_model::channels::fields::{range_in_file, FieldOpKind};
    use goconc_syntax::{text, unparen, NodeExt};
    let mut closes = Vec::new();
    for &call in cx.index.calls_named("close") {
        if cx.is_skipped(call.start_byte()) {
            continue;
        }
        let Some(arg) = goconc_model::channels::builtin_arg(cx.model, call, "close").map(unparen)
        else {
            continue;
        };
        if arg.kind_str() != "selector_expression" {
            continue;
        }
        let (Some(operand), Some(field)) = (arg.field("operand"), arg.field("field")) else {
            continue;
        };
        let operand = unparen(operand);
        let owner = match cx.model.type_of(operand).deref() {
            goconc_model::Ty::Named { pkg, name } if pkg.is_empty() => name.clone(),
            _ => continue,
        };
        let Some(here) = goconc_model::goroutines::enclosing_function_key(cx.model, call) else {
            continue;
        };
        let ops = cx
            .model
            .package
            .field_channel_ops(&owner, text(field, cx.src));
        let close = ops.iter().find(|o| {
            o.function == here
                && o.kind == FieldOpKind::Close
                && range_in_file(cx.model, o).is_some_and(|r| r.start == call.start_byte())
        });
        closes.push(FieldClose {
            call,
            arg,
            operand,
            here,
            ops,
            close,
        });
    }
    closes
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
