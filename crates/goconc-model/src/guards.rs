//! Field accesses and the locks held at them: the facts `guarded-field-unlocked` infers each
//! field's guard from.
//!
//! For every method of a package struct, each access `recv.field` (outside function literals)
//! is recorded with the receiver's mutexes held on every path to it. Facts are owned data,
//! collected per file and merged per package ([`super::PackageModel::add_field_accesses`]).

use goconc_syntax::NodeExt;
use tree_sitter::Node;

use super::locks::{self, LockObserver, LockState};
use super::scope::FileModel;
use super::summary::summary_key;
use super::types::{SyncKind, Ty};
use goconc_syntax::{named_children, parent_among, text, unparen, walk_body_with_ancestors};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldAccess {
    /// The struct type (`Cache`).
    pub type_name: String,
    pub field: String,
    /// Receiver-relative paths of the mutexes held on every path to the access (`mu`).
    pub guards: Vec<String>,
    /// The method is documented or named as running with the lock held (`…Locked`).
    pub expects_held: bool,
    pub write: bool,
    /// The method (`Cache.Get`).
    pub function: String,
    pub offset: usize,
    pub len: usize,
}

struct Collector<'m, 't> {
    model: &'m FileModel<'t>,
    receiver: &'t str,
    type_name: String,
    function: String,
    expects_held: bool,
    out: Vec<FieldAccess>,
}

impl<'t> LockObserver<'t> for Collector<'_, 't> {
    fn statement(&mut self, node: Node<'t>, state: &LockState) {
        if matches!(node.kind_str(), "go_statement" | "defer_statement") {
            return;
        }
        let prefix = format!("{}.", self.receiver);
        let guards: Vec<String> = state
            .held
            .iter()
            .filter(|(_, h)| h.on_every_path)
            .filter_map(|(k, _)| k.strip_prefix(&prefix).map(str::to_string))
            .collect();
        let mut found = Vec::new();
        walk_body_with_ancestors(node, |n, ancestors| {
            if n.kind_str() != "selector_expression" {
                return;
            }
            let (Some(operand), Some(field)) = (n.field("operand"), n.field("field")) else {
                return;
            };
            let operand = unparen(operand);
            if operand.kind_str() != "identifier" || text(operand, self.model.src) != self.receiver
            {
                return;
            }
            let parent = parent_among(n, ancestors);
            // A method value or call `recv.m()` is no field access.
            if parent.is_some_and(|p| {
                p.kind_str() == "call_expression" && p.field("function") == Some(n)
            }) {
                return;
            }
            // `recv.n.Add(1)`: a method on the field's value (an atomic, a sync type) is no
            // plain access.
            let above = ancestors.split_last().map_or(&[][..], |(_, above)| above);
            if parent.is_some_and(|p| {
                p.kind_str() == "selector_expression"
                    && parent_among(p, above).is_some_and(|c| c.kind_str() == "call_expression")
            }) {
                return;
            }
            let write = is_write(n, ancestors, self.model.src);
            found.push((n, text(field, self.model.src), write));
        });
        for (n, field, write) in found {
            if !self.is_plain_field(field) {
                continue;
            }
            self.out.push(FieldAccess {
                type_name: self.type_name.clone(),
                field: field.to_string(),
                guards: guards.clone(),
                expects_held: self.expects_held,
                write,
                function: self.function.clone(),
                offset: n.start_byte(),
                len: n.end_byte() - n.start_byte(),
            });
        }
    }
}

impl Collector<'_, '_> {
    /// Fields that hold data: not mutexes, atomics, channels, or other sync values.
    fn is_plain_field(&self, field: &str) -> bool {
        let Some(ty) = self
            .model
            .package
            .field_type(&Ty::named("", &self.type_name), field)
        else {
            return false;
        };
        if matches!(ty, Ty::Chan(_) | Ty::Func { .. }) {
            return false;
        }
        let sync = self.model.package.sync_kind(ty.deref());
        !matches!(
            sync,
            Some(
                SyncKind::Mutex
                    | SyncKind::RWMutex
                    | SyncKind::Atomic
                    | SyncKind::WaitGroup
                    | SyncKind::Once
                    | SyncKind::Cond
                    | SyncKind::Map
                    | SyncKind::Pool
                    | SyncKind::NoCopy
            )
        )
    }
}

/// Is the selector written to: assigned, incremented, or a map/slice element of it assigned?
fn is_write(selector: Node, ancestors: &[Node], src: &str) -> bool {
    let mut node = selector;
    let mut ancestors = ancestors;
    loop {
        let Some(parent) = parent_among(node, ancestors) else {
            return false;
        };
        ancestors = ancestors.split_last().map_or(&[][..], |(_, above)| above);
        match parent.kind_str() {
            "index_expression" if parent.field("operand") == Some(node) => node = parent,
            "expression_list" => node = parent,
            "assignment_statement" => return parent.field("left") == Some(node),
            "inc_statement" | "dec_statement" => return true,
            // `delete(recv.m, k)` writes the map.
            "argument_list" => {
                let first = named_children(parent).next() == Some(node);
                let function = parent_among(parent, ancestors).and_then(|c| c.field("function"));
                return first
                    && function
                        .is_some_and(|f| f.kind_str() == "identifier" && text(f, src) == "delete");
            }
            _ => return false,
        }
    }
}

/// The field accesses of every method of the file.
pub fn collect(model: &FileModel) -> Vec<FieldAccess> {
    let mut out = Vec::new();
    for function in &model.functions {
        if function.node.kind_str() != "method_declaration" {
            continue;
        }
        let (Some(type_name), Some(body), Some(name)) = (
            &function.receiver_type,
            function.body,
            function.node.field("name"),
        ) else {
            continue;
        };
        // Only types that hold a mutex can have a guarded field.
        let Some(fields) = model.package.struct_fields(type_name) else {
            continue;
        };
        let holds_mutex = fields.iter().any(|f| {
            matches!(
                model.package.sync_kind(f.ty.deref()),
                Some(SyncKind::Mutex | SyncKind::RWMutex)
            )
        });
        if !holds_mutex {
            continue;
        }
        let Some(receiver) = function
            .node
            .field("receiver")
            .and_then(|r| named_children(r).next())
            .and_then(|p| p.field("name"))
            .map(|n| text(n, model.src))
        else {
            continue;
        };
        let key = summary_key(Some(type_name), text(name, model.src));
        let expects_held = model.package.summary(&key).is_some_and(|s| s.expects_held);
        let mut collector = Collector {
            model,
            receiver,
            type_name: type_name.clone(),
            function: key,
            expects_held,
            out: Vec::new(),
        };
        let locks_here = text(body, model.src).contains("ock(");
        if !locks_here {
            // No lock is taken: every access is unguarded, no dataflow needed.
            collector.statement(body, &LockState::default());
            out.extend(collector.out);
        } else if locks::analyze(model, body, &mut collector).is_some() {
            out.extend(collector.out);
        }
    }
    out
}
