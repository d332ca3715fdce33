//! A method with a value receiver copies the whole receiver at every call: a plain read of each
//! field, made before the body runs. A field the package updates with `sync/atomic` functions
//! through pointers of the type races with that copy.

use goconc_model::atomics::{self, AtomicPlace};
use goconc_syntax::NodeExt;

use super::{atomic_call_here, display_chain, field_type_fits, LocalStructs, META};
use crate::finding::{Finding, LineOf, Severity};
use crate::receiver_copy::{value_methods, with_pointer_receiver_fix};
use crate::Context;

pub(super) fn check(cx: &Context, out: &mut Vec<Finding>) {
    let package = cx.model.package;
    let mut local_structs = LocalStructs::default();
    for method in value_methods(cx) {
        let prefix = format!("{}.", method.type_name);
        let test = atomics::test_entry(method.node, cx.src, &cx.model.imports);
        // The first atomic writer of a field the copy reads: one rooted at a value of this type
        // (`atomic.AddInt64(&r.countBytes, n)` in a method of `*T`, or of a field `T` holds by
        // value), run on values that are shared.
        let writer = package.atomic_keys().into_iter().find_map(|key| {
            package.atomic_places(key).iter().find(|atomic| {
                atomic.chain.first().is_some_and(|k| k.starts_with(&prefix))
                    && atomic.writes()
                    && !package.only_called_on_private_values(&atomic.function)
                    && atomics::tests_overlap(test, atomic.test_entry)
                    && field_type_fits(cx, &mut local_structs, key, &atomic.func)
            })
        });
        if let Some(atomic) = writer {
            out.push(report(cx, &method, atomic));
        }
    }
}

fn report(
    cx: &Context,
    method: &crate::receiver_copy::ValueMethod,
    atomic: &AtomicPlace,
) -> Finding {
    let target = display_chain(&atomic.chain);
    let field = atomic
        .chain
        .last()
        .map_or("", |k| k.rsplit('.').next().unwrap_or(k));
    let in_file = atomic_call_here(cx, atomic);
    let at = match in_file {
        Some(call) => format!(" (line {})", LineOf(call.start_byte())),
        None => String::new(),
    };
    // As for any plain read: the atomic side locking the value shows it shared. Nothing in the
    // method can: the copy is made before its body runs.
    let shared = atomic.locks.iter().any(|l| !l.starts_with('@'));
    let tail = match shared {
        true => "the copy races with it",
        false => "the copy races with it once the value is shared",
    };
    let message = format!(
        "`{}` has a value receiver: each call copies the `{}`, which reads its field `{field}` plainly, but `atomic.{}` updates `{target}` in `{}`{at}: {tail}",
        method.name, method.type_name, atomic.func, atomic.function,
    );
    let mut finding = META.finding(method.type_node.byte_span(), message);
    if !shared {
        finding.severity = Severity::Warning;
    }
    if let Some(call) = in_file {
        finding = finding.with_related(
            call.byte_span(),
            format!("`{target}` is updated atomically here"),
        );
    }
    with_pointer_receiver_fix(finding, &[method], cx.src)
}
