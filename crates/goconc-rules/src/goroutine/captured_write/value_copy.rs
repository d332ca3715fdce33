//! The other direction of a captured write: the function writes a field of a value after
//! starting a goroutine that calls a method on it, and that call reaches a method with a value
//! receiver, which copies the whole value — every field, the written one too — with nothing
//! ordering the copy and the write (see [`goconc_model::captured_calls`]). Reported at the value
//! method's receiver, where the fix (a pointer receiver) goes: one finding per type and file.

use goconc_model::captured_calls::CopiedWhileWritten;
use goconc_syntax::NodeExt;

use super::META;
use crate::finding::Finding;
use crate::receiver_copy::{value_methods, with_pointer_receiver_fix, ValueMethod};
use crate::Context;

pub(super) fn check(cx: &Context, out: &mut Vec<Finding>) {
    let copies = cx.model.package.copied_while_written();
    if copies.is_empty() {
        return;
    }
    let methods = value_methods(cx);
    // By type, in the file's order: each value method reached, with the first race found.
    let mut by_type: Vec<(&str, Vec<(&ValueMethod, &CopiedWhileWritten)>)> = Vec::new();
    for method in &methods {
        let Some(copy) = copies
            .iter()
            .find(|c| c.type_name == method.type_name && c.method == method.name)
        else {
            continue;
        };
        match by_type.iter_mut().find(|(t, _)| *t == method.type_name) {
            Some((_, found)) => found.push((method, copy)),
            None => by_type.push((method.type_name, vec![(method, copy)])),
        }
    }
    for (_, found) in by_type {
        out.push(type_finding(cx, &found));
    }
}

fn type_finding(cx: &Context, found: &[(&ValueMethod, &CopiedWhileWritten)]) -> Finding {
    let (method, copy) = found[0];
    let who = match found.len() {
        1 => format!("`{}` has a value receiver", method.name),
        2 => format!(
            "`{}` and `{}` have value receivers",
            method.name, found[1].0.name
        ),
        n => format!(
            "`{}` and {} other methods of `{}` have value receivers",
            method.name,
            n - 1,
            method.type_name
        ),
    };
    let called = copy.path.first().map_or("", String::as_str);
    let through = match copy.path.len() {
        0 | 1 => String::new(),
        _ => format!(", which reaches `{}`", method.name),
    };
    let message = format!(
        "{who}: each call copies the whole `{}`, reading every field, and `{}` starts a goroutine that calls `{}.{called}`{through}, then writes `{}.{}` with nothing ordering the two: the copy races with that write",
        method.type_name, copy.starter, copy.variable, copy.variable, copy.field,
    );
    let mut finding = META.finding(method.type_node.byte_span(), message);
    for (other, _) in &found[1..] {
        finding = finding.with_related(
            other.type_node.byte_span(),
            format!("`{}` copies it too", other.name),
        );
    }
    let methods: Vec<&ValueMethod> = found.iter().map(|(m, _)| *m).collect();
    with_pointer_receiver_fix(finding, &methods, cx.src)
}
