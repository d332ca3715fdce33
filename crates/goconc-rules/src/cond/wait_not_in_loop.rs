//! `cond-wait-not-in-loop`: `sync.Cond.Wait` outside a `for` loop that re-checks the condition.

use crate::finding::{Finding, LineOf, Severity};
use crate::{Context, Family, RuleMeta};
use goconc_model::SyncKind;
use goconc_syntax::NodeExt;
use goconc_syntax::{method_call, text, walk};
use tree_sitter::Node;

pub static META: RuleMeta = RuleMeta {
    id: "cond-wait-not-in-loop",
    family: Family::Cond,
    severity: Severity::Warning,
    summary: "`sync.Cond.Wait` not inside a `for` loop that re-checks the condition.",
    fix: None,
    doc: r#"
## Why it matters
`Wait` unlocks the condition's lock, sleeps until a `Signal` or `Broadcast`, and locks again. By
the time it returns, another goroutine may have taken the lock first and changed the state back
(a `Broadcast` wakes every waiter, and a `Signal` may be meant for a different condition). Code
that checks the condition once with `if` and then trusts it after `Wait` acts on a state that no
longer holds: a pop from an empty queue, a read of a value that is gone.

## Example
```go
q.mu.Lock()
if len(q.items) == 0 {
	q.cond.Wait()
}
item := q.items[0]
q.mu.Unlock()
```
```go
q.mu.Lock()
for len(q.items) == 0 {
	q.cond.Wait()
}
item := q.items[0]
q.mu.Unlock()
```

## Fix
Wait in a loop on the condition: `for !ready() { c.Wait() }`. No quick fix: turning the `if`
into a `for` is usually right, but not when the code after it does not depend on the condition.

## Severity
- **warning**: the code after `Wait` acts on the state as if the condition held.
- **hint** when the code shows the condition cannot be undone or is checked again:
  - the `if` around the `Wait` tests a field against `nil` (`if p.full == nil`) and nothing in
    the package sets that field back to `nil`: once set it stays set, and `sync.Cond` has no
    spurious wake-ups;
  - after the `Wait`, an `if` or `for` tests a value of the condition again (`bufLen`) before the
    code relies on it;
  - the `Wait` is under no condition at all, on a condition variable local to the function that
    a goroutine the function starts signals: a handshake with that goroutine, not a wait for a
    state (`sync.Cond` has no spurious wake-ups).

## When it stays silent
- The `Wait` is inside a `for` loop of the same function (whatever its shape).
- The receiver is not known to be a `sync.Cond` (a `sync.WaitGroup` or an `errgroup.Group` also
  has `Wait`).

`_test.go` files are read like any other.
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    for &call in cx.index.calls_named("Wait") {
        let Some(mc) = method_call(call) else {
            continue;
        };
        if cx
            .model
            .package
            .sync_kind(cx.model.type_of(mc.receiver).deref())
            != Some(SyncKind::Cond)
        {
            continue;
        }
        if goconc_syntax::enclosing_loop(call).is_some() {
            continue;
        }
        let recv = text(mc.receiver, cx.src);
        let mut finding = META.finding(
            call.byte_span(),
            format!("`{recv}.Wait()` is not in a loop: when it returns, the condition it waited for may no longer hold"),
        );
        if let Some(why) = guarded_enough(cx, call).or_else(|| handshake(cx, call, mc.receiver)) {
            finding.message = format!("`{recv}.Wait()` is not in a loop, but {why}");
            finding.severity = Severity::Hint;
        }
        out.push(finding);
    }
}

/// What makes a single `Wait` under `if` safe enough, if anything: a condition that cannot be
/// undone, or one the code tests again after the `Wait`.
fn guarded_enough(cx: &Context, wait: Node) -> Option<String> {
    let stmt = statement_call_of(wait)?;
    let guard = stmt
        .parent_node()
        .and_then(|p| match p.kind_str() {
            "block" => p.parent_node(),
            "statement_list" => p.parent_node().and_then(|b| b.parent_node()),
            _ => None,
        })
        .filter(|g| g.kind_str() == "if_statement")?;
    let condition = guard.field("condition")?;
    if let Some(field) = nil_test(cx, condition) {
        if !cx.model.package.field_set_to_nil(text(field, cx.src)) {
            return Some(format!(
                "`{}` is never set back to nil in this package: once the condition holds it stays true",
                text(field.parent_node().unwrap_or(field), cx.src)
            ));
        }
    }
    // The values the condition reads (`bp.bufLen`, `q.closed`), then an `if` or `for` after the
    // Wait that reads one of them again.
    let mut values: Vec<&str> = Vec::new();
    walk(condition, |n| match n.kind_str() {
        "selector_expression" => {
            let called = n.parent_node().is_some_and(|p| {
                p.kind_str() == "call_expression" && p.field("function") == Some(n)
            });
            if !called {
                values.push(text(n, cx.src));
            }
            false
        }
        "identifier" => {
            if cx.model.resolve(n).is_some() {
                values.push(text(n, cx.src));
            }
            false
        }
        _ => true,
    });
    // The first read of one of them after the Wait decides: in the condition of an `if` or a
    // `for`, the code checks again; anywhere else, it relies on the condition.
    let function = goconc_syntax::enclosing_function(wait)?;
    let mut first: Option<Node> = None;
    walk(function, |n| {
        if first.is_some() || n.end_offset() <= wait.end_offset() || n.kind_str() == "func_literal"
        {
            return false;
        }
        if n.start_byte() > wait.end_offset()
            && matches!(n.kind_str(), "selector_expression" | "identifier")
            && values.contains(&text(n, cx.src))
        {
            first = Some(n);
        }
        first.is_none()
    });
    let first = first?;
    in_condition(first, function).then(|| {
        format!(
            "the code after it tests `{}` again before relying on it",
            text(first, cx.src)
        )
    })
}

/// Whether `node` lies in the condition of an `if` or the header of a `for` inside `function`.
fn in_condition(node: Node, function: Node) -> bool {
    let mut up = node.parent_node();
    while let Some(n) = up {
        if n == function {
            return false;
        }
        match n.kind_str() {
            "if_statement" => {
                if n.field("condition")
                    .is_some_and(|c| goconc_syntax::is_within(node, c))
                {
                    return true;
                }
            }
            "for_statement" => {
                if n.field("body")
                    .is_some_and(|b| node.end_offset() <= b.start_byte())
                {
                    return true;
                }
            }
            _ => {}
        }
        up = n.parent_node();
    }
    false
}

/// A `Wait` under no condition at all on a condition variable local to the function, which a
/// goroutine the function starts signals: a handshake with that goroutine (the waiter waits for
/// its signal, and `sync.Cond` has no spurious wake-ups), not a wait for a state.
fn handshake(cx: &Context, wait: Node, receiver: Node) -> Option<String> {
    if goconc_syntax::enclosing_function(wait).is_some_and(|f| {
        let mut up = wait.parent_node();
        while let Some(n) = up {
            if n == f {
                return false;
            }
            if matches!(
                n.kind_str(),
                "if_statement" | "expression_case" | "communication_case"
            ) {
                return true;
            }
            up = n.parent_node();
        }
        false
    }) {
        return None;
    }
    let root = goconc_syntax::path_root(receiver)?;
    let decl = cx
        .model
        .resolve(root)
        .filter(|d| d.kind == goconc_model::DeclKind::Local)?;
    let owner = cx.model.functions.get(decl.function)?.node;
    let path = text(receiver, cx.src);
    let go = cx.index.go_statements.iter().find(|g| {
        if !goconc_syntax::is_within(**g, owner) || goconc_syntax::is_within(wait, **g) {
            return false;
        }
        let mut signals = false;
        walk(**g, |n| {
            if let Some(mc) = method_call(n) {
                signals |= matches!(text(mc.method, cx.src), "Signal" | "Broadcast")
                    && text(mc.receiver, cx.src) == path
                    && goconc_syntax::path_root(mc.receiver)
                        .and_then(|r| cx.model.resolve(r))
                        .is_some_and(|d| d.ident == decl.ident);
            }
            !signals
        });
        signals
    })?;
    Some(format!(
        "it waits for the signal of the goroutine started on line {}, not for a condition",
        LineOf(go.start_byte())
    ))
}

/// `x.f == nil` (or `nil == x.f`), alone or in a `&&` chain: the field.
fn nil_test<'t>(cx: &Context<'_, 't>, condition: Node<'t>) -> Option<Node<'t>> {
    let condition = goconc_syntax::unparen(condition);
    if condition.kind_str() != "binary_expression" {
        return None;
    }
    let (left, operator, right) = (
        condition.field("left")?,
        condition.field("operator")?,
        condition.field("right")?,
    );
    match text(operator, cx.src) {
        "==" => {
            let (left, right) = (goconc_syntax::unparen(left), goconc_syntax::unparen(right));
            let value = match (left.kind_str(), right.kind_str()) {
                (_, "nil") => left,
                ("nil", _) => right,
                _ => return None,
            };
            (value.kind_str() == "selector_expression")
                .then(|| value.field("field"))
                .flatten()
        }
        "&&" => nil_test(cx, left).or_else(|| nil_test(cx, right)),
        _ => None,
    }
}

/// The statement a call stands as (`c.Wait()` on its own line).
fn statement_call_of(call: Node) -> Option<Node> {
    call.parent_node()
        .filter(|p| p.kind_str() == "expression_statement")
}
