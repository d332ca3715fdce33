//! `mutex-defer-in-loop`: `Lock` and `defer Unlock` inside a loop body.

use goconc_syntax::NodeExt;
use tree_sitter::Node;

use crate::finding::{Finding, Severity, TextEdit};
use crate::{Context, Family, RuleMeta};
use goconc_model::sync_calls::{lock_call, lock_key};
use goconc_syntax::{line_indent, line_start, statement_call, text, walk_body};

pub static META: RuleMeta = RuleMeta {
    id: "mutex-defer-in-loop",
    family: Family::Mutex,
    severity: Severity::Error,
    summary: "`Lock` plus `defer Unlock` inside a loop body: the unlock waits for the function to return, so the second iteration deadlocks.",
    fix: Some("move the loop body into a closure"),
    doc: r#"
## Why it matters
`defer` runs when the *function* returns, not at the end of the loop iteration. The first
iteration locks and defers; the second iteration's `Lock` waits for an unlock that can only happen
after the loop — a deadlock on the second element.

## Example
```go
for _, k := range expired {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.items, k)
}
```
```go
for _, k := range expired {
	func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.items, k)
	}()
}
```

## Fix
The quick fix wraps the loop body in a function literal that is called at once, so the deferred
unlock runs at the end of each iteration. It is offered only when the body has no `break`,
`continue`, `return`, `goto` or label (their meaning would change inside a closure) and no
multi-line raw string (its text would change when indented).

## When it stays silent
When the `Lock` and the deferred `Unlock` are already inside a function literal in the loop, when
the unlock is not deferred, when each iteration leaves the function after the `defer` (a `return`
or `panic` follows it), and when each iteration locks a different mutex: its variable is the loop
variable, is declared in the loop body (`var mu sync.Mutex`, `s := &shard{}`), or is reassigned in
the loop.
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    for &defer in &cx.index.defer_statements {
        let Some(call) = statement_call(defer) else {
            continue;
        };
        let Some(unlock) = lock_call(cx.model, call).filter(|c| c.op.is_release()) else {
            continue;
        };
        let Some(key) = lock_key(cx.model, &unlock) else {
            continue;
        };
        let Some(body) = goconc_syntax::enclosing_loop(defer)
            .and_then(|l| l.field("body"))
            .filter(|b| goconc_syntax::is_within(defer, *b))
        else {
            continue;
        };
        // The lock must be taken in the same iteration, before the defer.
        let mut locked_here = false;
        walk_body(body, |n| {
            if n.start_byte() < defer.start_byte() && n.kind_str() == "call_expression" {
                if let Some(lock) = lock_call(cx.model, n) {
                    if lock.op.is_acquire()
                        && lock_key(cx.model, &lock).as_deref() == Some(key.as_str())
                    {
                        locked_here = true;
                    }
                }
            }
        });
        if !locked_here
            || exits_before_next_iteration(cx, defer, body)
            || changes_each_iteration(cx, &key, body, defer.start_byte())
        {
            continue;
        }
        let finding = META.finding(
            call.byte_span(),
            format!("`defer {key}.{}()` inside a loop runs only when the function returns: the next iteration's lock of `{key}` deadlocks", text(unlock.method, cx.src)),
        );
        let finding = match wrap_in_closure(cx, body) {
            Some(edit) => {
                finding.with_unsafe_fix("Move the loop body into a function literal", vec![edit])
            }
            None => finding,
        };
        out.push(finding);
    }
}

/// Rewrites `{ stmts }` into `{ func() { stmts }() }`, one more tab on each line.
fn wrap_in_closure(cx: &Context, body: Node) -> Option<TextEdit> {
    let src = cx.src;
    let open = body.start_byte();
    let close = body.end_offset().checked_sub(1)?;
    if src.as_bytes().get(open) != Some(&b'{') || src.as_bytes().get(close) != Some(&b'}') {
        return None;
    }
    let mut blocked = false;
    walk_body(body, |n| {
        if matches!(
            n.kind_str(),
            "break_statement"
                | "continue_statement"
                | "return_statement"
                | "goto_statement"
                | "labeled_statement"
        ) || n.kind_str() == "raw_string_literal" && text(n, src).contains('\n')
        {
            blocked = true;
        }
    });
    if blocked || body.has_error() {
        return None;
    }
    // The body must start on the line after `{` and `}` must stand alone on its line.
    let first_line = open + 1 + src[open + 1..].find('\n')? + 1;
    if !src[open + 1..first_line].trim().is_empty() {
        return None;
    }
    let close_line = line_start(src, close);
    if !src[close_line..close].trim().is_empty() || close_line < first_line {
        return None;
    }
    let indent = line_indent(src, close);
    let mut new_text = format!("{indent}\tfunc() {{\n");
    for line in src[first_line..close_line].split_inclusive('\n') {
        if !line.trim().is_empty() {
            new_text.push('\t');
        }
        new_text.push_str(line);
    }
    new_text.push_str(&format!("{indent}\t}}()\n"));
    Some(TextEdit {
        range: first_line..close_line,
        new_text,
    })
}

/// After the defer, does the iteration always leave the function (a `return` or `panic` standing
/// after it in its block, or in a block around it, inside the loop body)?
fn exits_before_next_iteration(cx: &Context, defer: Node, body: Node) -> bool {
    let mut node = defer;
    while let Some(parent) = node.parent_node() {
        if matches!(
            parent.kind_str(),
            "statement_list"
                | "block"
                | "expression_case"
                | "default_case"
                | "communication_case"
                | "type_case"
        ) {
            let container = if parent.kind_str() == "statement_list" {
                parent.parent_node().unwrap_or(parent)
            } else {
                parent
            };
            let siblings = goconc_syntax::statements(container);
            if let Some(at) = siblings.iter().position(|s| *s == node) {
                if siblings[at + 1..]
                    .iter()
                    .any(|s| s.kind_str() == "return_statement" || is_panic(cx, *s))
                {
                    return true;
                }
            }
            if container == body {
                return false;
            }
        }
        if parent == body {
            return false;
        }
        node = parent;
    }
    false
}

fn is_panic(cx: &Context, stmt: Node) -> bool {
    goconc_syntax::statement_call(stmt)
        .is_some_and(|call| goconc_model::flow::is_no_return_call(cx.model, call))
}

/// `for _, s := range shards { s.mu.Lock(); defer s.mu.Unlock() }` locks a different mutex each
/// time (the root is a loop variable, is declared in the body, or is reassigned in the loop): no
/// self-deadlock.
fn changes_each_iteration(cx: &Context, key: &str, body: Node, at: usize) -> bool {
    let root = key.split('.').next().unwrap_or(key);
    let Some(loop_stmt) = body.parent_node() else {
        return false;
    };
    if cx
        .model
        .resolve_name(root, body.start_byte())
        .is_some_and(|d| d.loop_stmt() == Some(loop_stmt))
    {
        return true;
    }
    // `var mu sync.Mutex` (or `s := &T{}`) inside the body: a fresh mutex each iteration.
    if cx
        .model
        .resolve_name(root, at)
        .is_some_and(|d| goconc_syntax::is_within(d.ident, body))
    {
        return true;
    }
    let mut reassigned = false;
    goconc_syntax::walk(loop_stmt, |n| {
        if n.kind_str() == "assignment_statement" {
            if let Some(left) = n.field("left") {
                if goconc_syntax::named_children(left).any(|t| text(t, cx.src) == root) {
                    reassigned = true;
                }
            }
        }
        !reassigned
    });
    reassigned
}
