//! A method with a value receiver copies the whole receiver at every call, before its body
//! takes any lock. When the body then takes a lock that the type's pointer methods hold while
//! writing a field (a mutex the receiver points to, `mu *sync.RWMutex`, or a package-level
//! mutex) and reads that field under it, the read is of the copy, made unlocked: it races with
//! the writer however the body locks. A mutex held by value is copied too, and that is
//! `sync-value-copied`'s finding.

use goconc_model::guards::{holds_data, CallReceiver, GuardFacts};
use goconc_model::locks::{LockObserver, LockState};
use goconc_model::{DeclKind, SyncKind, Ty};
use goconc_syntax::{method_receiver, named_children, text, walk, NodeExt};
use tree_sitter::Node;

use super::META;
use crate::finding::{Finding, LineOf};
use crate::receiver_copy::{value_methods, with_pointer_receiver_fix, ValueMethod};
use crate::{Context, HashMap};

/// A lock a value method takes that may guard its type's fields.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
enum Lock {
    /// A field of the receiver holding a pointer to a mutex (`mu` of `h.mu`).
    Pointed(String),
    /// A package-level mutex, as the code names it (`ConfigLock`).
    Package(String),
}

pub(super) fn check(cx: &Context, fresh: &GuardFacts, out: &mut Vec<Finding>) {
    // The writes holding each lock, by type: gathered once however many methods ask.
    let mut writes: HashMap<(&str, Lock), Vec<Writer>> = HashMap::default();
    let methods = value_methods(cx);
    let mut copies: Vec<Copy> = Vec::new();
    for (index, method) in methods.iter().enumerate() {
        let Some(receiver) = method.receiver else {
            continue;
        };
        let Some(trace) = cx.lock_trace(method.body) else {
            continue;
        };
        let mut states = States::default();
        trace.replay(&mut states);
        // The copy reads every field: first those the body reads under the lock, then the
        // others, each against the locks the body takes.
        let mut candidates = locked_reads(cx, method, receiver, &states);
        let taken = locks_taken(cx, method, receiver, &states);
        let fields = cx
            .model
            .package
            .struct_fields(method.type_name)
            .unwrap_or(&[]);
        for lock in &taken {
            for field in fields {
                if holds_data(cx.model.package, &field.ty)
                    && !candidates
                        .iter()
                        .any(|(f, l)| *f == field.name && l == lock)
                {
                    candidates.push((field.name.clone(), lock.clone()));
                }
            }
        }
        for (_, lock) in &candidates {
            writes
                .entry((method.type_name, lock.clone()))
                .or_insert_with(|| writes_holding(cx, fresh, method.type_name, lock));
        }
        let found = candidates.iter().find_map(|(field, lock)| {
            writes
                .get(&(method.type_name, lock.clone()))?
                .iter()
                .find(|w| w.field == *field)
                .map(|w| (field, lock, w))
        });
        let Some((field, lock, writer)) = found else {
            continue;
        };
        let lock_name = match lock {
            Lock::Pointed(f) => format!("{receiver}.{f}"),
            Lock::Package(name) => name.clone(),
        };
        copies.push(Copy {
            method: index,
            field: field.clone(),
            lock_name,
            writer: writer.clone(),
        });
    }
    // One finding per type: its value methods share one cause (the type's getters copy what
    // its writers change under the lock) and one fix (pointer receivers); the first method
    // carries it, the others are named and pointed at.
    let mut reported: Vec<&str> = Vec::new();
    for copy in &copies {
        let method = &methods[copy.method];
        if reported.contains(&method.type_name) {
            continue;
        }
        reported.push(method.type_name);
        let others: Vec<&Copy> = copies
            .iter()
            .filter(|c| c.method != copy.method && methods[c.method].type_name == method.type_name)
            .collect();
        out.push(type_finding(cx, &methods, copy, &others));
    }
}

/// A value method's copy found to race: the field it reads, the lock it takes too late, and the
/// write it races with.
struct Copy {
    method: usize,
    field: String,
    lock_name: String,
    writer: Writer,
}

fn type_finding(cx: &Context, methods: &[ValueMethod], first: &Copy, others: &[&Copy]) -> Finding {
    let method = &methods[first.method];
    let (field, lock_name, writer) = (&first.field, &first.lock_name, &first.writer);
    let at = match writer.here {
        true => format!(" (line {})", LineOf(writer.offset)),
        false => String::new(),
    };
    let who = match others.len() {
        0 => format!("`{}` has a value receiver", method.name),
        1 => format!(
            "`{}` and `{}` have value receivers",
            method.name, methods[others[0].method].name
        ),
        n => format!(
            "`{}` and {n} other methods of `{}` have value receivers",
            method.name, method.type_name
        ),
    };
    let message = format!(
        "{who}: each call copies the `{}`, reading `{field}` before `{lock_name}` is taken, but `{}` writes `{field}` holding it{at}: the copy races with that write",
        method.type_name, writer.function,
    );
    let mut finding = META.finding(method.type_node.byte_span(), message);
    if writer.here {
        finding = finding.with_related(
            writer.offset..writer.offset + writer.len,
            format!("`{field}` is written here holding `{lock_name}`"),
        );
    }
    for other in others {
        let m = &methods[other.method];
        finding = finding.with_related(
            m.type_node.byte_span(),
            format!(
                "`{}` copies the `{}` too, reading `{}` before `{}` is taken",
                m.name, m.type_name, other.field, other.lock_name
            ),
        );
    }
    let all: Vec<&ValueMethod> = std::iter::once(method)
        .chain(others.iter().map(|c| &methods[c.method]))
        .collect();
    with_pointer_receiver_fix(finding, &all, cx.src)
}

/// The locks held on every path at each statement of a body (the settled state, as the trace
/// replays it last).
#[derive(Default)]
struct States {
    by_statement: HashMap<(usize, usize), Vec<String>>,
}

impl<'t> LockObserver<'t> for States {
    fn statement(&mut self, node: Node<'t>, state: &LockState) {
        let held = state.held_on_every_path().cloned().collect();
        self.by_statement
            .insert((node.start_byte(), node.end_offset()), held);
    }
}

impl States {
    /// The locks held at the innermost statement around `node`: its nearest ancestor the trace
    /// saw (a climb per ask, not a scan of every statement).
    fn at(&self, node: Node) -> &[String] {
        let mut at = Some(node);
        while let Some(n) = at {
            if let Some(held) = self.by_statement.get(&(n.start_byte(), n.end_offset())) {
                return held;
            }
            at = n.parent_node();
        }
        &[]
    }
}

/// What a lock key of the trace names, when it may guard fields of the type: a mutex the
/// receiver points to, or a package-level one.
fn lock_of(cx: &Context, type_name: &str, receiver: &str, key: &str, at: usize) -> Option<Lock> {
    let package = cx.model.package;
    let is_mutex = |ty: &Ty| {
        matches!(
            package.sync_kind(ty.deref()),
            Some(SyncKind::Mutex | SyncKind::RWMutex)
        )
    };
    if let Some(field) = key
        .strip_prefix(receiver)
        .and_then(|rest| rest.strip_prefix('.'))
    {
        let declared = package.field(type_name, field)?;
        return (declared.ty.is_pointer() && is_mutex(&declared.ty))
            .then(|| Lock::Pointed(field.to_string()));
    }
    let root = key.split('.').next().unwrap_or(key);
    if cx.model.resolve_name(root, at).is_some() {
        return None;
    }
    let ty = package.var(root)?;
    (key != root || is_mutex(ty)).then(|| Lock::Package(key.to_string()))
}

/// Each data field of the receiver the body reads (`r.f`, `r.f.x`, outside function literals)
/// with the lock held there that may guard it, in source order.
fn locked_reads(
    cx: &Context,
    method: &ValueMethod,
    receiver: &str,
    states: &States,
) -> Vec<(String, Lock)> {
    let package = cx.model.package;
    let mut out: Vec<(String, Lock)> = Vec::new();
    walk(method.body, |n| {
        if n.kind_str() == "func_literal" {
            return false;
        }
        if n.kind_str() != "selector_expression" {
            return true;
        }
        let (Some(operand), Some(field)) = (n.field("operand"), n.field("field")) else {
            return true;
        };
        if operand.kind_str() != "identifier" || text(operand, cx.src) != receiver {
            return true;
        }
        if cx
            .model
            .resolve(operand)
            .is_none_or(|d| d.kind != DeclKind::Receiver)
        {
            return true;
        }
        let field = text(field, cx.src);
        let Some(declared) = package.field(method.type_name, field) else {
            return true;
        };
        if !holds_data(package, &declared.ty) || out.iter().any(|(f, _)| f == field) {
            return true;
        }
        let lock = states
            .at(n)
            .iter()
            .find_map(|key| lock_of(cx, method.type_name, receiver, key, n.start_byte()));
        if let Some(lock) = lock {
            out.push((field.to_string(), lock));
        }
        true
    });
    out
}

/// The locks that may guard the type's fields held anywhere in the body, in source order.
fn locks_taken(cx: &Context, method: &ValueMethod, receiver: &str, states: &States) -> Vec<Lock> {
    let mut statements: Vec<(&(usize, usize), &Vec<String>)> = states.by_statement.iter().collect();
    statements.sort_by_key(|(range, _)| **range);
    let mut out: Vec<Lock> = Vec::new();
    for ((start, _), held) in statements {
        for key in held {
            if let Some(lock) = lock_of(cx, method.type_name, receiver, key, *start) {
                if !out.contains(&lock) {
                    out.push(lock);
                }
            }
        }
    }
    out
}

#[derive(Clone)]
struct Writer {
    field: String,
    function: String,
    offset: usize,
    len: usize,
    /// In this file (the offset is this file's).
    here: bool,
}

/// The writes of `type_name`'s fields holding `lock` in methods of `*type_name` that run on
/// shared values: this file's methods as written (first), then, for a mutex the receiver
/// points to, the other files' guard facts.
fn writes_holding(cx: &Context, fresh: &GuardFacts, type_name: &str, lock: &Lock) -> Vec<Writer> {
    let package = cx.model.package;
    let mut shared: HashMap<String, bool> = HashMap::default();
    let mut shared = |function: &str| {
        *shared
            .entry(function.to_string())
            .or_insert_with(|| runs_on_shared_values(cx, fresh, function))
    };
    let mut out: Vec<Writer> = writes_here(cx, type_name, lock)
        .into_iter()
        .filter(|w| shared(&w.function))
        .collect();
    let Lock::Pointed(mu) = lock else {
        return out;
    };
    for access in package.field_accesses() {
        if access.type_name == type_name
            && access.write
            && !access.outside
            && access.guards.iter().any(|g| g == mu)
            && !out.iter().any(|w| w.field == access.field)
            && pointer_method(cx, &access.function)
            && shared(&access.function)
        {
            out.push(Writer {
                field: access.field.clone(),
                function: access.function.clone(),
                offset: access.offset,
                len: access.len,
                here: false,
            });
        }
    }
    out
}

/// May the method run on a value others can see? Not when every call the package makes of it is
/// on a value its caller has just made and not yet published (a constructor's set-up).
fn runs_on_shared_values(cx: &Context, fresh: &GuardFacts, function: &str) -> bool {
    let package = cx.model.package;
    let mut sites = fresh
        .calls
        .iter()
        .chain(package.method_calls())
        .chain(package.constructed_method_calls())
        .filter(|c| c.callee == function)
        .peekable();
    if sites.peek().is_some() && sites.all(|c| c.receiver == CallReceiver::Fresh) {
        return false;
    }
    !package.only_called_on_private_values(function)
}

/// Is `T.m` a method of `*T`?
fn pointer_method(cx: &Context, function: &str) -> bool {
    let Some((type_name, method)) = function.split_once('.') else {
        return false;
    };
    cx.model
        .package
        .method(type_name, method)
        .is_some_and(|sig| sig.pointer_receiver)
}

/// The writes of fields of the receiver (`w.f = …`, `w.f.x = …`, `w.f++`) holding `lock` in the
/// methods of `*type_name` this file declares: the first of each field in each method.
fn writes_here(cx: &Context, type_name: &str, lock: &Lock) -> Vec<Writer> {
    let mut out: Vec<Writer> = Vec::new();
    for &item in &cx.model.items {
        if item.kind_str() != "method_declaration" {
            continue;
        }
        let Some(param) =
            method_receiver(item).filter(|r| r.pointer && text(r.type_name, cx.src) == type_name)
        else {
            continue;
        };
        let (Some(receiver), Some(body), Some(name)) = (
            param.name.map(|n| text(n, cx.src)),
            item.field("body"),
            item.field("name"),
        ) else {
            continue;
        };
        let Some(trace) = cx.lock_trace(body) else {
            continue;
        };
        let mut states = States::default();
        trace.replay(&mut states);
        let function = goconc_model::summary::summary_key(Some(type_name), text(name, cx.src));
        let mut here: Vec<Writer> = Vec::new();
        walk(body, |n| {
            if n.kind_str() == "func_literal" {
                return false;
            }
            for target in written_targets(n) {
                let Some((root, field)) = root_field(target, cx.src) else {
                    continue;
                };
                if root != receiver || here.iter().any(|w| w.field == field) {
                    continue;
                }
                let holds = states.at(n).iter().any(|key| {
                    lock_of(cx, type_name, receiver, key, n.start_byte()).as_ref() == Some(lock)
                });
                if holds {
                    here.push(Writer {
                        field: field.to_string(),
                        function: function.clone(),
                        offset: target.start_byte(),
                        len: target.end_offset() - target.start_byte(),
                        here: true,
                    });
                }
            }
            true
        });
        out.extend(here);
    }
    out
}

/// The expressions a statement writes: the left side of an assignment or of `x++`/`x--`.
fn written_targets(n: Node) -> Vec<Node> {
    match n.kind_str() {
        "assignment_statement" => n
            .field("left")
            .map(|l| named_children(l).collect())
            .unwrap_or_default(),
        "inc_statement" | "dec_statement" => n.named_child(0).into_iter().collect(),
        _ => Vec::new(),
    }
}

/// `(w, f)` for `w.f`, `w.f.x`, `w.f[k]`.
fn root_field<'s>(mut expr: Node, src: &'s str) -> Option<(&'s str, &'s str)> {
    loop {
        match expr.kind_str() {
            "selector_expression" => {
                let operand = expr.field("operand")?;
                if operand.kind_str() == "identifier" {
                    return Some((text(operand, src), text(expr.field("field")?, src)));
                }
                expr = operand;
            }
            "index_expression" => expr = expr.field("operand")?,
            "parenthesized_expression" => expr = expr.named_child(0)?,
            _ => return None,
        }
    }
}
