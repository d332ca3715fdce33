//! `waitgroup-done-not-deferred`: `wg.Done()` called at the end of a goroutine instead of
//! deferred, so that an early return or a panic skips it.

use crate::finding::LineOf;
use goconc_syntax::NodeExt;
use tree_sitter::Node;

use super::{wg_calls_within, wg_key, WgKey};
use crate::finding::{Finding, Severity, TextEdit};
use crate::{Context, Family, RuleMeta};
use goconc_model::flow::{self, ExitKind, FlowAnalysis};
use goconc_model::goroutines::{go_statement_of, in_nested_goroutine};
use goconc_model::sync_calls::{waitgroup_call, WaitGroupOp};
use goconc_model::FileModel;
use goconc_syntax::{call_statement, starts_line, statement_line};
use goconc_syntax::{
    enclosing_function, line_end_after_newline, line_indent, statement_call, statements, text,
    unparen, walk,
};

pub static META: RuleMeta = RuleMeta {
    id: "waitgroup-done-not-deferred",
    family: Family::WaitGroup,
    severity: Severity::Warning,
    summary: "`wg.Done()` is not deferred: an early return or a panic skips it and `wg.Wait` blocks forever.",
    fix: Some("`defer wg.Done()` at the top of the goroutine"),
    doc: r#"
## Why it matters
Every `Add` must be matched by exactly one `Done`, whatever way the goroutine ends. A `Done` written
as the goroutine's last statement is skipped by every `return` above it, by a branch that does not
reach it, and by a panic in the work before it (recovered further up, or in a test). The counter
never reaches zero and `wg.Wait` blocks forever: the program hangs instead of failing, which is
much harder to diagnose. `defer wg.Done()` as the goroutine's first statement runs on every exit.

## Example
```go
go func(u string) {
	body, err := fetch(u)
	if err != nil {
		return // Done is skipped: Wait hangs
	}
	store(u, body)
	wg.Done()
}(u)
```
```go
go func(u string) {
	defer wg.Done()
	body, err := fetch(u)
	if err != nil {
		return
	}
	store(u, body)
}(u)
```

## Fix
When `wg.Done()` is the last statement of the goroutine's body and its only `Done` on that group,
the quick fix removes it and inserts `defer wg.Done()` (with the same receiver) as the first line of
the body. When `Done` sits in the middle of the work or in a branch, moving it changes when the
parent wakes up, so the fix is left to you.

## When it stays silent
- `Done` is the goroutine's first statement, or nothing before it can return early or panic.
- `Done` is deferred, or called from a deferred closure (a `recover` handler).
- `Done` is in an ordinary function or closure that is not itself the goroutine (a helper the
  goroutine defers), or the receiver is not known to be a `sync.WaitGroup`.
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    if cx.index.go_statements.is_empty() {
        return;
    }
    let mut seen = crate::HashSet::default();
    for &node in cx.index.calls_named("Done") {
        let Some(done) = waitgroup_call(cx.model, node).filter(|c| c.op == WaitGroupOp::Done)
        else {
            continue;
        };
        let Some(stmt) =
            call_statement(done.call).filter(|s| s.kind_str() == "expression_statement")
        else {
            continue;
        };
        let Some(lit) = enclosing_function(done.call).filter(|f| f.kind_str() == "func_literal")
        else {
            continue;
        };
        let Some(go) = go_statement_of(lit) else {
            continue;
        };
        let Some(body) = lit.field("body") else {
            continue;
        };
        let Some(key) = wg_key(cx.model, done.receiver) else {
            continue;
        };
        if key.declared_within(body) {
            continue;
        }
        let stmts = statements(body);
        if stmts.first() == Some(&stmt) {
            continue;
        }
        // Every Done of the goroutine itself on this group must be a plain statement of its own
        // body: a deferred one as well means a double Done, another problem. A Done inside a
        // loop counts work items, not the goroutine: deferring it makes no sense.
        let dones: Vec<_> = wg_calls_within(cx, WaitGroupOp::Done, &key, body)
            .filter(|d| !in_nested_goroutine(cx.model, d.call, body))
            .collect();
        let all_plain = dones.iter().all(|d| {
            call_statement(d.call).is_some_and(|s| s.kind_str() == "expression_statement")
                && enclosing_function(d.call) == Some(lit)
                && !goconc_syntax::enclosing_loops(d.call)
                    .any(|l| goconc_syntax::is_within(l, body))
        });
        if !all_plain {
            continue;
        }
        // Report each goroutine once, at its first Done that can be skipped.
        if !seen.insert((lit.start_byte(), key.path.clone())) {
            continue;
        }
        let Some((done, reason)) = dones
            .iter()
            .find_map(|d| skip_reason(cx, d.call, body, &key).map(|r| (*d, r)))
        else {
            continue;
        };
        let Some(stmt) = call_statement(done.call) else {
            continue;
        };
        let recv = text(done.receiver, cx.src);
        let why = match reason {
            Skip::Return(ret) => {
                format!("the `return` on line {} skips it", LineOf(ret.start_byte()))
            }
            Skip::Branch => "a path through the goroutine ends without it".to_string(),
            Skip::Panic(_) => "a panic in the work before it skips it".to_string(),
        };
        let mut finding = META
            .finding(
                done.call.byte_range(),
                format!("`{recv}.Done()` is not deferred: {why} and `{recv}.Wait` blocks forever"),
            )
            .with_related(
                go.start_byte()..go.start_byte() + 2,
                format!(
                    "the goroutine starts here (line {})",
                    LineOf(go.start_byte())
                ),
            );
        match reason {
            Skip::Return(ret) => {
                finding = finding.with_related(ret.byte_range(), "returns without calling `Done`")
            }
            Skip::Panic(risky) => {
                let first_line = risky.start_byte()
                    ..goconc_syntax::line_end_after_newline(cx.src, risky.start_byte())
                        .min(risky.end_byte());
                finding = finding.with_related(first_line, "a panic here skips `Done`");
            }
            Skip::Branch => {}
        }
        if dones.len() == 1 && stmts.last() == Some(&stmt) {
            if let Some(edits) = fix(cx.src, body, stmt, recv) {
                finding = finding.with_unsafe_fix(
                    format!("Defer `{recv}.Done()` at the top of the goroutine"),
                    edits,
                );
            }
        }
        out.push(finding);
    }
}

#[derive(Clone, Copy)]
enum Skip<'t> {
    /// A `return` reached without calling Done.
    Return(Node<'t>),
    /// The end of the body reached without calling Done (Done is in a branch).
    Branch,
    /// A statement before Done that can panic.
    Panic(Node<'t>),
}

/// Why this Done may not run: a path to an exit without it, or a statement before it that can
/// panic. None when nothing can skip it.
fn skip_reason<'t>(
    cx: &Context<'_, 't>,
    done: Node<'t>,
    body: Node<'t>,
    key: &WgKey,
) -> Option<Skip<'t>> {
    let mut analysis = DoneFlow {
        model: cx.model,
        key,
    };
    if let Some(exits) = flow::run(cx.model, body, &mut analysis, false) {
        // Exits that do not return (os.Exit, log.Fatal, panic) end the program anyway.
        let skipping = exits
            .iter()
            .filter(|e| !e.state && e.kind != ExitKind::NoReturn);
        let mut branch = false;
        for exit in skipping {
            if exit.kind == ExitKind::Return {
                return Some(Skip::Return(exit.node));
            } else {
                branch = true;
            }
        }
        if branch {
            return Some(Skip::Branch);
        }
    }
    // Statements that run before Done, level by level up to the body.
    let mut current = call_statement(done)?;
    while current != body {
        let parent = current.parent()?;
        let siblings = statements(parent);
        if let Some(pos) = siblings.iter().position(|s| *s == current) {
            if let Some(risky) = siblings[..pos].iter().find(|s| can_panic(cx.model, **s)) {
                return Some(Skip::Panic(*risky));
            }
        }
        current = parent;
    }
    None
}

/// "Done was called on this path."
struct DoneFlow<'a, 't> {
    model: &'a FileModel<'t>,
    key: &'a WgKey,
}

impl<'t> FlowAnalysis<'t> for DoneFlow<'_, 't> {
    type State = bool;

    fn transfer(&mut self, stmt: Node<'t>, state: &mut bool) {
        if stmt.kind_str() != "expression_statement" {
            return;
        }
        let is_done = statement_call(stmt)
            .and_then(|c| waitgroup_call(self.model, c))
            .is_some_and(|c| {
                c.op == WaitGroupOp::Done
                    && wg_key(self.model, c.receiver).as_ref() == Some(self.key)
            });
        if is_done {
            *state = true;
        }
    }

    fn join(&self, a: &bool, b: &bool) -> bool {
        *a && *b
    }
}

/// Predeclared functions and conversions that do not panic on ordinary arguments.
const HARMLESS_CALLS: &[&str] = &[
    "len", "cap", "append", "new", "min", "max", "print", "println", "real", "imag", "complex",
    "bool", "string", "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16",
    "uint32", "uint64", "uintptr", "float32", "float64", "byte", "rune",
];

/// Can running this statement panic or leave the function? Calls (other than harmless builtins),
/// indexing, slicing, type assertions, dereferences, sends, division and `return` count.
fn can_panic(model: &FileModel, stmt: Node) -> bool {
    let src = model.src;
    if matches!(
        stmt.kind_str(),
        "defer_statement" | "go_statement" | "empty_statement"
    ) {
        return false;
    }
    let mut risky = false;
    walk(stmt, |n| {
        if risky || n.kind_str() == "func_literal" {
            return false;
        }
        risky = match n.kind_str() {
            "call_expression" => {
                let function = n.field("function").map(unparen);
                !function.is_some_and(|f| {
                    f.kind_str() == "identifier" && HARMLESS_CALLS.contains(&text(f, src))
                })
            }
            "index_expression"
            | "slice_expression"
            | "type_assertion_expression"
            | "send_statement"
            | "return_statement" => true,
            "unary_expression" => n.field("operator").is_some_and(|o| text(o, src) == "*"),
            "binary_expression" => n
                .field("operator")
                .is_some_and(|o| matches!(text(o, src), "/" | "%")),
            "assignment_statement" => n
                .field("operator")
                .is_some_and(|o| matches!(text(o, src), "/=" | "%=")),
            _ => false,
        };
        !risky
    });
    risky
}

/// Deletes the final `wg.Done()` line and inserts `defer wg.Done()` as the body's first line.
fn fix(src: &str, body: Node, stmt: Node, recv: &str) -> Option<Vec<TextEdit>> {
    let delete = statement_line(stmt, src)?;
    if !starts_line(stmt, src) {
        return None;
    }
    let open = body.start_byte();
    let at = line_end_after_newline(src, open);
    if !src.get(open + 1..at)?.trim().is_empty() || at >= delete.start {
        return None;
    }
    let indent = line_indent(src, stmt.start_byte());
    Some(vec![
        TextEdit {
            range: at..at,
            new_text: format!("{indent}defer {recv}.Done()\n"),
        },
        TextEdit {
            range: delete,
            new_text: String::new(),
        },
    ])
}

#[cfg(test)]
mod tests {
    use crate::test_support::{analyze_alone, FileOptions};
    use goconc_syntax::SourceFile;

    fn lines(src: &str) -> Vec<usize> {
        let file = SourceFile::new(src);
        analyze_alone(&file, &FileOptions::default())
            .findings
            .into_iter()
            .filter(|f| f.rule == super::META.id)
            .map(|f| crate::test_support::line_of(src, f.range.start))
            .collect()
    }

    #[test]
    fn done_after_trivial_statements_is_silent() {
        let src = "package p\n\nimport \"sync\"\n\nfunc f(ch chan int) {\n\tvar wg sync.WaitGroup\n\twg.Add(1)\n\tgo func() {\n\t\tx := 1\n\t\tx++\n\t\twg.Done()\n\t}()\n\twg.Wait()\n}\n";
        assert!(lines(src).is_empty());
    }

    #[test]
    fn done_on_every_select_branch_is_reported_once_for_panics() {
        let src = "package p\n\nimport \"sync\"\n\nfunc f(ch chan int, quit chan bool) {\n\tvar wg sync.WaitGroup\n\twg.Add(1)\n\tgo func() {\n\t\tselect {\n\t\tcase v := <-ch:\n\t\t\tuse(v)\n\t\t\twg.Done()\n\t\tcase <-quit:\n\t\t\twg.Done()\n\t\t}\n\t}()\n\twg.Wait()\n}\n\nfunc use(int) {}\n";
        assert_eq!(lines(src), vec![12]);
    }

    #[test]
    fn done_after_loop_with_return_inside_is_reported() {
        let src = "package p\n\nimport \"sync\"\n\nfunc f(ch chan int) {\n\tvar wg sync.WaitGroup\n\twg.Add(1)\n\tgo func() {\n\t\tfor v := range ch {\n\t\t\tif v < 0 {\n\t\t\t\treturn\n\t\t\t}\n\t\t}\n\t\twg.Done()\n\t}()\n\twg.Wait()\n}\n";
        assert_eq!(lines(src), vec![14]);
    }
}
