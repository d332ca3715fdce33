//! `mutex-defer-lock`: `defer mu.Lock()` while `mu` is held — meant `defer mu.Unlock()`.

use crate::finding::LineOf;
use goconc_syntax::NodeExt;
use std::collections::BTreeMap;

use super::locking_bodies;
use crate::finding::{Finding, Severity, TextEdit};
use crate::{Context, Family, RuleMeta};
use goconc_model::locks::{LockObserver, LockState};
use goconc_model::sync_calls::LockCall;
use goconc_syntax::text;

pub static META: RuleMeta = RuleMeta {
    id: "mutex-defer-lock",
    family: Family::Mutex,
    severity: Severity::Error,
    summary:
        "`defer mu.Lock()` right after `mu.Lock()`: the deferred call was meant to be `Unlock`.",
    fix: Some("`defer mu.Unlock()`"),
    doc: r#"
## Why it matters
A slip of the fingers: the function locks, then defers a second `Lock` instead of the `Unlock`.
The mutex is never released, and when the function returns the deferred `Lock` blocks forever on
the lock the function still holds.

## Example
```go
func (s *Store) Put(k string, v []byte) {
	s.mu.Lock()
	defer s.mu.Lock()
	s.data[k] = v
}
```
```go
func (s *Store) Put(k string, v []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data[k] = v
}
```

## Fix
The quick fix renames the deferred call to the matching release (`Lock` → `Unlock`,
`RLock` → `RUnlock`).

## When it stays silent
When the mutex is not held on every path to the `defer` — for example the deliberate
`mu.Unlock(); defer mu.Lock()` that releases a lock for the rest of a function and takes it back
before returning to a caller that expects it held. Nor in a function that holds more than 64 mutexes at once on
some path, or uses `goto`: its locks are not followed.
"#,
};

#[derive(Default)]
struct Observer<'t> {
    reports: BTreeMap<usize, (LockCall<'t>, String, Option<usize>)>,
}

impl<'t> LockObserver<'t> for Observer<'t> {
    fn lock_call(&mut self, call: &LockCall<'t>, key: &str, deferred: bool, state: &LockState) {
        if !deferred || !call.op.is_acquire() {
            return;
        }
        let held = state.held.get(key).filter(|h| h.on_every_path);
        match held {
            Some(h) => {
                self.reports.insert(
                    call.call.start_byte(),
                    (*call, key.to_string(), h.sites.iter().next().copied()),
                );
            }
            None => {
                self.reports.remove(&call.call.start_byte());
            }
        }
    }
}

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    if cx.index.defer_statements.is_empty() {
        return;
    }
    for (_, body, calls) in locking_bodies(cx) {
        if calls.iter().filter(|c| c.op.is_acquire()).nth(1).is_none() {
            continue;
        }
        let mut observer = Observer::default();
        let Some(trace) = cx.lock_trace(body) else {
            continue;
        };
        trace.replay(&mut observer);
        for (call, key, site) in observer.reports.into_values() {
            let method = text(call.method, cx.src);
            let release = call.op.counterpart().name();
            let mut finding = META.finding(
                call.call.byte_span(),
                format!("`defer {key}.{method}()` locks `{key}` again at return while it is still held: this should be `defer {key}.{release}()`"),
            );
            if let Some(site) = site {
                finding = finding.with_related(
                    site..site + key.len(),
                    format!("`{key}` was locked here (line {})", LineOf(site)),
                );
            }
            let edit = TextEdit {
                range: call.method.byte_span(),
                new_text: release.to_string(),
            };
            out.push(finding.with_fix(
                format!(
                    "Change to `defer {}.{release}()`",
                    text(call.receiver, cx.src)
                ),
                vec![edit],
            ));
        }
    }
}
