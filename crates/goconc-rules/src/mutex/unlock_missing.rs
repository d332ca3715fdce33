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

## When it stays silent
- The function hands the lock on: it returns the unlock function (`return mu.Unlock`), its doc
  comment says the caller unlocks (the words `caller`/`callers` with `unlock`/`release`, or
  "must be unlocked", "locked on return"), or its name says it locks (the whole words `lock`,
  `rlock`, `acquire`: `lockShared`, `acquireSlot`, but not `GetBlock` or `unlockAll`).
- A comment beside the `Lock` never silences it, even one that says the lock stays held: a
  comment that names the bug must not hide it. Say so with `//goconc:ignore mutex-unlock-missing
  reason`.
- A path ends in `panic`, `os.Exit`, `log.Fatal` or `t.Fatal`.
- A deferred closure or a helper named like `unlock…`/`release…` releases it.
- The lock is taken and released under the same condition (`if locked { mu.Lock() }` … `if
  locked { mu.Unlock() }`).
- The variable naming the mutex is reassigned (hand-over-hand locking), or the body uses `goto`.
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    for (index, body, calls) in locking_bodies(cx) {
        let function = &cx.model.functions[index];
        if hands_lock_on(cx, function.node) || locks::calls_release_helper(cx.model, body) {
            continue;
        }
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
                if exit.state.deferred.contains(key) {
                    continue;
                }
                for &site in &held.sites {
                    leaks
                        .entry(site)
                        .or_insert((key.clone(), exit.node, exit.kind));
                }
            }
        }
        for (site, (key, exit_node, exit_kind)) in leaks {
            let Some(lock) = calls.iter().find(|c| c.call.start_byte() == site) else {
                continue;
            };
            // A deferred `Lock` of the same mutex is `mutex-defer-lock`'s finding.
            let deferred_relock = cx.index.defer_statements.iter().any(|d| {
                goconc_syntax::is_within(*d, body)
                    && goconc_syntax::statement_call(*d)
                        .and_then(|c| goconc_model::sync_calls::lock_call(cx.model, c))
                        .is_some_and(|l| {
                            l.op.is_acquire()
                                && lock_key(cx.model, &l).as_deref() == Some(key.as_str())
                        })
            });
            if deferred_relock
                || returns_unlocker(cx, body, &key)
                || same_condition_release(cx, lock, &key, &calls)
                || locks::released_elsewhere(cx.model, body, &key)
                || is_last_statement(lock, body)
                || hold_tracked_by_flag(cx, body, &key)
            {
                continue;
            }
            let released_somewhere = calls.iter().any(|c| {
                c.op.is_release() && lock_key(cx.model, c).as_deref() == Some(key.as_str())
            });
            let op = text(lock.method, cx.src);
            let exit_line = LineOf(exit_node.start_byte());
            let (message, related) = if !released_somewhere {
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
                ExitKind::EndOfBody => exit_node.end_byte().saturating_sub(1)..exit_node.end_byte(),
                _ => exit_node.byte_range(),
            };
            let mut finding = META
                .finding(lock.call.byte_range(), message)
                .with_related(exit_range, related);
            if !released_somewhere {
                if let Some(edit) = defer_unlock_edit(cx, lock) {
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
}

/// Functions whose job is to leave the lock held for their caller.
fn hands_lock_on(cx: &Context, function: Node) -> bool {
    if let Some(name) = function.field("name") {
        if words::ACQUIRE.in_identifier(text(name, cx.src)) {
            return true;
        }
    }
    if function.kind_str() == "func_literal" {
        return false;
    }
    words::says_caller_unlocks(&doc_comment(function, cx.src))
}

/// `mu.Lock()` as the body's last statement: the function exists to return with it held.
fn is_last_statement(lock: &LockCall, body: Node) -> bool {
    goconc_syntax::statements(body).last().is_some_and(|last| {
        last.byte_range() == lock.call.parent().map_or(0..0, |p| p.byte_range())
    })
}

/// `return mu.Unlock` or `return func() { mu.Unlock() }`: the caller gets the release.
fn returns_unlocker(cx: &Context, body: Node, key: &str) -> bool {
    let mut found = false;
    walk_body(body, |n| {
        if found || n.kind_str() != "return_statement" {
            return;
        }
        goconc_syntax::walk(n, |inner| {
            // Parentheses are looked through at the expression inside them, which the walk
            // visits next (unparenthesising at each of N nested parentheses is quadratic).
            if inner.kind_str() != "parenthesized_expression"
                && is_unlock_method_value(cx.model, inner)
            {
                found = true;
            }
            // `return conn, c.releaseConn, nil`: a release function handed to the caller. The
            // name first: `parent()` descends from the root.
            if matches!(inner.kind_str(), "identifier" | "field_identifier")
                && words::RELEASE.in_identifier(text(inner, cx.src))
                && inner
                    .parent()
                    .is_some_and(|p| p.kind_str() != "call_expression")
                && !is_called(inner)
            {
                found = true;
            }
            if inner.kind_str() == "func_literal" {
                goconc_syntax::walk(inner, |call| {
                    if let Some(lock) = goconc_model::sync_calls::lock_call(cx.model, call) {
                        if lock.op.is_release() && lock_key(cx.model, &lock).as_deref() == Some(key)
                        {
                            found = true;
                        }
                    }
                    true
                });
            }
            !found
        });
    });
    found
}

/// `if cond { mu.Lock() }` … `if cond { mu.Unlock() }`: taken and released under one condition.
fn same_condition_release(cx: &Context, lock: &LockCall, key: &str, calls: &[LockCall]) -> bool {
    let Some(condition) = enclosing_if_condition(cx, lock.call) else {
        return false;
    };
    calls.iter().any(|c| {
        c.op.is_release()
            && lock_key(cx.model, c).as_deref() == Some(key)
            && enclosing_if_condition(cx, c.call).is_some_and(|other| other == condition)
    })
}

fn enclosing_if_condition<'s>(cx: &Context<'_, 's>, node: Node) -> Option<&'s str> {
    let mut current = node.parent();
    while let Some(n) = current {
        if goconc_syntax::is_function(n.kind_str()) {
            return None;
        }
        if n.kind_str() == "if_statement" {
            return n.field("condition").map(|c| text(c, cx.src).trim());
        }
        current = n.parent();
    }
    None
}

/// Inserts `defer x.Unlock()` on the line after a `x.Lock()` statement — not inside a loop, where
/// a deferred unlock would only run when the function returns.
fn defer_unlock_edit(cx: &Context, lock: &LockCall) -> Option<TextEdit> {
    let stmt = lock
        .call
        .parent()
        .filter(|p| p.kind_str() == "expression_statement")?;
    let mut current = stmt.parent();
    while let Some(n) = current {
        if goconc_syntax::is_function(n.kind_str()) {
            break;
        }
        if n.kind_str() == "for_statement" {
            return None;
        }
        current = n.parent();
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
        .parent()
        .filter(|p| p.kind_str() == "selector_expression")
    {
        node = parent;
    }
    node.parent()
        .is_some_and(|p| p.kind_str() == "call_expression" && p.field("function") == Some(node))
}

/// `if keep { s.holding = true } else { s.mu.Unlock() }`: the lock is kept on purpose and a flag
/// remembers to release it later.
fn hold_tracked_by_flag(cx: &Context, body: Node, key: &str) -> bool {
    // Where the body releases the lock and where it sets a flag, found in one walk: asking each
    // `if` to walk its branches again is quadratic in an `else if` chain.
    let mut releases_at = Vec::new();
    let mut flags_at = Vec::new();
    walk_body(body, |c| {
        if let Some(lock) = goconc_model::sync_calls::lock_call(cx.model, c) {
            if lock.op.is_release() && lock_key(cx.model, &lock).as_deref() == Some(key) {
                releases_at.push(c.start_byte());
            }
        }
        if c.kind_str() == "assignment_statement"
            && c.field("right")
                .is_some_and(|r| matches!(text(r, cx.src).trim(), "true" | "false"))
        {
            flags_at.push(c.start_byte());
        }
    });
    // Both in document order: whether one lies within a node is one binary search.
    let within = |starts: &[usize], n: Node| {
        let first = starts.partition_point(|&s| s < n.start_byte());
        starts.get(first).is_some_and(|&s| s < n.end_byte())
    };
    let releases = |n: Node| within(&releases_at, n);
    let sets_flag = |n: Node| within(&flags_at, n);
    let mut found = false;
    walk_body(body, |n| {
        if n.kind_str() == "if_statement" {
            if let (Some(then), Some(other)) = (n.field("consequence"), n.field("alternative")) {
                found |= releases(then) && sets_flag(other) || releases(other) && sets_flag(then);
            }
        }
    });
    found
}
