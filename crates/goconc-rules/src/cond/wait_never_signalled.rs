//! `cond-wait-never-signalled`: `c.Wait()` on a `sync.Cond` that nothing in the package ever
//! `Signal`s or `Broadcast`s: the waiter sleeps forever.

use goconc_syntax::NodeExt;
use tree_sitter::Node;

use crate::finding::{Finding, Severity};
use crate::{Context, Family, RuleMeta};
use goconc_model::{DeclKind, SyncKind, Ty};
use goconc_syntax::{method_call, text, unparen, walk};

pub static META: RuleMeta = RuleMeta {
    id: "cond-wait-never-signalled",
    family: Family::Cond,
    severity: Severity::Error,
    summary: "`Wait` on a `sync.Cond` that nothing in the package ever `Signal`s or `Broadcast`s, and that no other code can reach: the waiter sleeps forever.",
    fix: None,
    doc: r#"
## Why it matters
`Cond.Wait` returns only after a `Signal` or a `Broadcast` on the same condition (`sync.Cond`
has no spurious wake-ups). A condition that is waited on but never signalled is a goroutine
that sleeps forever, holding whatever it was about to do. It happens when the signal was meant
to come from a method that was later rewritten, or when the waker signals another condition
than the one waited on (`q.notEmpty` waited, `q.notFull` signalled).

## Example
```go
type queue struct {
	mu       sync.Mutex
	notEmpty *sync.Cond
	items    []int
}

func (q *queue) put(v int) {
	q.mu.Lock()
	q.items = append(q.items, v)
	q.mu.Unlock()
}

func (q *queue) take() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.items) == 0 {
		q.notEmpty.Wait()
	}
	v := q.items[0]
	q.items = q.items[1:]
	return v
}
```
```go
func (q *queue) put(v int) {
	q.mu.Lock()
	q.items = append(q.items, v)
	q.mu.Unlock()
	q.notEmpty.Signal()
}
```

## Fix
Signal the condition where the state it waits for changes (`Signal` for one waiter,
`Broadcast` when several may proceed). No quick fix: where the state changes is not in the code.

## Which condition, and severity
A condition is known by the field it is held in (`queue.notEmpty`: the struct type that
declares the field, through embedded fields as Go promotes them, as the model keys every sync
value) or by its local variable. **error**, with the condition named: the package's code, in
every file, signals it nowhere — no `Signal` or `Broadcast` called on that field (on any value
of the type), no method value `c.Broadcast` handed on — and its value reaches no other code
that could.

## When it stays silent
- Some code of the package calls `Signal` or `Broadcast` on the field (by its owner type; on a
  value whose type the text does not tell, a call on a field of the same name counts).
- The field's value is handed on anywhere in the package (`wake(q.cond)`, `c := q.cond`,
  `return q.cond`, `&q.cond`, stored in a literal, sent): the code that signals it may hold it
  under another name.
- The field is exported (`Cond *sync.Cond`): code in other packages can signal it. Promoted
  from an embedded `sync.Cond` (`q.Wait()` through `struct{ sync.Cond }`): calls on the outer
  value are not followed.
- The condition is a package-level variable, a parameter, a result, or a local not made here
  (`c := f()`): who signals it is beyond the function. A local made here (`sync.NewCond(&mu)`,
  `&sync.Cond{…}`) is reported only when every use of it is a `Wait` or its `L`.
- The receiver's type is not known to be a `sync.Cond`, or the operand's type is not a type of
  the package.

`_test.go` files are read like any other: their code counts as signalling code of the package
it is compiled with.
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    for &call in cx.index.calls_named("Wait") {
        if cx.is_skipped(call.start_byte()) {
            continue;
        }
        let Some(mc) = method_call(call) else {
            continue;
        };
        let ty = cx.model.type_of(mc.receiver);
        if cx.model.package.sync_kind(ty.deref()) != Some(SyncKind::Cond) {
            continue;
        }
        let receiver = unparen(mc.receiver);
        let named = match receiver.kind_str() {
            "selector_expression" => field_never_signalled(cx, receiver),
            "identifier" => local_never_signalled(cx, receiver),
            _ => None,
        };
        let Some(named) = named else {
            continue;
        };
        let message = format!(
            "`{}.Wait()` waits on {named}, which nothing in the package ever `Signal`s or `Broadcast`s and no other code can reach: this `Wait` never returns",
            text(receiver, cx.src)
        );
        out.push(META.finding(call.byte_span(), message));
    }
}

/// `x.f.Wait()`: the field `Owner.f`, unexported, not embedded, never signalled in the
/// package and never handed on. Described for the message.
fn field_never_signalled(cx: &Context, receiver: Node) -> Option<String> {
    let operand = unparen(receiver.field("operand")?);
    let name = text(receiver.field("field")?, cx.src);
    if name
        .chars()
        .next()
        .is_none_or(|c| !c.is_lowercase() && c != '_')
    {
        return None;
    }
    let package = cx.model.package;
    let key = goconc_model::atomics::owner_key(package, &cx.model.type_of(operand), name)?;
    let (owner, _) = key.split_once('.')?;
    let field = package
        .struct_fields(owner)?
        .iter()
        .find(|f| f.name == name)?;
    if field.embedded {
        return None;
    }
    let signalled = ["Signal", "Broadcast"]
        .iter()
        .any(|m| package.field_called(&key, m));
    if signalled || package.field_is_taken(name) {
        return None;
    }
    Some(format!("`{key}`"))
}

/// `c.Wait()` on a local made in its function (`c := sync.NewCond(&mu)`) whose every use is a
/// `Wait` or its `L`.
fn local_never_signalled(cx: &Context, ident: Node) -> Option<String> {
    let decl = cx.model.resolve(ident)?;
    if decl.kind != DeclKind::Local {
        return None;
    }
    if !made_here(cx, decl) {
        return None;
    }
    let function = cx.model.functions.get(decl.function)?.node;
    let mut other_use = false;
    walk(function, |n| {
        if other_use {
            return false;
        }
        if n.kind_str() == "identifier"
            && n != decl.ident
            && text(n, cx.src) == decl.name
            && cx.model.resolve(n).map(|d| d.ident) == Some(decl.ident)
        {
            other_use = !waits_or_locks(cx, n);
        }
        true
    });
    (!other_use).then(|| format!("the local condition `{}`", decl.name))
}

/// `sync.NewCond(…)`, `&sync.Cond{…}`, `sync.Cond{…}`, or `var c sync.Cond`.
fn made_here(cx: &Context, decl: &goconc_model::Decl) -> bool {
    let Some(init) = decl.init.map(unparen) else {
        // `var c sync.Cond` declares its own value; a declaration with several values is not
        // followed.
        return decl.stmt.kind_str() == "var_spec"
            && decl.stmt.field("value").is_none()
            && matches!(decl.ty, Ty::Named { .. });
    };
    let init = match init.kind_str() {
        "unary_expression" => init.field("operand").map(unparen).unwrap_or(init),
        _ => init,
    };
    match init.kind_str() {
        "call_expression" => init
            .field("function")
            .is_some_and(|f| cx.model.qualified_name(f, "sync") == Some("NewCond")),
        // The receiver's type is already known to be a `sync.Cond`.
        "composite_literal" => true,
        _ => false,
    }
}

/// Is this use of the condition `c.Wait()` or `c.L…`?
fn waits_or_locks(cx: &Context, ident: Node) -> bool {
    let node = goconc_syntax::outer_parens(ident);
    let Some(selector) = node
        .parent_node()
        .filter(|p| p.kind_str() == "selector_expression" && p.field("operand") == Some(node))
    else {
        return false;
    };
    match selector.field("field").map(|f| text(f, cx.src)) {
        Some("L") => true,
        Some("Wait") => selector
            .parent_node()
            .is_some_and(|c| c.kind_str() == "call_expression"),
        _ => false,
    }
}
