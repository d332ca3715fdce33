//! `lock-order-inversion`: two code paths of one package take the same two mutexes in opposite
//! orders.

use goconc_syntax::NodeExt;
use std::collections::BTreeSet;

use crate::finding::{Finding, Severity};
use crate::{Context, Family, RuleMeta};
use goconc_model::summary::{summary_key, Acquire};
use goconc_model::{PackageModel, SyncKind, Ty};
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
of the first (or deeper) with no unlock of the first in between.

## When it stays silent
Locks on parameters, locals and values of other packages (their identity is unknown), locks
taken in exclusive branches, and pairs that only ever appear in one order.
"#,
};

/// A lock's name across the package (`Store.mu`, `registryMu`), if it is known to be a mutex.
pub(crate) fn canonical(
    package: &PackageModel,
    owner: Option<&str>,
    acquire: &Acquire,
) -> Option<String> {
    let (mut ty, segments): (Ty, Vec<&str>) = if acquire.from_receiver {
        let segments = if acquire.path.is_empty() {
            vec![]
        } else {
            acquire.path.split('.').collect()
        };
        (Ty::named("", owner?), segments)
    } else {
        let mut parts = acquire.path.split('.');
        let root = parts.next()?;
        let var = package.var(root)?.clone();
        let rest: Vec<&str> = parts.collect();
        if rest.is_empty() {
            return is_mutex(package, &var).then(|| root.to_string());
        }
        (var, rest)
    };
    if segments.is_empty() {
        // A promoted `s.Lock()`: the receiver embeds the mutex.
        let name = type_name(&ty)?;
        let embeds = ["Mutex", "RWMutex"].iter().any(|f| {
            package
                .field_type(&ty, f)
                .is_some_and(|t| is_mutex(package, &t))
        });
        return embeds.then(|| format!("{name}.Mutex"));
    }
    for (i, segment) in segments.iter().enumerate() {
        let field = package.field_type(&ty, segment)?;
        if i + 1 == segments.len() {
            let owner = type_name(&ty)?;
            return is_mutex(package, &field).then(|| format!("{owner}.{segment}"));
        }
        match field.deref() {
            Ty::Named { pkg, .. } if pkg.is_empty() => ty = field.deref().clone(),
            _ => return None,
        }
    }
    None
}

fn type_name(ty: &Ty) -> Option<String> {
    match ty.deref() {
        Ty::Named { pkg, name } if pkg.is_empty() => Some(name.clone()),
        _ => None,
    }
}

fn is_mutex(package: &PackageModel, ty: &Ty) -> bool {
    matches!(
        package.sync_kind(ty.deref()),
        Some(SyncKind::Mutex | SyncKind::RWMutex)
    )
}

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    let package = cx.model.package;
    let mut reported = BTreeSet::new();
    for function in &cx.model.functions {
        if function.node.kind_str() == "func_literal" {
            continue;
        }
        let Some(name) = function.node.field("name") else {
            continue;
        };
        let owner = function.receiver_type.as_deref();
        let key = summary_key(owner, text(name, cx.src));
        let Some(summary) = package.summary(&key) else {
            continue;
        };
        for (first, second) in &summary.orders {
            let (Some(a), Some(b)) = (
                canonical(package, owner, first),
                canonical(package, owner, second),
            ) else {
                continue;
            };
            if a == b {
                continue;
            }
            let opposite = package.summaries().find_map(|(other_key, other)| {
                let other_owner = other_key.rsplit_once('.').map(|(t, _)| t);
                other.orders.iter().find_map(|(x, y)| {
                    let x = canonical(package, other_owner, x)?;
                    let y = canonical(package, other_owner, y)?;
                    (x == b && y == a).then(|| other_key.clone())
                })
            });
            let Some(other_function) = opposite else {
                continue;
            };
            if !reported.insert((second.offset, a.clone(), b.clone())) {
                continue;
            }
            let Some(node) = cx
                .model
                .root
                .descendant_for_byte_range(second.offset, second.offset)
            else {
                continue;
            };
            let mut call = node;
            while call.kind_str() != "call_expression" {
                match call.parent() {
                    Some(p) => call = p,
                    None => break,
                }
            }
            out.push(
                META.finding(
                    call.byte_range(),
                    format!(
                        "`{b}` is locked while `{a}` is held, but `{other_function}` locks them in the opposite order: two goroutines running both can deadlock"
                    ),
                )
                .with_related(first.offset..first.offset + 1, format!("`{a}` is locked first here")),
            );
        }
    }
}
