//! Channels kept in a map or slice field (`p.subscribers`): which closes of this file leave
//! closed channels where another function of the package closes or sends on them again. The
//! facts are the model's ([`goconc_model::channels::registries`]); `channel-double-close` and
//! `channel-send-after-close` report what this finds.

use goconc_syntax::NodeExt;
use std::ops::Range;

use crate::Context;
use goconc_model::channels::registries::{RegistryOp, RegistryOpKind};
use goconc_model::goroutines::enclosing_function_key;

/// A close of this file whose channels another function can reach closed.
pub(super) struct Hazard<'p> {
    /// The `close` call.
    pub close: Range<usize>,
    pub op: &'p RegistryOp,
    /// Other functions' closes of the same channels.
    pub closers: Vec<&'p RegistryOp>,
    /// Other functions' sends on them.
    pub senders: Vec<&'p RegistryOp>,
}

/// The hazards of this file's closes of registry channels:
/// - a close of every member that leaves them in the field, with the other functions that close
///   or send on members (unless the closer marks a flag they test);
/// - a close of one member that does not check it is still there, with the other functions that
///   close every member (unless they mark a flag this one tests).
pub(super) fn hazards<'p>(cx: &Context<'p, '_>) -> Vec<Hazard<'p>> {
    let package = cx.model.package;
    let mut here: Vec<(Range<usize>, &'p RegistryOp)> = Vec::new();
    for &call in cx.index.calls_named("close") {
        if cx.is_skipped(call.start_byte()) {
            continue;
        }
        let Some(key) = enclosing_function_key(cx.model, call) else {
            continue;
        };
        let Some(facts) = package.go_facts(&key) else {
            continue;
        };
        if facts.registry_ops.is_empty() {
            continue;
        }
        for op in &facts.registry_ops {
            if op
                .range_in_file(cx.model)
                .is_some_and(|r| r == call.byte_span())
            {
                here.push((call.byte_span(), op));
            }
        }
    }
    if here.is_empty() {
        return Vec::new();
    }
    // The other side counts when callers can reach it at any time (an exported function or
    // method) or it runs on a goroutine of its own (started by name): an unexported helper runs
    // when the package's own code calls it, which may be before the close only.
    let all: Vec<&RegistryOp> = package
        .channel_registry_ops()
        .into_iter()
        .filter(|o| callable_any_time(package, &o.function))
        .collect();
    let mut out = Vec::new();
    for (close, op) in here {
        let others = all
            .iter()
            .copied()
            .filter(|o| o.function != op.function && o.same_channels(op));
        let hazard = match op.kind {
            RegistryOpKind::CloseEach { removes: false } => {
                let others: Vec<&RegistryOp> =
                    others.filter(|o| !op.marks_what_is_tested_by(o)).collect();
                Hazard {
                    close,
                    op,
                    closers: others
                        .iter()
                        .copied()
                        .filter(|o| o.kind != RegistryOpKind::Send)
                        .collect(),
                    senders: others
                        .iter()
                        .copied()
                        .filter(|o| o.kind == RegistryOpKind::Send)
                        .collect(),
                }
            }
            RegistryOpKind::CloseMember { checked: false } => Hazard {
                close,
                op,
                closers: others
                    .filter(|o| matches!(o.kind, RegistryOpKind::CloseEach { .. }))
                    .filter(|o| !o.marks_what_is_tested_by(op))
                    .collect(),
                senders: Vec::new(),
            },
            _ => continue,
        };
        if !hazard.closers.is_empty() || !hazard.senders.is_empty() {
            out.push(hazard);
        }
    }
    out
}

/// An exported function or method (`Publisher.Close`, `Drain`), or one the package starts with
/// `go` by name.
fn callable_any_time(package: &goconc_model::PackageModel, key: &str) -> bool {
    let name = key.rsplit('.').next().unwrap_or(key);
    name.starts_with(|c: char| c.is_uppercase()) || package.is_started_by_name(key)
}

/// `` `A.f`, `B.g` `` — each function once, in order.
pub(super) fn function_list(ops: &[&RegistryOp]) -> String {
    let mut names: Vec<&str> = ops.iter().map(|o| o.function.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
