//! `guarded-field-unlocked`: a field read or written under its mutex in most places, but without
//! it here.

use crate::HashSet;
use std::collections::BTreeMap;

use crate::finding::{Finding, Severity};
use crate::{Context, Family, RuleMeta};
use goconc_model::flow::is_no_return_call;
use goconc_model::guards::{self, FieldAccess};
use goconc_model::summary::{is_atomic_load, summary_key};
use goconc_syntax::{method_call, statement_call, statements, text, walk, NodeExt};
use tree_sitter::Node;

pub static META: RuleMeta = RuleMeta {
    id: "guarded-field-unlocked",
    family: Family::Mutex,
    severity: Severity::Warning,
    summary:
        "A struct field read or written under its mutex in most places, but without it elsewhere.",
    fix: None,
    doc: r#"
## Why it matters
A mutex protects data only if every access takes it. One method that reads a field without the
lock — usually a "cheap" getter or a log line — races with every writer: torn values, stale
reads, and maps that crash with "concurrent map read and map write".

## Example
```go
type Cache struct {
	mu    sync.Mutex
	items map[string]string
}

func (c *Cache) Set(k, v string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.items[k] = v
}

func (c *Cache) Len() int {
	return len(c.items) // races with Set
}
```
```go
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}
```

## How the guard is found
From the package's own code: for each field, the receiver's mutex held on every path at its
accesses in the type's methods, across all files of the package. A mutex that is held at two or
more accesses including a write, and at more than half of them, is the field's guard. A
`// guarded by mu` comment on the field (or the line above it) names the guard outright.
Methods named `…Locked` or documented "caller must hold the lock" count as holding it.

## Fix
None: take the lock, or document why this access is safe.

## When it stays silent
Fields that hold mutexes, atomics, channels or funcs; fields only ever read; accesses inside
function literals (they may run while the caller holds the lock); accesses while any mutex of the
receiver is held; reads behind double-checked locking (in the `then` branch of an `if` whose
condition loads state atomically, itself or through a method of the same value whose body does:
`if t.ready.Load() { return t.result }`, or after such an `if` that runs the slow path);
accesses in unexported methods (helpers are often called with the lock held without saying so:
only exported methods are judged, though all accesses count as evidence); types without a clear
guard.
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    let has_methods = cx.model.functions.iter().any(|f| f.receiver_type.is_some());
    if !has_methods {
        return;
    }
    let fresh = guards::collect(cx.model);
    if fresh.is_empty() {
        return;
    }
    // This file's accesses, plus those of the other files of the package, of the fields this
    // file's analysed functions touch (a server analyses one function per keystroke).
    let touched: HashSet<(&str, &str)> = fresh
        .iter()
        .map(|a| (a.type_name.as_str(), a.field.as_str()))
        .collect();
    let mut seen: HashSet<(&str, usize, &str)> = HashSet::default();
    let mut by_field: BTreeMap<(&str, &str), Vec<&FieldAccess>> = BTreeMap::new();
    for access in fresh.iter().chain(cx.model.package.field_accesses()) {
        if touched.contains(&(access.type_name.as_str(), access.field.as_str()))
            && seen.insert((
                access.function.as_str(),
                access.offset,
                access.field.as_str(),
            ))
        {
            by_field
                .entry((access.type_name.as_str(), access.field.as_str()))
                .or_default()
                .push(access);
        }
    }
    for ((type_name, field), accesses) in by_field {
        let declared = cx
            .model
            .package
            .field(type_name, field)
            .and_then(|f| f.guard.clone());
        let Some((guard, guarded, total)) = declared
            .map(|g| (g, 0, 0))
            .or_else(|| infer_guard(&accesses))
        else {
            continue;
        };
        for access in fresh
            .iter()
            .filter(|a| a.type_name == type_name && a.field == field)
        {
            // Unexported helpers are often called with the lock held without saying so; the
            // classic race is an exported method that skips the lock.
            let method = access.function.rsplit('.').next().unwrap_or("");
            if access.expects_held
                || !access.guards.is_empty()
                || !method.starts_with(|c: char| c.is_ascii_uppercase())
                || on_published_fast_path(cx, access)
            {
                continue;
            }
            let what = if access.write { "written" } else { "read" };
            let accessed = cx
                .src
                .get(access.offset..access.offset + access.len)
                .unwrap_or(field);
            let receiver = accessed.split('.').next().unwrap_or("");
            let evidence = if total > 0 {
                format!("which guards it at {guarded} of its {total} other accesses")
            } else {
                "which its declaration says guards it".to_string()
            };
            out.push(META.finding(
                access.offset..access.offset + access.len,
                format!("`{accessed}` is {what} without holding `{receiver}.{guard}`, {evidence}: this races with the locked accesses"),
            ));
        }
    }
}

/// Is the access a read in the `then` branch of an `if` whose condition loads state atomically,
/// itself or through a method of the same value whose body does (`if t.stateHas(ready) {
/// return t.methods[i] }`), or after such an `if` (`if !t.stateHas(ready) { t.resolve() }`,
/// then the read)? Double-checked locking: the field was written under the lock before an
/// atomic store published it.
fn on_published_fast_path(cx: &Context, access: &FieldAccess) -> bool {
    if access.write {
        return false;
    }
    let end = access.offset + access.len;
    let Some(node) = cx.model.root.descendant_for_byte_range(access.offset, end) else {
        return false;
    };
    let accessed = cx.src.get(access.offset..end).unwrap_or("");
    let receiver = accessed.split('.').next().unwrap_or("");
    let loads_published_state = |call: Node| {
        is_atomic_load(call, cx.src, &cx.model.imports)
            || method_call(call).is_some_and(|mc| {
                let key = summary_key(Some(&access.type_name), text(mc.method, cx.src));
                text(mc.receiver, cx.src) == receiver
                    && cx
                        .model
                        .package
                        .summary(&key)
                        .is_some_and(|s| s.loads_atomically)
            })
    };
    let checks_atomically = |if_statement: Node| {
        let mut found = false;
        if let Some(condition) = if_statement.field("condition") {
            walk(condition, |n| {
                found = found || (n.kind_str() == "call_expression" && loads_published_state(n));
                !found
            });
        }
        found
    };
    let mut child = node;
    while let Some(parent) = child.parent() {
        if matches!(
            parent.kind_str(),
            "func_literal" | "function_declaration" | "method_declaration"
        ) {
            return false;
        }
        // `if ready() { read }`
        if parent.kind_str() == "if_statement"
            && parent.field("consequence") == Some(child)
            && checks_atomically(parent)
        {
            return true;
        }
        // `if !ready() { slow path }`, then the read.
        let mut earlier = child.prev_named_sibling();
        while let Some(statement) = earlier {
            if statement.kind_str() == "if_statement"
                && runs_slow_path(cx, statement)
                && checks_atomically(statement)
            {
                return true;
            }
            earlier = statement.prev_named_sibling();
        }
        child = parent;
    }
    false
}

/// An `if` without `else` whose branch calls something and falls through to what follows: the
/// slow path of double-checked locking (`if !t.ready() { t.resolve() }`), not a guard that
/// leaves early (`if t.closed.Load() { return }` publishes nothing).
fn runs_slow_path(cx: &Context, if_statement: Node) -> bool {
    let Some(branch) = if_statement.field("consequence") else {
        return false;
    };
    if if_statement.field("alternative").is_some() {
        return false;
    }
    let mut calls = false;
    walk(branch, |n| {
        calls = calls || n.kind_str() == "call_expression";
        !calls
    });
    let leaves = statements(branch).last().is_some_and(|last| {
        matches!(
            last.kind_str(),
            "return_statement" | "goto_statement" | "break_statement" | "continue_statement"
        ) || statement_call(*last).is_some_and(|call| is_no_return_call(cx.model, call))
    });
    calls && !leaves
}

/// The guard most accesses hold: (guard, accesses under it, accesses counted).
fn infer_guard(accesses: &[&FieldAccess]) -> Option<(String, usize, usize)> {
    let counted: Vec<&&FieldAccess> = accesses.iter().filter(|a| !a.expects_held).collect();
    let mut counts: BTreeMap<&str, (usize, bool)> = BTreeMap::new();
    for access in &counted {
        for guard in &access.guards {
            let entry = counts.entry(guard.as_str()).or_default();
            entry.0 += 1;
            entry.1 |= access.write;
        }
    }
    let (guard, (guarded, has_write)) = counts.into_iter().max_by_key(|(_, (n, _))| *n)?;
    let total = counted.len();
    let unguarded = counted.iter().filter(|a| a.guards.is_empty()).count();
    (guarded >= 2 && has_write && unguarded > 0 && guarded * 2 > total)
        .then(|| (guard.to_string(), guarded, total - 1))
}
