//! `time-tick-leak`: `time.Tick` in a function that can return (Go < 1.23): the ticker behind the
//! channel is never stopped and never freed.

use goconc_syntax::NodeExt;
use tree_sitter::Node;

use super::{can_return, mentions};
use crate::finding::{Finding, Severity, TextEdit};
use crate::{Context, Family, RuleMeta};
use goconc_syntax::enclosing_loop;
use goconc_syntax::{
    call_args, enclosing_function, line_indent, line_start, named_children, newline, text,
};

pub static META: RuleMeta = RuleMeta {
    id: "time-tick-leak",
    family: Family::Time,
    severity: Severity::Warning,
    summary: "`time.Tick` in a function that can return: the ticker is never freed (Go < 1.23).",
    fix: Some("`t := time.NewTicker(d); defer t.Stop()`"),
    doc: r#"
## Why it matters
`time.Tick(d)` is `time.NewTicker(d).C` without a way to stop the ticker. Before Go 1.23 a ticker
that is not stopped is never freed: it keeps firing into a channel nobody reads. That is fine in
a loop that runs for the life of the program, and a leak in any function that returns — one more
ticker per call.

## Example
```go
func Watch(done <-chan struct{}) {
	for {
		select {
		case <-time.Tick(time.Second):
			refresh()
		case <-done:
			return
		}
	}
}
```
```go
func Watch(done <-chan struct{}) {
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
			refresh()
		case <-done:
			return
		}
	}
}
```

## Fix
Where `time.Tick(d)` is a `for … range` expression or the value of a `:=` outside any loop, the
quick fix declares `ticker := time.NewTicker(d)` with `defer ticker.Stop()` before the statement
and reads `ticker.C` instead. Inside a loop (a new ticker per iteration, as above) move the
ticker out of the loop by hand.

## When it stays silent
- The module's Go version is 1.23 or later: unreferenced tickers are collected.
- The function cannot return: its last statement is a loop without `break` or `return`, such as
  `for range time.Tick(d) { … }`, or it is `main` or `init`.
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    if cx.go_version.at_least(23) {
        return;
    }
    for &call in cx.index.calls_named("Tick") {
        if let Some(f) = check_call(cx, call) {
            out.push(f);
        }
    }
}

fn check_call(cx: &Context, call: Node) -> Option<Finding> {
    let function_expr = call.field("function")?;
    cx.model
        .qualified_name(function_expr, "time")
        .filter(|n| *n == "Tick")?;
    let function = enclosing_function(call)?;
    if function.kind_str() == "function_declaration"
        && function
            .field("name")
            .is_some_and(|n| matches!(text(n, cx.src), "main" | "init"))
    {
        return None;
    }
    let body = function.field("body")?;
    if !can_return(cx, body) {
        return None;
    }
    let mut finding = META.finding(
        call.byte_span(),
        "`time.Tick` makes a ticker that is never stopped: this function can return, and before Go 1.23 the ticker is never freed",
    );
    if let Some(edits) = fix(cx, call, function) {
        finding = finding.with_fix(
            "Use a `time.NewTicker` stopped when the function returns",
            edits,
        );
    }
    Some(finding)
}

fn fix(cx: &Context, call: Node, function: Node) -> Option<Vec<TextEdit>> {
    let parent = call.parent_node()?;
    let stmt = match parent.kind_str() {
        "range_clause" if parent.field("right") == Some(call) => parent.parent_node()?,
        "expression_list" => {
            let s = parent
                .parent_node()
                .filter(|s| s.kind_str() == "short_var_declaration")?;
            (named_children(parent).count() == 1 && s.field("right") == Some(parent))
                .then_some(s)?
        }
        _ => return None,
    };
    if !stmt
        .parent_node()
        .is_some_and(|p| matches!(p.kind_str(), "block" | "statement_list"))
        || enclosing_loop(stmt).is_some()
        || mentions(cx.src, function, "ticker")
    {
        return None;
    }
    let start = line_start(cx.src, stmt.start_byte());
    if !cx.src.get(start..stmt.start_byte())?.trim().is_empty() {
        return None;
    }
    let pkg = call.field("function")?.field("operand")?;
    let args: Vec<&str> = call_args(call).iter().map(|a| text(*a, cx.src)).collect();
    let indent = line_indent(cx.src, stmt.start_byte());
    let nl = newline(cx.src);
    Some(vec![
        TextEdit {
            range: start..start,
            new_text: format!(
                "{indent}ticker := {}.NewTicker({}){nl}{indent}defer ticker.Stop(){nl}",
                text(pkg, cx.src),
                args.join(", ")
            ),
        },
        TextEdit {
            range: call.byte_span(),
            new_text: "ticker.C".to_string(),
        },
    ])
}
