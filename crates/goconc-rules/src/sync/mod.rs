//! Rules about sync values that must not be copied, one file each.

use super::Rule;

pub mod sync_value_copied;

pub fn rules() -> Vec<Rule> {
    vec![Rule {
        meta: &sync_value_copied::META,
        check: sync_value_copied::check,
    }]
}
