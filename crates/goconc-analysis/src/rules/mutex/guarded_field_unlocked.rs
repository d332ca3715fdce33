//! `guarded-field-unlocked`: a field read or written under its mutex in most places, but without
//! it here.

use crate::HashSet;
use std::collections::BTreeMap;

use crate::finding::{Finding, Severity};
use crate::model::guards::{self, FieldAccess};
use crate::rules::{Context, RuleMeta};

pub static META: RuleMeta = RuleMeta {
    id: "guarded-field-unlocked",
    family: "Mutexes",
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
receiver is held; accesses in unexported methods (helpers are often called with the lock held
without saying so: only exported methods are judged, though all accesses count as evidence);
types without a clear guard.
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
