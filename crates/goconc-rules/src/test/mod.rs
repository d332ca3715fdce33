//! Rules about tests, one file each.

use super::Rule;

pub mod fatal_in_goroutine;

pub fn rules() -> Vec<Rule> {
    vec![Rule {
        meta: &fatal_in_goroutine::META,
        check: fatal_in_goroutine::check,
    }]
}
