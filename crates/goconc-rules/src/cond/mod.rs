//! Condition variable rules (`sync.Cond`), one file each.

use super::Rule;

pub mod wait_never_signalled;
pub mod wait_not_in_loop;

pub fn rules() -> Vec<Rule> {
    vec![
        Rule {
            meta: &wait_not_in_loop::META,
            check: wait_not_in_loop::check,
        },
        Rule {
            meta: &wait_never_signalled::META,
            check: wait_never_signalled::check,
        },
    ]
}
