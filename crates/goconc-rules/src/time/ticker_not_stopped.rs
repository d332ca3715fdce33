//! `ticker-not-stopped`: a `time.NewTicker`/`time.NewTimer` kept in a local that is never stopped.

use goconc_syntax::NodeExt;
use tree_sitter::Node;

use crate::finding::{Finding, Severity, TextEdit};
use crate::{Context, Family, RuleMeta};
use goconc_model::Decl;
use goconc_syntax::enclosing_loop;
use goconc_syntax::{
    enclosing_function, insertion_after_line, line_indent, named_children, newline, text,
};

pub static META: RuleMeta = RuleMeta {
    id: "ticker-not-stopped",
    family: Family::Time,
    severity: Severity::Warning,
    summary: "`time.NewTicker`/`NewTimer` never stopped (a warning before Go 1.23, a hint after).",
    fix: Some("`defer t.Stop()`"),
    doc: r#"
## Why it matters
Before Go 1.23 the runtime keeps every ticker that has not been stopped: it fires forever, and
neither it nor its channel is ever freed, so a function that makes a ticker and returns without
`Stop` leaks it on every call. A timer waited on in a `select` leaks the same way until it fires.
From Go 1.23 on, unreferenced timers and tickers are collected, but stopping them is still the
clear way to say the work is over (and a running ticker still wakes the runtime up).

## Example
```go
func Poll(done <-chan struct{}) {
	t := time.NewTicker(time.Second)
	for {
		select {
		case <-t.C:
			check()
		case <-done:
			return
		}
	}
}
```
```go
func Poll(done <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			check()
		case <-done:
			return
		}
	}
}
```

## Fix
The quick fix adds `defer t.Stop()` on the line after the declaration (not when the declaration
is inside a loop, where the deferred calls would pile up).

## When it stays silent
- `Stop` is called anywhere, or the ticker leaves the function (returned, stored, passed on):
  someone else may stop it.
- A timer whose channel is received outside a `select` (it has fired) or not at all.
- The ticker is not kept in a local variable.

The severity is a warning for modules before Go 1.23 and a hint from Go 1.23 on. A ticker made
in a function that cannot return (its last statement is a loop with no `return` or `break`
leaving it) is a hint whatever the version: it lives as long as the loop that reads it, and a
`defer t.Stop()` would never run.
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    let mut identifiers = Identifiers::default();
    for name in ["NewTicker", "NewTimer"] {
        for &call in cx.index.calls_named(name) {
            if let Some(mut f) = check_call(cx, &mut identifiers, call, name == "NewTicker") {
                // A ticker in a function that cannot return lives as long as the program would
                // anyway: no leak per call.
                let endless = name == "NewTicker"
                    && enclosing_function(call)
                        .and_then(|f| f.field("body"))
                        .is_some_and(|body| !super::can_return(cx, body));
                if cx.go_version.at_least(23) || endless {
                    f.severity = Severity::Hint;
                }
                out.push(f);
            }
        }
    }
}

fn check_call<'t>(
    cx: &Context<'_, 't>,
    identifiers: &mut Identifiers<'t>,
    call: Node<'t>,
    ticker: bool,
) -> Option<Finding> {
    let function = call.field("function")?;
    let what = cx.model.qualified_name(function, "time")?;
    let right = call
        .parent_node()
        .filter(|p| p.kind_str() == "expression_list")?;
    let stmt = right
        .parent_node()
        .filter(|p| matches!(p.kind_str(), "short_var_declaration" | "var_spec"))?;
    if named_children(right).count() != 1 {
        return None;
    }
    let left = match stmt.kind_str() {
        "short_var_declaration" => stmt.field("left")?,
        _ => stmt,
    };
    let names: Vec<Node> = if stmt.kind_str() == "var_spec" {
        goconc_model::types::names_of(stmt)
    } else {
        named_children(left).collect()
    };
    let [var] = names[..] else { return None };
    let decl = cx
        .model
        .resolve_name(text(var, cx.src), stmt.end_offset())
        .filter(|d| d.ident == var)?;
    let uses = uses_of(cx, identifiers, decl);
    let mut received_in_select = false;
    for u in &uses {
        let parent = u.parent_node()?;
        if parent.kind_str() != "selector_expression" || parent.field("operand") != Some(*u) {
            return None; // passed on, returned, stored, compared: someone else may stop it
        }
        match text(parent.field("field")?, cx.src) {
            "Stop" => return None,
            "Reset" => {}
            "C" => {
                let received = parent
                    .parent_node()
                    .filter(|p| p.kind_str() == "unary_expression");
                if let Some(recv) = received {
                    if in_select_case(recv) {
                        received_in_select = true;
                    } else if !ticker {
                        return None; // the timer has fired
                    }
                } else if !ticker {
                    return None; // the channel is handed on
                }
            }
            _ => return None,
        }
    }
    if !ticker && !received_in_select {
        return None;
    }
    let var_name = decl.name;
    let kind = if ticker { "ticker" } else { "timer" };
    let mut finding = META.finding(
        var.byte_span(),
        if ticker {
            format!("the ticker `{var_name}` from `time.{what}` is never stopped: before Go 1.23 it keeps firing and is never freed")
        } else {
            format!("the timer `{var_name}` from `time.{what}` is never stopped: before Go 1.23 it is not freed until it fires")
        },
    );
    let decl_stmt = if stmt.kind_str() == "var_spec" {
        stmt.parent_node()?
    } else {
        stmt
    };
    // A package-level ticker is no function's to stop.
    enclosing_function(decl_stmt)?;
    if enclosing_loop(decl_stmt).is_none()
        && decl_stmt
            .parent_node()
            .is_some_and(|p| matches!(p.kind_str(), "block" | "statement_list"))
    {
        if let Some(at) = insertion_after_line(decl_stmt, cx.src) {
            let nl = newline(cx.src);
            let indent = line_indent(cx.src, decl_stmt.start_byte());
            finding = finding.with_fix(
                format!("Stop the {kind} when the function returns"),
                vec![TextEdit {
                    range: at..at,
                    new_text: format!("{nl}{indent}defer {var_name}.Stop()"),
                }],
            );
        }
    }
    Some(finding)
}

/// The file's identifiers by name, in document order, gathered on first use: a function may
/// make thousands of tickers, and walking the rest of it for each one's uses cost the square of
/// its length.
#[derive(Default)]
struct Identifiers<'t>(Option<crate::HashMap<&'t str, Vec<Node<'t>>>>);

/// The identifiers that refer to a declaration.
fn uses_of<'t>(
    cx: &Context<'_, 't>,
    identifiers: &mut Identifiers<'t>,
    decl: &Decl<'t>,
) -> Vec<Node<'t>> {
    let by_name = identifiers
        .0
        .get_or_insert_with(|| goconc_syntax::identifiers_by_name(cx.model.root, cx.src));
    let named = by_name.get(decl.name).map_or(&[][..], Vec::as_slice);
    let visible = &decl.visible;
    let first = named.partition_point(|n| n.end_offset() <= visible.start);
    named[first..]
        .iter()
        .take_while(|n| n.start_byte() < visible.end)
        .filter(|&&n| n != decl.ident && cx.model.resolve(n).is_some_and(|d| d.ident == decl.ident))
        .copied()
        .collect()
}

/// Is a receive the communication of a `select` case?
fn in_select_case(recv: Node) -> bool {
    let mut current = recv.parent_node();
    while let Some(n) = current {
        match n.kind_str() {
            "communication_case" => return true,
            "receive_statement"
            | "expression_statement"
            | "expression_list"
            | "parenthesized_expression" => current = n.parent_node(),
            _ => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use crate::test_support::{analyze_alone, FileOptions};
    use crate::Severity;
    use goconc_model::GoVersion;
    use goconc_syntax::SourceFile;

    fn severities(src: &str, minor: u32) -> Vec<Severity> {
        let file = SourceFile::new(src.to_string());
        let options = FileOptions {
            module_go_version: Some(GoVersion::new(minor)),
            ..FileOptions::default()
        };
        analyze_alone(&file, &options)
            .findings
            .into_iter()
            .filter(|f| f.rule == super::META.id)
            .map(|f| f.severity)
            .collect()
    }

    const SRC: &str = "package p\nimport \"time\"\nfunc f(done chan int) {\n\tt := time.NewTicker(time.Second)\n\tfor {\n\t\tselect {\n\t\tcase <-t.C:\n\t\tcase <-done:\n\t\t\treturn\n\t\t}\n\t}\n}\n";

    #[test]
    fn warning_before_go_1_23_and_hint_after() {
        assert_eq!(severities(SRC, 22), vec![Severity::Warning]);
        assert_eq!(severities(SRC, 23), vec![Severity::Hint]);
    }

    #[test]
    fn a_ticker_in_a_function_that_cannot_return_is_a_hint() {
        let endless = SRC
            .replace("\t\tcase <-done:\n\t\t\treturn\n", "")
            .replace("done chan int", "");
        assert_eq!(severities(&endless, 22), vec![Severity::Hint]);
    }

    #[test]
    fn a_stopped_ticker_is_fine() {
        let src = SRC.replace("\tfor {", "\tdefer t.Stop()\n\tfor {");
        assert!(severities(&src, 22).is_empty());
    }
}
