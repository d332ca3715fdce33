//! Lock state: which mutexes are held at each point of a function body, and in which mode.
//!
//! A forward dataflow (see [`super::flow`]) over one body. Each held mutex, named by its access
//! path (`s.mu`), records where it was acquired, whether it is held on every path that reaches the
//! current point, and whether a deferred release will free it at exit. Rules ask it questions
//! through [`LockObserver`] while it runs and read the state at each exit afterwards.

use goconc_syntax::NodeExt;
use std::collections::BTreeMap;

use std::borrow::Cow;
use tree_sitter::Node;

use super::flow::{self, Exit, FlowAnalysis};
use super::scope::FileModel;
use super::sync_calls::{lock_call, lock_key, LockCall, LockOp};
use goconc_syntax::{
    method_call, named_children, path_root, statement_call, text, unparen, walk_body,
};

/// Past this many mutexes held at once (on some path) the lock state gives up on the body, as
/// on `goto`: no function of the pinned projects or the standard library holds more than 3,
/// and each join and exit goes through every held mutex, so 8,000 held in one function cost
/// minutes.
pub const MAX_HELD: usize = flow::MAX_FOLLOWED;

/// The held mutexes by key. Persistent, as the sets below: a body's states differ a little
/// from statement to statement, and a copy shares all but the changed path (8,000 mutexes
/// locked one after another kept a whole map per statement: 8 GB for a 400 KB file).
pub type HeldMap = rpds::RedBlackTreeMap<String, Held>;
/// Mutex keys, persistent.
pub type Keys = rpds::RedBlackTreeSet<String>;

/// A set of byte offsets: one kept in place (nearly every held mutex has one site, and a tree
/// node per site cost a check of 200,000 small locking functions 35 MB), more in a persistent
/// set (a site added per loop that locks kept a copy per statement).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Offsets {
    #[default]
    Empty,
    One(usize),
    /// Two or more: a set of one is always `One`, so that equal sets compare equal.
    Many(rpds::RedBlackTreeSet<usize>),
}

impl Offsets {
    pub fn new() -> Offsets {
        Offsets::Empty
    }

    pub fn is_empty(&self) -> bool {
        matches!(self, Offsets::Empty)
    }

    pub fn contains(&self, offset: &usize) -> bool {
        match self {
            Offsets::Empty => false,
            Offsets::One(x) => x == offset,
            Offsets::Many(set) => set.contains(offset),
        }
    }

    /// In increasing order.
    pub fn iter(&self) -> impl Iterator<Item = &usize> + '_ {
        let (one, many) = match self {
            Offsets::Empty => (None, None),
            Offsets::One(x) => (Some(x), None),
            Offsets::Many(set) => (None, Some(set.iter())),
        };
        one.into_iter().chain(many.into_iter().flatten())
    }

    pub fn insert(mut self, offset: usize) -> Offsets {
        self.insert_mut(offset);
        self
    }

    pub fn insert_mut(&mut self, offset: usize) {
        match self {
            Offsets::Empty => *self = Offsets::One(offset),
            Offsets::One(x) if *x == offset => {}
            Offsets::One(x) => {
                *self = Offsets::Many(rpds::RedBlackTreeSet::new().insert(*x).insert(offset))
            }
            Offsets::Many(set) => {
                if !set.contains(&offset) {
                    set.insert_mut(offset);
                }
            }
        }
    }

    /// The union, built on the larger set, keeping the [`MAX_SITES`] lowest offsets.
    fn union(&self, other: &Offsets) -> Offsets {
        match (self, other) {
            (Offsets::Many(a), Offsets::Many(b)) => Offsets::Many(capped_union(a, b)),
            (Offsets::Empty, x) | (x, Offsets::Empty) => x.clone(),
            (Offsets::One(x), Offsets::One(y)) => Offsets::One(*x).insert(*y),
            (Offsets::One(x), Offsets::Many(more)) | (Offsets::Many(more), Offsets::One(x)) => {
                let mut set = more.clone();
                insert_capped(&mut set, *x);
                Offsets::Many(set)
            }
        }
    }
}

/// How many acquiring calls a held mutex keeps, the first in the source: a mutex locked in each
/// of 20,000 loops and released by a `defer` may be held by any of them after the last, and
/// keeping every one copied a path of the set per loop and per recorded state (25 MB for a 1 MB
/// file). The pinned projects and the standard library never reach 5. The rules report the
/// first (`mutex-double-lock`) or each in turn (`mutex-unlock-missing`, which then names no
/// more than this many for one mutex at one exit).
pub const MAX_SITES: usize = flow::MAX_FOLLOWED;

/// `a ∪ b` built on the larger, cut to the [`MAX_SITES`] lowest.
fn capped_union(
    a: &rpds::RedBlackTreeSet<usize>,
    b: &rpds::RedBlackTreeSet<usize>,
) -> rpds::RedBlackTreeSet<usize> {
    union_by(a, b, |set, &item| insert_capped(set, item))
}

/// Adds `item` unless the set is full of lower offsets; a full set drops its highest for it.
/// A set already full past the cap gains nothing (nor copies a path) from a later site.
fn insert_capped(set: &mut rpds::RedBlackTreeSet<usize>, item: usize) {
    if set.contains(&item) {
        return;
    }
    if set.size() >= MAX_SITES {
        match set.last() {
            Some(&highest) if item < highest => {
                set.remove_mut(&highest);
            }
            _ => return,
        }
    }
    set.insert_mut(item);
}
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
    /// Byte offsets of the acquiring calls that may have taken it (none: the caller did, see
    /// [`LockState::entered`]).
    pub sites: Offsets,
    /// Held on every path reaching this point.
    pub on_every_path: bool,
    /// The first `continue` statement (by byte offset) that carries it, held on every path
    /// there, back to the top of a loop. The first only, which is what the rules report: a set
    /// of every one, added to each held mutex at each `continue`, grew with the square of
    /// 8,000 locks each followed by a `continue` (5.5 GB).
    pub continued: Option<usize>,
}

impl Mode {
    /// The mode a lock call takes or releases the mutex in.
    fn of(op: LockOp) -> Mode {
        if op.is_read() {
            Mode::Read
        } else {
            Mode::Write
        }
    }
}

impl Held {
    fn taken(mode: Mode, site: usize) -> Held {
        Held {
            mode,
            sites: Offsets::new().insert(site),
            on_every_path: true,
            continued: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LockState {
    pub held: HeldMap,
    /// Mutexes the function's caller holds when it runs: the body's first use of each is a
    /// release (`mu.Unlock(); slowIO(); mu.Lock()`). Holding one at exit is the contract.
    pub entered: Keys,
    /// Mutexes a deferred call releases at exit, on some path (a later re-lock of the same
    /// mutex is released by it too).
    pub deferred: Keys,
    /// A deferred call we cannot see into may release any lock (`defer s.unlockAll()`).
    pub opaque_deferred_release: bool,
    /// The state of a path a `continue` statement at this offset carries back to the top of
    /// its loop: every mutex held on every path here is carried by it (see
    /// [`Held::continued`], which the join at the loop's top fills in). Marked once for the
    /// state, not per mutex: 8,000 locks each followed by a `continue` copied a growing map
    /// per `continue` (6 GB).
    pub continued_at: Option<usize>,
}

impl LockState {
    /// The first `continue` that carries `held`, a mutex of this state, back to the top of its
    /// loop.
    pub fn continued(&self, held: &Held) -> Option<usize> {
        carried(held, self.continued_at).continued
    }

    /// Writes [`Self::continued_at`] into the mutexes it carries, and clears it.
    fn write_continue_mark(&mut self) {
        let Some(at) = self.continued_at.take() else {
            return;
        };
        let marked: Vec<(String, Held)> = self
            .held
            .iter()
            .filter_map(|(key, h)| match carried(h, Some(at)) {
                Cow::Owned(h) => Some((key.clone(), h)),
                Cow::Borrowed(_) => None,
            })
            .collect();
        for (key, h) in marked {
            self.held.insert_mut(key, h);
        }
    }

    /// The keys of the locks held on every path here.
    pub fn held_on_every_path(&self) -> impl Iterator<Item = &String> {
        self.held
            .iter()
            .filter(|(_, h)| h.on_every_path)
            .map(|(k, _)| k)
    }
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
        // A `continue`'s state reaches a statement only through a join, which writes the mark
        // into its mutexes; should one arrive unjoined, write it in before anything changes.
        state.write_continue_mark();
        self.observer.statement(stmt, state);
        match stmt.kind_str() {
            "defer_statement" => self.deferred(stmt, state),
            "assignment_statement" | "short_var_declaration" => {
                // Reassigning the root of a held path (`n = n.next`) loses track of which mutex
                // the path names: forget it rather than guess.
                if let Some(left) = stmt.field("left") {
                    for target in named_children(left) {
                        forget_rooted_at(state, text(target, self.model.src));
                    }
                }
                // `y = l` makes `y` an alias of a held `l.mu`: which name will unlock it is
                // unknown, so forget it too.
                if let Some(right) = stmt.field("right") {
                    for value in named_children(right) {
                        let value = unparen(value);
                        if value.kind_str() == "identifier" {
                            forget_rooted_at(state, text(value, self.model.src));
                        }
                    }
                }
                self.calls_in(stmt, state);
            }
            // `go w.readLocked(…)`: a goroutine that releases the lock on every path takes it
            // over.
            "go_statement" => {
                if let Some(call) = statement_call(stmt) {
                    for key in released_by_call(self.model, call) {
                        state.held.remove_mut(&key);
                    }
                    // `go func() { …; mu.Unlock() }()`: the literal's first use of a held
                    // mutex is its release.
                    let literal = call.field("function").map(unparen);
                    if let Some(body) = literal
                        .filter(|f| f.kind_str() == "func_literal")
                        .and_then(|f| f.field("body"))
                    {
                        if !state.held.is_empty() {
                            for key in first_released(self.model, body) {
                                state.held.remove_mut(&key);
                            }
                        }
                    }
                }
            }
            _ => self.calls_in(stmt, state),
        }
    }

    fn continued(&mut self, stmt: Node<'t>, state: &mut LockState) {
        // A path ends at its `continue`: nothing changes the state after this.
        state.continued_at = first_of(state.continued_at, Some(stmt.start_byte()));
    }

    fn exhausted(&self, state: &LockState) -> bool {
        state.held.size() > MAX_HELD
    }

    fn join(&self, a: &LockState, b: &LockState) -> LockState {
        LockState {
            held: join_held((&a.held, a.continued_at), (&b.held, b.continued_at)),
            continued_at: None,
            entered: union(&a.entered, &b.entered),
            deferred: union(&a.deferred, &b.deferred),
            opaque_deferred_release: a.opaque_deferred_release || b.opaque_deferred_release,
        }
    }
}

/// Forgets the held mutexes whose path starts at the variable `name`.
fn forget_rooted_at(state: &mut LockState, name: &str) {
    if state.held.is_empty() {
        return;
    }
    let gone: Vec<String> = state
        .held
        .keys()
        .filter(|key| key_root(key) == name)
        .cloned()
        .collect();
    for key in gone {
        state.held.remove_mut(&key);
    }
}

/// The held mutexes where two paths meet: held on either, on every path only when on both.
/// Each side comes with the `continue` that carries it, if any (see
/// [`LockState::continued_at`]), written into its mutexes here. Built on the larger map, so
/// that only the entries that differ are copied.
fn join_held(a: (&HeldMap, Option<usize>), b: (&HeldMap, Option<usize>)) -> HeldMap {
    if a.0.ptr_eq(b.0) && a.1.is_none() && b.1.is_none() {
        return a.0.clone();
    }
    let ((base, base_mark), (other, other_mark)) = if a.0.size() >= b.0.size() {
        (a, b)
    } else {
        (b, a)
    };
    let mut held = base.clone();
    for (key, y) in other {
        let y = carried(y, other_mark);
        let joined = match base.get(key) {
            Some(x) => {
                let x_marked = carried(x, base_mark);
                if *x_marked == *y && matches!(x_marked, Cow::Borrowed(_)) {
                    continue;
                }
                Held {
                    mode: if x.mode == y.mode {
                        x.mode
                    } else {
                        Mode::Mixed
                    },
                    sites: x.sites.union(&y.sites),
                    on_every_path: x.on_every_path && y.on_every_path,
                    continued: first_of(x_marked.continued, y.continued),
                }
            }
            None => Held {
                on_every_path: false,
                ..y.into_owned()
            },
        };
        if base.get(key) != Some(&joined) {
            held.insert_mut(key.clone(), joined);
        }
    }
    // Held on the larger side only: not on every path.
    if held.size() > other.size() {
        let partial: Vec<(String, Held)> = base
            .iter()
            .filter(|(key, x)| x.on_every_path && !other.contains_key(*key))
            .map(|(key, x)| {
                let joined = Held {
                    on_every_path: false,
                    ..carried(x, base_mark).into_owned()
                };
                (key.clone(), joined)
            })
            .filter(|(key, joined)| base.get(key) != Some(joined))
            .collect();
        for (key, joined) in partial {
            held.insert_mut(key, joined);
        }
    }
    held
}

/// A held mutex as a path marked by a `continue` at `mark` carries it.
fn carried(held: &Held, mark: Option<usize>) -> Cow<'_, Held> {
    match mark {
        Some(at) if held.on_every_path && held.continued.is_none_or(|first| first > at) => {
            Cow::Owned(Held {
                continued: Some(at),
                ..held.clone()
            })
        }
        _ => Cow::Borrowed(held),
    }
}

/// The lower of two offsets, either of which may be missing.
fn first_of(a: Option<usize>, b: Option<usize>) -> Option<usize> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        _ => a.or(b),
    }
}

/// The union of two persistent sets, built on the larger.
fn union<T: Ord + Clone>(
    a: &rpds::RedBlackTreeSet<T>,
    b: &rpds::RedBlackTreeSet<T>,
) -> rpds::RedBlackTreeSet<T> {
    union_by(a, b, |set, item| {
        if !set.contains(item) {
            set.insert_mut(item.clone());
        }
    })
}

/// The larger of two persistent sets (either, when they share their root), with `insert` adding
/// each item of the other: only the paths it changes are copied.
fn union_by<T: Ord>(
    a: &rpds::RedBlackTreeSet<T>,
    b: &rpds::RedBlackTreeSet<T>,
    mut insert: impl FnMut(&mut rpds::RedBlackTreeSet<T>, &T),
) -> rpds::RedBlackTreeSet<T> {
    if a.ptr_eq(b) {
        return a.clone();
    }
    let (base, other) = if a.size() >= b.size() { (a, b) } else { (b, a) };
    let mut out = base.clone();
    for item in other {
        insert(&mut out, item);
    }
    out
}

impl<'t, O: LockObserver<'t>> Analysis<'_, 't, O> {
    /// Lock calls made by a statement, in source order (not inside function literals).
    fn calls_in(&mut self, stmt: Node<'t>, state: &mut LockState) {
        let mut calls = Vec::new();
        let mut handing_over = Vec::new();
        let closure = self.model.package.lock_closure();
        let hand_offs = closure.has_releases();
        let keepers = closure.keeper_names();
        goconc_syntax::walk_body_calls(stmt, self.model.src, |n| {
            if n.kind_str() == "call_expression" {
                if let Some(call) = lock_call(self.model, n) {
                    calls.push(call);
                } else if (hand_offs && !state.held.is_empty())
                    || (!keepers.is_empty() && calls_keeper_name(self.model, n, keepers))
                {
                    handing_over.push(n);
                }
            }
        });
        // Inner calls end first: `a.Lock()` inside an argument runs before the outer call.
        calls.sort_by_key(|c| c.call.end_offset());
        let mut calls = calls.into_iter().peekable();
        handing_over.sort_by_key(|c| c.end_offset());
        for over in handing_over {
            while let Some(call) = calls.next_if(|c| c.call.end_offset() <= over.end_offset()) {
                self.lock_call(call, state);
            }
            for key in released_by_call(self.model, over) {
                state.held.remove_mut(&key);
            }
            for (key, mode) in kept_by_call(self.model, over) {
                state
                    .held
                    .insert_mut(key, Held::taken(mode, over.start_byte()));
            }
        }
        for call in calls {
            self.lock_call(call, state);
        }
    }

    fn lock_call(&mut self, call: LockCall<'t>, state: &mut LockState) {
        let Some(key) = lock_key(self.model, &call) else {
            return;
        };
        self.observer.lock_call(&call, &key, false, state);
        apply(state, &call, key);
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
                    if !state.held.contains_key(&key) {
                        let taken = Held::taken(Mode::of(lock.op), lock.call.start_byte());
                        state.held.insert_mut(key.clone(), taken);
                    }
                    state.deferred.insert_mut(key);
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
                    state.deferred.insert_mut(key);
                }
            }
            return;
        }
        // `defer s.unlock()`, whose body releases the caller's lock on every path.
        let released = released_by_call(self.model, call);
        if !released.is_empty() {
            for key in released {
                state.deferred.insert_mut(key);
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
    // The name first: it rules out nearly every call, and a lock call's test reads the
    // receiver's type.
    if !crate::words::RELEASE.in_identifier(name) || lock_call(model, call).is_some() {
        return None;
    }
    Some(name)
}

fn apply(state: &mut LockState, call: &LockCall, key: String) {
    match call.op {
        LockOp::Lock | LockOp::RLock => {
            let taken = Held::taken(Mode::of(call.op), call.call.start_byte());
            state.held.insert_mut(key, taken);
        }
        LockOp::Unlock | LockOp::RUnlock => {
            state.held.remove_mut(&key);
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
    flow::run(model, body, &mut analysis, entry_state(model, body))
}

/// The mutexes whose first use in a body (source order, deferred calls and function literals
/// left out) is a release.
fn first_released<'t>(model: &FileModel<'t>, body: Node<'t>) -> Vec<String> {
    let mut first: BTreeMap<String, LockOp> = BTreeMap::new();
    goconc_syntax::walk_calls(body, model.src, |n| {
        if n != body && matches!(n.kind_str(), "func_literal" | "defer_statement") {
            return false;
        }
        if n.kind_str() == "call_expression" && is_lock_method(model, n) {
            if let Some(lock) = lock_call(model, n) {
                if let Some(key) = lock_key(model, &lock) {
                    first.entry(key).or_insert(lock.op);
                }
            }
        }
        true
    });
    first
        .into_iter()
        .filter(|(_, op)| op.is_release())
        .map(|(key, _)| key)
        .collect()
}

/// The state a body starts in: the mutexes whose first use in it (in source order, deferred
/// calls and function literals left out) is a release are held by its caller.
fn entry_state<'t>(model: &FileModel<'t>, body: Node<'t>) -> LockState {
    let mut first: BTreeMap<String, LockOp> = BTreeMap::new();
    goconc_syntax::walk_calls(body, model.src, |n| {
        if n != body && matches!(n.kind_str(), "func_literal" | "defer_statement") {
            return false;
        }
        if n.kind_str() == "call_expression" && is_lock_method(model, n) {
            if let Some(lock) = lock_call(model, n) {
                if let Some(key) = lock_key(model, &lock) {
                    first.entry(key).or_insert(lock.op);
                }
            }
        }
        true
    });
    let mut state = LockState::default();
    for (key, op) in first {
        // Only a lock the caller can hold: of the receiver, a parameter, a package variable or
        // a variable a function literal captures (a local is made, or assigned from a call,
        // after entry).
        let root = key_root(&key);
        let own = model.function_of(body);
        let at_entry = match model.resolve_name(root, body.start_byte() + 1) {
            Some(decl) => {
                matches!(
                    decl.kind,
                    super::scope::DeclKind::Receiver | super::scope::DeclKind::Param
                ) || Some(decl.function) != own
            }
            None => model.package.var(root).is_some(),
        };
        if op.is_release() && at_entry {
            state.held.insert_mut(
                key.clone(),
                Held {
                    mode: Mode::of(op),
                    sites: Offsets::new(),
                    on_every_path: true,
                    continued: None,
                },
            );
            state.entered.insert_mut(key);
        }
    }
    state
}

/// A function or method of this package that a call reaches.
pub struct Callee {
    /// Its summary key (`Store.flush`, `flush`).
    pub key: String,
    /// For a method: the receiver's type and access path (`s.store`).
    pub owner: Option<String>,
    pub receiver: Option<String>,
}

/// The function or method of this package a call reaches, if the call says which.
pub fn callee(model: &FileModel, call: Node) -> Option<Callee> {
    let function = unparen(call.field("function")?);
    match function.kind_str() {
        "identifier" => {
            if model.resolve(function).is_some() {
                return None;
            }
            let name = text(function, model.src);
            model.package.func(name)?;
            Some(Callee {
                key: name.to_string(),
                owner: None,
                receiver: None,
            })
        }
        "selector_expression" => {
            let mc = method_call(call)?;
            let ty = model.type_of(mc.receiver);
            let super::types::Ty::Named { pkg, name } = ty.deref() else {
                return None;
            };
            if !pkg.is_empty() {
                return None;
            }
            let method = text(mc.method, model.src);
            // Its own method, or one promoted from an embedded field (`c.GetExitCode()` with
            // `Container` embedding `*State`). The receiver keeps the caller's spelling: Go
            // promotes the embedded type's fields with its methods, so the callee's `s.Mutex`
            // is the caller's `c.Mutex`, as `c.Lock()` names it.
            let owner = match model.package.method(name, method) {
                Some(_) => name.clone(),
                None => promoted_method_owner(model, name, method)?,
            };
            Some(Callee {
                key: super::summary::summary_key(Some(&owner), method),
                owner: Some(owner),
                receiver: Some(goconc_syntax::access_path(mc.receiver, model.src)?),
            })
        }
        _ => None,
    }
}

/// The package type whose method `method` a value of package type `type_name` reaches through
/// its embedded fields, breadth first as Go promotes them: the one type at the shallowest depth
/// that has it (two there make the selector ambiguous, which Go rejects).
fn promoted_method_owner(model: &FileModel, type_name: &str, method: &str) -> Option<String> {
    let local_name = |ty: &super::types::Ty| match ty.deref() {
        super::types::Ty::Named { pkg, name } if pkg.is_empty() => Some(name.clone()),
        _ => None,
    };
    let mut level = vec![type_name.to_string()];
    let mut seen = vec![type_name.to_string()];
    for _depth in 0..3 {
        let mut next = Vec::new();
        for t in &level {
            let Some(fields) = model.package.struct_fields(t) else {
                continue;
            };
            for embedded in fields.iter().filter(|f| f.embedded) {
                let Some(inner) = local_name(&embedded.ty) else {
                    continue;
                };
                if !seen.contains(&inner) {
                    seen.push(inner.clone());
                    next.push(inner);
                }
            }
        }
        let owners: Vec<&String> = next
            .iter()
            .filter(|t| model.package.method(t, method).is_some())
            .collect();
        match owners.as_slice() {
            [one] => return Some((*one).clone()),
            [] if !next.is_empty() => level = next,
            _ => return None,
        }
    }
    None
}

/// The keys a callee's lock goes by at the call: `recv.path` (`recv.Mutex`/`recv.RWMutex` for a
/// promoted lock), the argument passed for a parameter, a package variable unless shadowed.
pub fn keys_at_call(
    model: &FileModel,
    call: Node,
    callee: &Callee,
    lock: &super::summary::LockPath,
) -> Vec<String> {
    use super::summary::LockRoot;
    let below = |base: &str| -> Vec<String> {
        if lock.path.is_empty() {
            vec![format!("{base}.Mutex"), format!("{base}.RWMutex")]
        } else {
            vec![format!("{base}.{}", lock.path)]
        }
    };
    match &lock.root {
        LockRoot::Receiver => callee.receiver.as_deref().map(below).unwrap_or_default(),
        LockRoot::Param(j) => {
            let Some(arg) = goconc_syntax::call_args(call).get(*j).copied() else {
                return Vec::new();
            };
            let Some(path) = goconc_syntax::access_path(arg, model.src) else {
                return Vec::new();
            };
            match lock.path.is_empty() {
                true => vec![path],
                false => vec![format!("{path}.{}", lock.path)],
            }
        }
        LockRoot::Global => {
            let root = lock.path.split('.').next().unwrap_or("");
            if model.resolve_name(root, call.start_byte()).is_some() {
                return Vec::new();
            }
            vec![lock.path.clone()]
        }
        LockRoot::Typed(_) => Vec::new(),
    }
}

/// Does the call name a function or method some function of the package by that name leaves a
/// lock held for (a cheap test before [`kept_by_call`] resolves it)?
pub fn calls_keeper_name(model: &FileModel, call: Node, keepers: &[String]) -> bool {
    let Some(function) = call.field("function").map(unparen) else {
        return false;
    };
    let name = match function.kind_str() {
        "identifier" => function,
        "selector_expression" => match function.field("field") {
            Some(field) => field,
            None => return false,
        },
        _ => return false,
    };
    let name = text(name, model.src);
    keepers.binary_search_by(|k| k.as_str().cmp(name)).is_ok()
}

/// The mutexes a call leaves held, and in which mode: its callee takes them and keeps them for
/// its caller by design ([`super::lock_closure::LockClosure::kept`]; `c.State.lock()` holds
/// `c.State.l`).
/// A lock the callee takes through an embedded mutex (`s.Lock()` in the helper) is left out: the
/// caller's key for it depends on which mutex type is embedded.
pub fn kept_by_call(model: &FileModel, call: Node) -> Vec<(String, Mode)> {
    let Some(callee) = callee(model, call) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for acquire in model.package.lock_closure().kept(&callee.key) {
        let lock = super::summary::LockPath::from_acquire(acquire);
        if let [key] = keys_at_call(model, call, &callee, &lock).as_slice() {
            let mode = match acquire.read {
                true => Mode::Read,
                false => Mode::Write,
            };
            out.push((key.clone(), mode));
        }
    }
    out
}

/// The mutexes a call releases for good: the callee releases its caller's lock on every path
/// that returns (`c.handleMessages(…)` documented "caller must hold reconnectMu", which unlocks
/// it).
pub fn released_by_call(model: &FileModel, call: Node) -> Vec<String> {
    let closure = model.package.lock_closure();
    if !closure.has_releases() {
        return Vec::new();
    }
    let Some(callee) = callee(model, call) else {
        return Vec::new();
    };
    let Some(effects) = closure.effects(&callee.key) else {
        return Vec::new();
    };
    effects
        .releases
        .iter()
        .flat_map(|lock| keys_at_call(model, call, &callee, lock))
        .collect()
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
            .parent_node()
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

/// Does another function of the top-level function around `body` (a function literal, or a
/// function `body` sits in) take the mutex `key` over: its own first use of it is a release
/// (`go func() { …; mu.Unlock() }()`; a parent that unlocks what its goroutine locked)? Then
/// the lock passes between goroutines on purpose, and rules about one body must not judge it. A
/// function's own `Lock … defer Unlock` is no hand-off.
pub fn released_elsewhere<'t>(model: &FileModel<'t>, body: Node<'t>, key: &str) -> bool {
    let own = model.function_of(body);
    let releases = model
        .releases_first
        .get_or_init(|| functions_releasing_first(model));
    let top = own.and_then(|i| releases.outermost.get(i).copied());
    releases
        .by_top_and_key
        .get(&(top.unwrap_or(usize::MAX), key.to_string()))
        .is_some_and(|fs| fs.iter().any(|&f| Some(f) != own))
}

/// What [`released_elsewhere`] reads, computed once per file.
#[derive(Debug, Default)]
pub(crate) struct ReleasesFirst {
    /// Per (outermost function, mutex key): the functions under it whose own first use of the
    /// key is a release.
    by_top_and_key: crate::HashMap<(usize, String), Vec<usize>>,
    /// The outermost function around each function (itself when top-level): climbing parents
    /// per question was quadratic in nested literals.
    outermost: Vec<usize>,
}

/// Per (outermost function, mutex key): the functions under it whose own first use of the key
/// is a release, leaving out `defer func() { … }()` (it runs when its function returns, on its
/// goroutine). One walk of the file: asking per body, with tree-sitter's `parent()` (which
/// descends from the root), was cubic in nested closures (450 deep: over 60 s).
fn functions_releasing_first(model: &FileModel) -> ReleasesFirst {
    // Functions are in document order, an enclosing one before those it holds.
    let mut outermost: Vec<usize> = Vec::with_capacity(model.functions.len());
    for (i, function) in model.functions.iter().enumerate() {
        let top = function
            .parent
            .and_then(|p| outermost.get(p).copied())
            .unwrap_or(i);
        outermost.push(top);
    }
    let directly_deferred = |i: usize| {
        let [call, stmt, ..] = model.functions[i].outer();
        call.is_some_and(|c| c.kind_str() == "call_expression")
            && stmt.is_some_and(|s| s.kind_str() == "defer_statement")
    };
    let mut first: BTreeMap<(usize, String), bool> = BTreeMap::new();
    goconc_syntax::walk(model.root, |n| {
        if n.kind_str() == "call_expression" && is_lock_method(model, n) {
            if let Some(lock) = lock_call(model, n) {
                if let (Some(key), Some(f)) = (lock_key(model, &lock), model.function_of(n)) {
                    first.entry((f, key)).or_insert(lock.op.is_release());
                }
            }
        }
        true
    });
    let mut by_top_and_key: crate::HashMap<(usize, String), Vec<usize>> = Default::default();
    for ((f, key), release_first) in first {
        if release_first && !directly_deferred(f) {
            let top = outermost.get(f).copied().unwrap_or(f);
            by_top_and_key.entry((top, key)).or_default().push(f);
        }
    }
    ReleasesFirst {
        by_top_and_key,
        outermost,
    }
}

/// One lock-state run over a body, recorded so that every rule that needs it reads the same
/// result instead of running the dataflow again: the exits, and the settled state before each
/// statement and each lock call, in source order. Equal consecutive states are shared, exits'
/// states with them (45,000 one-lock closures held a copy each at every exit).
pub struct LockTrace<'t> {
    pub exits: Vec<Exit<'t, std::rc::Rc<LockState>>>,
    events: Vec<Event<'t>>,
    src: &'t str,
}

enum Event<'t> {
    Statement(Node<'t>, std::rc::Rc<LockState>),
    /// Boxed: a lock call is larger than a statement, and most events are statements.
    Call(Box<CallEvent<'t>>, std::rc::Rc<LockState>),
}

/// A lock call as recorded: its node, from which the replay rebuilds the [`LockCall`] (a
/// syntactic step; keeping the call's three nodes cost 136 bytes a call, a file of 200,000
/// small locking functions 54 MB), and its key.
struct CallEvent<'t> {
    call: Node<'t>,
    op: LockOp,
    deferred: bool,
    /// The key when it is not the receiver's own text (`s.mu`, the usual case, read from the
    /// source again rather than copied into a string per call).
    made_key: Option<Box<str>>,
}

struct Recorder<'t> {
    src: &'t str,
    /// Each event as it is seen, with its place: (start byte, 0 for a statement or 1 for a
    /// call, end byte). A statement is seen before the calls it makes; a later evaluation (a
    /// loop settling) replaces an earlier one, sorted out once the run is over (a map kept in
    /// order held twice what the list does: 16 MB over a function of 50,000 statements).
    events: Vec<((u32, u8, u32), Event<'t>)>,
    /// The state recorded last: most statements run in the state the one before ran in, so
    /// they share it (a 50,000-statement function held a copy per statement: 120 MB).
    last: Option<std::rc::Rc<LockState>>,
}

thread_local! {
    /// The state with nothing held, which most bodies start and end in: one for every trace
    /// of the thread (a copy per trace was 200 bytes a function of a file of small locking
    /// functions).
    static NOTHING_HELD: std::rc::Rc<LockState> = std::rc::Rc::new(LockState::default());
}

impl LockState {
    fn is_nothing_held(&self) -> bool {
        // Empty collections allocate nothing: the comparison is a few length checks.
        *self == LockState::default()
    }
}

impl Recorder<'_> {
    fn share(&mut self, state: &LockState) -> std::rc::Rc<LockState> {
        match &self.last {
            Some(last) if **last == *state => last.clone(),
            _ if state.is_nothing_held() => {
                let shared = NOTHING_HELD.with(std::rc::Rc::clone);
                self.last = Some(shared.clone());
                shared
            }
            _ => {
                let shared = std::rc::Rc::new(state.clone());
                self.last = Some(shared.clone());
                shared
            }
        }
    }

    /// [`Self::share`] for a state the caller gives up.
    fn share_owned(&mut self, state: LockState) -> std::rc::Rc<LockState> {
        match &self.last {
            Some(last) if **last == state => last.clone(),
            _ if state.is_nothing_held() => {
                let shared = NOTHING_HELD.with(std::rc::Rc::clone);
                self.last = Some(shared.clone());
                shared
            }
            _ => {
                let shared = std::rc::Rc::new(state);
                self.last = Some(shared.clone());
                shared
            }
        }
    }
}

impl<'t> LockObserver<'t> for Recorder<'t> {
    fn statement(&mut self, node: Node<'t>, state: &LockState) {
        let shared = self.share(state);
        self.events.push((
            place(node.start_byte(), 0, node.end_offset()),
            Event::Statement(node, shared),
        ));
    }

    fn lock_call(&mut self, call: &LockCall<'t>, key: &str, deferred: bool, state: &LockState) {
        let at = place(call.call.start_byte(), 1, call.call.end_offset());
        let shared = self.share(state);
        let receiver = text(call.receiver, self.src);
        let event = CallEvent {
            call: call.call,
            op: call.op,
            deferred,
            made_key: (receiver != key).then(|| key.into()),
        };
        self.events.push((at, Event::Call(Box::new(event), shared)));
    }
}

/// An event's place for [`Recorder::events`]; offsets past 4 GB (no file the layouts take) are
/// cut to the last.
fn place(start: usize, kind: u8, end: usize) -> (u32, u8, u32) {
    let narrow = |offset: usize| u32::try_from(offset).unwrap_or(u32::MAX);
    (narrow(start), kind, narrow(end))
}

/// The events in order of place, the last seen of each place only.
fn settled<'t>(mut events: Vec<((u32, u8, u32), Event<'t>)>) -> Vec<Event<'t>> {
    // Stable: of the evaluations of one place, the last stays last.
    if !events.is_sorted_by(|a, b| a.0 <= b.0) {
        events.sort_by_key(|(place, _)| *place);
    }
    // In place: a later evaluation takes the slot of the first of its place.
    events.dedup_by(|later, kept| {
        let same = later.0 == kept.0;
        if same {
            std::mem::swap(&mut later.1, &mut kept.1);
        }
        same
    });
    let mut out: Vec<Event<'t>> = events.into_iter().map(|(_, event)| event).collect();
    out.shrink_to_fit();
    out
}

impl<'t> LockTrace<'t> {
    /// Runs the lock state over a body once. None when the body cannot be followed.
    pub fn record(model: &FileModel<'t>, body: Node<'t>) -> Option<LockTrace<'t>> {
        let mut recorder = Recorder {
            src: model.src,
            events: Vec::new(),
            last: None,
        };
        let exits = analyze(model, body, &mut recorder)?;
        let exits = exits
            .into_iter()
            .map(|exit| Exit {
                kind: exit.kind,
                node: exit.node,
                state: recorder.share_owned(exit.state),
            })
            .collect();
        Some(LockTrace {
            exits,
            events: settled(recorder.events),
            src: model.src,
        })
    }

    /// Tells an observer what it would have seen during the run, with settled states.
    pub fn replay<O: LockObserver<'t>>(&self, observer: &mut O) {
        for event in &self.events {
            match event {
                Event::Statement(node, state) => observer.statement(*node, state),
                Event::Call(event, state) => {
                    // The same steps as when it was recorded: a recorded call is a method call.
                    let Some(call) = LockCall::of(event.op, event.call) else {
                        continue;
                    };
                    let key = match &event.made_key {
                        Some(key) => key,
                        None => text(call.receiver, self.src),
                    };
                    observer.lock_call(&call, key, event.deferred, state)
                }
            }
        }
    }
}

/// How the package names the mutex a key stands for at `at`: below the method's receiver (with
/// the receiver's type), below a value of a package type, or a package variable. None for locks
/// of values whose type the package does not declare.
pub fn lock_path_of_key(
    model: &FileModel,
    key: &str,
    at: usize,
) -> Option<(super::summary::LockPath, Option<String>)> {
    use super::summary::{LockPath, LockRoot};
    let (root, rest) = key.split_once('.').unwrap_or((key, ""));
    let Some(decl) = model.resolve_name(root, at) else {
        model.package.var(root)?;
        return Some((
            LockPath {
                root: LockRoot::Global,
                path: key.to_string(),
            },
            None,
        ));
    };
    if decl.kind == super::scope::DeclKind::Receiver {
        let owner = model.functions.get(decl.function)?.receiver_type.clone();
        return Some((
            LockPath {
                root: LockRoot::Receiver,
                path: rest.to_string(),
            },
            owner,
        ));
    }
    match decl.ty.deref() {
        super::types::Ty::Named { pkg, name } if pkg.is_empty() => Some((
            LockPath {
                root: LockRoot::Typed(name.clone()),
                path: rest.to_string(),
            },
            None,
        )),
        _ => None,
    }
}

/// The package-wide name of the mutex a key stands for at `at` (see
/// [`super::lock_closure::canonical`]).
pub fn canonical_key(model: &FileModel, key: &str, at: usize) -> Option<String> {
    // A promoted `c.Lock()` is keyed `c.Mutex`: the summary names it by its owner.
    let trimmed = key
        .strip_suffix(".Mutex")
        .or_else(|| key.strip_suffix(".RWMutex"))
        .filter(|k| !k.is_empty());
    let (path, owner) = lock_path_of_key(model, trimmed.unwrap_or(key), at)?;
    super::lock_closure::canonical(model.package, owner.as_deref(), &path).or_else(|| {
        let (path, owner) = lock_path_of_key(model, key, at)?;
        super::lock_closure::canonical(model.package, owner.as_deref(), &path)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(entries: &[(&str, Held)]) -> HeldMap {
        entries.iter().fold(HeldMap::new(), |map, (key, h)| {
            map.insert(key.to_string(), h.clone())
        })
    }

    /// Where two paths meet, a mutex held on both is held on every path, with both sites; one
    /// held on one path only is not, whichever side is the larger.
    #[test]
    fn joined_held_mutexes_keep_every_site_and_lose_every_path_where_one_side_lacks_them() {
        let one = held(&[
            ("x", Held::taken(Mode::Write, 10)),
            ("y", Held::taken(Mode::Write, 20)),
        ]);
        let other = held(&[("x", Held::taken(Mode::Read, 30))]);
        for joined in [
            join_held((&one, None), (&other, None)),
            join_held((&other, None), (&one, None)),
        ] {
            let x = joined.get("x").expect("x");
            assert_eq!(x.mode, Mode::Mixed);
            assert!(x.on_every_path);
            assert_eq!(x.sites.iter().copied().collect::<Vec<_>>(), [10, 30]);
            let y = joined.get("y").expect("y");
            assert!(!y.on_every_path);
            assert_eq!(y.sites.iter().copied().collect::<Vec<_>>(), [20]);
            assert_eq!(joined.size(), 2);
        }
        // Joined with itself, nothing changes.
        assert_eq!(join_held((&one, None), (&one.clone(), None)), one);
    }

    /// A path a `continue` carries marks the mutexes held on every path on it, once joined:
    /// the first `continue` of those that carry one is kept, and a mutex held on some paths
    /// only is not marked.
    #[test]
    fn a_continue_marks_what_it_carries_when_joined() {
        let top = held(&[("x", Held::taken(Mode::Write, 10))]);
        let mut partial = Held::taken(Mode::Write, 20);
        partial.on_every_path = false;
        let carried_path = held(&[("x", Held::taken(Mode::Write, 10)), ("y", partial)]);
        let joined = join_held((&top, None), (&carried_path, Some(40)));
        assert_eq!(joined.get("x").and_then(|x| x.continued), Some(40));
        assert!(joined.get("x").is_some_and(|x| x.on_every_path));
        assert_eq!(joined.get("y").and_then(|y| y.continued), None);
        let again = join_held((&joined, None), (&carried_path, Some(30)));
        assert_eq!(again.get("x").and_then(|x| x.continued), Some(30));
        let later = join_held((&joined, None), (&carried_path, Some(50)));
        assert_eq!(later.get("x").and_then(|x| x.continued), Some(40));
        // Held on the marked path only: marked, and no longer on every path.
        let alone = join_held((&HeldMap::new(), None), (&top, Some(60)));
        assert_eq!(alone.get("x").and_then(|x| x.continued), Some(60));
        assert!(alone.get("x").is_some_and(|x| !x.on_every_path));
    }

    /// Sets of offsets built in any order, or joined, compare equal when their offsets are.
    #[test]
    fn offsets_are_equal_when_their_offsets_are() {
        let a = Offsets::new().insert(3).insert(1).insert(3);
        let b = Offsets::new().insert(1).insert(3);
        assert_eq!(a, b);
        assert_eq!(a.iter().copied().collect::<Vec<_>>(), [1, 3]);
        let one = Offsets::new().insert(1);
        assert_eq!(one.union(&one.clone()), one);
        assert_eq!(one.union(&Offsets::new().insert(3)), a);
        assert_eq!(Offsets::new().union(&one), one);
        assert_eq!(a.union(&one), a);
        assert!(a.contains(&3) && !a.contains(&2) && !Offsets::new().contains(&1));
    }

    /// A union keeps the [`MAX_SITES`] lowest offsets, whichever side they come from, and a
    /// full set is returned as it was for a later offset.
    #[test]
    fn offsets_keep_the_lowest_up_to_the_limit() {
        let of = |range: std::ops::Range<usize>| {
            range.fold(Offsets::new(), |set, offset| {
                set.union(&Offsets::new().insert(offset))
            })
        };
        let full = of(10..10 + MAX_SITES);
        let lowest: Vec<usize> = (10..10 + MAX_SITES).collect();
        assert_eq!(full.iter().copied().collect::<Vec<_>>(), lowest);
        let later = full.union(&Offsets::new().insert(1_000));
        assert_eq!(later, full);
        assert!(matches!((&later, &full), (Offsets::Many(a), Offsets::Many(b)) if a.ptr_eq(b)));
        // An earlier offset pushes out the highest, from a set of one or of many.
        let earlier = full.union(&Offsets::new().insert(1));
        let mut expected = vec![1];
        expected.extend(&lowest[..MAX_SITES - 1]);
        assert_eq!(earlier.iter().copied().collect::<Vec<_>>(), expected);
        let two = of(0..2).union(&full);
        assert_eq!(two.iter().copied().take(3).collect::<Vec<_>>(), [0, 1, 10]);
        assert_eq!(two.iter().count(), MAX_SITES);
    }
}
