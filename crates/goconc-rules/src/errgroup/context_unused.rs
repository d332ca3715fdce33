//! `errgroup-context-unused`: the context of `errgroup.WithContext` is dropped (or left unused)
//! while the group's goroutines use the parent context, so one failure cancels nothing.

use goconc_syntax::NodeExt;
use tree_sitter::Node;

use super::{group_go, ERRGROUP};
use crate::finding::{Finding, Severity, TextEdit};
use crate::{Context, Family, RuleMeta};
use goconc_model::Decl;
use goconc_syntax::{
    access_path, call_args, enclosing_function, method_call, named_children, path_root, text,
    unparen, walk,
};

pub static META: RuleMeta = RuleMeta {
    id: "errgroup-context-unused",
    family: Family::Errgroup,
    severity: Severity::Warning,
    summary: "The context of `errgroup.WithContext` is discarded or left unused while the group's goroutines use the parent context: one failure cancels nothing.",
    fix: Some("use the group's context"),
    doc: r#"
## Why it matters
`errgroup.WithContext(ctx)` returns a group and a new context that is cancelled as soon as one of
the group's goroutines returns an error. That cancellation is the point of `WithContext`: the
other goroutines see it and stop early. When the new context is thrown away (`g, _ :=`) or never
reaches the goroutines, they keep using the parent context, so after the first failure the rest
run to completion (or hang) and `Wait` returns only when all of them are done.

## Example
```go
func FetchAll(ctx context.Context, urls []string) error {
	g, _ := errgroup.WithContext(ctx)
	for _, u := range urls {
		g.Go(func() error { return fetch(ctx, u) })
	}
	return g.Wait()
}
```
```go
func FetchAll(ctx context.Context, urls []string) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, u := range urls {
		g.Go(func() error { return fetch(ctx, u) })
	}
	return g.Wait()
}
```

## Fix
When nothing uses the parent context after `g.Wait()` (the group's context is cancelled once
`Wait` returns), the quick fix names the group's context after the parent (`g, ctx :=`), so every
later use gets it. Otherwise it names it `gctx` and passes `gctx` in the goroutines instead of the
parent context. A plain assignment (`g, _ = …`) gets no fix.

## When it stays silent
- The goroutines handed to `g.Go` do not use the parent context (nothing would be cancelled).
- Some goroutine uses the group's context: the others may use the parent on purpose.
- The parent context is not a local variable or parameter, or the group escapes the view of the
  function (goroutines passed as named functions are not looked into).
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    for &call in cx.index.calls_named("WithContext") {
        if let Some(finding) = check_call(cx, call) {
            out.push(finding);
        }
    }
}

fn check_call<'t>(cx: &Context<'_, 't>, call: Node<'t>) -> Option<Finding> {
    let model = cx.model;
    if model.qualified_name(call.field("function")?, ERRGROUP) != Some("WithContext") {
        return None;
    }
    let right = call
        .parent_node()
        .filter(|p| p.kind_str() == "expression_list")?;
    let stmt = right.parent_node().filter(|p| {
        matches!(
            p.kind_str(),
            "short_var_declaration" | "assignment_statement"
        )
    })?;
    if stmt.field("right")? != right || named_children(right).count() != 1 {
        return None;
    }
    let left: Vec<Node> = named_children(stmt.field("left")?).collect();
    let [group, group_ctx] = left[..] else {
        return None;
    };
    let declares = stmt.kind_str() == "short_var_declaration";
    let parent = call_args(call)
        .first()
        .copied()
        .map(unparen)
        .filter(|a| a.kind_str() == "identifier")?;
    let parent_decl = model.resolve(parent)?;
    let parent_name = parent_decl.name;
    let group_ctx_name = text(group_ctx, cx.src);
    if group_ctx_name == parent_name {
        return None; // `g, ctx := errgroup.WithContext(ctx)`: the idiom.
    }
    let group_ctx_decl: Option<&Decl> = if group_ctx_name == "_" {
        None
    } else {
        Some(
            model
                .resolve_name(group_ctx_name, stmt.end_offset())
                .filter(|d| d.ident == group_ctx)?,
        )
    };
    let function = enclosing_function(stmt)?;

    // The functions handed to this group after the statement.
    let group_path = access_path(group, cx.src)?;
    let group_root = |n: Node| {
        path_root(n)
            .and_then(|r| {
                model.resolve_name(text(r, cx.src), stmt.end_offset().max(r.start_byte()))
            })
            .map(|d| d.ident.start_byte())
    };
    let group_key = group_root(group);
    let mut parent_uses = Vec::new();
    let mut group_ctx_used = false;
    for name in ["Go", "TryGo"] {
        for &go in cx.index.calls_named(name) {
            if go.start_byte() < stmt.end_offset() || go.end_offset() > function.end_offset() {
                continue;
            }
            let Some((recv, f)) = group_go(model, go) else {
                continue;
            };
            if access_path(recv, cx.src).as_deref() != Some(group_path.as_str())
                || group_root(recv) != group_key
            {
                continue;
            }
            if f.kind_str() != "func_literal" {
                continue;
            }
            walk(f, |n| {
                if n.kind_str() == "identifier" {
                    let name = text(n, cx.src);
                    if name == parent_name && same_decl(model.resolve(n), parent_decl) {
                        parent_uses.push(n);
                    } else if let Some(gd) = group_ctx_decl {
                        if name == gd.name && same_decl(model.resolve(n), gd) {
                            group_ctx_used = true;
                        }
                    }
                }
                true
            });
        }
    }
    if parent_uses.is_empty() || group_ctx_used {
        return None;
    }
    let group_text = text(group, cx.src);
    let message = match group_ctx_decl {
        None => format!(
            "the context of `errgroup.WithContext` is discarded and the goroutines of `{group_text}` use `{parent_name}`: when one fails, the others are not cancelled"
        ),
        Some(d) => format!(
            "the goroutines of `{group_text}` use `{parent_name}`, not the group's context `{}`: when one fails, the others are not cancelled",
            d.name
        ),
    };
    let mut finding = META.finding(group_ctx.byte_span(), message).with_related(
        parent_uses[0].byte_span(),
        format!("`{parent_name}` used in a goroutine of `{group_text}`"),
    );

    // The fix.
    let edits: Option<Vec<TextEdit>> = match group_ctx_decl {
        Some(d) => {
            let visible = parent_uses.iter().all(|u| {
                model.resolve(*u).is_some()
                    && same_decl(model.resolve_name(d.name, u.start_byte()), d)
            });
            visible.then(|| rename(&parent_uses, d.name))
        }
        None if declares => {
            if can_take_parent_name(cx, stmt, group, parent_decl, function) {
                Some(vec![TextEdit {
                    range: group_ctx.byte_span(),
                    new_text: parent_name.to_string(),
                }])
            } else {
                let fresh = ["gctx", "groupCtx"]
                    .into_iter()
                    .find(|n| !mentions(cx.src, function, n));
                fresh.map(|n| {
                    let mut edits = vec![TextEdit {
                        range: group_ctx.byte_span(),
                        new_text: n.to_string(),
                    }];
                    edits.extend(rename(&parent_uses, n));
                    edits
                })
            }
        }
        None => None,
    };
    if let Some(edits) = edits {
        finding = finding.with_unsafe_fix("Use the group's context in its goroutines", edits);
    }
    Some(finding)
}

fn same_decl(a: Option<&Decl>, b: &Decl) -> bool {
    a.is_some_and(|a| a.ident == b.ident)
}

fn rename(uses: &[Node], to: &str) -> Vec<TextEdit> {
    uses.iter()
        .map(|u| TextEdit {
            range: u.byte_span(),
            new_text: to.to_string(),
        })
        .collect()
}

/// Can `g, _ := errgroup.WithContext(ctx)` become `g, ctx := …`? Only when `ctx` is a
/// `context.Context` and no use of it that the new name would capture comes after `g.Wait()`
/// (the group's context is cancelled once `Wait` returns).
fn can_take_parent_name(
    cx: &Context,
    stmt: Node,
    group: Node,
    parent: &Decl,
    function: Node,
) -> bool {
    if !parent.ty.is_named("context", "Context") {
        return false;
    }
    // Same block as the parent's declaration: `:=` assigns the parent; otherwise a new variable
    // lives until the end of the statement's block.
    let Some(block) = enclosing_block(stmt) else {
        return false;
    };
    let captured_end = if parent.visible.end == block.end_offset() {
        parent.visible.end
    } else {
        block.end_offset()
    };
    let Some(group_path) = access_path(group, cx.src) else {
        return false;
    };
    let wait = cx.index.calls_named("Wait").iter().copied().find(|&c| {
        c.start_byte() > stmt.end_offset()
            && c.end_offset() <= function.end_offset()
            && method_call(c).is_some_and(|m| {
                access_path(m.receiver, cx.src).as_deref() == Some(group_path.as_str())
            })
    });
    let Some(wait) = wait else { return false };
    let mut late_use = false;
    walk(function, |n| {
        if n.kind_str() == "identifier"
            && n.start_byte() >= stmt.end_offset()
            && n.start_byte() < captured_end
            && n.start_byte() >= wait.start_byte()
            && text(n, cx.src) == parent.name
            && same_decl(cx.model.resolve(n), parent)
        {
            late_use = true;
        }
        !late_use
    });
    !late_use
}

/// The block (or case clause) whose scope a statement's declarations end with.
fn enclosing_block(stmt: Node) -> Option<Node> {
    let mut current = stmt.parent_node();
    while let Some(n) = current {
        if matches!(
            n.kind_str(),
            "block" | "communication_case" | "expression_case" | "default_case" | "type_case"
        ) {
            return Some(n);
        }
        current = n.parent_node();
    }
    None
}

/// Does the identifier `name` appear anywhere in `function`?
fn mentions(src: &str, function: Node, name: &str) -> bool {
    let mut found = false;
    walk(function, |n| {
        if n.kind_str() == "identifier" && text(n, src) == name {
            found = true;
        }
        !found
    });
    found
}

#[cfg(test)]
mod tests {
    use crate::test_support::{findings, lines_and_fixed};

    fn fixed(src: &str) -> (usize, String) {
        let found = findings(super::META.id, src);
        (found.len(), lines_and_fixed(&found, src).1)
    }

    const HEAD: &str = "package p\nimport (\n\t\"context\"\n\t\"golang.org/x/sync/errgroup\"\n)\n";

    #[test]
    fn renames_inside_goroutines_when_the_parent_is_used_after_wait() {
        let src = format!("{HEAD}func f(ctx context.Context) error {{\n\tg, _ := errgroup.WithContext(ctx)\n\tg.Go(func() error {{ return work(ctx) }})\n\tif err := g.Wait(); err != nil {{\n\t\treturn err\n\t}}\n\treturn work(ctx)\n}}\n");
        let (n, out) = fixed(&src);
        assert_eq!(n, 1);
        assert!(
            out.contains("g, gctx := errgroup.WithContext(ctx)"),
            "{out}"
        );
        assert!(out.contains("return work(gctx) })"), "{out}");
        assert!(out.contains("\treturn work(ctx)\n}"), "{out}");
    }

    #[test]
    fn silent_when_goroutines_use_no_context() {
        let src = format!("{HEAD}func f(ctx context.Context) error {{\n\tg, _ := errgroup.WithContext(ctx)\n\tg.Go(func() error {{ return nil }})\n\treturn g.Wait()\n}}\n");
        assert_eq!(fixed(&src).0, 0);
    }
}
