//! Which function literals run on a goroutine of their own: `go func(){…}()`, and the literals
//! handed to a `sync.WaitGroup`'s `Go` or an `errgroup.Group`'s `Go`/`TryGo`.

use goconc_syntax::NodeExt;
use tree_sitter::Node;

use crate::flow::TEST_GOEXIT_METHODS;
use crate::imports::Imports;
use crate::sync_calls::{waitgroup_call, WaitGroupOp};
use crate::{FileModel, Ty};
use goconc_syntax::{method_call, named_children, text, unparen, walk};

/// The statement or call that runs a function literal on a new goroutine: the `go` statement of
/// `go func(){…}(…)`, the call `x.Go(func…)` / `x.TryGo(func…)` on a group, or the only use of
/// a local the literal initialises: `f := func(){…}; go f()`.
pub fn goroutine_start<'t>(model: &FileModel<'t>, lit: Node<'t>) -> Option<Node<'t>> {
    // The model's walk kept the literal's nearest ancestors: a literal that is called on the
    // spot (`func(){…}()`, the common case) or used any other way is told apart without
    // tree-sitter's `parent()` (quadratic in nested closures).
    if let Some([Some(parent), grandparent, ..]) = model
        .function_index(lit)
        .map(|i| model.functions[i].outer())
    {
        match parent.kind_str() {
            "call_expression" => {
                return grandparent.filter(|g| {
                    parent.field("function") == Some(lit) && g.kind_str() == "go_statement"
                });
            }
            "argument_list" | "expression_list" | "parenthesized_expression" => {}
            _ => return None,
        }
    }
    go_statement_of(lit)
        .or_else(|| group_go_call_of(model, lit))
        .or_else(|| go_statement_through_local(model, lit))
}

/// `f := func(){…}` (or `var f = func(){…}`) whose every use is `go f(…)`, once: that `go`
/// statement. A local that is also called, passed or assigned runs elsewhere too.
pub fn go_statement_through_local<'t>(model: &FileModel<'t>, lit: Node<'t>) -> Option<Node<'t>> {
    let list = lit
        .parent_node()
        .filter(|p| p.kind_str() == "expression_list")?;
    if list.named_child_count() != 1 {
        return None;
    }
    let stmt = list.parent_node()?;
    let ident = match stmt.kind_str() {
        "short_var_declaration" if stmt.field("right") == Some(list) => {
            stmt.field("left").and_then(|l| named_children(l).next())?
        }
        "var_spec" if stmt.field("value") == Some(list) => stmt.field("name")?,
        _ => return None,
    };
    // No `go` statement calls the name: nothing to look for.
    if !model.is_started_by_name(text(ident, model.src)) {
        return None;
    }
    let decl = model.resolve_name(text(ident, model.src), stmt.end_offset())?;
    if decl.ident != ident {
        return None;
    }
    let scope = model.functions.get(decl.function)?.body?;
    let name = decl.name;
    let mut go = None;
    let mut other_use = false;
    goconc_syntax::walk(scope, |n| {
        if other_use {
            return false;
        }
        if n.kind_str() == "identifier" && n != ident && text(n, model.src) == name {
            if model.resolve(n).map(|d| d.ident) != Some(ident) {
                return true;
            }
            // `go f(…)`: the identifier is the callee of the go statement's call.
            let started = n
                .parent_node()
                .filter(|c| c.kind_str() == "call_expression" && c.field("function") == Some(n))
                .and_then(|c| c.parent_node())
                .filter(|g| g.kind_str() == "go_statement");
            match started {
                Some(g) if go.is_none() => go = Some(g),
                _ => other_use = true,
            }
        }
        true
    });
    if other_use {
        return None;
    }
    go
}

/// A body that runs on a goroutine of its own: a function literal started by `go`, `g.Go` or
/// through a local, or a function or method of this file that the package starts by name
/// (`go worker(…)`, `go s.loop()`, possibly from another file).
#[derive(Debug, Clone, Copy)]
pub struct GoroutineBody<'t> {
    /// The `func_literal`, `function_declaration` or `method_declaration`.
    pub function: Node<'t>,
    /// The statement or call that starts it, when it is in this file and starts this very
    /// literal; None for a declaration started by name.
    pub start: Option<Node<'t>>,
}

/// Every goroutine body of the file, literals first in document order, then declarations.
pub fn goroutine_bodies<'t>(
    model: &FileModel<'t>,
    index: &crate::index::NodeIndex<'t>,
) -> Vec<GoroutineBody<'t>> {
    let mut out: Vec<GoroutineBody<'t>> = index
        .func_literals
        .iter()
        .filter_map(|&lit| {
            goroutine_start(model, lit).map(|start| GoroutineBody {
                function: lit,
                start: Some(start),
            })
        })
        .collect();
    out.extend(
        model
            .functions
            .iter()
            .filter(|f| is_started_by_name(model, f))
            .map(|f| GoroutineBody {
                function: f.node,
                start: None,
            }),
    );
    out
}

/// The summary key of a top-level function or method of the file (`Server.loop`, `worker`).
pub fn function_key(model: &FileModel, function: Node) -> Option<String> {
    let index = model.function_index(function)?;
    let name = text(function.field("name")?, model.src);
    Some(crate::summary::summary_key(
        model.functions[index].receiver_type.as_deref(),
        name,
    ))
}

/// The summary key of the top-level function around a node.
pub fn enclosing_function_key(model: &FileModel, node: Node) -> Option<String> {
    let mut top = node;
    while let Some(f) = goconc_syntax::enclosing_function(top) {
        top = f;
    }
    function_key(model, top)
}

/// Whether the package starts this function or method by name with `go`.
pub fn is_started_by_name(model: &FileModel, function: &crate::Function) -> bool {
    let kind = function.node.kind_str();
    if !matches!(kind, "function_declaration" | "method_declaration") {
        return false;
    }
    let Some(name) = function.node.field("name") else {
        return false;
    };
    let key = crate::summary::summary_key(function.receiver_type.as_deref(), text(name, model.src));
    model.package.is_started_by_name(&key)
}

/// The `go` statement that starts a function literal directly: `go func(…){…}(…)`.
pub fn go_statement_of(lit: Node) -> Option<Node> {
    let mut node = lit;
    let mut parent = lit.parent_node()?;
    while parent.kind_str() == "parenthesized_expression" {
        node = parent;
        parent = parent.parent_node()?;
    }
    if parent.kind_str() != "call_expression" || parent.field("function")? != node {
        return None;
    }
    let go = parent.parent_node()?;
    (go.kind_str() == "go_statement").then_some(go)
}

/// The call `x.Go(lit)` / `x.TryGo(lit)` that hands a function literal to a group (a
/// `sync.WaitGroup` or an `errgroup.Group`) to run on a new goroutine.
pub fn group_go_call_of<'t>(model: &FileModel<'t>, lit: Node<'t>) -> Option<Node<'t>> {
    let mut node = lit;
    let mut parent = lit.parent_node()?;
    while parent.kind_str() == "parenthesized_expression" {
        node = parent;
        parent = parent.parent_node()?;
    }
    if parent.kind_str() != "argument_list" || parent.named_child(0)? != node {
        return None;
    }
    let call = parent.parent_node()?;
    let mc = method_call(call)?;
    match text(mc.method, model.src) {
        "Go" => {
            if waitgroup_call(model, call).is_some_and(|c| c.op == WaitGroupOp::Go) {
                return Some(call);
            }
        }
        "TryGo" => {}
        _ => return None,
    }
    let ty = model.type_of(mc.receiver);
    ty.deref()
        .is_named("golang.org/x/sync/errgroup", "Group")
        .then_some(call)
}

/// Is `node` (inside `outer`) inside a function literal, strictly between the two, that runs on
/// a goroutine of its own (`go func(){…}()`, `g.Go(func(){…})`)?
pub fn in_nested_goroutine(model: &FileModel, node: Node, outer: Node) -> bool {
    let mut current = node.parent_node();
    while let Some(n) = current {
        if n == outer {
            return false;
        }
        if n.kind_str() == "func_literal" && goroutine_start(model, n).is_some() {
            return true;
        }
        current = n.parent_node();
    }
    false
}

/// How a call can end the goroutine that makes it without coming back to the caller (the rest of
/// the goroutine, `wg.Done()` included, never runs), as the packages document it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoroutineExit {
    /// `t.Fatal…`, `t.FailNow`, `t.Skip…` on a testing handle, or `runtime.Goexit()`.
    Goexit,
    /// An assertion of a package documented to stop the test with `t.FailNow` when it fails:
    /// testify's `require.X(t, …)`, gotest.tools' `assert.Assert(t, …)`/`NilError`/`Equal`/….
    FailingAssertion,
}

/// Assertion packages whose functions call `t.FailNow` when the assertion fails, and which of
/// their functions do (None: all of them).
const FAIL_NOW_ASSERTIONS: [(&str, Option<&[&str]>); 3] = [
    ("github.com/stretchr/testify/require", None),
    (
        "gotest.tools/v3/assert",
        Some(&[
            "Assert",
            "NilError",
            "Equal",
            "DeepEqual",
            "Error",
            "ErrorContains",
            "ErrorIs",
            "ErrorType",
        ]),
    ),
    (
        "gotest.tools/assert",
        Some(&[
            "Assert",
            "NilError",
            "Equal",
            "DeepEqual",
            "Error",
            "ErrorContains",
            "ErrorType",
        ]),
    ),
];

/// Does this call end the calling goroutine (see [`GoroutineExit`])?
pub fn goroutine_exit(model: &FileModel, call: Node) -> Option<GoroutineExit> {
    let function = goconc_syntax::unparen(call.field("function")?);
    if function.kind_str() != "selector_expression" {
        return None;
    }
    let operand = function.field("operand")?;
    let name = text(function.field("field")?, model.src);
    if model.is_package(operand, "runtime") {
        return (name == "Goexit").then_some(GoroutineExit::Goexit);
    }
    for (path, names) in FAIL_NOW_ASSERTIONS {
        if model.is_package(operand, path) {
            let listed = names.is_none_or(|names| names.contains(&name));
            return listed.then_some(GoroutineExit::FailingAssertion);
        }
    }
    let testing = crate::sync_calls::is_testing_handle(&model.type_of(operand));
    (testing && TEST_GOEXIT_METHODS.contains(&name)).then_some(GoroutineExit::Goexit)
}

/// What one top-level function or method tells the rest of the package about goroutines and
/// the channels it hands around, read from its text alone (collected per file with the
/// declarations, merged per package, so that a server refreshing one file sees what the CLI
/// sees, and a finding in one function never reads another function's body).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct GoFacts {
    /// A call in its own body that can end the goroutine it runs on, as written (`t.Fatalf`,
    /// `runtime.Goexit`, `require.NoError`): on a testing handle it takes as a parameter, or of
    /// a package documented to stop the test.
    pub ends_goroutine: Option<String>,
    /// The functions and methods it starts by name: `go worker(…)`, `go s.loop()`, by summary
    /// key (`worker`, `Server.loop`), each once.
    pub starts: Vec<String>,
    /// The functions and methods called inside the literals it starts (`go func() { err :=
    /// c.loop(); … }()`): they run on a goroutine it started, though not as its body (so not
    /// goroutine code for every rule, as [`GoFacts::starts`] is). By summary key, each once.
    pub runs_in_started_literals: Vec<String>,
    /// The functions and methods whose returned channel it reads in a loop that can stop
    /// reading (`for v := range f() { … break … }`, `ch := f()` read in a `select` loop).
    pub reads_result_until_stop: Vec<String>,
    /// The positions of its channel parameters that it sends on in a `select` that gives up on
    /// cancellation (`case ch <- v: case <-ctx.Done():`).
    pub abandons_params: Vec<usize>,
    /// Its channel parameters handed on to a function of the package: (parameter position,
    /// callee key, argument position).
    pub hands_params: Vec<(usize, String, usize)>,
    /// The positions of its channel parameters that it uses for exactly one thing: one bare
    /// send (`errc <- err`), outside any loop and not a `select` case, in its own body (not in a
    /// function literal). Started with `go f(…, ch, …)`, it sends once and cannot give up.
    pub sends_once_params: Vec<usize>,
    /// It calls `recover()` in its own body: deferred, it stops a panic.
    pub recovers: bool,
    /// What it does with channels held in struct fields (see [`crate::channels::fields`]).
    pub field_ops: Vec<crate::channels::fields::FieldChanOp>,
    /// What it does with channels kept in a map or slice field (see
    /// [`crate::channels::registries`]).
    pub registry_ops: Vec<crate::channels::registries::RegistryOp>,
    /// It returns a channel it made unbuffered, that a goroutine it started sends on with a
    /// bare send and nothing else receives (see [`returns_pending_send`]): a caller that drops
    /// the result leaves that goroutine blocked for good.
    pub returns_pending_send: bool,
    /// What it does on the goroutine that runs it: calls, loops, receives from its channel
    /// parameters, field channels it hands to goroutines it starts (see
    /// [`crate::channels::own_goroutine`]).
    pub own: crate::channels::own_goroutine::OwnGoroutine,
    /// Method calls of the goroutines it starts on a variable they capture, paired with a field
    /// of that variable it writes afterwards, unordered (see [`crate::captured_calls`]).
    pub written_while_called: Vec<crate::captured_calls::WrittenWhileCalled>,
}

impl GoFacts {
    /// Hashes the facts for reuse across edits, without offsets: what moves when text above
    /// is typed. [`GoFacts::own`] as
    /// [`crate::channels::own_goroutine::OwnGoroutine::hash_without_offsets`] hashes it; the
    /// channel operations on fields without where they are, and their loop by its rank among
    /// the function's loops (which operations share one is what it tells).
    pub fn hash_for_reuse(&self, key: &mut impl std::hash::Hasher) {
        use std::hash::Hash;
        let GoFacts {
            ends_goroutine,
            starts,
            runs_in_started_literals,
            reads_result_until_stop,
            abandons_params,
            hands_params,
            sends_once_params,
            recovers,
            field_ops,
            registry_ops,
            returns_pending_send,
            own,
            written_while_called,
        } = self;
        (
            ends_goroutine,
            starts,
            runs_in_started_literals,
            reads_result_until_stop,
            abandons_params,
            hands_params,
            sends_once_params,
            recovers,
            returns_pending_send,
            written_while_called,
        )
            .hash(key);
        let mut loops: Vec<usize> = field_ops.iter().filter_map(|op| op.loop_offset).collect();
        loops.sort_unstable();
        loops.dedup();
        for op in field_ops {
            let crate::channels::fields::FieldChanOp {
                owner,
                field,
                kind,
                function,
                in_goroutine,
                select_can_leave,
                select_has_cancel,
                in_loop,
                loop_offset,
                loop_can_stop,
                held,
                read_held,
                taken_in_iteration,
                offset: _,
                len,
            } = op;
            let loop_rank = loop_offset.map(|at| loops.partition_point(|&l| l < at));
            (
                (owner, field, kind, function),
                (in_goroutine, select_can_leave, select_has_cancel),
                (in_loop, loop_rank, loop_can_stop),
                (held, read_held, taken_in_iteration, len),
            )
                .hash(key);
        }
        for op in registry_ops {
            let crate::channels::registries::RegistryOp {
                owner,
                field,
                element,
                below,
                kind,
                function,
                marks,
                tests,
                offset: _,
                len,
            } = op;
            (
                owner, field, element, below, kind, function, marks, tests, len,
            )
                .hash(key);
        }
        own.hash_without_offsets(key);
    }
}

/// The goroutine facts of some of a file's top-level declarations, by summary key; functions
/// with nothing to tell are left out.
pub fn collect_in<'a, 's>(
    items: &[Node],
    src: &'s str,
    imports: &'a Imports,
    chan_fields: &crate::HashSet<(String, String)>,
    names: &crate::summary::NamesByFunction<'a, 's>,
) -> crate::HashMap<String, GoFacts> {
    let mut out: crate::HashMap<String, GoFacts> = crate::HashMap::default();
    for (key, ops) in crate::channels::fields::collect_in(items, src, imports, chan_fields) {
        out.entry(key).or_default().field_ops = ops;
    }
    for (key, ops) in crate::channels::registries::collect_in(items, src, imports) {
        out.entry(key).or_default().registry_ops = ops;
    }
    let assertions = imports_assertions(imports);
    for (_, decl, name, body) in crate::scope::named_bodies(items) {
        let body_text = text(body, src);
        // Every function with a call may be a step between a goroutine and a send.
        let own = match body_text.contains('(') || body_text.contains("<-") {
            true => crate::channels::own_goroutine::collect(decl, body, src, imports, names),
            false => Default::default(),
        };
        if own != Default::default() {
            if let Some(key) = crate::summary::declaration_key(decl, src) {
                out.entry(key).or_default().own = own;
            }
        }
        let may_start = body_text.contains("go ");
        let may_end = may_end_goroutine(body_text, assertions);
        let may_channel = body_text.contains("<-") || body_text.contains("range");
        let recovers = body_text.contains("recover()") && recovers_in(body, src);
        if !may_start && !may_end && !may_channel && !recovers {
            continue;
        }
        let collector = Collector::new(decl, body, src, imports);
        let receiver_type = collector.scope.receiver.as_ref().map(|(_, t)| t.as_str());
        let key = crate::summary::summary_key(receiver_type, text(name, src));
        let mut facts = out.remove(&key).unwrap_or_default();
        facts.ends_goroutine = may_end.then(|| collector.goroutine_end()).flatten();
        facts.recovers = recovers;
        facts.returns_pending_send = may_start && returns_pending_send(decl, body, src);
        if may_start {
            facts.written_while_called =
                crate::captured_calls::collect(decl, body, src, imports, names);
        }
        if may_start || may_channel {
            collector.calls_and_sends(&mut facts);
        }
        if body_text.contains("<-") {
            facts.sends_once_params = collector.sends_once_params();
        }
        if facts != GoFacts::default() {
            out.insert(key, facts);
        }
    }
    out
}

/// Whether the file imports a package of assertions that may end the goroutine
/// ([`FAIL_NOW_ASSERTIONS`]).
fn imports_assertions(imports: &Imports) -> bool {
    FAIL_NOW_ASSERTIONS
        .iter()
        .any(|(path, _)| imports.local_names_of(path).is_some())
}

/// Whether a body of this text may end its goroutine (see [`GoFacts::ends_goroutine`]): the
/// words of every call that can, or `assertions` when the file imports such a package.
fn may_end_goroutine(body_text: &str, assertions: bool) -> bool {
    assertions
        || body_text.contains("Goexit")
        || TEST_GOEXIT_METHODS.iter().any(|m| body_text.contains(m))
}

/// [`collect_in`] for the one fact another package reads ([`GoFacts::ends_goroutine`]; see
/// `module::PackageExports`): each function's facts hold that alone, and functions without it
/// are left out. The module's index of other packages collects no more.
pub fn goroutine_ends_in(
    items: &[Node],
    src: &str,
    imports: &Imports,
) -> crate::HashMap<String, GoFacts> {
    let assertions = imports_assertions(imports);
    let mut out: crate::HashMap<String, GoFacts> = crate::HashMap::default();
    for (_, decl, name, body) in crate::scope::named_bodies(items) {
        if !may_end_goroutine(text(body, src), assertions) {
            continue;
        }
        let collector = Collector::new(decl, body, src, imports);
        let receiver_type = collector.scope.receiver.as_ref().map(|(_, t)| t.as_str());
        let key = crate::summary::summary_key(receiver_type, text(name, src));
        if let Some(end) = collector.goroutine_end() {
            let facts = GoFacts {
                ends_goroutine: Some(end),
                ..GoFacts::default()
            };
            out.insert(key, facts);
        }
    }
    out
}

/// Does the function return, on every `return`, the channel `ch` of `ch := make(chan T)` (no
/// capacity), which a goroutine it starts (`go func() { … }()`) sends on outside any `select`
/// — and do the function's own statements use `ch` for nothing else (no receive, no store, no
/// call it is handed to), nor the goroutine for anything but sends and `close`? Then only the
/// caller can receive what the goroutine sends.
pub fn returns_pending_send(decl: Node, body: Node, src: &str) -> bool {
    if decl
        .field("result")
        .is_none_or(|r| r.kind_str() != "channel_type")
    {
        return false;
    }
    let statements = goconc_syntax::statements(body);
    let Some((ch, declared)) = statements.iter().find_map(|s| unbuffered_made(*s, src)) else {
        return false;
    };
    let mut sender = None;
    let mut returns = 0;
    let mut other_use = false;
    walk(body, |node| {
        if other_use {
            return false;
        }
        match node.kind_str() {
            "func_literal" => {
                let started = node
                    .parent_node()
                    .filter(|c| c.kind_str() == "call_expression")
                    .and_then(|c| c.parent_node())
                    .is_some_and(|g| g.kind_str() == "go_statement");
                if started && sender.is_none() && sends_only(node, ch, src) {
                    sender = Some(node);
                } else if text(node, src).contains(ch) {
                    other_use = true;
                }
                false
            }
            "return_statement" => {
                let returned: Vec<Node> = named_children(node)
                    .flat_map(|list| named_children(list).collect::<Vec<_>>())
                    .collect();
                match returned.as_slice() {
                    [only] if only.kind_str() == "identifier" && text(*only, src) == ch => {
                        returns += 1;
                    }
                    _ => other_use = true,
                }
                false
            }
            // Its declaration is the one use allowed outside the goroutine and the returns.
            "identifier" if text(node, src) == ch => {
                other_use |= node != declared;
                true
            }
            _ => true,
        }
    });
    !other_use && returns > 0 && sender.is_some()
}

/// `ch := make(chan T)` (or with a literal capacity `0`): the name, and where it is declared.
fn unbuffered_made<'t>(statement: Node<'t>, src: &'t str) -> Option<(&'t str, Node<'t>)> {
    if statement.kind_str() != "short_var_declaration" {
        return None;
    }
    let left = statement.field("left")?;
    let right = statement.field("right")?;
    let (name, value) = (named_children(left).next()?, named_children(right).next()?);
    if left.named_child_count() != 1 || right.named_child_count() != 1 {
        return None;
    }
    let value = unparen(value);
    let function = value.field("function")?;
    if value.kind_str() != "call_expression" || text(function, src) != "make" {
        return None;
    }
    let args: Vec<Node> = named_children(value.field("arguments")?).collect();
    let unbuffered = match args.as_slice() {
        [ty] => ty.kind_str() == "channel_type",
        [ty, capacity] => ty.kind_str() == "channel_type" && text(*capacity, src) == "0",
        _ => false,
    };
    unbuffered.then(|| (text(name, src), name))
}

/// Does the literal use `ch` only to send on it (at least once outside a `select`) or close it?
fn sends_only(literal: Node, ch: &str, src: &str) -> bool {
    let mut bare_send = false;
    let mut other = false;
    walk(literal, |node| {
        if node.kind_str() != "identifier" || text(node, src) != ch {
            return !other;
        }
        let parent = node.parent_node();
        let is_send = parent
            .is_some_and(|p| p.kind_str() == "send_statement" && p.field("channel") == Some(node));
        let is_close = parent
            .filter(|p| p.kind_str() == "argument_list")
            .and_then(|args| args.parent_node())
            .and_then(|call| call.field("function"))
            .is_some_and(|f| text(f, src) == "close");
        if is_send {
            let in_select = parent
                .and_then(|p| p.parent_node())
                .is_some_and(|c| c.kind_str() == "communication_case");
            bare_send |= !in_select;
        } else if !is_close {
            other = true;
        }
        !other
    });
    bare_send && !other
}

/// A `recover()` call in the body itself, outside function literals.
fn recovers_in(body: Node, src: &str) -> bool {
    let mut found = false;
    goconc_syntax::walk_calls(body, src, |n| {
        if found || n.kind_str() == "func_literal" {
            return false;
        }
        found = n.kind_str() == "call_expression"
            && n.field("function")
                .is_some_and(|f| f.kind_str() == "identifier" && text(f, src) == "recover");
        true
    });
    found
}

/// The receiver and parameters of a declaration, by name, with their types: what a name in its
/// body means when no local shadows it.
pub(crate) struct Signature<'s> {
    /// The receiver's name and its type's name.
    pub receiver: Option<(&'s str, String)>,
    /// Each parameter's name, type and position.
    pub params: Vec<(&'s str, Ty)>,
}

impl<'s> Signature<'s> {
    pub fn of(decl: Node, src: &'s str, imports: &Imports) -> Signature<'s> {
        let mut receiver = None;
        if let Some(param) = decl
            .field("receiver")
            .and_then(|r| named_children(r).next())
        {
            let ty = param.field("type").map(|t| Ty::from_node(t, src, imports));
            if let (Some(name), Some(Ty::Named { pkg, name: ty })) =
                (param.field("name"), ty.as_ref().map(Ty::deref))
            {
                if pkg.is_empty() {
                    receiver = Some((text(name, src), ty.clone()));
                }
            }
        }
        let mut params = Vec::new();
        if let Some(list) = decl.field("parameters") {
            for param in named_children(list) {
                let Some(ty) = param.field("type") else {
                    continue;
                };
                let ty = Ty::from_node(ty, src, imports);
                for name in crate::types::names_of(param) {
                    params.push((text(name, src), ty.clone()));
                }
            }
        }
        Signature { receiver, params }
    }

    pub fn param(&self, name: &str) -> Option<&Ty> {
        self.params.iter().find(|(n, _)| *n == name).map(|(_, t)| t)
    }

    /// The position of a channel parameter.
    fn channel_param(&self, name: &str) -> Option<usize> {
        self.params
            .iter()
            .position(|(n, t)| *n == name && matches!(t, Ty::Chan(_)))
    }
}

/// Reads one declaration's facts.
struct Collector<'a, 't> {
    body: Node<'t>,
    src: &'t str,
    imports: &'a Imports,
    scope: Signature<'t>,
    /// Names the body declares (they shadow package functions and parameters).
    locals: crate::HashSet<&'t str>,
    /// The package types of the locals made by composite literals or `new`, on first use.
    composites: std::cell::OnceCell<crate::HashMap<&'t str, String>>,
    /// The receives and ranges of the body by the channel identifier they read, on first use.
    channel_reads: std::cell::OnceCell<crate::HashMap<&'t str, Vec<Node<'t>>>>,
}

impl<'a, 't> Collector<'a, 't> {
    fn new(decl: Node<'t>, body: Node<'t>, src: &'t str, imports: &'a Imports) -> Self {
        let mut locals = crate::HashSet::default();
        for list in [decl.field("result")].into_iter().flatten() {
            for p in named_children(list) {
                locals.extend(crate::types::names_of(p).iter().map(|n| text(*n, src)));
            }
        }
        goconc_syntax::walk(body, |n| {
            match n.kind_str() {
                "short_var_declaration" | "range_clause" => {
                    if let Some(left) = n.field("left") {
                        locals.extend(named_children(left).map(|i| text(i, src)));
                    }
                }
                "var_spec"
                | "const_spec"
                | "parameter_declaration"
                | "variadic_parameter_declaration" => {
                    locals.extend(crate::types::names_of(n).iter().map(|i| text(*i, src)));
                }
                _ => {}
            }
            true
        });
        Collector {
            body,
            src,
            imports,
            scope: Signature::of(decl, src, imports),
            locals,
            composites: std::cell::OnceCell::new(),
            channel_reads: std::cell::OnceCell::new(),
        }
    }

    /// The first call of the body (outside function literals, which may run elsewhere) that
    /// ends the goroutine: `t.Fatal…` on a testing-handle parameter, `runtime.Goexit()`, a
    /// failing-now assertion.
    fn goroutine_end(&self) -> Option<String> {
        let (src, imports) = (self.src, self.imports);
        let mut found = None;
        goconc_syntax::walk_calls(self.body, src, |n| {
            if found.is_some() || n.kind_str() == "func_literal" {
                return false;
            }
            if n.kind_str() != "call_expression" {
                return true;
            }
            let Some(function) = n.field("function").map(goconc_syntax::unparen) else {
                return true;
            };
            if function.kind_str() != "selector_expression" {
                return true;
            }
            let (Some(operand), Some(field)) = (function.field("operand"), function.field("field"))
            else {
                return true;
            };
            let (root, method) = (text(operand, src), text(field, src));
            let ends = if operand.kind_str() != "identifier" || self.locals.contains(root) {
                false
            } else if let Some(ty) = self.scope.param(root) {
                crate::sync_calls::is_testing_handle(ty) && TEST_GOEXIT_METHODS.contains(&method)
            } else {
                match imports.path_of(root) {
                    Some("runtime") => method == "Goexit",
                    Some(path) => FAIL_NOW_ASSERTIONS.iter().any(|(p, names)| {
                        *p == path && names.is_none_or(|names| names.contains(&method))
                    }),
                    None => false,
                }
            };
            if ends {
                found = Some(text(function, src).to_string());
            }
            true
        });
        found
    }

    /// The package function or method a call names, by summary key: `f(…)` for a name that is
    /// no local, `x.m(…)` for `x` the receiver, a parameter of a package type or a local made
    /// by `&T{…}`, `T{…}` or `new(T)`.
    fn callee_key(&self, call: Node) -> Option<String> {
        let src = self.src;
        let function = goconc_syntax::unparen(call.field("function")?);
        match function.kind_str() {
            "identifier" => {
                let name = text(function, src);
                let shadowed = self.locals.contains(name) || self.scope.param(name).is_some();
                (!shadowed).then(|| name.to_string())
            }
            "selector_expression" => {
                let operand = goconc_syntax::unparen(function.field("operand")?);
                let field = text(function.field("field")?, src);
                if operand.kind_str() != "identifier" {
                    return None;
                }
                let root = text(operand, src);
                let type_name = if self
                    .scope
                    .receiver
                    .as_ref()
                    .is_some_and(|(r, _)| *r == root)
                    && !self.locals.contains(root)
                {
                    self.scope.receiver.as_ref().map(|(_, t)| t.clone())
                } else if let Some(ty) = self.scope.param(root) {
                    match ty.deref() {
                        Ty::Named { pkg, name } if pkg.is_empty() => Some(name.clone()),
                        _ => None,
                    }
                } else if self.imports.path_of(root).is_some() && !self.locals.contains(root) {
                    None
                } else {
                    self.composites
                        .get_or_init(|| local_composite_types(self.body, src))
                        .get(root)
                        .cloned()
                };
                type_name.map(|t| format!("{t}.{field}"))
            }
            _ => None,
        }
    }

    /// `go` starts, results read until the reader stops, and what happens to channel
    /// parameters.
    fn calls_and_sends(&self, facts: &mut GoFacts) {
        let src = self.src;
        goconc_syntax::walk_calls(self.body, src, |n| {
            match n.kind_str() {
                "go_statement" => {
                    let call = named_children(n).next().map(goconc_syntax::unparen);
                    if let Some(key) = call.and_then(|c| self.callee_key(c)) {
                        if !facts.starts.contains(&key) {
                            facts.starts.push(key);
                        }
                    }
                    let literal = call
                        .and_then(|c| c.field("function"))
                        .map(goconc_syntax::unparen)
                        .filter(|f| f.kind_str() == "func_literal");
                    if let Some(body) = literal.and_then(|l| l.field("body")) {
                        goconc_syntax::walk_calls(body, src, |inner| {
                            if inner.kind_str() == "call_expression" {
                                if let Some(key) = self.callee_key(inner) {
                                    if !facts.runs_in_started_literals.contains(&key) {
                                        facts.runs_in_started_literals.push(key);
                                    }
                                }
                            }
                            true
                        });
                    }
                }
                "call_expression" => {
                    if let Some(key) = self.result_read_until_stop(n) {
                        if !facts.reads_result_until_stop.contains(&key) {
                            facts.reads_result_until_stop.push(key);
                        }
                    }
                    self.handed_params(n, facts);
                }
                "send_statement" => {
                    let param = n
                        .field("channel")
                        .map(goconc_syntax::unparen)
                        .filter(|c| c.kind_str() == "identifier")
                        .map(|c| text(c, src))
                        .filter(|name| !self.locals.contains(name))
                        .and_then(|name| self.scope.channel_param(name));
                    if let Some(position) = param {
                        if abandons_on_cancel(n, src, self.imports)
                            && !facts.abandons_params.contains(&position)
                        {
                            facts.abandons_params.push(position);
                        }
                    }
                }
                _ => {}
            }
            true
        });
    }

    /// See [`GoFacts::sends_once_params`].
    fn sends_once_params(&self) -> Vec<usize> {
        let src = self.src;
        let mut out = Vec::new();
        for (position, (name, ty)) in self.scope.params.iter().enumerate() {
            if !matches!(ty, Ty::Chan(_)) || self.locals.contains(name) || *name == "_" {
                continue;
            }
            let mut sends = 0;
            let mut other = false;
            goconc_syntax::walk(self.body, |n| {
                if other {
                    return false;
                }
                if n.kind_str() != "identifier" || text(n, src) != *name {
                    return true;
                }
                let send = n
                    .parent_node()
                    .filter(|p| p.kind_str() == "send_statement" && p.field("channel") == Some(n));
                let Some(send) = send else {
                    other = true;
                    return false;
                };
                let in_case = send
                    .parent_node()
                    .is_some_and(|p| p.kind_str() == "communication_case");
                let mut nested = false;
                let mut node = send.parent_node();
                while let Some(p) = node.filter(|p| *p != self.body) {
                    if matches!(p.kind_str(), "for_statement" | "func_literal") {
                        nested = true;
                        break;
                    }
                    node = p.parent_node();
                }
                // A second send settles it too: looking further (up each send's ancestors, thousands
                // deep in a long `else if` chain) changes nothing.
                sends += 1;
                if in_case || nested || sends > 1 {
                    other = true;
                    return false;
                }
                true
            });
            if !other && sends == 1 {
                out.push(position);
            }
        }
        out
    }

    /// `f(…, ch, …)` with `ch` a channel parameter: (its position, f's key, argument position).
    fn handed_params(&self, call: Node, facts: &mut GoFacts) {
        let args = goconc_syntax::call_args(call);
        let mut handed = Vec::new();
        for (at, arg) in args.iter().enumerate() {
            let arg = goconc_syntax::unparen(*arg);
            if arg.kind_str() != "identifier" {
                continue;
            }
            let name = text(arg, self.src);
            if self.locals.contains(name) {
                continue;
            }
            if let Some(position) = self.scope.channel_param(name) {
                handed.push((position, at));
            }
        }
        if handed.is_empty() {
            return;
        }
        let Some(key) = self.callee_key(call) else {
            return;
        };
        for (position, at) in handed {
            let entry = (position, key.clone(), at);
            if !facts.hands_params.contains(&entry) {
                facts.hands_params.push(entry);
            }
        }
    }

    /// The callee key when the call's result is read by a loop that can stop reading: `for v :=
    /// range f(…)` whose body can leave, or `ch := f(…)` (first name) received from in a
    /// `select` inside a loop or ranged over by a loop that can leave.
    fn result_read_until_stop(&self, call: Node) -> Option<String> {
        let src = self.src;
        let parent = call.parent_node()?;
        let reads = match parent.kind_str() {
            "range_clause" if parent.field("right") == Some(call) => parent
                .parent_node()
                .is_some_and(|lp| lp.kind_str() == "for_statement" && loop_can_stop(lp)),
            "expression_list" => {
                let decl = parent.parent_node()?;
                if !matches!(
                    decl.kind_str(),
                    "short_var_declaration" | "assignment_statement"
                ) || decl.field("right") != Some(parent)
                    || parent.named_child_count() != 1
                {
                    return None;
                }
                let var = decl
                    .field("left")
                    .and_then(|l| named_children(l).next())
                    .filter(|v| v.kind_str() == "identifier")?;
                let name = text(var, src);
                let reads = self
                    .channel_reads
                    .get_or_init(|| channel_reads(self.body, src));
                reads
                    .get(name)
                    .into_iter()
                    .flatten()
                    .filter(|n| n.end_offset() > decl.end_offset())
                    .any(|n| match n.kind_str() {
                        "range_clause" => n.parent_node().is_some_and(loop_can_stop),
                        _ => {
                            let in_select = n
                                .parent_node()
                                .and_then(|p| p.parent_node())
                                .is_some_and(|c| c.kind_str() == "communication_case");
                            goconc_syntax::enclosing_loop(*n)
                                .is_some_and(|lp| in_select || loop_can_stop(lp))
                        }
                    })
            }
            _ => false,
        };
        if !reads {
            return None;
        }
        self.callee_key(call)
    }
}

/// Can a loop be left while there is still something to read: a `return`, `break` or `goto` in
/// its body, outside nested literals?
pub fn loop_can_stop(for_stmt: Node) -> bool {
    let Some(body) = for_stmt.field("body") else {
        return false;
    };
    let mut found = false;
    goconc_syntax::walk_body(body, |n| {
        if matches!(
            n.kind_str(),
            "return_statement" | "break_statement" | "goto_statement"
        ) {
            found = true;
        }
    });
    found
}

/// Is a send a `select` case beside a case that receives a cancellation signal (`ctx.Done()`,
/// `time.After(…)`, a channel named like `done`/`stop`/`quit`)? Read from syntax and imports.
pub fn abandons_on_cancel(send: Node, src: &str, imports: &Imports) -> bool {
    let Some(case) = send
        .parent_node()
        .filter(|c| c.kind_str() == "communication_case")
    else {
        return false;
    };
    let Some(select) = case.parent_node() else {
        return false;
    };
    named_children(select).any(|c| {
        c != case
            && c.field("communication")
                .and_then(|m| match m.kind_str() {
                    "receive_statement" => m.field("right"),
                    _ => None,
                })
                .map(goconc_syntax::unparen)
                .filter(|r| r.kind_str() == "unary_expression")
                .and_then(|r| r.field("operand"))
                .map(goconc_syntax::unparen)
                .is_some_and(|operand| is_cancel_signal(operand, src, imports))
    })
}

/// `ctx.Done()`, `time.After(d)`, `t.C`, `done`, `s.stop`, … from syntax and imports alone.
fn is_cancel_signal(operand: Node, src: &str, imports: &Imports) -> bool {
    match operand.kind_str() {
        "call_expression" => {
            let Some(function) = operand.field("function").map(goconc_syntax::unparen) else {
                return false;
            };
            if function.kind_str() != "selector_expression" {
                return false;
            }
            let (Some(pkg), Some(field)) = (function.field("operand"), function.field("field"))
            else {
                return false;
            };
            let name = text(field, src);
            if imports.path_of(text(pkg, src)) == Some("time") {
                return matches!(name, "After" | "Tick");
            }
            name == "Done"
        }
        "selector_expression" | "identifier" => {
            let name = match operand.kind_str() {
                "identifier" => text(operand, src),
                _ => operand.field("field").map_or("", |f| text(f, src)),
            };
            name == "C" || crate::words::STOP_CHANNEL.in_identifier(name)
        }
        _ => false,
    }
}

/// Every `<-x` and `range x` of a body (function literals included), by the identifier `x`: one
/// walk, read by each call whose result is assigned (walking the body per call was quadratic).
fn channel_reads<'t>(body: Node<'t>, src: &'t str) -> crate::HashMap<&'t str, Vec<Node<'t>>> {
    let mut reads: crate::HashMap<&'t str, Vec<Node<'t>>> = crate::HashMap::default();
    goconc_syntax::walk(body, |n| {
        let operand = match n.kind_str() {
            "unary_expression" if n.field("operator").is_some_and(|o| text(o, src) == "<-") => {
                n.field("operand")
            }
            "range_clause" => n.field("right"),
            _ => None,
        };
        if let Some(o) = operand
            .map(goconc_syntax::unparen)
            .filter(|o| o.kind_str() == "identifier")
        {
            reads.entry(text(o, src)).or_default().push(n);
        }
        true
    });
    reads
}

/// The types of the locals a body makes by `name := &T{…}`, `name := T{…}` or `name := new(T)`
/// (the first such declaration of each name), for types `T` of the package. One walk per body:
/// asking per selector walked the body once for each of them.
pub(crate) fn local_composite_types<'t>(
    body: Node<'t>,
    src: &'t str,
) -> crate::HashMap<&'t str, String> {
    let mut found: crate::HashMap<&'t str, String> = crate::HashMap::default();
    goconc_syntax::walk(body, |n| {
        if n.kind_str() != "short_var_declaration" {
            return true;
        }
        let (Some(left), Some(right)) = (n.field("left"), n.field("right")) else {
            return true;
        };
        let names: Vec<Node> = named_children(left).collect();
        let values: Vec<Node> = named_children(right).collect();
        if names.len() != values.len() {
            return true;
        }
        for (ident, value) in names.iter().zip(values) {
            let name = text(*ident, src);
            if found.contains_key(name) {
                continue;
            }
            let mut value = goconc_syntax::unparen(value);
            if value.kind_str() == "unary_expression" {
                if let Some(operand) = value.field("operand") {
                    value = goconc_syntax::unparen(operand);
                }
            }
            let ty = match value.kind_str() {
                "composite_literal" => value.field("type"),
                "call_expression"
                    if value
                        .field("function")
                        .is_some_and(|f| text(f, src) == "new") =>
                {
                    value
                        .field("arguments")
                        .and_then(|a| named_children(a).next())
                }
                _ => None,
            };
            if let Some(t) = ty.filter(|t| t.kind_str() == "type_identifier") {
                found.insert(name, text(t, src).to_string());
            }
        }
        true
    });
    found
}
