//! `mutex-double-lock`: locking a mutex already held on this path, directly or through a call to
//! a function or method of the same package that locks it.

use crate::finding::LineOf;
use goconc_syntax::NodeExt;
use std::collections::BTreeMap;

use tree_sitter::Node;

use super::locking_bodies;
use crate::finding::{Finding, Severity};
use crate::{Context, Family, RuleMeta};
use goconc_model::locks::{self, LockObserver, LockState, Mode};
use goconc_model::summary::summary_key;
use goconc_model::sync_calls::LockCall;
use goconc_model::{FileModel, Ty};
use goconc_syntax::{access_path, method_call, text, unparen, walk_body};

pub static META: RuleMeta = RuleMeta {
    id: "mutex-double-lock",
    family: Family::Mutex,
    severity: Severity::Error,
    summary: "Locking a mutex that is already held on this path, directly or through a call to a same-package function or method that locks it.",
    fix: None,
    doc: r#"
## Why it matters
Go's mutexes are not reentrant. A goroutine that locks a mutex it already holds waits for itself
forever. The usual shape is indirect: a method takes the lock and calls a helper that takes the
same lock, which worked until someone added the helper's `Lock`.

## Example
```go
func (s *Store) Put(k string, v []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data[k] = v
	s.evictIfFull() // evictIfFull locks s.mu too: deadlock
}

func (s *Store) evictIfFull() {
	s.mu.Lock()
	defer s.mu.Unlock()
	// …
}
```
Give the helper a `…Locked` variant that expects the caller to hold the lock:
```go
func (s *Store) Put(k string, v []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data[k] = v
	s.evictIfFullLocked()
}

// evictIfFullLocked evicts entries; the caller must hold s.mu.
func (s *Store) evictIfFullLocked() {
	// …
}
```

## Fix
None: whether to split the helper, release the lock first, or restructure is a design choice.

## When it stays silent
- The mutex is held on some paths only (`mutex-unlock-missing` covers a path that forgets to
  unlock).
- Both acquisitions are read locks (`RLock` twice): that is only a deadlock when a writer queues
  in between, and is left to review.
- The helper is reached through an interface, a function value or another package: its body is
  not known.
- The call happens in a `go` statement or a function literal.
"#,
};

struct Report<'t> {
    node: Node<'t>,
    message: String,
    related: Vec<(std::ops::Range<usize>, String)>,
}

struct Observer<'m, 't> {
    model: &'m FileModel<'t>,
    body: Node<'t>,
    reports: BTreeMap<usize, Option<Report<'t>>>,
}

impl<'t> LockObserver<'t> for Observer<'_, 't> {
    fn lock_call(&mut self, call: &LockCall<'t>, key: &str, deferred: bool, state: &LockState) {
        if deferred || !call.op.is_acquire() {
            return;
        }
        let handed_off = || locks::released_elsewhere(self.model, self.body, key);
        let report = state.held.get(key).filter(|h| h.on_every_path && !(h.mode == Mode::Read && call.op.is_read()) && !handed_off()).map(|h| {
            let site = h.sites.iter().next().copied().unwrap_or(0);
            Report {
                node: call.call,
                message: format!(
                    "`{key}` is locked again while already held (locked at line {}): Go mutexes are not reentrant, so this goroutine waits for itself forever",
                    LineOf(site)
                ),
                related: vec![(site..site + key.len(), format!("`{key}` is first locked here"))],
            }
        });
        self.reports.insert(call.call.start_byte(), report);
    }

    fn statement(&mut self, node: Node<'t>, state: &LockState) {
        if matches!(node.kind_str(), "go_statement" | "defer_statement") || state.held.is_empty() {
            return;
        }
        let mut calls = Vec::new();
        walk_body(node, |n| {
            if n.kind_str() == "call_expression" {
                calls.push(n);
            }
        });
        for call in calls {
            let report = self.call_report(call, state);
            self.reports.insert(call.start_byte(), report);
        }
    }
}

impl<'t> Observer<'_, 't> {
    /// A call to a same-package function or method that takes a lock held here.
    fn call_report(&self, call: Node<'t>, state: &LockState) -> Option<Report<'t>> {
        let model = self.model;
        let (summary_name, receiver_path) = callee(model, call)?;
        let summary = model.package.summary(&summary_name)?;
        if summary.expects_held {
            // `fooLocked`, "must be called with mu held": calling it with the lock is the contract.
            return None;
        }
        for acquire in &summary.acquires {
            let keys: Vec<String> = match (&receiver_path, acquire.from_receiver) {
                (Some(recv), true) if acquire.path.is_empty() => {
                    vec![format!("{recv}.Mutex"), format!("{recv}.RWMutex")]
                }
                (Some(recv), true) => vec![format!("{recv}.{}", acquire.path)],
                (_, false) => {
                    // A package-level mutex, unless the caller shadows its name.
                    let root = acquire.path.split('.').next().unwrap_or("");
                    if model.resolve_name(root, call.start_byte()).is_some() {
                        continue;
                    }
                    vec![acquire.path.clone()]
                }
                _ => continue,
            };
            for key in keys {
                let Some(held) = state.held.get(&key).filter(|h| h.on_every_path) else {
                    continue;
                };
                if held.mode == Mode::Read && acquire.read {
                    continue;
                }
                let site = held.sites.iter().next().copied().unwrap_or(0);
                let callee_text = text(call.field("function")?, model.src);
                return Some(Report {
                    node: call,
                    message: format!(
                        "`{callee_text}` locks `{key}`, which is already held here (locked at line {}): the call deadlocks",
                        LineOf(site)
                    ),
                    related: vec![(site..site + key.len(), format!("`{key}` is locked here"))],
                });
            }
        }
        None
    }
}

/// The summary key of the function or method a call reaches in this package, and the access path
/// of the receiver for a method call.
fn callee(model: &FileModel, call: Node) -> Option<(String, Option<String>)> {
    let function = unparen(call.field("function")?);
    match function.kind_str() {
        "identifier" => {
            if model.resolve(function).is_some() {
                return None;
            }
            let name = text(function, model.src);
            model.package.func(name)?;
            Some((name.to_string(), None))
        }
        "selector_expression" => {
            let mc = method_call(call)?;
            let ty = model.type_of(mc.receiver);
            let Ty::Named { pkg, name } = ty.deref() else {
                return None;
            };
            if !pkg.is_empty() {
                return None;
            }
            let method = text(mc.method, model.src);
            model.package.method(name, method)?;
            Some((
                summary_key(Some(name), method),
                Some(access_path(mc.receiver, model.src)?),
            ))
        }
        _ => None,
    }
}

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    for (_, body, calls) in locking_bodies(cx) {
        if !calls.iter().any(|c| c.op.is_acquire()) {
            continue;
        }
        let mut observer = Observer {
            model: cx.model,
            body,
            reports: BTreeMap::new(),
        };
        let Some(trace) = cx.lock_trace(body) else {
            continue;
        };
        trace.replay(&mut observer);
        for report in observer.reports.into_values().flatten() {
            let mut finding = META.finding(report.node.byte_range(), report.message);
            for (range, message) in report.related {
                finding = finding.with_related(range, message);
            }
            out.push(finding);
        }
    }
}
