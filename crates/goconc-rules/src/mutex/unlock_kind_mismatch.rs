//! `mutex-unlock-kind-mismatch`: `RLock` released by `Unlock`, or `Lock` by `RUnlock`.

use crate::finding::LineOf;
use std::collections::BTreeMap;

use super::locking_bodies;
use crate::finding::{Finding, Severity, TextEdit};
use crate::{Context, Family, RuleMeta};
use goconc_model::locks::{LockObserver, LockState, Mode};
use goconc_model::sync_calls::{LockCall, LockOp};
use goconc_syntax::{text, NodeExt};
use tree_sitter::Node;

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
- When the mutex is not held in the other mode on every path to the release: for example the
  upgrade pattern `RLock … RUnlock` followed by `Lock … Unlock` is fine, and so is a release whose
  paths disagree about how the lock was taken.
- When the function expects the panic: it defers a closure that calls `recover()` and compares
  the result with `nil` (a test that fails unless the misuse panics).
- When the function does nothing but declare the mutex and call its methods: it exercises the
  mutex itself (a table of misuses run where the crash is the expected outcome). The same misuse
  among other statements is reported.
- The function holds more than 64 mutexes at once on some path: its locks are not followed, as
  in a function with `goto` (no function of the pinned projects or the standard library holds
  more than three).
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
        if !uses_read || expects_panic(cx, body) || only_exercises_the_mutex(cx, body) {
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
                    call.call.byte_span(),
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
                range: call.method.byte_span(),
                new_text: right.to_string(),
            };
            out.push(finding.with_fix(
                format!("Change to `{}.{right}()`", text(call.receiver, cx.src)),
                vec![edit],
            ));
        }
    }
}

/// `defer func() { if recover() == nil { t.Fatal(…) } }()`: the function is meant to panic.
fn expects_panic(cx: &Context, body: Node) -> bool {
    goconc_syntax::statements(body).iter().any(|stmt| {
        if stmt.kind_str() != "defer_statement" {
            return false;
        }
        let Some(literal) = goconc_syntax::statement_call(*stmt)
            .and_then(|c| c.field("function"))
            .map(goconc_syntax::unparen)
            .filter(|f| f.kind_str() == "func_literal")
        else {
            return false;
        };
        let mut compared = false;
        goconc_syntax::walk(literal, |n| {
            if n.kind_str() == "binary_expression" {
                let t = text(n, cx.src);
                compared |= t.contains("nil") && (t.contains("recover()") || recovered_name(n, cx));
            }
            !compared
        });
        compared
    })
}

/// `if r := recover(); r == nil`: a comparison of a name the `if` bound to `recover()`.
fn recovered_name(comparison: Node, cx: &Context) -> bool {
    let Some(stmt) = comparison
        .parent_node()
        .filter(|p| p.kind_str() == "if_statement")
    else {
        return false;
    };
    stmt.field("initializer")
        .is_some_and(|init| text(init, cx.src).contains("recover()"))
}

/// The body declares a mutex and only calls its methods: it exercises the mutex.
fn only_exercises_the_mutex(cx: &Context, body: Node) -> bool {
    let stmts = goconc_syntax::statements(body);
    !stmts.is_empty()
        && stmts.iter().all(|stmt| match stmt.kind_str() {
            "var_declaration" | "short_var_declaration" => true,
            "expression_statement" => goconc_syntax::statement_call(*stmt)
                .is_some_and(|c| goconc_model::sync_calls::lock_call(cx.model, c).is_some()),
            _ => false,
        })
}
