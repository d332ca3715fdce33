//! `channel-lock-deadlock`: a send or receive on an unbuffered channel held in a struct field,
//! made while holding one of the value's mutexes, when every goroutine on the other side of the
//! channel must take that mutex before it reaches its side.

use goconc_syntax::NodeExt;
use tree_sitter::Node;

use crate::finding::{Finding, Severity};
use crate::{Context, Family, RuleMeta};
use goconc_model::channels::fields::{range_in_file, FieldChanOp, FieldOpKind};
use goconc_model::goroutines::enclosing_function_key;
use goconc_model::locks::{LockObserver, LockState, Mode};
use goconc_model::summary::LockRoot;
use goconc_model::{SyncKind, Ty};
use goconc_syntax::{access_path, text, unparen, walk};

pub static META: RuleMeta = RuleMeta {
    id: "channel-lock-deadlock",
    family: Family::Channel,
    severity: Severity::Error,
    summary: "A send or receive on an unbuffered channel field while holding a mutex that every goroutine on the other side of the channel takes before it reaches its side: neither can go on.",
    fix: None,
    doc: r#"
## Why it matters
A send on an unbuffered channel waits until a receiver takes the value. When the sender holds
`s.mu` while it waits, and the receiving goroutine must lock `s.mu` before it gets to its
receive (to read the state it needs, in every iteration of its loop), each waits for the other:
the receiver for the lock, the sender for the receiver. Both goroutines hang, and everything
else that needs `s.mu` after them. The same holds the other way round for a receive under the
lock that the senders need.

## Example
```go
func (c *cache) loop() {
	for {
		c.mu.Lock()
		n := len(c.items)
		c.mu.Unlock()
		select {
		case k := <-c.evict:
			c.drop(k, n)
		case <-c.quit:
			return
		}
	}
}

func (c *cache) Evict(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.evict <- k // loop may be waiting for c.mu: deadlock
}
```
```go
func (c *cache) Evict(k string) {
	c.mu.Lock()
	// … update what the lock guards …
	c.mu.Unlock()
	c.evict <- k
}
```

## Fix
Release the lock before the channel operation, or make the other side reach its channel
operation without taking the lock. No automatic fix: which one keeps the invariant is a design
decision.

## Evidence and severity
An **error**: the path is concrete — this function holds the lock at the operation on every
path to it, and every operation on the other side of the channel in the package holds the same
mutex of the same value, or takes it on its way to the operation in every iteration of its loop:
earlier in the iteration, or, as a statement of the loop's body after the operation (`for v :=
range t.adds { t.mu.Lock(); … }`), on the way back to it; a lock taken only in a branch does
not count. The channel's capacity comes from the package's `make` calls for that field: every
one is unbuffered.

A **warning** for the same shape one call away: this function write-holds `x.L` on every path to
a call of a method of the same value `x` (`r.forward(name)`), and that method's own body sends
or receives on such a channel field of `x` without letting `L` go first. The harm needs one fact
the tool does not check: that the callee's path reaches its operation.

## When it stays silent
- The channel is buffered, its capacity is unknown (a `make` with a variable size, or no `make`
  in the package), or it is handed elsewhere (aliased, returned, passed): the other side may be
  out of sight.
- Some operation on the other side takes no lock (the receiver that takes no lock), or only a
  read lock, or nothing in the package is on the other side.
- The operation is a case of a `select` that can give up (a `default`, or another case).
- The lock is not a `sync.Mutex`/`sync.RWMutex` field of the same value.
- Through a call: the callee's first use of the lock is an unlock (it lets the caller's lock go
  around its operation), its operation runs on a goroutine it starts or is a `select` case that
  can give up, the callee is a method of another value, or it is reached through more than one
  call, an interface, a function value or another package.
- The function holds more than 64 mutexes at once on some path: its locks are not followed, as
  in a function with `goto` (no function of the pinned projects or the standard library holds
  more than three).
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    let mut candidates: Vec<(Node, Node, bool)> = Vec::new();
    for &send in &cx.index.send_statements {
        if let Some(channel) = send.field("channel").map(unparen) {
            candidates.push((send, channel, true));
        }
    }
    for function in &cx.model.functions {
        let Some(body) = function.body else { continue };
        if function.parent.is_some() || !text(body, cx.src).contains("<-") {
            continue;
        }
        walk(body, |n| {
            match n.kind_str() {
                "unary_expression"
                    if n.field("operator").is_some_and(|o| text(o, cx.src) == "<-") =>
                {
                    if let Some(operand) = n.field("operand").map(unparen) {
                        candidates.push((n, operand, false));
                    }
                }
                "range_clause" => {
                    if let Some(right) = n.field("right").map(unparen) {
                        candidates.push((n, right, false));
                    }
                }
                _ => {}
            }
            true
        });
    }
    let mut operations: Vec<usize> = candidates
        .iter()
        .map(|(op, _, _)| op.start_byte())
        .collect();
    operations.sort_unstable();
    let mut held = HeldStates {
        operations,
        ..HeldStates::default()
    };
    for (op, channel, is_send) in candidates {
        if !cx.is_skipped(op.start_byte()) {
            check_op(cx, op, channel, is_send, &mut held, out);
        }
    }
    check_calls_under_lock(cx, out);
}

fn check_op<'t>(
    cx: &Context<'_, 't>,
    op: Node<'t>,
    channel: Node<'t>,
    is_send: bool,
    held: &mut HeldStates,
    out: &mut Vec<Finding>,
) {
    if channel.kind_str() != "selector_expression" || in_select_that_can_leave(op) {
        return;
    }
    let (Some(operand), Some(field)) = (channel.field("operand"), channel.field("field")) else {
        return;
    };
    let operand = unparen(operand);
    let owner = match cx.model.type_of(operand).deref() {
        Ty::Named { pkg, name } if pkg.is_empty() => name.clone(),
        _ => return,
    };
    let Some(root_path) = access_path(operand, cx.src) else {
        return;
    };
    let field = text(field, cx.src);
    let here = enclosing_function_key(cx.model, op);
    for lock in held.at(cx, op, &root_path) {
        if !is_mutex_field(cx, &owner, &lock) {
            continue;
        }
        let Some(other) = other_side_needing(cx, &owner, field, is_send, here.as_deref(), &lock)
        else {
            continue;
        };
        let names = function_names(&other);
        let (side, verb) = sides(is_send);
        let message = format!(
            "{} unbuffered `{}.{field}` while holding `{root_path}.{lock}`: every {side} ({names}) takes `{lock}` of the same value on its way to each {verb}, so each waits for the other: a deadlock",
            if is_send { "send on" } else { "receive from" },
            text(operand, cx.src),
        );
        let mut finding = META.finding(op.byte_span(), message);
        for o in &other {
            if let Some(range) = range_in_file(cx.model, o) {
                finding = finding
                    .with_related(range, format!("the other side, which needs `{lock}` first"));
            }
        }
        out.push(finding);
        return;
    }
}

/// The operations on the other side of the unbuffered channel field `owner.field` from a send
/// (`is_send`) or receive in function `here`, when every one of them holds `lock` of the same
/// value or takes it earlier in its loop iteration; None when the channel may be buffered or
/// handed elsewhere, when nothing is on the other side, or when some of it does not need the
/// lock.
fn other_side_needing<'p>(
    cx: &'p Context,
    owner: &str,
    field: &str,
    is_send: bool,
    here: Option<&str>,
    lock: &str,
) -> Option<Vec<&'p FieldChanOp>> {
    let package = cx.model.package;
    let channel = package.field_channel(owner, field)?;
    if !channel.only_unbuffered || channel.escapes {
        return None;
    }
    // An operation on a field of that name the text cannot tie to a type: its locks are unknown.
    if package
        .field_channel("", field)
        .is_some_and(|unnamed| unnamed.used_but_closed)
    {
        return None;
    }
    let other = match is_send {
        true => channel.receivers(),
        false => channel.senders(),
    };
    if other.is_empty()
        || other
            .iter()
            .any(|o| Some(o.function.as_str()) == here && !o.in_goroutine)
    {
        return None;
    }
    other
        .iter()
        .all(|o| o.held.iter().any(|h| h == lock) || o.taken_in_iteration.iter().any(|h| h == lock))
        .then_some(other)
}

fn function_names(ops: &[&FieldChanOp]) -> String {
    let mut names: Vec<&str> = ops.iter().map(|o| o.function.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The other side of a send or receive, and what it does.
fn sides(is_send: bool) -> (&'static str, &'static str) {
    match is_send {
        true => ("receiver", "receive"),
        false => ("sender", "send"),
    }
}

/// A call, made while this function write-holds `x.L` on every path, to a method of the same
/// value `x` whose own body sends or receives (outside a goroutine, not as a `select` case that
/// can give up, without letting `L` go first) on an unbuffered channel field of `x` whose every
/// other side takes `L` before it gets there.
fn check_calls_under_lock(cx: &Context, out: &mut Vec<Finding>) {
    for function in &cx.model.functions {
        let Some(body) = function.body else { continue };
        if function.parent.is_some() || cx.is_skipped(body.start_byte()) {
            continue;
        }
        let Some(trace) = cx.lock_trace(body) else {
            continue;
        };
        let mut held = HeldStatements { seen: Vec::new() };
        trace.replay(&mut held);
        // Per call, the state of the innermost statement around it (replayed last).
        let mut calls: std::collections::BTreeMap<usize, (Node, Option<&LockState>)> =
            std::collections::BTreeMap::new();
        for (stmt, state) in &held.seen {
            if matches!(stmt.kind_str(), "go_statement" | "defer_statement") {
                continue;
            }
            goconc_syntax::walk_body(*stmt, |n| {
                if n.kind_str() == "call_expression" {
                    calls.insert(n.start_byte(), (n, state.as_deref()));
                }
            });
        }
        for (call, state) in calls.into_values() {
            let Some(state) = state else { continue };
            if let Some(finding) = call_report(cx, call, state) {
                out.push(finding);
            }
        }
    }
}

fn call_report(cx: &Context, call: Node, state: &LockState) -> Option<Finding> {
    let callee = goconc_model::locks::callee(cx.model, call)?;
    let (owner, root) = (callee.owner.as_deref()?, callee.receiver.as_deref()?);
    let summary = cx.model.package.summary(&callee.key);
    let prefix = format!("{root}.");
    let fields = cx.model.package.struct_fields(owner)?;
    let held = state
        .held
        .iter()
        .filter(|(_, h)| h.on_every_path && h.mode == Mode::Write)
        .filter_map(|(k, _)| k.strip_prefix(&prefix));
    for lock in held {
        if !is_mutex_field(cx, owner, lock) {
            continue;
        }
        // The callee lets the caller's lock go (its first use of it is an unlock): the
        // operation may run without it.
        let releases = summary.is_some_and(|s| {
            s.entered_held
                .iter()
                .any(|p| p.root == LockRoot::Receiver && p.path == lock)
        });
        if releases {
            continue;
        }
        for field in fields {
            for op in cx.model.package.field_channel_ops(owner, &field.name) {
                let is_send = match op.kind {
                    FieldOpKind::Send => true,
                    FieldOpKind::Receive | FieldOpKind::Range => false,
                    _ => continue,
                };
                if op.function != callee.key
                    || op.in_goroutine
                    || op.select_can_leave
                    || op.held.iter().chain(&op.read_held).any(|h| h == lock)
                {
                    continue;
                }
                let Some(other) =
                    other_side_needing(cx, owner, &field.name, is_send, Some(&callee.key), lock)
                else {
                    continue;
                };
                let callee_text = text(call.field("function")?, cx.src);
                let names = function_names(&other);
                let (side, verb) = sides(is_send);
                let message = format!(
                    "`{callee_text}` {} unbuffered `{root}.{}` while `{root}.{lock}` is held here: every {side} ({names}) takes `{lock}` of the same value on its way to each {verb}, so each would wait for the other: a deadlock if the call reaches that {}",
                    if is_send { "sends on" } else { "receives from" },
                    field.name,
                    if is_send { "send" } else { "receive" },
                );
                let mut finding = META.finding(call.byte_span(), message);
                finding.severity = Severity::Warning;
                if let Some(range) = range_in_file(cx.model, op) {
                    finding = finding.with_related(
                        range,
                        format!(
                            "`{}` {verb2} here",
                            callee.key,
                            verb2 = if is_send { "sends" } else { "receives" }
                        ),
                    );
                }
                for o in &other {
                    if let Some(range) = range_in_file(cx.model, o) {
                        finding = finding.with_related(
                            range,
                            format!("the other side, which needs `{lock}` first"),
                        );
                    }
                }
                return Some(finding);
            }
        }
    }
    None
}

/// The statements the lock state saw, with the state there when it holds a lock (None when it
/// holds none: no call there is reported, and most statements of a function that locks hold
/// nothing; a copy per statement was the largest of what this rule kept): the state itself,
/// whose copy shares its maps (a list of the held locks per statement grew with the square of
/// 8,000 locks held together), and shared with the statement before when the same (a function
/// of 50,000 statements held one per statement).
struct HeldStatements<'t> {
    seen: Vec<(Node<'t>, Option<std::rc::Rc<LockState>>)>,
}

impl<'t> LockObserver<'t> for HeldStatements<'t> {
    fn statement(&mut self, node: Node<'t>, state: &LockState) {
        if state.held.is_empty() {
            self.seen.push((node, None));
            return;
        }
        let shared = match self.seen.last() {
            Some((_, Some(last))) if **last == *state => last.clone(),
            _ => std::rc::Rc::new(state.clone()),
        };
        self.seen.push((node, Some(shared)));
    }
}

/// The write locks held on every path at each statement of the last function body asked
/// about that holds an operation: its operations are asked about one after another, and
/// replaying the body's locks for each would cost the body's length per operation.
#[derive(Default)]
struct HeldStates {
    /// Where every operation that will be asked about starts, sorted.
    operations: Vec<usize>,
    body: Option<usize>,
    /// By the statement's byte range, the last state the replay saw for it.
    at_statement: crate::HashMap<std::ops::Range<usize>, std::rc::Rc<[String]>>,
}

impl HeldStates {
    /// The write-locked mutexes below `root` on every path to `op` (paths relative to the root:
    /// `mu`), from the lock state of the function around it.
    fn at(&mut self, cx: &Context, op: Node, root: &str) -> Vec<String> {
        let Some(function) = cx.model.function_of(op) else {
            return Vec::new();
        };
        let Some(body) = cx.model.functions[function].body else {
            return Vec::new();
        };
        if self.body != Some(body.id()) {
            self.body = Some(body.id());
            self.at_statement.clear();
            if let Some(trace) = cx.lock_trace(body) {
                let mut observer = Observer {
                    operations: &self.operations,
                    seen: &mut self.at_statement,
                    last: None,
                };
                trace.replay(&mut observer);
            }
        }
        // The innermost statement around the operation that the lock state saw.
        let mut node = Some(op);
        while let Some(n) = node {
            if let Some(held) = self.at_statement.get(&n.byte_span()) {
                let prefix = format!("{root}.");
                return held
                    .iter()
                    .filter_map(|k| k.strip_prefix(&prefix).map(str::to_string))
                    .collect();
            }
            if n == body {
                break;
            }
            node = n.parent_node();
        }
        Vec::new()
    }
}

/// Keeps, for each statement that holds an operation, the write locks held on every path there
/// (shared with the statement before when they are the same).
struct Observer<'h> {
    operations: &'h [usize],
    seen: &'h mut crate::HashMap<std::ops::Range<usize>, std::rc::Rc<[String]>>,
    last: Option<std::rc::Rc<[String]>>,
}

impl<'t> LockObserver<'t> for Observer<'_> {
    fn statement(&mut self, node: Node<'t>, state: &LockState) {
        let range = node.byte_span();
        let first = self.operations.partition_point(|at| *at < range.start);
        if self.operations.get(first).is_none_or(|at| *at >= range.end) {
            return;
        }
        let held: Vec<&String> = state
            .held
            .iter()
            .filter(|(_, h)| h.on_every_path && h.mode == Mode::Write)
            .map(|(k, _)| k)
            .collect();
        let shared = match &self.last {
            Some(last) if last.iter().eq(held.iter().copied()) => last.clone(),
            _ => {
                let new: std::rc::Rc<[String]> = held.into_iter().cloned().collect();
                self.last = Some(new.clone());
                new
            }
        };
        self.seen.insert(range, shared);
    }
}

/// Is `owner.path` (one field) a `sync.Mutex` or `sync.RWMutex`?
fn is_mutex_field(cx: &Context, owner: &str, path: &str) -> bool {
    if path.contains('.') {
        return false;
    }
    cx.model
        .package
        .field_type(&Ty::named("", owner), path)
        .is_some_and(|t| {
            matches!(
                cx.model.package.sync_kind(&t),
                Some(SyncKind::Mutex | SyncKind::RWMutex)
            )
        })
}

/// A case of a `select` that has another case or a `default`.
fn in_select_that_can_leave(op: Node) -> bool {
    let mut comm = op;
    for _ in 0..4 {
        let Some(parent) = comm.parent_node() else {
            return false;
        };
        if parent.kind_str() == "communication_case" {
            return parent
                .parent_node()
                .is_some_and(|select| goconc_syntax::named_children(select).count() > 1);
        }
        if !matches!(
            parent.kind_str(),
            "parenthesized_expression" | "receive_statement" | "expression_list"
        ) {
            return false;
        }
        comm = parent;
    }
    false
}
