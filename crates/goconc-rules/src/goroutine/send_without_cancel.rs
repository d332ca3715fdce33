//! `goroutine-send-without-cancel`: a goroutine sends in a loop with a bare `ch <- v` while a
//! context or done channel is in scope: when the consumer stops reading, the producer blocks
//! forever instead of noticing the cancellation.

use crate::waits::Spans;
use goconc_syntax::NodeExt;
use tree_sitter::Node;

use crate::finding::LineOf;
use crate::finding::{Finding, Severity, TextEdit};
use crate::{Context, Family, RuleMeta};
use goconc_model::channels::fields::{range_in_file, FieldOpKind};
use goconc_model::channels::{
    chan_key, is_cancel_receive, Capacity, EscapeKind, LocalChannel, OpKind,
};
use goconc_model::goroutines::{
    enclosing_function_key, function_key, goroutine_bodies, loop_can_stop, GoroutineBody,
};
use goconc_model::types::names_of;
use goconc_model::{DeclKind, Ty};
use goconc_syntax::{
    call_args, line_indent, named_children, newline, text, unparen, walk, walk_body,
    walk_body_with_ancestors,
};

mod default_send;
mod field_send;

use default_send::*;
use field_send::*;

pub static META: RuleMeta = RuleMeta {
    id: "goroutine-send-without-cancel",
    family: Family::Goroutine,
    severity: Severity::Warning,
    summary: "A goroutine's bare send `ch <- v` in a loop whose receiver can stop reading first, though a context or done channel is in scope to abandon the send; or a bare send in the `default` of a `select` whose stop case was checked only once.",
    fix: Some("wrap in `select { case ch <- v: case <-ctx.Done(): return }`"),
    doc: r#"
## Why it matters
A producer goroutine that feeds a channel in a loop relies on its consumer to keep reading. When
the consumer stops early — its context was cancelled, it hit an error, it found what it wanted —
a bare `ch <- v` blocks forever and the producer leaks. The function already has the means to
notice: a `context.Context` or a done channel is in scope, but the send does not listen to it.

## Example
```go
func numbers(ctx context.Context) <-chan int {
	ch := make(chan int)
	go func() {
		defer close(ch)
		for i := 0; ; i++ {
			ch <- i
		}
	}()
	return ch
}
```
```go
func numbers(ctx context.Context) <-chan int {
	ch := make(chan int)
	go func() {
		defer close(ch)
		for i := 0; ; i++ {
			select {
			case ch <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch
}
```

## Fix
Make the send abandonable: `select` between the send and the cancellation signal, and return
when cancelled. The quick fix writes that `select` (with `ctx.Done()`, or the done channel in
scope) when the goroutine's function has no results.

## What counts as evidence that the receiver stops
A bare send is only a leak when its receiver can stop reading first; the rule reports only when
the package shows that it can:
- the sending loop never ends (`for { … }` with no `return` or `break`): the receiver must stop
  first;
- the loop that receives the channel — in the function that made it, or in another goroutine of
  that function — can be left (`return`, `break`, another `select` case);
- the channel is handed to a call whose results a loop that can be left reads (`for err := range
  remove(queue) { if err != nil { return err } }`), or it is returned to a caller in the same file
  that reads it in such a loop;
- another send on the same channel (in the function, or in a function of the file it hands the
  channel to) abandons it on cancellation: the code already expects the receiver to stop;
- the channel is a parameter of the function, or the channel it returns, and the same caller
  hands it a done channel (`func stage(done <-chan struct{}, in <-chan T) <-chan T`).
A `go func(ch chan<- T) { … }(out)` parameter is followed to `out`.

## When it stays silent
- The send is already a case of a `select`, or is not inside a loop of the goroutine.
- No cancellation means is in scope: no `context.Context` (a context bound to
  `context.Background()` or `TODO()` is never cancelled, so it does not count) and no
  done/stop/quit channel.
- Nothing shows that the receiver can stop: the receiving loop is a `range` with no way out that
  ends only when the channel is closed, or the consumer lives where the package cannot see it.
- The channel is made locally with a buffer, or the function that made it drains it with a
  `range` loop that has no way out.
- The goroutine also receives from the channel (a token handed back and forth), or the send is
  on the done channel itself.

## A send in the `default` of a `select` with a stop case
```go
select {
case <-ctx.Done():
	return
default:
	out <- v
}
```
The stop case is looked at once, while nothing is ready; then the bare send blocks, and from
then on nothing watches `ctx.Done()`: when the receiver has gone, the sender never learns it
was cancelled. The `select` is the code's own word that the work can be stopped while it runs,
so this is reported wherever it is (a goroutine or not, a loop or not), as a warning: whether
the receiver can stop reading before it takes the value is the fact the tool cannot see. The
stop case is a receive from `ctx.Done()` or from a channel named like done/stop/quit (see
`words::STOP_CHANNEL`); a timer (`time.After`, `t.C`) says "waited long enough", not "stop",
and does not count. The send may sit anywhere in the `default` (after other work, inside an
`if` or a loop).

Quick fixes:
- when the `default` holds only the send and its value is a name, a field or a literal, the
  `default` becomes a case of the same `select` (`case out <- v:`): safe, the sender now takes
  whichever of the two comes first. A value computed by a call is not moved there: a `select`
  evaluates its send values on entry, so the call would run even when the stop case wins.
- otherwise, when every stop case of the `select` does nothing but `return`, each bare send of
  the `default` is wrapped in a `select` with a copy of those cases (unsafe: the work the `default` did before the send is thrown away
  when stopped). A stop case that `break`s gets no fix: a `break` in the new `select` would
  leave only that `select`.

One finding per `default`: a second bare send in the same `default` (another error path that
sends and returns) is the same defect.

It stays silent when the send is itself a case of a `select` (in the `default` or not), is
inside a function literal in the `default`, is on the stop channel itself (`done <- struct{}{}`),
or is on a local channel made with a buffer; when the `select` has no stop case; and when the
stop case itself sends on the same channel (`case <-ctx.Done(): report <- 0; return`): the
code counts on the receiver to read every value to the end, and watching the stop would not
spare the send.

## Channels held in struct fields
A bare send on an unbuffered field channel (`s.reqs <- r`), in any function of the package, is
reported when nothing in the package receives from an unexported field, or when every receiver
is a loop that can stop and another send into the same loop gives up when it stops (`select`
with the stop case): the package's own code expects the loop to stop first. It stays silent
when the field is made buffered anywhere, escapes, is received by code whose type the package
cannot name, or is received by the sending function itself; and when the function that sends
started the receiving loop itself, before the send: with `go`, inside a literal it starts (`go
func() { err := c.loop(); … }()`), or through the package's functions it calls, up to four
calls deep (`newServer()` calling `listen()`, which starts `Server.loop`): a test or driver
that runs the loop it feeds. A method that only sends, when some other code started the loop,
stays reported.

It also stays silent when the sender announces its end and every receiver reads on until it
hears it. The sender's every `return` follows a send on one other field channel of the same
type (`c.readErr <- err; return`) and it has no other way out (its body ends in `for { … }`
with no `break` out of it); each receiving loop either leaves only from a `select` case that
received that last word (`drainRead`), or its function defers, before the loop, a call of a
method of the file whose loop does so (`defer c.drainRead()`), unconditionally or under a local
flag that turns false only in a case that received the last word. A flag cleared elsewhere (the
stop case too), or a drain that also gives up on a timeout, stays reported.
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    if cx.index.send_statements.is_empty() {
        return;
    }
    let defaults = select_defaults(cx);
    for goroutine in goroutine_bodies(cx.model, &cx.index) {
        let Some(body) = goroutine.function.field("body") else {
            continue;
        };
        let mut sends = Vec::new();
        walk_body(body, |n| {
            if n.kind_str() == "send_statement" {
                sends.push(n);
            }
        });
        for send in sends {
            check_send(cx, &defaults, goroutine, send, out);
        }
    }
    // Sets, not lists: a function of thousands of sends asked a list of as many findings.
    let reported = reported_starts(out);
    for &send in &cx.index.send_statements {
        if !reported.contains(&send.start_byte()) && !cx.is_skipped(send.start_byte()) {
            check_field_send(cx, send, out);
        }
    }
    let reported = reported_starts(out);
    let mut defaults_reported: Vec<usize> = Vec::new();
    for &send in &cx.index.send_statements {
        if !reported.contains(&send.start_byte())
            && !cx.is_skipped(send.start_byte())
            && in_select_default(&defaults, send)
        {
            check_default_send(cx, send, &mut defaults_reported, out);
        }
    }
}

/// Where this rule's findings so far start.
fn reported_starts(out: &[Finding]) -> crate::HashSet<usize> {
    out.iter()
        .filter(|f| f.rule == META.id)
        .map(|f| f.range.start)
        .collect()
}

/// The `default` cases of the file's `select` statements: a send outside all of them needs no
/// walk up its ancestors for one (thousands deep in a long `else if` chain, for each send).
fn select_defaults(cx: &Context) -> Spans {
    let mut spans = Vec::new();
    walk(cx.model.root, |n| {
        if n.kind_str() == "default_case"
            && n.parent_node()
                .is_some_and(|p| p.kind_str() == "select_statement")
        {
            spans.push(n.byte_span());
        }
        true
    });
    Spans::new(spans)
}

/// Is `send` inside the `default` case of some `select`?
fn in_select_default(defaults: &Spans, send: Node) -> bool {
    defaults.overlaps(send.start_byte(), send.start_byte() + 1)
}

fn check_send<'t>(
    cx: &Context<'_, 't>,
    defaults: &Spans,
    goroutine: GoroutineBody<'t>,
    send: Node<'t>,
    out: &mut Vec<Finding>,
) {
    let lit = goroutine.function;
    if send
        .parent_node()
        .is_some_and(|p| p.kind_str() == "communication_case")
    {
        return;
    }
    // In the `default` of a `select` with a stop case: `check_default_send` says why.
    if in_select_default(defaults, send)
        && default_around(send).is_some_and(|(select, _)| stop_case_of(cx, select).is_some())
    {
        return;
    }
    // `send` is inside `lit`, a function literal: a loop of the literal is a loop of its own.
    if goconc_syntax::enclosing_loop(send).is_none() {
        return;
    }
    let Some(written) = send.field("channel").map(unparen) else {
        return;
    };
    let Some(value) = send.field("value") else {
        return;
    };
    if !matches!(written.kind_str(), "identifier" | "selector_expression") {
        return;
    }
    // `go func(ch chan<- T) { … ch <- v … }(out)`: the parameter is `out`, seen from outside.
    let channel = goroutine
        .start
        .and_then(|start| argument_for_parameter(cx, lit, start, written))
        .unwrap_or(written);
    // What the goroutine declares itself: a literal's parameters too (unless followed to the
    // argument above); a function started by name gets its parameters from its starter.
    let own_scope = match lit.kind_str() {
        "func_literal" => Some(lit),
        _ => lit.field("body"),
    };
    let local = cx.channels.of_expr(cx.model, channel);
    if let Some(ch) = local {
        if ch.capacity != Capacity::Unbuffered {
            return;
        }
        // Drained by the function that made it: a range with no way out.
        if !ch.escaped() {
            let drained = ch
                .parent_ops()
                .any(|op| op.kind == OpKind::Range && !loop_can_stop(op.node));
            if drained {
                return;
            }
        }
    } else if channel.kind_str() == "identifier" {
        // A channel of the goroutine's own making: its consumer is the goroutine's business.
        if cx.model.resolve(channel).is_some_and(|d| {
            own_scope.is_some_and(|scope| goconc_syntax::is_within(d.ident, scope))
        }) {
            return;
        }
    }
    // A token passed back and forth (`s := <-h.s; …; h.s <- s`) is a lock, not a stream.
    if receives_from(cx, lit, text(written, cx.src)) {
        return;
    }
    let Some(cancel) = cancel_in_scope(cx, send) else {
        return;
    };
    // `done <- true`: the send is the signal itself.
    if cancel.name == text(written, cx.src) || cancel.name == text(channel, cx.src) {
        return;
    }
    let Some(evidence) = receiver_can_stop(cx, lit, send, channel, local) else {
        return;
    };
    let message = format!(
        "bare send on `{}` in a goroutine's loop: {}, and then this send blocks forever, though `{}` is in scope to abandon it",
        text(written, cx.src),
        evidence.describe(cx),
        cancel.name,
    );
    let mut finding = META.finding(send.byte_span(), message);
    if let Some(node) = evidence.node() {
        finding = finding.with_related(node.byte_span(), evidence.related());
    }
    if lit.field("result").is_none() && starts_own_line(cx.src, send) {
        finding = with_abandon_fix(cx, finding, send, written, value, &cancel);
    }
    out.push(finding);
}

/// What shows that the receiving side can stop reading while the goroutine still sends.
#[derive(Clone)]
enum Evidence<'t> {
    /// The function that made the channel reads it in a loop that can be left (`return`,
    /// `break`, another `select` case).
    ReceiverLoopStops(Node<'t>),
    /// The channel is handed to a call whose results a loop that can be left reads
    /// (`for r := range remove(ch) { if r.Err != nil { return } }`).
    ConsumerLoopStops(Node<'t>),
    /// The function returns the channel, and a caller in the package reads it in a loop that
    /// can be left.
    CallerLoopStops(String),
    /// Another send on the same channel abandons it on cancellation (`select { case ch <- v:
    /// case <-ctx.Done(): }`): the code already expects the receiver to stop.
    SiblingSendAbandons(Node<'t>),
    /// The channel is handed to a function of the package that abandons its sends on it.
    HandedToAbandoningCallee(Node<'t>, String),
    /// The channel comes with a done channel from the same caller: closing it is how the
    /// receiving side says it stopped reading.
    DoneHandedAlong(Node<'t>),
    /// The sending loop never ends: the receiver has to stop first.
    EndlessProducer(Node<'t>),
}

impl<'t> Evidence<'t> {
    fn node(&self) -> Option<Node<'t>> {
        match self {
            Evidence::ReceiverLoopStops(n)
            | Evidence::ConsumerLoopStops(n)
            | Evidence::SiblingSendAbandons(n)
            | Evidence::HandedToAbandoningCallee(n, _)
            | Evidence::DoneHandedAlong(n)
            | Evidence::EndlessProducer(n) => Some(*n),
            Evidence::CallerLoopStops(_) => None,
        }
    }

    fn describe(&self, cx: &Context) -> String {
        let line = self.node().map(|n| LineOf(n.start_byte()));
        let line = line.map(|l| l.to_string()).unwrap_or_default();
        match self {
            Evidence::ReceiverLoopStops(_) => {
                format!("the loop that receives it (line {line}) can stop reading")
            }
            Evidence::ConsumerLoopStops(_) => {
                format!("the loop that consumes it (line {line}) can stop reading")
            }
            Evidence::CallerLoopStops(callee) => format!(
                "a caller of `{callee}` reads the channel it returns in a loop that can stop reading"
            ),
            Evidence::SiblingSendAbandons(_) => format!(
                "the receiver can stop reading (the send on line {line} abandons the same channel on cancellation)"
            ),
            Evidence::HandedToAbandoningCallee(_, callee) => format!(
                "the receiver can stop reading (`{callee}`, which it is handed to on line {line}, abandons its sends on cancellation)"
            ),
            Evidence::DoneHandedAlong(n) => format!(
                "the receiver can stop reading and close `{}` (line {line})",
                text(*n, cx.src)
            ),
            Evidence::EndlessProducer(_) => format!(
                "the loop (line {line}) never runs out of values, so the receiver stops reading first"
            ),
        }
    }

    fn related(&self) -> &'static str {
        match self {
            Evidence::ReceiverLoopStops(_)
            | Evidence::ConsumerLoopStops(_)
            | Evidence::CallerLoopStops(_) => "this loop can stop reading",
            Evidence::SiblingSendAbandons(_) => "this send gives up when cancelled",
            Evidence::HandedToAbandoningCallee(..) => {
                "handed to a function that gives up when cancelled"
            }
            Evidence::DoneHandedAlong(_) => "the receiving side's stop signal",
            Evidence::EndlessProducer(_) => "this loop has no end",
        }
    }
}

/// The argument a `go func(p T){…}(arg)` passes for the literal's parameter `ident` names.
fn argument_for_parameter<'t>(
    cx: &Context<'_, 't>,
    lit: Node<'t>,
    start: Node<'t>,
    ident: Node<'t>,
) -> Option<Node<'t>> {
    if ident.kind_str() != "identifier" || start.kind_str() != "go_statement" {
        return None;
    }
    let decl = cx.model.resolve(ident)?;
    if decl.kind != DeclKind::Param || decl.function != cx.model.function_index(lit)? {
        return None;
    }
    let params = lit.field("parameters")?;
    let mut index = 0;
    let mut position = None;
    for param in named_children(params) {
        for name in names_of(param) {
            if name == decl.ident {
                position = Some(index);
            }
            index += 1;
        }
    }
    let call = named_children(start).next().map(unparen)?;
    let args = call_args(call);
    let arg = unparen(*args.get(position?)?);
    matches!(arg.kind_str(), "identifier" | "selector_expression").then_some(arg)
}

/// Evidence that the channel's receiving side can stop reading while the goroutine sends.
fn receiver_can_stop<'t>(
    cx: &Context<'_, 't>,
    lit: Node<'t>,
    send: Node<'t>,
    channel: Node<'t>,
    local: Option<&LocalChannel<'t>>,
) -> Option<Evidence<'t>> {
    // `for { ch <- next() }`: values never run out, so the receiver stops first.
    if let Some(lp) = goconc_syntax::enclosing_loop(send).filter(|lp| is_endless(*lp)) {
        return Some(Evidence::EndlessProducer(lp));
    }
    let top = top_function(lit);
    if let Some(ch) = local {
        for op in ch.ops.iter().filter(|op| !op.in_closure) {
            // Receives on the sending goroutine itself are the token idiom, passed over above.
            if op.goroutine.is_some_and(|g| g.literal == lit) {
                continue;
            }
            match op.kind {
                OpKind::Range if loop_can_stop(op.node) => {
                    return Some(Evidence::ReceiverLoopStops(op.node))
                }
                OpKind::Receive => {
                    let leaves = op.select.is_some_and(|s| s.can_leave());
                    if let Some(lp) = op.loop_stmt.filter(|lp| leaves || loop_can_stop(*lp)) {
                        return Some(Evidence::ReceiverLoopStops(lp));
                    }
                }
                _ => {}
            }
        }
        for escape in &ch.escapes {
            match escape.kind {
                EscapeKind::CallArgument => {
                    if let Some(lp) = consuming_loop(escape.ident).filter(|lp| loop_can_stop(*lp)) {
                        return Some(Evidence::ConsumerLoopStops(lp));
                    }
                }
                EscapeKind::Returned => {
                    if let Some(key) = function_key(cx.model, top) {
                        if cx.model.package.is_result_read_until_stop(&key) {
                            return Some(Evidence::CallerLoopStops(key));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    let key = chan_key(cx.model, channel)?;
    let is_channel = |n: Node<'t>| chan_key(cx.model, n).as_ref() == Some(&key);
    if let Some(evidence) = abandoning_send(cx, top, &is_channel, send) {
        return Some(evidence);
    }
    let returned =
        local.is_some_and(|ch| ch.escapes.iter().any(|e| e.kind == EscapeKind::Returned));
    done_handed_along(cx, top, channel, returned).map(Evidence::DoneHandedAlong)
}

/// A loop with no condition and no way out: `for { … }`, `for i := 0; ; i++ { … }`.
fn is_endless(for_stmt: Node) -> bool {
    let has_condition = named_children(for_stmt).any(|n| match n.kind_str() {
        "block" => false,
        "for_clause" => n.field("condition").is_some(),
        _ => true,
    });
    !has_condition && !loop_can_stop(for_stmt)
}

/// The outermost function declaration (or literal at top level) around a node.
fn top_function(node: Node) -> Node {
    let mut top = node;
    while let Some(f) = goconc_syntax::enclosing_function(top) {
        top = f;
    }
    top
}

/// The loop whose header calls the function that `arg` is an argument of: `for r := range
/// consume(ch)`, `for v := consume(ch); …`.
fn consuming_loop(arg: Node) -> Option<Node> {
    let mut node = arg;
    for _ in 0..6 {
        let parent = node.parent_node()?;
        match parent.kind_str() {
            "range_clause" | "for_clause" => {
                return parent
                    .parent_node()
                    .filter(|p| p.kind_str() == "for_statement")
            }
            "for_statement" => return Some(parent),
            "block" | "expression_statement" | "statement_list" => return None,
            _ => node = parent,
        }
    }
    None
}

/// A send on the channel (as `is_channel` tells) within `function` that is a `select` case
/// beside a cancellation case, or a call there that hands the channel to a function of the
/// package that abandons its sends on it (through the package's facts).
fn abandoning_send<'t>(
    cx: &Context<'_, 't>,
    function: Node<'t>,
    is_channel: &dyn Fn(Node<'t>) -> bool,
    skip: Node<'t>,
) -> Option<Evidence<'t>> {
    let mut found = None;
    walk(function, |n| {
        if found.is_some() {
            return false;
        }
        match n.kind_str() {
            "send_statement" if n != skip => {
                let abandons = n.field("channel").map(unparen).is_some_and(is_channel)
                    && n.parent_node().is_some_and(|case| {
                        case.kind_str() == "communication_case"
                            && case.parent_node().is_some_and(|select| {
                                named_children(select).any(|c| {
                                    c != case
                                        && c.field("communication")
                                            .is_some_and(|m| is_cancel_receive(cx.model, m))
                                })
                            })
                    });
                if abandons {
                    found = Some(Evidence::SiblingSendAbandons(n));
                }
            }
            "call_expression" => {
                for (i, arg) in call_args(n).into_iter().enumerate() {
                    if !is_channel(unparen(arg)) {
                        continue;
                    }
                    if let Some(key) = callee_key(cx, n) {
                        if cx.model.package.abandons_param(&key, i) {
                            found = Some(Evidence::HandedToAbandoningCallee(n, key));
                            break;
                        }
                    }
                }
            }
            _ => {}
        }
        true
    });
    found
}

/// The package function or method a call names, by summary key (`scan`, `walker.scan`).
fn callee_key(cx: &Context, call: Node) -> Option<String> {
    let function = unparen(call.field("function")?);
    match function.kind_str() {
        "identifier" if cx.model.resolve(function).is_none() => {
            let name = text(function, cx.src);
            cx.model.package.func(name)?;
            Some(name.to_string())
        }
        "selector_expression" => {
            let operand = function.field("operand")?;
            let method = text(function.field("field")?, cx.src);
            match cx.model.type_of(operand).deref() {
                Ty::Named { pkg, name } if pkg.is_empty() => Some(format!("{name}.{method}")),
                _ => None,
            }
        }
        _ => None,
    }
}

/// `func f(out chan<- T, done <-chan struct{})`, `func f(done <-chan struct{}) <-chan T`: the
/// channel is a parameter of the declared function, or the channel it returns, and the same
/// caller hands it a done channel.
fn done_handed_along<'t>(
    cx: &Context<'_, 't>,
    top: Node<'t>,
    channel: Node<'t>,
    returned: bool,
) -> Option<Node<'t>> {
    if channel.kind_str() != "identifier" {
        return None;
    }
    let decl = cx.model.resolve(channel)?;
    let function = cx.model.function_index(top)?;
    let own_param = decl.kind == DeclKind::Param && decl.function == function;
    if !own_param && !returned {
        return None;
    }
    cx.model
        .decls()
        .iter()
        .filter(|d| d.function == function && d.kind == DeclKind::Param)
        .find(|d| is_done_channel(&d.ty, d.name))
        .map(|d| d.ident)
}

/// `select { case ch <- v: case <-ctx.Done(): return }` in place of the bare send.
fn with_abandon_fix(
    cx: &Context,
    finding: Finding,
    send: Node,
    channel: Node,
    value: Node,
    cancel: &Cancel,
) -> Finding {
    let indent = line_indent(cx.src, send.start_byte());
    let nl = newline(cx.src);
    let recv = if cancel.is_context {
        format!("{}.Done()", cancel.name)
    } else {
        cancel.name.clone()
    };
    let new_text = format!(
        "select {{{nl}{indent}case {} <- {}:{nl}{indent}case <-{recv}:{nl}{indent}\treturn{nl}{indent}}}",
        text(channel, cx.src),
        text(value, cx.src),
    );
    // Unsafe: the goroutine now gives up its value when cancelled, which the receiver may
    // have counted on.
    finding.with_unsafe_fix(
        format!("Abandon the send when `{}` is cancelled", cancel.name),
        vec![TextEdit {
            range: send.byte_span(),
            new_text,
        }],
    )
}

struct Cancel {
    name: String,
    is_context: bool,
}

/// A `context.Context` or a done channel visible at the send (declared outside the goroutine or
/// as one of its parameters). A context bound to `context.Background()` or `TODO()` is never
/// cancelled: it is no means to abandon anything.
fn cancel_in_scope(cx: &Context, send: Node) -> Option<Cancel> {
    let at = send.start_byte();
    let mut best: Option<(usize, Cancel)> = None;
    for decl in cx.model.decls() {
        if !(decl.visible.start <= at && at < decl.visible.end) {
            continue;
        }
        // The name must really resolve to this declaration at the send.
        if cx.model.resolve_name(decl.name, at).map(|d| d.ident) != Some(decl.ident) {
            continue;
        }
        let cancel = if decl.ty.deref().is_named("context", "Context") {
            if never_cancelled(cx, decl) {
                continue;
            }
            Cancel {
                name: decl.name.to_string(),
                is_context: true,
            }
        } else if is_done_channel(&decl.ty, decl.name) && decl.kind != DeclKind::LoopVar {
            Cancel {
                name: decl.name.to_string(),
                is_context: false,
            }
        } else {
            continue;
        };
        let rank = decl.visible.start;
        if best
            .as_ref()
            .is_none_or(|(r, c)| (cancel.is_context, rank) > (c.is_context, *r))
        {
            best = Some((rank, cancel));
        }
    }
    best.map(|(_, c)| c)
}

/// `ctx := context.Background()` (or `TODO()`), or a context variable assigned one in its
/// function.
fn never_cancelled(cx: &Context, decl: &goconc_model::Decl) -> bool {
    let is_root = |value: Node| {
        let value = unparen(value);
        value.kind_str() == "call_expression"
            && value.field("function").is_some_and(|f| {
                matches!(
                    cx.model.qualified_name(f, "context"),
                    Some("Background" | "TODO")
                )
            })
    };
    if decl.init.is_some_and(is_root) {
        return true;
    }
    let Some(body) = cx.model.functions.get(decl.function).and_then(|f| f.body) else {
        return false;
    };
    let mut assigned = false;
    walk_body(body, |n| {
        if assigned || n.kind_str() != "assignment_statement" {
            return;
        }
        let (Some(left), Some(right)) = (n.field("left"), n.field("right")) else {
            return;
        };
        let targets: Vec<Node> = named_children(left).collect();
        let values: Vec<Node> = named_children(right).collect();
        assigned = targets.len() == values.len()
            && targets.iter().zip(&values).any(|(t, v)| {
                cx.model.resolve(*t).map(|d| d.ident) == Some(decl.ident) && is_root(*v)
            });
    });
    assigned
}

/// `done chan struct{}`, `stop <-chan struct{}`, `quit chan bool`…
fn is_done_channel(ty: &Ty, name: &str) -> bool {
    let Ty::Chan(elem) = ty else { return false };
    let named = goconc_model::words::STOP_CHANNEL.in_identifier(name);
    named && (matches!(**elem, Ty::Struct(ref f) if f.is_empty()) || elem.is_named("", "bool"))
}

/// Does the goroutine receive from the channel it sends on?
fn receives_from(cx: &Context, lit: Node, channel: &str) -> bool {
    let mut found = false;
    if let Some(body) = lit.field("body") {
        walk_body(body, |n| {
            if !found
                && n.kind_str() == "unary_expression"
                && n.field("operator").is_some_and(|o| text(o, cx.src) == "<-")
                && n.field("operand")
                    .is_some_and(|o| text(unparen(o), cx.src) == channel)
            {
                found = true;
            }
        });
    }
    found
}

fn starts_own_line(src: &str, node: Node) -> bool {
    let start = goconc_syntax::line_start(src, node.start_byte());
    src.get(start..node.start_byte())
        .is_some_and(|s| s.trim().is_empty())
}
