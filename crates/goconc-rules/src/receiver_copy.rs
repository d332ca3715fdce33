//! Methods with a value receiver: every call copies the whole receiver, a plain read of each of
//! its fields made before the body runs — before any lock the body takes. `atomic-mixed-access`
//! and `guarded-field-unlocked` judge that copy against the package's other accesses.

use goconc_syntax::{method_receiver, text, NodeExt};
use tree_sitter::Node;

use crate::finding::{Finding, TextEdit};
use crate::Context;

/// A method of this file whose receiver is a value of a struct type of the package.
pub(crate) struct ValueMethod<'t> {
    pub node: Node<'t>,
    pub body: Node<'t>,
    /// The receiver's name (`r`); None when it is unnamed or `_`.
    pub receiver: Option<&'t str>,
    /// The struct type (`IncomingTrafficMeter`).
    pub type_name: &'t str,
    /// The receiver's type as written (`T`, `T[K]`): where findings go and `*` is inserted.
    pub type_node: Node<'t>,
    pub name: &'t str,
}

/// The value-receiver methods of the file's struct types, except those the model skips (no
/// rule can report there) and those whose type holds a lock by value: copying that is
/// `sync-value-copied`'s finding.
pub(crate) fn value_methods<'t>(cx: &Context<'_, 't>) -> Vec<ValueMethod<'t>> {
    let mut out = Vec::new();
    for &item in &cx.model.items {
        if item.kind_str() != "method_declaration" || cx.is_skipped(item.start_byte()) {
            continue;
        }
        let (Some(body), Some(name)) = (item.field("body"), item.field("name")) else {
            continue;
        };
        let Some(receiver) = method_receiver(item).filter(|r| !r.pointer) else {
            continue;
        };
        let type_name = text(receiver.type_name, cx.src);
        if cx.model.package.struct_fields(type_name).is_none()
            || cx
                .model
                .package
                .contained_lock(&goconc_model::Ty::named("", type_name))
                .is_some()
        {
            continue;
        }
        let type_node = receiver.type_node;
        let receiver = receiver.name.map(|n| text(n, cx.src)).filter(|n| *n != "_");
        let name = text(name, cx.src);
        out.push(ValueMethod {
            node: item,
            body,
            receiver,
            type_name,
            type_node,
            name,
        });
    }
    out
}

/// Offers `*T` as the receiver of each method: unsafe, because it changes the method set (a `T`
/// value no longer has the methods, nor satisfies the interfaces that need them).
pub(crate) fn with_pointer_receiver_fix(
    finding: Finding,
    methods: &[&ValueMethod],
    src: &str,
) -> Finding {
    let Some(first) = methods.first() else {
        return finding;
    };
    let title = match methods.len() {
        1 => format!(
            "Use a pointer receiver `*{}` (values of `{}` lose the method)",
            text(first.type_node, src),
            first.type_name
        ),
        n => format!(
            "Use pointer receivers `*{}` in these {n} methods (values of `{}` lose them)",
            text(first.type_node, src),
            first.type_name
        ),
    };
    let mut edits: Vec<TextEdit> = methods
        .iter()
        .map(|m| TextEdit {
            range: m.type_node.start_byte()..m.type_node.start_byte(),
            new_text: "*".into(),
        })
        .collect();
    edits.sort_by_key(|e| e.range.start);
    finding.with_unsafe_fix(title, edits)
}

/// Does this file hold what the value-receiver check judges across methods: a value method that
/// takes a lock, of a type with pointer methods? Its finding depends on the locks held in the
/// type's other methods, so an edit of any of them must analyse them all again.
pub(crate) fn judged_against_every_method(decls: &goconc_model::FileDecls) -> bool {
    decls.methods.iter().any(|(type_name, methods)| {
        methods.values().any(|m| m.pointer_receiver)
            && methods.iter().any(|(name, m)| {
                !m.pointer_receiver
                    && decls
                        .summaries
                        .get(&format!("{type_name}.{name}"))
                        .is_some_and(|s| !s.acquires.is_empty())
            })
    })
}
