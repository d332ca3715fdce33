//! Recognising calls on sync values: `mu.Lock()`, `s.mu.RUnlock()`, promoted `c.Lock()` on a
//! struct embedding a mutex, `wg.Add(1)`, `wg.Go(f)`. A call counts only when the receiver's type
//! is known to be the sync type: unknown means silent.

use goconc_syntax::NodeExt;
use tree_sitter::Node;

use super::scope::FileModel;
use super::types::{SyncKind, Ty};
use goconc_syntax::{access_path, method_call, text};

/// The `context` constructors that return a cancel func the caller must call.
pub const CONTEXT_CANCEL_CONSTRUCTORS: [&str; 6] = [
    "WithCancel",
    "WithTimeout",
    "WithDeadline",
    "WithCancelCause",
    "WithTimeoutCause",
    "WithDeadlineCause",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LockOp {
    Lock,
    RLock,
    Unlock,
    RUnlock,
    TryLock,
    TryRLock,
}

impl LockOp {
    pub fn from_name(name: &str) -> Option<LockOp> {
        Some(match name {
            "Lock" => LockOp::Lock,
            "RLock" => LockOp::RLock,
            "Unlock" => LockOp::Unlock,
            "RUnlock" => LockOp::RUnlock,
            "TryLock" => LockOp::TryLock,
            "TryRLock" => LockOp::TryRLock,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            LockOp::Lock => "Lock",
            LockOp::RLock => "RLock",
            LockOp::Unlock => "Unlock",
            LockOp::RUnlock => "RUnlock",
            LockOp::TryLock => "TryLock",
            LockOp::TryRLock => "TryRLock",
        }
    }

    pub fn is_acquire(self) -> bool {
        matches!(self, LockOp::Lock | LockOp::RLock)
    }

    pub fn is_release(self) -> bool {
        matches!(self, LockOp::Unlock | LockOp::RUnlock)
    }

    pub fn is_read(self) -> bool {
        matches!(self, LockOp::RLock | LockOp::RUnlock | LockOp::TryRLock)
    }

    /// The release that matches an acquire (`Lock` → `Unlock`), and back.
    pub fn counterpart(self) -> LockOp {
        match self {
            LockOp::Lock | LockOp::TryLock => LockOp::Unlock,
            LockOp::RLock | LockOp::TryRLock => LockOp::RUnlock,
            LockOp::Unlock => LockOp::Lock,
            LockOp::RUnlock => LockOp::RLock,
        }
    }
}

/// A call of a lock method on a value known to be a mutex.
#[derive(Debug, Clone, Copy)]
pub struct LockCall<'t> {
    pub op: LockOp,
    pub call: Node<'t>,
    /// The expression the method is called on (`s.mu`).
    pub receiver: Node<'t>,
    /// The method name node (`Lock`), for fixes that rename it.
    pub method: Node<'t>,
}

impl<'t> LockCall<'t> {
    /// The lock call `op` of the method call `call` (`s.mu.Lock()`), its receiver and method
    /// read from the call: what a call kept as its node and operation is rebuilt from.
    pub fn of(op: LockOp, call: Node<'t>) -> Option<LockCall<'t>> {
        let parts = method_call(call)?;
        Some(LockCall {
            op,
            call: parts.call,
            receiver: parts.receiver,
            method: parts.method,
        })
    }
}

/// `Mutex` or `RWMutex` of a project's own package named `sync` (syncthing's `lib/sync`, whose
/// `NewMutex` and `NewRWMutex` return interfaces with `Lock` and `Unlock`): locked like the
/// standard library's. Only the lock rules read them as mutexes; they may be copied (interfaces).
pub fn wrapped_sync_lock(ty: &Ty) -> Option<SyncKind> {
    let Ty::Named { pkg, name } = ty.deref() else {
        return None;
    };
    if pkg == "sync" || pkg.rsplit('/').next() != Some("sync") || !pkg.contains('/') {
        return None;
    }
    match name.as_str() {
        "Mutex" => Some(SyncKind::Mutex),
        "RWMutex" => Some(SyncKind::RWMutex),
        _ => None,
    }
}

/// The kind of mutex an expression holds (through pointers and embedding), if known.
pub fn mutex_kind(model: &FileModel, expr: Node) -> MutexKind {
    // The lock is not held while typing: `type_of` may ask again of another node.
    let known = |model: &FileModel| model.mutex_kinds.lock().ok()?.get(&expr.id()).copied();
    if let Some(kept) = known(model) {
        return kept
            .map(|(kind, embedded)| (kind, embedded.then(|| embedded_field(kind)).flatten()));
    }
    let kind = mutex_kind_uncached(model, expr);
    if let Ok(mut kinds) = model.mutex_kinds.lock() {
        kinds.insert(expr.id(), kind.map(|(k, e)| (k, e.is_some())));
    }
    kind
}

/// The name of the embedded field a promoted lock of this kind locks (`RWMutex`, `Mutex`).
fn embedded_field(kind: SyncKind) -> Option<&'static str> {
    EMBEDDED_MUTEXES
        .iter()
        .find(|(_, k)| *k == kind)
        .map(|(field, _)| *field)
}

/// What [`mutex_kind`] answers: the kind of lock, and the name of the embedded mutex field
/// that a promoted `c.Lock()` locks.
pub type MutexKind = Option<(SyncKind, Option<&'static str>)>;

/// A [`MutexKind`] as the file's cache keeps it: whether the lock is an embedded field, whose
/// name the kind gives (2 bytes, not 24: a cache entry per lock call's receiver).
pub(crate) type KeptMutexKind = Option<(SyncKind, bool)>;

/// The mutex fields a struct may embed, in the order a promoted call looks for them.
const EMBEDDED_MUTEXES: [(&str, SyncKind); 2] =
    [("RWMutex", SyncKind::RWMutex), ("Mutex", SyncKind::Mutex)];

fn mutex_kind_uncached(model: &FileModel, expr: Node) -> MutexKind {
    let ty = model.type_of(expr);
    if ty.deref().is_named("sync", "Locker") {
        return Some((SyncKind::Mutex, None));
    }
    // A lock interface of the package's or the module's own (`lib/sync`'s `Mutex`).
    if let Some(kind) = model.package.locker_kind(ty.deref()) {
        return Some((kind, None));
    }
    if let Some(kind) = wrapped_sync_lock(&ty) {
        return Some((kind, None));
    }
    match model.package.sync_kind(ty.deref()) {
        Some(kind @ (SyncKind::Mutex | SyncKind::RWMutex | SyncKind::NoCopy)) => {
            return Some((kind, None))
        }
        Some(_) => return None,
        None => {}
    }
    // A struct embedding a mutex: `c.Lock()` locks `c.Mutex`.
    for (field, kind) in EMBEDDED_MUTEXES {
        if let Some(t) = model.package.field_type(&ty, field) {
            if t.deref().sync_kind() == Some(kind) && !t.is_pointer() || t.is_named("sync", field) {
                return Some((kind, Some(field)));
            }
        }
    }
    None
}

/// `c.L` where `c := sync.NewCond(&mu)`: the mutex the condition's locker is (`mu`).
pub fn cond_locker<'t>(model: &FileModel<'t>, expr: Node<'t>) -> Option<Node<'t>> {
    let expr = goconc_syntax::unparen(expr);
    if expr.kind_str() != "selector_expression"
        || expr.field("field").map(|f| text(f, model.src)) != Some("L")
    {
        return None;
    }
    let operand = goconc_syntax::unparen(expr.field("operand")?);
    if operand.kind_str() != "identifier" {
        return None;
    }
    let init = goconc_syntax::unparen(model.resolve(operand)?.init?);
    if init.kind_str() != "call_expression"
        || init
            .field("function")
            .and_then(|f| model.qualified_name(f, "sync"))
            != Some("NewCond")
    {
        return None;
    }
    let arg = *goconc_syntax::call_args(init).first()?;
    mutex_kind(model, arg)?;
    Some(arg)
}

/// Recognises `x.Lock()`, `x.RUnlock()`, … on a mutex.
pub fn lock_call<'t>(model: &FileModel<'t>, node: Node<'t>) -> Option<LockCall<'t>> {
    // Only the call itself: walks that ask every node visit the call inside `(…)` next, and
    // unwrapping each of n nested parentheses again is quadratic.
    if node.kind_str() != "call_expression" {
        return None;
    }
    let call = method_call(node)?;
    let op = LockOp::from_name(text(call.method, model.src))?;
    if mutex_kind(model, call.receiver).is_none() {
        cond_locker(model, call.receiver)?;
    }
    Some(LockCall {
        op,
        call: call.call,
        receiver: call.receiver,
        method: call.method,
    })
}

/// The access path naming the mutex of a lock call (`s.mu`; `c.Mutex` for a promoted `c.Lock()`),
/// or None when the receiver is not a plain path (`m[k].Lock()`).
pub fn lock_key(model: &FileModel, call: &LockCall) -> Option<String> {
    // The locker of a condition made here is the mutex it was made with.
    let receiver = cond_locker(model, call.receiver).unwrap_or(call.receiver);
    let path = access_path(receiver, model.src)?;
    match mutex_kind(model, receiver) {
        Some((_, Some(embedded))) => Some(format!("{path}.{embedded}")),
        _ => Some(path),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitGroupOp {
    Add,
    Done,
    Wait,
    Go,
}

/// A call of a WaitGroup method on a value known to be a `sync.WaitGroup`.
#[derive(Debug, Clone, Copy)]
pub struct WaitGroupCall<'t> {
    pub op: WaitGroupOp,
    pub call: Node<'t>,
    pub receiver: Node<'t>,
}

pub fn waitgroup_call<'t>(model: &FileModel<'t>, node: Node<'t>) -> Option<WaitGroupCall<'t>> {
    let call = method_call(node)?;
    let op = match text(call.method, model.src) {
        "Add" => WaitGroupOp::Add,
        "Done" => WaitGroupOp::Done,
        "Wait" => WaitGroupOp::Wait,
        "Go" => WaitGroupOp::Go,
        _ => return None,
    };
    let ty = model.type_of(call.receiver);
    let is_wg = ty.deref().sync_kind() == Some(SyncKind::WaitGroup)
        || model
            .package
            .field_type(&ty, "WaitGroup")
            .is_some_and(|t| t.is_named("sync", "WaitGroup"));
    is_wg.then_some(WaitGroupCall {
        op,
        call: call.call,
        receiver: call.receiver,
    })
}

/// Whether a type is `*testing.T`, `*testing.B`, `*testing.F` or `testing.TB`.
pub fn is_testing_handle(ty: &Ty) -> bool {
    ["T", "B", "F", "TB"]
        .iter()
        .any(|t| ty.deref().is_named("testing", t))
}

/// Methods whose call may wait for another goroutine (`wg.Wait()`, `mu.Lock()`, `once.Do(f)`,
/// `srv.Shutdown(ctx)`, a `Load` or `Swap` that hands over a value another goroutine stored).
const MAY_WAIT: [&str; 9] = [
    "Wait",
    "Lock",
    "RLock",
    "Load",
    "Swap",
    "CompareAndSwap",
    "Do",
    "Run",
    "Shutdown",
];

/// Is a call of this name (a method or function name as written) one that may wait for another
/// goroutine: one of [`MAY_WAIT`], or a name that starts with a word of
/// [`crate::words::WAIT_CALL_FIRST`] (`waitForPeers`, `AwaitReady`)?
pub fn may_wait_by_name(name: &str) -> bool {
    MAY_WAIT.contains(&name) || crate::words::WAIT_CALL_FIRST.starts_identifier(name)
}
