//! `goroutine-leak-double-send`: inside a goroutine, an error branch sends on a channel and falls
//! through to a second send on the same channel (a missing `return`); the parent receives one
//! value, so the second send blocks forever.

use crate::finding::LineOf;
use goconc_syntax::NodeExt;
use tree_sitter::Node;

use crate::finding::{Finding, Severity, TextEdit};
use crate::{Context, Family, RuleMeta};
use goconc_model::channels::{ChanOp, LocalChannel, OpKind};
use goconc_syntax::{insertion_after_line, line_indent, newline, text};

use goconc_model::channels::senders::lone_sender_to_parent;
use goconc_syntax::{parent_block, statements};

pub static META: RuleMeta = RuleMeta {
    id: "goroutine-leak-double-send",
    family: Family::Goroutine,
    severity: Severity::Warning,
    summary: "An error branch sends on a channel and falls through to a second send on the same channel (missing `return`): the receiver takes one value, the sender blocks.",
    fix: Some("insert `return` after the first send"),
    doc: r#"
## Why it matters
A goroutine that reports its outcome on a channel usually sends exactly once: the error, or the
result. When the error branch forgets to `return` after sending the error, the goroutine goes
on to send a second value. The receiver takes one value and moves on, so the second send on an
unbuffered channel blocks forever: the goroutine leaks (and the receiver may even have taken a
zero result after the error).

## Example
```go
ch := make(chan result)
go func() {
	v, err := load(key)
	if err != nil {
		ch <- result{err: err}
	}
	ch <- result{val: v}
}()
r := <-ch
```
```go
ch := make(chan result)
go func() {
	v, err := load(key)
	if err != nil {
		ch <- result{err: err}
		return
	}
	ch <- result{val: v}
}()
r := <-ch
```

## Fix
Return right after the error send. The quick fix inserts `return` on the line after it (only in
goroutines whose function has no results).

## When it stays silent
- The `if` has an `else`, or the branch already leaves (`return`, `break`, `continue`, `panic`).
- The branch is not an error check (its condition is not a `!= nil` test of what it sends).
- The channel is buffered or not made locally, the parent receives in a loop or ranges over the
  channel, or the channel escapes.
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    if cx.index.go_statements.is_empty() {
        return;
    }
    for ch in cx.channels.iter() {
        check_channel(cx, ch, out);
    }
}

fn check_channel(cx: &Context, ch: &LocalChannel, out: &mut Vec<Finding>) {
    let Some((sender, sends)) = lone_sender_to_parent(ch) else {
        return;
    };
    if sends.len() < 2 {
        return;
    }
    // The parent takes exactly one value.
    let receives: Vec<&ChanOp> = ch.ops_of(OpKind::Receive).collect();
    if receives.len() != 1 || receives[0].loop_stmt.is_some() {
        return;
    }
    for (i, first) in sends.iter().enumerate() {
        if first.loop_stmt.is_some() || first.select.is_some() {
            continue;
        }
        let Some(if_stmt) = error_branch(cx, first.node) else {
            continue;
        };
        let Some(second) = sends[i + 1..]
            .iter()
            .find(|s| follows_in_block(if_stmt, s.node))
        else {
            continue;
        };
        let message = format!(
            "after this send the error branch falls through to a second send on `{}` (line {}); {} receives once, so that send blocks forever",
            ch.name,
            LineOf(second.node.start_byte()),
            crate::messages::function_name(cx.model, ch.function),
        );
        let mut finding = META
            .finding(first.node.byte_span(), message)
            .with_related(second.node.byte_span(), "second send, never received")
            .with_related(receives[0].node.byte_span(), "the only receive");
        if sender.literal.field("result").is_none() {
            if let Some(at) = insertion_after_line(first.node, cx.src) {
                let indent = line_indent(cx.src, first.node.start_byte());
                let edit = TextEdit {
                    range: at..at,
                    new_text: format!("{}{indent}return", newline(cx.src)),
                };
                finding = finding.with_unsafe_fix("Return after sending the error", vec![edit]);
            }
        }
        out.push(finding);
    }
}

/// The `if` statement whose branch ends with this send and falls through: no `else`, the send is
/// the branch's last statement, and the condition is a `!= nil` test of something the send sends.
fn error_branch<'t>(cx: &Context<'_, 't>, send: Node<'t>) -> Option<Node<'t>> {
    let block = parent_block(send)?;
    let if_stmt = block.parent_node()?;
    if if_stmt.kind_str() != "if_statement"
        || if_stmt.field("consequence") != Some(block)
        || if_stmt.field("alternative").is_some()
    {
        return None;
    }
    if statements(block).last() != Some(&send) {
        return None;
    }
    let condition = if_stmt.field("condition")?;
    let cond_text = text(condition, cx.src);
    if !cond_text.contains("!= nil") {
        return None;
    }
    // The tested name (`err` in `err != nil`) appears in the value sent.
    let tested = cond_text.split("!= nil").next()?.trim();
    let tested = tested
        .rsplit(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
        .next()?;
    let value = send.field("value")?;
    if tested.is_empty() || !contains_word(text(value, cx.src), tested) {
        return None;
    }
    Some(if_stmt)
}

fn contains_word(hay: &str, word: &str) -> bool {
    hay.match_indices(word).any(|(i, _)| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + word.len()..].chars().next();
        let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !ident(before) && !ident(after)
    })
}

/// Is `send` a statement after `if_stmt` in the same block?
fn follows_in_block(if_stmt: Node, send: Node) -> bool {
    let (Some(a), Some(b)) = (parent_block(if_stmt), parent_block(send)) else {
        return false;
    };
    a == b && send.start_byte() > if_stmt.end_offset()
}
