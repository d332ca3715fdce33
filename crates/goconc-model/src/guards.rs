//! Field accesses and the locks held at them: the facts `guarded-field-unlocked` infers each
//! field's guard from.
//!
//! For every method of a package struct, each access `recv.field` (outside function literals)
//! is recorded with the receiver's mutexes held on every path to it. Facts are owned data,
//! collected per file and merged per package ([`super::PackageModel::add_field_accesses`]).

use goconc_syntax::NodeExt;
use tree_sitter::Node;

use super::locks::{self, LockObserver, LockState};
use super::scope::{Decl, DeclKind, FileModel};
use super::summary::summary_key;
use super::types::{SyncKind, Ty};
use goconc_syntax::{named_children, parent_among, text, unparen, walk, walk_body_with_ancestors};

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

/// `T{…}`, `&T{…}` or `new(T)`: a value nobody else has yet.
pub fn is_fresh_value(model: &FileModel, init: Node) -> bool {
    let init = unparen(init);
    match init.kind_str() {
        "composite_literal" => true,
        "unary_expression" => {
            init.child(0).is_some_and(|o| o.kind_str() == "&")
                && init
                    .field("operand")
                    .is_some_and(|o| unparen(o).kind_str() == "composite_literal")
        }
        "call_expression" => init.field("function").is_some_and(|f| {
            f.kind_str() == "identifier"
                && text(f, model.src) == "new"
                && model.resolve(f).is_none()
        }),
        _ => false,
    }
}

/// How far a local's value has gone at some point of its function (see [`sharing_at`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// Nobody else can see it.
    Private,
    /// Only goroutines the function started saw it, and it waited for them (`wg.Wait()`)
    /// before this point.
    Joined,
    /// Stored, sent, passed on, returned or captured: others may hold it.
    Shared,
}

/// Is the local `decl` a value the function has just made (`x := &T{…}`, `new(T)`, `var x T`)
/// that nobody else can see at `at` (see [`sharing_at`])?
pub fn unpublished_at(model: &FileModel, decl: &Decl, at: Node) -> bool {
    made_here(model, decl) && sharing_at(model, decl, at) != Sharing::Shared
}

/// Is the local `decl` declared with a value the function makes: `x := &T{…}`, `T{…}`,
/// `new(T)`, or `var x T`?
pub fn made_here(model: &FileModel, decl: &Decl) -> bool {
    if !matches!(decl.kind, DeclKind::Local) {
        return false;
    }
    match decl.init {
        Some(init) => is_fresh_value(model, init),
        // `var x T`: the zero value, made here.
        None => {
            decl.stmt.kind_str() == "var_declaration"
                && !decl.ty.is_pointer()
                && decl.ident.parent().is_some_and(|spec| {
                    spec.kind_str() == "var_spec" && spec.field("value").is_none()
                })
        }
    }
}

/// How far the value of the local `decl` has gone at `at`: whether it was stored in a field, a
/// global, a container or another variable, sent, passed to a call, returned, or captured by a
/// function literal (one run on a goroutine, or kept for later) between its declaration and
/// `at` — or after `at` inside a loop around `at` that the declaration is outside of (the next
/// iteration comes after it). Captures by goroutines the function started and then waited for
/// (a `Wait()` call in a block around `at`, after them) leave it [`Sharing::Joined`].
pub fn sharing_at(model: &FileModel, decl: &Decl, at: Node) -> Sharing {
    if !matches!(decl.kind, DeclKind::Local) {
        return Sharing::Shared;
    }
    let Some(function) = model.function_of(decl.ident) else {
        return Sharing::Shared;
    };
    // The top-level function: literals inside it may capture the local.
    let mut top = function;
    while let Some(parent) = model.functions[top].parent {
        top = parent;
    }
    let scope_node = model.functions[top].node;
    // Literals inside the declaring function capture it; those it sits in do not.
    let own_node = model.functions[function].node;
    // A struct value held in the local is copied by assignments and calls: only its address
    // (`&v`, a pointer method's receiver), a goroutine or a literal kept for later reach the
    // local itself.
    let by_value = !decl.ty.is_pointer() && !decl.ty.is_unknown();
    let from = decl.ident.end_byte();
    let mut until = at.start_byte();
    // A loop around `at` that the declaration is outside of runs what follows `at` again.
    for lp in goconc_syntax::enclosing_loops(at) {
        if lp.start_byte() > decl.stmt.start_byte() {
            until = until.max(lp.end_byte());
        } else {
            break;
        }
    }
    let mut shared = false;
    // Where the goroutines that captured it end (their `go` statement or group call).
    let mut goroutines_end: Option<usize> = None;
    walk(scope_node, |n| {
        if shared || n.end_byte() <= from || n.start_byte() >= until {
            return false;
        }
        if n.kind_str() == "identifier"
            && text(n, model.src) == decl.name
            && n.start_byte() >= from
            && n != at
            && model
                .resolve(n)
                .is_some_and(|d| d.ident.start_byte() == decl.ident.start_byte())
        {
            match publication(model, n, own_node, by_value) {
                Publication::None => {}
                Publication::Goroutine(end) => {
                    goroutines_end = Some(goroutines_end.map_or(end, |e: usize| e.max(end)));
                }
                Publication::Escapes => shared = true,
            }
        }
        true
    });
    if shared {
        return Sharing::Shared;
    }
    match goroutines_end {
        None => Sharing::Private,
        Some(end) if end <= at.start_byte() && waits_between(model, end, at) => Sharing::Joined,
        Some(_) => Sharing::Shared,
    }
}

/// Is there a statement `x.Wait()` (or `err := g.Wait()`) after byte `after` and before `at`,
/// in a block around `at`?
fn waits_between(model: &FileModel, after: usize, at: Node) -> bool {
    let mut block = at.parent();
    while let Some(b) = block {
        if matches!(b.kind_str(), "block" | "statement_list") {
            for statement in goconc_syntax::statements(b) {
                if statement.start_byte() < after || statement.start_byte() >= at.start_byte() {
                    continue;
                }
                let call = match statement.kind_str() {
                    "expression_statement" => goconc_syntax::statement_call(statement),
                    "short_var_declaration" | "assignment_statement" => statement
                        .field("right")
                        .and_then(|r| named_children(r).next())
                        .map(unparen)
                        .filter(|c| c.kind_str() == "call_expression"),
                    _ => None,
                };
                let waits = call
                    .and_then(goconc_syntax::method_call)
                    .is_some_and(|mc| text(mc.method, model.src) == "Wait");
                if waits {
                    return true;
                }
            }
        }
        if goconc_syntax::is_function(b.kind_str()) {
            return false;
        }
        block = b.parent();
    }
    false
}

enum Publication {
    None,
    /// Captured by a function literal run on a goroutine; the byte where its start ends.
    Goroutine(usize),
    Escapes,
}

/// Does this use of a local hand the value to somebody else (see [`sharing_at`])?
fn publication(model: &FileModel, ident: Node, scope: Node, by_value: bool) -> Publication {
    // Captured by a function literal that is not simply called where it stands.
    let mut current = ident.parent();
    while let Some(n) = current {
        if n == scope {
            break;
        }
        if n.kind_str() == "func_literal" {
            if let Some(start) = super::goroutines::goroutine_start(model, n) {
                return Publication::Goroutine(start.end_byte());
            }
            let called_here = n.parent().is_some_and(|p| {
                p.kind_str() == "call_expression" && p.field("function") == Some(n)
            });
            if !called_here {
                return Publication::Escapes;
            }
        }
        current = n.parent();
    }
    let mut node = ident;
    let mut addressed = !by_value;
    loop {
        let Some(parent) = node.parent() else {
            return Publication::None;
        };
        match parent.kind_str() {
            "parenthesized_expression" | "expression_list" => node = parent,
            "unary_expression" => {
                if parent.child(0).is_some_and(|o| o.kind_str() == "&") {
                    addressed = true;
                    node = parent;
                } else {
                    return Publication::None;
                }
            }
            // A copy of a struct value goes wherever it goes; the local stays the function's.
            _ if !addressed && !parent.kind_str().starts_with("selector") => {
                return Publication::None
            }
            "selector_expression" if parent.field("operand") == Some(node) => {
                let called = parent.parent().filter(|c| {
                    c.kind_str() == "call_expression" && c.field("function") == Some(parent)
                });
                if let Some(call) = called {
                    // `go x.run()` hands it to a goroutine; `x.m()` and `x.f` keep it here.
                    return match call.parent().filter(|g| g.kind_str() == "go_statement") {
                        Some(go) => Publication::Goroutine(go.end_byte()),
                        None => Publication::None,
                    };
                }
                // `x.run` as a value binds `x`: follow where the method value goes.
                let is_method = match model.type_of(node).deref() {
                    Ty::Named { pkg, name } if pkg.is_empty() => parent
                        .field("field")
                        .is_some_and(|f| model.package.method(name, text(f, model.src)).is_some()),
                    _ => false,
                };
                if !is_method {
                    return Publication::None;
                }
                addressed = true;
                node = parent;
            }
            "argument_list" => {
                // `wg.Go(x.run)`, `g.Go(f)`: run on a goroutine the group waits for.
                let call = parent.parent();
                let group_go = call.and_then(goconc_syntax::method_call).is_some_and(|mc| {
                    matches!(text(mc.method, model.src), "Go" | "TryGo")
                        && named_children(parent).next() == Some(node)
                });
                return match (group_go, call) {
                    (true, Some(call)) => Publication::Goroutine(call.end_byte()),
                    _ => Publication::Escapes,
                };
            }
            // On the right: stored somewhere (a field, a global, another name). On the left:
            // the name now holds something else, and what it held is out of sight.
            "assignment_statement" | "short_var_declaration" | "var_spec" => {
                return Publication::Escapes
            }
            "send_statement" | "keyed_element" | "literal_element" | "literal_value"
            | "return_statement" | "go_statement" | "defer_statement" => {
                return Publication::Escapes
            }
            // `m[x]` uses `x` as a key (a pointer key can be looked up by others); `x[i]`
            // reads from it.
            "index_expression" => {
                return match parent.field("operand") != Some(node) {
                    true => Publication::Escapes,
                    false => Publication::None,
                }
            }
            _ => return Publication::None,
        }
    }
}
