//! `time-after-in-loop`: `time.After` in a `select` inside a loop (Go < 1.23): every iteration
//! makes a timer that stays alive until it fires.

use goconc_syntax::NodeExt;
use tree_sitter::Node;

use crate::finding::{Finding, Severity};
use crate::{Context, Family, RuleMeta};
use goconc_syntax::enclosing_loop;
use goconc_syntax::unparen;

pub static META: RuleMeta = RuleMeta {
    id: "time-after-in-loop",
    family: Family::Time,
    severity: Severity::Warning,
    summary: "`time.After` in a `select` inside a loop: one timer per iteration stays alive until it fires (Go < 1.23).",
    fix: None,
    doc: r#"
## Why it matters
`time.After(d)` starts a new timer each time it is evaluated. In a `select` inside a loop, every
iteration that ends through another case leaves its timer behind, and before Go 1.23 such a timer
is not freed until it fires. A busy loop with a long timeout piles up thousands of live timers
(and their channels) for the whole duration.

## Example
```go
for {
	select {
	case msg := <-in:
		handle(msg)
	case <-time.After(time.Minute):
		return errIdle
	}
}
```
```go
idle := time.NewTimer(time.Minute)
defer idle.Stop()
for {
	select {
	case msg := <-in:
		handle(msg)
		idle.Reset(time.Minute)
	case <-idle.C:
		return errIdle
	}
}
```

## Fix
Make one `time.NewTimer` before the loop, `Reset` it each iteration, and `Stop` it when done. No
quick fix: where to reset depends on what the timeout means.

## When it stays silent
- The module's Go version is 1.23 or later: unreferenced timers are collected.
- The `select` is not inside a loop of the same function, or `time.After` is not a case of it.
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    if cx.go_version.at_least(23) {
        return;
    }
    for &call in cx.index.calls_named("After") {
        if let Some(f) = check_call(cx, call) {
            out.push(f);
        }
    }
}

fn check_call(cx: &Context, call: Node) -> Option<Finding> {
    cx.model
        .qualified_name(call.field("function")?, "time")
        .filter(|n| *n == "After")?;
    // `<-time.After(d)` as the communication of a select case.
    let mut recv = call.parent_node()?;
    while recv.kind_str() == "parenthesized_expression" {
        recv = recv.parent_node()?;
    }
    if recv.kind_str() != "unary_expression" || recv.field("operand").map(unparen) != Some(call) {
        return None;
    }
    let mut node = recv.parent_node()?;
    while matches!(
        node.kind_str(),
        "receive_statement"
            | "expression_statement"
            | "expression_list"
            | "parenthesized_expression"
    ) {
        node = node.parent_node()?;
    }
    if node.kind_str() != "communication_case" {
        return None;
    }
    let select = node.parent_node()?;
    // Only a select in a loop makes a timer per iteration.
    enclosing_loop(select)?;
    Some(META.finding(
        call.byte_span(),
        "`time.After` in a `select` inside a loop: each iteration makes a new timer, and before Go 1.23 it stays alive until it fires",
    ))
}
