//! `mutex-empty-critical-section`: `Lock` immediately followed by `Unlock`.

use crate::finding::{Finding, Severity};
use crate::{Context, Family, RuleMeta};
use goconc_model::sync_calls::{lock_call, lock_key};
use goconc_syntax::NodeExt;
use goconc_syntax::{named_children, statement_call, text, walk_body};
use tree_sitter::Node;

pub static META: RuleMeta = RuleMeta {
    id: "mutex-empty-critical-section",
    family: Family::Mutex,
    severity: Severity::Warning,
    summary: "`Lock` immediately followed by `Unlock`: the critical section protects nothing.",
    fix: None,
    doc: r#"
## Why it matters
An empty critical section usually means the protected statements were moved or deleted and the
lock calls stayed behind, or that `defer` was forgotten in front of the `Unlock`. When it is meant
as a barrier ("wait until whoever holds the lock is done"), that intent deserves a comment and
usually a clearer primitive (a `sync.WaitGroup`, a channel close).

## Example
```go
func (s *Stats) Record(d time.Duration) {
	s.mu.Lock()
	s.mu.Unlock()
	s.total += d
}
```
```go
func (s *Stats) Record(d time.Duration) {
	s.mu.Lock()
	s.total += d
	s.mu.Unlock()
}
```

## Fix
None: only the author knows which statements belong inside.

## When it stays silent
When any statement stands between the two calls, when they name different mutexes, when the
kinds do not pair (`RLock` then `Unlock` is `mutex-unlock-kind-mismatch`'s business), when a
comment explains it as a barrier (right above the `Lock`, or heading the paragraph of statements
that ends with the `Lock`, no blank line between), when the mutex is a parameter's or a local
variable's rather than the receiver's or a package variable's (locking it protects nobody
else's data: the pair exercises the lock or waits for a goroutine of the function to let it
go), and in benchmarks (a function, or a function literal in one, with a `*testing.B`
parameter), which lock and unlock to measure the lock itself. Other test code gets the same
reading as any code.
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    let unlocks = cx.index.calls_named("Unlock").len() + cx.index.calls_named("RUnlock").len();
    if unlocks == 0 {
        return;
    }
    // Benchmarks by outermost function: closures nested n deep would each climb to the top.
    let mut benchmarks: crate::HashMap<usize, bool> = crate::HashMap::default();
    for (index, body, calls) in super::locking_bodies(cx) {
        if !calls.iter().any(|c| c.op.is_acquire()) || measures_locking(cx, index, &mut benchmarks)
        {
            continue;
        }
        // Each statement list once: consecutive statements, so the walk stays linear however
        // many lock pairs a block holds.
        walk_body(body, |list| {
            if list.kind_str() != "statement_list" {
                return;
            }
            let mut previous: Option<Node> = None;
            for stmt in named_children(list) {
                if let Some(first) = previous {
                    check_pair(cx, first, stmt, out);
                }
                previous = Some(stmt);
            }
        });
    }
}

/// A benchmark (a function with a `*testing.B` parameter) that locks and unlocks measures the
/// lock itself.
fn measures_locking(
    cx: &Context,
    function: usize,
    known: &mut crate::HashMap<usize, bool>,
) -> bool {
    let mut climbed = Vec::new();
    let mut index = function;
    let answer = loop {
        if let Some(&answer) = known.get(&index) {
            break answer;
        }
        climbed.push(index);
        let f = &cx.model.functions[index];
        let params = f.node.field("parameters");
        let benchmark = params.is_some_and(|list| {
            named_children(list).any(|p| {
                p.field("type").is_some_and(|t| {
                    cx.model.imports.path_of(
                        text(t, cx.src)
                            .trim_start_matches('*')
                            .split('.')
                            .next()
                            .unwrap_or(""),
                    ) == Some("testing")
                        && text(t, cx.src).ends_with(".B")
                })
            })
        });
        if benchmark {
            break true;
        }
        match f.parent {
            Some(parent) => index = parent,
            None => break false,
        }
    };
    for index in climbed {
        known.insert(index, answer);
    }
    answer
}

/// `mu.Lock()` directly followed by `mu.Unlock()`.
fn check_pair(cx: &Context, stmt: Node, next: Node, out: &mut Vec<Finding>) {
    if stmt.kind_str() != "expression_statement" || next.kind_str() != "expression_statement" {
        return;
    }
    let (Some(lock), Some(unlock)) = (
        statement_call(stmt).and_then(|c| lock_call(cx.model, c)),
        statement_call(next).and_then(|c| lock_call(cx.model, c)),
    ) else {
        return;
    };
    if !lock.op.is_acquire() || unlock.op != lock.op.counterpart() {
        return;
    }
    let (Some(key), Some(other)) = (lock_key(cx.model, &lock), lock_key(cx.model, &unlock)) else {
        return;
    };
    // A comment heading the `Lock`'s paragraph explains a deliberate barrier.
    if key != other || commented(cx, stmt) {
        return;
    }
    // Only a mutex others share — the receiver's or a package variable's — protects data the
    // statements that belong between the calls would touch. A parameter's or local's pair
    // exercises the lock or waits on it (a barrier with a goroutine of the function).
    let shared = goconc_model::locks::lock_path_of_key(cx.model, &key, lock.call.start_byte())
        .is_some_and(|(path, _)| {
            matches!(
                path.root,
                goconc_model::summary::LockRoot::Receiver | goconc_model::summary::LockRoot::Global
            )
        });
    if !shared {
        return;
    }
    out.push(
        META.finding(
            lock.call.byte_span(),
            format!("`{key}` is locked and immediately unlocked: the critical section is empty (moved statements, or a missing `defer`?)"),
        )
        .with_related(unlock.call.byte_span(), format!("`{key}.{}()` right after", text(unlock.method, cx.src))),
    );
}

/// How far above the `Lock` a comment heading its paragraph may be.
const PARAGRAPH_LINES: usize = 8;

/// Is the pair explained by a comment (not a tool directive) that heads the paragraph the
/// `Lock` ends: on a line above it, with only statement lines in between (no blank line, no
/// brace of a block)? A documented barrier ("cancel the readers, then wait until the last one
/// has left").
fn commented(cx: &Context, lock: tree_sitter::Node) -> bool {
    // Read the lines above as text: where tree-sitter hangs a comment (in the block or in its
    // statement list) depends on its position.
    let mut end = goconc_syntax::line_start(cx.src, lock.start_byte());
    for _ in 0..PARAGRAPH_LINES {
        let Some(above_end) = end.checked_sub(1) else {
            return false;
        };
        let start = goconc_syntax::line_start(cx.src, above_end);
        let line = cx.src[start..above_end].trim();
        if line.is_empty() || line.ends_with('{') || line.starts_with('}') {
            return false;
        }
        if line.starts_with("//") {
            return !line.starts_with("//goconc:") && !line.starts_with("//nolint");
        }
        end = start;
    }
    false
}
