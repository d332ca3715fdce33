//! `mutex-held-blocking`: a blocking operation while a lock is held.

use crate::finding::LineOf;
use goconc_syntax::NodeExt;
use std::collections::BTreeMap;

use tree_sitter::Node;

use super::locking_bodies;
use crate::finding::{Finding, Severity};
use crate::{Context, Family, RuleMeta};
use goconc_model::blocking::{blocking_call, blocking_method};
use goconc_model::locks::{LockObserver, LockState};
use goconc_model::summary::summary_key;
use goconc_model::{FileModel, Ty};
use goconc_syntax::{call_args, method_call, named_children, text, unparen, walk_body};

pub static META: RuleMeta = RuleMeta {
    id: "mutex-held-blocking",
    family: Family::Mutex,
    severity: Severity::Warning,
    summary: "A blocking operation while a lock is held: network, HTTP, database, file or process I/O, `time.Sleep`, an unbuffered channel operation, `wg.Wait`, `g.Wait`, or a same-package function that does one of these.",
    fix: None,
    doc: r#"
## Why it matters
While a goroutine sleeps, waits on the network or on a channel with a lock held, every other
goroutine that needs the lock waits too: latency spikes become outages, and if the awaited party
needs the same lock (a receiver that locks before it receives), the program deadlocks.

## Example
```go
func (s *Service) Refresh(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	resp, err := s.client.Do(req) // every reader of s waits for the network
	// …
}
```
Do the slow part first, then take the lock only to publish the result:
```go
func (s *Service) Refresh(ctx context.Context) error {
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.data = parse(resp)
	s.mu.Unlock()
	return nil
}
```

## Fix
None: moving work out of a critical section changes what the lock protects.

## What counts as blocking
- Package functions: `time.Sleep`, `net.Dial…`/`Lookup…`, `http.Get/Post/Head/PostForm`, file
  system calls of `os` (`ReadFile`, `WriteFile`, `Open`, …). (`io.Copy` and friends block only as
  much as their reader or writer, which is unknown, so they do not count.)
- Methods on values whose type the package's own code declares: `(*http.Client).Do/Get/…`,
  `(*exec.Cmd).Run/Output/…`, `*sql.DB`/`Tx`/`Stmt`/`Conn` queries, `(*os.File).Read/Write/…`,
  `net.Conn` reads and writes, `Listener.Accept`, `WaitGroup.Wait`, errgroup's `Wait`.
- A send, receive or `range` on a channel made unbuffered in the same function, outside a
  `select` with a `default`; a receive from `time.After`.
- A call to a function or method of the same package whose body does one of the above.

## When it stays silent
When the lock is held only on some paths, when the channel's capacity or the receiver's type is
unknown, in `go` and `defer` statements, for `sync.Cond.Wait` (which releases its lock while
waiting), and in `_test.go` files (tests hold locks around sleeps on purpose).
"#,
};

struct Observer<'m, 't> {
    model: &'m FileModel<'t>,
    reports: BTreeMap<usize, Option<(Node<'t>, String, usize, String)>>,
}

impl<'t> LockObserver<'t> for Observer<'_, 't> {
    fn statement(&mut self, node: Node<'t>, state: &LockState) {
        if matches!(node.kind_str(), "go_statement" | "defer_statement") {
            return;
        }
        let held = state.held.iter().find(|(_, h)| h.on_every_path);
        let mut ops: Vec<(Node<'t>, String)> = Vec::new();
        walk_body(node, |n| {
            if let Some(what) = blocking_op(self.model, n) {
                ops.push((n, what));
            }
        });
        for (op, what) in ops {
            let report = held.map(|(key, h)| {
                (
                    op,
                    what.clone(),
                    h.sites.iter().next().copied().unwrap_or(0),
                    key.clone(),
                )
            });
            self.reports.insert(op.start_byte(), report);
        }
    }
}

/// What blocks at this node, described for the message.
fn blocking_op(model: &FileModel, node: Node) -> Option<String> {
    match node.kind_str() {
        "call_expression" => blocking_call_description(model, node),
        "send_statement" => {
            let channel = node.field("channel")?;
            (unbuffered_local(model, channel) && !in_select_with_default(node))
                .then(|| format!("the send on unbuffered `{}`", text(channel, model.src)))
        }
        "unary_expression" => {
            let op = node.field("operator")?;
            if text(op, model.src) != "<-" {
                return None;
            }
            let channel = unparen(node.field("operand")?);
            if in_select_with_default(node) {
                return None;
            }
            if unbuffered_local(model, channel) {
                return Some(format!(
                    "the receive from unbuffered `{}`",
                    text(channel, model.src)
                ));
            }
            let after = channel.kind_str() == "call_expression"
                && channel
                    .field("function")
                    .and_then(|f| model.qualified_name(f, "time"))
                    == Some("After");
            after.then(|| "waiting on `time.After`".to_string())
        }
        "range_clause" => {
            let channel = node.field("right")?;
            unbuffered_local(model, channel)
                .then(|| format!("ranging over unbuffered `{}`", text(channel, model.src)))
        }
        _ => None,
    }
}

fn blocking_call_description(model: &FileModel, call: Node) -> Option<String> {
    if let Some(what) = blocking_call(call, model.src, &model.imports) {
        return Some(format!("`{what}`"));
    }
    let mc = method_call(call);
    if let Some(mc) = mc {
        let ty = model.type_of(mc.receiver);
        if let Ty::Named { pkg, name } = ty.deref() {
            let method = text(mc.method, model.src);
            if !pkg.is_empty() && blocking_method(pkg, name, method) {
                return Some(format!("`{}.{method}`", text(mc.receiver, model.src)));
            }
            if pkg.is_empty() {
                let summary = model.package.summary(&summary_key(Some(name), method))?;
                let inner = summary.blocks.as_ref()?;
                return Some(format!(
                    "`{}.{method}` (it calls `{inner}`)",
                    text(mc.receiver, model.src)
                ));
            }
        }
        return None;
    }
    let function = unparen(call.field("function")?);
    if function.kind_str() == "identifier" && model.resolve(function).is_none() {
        let name = text(function, model.src);
        let inner = model.package.summary(name)?.blocks.as_ref()?;
        return Some(format!("`{name}` (it calls `{inner}`)"));
    }
    None
}

/// A channel variable this function made with `make(chan T)` and no capacity.
fn unbuffered_local(model: &FileModel, channel: Node) -> bool {
    let channel = unparen(channel);
    if channel.kind_str() != "identifier" {
        return false;
    }
    let Some(init) = model.resolve(channel).and_then(|d| d.init).map(unparen) else {
        return false;
    };
    init.kind_str() == "call_expression"
        && init
            .field("function")
            .is_some_and(|f| text(f, model.src) == "make")
        && call_args(init).len() == 1
        && call_args(init)
            .first()
            .is_some_and(|t| t.kind_str() == "channel_type")
}

fn in_select_with_default(node: Node) -> bool {
    let mut current = node.parent();
    while let Some(n) = current {
        match n.kind_str() {
            "communication_case" => {
                return n.parent().is_some_and(|select| {
                    named_children(select).any(|c| c.kind_str() == "default_case")
                });
            }
            "block" | "func_literal" | "function_declaration" | "method_declaration" => {
                return false
            }
            _ => current = n.parent(),
        }
    }
    false
}

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    // Tests hold locks around sleeps and I/O on purpose to set up timing; latency is not theirs.
    if cx.is_test_file {
        return;
    }
    for (_, body, calls) in locking_bodies(cx) {
        if !calls.iter().any(|c| c.op.is_acquire()) {
            continue;
        }
        let mut observer = Observer {
            model: cx.model,
            reports: BTreeMap::new(),
        };
        let Some(trace) = cx.lock_trace(body) else {
            continue;
        };
        trace.replay(&mut observer);
        for (node, what, site, key) in observer.reports.into_values().flatten() {
            out.push(
                META.finding(
                    node.byte_range(),
                    format!(
                        "{what} blocks while `{key}` is held (locked at line {}): every goroutine that needs `{key}` waits for it",
                        LineOf(site)
                    ),
                )
                .with_related(site..site + key.len(), format!("`{key}` is locked here")),
            );
        }
    }
}
