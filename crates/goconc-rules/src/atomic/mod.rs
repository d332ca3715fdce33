//! `sync/atomic` rules, one file each. Which place an access names is the model's
//! (`goconc_model::atomics`).

use super::Rule;

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
