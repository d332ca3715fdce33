//! Mutex rules, one file each. They share the lock-state dataflow of `model::locks`.

use tree_sitter::Node;

use super::{Context, Rule};
use crate::model::sync_calls::{lock_call, LockCall};

pub mod defer_in_loop;
pub mod defer_lock;
pub mod double_lock;
pub mod embedded_exported;
pub mod empty_critical_section;
pub mod guarded_field_unlocked;
pub mod held_blocking;
pub mod lock_order_inversion;
pub mod unlock_kind_mismatch;
pub mod unlock_missing;

pub fn rules() -> Vec<Rule> {
    vec![
        Rule {
            meta: &unlock_missing::META,
            check: unlock_missing::check,
        },
        Rule {
            meta: &defer_lock::META,
            check: defer_lock::check,
        },
        Rule {
            meta: &unlock_kind_mismatch::META,
            check: unlock_kind_mismatch::check,
        },
        Rule {
            meta: &defer_in_loop::META,
            check: defer_in_loop::check,
        },
        Rule {
            meta: &double_lock::META,
            check: double_lock::check,
        },
        Rule {
            meta: &held_blocking::META,
            check: held_blocking::check,
        },
        Rule {
            meta: &empty_critical_section::META,
            check: empty_critical_section::check,
        },
        Rule {
            meta: &lock_order_inversion::META,
            check: lock_order_inversion::check,
        },
        Rule {
            meta: &guarded_field_unlocked::META,
            check: guarded_field_unlocked::check,
        },
        Rule {
            meta: &embedded_exported::META,
            check: embedded_exported::check,
        },
    ]
}

/// The bodies (function index, body) that call a lock method directly, not only in nested
/// function literals, with those calls in source order. Found from the file's call index, so no
/// body is walked.
pub(crate) fn locking_bodies<'t>(
    cx: &Context<'_, 't>,
) -> Vec<(usize, Node<'t>, Vec<LockCall<'t>>)> {
    let mut by_function: std::collections::BTreeMap<usize, Vec<LockCall<'t>>> =
        std::collections::BTreeMap::new();
    for name in ["Lock", "RLock", "Unlock", "RUnlock", "TryLock", "TryRLock"] {
        for &node in cx.index.calls_named(name) {
            let Some(call) = lock_call(cx.model, node) else {
                continue;
            };
            if let Some(function) = cx.model.function_of(node) {
                by_function.entry(function).or_default().push(call);
            }
        }
    }
    by_function
        .into_iter()
        .filter_map(|(function, mut calls)| {
            calls.sort_by_key(|c| c.call.start_byte());
            Some((function, cx.model.functions[function].body?, calls))
        })
        .collect()
}

/// 1-based line of a byte offset, for messages.
pub(crate) fn line_of(src: &str, offset: usize) -> usize {
    src.as_bytes()[..offset.min(src.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}
