//! `waitgroup-add-in-goroutine`: `wg.Add` inside the goroutine it counts.

use super::{is_negative_add, wg_calls_within, wg_key, WgKey};
use crate::finding::LineOf;
use crate::finding::{Finding, Severity, TextEdit};
use crate::{Context, Family, RuleMeta};
use crate::{HashMap, HashSet};
use goconc_model::goroutines::{go_statement_of, in_nested_goroutine};
use goconc_model::sync_calls::{waitgroup_call, WaitGroupOp};
use goconc_model::SyncKind;
use goconc_syntax::NodeExt;
use goconc_syntax::{
    access_path, call_args, enclosing_function, is_within, line_indent, line_start, statement_call,
    statements, text, unparen, walk,
};
use goconc_syntax::{call_statement, starts_line, statement_line};

pub static META: RuleMeta = RuleMeta {
    id: "waitgroup-add-in-goroutine",
    family: Family::WaitGroup,
    severity: Severity::Error,
    summary: "`wg.Add` inside the goroutine it counts: `wg.Wait` can return before the goroutine has added to the counter.",
    fix: Some("move `wg.Add(…)` before the `go` statement"),
    doc: r#"
## Why it matters
`wg.Wait` returns as soon as the counter is zero. When a goroutine increments the counter itself,
nothing guarantees that it has run that far by the time the parent calls `Wait`: the scheduler may
not have started it at all. `Wait` then returns early, the parent goes on while the work is still
running (or has not begun), and results are read half-built. The race is rare on an idle laptop and
common on a loaded server.

`go vet` only looks at the first statement of the goroutine; goconc finds the `Add` anywhere in the
goroutine before its work, including inside a branch.

## Example
```go
for _, c := range caches {
	go func(c *cache) {
		wg.Add(1)
		defer wg.Done()
		c.refresh()
	}(c)
}
wg.Wait()
```
```go
for _, c := range caches {
	wg.Add(1)
	go func(c *cache) {
		defer wg.Done()
		c.refresh()
	}(c)
}
wg.Wait()
```

## Fix
When the `Add` is a statement of the goroutine's own body (not nested in a branch) and refers to
nothing declared inside the goroutine, the quick fix moves it, unchanged, to the line before the
`go` statement. From Go 1.25, when that would leave `wg.Add(1)` right before
`go func() { defer wg.Done(); … }()` (the shape `waitgroup-go-available` rewrites), the fix writes
`wg.Go(func() { … })` at once.

## Started by name
The same holds for a function literal bound to a local that takes the group as a parameter and
counts itself on it (`handle := func(c *cache, wg *sync.WaitGroup) { wg.Add(1); defer
wg.Done(); … }`), when the function that binds it starts it by name with `go handle(c, &wg)` and
then calls `wg.Wait()` on the group it passed: the path is concrete (this `go`, that `Wait`), so
it is an error too, with both as related places. No quick fix: the `Add` belongs before the `go`
statement. It stays silent when the literal is only called directly (`handle(c, &wg)` has added
when it returns), when the caller waits on no group it passed, and when the literal adds for
children it starts itself. A declared function or method started with `go work(&wg)` is not
followed yet: the finding would sit in one function and depend on another's body, which the
language server does not re-read when only the other changes.

## Added after the `go`
`go func() { defer wg.Done(); … }()` followed by `wg.Add(1)`: the goroutine is already running
when the counter goes up. If it reaches `Done` first the counter goes negative and `Done`
panics; a `Wait` that runs in between returns while the goroutine still works. The finding sits
on the late `Add`; the fix moves it before the `go` statement (from Go 1.25, it writes
`wg.Go(func() { … })` instead). Silent when an earlier `Add` of the same block already counted
that goroutine (`wg.Add(1); go a(); wg.Add(1); go b()`: the second `Add` is `b`'s): each
goroutine whose literal calls `Done` uses up one of what the `Add`s before it added, and an
`Add` of a non-constant amount, or one inside another statement, counts as enough for all.

## When it stays silent
- The goroutine adds for children it starts itself (an `Add` followed by `go` statements, with no
  `Done` of its own on that group), for example a supervisor that starts workers and waits for
  them.
- The WaitGroup is declared inside the goroutine.
- The `Add` sits in an ordinary closure that runs before a `go` statement (a `spawn` helper), or
  the receiver is not known to be a `sync.WaitGroup`.
- `wg.Add(-1)`, which is a `Done`.
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    if cx.index.go_statements.is_empty() {
        return;
    }
    let mut late = LateAdds::default();
    for &node in cx.index.calls_named("Add") {
        let Some(add) = waitgroup_call(cx.model, node).filter(|c| c.op == WaitGroupOp::Add) else {
            continue;
        };
        if is_negative_add(add.call, cx.src) {
            continue;
        }
        if let Some(finding) = add_after_go(cx, &mut late, add.call, add.receiver) {
            out.push(finding);
            continue;
        }
        let Some(lit) = enclosing_function(add.call).filter(|f| f.kind_str() == "func_literal")
        else {
            check_started_by_name(cx, add.call, add.receiver, out);
            continue;
        };
        let Some(go) = go_statement_of(lit) else {
            check_started_by_name(cx, add.call, add.receiver, out);
            continue;
        };
        let Some(body) = lit.field("body") else {
            continue;
        };
        let Some(key) = wg_key(cx.model, add.receiver) else {
            continue;
        };
        if key.declared_within(body) {
            continue;
        }
        // The goroutine's own Done on this group (not one of a child it starts).
        let own_done = wg_calls_within(cx, WaitGroupOp::Done, &key, body)
            .find(|d| !in_nested_goroutine(cx.model, d.call, body));
        // An Add followed by `go` statements whose goroutines release this group counts those
        // children (a supervisor, or a goroutine already counted itself): not its own start.
        let counts_children = cx
            .index
            .go_statements_within(body)
            .any(|g| g.start_byte() > add.call.end_offset() && child_uses(cx, g, &key));
        if counts_children {
            continue;
        }
        let parent_wait = enclosing_function(go)
            .and_then(|parent| parent.field("body"))
            .and_then(|parent_body| {
                wg_calls_within(cx, WaitGroupOp::Wait, &key, parent_body)
                    .find(|w| !is_within(w.call, lit))
            });
        let stmts = statements(body);
        let first_statement = call_statement(add.call).is_some_and(|s| stmts.first() == Some(&s));
        if own_done.is_none() && parent_wait.is_none() && !first_statement {
            continue;
        }

        let recv = text(add.receiver, cx.src);
        let message = match parent_wait {
            Some(_) => format!("`{recv}.Add` runs inside the goroutine it counts: `{recv}.Wait` can return before it"),
            None => format!(
                "`{recv}.Add` runs inside the goroutine it counts: a `{recv}.Wait` can return before the goroutine has added to the counter"
            ),
        };
        let mut finding = META.finding(add.call.byte_span(), message).with_related(
            go.start_byte()..go.start_byte() + 2,
            format!(
                "the goroutine starts here (line {})",
                LineOf(go.start_byte())
            ),
        );
        if let Some(wait) = parent_wait {
            finding = finding.with_related(
                wait.call.byte_span(),
                format!("`{recv}.Wait` (line {})", LineOf(wait.call.start_byte())),
            );
        }
        let adds_in_goroutine = wg_calls_within(cx, WaitGroupOp::Add, &key, body).count();
        // Moved out, `wg.Add(1)` before `go func() { defer wg.Done(); … }()` is what `wg.Go`
        // does: from Go 1.25 the fix writes that at once, so that it leaves nothing to fix.
        let as_go = go_fix(cx, add.call, add.receiver, lit, go, &stmts, &key);
        if let Some(edit) = as_go.filter(|_| adds_in_goroutine == 1) {
            finding = finding.with_fix(
                format!("Rewrite to `{recv}.Go(func() {{ … }})`"),
                vec![edit],
            );
        } else if let Some(edits) =
            fix(cx, add.call, lit, go, &stmts).filter(|_| adds_in_goroutine == 1)
        {
            finding = finding.with_fix(
                format!(
                    "Move `{}` before the `go` statement",
                    text(add.call, cx.src)
                ),
                edits,
            );
        }
        out.push(finding);
    }
}

/// `go func() { defer wg.Done(); … }()` followed by `wg.Add(1)`: the goroutine is already
/// running when the counter goes up. If it reaches `Done` first the counter goes negative and
/// `Done` panics; a `Wait` between the two returns too early.
fn add_after_go<'t>(
    cx: &Context<'_, 't>,
    late: &mut LateAdds<'t>,
    add: tree_sitter::Node<'t>,
    receiver: tree_sitter::Node<'t>,
) -> Option<Finding> {
    let stmt = call_statement(add).filter(|s| s.kind_str() == "expression_statement")?;
    let block = stmt.parent_node()?;
    let key = wg_key(cx.model, receiver)?;
    // The statement before this one, found in the block's list (tree-sitter's sibling links
    // climb from the root: quadratic over a block of thousands of statements).
    let (stmts, index) = late.block(block);
    let at = *index.get(&stmt.start_byte())?;
    let go = stmts[..at]
        .iter()
        .rev()
        .find(|s| s.kind_str() != "comment")
        .copied()
        .filter(|b| b.kind_str() == "go_statement")?;
    // `wg.Add(1); go a(); wg.Add(1); go b()`: this Add is the next goroutine's. Only a
    // goroutine that no earlier Add of the block counted is the one this Add comes late for.
    if !late.uncounted(cx, block, &key).contains(&go.start_byte()) {
        return None;
    }
    let lit = go
        .named_child(0)
        .filter(|c| c.kind_str() == "call_expression")
        .and_then(|c| c.field("function"))
        .map(unparen)
        .filter(|f| f.kind_str() == "func_literal")?;
    let body = lit.field("body")?;
    let done = wg_calls_within(cx, WaitGroupOp::Done, &key, body)
        .find(|d| !in_nested_goroutine(cx.model, d.call, body))?;
    let recv = text(receiver, cx.src);
    let mut finding = META
        .finding(
            add.byte_span(),
            format!(
                "`{recv}.Add` runs after the goroutine it counts has started (line {}): if that goroutine reaches `{recv}.Done` first, the counter goes negative and panics, and a `{recv}.Wait` in between returns too early",
                LineOf(go.start_byte())
            ),
        )
        .with_related(go.start_byte()..go.start_byte() + 2, "the goroutine starts here")
        .with_related(done.call.byte_span(), "its `Done`");
    // From Go 1.25, `wg.Add(1)` before `go func() { defer wg.Done(); … }()` is what `wg.Go`
    // does: the fix writes that at once, so that it leaves nothing to fix.
    if let Some(edits) = go_fix_after(cx, add, stmt, receiver, lit, go, &key) {
        finding = finding.with_fix(format!("Rewrite to `{recv}.Go(func() {{ … }})`"), edits);
    } else if let Some(edits) = move_before(cx, add, stmt, go) {
        finding = finding.with_fix(
            format!("Move `{}` before the `go` statement", text(add, cx.src)),
            edits,
        );
    }
    Some(finding)
}

/// `go func() { defer wg.Done(); … }(); wg.Add(1)` → `wg.Go(func() { … })`, the Add's line gone.
fn go_fix_after(
    cx: &Context,
    add: tree_sitter::Node,
    add_stmt: tree_sitter::Node,
    receiver: tree_sitter::Node,
    lit: tree_sitter::Node,
    go: tree_sitter::Node,
    key: &WgKey,
) -> Option<Vec<TextEdit>> {
    let body = lit.field("body")?;
    let defer = *statements(body).first()?;
    let rewrite = as_wg_go(cx, add, receiver, lit, go, key, defer, &[(defer, true)])?;
    let delete = statement_line(add_stmt, cx.src)?;
    Some(vec![
        rewrite,
        TextEdit {
            range: delete,
            new_text: String::new(),
        },
    ])
}

/// Per block, what `add_after_go` asks of it, computed once: a function may start thousands
/// of goroutines, each with its `Add`.
#[derive(Default)]
struct LateAdds<'t> {
    /// A block's statements and each one's index by start byte.
    blocks: HashMap<usize, (Vec<tree_sitter::Node<'t>>, HashMap<usize, usize>)>,
    /// The `go` statements of a block that no earlier `Add` on a group counted.
    uncounted: HashMap<(usize, WgKey), HashSet<usize>>,
}

impl<'t> LateAdds<'t> {
    fn block(
        &mut self,
        block: tree_sitter::Node<'t>,
    ) -> (&[tree_sitter::Node<'t>], &HashMap<usize, usize>) {
        let (stmts, index) = self.blocks.entry(block.start_byte()).or_insert_with(|| {
            let stmts = statements(block);
            let index = stmts
                .iter()
                .enumerate()
                .map(|(i, s)| (s.start_byte(), i))
                .collect();
            (stmts, index)
        });
        (stmts, index)
    }

    /// Goroutines whose literal calls `Done` on the group each use up one of what the `Add`s
    /// before them added (`wg.Add(n)` with a constant `n`; an `Add` of any other amount, or
    /// one inside another statement, counts as enough for all); those that find nothing left
    /// are uncounted.
    fn uncounted(
        &mut self,
        cx: &Context<'_, 't>,
        block: tree_sitter::Node<'t>,
        key: &WgKey,
    ) -> &HashSet<usize> {
        let id = (block.start_byte(), key.clone());
        if !self.uncounted.contains_key(&id) {
            const ENOUGH: u64 = u64::MAX / 2;
            let stmts = self.block(block).0.to_vec();
            let mut added: u64 = 0;
            let mut uncounted = HashSet::default();
            for stmt in stmts {
                let top_level = statement_call(stmt);
                for add in wg_calls_within(cx, WaitGroupOp::Add, key, stmt) {
                    let amount = match top_level == Some(add.call) {
                        true => call_args(add.call)
                            .first()
                            .and_then(|a| text(*a, cx.src).parse::<u64>().ok())
                            .unwrap_or(ENOUGH),
                        false => ENOUGH,
                    };
                    added = added.saturating_add(amount);
                }
                if stmt.kind_str() == "go_statement"
                    && wg_calls_within(cx, WaitGroupOp::Done, key, stmt)
                        .next()
                        .is_some()
                {
                    match added {
                        0 => {
                            uncounted.insert(stmt.start_byte());
                        }
                        _ => added -= 1,
                    }
                }
            }
            self.uncounted.insert(id.clone(), uncounted);
        }
        self.uncounted.entry(id).or_default()
    }
}

/// Moves the one-line statement `stmt` (the call `add`) to the line before `go`.
fn move_before(
    cx: &Context,
    add: tree_sitter::Node,
    stmt: tree_sitter::Node,
    go: tree_sitter::Node,
) -> Option<Vec<TextEdit>> {
    let call_text = text(add, cx.src);
    if call_text.contains('\n') || !starts_line(go, cx.src) {
        return None;
    }
    let delete = statement_line(stmt, cx.src)?;
    let at = line_start(cx.src, go.start_byte());
    let indent = line_indent(cx.src, go.start_byte());
    Some(vec![
        TextEdit {
            range: at..at,
            new_text: format!("{indent}{call_text}\n"),
        },
        TextEdit {
            range: delete,
            new_text: String::new(),
        },
    ])
}

/// `wg.Add` on a group the function takes as a parameter (`func work(wg *sync.WaitGroup)`, or a
/// literal bound to a local, `handle := func(wg *sync.WaitGroup) {…}`), when this file starts
/// the function by name with `go work(&wg)` and the function that does so waits on the group it
/// passed: that `Wait` can return before the goroutine has added to the counter.
fn check_started_by_name<'t>(
    cx: &Context<'_, 't>,
    add: tree_sitter::Node<'t>,
    receiver: tree_sitter::Node<'t>,
    out: &mut Vec<Finding>,
) {
    let Some(function) = enclosing_function(add) else {
        return;
    };
    let Some(body) = function.field("body") else {
        return;
    };
    let receiver = unparen(receiver);
    if receiver.kind_str() != "identifier" {
        return;
    }
    let Some(index) = cx.model.function_of(add) else {
        return;
    };
    let Some(param) = cx
        .model
        .resolve(receiver)
        .filter(|d| d.kind == goconc_model::DeclKind::Param && d.function == index)
    else {
        return;
    };
    let Some(position) = param_position(function, param.ident) else {
        return;
    };
    let Some(key) = wg_key(cx.model, receiver) else {
        return;
    };
    // Its own `Done` on the group, or the `Add` opening the body: the function counts itself,
    // not children it starts (an `Add` followed by `go` statements that use the group).
    let own_done = wg_calls_within(cx, WaitGroupOp::Done, &key, body)
        .any(|d| !in_nested_goroutine(cx.model, d.call, body));
    let first_statement = call_statement(add).is_some_and(|s| statements(body).first() == Some(&s));
    if !own_done && !first_statement {
        return;
    }
    let counts_children = cx
        .index
        .go_statements_within(body)
        .any(|g| g.start_byte() > add.end_offset() && child_uses(cx, g, &key));
    if counts_children {
        return;
    }
    // A literal bound to a local of the same top-level function, started by that name: the
    // finding reads only the function it sits in. (A declared function or method started from
    // elsewhere would make it depend on another function's body.)
    if function.kind_str() != "func_literal" {
        return;
    }
    let Some(binding) = literal_binding(cx, function) else {
        return;
    };
    let name = text(binding, cx.src);
    for &go in &cx.index.go_statements {
        if is_within(go, function) {
            continue;
        }
        let Some(call) = statement_call(go) else {
            continue;
        };
        let Some(callee) = call.field("function").map(unparen) else {
            continue;
        };
        let same_function = callee.kind_str() == "identifier"
            && text(callee, cx.src) == name
            && cx.model.resolve(callee).is_some_and(|d| d.ident == binding);
        if !same_function {
            continue;
        }
        let Some(arg) = call_args(call).get(position).map(|a| unparen(*a)) else {
            continue;
        };
        let group = if arg.kind_str() == "unary_expression"
            && arg
                .field("operator")
                .is_some_and(|o| text(o, cx.src) == "&")
        {
            match arg.field("operand") {
                Some(operand) => unparen(operand),
                None => continue,
            }
        } else {
            arg
        };
        let Some(passed) = wg_key(cx.model, group) else {
            continue;
        };
        let Some(parent_body) = enclosing_function(go).and_then(|f| f.field("body")) else {
            continue;
        };
        let Some(wait) = wg_calls_within(cx, WaitGroupOp::Wait, &passed, parent_body)
            .find(|w| w.call.start_byte() > go.end_offset() && !is_within(w.call, function))
        else {
            continue;
        };
        let recv = text(receiver, cx.src);
        let group_text = text(group, cx.src);
        let message = format!(
            "`{recv}.Add` runs inside the goroutine it counts: `go {}(…)` on line {} passes `{}`, and `{group_text}.Wait` (line {}) can return before the goroutine has added to the counter",
            text(callee, cx.src),
            LineOf(go.start_byte()),
            text(arg, cx.src),
            LineOf(wait.call.start_byte()),
        );
        let finding = META
            .finding(add.byte_span(), message)
            .with_related(
                go.start_byte()..go.start_byte() + 2,
                format!(
                    "the goroutine starts here (line {})",
                    LineOf(go.start_byte())
                ),
            )
            .with_related(
                wait.call.byte_span(),
                format!(
                    "`{group_text}.Wait` (line {})",
                    LineOf(wait.call.start_byte())
                ),
            );
        out.push(finding);
        return;
    }
}

/// The position, among the function's parameters, of the one declared by `ident`.
fn param_position(function: tree_sitter::Node, ident: tree_sitter::Node) -> Option<usize> {
    let params = function.field("parameters")?;
    let mut position = 0;
    for decl in goconc_syntax::named_children(params) {
        let mut names = 0;
        let mut cursor = decl.walk();
        for name in decl.children_by_field_name("name", &mut cursor) {
            if name == ident {
                return Some(position + names);
            }
            names += 1;
        }
        // An unnamed parameter (`func(int, *sync.WaitGroup)`) still takes a position.
        position += names.max(1);
    }
    None
}

/// The local a literal is bound to where it is declared: `handle := func(…) {…}` (one name, one
/// value). None for any other placement.
fn literal_binding<'t>(
    cx: &Context<'_, 't>,
    lit: tree_sitter::Node<'t>,
) -> Option<tree_sitter::Node<'t>> {
    let list = lit
        .parent_node()
        .filter(|p| p.kind_str() == "expression_list")?;
    let decl = list
        .parent_node()
        .filter(|d| d.kind_str() == "short_var_declaration")?;
    let left = decl.field("left")?;
    let right = decl.field("right")?;
    if left.named_child_count() != 1 || right.named_child_count() != 1 || right != list {
        return None;
    }
    let ident = goconc_syntax::named_children(left).next()?;
    // A local the statement declares (not an assignment to an outer name through `:=` with
    // another new name beside it: one name only, so it is new).
    (ident.kind_str() == "identifier" && text(ident, cx.src) != "_").then_some(ident)
}

/// Does the goroutine started by `go` release the group `key`: a `Done` on it inside the
/// literal, or the group passed as an argument (`go worker(&wg, j)`)?
fn child_uses(cx: &Context, go: tree_sitter::Node, key: &WgKey) -> bool {
    let Some(call) = statement_call(go) else {
        return false;
    };
    if let Some(lit) = call
        .field("function")
        .map(unparen)
        .filter(|f| f.kind_str() == "func_literal")
    {
        if wg_calls_within(cx, WaitGroupOp::Done, key, lit)
            .next()
            .is_some()
        {
            return true;
        }
    }
    call_args(call)
        .iter()
        .any(|a| access_path(*a, cx.src).is_some_and(|p| p == key.path))
}

/// `wg.Go(func() { … })` in place of the `go` statement, without the `Add` and the
/// `defer wg.Done()` lines (Go 1.25), when the goroutine adds 1 to a `sync.WaitGroup` at the
/// top of a literal that takes nothing, its first other statement is `defer wg.Done()`, and it
/// releases the group nowhere else.
fn go_fix(
    cx: &Context,
    call: tree_sitter::Node,
    receiver: tree_sitter::Node,
    lit: tree_sitter::Node,
    go: tree_sitter::Node,
    stmts: &[tree_sitter::Node],
    key: &WgKey,
) -> Option<TextEdit> {
    let add_stmt = call_statement(call).filter(|s| stmts.first() == Some(s))?;
    let defer = stmts.get(1)?;
    as_wg_go(
        cx,
        call,
        receiver,
        lit,
        go,
        key,
        *defer,
        &[(add_stmt, false), (*defer, true)],
    )
}

/// `recv.Go(func() { … })` for `wg.Add(1)` and `go func() { defer wg.Done(); … }()` (no
/// arguments, parameters or results), when the module's Go has `WaitGroup.Go` and the deferred
/// `Done` is the literal's only own one; the statements in `drop` leave the body.
#[allow(clippy::too_many_arguments)]
fn as_wg_go(
    cx: &Context,
    add: tree_sitter::Node,
    receiver: tree_sitter::Node,
    lit: tree_sitter::Node,
    go: tree_sitter::Node,
    key: &WgKey,
    defer: tree_sitter::Node,
    drop: &[(tree_sitter::Node, bool)],
) -> Option<TextEdit> {
    if !cx.go_version.at_least(25)
        || cx.model.type_of(receiver).deref().sync_kind() != Some(SyncKind::WaitGroup)
        || call_args(add)
            .iter()
            .map(|a| text(unparen(*a), cx.src))
            .ne(["1"])
        || defer.kind_str() != "defer_statement"
    {
        return None;
    }
    let go_call = statement_call(go)?;
    if !call_args(go_call).is_empty()
        || lit.field("result").is_some()
        || lit
            .field("parameters")
            .is_some_and(|p| goconc_syntax::named_children(p).next().is_some())
    {
        return None;
    }
    let body = lit.field("body")?;
    let own_dones: Vec<_> = wg_calls_within(cx, WaitGroupOp::Done, key, body)
        .filter(|d| !in_nested_goroutine(cx.model, d.call, body))
        .collect();
    let deferred_done = statement_call(defer).and_then(|c| waitgroup_call(cx.model, c));
    if own_dones.len() != 1 || deferred_done.map(|d| d.call) != Some(own_dones[0].call) {
        return None;
    }
    super::go_rewrite(
        cx.src,
        go.start_byte(),
        go,
        body,
        drop,
        text(receiver, cx.src),
    )
}

/// Moves the `Add` statement to the line before the `go` statement, when it is a top-level
/// statement of the literal's body, stands on its own line, and names nothing declared inside
/// the goroutine.
fn fix(
    cx: &Context,
    call: tree_sitter::Node,
    lit: tree_sitter::Node,
    go: tree_sitter::Node,
    stmts: &[tree_sitter::Node],
) -> Option<Vec<TextEdit>> {
    let stmt = call_statement(call).filter(|s| s.kind_str() == "expression_statement")?;
    if !stmts.contains(&stmt) {
        return None;
    }
    // An argument declared inside the goroutine cannot move out of it.
    let mut local = false;
    walk(call, |n| {
        if n.kind_str() == "identifier"
            && cx.model.resolve(n).is_some_and(|d| is_within(d.ident, lit))
        {
            local = true;
        }
        !local
    });
    if local {
        return None;
    }
    move_before(cx, call, stmt, go)
}

#[cfg(test)]
mod tests {
    use crate::test_support::{analyze_alone, FileOptions};
    use goconc_syntax::SourceFile;

    fn ids(src: &str) -> Vec<(usize, &'static str)> {
        let file = SourceFile::new(src);
        analyze_alone(&file, &FileOptions::default())
            .findings
            .into_iter()
            .filter(|f| f.rule == super::META.id)
            .map(|f| (crate::test_support::line_of(src, f.range.start), f.rule))
            .collect()
    }

    #[test]
    fn dispatcher_goroutine_adding_for_its_children_is_silent() {
        let src = "package p\n\nimport \"sync\"\n\nfunc f(ch chan int) {\n\tvar wg sync.WaitGroup\n\tgo func() {\n\t\tfor v := range ch {\n\t\t\twg.Add(1)\n\t\t\tgo func(v int) {\n\t\t\t\tdefer wg.Done()\n\t\t\t\t_ = v\n\t\t\t}(v)\n\t\t}\n\t}()\n\twg.Wait()\n}\n";
        assert!(ids(src).is_empty());
    }

    #[test]
    fn add_after_work_with_parent_wait_is_reported() {
        let src = "package p\n\nimport \"sync\"\n\nfunc f(xs []int) {\n\tvar wg sync.WaitGroup\n\tfor range xs {\n\t\tgo func() {\n\t\t\tprintln()\n\t\t\twg.Add(1)\n\t\t\tprintln()\n\t\t}()\n\t}\n\twg.Wait()\n}\n";
        assert_eq!(ids(src), vec![(10, "waitgroup-add-in-goroutine")]);
    }

    #[test]
    fn shadowing_parameter_is_another_group_without_fix() {
        let src = "package p\n\nimport \"sync\"\n\nfunc f() {\n\tvar wg sync.WaitGroup\n\tgo func(wg *sync.WaitGroup) {\n\t\twg.Add(1)\n\t\tdefer wg.Done()\n\t}(&wg)\n\twg.Wait()\n}\n";
        let file = SourceFile::new(src);
        let found: Vec<_> = analyze_alone(&file, &FileOptions::default())
            .findings
            .into_iter()
            .filter(|f| f.rule == super::META.id)
            .collect();
        assert_eq!(found.len(), 1);
        assert!(found[0].fixes.is_empty());
    }
}
