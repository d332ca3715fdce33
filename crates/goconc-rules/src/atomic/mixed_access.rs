//! `atomic-mixed-access`: a field or package variable updated through `sync/atomic` functions in
//! one place and read or written plainly in another (package-wide), on the same memory.

use crate::HashSet;
use goconc_syntax::NodeExt;

use tree_sitter::Node;

use crate::finding::{Finding, LineOf, Severity};
use crate::{Context, Family, RuleMeta};
use goconc_model::atomics::{self, atomic_func, AtomicPlace};
use goconc_model::guards::{made_here, sharing_at, Sharing};
use goconc_model::locks::LockObserver;
use goconc_model::{DeclKind, Ty};
use goconc_syntax::{access_path, path_root, text, unparen, walk};

mod value_receiver;

pub static META: RuleMeta = RuleMeta {
    id: "atomic-mixed-access",
    family: Family::Atomic,
    severity: Severity::Error,
    summary: "A variable or field accessed through `sync/atomic` functions in one place and with plain reads or writes elsewhere in the package.",
    fix: Some("pointer receiver, for a value receiver that copies the field (unsafe)"),
    doc: r#"
## Why it matters
Atomic functions only protect a value when every concurrent access goes through them. One plain
read (`if s.count > max`) or write (`s.count = 0`) next to `atomic.AddInt64(&s.count, 1)` is a data
race: the plain read may see a torn or stale value, and the plain write may wipe out increments.
Copying the struct that holds the counter (`snap := s.stats`) reads every field plainly too.
The race detector catches it only when a test happens to run both at once.

## Example
```go
func (s *Server) Handle() {
	atomic.AddInt64(&s.active, 1)
	defer atomic.AddInt64(&s.active, -1)
	// …
}

func (s *Server) Busy() bool {
	return s.active > 100
}
```
```go
func (s *Server) Busy() bool {
	return atomic.LoadInt64(&s.active) > 100
}
```
Better still, make the field an `atomic.Int64`: then no plain access compiles.

## Fix
Use `atomic.Load…`/`atomic.Store…` for the plain access (and for each field of a copied
struct), or change the field to a `sync/atomic` type. No quick fix, except a pointer receiver
for a method whose value receiver copies the field (unsafe: see "Value receivers").

## Which accesses meet
Accesses are named by the path from the value the code holds, one key per field selected:
`p.site.gets` in a method of `*proxyCache` is `proxyCache.site` then `Metric.gets`. So a struct
type kept by two owners, one updating it atomically and one under its own lock, is two places.
A plain access through a pointer to the inner type (`func (m *Metric) Encode()` reading
`m.gets`) meets the owner's atomics only when some code of the package calls that method on
that owner's field (`p.site.Encode()`) or hands the field's address to that function. An
atomic through a pointer (`func (m *Metric) inc()`) or on a package variable speaks for every
value of its type.

A plain read meets the atomic writes (`Add`, `Store`, `Swap`, `CompareAndSwap`, `And`, `Or`);
a plain write meets every atomic access. Reads do not race with atomic loads.

## Value receivers
A method with a value receiver (`func (r Meter) BytesCount() int64`) copies the whole receiver
at every call, before its body runs: a plain read of every field. When the package updates a
field of that type with `sync/atomic` functions through a pointer (`atomic.AddInt64(&r.count,
n)` in a method of `*Meter`), the copy races with it, however the body then reads the field
(an `atomic.LoadInt64(&r.count)` there loads the copy). Reported once per method at the
receiver's type, naming the field and the atomic writer; the severity follows the plain-read
evidence below (`error` only when the writer locks the value: nothing in the method shows the
value shared, the copy comes first). Silent:
- types with no field the package updates atomically (loads alone do not race with a copy);
- when every call of the writer in the package is on a value its caller has just made
  (`var t tally; t.add(x)`): no other goroutine has it;
- types that hold a lock or a `sync/atomic` value (`atomic.Int64`) by value: copying those is
  `sync-value-copied`'s finding;
- pointer receivers, which copy nothing; generated files.

The unsafe fix makes it a pointer receiver (`*Meter`): values of `Meter` lose the method, and
with it the interfaces it satisfied, so a person should read it.

## Severity
- `error`: the message names the atomic access the plain one races with, no lock is held at
  both, and the code shows the value shared where the plain access is: a lock is held there, the
  same function has already accessed the value atomically, the code runs on a goroutine of its
  own, or the value is a package variable.
- `warning`: the same pair, where nothing in the function shows the value shared yet (a method
  that may run before the value is published, as an `Init` called from another package).
- `hint`: a read whose value a compare-and-swap of the same field checks (`old := s.n` before
  `atomic.CompareAndSwapInt64(&s.n, old, new)`, or at the end of the loop around it): a stale
  value only makes the swap fail. `atomic.Load` says what is meant and keeps the race detector
  quiet.
- `hint`: a plain access in a method whose receiver also holds a field that the atomic's
  method (another method of the same type, both in the same file, both reaching the place from
  their receivers) writes plainly, and that this method accesses plainly too (minio's
  `addsize` counts `rt.ErrCounts[k]++` beside `atomic.AddInt64(&rt.SinceUptime.Count, 1)`;
  `toMetric` copies `rt.ErrCounts` and reads `rt.SinceUptime.Count`). The two methods cannot
  run at once without racing on that field, so whatever keeps them apart — a lock their
  callers hold — orders this pair too, and the atomic orders nothing. A field some code
  accesses atomically, or a reader that shares no plainly written field with the writer,
  leaves the finding as it was.

## When it stays silent
- The plain access is on a value the function has just made (`s := &Server{}; s.active = 1`)
  and has not yet published: stored in a field, a global, a container or another variable,
  sent, passed to a call, returned, or captured by a function literal. After that it is
  judged like any other.
- The plain access is on a copy: a value receiver or parameter, or a local that holds a struct
  value (`v := m[k]`, `s := snapshot()`). Atomics on such copies are no evidence of sharing
  either. (The copy itself, `v := p.stats`, reads the shared fields: that is reported.)
- Both accesses hold the same lock (the same mutex of the same value, or the same package-level
  mutex): the lock orders them. A lock taken before a `go` statement is not held inside the
  goroutine it starts, even while its starter still holds it (`defer mu.Unlock()`): an atomic
  in `go func(n *T) { atomic.StoreInt32(&n.on, 0) }(s)` started under `s.mu` meets the plain
  accesses under `s.mu`. A goroutine literal's pointer parameters (`n *T`) are the values they
  are handed, like a method's.
- The address is taken (`&s.active`): that is how the atomic functions and their wrappers get
  it. A read whose value goes nowhere (`_ = s.active`) is no access that matters.
- Two tests that `go test` runs one after another (`TestX`/`BenchmarkX`/`FuzzX` that do not
  both call `t.Parallel()`): their accesses never overlap.
- Generated files (`// Code generated … DO NOT EDIT.`) are judged at their callers: a
  generated method called on a live value reads every field of it there.
- Package initialisation (`func init`, initialisers of package variables) runs before `main`.
- The field's declared type does not fit the atomic function (another struct of the same name
  in a file for another platform).
- Locals: only fields of the package's struct types and package-level variables are tracked.
- (Not silent, a `hint`:) the two methods also meet on a field the atomic's method writes
  plainly (see Severity).

No comment silences it: a comment that explains why a racy access is safe is for a
`//goconc:ignore atomic-mixed-access reason` on that line.
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    let names = cx.model.package.atomic_names();
    // Generated code runs on the values its callers hand it: those calls are judged instead.
    if names.is_empty() || goconc_model::package::is_generated(cx.src) {
        return;
    }
    let names: HashSet<&str> = names.iter().map(String::as_str).collect();
    // One finding per expression text per function: the same field twice in a function is one
    // defect.
    let mut reported: HashSet<(usize, String)> = HashSet::default();
    let mut shared = SharedFields::default();
    let mut local_structs = LocalStructs::default();
    walk(cx.model.root, |n| {
        let expr = match n.kind_str() {
            "selector_expression" => n
                .field("field")
                .filter(|f| names.contains(text(*f, cx.src)))
                .map(|_| n),
            "identifier" => names.contains(text(n, cx.src)).then_some(n),
            "unary_expression" => (n.child(0).is_some_and(|o| o.kind_str() == "*")).then_some(n),
            "function_declaration" | "method_declaration" if cx.is_skipped(n.start_byte()) => {
                return false;
            }
            // Package-level initialisers, like `init`, run before `main` starts any goroutine.
            "var_declaration" | "const_declaration"
                if n.parent_node()
                    .is_some_and(|p| p.kind_str() == "source_file") =>
            {
                return false;
            }
            "function_declaration" => {
                return n.field("name").is_none_or(|f| text(f, cx.src) != "init");
            }
            _ => None,
        };
        if let Some(expr) = expr {
            if let Some(finding) = check_expression(cx, expr, &mut shared, &mut local_structs) {
                let function =
                    goconc_syntax::enclosing_function(expr).map_or(0, |f| f.start_byte());
                if reported.insert((function, text(expr, cx.src).to_string())) {
                    out.push(finding);
                }
            }
        }
        true
    });
    value_receiver::check(cx, out);
}

/// How a whole struct is read or written.
#[derive(Clone, Copy)]
enum WholeValue<'s> {
    Copied,
    Overwritten,
    /// Handed to a method of a generated file (a serializer reads every field).
    Generated(&'s str),
}

/// How an expression is used.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Use {
    Read,
    Write,
}

fn check_expression(
    cx: &Context,
    expr: Node,
    shared: &mut SharedFields,
    local_structs: &mut LocalStructs,
) -> Option<Finding> {
    if expr.kind_str() == "identifier" {
        // A name that is a field selection, a declaration or a key is not a variable's use.
        let parent_kind = expr.parent_node().map(|p| p.kind_str()).unwrap_or("");
        if matches!(
            parent_kind,
            "selector_expression"
                | "var_spec"
                | "const_spec"
                | "parameter_declaration"
                | "keyed_element"
                | "literal_element"
        ) {
            return None;
        }
    }
    let outer = goconc_syntax::outer_parens(expr);
    let parent = outer.parent_node()?;
    // `&s.n`: the atomic call itself, or a pointer handed to a wrapper.
    if parent.kind_str() == "unary_expression" && parent.child(0).map(|o| o.kind_str()) == Some("&")
    {
        return None;
    }
    // `x = atomic.AddInt64(&x, 1)` is atomic-result-assigned's finding.
    if assigned_from_atomic(cx, outer) {
        return None;
    }
    let value_method =
        if parent.kind_str() == "selector_expression" && parent.field("operand") == Some(outer) {
            // `s.stats.n` is judged at `n`; `s.stats.snapshot()` copies `s.stats` only when the
            // method takes a value receiver.
            let called = parent.parent_node().is_some_and(|c| {
                c.kind_str() == "call_expression" && c.field("function") == Some(parent)
            });
            if !called {
                return None;
            }
            Some(text(parent.field("field")?, cx.src))
        } else {
            None
        };
    if discarded(outer, cx.src) {
        return None;
    }
    let use_ = if value_method.is_none() && is_written(outer) {
        Use::Write
    } else {
        Use::Read
    };
    let place = place_of(cx, expr, 0)?;
    let function = top_function_key(cx, expr);
    let held = locks_held(cx, expr, place.root);
    let last = place.chain.last().map_or("", String::as_str);
    let direct = cx.model.package.atomic_places(last);
    if !direct.is_empty() && value_method.is_none() && expr.kind_str() != "unary_expression" {
        let test = test_entry_of(cx, expr);
        let atomic = direct.iter().find(|a| {
            atomics::may_alias(cx.model.package, &place.chain, &function, a)
                && (use_ == Use::Write || a.writes())
                && !common_lock(&held, &place.chain, a)
                && (a.function == function || atomics::tests_overlap(test, a.test_entry))
        })?;
        if !field_type_fits(cx, local_structs, last, &atomic.func) {
            return None;
        }
        let mut finding = report(cx, expr, &place, use_, atomic, None, &held);
        if let Some(field) = shared_plain_field(cx, expr, &place, atomic, shared) {
            finding.severity = Severity::Hint;
            finding.message = format!(
                "{}; but `{}` also writes `{field}` plainly, which this function accesses plainly: the two cannot run at once without racing on it, so whatever keeps them apart orders this access too, and the atomic orders nothing here",
                finding.message,
                atomic.function_name(),
            );
        } else if use_ == Use::Read && validated_by_swap(cx, expr) {
            finding.severity = Severity::Hint;
            finding.message.push_str(
                " (a compare-and-swap of it checks the value read; `atomic.Load` says so and keeps the race detector quiet)",
            );
        }
        return Some(finding);
    }
    // A copy of a struct (or a write over it) reads (writes) each of its fields plainly, and so
    // does a generated method (a serializer) called on it.
    let owner = match place.ty.deref() {
        Ty::Named { pkg, name } if pkg.is_empty() => name.as_str(),
        _ => return None,
    };
    let mut generated = None;
    match value_method {
        Some(method) if cx.model.package.is_generated_method(owner, method) => {
            generated = Some(method);
        }
        Some(method) => {
            let value_receiver = cx
                .model
                .package
                .method(owner, method)
                .is_some_and(|sig| !sig.pointer_receiver);
            if !value_receiver || place.ty.is_pointer() {
                return None;
            }
        }
        None if place.ty.is_pointer() => return None,
        None => {}
    }
    let prefix = format!("{owner}.");
    let test = test_entry_of(cx, expr);
    for key in cx.model.package.atomic_keys() {
        for atomic in cx.model.package.atomic_places(key) {
            let Some(start) = atomic.chain.iter().position(|k| k.starts_with(&prefix)) else {
                continue;
            };
            let mut chain = place.chain.clone();
            chain.extend(atomic.chain[start..].iter().cloned());
            if atomics::may_alias(cx.model.package, &chain, &function, atomic)
                && (use_ == Use::Write || atomic.writes())
                && !common_lock(&held, &chain, atomic)
                && (atomic.function == function || atomics::tests_overlap(test, atomic.test_entry))
            {
                let field = atomic
                    .chain
                    .last()
                    .map_or("", |k| k.rsplit('.').next().unwrap_or(k));
                let how = match generated {
                    Some(method) => WholeValue::Generated(method),
                    None if use_ == Use::Write => WholeValue::Overwritten,
                    None => WholeValue::Copied,
                };
                return Some(report(
                    cx,
                    expr,
                    &place,
                    use_,
                    atomic,
                    Some((how, field)),
                    &held,
                ));
            }
        }
    }
    None
}

/// Whether the expression is in a test `go test` runs (see [`atomics::test_entry`]).
fn test_entry_of(cx: &Context, expr: Node) -> Option<bool> {
    let mut index = cx.model.function_of(expr)?;
    while let Some(parent) = cx.model.functions[index].parent {
        index = parent;
    }
    atomics::test_entry(cx.model.functions[index].node, cx.src, &cx.model.imports)
}

/// Is the read checked by a compare-and-swap of the same place in the same function (`old :=
/// s.n; … atomic.CompareAndSwapInt64(&s.n, old, new)`): one after it, or one in a loop around it
/// (the value read at the end of an iteration feeds the next swap)? The swap fails on a stale
/// value.
fn validated_by_swap(cx: &Context, expr: Node) -> bool {
    let Some(index) = cx.model.function_of(expr) else {
        return false;
    };
    let Some(body) = cx.model.functions[index].body else {
        return false;
    };
    let Some(path) = access_path(expr, cx.src) else {
        return false;
    };
    // From the read on, or from the start of the loop around it.
    let from = goconc_syntax::enclosing_loop(expr).map_or(expr.end_offset(), |l| l.start_byte());
    let mut found = false;
    walk(body, |n| {
        if found || n.end_offset() <= from {
            return false;
        }
        if n.kind_str() == "call_expression" {
            found = atomic_func(n, cx.src, &cx.model.imports)
                .and_then(atomics::split_func)
                .is_some_and(|(op, _)| op == "CompareAndSwap")
                && atomics::addressed_arg(n)
                    .and_then(|a| access_path(a, cx.src))
                    .is_some_and(|p| p == path);
        }
        !found
    });
    found
}

/// A field of the receiver that the atomic's function writes plainly and the plain access's
/// function accesses plainly too (`addsize` counts `rt.ErrCounts[k]++` beside its
/// `atomic.AddInt64(&rt.SinceUptime.Count, 1)`; `toMetric` copies `rt.ErrCounts` and reads
/// `rt.SinceUptime.Count`): the two functions cannot run at once without racing on that field,
/// so whatever keeps them apart (a lock their callers hold) orders this pair as well, and the
/// atomic is not what does. Only for two different methods declared in this file, the plain
/// access and the atomic both reached from their receivers, and a field nothing accesses
/// atomically.
fn shared_plain_field(
    cx: &Context,
    expr: Node,
    place: &Place,
    atomic: &AtomicPlace,
    shared: &mut SharedFields,
) -> Option<String> {
    let plain_method = top_method(cx, expr)?;
    let plain_receiver = method_receiver_name(plain_method, cx.src)?;
    if text(place.root, cx.src) != plain_receiver || place.chain.first() != atomic.chain.first() {
        return None;
    }
    let atomic_method =
        item_at(cx, atomic.offset).filter(|item| item.kind_str() == "method_declaration")?;
    if atomic_method == plain_method {
        return None;
    }
    let atomic_receiver = method_receiver_name(atomic_method, cx.src)?;
    let atomic_field = atomic.chain.first()?.rsplit('.').next()?;
    let key = (plain_method.start_byte(), atomic_method.start_byte());
    let both = shared.0.entry(key).or_insert_with(|| {
        let atomic_names = cx.model.package.atomic_names();
        let accessed = receiver_fields(plain_method, plain_receiver, cx.src, false);
        receiver_fields(atomic_method, atomic_receiver, cx.src, true)
            .into_iter()
            .filter(|f| accessed.contains(f) && !atomic_names.iter().any(|n| n == f))
            .map(str::to_string)
            .collect()
    });
    both.iter().find(|f| *f != atomic_field).cloned()
}

/// By (plain access's method, atomic's method), where each starts: the fields of the receiver
/// the second writes plainly and the first accesses plainly, worked out once per pair.
#[derive(Default)]
struct SharedFields(crate::HashMap<(usize, usize), Vec<String>>);

/// The method declaration around a node, if its top-level function is a method.
fn top_method<'t>(cx: &Context<'_, 't>, node: Node<'t>) -> Option<Node<'t>> {
    let mut index = cx.model.function_of(node)?;
    while let Some(parent) = cx.model.functions[index].parent {
        index = parent;
    }
    let function = cx.model.functions[index].node;
    (function.kind_str() == "method_declaration").then_some(function)
}

/// `c` of `func (c *T) …`.
fn method_receiver_name<'s>(method: Node, src: &'s str) -> Option<&'s str> {
    Some(text(goconc_syntax::method_receiver(method)?.name?, src))
}

/// The fields of the receiver a method's body reaches plainly (`recv.f`, not `&recv.f`),
/// sorted; only those it writes (assigns, increments, or writes an element or part of) when
/// `writes_only`.
fn receiver_fields<'s>(
    method: Node,
    receiver: &str,
    src: &'s str,
    writes_only: bool,
) -> Vec<&'s str> {
    let mut fields: Vec<&str> = Vec::new();
    let Some(body) = method.field("body") else {
        return fields;
    };
    walk(body, |n| {
        if n.kind_str() != "selector_expression" {
            return true;
        }
        let on_receiver = n
            .field("operand")
            .map(unparen)
            .is_some_and(|o| o.kind_str() == "identifier" && text(o, src) == receiver);
        let Some(field) = n.field("field").filter(|_| on_receiver) else {
            return true;
        };
        // Climb what is selected or indexed from it: `recv.f[k]++` writes `f`.
        let mut outer = goconc_syntax::outer_parens(n);
        while let Some(parent) = outer.parent_node().filter(|p| {
            matches!(p.kind_str(), "index_expression" | "selector_expression")
                && p.field("operand") == Some(outer)
        }) {
            outer = goconc_syntax::outer_parens(parent);
        }
        let addressed = outer.parent_node().is_some_and(|p| {
            p.kind_str() == "unary_expression" && p.child(0).map(|o| o.kind_str()) == Some("&")
        });
        if !addressed && (!writes_only || is_written(outer)) {
            fields.push(text(field, src));
        }
        true
    });
    fields.sort_unstable();
    fields.dedup();
    fields
}

/// `_ = s.n`: the value read goes nowhere.
fn discarded(expr: Node, src: &str) -> bool {
    let Some(list) = expr
        .parent_node()
        .filter(|p| p.kind_str() == "expression_list")
    else {
        return false;
    };
    let Some(stmt) = list
        .parent_node()
        .filter(|s| s.kind_str() == "assignment_statement")
    else {
        return false;
    };
    stmt.field("right") == Some(list)
        && stmt
            .field("left")
            .is_some_and(|left| goconc_syntax::named_children(left).all(|l| text(l, src) == "_"))
}

/// Where an expression points: the keys from its root, and its type.
struct Place<'t> {
    chain: Vec<String>,
    ty: Ty,
    /// The root identifier (`s` in `s.stats.n`).
    root: Node<'t>,
    /// A package variable.
    var_root: bool,
    /// A local the function already stored, sent, passed on or handed to a goroutine.
    published: bool,
}

/// The place an expression names, or None when it is private to the function (a copy, a value
/// just made and not yet published) or unknown.
fn place_of<'t>(cx: &Context<'_, 't>, expr: Node<'t>, depth: usize) -> Option<Place<'t>> {
    if depth > 4 {
        return None;
    }
    let package = cx.model.package;
    let path = access_path(expr, cx.src)?;
    let root = path_root(expr)?;
    let root_name = text(root, cx.src);
    let fields: Vec<String> = path.split('.').skip(1).map(str::to_string).collect();
    // `*p` is the value `p` points to: the same place, of the pointed-to type.
    let deref = unparen(expr).kind_str() == "unary_expression";
    // A local this function has already handed to others.
    let mut published = false;
    let (start, start_ty, var_root) = match cx.model.resolve(root) {
        Some(decl) => match decl.kind {
            DeclKind::Receiver | DeclKind::Param | DeclKind::Result => {
                (Vec::new(), pointed_local_type(&decl.ty)?, false)
            }
            DeclKind::Local | DeclKind::LoopVar => {
                let sharing = sharing_at(cx.model, decl, expr);
                if made_here(cx.model, decl) && sharing != Sharing::Shared {
                    return None;
                }
                published = decl.kind == DeclKind::Local && sharing == Sharing::Shared;
                // `st := &s.stats`: the place it points to.
                let pointee = decl.init.map(unparen).filter(|i| {
                    i.kind_str() == "unary_expression"
                        && i.child(0).is_some_and(|o| o.kind_str() == "&")
                });
                let target = pointee
                    .and_then(|i| i.field("operand"))
                    .map(unparen)
                    .filter(|t| matches!(t.kind_str(), "selector_expression" | "identifier"));
                if let Some(target) = target {
                    let base = place_of(cx, target, depth + 1)?;
                    let chain = atomics::chain(package, base.chain, base.ty.clone(), &fields)?;
                    let ty = type_after(package, &base.ty, &fields)?;
                    return Some(Place {
                        chain,
                        ty: if deref { ty.deref().clone() } else { ty },
                        root: base.root,
                        var_root: base.var_root,
                        published: base.published,
                    });
                }
                let ty = match &decl.ty {
                    Ty::Unknown => decl.init.map(|i| cx.model.type_of(i)).unwrap_or_default(),
                    ty => ty.clone(),
                };
                match ty {
                    // A struct value in a local is the function's own copy, unless the function
                    // let others at it (a goroutine's closure, `&v` passed on).
                    Ty::Named { ref pkg, .. } if pkg.is_empty() => {
                        if sharing != Sharing::Shared {
                            return None;
                        }
                        (Vec::new(), ty, false)
                    }
                    ty => (Vec::new(), pointed_local_type(&ty)?, false),
                }
            }
        },
        None => {
            if cx.model.imports.path_of(root_name).is_some() {
                return None;
            }
            let ty = package.var(root_name)?.clone();
            (vec![format!("@{root_name}")], ty, true)
        }
    };
    let chain = atomics::chain(package, start, start_ty.clone(), &fields)?;
    if chain.is_empty() && !deref {
        return None;
    }
    let ty = type_after(package, &start_ty, &fields)?;
    Some(Place {
        chain,
        ty: if deref { ty.deref().clone() } else { ty },
        root,
        var_root,
        published,
    })
}

/// `T` for a pointer to a struct type of the package; None for values (a private copy) and
/// anything else.
fn pointed_local_type(ty: &Ty) -> Option<Ty> {
    match ty {
        Ty::Pointer(inner) => match inner.as_ref() {
            Ty::Named { pkg, .. } if pkg.is_empty() => Some(inner.as_ref().clone()),
            _ => None,
        },
        _ => None,
    }
}

fn type_after(package: &goconc_model::PackageModel, ty: &Ty, fields: &[String]) -> Option<Ty> {
    let mut ty = ty.clone();
    for f in fields {
        ty = atomics::select(package, &ty, f)?.1;
    }
    Some(ty)
}

/// The summary key of the top-level function around a node (`Server.handle`, `flush`).
fn top_function_key(cx: &Context, node: Node) -> String {
    let Some(mut index) = cx.model.function_of(node) else {
        return String::new();
    };
    while let Some(parent) = cx.model.functions[index].parent {
        index = parent;
    }
    let function = &cx.model.functions[index];
    let name = function.node.field("name").map_or("", |n| text(n, cx.src));
    goconc_model::summary::summary_key(function.receiver_type.as_deref(), name)
}

/// The locks held on every path to `expr`, as the atomic facts name them: below the root
/// (`mu`), or package-level (`@registryMu`).
fn locks_held(cx: &Context, expr: Node, root: Node) -> Vec<String> {
    let Some(index) = cx.model.function_of(expr) else {
        return Vec::new();
    };
    let Some(body) = cx.model.functions[index].body else {
        return Vec::new();
    };
    let Some(trace) = cx.lock_trace(body) else {
        return Vec::new();
    };
    struct Innermost<'t> {
        target: Node<'t>,
        best: Option<(usize, Vec<String>)>,
    }
    impl<'t> LockObserver<'t> for Innermost<'t> {
        fn statement(&mut self, node: Node<'t>, state: &goconc_model::locks::LockState) {
            if !goconc_syntax::is_within(self.target, node) {
                return;
            }
            let size = node.end_offset() - node.start_byte();
            if self.best.as_ref().is_some_and(|(s, _)| *s < size) {
                return;
            }
            let held = state.held_on_every_path().cloned().collect();
            self.best = Some((size, held));
        }
    }
    let mut observer = Innermost {
        target: expr,
        best: None,
    };
    trace.replay(&mut observer);
    let root_name = text(root, cx.src);
    let mut out = Vec::new();
    for key in observer.best.map(|(_, held)| held).unwrap_or_default() {
        let lock_root = key.split('.').next().unwrap_or("");
        if lock_root == root_name {
            let rest = key[lock_root.len()..].trim_start_matches('.');
            out.push(atomics::normalize_lock(rest).to_string());
        } else if cx
            .model
            .resolve_name(lock_root, expr.start_byte())
            .is_none()
        {
            out.push(format!("@{}", atomics::normalize_lock(&key)));
        } else {
            // A lock of another local value: shows the code runs under some lock.
            out.push(format!("local:{key}"));
        }
    }
    out
}

/// Do the plain access (with `held`, at the place `chain`) and the atomic one hold the same
/// lock? Package-level locks always compare. A lock of the value compares once both are named
/// from the same root: when one place is the tail of the other (`q.site.n` from a `*queue`,
/// `r.queue.site.n` from a `*stats`), the shorter one's locks are prefixed with the fields that
/// lead to its root (`q.Lock()` there is `r.queue.Lock()` here).
fn common_lock(held: &[String], chain: &[String], atomic: &AtomicPlace) -> bool {
    let (shorter, longer) = if chain.len() <= atomic.chain.len() {
        (chain, atomic.chain.as_slice())
    } else {
        (atomic.chain.as_slice(), chain)
    };
    let cut = longer.len() - shorter.len();
    let prefix: Vec<&str> = longer[..cut]
        .iter()
        .filter(|k| !k.starts_with('@'))
        .map(|k| k.rsplit('.').next().unwrap_or(k))
        .collect();
    let translate = |lock: &str| -> String {
        if lock.starts_with('@') || prefix.is_empty() {
            return lock.to_string();
        }
        let mut path = prefix.join(".");
        if !lock.is_empty() {
            path.push('.');
            path.push_str(lock);
        }
        path
    };
    let plain_is_shorter = chain.len() <= atomic.chain.len();
    held.iter().any(|lock| {
        let lock = match plain_is_shorter {
            true => translate(lock),
            false => lock.clone(),
        };
        atomic.locks.iter().any(|theirs| {
            let theirs = match plain_is_shorter {
                true => theirs.clone(),
                false => translate(theirs),
            };
            theirs == lock && !lock.starts_with("local:")
        })
    })
}

fn report(
    cx: &Context,
    expr: Node,
    place: &Place,
    use_: Use,
    atomic: &AtomicPlace,
    copied_field: Option<(WholeValue, &str)>,
    held: &[String],
) -> Finding {
    let shown = text(expr, cx.src);
    let atomic_verb = if atomic.writes() { "updates" } else { "reads" };
    let target = display_chain(&atomic.chain);
    let in_file = atomic_call_here(cx, atomic);
    let at = match in_file {
        Some(call) => format!(" (line {})", LineOf(call.start_byte())),
        None => String::new(),
    };
    let shared = shown_shared(cx, expr, place, held, atomic);
    let tail = if shared {
        "and no lock is held at both: the plain access races with it"
    } else {
        "and no lock is held at both: the plain access races with it once the value is shared"
    };
    let message = match copied_field {
        None => format!(
            "`{shown}` is {} plainly here, but `atomic.{}` {atomic_verb} `{target}` in `{}`{at} {tail}",
            if use_ == Use::Write { "written" } else { "read" },
            atomic.func,
            atomic.function,
        ),
        Some((how, field)) => format!(
            "`{shown}` is {}, which {} its field `{field}` plainly, but `atomic.{}` {atomic_verb} `{target}` in `{}`{at} {tail}",
            match how {
                WholeValue::Copied => "copied here".to_string(),
                WholeValue::Overwritten => "overwritten here".to_string(),
                WholeValue::Generated(method) => format!("handed to the generated `{method}` here"),
            },
            if use_ == Use::Write { "writes" } else { "reads" },
            atomic.func,
            atomic.function,
        ),
    };
    let mut finding = META.finding(expr.byte_span(), message);
    if !shared {
        finding.severity = Severity::Warning;
    }
    if let Some(call) = in_file {
        finding = finding.with_related(
            call.byte_span(),
            format!("`{target}` is accessed atomically here"),
        );
    }
    finding
}

/// `proxyCache.site.gets` for `[proxyCache.site, Metric.gets]`; `hits.n` for `[@hits, T.n]`.
fn display_chain(chain: &[String]) -> String {
    let mut out = String::new();
    for (i, key) in chain.iter().enumerate() {
        if let Some(var) = key.strip_prefix('@') {
            out.push_str(var);
        } else if i == 0 {
            out.push_str(key);
        } else {
            out.push('.');
            out.push_str(key.rsplit('.').next().unwrap_or(key));
        }
    }
    out
}

/// The atomic call when it is in this file: its function is declared here and the call sits at
/// its offset.
/// The file's top-level declaration around `offset` (bisected: the file may declare thousands,
/// and this is asked for each atomic access).
fn item_at<'t>(cx: &Context<'_, 't>, offset: usize) -> Option<Node<'t>> {
    let items = &cx.model.items;
    let after = items.partition_point(|item| item.start_byte() <= offset);
    let item = *items.get(after.checked_sub(1)?)?;
    (offset < item.end_offset()).then_some(item)
}

fn atomic_call_here<'t>(cx: &Context<'_, 't>, atomic: &AtomicPlace) -> Option<Node<'t>> {
    // The file's top-level declarations, whether or not the model analysed them.
    let item = item_at(cx, atomic.offset).filter(|item| {
        goconc_model::scope::is_function_item(*item)
            && item.field("name").is_some_and(|n| {
                let receiver = (item.kind_str() == "method_declaration")
                    .then(|| receiver_type_name(*item, cx.src))
                    .flatten();
                goconc_model::summary::summary_key(receiver, text(n, cx.src)) == atomic.function
            })
    })?;
    let mut node = item.descendant_for_byte_range(atomic.offset, atomic.offset + 1)?;
    loop {
        if node.start_byte() != atomic.offset {
            return None;
        }
        if node.kind_str() == "call_expression" {
            return (atomic_func(node, cx.src, &cx.model.imports) == Some(atomic.func.as_str()))
                .then_some(node);
        }
        node = node.parent_node()?;
    }
}

/// `Cache` for `func (c *Cache) …`, as the text spells it.
fn receiver_type_name<'s>(method: Node, src: &'s str) -> Option<&'s str> {
    Some(text(goconc_syntax::method_receiver(method)?.type_name, src))
}

/// Does the code show the value shared where the plain access is: a lock held there or by the
/// atomic access on the value, an earlier atomic access to the same root in the same function, a
/// goroutine of its own or started before, or a local already handed on?
fn shown_shared(
    cx: &Context,
    expr: Node,
    place: &Place,
    held: &[String],
    atomic: &AtomicPlace,
) -> bool {
    // The atomic side locks the value itself: it is shared.
    let atomic_locks_value = atomic.locks.iter().any(|l| !l.starts_with('@'));
    if place.published || !held.is_empty() || atomic_locks_value {
        return true;
    }
    let Some(index) = cx.model.function_of(expr) else {
        return false;
    };
    let mut top = index;
    while let Some(parent) = cx.model.functions[top].parent {
        top = parent;
    }
    let top_node = cx.model.functions[top].node;
    if goconc_model::goroutines::in_nested_goroutine(cx.model, expr, top_node) {
        return true;
    }
    // Goroutines this function started before the access are running.
    let started_before =
        cx.index.go_statements.iter().any(|go| {
            go.start_byte() < expr.start_byte() && goconc_syntax::is_within(*go, top_node)
        });
    if started_before {
        return true;
    }
    let root_name = text(place.root, cx.src);
    let Some(body) = cx.model.functions[index].body else {
        return false;
    };
    let mut atomic_before = false;
    walk(body, |n| {
        if atomic_before || n.start_byte() >= expr.start_byte() {
            return false;
        }
        if n.kind_str() == "call_expression" {
            let target = if atomic_func(n, cx.src, &cx.model.imports).is_some() {
                atomics::addressed_arg(n)
            } else {
                // `s.hits.Add(1)` on an atomic type.
                goconc_syntax::method_call(n)
                    .filter(|mc| {
                        cx.model
                            .package
                            .sync_kind(cx.model.type_of(mc.receiver).deref())
                            == Some(goconc_model::SyncKind::Atomic)
                    })
                    .map(|mc| mc.receiver)
            };
            atomic_before = target
                .and_then(path_root)
                .is_some_and(|r| text(r, cx.src) == root_name);
        }
        true
    });
    atomic_before
}

/// Is the expression assigned to, incremented or decremented?
fn is_written(expr: Node) -> bool {
    let Some(parent) = expr.parent_node() else {
        return false;
    };
    match parent.kind_str() {
        "inc_statement" | "dec_statement" => true,
        "expression_list" => parent.parent_node().is_some_and(|s| {
            s.kind_str() == "assignment_statement" && s.field("left") == Some(parent)
        }),
        _ => false,
    }
}

/// Is the expression the target of `x = atomic.F(&…)`?
fn assigned_from_atomic(cx: &Context, expr: Node) -> bool {
    let Some(list) = expr
        .parent_node()
        .filter(|p| p.kind_str() == "expression_list")
    else {
        return false;
    };
    let Some(stmt) = list
        .parent_node()
        .filter(|s| s.kind_str() == "assignment_statement")
    else {
        return false;
    };
    if stmt.field("left") != Some(list) {
        return false;
    }
    let Some(right) = stmt.field("right") else {
        return false;
    };
    goconc_syntax::named_children(right).any(|v| {
        let v = unparen(v);
        v.kind_str() == "call_expression" && atomic_func(v, cx.src, &cx.model.imports).is_some()
    })
}

/// Does the declared type of the field (as this file declares it, when it does) fit the atomic
/// function (`AddInt32` → `int32`, `StorePointer` → `unsafe.Pointer`)? A struct declared once
/// per platform may hold a `bool` in one file and a `uint32` in another.
fn field_type_fits(cx: &Context, local_structs: &mut LocalStructs, key: &str, func: &str) -> bool {
    let Some((_, suffix)) = atomics::split_func(func) else {
        return false;
    };
    let ty = match key.strip_prefix('@') {
        Some(var) => cx.model.package.var(var).cloned(),
        None => match key.split_once('.') {
            Some((owner, field)) => local_structs
                .field_type(cx, owner, field)
                .or_else(|| cx.model.package.field(owner, field).map(|f| f.ty.clone())),
            None => cx.model.package.var(key).cloned(),
        },
    };
    match ty {
        Some(Ty::Named { pkg, name }) => {
            if suffix == "Pointer" {
                pkg == "unsafe" && name == "Pointer"
            } else {
                pkg.is_empty() && name.eq_ignore_ascii_case(suffix)
            }
        }
        // Unknown or unusual declarations (arrays, pointers): trust the key.
        _ => true,
    }
}

/// The fields of the struct types this file declares, by type name, read on first use: asked
/// for each atomic access, reading the struct again each time cost the square of a type with
/// thousands of atomic fields.
#[derive(Default)]
struct LocalStructs(crate::HashMap<String, Option<crate::HashMap<String, Ty>>>);

impl LocalStructs {
    /// The type of `owner.field` when this file declares `owner` itself.
    fn field_type(&mut self, cx: &Context, owner: &str, field: &str) -> Option<Ty> {
        self.0
            .entry(owner.to_string())
            .or_insert_with(|| local_struct_fields(cx, owner))
            .as_ref()?
            .get(field)
            .cloned()
    }
}

/// The fields of the first struct type named `owner` this file declares (the first of a name
/// among its fields).
fn local_struct_fields(cx: &Context, owner: &str) -> Option<crate::HashMap<String, Ty>> {
    for &decl in cx
        .model
        .items
        .iter()
        .filter(|n| n.kind_str() == "type_declaration")
    {
        for spec in goconc_syntax::named_children(decl).filter(|n| n.kind_str() == "type_spec") {
            let (Some(name), Some(ty)) = (spec.field("name"), spec.field("type")) else {
                continue;
            };
            if text(name, cx.src) != owner || ty.kind_str() != "struct_type" {
                continue;
            }
            let mut fields = crate::HashMap::default();
            for f in goconc_model::types::struct_fields(ty, cx.src, &cx.model.imports) {
                fields.entry(f.name).or_insert(f.ty);
            }
            return Some(fields);
        }
    }
    None
}
