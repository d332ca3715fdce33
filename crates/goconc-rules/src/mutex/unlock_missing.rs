//! `mutex-unlock-missing`: a `Lock` that some path to a return leaves held.

use crate::finding::LineOf;
use goconc_syntax::NodeExt;
use std::collections::BTreeMap;

use tree_sitter::Node;

use super::locking_bodies;
use crate::finding::{Finding, Severity, TextEdit};
use crate::{Context, Family, RuleMeta};
use goconc_model::flow::ExitKind;
use goconc_model::locks::{self, is_unlock_method_value};
use goconc_model::sync_calls::{lock_key, LockCall};
use goconc_model::words;
use goconc_syntax::{doc_comment, line_indent, text, walk_body};

pub static META: RuleMeta = RuleMeta {
    id: "mutex-unlock-missing",
    family: Family::Mutex,
    severity: Severity::Error,
    summary: "A `Lock` or `RLock` with a path to a return (or to the end of the function) that never unlocks.",
    fix: Some("`defer mu.Unlock()` after the `Lock`, when no path unlocks"),
    doc: r#"
## Why it matters
A mutex left locked on one path — typically an early `return` on an error — blocks every later
`Lock` forever. The program does not crash; it stops, usually under load and far from the bug.

## Example
```go
func (c *Cache) Get(key string) (Item, error) {
	c.mu.Lock()
	item, ok := c.items[key]
	if !ok {
		return Item{}, errNotFound // c.mu stays locked
	}
	c.mu.Unlock()
	return item, nil
}
```
Release the lock on every path, most simply with `defer`:
```go
func (c *Cache) Get(key string) (Item, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	item, ok := c.items[key]
	if !ok {
		return Item{}, errNotFound
	}
	return item, nil
}
```

## Fix
When no path unlocks at all, the quick fix inserts `defer mu.Unlock()` (or `defer mu.RUnlock()`)
right after the `Lock`. When some paths unlock and others do not, the right change depends on the
code, so no fix is offered.

## Evidence and severity
- `error`: a path to the `return` (or the end of the function) the message names leaves the
  mutex held, or no path unlocks at all, and the mutex is the receiver's or a package
  variable's: it outlives the function, so the next `Lock` of it blocks forever.
  Also when the lock is taken through a helper that keeps it for its caller (a function with
  no result that takes it at top level and never touches it again, whose package has a
  counterpart that releases it: `g.enter()` … `g.leave()`), some `return` of the function has
  let it go through the counterpart, and the `return` the message names still holds it on
  every path to it.
- `warning`: a parameter's or local's mutex that no path unlocks, when something visibly locks
  it again (a later `Lock` of it in the function, such as in a goroutine it starts, or a function
  of the package that locks that field of the same type): the harm needs that `Lock` to run.
- `hint`: the same, when the value was just retired: in the same block, under another mutex's
  `Lock`, the function `delete`s from a map and then takes the value's lock before releasing the
  other mutex (`t.mu.Lock(); delete(t.byID, id); s.mu.Lock(); t.mu.Unlock()`). Holding the
  value's lock waits out a user that found it in the map before, and bars the rest; a later
  `Lock` needs a reference kept from before the removal. No quick fix is offered. A value whose
  lock is kept after the other mutex was released, or with no removal before it, stays a
  warning.

## When it stays silent
- The function hands the lock on: it returns the unlock function (`return mu.Unlock`) or a value
  of a type with a method whose first use of the lock is an unlock (`return &Guard{s}` with
  `Guard.Close` unlocking), its doc comment says the caller unlocks (the words
  `caller`/`callers` with `unlock`/`release`, or "must be unlocked", "locked on return"), or its
  name says it locks (the whole words `lock`, `rlock`, `acquire`: `lockShared`, `acquireSlot`,
  but not `GetBlock` or `unlockAll`) and no path of it releases what it took.
- A call takes the lock over: a function or method of the package (or a goroutine started on
  one, `go w.readLocked(…)`) whose first use of the lock is an unlock and that releases it on
  every path that returns, directly or through the calls it passes it on to
  (`go inlineD(&mu)` → `inlineE(mu)` → `mu.Unlock()`).
- A function literal of the same function takes the lock over (its first use of it is an unlock,
  as in `go func() { …; mu.Unlock() }()`). The enclosing function's own `Lock … defer Unlock`
  is no such hand-off: a literal that leaks the lock it takes is reported.
- The function runs with its caller's lock held (its first use of the lock is an unlock) and
  takes it back before returning: that is the contract, not a leak.
- A comment beside the `Lock` never silences it, even one that says the lock stays held: a
  comment that names the bug must not hide it. Say so with `//goconc:ignore mutex-unlock-missing
  reason`.
- A path ends in `panic`, `os.Exit`, `log.Fatal`, `t.Fatal`, `runtime.Goexit`, or a call of a
  function of the package whose every path ends in one of those (`fatalf(t, …)`).
- A deferred closure or a helper named like `unlock…`/`release…` releases it.
- Through a helper: the lock belongs to a local or a parameter (a value that may die with the
  function, such as a test's buffer), no path that returns lets the lock go (the function hands it on to its own
  caller), the function's name or comment says it hands the lock on, or it calls a
  `release…`-named function the package cannot resolve.
- The lock is taken and released under the same condition (`if locked { mu.Lock() }` … `if
  locked { mu.Unlock() }`), or kept on purpose and remembered in a flag (`if keep { s.held =
  true } else { s.mu.Unlock() }`) that some `if` of the file reads before unlocking a mutex of
  the same name. A flag nothing reads is no evidence.
- A parameter's or local's mutex that no path unlocks and that nothing visibly locks again.
- A `continue` carries the lock back to its own `Lock`: `mutex-double-lock` reports that path.
- The variable naming the mutex is reassigned (hand-over-hand locking), or the body uses `goto`.
- The function holds more than 64 mutexes at once on some path: its locks are not followed, as
  in a function with `goto` (no function of the pinned projects or the standard library holds
  more than three).
- A mutex that more than 64 `Lock` calls may have taken at one point (one per arm of a long
  `switch`): the first 64 in the source are reported, the rest not (no mutex of the pinned
  projects or the standard library has more than four).
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    for (index, body, calls) in locking_bodies(cx) {
        let function = &cx.model.functions[index];
        let Some(trace) = cx.lock_trace(body) else {
            continue;
        };
        let exits = &trace.exits;
        // For each acquiring call, the first exit that leaves it held.
        let mut leaks: BTreeMap<usize, (String, Node, ExitKind)> = BTreeMap::new();
        for exit in exits.iter() {
            if exit.kind == ExitKind::NoReturn || exit.state.opaque_deferred_release {
                continue;
            }
            for (key, held) in &exit.state.held {
                // The caller's lock, taken back before returning: the contract. A lock a
                // `continue` carries back to its `Lock` is `mutex-double-lock`'s finding.
                if exit.state.deferred.contains(key)
                    || exit.state.entered.contains(key)
                    || exit.state.continued(held).is_some()
                {
                    continue;
                }
                for &site in held.sites.iter() {
                    leaks
                        .entry(site)
                        .or_insert_with(|| (key.clone(), exit.node, exit.kind));
                }
            }
        }
        // What excuses a whole body, asked only of one that leaves a lock held (most bodies
        // release what they take: walking each for release helpers was wasted).
        if leaks.is_empty()
            || locks::calls_release_helper(cx.model, body)
            || documented_hand_on(cx, function.node)
        {
            continue;
        }
        let named_to_hand_on = named_hand_on(cx, function.node);
        let facts = BodyFacts::of(cx, body, &calls);
        for (site, (key, exit_node, exit_kind)) in leaks {
            let Some(lock) = facts.call_at.get(&site).map(|&i| &calls[i]) else {
                continue;
            };
            // A deferred `Lock` of the same mutex is `mutex-defer-lock`'s finding.
            let deferred_relock = facts.deferred_acquires.contains(&key);
            let releases = facts.releases(&calls, &key);
            let released_somewhere = releases.clone().next().is_some();
            // A function named for locking hands its lock on only when no path of it releases
            // what it took (`RLock … RUnlock` before a `Lock` it keeps is another section).
            let released_in_kind = releases.clone().any(|c| c.op == lock.op.counterpart());
            if named_to_hand_on && !released_in_kind {
                continue;
            }
            if deferred_relock
                || facts.returned.unlock(&key)
                || (exit_kind == ExitKind::Return
                    && returns_owner_that_unlocks(cx, exit_node, &key))
                || same_condition_release(cx, body, lock, releases)
                || locks::released_elsewhere(cx.model, body, &key)
                || is_last_statement(lock, body, facts.last_statement)
                || (facts.sets_flags && hold_tracked_by_flag(cx, body, &key))
            {
                continue;
            }
            let op = text(lock.method, cx.src);
            let exit_line = LineOf(exit_node.start_byte());
            // A mutex of the receiver or a package variable outlives the function: the next
            // `Lock` of it is certain to come. One of a parameter or local may be retired with
            // its value.
            let lasting = locks::lock_path_of_key(cx.model, &key, lock.call.start_byte())
                .is_some_and(|(path, _)| {
                    matches!(
                        path.root,
                        goconc_model::summary::LockRoot::Receiver
                            | goconc_model::summary::LockRoot::Global
                    )
                });
            let mut severity = match released_somewhere || lasting {
                true => Severity::Error,
                false => Severity::Warning,
            };
            // A mutex of a parameter or local that is never unlocked matters only if something
            // locks it again: a goroutine of this function, or a function of the package that
            // locks that field of the same type.
            let relocker = match released_somewhere || lasting {
                true => None,
                false => match relocker(cx, &key, lock, function.node) {
                    Some(who) => Some(who),
                    None => continue,
                },
            };
            // The value was just taken out of its container under another lock, and its own
            // lock is taken before that one is released: a drain barrier on a retired value.
            let retired = relocker
                .as_ref()
                .and_then(|_| retired_from_container(cx, lock));
            let (message, related) = if let (Some(who), Some(retired)) = (&relocker, &retired) {
                severity = Severity::Hint;
                (
                    format!("`{key}.{op}()` is never unlocked in this function, and {who} locks it again; but `{}` removed it from `{}` under `{}` just before, so only a reference kept from before reaches it", retired.delete, retired.container, retired.outer),
                    "the function ends here with the mutex locked".to_string(),
                )
            } else if let Some(who) = relocker {
                (
                    format!("`{key}.{op}()` is never unlocked in this function, and {who} locks it again: that `Lock` blocks forever"),
                    "the function ends here with the mutex locked".to_string(),
                )
            } else if !released_somewhere {
                (
                    format!("`{key}.{op}()` is never unlocked in this function: the mutex stays locked and the next `Lock` blocks forever"),
                    "the function ends here with the mutex locked".to_string(),
                )
            } else if exit_kind == ExitKind::EndOfBody {
                (
                    format!("`{key}` stays locked on a path to the end of the function (line {exit_line}): the next `Lock` blocks forever"),
                    format!("`{key}` is still locked when the function ends here"),
                )
            } else {
                (
                    format!("`{key}` stays locked when the function returns at line {exit_line}: the next `Lock` blocks forever"),
                    format!("returns here with `{key}` still locked"),
                )
            };
            let exit_range = match exit_kind {
                ExitKind::EndOfBody => {
                    exit_node.end_offset().saturating_sub(1)..exit_node.end_offset()
                }
                _ => exit_node.byte_span(),
            };
            let mut finding = META
                .finding(lock.call.byte_span(), message)
                .with_related(exit_range, related);
            finding.severity = severity;
            // A retired value's lock is kept on purpose: no fix to offer.
            if !released_somewhere && retired.is_none() {
                if let Some(edit) = defer_unlock_edit(cx, body, lock) {
                    let title = format!(
                        "Add `defer {}.{}()`",
                        text(lock.receiver, cx.src),
                        lock.op.counterpart().name()
                    );
                    finding = finding.with_fix(title, vec![edit]);
                }
            }
            out.push(finding);
        }
    }
    check_helper_locks(cx, out);
}

/// A lock taken through a helper that keeps it for its caller (`c.State.lock()`), released by
/// its counterpart (`c.State.unlock()`) on some paths that return and still held, on every path,
/// at another `return`: the function's own paths show it is meant to let go.
fn check_helper_locks(cx: &Context, out: &mut Vec<Finding>) {
    for body in super::keeper_calling_bodies(cx.model, &cx.index) {
        let Some(index) = cx.model.function_of(body) else {
            continue;
        };
        let function = cx.model.functions[index].node;
        if documented_hand_on(cx, function) || named_hand_on(cx, function) {
            continue;
        }
        // A release-named call the package does not resolve: what it lets go is unknown.
        let mut unknown_release = false;
        walk_body(body, |n| {
            if n.kind_str() == "call_expression"
                && locks::release_helper_name(cx.model, n).is_some()
                && locks::released_by_call(cx.model, n).is_empty()
            {
                unknown_release = true;
            }
        });
        if unknown_release {
            continue;
        }
        let Some(trace) = cx.lock_trace(body) else {
            continue;
        };
        let exits: Vec<_> = trace
            .exits
            .iter()
            .filter(|e| e.kind != ExitKind::NoReturn && !e.state.opaque_deferred_release)
            .collect();
        // Per helper call: its key, the first exit that returns with it held on every path.
        let mut leaks: BTreeMap<usize, (String, Node, ExitKind)> = BTreeMap::new();
        for exit in &exits {
            for (key, held) in &exit.state.held {
                if !held.on_every_path
                    || exit.state.deferred.contains(key)
                    || exit.state.entered.contains(key)
                    || exit.state.continued(held).is_some()
                {
                    continue;
                }
                for &site in held.sites.iter() {
                    leaks
                        .entry(site)
                        .or_insert_with(|| (key.clone(), exit.node, exit.kind));
                }
            }
        }
        for (site, (key, exit_node, exit_kind)) in leaks {
            // Only the helper's calls: a `Lock` written out is the main check's.
            let mut helper = None;
            walk_body(body, |n| {
                if helper.is_none()
                    && n.start_byte() == site
                    && n.kind_str() == "call_expression"
                    && locks::kept_by_call(cx.model, n)
                        .iter()
                        .any(|(k, _)| *k == key)
                {
                    helper = Some(n);
                }
            });
            let Some(call) = helper else {
                continue;
            };
            // A lock of the receiver or a package variable outlives the function; one of a
            // value the function made or was handed may die with it (a test's local buffer).
            let lasting = locks::lock_path_of_key(cx.model, &key, site).is_some_and(|(path, _)| {
                matches!(
                    path.root,
                    goconc_model::summary::LockRoot::Receiver
                        | goconc_model::summary::LockRoot::Global
                )
            });
            if !lasting {
                continue;
            }
            // Some path that returns has let it go: this one forgot.
            let released_elsewhere = exits
                .iter()
                .any(|e| e.kind == ExitKind::Return && !e.state.held.contains_key(&key));
            if !released_elsewhere || exit_kind != ExitKind::Return {
                continue;
            }
            let callee = call.field("function").map_or("", |f| text(f, cx.src));
            let exit_line = LineOf(exit_node.start_byte());
            let message = format!(
                "`{callee}()` leaves `{key}` locked for this function, which releases it on other paths but returns at line {exit_line} with it still locked: the next `Lock` blocks forever"
            );
            out.push(META.finding(call.byte_span(), message).with_related(
                exit_node.byte_span(),
                format!("returns here with `{key}` still locked"),
            ));
        }
    }
}

/// Functions named for leaving the lock held for their caller (`lockShared`, `acquireSlot`).
fn named_hand_on(cx: &Context, function: Node) -> bool {
    function
        .field("name")
        .is_some_and(|name| words::ACQUIRE.in_identifier(text(name, cx.src)))
}

/// Functions documented to leave the lock held for their caller ("it is the caller's
/// responsibility to unlock it").
fn documented_hand_on(cx: &Context, function: Node) -> bool {
    function.kind_str() != "func_literal"
        && words::says_caller_unlocks(&doc_comment(function, cx.src))
}

/// What the checks of a leaking body ask of its lock calls and its returns, found once per
/// body: each leak walking the body again was quadratic (8,000 conditional locks: 86 s).
struct BodyFacts<'t> {
    /// The indices of the body's calls that release each key.
    releases_of: crate::HashMap<String, Vec<usize>>,
    /// The index of the call at each start byte.
    call_at: crate::HashMap<usize, usize>,
    /// The keys the body's deferred acquiring calls take (`defer mu.Lock()`).
    deferred_acquires: std::collections::HashSet<String>,
    returned: ReturnedUnlockers,
    last_statement: Option<Node<'t>>,
    /// Does the body set a flag to a constant? Without one, no flag tracks a hold.
    sets_flags: bool,
}

impl<'t> BodyFacts<'t> {
    fn of(cx: &Context<'_, 't>, body: Node<'t>, calls: &[LockCall<'t>]) -> BodyFacts<'t> {
        let mut releases_of: crate::HashMap<String, Vec<usize>> = Default::default();
        let mut call_at: crate::HashMap<usize, usize> = Default::default();
        for (i, call) in calls.iter().enumerate() {
            call_at.entry(call.call.start_byte()).or_insert(i);
            if let Some(key) = call
                .op
                .is_release()
                .then(|| lock_key(cx.model, call))
                .flatten()
            {
                releases_of.entry(key).or_default().push(i);
            }
        }
        let deferred_acquires = cx
            .index
            .defer_statements
            .iter()
            .filter(|d| goconc_syntax::is_within(**d, body))
            .filter_map(|d| goconc_syntax::statement_call(*d))
            .filter_map(|c| goconc_model::sync_calls::lock_call(cx.model, c))
            .filter(|l| l.op.is_acquire())
            .filter_map(|l| lock_key(cx.model, &l))
            .collect();
        let mut sets_flags = false;
        walk_body(body, |n| sets_flags |= sets_flag(cx, n).is_some());
        BodyFacts {
            releases_of,
            call_at,
            deferred_acquires,
            returned: ReturnedUnlockers::of(cx, body),
            last_statement: goconc_syntax::statements(body).last().copied(),
            sets_flags,
        }
    }

    /// The body's calls that release `key`.
    fn releases<'a>(
        &'a self,
        calls: &'a [LockCall<'t>],
        key: &str,
    ) -> impl Iterator<Item = &'a LockCall<'t>> + Clone + 'a {
        self.releases_of
            .get(key)
            .into_iter()
            .flatten()
            .map(|&i| &calls[i])
    }
}

/// `mu.Lock()` as the body's last statement: the function exists to return with it held.
fn is_last_statement(lock: &LockCall, body: Node, last: Option<Node>) -> bool {
    let statement = goconc_syntax::ancestors_under(body, lock.call).pop();
    last.is_some_and(|last| Some(last) == statement)
}

/// What the body's `return` statements hand the caller that releases a lock.
struct ReturnedUnlockers {
    /// `return mu.Unlock`, or a release-named function (`return conn, c.releaseConn, nil`):
    /// whichever lock it lets go.
    any: bool,
    /// `return func() { mu.Unlock() }`: the keys the returned literals release.
    keys: std::collections::HashSet<String>,
}

impl ReturnedUnlockers {
    fn of(cx: &Context, body: Node) -> ReturnedUnlockers {
        let mut any = false;
        let mut keys = std::collections::HashSet::new();
        walk_body(body, |n| {
            if n.kind_str() != "return_statement" {
                return;
            }
            // The end of the function literal the walk is inside, if any.
            let mut literal_end = 0;
            goconc_syntax::walk(n, |inner| {
                if inner.kind_str() == "func_literal" && inner.start_byte() >= literal_end {
                    literal_end = inner.end_offset();
                }
                // Parentheses are looked through at the expression inside them, which the walk
                // visits next (unparenthesising at each of N nested parentheses is quadratic).
                if inner.kind_str() != "parenthesized_expression"
                    && is_unlock_method_value(cx.model, inner)
                {
                    any = true;
                }
                // The name first: `parent()` descends from the root.
                if matches!(inner.kind_str(), "identifier" | "field_identifier")
                    && words::RELEASE.in_identifier(text(inner, cx.src))
                    && inner
                        .parent_node()
                        .is_some_and(|p| p.kind_str() != "call_expression")
                    && !is_called(inner)
                {
                    any = true;
                }
                if inner.start_byte() < literal_end {
                    if let Some(lock) = goconc_model::sync_calls::lock_call(cx.model, inner) {
                        if lock.op.is_release() {
                            keys.extend(lock_key(cx.model, &lock));
                        }
                    }
                }
                true
            });
        });
        ReturnedUnlockers { any, keys }
    }

    /// Does some `return` hand the caller what releases `key`?
    fn unlock(&self, key: &str) -> bool {
        self.any || self.keys.contains(key)
    }
}

/// `if cond { mu.Lock() }` … `if cond { mu.Unlock() }`: taken and released under one condition.
fn same_condition_release<'a, 't: 'a>(
    cx: &Context,
    body: Node,
    lock: &LockCall,
    mut releases: impl Iterator<Item = &'a LockCall<'t>>,
) -> bool {
    let Some(condition) = enclosing_if_condition(cx, body, lock.call) else {
        return false;
    };
    releases
        .any(|c| enclosing_if_condition(cx, body, c.call).is_some_and(|other| other == condition))
}

/// The condition of the nearest `if` around `node` in `body`, not looking past a function.
fn enclosing_if_condition<'s>(cx: &Context<'_, 's>, body: Node, node: Node) -> Option<&'s str> {
    for n in goconc_syntax::ancestors_under(body, node).into_iter().rev() {
        if goconc_syntax::is_function(n.kind_str()) {
            return None;
        }
        if n.kind_str() == "if_statement" {
            return n.field("condition").map(|c| text(c, cx.src).trim());
        }
    }
    None
}

/// Inserts `defer x.Unlock()` on the line after a `x.Lock()` statement — not inside a loop, where
/// a deferred unlock would only run when the function returns.
fn defer_unlock_edit(cx: &Context, body: Node, lock: &LockCall) -> Option<TextEdit> {
    let mut path = goconc_syntax::ancestors_under(body, lock.call);
    let stmt = path
        .pop()
        .filter(|p| p.kind_str() == "expression_statement")?;
    for n in path.iter().rev() {
        if goconc_syntax::is_function(n.kind_str()) {
            break;
        }
        if n.kind_str() == "for_statement" {
            return None;
        }
    }
    let at = goconc_syntax::insertion_after_line(stmt, cx.src)?;
    let indent = line_indent(cx.src, stmt.start_byte());
    let new_text = format!(
        "{}{indent}defer {}.{}()",
        goconc_syntax::newline(cx.src),
        text(lock.receiver, cx.src),
        lock.op.counterpart().name()
    );
    Some(TextEdit {
        range: at..at,
        new_text,
    })
}

/// Is this name the function of a call (`release()` rather than `release`)?
fn is_called(name: Node) -> bool {
    let mut node = name;
    if let Some(parent) = node
        .parent_node()
        .filter(|p| p.kind_str() == "selector_expression")
    {
        node = parent;
    }
    node.parent_node()
        .is_some_and(|p| p.kind_str() == "call_expression" && p.field("function") == Some(node))
}

/// `if keep { s.holding = true } else { s.mu.Unlock() }`: the lock is kept on purpose and a flag
/// remembers it, when something in the file releases the same lock under that flag (`if
/// s.holding { s.mu.Unlock() }`). A flag that nothing reads before unlocking is no evidence.
fn hold_tracked_by_flag(cx: &Context, body: Node, key: &str) -> bool {
    // Where the body releases the lock and where it sets a flag to a constant, found in one
    // walk: asking each `if` to walk its branches again is quadratic in an `else if` chain.
    let mut calls = Vec::new();
    let mut flags_at: Vec<(usize, String)> = Vec::new();
    walk_body(body, |c| {
        if c.kind_str() == "call_expression" {
            calls.push(c);
        }
        if let Some(flag) = sets_flag(cx, c) {
            flags_at.push((c.start_byte(), flag.to_string()));
        }
    });
    // No flag set, none to track the hold: the releases' keys are not needed.
    if flags_at.is_empty() {
        return false;
    }
    let releases_at: Vec<usize> = calls
        .into_iter()
        .filter(|&c| {
            goconc_model::sync_calls::lock_call(cx.model, c).is_some_and(|lock| {
                lock.op.is_release() && lock_key(cx.model, &lock).as_deref() == Some(key)
            })
        })
        .map(|c| c.start_byte())
        .collect();
    // Both in document order: what lies within a node is one binary search away.
    let releases = |n: Node| {
        let first = releases_at.partition_point(|&s| s < n.start_byte());
        releases_at.get(first).is_some_and(|&s| s < n.end_offset())
    };
    let flags_set = |n: Node| {
        let first = flags_at.partition_point(|(s, _)| *s < n.start_byte());
        flags_at[first..]
            .iter()
            .take_while(|(s, _)| *s < n.end_offset())
            .map(|(_, flag)| flag.clone())
            .collect::<Vec<_>>()
    };
    let mut flags = Vec::new();
    walk_body(body, |n| {
        if n.kind_str() == "if_statement" {
            if let (Some(then), Some(other)) = (n.field("consequence"), n.field("alternative")) {
                if releases(then) {
                    flags.extend(flags_set(other));
                }
                if releases(other) {
                    flags.extend(flags_set(then));
                }
            }
        }
    });
    if flags.is_empty() {
        return false;
    }
    // Somewhere the flag decides an unlock of a mutex of the same name.
    let last = key.rsplit('.').next().unwrap_or(key);
    let releases_same_name = |n: Node| {
        let mut found = false;
        walk_body(n, |c| {
            if let Some(lock) = goconc_model::sync_calls::lock_call(cx.model, c) {
                found |= lock.op.is_release()
                    && lock_key(cx.model, &lock)
                        .is_some_and(|k| k.rsplit('.').next() == Some(last));
            }
        });
        found
    };
    let mut decided = false;
    goconc_syntax::walk(cx.model.root, |n| {
        if decided {
            return false;
        }
        if n.kind_str() == "if_statement" {
            let reads_flag = n.field("condition").is_some_and(|c| {
                text(c, cx.src)
                    .split(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
                    .any(|w| flags.iter().any(|f| f == w))
            });
            if reads_flag && n.field("consequence").is_some_and(releases_same_name) {
                decided = true;
            }
        }
        true
    });
    decided
}

/// `s.holding = true`: an assignment of a constant boolean, and the flag's last name.
fn sets_flag<'s>(cx: &Context<'_, 's>, node: Node) -> Option<&'s str> {
    if node.kind_str() != "assignment_statement"
        || !node
            .field("right")
            .is_some_and(|r| matches!(text(r, cx.src).trim(), "true" | "false"))
    {
        return None;
    }
    let left = node.field("left")?;
    text(left, cx.src).rsplit('.').next().map(str::trim)
}

/// `return &Guard{s: s}` with `s.mu` held, where a method of `Guard` releases a lock its caller
/// holds (its first use of it is an unlock): the lock is handed to the returned value.
fn returns_owner_that_unlocks(cx: &Context, ret: Node, key: &str) -> bool {
    let root = locks::key_root(key);
    let Some(values) = goconc_syntax::named_children(ret).next() else {
        return false;
    };
    let values: Vec<Node> = match values.kind_str() {
        "expression_list" => goconc_syntax::named_children(values).collect(),
        _ => vec![values],
    };
    values.into_iter().any(|value| {
        let mut mentions = false;
        goconc_syntax::walk(value, |n| {
            mentions |= n.kind_str() == "identifier" && text(n, cx.src) == root;
            !mentions
        });
        if !mentions {
            return false;
        }
        let ty = cx.model.type_of(value);
        let goconc_model::Ty::Named { pkg, name } = ty.deref() else {
            return false;
        };
        let prefix = format!("{name}.");
        pkg.is_empty()
            && cx.model.package.summaries().any(|(k, s)| {
                k.starts_with(&prefix)
                    && s.entered_held
                        .iter()
                        .any(|l| l.root == goconc_model::summary::LockRoot::Receiver)
            })
    })
}

/// How a value whose lock is kept was retired: `delete(table, key)` in the same block, after
/// another mutex's `Lock` that the block releases only after this `Lock`.
struct Retired {
    /// The `delete(…)` call as written.
    delete: String,
    /// The map the value was removed from.
    container: String,
    /// The lock held around the removal and this `Lock`.
    outer: String,
}

/// `table.mu.Lock(); delete(table.m, k); e.mu.Lock(); table.mu.Unlock()`: the entry is gone from
/// the map that hands it out, and whoever found it there before takes its lock under the same
/// outer lock; keeping `e.mu` locked waits out the last user and bars every later one.
fn retired_from_container(cx: &Context, lock: &LockCall) -> Option<Retired> {
    let stmt = goconc_syntax::call_statement(lock.call)?;
    let block = stmt.parent_node()?;
    let siblings = goconc_syntax::statements(block);
    let at = siblings.iter().position(|s| *s == stmt)?;
    let own = lock_key(cx.model, lock)?;
    let delete = siblings[..at].iter().rev().find_map(|s| {
        let call = goconc_syntax::statement_call(*s)?;
        let f = goconc_syntax::unparen(call.field("function")?);
        // The builtin, not a local or package function of that name.
        (f.kind_str() == "identifier"
            && text(f, cx.src) == "delete"
            && cx.model.resolve(f).is_none()
            && cx.model.package.func("delete").is_none())
        .then_some(call)
    })?;
    let container = goconc_syntax::call_args(delete).first().copied()?;
    let key_of = |s: Node| {
        goconc_syntax::statement_call(s)
            .and_then(|c| goconc_model::sync_calls::lock_call(cx.model, c))
            .and_then(|l| lock_key(cx.model, &l).map(|k| (k, l.op)))
    };
    let delete_at = delete.start_byte();
    let outer = siblings[..at].iter().find_map(|s| {
        if s.start_byte() >= delete_at {
            return None;
        }
        let (k, op) = key_of(*s)?;
        (op.is_acquire() && k != own).then_some((k, op))
    })?;
    let released_after = siblings[at + 1..]
        .iter()
        .any(|s| key_of(*s).is_some_and(|(k, op)| k == outer.0 && op == outer.1.counterpart()));
    released_after.then(|| Retired {
        delete: text(delete, cx.src).to_string(),
        container: text(container, cx.src).to_string(),
        outer: outer.0,
    })
}

/// Who locks a parameter's or local's mutex again: a later `Lock` of the same variable in the
/// function (a goroutine it starts, a later statement), or a function of the package that locks
/// the same field of the same type.
fn relocker(cx: &Context, key: &str, lock: &LockCall, function: Node) -> Option<String> {
    let mut top = function;
    while let Some(f) = goconc_syntax::enclosing_function(top) {
        top = f;
    }
    let mut again = None;
    for name in ["Lock", "RLock"] {
        for &call in cx.index.calls_named(name) {
            // Later in the source: a function literal defined before the `Lock` ran before it (a
            // callback that locks, then the final `Lock` that reads what it recorded).
            if again.is_some()
                || call.start_byte() <= lock.call.end_offset()
                || !goconc_syntax::is_within(call, top)
            {
                continue;
            }
            if let Some(other) = goconc_model::sync_calls::lock_call(cx.model, call) {
                if lock_key(cx.model, &other).as_deref() == Some(key) {
                    again = Some(format!("line {}", LineOf(call.start_byte())));
                }
            }
        }
    }
    if again.is_some() {
        return again;
    }
    let name = locks::canonical_key(cx.model, key, lock.call.start_byte())?;
    let takers = cx.model.package.lock_closure().acquirers(&name);
    takers.first().map(|k| format!("`{k}`"))
}
