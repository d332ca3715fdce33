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
