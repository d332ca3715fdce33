//! Field accesses and method calls with the locks held at them: the facts
//! `guarded-field-unlocked` infers each field's guard from, and judges each access by.
//!
//! For every method of a package struct that holds a mutex, each access `recv.field` (outside
//! function literals) is recorded with the receiver's mutexes held on every path to it. For
//! every function, each call of a method of such a type is recorded with the callee's
//! receiver's mutexes held at the call, whether the receiver is the caller's own, a value the
//! caller has just made, or another, and how the method runs (here, on a goroutine, later as a
//! method value, or from `fmt`/`encoding/json` handed the value). Facts are owned data,
//! collected per file with the file's own types and merged per package.

use goconc_syntax::NodeExt;
use tree_sitter::Node;

use super::locks::{self, LockObserver, LockState};
use super::scope::{Decl, DeclKind, FileModel};
use super::summary::summary_key;
use super::types::{SyncKind, Ty};
use crate::{HashMap, HashSet};
use goconc_syntax::{
    method_call, named_children, parent_among, text, unparen, walk, walk_body_with_ancestors,
};

/// The methods the standard library calls on a value it is handed: `fmt` (`String`, `Error`,
/// `GoString`, `Format`), `encoding/json` and `encoding` (`MarshalJSON`, `MarshalText`). A
/// value passed to a function of another package may have them run there.
pub const IMPLICIT_METHODS: &[&str] = &[
    "String",
    "Error",
    "GoString",
    "Format",
    "MarshalJSON",
    "MarshalText",
];

/// The methods the standard library's decoders call to fill a value (`encoding/json`,
/// `encoding`, `encoding/xml`, `encoding/gob`): they run on a value being decoded, which its
/// decoder has not shared yet.
pub const DECODING_METHODS: &[&str] = &[
    "UnmarshalJSON",
    "UnmarshalText",
    "UnmarshalBinary",
    "UnmarshalXML",
    "UnmarshalXMLAttr",
    "GobDecode",
];

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldAccess {
    /// The struct type (`Cache`).
    pub type_name: String,
    /// The field (`items`); for a field of an element the method took from one of the
    /// receiver's maps or slices, the element's type and field (`entry.expires`).
    pub field: String,
    /// Receiver-relative paths of the mutexes held on every path to the access (`mu`).
    pub guards: Vec<String>,
    /// The method is documented or named as running with the lock held (`…Locked`).
    pub expects_held: bool,
    pub write: bool,
    /// The access reaches what the field holds (`m[k]`, `range m`, `len(m)`, `delete(m, k)`)
    /// rather than the field itself (`c.m = …`, `x := c.m`).
    pub element: bool,
    /// A write under `if recv.f == nil` of the same field: set once, when unset.
    pub lazy_init: bool,
    /// The method (`Cache.Get`).
    pub function: String,
    /// Made outside the type's methods, through a field of another type's receiver that holds
    /// the value (`p.all.txs` in a method of `Pool`, whose field `all` is a `*lookup`): the
    /// guards are then the value's mutexes held through that field (`p.all.mu` as `mu`).
    pub outside: bool,
    /// The part of the field the access reaches (`dropped` of `c.stats.dropped`), when it
    /// reaches one: a write of one part does not race with a read of another.
    pub part: Option<String>,
    /// A call of a method of the field's value (`c.cfg.lookup(k)`), not a plain access.
    pub method: bool,
    /// A call of a method of the field's value whose type (one of the package's) locks for
    /// itself (`dl.origin.AccountRLP(h)`, `origin` a `*diskLayer` with a mutex of its own;
    /// `p.all.Get(h)`, `all` a `*lookup` whose methods take `t.lock`): it reads the field itself,
    /// the pointer, and nothing the value's own lock guards, so it races only with the field's
    /// replacement (`dl.origin = o`, `p.all = newLookup()`). Kept apart from the other
    /// accesses: rules that count accesses leave these out, and guarded-field-unlocked counts
    /// them only where the field is replaced at run time.
    pub pointer_only: bool,
    /// For a write of the field itself: made in a method before it starts goroutines of its
    /// own (`go c.loop()`, `go func(){…}()`) and after none (see [`GoStarts`]).
    pub set_up: bool,
    /// Made on the goroutine of the test whose handle the method receives (see [`TestStep`]).
    pub test_step: bool,
    /// For a write that sets the field itself to a name or literal (`c.running = false`,
    /// `c.state = closedState`), that value's text: which states a method sets (see
    /// [`crate::transition`]).
    pub value: Option<String>,
    /// How a write of a channel field is ordered with the goroutines that use the channel
    /// (see [`ChannelHandover`]); the default for any other access.
    pub handover: ChannelHandover,
    pub offset: usize,
    pub len: usize,
}

impl FieldAccess {
    /// A write of the field itself (`c.cache = newCache()`), not of what it holds (`c.m[k] =
    /// v`, `c.cfg.addr = a`) nor through a method of its value.
    pub fn replaces_field(&self) -> bool {
        self.write && !self.element && !self.method && self.part.is_none()
    }
}

/// What orders a write of a channel field with the goroutines that read the field: the
/// channel is replaced only where they cannot be reading it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ChannelHandover {
    /// Before the write, the function sent a request on the channel (through the field or a
    /// local copied from it) and received the answer on the channel it sent: the goroutine
    /// serving the channel took its last message and answered (`Close`'s quit handshake).
    pub answered: bool,
    /// The methods of the receiver the function starts with `go` after the write: they read
    /// what it wrote.
    pub started_after: Vec<String>,
}

/// How the method of a call runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallHow {
    /// Called here, with the locks held here.
    Direct,
    /// Started on a goroutine (`go c.loop()`, or called inside a `go func(){…}()`).
    Goroutine,
    /// Run later from somewhere else: a method value or a call inside a function literal that
    /// is stored in a field or global, returned, or handed to `time.AfterFunc`
    /// (`time.AfterFunc(d, c.flush)`).
    Later,
    /// The value is handed to a function of another package that may call the methods of
    /// [`IMPLICIT_METHODS`] on it (`json.Marshal(c)`, `fmt.Sprint(c)`): the callee is then
    /// `Type.` with no method name.
    Implicit,
}

/// What the receiver of a call is to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallReceiver {
    /// The caller's own receiver (`c.evict()` in a method of `*Cache` on `c`).
    Same,
    /// A value the caller has made and nobody else can see yet (see [`unpublished_at`]).
    Fresh,
    Other,
}

/// A call of a method of a package struct that holds a mutex.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MethodCall {
    /// `Cache.evict` (`Cache.` for [`CallHow::Implicit`]).
    pub callee: String,
    /// The top-level function the call is in (`Cache.Get`, `flush`).
    pub caller: String,
    /// The callee's receiver's mutexes held on every path to the call, as paths below it
    /// (`mu`; the embedded `Mutex` of `c.Lock()`).
    pub guards: Vec<String>,
    pub receiver: CallReceiver,
    pub how: CallHow,
    /// Made on the goroutine of the test whose handle the caller receives (see [`TestStep`]).
    pub test_step: bool,
    pub offset: usize,
    pub len: usize,
}

/// A method called on a value a package function has just returned, before the caller shows
/// the value to anybody (`w := NewWallet(…)`, then `w.connect()`). A file's facts cannot tell
/// the value's type when the function is declared in a sibling file: the package model resolves
/// these with the package's signatures and summaries
/// ([`super::package::PackageModel::constructed_method_calls`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConstructedCall {
    /// The package function that made the value (`NewWallet`).
    pub constructor: String,
    pub method: String,
    /// The top-level function the call is in.
    pub caller: String,
    /// Where `x := F(…)` is: the calls of one value share it, in order.
    pub declaration: usize,
    pub offset: usize,
    pub len: usize,
}

/// The [`ConstructedCall`]s of a file's top-level functions, found from the syntax alone: after
/// `x := F(…)` (or `x, err := F(…)`), the calls `x.m(…)` of the statements that follow in the
/// same block, up to the first statement that uses `x` any other way (passes, stores, returns or
/// captures it), or starts a goroutine or defers a call.
///
/// Also how many calls `x.m(…)` the functions make of each method name `m`, on anything
/// (sorted by name): the package compares them with the calls its facts
/// account for, since a file's facts miss calls on values whose type a sibling file declares.
pub fn constructed_calls_and_counts(
    items: &[Node],
    src: &str,
) -> (Vec<ConstructedCall>, Vec<(String, u32)>) {
    let mut counts: HashMap<&str, u32> = HashMap::default();
    for &item in items {
        if !super::scope::is_function_item(item) {
            continue;
        }
        if let Some(body) = item.field("body") {
            // Past what can hold no call (names, tokens, types, literals).
            goconc_syntax::walk_calls(body, src, |node| {
                // The call itself only: `method_call` looks through parentheses, so asking it
                // of `((s.M()))` counted one call three times, and unwrapping each of n nested
                // parentheses again was quadratic (1,100 returns of 450: 6.4 s/MB).
                if node.kind_str() == "call_expression" {
                    if let Some(call) = method_call(node) {
                        *counts.entry(text(call.method, src)).or_default() += 1;
                    }
                }
                true
            });
        }
    }
    let mut counts: Vec<(String, u32)> = counts
        .into_iter()
        .map(|(name, n)| (name.to_string(), n))
        .collect();
    counts.sort();
    (constructed_only(items, src), counts)
}

fn constructed_only(items: &[Node], src: &str) -> Vec<ConstructedCall> {
    let mut out = Vec::new();
    for &item in items {
        if !super::scope::is_function_item(item) {
            continue;
        }
        let (Some(body), Some(caller)) = (
            item.field("body"),
            super::summary::declaration_key(item, src),
        ) else {
            continue;
        };
        // Without `:=` the body declares nothing short.
        if !text(body, src).contains(":=") {
            continue;
        }
        // A statement, past what can hold none (names, tokens, types, literals).
        goconc_syntax::walk_body_calls(body, src, |node| {
            if node.kind_str() == "short_var_declaration" {
                calls_after_construction(node, src, &caller, &mut out);
            }
        });
    }
    out
}

/// How many statements after `x := F(…)` are read for calls on `x`.
const CONSTRUCTION_WINDOW: usize = 12;

fn calls_after_construction(
    declaration: Node,
    src: &str,
    caller: &str,
    out: &mut Vec<ConstructedCall>,
) {
    let (Some(left), Some(right)) = (declaration.field("left"), declaration.field("right")) else {
        return;
    };
    let (Some(name), Some(value)) = (named_children(left).next(), named_children(right).next())
    else {
        return;
    };
    let value = unparen(value);
    let Some(function) = value.field("function").map(unparen) else {
        return;
    };
    if name.kind_str() != "identifier"
        || right.named_child_count() != 1
        || value.kind_str() != "call_expression"
        || function.kind_str() != "identifier"
    {
        return;
    }
    let (name, constructor) = (text(name, src), text(function, src));
    let mut next = declaration.next_named_sibling();
    // A constructor's result is set up right after it is made; the bound keeps a function of
    // many declarations linear.
    for _ in 0..CONSTRUCTION_WINDOW {
        let Some(statement) = next else {
            return;
        };
        next = statement.next_named_sibling();
        if statement.kind_str() == "comment" {
            continue;
        }
        if matches!(statement.kind_str(), "go_statement" | "defer_statement") {
            return;
        }
        let mut calls = Vec::new();
        let mut other_use = false;
        walk(statement, |node| {
            if other_use {
                return false;
            }
            if node.kind_str() == "func_literal" {
                // A closure may run later, or on another goroutine.
                other_use = text(node, src).contains(name);
                return false;
            }
            if node.kind_str() == "identifier" && text(node, src) == name {
                match method_called_on(node, src) {
                    Some(call) => calls.push(call),
                    None => other_use = true,
                }
            }
            true
        });
        if other_use {
            return;
        }
        out.extend(calls.into_iter().map(|(method, call)| ConstructedCall {
            constructor: constructor.to_string(),
            method: method.to_string(),
            caller: caller.to_string(),
            declaration: declaration.start_byte(),
            offset: call.start_byte(),
            len: call.end_offset() - call.start_byte(),
        }));
    }
}

/// `x` as the receiver of a call `x.m(…)`: the method's name and the call.
fn method_called_on<'t>(identifier: Node<'t>, src: &'t str) -> Option<(&'t str, Node<'t>)> {
    let selector = identifier.parent_node()?;
    let call = selector.parent_node()?;
    (selector.kind_str() == "selector_expression"
        && selector.field("operand") == Some(identifier)
        && call.kind_str() == "call_expression"
        && call.field("function") == Some(selector))
    .then(|| Some((text(selector.field("field")?, src), call)))
    .flatten()
}

/// The guard facts of a file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuardFacts {
    pub accesses: Vec<FieldAccess>,
    pub calls: Vec<MethodCall>,
}

/// Does a field of type `ty` hold data: not a mutex, an atomic, a channel, a func or another
/// sync value?
pub fn holds_data(package: &super::package::PackageModel, ty: &Ty) -> bool {
    if matches!(ty, Ty::Chan(_) | Ty::Func { .. }) {
        return false;
    }
    !matches!(
        package.sync_kind(ty.deref()),
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

struct Collector<'m, 't> {
    model: &'m FileModel<'t>,
    /// The receiver's name and type, for methods of a type holding a mutex.
    receiver: Option<(&'t str, String)>,
    /// For a method of a type holding a mutex: its receiver's name, and the receiver's fields
    /// that hold a value of another package struct holding a mutex (`all` → `lookup`), whose accesses through
    /// them are recorded as [`FieldAccess::outside`].
    holder_fields: Option<(&'t str, Vec<(String, String)>)>,
    /// By a local's declaration: the receiver's container it is an element of, and the
    /// element's type (see [`Collector::element_field`]).
    elements: HashMap<usize, Option<(String, String)>>,
    function: String,
    expects_held: bool,
    /// By (offset, field): a statement seen again while a loop settles replaces what it gave.
    accesses: HashMap<(usize, usize), FieldAccess>,
    calls: HashMap<(usize, u8), MethodCall>,
    /// Holder types already asked about.
    holders: HashMap<String, bool>,
    /// Walking the body of a `go` or `defer` literal: calls only (accesses in function literals
    /// are not recorded).
    in_goroutine: bool,
    test_step: TestStep,
    /// What each function body does with channels, read once (see [`ChannelUses`]): a body
    /// that replaces a channel field many times is not walked again for each replacement.
    channel_uses: HashMap<usize, std::rc::Rc<ChannelUses>>,
}

/// Where a function runs as a step of the test whose handle it receives. `go test` runs a
/// test's function, and whatever it calls in place, on the test's own goroutine, one test after
/// another; a test runs alongside others only from its `t.Parallel()` on. So what a function
/// taking a `*testing.T` (`*testing.B`, `*testing.F`, `testing.TB`) does in its own body
/// (outside its function literals: a callback may run anywhere, as `eg.Go(func…)` does) and
/// before any `Parallel()` call in it, it does on that test's goroutine, if the function itself
/// runs there: its callers decide (`guarded-field-unlocked` reads them).
#[derive(Debug, Clone, Copy, Default)]
struct TestStep {
    /// The function's index in the model, when it takes a testing handle.
    function: Option<usize>,
    /// Where its first `Parallel()` call starts (`usize::MAX` without one).
    parallel_from: usize,
}

impl TestStep {
    fn of(model: &FileModel, index: usize) -> TestStep {
        let function = &model.functions[index];
        let takes_handle = function
            .node
            .field("parameters")
            .into_iter()
            .flat_map(named_children)
            .filter_map(|param| param.field("type"))
            .any(|ty| {
                super::sync_calls::is_testing_handle(&Ty::from_node(ty, model.src, &model.imports))
            });
        let Some(body) = function.body.filter(|_| takes_handle) else {
            return TestStep::default();
        };
        let mut parallel_from = usize::MAX;
        walk(body, |n| {
            if n.start_byte() >= parallel_from {
                return false;
            }
            // The call node only (`method_call` looks through parentheses: quadratic in nesting).
            let call = (n.kind_str() == "call_expression").then(|| method_call(n));
            if let Some(call) = call.flatten() {
                if text(call.method, model.src) == "Parallel"
                    && named_children(call.args).next().is_none()
                    && super::sync_calls::is_testing_handle(&model.type_of(call.receiver))
                {
                    parallel_from = n.start_byte();
                }
            }
            true
        });
        TestStep {
            function: Some(index),
            parallel_from,
        }
    }

    /// Is `node` in the function's own body, before any `Parallel()` call?
    fn holds_at(&self, model: &FileModel, node: Node) -> bool {
        self.function
            .is_some_and(|i| model.function_of(node) == Some(i))
            && node.start_byte() < self.parallel_from
    }
}

impl<'t> LockObserver<'t> for Collector<'_, 't> {
    fn statement(&mut self, node: Node<'t>, state: &LockState) {
        match node.kind_str() {
            "go_statement" => return self.literal_calls(node, state, CallHow::Goroutine),
            // A deferred call runs on this goroutine when the function returns, with whatever
            // locks are held then: taken as none, but for those a deferred literal takes itself.
            "defer_statement" => {
                return self.literal_calls(node, &LockState::default(), CallHow::Direct)
            }
            _ => {}
        }
        self.calls_in(node, state, CallHow::Direct);
        if self.in_goroutine {
            return;
        }
        let own = self.receiver.clone();
        let outer = self.holder_fields.clone();
        let Some(receiver) = own.as_ref().map(|o| o.0).or(outer.as_ref().map(|o| o.0)) else {
            return;
        };
        let held_below = |prefix: &str| -> Vec<String> {
            state
                .held_on_every_path()
                .filter_map(|k| k.strip_prefix(prefix).map(str::to_string))
                .collect()
        };
        let mut found = Vec::new();
        // The accesses that are calls of a method of the field's value (the last of `found`'s
        // items is then the method, not a part), by range: `p.all` and `p.all.stale` of
        // `p.all.stale.Load()` start at the same byte.
        let mut method_calls: HashSet<(usize, usize)> = HashSet::default();
        walk_body_with_ancestors(node, |n, ancestors| {
            if n.kind_str() != "selector_expression" {
                return;
            }
            let (Some(operand), Some(field)) = (n.field("operand"), n.field("field")) else {
                return;
            };
            let operand = unparen(operand);
            // `recv.f` in a method of a holder; `recv.h.f` where the receiver's field `h`
            // holds another holder's value.
            let (type_name, through) = if operand.kind_str() == "identifier" {
                match (&own, text(operand, self.model.src) == receiver) {
                    (Some((_, type_name)), true) => (type_name.clone(), Through::Receiver),
                    // Perhaps a value taken from one of the receiver's maps or slices.
                    (Some((_, type_name)), false) => (type_name.clone(), Through::Local(operand)),
                    _ => return,
                }
            } else {
                let through = (operand.kind_str() == "selector_expression")
                    .then(|| operand.field("operand").zip(operand.field("field")))
                    .flatten()
                    .filter(|(root, _)| {
                        let root = unparen(*root);
                        root.kind_str() == "identifier" && text(root, self.model.src) == receiver
                    })
                    .map(|(_, holder_field)| text(holder_field, self.model.src));
                let held = through.and_then(|h| {
                    outer
                        .as_ref()?
                        .1
                        .iter()
                        .find(|(f, _)| f == h)
                        .map(|(f, t)| (f.as_str(), t.clone()))
                });
                match held {
                    Some((holder_field, type_name)) => (type_name, Through::Field(holder_field)),
                    None => return,
                }
            };
            let parent = parent_among(n, ancestors);
            // A method value or call `recv.m()` is no field access.
            if parent.is_some_and(|p| {
                p.kind_str() == "call_expression" && p.field("function") == Some(n)
            }) {
                return;
            }
            // `recv.n.Add(1)`: a method on the field's value (an atomic, a sync type) is no
            // plain access; one of a package type without a lock of its own reaches what the
            // field holds (see `method_on_field`).
            let above = ancestors.split_last().map_or(&[][..], |(_, above)| above);
            let method = parent
                .filter(|p| {
                    p.kind_str() == "selector_expression"
                        && parent_among(*p, above).is_some_and(|c| {
                            c.kind_str() == "call_expression" && c.field("function") == Some(*p)
                        })
                })
                .and_then(|p| p.field("field"));
            let field = text(field, self.model.src);
            if let Some(method) = method {
                let method = text(method, self.model.src);
                found.push((
                    n,
                    type_name,
                    through,
                    field,
                    false,
                    true,
                    false,
                    Some(method),
                ));
                method_calls.insert((n.start_byte(), n.end_offset()));
                return;
            }
            if parent.is_some_and(|p| {
                p.kind_str() == "selector_expression"
                    && parent_among(p, above).is_some_and(|c| c.kind_str() == "call_expression")
            }) {
                return;
            }
            let write = is_write(n, ancestors, self.model.src);
            let part = parent
                .filter(|p| p.kind_str() == "selector_expression")
                .and_then(|p| p.field("field"))
                .map(|f| text(f, self.model.src));
            let element = is_element(n, ancestors, self.model.src) || (write && part.is_some());
            let lazy_init = write && under_nil_check(n, ancestors, self.model.src);
            found.push((
                n, type_name, through, field, write, element, lazy_init, part,
            ));
        });
        for (n, type_name, through, field, mut write, mut element, lazy_init, last) in found {
            let (method, part) = match method_calls.contains(&(n.start_byte(), n.end_offset())) {
                true => (last, None),
                false => (None, last),
            };
            let (type_name, field) = match through {
                Through::Local(local) => {
                    // `x.f` of an element `x` (of type `E`) of the receiver's `m`: `E.f`.
                    if method.is_some() {
                        continue;
                    }
                    match self.element_field(local, receiver, &type_name, field) {
                        Some(pseudo) => (type_name, pseudo),
                        None => continue,
                    }
                }
                _ if !self.is_plain_field(&type_name, field) => continue,
                _ => (type_name, field.to_string()),
            };
            // A send, receive, close or range reads the channel field itself: only the
            // channel's replacement writes it.
            let channel = matches!(self.field_type(&type_name, &field), Some(Ty::Chan(_)));
            if channel {
                element = false;
            }
            // A call of a method of a value that locks for itself reads only the field: see
            // `FieldAccess::pointer_only`.
            let mut pointer_only = false;
            if let Some(method) = method {
                match self.method_on_field(&type_name, &field, method) {
                    OnField::Reaches { writes } => write = writes,
                    OnField::LocksItself if matches!(through, Through::Receiver) => {
                        // The pointer is what is read, not what it points to.
                        (pointer_only, write, element) = (true, false, false);
                    }
                    OnField::LocksItself | OnField::NoAccess => continue,
                }
            }
            let guards = match &through {
                Through::Receiver | Through::Local(_) => held_below(&format!("{receiver}.")),
                Through::Field(holder_field) => held_below(&format!("{receiver}.{holder_field}.")),
            };
            let outside = matches!(through, Through::Field(_));
            let handover = match write && channel {
                true => self.channel_handover(n),
                false => ChannelHandover::default(),
            };
            self.accesses.insert(
                (n.start_byte(), n.end_offset()),
                FieldAccess {
                    type_name,
                    field,
                    guards,
                    expects_held: self.expects_held,
                    write,
                    element,
                    lazy_init,
                    function: self.function.clone(),
                    outside,
                    part: part.map(str::to_string),
                    method: method.is_some(),
                    pointer_only,
                    set_up: false,
                    test_step: self.test_step.holds_at(self.model, n),
                    value: (write && !element && part.is_none() && method.is_none())
                        .then(|| assigned_value(n, self.model.src))
                        .flatten(),
                    handover,
                    offset: n.start_byte(),
                    len: n.end_offset() - n.start_byte(),
                },
            );
        }
    }
}

/// What a call of a method of a field's value (`recv.f.m(…)`) is to the field.
enum OnField {
    /// It reaches what the field holds, and writes it when `m` changes its receiver.
    Reaches { writes: bool },
    /// `m` is of a package type that locks for itself: it reads the field only.
    LocksItself,
    /// A sync type's, another package's, or no method the package declares.
    NoAccess,
}

/// How an access reaches the struct whose field it names.
#[derive(Clone, Copy)]
enum Through<'t, 'f> {
    /// `recv.f`.
    Receiver,
    /// `recv.h.f`, `h` being the receiver's field holding another holder's value.
    Field(&'f str),
    /// `x.f`, `x` perhaps a local taken from one of the receiver's maps or slices.
    Local(Node<'t>),
}

impl<'t> Collector<'_, 't> {
    /// `x.f` where the local `x` is an element the method took from one of its receiver's
    /// maps or slices of pointers (`x := recv.m[k]`, `x, ok := recv.m[k]`, `for _, x := range
    /// recv.m`) and never set to anything else, and `f` is a data field of the element's
    /// struct type `E`, which has no mutex of its own: the receiver's lock is what guards it,
    /// as it guards the container. The field is named `E.f`, whichever of the receiver's
    /// containers the element came from (they hold the same values).
    fn element_field(
        &mut self,
        local: Node<'t>,
        receiver: &str,
        type_name: &str,
        field: &str,
    ) -> Option<String> {
        let decl = self.model.resolve(local)?;
        let key = decl.ident.start_byte();
        let element = match self.elements.get(&key) {
            Some(known) => known.clone(),
            None => {
                let found = self.container_element(decl, receiver, type_name);
                self.elements.insert(key, found.clone());
                found
            }
        }?;
        let (_, element_type) = element;
        let ty = self
            .model
            .package
            .field_type(&Ty::named("", &element_type), field)?;
        holds_data(self.model.package, &ty).then(|| format!("{element_type}.{field}"))
    }

    /// The receiver's container a local is an element of, and the element's struct type (see
    /// [`Self::element_field`]).
    fn container_element(
        &mut self,
        decl: &Decl<'t>,
        receiver: &str,
        type_name: &str,
    ) -> Option<(String, String)> {
        let src = self.model.src;
        let is_receiver_field = |node: Node| {
            let node = unparen(node);
            (node.kind_str() == "selector_expression")
                .then(|| node.field("operand").zip(node.field("field")))
                .flatten()
                .filter(|(root, _)| {
                    let root = unparen(*root);
                    root.kind_str() == "identifier" && text(root, src) == receiver
                })
                .map(|(_, field)| text(field, src))
        };
        let container = match decl.kind {
            DeclKind::Local if decl.stmt.kind_str() == "short_var_declaration" => {
                let left = decl.stmt.field("left")?;
                let right = decl.stmt.field("right")?;
                if named_children(left).next() != Some(decl.ident) || right.named_child_count() != 1
                {
                    return None;
                }
                let value = unparen(named_children(right).next()?);
                if value.kind_str() != "index_expression" {
                    return None;
                }
                is_receiver_field(value.field("operand")?)?
            }
            DeclKind::LoopVar => {
                let clause =
                    named_children(decl.loop_stmt()?).find(|c| c.kind_str() == "range_clause")?;
                let left = clause.field("left")?;
                if named_children(left).nth(1) != Some(decl.ident) {
                    return None;
                }
                is_receiver_field(clause.field("right")?)?
            }
            _ => return None,
        };
        let element = match self
            .model
            .package
            .field_type(&Ty::named("", type_name), container)?
        {
            Ty::Map(_, value) => *value,
            Ty::Slice(value) | Ty::Array(value) => *value,
            _ => return None,
        };
        // Pointers only: a copy taken under the lock is the method's own.
        let Ty::Pointer(element) = element else {
            return None;
        };
        let Ty::Named { pkg, name } = *element else {
            return None;
        };
        if !pkg.is_empty()
            || name == type_name
            || self.model.package.struct_fields(&name).is_none()
            || self.is_holder(&name)
            || reassigned(self.model, decl)
        {
            return None;
        }
        Some((container.to_string(), name))
    }

    /// Fields that hold data: not mutexes, atomics or other sync values. A channel field is
    /// one too: its operations synchronise, but replacing the channel (`s.stopped =
    /// make(chan struct{})`) races with every use of the field.
    fn is_plain_field(&self, type_name: &str, field: &str) -> bool {
        let Some(ty) = self.field_type(type_name, field) else {
            return false;
        };
        matches!(ty, Ty::Chan(_)) || holds_data(self.model.package, &ty)
    }

    /// How the write `selector` (`w.quit = nil`) of a channel field is ordered with the
    /// goroutines reading the field, from the function that makes it (see [`ChannelHandover`]).
    fn channel_handover(&mut self, selector: Node) -> ChannelHandover {
        let src = self.model.src;
        let Some(body) = self
            .model
            .function_of(selector)
            .and_then(|i| self.model.functions[i].body)
        else {
            return ChannelHandover::default();
        };
        let uses = self
            .channel_uses
            .entry(body.start_byte())
            .or_insert_with(|| std::rc::Rc::new(ChannelUses::of(body, src)))
            .clone();
        let receiver = selector
            .field("operand")
            .map(|o| text(unparen(o), src))
            .unwrap_or_default();
        uses.handover(text(selector, src), receiver, selector.byte_span())
    }

    fn field_type(&self, type_name: &str, field: &str) -> Option<Ty> {
        self.model
            .package
            .field_type(&Ty::named("", type_name), field)
    }

    /// `recv.f.m(…)` where `f` holds a value of a type of the package that has no mutex of its
    /// own and declares `m`: the call reads what the field holds, and writes it when
    /// `m` changes its pointer receiver (`s.config.loadMirrors(…)`). `None` for any other
    /// method (a sync type's, another package's, one of a type that locks for itself): that
    /// call is no access of what the field holds the package can judge; for a method of a
    /// package type that locks for itself, it still reads the field (see
    /// `FieldAccess::pointer_only`).
    fn method_on_field(&mut self, type_name: &str, field: &str, method: &str) -> OnField {
        let Some(ty) = self
            .model
            .package
            .field_type(&Ty::named("", type_name), field)
        else {
            return OnField::NoAccess;
        };
        let Ty::Named { pkg, name } = ty.deref() else {
            return OnField::NoAccess;
        };
        if !pkg.is_empty() || self.model.package.method(name, method).is_none() {
            return OnField::NoAccess;
        }
        if self.is_holder(name) {
            return OnField::LocksItself;
        }
        let key = summary_key(Some(name), method);
        let summary = self.model.package.summary(&key);
        // A method that locks (something of its own, or a global) serialises itself.
        if summary.is_some_and(|s| !s.acquires.is_empty()) {
            return OnField::LocksItself;
        }
        OnField::Reaches {
            writes: summary.is_some_and(|s| s.writes_receiver),
        }
    }

    fn is_holder(&mut self, type_name: &str) -> bool {
        if let Some(&known) = self.holders.get(type_name) {
            return known;
        }
        let holds = self.model.package.holds_mutex(type_name);
        self.holders.insert(type_name.to_string(), holds);
        holds
    }

    /// The holder type a value of `ty` is (through one pointer).
    fn holder_of(&mut self, ty: &Ty) -> Option<String> {
        match ty.deref() {
            Ty::Named { pkg, name } if pkg.is_empty() && self.is_holder(name) => Some(name.clone()),
            _ => None,
        }
    }

    /// `go func() { … }()` or `defer func() { … }()`: a call the literal makes while holding a
    /// lock it took itself is a locked call; the others run unguarded as `how` says (on the
    /// goroutine, or here when the function returns). Any other `go` or `defer` statement
    /// runs its callee that way.
    fn literal_calls(&mut self, stmt: Node<'t>, state: &LockState, how: CallHow) {
        let body = named_children(stmt)
            .next()
            .filter(|c| c.kind_str() == "call_expression")
            .and_then(|c| c.field("function"))
            .map(unparen)
            .filter(|f| f.kind_str() == "func_literal")
            .and_then(|f| f.field("body"));
        let Some(body) = body else {
            return self.calls_in(stmt, state, how);
        };
        let mut inner = Collector {
            model: self.model,
            receiver: self.receiver.clone(),
            holder_fields: None,
            elements: HashMap::default(),
            function: self.function.clone(),
            expects_held: false,
            accesses: HashMap::default(),
            calls: HashMap::default(),
            holders: std::mem::take(&mut self.holders),
            // A deferred literal runs on this goroutine: its accesses are the method's.
            in_goroutine: how != CallHow::Direct,
            test_step: TestStep::default(),
            channel_uses: std::mem::take(&mut self.channel_uses),
        };
        let analysed = locks::analyze(self.model, body, &mut inner).is_some();
        self.holders = std::mem::take(&mut inner.holders);
        self.channel_uses = std::mem::take(&mut inner.channel_uses);
        if !analysed {
            return self.calls_in(stmt, state, how);
        }
        // Only those under a lock the literal takes itself: which of the method's locks are
        // still held when it runs is not followed (see `statement`), so its bare accesses
        // are not told from locked ones.
        for (at, access) in inner.accesses {
            if !access.guards.is_empty() {
                self.accesses.entry(at).or_insert(access);
            }
        }
        for (_, mut call) in inner.calls {
            if call.guards.is_empty() && call.how == CallHow::Direct {
                call.how = how;
            }
            self.calls.insert((call.offset, call.how as u8), call);
        }
    }

    /// The calls of methods of holder types a statement makes. Calls inside a function literal
    /// that is kept for later (stored, returned, or handed to `time.AfterFunc`) are
    /// [`CallHow::Later`]; inside one called in place or handed to a call as a callback
    /// (`node.forChildren(func(c) { db.deref(c) })`), they run with the statement's locks;
    /// inside a `go` statement they are [`CallHow::Goroutine`].
    fn calls_in(&mut self, stmt: Node<'t>, state: &LockState, how: CallHow) {
        let src = self.model.src;
        let mut found: Vec<(Node<'t>, CallHow)> = Vec::new();
        // The callees of the calls seen so far: a walk visits a call before its callee, and
        // asking a selector for its `parent()` descends from the root (quadratic in deep code).
        let mut callees: HashSet<usize> = HashSet::default();
        // What each enclosing function literal's climb to `stmt` found: the calls of nested
        // closures climbed the same literals again (cubic in their depth).
        let mut later_of: HashMap<usize, bool> = HashMap::default();
        walk(stmt, |n| {
            match n.kind_str() {
                "call_expression" => {
                    if let Some(callee) = n.field("function") {
                        callees.insert(callee.id());
                    }
                    let later = n.start_byte() > stmt.start_byte()
                        && kept_for_later_remembered(self.model, n, stmt, &mut later_of);
                    let how = match (how, later) {
                        (CallHow::Goroutine, _) => CallHow::Goroutine,
                        (_, true) => CallHow::Later,
                        (how, false) => how,
                    };
                    found.push((n, how));
                }
                // A method value handed on: `f(c.flush)`, `x := c.flush`.
                "selector_expression" => {
                    if !callees.contains(&n.id()) {
                        found.push((n, self.method_value_how(n, stmt, how)));
                    }
                }
                _ => {}
            }
            true
        });
        for (node, how) in found {
            if node.kind_str() == "selector_expression" {
                self.method_value(node, state, how);
                continue;
            }
            if let Some(mc) = method_call(node) {
                let method = text(mc.method, src);
                if let Some(type_name) = self.holder_of(&self.model.type_of(mc.receiver)) {
                    // A field holding a func is called like a method: not one.
                    let is_field = self
                        .model
                        .package
                        .field_type(&Ty::named("", &type_name), method)
                        .is_some();
                    if !is_field {
                        let callee = format!("{type_name}.{method}");
                        self.record(node, mc.receiver, callee, state, how);
                    }
                }
                if self
                    .model
                    .imports
                    .path_of(text(unparen(mc.receiver), src))
                    .is_some()
                    && unparen(mc.receiver).kind_str() == "identifier"
                    && self.model.resolve(unparen(mc.receiver)).is_none()
                {
                    // `json.Marshal(c)`: the other package may call c's String, MarshalJSON, …
                    for arg in goconc_syntax::call_args(node) {
                        let arg = unparen(arg);
                        let value = match arg.kind_str() {
                            "unary_expression" => arg.field("operand").map(unparen),
                            _ => Some(arg),
                        };
                        let Some(value) = value.filter(|v| {
                            matches!(v.kind_str(), "identifier" | "selector_expression")
                        }) else {
                            continue;
                        };
                        if let Some(type_name) = self.holder_of(&self.model.type_of(value)) {
                            self.record(
                                node,
                                value,
                                format!("{type_name}."),
                                state,
                                CallHow::Implicit,
                            );
                        }
                    }
                }
            }
        }
    }

    /// How a method value `c.flush` runs: handed to a call as an argument
    /// (`inWritableDir(s.create, path)`), it is taken to run there, with the call's locks
    /// (on a goroutine under `go`); handed to `time.AfterFunc`, stored, returned or inside a
    /// literal kept for later, it runs later.
    fn method_value_how(&self, value: Node<'t>, stmt: Node<'t>, how: CallHow) -> CallHow {
        if how == CallHow::Goroutine {
            return how;
        }
        let argument_of = value
            .parent_node()
            .filter(|p| p.kind_str() == "argument_list")
            .and_then(|list| list.parent_node())
            .and_then(|call| call.field("function"));
        match argument_of {
            Some(function)
                if !is_after_func(self.model, function)
                    && !kept_for_later(self.model, value, stmt) =>
            {
                how
            }
            _ => CallHow::Later,
        }
    }

    /// `c.flush` not called here: a method value that runs as `how` says.
    fn method_value(&mut self, node: Node<'t>, state: &LockState, how: CallHow) {
        let (Some(operand), Some(field)) = (node.field("operand"), node.field("field")) else {
            return;
        };
        let Some(type_name) = self.holder_of(&self.model.type_of(operand)) else {
            return;
        };
        let name = text(field, self.model.src);
        let signature = self.model.package.method(&type_name, name);
        let is_method = signature.is_some()
            || self
                .model
                .package
                .field_type(&Ty::named("", &type_name), name)
                .is_none();
        if is_method {
            // A handler handed on as a value, with none of its receiver's locks held, is there
            // to be registered: `net/http` serves it on a goroutine per request. Handed on
            // under the lock, it is taken to run in place like any other callback.
            let how = match how {
                CallHow::Direct
                    if signature.is_some_and(is_http_handler)
                        && !receiver_lock_held(operand, state, self.model.src) =>
                {
                    CallHow::Later
                }
                how => how,
            };
            let callee = format!("{type_name}.{name}");
            self.record(node, operand, callee, state, how);
        }
    }

    fn record(
        &mut self,
        node: Node<'t>,
        receiver: Node<'t>,
        callee: String,
        state: &LockState,
        how: CallHow,
    ) {
        let Some(path) = goconc_syntax::access_path(receiver, self.model.src) else {
            return;
        };
        let prefix = format!("{path}.");
        let guards: Vec<String> = match how {
            CallHow::Direct | CallHow::Implicit => state
                .held_on_every_path()
                .filter_map(|k| k.strip_prefix(&prefix).map(str::to_string))
                .collect(),
            CallHow::Goroutine | CallHow::Later => Vec::new(),
        };
        let root = goconc_syntax::path_root(receiver);
        let receiver_kind = if self
            .receiver
            .as_ref()
            .is_some_and(|(name, _)| path == *name)
            && root.is_some_and(|r| {
                self.model
                    .resolve(r)
                    .is_some_and(|d| d.kind == DeclKind::Receiver)
            }) {
            CallReceiver::Same
        } else if unparen(receiver).kind_str() == "identifier"
            && self
                .model
                .resolve(unparen(receiver))
                .is_some_and(|d| unpublished_at(self.model, d, node))
        {
            CallReceiver::Fresh
        } else {
            CallReceiver::Other
        };
        self.calls.insert(
            (node.start_byte(), how as u8),
            MethodCall {
                callee,
                caller: self.function.clone(),
                guards,
                receiver: receiver_kind,
                how,
                test_step: how == CallHow::Direct
                    && node.kind_str() == "call_expression"
                    && self.test_step.holds_at(self.model, node),
                offset: node.start_byte(),
                len: node.end_offset() - node.start_byte(),
            },
        );
    }
}

/// Is `node` inside a function literal below `top` that is kept to run later: stored in a
/// field or global, returned, or handed to `time.AfterFunc`? A literal called where it stands,
/// handed to a call as a callback, or held in a new local, is taken to run there and then.
fn kept_for_later(model: &FileModel, node: Node, top: Node) -> bool {
    kept_for_later_remembered(model, node, top, &mut HashMap::default())
}

/// [`kept_for_later`], remembering the answer for each function climbed through (for the same
/// `top`), so that the calls of many nested literals climb each literal once.
fn kept_for_later_remembered(
    model: &FileModel,
    node: Node,
    top: Node,
    known: &mut HashMap<usize, bool>,
) -> bool {
    let mut climbed: Vec<usize> = Vec::new();
    let mut function = model.function_of(node);
    let answer = loop {
        let Some(i) = function else { break false };
        if let Some(&answer) = known.get(&i) {
            break answer;
        }
        climbed.push(i);
        match kept_here(model, i, top) {
            Some(answer) => break answer,
            None => function = model.functions[i].parent,
        }
    };
    for i in climbed {
        known.insert(i, answer);
    }
    answer
}

/// Whether function `i` itself settles [`kept_for_later`] for a node inside it: Some(false) at
/// or above `top`, Some(true) for a literal kept to run later, None to ask its parent.
fn kept_here(model: &FileModel, i: usize, top: Node) -> Option<bool> {
    // The literals around a node are climbed by the model's function tree: tree-sitter's
    // `parent()` descends from the root on every call, cubic in nested closures.
    let f = &model.functions[i];
    if f.node == top || !goconc_syntax::is_within(f.node, top) {
        return Some(false);
    }
    if f.node.kind_str() == "func_literal" {
        let [parent, grandparent, ..] = f.outer();
        let Some(parent) = parent else {
            return Some(true);
        };
        let runs_here = match parent.kind_str() {
            "call_expression" => parent.field("function") == Some(f.node),
            // `stop := func() bool { … }`: a local the function calls or hands on itself.
            "expression_list" => {
                grandparent.is_some_and(|d| d.kind_str() == "short_var_declaration")
            }
            "argument_list" => grandparent
                .and_then(|call| call.field("function"))
                .is_none_or(|f| !is_after_func(model, f)),
            _ => false,
        };
        if !runs_here {
            return Some(true);
        }
    }
    None
}

/// What one function body does with channels, in document order (function literals aside):
/// what [`ChannelHandover`] is derived from for each write of a channel field in it.
#[derive(Debug, Default)]
struct ChannelUses {
    /// `local := x.f` (or `=`): where, the local, and the copied expression's text.
    copies: Vec<(usize, String, String)>,
    /// `ch <- v` with `v` a name: where it ends, the channel's text, and `v`.
    sends: Vec<(usize, String, String)>,
    /// `<-ch`: where it starts, and the channel's text.
    receives: Vec<(usize, String)>,
    /// `go r.m(…)`: where it starts, `r`'s text, and `m`.
    goroutines: Vec<(usize, String, String)>,
}

impl ChannelUses {
    fn of(body: Node, src: &str) -> ChannelUses {
        let mut uses = ChannelUses::default();
        walk(body, |n| {
            match n.kind_str() {
                // Another function's statements are not this one's.
                "func_literal" => return false,
                "short_var_declaration" | "assignment_statement" => {
                    if let (Some(left), Some(right)) = (n.field("left"), n.field("right")) {
                        for (l, r) in named_children(left).zip(named_children(right)) {
                            if l.kind_str() == "identifier" {
                                uses.copies.push((
                                    n.start_byte(),
                                    text(l, src).to_string(),
                                    text(unparen(r), src).to_string(),
                                ));
                            }
                        }
                    }
                }
                "send_statement" => {
                    if let (Some(channel), Some(value)) = (n.field("channel"), n.field("value")) {
                        if value.kind_str() == "identifier" {
                            uses.sends.push((
                                n.end_offset(),
                                text(unparen(channel), src).to_string(),
                                text(value, src).to_string(),
                            ));
                        }
                    }
                }
                "unary_expression" => {
                    if let Some(operand) = n
                        .field("operand")
                        .filter(|_| n.field("operator").is_some_and(|o| text(o, src) == "<-"))
                    {
                        uses.receives
                            .push((n.start_byte(), text(unparen(operand), src).to_string()));
                    }
                }
                "go_statement" => {
                    let callee = named_children(n)
                        .next()
                        .and_then(|call| call.field("function"))
                        .map(unparen)
                        .filter(|f| f.kind_str() == "selector_expression");
                    if let Some((operand, method)) =
                        callee.and_then(|c| Some((c.field("operand")?, c.field("field")?)))
                    {
                        uses.goroutines.push((
                            n.start_byte(),
                            text(unparen(operand), src).to_string(),
                            text(method, src).to_string(),
                        ));
                    }
                }
                _ => {}
            }
            true
        });
        uses
    }

    /// How the write `field` (`w.quit`, of receiver `receiver`) spanning `at` is ordered with
    /// the goroutines reading the field.
    fn handover(&self, field: &str, receiver: &str, at: std::ops::Range<usize>) -> ChannelHandover {
        // The names that hold the channel before the write: the field and locals copied from it.
        let mut names: Vec<&str> = vec![field];
        names.extend(
            self.copies
                .iter()
                .filter(|(copied_at, _, from)| *copied_at < at.start && from == field)
                .map(|(_, local, _)| local.as_str()),
        );
        let answered = self.sends.iter().any(|(sent_at, channel, reply)| {
            *sent_at <= at.start
                && names.contains(&channel.as_str())
                && self.receives.iter().any(|(received_at, from)| {
                    (*sent_at..at.start).contains(received_at) && from == reply
                })
        });
        let started_after = self
            .goroutines
            .iter()
            .filter(|(started_at, on, _)| *started_at >= at.end && on == receiver)
            .map(|(_, _, method)| method.clone())
            .collect();
        ChannelHandover {
            answered,
            started_after,
        }
    }
}

/// Is any mutex below `receiver` (`d.mu` for `d`) held on every path to here?
fn receiver_lock_held(receiver: Node, state: &LockState, src: &str) -> bool {
    let Some(path) = goconc_syntax::access_path(receiver, src) else {
        return false;
    };
    let prefix = format!("{path}.");
    state
        .held
        .iter()
        .any(|(key, held)| held.on_every_path && key.starts_with(&prefix))
}

/// Does the signature take exactly `(http.ResponseWriter, *http.Request)`, the shape of
/// `net/http`'s `HandlerFunc`? Such a method value is there to be registered as a handler.
fn is_http_handler(signature: &super::package::FuncSig) -> bool {
    signature.results.is_empty()
        && matches!(signature.params.as_slice(), [writer, request]
            if writer.is_named("net/http", "ResponseWriter")
                && request.is_pointer()
                && request.deref().is_named("net/http", "Request"))
}

/// `time.AfterFunc`: runs its func on a goroutine of its own, later.
fn is_after_func(model: &FileModel, function: Node) -> bool {
    function.kind_str() == "selector_expression"
        && function
            .field("field")
            .is_some_and(|f| text(f, model.src) == "AfterFunc")
        && function.field("operand").is_some_and(|o| {
            o.kind_str() == "identifier"
                && model.imports.path_of(text(o, model.src)) == Some("time")
        })
}

/// Is the selector written to: assigned, incremented, or a map/slice element or a field of it
/// assigned?
/// `recv.f = v`, one name and one value: `v`'s text when it is a state value (a name or a
/// literal, see [`crate::transition::state_value`]).
fn assigned_value(selector: Node, src: &str) -> Option<String> {
    let list = selector
        .parent_node()
        .filter(|p| p.kind_str() == "expression_list")?;
    let stmt = list.parent_node()?;
    crate::transition::receiver_assignment(
        stmt,
        src,
        text(goconc_syntax::path_root(selector)?, src),
    )
    .filter(|(field, _)| {
        selector
            .field("field")
            .is_some_and(|f| text(f, src) == field)
    })
    .map(|(_, value)| value)
}

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
            // `recv.stats.hits++`, `recv.cfg.addr = a`: what the field holds is written.
            "selector_expression" if parent.field("operand") == Some(node) => node = parent,
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

/// Does the access reach what the field holds rather than the field: `recv.m[k]`, `range
/// recv.m`, `len(recv.m)`, `cap(recv.m)`, `delete(recv.m, k)`, `clear(recv.m)`? (A write of `recv.s.x` is one too; a read of it, which may
/// read a part nothing writes, is taken as a read of the field.)
fn is_element(selector: Node, ancestors: &[Node], src: &str) -> bool {
    let Some(parent) = parent_among(selector, ancestors) else {
        return false;
    };
    match parent.kind_str() {
        "index_expression" | "slice_expression" => parent.field("operand") == Some(selector),
        "range_clause" => parent.field("right") == Some(selector),
        "argument_list" => {
            let above = ancestors.split_last().map_or(&[][..], |(_, above)| above);
            parent_among(parent, above)
                .and_then(|c| c.field("function"))
                .is_some_and(|f| {
                    f.kind_str() == "identifier"
                        && matches!(text(f, src), "len" | "cap" | "delete" | "clear")
                })
        }
        _ => false,
    }
}

/// Is the write inside the `then` branch of `if recv.f == nil` (the same selector text)?
fn under_nil_check(selector: Node, ancestors: &[Node], src: &str) -> bool {
    let path = text(selector, src);
    let wanted = [format!("{path} == nil"), format!("nil == {path}")];
    let mut child = selector;
    for &ancestor in ancestors.iter().rev() {
        if goconc_syntax::is_function(ancestor.kind_str()) {
            return false;
        }
        if ancestor.kind_str() == "if_statement" && ancestor.field("consequence") == Some(child) {
            if let Some(condition) = ancestor.field("condition") {
                let condition = text(unparen(condition), src);
                if wanted.iter().any(|w| w == condition) {
                    return true;
                }
            }
        }
        child = ancestor;
    }
    false
}

/// The guard facts of every function of the model: field accesses in methods of types that
/// hold a mutex, and calls of their methods from anywhere.
pub fn collect(model: &FileModel) -> GuardFacts {
    collect_replaying(model, |_| None)
}

/// [`collect`], replaying the lock-state run of a body where `recorded` has one (the rules
/// record a run per locking body once, before any rule reads it) instead of running it again:
/// the observer sees the same settled states either way.
pub fn collect_replaying<'t>(
    model: &FileModel<'t>,
    recorded: impl Fn(Node<'t>) -> Option<std::rc::Rc<locks::LockTrace<'t>>>,
) -> GuardFacts {
    let mut facts = GuardFacts::default();
    // By receiver type: its fields holding another struct of the package that holds a mutex.
    // Found once per type: a type may have thousands of fields and of methods.
    let mut holder_fields_of: HashMap<String, Vec<(String, String)>> = HashMap::default();
    for (index, function) in model.functions.iter().enumerate() {
        if function.parent.is_some() {
            continue;
        }
        let (Some(body), Some(name)) = (function.body, function.node.field("name")) else {
            continue;
        };
        let receiver = function
            .receiver_type
            .as_ref()
            .filter(|t| model.package.holds_mutex(t))
            .and_then(|type_name| {
                let name = function
                    .node
                    .field("receiver")
                    .and_then(|r| named_children(r).next())
                    .and_then(|p| p.field("name"))
                    .map(|n| text(n, model.src))?;
                Some((name, type_name.clone()))
            });
        // Only in methods of a type that holds a mutex itself: it coordinates goroutines of
        // its own. A lock-free helper type around another's value (a writer or reader view,
        // `bodyLocked{b}`) is how code already holding that value's lock reaches its fields.
        let holder_fields = receiver.as_ref().and_then(|(_, type_name)| {
            let name = function
                .node
                .field("receiver")
                .and_then(|r| named_children(r).next())
                .and_then(|p| p.field("name"))
                .map(|n| text(n, model.src))?;
            let fields = holder_fields_of
                .entry(type_name.clone())
                .or_insert_with(|| {
                    let declared = model.package.struct_fields(type_name).unwrap_or(&[]);
                    declared
                        .iter()
                        .filter_map(|f| match f.ty.deref() {
                            Ty::Named { pkg, name }
                                if pkg.is_empty()
                                    && name != type_name
                                    && model.package.holds_mutex(name) =>
                            {
                                Some((f.name.clone(), name.clone()))
                            }
                            _ => None,
                        })
                        .collect()
                });
            (!fields.is_empty()).then(|| (name, fields.clone()))
        });
        let key = summary_key(function.receiver_type.as_deref(), text(name, model.src));
        let expects_held = model.package.summary(&key).is_some_and(|s| s.expects_held);
        let mut collector = Collector {
            model,
            receiver,
            holder_fields,
            elements: HashMap::default(),
            function: key,
            expects_held,
            accesses: HashMap::default(),
            calls: HashMap::default(),
            holders: HashMap::default(),
            in_goroutine: false,
            test_step: TestStep::of(model, index),
            channel_uses: HashMap::default(),
        };
        let locks_here = text(body, model.src).contains("ock(");
        if !locks_here {
            // No lock is taken: every access is unguarded, no dataflow needed.
            for statement in goconc_syntax::statements(body) {
                collector.statement(statement, &LockState::default());
            }
        } else if let Some(trace) = recorded(body) {
            trace.replay(&mut collector);
        } else if locks::analyze(model, body, &mut collector).is_none() {
            continue;
        }
        let mut accesses: Vec<FieldAccess> = collector.accesses.into_values().collect();
        accesses.sort_by_key(|a| (a.offset, a.len));
        if let Some(receiver) = function
            .node
            .field("receiver")
            .and_then(|r| named_children(r).next())
            .and_then(|p| p.field("name"))
        {
            let replaces = |a: &&mut FieldAccess| a.replaces_field();
            if accesses.iter().any(FieldAccess::replaces_field) {
                let starts = GoStarts::of(body, text(receiver, model.src), model.src);
                for access in accesses.iter_mut().filter(replaces) {
                    access.set_up = starts.set_up_at(access.offset);
                }
            }
        }
        let mut calls: Vec<MethodCall> = collector.calls.into_values().collect();
        calls.sort_by_key(|c| (c.offset, c.len, c.how as u8));
        facts.accesses.extend(accesses);
        facts.calls.extend(calls);
    }
    facts
}

/// Where a method body starts goroutines: the first `go` statement, and the last that runs the
/// receiver's own code (`go recv.loop()`, or `go func(){…}()`). Found in one walk, so that every
/// write of a long body asks in constant time (a walk per write was quadratic: 2,500 field
/// replacements in one function took 80 s).
#[derive(Clone, Copy, Debug, Default)]
pub struct GoStarts {
    first: Option<usize>,
    last_own: Option<usize>,
}

impl GoStarts {
    pub fn of(body: Node, receiver: &str, src: &str) -> GoStarts {
        let mut starts = GoStarts::default();
        walk(body, |n| {
            if n.kind_str() == "go_statement" {
                let start = n.start_byte();
                starts.first = Some(starts.first.map_or(start, |first| first.min(start)));
                let own = named_children(n)
                    .next()
                    .and_then(|call| call.field("function"))
                    .is_some_and(|f| match f.kind_str() {
                        "func_literal" => true,
                        "selector_expression" => {
                            f.field("operand").is_some_and(|o| text(o, src) == receiver)
                        }
                        _ => false,
                    });
                if own {
                    starts.last_own = Some(starts.last_own.map_or(start, |last| last.max(start)));
                }
            }
            true
        });
        starts
    }

    /// Is `offset` before the method starts goroutines of its own, and after none at all? That
    /// is the value's set-up before its goroutines run (a constructor or `Start`).
    pub fn set_up_at(&self, offset: usize) -> bool {
        self.last_own.is_some_and(|own| own >= offset)
            && self.first.is_none_or(|first| first >= offset)
    }
}

/// Is the local set again after its declaration (`x = other`, `x, ok = m[k]`)?
fn reassigned(model: &FileModel, decl: &Decl) -> bool {
    let Some(body) = model.functions.get(decl.function).and_then(|f| f.body) else {
        return true;
    };
    let mut again = false;
    walk(body, |node| {
        if again {
            return false;
        }
        if matches!(
            node.kind_str(),
            "assignment_statement" | "short_var_declaration"
        ) && node.start_byte() != decl.stmt.start_byte()
        {
            if let Some(left) = node.field("left") {
                again = named_children(left).any(|l| {
                    l.kind_str() == "identifier"
                        && text(l, model.src) == decl.name
                        && model.resolve(l).is_some_and(|d| d.ident == decl.ident)
                });
            }
        }
        !again
    });
    again
}

/// `T{…}`, `&T{…}` or `new(T)`: a value nobody else has yet.
pub fn is_fresh_value(model: &FileModel, init: Node) -> bool {
    let init = unparen(init);
    match init.kind_str() {
        "composite_literal" | "unary_expression" => super::summary::is_made_value(init),
        "call_expression" => {
            init.field("function").is_some_and(|f| {
                f.kind_str() == "identifier"
                    && text(f, model.src) == "new"
                    && model.resolve(f).is_none()
            })
            // A constructor of the package that returns what it just made (`NewWallet`).
            || init.field("function").map(unparen).is_some_and(|f| f.kind_str() == "identifier")
                && locks::callee(model, init)
                    .and_then(|callee| model.package.summary(&callee.key))
                    .is_some_and(|summary| summary.returns_fresh)
        }
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
                && decl.ident.parent_node().is_some_and(|spec| {
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
    let from = decl.ident.end_offset();
    let mut until = at.start_byte();
    // A loop around `at` that the declaration is outside of runs what follows `at` again.
    for lp in goconc_syntax::enclosing_loops(at) {
        if lp.start_byte() > decl.stmt.start_byte() {
            until = until.max(lp.end_offset());
        } else {
            break;
        }
    }
    let mut shared = false;
    // Where the goroutines that captured it end (their `go` statement or group call).
    let mut goroutines_end: Option<usize> = None;
    walk(scope_node, |n| {
        if shared || n.end_offset() <= from || n.start_byte() >= until {
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
    let mut block = at.parent_node();
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
        block = b.parent_node();
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
    let mut current = ident.parent_node();
    while let Some(n) = current {
        if n == scope {
            break;
        }
        if n.kind_str() == "func_literal" {
            if let Some(start) = super::goroutines::goroutine_start(model, n) {
                return Publication::Goroutine(start.end_offset());
            }
            let called_here = n.parent_node().is_some_and(|p| {
                p.kind_str() == "call_expression" && p.field("function") == Some(n)
            });
            if !called_here {
                return Publication::Escapes;
            }
        }
        current = n.parent_node();
    }
    let mut node = ident;
    let mut addressed = !by_value;
    loop {
        let Some(parent) = node.parent_node() else {
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
                let called = parent.parent_node().filter(|c| {
                    c.kind_str() == "call_expression" && c.field("function") == Some(parent)
                });
                if let Some(call) = called {
                    // `go x.run()` hands it to a goroutine; `x.m()` and `x.f` keep it here.
                    return match call
                        .parent_node()
                        .filter(|g| g.kind_str() == "go_statement")
                    {
                        Some(go) => Publication::Goroutine(go.end_offset()),
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
                let call = parent.parent_node();
                let group_go = call.and_then(goconc_syntax::method_call).is_some_and(|mc| {
                    matches!(text(mc.method, model.src), "Go" | "TryGo")
                        && named_children(parent).next() == Some(node)
                });
                return match (group_go, call) {
                    (true, Some(call)) => Publication::Goroutine(call.end_offset()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use goconc_syntax::parse_text;

    /// The body of the first function of `src`.
    fn first_body(tree: &tree_sitter::Tree) -> Node<'_> {
        let function = named_children(tree.root_node())
            .find(|n| n.kind_str() == "method_declaration")
            .expect("a method");
        function.field("body").expect("a body")
    }

    /// Writes before the method's own goroutine are its set-up; a write after it, or after any
    /// goroutine at all (another value's), is not.
    #[test]
    fn set_up_is_before_own_goroutines_and_after_none() {
        let src = "package p\n\nfunc (s *S) Start(o *S) {\n\ts.a = 1\n\tgo s.loop()\n\ts.b = 2\n}\n\n\
                   func (s *S) Other(o *S) {\n\ts.a = 1\n\tgo o.loop()\n\ts.b = 2\n\tgo func() {}()\n}\n";
        let tree = parse_text(src);
        let body = first_body(&tree);
        let starts = GoStarts::of(body, "s", src);
        assert!(starts.set_up_at(src.find("s.a = 1").unwrap()));
        assert!(!starts.set_up_at(src.find("s.b = 2").unwrap()));
        let other = named_children(tree.root_node())
            .filter(|n| n.kind_str() == "method_declaration")
            .nth(1)
            .and_then(|f| f.field("body"))
            .unwrap();
        let starts = GoStarts::of(other, "s", src);
        let second = src.rfind("s.a = 1").unwrap();
        // Before another value's goroutine and the literal: set-up (the literal is its own).
        assert!(starts.set_up_at(second));
        // After another value's goroutine: not set-up, though a literal follows.
        assert!(!starts.set_up_at(src.rfind("s.b = 2").unwrap()));
        // A body with no goroutine sets nothing up.
        let none = parse_text("package p\n\nfunc (s *S) F() {\n\ts.a = 1\n}\n");
        let src_none = "package p\n\nfunc (s *S) F() {\n\ts.a = 1\n}\n";
        assert!(!GoStarts::of(first_body(&none), "s", src_none)
            .set_up_at(src_none.find("s.a").unwrap()));
    }
}
