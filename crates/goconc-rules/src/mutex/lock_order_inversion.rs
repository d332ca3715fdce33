//! `lock-order-inversion`: two code paths of one package take the same two mutexes in opposite
//! orders.

use goconc_syntax::NodeExt;
use std::collections::BTreeSet;

use crate::finding::{Finding, Severity};
use crate::{Context, Family, RuleMeta};
use goconc_model::summary::summary_key;
use goconc_syntax::text;

pub static META: RuleMeta = RuleMeta {
    id: "lock-order-inversion",
    family: Family::Mutex,
    severity: Severity::Warning,
    summary: "Two code paths in one package take the same two mutexes in opposite orders (an AB–BA deadlock).",
    fix: None,
    doc: r#"
## Why it matters
If one goroutine holds A and waits for B while another holds B and waits for A, both wait
forever. Each function looks correct on its own; the bug is in the pair, often in two files, and
shows up only under load.

## Example
```go
func (b *Bank) Transfer(from, to *Account) {
	b.ledgerMu.Lock()
	defer b.ledgerMu.Unlock()
	b.auditMu.Lock() // ledger, then audit
	defer b.auditMu.Unlock()
	// …
}

func (b *Bank) Audit() {
	b.auditMu.Lock()
	defer b.auditMu.Unlock()
	b.ledgerMu.Lock() // audit, then ledger: deadlocks against Transfer
	defer b.ledgerMu.Unlock()
	// …
}
```
Pick one global order and follow it everywhere (document it next to the fields):
```go
// Lock order: ledgerMu before auditMu.
func (b *Bank) Audit() {
	b.ledgerMu.Lock()
	defer b.ledgerMu.Unlock()
	b.auditMu.Lock()
	defer b.auditMu.Unlock()
	// …
}
```

## Fix
None: the order to keep is a design decision.

## How mutexes are matched
Locks reached from a method's receiver are named by type and field (`Bank.auditMu`), following
field types through the package's own structs (`s.store.mu` in a method of `*Service` is
`Store.mu`); package-level mutexes by name. The second lock counts when it is taken in the block
of the first (or deeper) with no unlock of the first in between, in the body itself or in a
function or method of the package called there (followed up to six calls deep; a method called
on a parameter of a package type takes that type's locks). A lock taken while many are held
pairs with the eight taken last.

## Evidence and severity
`warning`: each goroutine would wait for the other. When both sides only read-lock one of the
two mutexes, readers do not exclude each other: the finding then needs a function of the package
that write-locks that mutex (a writer that queues between them blocks the second reader), and
says so.

Each function that takes the pair one way is reported when one or two do (the odd ones out);
when more do, only the first (by name), with a count of the others. When more than two functions
take one order and only one or two the other, that order is the package's own and the others are
where the fix goes: the deadlock is then reported once, at them, naming a function of the common
order. With two or fewer on each side either may be the one to change, and both are reported.

## When it stays silent
Locks on parameters, locals and values of other packages (their identity is unknown), locks
taken in exclusive branches, pairs that only ever appear in one order, and pairs both sides
read-lock on one mutex when nothing in the package write-locks it. The functions of a pair's
common order (more than two of them, against one or two that invert it) are not reported: the
deadlock is, once, at the functions that invert it. Nor are the locks of a function that holds
more than 64 mutexes at once: they are not followed, as in a function with `goto`.
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    let package = cx.model.package;
    let ordered = |(_, s): (&String, &goconc_model::summary::FuncSummary)| {
        !s.orders.is_empty() || s.calls.iter().any(|c| !c.held.is_empty())
    };
    if !package.summaries().any(ordered) {
        return;
    }
    let closure = package.lock_closure();
    for function in &cx.model.functions {
        if function.node.kind_str() == "func_literal" {
            continue;
        }
        let Some(name) = function.node.field("name") else {
            continue;
        };
        let key = summary_key(function.receiver_type.as_deref(), text(name, cx.src));
        let range = function.node.byte_span();
        let mut reported = BTreeSet::new();
        for order in closure.orders(&key) {
            // The summary of this declaration, not of a same-named one in another file (build
            // tags).
            if !range.contains(&order.offset) || !range.contains(&order.first_offset) {
                continue;
            }
            let (a, b) = (&order.first, &order.second);
            // Per direction of an inverted pair: at each function that takes it when one or two
            // do (the odd ones out, where the fix goes), else at the first (by name) with a
            // count of the others; once per function.
            let Some((first, count)) = closure.ordered_by(a, b) else {
                continue;
            };
            if (count > 2 && first != key) || !reported.insert((a.clone(), b.clone())) {
                continue;
            }
            let Some(opposite) = closure
                .orders(closure.ordered_by(b, a).map_or("", |(k, _)| k))
                .iter()
                .find(|o| &o.first == b && &o.second == a)
            else {
                continue;
            };
            let (other_function, other_count) = closure.ordered_by(b, a).unwrap_or(("", 0));
            // One deadlock, one finding, when the code shows which order is the package's
            // own: taken by more than two functions, against one or two that invert it (the
            // odd ones out, where the fix goes). With fewer on each side either may be the
            // one to change (moby fixed the side two functions took in `0c1a125644`, the lone
            // side in `92e20b70e6`): both are reported.
            if count > 2 && other_count <= 2 {
                continue;
            }
            // A deadlock needs each goroutine to wait for the other: for a lock both take for
            // reading, only a writer queued in between makes the second reader wait.
            let shared_a = order.first_read && opposite.second_read;
            let shared_b = order.second_read && opposite.first_read;
            let needs_writer = match (shared_a, shared_b) {
                (true, true) => continue,
                (true, false) => Some(a),
                (false, true) => Some(b),
                (false, false) => None,
            };
            if needs_writer.is_some_and(|l| !closure.write_locked(l)) {
                continue;
            }
            let Some(node) = cx
                .model
                .root
                .descendant_for_byte_range(order.offset, order.offset)
            else {
                continue;
            };
            let mut call = node;
            while call.kind_str() != "call_expression" {
                match call.parent_node() {
                    Some(p) => call = p,
                    None => break,
                }
            }
            let taken = match order.via.first() {
                None => format!("`{b}` is locked while `{a}` is held"),
                Some(_) => format!(
                    "this call locks `{b}` (through {}) while `{a}` is held",
                    order
                        .via
                        .iter()
                        .map(|v| format!("`{v}`"))
                        .collect::<Vec<_>>()
                        .join(" → ")
                ),
            };
            let others = match other_count {
                1 => format!("`{other_function}` locks them in the opposite order"),
                n => format!(
                    "`{other_function}` and {} other functions lock them in the opposite order",
                    n - 1
                ),
            };
            let same = match count {
                1 | 2 => String::new(),
                n => format!(" ({} other functions take them in this order)", n - 1),
            };
            let outcome = match needs_writer {
                None => "two goroutines running both can deadlock".to_string(),
                Some(lock) => format!(
                    "two goroutines running both deadlock once a writer waits for `{lock}` between them"
                ),
            };
            out.push(
                META.finding(
                    call.byte_span(),
                    format!("{taken}, but {others}: {outcome}{same}"),
                )
                .with_related(
                    order.first_offset..order.first_offset + 1,
                    format!("`{a}` is locked first here"),
                ),
            );
        }
    }
}
