//! `atomic-result-assigned`: `x = atomic.AddInt64(&x, 1)` stores the result back with a plain,
//! racy write.

use crate::finding::{Finding, Severity, TextEdit};
use crate::{Context, Family, RuleMeta};
use goconc_model::atomics::{addressed_arg, atomic_func, split_func};
use goconc_syntax::NodeExt;
use goconc_syntax::{access_path, named_children, text};

pub static META: RuleMeta = RuleMeta {
    id: "atomic-result-assigned",
    family: Family::Atomic,
    severity: Severity::Error,
    summary: "`x = atomic.AddInt64(&x, 1)`: the store back is not atomic.",
    fix: Some("drop the assignment"),
    doc: r#"
## Why it matters
`atomic.AddInt64(&x, 1)` already updates `x` atomically and returns the new value. Assigning that
value back to `x` is a second, plain write: it races with every other goroutine's atomic update
of `x` and can overwrite their increments with a stale value. The race detector reports it, and
counters quietly lose counts without it.

## Example
```go
func (s *Stats) Hit() {
	s.hits = atomic.AddInt64(&s.hits, 1)
}
```
```go
func (s *Stats) Hit() {
	atomic.AddInt64(&s.hits, 1)
}
```

## Fix
The quick fix drops `x =` and keeps the call.

## When it stays silent
- The result is assigned to another variable (`n := atomic.AddInt64(&s.hits, 1)`).
- The call is a `Load`, `Store` or `CompareAndSwap`, whose result is not the new value of `x`.
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    if !cx.model.imports.imports("sync/atomic") {
        return;
    }
    for op in ["Add", "Swap", "And", "Or"] {
        for ty in ["Int32", "Int64", "Uint32", "Uint64", "Uintptr", "Pointer"] {
            let name = format!("{op}{ty}");
            for &call in cx.index.calls_named(&name) {
                if let Some(f) = check_call(cx, call) {
                    out.push(f);
                }
            }
        }
    }
}

fn check_call(cx: &Context, call: tree_sitter::Node) -> Option<Finding> {
    let func = atomic_func(call, cx.src, &cx.model.imports)?;
    let (op, _) = split_func(func)?;
    let value = goconc_syntax::outer_parens(call);
    let right = value
        .parent_node()
        .filter(|p| p.kind_str() == "expression_list")?;
    let stmt = right
        .parent_node()
        .filter(|p| p.kind_str() == "assignment_statement")?;
    if stmt.field("right")? != right || named_children(right).count() != 1 {
        return None;
    }
    let operator = stmt.field("operator")?;
    if text(operator, cx.src) != "=" {
        return None;
    }
    let left: Vec<_> = named_children(stmt.field("left")?).collect();
    let [target] = left[..] else { return None };
    let arg = addressed_arg(call)?;
    let path = access_path(target, cx.src)?;
    if access_path(arg, cx.src).as_deref() != Some(path.as_str()) {
        return None;
    }
    let what = if op == "Add" {
        "new value"
    } else {
        "old value"
    };
    Some(
        META.finding(
            target.byte_span(),
            format!("`atomic.{func}` already updates `{path}`; assigning its {what} back to `{path}` is a plain write that races with other atomic updates"),
        )
        .with_fix(
            "Drop the assignment",
            vec![TextEdit { range: stmt.start_byte()..value.end_offset(), new_text: text(call, cx.src).to_string() }],
        ),
    )
}
