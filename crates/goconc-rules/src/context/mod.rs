//! Context rules, one file each.

use super::Rule;

pub mod background_in_context_func;
pub mod cancel_not_called;
pub mod loop_ignores_cancel;

pub fn rules() -> Vec<Rule> {
    vec![
        Rule {
            meta: &cancel_not_called::META,
            check: cancel_not_called::check,
        },
        Rule {
            meta: &background_in_context_func::META,
            check: background_in_context_func::check,
        },
        Rule {
            meta: &loop_ignores_cancel::META,
            check: loop_ignores_cancel::check,
        },
    ]
}
