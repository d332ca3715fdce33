//! `mutex-unlock-kind-mismatch`: `RLock` released by `Unlock`, or `Lock` by `RUnlock`.

use crate::finding::LineOf;
use std::collections::BTreeMap;

use super::locking_bodies;
use crate::finding::{Finding, Severity, TextEdit};
use crate::{Context, Family, RuleMeta};
use goconc_model::locks::{LockObserver, LockState, Mode};
use goconc_model::sync_calls::{LockCall, LockOp};
use goconc_syntax::text;

pub static META: RuleMeta = RuleMeta {
    id: "mutex-unlock-kind-mismatch",
    family: Family::Mutex,
    severity: Severity::Error,
    summary: "An `RLock` released by `Unlock`, or a `Lock` released by `RUnlock`.",
    fix: Some("the matching method"),
    doc: r#"
## Why it matters
`sync.RWMutex` keeps readers and the writer apart. `Unlock` after `RLock` (or `RUnlock` after
`Lock`) is a fatal runtime error — "sync: Unlock of unlocked RWMutex" — or, worse, it silently
releases a lock some other goroutine holds, and the reader count drifts until the program hangs.

## Example
```go
func (r *Registry) Lookup(name string) (Service, bool) {
	r.mu.RLock()
	defer r.mu.Unlock()
	s, ok := r.services[name]
	return s, ok
}
```
```go
func (r *Registry) Lookup(name string) (Service, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s, ok := r.services[name]
	return s, ok
}
```

## Fix
The quick fix renames the release to the one matching how the lock was taken.

## When it stays silent
When the mutex is not held in the other mode on every path to the release: for example the
upgrade pattern `RLock … RUnlock` followed by `Lock … Unlock` is fine, and so is a release whose
paths disagree about how the lock was taken.
"#,
};

#[derive(Default)]
struct Observer<'t> {
    reports: BTreeMap<usize, Option<(LockCall<'t>, String, LockOp, usize)>>,
}

impl<'t> LockObserver<'t> for Observer<'t> {
    fn lock_call(&mut self, call: &LockCall<'t>, key: &str, _deferred: bool, state: &LockState) {
        if !call.op.is_release() {
            return;
        }
        let report = state
            .held
            .get(key)
            .filter(|h| h.on_every_path)
            .and_then(|h| {
                let taken_with = match h.mode {
                    Mode::Read => LockOp::RLock,
                    Mode::Write => LockOp::Lock,
                    Mode::Mixed => return None,
                };
                let site = *h.sites.iter().next()?;
                (taken_with.counterpart() != call.op)
                    .then(|| (*call, key.to_string(), taken_with, site))
            });
        self.reports.insert(call.call.start_byte(), report);
    }
}

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    for (_, body, calls) in locking_bodies(cx) {
        let uses_read = calls.iter().any(|c| c.op.is_read());
        if !uses_read {
            continue;
        }
        let mut observer = Observer::default();
        let Some(trace) = cx.lock_trace(body) else {
            continue;
        };
        trace.replay(&mut observer);
        for (call, key, taken_with, site) in observer.reports.into_values().flatten() {
            let wrong = text(call.method, cx.src);
            let right = taken_with.counterpart().name();
            let finding = META
                .finding(
                    call.call.byte_range(),
                    format!(
                        "`{key}` was taken with `{}` but is released with `{wrong}`: use `{right}`",
                        taken_with.name()
                    ),
                )
                .with_related(
                    site..site + key.len(),
                    format!(
                        "`{key}.{}()` here (line {})",
                        taken_with.name(),
                        LineOf(site)
                    ),
                );
            let edit = TextEdit {
                range: call.method.byte_range(),
                new_text: right.to_string(),
            };
            out.push(finding.with_fix(
                format!("Change to `{}.{right}()`", text(call.receiver, cx.src)),
                vec![edit],
            ));
        }
    }
}
