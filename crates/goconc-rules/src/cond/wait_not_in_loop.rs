//! `cond-wait-not-in-loop`: `sync.Cond.Wait` outside a `for` loop that re-checks the condition.

use crate::finding::{Finding, Severity};
use crate::{Context, Family, RuleMeta};
use goconc_model::SyncKind;
use goconc_syntax::{method_call, text};

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

## When it stays silent
- The `Wait` is inside a `for` loop of the same function (whatever its shape).
- Test files: tests drive a condition variable step by step (one signal, one wait) on purpose.
- The receiver is not known to be a `sync.Cond` (a `sync.WaitGroup` or an `errgroup.Group` also
  has `Wait`).
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    // Tests drive condition variables step by step on purpose (one signal, one wait).
    if cx.is_test_file {
        return;
    }
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
        out.push(META.finding(
            call.byte_range(),
            format!("`{recv}.Wait()` is not in a loop: when it returns, the condition it waited for may no longer hold"),
        ));
    }
}
