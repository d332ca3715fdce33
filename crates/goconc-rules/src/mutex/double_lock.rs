//! `mutex-double-lock`: locking a mutex already held on this path, directly or through calls to
//! functions and methods of the same package that lock it.

use crate::finding::LineOf;
use goconc_syntax::NodeExt;
use std::collections::BTreeMap;

use tree_sitter::Node;

use super::locking_bodies;
use crate::finding::{Finding, Severity};
use crate::{Context, Family, RuleMeta};
use goconc_model::lock_closure::Taken;
use goconc_model::locks::{self, Held, LockObserver, LockState, Mode};
use goconc_model::summary::LockRoot;
use goconc_model::sync_calls::LockCall;
use goconc_model::{FileModel, Ty};
use goconc_syntax::{call_args, text, unparen, walk_body};

pub static META: RuleMeta = RuleMeta {
    id: "mutex-double-lock",
    family: Family::Mutex,
    severity: Severity::Error,
    summary: "Locking a mutex that is already held on this path, directly or through calls to same-package functions or methods that lock it.",
    fix: None,
    doc: r#"
## Why it matters
Go's mutexes are not reentrant. A goroutine that locks a mutex it already holds waits for itself
forever. The usual shape is indirect: a method takes the lock and calls a helper that takes the
same lock, which worked until someone added the helper's `Lock`. `fmt` and `log` call a value's
`String` method: a `String` that locks is a second `Lock` when the value is printed under the
lock.

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

## Evidence and severity
- `error`: the mutex is held on every path to a second `Lock`: in the same body, through a
  chain of calls the message names (each callee takes the lock on some path; a method promoted
  from an embedded field counts, its lock named as the caller names the promoted one:
  `c.Lock()` then `c.GetExitCode()` where `Container` embeds `*State`), through a `String`
  method that `fmt`/`log` call on a value printed with `%v`, `%s` or `Print`, or because a
  `continue` carries it, still held, back to the top of the loop where it is locked again.
  A lock may be held through a helper that takes it for its caller: a function with no result
  whose top-level statements take it, that never touches it again, and whose package has the
  other half, a function that releases the same lock for its caller (`c.State.lock()` …
  `c.State.unlock()`, where `lock` is `s.l.Lock()` and `unlock` is `s.l.Unlock()`).
- `warning`: a read lock taken again (`RLock`, directly or through calls) while this goroutine
  already holds the read lock, when some function of the package takes the write lock of the
  same mutex (in its body, in a goroutine or function literal it starts, or on a value whose
  type the code shows: a parameter `q *Quota`, a local `k := &Keyring{…}`). `sync.RWMutex`
  blocks new readers once a writer waits, so a writer arriving between the two `RLock`s
  deadlocks all three.
  One finding per read-locked section; and one per callee and lock in a file: when several
  functions call the same read-locking callee with the lock read-held, the first call carries
  the finding and points at the others, since one change (the callee's lock, or the callers'
  habit of holding it) fixes them all.

## When it stays silent
- The mutex is held on some paths only (`mutex-unlock-missing` covers a path that forgets to
  unlock), except for the `continue` case above.
- Both acquisitions are read locks and nothing in the package takes the write lock.
- A callee takes the lock only when a `bool` parameter says so (`if !locked { mu.Lock() }`) and
  the call passes the value that skips it (`setErr(err, true)`).
- The callee is named `…Locked` or documented as needing the caller to hold the lock and does
  not lock it in its own body (a lock its own body takes is reported whatever its name or
  comment says: `ProtocolIndex`, "must be called with the read lock held", that calls
  `m.mu.RLock()` itself), or its first use of the lock is an unlock (it runs with the caller's
  lock and may let it go and take it back).
- A function literal of the same function takes the lock over (its first use of it is an unlock,
  as in `go func() { …; mu.Unlock() }()`).
- A helper leaves a lock held but nothing in the package releases it for a caller: it forgets
  its `Unlock` (`mutex-unlock-missing`'s one finding), and its callers are not said to hold it.
  A helper that may return before locking, releases the lock itself, or only sets a flag
  (`lock()` that takes no lock) leaves nothing held.
- The helper is reached through an interface, a function value or another package: its body is
  not known.
- The call happens in a `go` statement or a function literal.
- The function holds more than 64 mutexes at once on some path: its locks are not followed, as
  in a function with `goto` (no function of the pinned projects or the standard library holds
  more than three).
"#,
};

struct Report<'t> {
    node: Node<'t>,
    message: String,
    severity: Severity,
    related: Vec<(std::ops::Range<usize>, String)>,
    /// For a second read lock: the read-held lock and where it was taken, so that one finding
    /// covers the critical section.
    section: Option<(String, Option<usize>)>,
    /// For a second read lock taken by a callee: the callee, so that one finding covers every
    /// call of it with the same lock read-held in the file.
    callee: Option<String>,
}

struct Observer<'m, 't> {
    model: &'m FileModel<'t>,
    body: Node<'t>,
    reports: BTreeMap<usize, Option<Report<'t>>>,
}

/// Where a held lock was taken, for messages and related places.
fn taken_at(key: &str, held: &Held) -> (String, Vec<(std::ops::Range<usize>, String)>) {
    match held.sites.iter().next() {
        Some(&site) => (
            format!("locked at line {}", LineOf(site)),
            vec![(site..site + key.len(), format!("`{key}` is locked here"))],
        ),
        None => (
            "held by the caller: this function's first use of it is an unlock".to_string(),
            Vec::new(),
        ),
    }
}

impl<'t> LockObserver<'t> for Observer<'_, 't> {
    fn lock_call(&mut self, call: &LockCall<'t>, key: &str, deferred: bool, state: &LockState) {
        if deferred || !call.op.is_acquire() {
            return;
        }
        let report = state
            .held
            .get(key)
            .and_then(|held| self.lock_report(call, key, held, state.continued(held)));
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
            let report = self
                .call_report(call, state)
                .or_else(|| self.print_report(call, state));
            self.reports.insert(call.start_byte(), report);
        }
    }
}

impl<'t> Observer<'_, 't> {
    /// A `Lock` of a mutex held here.
    fn lock_report(
        &self,
        call: &LockCall<'t>,
        key: &str,
        held: &Held,
        continued: Option<usize>,
    ) -> Option<Report<'t>> {
        if !held.on_every_path {
            // Held on some paths only: a `continue` that carries it to the top of the loop is
            // a path that locks it twice.
            let back = continued?;
            if held.mode == Mode::Read && call.op.is_read() {
                return None;
            }
            if locks::released_elsewhere(self.model, self.body, key) {
                return None;
            }
            return Some(Report {
                node: call.call,
                message: format!(
                    "`{key}` is still held when the loop continues at line {}, and is locked again here: this goroutine waits for itself forever",
                    LineOf(back)
                ),
                severity: Severity::Error,
                related: vec![(back..back + "continue".len(), format!("continues with `{key}` held"))],
                section: None,
                callee: None,
            });
        }
        if locks::released_elsewhere(self.model, self.body, key) {
            return None;
        }
        let (taken, related) = taken_at(key, held);
        if held.mode == Mode::Read && call.op.is_read() {
            let writer = self.writer(key, call.call.start_byte())?;
            return Some(Report {
                node: call.call,
                message: format!(
                    "`{key}` is read-locked again while this goroutine holds its read lock ({taken}): {writer}"
                ),
                severity: Severity::Warning,
                related,
                section: Some((key.to_string(), held.sites.iter().next().copied())),
                callee: None,
            });
        }
        if held.mode == Mode::Mixed && call.op.is_read() {
            return None;
        }
        Some(Report {
            node: call.call,
            message: format!(
                "`{key}` is locked again while already held ({taken}): Go mutexes are not reentrant, so this goroutine waits for itself forever"
            ),
            severity: Severity::Error,
            related,
            section: None,
            callee: None,
        })
    }

    /// Why a second read lock can deadlock, when the package takes the write lock somewhere.
    fn writer(&self, key: &str, at: usize) -> Option<String> {
        let name = locks::canonical_key(self.model, key, at)?;
        self.model
            .package
            .lock_closure()
            .write_locked(&name)
            .then(|| format!("a writer that calls `Lock` on `{name}` in between blocks the second `RLock`, and both wait forever"))
    }

    /// A call to a same-package function or method that takes a lock held here.
    fn call_report(&self, call: Node<'t>, state: &LockState) -> Option<Report<'t>> {
        let model = self.model;
        let callee = locks::callee(model, call)?;
        let summary = model.package.summary(&callee.key)?;
        let effects = model.package.lock_closure().effects(&callee.key)?;
        let args = call_args(call);
        let callee_text = text(call.field("function")?, model.src);
        for taken in &effects.takes {
            // `fooLocked`, "must be called with mu held": calling it with the lock is the
            // contract, and what it reaches through its own calls is taken on that contract.
            // A lock its own body takes is not: the code, not the name or the comment, says
            // what the call does.
            if summary.expects_held && !taken.via.is_empty() {
                continue;
            }
            if skipped_by_argument(taken, &args, model.src) {
                continue;
            }
            if let Some(report) = self.taken_report(call, &callee, callee_text, taken, state) {
                return Some(report);
            }
        }
        None
    }

    fn taken_report(
        &self,
        call: Node<'t>,
        callee: &locks::Callee,
        callee_text: &str,
        taken: &Taken,
        state: &LockState,
    ) -> Option<Report<'t>> {
        for key in locks::keys_at_call(self.model, call, callee, &taken.lock) {
            let Some(held) = state.held.get(&key).filter(|h| h.on_every_path) else {
                continue;
            };
            if held.mode == Mode::Mixed && taken.read {
                continue;
            }
            let through = match taken.via.is_empty() {
                true => String::new(),
                false => format!(
                    " (through {})",
                    taken
                        .via
                        .iter()
                        .map(|v| format!("`{v}`"))
                        .collect::<Vec<_>>()
                        .join(" → ")
                ),
            };
            let (at, related) = taken_at(&key, held);
            if held.mode == Mode::Read && taken.read {
                let writer = self.writer(&key, call.start_byte())?;
                return Some(Report {
                    node: call,
                    message: format!(
                        "`{callee_text}` read-locks `{key}`{through} while this goroutine holds its read lock ({at}): {writer}"
                    ),
                    severity: Severity::Warning,
                    related,
                    section: Some((key.clone(), held.sites.iter().next().copied())),
                    callee: Some(callee.key.clone()),
                });
            }
            let verb = if taken.read { "read-locks" } else { "locks" };
            return Some(Report {
                node: call,
                message: format!(
                    "`{callee_text}` {verb} `{key}`{through}, which is already held here ({at}): the call deadlocks"
                ),
                severity: Severity::Error,
                related,
                section: None,
                callee: None,
            });
        }
        None
    }

    /// `fmt.Sprintf("%v", s)` with `s.mu` held, where `String` locks `s.mu`.
    fn print_report(&self, call: Node<'t>, state: &LockState) -> Option<Report<'t>> {
        let model = self.model;
        let function = unparen(call.field("function")?);
        let printer = model
            .qualified_name(function, "fmt")
            .or_else(|| model.qualified_name(function, "log"))?;
        let formats = printer.ends_with('f');
        let prints = printer.contains("Print")
            || printer.starts_with("Fatal")
            || printer.starts_with("Panic")
            || printer == "Errorf";
        if !prints {
            return None;
        }
        let args = call_args(call);
        let values = match formats {
            true => {
                let (format, rest) = args.split_first()?;
                let format = text(*format, model.src);
                if !["%v", "%s", "%q", "%+v"].iter().any(|v| format.contains(v)) {
                    return None;
                }
                rest.to_vec()
            }
            false => args,
        };
        for value in values {
            let ty = model.type_of(value);
            let Ty::Named { pkg, name } = ty.deref() else {
                continue;
            };
            if !pkg.is_empty() {
                continue;
            }
            for method in ["String", "Error"] {
                let Some(sig) = model.package.method(name, method) else {
                    continue;
                };
                // fmt finds a pointer method only on a pointer.
                if sig.pointer_receiver && !ty.is_pointer() {
                    continue;
                }
                let key_of = format!("{name}.{method}");
                let Some(effects) = model.package.lock_closure().effects(&key_of) else {
                    continue;
                };
                let callee = locks::Callee {
                    key: key_of.clone(),
                    owner: Some(name.clone()),
                    receiver: goconc_syntax::access_path(value, model.src),
                };
                for taken in &effects.takes {
                    if taken.lock.root != LockRoot::Receiver {
                        continue;
                    }
                    for key in locks::keys_at_call(model, call, &callee, &taken.lock) {
                        let Some(held) = state.held.get(&key).filter(|h| h.on_every_path) else {
                            continue;
                        };
                        if held.mode != Mode::Write {
                            continue;
                        }
                        let (at, related) = taken_at(&key, held);
                        let value_text = text(value, model.src);
                        return Some(Report {
                            node: call,
                            message: format!(
                                "`{}` calls `{value_text}.{method}()`, which locks `{key}`, already held here ({at}): the call deadlocks",
                                text(function, model.src)
                            ),
                            severity: Severity::Error,
                            related,
                            section: None,
                            callee: None,
                        });
                    }
                }
            }
        }
        None
    }
}

/// `setErr(err, true)` where the callee locks only `if !locked`: the argument skips the lock.
fn skipped_by_argument(taken: &Taken, args: &[Node], src: &str) -> bool {
    let Some((index, when)) = taken.only_if else {
        return false;
    };
    match args.get(index).map(|a| text(unparen(*a), src)) {
        Some("true") => !when,
        Some("false") => when,
        _ => false,
    }
}

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    let acquiring = locking_bodies(cx)
        .filter(|(_, _, calls)| calls.iter().any(|c| c.op.is_acquire()))
        .map(|(_, body, _)| body);
    // A body that takes its locks only through a helper that keeps them (`c.State.lock()`).
    let mut bodies: Vec<Node> = acquiring.collect();
    for body in super::keeper_calling_bodies(cx.model, &cx.index) {
        if !bodies.contains(&body) {
            bodies.push(body);
        }
    }
    let mut reports: Vec<Report> = Vec::new();
    for body in bodies {
        let mut observer = Observer {
            model: cx.model,
            body,
            reports: BTreeMap::new(),
        };
        let Some(trace) = cx.lock_trace(body) else {
            continue;
        };
        trace.replay(&mut observer);
        reports.extend(one_per_section(observer.reports.into_values().flatten()));
    }
    for report in one_per_callee(reports) {
        let mut finding = META.finding(report.node.byte_span(), report.message);
        finding.severity = report.severity;
        for (range, message) in report.related {
            finding = finding.with_related(range, message);
        }
        out.push(finding);
    }
}

/// A second read lock: one finding per read-locked section, counting the others.
fn one_per_section<'t>(reports: impl Iterator<Item = Report<'t>>) -> Vec<Report<'t>> {
    let reports: Vec<Report> = reports.collect();
    let mut sections: BTreeMap<(String, Option<usize>), usize> = BTreeMap::new();
    for report in &reports {
        if let Some(section) = &report.section {
            *sections.entry(section.clone()).or_default() += 1;
        }
    }
    let mut kept = Vec::with_capacity(reports.len());
    for mut report in reports {
        if let Some(section) = &report.section {
            match sections.remove(section) {
                None => continue,
                Some(1) => {}
                Some(2) => report
                    .message
                    .push_str(" (1 more such call in this critical section)"),
                Some(n) => report.message.push_str(&format!(
                    " ({} more such calls in this critical section)",
                    n - 1
                )),
            }
        }
        kept.push(report);
    }
    kept
}

/// Whether a finding in one function may name calls in others ([`one_per_callee`]): two or
/// more functions of the file call a function of it that read-locks while they hold a read
/// lock. Then the findings of one cannot be kept from an earlier analysis while another changes.
pub(crate) fn groups_across_functions(decls: &goconc_model::FileDecls) -> bool {
    let read_lockers: crate::HashSet<&str> = decls
        .summaries
        .iter()
        .filter(|(_, s)| s.acquires.iter().any(|a| a.read))
        .map(|(key, _)| key.rsplit('.').next().unwrap_or(key))
        .collect();
    if read_lockers.is_empty() {
        return false;
    }
    let mut callers: crate::HashMap<&str, crate::HashSet<&str>> = crate::HashMap::default();
    for (key, summary) in &decls.summaries {
        for call in &summary.calls {
            if call.held.iter().any(|h| h.read) && read_lockers.contains(call.name.as_str()) {
                callers.entry(&call.name).or_default().insert(key);
            }
        }
    }
    callers.values().any(|functions| functions.len() >= 2)
}

/// A callee that read-locks what several functions of the file call it holding: one defect
/// (the callee's lock, or the callers' habit of holding it), fixed in one place, so one finding
/// at the first call, pointing at the others.
fn one_per_callee(reports: Vec<Report>) -> Vec<Report> {
    let group_of = |report: &Report| -> Option<(String, String)> {
        Some((report.callee.clone()?, report.section.as_ref()?.0.clone()))
    };
    let mut groups: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (index, report) in reports.iter().enumerate() {
        if let Some(group) = group_of(report) {
            groups.entry(group).or_default().push(index);
        }
    }
    let mut others: BTreeMap<usize, Vec<Node>> = BTreeMap::new();
    let mut dropped = vec![false; reports.len()];
    for ((_, _), mut members) in groups {
        members.sort_by_key(|&i| reports[i].node.start_byte());
        let Some((&first, rest)) = members.split_first() else {
            continue;
        };
        for &other in rest {
            dropped[other] = true;
        }
        if !rest.is_empty() {
            others.insert(first, rest.iter().map(|&i| reports[i].node).collect());
        }
    }
    let mut kept = Vec::with_capacity(reports.len());
    for (index, mut report) in reports.into_iter().enumerate() {
        if dropped[index] {
            continue;
        }
        if let Some(calls) = others.remove(&index) {
            let callee = report.callee.clone().unwrap_or_default();
            let key = report
                .section
                .as_ref()
                .map(|s| s.0.clone())
                .unwrap_or_default();
            let count = match calls.len() {
                1 => "1 more critical section".to_string(),
                n => format!("{n} more critical sections"),
            };
            let lines: Vec<String> = calls
                .iter()
                .map(|c| LineOf(c.start_byte()).to_string())
                .collect();
            let line_word = if lines.len() == 1 { "line" } else { "lines" };
            report.message.push_str(&format!(
                "; the same call is made with `{key}` read-held in {count} of this file ({line_word} {})",
                lines.join(", ")
            ));
            for call in calls {
                report.related.push((
                    call.byte_span(),
                    format!("`{callee}` is also called here with `{key}` read-held"),
                ));
            }
        }
        kept.push(report);
    }
    kept
}
