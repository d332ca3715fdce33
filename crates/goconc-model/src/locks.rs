//! Lock state: which mutexes are held at each point of a function body, and in which mode.
//!
//! A forward dataflow (see [`super::flow`]) over one body. Each held mutex, named by its access
//! path (`s.mu`), records where it was acquired, whether it is held on every path that reaches the
//! current point, and whether a deferred release will free it at exit. Rules ask it questions
//! through [`LockObserver`] while it runs and read the state at each exit afterwards.

use goconc_syntax::NodeExt;
use std::collections::{BTreeMap, BTreeSet};

use tree_sitter::Node;

use super::flow::{self, Exit, FlowAnalysis};
use super::scope::FileModel;
use super::sync_calls::{lock_call, lock_key, LockCall, LockOp};
use goconc_syntax::{
    method_call, named_children, path_root, statement_call, text, unparen, walk_body,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mode {
    Read,
    Write,
    /// Read on some paths, write on others.
    Mixed,
}

/// One held mutex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub mode: Mode,
    /// Byte offsets of the acquiring calls that may have taken it.
    pub sites: BTreeSet<usize>,
    /// Held on every path reaching this point.
    pub on_every_path: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LockState {
    pub held: BTreeMap<String, Held>,
    /// Mutexes a deferred call releases at exit, on some path (a later re-lock of the same
    /// mutex is released by it too).
    pub deferred: BTreeSet<String>,
    /// A deferred call we cannot see into may release any lock (`defer s.unlockAll()`).
    pub opaque_deferred_release: bool,
}

/// What a rule wants to hear about while the lock state runs. The same statement may be seen
/// more than once while a loop settles; the last call for a statement is made with the settled
/// state, so observers should overwrite what they recorded for the same node.
pub trait LockObserver<'t> {
    /// A statement (or a control statement's condition) is about to run, in `state`.
    fn statement(&mut self, _node: Node<'t>, _state: &LockState) {}

    /// A lock method is called (directly, or deferred when `deferred`), with the state before it.
    fn lock_call(&mut self, _call: &LockCall<'t>, _key: &str, _deferred: bool, _state: &LockState) {
    }
}

impl<'t> LockObserver<'t> for () {}

struct Analysis<'m, 't, O> {
    model: &'m FileModel<'t>,
    observer: &'m mut O,
}

impl<'t, O: LockObserver<'t>> FlowAnalysis<'t> for Analysis<'_, 't, O> {
    type State = LockState;

    fn transfer(&mut self, stmt: Node<'t>, state: &mut LockState) {
        self.observer.statement(stmt, state);
        match stmt.kind_str() {
            "defer_statement" => self.deferred(stmt, state),
            "assignment_statement" | "short_var_declaration" => {
                // Reassigning the root of a held path (`n = n.next`) loses track of which mutex
                // the path names: forget it rather than guess.
                if let Some(left) = stmt.field("left") {
                    for target in named_children(left) {
                        let name = text(target, self.model.src);
                        state
                            .held
                            .retain(|key, _| key.split('.').next() != Some(name));
                    }
                }
                // `y = l` makes `y` an alias of a held `l.mu`: which name will unlock it is
                // unknown, so forget it too.
                if let Some(right) = stmt.field("right") {
                    for value in named_children(right) {
                        let value = unparen(value);
                        if value.kind_str() == "identifier" {
                            let name = text(value, self.model.src);
                            state
                                .held
                                .retain(|key, _| key.split('.').next() != Some(name));
                        }
                    }
                }
                self.calls_in(stmt, state);
            }
            "go_statement" => {}
            _ => self.calls_in(stmt, state),
        }
    }

    fn join(&self, a: &LockState, b: &LockState) -> LockState {
        let mut held = BTreeMap::new();
        for (key, x) in &a.held {
            let joined = match b.held.get(key) {
                Some(y) => Held {
                    mode: if x.mode == y.mode {
                        x.mode
                    } else {
                        Mode::Mixed
                    },
                    sites: x.sites.union(&y.sites).copied().collect(),
                    on_every_path: x.on_every_path && y.on_every_path,
                },
                None => Held {
                    on_every_path: false,
                    ..x.clone()
                },
            };
            held.insert(key.clone(), joined);
        }
        for (key, y) in &b.held {
            held.entry(key.clone()).or_insert_with(|| Held {
                on_every_path: false,
                ..y.clone()
            });
        }
        LockState {
            held,
            deferred: a.deferred.union(&b.deferred).cloned().collect(),
            opaque_deferred_release: a.opaque_deferred_release || b.opaque_deferred_release,
        }
    }
}

impl<'t, O: LockObserver<'t>> Analysis<'_, 't, O> {
    /// Lock calls made by a statement, in source order (not inside function literals).
    fn calls_in(&mut self, stmt: Node<'t>, state: &mut LockState) {
        let mut calls = Vec::new();
        walk_body(stmt, |n| {
            if n.kind_str() == "call_expression" {
                if let Some(call) = lock_call(self.model, n) {
                    calls.push(call);
                }
            }
        });
        // Inner calls end first: `a.Lock()` inside an argument runs before the outer call.
        calls.sort_by_key(|c| c.call.end_byte());
        for call in calls {
            let Some(key) = lock_key(self.model, &call) else {
                continue;
            };
            self.observer.lock_call(&call, &key, false, state);
            apply(state, &call, key);
        }
    }

    fn deferred(&mut self, stmt: Node<'t>, state: &mut LockState) {
        let Some(call) = statement_call(stmt) else {
            return;
        };
        if let Some(lock) = lock_call(self.model, call) {
            if let Some(key) = lock_key(self.model, &lock) {
                self.observer.lock_call(&lock, &key, true, state);
                if lock.op.is_release() {
                    // `defer mu.Unlock()` with no visible `Lock`: a callee took it (`s.acquire()`).
                    state.held.entry(key.clone()).or_insert_with(|| Held {
                        mode: if lock.op == LockOp::RUnlock {
                            Mode::Read
                        } else {
                            Mode::Write
                        },
                        sites: BTreeSet::from([lock.call.start_byte()]),
                        on_every_path: true,
                    });
                    state.deferred.insert(key);
                }
            }
            return;
        }
        // `defer func() { …; mu.Unlock() }()`: releases inside the deferred closure.
        let function = call.field("function").map(unparen);
        if let Some(literal) = function.filter(|f| f.kind_str() == "func_literal") {
            let mut released = Vec::new();
            if let Some(body) = literal.field("body") {
                walk_body(body, |n| {
                    if let Some(lock) = lock_call(self.model, n).filter(|l| l.op.is_release()) {
                        if let Some(key) = lock_key(self.model, &lock) {
                            released.push(key);
                        }
                    }
                    if release_helper_name(self.model, n).is_some() {
                        released.push(String::new());
                    }
                });
            }
            for key in released {
                if key.is_empty() {
                    state.opaque_deferred_release = true;
                } else {
                    state.deferred.insert(key);
                }
            }
            return;
        }
        if release_helper_name(self.model, call).is_some() {
            state.opaque_deferred_release = true;
        }
    }
}

/// A call to a function or method whose name says it releases a lock (`s.unlock()`,
/// `releaseLocked(x)`): its effect is not visible here, so the analysis must not claim a lock
/// stays held after it.
pub fn release_helper_name<'t>(model: &FileModel<'t>, call: Node<'t>) -> Option<&'t str> {
    if call.kind_str() != "call_expression" {
        return None;
    }
    let function = unparen(call.field("function")?);
    let name = match function.kind_str() {
        "identifier" => text(function, model.src),
        "selector_expression" => text(function.field("field")?, model.src),
        _ => return None,
    };
    if lock_call(model, call).is_some() {
        return None;
    }
    crate::words::RELEASE.in_identifier(name).then_some(name)
}

fn apply(state: &mut LockState, call: &LockCall, key: String) {
    match call.op {
        LockOp::Lock | LockOp::RLock => {
            let mode = if call.op == LockOp::RLock {
                Mode::Read
            } else {
                Mode::Write
            };
            state.held.insert(
                key,
                Held {
                    mode,
                    sites: BTreeSet::from([call.call.start_byte()]),
                    on_every_path: true,
                },
            );
        }
        LockOp::Unlock | LockOp::RUnlock => {
            state.held.remove(&key);
        }
        LockOp::TryLock | LockOp::TryRLock => {}
    }
}

/// Runs the lock-state analysis over a function body. None when the body cannot be followed
/// (`goto`, a loop that does not settle).
pub fn analyze<'t, O: LockObserver<'t>>(
    model: &FileModel<'t>,
    body: Node<'t>,
    observer: &mut O,
) -> Option<Vec<Exit<'t, LockState>>> {
    let mut analysis = Analysis { model, observer };
    flow::run(model, body, &mut analysis, LockState::default())
}

/// Does the function body release lock helpers we cannot see (calls named like `unlock`)?
pub fn calls_release_helper<'t>(model: &FileModel<'t>, body: Node<'t>) -> bool {
    let mut found = false;
    walk_body(body, |n| {
        if !found && n.kind_str() == "call_expression" && release_helper_name(model, n).is_some() {
            found = true;
        }
    });
    found
}

/// Is `node` the method value `x.Unlock` / `x.RUnlock` (not called) of a mutex?
pub fn is_unlock_method_value(model: &FileModel, node: Node) -> bool {
    let node = unparen(node);
    if node.kind_str() != "selector_expression" {
        return false;
    }
    let (Some(operand), Some(field)) = (node.field("operand"), node.field("field")) else {
        return false;
    };
    // The name before `parent()`, which descends from the root.
    matches!(text(field, model.src), "Unlock" | "RUnlock")
        && !node
            .parent()
            .is_some_and(|p| p.kind_str() == "call_expression" && p.field("function") == Some(node))
        && super::sync_calls::mutex_kind(model, operand).is_some()
}

/// The root variable name of a lock key (`s` in `s.mu`).
pub fn key_root(key: &str) -> &str {
    key.split('.').next().unwrap_or(key)
}

/// The method call node's receiver path root, for callers that need the declaration.
pub fn receiver_root<'t>(call: &LockCall<'t>) -> Option<Node<'t>> {
    path_root(call.receiver)
}

/// Is this call a lock method call at all (for quick filters)?
pub fn is_lock_method(model: &FileModel, node: Node) -> bool {
    method_call(node)
        .is_some_and(|c| super::sync_calls::LockOp::from_name(text(c.method, model.src)).is_some())
}

/// Does code outside `body` but inside the top-level function around it (another function
/// literal, a goroutine, the enclosing function) release the mutex `key`? Then the lock may be
/// handed to another goroutine on purpose, and rules about one body must not judge it.
pub fn released_elsewhere<'t>(model: &FileModel<'t>, body: Node<'t>, key: &str) -> bool {
    // The model's functions answer which function a node is in by a binary search; climbing
    // the tree for it at each call was cubic in nested closures (450 deep: 15 s).
    let function_of = |n: Node<'t>| model.function_of(n).map(|i| model.functions[i].node);
    let own = function_of(body);
    let top = goconc_syntax::ancestors(body)
        .into_iter()
        .find(|n| goconc_syntax::is_function(n.kind_str()))
        .unwrap_or(body);
    let mut found = false;
    goconc_syntax::walk(top, |n| {
        if found {
            return false;
        }
        if n.kind_str() == "call_expression" && is_lock_method(model, n) && function_of(n) != own {
            if let Some(lock) = lock_call(model, n) {
                if lock.op.is_release() && lock_key(model, &lock).as_deref() == Some(key) {
                    found = true;
                }
            }
        }
        true
    });
    found
}

/// One lock-state run over a body, recorded so that every rule that needs it reads the same
/// result instead of running the dataflow again: the exits, and the settled state before each
/// statement and each lock call, in source order.
pub struct LockTrace<'t> {
    pub exits: Vec<Exit<'t, LockState>>,
    events: Vec<Event<'t>>,
}

enum Event<'t> {
    Statement(Node<'t>, LockState),
    Call(LockCall<'t>, String, bool, LockState),
}

#[derive(Default)]
struct Recorder<'t> {
    // (start byte, 0 for a statement or 1 for a call, end byte): a statement is seen before the
    // calls it makes; a later evaluation (a loop settling) replaces an earlier one.
    events: BTreeMap<(usize, u8, usize), Event<'t>>,
}

impl<'t> LockObserver<'t> for Recorder<'t> {
    fn statement(&mut self, node: Node<'t>, state: &LockState) {
        self.events.insert(
            (node.start_byte(), 0, node.end_byte()),
            Event::Statement(node, state.clone()),
        );
    }

    fn lock_call(&mut self, call: &LockCall<'t>, key: &str, deferred: bool, state: &LockState) {
        let at = (call.call.start_byte(), 1, call.call.end_byte());
        self.events.insert(
            at,
            Event::Call(*call, key.to_string(), deferred, state.clone()),
        );
    }
}

impl<'t> LockTrace<'t> {
    /// Runs the lock state over a body once. None when the body cannot be followed.
    pub fn record(model: &FileModel<'t>, body: Node<'t>) -> Option<LockTrace<'t>> {
        let mut recorder = Recorder::default();
        let exits = analyze(model, body, &mut recorder)?;
        Some(LockTrace {
            exits,
            events: recorder.events.into_values().collect(),
        })
    }

    /// Tells an observer what it would have seen during the run, with settled states.
    pub fn replay<O: LockObserver<'t>>(&self, observer: &mut O) {
        for event in &self.events {
            match event {
                Event::Statement(node, state) => observer.statement(*node, state),
                Event::Call(call, key, deferred, state) => {
                    observer.lock_call(call, key, *deferred, state)
                }
            }
        }
    }
}
