//! Mutex rules, one file each. They share the lock-state dataflow of `model::locks`.

use tree_sitter::Node;

use super::{Context, Rule};
use goconc_model::sync_calls::{lock_call, LockCall, LockOp};

pub mod defer_in_loop;
pub mod defer_lock;
pub mod double_lock;
pub mod embedded_exported;
pub mod empty_critical_section;
pub mod guarded_field_unlocked;
pub mod held_blocking;
pub mod lock_order_inversion;
pub mod unlock_kind_mismatch;
pub mod unlock_missing;

pub fn rules() -> Vec<Rule> {
    vec![
        Rule {
            meta: &unlock_missing::META,
            check: unlock_missing::check,
        },
        Rule {
            meta: &defer_lock::META,
            check: defer_lock::check,
        },
        Rule {
            meta: &unlock_kind_mismatch::META,
            check: unlock_kind_mismatch::check,
        },
        Rule {
            meta: &defer_in_loop::META,
            check: defer_in_loop::check,
        },
        Rule {
            meta: &double_lock::META,
            check: double_lock::check,
        },
        Rule {
            meta: &held_blocking::META,
            check: held_blocking::check,
        },
        Rule {
            meta: &empty_critical_section::META,
            check: empty_critical_section::check,
        },
        Rule {
            meta: &lock_order_inversion::META,
            check: lock_order_inversion::check,
        },
        Rule {
            meta: &guarded_field_unlocked::META,
            check: guarded_field_unlocked::check,
        },
        Rule {
            meta: &embedded_exported::META,
            check: embedded_exported::check,
        },
    ]
}

/// The bodies (function index, body) that call a lock method directly, not only in nested
/// function literals, with those calls in source order: what every mutex rule starts from,
/// listed once per file ([`Context::locking_bodies`]).
pub(crate) fn locking_bodies<'c, 't>(
    cx: &'c Context<'_, 't>,
) -> impl Iterator<Item = (usize, Node<'t>, Vec<LockCall<'t>>)> + 'c {
    let listed = &cx.locking_bodies;
    listed.bodies.iter().map(|(function, body, calls)| {
        let calls = listed
            .calls
            .get(calls.clone())
            .unwrap_or_default()
            .iter()
            .filter_map(|kept| LockCall::of(kept.op, kept.call))
            .collect();
        (*function, *body, calls)
    })
}

/// [`locking_bodies`]' list: every body's calls in one vector, each body naming its range of
/// it (a vector per body cost 45,000 one-lock closures an allocation each).
#[derive(Default)]
pub(crate) struct LockingBodies<'t> {
    bodies: Vec<(usize, Node<'t>, std::ops::Range<usize>)>,
    calls: Vec<KeptLockCall<'t>>,
}

/// A lock call as [`LockingBodies`] keeps it for the whole check of a file: the call and its
/// operation (40 bytes). Its receiver and method are read back from the call when a rule
/// walks the body: kept whole (104 bytes), the calls of a file of 200,000 small locking
/// functions were 42 MB for as long as the file was checked.
#[derive(Clone, Copy)]
struct KeptLockCall<'t> {
    call: Node<'t>,
    op: LockOp,
}

/// [`locking_bodies`] found from the file's call index, so no body is walked.
pub(crate) fn collect_locking_bodies<'t>(
    model: &goconc_model::FileModel<'t>,
    index: &crate::NodeIndex<'t>,
) -> LockingBodies<'t> {
    const NAMES: [&str; 6] = ["Lock", "RLock", "Unlock", "RUnlock", "TryLock", "TryRLock"];
    let most: usize = NAMES.iter().map(|n| index.calls_named(n).len()).sum();
    // The calls are kept once, in the order found, and put in order (function, start) through
    // a list of keys: a list of (function, call) pairs, doubling as it grew, beside the sorted
    // copy was the peak of a file of 200,000 small locking functions (100 MB for 400,000
    // calls).
    let mut calls: Vec<KeptLockCall<'t>> = Vec::with_capacity(most);
    let mut keys: Vec<(usize, usize, usize)> = Vec::with_capacity(most);
    for name in NAMES {
        for &node in index.calls_named(name) {
            let Some(call) = lock_call(model, node) else {
                continue;
            };
            let Some(function) = model.function_of(node) else {
                continue;
            };
            if model.functions.get(function).and_then(|f| f.body).is_none() {
                continue;
            }
            // The position breaks ties: calls of a function that start together keep the
            // order they were found in.
            keys.push((function, call.call.start_byte(), calls.len()));
            calls.push(KeptLockCall {
                call: call.call,
                op: call.op,
            });
        }
    }
    keys.sort_unstable();
    let mut order: Vec<usize> = keys.iter().map(|&(_, _, at)| at).collect();
    put_in_order(&mut calls, &mut order);
    let mut bodies = Vec::new();
    let mut at = 0;
    while at < keys.len() {
        let function = keys[at].0;
        let end = keys[at..]
            .iter()
            .position(|&(f, _, _)| f != function)
            .map_or(keys.len(), |n| at + n);
        if let Some(body) = model.functions.get(function).and_then(|f| f.body) {
            bodies.push((function, body, at..end));
        }
        at = end;
    }
    bodies.shrink_to_fit();
    calls.shrink_to_fit();
    LockingBodies { bodies, calls }
}

/// Rearranges `items` in place so that position `k` holds what was at `order[k]` (`order` a
/// permutation; it is used up).
fn put_in_order<T: Copy>(items: &mut [T], order: &mut [usize]) {
    for start in 0..order.len() {
        if order[start] == start {
            continue;
        }
        // Follow the cycle through `start`: each place takes its source's item, the last the
        // first's.
        let first = items[start];
        let mut k = start;
        loop {
            let from = order[k];
            order[k] = k;
            if from == start {
                items[k] = first;
                break;
            }
            items[k] = items[from];
            k = from;
        }
    }
}

/// The bodies that call a function or method of the package which leaves a lock held for its
/// caller (`c.State.lock()`), found from the file's call index.
pub(crate) fn keeper_calling_bodies<'t>(
    model: &goconc_model::FileModel<'t>,
    index: &crate::NodeIndex<'t>,
) -> Vec<Node<'t>> {
    let keepers = model.package.lock_closure().keeper_names();
    let mut functions = std::collections::BTreeSet::new();
    for name in keepers {
        for &node in index.calls_named(name) {
            if goconc_model::locks::kept_by_call(model, node).is_empty() {
                continue;
            }
            if let Some(function) = model.function_of(node) {
                functions.insert(function);
            }
        }
    }
    functions
        .into_iter()
        .filter_map(|f| model.functions[f].body)
        .collect()
}

/// The look-alikes of the standard library that each mutex rule learned to leave alone, next to
/// the bug each one resembles.
#[cfg(test)]
mod tests {
    use crate::test_support::findings;

    const HEAD: &str = "package p\n\nimport \"sync\"\n\ntype S struct {\n\tmu   sync.Mutex\n\tn    int\n\thold bool\n\tnext *S\n}\n\n";

    fn count(rule: &str, body: &str) -> usize {
        findings(rule, &format!("{HEAD}{body}")).len()
    }

    #[test]
    fn put_in_order_gathers_each_place_from_its_source() {
        // Every permutation of five items, each checked against a gathered copy.
        let mut order: Vec<usize> = (0..5).collect();
        let mut seen = 0;
        loop {
            let items: Vec<char> = "abcde".chars().collect();
            let expected: Vec<char> = order.iter().map(|&k| items[k]).collect();
            let mut moved = items.clone();
            super::put_in_order(&mut moved, &mut order.clone());
            assert_eq!(moved, expected, "{order:?}");
            seen += 1;
            // The next permutation in lexicographic order.
            let Some(i) = (0..4).rev().find(|&i| order[i] < order[i + 1]) else {
                break;
            };
            let j = (i + 1..5).rev().find(|&j| order[j] > order[i]).unwrap();
            order.swap(i, j);
            order[i + 1..].reverse();
        }
        assert_eq!(seen, 120);
    }

    #[test]
    fn unlock_missing_leaves_handed_off_locks_alone() {
        let leak = "func (s *S) F(x bool) {\n\ts.mu.Lock()\n\tif x {\n\t\treturn\n\t}\n\ts.mu.Unlock()\n}\n";
        assert_eq!(count("mutex-unlock-missing", leak), 1);
        // Released by the goroutine the function starts.
        let goroutine = "func (s *S) F() {\n\ts.mu.Lock()\n\tgo func() {\n\t\ts.n++\n\t\ts.mu.Unlock()\n\t}()\n}\n";
        assert_eq!(count("mutex-unlock-missing", goroutine), 0);
        // A release function handed to the caller.
        let returned = "func (s *S) unlockFn() {}\n\nfunc (s *S) F() (int, func()) {\n\ts.mu.Lock()\n\treturn s.n, s.releaseFn\n}\n\nfunc (s *S) releaseFn() { s.mu.Unlock() }\n";
        assert_eq!(count("mutex-unlock-missing", returned), 0);
        // Kept on purpose, remembered in a flag that decides a later unlock.
        let flagged = "func (s *S) F(keep bool) {\n\ts.mu.Lock()\n\tif keep {\n\t\ts.hold = true\n\t} else {\n\t\ts.mu.Unlock()\n\t}\n}\n\nfunc (s *S) Done() {\n\tif s.hold {\n\t\ts.hold = false\n\t\ts.mu.Unlock()\n\t}\n}\n";
        assert_eq!(count("mutex-unlock-missing", flagged), 0);
        // The same shape, but nothing unlocks under the flag: the lock leaks.
        let unread = "func (s *S) F(fail bool) {\n\ts.mu.Lock()\n\tif fail {\n\t\ts.hold = true\n\t} else {\n\t\ts.mu.Unlock()\n\t}\n}\n";
        assert_eq!(count("mutex-unlock-missing", unread), 1);
        // Hand-over-hand: the name that holds the lock moves on.
        let hand = "func (s *S) F() {\n\ty := s\n\ty.mu.Lock()\n\tfor y.next != nil {\n\t\tl := y.next\n\t\tl.mu.Lock()\n\t\ty.mu.Unlock()\n\t\ty = l\n\t}\n\ty.mu.Unlock()\n}\n";
        assert_eq!(count("mutex-unlock-missing", hand), 0);
        // A comment is no evidence: one that names the bug must not hide it (an author who means
        // it says so with `//goconc:ignore`).
        for comment in [
            "// BUG: never unlocked",
            "// no need to unlock: the process exits",
        ] {
            let said = format!("func (s *S) F() {{\n\ts.mu.Lock() {comment}\n\ts.n++\n}}\n");
            assert_eq!(count("mutex-unlock-missing", &said), 1, "{comment}");
        }
    }

    #[test]
    fn defer_in_loop_leaves_distinct_mutexes_and_returning_iterations_alone() {
        let bug = "func F(xs []*S) {\n\tvar s S\n\tfor range xs {\n\t\ts.mu.Lock()\n\t\tdefer s.mu.Unlock()\n\t\ts.n++\n\t}\n}\n";
        assert_eq!(count("mutex-defer-in-loop", bug), 1);
        let each = "func F(xs []*S) {\n\tfor _, s := range xs {\n\t\ts.mu.Lock()\n\t\tdefer s.mu.Unlock()\n\t\ts.n++\n\t}\n}\n";
        assert_eq!(count("mutex-defer-in-loop", each), 0);
        let returns = "func (s *S) F(xs []int) int {\n\tfor _, x := range xs {\n\t\tif x > 0 {\n\t\t\ts.mu.Lock()\n\t\t\tdefer s.mu.Unlock()\n\t\t\treturn s.n\n\t\t}\n\t}\n\treturn 0\n}\n";
        assert_eq!(count("mutex-defer-in-loop", returns), 0);
    }

    #[test]
    fn double_lock_respects_callees_that_expect_the_lock() {
        let bug = "func (s *S) inc() {\n\ts.mu.Lock()\n\ts.n++\n\ts.mu.Unlock()\n}\n\nfunc (s *S) F() {\n\ts.mu.Lock()\n\tdefer s.mu.Unlock()\n\ts.inc()\n}\n";
        assert_eq!(count("mutex-double-lock", bug), 1);
        // Named …Locked: the caller holds the lock by contract, even if it re-takes it inside.
        let locked = "func (s *S) incLocked() {\n\ts.mu.Unlock()\n\ts.mu.Lock()\n\ts.n++\n}\n\nfunc (s *S) F() {\n\ts.mu.Lock()\n\tdefer s.mu.Unlock()\n\ts.incLocked()\n}\n";
        assert_eq!(count("mutex-double-lock", locked), 0);
        // Another goroutine releases it: a hand-off, not a self-deadlock.
        let handoff = "func F() {\n\tvar mu sync.Mutex\n\tmu.Lock()\n\tgo func() {\n\t\tmu.Unlock()\n\t}()\n\tmu.Lock()\n}\n";
        assert_eq!(count("mutex-double-lock", handoff), 0);
    }

    /// A function holding more mutexes at once than the lock state follows is not analysed (as
    /// one with `goto`): its leak goes unreported, where the same leak with one mutex fewer held
    /// is reported. (Past the limit each join went through thousands of held mutexes.)
    #[test]
    fn lock_rules_give_up_on_a_function_holding_more_mutexes_than_the_limit() {
        let leak_while_holding = |n: usize| {
            let globals: String = (0..n).map(|i| format!("var m{i} sync.Mutex\n")).collect();
            let locks: String = (0..n).map(|i| format!("\tm{i}.Lock()\n")).collect();
            let unlocks: String = (1..n).map(|i| format!("\tm{i}.Unlock()\n")).collect();
            format!("{globals}\nfunc F(x bool) {{\n{locks}{unlocks}}}\n")
        };
        let limit = goconc_model::locks::MAX_HELD;
        assert_eq!(count("mutex-unlock-missing", &leak_while_holding(limit)), 1);
        assert_eq!(
            count("mutex-unlock-missing", &leak_while_holding(limit + 1)),
            0
        );
        // The limit is passed by the last statement, right before the function ends (a `Lock`
        // that is the last statement hands its lock on, and is not reported).
        let locking_only = |n: usize| {
            let globals: String = (0..n).map(|i| format!("var m{i} sync.Mutex\n")).collect();
            let locks: String = (0..n).map(|i| format!("\tm{i}.Lock()\n")).collect();
            format!("{globals}\nfunc F() {{\n{locks}}}\n")
        };
        assert_eq!(
            count("mutex-unlock-missing", &locking_only(limit)),
            limit - 1
        );
        assert_eq!(count("mutex-unlock-missing", &locking_only(limit + 1)), 0);
        // The same for lock order: `G` takes the last two mutexes `F` takes the other way round.
        let inverted = |n: usize| {
            let (a, b) = (n - 2, n - 1);
            let g = format!(
                "func G() {{\n\tm{b}.Lock()\n\tm{a}.Lock()\n\tm{a}.Unlock()\n\tm{b}.Unlock()\n}}\n"
            );
            format!("{}\n{g}", leak_while_holding(n))
        };
        assert!(count("lock-order-inversion", &inverted(limit)) > 0);
        assert_eq!(count("lock-order-inversion", &inverted(limit + 1)), 0);
        // And through a call: `F` calls `lockA` holding them all, `G` takes `a` first.
        let inverted_through_a_call = |n: usize| {
            let last = n - 1;
            let globals: String = (0..n).map(|i| format!("var m{i} sync.Mutex\n")).collect();
            let locks: String = (0..n).map(|i| format!("\tm{i}.Lock()\n")).collect();
            let unlocks: String = (0..n).map(|i| format!("\tm{i}.Unlock()\n")).collect();
            format!(
                "{globals}var a sync.Mutex\n\nfunc lockA() {{\n\ta.Lock()\n\ta.Unlock()\n}}\n\n\
                 func F() {{\n{locks}\tlockA()\n{unlocks}}}\n\n\
                 func G() {{\n\ta.Lock()\n\tm{last}.Lock()\n\tm{last}.Unlock()\n\ta.Unlock()\n}}\n"
            )
        };
        assert!(count("lock-order-inversion", &inverted_through_a_call(limit)) > 0);
        assert_eq!(
            count("lock-order-inversion", &inverted_through_a_call(limit + 1)),
            0
        );
        // Each rule that reads the lock state says so on its page, with the limit as it is.
        for meta in [
            &super::unlock_missing::META,
            &super::double_lock::META,
            &super::held_blocking::META,
            &super::guarded_field_unlocked::META,
            &super::unlock_kind_mismatch::META,
            &super::defer_lock::META,
            &super::lock_order_inversion::META,
            &crate::channel::lock_deadlock::META,
            &crate::goroutine::captured_write::META,
        ] {
            let words = format!("more than {limit} mutexes");
            assert!(crate::test_support::page_says(meta, &words), "{}", meta.id);
        }
    }

    /// A mutex that any of many `Lock` calls may hold keeps the first [`MAX_SITES`] of them:
    /// those are reported, a later one not (keeping each copied a path of the set per join).
    ///
    /// [`MAX_SITES`]: goconc_model::locks::MAX_SITES
    #[test]
    fn unlock_missing_reports_the_first_lock_calls_up_to_the_limit() {
        let one_per_arm = |n: usize| {
            let arms: String = (0..n)
                .map(|i| format!("\tcase {i}:\n\t\tmu.Lock()\n"))
                .collect();
            format!("var mu sync.Mutex\n\nfunc F(x int) int {{\n\tswitch x {{\n{arms}\t}}\n\treturn x\n}}\n")
        };
        let limit = goconc_model::locks::MAX_SITES;
        let src = format!("{HEAD}{}", one_per_arm(limit + 1));
        let reported = findings("mutex-unlock-missing", &src);
        assert_eq!(reported.len(), limit);
        // The first ones in the source: the last arm's `Lock` is the one left out.
        let last_lock = src.rfind("mu.Lock()").unwrap_or(0);
        assert!(reported.iter().all(|f| f.range.start < last_lock));
        assert_eq!(count("mutex-unlock-missing", &one_per_arm(limit)), limit);
        let words = format!("more than {limit} `Lock` calls");
        assert!(crate::test_support::page_says(
            &super::unlock_missing::META,
            &words
        ));
    }

    #[test]
    fn empty_critical_section_leaves_documented_barriers_alone() {
        let bare = "func (s *S) F() {\n\ts.mu.Lock()\n\ts.mu.Unlock()\n}\n";
        assert_eq!(count("mutex-empty-critical-section", bare), 1);
        let barrier = "func (s *S) F() {\n\t// Wait for in-flight writers to finish.\n\ts.mu.Lock()\n\ts.mu.Unlock()\n}\n";
        assert_eq!(count("mutex-empty-critical-section", barrier), 0);
    }
}
