//! Which package variables and struct fields a file accesses through `sync/atomic` functions
//! (`atomic.AddInt64(&s.n, 1)`, `atomic.LoadInt32(&ready)`), named by the path from the value
//! the function holds: the owner's path, not only the field's type.
//!
//! Collected from syntax alone per file ([`super::FileDecls::atomics`], owned data a server keeps
//! per file); [`resolve`] turns the accesses of every file into [`AtomicPlace`]s once the
//! package's struct types are merged, so that a plain access in one file meets an atomic one in
//! another. A place is a chain of keys, one per field selected (`proxyCache.site`,
//! `Metric.gets`), so that one struct type held by two owners, one updating it atomically and
//! one under a lock, are two places and not one `Metric.gets`.

use crate::{HashMap, HashSet};
use goconc_syntax::NodeExt;

use tree_sitter::Node;

use super::imports::Imports;
use super::package::PackageModel;
use super::summary::summary_key;
use super::types::{names_of, Ty};
use goconc_syntax::{
    access_path, call_args, method_call, named_children, path_root, text, unparen, walk,
};

/// What an atomically accessed path starts from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AtomicRoot {
    /// A pointer of a type of the package: the receiver or a parameter (`Counter` for `c.n` in a
    /// method of `*Counter`). Value receivers and parameters hold a copy nobody else sees: their
    /// atomics are no evidence of sharing and are not recorded.
    Type(String),
    /// A package-level variable.
    Var(String),
}

/// One call of a `sync/atomic` function on `&root.fields…`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AtomicAccess {
    pub root: AtomicRoot,
    /// The fields selected after the root (`["stats", "n"]` for `&s.stats.n`).
    pub fields: Vec<String>,
    /// The function called (`AddInt64`).
    pub func: String,
    /// Byte offset of the call in its file.
    pub offset: usize,
    /// The top-level function the call is in (`Server.handle`, `flush`).
    pub function: String,
    /// The locks the text shows held at the call (taken earlier in an enclosing block, not
    /// released since): paths below the root (`mu`; `""` for the root's own `Lock`), and
    /// package-level paths as `@registryMu`. Embedded `Mutex`/`RWMutex` names are left out, so
    /// `c.Lock()` and `c.Mutex.Lock()` read the same.
    pub locks: Vec<String>,
    /// The function is a test `go test` runs (see [`test_entry`]): `Some(true)` when it calls
    /// `Parallel()`.
    pub test_entry: Option<bool>,
}

/// A method called on a value, or a function handed a field or its address (`s.stats.snapshot()`,
/// `reset(&s.stats)`, `sum.add(x)`), by the path to that value: the evidence of which values a
/// method runs on. Resolved with the package's types by [`resolve`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallSite {
    pub root: CallRoot,
    /// The fields selected after the root (`["stats"]`).
    pub fields: Vec<String>,
    /// The method called on the value, or the function it is handed to.
    pub callee: String,
    /// A method call on the value (rather than an argument).
    pub method: bool,
}

/// Where the value a call site names starts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CallRoot {
    /// A receiver, parameter or local of a type of the package (its name).
    Type(String),
    /// A struct value the calling function made (`var sum T`, `sum := T{}`): of this type.
    Private(String),
    /// A package-level variable, or any other name whose type the text does not tell.
    Name(String),
}

/// How a resolved call site reaches its value: from which holder (the last key of its path,
/// `proxyCache.site`; `@v` for a package variable itself) or marker.
pub mod holder {
    /// The value is a struct the caller made for itself.
    pub const PRIVATE: &str = "";
    /// The value is a receiver or parameter: any value of its type.
    pub const ANY: &str = "*";
}

/// The call sites of a package, resolved: (holder, callee) with callee `Type.method` or a
/// function's name; and, for paths whose types are unknown, (last field, method name).
#[derive(Debug, Clone, Default)]
pub struct Calls {
    pub resolved: HashSet<(String, String)>,
    pub loose: HashSet<(String, String)>,
    /// Callees with at least one call site that is not on a private value.
    pub shared_callees: HashSet<String>,
}

/// One atomic access, package-wide, with the place it touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AtomicPlace {
    /// One key per selection from the root: `Owner.field` (the struct type that declares the
    /// field, embedded fields spelled out), after `@name` for a package variable.
    pub chain: Vec<String>,
    pub func: String,
    pub offset: usize,
    pub function: String,
    pub locks: Vec<String>,
    pub test_entry: Option<bool>,
}

impl AtomicPlace {
    /// Whether the call changes the value (everything but `Load…`).
    pub fn writes(&self) -> bool {
        split_func(&self.func).is_some_and(|(op, _)| op != "Load")
    }

    /// The function's own name (`handle` for `Server.handle`).
    pub fn function_name(&self) -> &str {
        self.function.rsplit('.').next().unwrap_or(&self.function)
    }
}

/// One atomic access to a key, package-wide (the least by function name, then offset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AtomicUse {
    pub func: String,
    pub offset: usize,
}

/// The atomic accesses of a package, resolved.
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    /// By the last key of the place (`Counter.n`, or a variable's name): one use each.
    pub uses: HashMap<String, AtomicUse>,
    /// By the last key of the place: every access, ordered by function and offset.
    pub places: HashMap<String, Vec<AtomicPlace>>,
    /// The names code must mention to touch an atomic place: the fields and variables on the
    /// chains, and the struct types that own them (a copy `*s` names only the type).
    pub names: Vec<String>,
    /// The package's call sites (see [`CallSite`]).
    pub calls: Calls,
}

const OPS: &[&str] = &[
    "CompareAndSwap",
    "Add",
    "Load",
    "Store",
    "Swap",
    "And",
    "Or",
];
const TYPES: &[&str] = &["Int32", "Int64", "Uint32", "Uint64", "Uintptr", "Pointer"];

/// Splits a `sync/atomic` function name (`AddInt64` → (`Add`, `Int64`)).
pub fn split_func(name: &str) -> Option<(&'static str, &'static str)> {
    let op = OPS.iter().find(|op| name.starts_with(**op))?;
    let ty = TYPES.iter().find(|t| &name[op.len()..] == **t)?;
    Some((op, ty))
}

/// `atomic.AddInt64(…)` with `atomic` naming `sync/atomic`: the function name.
pub fn atomic_func<'s>(call: Node, src: &'s str, imports: &Imports) -> Option<&'s str> {
    let function = unparen(call.field("function")?);
    if function.kind_str() != "selector_expression" {
        return None;
    }
    let operand = function.field("operand")?;
    if operand.kind_str() != "identifier" || !imports.is(text(operand, src), "sync/atomic") {
        return None;
    }
    let name = text(function.field("field")?, src);
    split_func(name).map(|_| name)
}

/// The expression whose address is the first argument (`s.n` in `atomic.AddInt64(&s.n, 1)`).
pub fn addressed_arg(call: Node) -> Option<Node> {
    let first = unparen(*call_args(call).first()?);
    if first.kind_str() != "unary_expression" || first.child(0).map(|o| o.kind_str()) != Some("&") {
        return None;
    }
    first.field("operand").map(unparen)
}

/// A lock path as the atomic facts name it: a trailing embedded `Mutex`/`RWMutex` left out.
pub fn normalize_lock(path: &str) -> &str {
    for embedded in ["Mutex", "RWMutex"] {
        if path == embedded {
            return "";
        }
        if let Some(rest) = path.strip_suffix(embedded) {
            if let Some(rest) = rest.strip_suffix('.') {
                return rest;
            }
        }
    }
    path
}

/// The type name of a method's receiver and whether it is a pointer.
fn receiver_type(decl: Node, src: &str, imports: &Imports) -> Option<String> {
    let param = named_children(decl.field("receiver")?).next()?;
    match Ty::from_node(param.field("type")?, src, imports).deref() {
        Ty::Named { name, .. } => Some(name.clone()),
        _ => None,
    }
}

/// A lock method call seen in a function's text: (offset, path, acquires, the block around its
/// statement).
struct LockEvent<'t> {
    offset: usize,
    path: String,
    acquires: bool,
    block: Option<Node<'t>>,
}

/// Atomic accesses in some of a file's top-level declarations (an incremental analysis asks for
/// the ones that changed).
pub fn collect_in(items: &[Node], src: &str, imports: &Imports) -> Vec<AtomicAccess> {
    let mut out = Vec::new();
    if !imports.imports("sync/atomic") {
        return out;
    }
    // `atomic.` under whatever name the file imports sync/atomic as: functions without it are
    // skipped unread.
    let needles: Vec<String> = imports
        .local_names_of("sync/atomic")
        .map(|n| format!("{n}."))
        .into_iter()
        .collect();
    for &decl in items {
        if !matches!(
            decl.kind_str(),
            "function_declaration" | "method_declaration"
        ) {
            continue;
        }
        let decl_text = text(decl, src);
        if !needles.iter().any(|n| decl_text.contains(n.as_str())) {
            continue;
        }
        let function = summary_key(
            receiver_type(decl, src, imports).as_deref(),
            decl.field("name").map_or("", |n| text(n, src)),
        );
        // Receiver and parameters that point to a value of a package type.
        let mut typed: HashMap<&str, String> = HashMap::default();
        let mut locals: Vec<&str> = Vec::new();
        for field in ["receiver", "parameters"] {
            let Some(list) = decl.field(field) else {
                continue;
            };
            for param in named_children(list) {
                let ty = param.field("type").map(|t| Ty::from_node(t, src, imports));
                for name in names_of(param) {
                    let name = text(name, src);
                    match ty.as_ref() {
                        Some(Ty::Pointer(inner)) => match inner.as_ref() {
                            Ty::Named { pkg, name: t } if pkg.is_empty() => {
                                typed.insert(name, t.clone());
                            }
                            _ => locals.push(name),
                        },
                        _ => locals.push(name),
                    }
                }
            }
        }
        // Names the function's literals and bodies declare shadow package variables.
        locals.extend(super::summary::declared_names(decl, src, false));
        type_goroutine_params(decl, src, imports, &mut typed, &mut locals);
        let mut calls: Vec<(Node, &str)> = Vec::new();
        let mut lock_events: Vec<LockEvent> = Vec::new();
        walk(decl, |n| {
            if n.kind_str() != "call_expression" {
                return true;
            }
            if let Some(func) = atomic_func(n, src, imports) {
                calls.push((n, func));
            } else if let Some(event) = lock_event(n, src) {
                lock_events.push(event);
            }
            true
        });
        for (n, func) in calls {
            let Some(arg) = addressed_arg(n) else {
                continue;
            };
            let Some(path) = access_path(arg, src) else {
                continue;
            };
            let Some(root_ident) = path_root(arg) else {
                continue;
            };
            let root_name = text(root_ident, src);
            let fields: Vec<String> = path.split('.').skip(1).map(str::to_string).collect();
            let root = if let Some(t) = typed.get(root_name) {
                if fields.is_empty() || locals.contains(&root_name) {
                    continue;
                }
                AtomicRoot::Type(t.clone())
            } else if locals.contains(&root_name) {
                continue;
            } else {
                AtomicRoot::Var(root_name.to_string())
            };
            let goroutines = enclosing_go_statements(n, decl);
            let locks = held_at(n, &lock_events, root_name, &locals, &goroutines);
            out.push(AtomicAccess {
                root,
                fields,
                func: func.to_string(),
                offset: n.start_byte(),
                function: function.clone(),
                locks,
                test_entry: test_entry(decl, src, imports),
            });
        }
    }
    out
}

/// Whether a function is a `TestXxx`, `BenchmarkXxx` or `FuzzXxx` taking a `*testing.T`,
/// `*testing.B` or `*testing.F`, and if so whether it calls `Parallel()`. `go test` runs such
/// tests one after another, except that those calling `Parallel()` run alongside each other
/// (never alongside the others).
pub fn test_entry(decl: Node, src: &str, imports: &Imports) -> Option<bool> {
    if decl.kind_str() != "function_declaration" {
        return None;
    }
    let name = text(decl.field("name")?, src);
    let entry = ["Test", "Benchmark", "Fuzz"].iter().any(|prefix| {
        name.strip_prefix(prefix)
            .is_some_and(|rest| !rest.starts_with(|c: char| c.is_lowercase()))
    });
    if !entry {
        return None;
    }
    let params: Vec<Node> = named_children(decl.field("parameters")?).collect();
    let [param] = params[..] else {
        return None;
    };
    let ty = Ty::from_node(param.field("type")?, src, imports);
    let handle = ty.is_pointer()
        && ["T", "B", "F"]
            .iter()
            .any(|h| ty.deref().is_named("testing", h));
    handle.then(|| text(decl, src).contains(".Parallel()"))
}

/// Can code in two tests (`test_entry` of each; different functions) run at the same time? Only
/// when both call `Parallel()`.
pub fn tests_overlap(a: Option<bool>, b: Option<bool>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a && b,
        _ => true,
    }
}

/// `x.Lock()`, `x.mu.RUnlock()`, … as the text spells them (the types are not known here).
fn lock_event<'t>(call: Node<'t>, src: &str) -> Option<LockEvent<'t>> {
    let mc = method_call(call)?;
    let acquires = match text(mc.method, src) {
        "Lock" | "RLock" => true,
        "Unlock" | "RUnlock" => false,
        _ => return None,
    };
    if named_children(mc.args).next().is_some() {
        return None;
    }
    let path = access_path(mc.receiver, src)?;
    let statement = call.parent_node()?;
    if statement.kind_str() == "defer_statement" {
        // A deferred release runs at the end; a deferred acquire is no lock held here.
        return None;
    }
    Some(LockEvent {
        offset: call.start_byte(),
        path,
        acquires,
        block: statement.parent_node(),
    })
}

/// The parameters of a goroutine's literal (`go func(n *Server) { … }(s)`) that point to a
/// package type, typed like the function's own: the literal's body accesses the value it is
/// handed. A name declared anywhere else in the function stays a local.
fn type_goroutine_params<'s>(
    decl: Node,
    src: &'s str,
    imports: &Imports,
    typed: &mut HashMap<&'s str, String>,
    locals: &mut Vec<&'s str>,
) {
    walk(decl, |n| {
        if n.kind_str() != "go_statement" {
            return true;
        }
        let literal = named_children(n)
            .next()
            .and_then(|call| call.field("function"))
            .map(unparen)
            .filter(|f| f.kind_str() == "func_literal");
        let Some(params) = literal.and_then(|l| l.field("parameters")) else {
            return true;
        };
        for param in named_children(params) {
            let Some(Ty::Pointer(inner)) =
                param.field("type").map(|t| Ty::from_node(t, src, imports))
            else {
                continue;
            };
            let Ty::Named {
                pkg,
                name: type_name,
            } = *inner
            else {
                continue;
            };
            if !pkg.is_empty() {
                continue;
            }
            for name in names_of(param) {
                let name = text(name, src);
                let declared = locals.iter().filter(|l| **l == name).count();
                if declared == 1 && !typed.contains_key(name) {
                    locals.retain(|l| *l != name);
                    typed.insert(name, type_name.clone());
                }
            }
        }
        true
    });
}

/// The `go` statements of `decl` that `node` is inside, outermost first.
fn enclosing_go_statements<'t>(node: Node<'t>, decl: Node<'t>) -> Vec<Node<'t>> {
    goconc_syntax::ancestors(node)
        .into_iter()
        .filter(|a| a.kind_str() == "go_statement" && goconc_syntax::is_within(*a, decl))
        .collect()
}

/// The locks held at `call` as the function's text shows them (see [`AtomicAccess::locks`]).
/// A lock taken outside a `go` statement the call is inside is not held there: the goroutine
/// runs on its own, whatever its starter holds.
fn held_at(
    call: Node,
    events: &[LockEvent],
    root: &str,
    locals: &[&str],
    goroutines: &[Node],
) -> Vec<String> {
    let at = call.start_byte();
    let mut held = Vec::new();
    for (i, event) in events.iter().enumerate() {
        if !event.acquires || event.offset >= at {
            continue;
        }
        if goroutines
            .iter()
            .any(|go| event.offset < go.start_byte() || event.offset >= go.end_offset())
        {
            continue;
        }
        if !event
            .block
            .is_some_and(|b| goconc_syntax::is_within(call, b))
        {
            continue;
        }
        let released = events[i + 1..]
            .iter()
            .any(|e| !e.acquires && e.offset < at && e.path == event.path);
        if released {
            continue;
        }
        let lock_root = event.path.split('.').next().unwrap_or("");
        let relative = if lock_root == root {
            let rest = event.path[lock_root.len()..].trim_start_matches('.');
            normalize_lock(rest).to_string()
        } else if !locals.contains(&lock_root) {
            format!("@{}", normalize_lock(&event.path))
        } else {
            continue;
        };
        if !held.contains(&relative) {
            held.push(relative);
        }
    }
    held
}

/// The call sites of these top-level declarations that name a value by a path (see
/// [`CallSite`]): method calls on a path, and paths (or their addresses) handed to a function.
pub fn call_sites_in(items: &[Node], src: &str, imports: &Imports) -> Vec<CallSite> {
    let mut found: HashSet<CallSite> = HashSet::default();
    for &decl in items {
        if !matches!(
            decl.kind_str(),
            "function_declaration" | "method_declaration"
        ) {
            continue;
        }
        let Some(body) = decl.field("body") else {
            continue;
        };
        let roots = Roots::of(decl, body, src, imports);
        goconc_syntax::walk_calls(body, src, |n| {
            if n.kind_str() != "call_expression" {
                return true;
            }
            let Some(function) = n.field("function").map(unparen) else {
                return true;
            };
            let callee = match function.kind_str() {
                // `x.stats.snapshot()`
                "selector_expression" => {
                    let (Some(operand), Some(method)) =
                        (function.field("operand"), function.field("field"))
                    else {
                        return true;
                    };
                    let method = text(method, src);
                    if let Some(site) = roots.site(operand, method, true, n, body, src, imports) {
                        found.insert(site);
                    }
                    method
                }
                // `reset(&x.stats)`
                "identifier" => text(function, src),
                _ => return true,
            };
            for arg in call_args(n) {
                let mut arg = unparen(arg);
                if arg.kind_str() == "unary_expression" {
                    match arg.field("operand") {
                        Some(operand) => arg = unparen(operand),
                        None => continue,
                    }
                }
                if arg.kind_str() != "selector_expression" {
                    continue;
                }
                if let Some(site) = roots.site(arg, callee, false, n, body, src, imports) {
                    found.insert(site);
                }
                // `wg.Go(p.run)`: a method value, called later, elsewhere.
                if let (Some(operand), Some(method)) = (arg.field("operand"), arg.field("field")) {
                    let method = text(method, src);
                    if let Some(site) = roots.site(operand, method, true, arg, body, src, imports) {
                        found.insert(site);
                    }
                }
            }
            true
        });
    }
    let mut out: Vec<CallSite> = found.into_iter().collect();
    out.sort();
    out
}

/// Does the call (or method value) at `node` run the method elsewhere: a method value not
/// called here, a `go` statement, or inside a function literal that the value's declaration
/// (at byte `declared`) is outside of?
fn escapes(node: Node, body: Node, declared: usize) -> bool {
    if node.kind_str() != "call_expression" {
        return true;
    }
    let mut current = node.parent_node();
    while let Some(n) = current {
        if n == body {
            return false;
        }
        match n.kind_str() {
            "go_statement" => return true,
            "func_literal" if declared < n.start_byte() => return true,
            _ => {}
        }
        current = n.parent_node();
    }
    false
}

/// The names a function declares, with the types the text gives them.
struct Roots<'s> {
    /// Receiver, parameters and locals of a named type (pointer or not).
    typed: HashMap<&'s str, String>,
    /// Struct values the body makes: `var x T` (no value), `x := T{…}`; where declared.
    private: HashMap<&'s str, (String, usize)>,
    /// Every other name the function declares.
    other: HashSet<&'s str>,
}

impl<'s> Roots<'s> {
    fn of(decl: Node, body: Node, src: &'s str, imports: &Imports) -> Roots<'s> {
        let mut roots = Roots {
            typed: HashMap::default(),
            private: HashMap::default(),
            other: HashSet::default(),
        };
        let named = |ty: Ty| match ty.deref() {
            Ty::Named { pkg, name } if pkg.is_empty() => Some(name.clone()),
            _ => None,
        };
        for field in ["receiver", "parameters"] {
            let Some(list) = decl.field(field) else {
                continue;
            };
            for param in named_children(list) {
                let ty = param
                    .field("type")
                    .and_then(|t| named(Ty::from_node(t, src, imports)));
                for name in names_of(param) {
                    let name = text(name, src);
                    match &ty {
                        Some(t) => {
                            roots.typed.insert(name, t.clone());
                        }
                        None => {
                            roots.other.insert(name);
                        }
                    }
                }
            }
        }
        let mut twice: HashSet<&str> = HashSet::default();
        let mut declare = |roots: &mut Roots<'s>,
                           name: Node,
                           private: Option<String>,
                           pointer: Option<String>| {
            let name_text = text(name, src);
            if roots.private.contains_key(name_text)
                || roots.other.contains(name_text)
                || roots.typed.contains_key(name_text)
            {
                twice.insert(name_text);
            }
            match (private, pointer) {
                (Some(t), _) => {
                    roots.private.insert(name_text, (t, name.start_byte()));
                }
                (None, Some(t)) => {
                    roots.typed.insert(name_text, t);
                }
                (None, None) => {
                    roots.other.insert(name_text);
                }
            }
        };
        walk(body, |n| {
            match n.kind_str() {
                "var_spec" => {
                    let made = match (n.field("value"), n.field("type")) {
                        (None, Some(t)) if t.kind_str() == "type_identifier" => {
                            named(Ty::from_node(t, src, imports))
                        }
                        _ => None,
                    };
                    for name in names_of(n) {
                        declare(&mut roots, name, made.clone(), None);
                    }
                }
                "short_var_declaration" => {
                    let (Some(left), Some(right)) = (n.field("left"), n.field("right")) else {
                        return true;
                    };
                    let names: Vec<Node> = named_children(left).collect();
                    let values: Vec<Node> = named_children(right).collect();
                    for (i, name) in names.iter().enumerate() {
                        let value = (values.len() == names.len()).then(|| unparen(values[i]));
                        let literal_type = |v: Node| {
                            (v.kind_str() == "composite_literal")
                                .then(|| v.field("type"))
                                .flatten()
                                .and_then(|t| named(Ty::from_node(t, src, imports)))
                        };
                        let literal = value.and_then(literal_type);
                        // `x := &T{…}`: a pointer, handed around like a receiver.
                        let pointer = value
                            .filter(|v| {
                                v.kind_str() == "unary_expression"
                                    && v.child(0).is_some_and(|o| o.kind_str() == "&")
                            })
                            .and_then(|v| v.field("operand"))
                            .map(unparen)
                            .and_then(literal_type);
                        declare(&mut roots, *name, literal, pointer);
                    }
                }
                "parameter_declaration" | "range_clause" | "receive_statement" => {
                    for name in names_of(n) {
                        declare(&mut roots, name, None, None);
                    }
                    if let Some(left) = n.field("left") {
                        for name in named_children(left).filter(|i| i.kind_str() == "identifier") {
                            declare(&mut roots, name, None, None);
                        }
                    }
                }
                _ => {}
            }
            true
        });
        for name in twice {
            roots.private.remove(name);
            roots.typed.remove(name);
            roots.other.insert(name);
        }
        roots
    }

    /// The call site of `callee` on (or handed) the path `expr`, at `call` in `body`.
    #[allow(clippy::too_many_arguments)]
    fn site(
        &self,
        expr: Node,
        callee: &str,
        method: bool,
        call: Node,
        body: Node,
        src: &str,
        imports: &Imports,
    ) -> Option<CallSite> {
        let path = access_path(expr, src)?;
        let root = text(path_root(expr)?, src);
        if imports.path_of(root).is_some() && !self.other.contains(root) {
            return None;
        }
        let fields: Vec<String> = path.split('.').skip(1).map(str::to_string).collect();
        let root = if let Some((t, declared)) = self.private.get(root) {
            // A value the function made, unless this call hands it on: a method value, a `go`,
            // or a function literal declared outside of it (a goroutine or a kept callback).
            match escapes(call, body, *declared) {
                true => CallRoot::Type(t.clone()),
                false => CallRoot::Private(t.clone()),
            }
        } else if let Some(t) = self.typed.get(root) {
            CallRoot::Type(t.clone())
        } else {
            CallRoot::Name(root.to_string())
        };
        Some(CallSite {
            root,
            fields,
            callee: callee.to_string(),
            method,
        })
    }
}

/// The atomic accesses of every file of a package, resolved against its types.
pub fn resolve<'a>(
    package: &PackageModel,
    accesses: impl IntoIterator<Item = &'a AtomicAccess>,
    calls: impl IntoIterator<Item = &'a CallSite>,
) -> Resolved {
    let mut resolved = Resolved {
        calls: resolve_calls(package, calls),
        ..Resolved::default()
    };
    let mut names: HashSet<String> = HashSet::default();
    for access in accesses {
        let Some(chain) = chain_of(package, access) else {
            continue;
        };
        let Some(key) = chain.last().cloned() else {
            continue;
        };
        // The least access by (function, offset), not the first: the answer must not depend
        // on the order the files were merged in (a server lays one file over the others).
        let later = |known: &AtomicUse| (&access.func, access.offset) < (&known.func, known.offset);
        if resolved.uses.get(&key).is_none_or(later) {
            resolved.uses.insert(
                key.clone(),
                AtomicUse {
                    func: access.func.clone(),
                    offset: access.offset,
                },
            );
        }
        for link in &chain {
            match link.strip_prefix('@') {
                Some(var) => {
                    names.insert(var.to_string());
                }
                None => {
                    if let Some((owner, field)) = link.split_once('.') {
                        names.insert(owner.to_string());
                        names.insert(field.to_string());
                    }
                }
            }
        }
        resolved.places.entry(key).or_default().push(AtomicPlace {
            chain,
            func: access.func.clone(),
            offset: access.offset,
            function: access.function.clone(),
            locks: access.locks.clone(),
            test_entry: access.test_entry,
        });
    }
    for places in resolved.places.values_mut() {
        places.sort_by(|a, b| {
            (&a.function, a.offset, &a.chain).cmp(&(&b.function, b.offset, &b.chain))
        });
    }
    resolved.names = names.into_iter().collect();
    resolved.names.sort_unstable();
    resolved
}

fn resolve_calls<'a>(
    package: &PackageModel,
    calls: impl IntoIterator<Item = &'a CallSite>,
) -> Calls {
    let mut out = Calls::default();
    for call in calls {
        let (start, ty, marker) = match &call.root {
            CallRoot::Type(t) => (Vec::new(), Ty::named("", t), holder::ANY.to_string()),
            CallRoot::Private(t) => (Vec::new(), Ty::named("", t), holder::PRIVATE.to_string()),
            CallRoot::Name(name) => match package.var(name) {
                Some(ty) => (vec![format!("@{name}")], ty.clone(), format!("@{name}")),
                None => {
                    // A name whose type the text does not tell: known by its last field only.
                    if let Some(last) = call.fields.last() {
                        out.loose.insert((last.clone(), call.callee.clone()));
                    }
                    if call.method {
                        out.shared_callees.insert(format!("?.{}", call.callee));
                    }
                    continue;
                }
            },
        };
        let Some(keys) = chain(package, start, ty.clone(), &call.fields) else {
            if let Some(last) = call.fields.last() {
                out.loose.insert((last.clone(), call.callee.clone()));
            }
            continue;
        };
        let holder = keys.last().cloned().unwrap_or(marker);
        let callee = match call.method {
            true => {
                let mut receiver = ty;
                for f in &call.fields {
                    match select(package, &receiver, f) {
                        Some((_, next)) => receiver = next,
                        None => break,
                    }
                }
                match method_owner(package, &receiver, &call.callee) {
                    Some(owner) => format!("{owner}.{}", call.callee),
                    None => format!("?.{}", call.callee),
                }
            }
            false => call.callee.clone(),
        };
        if holder != holder::PRIVATE {
            out.shared_callees.insert(callee.clone());
        }
        out.resolved.insert((holder, callee));
    }
    out
}

/// The type of the package that declares the method `name` called on a value of type `ty`: the
/// type itself, or an embedded type Go promotes it from (breadth first). When none does (the
/// method is declared in a file not merged yet), the type itself.
fn method_owner(package: &PackageModel, ty: &Ty, name: &str) -> Option<String> {
    let own = match ty.deref() {
        Ty::Named { pkg, name } if pkg.is_empty() => name.clone(),
        _ => return None,
    };
    let mut level = vec![ty.clone()];
    for _depth in 0..4 {
        let mut next = Vec::new();
        for t in &level {
            if let Ty::Named { pkg, name: owner } = t.deref() {
                if pkg.is_empty() && package.method(owner, name).is_some() {
                    return Some(owner.clone());
                }
            }
            if let Some(fields) = package.fields_of(t) {
                next.extend(fields.iter().filter(|f| f.embedded).map(|f| f.ty.clone()));
            }
        }
        if next.is_empty() {
            break;
        }
        level = next;
    }
    Some(own)
}

fn chain_of(package: &PackageModel, access: &AtomicAccess) -> Option<Vec<String>> {
    match &access.root {
        AtomicRoot::Type(t) => chain(package, Vec::new(), Ty::named("", t), &access.fields),
        AtomicRoot::Var(v) => {
            let ty = package.var(v)?.clone();
            chain(package, vec![format!("@{v}")], ty, &access.fields)
        }
    }
}

/// The place `fields` select from a value of type `ty`, after the keys of `start`: one key per
/// selection, through embedded fields as Go promotes them (None when a type is unknown).
pub fn chain(
    package: &PackageModel,
    start: Vec<String>,
    mut ty: Ty,
    fields: &[String],
) -> Option<Vec<String>> {
    let mut keys = start;
    for field in fields {
        let (hops, next) = select(package, &ty, field)?;
        keys.extend(hops);
        ty = next;
    }
    Some(keys)
}

/// The keys of selecting `name` on a value of type `ty` (`[Conn.stats, stats.n]` for `c.n` when
/// `Conn` embeds `stats`) and the field's type: breadth first through embedded fields, as Go
/// promotes them.
pub fn select(package: &PackageModel, ty: &Ty, name: &str) -> Option<(Vec<String>, Ty)> {
    // Each candidate: its type and the keys that led to it.
    let mut level: Vec<(Ty, Vec<String>)> = vec![(ty.clone(), Vec::new())];
    for _depth in 0..4 {
        let mut next = Vec::new();
        for (t, keys) in &level {
            let Some(fields) = package.fields_of(t) else {
                continue;
            };
            let Ty::Named { pkg, name: owner } = t.deref() else {
                continue;
            };
            if !pkg.is_empty() {
                continue;
            }
            if let Some(f) = package.find_field(owner, fields, name) {
                let mut keys = keys.clone();
                keys.push(format!("{owner}.{name}"));
                return Some((keys, f.ty.clone()));
            }
            for f in fields.iter().filter(|f| f.embedded) {
                let mut keys = keys.clone();
                keys.push(format!("{owner}.{}", f.name));
                next.push((f.ty.clone(), keys));
            }
        }
        if next.is_empty() {
            break;
        }
        level = next;
    }
    None
}

/// `Owner.field` for field `name` of a value of type `ty`: the struct type that declares it,
/// looking through pointers and embedded fields as Go promotes them.
pub fn owner_key(package: &PackageModel, ty: &Ty, name: &str) -> Option<String> {
    select(package, ty, name).and_then(|(keys, _)| keys.last().cloned())
}

/// Can a plain access to the place `chain`, made in function `function` (`Type.method` or
/// `name`), touch the memory the atomic access `atomic` names (both ending at the same key)?
///
/// Equal chains can. When one is a suffix of the other, the shorter starts at a pointer of some
/// type (a receiver or parameter): it is the longer one's place if that pointer can point into
/// the longer one's owner: when some code calls that method on that owner's field (or hands
/// the field's address to that function), or when the owner is a package variable.
/// `snapshot.EncodeMsg()` on a copy is not the live `cache.site` updated atomically, and
/// `total.add(x)` on a local sum is not it either.
pub fn may_alias(
    package: &PackageModel,
    chain: &[String],
    function: &str,
    atomic: &AtomicPlace,
) -> bool {
    if chain == atomic.chain.as_slice() {
        // Two pointers of the same type meet, unless the atomic one only ever runs on values
        // its callers made for themselves (`var sum T; sum.add(x)`).
        return chain.first().is_some_and(|k| k.starts_with('@'))
            || !package.only_called_on_private_values(&atomic.function);
    }
    let (shorter, longer, plain_is_shorter) = if chain.len() < atomic.chain.len() {
        (chain, atomic.chain.as_slice(), true)
    } else {
        (atomic.chain.as_slice(), chain, false)
    };
    if shorter.is_empty() || shorter.first().is_some_and(|k| k.starts_with('@')) {
        return false;
    }
    let cut = longer.len() - shorter.len();
    if &longer[cut..] != shorter {
        return false;
    }
    let holder = &longer[cut - 1];
    if holder.starts_with('@') {
        return true;
    }
    // The function whose pointer reaches the value only through its receiver or parameters.
    let shorter_function = match plain_is_shorter {
        true => function,
        false => atomic.function.as_str(),
    };
    package.field_called(holder, shorter_function)
}
