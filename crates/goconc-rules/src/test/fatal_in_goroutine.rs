//! `test-fatal-in-goroutine`: `t.Fatal`, `t.FailNow`, `t.Skip`… called from a goroutine that a
//! test started.

use crate::finding::LineOf;
use crate::HashMap;
use goconc_syntax::NodeExt;

use tree_sitter::Node;

use crate::finding::{Finding, Severity, TextEdit};
use crate::{Context, Family, RuleMeta};
use goconc_model::flow::TEST_GOEXIT_METHODS;
use goconc_model::goroutines::{go_statement_of, group_go_call_of};
use goconc_model::sync_calls::is_testing_handle;
use goconc_model::Ty;
use goconc_syntax::{call_statement, starts_line, statement_line};
use goconc_syntax::{
    enclosing_function, is_within, line_indent, method_call, named_children, statements, text,
    unparen, MethodCall,
};

pub static META: RuleMeta = RuleMeta {
    id: "test-fatal-in-goroutine",
    family: Family::Test,
    severity: Severity::Error,
    summary: "`t.Fatal`, `t.FailNow`, `t.Skip` and friends called from a goroutine started by a test: they stop only that goroutine, not the test.",
    fix: Some("`t.Error…` followed by `return`"),
    doc: r#"
## Why it matters
`t.FailNow` (and `Fatal`, `Fatalf`, `SkipNow`, `Skip`, `Skipf`, which call it or its twin) marks the
test and then calls `runtime.Goexit` to stop *the goroutine that called it*. From a goroutine the
test started, that is not the test: the test function keeps running, may block forever waiting
for a result that will not come, or may already have returned — in which case the testing
package panics with "Fail in goroutine after Test… has completed". The `testing` documentation
says these methods must be called from the goroutine running the test.

This holds for `go` statements, for functions handed to `errgroup.Group.Go` and
`sync.WaitGroup.Go`, and for a helper started with `go helper(t)`.

## Example
```go
go func() {
	defer close(done)
	if _, err := s.Get(1); err != nil {
		t.Fatal(err)
	}
}()
<-done
```
```go
go func() {
	defer close(done)
	if _, err := s.Get(1); err != nil {
		t.Error(err)
		return
	}
}()
<-done
```

## Fix
When the call is the last statement of its block inside the goroutine's own function literal (not
a nested closure) and the literal has no results, the quick fix turns `Fatal` into `Error`,
`Fatalf` into `Errorf` and `FailNow` into `Fail`, and adds a `return` after it (none is needed
at the very end of the goroutine). `Skip` has no such twin: there is no fix for it.

## When it stays silent
- The call runs on the test goroutine: after `wg.Wait`, in a deferred function, or after a
  channel receive.
- The call is inside a `t.Run` subtest closure on the subtest's own `t` (the testing package runs
  that closure on the subtest's goroutine).
- The receiver is not known to be a `*testing.T`, `*testing.B`, `*testing.F` or `testing.TB`, or
  the goroutine is not started from a function that takes one.
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    if !cx.model.imports.imports("testing") {
        return;
    }
    let has_starter = !cx.index.go_statements.is_empty()
        || !cx.index.calls_named("Go").is_empty()
        || !cx.index.calls_named("TryGo").is_empty();
    if !has_starter {
        return;
    }
    for name in TEST_GOEXIT_METHODS {
        for &call in cx.index.calls_named(name) {
            check_call(cx, call, out);
        }
    }
    check_helpers(cx, out);
}

/// `t.Fatal(…)` on a testing handle named by an identifier.
fn forbidden_call<'t>(cx: &Context<'_, 't>, call: Node<'t>) -> Option<MethodCall<'t>> {
    let mc = method_call(call)?;
    if !TEST_GOEXIT_METHODS.contains(&text(mc.method, cx.src)) {
        return None;
    }
    let operand = unparen(mc.receiver);
    (operand.kind_str() == "identifier" && is_testing_handle(&cx.model.type_of(operand)))
        .then_some(mc)
}

fn message(cx: &Context, mc: &MethodCall) -> String {
    let call = format!("{}.{}", text(mc.receiver, cx.src), text(mc.method, cx.src));
    format!("`{call}` is called from a goroutine the test started: it stops only that goroutine, not the test")
}

fn check_call<'t>(cx: &Context<'_, 't>, call: Node<'t>, out: &mut Vec<Finding>) {
    let Some(mc) = forbidden_call(cx, call) else {
        return;
    };
    let decl = cx.model.resolve(unparen(mc.receiver)).map(|d| d.ident);
    // `go t.FailNow()`
    if let Some(go) = call_statement(call).filter(|s| s.kind_str() == "go_statement") {
        if in_test_function(cx, go) {
            out.push(META.finding(call.byte_span(), message(cx, &mc)));
        }
        return;
    }
    let mut innermost = true;
    let mut current = enclosing_function(call);
    while let Some(function) = current {
        if function.kind_str() != "func_literal" {
            return;
        }
        let starter = go_statement_of(function).or_else(|| group_go_call_of(cx.model, function));
        if let Some(starter) = starter {
            let body = function.field("body");
            if decl.is_some_and(|d| body.is_some_and(|b| is_within(d, b)))
                || !in_test_function(cx, starter)
            {
                return;
            }
            let via = if starter.kind_str() == "go_statement" {
                "the goroutine starts here"
            } else {
                "the function runs on a goroutine of its own"
            };
            let mut finding = META
                .finding(call.byte_span(), message(cx, &mc))
                .with_related(
                    starter.start_byte()..starter.start_byte() + 2,
                    format!("{via} (line {})", LineOf(starter.start_byte())),
                );
            if innermost {
                if let Some((title, edits)) = fix(cx, call, &mc, function) {
                    finding = finding.with_fix(title, edits);
                }
            }
            out.push(finding);
            return;
        }
        if is_subtest_closure(cx, function) {
            if decl.is_some_and(|d| is_within(d, function)) {
                return; // the subtest's own t, on the subtest's goroutine
            }
        } else {
            let local_starts: Vec<Node> = cx
                .index
                .go_statements
                .iter()
                .copied()
                .filter(|go| starts_local(cx, *go, function))
                .collect();
            if !local_starts.is_empty() {
                for go in local_starts
                    .into_iter()
                    .filter(|go| in_test_function(cx, *go))
                {
                    report_at_go(cx, go, &[mc], out);
                }
                return;
            }
        }
        innermost = false;
        current = enclosing_function(function);
    }
}

/// Reports a forbidden call reached through a name (`go check()`, `go helper(t)`) at the `go`
/// statement, as go vet does, with the calls as related locations.
fn report_at_go(cx: &Context, go: Node, calls: &[MethodCall], out: &mut Vec<Finding>) {
    let Some(go_call) = named_children(go).next() else {
        return;
    };
    let Some(function) = go_call.field("function").map(unparen) else {
        return;
    };
    let Some(first) = calls.first() else { return };
    let callee = text(function, cx.src);
    let method = format!(
        "{}.{}",
        text(first.receiver, cx.src),
        text(first.method, cx.src)
    );
    let mut finding = META.finding(
        go_call.byte_span(),
        format!("`{callee}` calls `{method}` on the goroutine started here: it stops only that goroutine, not the test"),
    );
    for mc in calls {
        let line = LineOf(mc.call.start_byte());
        finding = finding.with_related(
            mc.call.byte_span(),
            format!("`{}` (line {line})", text(mc.call, cx.src)),
        );
    }
    out.push(finding);
}

/// `go f(…)` where `f` is a local initialised with the function literal `lit`.
fn starts_local(cx: &Context, go: Node, lit: Node) -> bool {
    let Some(call) = named_children(go).next() else {
        return false;
    };
    let Some(function) = call.field("function").map(unparen) else {
        return false;
    };
    function.kind_str() == "identifier"
        && cx.model.resolve(function).and_then(|d| d.init).map(unparen) == Some(lit)
}

/// `t.Run(name, func(t *testing.T) { … })`: the closure runs on the subtest's goroutine.
fn is_subtest_closure(cx: &Context, lit: Node) -> bool {
    let mut node = lit;
    let Some(mut parent) = lit.parent_node() else {
        return false;
    };
    while parent.kind_str() == "parenthesized_expression" {
        node = parent;
        let Some(p) = parent.parent_node() else {
            return false;
        };
        parent = p;
    }
    if parent.kind_str() != "argument_list" || parent.named_child(1) != Some(node) {
        return false;
    }
    parent
        .parent_node()
        .and_then(method_call)
        .is_some_and(|mc| {
            text(mc.method, cx.src) == "Run" && is_testing_handle(&cx.model.type_of(mc.receiver))
        })
}

/// Is `node` inside a top-level function or method that takes a testing handle (a test, a
/// benchmark, a fuzz target or a test helper)?
fn in_test_function(cx: &Context, node: Node) -> bool {
    let mut current = enclosing_function(node);
    while let Some(f) = current {
        if f.kind_str() != "func_literal" {
            return takes_testing_handle(cx, f);
        }
        current = enclosing_function(f);
    }
    false
}

fn takes_testing_handle(cx: &Context, function: Node) -> bool {
    let Some(params) = function.field("parameters") else {
        return false;
    };
    named_children(params).any(|p| {
        p.field("type")
            .is_some_and(|t| is_testing_handle(&Ty::from_node(t, cx.src, &cx.model.imports)))
    })
}

/// `go helper(t, …)` where `helper` is a function of this file that calls `t.Fatal` & co.
fn check_helpers(cx: &Context, out: &mut Vec<Finding>) {
    let mut declarations: Option<HashMap<&str, Node>> = None;
    for &go in &cx.index.go_statements {
        let Some(call) = named_children(go)
            .next()
            .filter(|c| c.kind_str() == "call_expression")
        else {
            continue;
        };
        let Some(function) = call
            .field("function")
            .map(unparen)
            .filter(|f| f.kind_str() == "identifier")
        else {
            continue;
        };
        if cx.model.resolve(function).is_some() || !in_test_function(cx, go) {
            continue;
        }
        let declarations = declarations.get_or_insert_with(|| {
            cx.model
                .functions
                .iter()
                .filter(|f| f.node.kind_str() == "function_declaration")
                .filter_map(|f| Some((text(f.node.field("name")?, cx.src), f.node)))
                .collect()
        });
        let Some(&helper) = declarations.get(text(function, cx.src)) else {
            continue;
        };
        if is_within(go, helper) {
            continue; // a function starting itself
        }
        let calls: Vec<MethodCall> = TEST_GOEXIT_METHODS
            .iter()
            .flat_map(|name| cx.index.calls_named_within(name, helper))
            .filter_map(|c| forbidden_call(cx, c))
            .filter(|mc| runs_on_helper_goroutine(cx, mc.call, helper))
            .collect();
        let mut calls = calls;
        calls.sort_by_key(|mc| mc.call.start_byte());
        if !calls.is_empty() {
            report_at_go(cx, go, &calls, out);
        }
    }
}

/// Is a call inside `helper` run by the helper's own goroutine (not in a goroutine or subtest it
/// starts, nor in `go t.Fatal()`)?
fn runs_on_helper_goroutine(cx: &Context, call: Node, helper: Node) -> bool {
    if call_statement(call).is_some_and(|s| s.kind_str() == "go_statement") {
        return false;
    }
    let mut current = enclosing_function(call);
    while let Some(f) = current {
        if f == helper {
            return true;
        }
        if go_statement_of(f).is_some()
            || group_go_call_of(cx.model, f).is_some()
            || is_subtest_closure(cx, f)
        {
            return false;
        }
        current = enclosing_function(f);
    }
    false
}

/// `t.Fatal(x)` → `t.Error(x)` + `return`, when the call ends its block inside the goroutine's
/// own literal and the literal returns nothing.
fn fix(cx: &Context, call: Node, mc: &MethodCall, lit: Node) -> Option<(String, Vec<TextEdit>)> {
    let replacement = match text(mc.method, cx.src) {
        "Fatal" => "Error",
        "Fatalf" => "Errorf",
        "FailNow" => "Fail",
        _ => return None,
    };
    if lit.field("result").is_some() {
        return None;
    }
    let body = lit.field("body")?;
    let stmt = call_statement(call).filter(|s| s.kind_str() == "expression_statement")?;
    let mut block = stmt.parent_node()?;
    if block.kind_str() == "statement_list" {
        block = block.parent_node()?;
    }
    if statements(block).last() != Some(&stmt) {
        return None;
    }
    let mut edits = vec![TextEdit {
        range: mc.method.byte_span(),
        new_text: replacement.to_string(),
    }];
    let recv = text(mc.receiver, cx.src);
    let title = if block == body {
        format!("Use `{recv}.{replacement}`")
    } else {
        if !starts_line(stmt, cx.src) {
            return None;
        }
        let line = statement_line(stmt, cx.src)?;
        let indent = line_indent(cx.src, stmt.start_byte());
        edits.push(TextEdit {
            range: line.end..line.end,
            new_text: format!("{indent}return\n"),
        });
        format!("Use `{recv}.{replacement}` and return")
    };
    Some((title, edits))
}

#[cfg(test)]
mod tests {
    use crate::test_support::FileOptions;
    use crate::test_support::{findings_with, lines_and_fixed};

    fn run(src: &str) -> (Vec<usize>, String) {
        let options = FileOptions {
            is_test_file: true,
            ..FileOptions::default()
        };
        lines_and_fixed(&findings_with(super::META.id, src, &options), src)
    }

    #[test]
    fn helper_started_with_go_is_reported_at_the_go_statement() {
        let src = "package p\n\nimport \"testing\"\n\nfunc check(t *testing.T) {\n\tt.Fatal(\"x\")\n}\n\nfunc TestX(t *testing.T) {\n\tgo check(t)\n\tcheck(t)\n}\n";
        assert_eq!(run(src).0, vec![10]);
    }

    #[test]
    fn local_closure_started_with_go_is_reported_at_the_go_statement() {
        let src = "package p\n\nimport \"testing\"\n\nfunc TestX(t *testing.T) {\n\tf := func() {\n\t\tt.FailNow()\n\t}\n\tgo f()\n}\n";
        assert_eq!(run(src).0, vec![9]);
    }

    #[test]
    fn subtest_inside_goroutine_flags_only_the_outer_t() {
        let src = "package p\n\nimport \"testing\"\n\nfunc TestX(t *testing.T) {\n\tgo func() {\n\t\tt.Run(\"a\", func(st *testing.T) {\n\t\t\tst.Fatal()\n\t\t\tt.Fatal()\n\t\t})\n\t}()\n}\n";
        assert_eq!(run(src).0, vec![9]);
    }

    #[test]
    fn last_statement_of_the_goroutine_needs_no_return() {
        let src = "package p\n\nimport \"testing\"\n\nfunc TestX(t *testing.T) {\n\tgo func() {\n\t\tt.Fatalf(\"%d\", 1)\n\t}()\n}\n";
        let (lines, fixed) = run(src);
        assert_eq!(lines, vec![7]);
        assert!(fixed.contains("\t\tt.Errorf(\"%d\", 1)\n\t}()"));
    }

    #[test]
    fn nested_goroutine_is_reported_once() {
        let src = "package p\n\nimport \"testing\"\n\nfunc TestX(t *testing.T) {\n\tgo func() {\n\t\tgo func() {\n\t\t\tt.SkipNow()\n\t\t}()\n\t}()\n}\n";
        assert_eq!(run(src).0, vec![8]);
    }
}
