//! What a function does with the calls it makes followed through its package: the locks it
//! takes (and in which order), whether it blocks, which of its caller's locks it releases. Composed
//! once per package from the per-function [`super::summary`]s, so it needs no syntax tree and a
//! server recomputes it from the summaries it keeps per file.

use crate::HashMap;
use std::collections::BTreeSet;

use super::summary::{Acquire, Arg, Blocking, CallTarget, FuncSummary, LockPath, LockRoot, Via};
use super::types::Ty;

/// A lock a function takes, directly or through the calls it makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    /// Named from the function: below its receiver, a package variable, or a value of a type
    /// whose identity is unknown.
    pub lock: LockPath,
    pub read: bool,
    /// Taken only when a `bool` parameter of the function has this value.
    pub only_if: Option<(usize, bool)>,
    /// The calls it is taken through, outermost first (empty: in the body itself).
    pub via: Vec<String>,
    /// Where the function takes it or makes the first call of `via` (a byte offset in the
    /// function's file).
    pub offset: usize,
}

/// What a function does, with the calls it makes followed through the package.
#[derive(Debug, Clone, Default)]
pub struct Effects {
    pub takes: Vec<Taken>,
    /// The first blocking operation, and the calls it is reached through.
    pub blocks: Option<(Blocking, Vec<String>)>,
    /// Locks its caller holds that it releases on every path that returns (the caller's lock
    /// is taken over), calls followed.
    pub releases: Vec<LockPath>,
}

/// A resolved call: the callee's summary key, and its receiver type for a method.
type Callee = (String, Option<String>);

/// How deep calls are followed.
const MAX_DEPTH: usize = 6;

/// One function takes `second` while it holds `first`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub first: String,
    pub second: String,
    /// `first` is held, and `second` taken, for reading (`RLock`).
    pub first_read: bool,
    pub second_read: bool,
    /// Where `first` is taken (a byte offset in the function's file).
    pub first_offset: usize,
    /// Where `second` is taken, or the call that takes it.
    pub offset: usize,
    /// The calls `second` is taken through (empty: in the body itself).
    pub via: Vec<String>,
}

/// The [`Effects`] of every summarised function of a package, computed once per package.
#[derive(Debug, Default)]
pub struct LockClosure {
    effects: HashMap<String, Effects>,
    /// Per function: the pairs of locks (by [`canonical`] name) it takes one while holding the
    /// other, directly or through a call.
    orders: HashMap<String, Vec<Order>>,
    /// Per pair (held, taken): the first function (by key) that takes them in that order, and
    /// how many do.
    order_pairs: HashMap<(String, String), (String, usize)>,
    any_releases: bool,
    /// The [`canonical`] names of the locks some function takes for writing.
    write_locked: crate::HashSet<String>,
    /// Per lock ([`canonical`] name): the functions that take it in their body, by key, sorted.
    acquirers: HashMap<String, Vec<String>>,
    /// Per function (by key): the locks it leaves held for its caller by design
    /// ([`FuncSummary::keeps`], with a counterpart in the package that releases them).
    kept: HashMap<String, Vec<Acquire>>,
    /// The names (without receiver type) of the functions in `kept`, sorted: a body that calls
    /// none of them gains no lock from a call.
    keeper_names: Vec<String>,
}

impl LockClosure {
    pub fn effects(&self, key: &str) -> Option<&Effects> {
        self.effects.get(key)
    }

    /// The lock pairs a function takes in order (see [`Order`]).
    pub fn orders(&self, key: &str) -> &[Order] {
        self.orders.get(key).map_or(&[], Vec::as_slice)
    }

    /// The first function (by key) that takes `first` and then `second` while holding it, and
    /// how many functions do.
    pub fn ordered_by(&self, first: &str, second: &str) -> Option<(&str, usize)> {
        self.order_pairs
            .get(&(first.to_string(), second.to_string()))
            .map(|(key, count)| (key.as_str(), *count))
    }

    /// Does some function of the package take over its caller's lock?
    pub fn has_releases(&self) -> bool {
        self.any_releases
    }

    /// The functions (by key, sorted) that take this lock ([`canonical`] name) in their body.
    pub fn acquirers(&self, canonical: &str) -> &[String] {
        self.acquirers.get(canonical).map_or(&[], Vec::as_slice)
    }

    /// The names of the package's functions and methods that leave a lock held for their caller
    /// by design (see [`FuncSummary::keeps`]).
    pub fn keeper_names(&self) -> &[String] {
        &self.keeper_names
    }

    /// The locks a function leaves held for its caller by design: it takes them and never
    /// releases them, and another function of the package releases them for its caller
    /// (`lock()` and `unlock()` helpers).
    pub fn kept(&self, key: &str) -> &[Acquire] {
        self.kept.get(key).map_or(&[], Vec::as_slice)
    }

    /// Is this lock (by [`canonical`] name) write-locked anywhere in the package?
    pub fn write_locked(&self, canonical: &str) -> bool {
        self.write_locked.contains(canonical)
    }

    /// Follows every function's calls to a fixed point (bounded: a fact travels at most
    /// [`MAX_DEPTH`] calls). Deterministic: keys and calls are visited in a fixed order.
    pub fn compute(package: &super::PackageModel) -> LockClosure {
        let mut keys: Vec<(&String, &FuncSummary)> = package.summaries().collect();
        keys.sort_by(|a, b| a.0.cmp(b.0));
        let mut effects: HashMap<String, Effects> = HashMap::default();
        for (key, summary) in &keys {
            let takes = summary
                .acquires
                .iter()
                .map(|a| Taken {
                    lock: LockPath::from_acquire(a),
                    read: a.read,
                    only_if: a.only_if,
                    via: Vec::new(),
                    offset: a.offset,
                })
                .collect();
            // Its own blocking operation, or else the first call into another package of the
            // module that blocks (those facts are fixed: no round follows them further).
            let blocks = summary.blocks.clone().map(|b| (b, Vec::new())).or_else(|| {
                summary.calls.iter().find_map(|c| {
                    let (b, via) = imported_blocks(package, owner_of(key), &c.target, &c.name)?;
                    let mut chain = vec![call_shown(&c.target, &c.name)];
                    chain.extend(via.iter().take(MAX_DEPTH - 1).cloned());
                    Some((b.clone(), chain))
                })
            });
            effects.insert(
                key.to_string(),
                Effects {
                    takes,
                    blocks,
                    releases: Vec::new(),
                },
            );
        }
        // Callees resolved once.
        let resolved: Vec<Vec<Option<Callee>>> = keys
            .iter()
            .map(|(key, summary)| {
                summary
                    .calls
                    .iter()
                    .map(|c| resolve_call(package, owner_of(key), &c.target, &c.name))
                    .collect()
            })
            .collect();
        for _round in 0..MAX_DEPTH {
            let mut changed = false;
            for ((key, summary), callees) in keys.iter().zip(&resolved) {
                let mut added: Vec<Taken> = Vec::new();
                let mut blocks = None;
                for (call, callee) in summary.calls.iter().zip(callees) {
                    let Some((callee_key, callee_owner)) = callee else {
                        continue;
                    };
                    if callee_key == *key {
                        continue;
                    }
                    let Some(theirs) = effects.get(callee_key) else {
                        continue;
                    };
                    let shown = call_shown(&call.target, &call.name);
                    for taken in &theirs.takes {
                        if taken.via.len() + 1 > MAX_DEPTH {
                            continue;
                        }
                        let Some(lock) =
                            map_lock(&taken.lock, &call.target, callee_owner.as_deref())
                        else {
                            continue;
                        };
                        let only_if = match taken.only_if {
                            None => None,
                            Some((i, value)) => match call.args.get(i) {
                                Some(Arg::Bool(b)) if *b != value => continue,
                                Some(Arg::Bool(_)) => None,
                                Some(Arg::Param(j)) => Some((*j, value)),
                                _ => None,
                            },
                        };
                        let mut via = vec![shown.clone()];
                        via.extend(taken.via.iter().cloned());
                        added.push(Taken {
                            lock,
                            read: taken.read,
                            only_if,
                            via,
                            offset: call.offset,
                        });
                    }
                    if blocks.is_none() {
                        if let Some((b, via)) = &theirs.blocks {
                            if via.len() < MAX_DEPTH {
                                let mut chain = vec![shown.clone()];
                                chain.extend(via.iter().cloned());
                                blocks = Some((b.clone(), chain));
                            }
                        }
                    }
                }
                let Some(own) = effects.get_mut(key.as_str()) else {
                    continue;
                };
                for taken in added {
                    let known = own.takes.iter().any(|t| {
                        t.lock == taken.lock && t.read == taken.read && t.only_if == taken.only_if
                    });
                    if !known {
                        own.takes.push(taken);
                        changed = true;
                    }
                }
                if own.blocks.is_none() && blocks.is_some() {
                    own.blocks = blocks;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        for (key, summary) in &keys {
            let releases: Vec<LockPath> = summary
                .releases
                .iter()
                .filter(|(lock, clauses)| {
                    clauses.iter().all(|clause| {
                        clause.iter().any(|via| {
                            released_through(package, owner_of(key), lock, via, &mut Vec::new())
                        })
                    })
                })
                .map(|(lock, _)| lock.clone())
                .collect();
            if let Some(own) = effects.get_mut(key.as_str()) {
                own.releases = releases;
            }
        }
        let mut orders: HashMap<String, Vec<Order>> = HashMap::default();
        let mut order_pairs: HashMap<(String, String), (String, usize)> = HashMap::default();
        for ((key, summary), callees) in keys.iter().zip(&resolved) {
            let owner = owner_of(key);
            let name = |a: &Acquire| canonical(package, owner, &LockPath::from_acquire(a));
            let mut own: Vec<Order> = Vec::new();
            for (first, second) in &summary.orders {
                let (Some(a), Some(b)) = (name(first), name(second)) else {
                    continue;
                };
                if a != b {
                    own.push(Order {
                        first: a,
                        second: b,
                        first_read: first.read,
                        second_read: second.read,
                        first_offset: first.offset,
                        offset: second.offset,
                        via: Vec::new(),
                    });
                }
            }
            for (call, callee) in summary.calls.iter().zip(callees) {
                if call.held.is_empty() {
                    continue;
                }
                let Some((callee_key, callee_owner)) = callee else {
                    continue;
                };
                let Some(theirs) = effects.get(callee_key) else {
                    continue;
                };
                let shown = call_shown(&call.target, &call.name);
                let mut pushed: BTreeSet<(String, String)> = BTreeSet::new();
                for taken in &theirs.takes {
                    let Some(b) = canonical(package, callee_owner.as_deref(), &taken.lock) else {
                        continue;
                    };
                    for held in &call.held {
                        let Some(a) = name(held) else {
                            continue;
                        };
                        if a == b || !pushed.insert((a.clone(), b.clone())) {
                            continue;
                        }
                        let mut via = vec![shown.clone()];
                        via.extend(taken.via.iter().cloned());
                        own.push(Order {
                            first: a,
                            second: b.clone(),
                            first_read: held.read,
                            second_read: taken.read,
                            first_offset: held.offset,
                            offset: call.offset,
                            via,
                        });
                    }
                }
            }
            let mut counted: BTreeSet<(&str, &str)> = BTreeSet::new();
            for order in &own {
                if !counted.insert((&order.first, &order.second)) {
                    continue;
                }
                order_pairs
                    .entry((order.first.clone(), order.second.clone()))
                    .or_insert_with(|| (key.to_string(), 0))
                    .1 += 1;
            }
            if !own.is_empty() {
                orders.insert(key.to_string(), own);
            }
        }
        let any_releases = effects.values().any(|e| !e.releases.is_empty());
        let mut write_locked = crate::HashSet::default();
        let mut acquirers: HashMap<String, Vec<String>> = HashMap::default();
        for (key, summary) in &keys {
            for a in &summary.acquires {
                let Some(name) = canonical(package, owner_of(key), &LockPath::from_acquire(a))
                else {
                    continue;
                };
                let takers = acquirers.entry(name.clone()).or_default();
                if takers.last() != Some(&key.to_string()) {
                    takers.push(key.to_string());
                }
                if !a.read {
                    write_locked.insert(name);
                }
            }
            for lock in &summary.write_locks_aside {
                if let Some(name) = canonical(package, owner_of(key), lock) {
                    write_locked.insert(name);
                }
            }
        }
        // A lock a function leaves held is handed on by design only when the package has the
        // other half: a function (of the same type, for a receiver's lock) that releases it
        // for its caller. Without one, the function merely forgets to unlock
        // (`mutex-unlock-missing`'s finding), and its callers' deadlocks are that one defect.
        let counterparts: BTreeSet<(Option<&str>, &LockPath)> = keys
            .iter()
            .flat_map(|(key, summary)| {
                summary.releases.iter().map(move |(lock, _)| {
                    let owner = match lock.root {
                        LockRoot::Receiver => owner_of(key),
                        _ => None,
                    };
                    (owner, lock)
                })
            })
            .collect();
        let mut kept: HashMap<String, Vec<Acquire>> = HashMap::default();
        for (key, summary) in &keys {
            let handed: Vec<Acquire> = summary
                .keeps
                .iter()
                .filter(|a| {
                    let lock = LockPath::from_acquire(a);
                    let owner = match lock.root {
                        LockRoot::Receiver => owner_of(key),
                        _ => None,
                    };
                    counterparts.contains(&(owner, &lock))
                })
                .cloned()
                .collect();
            if !handed.is_empty() {
                kept.insert(key.to_string(), handed);
            }
        }
        let mut keeper_names: Vec<String> = kept
            .keys()
            .map(|key| key.rsplit('.').next().unwrap_or(key).to_string())
            .collect();
        keeper_names.sort();
        keeper_names.dedup();
        LockClosure {
            effects,
            orders,
            order_pairs,
            any_releases,
            write_locked,
            acquirers,
            kept,
            keeper_names,
        }
    }
}

/// The type of a summary key's method (`Store` for `Store.put`), None for a function.
pub fn owner_of(key: &str) -> Option<&str> {
    key.rsplit_once('.').map(|(t, _)| t)
}

/// How a call is named in a message: `flush`, `store.put`.
fn call_shown(target: &CallTarget, name: &str) -> String {
    match target {
        CallTarget::Receiver(p) | CallTarget::Typed(_, p) | CallTarget::Result(_, _, p)
            if !p.is_empty() =>
        {
            format!("{p}.{name}")
        }
        CallTarget::Global(p) => format!("{p}.{name}"),
        CallTarget::Package(path) => {
            format!("{}.{name}", path.rsplit('/').next().unwrap_or(path))
        }
        _ => name.to_string(),
    }
}

/// The summary key of the function a call reaches in the package, with the callee's receiver
/// type for a method.
pub fn resolve_call(
    package: &super::PackageModel,
    owner: Option<&str>,
    target: &CallTarget,
    name: &str,
) -> Option<(String, Option<String>)> {
    let method_of = |start: Ty, path: &str| -> Option<(String, Option<String>)> {
        let mut ty = start;
        for segment in path.split('.').filter(|s| !s.is_empty()) {
            ty = package.field_type(&ty, segment)?.deref().clone();
        }
        let Ty::Named {
            pkg,
            name: type_name,
        } = ty.deref()
        else {
            return None;
        };
        if !pkg.is_empty() {
            return None;
        }
        package.method(type_name, name)?;
        Some((format!("{type_name}.{name}"), Some(type_name.clone())))
    };
    match target {
        CallTarget::Function => {
            package.func(name)?;
            Some((name.to_string(), None))
        }
        CallTarget::Receiver(path) => method_of(Ty::named("", owner?), path),
        CallTarget::Typed(ty, path) => method_of(Ty::named("", ty), path),
        CallTarget::Global(path) => {
            let (root, rest) = path.split_once('.').unwrap_or((path, ""));
            method_of(package.var(root)?.deref().clone(), rest)
        }
        CallTarget::Package(_) => None,
        CallTarget::Result(inner, inner_name, path) => {
            let (key, inner_owner) = resolve_call(package, owner, inner, inner_name)?;
            let sig = match &inner_owner {
                Some(t) => package.method(t, inner_name)?,
                None => package.func(&key)?,
            };
            method_of(sig.results.first()?.deref().clone(), path)
        }
    }
}

/// What a call that reaches into another package of the module blocks on, as that package's
/// exports tell: `store.Open(…)`, or a method of a field, variable or parameter declared with a
/// type of that package (`s.client.Fetch()` with `client *remote.Client`).
fn imported_blocks<'p>(
    package: &'p super::PackageModel,
    owner: Option<&str>,
    target: &CallTarget,
    name: &str,
) -> Option<&'p (Blocking, Vec<String>)> {
    let module = package.module()?;
    let foreign_method = |start: Ty, path: &str| -> Option<(String, String)> {
        let mut ty = start;
        for segment in path.split('.').filter(|s| !s.is_empty()) {
            ty = package.field_type(&ty, segment)?.deref().clone();
        }
        match ty.deref() {
            Ty::Named {
                pkg,
                name: type_name,
            } if !pkg.is_empty() => Some((pkg.clone(), format!("{type_name}.{name}"))),
            _ => None,
        }
    };
    let (path, key) = match target {
        CallTarget::Package(path) => (path.clone(), name.to_string()),
        CallTarget::Receiver(path) => foreign_method(Ty::named("", owner?), path)?,
        CallTarget::Typed(ty, path) => foreign_method(Ty::named("", ty), path)?,
        CallTarget::Global(path) => {
            let (root, rest) = path.split_once('.').unwrap_or((path, ""));
            foreign_method(package.var(root)?.deref().clone(), rest)?
        }
        CallTarget::Function | CallTarget::Result(..) => return None,
    };
    module.facts(&path, &key)?.blocks.as_ref()
}

/// A callee's lock, named from the caller through the call's target.
fn map_lock(lock: &LockPath, target: &CallTarget, callee_owner: Option<&str>) -> Option<LockPath> {
    let join = |a: &str, b: &str| match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}.{b}"),
    };
    match (&lock.root, target) {
        (LockRoot::Param(_), _) => None,
        (LockRoot::Global | LockRoot::Typed(_), _) => Some(lock.clone()),
        (LockRoot::Receiver, CallTarget::Function | CallTarget::Package(_)) => None,
        (LockRoot::Receiver, CallTarget::Receiver(p)) => Some(LockPath {
            root: LockRoot::Receiver,
            path: join(p, &lock.path),
        }),
        (LockRoot::Receiver, CallTarget::Global(p)) => Some(LockPath {
            root: LockRoot::Global,
            path: join(p, &lock.path),
        }),
        (LockRoot::Receiver, CallTarget::Typed(..) | CallTarget::Result(..)) => Some(LockPath {
            root: LockRoot::Typed(callee_owner?.to_string()),
            path: lock.path.clone(),
        }),
    }
}

/// Does the call `via` (made by a function of `owner`) release `lock`, which the caller holds,
/// on every path that returns?
fn released_through(
    package: &super::PackageModel,
    owner: Option<&str>,
    lock: &LockPath,
    via: &Via,
    visiting: &mut Vec<String>,
) -> bool {
    let Some((callee, _)) = resolve_call(package, owner, &via.target, &via.name) else {
        return false;
    };
    if visiting.len() >= MAX_DEPTH || visiting.contains(&callee) {
        return false;
    }
    let Some(summary) = package.summary(&callee) else {
        return false;
    };
    let theirs = match (&lock.root, via.param) {
        (LockRoot::Param(_), Some(j)) => LockPath {
            root: LockRoot::Param(j),
            path: lock.path.clone(),
        },
        (LockRoot::Param(_), None) => return false,
        _ => lock.clone(),
    };
    visiting.push(callee.clone());
    let released = summary
        .releases
        .iter()
        .filter(|(l, _)| *l == theirs)
        .any(|(_, clauses)| {
            clauses.iter().all(|clause| {
                clause
                    .iter()
                    .any(|v| released_through(package, owner_of(&callee), &theirs, v, visiting))
            })
        });
    visiting.pop();
    released
}

/// A lock's name across the package (`Store.mu`, `registryMu`), if it is known to be a mutex:
/// locks below a receiver or a typed value by the type and field that hold them (following
/// field types through the package's structs), package-level mutexes by name.
pub fn canonical(
    package: &super::PackageModel,
    owner: Option<&str>,
    lock: &LockPath,
) -> Option<String> {
    let is_mutex = |ty: &Ty| package.lock_kind(ty.deref()).is_some();
    if lock.path.is_empty() && !matches!(lock.root, LockRoot::Global) {
        // A promoted `s.Lock()`: the receiver embeds the mutex.
        let ty = match &lock.root {
            LockRoot::Receiver => Ty::named("", owner?),
            LockRoot::Typed(t) => Ty::named("", t),
            _ => return None,
        };
        let Ty::Named { pkg, name } = ty.deref() else {
            return None;
        };
        let embeds = pkg.is_empty()
            && ["Mutex", "RWMutex"]
                .iter()
                .any(|f| package.field_type(&ty, f).is_some_and(|t| is_mutex(&t)));
        return embeds.then(|| format!("{name}.Mutex"));
    }
    let (name, ty) = field_named(package, owner, lock)?;
    if is_mutex(&ty) {
        return Some(name);
    }
    // `s.store.Lock()`: a field whose struct type embeds the mutex.
    let Ty::Named {
        pkg,
        name: type_name,
    } = ty.deref()
    else {
        return None;
    };
    let embeds = pkg.is_empty()
        && ["Mutex", "RWMutex"].iter().any(|f| {
            package
                .field_type(ty.deref(), f)
                .is_some_and(|t| is_mutex(&t))
        });
    embeds.then(|| format!("{type_name}.Mutex"))
}

/// A field's or package variable's name across the package (`Service.wg`, `registry`) and its
/// type: by the type that declares the field, following field types through the package's
/// structs.
pub fn field_named(
    package: &super::PackageModel,
    owner: Option<&str>,
    lock: &LockPath,
) -> Option<(String, Ty)> {
    let type_name = |ty: &Ty| match ty.deref() {
        Ty::Named { pkg, name } if pkg.is_empty() => Some(name.clone()),
        _ => None,
    };
    let segments: Vec<&str> = lock.path.split('.').filter(|s| !s.is_empty()).collect();
    let (mut ty, rest) = match &lock.root {
        LockRoot::Receiver => (Ty::named("", owner?), &segments[..]),
        LockRoot::Typed(t) => (Ty::named("", t), &segments[..]),
        LockRoot::Param(_) => return None,
        LockRoot::Global => {
            let (root, rest) = segments.split_first()?;
            let var = package.var(root)?.clone();
            if rest.is_empty() {
                return Some((root.to_string(), var));
            }
            (var, rest)
        }
    };
    for (i, segment) in rest.iter().enumerate() {
        let owner_name = type_name(&ty)?;
        let field = package.field_type(&ty, segment)?;
        if i + 1 == rest.len() {
            return Some((format!("{owner_name}.{segment}"), field));
        }
        ty = field.deref().clone();
    }
    None
}
