//! `goroutine-not-waited`: `go f()` whose completion nothing observes and whose error is dropped
//! — fire-and-forget work that can fail silently, and that can still be running when the program
//! (or the request) is over.

use goconc_syntax::NodeExt;
use tree_sitter::Node;

use crate::finding::{Finding, Severity};
use crate::HashMap;
use crate::{Context, Family, RuleMeta};
use goconc_model::Ty;
use goconc_syntax::{call_args, named_children, text, unparen, walk, walk_body};
use std::ops::Range;

pub static META: RuleMeta = RuleMeta {
    id: "goroutine-not-waited",
    family: Family::Goroutine,
    severity: Severity::Warning,
    summary: "`go f()` whose completion nothing in the function waits for (no WaitGroup, errgroup, channel receive, done signal, or returned handle) and whose results and errors are lost.",
    fix: None,
    doc: r#"
## Why it matters
A goroutine that nobody waits for and that reports nothing is fire-and-forget: when its work
fails, the error vanishes; when the caller returns (or the program exits), the work may be half
done; in tests it keeps running into the next test. `go s.flush()` where `flush` returns an
error throws that error away by construction.

## Example
```go
func (s *Store) Put(k, v string) {
	s.mem[k] = v
	go s.persist(k, v) // persist returns an error: lost
}
```
```go
func (s *Store) Put(ctx context.Context, k, v string) error {
	s.mem[k] = v
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.persist(k, v) })
	return g.Wait()
}
```

## Fix
Wait for the goroutine and handle its error: a `sync.WaitGroup`, an `errgroup.Group`, a channel
that carries the error back, or simply call the function synchronously. No automatic fix.

## When it stays silent
The rule reports only goroutines whose work returns an `error` that is dropped, and stays silent
when anything can observe their completion:
- the function uses a WaitGroup or errgroup, receives from a channel, or `select`s;
- the goroutine sends on or closes a channel, calls `Done`, a cancel func, `Unlock`, `Signal`,
  `Broadcast` or an atomic store, or writes a variable of the function;
- `go f(ch)` hands `f` a channel, a function or a pointer (it can report through them);
- the goroutine discards the error in writing (`_ = f()`, `_, _ = f()`): a decision, not a loss;
- the callee returns its error only from `case <-r.f:` arms of a `select` on a channel field
  that the package closes and never sends on (`case <-f.quit: return errTerminated`): it fails
  only once its value is stopped, and losing that error loses nothing. An error from a timeout
  case, a channel that carries values, or any other `return` is still reported;
- the goroutine is a long-lived loop (`for {}` or `for range ch`), or it is started by `main`,
  `init`, a constructor (`New…`) or a `Start`/`Run`/`Serve`/`Listen`/`Loop`-style function;
- test files (tests start helpers whose lifetime the test controls with cleanups).
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    if cx.is_test_file || cx.index.go_statements.is_empty() {
        return;
    }
    // Per function (by index): where it waits for something. Walking the function again for
    // each of its `go` statements was quadratic (4,000 goroutines in one function: 7 s).
    let mut observations: HashMap<usize, Vec<Range<usize>>> = HashMap::default();
    for &go in &cx.index.go_statements {
        check_go(cx, go, &mut observations, out);
    }
}

fn check_go<'t>(
    cx: &Context<'_, 't>,
    go: Node<'t>,
    observations: &mut HashMap<usize, Vec<Range<usize>>>,
    out: &mut Vec<Finding>,
) {
    let Some(call) = named_children(go).next().map(unparen) else {
        return;
    };
    if call.kind_str() != "call_expression" {
        return;
    }
    let Some(function) = call.field("function").map(unparen) else {
        return;
    };
    let Some(parent) = cx.model.function_of(go) else {
        return;
    };
    // The declared function around the `go` (through literals).
    let mut outer = parent;
    while let Some(p) = cx.model.functions.get(outer).and_then(|f| f.parent) {
        outer = p;
    }
    let Some(outer_fn) = cx.model.functions.get(outer) else {
        return;
    };
    if long_lived_starter(cx, outer_fn.node) {
        return;
    }
    let Some(parent_fn) = cx.model.functions.get(parent) else {
        return;
    };
    let lit = (function.kind_str() == "func_literal").then_some(function);
    let waits = observations
        .entry(parent)
        .or_insert_with(|| completion_observations(cx, parent_fn.node));
    // What the goroutine itself does is not its function waiting for it.
    let outside =
        |r: &Range<usize>| lit.is_none_or(|l| r.start < l.start_byte() || r.end > l.end_offset());
    if waits.iter().any(outside) {
        return;
    }
    let (dropped, what) = match lit {
        Some(lit) => {
            let Some(body) = lit.field("body") else {
                return;
            };
            if goroutine_reports(cx, body) || long_lived_body(body) {
                return;
            }
            let Some(dropped) = dropped_error_call(cx, body) else {
                return;
            };
            (dropped, "the goroutine drops")
        }
        None => {
            if !returns_error(&cx.model.type_of(call))
                || hands_a_channel(cx, call)
                || fails_only_when_stopped(cx, call)
            {
                return;
            }
            (call, "`go` discards")
        }
    };
    let callee = dropped.field("function").map_or("", |f| text(f, cx.src));
    let message = format!(
        "nothing waits for this goroutine and {what} the error `{callee}` returns: a failure goes unnoticed and the work may still run after the caller is done"
    );
    let mut finding = META.finding(go.start_byte()..go.start_byte() + 2, message);
    if dropped != call {
        finding = finding.with_related(dropped.byte_span(), "error dropped here");
    }
    out.push(finding);
}

fn returns_error(ty: &Ty) -> bool {
    let is_error = |t: &Ty| t.is_named("", "error");
    match ty {
        Ty::Tuple(items) => items.iter().any(is_error),
        t => is_error(t),
    }
}

/// `main`, `init`, constructors and the usual names of functions that start background loops.
fn long_lived_starter(cx: &Context, decl: Node) -> bool {
    let Some(name) = decl.field("name").map(|n| text(n, cx.src)) else {
        return true;
    };
    let starter = goconc_model::words::BACKGROUND_STARTER;
    name == "main"
        || name == "init"
        || goconc_model::words::identifier_words(name)
            .next()
            .as_deref()
            == Some("new")
        || starter.starts_identifier(name)
        || starter.ends_identifier(name)
}

/// Where the function around a `go` waits for anything: a `select`, a receive, a range over a
/// channel, a WaitGroup or errgroup call.
fn completion_observations(cx: &Context, function: Node) -> Vec<Range<usize>> {
    let mut seen = Vec::new();
    walk(function, |n| {
        let observes = match n.kind_str() {
            "select_statement" => true,
            "call_expression" => method_name(cx, n).is_some_and(|name| {
                matches!(
                    name,
                    "Wait" | "Add" | "Done" | "Go" | "TryGo" | "Cleanup" | "WithContext"
                )
            }),
            _ => crate::waits::receives(cx, n),
        };
        if observes {
            seen.push(n.byte_span());
        }
        // A `select` or receive observes as a whole: what is inside adds nothing.
        !observes
    });
    seen
}

fn method_name<'t>(cx: &Context<'_, 't>, call: Node<'t>) -> Option<&'t str> {
    let f = unparen(call.field("function")?);
    match f.kind_str() {
        "selector_expression" => f.field("field").map(|m| text(m, cx.src)),
        "identifier" => Some(text(f, cx.src)),
        _ => None,
    }
}

/// Does the goroutine tell anyone anything: a send, a close, a Done/cancel/Unlock/Signal call, an
/// atomic store, a write to a captured variable?
fn goroutine_reports(cx: &Context, body: Node) -> bool {
    let mut reports = false;
    walk(body, |n| {
        if reports {
            return false;
        }
        match n.kind_str() {
            "send_statement" => reports = true,
            "call_expression" => {
                if let Some(name) = method_name(cx, n) {
                    reports |= matches!(
                        name,
                        "close"
                            | "Done"
                            | "Unlock"
                            | "RUnlock"
                            | "Signal"
                            | "Broadcast"
                            | "Store"
                            | "Add"
                            | "Swap"
                            | "CompareAndSwap"
                            | "Go"
                    ) || goconc_model::words::REPORTING_CALL.in_identifier(name)
                        || goconc_model::words::REPORTING_CALL_FIRST.starts_identifier(name);
                }
            }
            "assignment_statement" | "inc_statement" | "dec_statement" => {
                let target = n
                    .field("left")
                    .and_then(|l| named_children(l).next())
                    .or_else(|| named_children(n).next());
                if let Some(t) = target {
                    let name = text(t, cx.src);
                    if name != "_" {
                        // A write to something declared outside the goroutine.
                        let outside = match goconc_syntax::path_root(t) {
                            Some(root) => cx
                                .model
                                .resolve(root)
                                .is_none_or(|d| !goconc_syntax::is_within(d.ident, body)),
                            None => true,
                        };
                        reports |= outside;
                    }
                }
            }
            _ => {}
        }
        true
    });
    reports
}

/// A server loop: `for {}` or `for range ch` at the top level of the goroutine.
fn long_lived_body(body: Node) -> bool {
    goconc_syntax::statements(body).iter().any(|s| {
        s.kind_str() == "for_statement" && {
            let parts: Vec<Node> = named_children(*s)
                .filter(|c| c.kind_str() != "block")
                .collect();
            parts.is_empty() || parts.iter().any(|p| p.kind_str() == "range_clause")
        }
    })
}

/// Does the method `call` reaches return an error only when a stop channel of its value fires
/// (see `FuncSummary::errors_only_on_receive`): every such field of its type is closed somewhere
/// in the package and sent on nowhere, a broadcast that only says "stopped"?
fn fails_only_when_stopped(cx: &Context, call: Node) -> bool {
    use goconc_model::channels::fields::FieldOpKind;
    let Some(callee) = goconc_model::locks::callee(cx.model, call) else {
        return false;
    };
    let Some((owner, _)) = callee.key.split_once('.') else {
        return false;
    };
    let Some(summary) = cx.model.package.summary(&callee.key) else {
        return false;
    };
    let package = cx.model.package;
    !summary.errors_only_on_receive.is_empty()
        && summary.errors_only_on_receive.iter().all(|field| {
            let ops = package.field_channel_ops(owner, field);
            ops.iter().any(|o| o.kind == FieldOpKind::Close)
                && !ops.iter().any(|o| o.kind == FieldOpKind::Send)
        })
}

/// A call whose `error` result the goroutine drops: a call used as a statement. `_ = f()`
/// discards the error on purpose, in writing: that is the author's decision, not a loss.
fn dropped_error_call<'t>(cx: &Context<'_, 't>, body: Node<'t>) -> Option<Node<'t>> {
    let mut found = None;
    walk_body(body, |n| {
        if found.is_some() || n.kind_str() != "expression_statement" {
            return;
        }
        let call = named_children(n)
            .next()
            .map(unparen)
            .filter(|c| c.kind_str() == "call_expression");
        if let Some(call) = call {
            if returns_error(&cx.model.type_of(call)) && !fails_only_when_stopped(cx, call) {
                found = Some(call);
            }
        }
    });
    found
}

/// `go f(ch, func…, &x, p)`: an argument that can carry the outcome back.
fn hands_a_channel(cx: &Context, call: Node) -> bool {
    call_args(call).iter().any(|a| {
        let a = unparen(*a);
        match a.kind_str() {
            "func_literal" | "unary_expression" => true,
            "interpreted_string_literal"
            | "raw_string_literal"
            | "int_literal"
            | "float_literal"
            | "true"
            | "false"
            | "nil" => false,
            _ => matches!(
                cx.model.type_of(a),
                Ty::Chan(_) | Ty::Func { .. } | Ty::Pointer(_) | Ty::Unknown
            ),
        }
    })
}
