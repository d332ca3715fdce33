//! Per-function summaries that package-wide rules read: which mutexes a function or method takes
//! (and under which condition on its parameters), which locks it expects its caller to hold and
//! which of those it releases for good, whether it blocks, whether it returns at all, and which
//! functions of the package it calls with which locks held.
//!
//! Collected from syntax alone while a file's declarations are read ([`super::FileDecls`]), so a
//! server can keep them per file and refresh one file's summaries when it changes. Mutex-ness of
//! what a summary names is checked by the reader against the package's types. What a function
//! does through the calls it makes is composed once per package ([`LockClosure`]).

use crate::HashMap;
use goconc_syntax::NodeExt;
use std::collections::{BTreeMap, BTreeSet};

use tree_sitter::Node;

use super::blocking::{blocking_call_kind, BlockKind};
use super::imports::Imports;
use super::types::Ty;
use goconc_syntax::{
    access_path, call_args, comment_may_end_above, doc_comment, method_call, named_children,
    path_root, statement_call, text, unparen, walk, walk_body, walk_calls,
};

/// Where a function takes a lock: a path below its receiver (`mu` for `s.mu.Lock()`, "" for a
/// promoted `s.Lock()`), or a package-level variable path (`registryMu`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Acquire {
    pub from_receiver: bool,
    pub path: String,
    pub read: bool,
    /// Byte offset of the call in its file, for related locations.
    pub offset: usize,
    /// Taken only when a `bool` parameter (by index) has this value: `if !locked { mu.Lock() }`
    /// is `Some((i, false))`.
    pub only_if: Option<(usize, bool)>,
}

/// The root a lock path starts from, as a summary can name it without types.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LockRoot {
    /// The method's receiver.
    Receiver,
    /// A parameter, by index (the receiver not counted).
    Param(usize),
    /// A package-level variable: the path starts with its name.
    Global,
    /// A value of this package type whose identity is unknown (a parameter of another
    /// function): only good for naming the lock by type, as lock order does.
    Typed(String),
}

/// A lock named from its root: `Receiver` + `mu`, `Param(0)` + "", `Global` + `registryMu`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LockPath {
    pub root: LockRoot,
    pub path: String,
}

impl LockPath {
    pub fn from_acquire(a: &Acquire) -> LockPath {
        LockPath {
            root: if a.from_receiver {
                LockRoot::Receiver
            } else {
                LockRoot::Global
            },
            path: a.path.clone(),
        }
    }
}

/// What a call names, without types: how to find the function it reaches in the package.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CallTarget {
    /// `flush(…)`: a package-level function (if the package declares one by that name).
    Function,
    /// `s.flush()` (""), `s.store.put()` ("store"): a method reached from the receiver.
    Receiver(String),
    /// `n.ID()` on a parameter declared with a type of this package: the type, and the path
    /// below the parameter.
    Typed(String, String),
    /// `registry.add()`: a method of a package-level variable (its path).
    Global(String),
    /// `n.ID()` on a local declared once as `n := ep.getNetwork()` (or `n, err := …`): the
    /// value the inner call returns first (its target and name), and the path below it.
    Result(Box<CallTarget>, String, String),
    /// `store.Open(…)`: a function of another package outside the standard library (its import
    /// path), which may be a package of the same module ([`super::module`]).
    Package(String),
}

/// One argument of a call, as far as lock conditions need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arg {
    /// `true` or `false`.
    Bool(bool),
    /// The caller's own parameter (by index), passed on: `setErr(err, locked)`.
    Param(usize),
    Other,
}

/// A call to what may be a function or method of the same package.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Call {
    pub target: CallTarget,
    pub name: String,
    /// Byte offset of the call in its file.
    pub offset: usize,
    pub args: Vec<Arg>,
    /// The locks this body holds at the call (taken earlier in the call's block or one around
    /// it, with no release of them in between).
    pub held: Vec<Acquire>,
}

/// A call through which a lock the function received may be released: its callee must release
/// the same lock on every path (`w.tailFiles(…)`, documented "RUnlock is called before
/// returning"; `inlineE(mu)`, which passes the parameter on).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Via {
    pub target: CallTarget,
    pub name: String,
    /// For a lock of a parameter: which parameter of the callee receives it.
    pub param: Option<usize>,
}

/// A blocking operation a body performs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Blocking {
    /// Described for messages (`time.Sleep`).
    pub what: String,
    pub kind: BlockKind,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FuncSummary {
    /// Locks taken directly in the body (not in function literals or `go` statements).
    pub acquires: Vec<Acquire>,
    /// Named `…Locked` or documented as needing the caller to hold a lock.
    pub expects_held: bool,
    /// The first blocking operation in the body made while none of the caller's locks it
    /// received is let go.
    pub blocks: Option<Blocking>,
    /// The first blocking operation made while the body has let go a lock its caller holds
    /// (`mu.Unlock(); slowIO(); mu.Lock()`): the caller's lock is not held across it.
    pub blocks_released: Option<Blocking>,
    /// Pairs (held, then taken): the second lock is taken while the first is held, in the same
    /// block or one nested in it, with no unlock of the first in between.
    pub orders: Vec<(Acquire, Acquire)>,
    /// The body loads a value atomically (`atomic.LoadUint32(&t.state)`, `t.state.Load()`): a
    /// condition that calls it reads published state (double-checked locking).
    pub loads_atomically: bool,
    /// Locks whose first event in the body is a release: the function runs with its caller's
    /// lock held (and may let it go around slow work and take it back).
    pub entered_held: Vec<LockPath>,
    /// Of those, the ones released on every path that returns, directly or when, for each
    /// list, one of its calls releases it too: the function takes its caller's lock over.
    pub releases: Vec<(LockPath, Vec<Vec<Via>>)>,
    /// Same-package calls (perhaps: the reader resolves them), for facts composed over calls.
    pub calls: Vec<Call>,
    /// Every path ends in `panic`, `os.Exit`, `log.Fatal…`, `runtime.Goexit` or `t.Fatal…`.
    pub never_returns: bool,
    /// `x.Done()` statements (deferred or not) on a path below the receiver or a package
    /// variable: the WaitGroups the function counts down (`ctx.Done()` is never a statement).
    pub dones: Vec<LockPath>,
    /// Every `return` hands back a value the function has just made and shown nobody else
    /// (`return &T{…}`; `t := &T{…}; t.f = x; return t`): a constructor's result is unpublished
    /// in its caller until the caller shares it.
    pub returns_fresh: bool,
    /// Locks the function write-locks where [`Self::acquires`] does not look: in its function
    /// literals and `go`/`defer` statements, and on values whose package type the syntax shows
    /// (a parameter `c *client`, a local `c := &client{…}`, named by [`LockRoot::Typed`]). They
    /// answer one question only, whether the package ever takes a lock for writing (a second
    /// `RLock` deadlocks only when a writer exists): they compose over no call.
    pub write_locks_aside: Vec<LockPath>,
    /// For a method whose last result is an `error`: the receiver's fields `f` such that every
    /// `return` of a non-nil error sits in a `case <-r.f:` arm of a `select` (empty when some
    /// error comes from elsewhere, or from a bare `return`). When the package only ever closes
    /// those fields, the method fails only when its value is stopped (`case <-f.quit: return
    /// errTerminated`), and a caller that drops that error loses nothing.
    pub errors_only_on_receive: Vec<String>,
    /// Locks the function takes and leaves held for its caller: a function with no result
    /// whose top-level statements take the lock (of its receiver or a package variable) before
    /// any `return`, and whose body (deferred calls and function literals included) never
    /// releases it nor locks it again (`func (s *State) lock() { s.l.Lock() }`). A caller holds the lock after
    /// the call as if it had called `Lock` itself.
    pub keeps: Vec<Acquire>,
    /// A method with a pointer receiver that changes what its receiver holds in its own body
    /// (function literals included): assigns or increments one of its fields or an element of
    /// one (`c.hosts[h] = x`, `c.n++`, `*c = …`), or deletes from or clears one
    /// (`delete(c.m, k)`). Calling it on a field (`s.config.load(…)`) changes the field's
    /// contents as writing them would.
    pub writes_receiver: bool,
    /// The method checks and sets a state field of its receiver in one critical section of
    /// the receiver's lock (`if s.running { return … }; s.running = true`): see
    /// [`crate::transition`].
    pub start: Option<crate::transition::StartTransition>,
}

impl FuncSummary {
    /// Moves every byte offset the summary holds by `by` (an incremental analysis keeps
    /// summaries relative to their function and moves them back).
    pub fn shift_offsets(&mut self, shift: impl Fn(usize) -> usize) {
        let shift_acquire = |a: &mut Acquire| a.offset = shift(a.offset);
        self.acquires.iter_mut().for_each(shift_acquire);
        for (first, second) in &mut self.orders {
            shift_acquire(first);
            shift_acquire(second);
        }
        for call in &mut self.calls {
            call.offset = shift(call.offset);
            call.held.iter_mut().for_each(shift_acquire);
        }
        self.keeps.iter_mut().for_each(shift_acquire);
        if let Some(start) = &mut self.start {
            start.shift_offsets(&shift);
        }
    }

    /// Hashes what other functions may learn from the summary, offsets left out.
    pub fn hash_without_offsets(&self, key: &mut impl std::hash::Hasher) {
        use std::hash::Hash;
        let mut copy = self.clone();
        copy.shift_offsets(|_| 0);
        copy.hash(key);
    }
}

/// The summary key of a method (`Service.flush`) or function (`flush`).
pub fn summary_key(receiver_type: Option<&str>, name: &str) -> String {
    match receiver_type {
        Some(t) => format!("{t}.{name}"),
        None => name.to_string(),
    }
}

/// Builtins and conversions that are never calls of a package function.
pub(crate) const BUILTINS: &[&str] = &[
    "append", "cap", "clear", "close", "complex", "copy", "delete", "imag", "len", "make", "max",
    "min", "new", "panic", "print", "println", "real", "recover", "string", "int", "int8", "int16",
    "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "uintptr", "byte", "rune",
    "float32", "float64", "bool", "error", "any",
];

/// Summaries of some of a file's top-level declarations (an incremental analysis asks for the
/// ones that changed).
pub fn collect_in<'a, 's>(
    items: &[Node],
    src: &'s str,
    imports: &'a Imports,
    names: &NamesByFunction<'a, 's>,
) -> HashMap<String, FuncSummary> {
    let mut out = HashMap::default();
    // `time.`, `os.`, … : the local names of packages with blocking functions this file imports.
    // `time.Sleep(`, `os.ReadFile(`, … as this file spells them: a body without any of them
    // cannot call a blocking package function.
    let blocking_needles: Vec<String> = super::blocking::blocking_functions()
        .filter_map(|(path, name)| {
            imports
                .local_names_of(path)
                .map(|local| format!("{local}.{name}("))
        })
        .collect();
    // `atomic.Load` as this file spells it: a body without it nor `.Load()` loads nothing.
    let atomic_load = imports
        .local_names_of("sync/atomic")
        .map(|name| format!("{name}.Load"));
    for (i, decl, name, body) in crate::scope::named_bodies(items) {
        let (receiver_name, receiver_type) = receiver_of(decl, src);
        let body_text = text(body, src);
        let may_lock = body_text.contains("ock(");
        let may_block = blocking_needles
            .iter()
            .any(|p| body_text.contains(p.as_str()));
        let name_text = text(name, src);
        // The doc comment lies between the previous declaration and this one: read that text
        // before asking tree-sitter for the comment (`prev_sibling` is linear in the file's
        // declarations).
        let gap = i.checked_sub(1).map_or(0, |p| items[p].end_offset())..decl.start_byte();
        let doc_may_matter = comment_may_end_above(decl, src)
            && src
                .get(gap)
                .is_some_and(|gap| may_say_caller_holds(&gap.to_ascii_lowercase()));
        let loads_atomically = (body_text.contains(".Load()")
            || atomic_load
                .as_ref()
                .is_some_and(|l| body_text.contains(l.as_str())))
            && loads_atomically(body, src, imports);
        let doc = match doc_may_matter {
            true => doc_comment(decl, src),
            false => String::new(),
        };
        let mut summary = summarize(
            decl,
            body,
            src,
            imports,
            receiver_name,
            may_lock,
            may_block,
            &doc,
            names,
        );
        summary.loads_atomically = loads_atomically;
        summary.writes_receiver = receiver_name
            .is_some_and(|receiver| pointer_receiver(decl) && writes_receiver(body, src, receiver));
        if may_lock {
            summary.start = receiver_name
                .and_then(|receiver| crate::transition::start_transition(body, src, receiver));
        }
        if body_text.contains("select") {
            summary.errors_only_on_receive = errors_only_on_receive(decl, body, src, receiver_name);
        }
        if summary != FuncSummary::default() {
            out.insert(summary_key(receiver_type, name_text), summary);
        }
    }
    out
}

/// The package function or method each call of `calls` (call expressions in `decl`'s body) may
/// reach, named as [`FuncSummary::calls`] names them: for facts of other families that compose
/// over calls (the summary's own call list leaves out deferred calls and function literals).
pub fn call_targets<'a, 's>(
    decl: Node,
    body: Node,
    src: &'s str,
    imports: &'a Imports,
    calls: &[Node],
    names: &NamesByFunction<'a, 's>,
) -> Vec<Option<(CallTarget, String)>> {
    let (receiver, _) = receiver_of(decl, src);
    let names = names.of(decl, body, src, imports, receiver);
    calls
        .iter()
        .map(|&call| {
            names
                .call_target(call)
                .map(|(target, name)| (target, name.to_string()))
        })
        .collect()
}

/// See [`FuncSummary::errors_only_on_receive`].
fn errors_only_on_receive(
    decl: Node,
    body: Node,
    src: &str,
    receiver: Option<&str>,
) -> Vec<String> {
    let Some(receiver) = receiver else {
        return Vec::new();
    };
    let returns_error = decl
        .field("result")
        .is_some_and(|result| match result.kind_str() {
            // Named results may be returned by a bare `return`: not this shape.
            "parameter_list" => {
                let last = named_children(result).last();
                last.is_some_and(|p| {
                    p.field("name").is_none()
                        && p.field("type").is_some_and(|t| text(t, src) == "error")
                })
            }
            _ => text(result, src) == "error",
        });
    if !returns_error {
        return Vec::new();
    }
    let mut fields: Vec<String> = Vec::new();
    let mut elsewhere = false;
    goconc_syntax::walk_body_with_ancestors(body, |node, ancestors| {
        if elsewhere || node.kind_str() != "return_statement" {
            return;
        }
        let last = named_children(node)
            .next()
            .and_then(|list| named_children(list).last());
        let Some(last) = last else {
            elsewhere = true;
            return;
        };
        if text(unparen(last), src) == "nil" {
            return;
        }
        let field = ancestors
            .iter()
            .rev()
            .find(|a| a.kind_str() == "communication_case")
            .and_then(|case| case.field("communication"))
            .and_then(|comm| received_receiver_field(comm, src, receiver));
        match field {
            Some(field) => fields.push(field.to_string()),
            None => elsewhere = true,
        }
    });
    if elsewhere {
        return Vec::new();
    }
    fields.sort();
    fields.dedup();
    fields
}

/// `f` in a `select` case `case <-r.f:` or `case v := <-r.f:`, `r` being the receiver.
fn received_receiver_field<'s>(comm: Node, src: &'s str, receiver: &str) -> Option<&'s str> {
    if comm.kind_str() != "receive_statement" {
        return None;
    }
    let right = unparen(comm.field("right")?);
    if right.kind_str() != "unary_expression"
        || right.field("operator").map(|o| text(o, src)) != Some("<-")
    {
        return None;
    }
    let channel = unparen(right.field("operand")?);
    if channel.kind_str() != "selector_expression" {
        return None;
    }
    let operand = unparen(channel.field("operand")?);
    (operand.kind_str() == "identifier" && text(operand, src) == receiver)
        .then(|| channel.field("field").map(|f| text(f, src)))
        .flatten()
}

/// Whether `within` calls an atomic load: a `sync/atomic` `Load…` function, or a `Load()`
/// method (of an atomic type, or a `sync.Map`).
pub fn loads_atomically(within: Node, src: &str, imports: &Imports) -> bool {
    let mut found = false;
    walk_calls(within, src, |n| {
        found = found || (n.kind_str() == "call_expression" && is_atomic_load(n, src, imports));
        !found
    });
    found
}

/// `atomic.LoadInt64(&x)` (sync/atomic under whatever name the file gives it) or `x.Load()`.
pub fn is_atomic_load(call: Node, src: &str, imports: &Imports) -> bool {
    let atomic_op = super::atomics::atomic_func(call, src, imports)
        .and_then(super::atomics::split_func)
        .map(|(op, _)| op);
    atomic_op == Some("Load")
        || (atomic_op.is_none()
            && method_call(call).is_some_and(|mc| text(mc.method, src) == "Load")
            && goconc_syntax::call_args(call).is_empty())
}

/// The summary key of a top-level function or method declaration, from its syntax alone (no
/// file model: an incremental analysis leaves unchanged functions out of the model).
pub fn declaration_key(decl: Node, src: &str) -> Option<String> {
    let name = text(decl.field("name")?, src);
    Some(summary_key(receiver_of(decl, src).1, name))
}

fn receiver_of<'s>(decl: Node, src: &'s str) -> (Option<&'s str>, Option<&'s str>) {
    let Some(param) = decl
        .field("receiver")
        .and_then(|r| named_children(r).next())
    else {
        return (None, None);
    };
    let name = param.field("name").map(|n| text(n, src));
    (
        name,
        param.field("type").and_then(|t| local_type_name(t, src)),
    )
}

/// Is the method's receiver a pointer (`func (c *T) …`)?
fn pointer_receiver(decl: Node) -> bool {
    decl.field("receiver")
        .and_then(|r| named_children(r).next())
        .and_then(|p| p.field("type"))
        .is_some_and(|t| t.kind_str() == "pointer_type")
}

/// See [`FuncSummary::writes_receiver`].
fn writes_receiver(body: Node, src: &str, receiver: &str) -> bool {
    // The receiver below at least one selector, index or `*`: `c = other` rebinds the local
    // name only.
    let reaches_receiver = |target: Node| {
        let mut node = unparen(target);
        let mut below = false;
        loop {
            match node.kind_str() {
                "identifier" => return below && text(node, src) == receiver,
                "selector_expression" | "index_expression" | "slice_expression" => {
                    let Some(operand) = node.field("operand") else {
                        return false;
                    };
                    node = unparen(operand);
                }
                "unary_expression" => {
                    let Some(operand) = node.field("operand") else {
                        return false;
                    };
                    node = unparen(operand);
                }
                _ => return false,
            }
            below = true;
        }
    };
    let mut writes = false;
    walk(body, |node| {
        if writes {
            return false;
        }
        match node.kind_str() {
            "assignment_statement" => {
                writes = node
                    .field("left")
                    .is_some_and(|left| named_children(left).any(reaches_receiver));
            }
            "inc_statement" | "dec_statement" => {
                writes = named_children(node).next().is_some_and(reaches_receiver);
            }
            "call_expression" => {
                let builtin = node
                    .field("function")
                    .filter(|f| f.kind_str() == "identifier")
                    .is_some_and(|f| matches!(text(f, src), "delete" | "clear"));
                writes = builtin
                    && node
                        .field("arguments")
                        .and_then(|a| named_children(a).next())
                        .is_some_and(reaches_receiver);
            }
            _ => {}
        }
        !writes
    });
    writes
}

/// `T`, `*T`, `T[K]`: the name of a type declared in this package.
fn local_type_name<'s>(ty: Node, src: &'s str) -> Option<&'s str> {
    let mut ty = Some(ty);
    while let Some(t) = ty {
        match t.kind_str() {
            "pointer_type" | "parenthesized_type" => ty = named_children(t).next(),
            "generic_type" => ty = t.field("type"),
            _ => break,
        }
    }
    ty.filter(|t| t.kind_str() == "type_identifier")
        .map(|t| text(t, src))
}

/// The cheap test before [`crate::words::says_caller_holds`]: every phrase it looks for says one
/// of these.
fn may_say_caller_holds(text: &str) -> bool {
    text.contains("hold") || text.contains("held") || text.contains("lock")
}

/// One parameter of the summarized function.
struct Param<'s> {
    name: &'s str,
    bool_typed: bool,
    /// A type of this package (`*network`): method calls on it reach the package.
    local_type: Option<&'s str>,
    /// `*testing.T` & co: `t.Fatal` ends the goroutine.
    testing: bool,
    /// `*sync.Mutex`, `*sync.RWMutex`, `sync.Locker`: a lock the caller may hand over.
    lock_typed: bool,
}

fn params_of<'s>(decl: Node, src: &'s str, imports: &Imports) -> Vec<Param<'s>> {
    let mut out = Vec::new();
    let Some(list) = decl.field("parameters") else {
        return out;
    };
    for p in named_children(list) {
        if !matches!(
            p.kind_str(),
            "parameter_declaration" | "variadic_parameter_declaration"
        ) {
            continue;
        }
        let ty = p.field("type");
        let bool_typed = ty.is_some_and(|t| text(t, src) == "bool");
        let local_type = ty
            .filter(|_| p.kind_str() == "parameter_declaration")
            .and_then(|t| local_type_name(t, src));
        let param_ty = ty.map(|t| Ty::from_node(t, src, imports));
        let testing = param_ty
            .as_ref()
            .is_some_and(super::sync_calls::is_testing_handle);
        let lock_typed = param_ty.as_ref().is_some_and(|t| {
            t.is_pointer()
                && matches!(
                    t.deref().sync_kind(),
                    Some(super::types::SyncKind::Mutex | super::types::SyncKind::RWMutex)
                )
                || t.is_named("sync", "Locker")
        });
        let names = super::types::names_of(p);
        if names.is_empty() {
            // `func(int, bool)`: the parameter has no name, but it holds an index.
            out.push(Param {
                name: "",
                bool_typed,
                local_type,
                testing,
                lock_typed,
            });
        }
        for n in names {
            out.push(Param {
                name: text(n, src),
                bool_typed,
                local_type,
                testing,
                lock_typed,
            });
        }
    }
    out
}

/// What the body walk knows about names.
struct Names<'a, 's> {
    src: &'s str,
    imports: &'a Imports,
    receiver: Option<&'s str>,
    params: Vec<Param<'s>>,
    /// Names declared inside the body (and its function literals), with how many times each
    /// is declared.
    locals: crate::HashMap<&'s str, usize>,
    /// Locals declared once, as the only result of a call (`n := ep.getNetwork()`): the call's
    /// target and name.
    results: crate::HashMap<&'s str, (CallTarget, &'s str)>,
}

/// The [`Names`] of each function of a file, kept by where the function starts for the other
/// facts of the same collection that resolve calls (own-goroutine and captured-call facts, after
/// the summaries): each built them again, two walks of every function more (a thirtieth of
/// checking the standard library). A collection that resolves each function's calls once passes
/// a fresh one.
#[derive(Default)]
pub struct NamesByFunction<'a, 's> {
    built: std::cell::RefCell<HashMap<(usize, usize), std::rc::Rc<Names<'a, 's>>>>,
}

impl<'a, 's> NamesByFunction<'a, 's> {
    fn of(
        &self,
        decl: Node,
        body: Node,
        src: &'s str,
        imports: &'a Imports,
        receiver: Option<&'s str>,
    ) -> std::rc::Rc<Names<'a, 's>> {
        let key = (decl.start_byte(), body.start_byte());
        if let Some(names) = self.built.borrow().get(&key) {
            return names.clone();
        }
        let names = std::rc::Rc::new(Names::of(decl, body, src, imports, receiver));
        self.built.borrow_mut().insert(key, names.clone());
        names
    }
}

impl<'a, 's> Names<'a, 's> {
    /// The names `decl`'s calls are resolved against: its receiver, parameters, locals and the
    /// locals holding a call's only result.
    fn of(
        decl: Node,
        body: Node,
        src: &'s str,
        imports: &'a Imports,
        receiver: Option<&'s str>,
    ) -> Self {
        let mut names = Names {
            src,
            imports,
            receiver,
            params: params_of(decl, src, imports),
            locals: declared_names(decl, src, false).into_iter().fold(
                crate::HashMap::default(),
                |mut counts, name| {
                    *counts.entry(name).or_default() += 1;
                    counts
                },
            ),
            results: crate::HashMap::default(),
        };
        names.results = call_results(body, &names);
        names
    }
}

impl<'s> Names<'_, 's> {
    fn param(&self, name: &str) -> Option<usize> {
        if name.is_empty() || self.locals.contains_key(name) {
            return None;
        }
        self.params.iter().position(|p| p.name == name)
    }

    fn is_import(&self, name: &str) -> bool {
        self.imports.path_of(name).is_some()
            && Some(name) != self.receiver
            && self.param(name).is_none()
            && !self.locals.contains_key(name)
    }

    /// The lock an expression names: below the receiver, a parameter or a package variable.
    fn lock_path(&self, expr: Node) -> Option<LockPath> {
        let path = access_path(expr, self.src)?;
        let root = text(path_root(expr)?, self.src);
        let rest = path
            .strip_prefix(root)
            .unwrap_or("")
            .trim_start_matches('.')
            .to_string();
        if Some(root) == self.receiver {
            return Some(LockPath {
                root: LockRoot::Receiver,
                path: rest,
            });
        }
        if self.locals.contains_key(root) || self.is_import(root) {
            return None;
        }
        if let Some(i) = self.param(root) {
            return Some(LockPath {
                root: LockRoot::Param(i),
                path: rest,
            });
        }
        Some(LockPath {
            root: LockRoot::Global,
            path,
        })
    }

    /// The package function or method a call may reach.
    fn call_target(&self, call: Node) -> Option<(CallTarget, &'s str)> {
        let function = unparen(call.field("function")?);
        match function.kind_str() {
            "identifier" => {
                let name = text(function, self.src);
                let shadowed = self.locals.contains_key(name)
                    || self.param(name).is_some()
                    || Some(name) == self.receiver
                    || BUILTINS.contains(&name);
                (!shadowed).then_some((CallTarget::Function, name))
            }
            "selector_expression" => {
                let operand = function.field("operand")?;
                let name = text(function.field("field")?, self.src);
                let path = access_path(operand, self.src)?;
                let root = text(path_root(operand)?, self.src);
                let rest = path
                    .strip_prefix(root)
                    .unwrap_or("")
                    .trim_start_matches('.')
                    .to_string();
                if Some(root) == self.receiver {
                    return Some((CallTarget::Receiver(rest), name));
                }
                if let Some((target, inner)) = self.results.get(root) {
                    let target = Box::new(target.clone());
                    return Some((CallTarget::Result(target, inner.to_string(), rest), name));
                }
                if self.locals.contains_key(root) {
                    return None;
                }
                if self.is_import(root) {
                    let path = self.imports.path_of(root)?;
                    // The standard library's functions are known by table (`blocking.rs`),
                    // not by summary.
                    let outside_std = !crate::imports::is_standard_library(path);
                    return (rest.is_empty() && outside_std)
                        .then(|| (CallTarget::Package(path.to_string()), name));
                }
                if let Some(i) = self.param(root) {
                    let ty = self.params[i].local_type?;
                    return Some((CallTarget::Typed(ty.to_string(), rest), name));
                }
                Some((CallTarget::Global(path), name))
            }
            _ => None,
        }
    }

    fn args(&self, call: Node) -> Vec<Arg> {
        call_args(call)
            .into_iter()
            .map(|a| {
                let a = unparen(a);
                match (a.kind_str(), text(a, self.src)) {
                    ("true", _) => Arg::Bool(true),
                    ("false", _) => Arg::Bool(false),
                    ("identifier", name) => self.param(name).map_or(Arg::Other, Arg::Param),
                    _ => Arg::Other,
                }
            })
            .collect()
    }

    /// A call after which control does not come back, as far as the syntax shows.
    fn is_no_return(&self, call: Node) -> bool {
        let Some(function) = call.field("function").map(unparen) else {
            return false;
        };
        match function.kind_str() {
            "identifier" => {
                text(function, self.src) == "panic" && !self.locals.contains_key("panic")
            }
            "selector_expression" => {
                let (Some(operand), Some(field)) =
                    (function.field("operand"), function.field("field"))
                else {
                    return false;
                };
                if operand.kind_str() != "identifier" {
                    return false;
                }
                let (root, name) = (text(operand, self.src), text(field, self.src));
                if let Some(i) = self.param(root) {
                    return self.params[i].testing
                        && super::flow::TEST_GOEXIT_METHODS.contains(&name);
                }
                if !self.is_import(root) {
                    return false;
                }
                match self.imports.path_of(root) {
                    Some("os") => name == "Exit",
                    Some("log") => name.starts_with("Fatal") || name.starts_with("Panic"),
                    Some("runtime") => name == "Goexit",
                    _ => false,
                }
            }
            _ => false,
        }
    }
}

/// A lock call the syntax shows: `x.Lock()`, `x.RUnlock()` with no arguments.
fn lock_method<'t>(node: Node<'t>, src: &str) -> Option<(Node<'t>, bool, bool)> {
    let call = method_call(node)?;
    if !call_args(node).is_empty() {
        return None;
    }
    let (acquiring, read) = match text(call.method, src) {
        "Lock" => (true, false),
        "RLock" => (true, true),
        "Unlock" => (false, false),
        "RUnlock" => (false, true),
        _ => return None,
    };
    Some((call.receiver, acquiring, read))
}

enum Event<'t> {
    Lock {
        node: Node<'t>,
        /// The block (or case clause) whose statements hold the call.
        block: Option<Node<'t>>,
        lock: LockPath,
        acquire: Acquire,
        acquiring: bool,
    },
    Call {
        node: Node<'t>,
        call: Call,
    },
    Block {
        blocking: Blocking,
    },
}

#[allow(clippy::too_many_arguments)]
fn summarize<'a, 's>(
    decl: Node,
    body: Node,
    src: &'s str,
    imports: &'a Imports,
    receiver: Option<&'s str>,
    may_lock: bool,
    may_block: bool,
    doc: &str,
    names: &NamesByFunction<'a, 's>,
) -> FuncSummary {
    let name = decl.field("name").map_or("", |n| text(n, src));
    let expects_held =
        crate::words::LOCKED.ends_identifier(name) || crate::words::says_caller_holds(doc);
    let mut summary = FuncSummary {
        expects_held,
        ..FuncSummary::default()
    };
    let names = names.of(decl, body, src, imports, receiver);
    let has_bool_param = names.params.iter().any(|p| p.bool_typed);
    // Lock, unlock, blocking and call events in source order.
    let mut events: Vec<Event> = Vec::new();
    let mut dones: Vec<LockPath> = Vec::new();
    let mut done_of = |stmt: Node| {
        let Some(call) = statement_call(stmt).and_then(method_call) else {
            return;
        };
        if text(call.method, src) == "Done" && call_args(call.call).is_empty() {
            if let Some(path) = names.lock_path(call.receiver) {
                if !matches!(path.root, LockRoot::Param(_)) && !dones.contains(&path) {
                    dones.push(path);
                }
            }
        }
    };
    // The blocks around the node being visited, innermost last (tree-sitter's `parent()`
    // searches from the root: too slow for a block of thousands of statements).
    let mut blocks: Vec<Node> = Vec::new();
    walk_calls(body, src, |node| {
        while blocks
            .last()
            .is_some_and(|b| b.end_offset() <= node.start_byte())
        {
            blocks.pop();
        }
        if matches!(
            node.kind_str(),
            "block"
                | "statement_list"
                | "expression_case"
                | "default_case"
                | "type_case"
                | "communication_case"
        ) {
            blocks.push(node);
        }
        match node.kind_str() {
            "defer_statement" | "expression_statement" if text(node, src).ends_with("Done()") => {
                done_of(node);
                if node.kind_str() == "defer_statement" {
                    return false;
                }
            }
            "func_literal" | "go_statement" | "defer_statement" => return false,
            "call_expression" => {
                if let Some((receiver_expr, acquiring, read)) = lock_method(node, src) {
                    if let Some(lock) = names.lock_path(receiver_expr) {
                        let acquire = Acquire {
                            from_receiver: lock.root == LockRoot::Receiver,
                            path: lock.path.clone(),
                            read,
                            offset: node.start_byte(),
                            only_if: (acquiring && has_bool_param)
                                .then(|| param_condition(node, body, &names))
                                .flatten(),
                        };
                        events.push(Event::Lock {
                            node,
                            block: blocks.last().copied(),
                            lock,
                            acquire,
                            acquiring,
                        });
                    }
                    return true;
                }
                if may_block {
                    if let Some((what, kind)) = blocking_call_kind(node, src, imports) {
                        events.push(Event::Block {
                            blocking: Blocking { what, kind },
                        });
                    }
                }
                if let Some((target, callee)) = names.call_target(node) {
                    events.push(Event::Call {
                        node,
                        call: Call {
                            target,
                            name: callee.to_string(),
                            offset: node.start_byte(),
                            args: names.args(node),
                            held: Vec::new(),
                        },
                    });
                }
            }
            _ => {}
        }
        true
    });
    summary.dones = dones;
    if may_lock {
        summary.write_locks_aside = write_locks_aside(body, src, &names);
    }
    if !may_lock && !may_block && events.is_empty() {
        summary.never_returns = never_returns(body, src, &names);
        summary.returns_fresh = returns_fresh(body, src);
        return summary;
    }
    // The locks whose first event is a release: the caller holds them.
    let mut seen: BTreeSet<&LockPath> = BTreeSet::new();
    let mut let_go: BTreeSet<&LockPath> = BTreeSet::new();
    for event in &events {
        match event {
            Event::Lock {
                lock,
                acquire,
                acquiring,
                ..
            } => {
                let first = seen.insert(lock);
                if first && !acquiring {
                    summary.entered_held.push(lock.clone());
                }
                let entered = summary.entered_held.contains(lock);
                if *acquiring {
                    // `mu.Unlock(); mu.Lock()`: taking back a lock the caller holds is no new
                    // acquisition.
                    // Locks of parameters are no instance a caller can name: they serve the
                    // hand-off facts (`entered_held`, `releases`) only.
                    if !entered && !matches!(lock.root, LockRoot::Param(_)) {
                        summary.acquires.push(acquire.clone());
                    }
                    let_go.remove(lock);
                } else if entered {
                    let_go.insert(lock);
                }
            }
            Event::Block { blocking } => {
                let slot = match let_go.is_empty() {
                    true => &mut summary.blocks,
                    false => &mut summary.blocks_released,
                };
                if slot.is_none() {
                    *slot = Some(blocking.clone());
                }
            }
            Event::Call { .. } => {}
        }
    }
    let touched: BTreeSet<LockPath> = seen.into_iter().cloned().collect();
    summary.orders = lock_orders(&events);
    summary.calls = calls_with_held(&mut events);
    // The locks the function may take over: those its caller holds, and locks handed in as
    // parameters that it passes on (`handOver(mu)` calling `unlockIt(mu)`).
    let mut handed = summary.entered_held.clone();
    for (i, p) in names.params.iter().enumerate() {
        let key = LockPath {
            root: LockRoot::Param(i),
            path: String::new(),
        };
        let passed = summary
            .calls
            .iter()
            .any(|c| c.args.contains(&Arg::Param(i)));
        if p.lock_typed && passed && !touched.contains(&key) {
            handed.push(key);
        }
    }
    summary.releases = releases(body, src, &names, &handed);
    if may_lock && decl.field("result").is_none() {
        summary.keeps = kept_locks(body, src, &names, &summary.entered_held);
    }
    summary.never_returns = never_returns(body, src, &names);
    summary.returns_fresh = returns_fresh(body, src);
    summary
}

/// See [`FuncSummary::keeps`]: the locks the top-level statements of `body` take before any
/// `return` (a lock taken in an `if` or a loop is kept on some paths only), that the body uses
/// nowhere else (no release, no second `Lock`, deferred or not), and that the caller did not
/// hold on entry.
fn kept_locks(body: Node, src: &str, names: &Names, entered: &[LockPath]) -> Vec<Acquire> {
    // Each lock once, in the order taken, found by its path (a list searched per lock grew
    // with the square of 8,000 mutexes locked one after another).
    let mut taken: Vec<Acquire> = Vec::new();
    let mut by_lock: crate::HashMap<LockPath, usize> = crate::HashMap::default();
    for stmt in goconc_syntax::statements(body) {
        let mut returns = false;
        walk_body(stmt, |n| returns |= n.kind_str() == "return_statement");
        if returns || stmt.kind_str() == "return_statement" {
            break;
        }
        let Some(call) = statement_call(stmt).filter(|_| stmt.kind_str() == "expression_statement")
        else {
            continue;
        };
        let Some((receiver, true, read)) = lock_method(call, src) else {
            continue;
        };
        let Some(lock) = names.lock_path(receiver) else {
            continue;
        };
        if matches!(lock.root, LockRoot::Receiver | LockRoot::Global)
            && !entered.contains(&lock)
            && !by_lock.contains_key(&lock)
        {
            taken.push(Acquire {
                from_receiver: lock.root == LockRoot::Receiver,
                path: lock.path.clone(),
                read,
                offset: call.start_byte(),
                only_if: None,
            });
            by_lock.insert(lock, taken.len() - 1);
        }
    }
    if taken.is_empty() {
        return Vec::new();
    }
    // Any other use of it, anywhere (a release, a `defer`red `Lock`, a function literal, a
    // branch): not simply kept.
    let mut kept = vec![true; taken.len()];
    walk(body, |n| {
        if n.kind_str() == "call_expression" {
            if let Some((receiver, _, _)) = lock_method(n, src) {
                if let Some(lock) = names.lock_path(receiver) {
                    if let Some(&i) = by_lock.get(&lock) {
                        if taken[i].offset != n.start_byte() {
                            kept[i] = false;
                            by_lock.remove(&lock);
                        }
                    }
                }
            }
        }
        !by_lock.is_empty()
    });
    taken
        .into_iter()
        .zip(kept)
        .filter_map(|(acquire, kept)| kept.then_some(acquire))
        .collect()
}

/// The write locks of `body` that its direct walk leaves out (see
/// [`FuncSummary::write_locks_aside`]): any `Lock()` inside a function literal, `go` or `defer`
/// statement, and anywhere a `Lock()` on a parameter of a package type or on a local declared
/// once as that type's composite literal. One walk; the locals' types are learnt at their
/// declaration, before their uses.
fn write_locks_aside(body: Node, src: &str, names: &Names) -> Vec<LockPath> {
    let mut made: crate::HashMap<&str, &str> = crate::HashMap::default();
    let mut out: Vec<LockPath> = Vec::new();
    // End bytes of the function literals and `go`/`defer` statements around the node.
    let mut nested: Vec<usize> = Vec::new();
    walk(body, |node| {
        while nested.last().is_some_and(|&end| end <= node.start_byte()) {
            nested.pop();
        }
        match node.kind_str() {
            "func_literal" | "go_statement" | "defer_statement" => nested.push(node.end_offset()),
            "short_var_declaration" => {
                if let Some((name, ty)) = made_local(node, src) {
                    if names.locals.get(name) == Some(&1) {
                        made.insert(name, ty);
                    }
                }
            }
            "call_expression" => {
                let Some((receiver, true, false)) = lock_method(node, src) else {
                    return true;
                };
                let lock = match names.lock_path(receiver) {
                    Some(LockPath {
                        root: LockRoot::Param(i),
                        path,
                    }) => names.params[i].local_type.map(|t| LockPath {
                        root: LockRoot::Typed(t.to_string()),
                        path,
                    }),
                    // The direct walk records these outside nested code.
                    Some(lock) => (!nested.is_empty()).then_some(lock),
                    None => typed_local_lock(receiver, src, &made),
                };
                if let Some(lock) = lock.filter(|l| !out.contains(l)) {
                    out.push(lock);
                }
            }
            _ => {}
        }
        true
    });
    out
}

/// `c := &T{…}` / `c := T{…}` with one name and one value: the name and `T`.
fn made_local<'s>(decl: Node, src: &'s str) -> Option<(&'s str, &'s str)> {
    let mut left = named_children(decl.field("left")?);
    let mut right = named_children(decl.field("right")?);
    let (name, value) = (left.next()?, right.next().map(unparen)?);
    if left.next().is_some() || right.next().is_some() || name.kind_str() != "identifier" {
        return None;
    }
    if !is_made_value(value) {
        return None;
    }
    let literal = match value.kind_str() {
        "composite_literal" => value,
        _ => unparen(value.field("operand")?),
    };
    Some((
        text(name, src),
        local_type_name(literal.field("type")?, src)?,
    ))
}

/// `c.mu` for a local `c` [`made_local`] typed: the lock named by that type.
fn typed_local_lock(
    receiver: Node,
    src: &str,
    made: &crate::HashMap<&str, &str>,
) -> Option<LockPath> {
    let path = access_path(receiver, src)?;
    let root = text(path_root(receiver)?, src);
    let ty = made.get(root)?;
    Some(LockPath {
        root: LockRoot::Typed(ty.to_string()),
        path: path
            .strip_prefix(root)
            .unwrap_or("")
            .trim_start_matches('.')
            .to_string(),
    })
}

/// Does every `return` of `body` hand back, as its first result, a value made here that nothing
/// else saw: a composite literal (or its address), or a local declared with one whose only other
/// uses are assignments to its fields?
fn returns_fresh(body: Node, src: &str) -> bool {
    let mut returns = 0;
    let mut fresh = true;
    let mut returned: Vec<&str> = Vec::new();
    walk_body(body, |n| {
        if !fresh || n.kind_str() != "return_statement" {
            return;
        }
        returns += 1;
        let Some(value) = named_children(n)
            .next()
            .and_then(|list| match list.kind_str() {
                "expression_list" => named_children(list).next(),
                _ => Some(list),
            })
            .map(unparen)
        else {
            fresh = false;
            return;
        };
        if is_made_value(value) {
            return;
        }
        match value.kind_str() {
            "identifier" => returned.push(text(value, src)),
            _ => fresh = false,
        }
    });
    if !fresh || returns == 0 {
        return false;
    }
    returned.sort_unstable();
    returned.dedup();
    returned.iter().all(|name| made_and_kept(body, src, name))
}

/// `T{…}` or `&T{…}`.
pub(crate) fn is_made_value(value: Node) -> bool {
    match value.kind_str() {
        "composite_literal" => true,
        "unary_expression" => {
            value.child(0).is_some_and(|o| o.kind_str() == "&")
                && value
                    .field("operand")
                    .is_some_and(|o| unparen(o).kind_str() == "composite_literal")
        }
        _ => false,
    }
}

/// Is the local `name` declared once in `body` as `name := T{…}` / `&T{…}`, and otherwise only
/// returned or written through (`name.f = x`)? Any other use (a method call, an argument, a
/// capture, a copy) may publish it.
fn made_and_kept(body: Node, src: &str, name: &str) -> bool {
    let mut declared = 0;
    let mut kept = true;
    goconc_syntax::walk(body, |n| {
        if !kept {
            return false;
        }
        if n.kind_str() == "short_var_declaration" {
            let names: Vec<Node> = n
                .field("left")
                .map(|l| named_children(l).collect())
                .unwrap_or_default();
            if let Some(i) = names.iter().position(|l| text(*l, src) == name) {
                let values: Vec<Node> = n
                    .field("right")
                    .map(|r| named_children(r).collect())
                    .unwrap_or_default();
                declared += 1;
                kept = names.len() == values.len()
                    && values.get(i).is_some_and(|v| is_made_value(unparen(*v)));
                // What it is declared with cannot name it yet.
                return false;
            }
        }
        if n.kind_str() != "identifier" || text(n, src) != name {
            return true;
        }
        let Some(parent) = n.parent_node() else {
            kept = false;
            return false;
        };
        kept = match parent.kind_str() {
            // `return name`
            "return_statement" => true,
            "expression_list" => parent
                .parent_node()
                .is_some_and(|p| p.kind_str() == "return_statement"),
            // `name.f = x` (a field written, not read or called)
            "selector_expression" => {
                parent.field("operand") == Some(n)
                    && parent
                        .parent_node()
                        .filter(|l| l.kind_str() == "expression_list")
                        .and_then(|l| l.parent_node())
                        .is_some_and(|a| {
                            a.kind_str() == "assignment_statement"
                                && a.field("left")
                                    .is_some_and(|left| goconc_syntax::is_within(n, left))
                        })
            }
            _ => false,
        };
        kept
    });
    kept && declared == 1
}

/// Locals declared exactly once, as `n := x.m(…)` (one name, one call): what the call is.
fn call_results<'s>(
    body: Node,
    names: &Names<'_, 's>,
) -> crate::HashMap<&'s str, (CallTarget, &'s str)> {
    let src = names.src;
    let mut out: crate::HashMap<&'s str, (CallTarget, &'s str)> = Default::default();
    walk_calls(body, src, |n| {
        if n.kind_str() == "func_literal" {
            return false;
        }
        if n.kind_str() == "short_var_declaration" {
            let (Some(left), Some(right)) = (n.field("left"), n.field("right")) else {
                return true;
            };
            let targets: Vec<Node> = named_children(left).collect();
            let values: Vec<Node> = named_children(right).collect();
            // `x := f()`, and `x, err := f()`: the first name holds the first result.
            if let ([target, ..], [value]) = (targets.as_slice(), values.as_slice()) {
                let value = unparen(*value);
                if target.kind_str() == "identifier" && value.kind_str() == "call_expression" {
                    if let Some((call, name)) = names.call_target(value) {
                        out.insert(text(*target, src), (call, name));
                    }
                }
            }
        }
        true
    });
    // A name declared once: the count of its declarations in the function is one.
    out.retain(|name, _| names.locals.get(name) == Some(&1));
    out
}

/// `if !locked { mu.Lock() }` with `locked` a `bool` parameter: the lock is taken only when the
/// parameter is false (`Some((i, false))`); in the `else` of `if locked`, the same.
fn param_condition(call: Node, body: Node, names: &Names) -> Option<(usize, bool)> {
    let mut node = call;
    while let Some(parent) = node.parent_node() {
        if parent == body || goconc_syntax::is_function(parent.kind_str()) {
            return None;
        }
        if parent.kind_str() == "if_statement" {
            let condition = unparen(parent.field("condition")?);
            let (negated, ident) = match condition.kind_str() {
                "unary_expression"
                    if condition
                        .field("operator")
                        .is_some_and(|o| text(o, names.src) == "!") =>
                {
                    (true, unparen(condition.field("operand")?))
                }
                "identifier" => (false, condition),
                _ => return None,
            };
            if ident.kind_str() != "identifier" {
                return None;
            }
            let index = names.param(text(ident, names.src))?;
            if !names.params[index].bool_typed {
                return None;
            }
            let in_then = parent
                .field("consequence")
                .is_some_and(|c| goconc_syntax::is_within(node, c));
            let in_else = parent
                .field("alternative")
                .is_some_and(|c| goconc_syntax::is_within(node, c));
            return match (in_then, in_else) {
                (true, _) => Some((index, !negated)),
                (_, true) => Some((index, negated)),
                _ => None,
            };
        }
        node = parent;
    }
    None
}

/// How many of the locks held when another is taken pair with it (the ones taken last): lock
/// order is about the few locks nested around a call, and a function that holds hundreds at
/// once must not make the pairs quadratic.
const MAX_PAIRED: usize = 8;

/// (held, taken) pairs from lock events in source order. The later lock counts only when its
/// statement sits in the block of the earlier lock's statement (or deeper), so locks taken in two
/// exclusive branches never pair up.
fn lock_orders(events: &[Event]) -> Vec<(Acquire, Acquire)> {
    let mut pairs = Vec::new();
    // The locks taken and not released since, with the block of their statement.
    let mut open: OpenLocks<(Node, &Acquire)> = OpenLocks::default();
    for event in events {
        let Event::Lock {
            node,
            block,
            lock,
            acquire,
            acquiring,
        } = event
        else {
            continue;
        };
        if matches!(lock.root, LockRoot::Param(_)) {
            continue;
        }
        // Taking or releasing a lock ends what its earlier acquisition pairs with.
        open.release(lock);
        if !acquiring {
            continue;
        }
        for (block, held) in open.latest(MAX_PAIRED) {
            if goconc_syntax::is_within(*node, *block) {
                pairs.push(((*held).clone(), acquire.clone()));
            }
        }
        if let Some(block) = block {
            open.take(lock, (*block, acquire));
        }
        // As the lock state, not followed past this many held at once: it pairs only the last
        // few, but 20,000 held together still made 160,000 pairs (56 MB for a 1 MB file).
        if open.len() > crate::locks::MAX_HELD {
            return Vec::new();
        }
    }
    pairs
}

/// The locks taken and not released since, in the order taken, each at most once (taking a
/// lock again first ends its earlier acquisition). Found by path and released in place: a list
/// searched and shifted per release grew with the square of 8,000 mutexes held together.
struct OpenLocks<'e, T> {
    /// `None` where a lock was released since; trimmed when the released outnumber the held.
    slots: Vec<Option<(&'e LockPath, T)>>,
    at: crate::HashMap<&'e LockPath, usize>,
}

impl<T> Default for OpenLocks<'_, T> {
    fn default() -> Self {
        OpenLocks {
            slots: Vec::new(),
            at: crate::HashMap::default(),
        }
    }
}

impl<'e, T> OpenLocks<'e, T> {
    fn len(&self) -> usize {
        self.at.len()
    }

    fn take(&mut self, lock: &'e LockPath, value: T) {
        self.release(lock);
        self.at.insert(lock, self.slots.len());
        self.slots.push(Some((lock, value)));
    }

    fn release(&mut self, lock: &LockPath) {
        let Some(i) = self.at.remove(lock) else {
            return;
        };
        self.slots[i] = None;
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
        if self.slots.len() > 2 * self.at.len() + 16 {
            self.slots.retain(Option::is_some);
            for (i, (lock, _)) in self.slots.iter().flatten().enumerate() {
                self.at.insert(lock, i);
            }
        }
    }

    /// The `n` taken last, the last first.
    fn latest(&self, n: usize) -> impl Iterator<Item = &T> {
        self.slots
            .iter()
            .rev()
            .flatten()
            .take(n)
            .map(|(_, value)| value)
    }
}

/// The calls, each with the locks held at it (by the same block rule as [`lock_orders`]).
fn calls_with_held(events: &mut [Event]) -> Vec<Call> {
    // The acquiring events with their blocks, and where each is released next.
    let mut open: OpenLocks<(Node, Acquire)> = OpenLocks::default();
    let mut held_at: Vec<Vec<Acquire>> = Vec::new();
    for event in events.iter() {
        match event {
            Event::Lock {
                block,
                lock,
                acquire,
                acquiring,
                ..
            } => {
                open.release(lock);
                if *acquiring && !matches!(lock.root, LockRoot::Param(_)) {
                    if let Some(block) = block {
                        open.take(lock, (*block, acquire.clone()));
                    }
                }
                // Not followed past this many held at once, as in the lock state: no call of
                // the function is said to run under any of them.
                if open.len() > crate::locks::MAX_HELD {
                    held_at.clear();
                    break;
                }
            }
            Event::Call { node, .. } => {
                let mut held: Vec<Acquire> = open
                    .latest(MAX_PAIRED)
                    .filter(|(block, _)| goconc_syntax::is_within(*node, *block))
                    .map(|(_, a)| a.clone())
                    .collect();
                // Kept in the file's summaries: a filtered `collect` makes room for four.
                held.shrink_to_fit();
                held_at.push(held);
            }
            Event::Block { .. } => {}
        }
    }
    let mut calls = Vec::with_capacity(held_at.len());
    let mut held_at = held_at.into_iter();
    for event in events.iter_mut() {
        if let Event::Call { call, .. } = event {
            let mut call = call.clone();
            call.held = held_at.next().unwrap_or_default();
            calls.push(call);
        }
    }
    calls
}

/// Does every path of the body end in a call that never returns?
fn never_returns(body: Node, src: &str, names: &Names) -> bool {
    let text = text(body, src);
    let may = [
        "panic(", "Exit(", ".Fatal", "Goexit(", "FailNow(", ".Skip", ".Panic",
    ]
    .iter()
    .any(|n| text.contains(n));
    if !may {
        return false;
    }
    struct Nothing;
    impl<'t> super::flow::FlowAnalysis<'t> for Nothing {
        type State = ();
        fn transfer(&mut self, _: Node<'t>, _: &mut ()) {}
        fn join(&self, _: &(), _: &()) {}
    }
    let no_return = |call: Node| names.is_no_return(call);
    super::flow::run_with(src, &no_return, body, &mut Nothing, ()).is_some_and(|exits| {
        !exits.is_empty()
            && exits
                .iter()
                .all(|e| e.kind == super::flow::ExitKind::NoReturn)
    })
}

/// The locks the caller holds that the body releases on every path that returns.
fn releases(
    body: Node,
    src: &str,
    names: &Names,
    entered: &[LockPath],
) -> Vec<(LockPath, Vec<Vec<Via>>)> {
    if entered.is_empty() {
        return Vec::new();
    }
    let mut analysis = Releases {
        names,
        entered: entered.to_vec(),
    };
    let entry = ReleaseState {
        pending: entered
            .iter()
            .map(|k| (k.clone(), BTreeSet::from([BTreeSet::new()])))
            .collect(),
        deferred: BTreeSet::new(),
    };
    let no_return = |call: Node| names.is_no_return(call);
    let Some(exits) = super::flow::run_with(src, &no_return, body, &mut analysis, entry) else {
        return Vec::new();
    };
    let returning: Vec<_> = exits
        .iter()
        .filter(|e| e.kind != super::flow::ExitKind::NoReturn)
        .collect();
    if returning.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    'keys: for key in entered {
        let mut clauses: BTreeSet<BTreeSet<Via>> = BTreeSet::new();
        for exit in &returning {
            if exit.state.deferred.contains(key) {
                continue;
            }
            for clause in exit.state.pending.get(key).into_iter().flatten() {
                if clause.is_empty() {
                    continue 'keys;
                }
                clauses.insert(clause.clone());
            }
        }
        out.push((
            key.clone(),
            clauses
                .into_iter()
                .map(|c| c.into_iter().collect())
                .collect(),
        ));
    }
    out
}

/// How many ways a path may have released a lock before the analysis stops counting.
const MAX_CLAUSES: usize = 16;

#[derive(Clone, PartialEq, Default)]
struct ReleaseState {
    /// Per lock the caller handed in: for each kind of path still holding it, the calls on that
    /// path that may have released it (an empty set: held for sure). No entry: released.
    pending: BTreeMap<LockPath, BTreeSet<BTreeSet<Via>>>,
    /// Released by a deferred call at every exit.
    deferred: BTreeSet<LockPath>,
}

struct Releases<'a, 'b, 's> {
    names: &'a Names<'b, 's>,
    entered: Vec<LockPath>,
}

impl<'t> super::flow::FlowAnalysis<'t> for Releases<'_, '_, '_> {
    type State = ReleaseState;

    fn transfer(&mut self, stmt: Node<'t>, state: &mut ReleaseState) {
        let src = self.names.src;
        if stmt.kind_str() == "defer_statement" {
            let Some(call) = statement_call(stmt) else {
                return;
            };
            let mut released = Vec::new();
            let function = call.field("function").map(unparen);
            let scope = match function.filter(|f| f.kind_str() == "func_literal") {
                Some(literal) => literal,
                None => call,
            };
            walk(scope, |n| {
                if let Some((expr, false, _)) = lock_method(n, src) {
                    released.extend(self.names.lock_path(expr));
                }
                true
            });
            state.deferred.extend(released);
            return;
        }
        let mut calls = Vec::new();
        walk_body(stmt, |n| {
            if n.kind_str() == "call_expression" {
                calls.push(n);
            }
        });
        calls.sort_by_key(|c| c.end_offset());
        for call in calls {
            if let Some((expr, acquiring, _)) = lock_method(call, src) {
                let Some(lock) = self.names.lock_path(expr) else {
                    continue;
                };
                if !self.entered.contains(&lock) {
                    continue;
                }
                if acquiring {
                    state
                        .pending
                        .entry(lock)
                        .or_default()
                        .insert(BTreeSet::new());
                } else {
                    state.pending.remove(&lock);
                }
                continue;
            }
            let Some((target, name)) = self.names.call_target(call) else {
                continue;
            };
            let args = self.names.args(call);
            for (lock, clauses) in state.pending.iter_mut() {
                let via = match (&lock.root, &target) {
                    (LockRoot::Receiver, CallTarget::Receiver(p)) if p.is_empty() => Via {
                        target: target.clone(),
                        name: name.to_string(),
                        param: None,
                    },
                    (LockRoot::Global, CallTarget::Function | CallTarget::Receiver(_)) => Via {
                        target: target.clone(),
                        name: name.to_string(),
                        param: None,
                    },
                    (LockRoot::Param(i), _) => {
                        let Some(j) = args.iter().position(|a| *a == Arg::Param(*i)) else {
                            continue;
                        };
                        Via {
                            target: target.clone(),
                            name: name.to_string(),
                            param: Some(j),
                        }
                    }
                    _ => continue,
                };
                let grown: BTreeSet<BTreeSet<Via>> = std::mem::take(clauses)
                    .into_iter()
                    .map(|mut c| {
                        c.insert(via.clone());
                        c
                    })
                    .collect();
                *clauses = grown;
            }
        }
        for clauses in state.pending.values_mut() {
            if clauses.len() > MAX_CLAUSES {
                *clauses = BTreeSet::from([BTreeSet::new()]);
            }
        }
    }

    fn join(&self, a: &ReleaseState, b: &ReleaseState) -> ReleaseState {
        let mut pending = a.pending.clone();
        for (k, clauses) in &b.pending {
            pending
                .entry(k.clone())
                .or_default()
                .extend(clauses.iter().cloned());
        }
        for clauses in pending.values_mut() {
            if clauses.len() > MAX_CLAUSES {
                *clauses = BTreeSet::from([BTreeSet::new()]);
            }
        }
        ReleaseState {
            pending,
            deferred: a.deferred.intersection(&b.deferred).cloned().collect(),
        }
    }
}

/// Every name a function declares anywhere (parameters, results, locals, those of its function
/// literals). `own_parameters: false` leaves out the function's own receiver, parameters and
/// results.
pub(crate) fn declared_names<'s>(decl: Node, src: &'s str, own_parameters: bool) -> Vec<&'s str> {
    let mut names = Vec::new();
    walk(decl, |n| {
        match n.kind_str() {
            "parameter_declaration" | "variadic_parameter_declaration"
                if !own_parameters
                    && n.parent_node().and_then(|p| p.parent_node()) == Some(decl) => {}
            "parameter_declaration"
            | "variadic_parameter_declaration"
            | "var_spec"
            | "const_spec" => {
                names.extend(super::types::names_of(n).into_iter().map(|i| text(i, src)));
            }
            "short_var_declaration" | "range_clause" | "receive_statement" => {
                if let Some(left) = n.field("left") {
                    names.extend(
                        named_children(left)
                            .filter(|i| i.kind_str() == "identifier")
                            .map(|i| text(i, src)),
                    );
                }
            }
            _ => {}
        }
        true
    });
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One file's collection shares each function's names between its facts: the calls of
    /// each function are still resolved against that function's own receiver, parameters and
    /// locals, whatever was resolved before with the same memo. (`s.flush()` reaches a method
    /// of the receiver in `a`, where `s` is the receiver, and nothing known in `b`, where `s`
    /// is a local copy of a parameter.)
    #[test]
    fn a_shared_memo_resolves_each_function_against_its_own_names() {
        fn targets<'a, 's>(
            items: &[Node],
            src: &'s str,
            imports: &'a Imports,
            names: &NamesByFunction<'a, 's>,
        ) -> Vec<Vec<Option<(CallTarget, String)>>> {
            crate::scope::named_bodies(items)
                .map(|(_, decl, _, body)| {
                    let mut calls = Vec::new();
                    goconc_syntax::walk(body, |n| {
                        if n.kind_str() == "call_expression" {
                            calls.push(n);
                        }
                        true
                    });
                    call_targets(decl, body, src, imports, &calls, names)
                })
                .collect()
        }
        let src = "package p\n\nfunc (s *S) a() {\n\ts.flush()\n}\n\nfunc b(t *S) {\n\ts := t\n\ts.flush()\n}\n";
        let file = goconc_syntax::SourceFile::new(src.to_string());
        let root = file.tree().root_node();
        let imports = Imports::from_tree(root, src);
        let items = super::super::scope::top_level_items(root, src);
        let shared = NamesByFunction::default();
        collect_in(&items, src, &imports, &shared);
        let with_shared = targets(&items, src, &imports, &shared);
        assert_eq!(
            with_shared,
            targets(&items, src, &imports, &NamesByFunction::default())
        );
        assert_eq!(
            with_shared[0],
            vec![Some((
                CallTarget::Receiver(String::new()),
                "flush".to_string()
            ))]
        );
        assert_ne!(with_shared[0], with_shared[1]);
    }

    fn summaries(src: &str) -> HashMap<String, FuncSummary> {
        let file = goconc_syntax::SourceFile::new(src.to_string());
        let root = file.tree().root_node();
        let items = super::super::scope::top_level_items(root, src);
        let imports = Imports::from_tree(root, src);
        collect_in(&items, src, &imports, &NamesByFunction::default())
    }

    /// A function that takes no lock is summarised when its doc comment (and only its own)
    /// says the caller holds one.
    #[test]
    fn doc_comments_saying_the_caller_holds_a_lock() {
        let src = "package p\n\n// Lock order: mu before other.\nvar x int\n\n\
                   // flush writes the buffer.\n// The caller must hold s.mu.\n\
                   func (s *S) flush() {}\n\n// Reset clears the buffer.\nfunc (s *S) reset() {}\n\n\
                   func (s *S) drop() {}\n";
        let found = summaries(src);
        assert!(found["S.flush"].expects_held);
        assert!(!found.contains_key("S.reset"), "{:?}", found.keys());
        assert!(!found.contains_key("S.drop"));
    }

    /// Locks released in the order taken (not the reverse) stop pairing with later ones, and
    /// a call made then sees only the locks still held; many released ones are trimmed away
    /// without losing those held.
    #[test]
    fn locks_released_in_the_order_taken_no_longer_pair() {
        let mut src = String::from("package p\n\nimport \"sync\"\n\nfunc g() {}\n\nfunc F() {\n");
        for i in 0..40 {
            src.push_str(&format!("\tm{i}.Lock()\n"));
        }
        for i in 1..40 {
            src.push_str(&format!("\tm{i}.Unlock()\n"));
        }
        src.push_str("\tx.Lock()\n\tg()\n\tx.Unlock()\n\tm0.Unlock()\n}\n");
        for i in 0..40 {
            src.push_str(&format!("\nvar m{i} sync.Mutex\n"));
        }
        src.push_str("\nvar x sync.Mutex\n");
        let found = summaries(&src);
        let f = &found["F"];
        let of_x: Vec<&str> = f
            .orders
            .iter()
            .filter(|(_, second)| second.path == "x")
            .map(|(first, _)| first.path.as_str())
            .collect();
        assert_eq!(of_x, ["m0"]);
        let call = f
            .calls
            .iter()
            .find(|c| c.name == "g")
            .expect("the call to g");
        let held: Vec<&str> = call.held.iter().map(|a| a.path.as_str()).collect();
        assert_eq!(held, ["x", "m0"]);
    }

    /// Every phrase that makes a doc comment count passes the cheap test first.
    #[test]
    fn the_cheap_test_lets_every_phrase_through() {
        for doc in [
            "must hold mu",
            "mu must be held",
            "the caller holds mu",
            "called with mu held",
            "requires mu held",
            "assumes the lock is taken",
            "must be locked",
            "the lock must be held",
            "call with s locked",
            "while holding mu",
        ] {
            assert!(crate::words::says_caller_holds(doc), "{doc}");
            assert!(may_say_caller_holds(doc), "{doc}");
        }
    }
}
