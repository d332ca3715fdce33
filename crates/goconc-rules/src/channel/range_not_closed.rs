//! `channel-range-not-closed`: a goroutine produces into a locally made channel, the function
//! ranges over it, and nobody closes it; or the function feeds a consumer goroutine that ranges,
//! and never closes the channel, or closes it on some ways out only.

use crate::finding::LineOf;
use goconc_syntax::NodeExt;
use tree_sitter::Node;

use crate::finding::{Finding, Severity, TextEdit};
use crate::messages::how_it_leaves;
use crate::{Context, Family, RuleMeta};
use goconc_model::channels::senders::{exits_skipping, go_statement};
use goconc_model::channels::{Escape, EscapeKind, LocalChannel, OpKind};
use goconc_syntax::{
    enclosing_function, line_indent, named_children, newline, statements, text, walk,
};

pub static META: RuleMeta = RuleMeta {
    id: "channel-range-not-closed",
    family: Family::Channel,
    severity: Severity::Warning,
    summary: "A goroutine that produces into a locally made channel never closes it while the function ranges over that channel: the range never ends.",
    fix: Some("`defer close(ch)` at the top of the producer"),
    doc: r#"
## Why it matters
`for v := range ch` ends only when `ch` is closed. When the goroutine that fills the channel
returns without closing it, the range takes every value and then blocks forever: the function
never returns, and everything it holds (its goroutine, its stack, whatever waits on its result)
leaks. In a server this is a request that hangs; in a CLI, a deadlock when no other goroutine is
left.

## Example
```go
func lines(r io.Reader) []string {
	ch := make(chan string)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	var out []string
	for l := range ch {
		out = append(out, l)
	}
	return out
}
```
```go
func lines(r io.Reader) []string {
	ch := make(chan string)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	var out []string
	for l := range ch {
		out = append(out, l)
	}
	return out
}
```

## Fix
The producer closes the channel when it is done. The quick fix inserts `defer close(ch)` as the
first statement of the producer goroutine, so that every return path (and a panic) closes it.

## The consumer left behind
The mirror case: the function sends and a goroutine it starts ranges over the channel. Nothing
closes it, so after the last send the consumer waits for a value or a close that never comes:
the goroutine outlives the function, and a `wg.Wait()` for it after the sends never returns. The
finding sits on the goroutine's `range`, with the last send as a related place. No quick fix:
the `close` goes after the last send and before any wait for the consumer, which is a choice of
place the code does not always make clear.

## Closed, but not on every way out
The function closes the channel its consumer goroutine ranges over, but an early `return`, or
`t.Fatal` in a test, leaves before the close: the consumer then waits for a close that never
comes, and leaks with everything it holds (a test's drain goroutine, left behind by every
failing run). The finding sits on the `close`; the consumer's `range` and every way out that
skips the close are related places. No quick fix: the close belongs before each of those exits,
in a `defer` (when nothing after it waits for the consumer), or in `t.Cleanup`. The function's
own `close` shows that closing is its job, so a channel it also hands to a function of another
package (`signal.Notify(ch, …)`, a progress writer) that fills it is still judged. It stays
silent when every way out closes the channel or a `defer close(ch)` does (wherever it stands),
when the close runs in a closure (`t.Cleanup(func() { close(ch) })`), when the consumer can
`break` out of its range, when the way out ends the program (`log.Fatal`, `os.Exit`, a panic),
when the channel goes to a `go` or deferred call, to a function or method of this package
(which may close it on the path it takes), to a method of a value of unknown type, or is
stored, returned or received from, when another goroutine sends on it, and when the consumer
is started in a loop.

## When it stays silent
- Anything closes the channel, anywhere in the function (except as above: closed on some ways
  out only).
- More than one goroutine sends on it (the last one to finish must close: use a `WaitGroup`
  and close after `Wait`), or the function itself sends on it.
- The channel leaves the function's sight: handed to a call (`go produce(ch)`), stored,
  returned, or used in a closure that is not a goroutine.
- The range loop can `break` out: the consumer knows when to stop.
- For the consumer left behind: a goroutine sends too, a send sits in a closure, the function
  sends from a `for { … }` that nothing breaks out of or returns from (it feeds the consumer for
  as long as it runs), or anything else receives from the channel.
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    if cx.index.go_statements.is_empty() && cx.index.calls_named("Go").is_empty() {
        return;
    }
    let makes = cx.index.calls_named("make");
    if makes.is_empty() {
        return;
    }
    for ch in cx.channels.iter() {
        check_channel(cx, ch, out);
        check_consumer(cx, ch, out);
        check_closed_on_some_paths(cx, ch, out);
    }
}

/// The function closes the channel its consumer goroutine ranges over, but a way out of the
/// function skips the close (an early `return`, `t.Fatal` in a test): the consumer then waits
/// for a close that never comes. The function's own `close` shows that closing is its job, so
/// a channel it also hands to a call of another package (which fills it) is still judged.
fn check_closed_on_some_paths(cx: &Context, ch: &LocalChannel, out: &mut Vec<Finding>) {
    let mut consumer = None;
    let mut closes = Vec::new();
    for op in &ch.ops {
        match (op.kind, op.goroutine) {
            (OpKind::Range, Some(g)) => {
                if enclosing_function(op.node) != Some(g.literal)
                    || can_break(cx, op.node)
                    || consumer.is_some_and(|(c, _)| c != g)
                {
                    return;
                }
                consumer.get_or_insert((g, op.node));
            }
            (OpKind::Close, None) if !op.in_closure => closes.push(op.node),
            (OpKind::Send, None) if !op.in_closure => {}
            _ => return,
        }
    }
    let (Some((consumer, range)), Some(&first_close)) = (consumer, closes.first()) else {
        return;
    };
    // `defer close(ch)`, even before the consumer starts, closes it on every later way out.
    if closes.iter().any(|c| {
        c.parent_node()
            .is_some_and(|p| p.kind_str() == "defer_statement")
    }) {
        return;
    }
    if !ch.escapes.iter().all(|e| fills_only(cx, ch, e)) {
        return;
    }
    let Some(go) = go_statement(cx.model, consumer, ch.function) else {
        return;
    };
    // One consumer per iteration: the close of one iteration is another's question.
    if goconc_syntax::enclosing_loop(go).is_some() {
        return;
    }
    let Some(body) = cx.model.functions.get(ch.function).and_then(|f| f.body) else {
        return;
    };
    let clears = closes.iter().map(|c| c.byte_span()).collect();
    let Some(exits) = exits_skipping(cx.model, body, go, clears) else {
        return;
    };
    let Some(&exit) = exits.first() else {
        return;
    };
    let Some(how) = how_it_leaves(cx, Some(exit), false) else {
        return;
    };
    let name = ch.name;
    let message = format!(
        "`{name}` is closed here, but not when {} {how}: the goroutine ranging over it (line {}) then waits for a close that never comes, and leaks",
        crate::messages::function_name(cx.model, ch.function),
        LineOf(range.start_byte()),
    );
    let mut finding = META
        .finding(first_close.byte_span(), message)
        .with_related(range_header(cx, range), "the consumer ranges here");
    for exit in &exits {
        finding = finding.with_related(exit.byte_span(), format!("leaves without `close({name})`"));
    }
    out.push(finding);
}

/// Is this escape a call that can only fill the channel: an argument of a function of an
/// imported package (`progress.ChanOutput(ch)`), called on the function's own goroutine (not
/// `go`, not deferred, not in a closure)? Such a callee does not close a channel its caller
/// closes (that would close it twice). A function or method of this package, or a method of a
/// value whose type is not known, may close it: the channel is not judged.
fn fills_only(cx: &Context, ch: &LocalChannel, escape: &Escape) -> bool {
    if escape.kind != EscapeKind::CallArgument
        || cx.model.function_of(escape.ident) != Some(ch.function)
    {
        return false;
    }
    let Some(call) = escape
        .ident
        .parent_node()
        .filter(|args| args.kind_str() == "argument_list")
        .and_then(|args| args.parent_node())
        .filter(|call| call.kind_str() == "call_expression")
    else {
        return false;
    };
    let started_later = call
        .parent_node()
        .is_some_and(|p| matches!(p.kind_str(), "go_statement" | "defer_statement"));
    // `pkg.F(ch)` with `pkg` an import, not shadowed.
    let of_import = call
        .field("function")
        .map(goconc_syntax::unparen)
        .filter(|f| f.kind_str() == "selector_expression")
        .and_then(|f| f.field("operand"))
        .filter(|o| o.kind_str() == "identifier" && cx.model.resolve(*o).is_none())
        .is_some_and(|o| cx.model.imports.path_of(text(o, cx.src)).is_some());
    !started_later && of_import
}

/// The mirror case: the function sends, a goroutine it starts ranges, and nothing closes the
/// channel. After the last send the consumer waits for a value or a close that never comes: it
/// outlives the function, and a `Wait` for it after the sends never returns.
fn check_consumer(cx: &Context, ch: &LocalChannel, out: &mut Vec<Finding>) {
    if !ch.fully_visible() || ch.ops_of(OpKind::Close).next().is_some() {
        return;
    }
    let mut consumer = None;
    for range in ch.ops_of(OpKind::Range) {
        let Some(g) = range.goroutine else { return };
        if enclosing_function(range.node) != Some(g.literal) || can_break(cx, range.node) {
            return;
        }
        consumer.get_or_insert((g, range.node));
    }
    let Some((consumer, range)) = consumer else {
        return;
    };
    // Only the function sends, and not from a loop that never ends (a server's `for {}`
    // sends for as long as it runs: its consumer is never left behind).
    let mut sends = ch.ops_of(OpKind::Send).peekable();
    if sends.peek().is_none() {
        return;
    }
    for send in sends {
        if send.goroutine.is_some() || send.in_closure {
            return;
        }
        if goconc_syntax::enclosing_loops(send.node).any(|lp| runs_forever(cx, lp)) {
            return;
        }
    }
    // Any receive besides the range, in the goroutine or the function, may be how it ends.
    if ch.ops_of(OpKind::Receive).next().is_some() {
        return;
    }
    let name = ch.name;
    let header = range_header(cx, range);
    let message = format!(
        "`{name}` is never closed: this goroutine's `range` waits for another value after the last send of {}, so it never ends: the goroutine leaks, and anything that waits for it blocks forever",
        crate::messages::function_name(cx.model, ch.function),
    );
    let last_send = ch.ops_of(OpKind::Send).map(|s| s.node).last();
    let mut finding = META
        .finding(header, message)
        .with_related(
            consumer.start.byte_span().start..consumer.start.start_byte() + 2,
            "the consumer starts here",
        )
        .with_related(ch.make_call.byte_span(), format!("`{name}` is made here"));
    if let Some(send) = last_send {
        finding = finding.with_related(
            send.byte_span(),
            "the last send; close the channel after it",
        );
    }
    out.push(finding);
}

/// `for { … }` with no condition that nothing breaks out of or returns from.
fn runs_forever(cx: &Context, lp: Node) -> bool {
    let body = lp.field("body");
    let has_clause = named_children(lp).any(|c| Some(c) != body && c.kind_str() != "comment");
    if has_clause || can_break(cx, lp) {
        return false;
    }
    let mut returns = false;
    if let Some(body) = body {
        goconc_syntax::walk_body(body, |n| returns |= n.kind_str() == "return_statement");
    }
    !returns
}

fn check_channel(cx: &Context, ch: &LocalChannel, out: &mut Vec<Finding>) {
    if !ch.fully_visible() || ch.ops_of(OpKind::Close).next().is_some() {
        return;
    }
    let Some(range) = ch.ops_of(OpKind::Range).next() else {
        return;
    };
    let mut producer = None;
    for send in ch.ops_of(OpKind::Send) {
        let Some(g) = send.goroutine else { return };
        // The send must be the goroutine's own (not one of a goroutine it starts).
        if enclosing_function(send.node) != Some(g.literal) {
            return;
        }
        match producer {
            None => producer = Some(g),
            Some(p) if p == g => {}
            Some(_) => return,
        }
    }
    let Some(producer) = producer else { return };
    // The producer itself sits in a loop: several goroutines send.
    // One producer per iteration of a loop the channel's `make` is outside of.
    if goconc_syntax::enclosing_loops(producer.start)
        .any(|l| !goconc_syntax::is_within(ch.make_call, l))
    {
        return;
    }
    if ch
        .ops_of(OpKind::Range)
        .any(|r| r.goroutine == Some(producer))
    {
        return;
    }
    let for_stmt = range.node;
    if can_break(cx, for_stmt) {
        return;
    }
    let name = ch.name;
    let header = range_header(cx, for_stmt);
    let message = format!(
        "`{name}` is never closed: the goroutine sending on it (line {}) returns without `close({name})`, so this `range` never ends",
        LineOf(producer.start.start_byte())
    );
    let mut finding = META
        .finding(header, message)
        .with_related(
            producer.start.byte_span().start..producer.start.start_byte() + 2,
            "the producer starts here",
        )
        .with_related(ch.make_call.byte_span(), format!("`{name}` is made here"));
    if let Some(edit) = fix(cx, producer.literal, name) {
        finding = finding.with_fix(
            format!("Insert `defer close({name})` at the top of the producer"),
            vec![edit],
        );
    }
    out.push(finding);
}

/// `for v := range ch`: the loop's header, where the finding sits.
fn range_header(cx: &Context, for_stmt: Node) -> std::ops::Range<usize> {
    let header_end = for_stmt
        .field("body")
        .map_or(for_stmt.end_offset(), |b| b.start_byte())
        .max(for_stmt.start_byte());
    for_stmt.start_byte()..text_end(cx.src, for_stmt.start_byte(), header_end)
}

/// The end of the text before `end`, without trailing spaces.
fn text_end(src: &str, start: usize, end: usize) -> usize {
    src.get(start..end)
        .map_or(end, |s| start + s.trim_end().len())
}

/// Can the range loop end by a `break` (unlabelled and aimed at it, or naming it or a statement
/// around it)?
fn can_break(cx: &Context, for_stmt: Node) -> bool {
    let Some(body) = for_stmt.field("body") else {
        return true;
    };
    let mut found = false;
    walk(body, |n| {
        if found || n.kind_str() == "func_literal" {
            return false;
        }
        found =
            n.kind_str() == "break_statement" && goconc_syntax::break_leaves(n, for_stmt, cx.src);
        true
    });
    found
}

/// `defer close(name)` as a new first line of the literal's body.
fn fix(cx: &Context, literal: Node, name: &str) -> Option<TextEdit> {
    let body = literal.field("body")?;
    let open = body.start_byte();
    let src = cx.src;
    let nl = newline(src);
    let line_end = open + src.get(open..)?.find('\n')?;
    let line_end = if src[..line_end].ends_with('\r') {
        line_end - 1
    } else {
        line_end
    };
    let rest = src.get(open + 1..line_end)?.trim();
    if !(rest.is_empty() || rest.starts_with("//") && !rest.contains("*/")) {
        return None;
    }
    // Indent like the first statement, or one tab deeper than the line with the `{`.
    let indent = match statements(body).first() {
        Some(first) if first.start_byte() > line_end => {
            line_indent(src, first.start_byte()).to_string()
        }
        _ => format!("{}\t", line_indent(src, open)),
    };
    // The literal must not declare its own `name` in its parameters (the close would then
    // close the parameter); a capture resolves to the channel.
    if let Some(params) = literal.field("parameters") {
        let mut shadowed = false;
        walk(params, |n| {
            if n.kind_str() == "identifier" && text(n, src) == name {
                shadowed = true;
            }
            true
        });
        if shadowed {
            return None;
        }
    }
    Some(TextEdit {
        range: line_end..line_end,
        new_text: format!("{nl}{indent}defer close({name})"),
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_util::lines_of;

    const ID: &str = "channel-range-not-closed";

    #[test]
    fn producer_without_close() {
        let src = "package p\n\nfunc a(xs []int) int {\n\tch := make(chan int)\n\tgo func() {\n\t\tfor _, x := range xs {\n\t\t\tch <- x\n\t\t}\n\t}()\n\tn := 0\n\tfor v := range ch {\n\t\tn += v\n\t}\n\treturn n\n}\n";
        assert_eq!(lines_of(src, ID), vec![11]);
    }

    #[test]
    fn closed_escaping_many_producers_and_break_are_silent() {
        let src = "package p\n\nfunc produce(ch chan int) {}\n\nfunc a(xs []int) {\n\tch := make(chan int)\n\tgo func() {\n\t\tdefer close(ch)\n\t\tch <- 1\n\t}()\n\tfor range ch {\n\t}\n}\n\nfunc b() {\n\tch := make(chan int)\n\tgo produce(ch)\n\tfor range ch {\n\t}\n}\n\nfunc c(xs []int) {\n\tch := make(chan int)\n\tfor _, x := range xs {\n\t\tgo func() { ch <- x }()\n\t}\n\tfor range ch {\n\t}\n}\n\nfunc d() {\n\tch := make(chan int)\n\tgo func() { ch <- 1 }()\n\tfor v := range ch {\n\t\tif v == 1 {\n\t\t\tbreak\n\t\t}\n\t}\n}\n";
        assert!(lines_of(src, ID).is_empty());
    }
}
