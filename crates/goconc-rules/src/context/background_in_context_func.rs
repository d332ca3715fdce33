//! `context-background-in-context-func`: `context.Background()` or `context.TODO()` passed on in a
//! function that already has a context: the caller's cancellation and deadline are lost.
//!
//! Whether that is a slip or a choice is read from the code around the call: what wraps it, what
//! happens to its result, which path it is on, what the function does with its own context and
//! what the rest of the package hands the same callee.

use goconc_syntax::NodeExt;
use tree_sitter::Node;

use crate::finding::{Finding, LineOf, Severity, TextEdit};
use crate::{Context, Family, RuleMeta};
use goconc_model::sync_calls::CONTEXT_CANCEL_CONSTRUCTORS;
use goconc_model::types::names_of;
use goconc_model::words::ERROR_VALUE;
use goconc_model::{Decl, DeclKind, Ty};
use goconc_syntax::{call_args, is_within, named_children, text, unparen, walk};

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
	s.audit(ctx, id)
	row := s.db.QueryRowContext(context.Background(), query, id)
	return scan(row)
}
```
```go
func (s *Store) Load(ctx context.Context, id string) (*Item, error) {
	s.audit(ctx, id)
	row := s.db.QueryRowContext(ctx, query, id)
	return scan(row)
}
```

## Severity
Many fresh contexts are chosen on purpose: cleanup that must finish after the caller has given
up, work that outlives the request. The rule reads the evidence either way.

- **warning** when the code shows a slip:
  - the function's own context is used nowhere else (a declared function: a function literal's
    parameters are those of the callback it implements);
  - another call in the function passes its context to the same receiver (`api.PutObject(ctx, …)`
    beside `api.NewMultipartUpload(context.Background(), …)`) or to the same function;
  - the context parameter itself is replaced by one made from `context.Background()`
    (`ctx, cancel := context.WithCancel(context.Background())` at the top of the function);
  - other calls of the same function in the package pass their caller's context;
  - it is `context.TODO()`, Go's own mark for a context not yet passed down.
- **hint** when the code shows a choice — then the quick fix keeps the behaviour and only adds the
  values, `context.WithoutCancel(ctx)`:
  - the fresh context is wrapped in `context.WithoutCancel` already;
  - the call's result is assigned to `_` and a call on the same receiver follows
    (`_ = sem.Acquire(context.Background(), 1)` … `sem.Release(1)`): a context that cannot be
    cancelled is what makes that safe, and passing `ctx` would make `Release` panic;
  - the call is on a failure path (inside `if err != nil`): cleanup that must run although the
    caller gave up;
  - before the call the function itself (not a goroutine it starts) waits for its context to end
    (`ctx.Done()`) or tells a cancelled or expired context apart (`context.Canceled`,
    `context.DeadlineExceeded`);
  - the call runs in a goroutine the function does not wait for and that sends nothing back;
  - the fresh context's cancel func is kept in a field (the object owns its lifetime), or it is
    bounded by its own `WithTimeout`/`WithDeadline` while the function carries `ctx`'s values
    over;
  - elsewhere the package hands the same callee `context.WithoutCancel(…)`;
  - `context.Background()` whose result is dropped: work the caller does not wait to see.
- **hint** also when nothing shows either way.

## Fix
For a warning the quick fix passes the function's context instead — except inside a function
literal that is kept or handed on rather than called in place (a callback, `g.Go(func…)`), which
may run after the caller's context is gone. For a hint it writes
`context.WithoutCancel(ctx)` (Go 1.21): the same lifetime as before, with the caller's values.

## When it stays silent
- The function has no named `context.Context` parameter, or a local of the same name hides it.
- The fresh context is not passed on: assigned (`if ctx == nil { ctx = context.Background() }`) or
  returned.
- The call is in a `defer` (cleanup that runs after the function's own work, whatever happened).
- The function's context is known to be `nil` there (`if ctx == nil { … }`), or known to be done:
  after `<-ctx.Done()`, in a `case <-ctx.Done():`, or under `if ctx.Err() != nil` (a fresh context
  for the work that follows a cancellation, such as a graceful shutdown).
- The caller's cancellation is forwarded by hand: the fresh context's cancel func is called by a
  function literal that waits on a context parameter's `Done()` (merging two contexts), or handed
  to `context.AfterFunc` with it.

A comment never silences the rule, and `_test.go` files are read like any other.
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    let mut ends = EndsSeen::default();
    for name in ["Background", "TODO"] {
        for &call in cx.index.calls_named(name) {
            if let Some(f) = check_call(cx, &mut ends, call) {
                out.push(f);
            }
        }
    }
}

/// What the code says about one fresh context passed on.
enum Evidence {
    /// A slip: the message to report at warning.
    Slip(String),
    /// A choice, and why it looks like one.
    Choice(String),
    /// Nothing either way.
    Unclear,
}

fn check_call<'t>(
    cx: &Context<'_, 't>,
    ends: &mut EndsSeen<'t>,
    call: Node<'t>,
) -> Option<Finding> {
    let function = call.field("function")?;
    let name = cx.model.qualified_name(function, "context")?;
    if !call_args(call).is_empty() {
        return None;
    }
    let outer = call
        .parent_node()
        .filter(|p| p.kind_str() == "argument_list")?
        .parent_node()
        .filter(|p| p.kind_str() == "call_expression")?;
    let param = context_param(cx, call)?;
    let owner = cx.model.functions.get(param.function)?.node;
    let body = owner.field("body")?;
    let ancestors = ancestors_below(call, owner);
    // Cleanup in a `defer` runs after the function's own work on purpose.
    if ancestors.iter().any(|n| n.kind_str() == "defer_statement") {
        return None;
    }
    if known_nil(cx, param, call, &ancestors)
        || known_done(cx, ends, param, call, &ancestors)
        || forwards_cancellation(cx, outer, body)
    {
        return None;
    }
    let ctx = param.name;
    let evidence = match choice(cx, ends, name, outer, param, body, &ancestors) {
        Some(reason) => Evidence::Choice(reason),
        None => match slip(cx, name, call, outer, param, owner, body) {
            Some(message) => Evidence::Slip(message),
            None => Evidence::Unclear,
        },
    };
    let wrapped =
        cx.model.qualified_name(outer.field("function")?, "context") == Some("WithoutCancel");
    let can_detach = cx.go_version.at_least(21);
    let pkg = function
        .field("operand")
        .map_or("context", |o| text(o, cx.src));
    let keep_values = match (wrapped, can_detach) {
        (true, _) => format!("passing `{ctx}` to `WithoutCancel` would keep its values"),
        (false, true) => format!("`{pkg}.WithoutCancel({ctx})` would keep its values"),
        (false, false) => String::new(),
    };
    // A function literal kept or handed on rather than called in place may run after the
    // caller's context is gone: passing `ctx` into it is not a fix to make blindly.
    let kept_for_later = ancestors.iter().any(|n| {
        n.kind_str() == "func_literal"
            && !n.parent_node().is_some_and(|p| {
                p.kind_str() == "call_expression" && p.field("function") == Some(*n)
            })
    });
    let finding = match evidence {
        Evidence::Slip(message) if kept_for_later => META.finding(call.byte_span(), message),
        // Unsafe: the call becomes cancellable by the caller, which is the point but changes
        // what it does when the caller gives up.
        Evidence::Slip(message) => META.finding(call.byte_span(), message).with_unsafe_fix(
            format!("Pass `{ctx}`"),
            vec![TextEdit {
                range: call.byte_span(),
                new_text: ctx.to_string(),
            }],
        ),
        Evidence::Choice(_) | Evidence::Unclear => {
            let why = match &evidence {
                Evidence::Choice(reason) => format!(", on purpose it seems: {reason}"),
                _ => String::new(),
            };
            let tail = match keep_values.is_empty() {
                true => String::new(),
                false => format!("; {keep_values}"),
            };
            let mut finding = META.finding(
                call.byte_span(),
                format!("`context.{name}()` passed on in a function that has `{ctx}`{why}{tail}"),
            );
            finding.severity = Severity::Hint;
            let fix = match wrapped {
                true => Some((format!("Pass `{ctx}` to `WithoutCancel`"), ctx.to_string())),
                false => can_detach.then(|| {
                    (
                        format!("Use `{pkg}.WithoutCancel({ctx})`"),
                        format!("{pkg}.WithoutCancel({ctx})"),
                    )
                }),
            };
            // Unsafe: the call now sees the caller's values (and, passing `ctx`, its deadline).
            match fix {
                Some((title, new_text)) => finding.with_unsafe_fix(
                    title,
                    vec![TextEdit {
                        range: call.byte_span(),
                        new_text,
                    }],
                ),
                None => finding,
            }
        }
    };
    Some(finding.with_related(
        param.ident.byte_span(),
        format!("`{ctx}` is the function's context"),
    ))
}

/// The ancestors of `node` strictly below `owner`, innermost first.
fn ancestors_below<'t>(node: Node<'t>, owner: Node<'t>) -> Vec<Node<'t>> {
    let mut out = Vec::new();
    let mut current = node.parent_node();
    while let Some(n) = current {
        if n == owner {
            break;
        }
        out.push(n);
        current = n.parent_node();
    }
    out
}

/// Does `node` name the declaration `decl`?
fn names(cx: &Context, node: Node, decl: &Decl) -> bool {
    let node = unparen(node);
    node.kind_str() == "identifier"
        && cx
            .model
            .resolve(node)
            .is_some_and(|d| d.ident == decl.ident)
}

/// Whether `ident` is a name a `:=` declares (`ctx, cancel := …` in a nested block is a new
/// `ctx`, not a use of the parameter).
fn declares(ident: Node) -> bool {
    ident
        .parent_node()
        .filter(|l| l.kind_str() == "expression_list")
        .and_then(|l| l.parent_node().map(|s| (l, s)))
        .is_some_and(|(l, s)| s.kind_str() == "short_var_declaration" && s.field("left") == Some(l))
}

/// A context identifier: the function's context parameter or another `context.Context` value.
fn is_context(cx: &Context, node: Node, param: &Decl) -> bool {
    let node = unparen(node);
    node.kind_str() == "identifier"
        && cx
            .model
            .resolve(node)
            .is_some_and(|d| d.ident == param.ident || d.ty.is_named("context", "Context"))
}

/// `if ctx == nil { … here … }` or `if ctx != nil { … } else { … here … }`: there is no caller
/// context to pass on.
fn known_nil(cx: &Context, param: &Decl, call: Node, ancestors: &[Node]) -> bool {
    ancestors.iter().any(|n| {
        if n.kind_str() != "if_statement" {
            return false;
        }
        let Some(condition) = n.field("condition") else {
            return false;
        };
        let in_then = n.field("consequence").is_some_and(|c| is_within(call, c));
        let in_else = n.field("alternative").is_some_and(|c| is_within(call, c));
        (in_then && implies_nil(cx, param, condition, "==", "&&"))
            || (in_else && implies_nil(cx, param, condition, "!=", "||"))
    })
}

/// Whether `condition` is `param OP nil`, alone or as an operand of a chain of `join`.
fn implies_nil(cx: &Context, param: &Decl, condition: Node, op: &str, join: &str) -> bool {
    let condition = unparen(condition);
    if condition.kind_str() != "binary_expression" {
        return false;
    }
    let (Some(left), Some(operator), Some(right)) = (
        condition.field("left"),
        condition.field("operator"),
        condition.field("right"),
    ) else {
        return false;
    };
    match text(operator, cx.src) {
        o if o == op => {
            (names(cx, left, param) && unparen(right).kind_str() == "nil")
                || (names(cx, right, param) && unparen(left).kind_str() == "nil")
        }
        o if o == join => {
            implies_nil(cx, param, left, op, join) || implies_nil(cx, param, right, op, join)
        }
        _ => false,
    }
}

/// `ctx.Done()` or `ctx.Err()` on a context of the function.
fn is_done_or_err(cx: &Context, node: Node, param: &Decl) -> bool {
    let node = unparen(node);
    if node.kind_str() != "call_expression" {
        return false;
    }
    node.field("function")
        .filter(|f| f.kind_str() == "selector_expression")
        .is_some_and(|f| {
            f.field("field")
                .is_some_and(|n| matches!(text(n, cx.src), "Done" | "Err"))
                && f.field("operand").is_some_and(|o| is_context(cx, o, param))
        })
}

/// `<-ctx.Done()`.
fn receives_done(cx: &Context, node: Node, param: &Decl) -> bool {
    let node = unparen(node);
    node.kind_str() == "unary_expression"
        && node
            .field("operator")
            .is_some_and(|o| text(o, cx.src) == "<-")
        && node
            .field("operand")
            .is_some_and(|o| is_done_or_err(cx, o, param))
}

/// The caller's context is known to be done where the call is: after a statement
/// `<-ctx.Done()` of an enclosing block, in a `case <-ctx.Done():`, or under a condition that
/// asks `ctx.Err()`/`ctx.Done()`.
fn known_done<'t>(
    cx: &Context<'_, 't>,
    seen: &mut EndsSeen<'t>,
    param: &Decl<'t>,
    call: Node<'t>,
    ancestors: &[Node<'t>],
) -> bool {
    let mut child = call;
    for &n in ancestors {
        match n.kind_str() {
            "communication_case" => {
                let waits = n.field("communication").is_some_and(|c| {
                    let expr = match c.kind_str() {
                        "receive_statement" => c.field("right"),
                        "expression_statement" => named_children(c).next(),
                        _ => Some(c),
                    };
                    expr.is_some_and(|e| receives_done(cx, e, param))
                });
                if waits {
                    return true;
                }
            }
            "if_statement" => {
                let in_then = n.field("consequence").is_some_and(|c| is_within(call, c));
                let mut asks = false;
                if let Some(condition) = n.field("condition") {
                    walk(condition, |m| {
                        asks |= is_done_or_err(cx, m, param);
                        !asks
                    });
                }
                if in_then && asks {
                    return true;
                }
            }
            "block" | "statement_list" => {
                let first = *seen
                    .first_done_receive
                    .entry((n.start_byte(), param.ident.start_byte()))
                    .or_insert_with(|| {
                        named_children(n)
                            .find(|s| {
                                s.kind_str() == "expression_statement"
                                    && named_children(*s)
                                        .next()
                                        .is_some_and(|e| receives_done(cx, e, param))
                            })
                            .map(|s| s.end_offset())
                    });
                if first.is_some_and(|end| end <= child.start_byte()) {
                    return true;
                }
            }
            _ => {}
        }
        child = n;
    }
    false
}

/// The statement `x, cancel := context.WithCancel(…)` (or `=`) that `constructor` is the only
/// value of, and its left-hand side.
fn assigned_by(constructor: Node) -> Option<(Node, Vec<Node>)> {
    let list = constructor.parent_node()?;
    if list.kind_str() != "expression_list" || named_children(list).count() != 1 {
        return None;
    }
    let stmt = list.parent_node()?;
    if !matches!(
        stmt.kind_str(),
        "short_var_declaration" | "assignment_statement"
    ) || stmt.field("right") != Some(list)
    {
        return None;
    }
    Some((stmt, named_children(stmt.field("left")?).collect()))
}

fn is_cancel_constructor(cx: &Context, call: Node) -> bool {
    call.field("function")
        .and_then(|f| cx.model.qualified_name(f, "context"))
        .is_some_and(|n| CONTEXT_CANCEL_CONSTRUCTORS.contains(&n))
}

/// `ctx, cancel := context.WithCancel(context.Background())` whose `cancel` is called by a
/// function literal that waits on a context parameter's `Done()`, or handed to
/// `context.AfterFunc` together with one: the caller's cancellation reaches the fresh context.
fn forwards_cancellation(cx: &Context, outer: Node, body: Node) -> bool {
    if !is_cancel_constructor(cx, outer) {
        return false;
    }
    let Some((stmt, left)) = assigned_by(outer) else {
        return false;
    };
    let Some(cancel) = left.get(1).filter(|n| n.kind_str() == "identifier") else {
        return false;
    };
    let decl = match stmt.kind_str() {
        "short_var_declaration" => cx
            .model
            .resolve_name(text(*cancel, cx.src), stmt.end_offset()),
        _ => cx.model.resolve(*cancel),
    };
    let Some(decl) = decl else { return false };
    let parameter_done = |m: Node| {
        m.kind_str() == "selector_expression"
            && m.field("field").is_some_and(|f| text(f, cx.src) == "Done")
            && m.field("operand").map(unparen).is_some_and(|o| {
                o.kind_str() == "identifier"
                    && cx.model.resolve(o).is_some_and(|d| {
                        d.kind == DeclKind::Param && d.ty.is_named("context", "Context")
                    })
            })
    };
    let mut forwarded = false;
    walk(body, |n| {
        if forwarded {
            return false;
        }
        match n.kind_str() {
            "func_literal" => {
                let (mut calls_cancel, mut waits) = (false, false);
                walk(n, |m| {
                    calls_cancel |= m.kind_str() == "call_expression"
                        && m.field("function").is_some_and(|f| names(cx, f, decl));
                    waits |= parameter_done(m);
                    true
                });
                forwarded = calls_cancel && waits;
            }
            "call_expression" => {
                let after_func = n
                    .field("function")
                    .and_then(|f| cx.model.qualified_name(f, "context"))
                    == Some("AfterFunc");
                if after_func {
                    let mut mentions = false;
                    walk(n, |m| {
                        mentions |= names(cx, m, decl);
                        !mentions
                    });
                    forwarded = mentions;
                }
            }
            _ => {}
        }
        !forwarded
    });
    forwarded
}

/// What in the code says the fresh context is a choice, if anything.
fn choice<'t>(
    cx: &Context<'_, 't>,
    ends: &mut EndsSeen<'t>,
    name: &str,
    outer: Node<'t>,
    param: &Decl<'t>,
    body: Node<'t>,
    ancestors: &[Node<'t>],
) -> Option<String> {
    let ctx = param.name;
    let outer_function = outer.field("function").map(unparen)?;
    let context_call = cx.model.qualified_name(outer_function, "context");
    if context_call == Some("WithoutCancel") {
        return Some("it is wrapped in `context.WithoutCancel`".into());
    }
    // `_ = sem.Acquire(context.Background(), 1)` … `sem.Release(1)`.
    if blanked(cx, outer) {
        if let Some(release) = release_call(cx, outer, outer_function, body) {
            let release_function = release.field("function").unwrap_or(release);
            return Some(format!(
                "the error of `{}` is dropped and `{}` follows on line {}, which is safe only while the call cannot be cancelled",
                text(outer_function, cx.src),
                text(release_function, cx.src),
                LineOf(release.start_byte())
            ));
        }
    }
    if let Some(at) = expects_end(cx, ends, param, body, outer) {
        return Some(format!(
            "the function expects its context to end before this call (line {})",
            LineOf(at)
        ));
    }
    for &n in ancestors {
        if n.kind_str() == "if_statement" {
            let in_then = n.field("consequence").is_some_and(|c| is_within(outer, c));
            if let Some(err) = n
                .field("condition")
                .filter(|_| in_then)
                .and_then(|c| tested_error(cx, c))
            {
                return Some(format!(
                    "it runs on the failure path `if {err} != nil`, where cleanup must not stop because the caller gave up"
                ));
            }
        }
    }
    if let Some(go) = ancestors.iter().find(|n| n.kind_str() == "go_statement") {
        // Nothing waits for it, and it hands nothing back over a channel: work meant to outlive
        // the call.
        let waits = cx
            .index
            .calls_named("Wait")
            .iter()
            .any(|w| is_within(*w, body) && w.start_byte() > go.end_offset());
        let mut reports = false;
        walk(*go, |n| {
            reports |= n.kind_str() == "send_statement";
            !reports
        });
        if !waits && !reports {
            return Some("it runs in a goroutine the function does not wait for".into());
        }
    }
    if is_cancel_constructor(cx, outer) {
        if let Some((_, left)) = assigned_by(outer) {
            if let Some(field) = left
                .get(1)
                .filter(|n| n.kind_str() == "selector_expression")
            {
                return Some(format!(
                    "its cancel func is kept in `{}`, so the object decides how long it lives",
                    text(*field, cx.src)
                ));
            }
        }
        let timed = matches!(
            context_call,
            Some("WithTimeout" | "WithDeadline" | "WithTimeoutCause" | "WithDeadlineCause")
        );
        if timed && reads_values(cx, param, body) {
            return Some(format!(
                "it is bounded by its own deadline and takes `{ctx}`'s values over"
            ));
        }
    }
    if context_call.is_none() {
        let callee = callee_name(cx, outer_function);
        if let Some(callee) = callee.filter(|c| cx.model.package.callee_is_detached(c)) {
            return Some(format!(
                "elsewhere the package hands `{callee}` a `context.WithoutCancel` context"
            ));
        }
    }
    if name == "Background" && dropped(cx, outer) {
        return Some("its result is dropped, work the caller does not wait to see".into());
    }
    None
}

/// The value of `call` is dropped: a statement of its own, or assigned to `_` only.
fn dropped(cx: &Context, call: Node) -> bool {
    call.parent_node()
        .is_some_and(|p| p.kind_str() == "expression_statement")
        || blanked(cx, call)
}

/// `_ = call(…)`: the call has a result (an error, as a rule), dropped on purpose.
fn blanked(cx: &Context, call: Node) -> bool {
    call.parent_node()
        .filter(|p| p.kind_str() == "expression_list")
        .is_some_and(|list| {
            list.parent_node().is_some_and(|stmt| {
                stmt.kind_str() == "assignment_statement"
                    && stmt.field("right") == Some(list)
                    && stmt
                        .field("left")
                        .is_some_and(|l| named_children(l).all(|t| text(t, cx.src) == "_"))
            })
        })
}

/// Where, before `call`, the function waits for its context to end (`ctx.Done()`) or tells a
/// cancelled or expired context apart (`context.Canceled`, `context.DeadlineExceeded`): a fresh
/// context after that is meant to work when the caller's no longer does. What goroutines and
/// callbacks of the function do (a literal that does not hold the call) is theirs.
fn expects_end<'t>(
    cx: &Context<'_, 't>,
    ends: &mut EndsSeen<'t>,
    param: &Decl<'t>,
    body: Node<'t>,
    call: Node<'t>,
) -> Option<usize> {
    let seen = ends
        .ends
        .entry((body.start_byte(), param.ident.start_byte()))
        .or_insert_with(|| {
            let mut seen = Vec::new();
            walk(body, |n| {
                if n.kind_str() == "selector_expression" {
                    let field = n.field("field").map(|f| text(f, cx.src));
                    let ends = match field {
                        Some("Done") => n.field("operand").is_some_and(|o| names(cx, o, param)),
                        Some("Canceled" | "DeadlineExceeded") => {
                            cx.model.qualified_name(n, "context").is_some()
                        }
                        _ => false,
                    };
                    if ends {
                        seen.push(n);
                    }
                }
                true
            });
            seen
        });
    // The first before the call, outside any function literal that does not hold the call.
    seen.iter()
        .take_while(|n| n.start_byte() < call.start_byte())
        .find(|n| {
            let mut up = n.parent_node();
            while let Some(p) = up.filter(|p| *p != body) {
                if p.kind_str() == "func_literal" && !is_within(call, p) {
                    return false;
                }
                up = p.parent_node();
            }
            true
        })
        .map(|n| n.start_byte())
}

/// What the rule reads of a body for each call in it, gathered once per body (a function may
/// hold thousands of calls, and reading the code before each one again cost the square of it).
#[derive(Default)]
struct EndsSeen<'t> {
    /// Where a function's body sees its context end (`ctx.Done()`, `context.Canceled`), by
    /// (body, context parameter), in document order.
    ends: crate::HashMap<(usize, usize), Vec<Node<'t>>>,
    /// Where the first statement `<-ctx.Done()` of a block ends, by (block, context parameter).
    first_done_receive: crate::HashMap<(usize, usize), Option<usize>>,
}

/// A later call on the receiver of the method call `function` (another method): the release
/// paired with an acquire.
fn release_call<'t>(
    cx: &Context<'_, 't>,
    outer: Node<'t>,
    function: Node<'t>,
    body: Node<'t>,
) -> Option<Node<'t>> {
    if function.kind_str() != "selector_expression" {
        return None;
    }
    let receiver = text(function.field("operand")?, cx.src);
    // A value of its own (`sem`, `s.pool`), not the method's receiver or a package, whose other
    // methods are anything at all.
    if callee_key(cx, function) != Some(receiver) {
        return None;
    }
    let method = text(function.field("field")?, cx.src);
    let mut found = None;
    walk(body, |n| {
        // Only what ends after the call can hold a later call.
        if found.is_some() || n.end_offset() <= outer.end_offset() {
            return false;
        }
        if n.kind_str() == "call_expression" && n.start_byte() >= outer.end_offset() {
            let same_receiver = n
                .field("function")
                .filter(|f| f.kind_str() == "selector_expression")
                .is_some_and(|f| {
                    f.field("operand")
                        .is_some_and(|o| text(o, cx.src) == receiver)
                        && f.field("field").is_some_and(|m| text(m, cx.src) != method)
                });
            if same_receiver {
                found = Some(n);
            }
        }
        found.is_none()
    });
    found
}

/// In a condition, the error variable of an `x != nil` test, if any.
fn tested_error<'a>(cx: &Context<'_, 'a>, condition: Node<'a>) -> Option<&'a str> {
    let mut found = None;
    walk(condition, |n| {
        if found.is_some() || n.kind_str() == "func_literal" {
            return false;
        }
        if n.kind_str() == "binary_expression"
            && n.field("operator").is_some_and(|o| text(o, cx.src) == "!=")
        {
            let (Some(left), Some(right)) = (n.field("left"), n.field("right")) else {
                return true;
            };
            let (left, right) = (unparen(left), unparen(right));
            let value = match (left.kind_str(), right.kind_str()) {
                ("identifier", "nil") => Some(left),
                ("nil", "identifier") => Some(right),
                _ => None,
            };
            if let Some(value) = value.filter(|v| is_error_value(cx, *v)) {
                found = Some(text(value, cx.src));
            }
        }
        true
    });
    found
}

/// An error variable: declared `error`, the last of several values a call returns
/// (`v, err := f()`), or named so (`err`, `closeErr`).
fn is_error_value(cx: &Context, ident: Node) -> bool {
    if ERROR_VALUE.ends_identifier(text(ident, cx.src)) {
        return true;
    }
    let Some(decl) = cx.model.resolve(ident) else {
        return false;
    };
    if decl.ty.is_named("", "error") {
        return true;
    }
    let names = match decl.stmt.kind_str() {
        "short_var_declaration" | "assignment_statement" => decl
            .stmt
            .field("left")
            .map(|l| named_children(l).collect::<Vec<_>>())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let from_call = decl
        .stmt
        .field("right")
        .and_then(|r| named_children(r).next())
        .is_some_and(|r| unparen(r).kind_str() == "call_expression");
    names.len() > 1 && names.last() == Some(&decl.ident) && from_call
}

/// Does the function read a value of its context (`ctx.Value(key)`)?
fn reads_values(cx: &Context, param: &Decl, body: Node) -> bool {
    let mut reads = false;
    walk(body, |n| {
        if reads {
            return false;
        }
        reads = n.kind_str() == "selector_expression"
            && n.field("field").is_some_and(|f| text(f, cx.src) == "Value")
            && n.field("operand").is_some_and(|o| names(cx, o, param));
        !reads
    });
    reads
}

/// The name a call's function is known by in the package's usage facts: a function's name, or
/// a method's.
fn callee_name<'t>(cx: &Context<'_, 't>, function: Node<'t>) -> Option<&'t str> {
    match function.kind_str() {
        "identifier" => Some(text(function, cx.src)),
        "selector_expression" => function.field("field").map(|f| text(f, cx.src)),
        _ => None,
    }
}

/// What makes two calls "the same callee" for the sibling test: a plain function by its name; a
/// method of the function's own receiver or a package function by its whole name
/// (`s.flush`, `http.Get`); any other method by its receiver (`api`, `p.storage`: the client the
/// calls go to).
fn callee_key<'t>(cx: &Context<'_, 't>, function: Node<'t>) -> Option<&'t str> {
    match function.kind_str() {
        "identifier" => Some(text(function, cx.src)),
        "selector_expression" => {
            let operand = unparen(function.field("operand")?);
            let own_receiver = operand.kind_str() == "identifier"
                && cx
                    .model
                    .resolve(operand)
                    .is_some_and(|d| d.kind == DeclKind::Receiver);
            let package = operand.kind_str() == "identifier"
                && cx.model.resolve(operand).is_none()
                && cx.model.imports.path_of(text(operand, cx.src)).is_some();
            match own_receiver || package {
                true => Some(text(function, cx.src)),
                false => Some(text(operand, cx.src)),
            }
        }
        _ => None,
    }
}

/// Does `arg` carry the function's context: the parameter itself, or a local made from it
/// (`tctx, cancel := context.WithTimeout(ctx, d)`)? A `context.WithoutCancel(ctx)` does not.
fn carries_context(cx: &Context, arg: Node, param: &Decl, depth: usize) -> bool {
    let arg = unparen(arg);
    if arg.kind_str() != "identifier" || depth > 3 {
        return false;
    }
    let Some(decl) = cx.model.resolve(arg) else {
        return false;
    };
    if decl.ident == param.ident {
        return true;
    }
    if decl.kind != DeclKind::Local {
        return false;
    }
    let Some(value) = decl
        .stmt
        .field("right")
        .and_then(|r| named_children(r).next())
        .map(unparen)
        .filter(|v| v.kind_str() == "call_expression")
    else {
        return false;
    };
    if value
        .field("function")
        .and_then(|f| cx.model.qualified_name(f, "context"))
        == Some("WithoutCancel")
    {
        return false;
    }
    call_args(value)
        .iter()
        .any(|a| carries_context(cx, *a, param, depth + 1))
}

/// What in the code says the fresh context is a slip, as the message to report.
fn slip(
    cx: &Context,
    name: &str,
    call: Node,
    outer: Node,
    param: &Decl,
    owner: Node,
    body: Node,
) -> Option<String> {
    let ctx = param.name;
    let fresh = format!("`context.{name}()`");
    let lost = "the caller's cancellation and deadline do not reach this call";
    let outer_function = outer.field("function").map(unparen)?;
    // `ctx, cancel := context.WithCancel(context.Background())` replacing the parameter.
    if let Some((stmt, left)) = assigned_by(outer).filter(|_| {
        cx.model
            .qualified_name(outer_function, "context")
            .is_some_and(|n| n.starts_with("With"))
    }) {
        let replaces = left.first().is_some_and(|target| {
            target.kind_str() == "identifier"
                && text(*target, cx.src) == ctx
                && match stmt.kind_str() {
                    // `:=` in the body's own block reuses the parameter (same scope).
                    "short_var_declaration" => {
                        let block = stmt
                            .parent_node()
                            .filter(|p| p.kind_str() == "statement_list")
                            .and_then(|p| p.parent_node())
                            .or_else(|| stmt.parent_node());
                        block == Some(body)
                    }
                    _ => names(cx, *target, param),
                }
        });
        if replaces {
            return Some(format!(
                "`{ctx}` is replaced by a context made from {fresh}: the caller's cancellation and deadline reach nothing that uses `{ctx}` after this line"
            ));
        }
    }
    // Every other use of the parameter, and the calls that pass it on.
    let key = callee_key(cx, outer_function);
    let mut used = false;
    let mut sibling: Option<Node> = None;
    walk(body, |n| {
        if n.kind_str() == "identifier" && names(cx, n, param) && !declares(n) {
            used = true;
        }
        if sibling.is_none()
            && n.kind_str() == "call_expression"
            && n != outer
            && !is_within(call, n)
            && key.is_some()
            && n.field("function")
                .map(unparen)
                .and_then(|f| callee_key(cx, f))
                == key
            && call_args(n)
                .iter()
                .any(|a| carries_context(cx, *a, param, 0))
        {
            sibling = Some(n);
        }
        true
    });
    // A function literal's parameters are those of the callback it implements: an unused one
    // says nothing of its author.
    if !used && owner.kind_str() != "func_literal" {
        return Some(format!(
            "{fresh} passed on in a function whose `{ctx}` is used nowhere: {lost}"
        ));
    }
    if let Some(other) = sibling {
        let other_function = other.field("function").map_or(other, unparen);
        return Some(format!(
            "{fresh} passed to `{}` while line {} passes `{ctx}` to `{}`: {lost}",
            text(outer_function, cx.src),
            LineOf(other.start_byte()),
            text(other_function, cx.src),
        ));
    }
    if outer_function.kind_str() == "identifier"
        && cx
            .model
            .package
            .callee_given_context(text(outer_function, cx.src))
    {
        return Some(format!(
            "{fresh} passed to `{}`, which other calls in the package give their caller's context: {lost}",
            text(outer_function, cx.src)
        ));
    }
    if name == "TODO" {
        return Some(format!(
            "{fresh} passed on in a function that has `{ctx}`: {lost}"
        ));
    }
    None
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
