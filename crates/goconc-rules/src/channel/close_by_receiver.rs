//! `channel-close-by-receiver`: a function that only receives from a channel closes it.

use crate::finding::LineOf;
use goconc_syntax::NodeExt;
use tree_sitter::Node;

use crate::finding::{Finding, Severity};
use crate::{Context, Family, RuleMeta};
use goconc_model::atomics;
use goconc_model::channels::fields::{range_in_file, FieldOpKind};
use goconc_model::channels::{builtin_arg, chan_key, ChanKey};
use goconc_model::goroutines::goroutine_start;
use goconc_model::{words, FileModel, Ty};
use goconc_syntax::{
    call_args, enclosing_function, method_call, named_children, text, unparen, walk,
};
use std::ops::Range;

pub static META: RuleMeta = RuleMeta {
    id: "channel-close-by-receiver",
    family: Family::Channel,
    severity: Severity::Warning,
    summary: "A function that only receives from a channel closes it: only the sender should close, or its next send panics.",
    fix: None,
    doc: r#"
## Why it matters
A close tells receivers "no more values". Only the sending side knows when that is true: when the
receiver closes the channel, a sender that is still running panics on its next send (`send on
closed channel`), and a receiver that stops early to "clean up" turns a slow producer into a
crash. When the channel was closed by its sender already, the receiver's close panics instead
(`close of closed channel`).

## Example
```go
func consume(jobs chan Job) {
	for j := range jobs {
		if j.Last {
			close(jobs)
			return
		}
		j.Run()
	}
}
```
```go
func consume(jobs <-chan Job, quit chan<- struct{}) {
	for j := range jobs {
		if j.Last {
			close(quit) // ask the producer to stop; it closes jobs
			return
		}
		j.Run()
	}
}
```

## Fix
Let the producer close the channel (`defer close(ch)` in the sending goroutine). To stop the
producer from the receiving side, close a separate `done` channel (`chan struct{}`) that the
producer selects on, or cancel a context. Typing parameters `<-chan T` makes the compiler reject
a receiver's close.

## Hand-over channels
A channel can carry one value and then a close back: a sender hands its value over and waits for
the receiver to close (`doneCh <- err; <-doneCh`, in a closure or in a method of a type whose
field holds the channel, `T{done: doneCh}`), while the receiving goroutine closes once it has
taken the value. That protocol is sound only if every path to the close took the value first.
When a path reaches the close without receiving (a `return` on `ctx.Done()` or on a failed
write, with `defer close(doneCh)`), the sender's later send panics: a **warning** naming that
return and the send. Whatever the channel's name (a hand-over channel is no broadcast signal);
silent when every path to the close has received from it.

## When it stays silent
- The channel is a signal channel: `chan struct{}`, or named like `done`, `quit`, `stop`,
  `closing`, `cancel` — closing it to broadcast "stop" is what it is for, even from a consumer.
- The function also sends on the channel (it is a sender), itself or in a closure it calls.
- The only "receive" is a `select` case `case <-ch:` next to a `default`, which tests whether the
  channel is closed before closing it once.
- The channel is made locally, no goroutine of the function sends on it and it is handed to no
  call (that may keep it and send later): nobody else can be sending.
- The receive and the close are in exclusive branches of an `if` or a `switch`, the close
  comes before every receive, or a `Wait()` call precedes it (the senders are finished).
- The close is guarded by the `ok` of an earlier `v, ok := <-ch` (`if ok { close(ch) }`):
  taking the value was taking the right to close, a hand-over protocol.
- The close is guarded by a countdown reaching zero (`if atomic.AddInt32(&left, -1) == 0`,
  `if left.Add(-1) == 0`): the receiver has counted every value it expects, so every send is
  done — the last one out closes.
- The close runs in the `case` of a `select` that receives from the object the channel was
  handed to (`sub := feed.Subscribe(ch)` … `case <-sub.Err(): close(ch)`): that object has let
  go of the channel, so its sender is gone.
- The channel is named like a lock or semaphore (`mu`, `sem`, `tokens`): a receive takes the
  token.
- The element type is unknown.

## Severity
A **warning** in general: whether a sender is still running is a fact of the code that sends.
A **hint** when the close follows a count of the values received (`if len(got) < 2 { continue
}; close(ch)`): the receiver closes once it has what it expects, and only a sender beyond that
count (which the package would have to show) could panic.
"#,
};

/// Channels named as signals (closed to broadcast, never sent on) or as locks and semaphores
/// (a receive takes the token): [`words::BROADCAST_CHANNEL`], [`words::TOKEN_CHANNEL`].
fn is_signal_name(path: &str) -> bool {
    let last = path.rsplit('.').next().unwrap_or(path);
    words::BROADCAST_CHANNEL.in_identifier(last) || words::TOKEN_CHANNEL.in_identifier(last)
}

#[derive(Default)]
struct Uses<'t> {
    /// The first receive before the close, on a path that can lead to it.
    first_receive: Option<Node<'t>>,
    /// A `Wait()` call before the close: the senders are known to be finished.
    waited: bool,
    /// The `ok` names of `v, ok := <-ch` receives.
    ok_names: Vec<&'t str>,
    /// A send on the closing function's goroutine (its body or a plain closure in it).
    own_send: bool,
    /// A send in a goroutine the function starts.
    goroutine_send: bool,
    /// Handed to a `go` statement's call, or to a call that may keep it and send on it
    /// (`sub := feed.Subscribe(ch)`, `signal.Notify(ch, …)`).
    handed_to_goroutine: bool,
}

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    let mut mentions = Mentions::default();
    for &call in cx.index.calls_named("close") {
        let Some(arg) = builtin_arg(cx.model, call, "close") else {
            continue;
        };
        let Some(key) = chan_key(cx.model, arg) else {
            continue;
        };
        let Some(function) = enclosing_function(call) else {
            continue;
        };
        // A hand-over: a sender outside this function sends one value and then waits for the
        // close (`ch <- v; <-ch`). Closing after taking that value is the protocol; closing on a
        // path that never took it panics the sender.
        if let Some(send) = handshake_send(cx, &mut mentions, &key, function) {
            if let Some(exit) = close_without_receive(cx, call, function, &key) {
                let path = &key.path;
                let message = format!(
                    "`{path}` is closed on a path that has not received from it ({}): the sender that hands a value over and waits for the close (line {}) panics on its send",
                    match &exit {
                        Some(at) => format!("the return at line {}", LineOf(at.start)),
                        None => "the end of the function".to_string(),
                    },
                    LineOf(send.start)
                );
                let mut finding = META
                    .finding(call.byte_span(), message)
                    .with_related(send, "sends here, then waits for the close");
                if let Some(at) = exit {
                    finding = finding.with_related(at, "leaves without receiving");
                }
                out.push(finding);
            }
            continue;
        }
        if is_signal_name(&key.path) {
            continue;
        }
        match cx.model.type_of(arg) {
            Ty::Chan(elem) => match *elem {
                Ty::Unknown | Ty::Struct(_) | Ty::Interface => continue,
                Ty::Named { ref pkg, ref name } if pkg.is_empty() && name == "bool" => continue,
                _ => {}
            },
            _ => continue,
        }
        let Some(body) = function.field("body") else {
            continue;
        };
        let uses = uses_of(cx.model, mentions.in_body(cx, body), function, &key, call);
        let Some(receive) = uses.first_receive else {
            continue;
        };
        if uses.own_send
            || uses.waited
            || guarded_by_ok(cx, call, function, &uses.ok_names)
            || guarded_by_countdown(cx, call, function)
            || guarded_by_hand_back(cx, call, function, &key)
        {
            continue;
        }
        // A channel made by this very function: someone it starts must be sending.
        let own_function = cx.model.function_index(function);
        let local = !key.path.contains('.')
            && cx.model.resolve(unparen(arg)).is_some_and(|d| {
                Some(d.function) == own_function
                    && d.init.is_some_and(|init| {
                        init.kind_str() == "call_expression"
                            && text(init, cx.src).starts_with("make(")
                    })
            });
        if local && !uses.goroutine_send && !uses.handed_to_goroutine {
            continue;
        }
        let path = &key.path;
        let counted = counted_before(cx, call);
        let message = match counted {
            Some(_) => format!(
                "`{path}` is closed by a function that only receives from it (line {}), once it has counted what it expects: a sender beyond that count panics on its next send",
                LineOf(receive.start_byte())
            ),
            None => format!(
                "`{path}` is closed by a function that only receives from it (line {}): a sender still running panics on its next send",
                LineOf(receive.start_byte())
            ),
        };
        let mut finding = META
            .finding(call.byte_span(), message)
            .with_related(receive.byte_span(), format!("receives from `{path}` here"));
        if let Some(check) = counted {
            // How many senders there are is a fact of other functions: advice, not a defect.
            finding.severity = Severity::Hint;
            finding =
                finding.with_related(check.byte_span(), "the values expected are counted here");
        }
        out.push(finding);
    }
}

/// How the function around a `close` (and the closures in it) uses the channel.
fn uses_of<'t>(
    model: &FileModel<'t>,
    ops: &BodyOps<'t>,
    function: Node<'t>,
    key: &ChanKey,
    close: Node<'t>,
) -> Uses<'t> {
    let mut uses = Uses::default();
    for op in ops.by_key.get(key).map_or(&[][..], Vec::as_slice) {
        match *op {
            ChanOp::Send(node) => {
                if on_goroutine(model, node, function) {
                    uses.goroutine_send = true;
                } else {
                    uses.own_send = true;
                }
            }
            ChanOp::Receive(node) => {
                if goconc_syntax::enclosing_function(node) == Some(function)
                    && !is_closed_probe(node)
                    && leads_to(node, close)
                {
                    if let Some(ok) = ok_name(model, node) {
                        uses.ok_names.push(ok);
                    }
                    uses.first_receive.get_or_insert(node);
                }
            }
            ChanOp::Range(node) => {
                if goconc_syntax::enclosing_function(node) == Some(function)
                    && leads_to(node, close)
                    && uses.first_receive.is_none()
                {
                    uses.first_receive = Some(node);
                }
            }
            ChanOp::Passed => uses.handed_to_goroutine = true,
        }
    }
    uses.waited = ops.wait_calls.iter().any(|&call| {
        call.end_offset() <= close.start_byte()
            && goconc_syntax::enclosing_function(call) == Some(function)
    });
    uses
}

/// What the rule reads of the functions around its `close` calls, gathered once: a function may
/// close thousands of channels, and walking it (and every send of the file) again for each cost
/// the square of its length (8,000 channels closed in one function: over two minutes).
#[derive(Default)]
struct Mentions<'t> {
    /// The file's send statements by the channel's key.
    sends: Option<crate::HashMap<ChanKey, Vec<Node<'t>>>>,
    /// By body (its start): its operations on each channel.
    bodies: crate::HashMap<usize, BodyOps<'t>>,
    /// By top-level function (its start): the channels stored in a field of a package type's
    /// literal (`T{done: ch}`), as (type, field), by the channel's key.
    stored: crate::HashMap<usize, crate::HashMap<ChanKey, Vec<(String, String)>>>,
}

/// A body's operations on one channel, in document order.
#[derive(Clone, Copy)]
enum ChanOp<'t> {
    Send(Node<'t>),
    Receive(Node<'t>),
    Range(Node<'t>),
    /// Passed to a call (not `close`, `len` or `cap`), or to a `go` statement's.
    Passed,
}

#[derive(Default)]
struct BodyOps<'t> {
    by_key: crate::HashMap<ChanKey, Vec<ChanOp<'t>>>,
    /// Its `Wait()` method calls.
    wait_calls: Vec<Node<'t>>,
}

impl<'t> Mentions<'t> {
    fn sends(&mut self, cx: &Context<'_, 't>) -> &crate::HashMap<ChanKey, Vec<Node<'t>>> {
        self.sends.get_or_insert_with(|| {
            let mut sends: crate::HashMap<ChanKey, Vec<Node<'t>>> = Default::default();
            for &send in &cx.index.send_statements {
                if let Some(key) = send.field("channel").and_then(|c| chan_key(cx.model, c)) {
                    sends.entry(key).or_default().push(send);
                }
            }
            sends
        })
    }

    /// The operations of `body` (function literals included) on each channel.
    fn in_body(&mut self, cx: &Context<'_, 't>, body: Node<'t>) -> &BodyOps<'t> {
        self.bodies.entry(body.start_byte()).or_insert_with(|| {
            let model = cx.model;
            let mut ops = BodyOps::default();
            let mut add = |n: Option<Node<'t>>, op: ChanOp<'t>| {
                if let Some(key) = n.and_then(|n| chan_key(model, n)) {
                    ops.by_key.entry(key).or_default().push(op);
                }
            };
            let mut wait_calls = Vec::new();
            walk(body, |node| {
                match node.kind_str() {
                    "send_statement" => add(node.field("channel"), ChanOp::Send(node)),
                    "unary_expression" => {
                        if node
                            .field("operator")
                            .is_some_and(|o| text(o, model.src) == "<-")
                        {
                            add(node.field("operand"), ChanOp::Receive(node));
                        }
                    }
                    "range_clause" => add(node.field("right"), ChanOp::Range(node)),
                    "call_expression" => {
                        let builtin = node
                            .field("function")
                            .is_some_and(|f| matches!(text(f, model.src), "close" | "len" | "cap"));
                        if !builtin {
                            for arg in goconc_syntax::call_args(node) {
                                add(Some(arg), ChanOp::Passed);
                            }
                        }
                        if goconc_syntax::method_call(node)
                            .is_some_and(|mc| text(mc.method, model.src) == "Wait")
                        {
                            wait_calls.push(node);
                        }
                    }
                    "go_statement" => {
                        if let Some(call) = goconc_syntax::statement_call(node) {
                            for arg in goconc_syntax::call_args(call) {
                                add(Some(arg), ChanOp::Passed);
                            }
                        }
                    }
                    _ => {}
                }
                true
            });
            ops.wait_calls = wait_calls;
            ops
        })
    }

    /// The channels stored in a field of a package type's literal within the top-level function
    /// `top`, by key.
    fn stored_in(
        &mut self,
        cx: &Context<'_, 't>,
        top: Node<'t>,
    ) -> &crate::HashMap<ChanKey, Vec<(String, String)>> {
        self.stored.entry(top.start_byte()).or_insert_with(|| {
            let mut stored: crate::HashMap<ChanKey, Vec<(String, String)>> = Default::default();
            walk(top, |n| {
                if n.kind_str() != "keyed_element" {
                    return true;
                }
                let mut parts = named_children(n);
                let (Some(field), Some(value)) = (parts.next(), parts.next()) else {
                    return true;
                };
                let value = unparen(named_children(value).next().unwrap_or(value));
                let Some(key) = chan_key(cx.model, value) else {
                    return true;
                };
                let owner = n
                    .parent_node()
                    .and_then(|body| body.parent_node())
                    .filter(|lit| lit.kind_str() == "composite_literal")
                    .and_then(|lit| lit.field("type"))
                    .filter(|t| t.kind_str() == "type_identifier");
                let field = unparen(named_children(field).next().unwrap_or(field));
                if let Some(owner) = owner {
                    stored.entry(key).or_default().push((
                        text(owner, cx.src).to_string(),
                        text(field, cx.src).to_string(),
                    ));
                }
                true
            });
            stored
        })
    }
}

/// `ok` in `v, ok := <-ch`, `v, ok = <-ch`, `case v, ok := <-ch:`.
fn ok_name<'t>(model: &FileModel<'t>, recv: Node<'t>) -> Option<&'t str> {
    let node = goconc_syntax::outer_parens(recv);
    let parent = node.parent_node()?;
    let stmt = match parent.kind_str() {
        "receive_statement" => parent,
        "expression_list" => parent.parent_node()?,
        _ => return None,
    };
    let left: Vec<Node> = named_children(stmt.field("left")?).collect();
    (left.len() == 2 && left[1].kind_str() == "identifier").then(|| text(left[1], model.src))
}

/// Whether the close sits in the `then` branch of an `if` (inside `function`) whose condition,
/// parentheses stripped, satisfies `guards`.
fn guarded_by(close: Node, function: Node, mut guards: impl FnMut(Node) -> bool) -> bool {
    let mut current = close.parent_node();
    while let Some(n) = current {
        if n == function {
            return false;
        }
        if n.kind_str() == "if_statement"
            && n.field("consequence")
                .is_some_and(|c| goconc_syntax::is_within(close, c))
            && n.field("condition").is_some_and(|c| guards(unparen(c)))
        {
            return true;
        }
        current = n.parent_node();
    }
    false
}

/// `if ok { close(ch) }` after `v, ok := <-ch`: receiving the value was taking the token that
/// allows the close (a hand-over protocol), not a consumer cleaning up.
fn guarded_by_ok(cx: &Context, close: Node, function: Node, ok_names: &[&str]) -> bool {
    !ok_names.is_empty()
        && guarded_by(close, function, |condition| {
            ok_names.contains(&text(condition, cx.src))
        })
}

/// `if atomic.AddInt32(&left, -1) == 0 { close(ch) }` (or `left.Add(-1) == 0`): the close
/// waits for a count of the values still expected to reach zero, so every send is done.
fn guarded_by_countdown(cx: &Context, close: Node, function: Node) -> bool {
    guarded_by(close, function, |condition| {
        is_countdown_to_zero(cx, condition)
    })
}

/// `sub := feed.Subscribe(ch)` … `case <-sub.Err(): close(ch)`: the close runs once the object
/// the channel was handed to says it let go of it (the subscription ended): the sender is gone.
fn guarded_by_hand_back(cx: &Context, close: Node, function: Node, key: &ChanKey) -> bool {
    let mut current = close.parent_node();
    while let Some(n) = current {
        if n == function {
            return false;
        }
        if n.kind_str() == "communication_case" {
            let Some(recv) = n.field("communication").and_then(|c| match c.kind_str() {
                "receive_statement" => c.field("right"),
                _ => None,
            }) else {
                return false;
            };
            let recv = unparen(recv);
            let Some(operand) = (recv.kind_str() == "unary_expression")
                .then(|| recv.field("operand"))
                .flatten()
            else {
                return false;
            };
            // `sub.Err()`, `sub.done`: rooted at a variable made by a call handed the channel.
            let root = goconc_syntax::path_root(match operand.kind_str() {
                "call_expression" => operand.field("function").unwrap_or(operand),
                _ => operand,
            });
            let made_with_channel = root
                .and_then(|r| cx.model.resolve(r))
                .and_then(|d| d.init)
                .map(unparen)
                .is_some_and(|init| {
                    init.kind_str() == "call_expression"
                        && call_args(init)
                            .into_iter()
                            .any(|a| chan_key(cx.model, a).as_ref() == Some(key))
                });
            return made_with_channel;
        }
        current = n.parent_node();
    }
    false
}

/// A send on the channel outside the closing function that the next statement follows with a
/// receive from the same channel (`ch <- v; <-ch`): the sender hands one value over and waits
/// for the receiver to close.
fn handshake_send<'t>(
    cx: &Context<'_, 't>,
    mentions: &mut Mentions<'t>,
    key: &ChanKey,
    function: Node<'t>,
) -> Option<Range<usize>> {
    let same = |n: Node| chan_key(cx.model, n).as_ref() == Some(key);
    let sends = mentions.sends(cx).get(key).map_or(&[][..], Vec::as_slice);
    let local = sends.iter().copied().find(|send| {
        if goconc_syntax::is_within(*send, function) {
            return false;
        }
        let Some(block) = send.parent_node() else {
            return false;
        };
        let siblings = goconc_syntax::statements(block);
        let Some(at) = siblings.iter().position(|s| s == send) else {
            return false;
        };
        siblings.get(at + 1).is_some_and(|next| {
            let expr = match next.kind_str() {
                "expression_statement" => named_children(*next).next(),
                _ => None,
            };
            expr.map(unparen).is_some_and(|e| {
                e.kind_str() == "unary_expression"
                    && e.field("operator").is_some_and(|o| text(o, cx.src) == "<-")
                    && e.field("operand").is_some_and(same)
            })
        })
    });
    if let Some(send) = local {
        return Some(send.byte_span());
    }
    field_handshake_send(cx, mentions, key, function)
}

/// The channel stored in a field of a package type's literal (`T{done: ch}`) whose methods hand a
/// value over on that field and wait for the close (`t.done <- v` then `<-t.done` in one
/// method).
fn field_handshake_send<'t>(
    cx: &Context<'_, 't>,
    mentions: &mut Mentions<'t>,
    key: &ChanKey,
    function: Node<'t>,
) -> Option<Range<usize>> {
    let top = {
        let mut top = function;
        while let Some(f) = enclosing_function(top) {
            top = f;
        }
        top
    };
    let stored = mentions
        .stored_in(cx, top)
        .get(key)
        .map_or(&[][..], Vec::as_slice);
    for (owner, field) in stored {
        let ops = cx.model.package.field_channel_ops(owner, field);
        for send in ops
            .iter()
            .filter(|o| o.kind == FieldOpKind::Send && !o.in_goroutine)
        {
            let waits = ops.iter().any(|r| {
                r.kind == FieldOpKind::Receive
                    && r.function == send.function
                    && !r.in_goroutine
                    && r.offset > send.offset
            });
            if waits {
                if let Some(range) = range_in_file(cx.model, send) {
                    return Some(range);
                }
            }
        }
    }
    None
}

/// "Received from the channel on every path to here" over the closing function.
struct Received<'k, 'm, 't> {
    model: &'m FileModel<'t>,
    key: &'k ChanKey,
    close: Node<'t>,
    /// The close was reached on a path that had not received.
    unreceived_close: bool,
}

impl<'t> goconc_model::flow::FlowAnalysis<'t> for Received<'_, '_, 't> {
    type State = bool;

    fn transfer(&mut self, stmt: Node<'t>, state: &mut bool) {
        let (model, key, close) = (self.model, self.key, self.close);
        let mut reaches_close = false;
        walk(stmt, |n| {
            if n.kind_str() == "func_literal" {
                return false;
            }
            if n == close {
                reaches_close = true;
            }
            let receives = match n.kind_str() {
                "unary_expression" => {
                    n.field("operator")
                        .is_some_and(|o| text(o, model.src) == "<-")
                        && n.field("operand")
                            .is_some_and(|o| chan_key(model, o).as_ref() == Some(key))
                }
                "range_clause" => n
                    .field("right")
                    .is_some_and(|r| chan_key(model, r).as_ref() == Some(key)),
                _ => false,
            };
            if receives {
                *state = true;
            }
            true
        });
        if reaches_close && !*state {
            self.unreceived_close = true;
        }
    }

    fn join(&self, a: &bool, b: &bool) -> bool {
        *a && *b
    }
}

/// A path that reaches the close (for `defer close(ch)`: leaves the function) without having
/// received from the channel: Some(the `return` it leaves by, when there is one).
fn close_without_receive(
    cx: &Context,
    close: Node,
    function: Node,
    key: &ChanKey,
) -> Option<Option<std::ops::Range<usize>>> {
    let body = function.field("body")?;
    let deferred = close
        .parent_node()
        .is_some_and(|p| p.kind_str() == "defer_statement");
    let mut analysis = Received {
        model: cx.model,
        key,
        close,
        unreceived_close: false,
    };
    let exits = goconc_model::flow::run(cx.model, body, &mut analysis, false)?;
    if !deferred {
        return analysis.unreceived_close.then_some(None);
    }
    // The deferred close runs at every return after the `defer` statement.
    let exit = exits.iter().find(|e| {
        e.kind != goconc_model::flow::ExitKind::NoReturn
            && !e.state
            && e.node.start_byte() > close.start_byte()
    })?;
    Some(match exit.kind {
        goconc_model::flow::ExitKind::Return => Some(exit.node.byte_span()),
        _ => None,
    })
}

/// `if len(got) < 2 { continue }` right before the close in its block: the receiver closes
/// once it has received the number of values it expects.
fn counted_before<'t>(cx: &Context<'_, 't>, close: Node<'t>) -> Option<Node<'t>> {
    let stmt = goconc_syntax::call_statement(close)?;
    let block = stmt.parent_node()?;
    let siblings = goconc_syntax::statements(block);
    let at = siblings.iter().position(|s| *s == stmt)?;
    siblings[..at].iter().rev().copied().find(|s| {
        if s.kind_str() != "if_statement" || s.field("alternative").is_some() {
            return false;
        }
        let counts = s.field("condition").map(unparen).is_some_and(|c| {
            c.kind_str() == "binary_expression"
                && c.field("operator")
                    .is_some_and(|o| matches!(text(o, cx.src), "<" | "!=" | "<="))
                && c.field("left").map(unparen).is_some_and(|l| {
                    l.kind_str() == "call_expression"
                        && l.field("function")
                            .is_some_and(|f| text(f, cx.src) == "len")
                })
        });
        let leaves = s.field("consequence").is_some_and(|b| {
            goconc_syntax::statements(b).last().is_some_and(|last| {
                matches!(
                    last.kind_str(),
                    "continue_statement" | "return_statement" | "break_statement"
                )
            })
        });
        counts && leaves
    })
}

/// `Add…(…, -1) == 0` or `0 == Add…(…, -1)`: the `Add` of sync/atomic, or of an atomic type.
fn is_countdown_to_zero(cx: &Context, condition: Node) -> bool {
    if condition.kind_str() != "binary_expression"
        || condition
            .field("operator")
            .is_none_or(|o| text(o, cx.src) != "==")
    {
        return false;
    }
    let (Some(left), Some(right)) = (condition.field("left"), condition.field("right")) else {
        return false;
    };
    let (left, right) = (unparen(left), unparen(right));
    let is_zero = |n: Node| text(n, cx.src) == "0";
    let is_add = |call: Node| match atomics::atomic_func(call, cx.src, &cx.model.imports) {
        Some(name) => atomics::split_func(name).is_some_and(|(op, _)| op == "Add"),
        None => method_call(call).is_some_and(|mc| text(mc.method, cx.src) == "Add"),
    };
    let decrements = |n: Node| {
        n.kind_str() == "call_expression"
            && is_add(n)
            && call_args(n)
                .last()
                .is_some_and(|a| text(unparen(*a), cx.src).replace(' ', "") == "-1")
    };
    (is_zero(right) && decrements(left)) || (is_zero(left) && decrements(right))
}

/// Does `node` run on a goroutine started between it and `function`?
fn on_goroutine(model: &FileModel, node: Node, function: Node) -> bool {
    let mut current = node.parent_node();
    while let Some(n) = current {
        if n == function {
            return false;
        }
        if n.kind_str() == "func_literal" && goroutine_start(model, n).is_some() {
            return true;
        }
        current = n.parent_node();
    }
    false
}

/// Can the receive run before the close on one path: it comes first in the text (or the close
/// is inside the range loop), and they are not in exclusive branches of an `if` or a `switch`
/// (`if w.done { <-w.result } else { close(w.result) }`: a hand-over decided under a lock).
fn leads_to(recv: Node, close: Node) -> bool {
    if recv.start_byte() >= close.start_byte() {
        return false;
    }
    // The lowest common ancestor, and the children of it on each side.
    let mut a = recv;
    loop {
        let Some(parent) = a.parent_node() else {
            return true;
        };
        if goconc_syntax::is_within(close, parent) {
            let mut b = close;
            while let Some(p) = b.parent_node() {
                if p == parent {
                    break;
                }
                b = p;
            }
            return match parent.kind_str() {
                "if_statement" => {
                    let alt = parent.field("alternative");
                    let cons = parent.field("consequence");
                    !(cons == Some(a) && alt == Some(b))
                }
                // A `select` that receives in one case and closes in another (on a timeout) is
                // still the receiving side giving up.
                "expression_switch_statement" | "type_switch_statement" => {
                    !(is_case(a) && is_case(b) && a != b)
                }
                _ => true,
            };
        }
        a = parent;
    }
}

fn is_case(n: Node) -> bool {
    matches!(
        n.kind_str(),
        "expression_case" | "type_case" | "communication_case" | "default_case"
    )
}

/// `select { case <-ch: …; default: close(ch) }`: a test of "already closed?", not a receive.
fn is_closed_probe(recv: Node) -> bool {
    let comm = goconc_syntax::outer_parens(recv);
    // `case <-ch:` is a receive_statement with only a right side.
    let Some(stmt) = comm
        .parent_node()
        .filter(|p| p.kind_str() == "receive_statement")
    else {
        return false;
    };
    if stmt.field("left").is_some() {
        return false;
    }
    let Some(case) = stmt
        .parent_node()
        .filter(|c| c.kind_str() == "communication_case")
    else {
        return false;
    };
    case.parent_node()
        .is_some_and(|select| named_children(select).any(|c| c.kind_str() == "default_case"))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::lines_of;

    const ID: &str = "channel-close-by-receiver";

    #[test]
    fn receiver_closing_a_parameter() {
        let src = "package p\n\nfunc a(jobs chan int) {\n\tfor j := range jobs {\n\t\tif j < 0 {\n\t\t\tclose(jobs)\n\t\t\treturn\n\t\t}\n\t}\n}\n";
        assert_eq!(lines_of(src, ID), vec![6]);
    }

    #[test]
    fn signals_senders_and_probes_are_silent() {
        let src = "package p\n\nfunc a(done chan int) {\n\t<-done\n\tclose(done)\n}\n\nfunc b(ch chan struct{}) {\n\t<-ch\n\tclose(ch)\n}\n\nfunc c(ch chan int) {\n\tv := <-ch\n\tch <- v\n\tclose(ch)\n}\n\nfunc d(ch chan int) {\n\tselect {\n\tcase <-ch:\n\tdefault:\n\t\tclose(ch)\n\t}\n}\n\nfunc e() {\n\tch := make(chan int, 1)\n\t<-ch\n\tclose(ch)\n}\n";
        assert!(lines_of(src, ID).is_empty());
    }
}
