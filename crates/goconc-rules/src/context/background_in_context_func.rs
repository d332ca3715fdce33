//! `context-background-in-context-func`: `context.Background()` or `context.TODO()` passed on in a
//! function that already has a context: the caller's cancellation and deadline are lost.

use goconc_syntax::NodeExt;
use tree_sitter::Node;

use crate::finding::{Finding, Severity, TextEdit};
use crate::{Context, Family, RuleMeta};
use goconc_model::types::names_of;
use goconc_model::{Decl, Ty};
use goconc_syntax::{named_children, text, walk};

pub static META: RuleMeta = RuleMeta {
    id: "context-background-in-context-func",
    family: Family::Context,
    severity: Severity::Warning,
    summary: "`context.Background()`/`TODO()` passed on inside a function (or a goroutine it starts) that already has a `context.Context`: the caller's cancellation and deadline are lost.",
    fix: Some("use the function's context; `context.WithoutCancel(ctx)` for work meant to outlive it (Go ≥ 1.21)"),
    doc: r#"
## Why it matters
A function that takes a `context.Context` promises to stop when its caller gives up. Handing
`context.Background()` (or `context.TODO()`) to the work it does inside breaks that promise: the
database query, HTTP request or goroutine runs with no deadline and no cancellation, long after
the request that asked for it is gone. It also drops the context's values (trace ids,
credentials).

## Example
```go
func (s *Store) Load(ctx context.Context, id string) (*Item, error) {
	row := s.db.QueryRowContext(context.Background(), query, id)
	return scan(row)
}
```
```go
func (s *Store) Load(ctx context.Context, id string) (*Item, error) {
	row := s.db.QueryRowContext(ctx, query, id)
	return scan(row)
}
```

## Fix
The quick fix passes the function's context instead. When the work must outlive the caller on
purpose (an audit write, a cleanup), use `context.WithoutCancel(ctx)` (Go 1.21): it keeps the
values and drops only the cancellation.

## When it stays silent
- The function has no named `context.Context` parameter, or a local of the same name hides it.
- The call is in a `defer` (cleanup that must run even after cancellation), or after the function
  has looked at `ctx.Done()` or `ctx.Err()` (a fresh context for shutdown work once the caller's
  is over).
- Test files, and calls with a comment on the two lines above that mentions the context (the
  choice is explained).
- `context.Background()` is assigned rather than passed (`if ctx == nil { ctx = context.Background() }`).
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    for name in ["Background", "TODO"] {
        for &call in cx.index.calls_named(name) {
            if let Some(f) = check_call(cx, call) {
                out.push(f);
            }
        }
    }
}

fn check_call(cx: &Context, call: Node) -> Option<Finding> {
    let function = call.field("function")?;
    let name = cx.model.qualified_name(function, "context")?;
    if !goconc_syntax::call_args(call).is_empty() {
        return None;
    }
    call.parent().filter(|p| p.kind_str() == "argument_list")?;
    // Tests build fresh contexts on purpose (to outlive a cancelled one, to race two calls).
    if cx.is_test_file {
        return None;
    }
    // A comment just above that talks about the context explains a deliberate choice.
    let start = goconc_syntax::line_start(cx.src, call.start_byte());
    let above = cx.src[..start.saturating_sub(1)]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let above2 = cx.src[..above.saturating_sub(1)]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let body_start = goconc_syntax::enclosing_function(call)
        .and_then(|f| f.field("body"))
        .map_or(0, |b| b.start_byte());
    let explained = cx
        .src
        .get(above2.max(body_start)..start)
        .unwrap_or("")
        .lines()
        .any(|l| l.trim_start().starts_with("//") && l.contains("context"));
    if explained {
        return None;
    }
    let param = context_param(cx, call)?;
    let owner = param.stmt.parent().and_then(|list| list.parent())?;
    // Cleanup in a `defer` runs after cancellation on purpose.
    let mut current = call.parent();
    while let Some(n) = current {
        if n == owner {
            break;
        }
        if n.kind_str() == "defer_statement" {
            return None;
        }
        current = n.parent();
    }
    if checks_done_before(cx, owner, param, call.start_byte()) {
        return None;
    }
    let ctx = param.name;
    Some(
        META.finding(
            call.byte_range(),
            format!("`context.{name}()` passed on in a function that has `{ctx}`: the caller's cancellation and deadline do not reach this call"),
        )
        .with_related(param.ident.byte_range(), format!("`{ctx}` is the function's context"))
        .with_unsafe_fix(
            format!("Pass `{ctx}`"),
            vec![TextEdit { range: call.byte_range(), new_text: ctx.to_string() }],
        ),
    )
}

/// The named `context.Context` parameter visible at `node`: of its function, or of a function
/// around the literal it is in, and not hidden by a local of the same name.
pub(crate) fn context_param<'a, 't>(
    cx: &'a Context<'_, 't>,
    node: Node<'t>,
) -> Option<&'a Decl<'t>> {
    // Enclosing functions from the model (tree-sitter's parent() is slow), innermost first.
    let mut current = cx.model.function_of(node);
    while let Some(index) = current {
        let n = cx.model.functions[index].node;
        current = cx.model.functions[index].parent;
        if let Some(params) = n.field("parameters") {
            for param in named_children(params) {
                let Some(ty) = param.field("type") else {
                    continue;
                };
                if !Ty::from_node(ty, cx.src, &cx.model.imports).is_named("context", "Context") {
                    continue;
                }
                for ident in names_of(param) {
                    let name = text(ident, cx.src);
                    if name == "_" {
                        continue;
                    }
                    if let Some(decl) = cx.model.resolve_name(name, node.start_byte()) {
                        if decl.ident == ident {
                            return Some(decl);
                        }
                    }
                }
            }
        }
    }
    None
}

/// Does the function `owner` look at `ctx.Done()` or `ctx.Err()` before byte `before`?
fn checks_done_before(cx: &Context, owner: Node, ctx: &Decl, before: usize) -> bool {
    let mut found = false;
    walk(owner, |n| {
        if found || n.start_byte() >= before {
            return false;
        }
        if n.kind_str() == "selector_expression" {
            if let (Some(operand), Some(field)) = (n.field("operand"), n.field("field")) {
                if matches!(text(field, cx.src), "Done" | "Err")
                    && text(operand, cx.src) == ctx.name
                    && cx
                        .model
                        .resolve(operand)
                        .is_some_and(|d| d.ident == ctx.ident)
                {
                    found = true;
                }
            }
        }
        true
    });
    found
}
