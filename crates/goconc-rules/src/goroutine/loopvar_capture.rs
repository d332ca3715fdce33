//! `goroutine-loopvar-capture`: before Go 1.22 a `for` statement's variables are shared by all
//! iterations, so a closure started with `go`, `g.Go` (errgroup) or `wg.Go` that uses one may see
//! a later iteration's value.

use crate::HashMap;
use goconc_syntax::NodeExt;
use std::collections::BTreeMap;

use tree_sitter::Node;

use crate::finding::{Finding, Severity, TextEdit};
use crate::{Context, Family, RuleMeta};
use goconc_model::goversion::GoVersion;
use goconc_model::sync_calls::{waitgroup_call, WaitGroupOp};
use goconc_model::{Decl, DeclKind};
use goconc_syntax::{
    enclosing_function, is_within, line_end_after_newline, line_indent, method_call,
    named_children, statement_call, text, unparen, walk,
};

pub static META: RuleMeta = RuleMeta {
    id: "goroutine-loopvar-capture",
    family: Family::Goroutine,
    severity: Severity::Warning,
    summary:
        "A closure started by `go`, `g.Go` or `wg.Go` captures a loop variable (Go < 1.22 only).",
    fix: Some("`v := v` at the top of the loop body"),
    doc: r#"
## Why it matters
Until Go 1.22, the variables declared by a `for` statement (`for i := 0; …` and
`for k, v := range …`) are created once and overwritten by every iteration. A closure that runs
on another goroutine and reads such a variable reads it *when it runs*, not when it was started:
by then the loop has usually moved on, so several goroutines process the last element and others
none, and the unsynchronised read races with the loop's write. Go 1.22 gave each iteration its
own variables; a module whose `go.mod` says `go 1.21` or lower (or a file whose `//go:build`
line asks for an older Go) still has the old semantics.

## Example
```go
for _, o := range orders {
	wg.Add(1)
	go func() {
		defer wg.Done()
		ship(o) // every goroutine may ship the last order
	}()
}
```
```go
for _, o := range orders {
	o := o
	wg.Add(1)
	go func() {
		defer wg.Done()
		ship(o)
	}()
}
```

## Fix
The quick fix declares a copy per iteration, `v := v`, as the first statement of the loop body
(one line per captured variable). Passing the value as an argument (`go func(o Order) { … }(o)`)
works as well. Raising the module's `go` line to 1.22 or later also fixes it. No fix is offered
when the loop body itself assigns to the variable, since the copy would not write back.

## When it stays silent
With Go 1.22 or later. When the variable is copied inside the body (`v := v`) or passed as an
argument, and when the closure is called synchronously instead of started on another goroutine.
Also when, later in the same iteration and with no `continue` in between, the loop is left
(`return`, `break`) or the goroutines are waited for (`wg.Wait()`, `g.Wait()`, a channel receive,
a `select`): the variable does not change while they run. A `defer` of a closure in a loop is a
different mistake (every deferred call sees the last value) that this rule does not report.
"#,
};

/// A closure started on another goroutine, and the statement that starts it.
struct Started<'t> {
    closure: Node<'t>,
    stmt: Node<'t>,
    how: String,
}

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    if cx.go_version >= GoVersion::new(22) || cx.index.for_statements.is_empty() {
        return;
    }
    let started = started_closures(cx);
    if started.is_empty() {
        return;
    }
    // Loop variables by their `for` statement.
    let mut loop_vars: HashMap<usize, Vec<&Decl>> = HashMap::default();
    for decl in cx
        .model
        .decls()
        .iter()
        .filter(|d| d.kind == DeclKind::LoopVar)
    {
        if let Some(stmt) = decl.loop_stmt() {
            loop_vars.entry(stmt.start_byte()).or_default().push(decl);
        }
    }
    // (loop, use, variable, how) of every reported use, and the captured variables per loop.
    let mut uses: Vec<(Node, Node, &Decl, &str)> = Vec::new();
    let mut captured: BTreeMap<usize, Vec<&Decl>> = BTreeMap::new();
    for s in &started {
        let loops: Vec<Node> = goconc_syntax::enclosing_loops(s.closure)
            .filter(|l| l.field("body").is_some_and(|b| is_within(s.closure, b)))
            .collect();
        if loops
            .iter()
            .all(|l| !loop_vars.contains_key(&l.start_byte()))
        {
            continue;
        }
        walk(s.closure, |n| {
            if n.kind_str() != "identifier" {
                return true;
            }
            if is_declaration_site(n) {
                return true;
            }
            let Some(decl) = cx.model.resolve(n) else {
                return true;
            };
            if decl.kind != DeclKind::LoopVar {
                return true;
            }
            let Some(for_stmt) = decl.loop_stmt().filter(|l| loops.contains(l)) else {
                return true;
            };
            if safe_after(cx, s.stmt, for_stmt) {
                return true;
            }
            uses.push((for_stmt, n, decl, &s.how));
            let vars = captured.entry(for_stmt.start_byte()).or_default();
            if !vars.iter().any(|d| d.ident == decl.ident) {
                vars.push(decl);
            }
            true
        });
    }
    let mut fixes: HashMap<usize, Option<(String, Vec<TextEdit>)>> = HashMap::default();
    for (for_stmt, ident, decl, how) in uses {
        let name = decl.name;
        let fix = fixes
            .entry(for_stmt.start_byte())
            .or_insert_with(|| {
                captured
                    .get(&for_stmt.start_byte())
                    .and_then(|vars| copy_fix(cx, for_stmt, vars))
            })
            .clone();
        let finding = META.finding(
            ident.byte_span(),
            format!(
                "loop variable `{name}` is captured by {how}: before Go 1.22 all iterations share it, so the closure may see a later iteration's value"
            ),
        )
        .with_related(decl.ident.byte_span(), format!("`{name}` is declared once for the whole loop"));
        out.push(match fix {
            Some((title, edits)) => finding.with_fix(title, edits),
            None => finding,
        });
    }
}

/// An identifier being declared (`x :=`, `for x := range`, `var x`): it names a new variable,
/// not the one in scope before it.
fn is_declaration_site(ident: Node) -> bool {
    let Some(parent) = ident.parent_node() else {
        return false;
    };
    match parent.kind_str() {
        "expression_list" => parent.parent_node().is_some_and(|p| {
            matches!(p.kind_str(), "short_var_declaration" | "range_clause")
                && p.field("left") == Some(parent)
        }),
        "var_spec" | "const_spec" | "parameter_declaration" | "variadic_parameter_declaration" => {
            true
        }
        _ => false,
    }
}

/// `go func() { … }()`, `g.Go(func() error { … })` on an errgroup, `wg.Go(func() { … })`.
fn started_closures<'t>(cx: &Context<'_, 't>) -> Vec<Started<'t>> {
    let mut out = Vec::new();
    for &stmt in &cx.index.go_statements {
        let Some(call) = statement_call(stmt) else {
            continue;
        };
        let Some(function) = call.field("function").map(unparen) else {
            continue;
        };
        if function.kind_str() == "func_literal" {
            out.push(Started {
                closure: function,
                stmt,
                how: "a goroutine started with `go`".into(),
            });
        }
    }
    for name in ["Go", "TryGo"] {
        for &call in cx.index.calls_named(name) {
            let Some(mc) = method_call(call) else {
                continue;
            };
            let ty = cx.model.type_of(mc.receiver);
            let errgroup = ty.deref().is_named("golang.org/x/sync/errgroup", "Group");
            let waitgroup = name == "Go"
                && waitgroup_call(cx.model, call).is_some_and(|w| w.op == WaitGroupOp::Go);
            if !errgroup && !waitgroup {
                continue;
            }
            let Some(arg) = named_children(mc.args).next().map(unparen) else {
                continue;
            };
            if arg.kind_str() != "func_literal" {
                continue;
            }
            let Some(stmt) = call
                .parent_node()
                .filter(|p| p.kind_str() == "expression_statement")
            else {
                continue;
            };
            let how = format!("the func passed to `{}.{name}`", text(mc.receiver, cx.src));
            out.push(Started {
                closure: arg,
                stmt,
                how,
            });
        }
    }
    out
}

/// Whether the loop variable cannot change while the goroutine may still read it: after `stmt`,
/// before the iteration ends, the loop is left (`return`, a `break` out of the loop) or the
/// goroutines are waited for (`wg.Wait()`, `g.Wait()`, a channel receive, a `select`), with no
/// `continue` or `goto` in between. Checked level by level, from the statement up to the loop
/// body.
fn safe_after(cx: &Context, stmt: Node, for_stmt: Node) -> bool {
    let Some(body) = for_stmt.field("body") else {
        return false;
    };
    let loop_function = enclosing_function(for_stmt);
    let mut current = stmt;
    loop {
        let mut next = current.next_named_sibling();
        while let Some(n) = next {
            match n.kind_str() {
                "comment" => {}
                "return_statement" if enclosing_function(n) == loop_function => return true,
                "return_statement" => break,
                "break_statement" => {
                    if break_target(cx, n).is_some_and(|t| is_within(for_stmt, t)) {
                        return true;
                    }
                    break;
                }
                "continue_statement" | "goto_statement" => return false,
                _ => match scan(cx, n) {
                    Scan::Jump => return false,
                    Scan::Wait => return true,
                    Scan::Neither => {}
                },
            }
            next = n.next_named_sibling();
        }
        // Up to the statement holding this one's block, unless this was the loop body.
        let Some(parent) = current.parent_node() else {
            return false;
        };
        if parent == body
            || parent.parent_node() == Some(body) && parent.kind_str() == "statement_list"
        {
            return false;
        }
        let mut up = Some(parent);
        current = loop {
            let Some(n) = up else { return false };
            if n == for_stmt || n == body {
                return false;
            }
            let in_list = n.parent_node().is_some_and(|p| {
                matches!(
                    p.kind_str(),
                    "block"
                        | "statement_list"
                        | "expression_case"
                        | "default_case"
                        | "type_case"
                        | "communication_case"
                )
            });
            if goconc_syntax::is_statement(n.kind_str()) && in_list {
                break n;
            }
            up = n.parent_node();
        };
    }
}

enum Scan {
    Jump,
    Wait,
    Neither,
}

/// Whether a statement may `continue`/`goto` (leaving the rest of the iteration) or waits for
/// other goroutines. Function literals and deferred calls do not count.
fn scan(cx: &Context, stmt: Node) -> Scan {
    let mut result = Scan::Neither;
    walk(stmt, |n| {
        if !matches!(result, Scan::Neither)
            || matches!(n.kind_str(), "func_literal" | "defer_statement")
        {
            return false;
        }
        match n.kind_str() {
            "continue_statement" | "goto_statement" => result = Scan::Jump,
            "select_statement" | "receive_statement" => result = Scan::Wait,
            "unary_expression" => {
                if n.field("operator").is_some_and(|o| text(o, cx.src) == "<-") {
                    result = Scan::Wait;
                }
            }
            "call_expression" => {
                if let Some(mc) = method_call(n) {
                    if text(mc.method, cx.src) == "Wait" {
                        let ty = cx.model.type_of(mc.receiver);
                        let errgroup = ty.deref().is_named("golang.org/x/sync/errgroup", "Group");
                        if errgroup
                            || waitgroup_call(cx.model, n)
                                .is_some_and(|w| w.op == WaitGroupOp::Wait)
                        {
                            result = Scan::Wait;
                        }
                    }
                }
            }
            _ => {}
        }
        true
    });
    result
}

/// The statement a `break` leaves.
fn break_target<'t>(cx: &Context, stmt: Node<'t>) -> Option<Node<'t>> {
    let label = named_children(stmt).next().map(|l| text(l, cx.src));
    let mut up = stmt.parent_node();
    while let Some(n) = up {
        match (n.kind_str(), label) {
            ("func_literal" | "function_declaration" | "method_declaration", _) => return None,
            (
                "for_statement"
                | "expression_switch_statement"
                | "type_switch_statement"
                | "select_statement",
                None,
            ) => return Some(n),
            ("labeled_statement", Some(label)) => {
                if n.field("label").map(|l| text(l, cx.src)) == Some(label) {
                    return named_children(n).find(|c| c.kind_str() != "label_name");
                }
            }
            _ => {}
        }
        up = n.parent_node();
    }
    None
}

/// `v := v` lines at the top of the loop body, for the captured variables in the order the loop
/// declares them. None when the body assigns to one of them (the copy would not write back) or
/// its first statement shares the line of the brace.
fn copy_fix(cx: &Context, for_stmt: Node, vars: &[&Decl]) -> Option<(String, Vec<TextEdit>)> {
    let body = for_stmt.field("body")?;
    let first = named_children(body).next()?;
    let at = line_end_after_newline(cx.src, body.start_byte());
    if first.start_byte() < at || !cx.src.get(body.start_byte() + 1..at)?.trim().is_empty() {
        return None;
    }
    let mut vars: Vec<&Decl> = vars.to_vec();
    vars.sort_by_key(|d| d.ident.start_byte());
    if vars.iter().any(|d| cx.model.written_within(d, body)) {
        return None;
    }
    let indent = line_indent(cx.src, for_stmt.start_byte());
    let lines: String = vars
        .iter()
        .map(|d| format!("{indent}\t{0} := {0}\n", d.name))
        .collect();
    let names: Vec<String> = vars
        .iter()
        .map(|d| format!("`{0} := {0}`", d.name))
        .collect();
    Some((
        format!("Copy per iteration: {}", names.join(", ")),
        vec![TextEdit {
            range: at..at,
            new_text: lines,
        }],
    ))
}

#[cfg(test)]
mod tests {
    use crate::test_support::FileOptions;
    use crate::test_support::{findings_with, lines_and_fixed};
    use goconc_model::GoVersion;

    fn run(src: &str, minor: u32) -> (Vec<usize>, String) {
        let options = FileOptions {
            module_go_version: Some(GoVersion::new(minor)),
            ..FileOptions::default()
        };
        lines_and_fixed(
            &findings_with("goroutine-loopvar-capture", src, &options),
            src,
        )
    }

    const SRC: &str = "package p

func a(xs []int, use func(int)) {
	for i, x := range xs {
		go func() {
			use(i + x)
			use(x)
		}()
	}
}

func b(xs []int, use func(int)) {
	for _, x := range xs {
		if x > 0 {
			go func() { use(x) }()
			return
		}
	}
}

func c(n int, use func(int)) {
	for i := 0; i < n; i++ {
		go func() { use(i) }()
		if i%2 == 0 {
			i++
		}
	}
}
";

    #[test]
    fn every_use_reported_one_fix_per_loop() {
        let (lines, fixed) = run(SRC, 21);
        assert_eq!(lines, vec![6, 6, 7, 23]);
        assert!(
            fixed.contains("for i, x := range xs {\n\t\ti := i\n\t\tx := x\n\t\tgo func() {"),
            "{fixed}"
        );
        // The loop that writes `i` gets no fix.
        assert!(
            fixed.contains("for i := 0; i < n; i++ {\n\t\tgo func()"),
            "{fixed}"
        );
    }

    #[test]
    fn silent_when_waited_in_the_iteration_or_declared_inside() {
        let src = "package p

import \"sync\"

func a(xss [][]int, use func(int)) {
	for _, xs := range xss {
		var wg sync.WaitGroup
		for i := range xs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i, x := range xs {
					use(i + x)
				}
				use(i)
			}()
		}
		wg.Wait()
	}
}
";
        // Only the inner loop's `i` (line 15): `xs` is waited for, the inner `i` is the
        // closure's own.
        assert_eq!(run(src, 21).0, vec![15]);
    }

    #[test]
    fn silent_since_go_1_22() {
        assert_eq!(run(SRC, 22).0, Vec::<usize>::new());
    }
}
