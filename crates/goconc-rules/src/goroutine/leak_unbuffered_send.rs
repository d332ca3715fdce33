//! `goroutine-leak-unbuffered-send`: a goroutine sends once on an unbuffered channel, and the
//! function that started it can return without receiving (a timeout or `ctx.Done()` case of a
//! `select`, or an early return): the sender blocks forever.

use crate::finding::LineOf;
use crate::finding::{Finding, Severity, TextEdit};
use crate::{Context, Family, RuleMeta};
use goconc_model::channels::{EscapeKind, LocalChannel, OpKind};
use goconc_model::flow::MAX_FOLLOWED;
use goconc_model::DeclKind;
use goconc_syntax::text;
use goconc_syntax::NodeExt;

use crate::messages::{function_name, how_it_leaves};
use goconc_model::channels::senders::{
    go_statement, is_single_blocking_send, left_behind, lone_sender_to_parent,
};
use goconc_syntax::closing_paren;
use tree_sitter::Node;

pub static META: RuleMeta = RuleMeta {
    id: "goroutine-leak-unbuffered-send",
    family: Family::Goroutine,
    severity: Severity::Warning,
    summary: "A goroutine sends on an unbuffered channel whose receiver can leave first (a `select` with a timeout, `ctx.Done()` or another return path): the sender blocks forever.",
    fix: Some("make the channel buffered: `make(chan T, 1)`"),
    doc: r#"
## Why it matters
A send on an unbuffered channel completes only when someone receives. When the function that
started the goroutine gives up waiting — its `select` takes the timeout or `ctx.Done()` case, or
an error path returns before the receive — nobody will ever receive, and the goroutine stays
blocked on its send for the life of the process, holding everything it references. This is the
most common goroutine leak in real Go services.

## Example
```go
func fetch(ctx context.Context, url string) (*Page, error) {
	ch := make(chan result)
	go func() {
		p, err := download(url)
		ch <- result{p, err}
	}()
	select {
	case r := <-ch:
		return r.page, r.err
	case <-ctx.Done():
		return nil, ctx.Err() // the goroutine is left blocked on its send
	}
}
```
```go
func fetch(ctx context.Context, url string) (*Page, error) {
	ch := make(chan result, 1)
	go func() {
		p, err := download(url)
		ch <- result{p, err}
	}()
	select {
	case r := <-ch:
		return r.page, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
```

## Fix
Give the channel a buffer of one: the single send then always completes, whether or not anyone
receives, and the goroutine exits. The finding sits on the `make` call, where the fix goes (the
send and the exit that leaves it behind are its related places); the quick fix rewrites
`make(chan T)` to `make(chan T, 1)`.

Channels that one way out of the function leaves behind together (a test that starts a reader
and a writer and calls `t.Fatal` when neither reports in time) are one defect: one finding on
the first `make`, naming every channel, with the other `make`s and every send as related places
and one fix that buffers them all. Channels left by different exits are separate findings.

## A table of channels, one per element
A table test often keeps a channel in each row: `rows[i].result = make(chan error)` in a loop
over the rows, one goroutine per row that sends its row's result once (`for _, row := range
rows { row := row; go func() { row.result <- check(row) }() }`), and a later loop that receives
from each row in turn. When that loop can leave early — a `t.Fatal`, a `return`, a `break` out
of it — the goroutines of the rows it has not reached block forever on their sends. The finding
sits on the `make` (the `go` statement, the sends and the way out are its related places); the
quick fix gives each row's channel a buffer of one. It is reported only when the whole picture
is in view: the slice is a local of the function, every use of the field is that `make` (a
statement of its own in a loop over every index), a send of the goroutine one later loop
starts per element (through the range value, a copy of it made in the loop's body, or the
loop's index), or a receive in one later loop of the function itself; and the slice and its
elements are otherwise only ranged over, measured, or read for other fields. It stays silent
when the channel is buffered; when the slice, an element or the field is handed to a call,
stored, returned or used by another closure (a helper that may drain the rest); when a
goroutine can send more than once (sends in a loop, unless the goroutine returns right after)
or sends inside a `select`; when the receiving loop has no way out but its end (it reads every
row before judging any, or reports with `t.Error`); and when a `goto` makes the way out unclear.

## Across a call: a dropped channel
A function that makes an unbuffered channel, starts a goroutine that sends on it, and returns
it (`func checksumAsync(…) <-chan int`) leaves the receive to its caller. A call that drops the
result (`checksumAsync(data)` as a statement, `_ = checksumAsync(data)`, `go`/`defer
checksumAsync(data)`) leaves nobody who can ever receive: the goroutine blocks forever on its
send. So does a caller that receives only in one `select` with another case or a `default`
(`case v := <-checksumAsync(data):` beside `case <-ctx.Done():`, or `ch := checksumAsync(data)`
whose only uses are such cases), when that other case is taken. Both findings are `error`s on
the call (the other case is the related place); the fix is in the function (a buffer of
one) or the caller (receive, or stop calling it). A caller that keeps the channel (`sum :=
checksumAsync(data)`), receives it only with plain receives on its own goroutine, and has a way
out the call reaches before any receive (an early `return`, its end, `t.Fatal`) leaves the
goroutine blocked too when it takes that way: a warning on the call, with each such way out as
a related place (silent when every way out after the call receives, when the way out ends the
program, and when the call sits in a loop). It stays silent when the function's channel
is buffered, when its goroutine's sends can give up (inside a `select` with another case), and
when the function does anything else with the channel (stores it, hands it to a call, receives
from it, passes it to the goroutine as an argument); and, at the caller, when the channel is
used in any other way (received after the `select`, handed to a goroutine that drains it), or
the `select` sits in a loop that comes back to it.

## A sender started by name
`errc := make(chan error); go run(errc)` (or `go s.probe(errc)`) is the same shape when `run`, a
function or method of the package, uses that parameter for one bare send and nothing else (not
in a loop, not a `select` case, not in a function literal, no `close`): the goroutine sends
once, and the parent, which only receives the channel, can leave without receiving. Same
severity, place and fix as above. It stays silent when the callee gives its send up (a `select`
with another case), sends more than once or in a loop, closes the channel or hands it on; when
the parent does anything but receive it; when the `go` is in a loop with the channel made
outside it; and when the callee is not the package's own (another package, a function value).

## Returned, and sent on only once the caller's context is done
A function that takes `ctx context.Context`, makes an unbuffered channel, returns it, and starts
a goroutine whose send on it sits inside that goroutine's `case <-ctx.Done():` sends exactly
when a caller sharing `ctx` that waits with `select { case v := <-ch: … case <-ctx.Done(): … }`
has stopped receiving: the goroutine blocks forever. A warning on the `make` (the case and the
send are its related places): the harm needs a caller that waits that way, which the function
cannot see; the quick fix gives the channel a buffer of one. It stays silent when the channel is
buffered, when the function also receives it, stores it or hands it to a call, when the send is
itself a `select` case that can give up, when the goroutine only closes the channel on
cancellation, and when the context is not a parameter of the function (a context it makes
itself, whose end says nothing about the caller).

## When it stays silent
- The channel is buffered, or its capacity is not a constant.
- Every path from the `go` statement to a return receives from the channel (`t.Fatal` and
  `t.FailNow` count as leaving: they end the test's goroutine and leave the sender blocked;
  `os.Exit`, `log.Fatal` and `panic` end the program).
- A return reached only through an `if` that reads what a `v, ok := <-ch` said (`ok`, or a
  variable assigned from it such as `done = !ok`) when the goroutine closes the channel on its
  way out (`defer close(ch)`): the loop drains the channel until the sender is gone. A return
  gated on the other channel's `ok` is still reported.
- The goroutine can send more than once (sends on exclusive paths count as one: each but the
  last followed by `return`, or on different arms of an `if`/`else` or cases of a `switch`),
  sends in a loop, or inside a `select` that can give up.
- Several goroutines send on the channel and the parent receives it after the loop that starts
  them (see `goroutine-leak-ncast`): a `go` in a loop with the channel made outside it, and a
  receive outside that loop. A channel made in the same iteration as its goroutine is one
  channel per goroutine, and an iteration that goes on without receiving leaves that sender
  behind.
- A `go` in a loop with the channel made before the loop, when every receive sits in that same
  loop (a loop that starts a worker and waits for its report beside other cases): only a
  `return` inside the loop that the path from the `go` reaches without receiving is reported
  (`case <-quit: return` while the worker may still report); past the loop, a later
  iteration's receive may have taken the value, so the end of the loop is not counted. A stop
  case that first drains the worker only when one is running (`if running { <-failed }`) is
  not told apart from one that does not: make the channel buffered instead.
- The channel escapes: passed to a function (other than a sender started by name, above),
  stored, returned, used in another closure, received elsewhere or closed by the parent.
- The function makes more than 64 channels: its senders are not followed (each is followed
  over the whole function; no function of the pinned projects or the standard library has
  more than two such senders).
"#,
};

mod table;

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    check_dropped_results(cx, out);
    if cx.index.go_statements.is_empty() {
        return;
    }
    table::check(cx, out);
    // Each channel's sender is followed over its whole function: past this many channels in
    // one function that is quadratic (4,000 channels made and sent on: 12.7 s), and no
    // function of the corpus has more than 2.
    let mut channels_of: crate::HashMap<usize, usize> = crate::HashMap::default();
    for ch in cx.channels.iter() {
        *channels_of.entry(ch.function).or_default() += 1;
    }
    let mut leaks = Vec::new();
    for ch in cx.channels.iter() {
        let followed = channels_of[&ch.function] <= MAX_FOLLOWED;
        if followed {
            leaks.extend(channel_leak(cx, ch));
        }
        check_returned_after_cancel(cx, ch, out);
        if followed {
            check_named_sender(cx, ch, out);
        }
    }
    report_leaks(cx, leaks, out);
}

/// A goroutine's lone send on a channel of its parent, left blocked when the parent leaves by
/// one of `exits` (or by going on to its next iteration) without receiving.
struct Leak<'c, 't> {
    ch: &'c LocalChannel<'t>,
    sends: Vec<Node<'t>>,
    /// The `return`s, stopping calls and body ends that leave the sender behind, first found
    /// first; empty when the way out is the next iteration.
    exits: Vec<Node<'t>>,
    /// The loop whose next iteration leaves the sender, when that is the way out.
    next_iteration_of: Option<usize>,
}

/// Leaks that share a way out: the function's first exit common to all of them.
struct LeakGroup<'c, 't> {
    leaks: Vec<Leak<'c, 't>>,
    exit: Option<Node<'t>>,
}

/// One finding per way out: channels a function abandons by the same `return`, stopping call or
/// iteration are one defect with one fix (their buffers), reported on the first `make`.
fn report_leaks(cx: &Context, leaks: Vec<Leak>, out: &mut Vec<Finding>) {
    let mut groups: Vec<LeakGroup> = Vec::new();
    // The groups of each function: only those can take a leak of it.
    let mut of_function: crate::HashMap<usize, Vec<usize>> = crate::HashMap::default();
    for leak in leaks {
        let candidates = of_function.entry(leak.ch.function).or_default();
        // The first group of the function with the same way out: the next iteration of the
        // same loop, or an exit every member shares with this leak.
        let joined = candidates.iter().copied().find_map(|i| {
            let group = &groups[i];
            let first = group.leaks.first()?;
            if first.next_iteration_of != leak.next_iteration_of {
                return None;
            }
            if leak.exits.is_empty() && group.exit.is_none() {
                return Some((i, None));
            }
            let common = group
                .leaks
                .iter()
                .fold(leak.exits.clone(), |mut common, member| {
                    common.retain(|e| member.exits.contains(e));
                    common
                });
            Some((i, Some(*common.first()?)))
        });
        match joined {
            Some((i, exit)) => {
                let group = &mut groups[i];
                if exit.is_some() {
                    group.exit = exit;
                }
                group.leaks.push(leak);
            }
            None => {
                candidates.push(groups.len());
                groups.push(LeakGroup {
                    exit: leak.exits.first().copied(),
                    leaks: vec![leak],
                });
            }
        }
    }
    for mut group in groups {
        group
            .leaks
            .sort_by_key(|leak| leak.ch.make_call.start_byte());
        if let Some(finding) = leak_finding(cx, &group) {
            out.push(finding);
        }
    }
}

/// "send on line 75", "send on line 75 (or on lines 80, 84)".
fn sends_text(sends: &[Node]) -> String {
    let Some((first, rest)) = sends.split_first() else {
        return String::new();
    };
    let first = LineOf(first.start_byte());
    let others: Vec<String> = rest
        .iter()
        .map(|s| LineOf(s.start_byte()).to_string())
        .collect();
    match others.len() {
        0 => format!("on line {first}"),
        1 => format!("on line {first} (or on line {})", others[0]),
        _ => format!("on line {first} (or on lines {})", others.join(", ")),
    }
}

/// "`a`", "`a` and `b`", "`a`, `b` and `c`".
fn names_text(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, init)) => format!("{} and {last}", init.join(", ")),
    }
}

fn leak_finding(cx: &Context, group: &LeakGroup) -> Option<Finding> {
    let exit = group.exit;
    let how = how_it_leaves(cx, exit, group.exit.is_none())?;
    let group = &group.leaks[..];
    let first = group.first()?;
    let names: Vec<&str> = group.iter().map(|leak| leak.ch.name).collect();
    let function = function_name(cx.model, first.ch.function);
    let message = match group {
        [leak] => format!(
            "`{}` is unbuffered: the goroutine's send {} blocks forever when {function} {how} without receiving",
            leak.ch.name,
            sends_text(&leak.sends),
        ),
        _ => {
            let sends: Vec<String> = group.iter().map(|l| sends_text(&l.sends)).collect();
            format!(
                "{} are unbuffered: the goroutines' sends {} block forever when {function} {how} without receiving",
                names_text(&names),
                sends.join(" and "),
            )
        }
    };
    // The finding sits on the first `make`, where the fix goes; the sends, the other `make`s
    // and the exit are related.
    let mut finding = META.finding(first.ch.make_call.byte_span(), message);
    for leak in group {
        if leak.ch.make_call != first.ch.make_call {
            finding = finding.with_related(
                leak.ch.make_call.byte_span(),
                format!("`{}` is made here, unbuffered too", leak.ch.name),
            );
        }
        for (i, send) in leak.sends.iter().enumerate() {
            let note = match i {
                0 => "the goroutine blocks forever here",
                _ => "or here",
            };
            finding = finding.with_related(send.byte_span(), note);
        }
    }
    if let Some(exit) = exit {
        finding = finding.with_related(exit.byte_span(), "leaves without receiving");
    }
    let edits: Option<Vec<TextEdit>> = group.iter().map(|l| buffer_of_one(cx, l.ch)).collect();
    if let Some(edits) = edits {
        let title = match group {
            [leak] => format!(
                "Make `{}` buffered: `make({}, 1)`",
                leak.ch.name,
                text(leak.ch.chan_type, cx.src)
            ),
            _ => format!(
                "Make {} buffered, with room for one value each",
                names_text(&names)
            ),
        };
        finding = finding.with_unsafe_fix(title, edits);
    }
    Some(finding)
}

/// `errc := make(chan error); go run(errc)` where `run` (a function or method of the package)
/// uses that parameter for one bare send and nothing else: the goroutine sends once, the parent
/// is the only receiver, and a path from the `go` to a return that does not receive leaves it
/// blocked.
fn check_named_sender(cx: &Context, ch: &LocalChannel, out: &mut Vec<Finding>) {
    if !ch.is_unbuffered() || ch.escapes.len() != 1 {
        return;
    }
    let escape = ch.escapes[0];
    if escape.kind != EscapeKind::CallArgument {
        return;
    }
    // Everything else the parent does with the channel is receive it, on its own goroutine.
    if !ch
        .ops
        .iter()
        .all(|op| op.kind == OpKind::Receive && op.goroutine.is_none() && !op.in_closure)
        || ch.ops.is_empty()
    {
        return;
    }
    let Some(args) = escape
        .ident
        .parent_node()
        .filter(|p| p.kind_str() == "argument_list")
    else {
        return;
    };
    let Some(call) = args
        .parent_node()
        .filter(|c| c.kind_str() == "call_expression")
    else {
        return;
    };
    let Some(go) = call
        .parent_node()
        .filter(|g| g.kind_str() == "go_statement")
    else {
        return;
    };
    if cx.model.function_of(go) != Some(ch.function) {
        return;
    }
    let Some(position) = goconc_syntax::named_children(args).position(|a| a == escape.ident) else {
        return;
    };
    let Some(key) = go_callee_key(cx, call) else {
        return;
    };
    let sends_once = cx
        .model
        .package
        .go_facts(&key)
        .is_some_and(|f| f.sends_once_params.contains(&position));
    if !sends_once {
        return;
    }
    let lp = goconc_syntax::enclosing_loop(go);
    if lp.is_some_and(|lp| !goconc_syntax::is_within(ch.ident, lp)) {
        // Several senders share the channel: goroutine-leak-ncast's question.
        return;
    }
    let Some(left) = left_behind(cx.model, ch, go) else {
        return;
    };
    let exit =
        left.exits.iter().copied().find(|e| {
            !left.next_iteration || lp.is_some_and(|lp| goconc_syntax::is_within(*e, lp))
        });
    let Some(how) = how_it_leaves(cx, exit, left.next_iteration) else {
        return;
    };
    let callee = call.field("function").map_or("", |f| text(f, cx.src));
    let message = format!(
        "`{}` is unbuffered: `{callee}`, started on line {}, sends on it once and blocks forever when {} {how} without receiving",
        ch.name,
        LineOf(go.start_byte()),
        function_name(cx.model, ch.function),
    );
    let finding = META
        .finding(ch.make_call.byte_span(), message)
        .with_related(go.byte_span(), "the goroutine that sends starts here");
    out.push(with_exit_and_buffer(cx, ch, exit, finding));
}

/// The summary key of the package function or method a `go` statement calls: `run` (not
/// shadowed by a local), `Server.loop` for `s.loop(…)` with `s` of the package's type `Server`.
fn go_callee_key(cx: &Context, call: Node) -> Option<String> {
    let function = goconc_syntax::unparen(call.field("function")?);
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
                goconc_model::Ty::Named { pkg, name } if pkg.is_empty() => {
                    Some(goconc_model::summary::summary_key(Some(name), method))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// A function that takes `ctx`, makes an unbuffered channel, starts a goroutine that sends on it
/// once, and returns it: when that send runs only after `ctx` is done (inside the goroutine's
/// `case <-ctx.Done():`), it runs exactly when a caller that shares `ctx` and waits with
/// `select { case v := <-ch: … case <-ctx.Done(): … }` has stopped receiving.
fn check_returned_after_cancel(cx: &Context, ch: &LocalChannel, out: &mut Vec<Finding>) {
    if !ch.is_unbuffered() {
        return;
    }
    let Some(function) = cx.model.functions.get(ch.function) else {
        return;
    };
    // A top-level declaration that returns this channel and uses it for nothing else than its
    // goroutine's sends (and that goroutine's `close`).
    if function.parent.is_some()
        || ch.escapes.is_empty()
        || !ch.escapes.iter().all(|e| e.kind == EscapeKind::Returned)
    {
        return;
    }
    let Some((sender, sends)) = goconc_model::channels::senders::single_sender(ch) else {
        return;
    };
    let only_the_sender = ch.ops.iter().all(|op| {
        matches!(op.kind, OpKind::Send | OpKind::Close)
            && op.goroutine == Some(sender)
            && !op.in_closure
    });
    if !only_the_sender {
        return;
    }
    if !sends.iter().all(|s| is_single_blocking_send(s)) {
        return;
    }
    let Some(go) = go_statement(cx.model, sender, ch.function) else {
        return;
    };
    for send in &sends {
        let Some((case, ctx_name)) = cancel_case_around(cx, send.node, sender.literal, ch.function)
        else {
            continue;
        };
        if cx.is_skipped(ch.make_call.start_byte()) {
            return;
        }
        let message = format!(
            "`{}` is unbuffered and returned: the goroutine started on line {} sends on it (line {}) only once `{ctx_name}` is done, when a caller that stops waiting on `{ctx_name}.Done()` has gone: that send blocks forever",
            ch.name,
            LineOf(go.start_byte()),
            LineOf(send.node.start_byte()),
        );
        let finding = META
            .finding(ch.make_call.byte_span(), message)
            .with_related(case.byte_span(), "runs once the caller's context is done")
            .with_related(send.node.byte_span(), "the goroutine blocks here");
        out.push(with_exit_and_buffer(cx, ch, None, finding));
        return;
    }
}

/// The `case <-ctx.Done():` of a `select` in the goroutine `literal` whose body holds `send`,
/// when `ctx` is a `context.Context` parameter of the function that started the goroutine; with
/// that parameter's name.
fn cancel_case_around<'t>(
    cx: &Context<'_, 't>,
    send: Node<'t>,
    literal: Node<'t>,
    function: usize,
) -> Option<(Node<'t>, &'t str)> {
    let mut node = send.parent_node()?;
    while node != literal {
        if node.kind_str() == "func_literal" {
            return None;
        }
        if node.kind_str() == "communication_case" {
            let recv = node
                .field("communication")
                .filter(|c| c.kind_str() == "receive_statement")
                .and_then(|c| c.field("right"))
                .map(goconc_syntax::unparen)
                .filter(|r| r.kind_str() == "unary_expression")
                .and_then(|r| r.field("operand"))
                .map(goconc_syntax::unparen)
                .filter(|o| o.kind_str() == "call_expression")
                .and_then(|call| call.field("function"))
                .filter(|f| f.kind_str() == "selector_expression");
            let recv = recv?;
            if recv
                .field("field")
                .is_none_or(|f| text(f, cx.src) != "Done")
            {
                return None;
            }
            let operand = recv.field("operand")?;
            if operand.kind_str() != "identifier" {
                return None;
            }
            let decl = cx.model.resolve(operand)?;
            let is_param = decl.kind == DeclKind::Param && decl.function == function;
            if !is_param || !decl.ty.deref().is_named("context", "Context") {
                return None;
            }
            return Some((node, text(operand, cx.src)));
        }
        node = node.parent_node()?;
    }
    None
}

fn channel_leak<'c, 't>(cx: &Context<'_, 't>, ch: &'c LocalChannel<'t>) -> Option<Leak<'c, 't>> {
    let (sender, sends) = lone_sender_to_parent(ch)?;
    if sends.is_empty() || !sends.iter().all(|s| is_single_blocking_send(s)) {
        return None;
    }
    // Several sends count as one when at most one runs: each leaves the goroutine right after
    // it (`ch <- errResult; return`), or sits on another branch of an `if`/`else` or `switch`
    // than each later one (`if err != nil { ch <- failed } else { ch <- r }`).
    let at_most_one = sends.iter().enumerate().all(|(i, s)| {
        sends[i + 1..]
            .iter()
            .all(|later| followed_by_return(s.node) || on_exclusive_branches(s.node, later.node))
    });
    if !at_most_one {
        return None;
    }
    // The parent receives it somewhere: a channel nobody receives is another rule's business.
    ch.ops_of(OpKind::Receive).next()?;
    let go = go_statement(cx.model, sender, ch.function)?;
    let lp = goconc_syntax::enclosing_loop(go);
    // A `go` in a loop with a channel made outside it: several senders share one channel. When
    // the parent receives it only after that loop, counting senders against receives is
    // goroutine-leak-ncast's question. When every receive sits in the same loop as the `go` (a
    // loop that starts a worker and waits for it beside other cases), a `return` inside that
    // loop that the path from the `go` reaches without receiving leaves the worker behind.
    let shared_by_iterations = lp.is_some_and(|lp| !goconc_syntax::is_within(ch.ident, lp));
    if shared_by_iterations {
        let lp = lp?;
        if !ch
            .parent_ops()
            .all(|op| goconc_syntax::is_within(op.node, lp))
        {
            return None;
        }
    }
    let left = left_behind(cx.model, ch, go)?;
    // A return inside the loop is where the sender is left; past the loop, the iteration that
    // went on without receiving is. For a channel the iterations share, only a return inside
    // the loop counts: past it, a later iteration's receive may have taken the value.
    let exits: Vec<Node> = left
        .exits
        .iter()
        .copied()
        .filter(|e| {
            let inside = lp.is_some_and(|lp| goconc_syntax::is_within(*e, lp));
            if shared_by_iterations {
                inside && e.kind_str() == "return_statement"
            } else {
                !left.next_iteration || inside
            }
        })
        .collect();
    if shared_by_iterations && exits.is_empty() {
        return None;
    }
    // The message needs a way out it can name.
    how_it_leaves(cx, exits.first().copied(), left.next_iteration)?;
    Some(Leak {
        ch,
        sends: sends.iter().map(|s| s.node).collect(),
        next_iteration_of: match exits.is_empty() {
            true => lp.map(|lp| lp.start_byte()),
            false => None,
        },
        exits,
    })
}

/// Do `a` and `b` sit on different branches of the statement that holds both: the two arms of
/// an `if`/`else` (an `else if` chain nests), or two clauses of a `switch` or `select` (no
/// `fallthrough`)? Then no run reaches both.
fn on_exclusive_branches(a: Node, b: Node) -> bool {
    use goconc_syntax::is_within;
    let path = goconc_syntax::ancestors(a);
    // The lowest ancestor holding `b`, and its child on the way to `a`.
    let Some(i) = path.iter().rposition(|n| is_within(b, *n)) else {
        return false;
    };
    let (common, branch) = (path[i], path.get(i + 1).copied().unwrap_or(a));
    match common.kind_str() {
        "if_statement" => {
            let (Some(then), Some(other)) =
                (common.field("consequence"), common.field("alternative"))
            else {
                return false;
            };
            (branch == then && is_within(b, other)) || (branch == other && is_within(b, then))
        }
        "expression_switch_statement" | "type_switch_statement" | "select_statement" => {
            let is_clause = |n: Node| {
                matches!(
                    n.kind_str(),
                    "expression_case" | "default_case" | "type_case" | "communication_case"
                )
            };
            let falls_through = goconc_syntax::statements(branch)
                .last()
                .is_some_and(|s| s.kind_str() == "fallthrough_statement");
            is_clause(branch) && !falls_through
        }
        _ => false,
    }
}

/// The statement after the send in its block is a `return` (the goroutine sends nothing more).
fn followed_by_return(send: tree_sitter::Node) -> bool {
    let Some(block) = goconc_syntax::parent_block(send) else {
        return false;
    };
    let stmts = goconc_syntax::statements(block);
    stmts
        .iter()
        .position(|s| *s == send)
        .and_then(|i| stmts.get(i + 1))
        .is_some_and(|next| next.kind_str() == "return_statement")
}

/// The finding with the receiver's way out beside it and the quick fix that lets the sender
/// finish: one slot of buffer.
fn with_exit_and_buffer(
    cx: &Context,
    ch: &LocalChannel,
    exit: Option<Node>,
    mut finding: Finding,
) -> Finding {
    if let Some(exit) = exit {
        finding = finding.with_related(exit.byte_span(), "leaves without receiving");
    }
    if let Some(edit) = buffer_of_one(cx, ch) {
        finding = finding.with_unsafe_fix(
            format!(
                "Make `{}` buffered: `make({}, 1)`",
                ch.name,
                text(ch.chan_type, cx.src)
            ),
            vec![edit],
        );
    }
    finding
}

/// `make(chan T)` → `make(chan T, 1)`; `make(chan T, 0)` → `make(chan T, 1)`.
pub(crate) fn buffer_of_one(cx: &Context, ch: &LocalChannel) -> Option<TextEdit> {
    buffer_edit(cx, ch.make_call, ch.chan_type, ch.capacity_expr)
}

/// The edit giving the channel of `make_call` (type `chan_type`, capacity argument
/// `capacity_expr`) a buffer of one.
fn buffer_edit(
    cx: &Context,
    make_call: Node,
    chan_type: Node,
    capacity_expr: Option<Node>,
) -> Option<TextEdit> {
    match capacity_expr {
        Some(expr) => Some(TextEdit {
            range: expr.byte_span(),
            new_text: "1".into(),
        }),
        None => {
            let paren = closing_paren(make_call)?;
            // `make(chan T,)` keeps its trailing comma style out of the way.
            let before = cx.src.get(chan_type.end_offset()..paren)?;
            if !before.trim().is_empty() {
                return None;
            }
            Some(TextEdit {
                range: chan_type.end_offset()..paren,
                new_text: ", 1".into(),
            })
        }
    }
}

/// A call whose channel, returned by a package function while a goroutine that function started
/// is blocked sending on it, can be left unreceived for good: dropped (`fetchAsync(url)` as a
/// statement, `_ = fetchAsync(url)`, `go`/`defer fetchAsync(url)`), or received only in a
/// `select` that can take another case.
fn check_dropped_results(cx: &Context, out: &mut Vec<Finding>) {
    for key in cx.model.package.pending_send_returners() {
        let name = key.rsplit('.').next().unwrap_or(key);
        for &call in cx.index.calls_named(name) {
            if cx.is_skipped(call.start_byte()) {
                continue;
            }
            if goconc_model::locks::callee(cx.model, call).is_none_or(|c| c.key != *key) {
                continue;
            }
            let other_case = match drops_result(cx, call) {
                true => None,
                false => match received_only_in_select(cx, call) {
                    Some(other) => Some(other),
                    None => {
                        out.extend(left_unreceived(cx, call, name));
                        continue;
                    }
                },
            };
            let shown = call.field("function").map_or(name, |f| text(f, cx.src));
            let mut finding = match other_case {
                None => META.finding(
                    call.byte_span(),
                    format!(
                        "`{shown}` returns an unbuffered channel that a goroutine it starts sends on, and this call drops it: nothing can receive, so that goroutine blocks forever"
                    ),
                ),
                Some(other) => META
                    .finding(
                        call.byte_span(),
                        format!(
                            "`{shown}` returns an unbuffered channel that a goroutine it starts sends on; when the `select` takes its other case (line {}), nothing receives and that goroutine blocks forever",
                            LineOf(other.start_byte())
                        ),
                    )
                    .with_related(other.byte_span(), "taking this case drops the channel"),
            };
            finding.severity = Severity::Error;
            out.push(finding);
        }
    }
}

/// `ch := fetch()` whose every use is a plain receive `<-ch` on the function's own goroutine,
/// with a way out of the function (a `return`, its end, `t.Fatal`) that the flow from the call
/// reaches before any receive: the goroutine `fetch` started is left blocked on its send.
fn left_unreceived(cx: &Context, call: Node, shown_name: &str) -> Option<Finding> {
    let (declaration, name) = declared_from(call)?;
    let function = cx.model.function_of(call)?;
    let body = cx.model.functions.get(function)?.body?;
    let receives = receives_of(cx, body, name)?;
    let plain = receives
        .iter()
        .all(|r| cx.model.function_of(*r) == Some(function) && receiving_case(*r).is_none());
    // One iteration's channel is another's question (the next call makes a new one).
    if !plain || receives.is_empty() || goconc_syntax::enclosing_loop(declaration).is_some() {
        return None;
    }
    let receives = receives.iter().map(|r| r.byte_span()).collect();
    let exits =
        goconc_model::channels::senders::exits_skipping(cx.model, body, declaration, receives)?;
    let exit = *exits.first()?;
    let how = how_it_leaves(cx, Some(exit), false)?;
    let shown = call
        .field("function")
        .map_or(shown_name, |f| text(f, cx.src));
    let message = format!(
        "`{shown}` returns an unbuffered channel that a goroutine it starts sends on, and nothing receives from `{}` when {} {how}: that goroutine blocks forever",
        text(name, cx.src),
        function_name(cx.model, function),
    );
    let mut finding = META.finding(call.byte_span(), message);
    for exit in &exits {
        finding = finding.with_related(exit.byte_span(), "leaves without receiving");
    }
    Some(finding)
}

/// `ch := fetch()`: the declaration and the one name it declares.
fn declared_from(call: Node) -> Option<(Node, Node)> {
    let list = call.parent_node()?;
    let declaration = list.parent_node()?;
    if list.kind_str() != "expression_list"
        || list.named_child_count() != 1
        || declaration.kind_str() != "short_var_declaration"
        || declaration.field("right") != Some(list)
    {
        return None;
    }
    let left = declaration.field("left")?;
    let name = goconc_syntax::named_children(left).next()?;
    (left.named_child_count() == 1 && name.kind_str() == "identifier")
        .then_some((declaration, name))
}

/// The channel the call returns is received from only in the cases of one `select` that has
/// another case (or a `default`): `case v := <-fetch():`, or `ch := fetch()` whose every use is
/// such a case of one `select` that no loop runs again (unless the loop declares `ch` too).
/// Gives that other case (the first one): choosing it leaves the channel unreceived for good.
fn received_only_in_select<'t>(cx: &Context<'_, 't>, call: Node<'t>) -> Option<Node<'t>> {
    let parent = call.parent_node()?;
    if goconc_syntax::is_receive(parent, cx.src) {
        let case = receiving_case(parent)?;
        return other_case(case.parent_node()?, &[case]);
    }
    // `ch := fetch()`: every use of `ch` in the function is such a case of one select.
    let (declaration, name) = declared_from(call)?;
    let body = cx.model.functions[cx.model.function_of(call)?].body?;
    let cases: Vec<Node> = receives_of(cx, body, name)?
        .into_iter()
        .map(receiving_case)
        .collect::<Option<_>>()?;
    let select = cases.first()?.parent_node()?;
    let one_select = cases.iter().all(|c| c.parent_node() == Some(select));
    let looped = goconc_syntax::enclosing_loop(select)
        .is_some_and(|l| !goconc_syntax::is_within(declaration, l));
    if !one_select || looped {
        return None;
    }
    other_case(select, &cases)
}

/// Every use of the variable `name` declares in `body` (its declaration aside), when each is a
/// receive `<-name`: those receives. None when it is used any other way.
fn receives_of<'t>(cx: &Context<'_, 't>, body: Node<'t>, name: Node<'t>) -> Option<Vec<Node<'t>>> {
    let mut receives = Vec::new();
    let mut other_use = false;
    goconc_syntax::walk(body, |node| {
        if node.kind_str() == "identifier"
            && node != name
            && text(node, cx.src) == text(name, cx.src)
            && cx.model.resolve(node).is_some_and(|d| d.ident == name)
        {
            match node
                .parent_node()
                .filter(|p| goconc_syntax::is_receive(*p, cx.src))
            {
                Some(receive) => receives.push(receive),
                None => other_use = true,
            }
        }
        !other_use
    });
    (!other_use).then_some(receives)
}

/// The `select` case whose communication is the receive `<-x` (`case <-x:`, `case v := <-x:`).
fn receiving_case(receive: Node) -> Option<Node> {
    let mut node = receive.parent_node()?;
    if node.kind_str() == "receive_statement" || node.kind_str() == "expression_statement" {
        node = node.parent_node()?;
    }
    (node.kind_str() == "communication_case").then_some(node)
}

/// The first case or `default` of `select` other than `cases`.
fn other_case<'t>(select: Node<'t>, cases: &[Node<'t>]) -> Option<Node<'t>> {
    if select.kind_str() != "select_statement" {
        return None;
    }
    goconc_syntax::named_children(select).find(|c| {
        matches!(c.kind_str(), "communication_case" | "default_case") && !cases.contains(c)
    })
}

/// Is the call's result thrown away: a statement of its own, `_ = call`, or the call of a
/// `go` or `defer` statement?
fn drops_result(cx: &Context, call: Node) -> bool {
    let Some(parent) = call.parent_node() else {
        return false;
    };
    match parent.kind_str() {
        "expression_statement" | "go_statement" | "defer_statement" => true,
        "expression_list" => parent.parent_node().is_some_and(|assignment| {
            assignment.kind_str() == "assignment_statement"
                && parent.named_child_count() == 1
                && assignment.field("right") == Some(parent)
                && assignment
                    .field("left")
                    .is_some_and(|left| text(left, cx.src) == "_")
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::{findings, snippets};

    fn found(src: &str) -> Vec<String> {
        snippets(&findings(super::META.id, src), src)
    }

    #[test]
    fn receive_in_a_switch_header_counts() {
        let src = "package p\n\nfunc f(x bool) int {\n\tch := make(chan int)\n\tgo func() {\n\t\tch <- 1\n\t}()\n\tswitch <-ch {\n\tcase 1:\n\t\treturn 1\n\t}\n\treturn 2\n}\n";
        assert!(found(src).is_empty());
    }

    /// A function making more channels than a flow analysis follows has none of its senders
    /// followed: its leak goes unreported, where the same leak among one channel fewer is.
    #[test]
    fn gives_up_past_the_channels_a_flow_follows() {
        let making = |n: usize| {
            let others: String = (1..n)
                .map(|i| format!("\tc{i} := make(chan int, 1)\n\t_ = c{i}\n"))
                .collect();
            format!("package p\n\nfunc f(x bool) int {{\n{others}\tch := make(chan int)\n\tgo func() {{\n\t\tch <- 1\n\t}}()\n\tif x {{\n\t\treturn 0\n\t}}\n\treturn <-ch\n}}\n")
        };
        let limit = goconc_model::flow::MAX_FOLLOWED;
        assert_eq!(found(&making(limit)), vec!["make(chan int)".to_string()]);
        assert!(found(&making(limit + 1)).is_empty());
        assert!(crate::test_support::page_says(
            &super::META,
            &format!("more than {limit} channels")
        ));
    }

    #[test]
    fn goto_gives_up() {
        let src = "package p\n\nfunc f(x bool) int {\n\tch := make(chan int)\n\tgo func() {\n\t\tch <- 1\n\t}()\n\tif x {\n\t\tgoto out\n\t}\n\treturn <-ch\nout:\n\treturn 0\n}\n";
        assert!(found(src).is_empty());
    }

    #[test]
    fn end_of_body_without_receive_on_one_path() {
        let src = "package p\n\nfunc f(x bool) {\n\tch := make(chan int)\n\tgo func() {\n\t\tch <- 1\n\t}()\n\tif x {\n\t\t<-ch\n\t}\n}\n";
        assert_eq!(found(src), vec!["make(chan int)".to_string()]);
    }
}
