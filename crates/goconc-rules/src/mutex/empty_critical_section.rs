//! `mutex-empty-critical-section`: `Lock` immediately followed by `Unlock`.

use crate::finding::{Finding, Severity};
use crate::{Context, Family, RuleMeta};
use goconc_model::sync_calls::{lock_call, lock_key};
use goconc_syntax::NodeExt;
use goconc_syntax::{statement_call, statements, text};

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
that ends with the `Lock`, no blank line between), and in `_test.go` files, where locking and
unlocking is often the thing being tested or measured.
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    let unlocks = cx.index.calls_named("Unlock").len() + cx.index.calls_named("RUnlock").len();
    // Tests and benchmarks lock and unlock on purpose (to measure it, or as a barrier).
    if unlocks == 0 || cx.is_test_file {
        return;
    }
    let mut seen_blocks = crate::HashSet::default();
    for name in ["Lock", "RLock"] {
        for &call in cx.index.calls_named(name) {
            let Some(stmt) = call
                .parent()
                .filter(|p| p.kind_str() == "expression_statement")
            else {
                continue;
            };
            let Some(block) = stmt.parent() else { continue };
            if !seen_blocks.insert((block.start_byte(), stmt.start_byte())) {
                continue;
            }
            let siblings = statements(block);
            let Some(pos) = siblings.iter().position(|s| *s == stmt) else {
                continue;
            };
            let Some(next) = siblings.get(pos + 1) else {
                continue;
            };
            if next.kind_str() != "expression_statement" {
                continue;
            }
            let (Some(lock), Some(unlock)) = (
                lock_call(cx.model, call),
                statement_call(*next).and_then(|c| lock_call(cx.model, c)),
            ) else {
                continue;
            };
            if !lock.op.is_acquire() || unlock.op != lock.op.counterpart() {
                continue;
            }
            let (Some(key), Some(other)) = (lock_key(cx.model, &lock), lock_key(cx.model, &unlock))
            else {
                continue;
            };
            // A comment heading the `Lock`'s paragraph explains a deliberate barrier.
            if key != other || commented(cx, stmt) {
                continue;
            }
            out.push(
                META.finding(
                    call.byte_range(),
                    format!("`{key}` is locked and immediately unlocked: the critical section is empty (moved statements, or a missing `defer`?)"),
                )
                .with_related(unlock.call.byte_range(), format!("`{key}.{}()` right after", text(unlock.method, cx.src))),
            );
        }
    }
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
