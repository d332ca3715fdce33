//! Goroutine lifecycle rules, one file each.

use super::Rule;

pub mod captured_write;
pub mod leak_double_send;
pub mod leak_ncast;
pub mod leak_unbuffered_send;
pub mod loopvar_capture;
pub mod not_waited;
pub mod send_without_cancel;

pub fn rules() -> Vec<Rule> {
    vec![
        Rule {
            meta: &not_waited::META,
            check: not_waited::check,
        },
        Rule {
            meta: &leak_unbuffered_send::META,
            check: leak_unbuffered_send::check,
        },
        Rule {
            meta: &send_without_cancel::META,
            check: send_without_cancel::check,
        },
        Rule {
            meta: &loopvar_capture::META,
            check: loopvar_capture::check,
        },
        Rule {
            meta: &leak_ncast::META,
            check: leak_ncast::check,
        },
        Rule {
            meta: &leak_double_send::META,
            check: leak_double_send::check,
        },
        Rule {
            meta: &captured_write::META,
            check: captured_write::check,
        },
    ]
}
