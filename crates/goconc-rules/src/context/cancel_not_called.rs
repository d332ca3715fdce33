//! `context-cancel-not-called`: the cancel func of `context.WithCancel`, `WithTimeout`,
//! `WithDeadline` or their `…Cause` forms is thrown away, or not used on some path to a return.
//! Like go vet's lostcancel, any use of the variable counts (a call, passing it on, storing it,
//! returning it, capturing it in a closure); assigning to it and `_ = cancel` do not.

use crate::finding::LineOf;
use goconc_syntax::NodeExt;
use tree_sitter::Node;

use crate::finding::{Finding, Severity, TextEdit};
use crate::{Context, Family, RuleMeta};
use goconc_model::flow::{self, ExitKind, FlowAnalysis};
use goconc_model::sync_calls::CONTEXT_CANCEL_CONSTRUCTORS;
use goconc_model::{Decl, DeclKind};
use goconc_syntax::{insertion_after_line, line_indent, named_children, text, unparen, walk};

pub static META: RuleMeta = RuleMeta {
    id: "context-cancel-not-called",
    family: Family::Context,
    severity: Severity::Error,
    summary: "The cancel func of `context.WithCancel`/`WithTimeout`/`WithDeadline` (or a `…Cause` form) is discarded or not called on every path.",
    fix: Some("`defer cancel()` after the call (naming `_` as `cancel`)"),
    doc: r#"
## Why it matters
A context made by `WithCancel`, `WithTimeout` or `WithDeadline` registers itself with its parent
and, for the timed ones, starts a timer. Only its cancel func undoes that. If the cancel func is
thrown away, or a return path skips it, the child context — its goroutine-visible `Done` channel,
its timer, its entry in the parent's children — lives until the parent is cancelled or the
deadline passes. In a server handling many requests under a long-lived parent that is a steady
leak, and work started under the context is never told to stop.

## Example
```go
func (c *Client) Status(ctx context.Context) (int, error) {
	tctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	resp, err := c.get(tctx, "/status")
	if err != nil {
		return 0, err // cancel never runs on this path
	}
	cancel()
	return resp.StatusCode, nil
}
```
```go
func (c *Client) Status(ctx context.Context) (int, error) {
	tctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := c.get(tctx, "/status")
	if err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}
```

## Fix
The quick fix inserts `defer cancel()` on the line after the call, naming a discarded `_` as
`cancel` first. It is offered for a `:=` statement that stands directly in a block outside any
loop, when every use of the cancel func is a plain call and the new context is neither returned,
stored nor handed to a goroutine (a `defer cancel()` would cut those short). Calling a cancel func
more than once is harmless, so an existing `cancel()` may stay.

## When it stays silent
When the cancel func is returned, stored in a field or a variable of an enclosing function, passed
to another function (`time.AfterFunc(d, cancel)`) or captured by a closure — someone else is then
responsible for it, as in go vet. A field counts only when something can call it: an exported
field, or one that some code of the package calls or reads (`s.cancel()`, `if s.cancel != nil`,
`stop := s.cancel`). A cancel func kept in an unexported field that nothing reads is never called,
and is reported like one thrown away. A path that ends in `panic`, `os.Exit` or `log.Fatal` needs no
cancel. A function using `goto` is not analysed, nor one that makes more than 64 cancel funcs
it keeps in variables (no function of the pinned projects or the standard library makes more than
four).
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    let mut bodies = Bodies::default();
    let mut followed = Vec::new();
    for name in CONTEXT_CANCEL_CONSTRUCTORS {
        for &call in cx.index.calls_named(name) {
            let Some(function) = call.field("function") else {
                continue;
            };
            if cx.model.qualified_name(function, "context") != Some(name) {
                continue;
            }
            if let Some(def) = Definition::of(cx, call) {
                if let Some(f) = check_definition(cx, name, def, &mut bodies, out) {
                    followed.push(f);
                }
            }
        }
    }
    follow(cx, followed, &mut bodies, out);
}

/// What the rule asks of a function body about the names in it, gathered in one walk per body:
/// a function may make thousands of cancel funcs, and walking its body for each one's uses cost
/// the square of its length (8,000 `WithCancel` in one function: 62 s).
#[derive(Default)]
struct Bodies<'t> {
    /// The identifiers of each body (function literals included), by name, in document order;
    /// by the body's start.
    names: crate::HashMap<usize, crate::HashMap<&'t str, Vec<Node<'t>>>>,
    /// Whether a declaration of the outermost function (by its index) is named `cancel`.
    declares_cancel: crate::HashMap<usize, bool>,
}

impl<'t> Bodies<'t> {
    /// The identifiers named `name` below `body`, in document order.
    fn named(&mut self, cx: &Context<'_, 't>, body: Node<'t>, name: &str) -> &[Node<'t>] {
        let names = self
            .names
            .entry(body.start_byte())
            .or_insert_with(|| goconc_syntax::identifiers_by_name(body, cx.src));
        names.get(name).map_or(&[], Vec::as_slice)
    }
}

/// A cancel variable whose uses the flow analysis follows from its definition to the exits.
struct Followed<'a, 't> {
    constructor: &'static str,
    def: Definition<'t>,
    decl: &'a Decl<'t>,
    body: Node<'t>,
}

/// Follows the cancel variables of each body in one run of the flow analysis (a run per variable
/// cost the square of a body that makes thousands), and reports those left unused on a path to
/// an exit.
fn follow<'a, 't>(
    cx: &'a Context<'_, 't>,
    followed: Vec<Followed<'a, 't>>,
    bodies: &mut Bodies<'t>,
    out: &mut Vec<Finding>,
) {
    let mut by_body: std::collections::BTreeMap<usize, Vec<Followed<'a, 't>>> = Default::default();
    for f in followed {
        by_body.entry(f.body.start_byte()).or_default().push(f);
    }
    for group in by_body.into_values() {
        let body = group[0].body;
        // The state holds each variable: past this many in one body every join went through
        // all of them (16,000 in one function: 2.7 s), and no function of the corpus has more
        // than 4.
        if group.len() > flow::MAX_FOLLOWED {
            continue;
        }
        let mut analysis = Pending {
            cx,
            defs: group.iter().map(|f| (f.decl, f.def.stmt)).collect(),
            by_stmt: Default::default(),
            by_name: Default::default(),
        };
        for (k, f) in group.iter().enumerate() {
            analysis.by_stmt.entry(f.def.stmt.id()).or_default().push(k);
            analysis.by_name.entry(f.decl.name).or_default().push(k);
        }
        let entry = Made::none(group.len());
        let Some(exits) = flow::run(cx.model, body, &mut analysis, entry) else {
            continue;
        };
        for (k, f) in group.iter().enumerate() {
            report(cx, f, k, &exits, bodies, out);
        }
    }
}

/// `ctx, cancel := context.WithX(…)` (or `=`, or `var … =`) taken apart.
struct Definition<'t> {
    call: Node<'t>,
    /// The statement the flow analysis sees: the short var declaration, the assignment, or the
    /// `var` declaration.
    stmt: Node<'t>,
    /// The context's name (`ctx`), when it is a plain identifier.
    ctx: Option<Node<'t>>,
    cancel: Node<'t>,
    /// `:=`.
    short: bool,
}

impl<'t> Definition<'t> {
    fn of(cx: &Context<'_, 't>, call: Node<'t>) -> Option<Definition<'t>> {
        let mut up = call.parent_node()?;
        while up.kind_str() == "parenthesized_expression" {
            up = up.parent_node()?;
        }
        if up.kind_str() != "expression_list" || named_children(up).count() != 1 {
            return None;
        }
        let holder = up.parent_node()?;
        let (left, stmt): (Vec<Node>, Node) = match holder.kind_str() {
            "short_var_declaration" | "assignment_statement" => {
                if holder.field("right") != Some(up) {
                    return None;
                }
                let left = holder.field("left")?;
                (named_children(left).collect(), holder)
            }
            "var_spec" => {
                let mut decl = holder.parent_node()?;
                if decl.kind_str() == "var_spec_list" {
                    decl = decl.parent_node()?;
                }
                (goconc_model::types::names_of(holder), decl)
            }
            _ => return None,
        };
        if holder.kind_str() == "assignment_statement"
            && holder.field("operator").map(|o| text(o, cx.src)) != Some("=")
        {
            return None;
        }
        let [ctx, cancel] = left.as_slice() else {
            return None;
        };
        Some(Definition {
            call,
            stmt,
            ctx: (ctx.kind_str() == "identifier" && text(*ctx, cx.src) != "_").then_some(*ctx),
            cancel: *cancel,
            short: holder.kind_str() == "short_var_declaration",
        })
    }
}

/// Reports a cancel func stored where nothing calls it or thrown away; hands back a named one
/// the flow analysis must follow.
fn check_definition<'a, 't>(
    cx: &'a Context<'_, 't>,
    constructor: &'static str,
    def: Definition<'t>,
    bodies: &mut Bodies<'t>,
    out: &mut Vec<Finding>,
) -> Option<Followed<'a, 't>> {
    let lives = lives(constructor);
    if def.cancel.kind_str() != "identifier" {
        // Stored in a field, a map or a slice: someone else calls it — unless it is a field
        // that nothing can call.
        if unread_field(cx, def.cancel).is_some() {
            out.push(META.finding(
                def.cancel.byte_span(),
                format!("the cancel func returned by `context.{constructor}` is kept in `{}`, which nothing in the package calls or reads: the context and its resources live {lives}", text(def.cancel, cx.src)),
            ));
        }
        return None;
    }
    let name = text(def.cancel, cx.src);
    if name == "_" {
        let finding = META.finding(
            def.cancel.byte_span(),
            format!("the cancel func returned by `context.{constructor}` is discarded: the context and its resources live {lives}"),
        );
        let fix = discarded_fix(cx, &def, bodies);
        out.push(match fix {
            Some(edits) => finding.with_unsafe_fix("Name it `cancel` and `defer cancel()`", edits),
            None => finding,
        });
        return None;
    }
    let decl = cancel_decl(cx, &def)?;
    let function = cx.model.function_of(def.stmt)?;
    if decl.function != function || matches!(decl.kind, DeclKind::Result | DeclKind::Receiver) {
        // A variable of an enclosing function, or a named result: handed on.
        return None;
    }
    let body = cx.model.functions.get(function).and_then(|f| f.body)?;
    Some(Followed {
        constructor,
        def,
        decl,
        body,
    })
}

/// How long a context lives that is never cancelled.
fn lives(constructor: &str) -> &'static str {
    if constructor.contains("Cancel") {
        "until the parent context is cancelled"
    } else {
        "until its deadline passes"
    }
}

/// Reports the followed cancel variable `k` if an exit is reached without using it.
fn report<'t>(
    cx: &Context<'_, 't>,
    followed: &Followed<'_, 't>,
    k: usize,
    exits: &[flow::Exit<'t, Made>],
    bodies: &mut Bodies<'t>,
    out: &mut Vec<Finding>,
) {
    let Followed {
        constructor,
        def,
        decl,
        ..
    } = followed;
    let lives = lives(constructor);
    let name = decl.name;
    let leak = exits
        .iter()
        .filter(|e| e.state.has(k) && matches!(e.kind, ExitKind::Return | ExitKind::EndOfBody))
        .min_by_key(|e| e.node.start_byte());
    let Some(leak) = leak else { return };
    let (range, line, place) = match leak.kind {
        ExitKind::Return => (
            leak.node.byte_span(),
            LineOf(leak.node.start_byte()),
            "this return",
        ),
        _ => {
            let end = leak.node.end_offset();
            (
                end.saturating_sub(1)..end,
                LineOf(end.saturating_sub(1)),
                "the end of the function",
            )
        }
    };
    let exits_of_body = exits
        .iter()
        .filter(|e| matches!(e.kind, ExitKind::Return | ExitKind::EndOfBody));
    let how = if exits_of_body.clone().all(|e| e.state.has(k)) {
        "is never called"
    } else {
        "is not called on every path"
    };
    let mut finding = META.finding(
        def.call.byte_span(),
        format!(
            "`{name}` from `context.{constructor}` {how}: {} on line {line} leaves the context alive {lives}",
            if leak.kind == ExitKind::Return { "the return" } else { "the end of the function" }
        ),
    )
    .with_related(range, format!("{place} is reached without using `{name}`"));
    if let Some(edits) = defer_fix(cx, def, decl, name, bodies) {
        finding = finding.with_unsafe_fix(format!("Add `defer {name}()`"), edits);
    }
    out.push(finding);
}

/// The declaration the cancel variable refers to after the statement.
fn cancel_decl<'a, 't>(cx: &'a Context<'_, 't>, def: &Definition<'t>) -> Option<&'a Decl<'t>> {
    let name = text(def.cancel, cx.src);
    if def.short || def.stmt.kind_str() == "var_declaration" {
        let decl = cx.model.resolve_name(name, def.stmt.end_offset())?;
        // `:=` may redeclare an older variable; either way it must be the one written here.
        (decl.visible.start >= def.stmt.end_offset()
            || decl.ident.start_byte() < def.stmt.start_byte())
        .then_some(decl)
    } else {
        cx.model.resolve(def.cancel)
    }
}

/// Flow state: which of a body's followed cancel funcs were made on this path and not used since
/// (bit `k` for the `k`th).
#[derive(Clone, PartialEq)]
struct Made(Vec<u64>);

impl Made {
    fn none(count: usize) -> Made {
        Made(vec![0; count.div_ceil(64)])
    }

    fn has(&self, k: usize) -> bool {
        self.0[k / 64] & (1 << (k % 64)) != 0
    }

    fn set(&mut self, k: usize, made: bool) {
        match made {
            true => self.0[k / 64] |= 1 << (k % 64),
            false => self.0[k / 64] &= !(1 << (k % 64)),
        }
    }

    fn is_empty(&self) -> bool {
        self.0.iter().all(|&w| w == 0)
    }
}

/// The flow analysis of a body's cancel funcs: each is made by its statement, and used up by
/// the first statement that uses its variable.
struct Pending<'a, 'c, 't> {
    cx: &'a Context<'c, 't>,
    /// Each followed variable's declaration and the statement that makes it.
    defs: Vec<(&'a Decl<'t>, Node<'t>)>,
    /// The variables each defining statement makes, by the statement's id.
    by_stmt: crate::HashMap<usize, Vec<usize>>,
    /// The variables by name.
    by_name: crate::HashMap<&'t str, Vec<usize>>,
}

impl<'t> FlowAnalysis<'t> for Pending<'_, '_, 't> {
    type State = Made;

    fn transfer(&mut self, stmt: Node<'t>, state: &mut Made) {
        if let Some(made) = self.by_stmt.get(&stmt.id()) {
            for &k in made {
                state.set(k, true);
            }
        }
        if state.is_empty() {
            return;
        }
        walk(stmt, |n| {
            if n.kind_str() != "identifier" {
                return true;
            }
            for &k in self
                .by_name
                .get(text(n, self.cx.src))
                .map_or(&[][..], Vec::as_slice)
            {
                let (decl, def_stmt) = self.defs[k];
                if state.has(k) && def_stmt != stmt && is_use(self.cx, decl, n) {
                    state.set(k, false);
                }
            }
            true
        });
    }

    fn join(&self, a: &Made, b: &Made) -> Made {
        Made(a.0.iter().zip(&b.0).map(|(x, y)| x | y).collect())
    }
}

/// An unexported field (`s.cancel`) that no code of the package calls or reads: a cancel func
/// stored there is never called (another package cannot see the field either).
fn unread_field<'t>(cx: &Context<'_, 't>, target: Node<'t>) -> Option<Node<'t>> {
    let field = match target.kind_str() {
        "selector_expression" => target.field("field")?,
        "field_identifier" | "identifier" => target,
        _ => return None,
    };
    let name = text(field, cx.src);
    let exported = name.chars().next().is_some_and(char::is_uppercase);
    (!exported && !cx.model.package.field_is_read(name)).then_some(field)
}

/// Where the value of `ident` is stored into a field nothing reads: `s.cancel = cancel`, or
/// `T{cancel: cancel}` — a store that hands the cancel func to nobody.
fn stored_unread<'t>(cx: &Context<'_, 't>, ident: Node<'t>) -> Option<Node<'t>> {
    let parent = ident.parent_node()?;
    match parent.kind_str() {
        "expression_list" => {
            let stmt = parent.parent_node()?;
            if stmt.kind_str() != "assignment_statement" || stmt.field("right") != Some(parent) {
                return None;
            }
            let position = named_children(parent).position(|c| c == ident)?;
            let target = named_children(stmt.field("left")?).nth(position)?;
            (target.kind_str() == "selector_expression")
                .then(|| unread_field(cx, target))
                .flatten()
        }
        "literal_element" => {
            let keyed = parent
                .parent_node()
                .filter(|k| k.kind_str() == "keyed_element")?;
            let key = named_children(keyed).next().filter(|k| *k != parent)?;
            let name = named_children(key).next().unwrap_or(key);
            unread_field(cx, name)
        }
        _ => None,
    }
}

fn is_use(cx: &Context, decl: &Decl, ident: Node) -> bool {
    if !cx
        .model
        .resolve(ident)
        .is_some_and(|d| d.ident == decl.ident)
    {
        return false;
    }
    if stored_unread(cx, ident).is_some() {
        return false;
    }
    let Some(list) = ident
        .parent_node()
        .filter(|p| p.kind_str() == "expression_list")
    else {
        return true;
    };
    let Some(stmt) = list.parent_node() else {
        return true;
    };
    if !matches!(
        stmt.kind_str(),
        "assignment_statement" | "short_var_declaration"
    ) {
        return true;
    }
    if stmt.field("left") == Some(list) {
        return false;
    }
    // `_ = cancel` only quiets the compiler.
    let position = named_children(list).position(|c| c == ident);
    let left: Vec<Node> = stmt
        .field("left")
        .map(|l| named_children(l).collect())
        .unwrap_or_default();
    match position.and_then(|i| left.get(i)) {
        Some(target) => text(*target, cx.src) != "_",
        None => true,
    }
}

/// Where a `:=` statement may be followed by a new `defer` line: directly in a block or case
/// body, outside any loop of its function. Returns the insertion offset and the indentation.
fn defer_site<'t>(cx: &Context<'_, 't>, def: &Definition<'t>) -> Option<(usize, String)> {
    if !def.short {
        return None;
    }
    let parent = def.stmt.parent_node()?;
    let container = if parent.kind_str() == "statement_list" {
        parent.parent_node()?
    } else {
        parent
    };
    if !matches!(
        container.kind_str(),
        "block" | "expression_case" | "default_case" | "type_case" | "communication_case"
    ) {
        return None;
    }
    let mut up = def.stmt.parent_node();
    while let Some(n) = up {
        match n.kind_str() {
            "for_statement" => return None,
            "func_literal" | "function_declaration" | "method_declaration" => break,
            _ => up = n.parent_node(),
        }
    }
    let at = insertion_after_line(def.stmt, cx.src)?;
    Some((at, line_indent(cx.src, def.stmt.start_byte()).to_string()))
}

/// Whether the derived context leaves the function's own synchronous use: returned, stored,
/// sent, captured by a closure or handed to a goroutine. A `defer cancel()` would cut those short.
fn context_escapes<'t>(
    cx: &Context<'_, 't>,
    def: &Definition<'t>,
    bodies: &mut Bodies<'t>,
) -> bool {
    let Some(ctx) = def.ctx else { return false };
    let decl = if def.short || def.stmt.kind_str() == "var_declaration" {
        cx.model
            .resolve_name(text(ctx, cx.src), def.stmt.end_offset())
    } else {
        cx.model.resolve(ctx)
    };
    let Some(decl) = decl else { return true };
    let Some(function) = cx
        .model
        .function_of(def.stmt)
        .and_then(|f| cx.model.functions.get(f))
    else {
        return true;
    };
    let Some(body) = function.body else {
        return true;
    };
    let after = def.stmt.end_offset();
    let uses = bodies.named(cx, body, decl.name);
    uses[uses.partition_point(|n| n.start_byte() < after)..]
        .iter()
        .filter(|&&n| cx.model.resolve(n).is_some_and(|d| d.ident == decl.ident))
        .any(|&n| escaping_position(n, body))
}

/// The identifier's value is returned, stored, sent or put in a literal, or it is used inside a
/// closure or a `go` statement.
fn escaping_position(ident: Node, body: Node) -> bool {
    if let Some(parent) = ident.parent_node() {
        let direct = match parent.kind_str() {
            "literal_element" | "send_statement" => true,
            "expression_list" => parent
                .parent_node()
                .is_some_and(|stmt| match stmt.kind_str() {
                    "return_statement" => true,
                    "assignment_statement" | "short_var_declaration" => {
                        stmt.field("right") == Some(parent)
                    }
                    "var_spec" => stmt.field("value") == Some(parent),
                    _ => false,
                }),
            _ => false,
        };
        if direct {
            return true;
        }
    }
    let mut up = ident.parent_node();
    while let Some(n) = up {
        if n == body {
            break;
        }
        if matches!(n.kind_str(), "go_statement" | "func_literal") {
            return true;
        }
        up = n.parent_node();
    }
    false
}

/// Every use of the cancel variable is a direct call `cancel(…)` in the function itself (not in
/// a closure), or `_ = cancel`.
fn only_called<'t>(
    cx: &Context<'_, 't>,
    decl: &Decl<'t>,
    body: Node<'t>,
    bodies: &mut Bodies<'t>,
) -> bool {
    bodies
        .named(cx, body, decl.name)
        .iter()
        .filter(|&&n| is_use(cx, decl, n))
        .all(|&n| {
            let called = n.parent_node().is_some_and(|p| {
                p.kind_str() == "call_expression" && p.field("function").map(unparen) == Some(n)
            });
            let in_closure = {
                let mut up = n.parent_node();
                let mut inside = false;
                while let Some(p) = up {
                    if p == body {
                        break;
                    }
                    if p.kind_str() == "func_literal" {
                        inside = true;
                        break;
                    }
                    up = p.parent_node();
                }
                inside
            };
            called && !in_closure
        })
}

fn defer_fix<'t>(
    cx: &Context<'_, 't>,
    def: &Definition<'t>,
    decl: &Decl<'t>,
    name: &str,
    bodies: &mut Bodies<'t>,
) -> Option<Vec<TextEdit>> {
    let (at, indent) = defer_site(cx, def)?;
    let body = cx.model.functions.get(decl.function)?.body?;
    if !only_called(cx, decl, body, bodies) || context_escapes(cx, def, bodies) {
        return None;
    }
    Some(vec![TextEdit {
        range: at..at,
        new_text: format!("\n{indent}defer {name}()"),
    }])
}

fn discarded_fix<'t>(
    cx: &Context<'_, 't>,
    def: &Definition<'t>,
    bodies: &mut Bodies<'t>,
) -> Option<Vec<TextEdit>> {
    let (at, indent) = defer_site(cx, def)?;
    // The name `cancel` must be free in the whole function (and its closures).
    let mut function = cx.model.function_of(def.stmt)?;
    while let Some(parent) = cx.model.functions.get(function)?.parent {
        function = parent;
    }
    let outer = cx.model.functions.get(function)?.node;
    let taken = *bodies.declares_cancel.entry(function).or_insert_with(|| {
        cx.model.decls().iter().any(|d| {
            d.name == "cancel"
                && d.ident.start_byte() >= outer.start_byte()
                && d.ident.end_offset() <= outer.end_offset()
        })
    });
    if taken || context_escapes(cx, def, bodies) {
        return None;
    }
    Some(vec![
        TextEdit {
            range: def.cancel.byte_span(),
            new_text: "cancel".into(),
        },
        TextEdit {
            range: at..at,
            new_text: format!("\n{indent}defer cancel()"),
        },
    ])
}

#[cfg(test)]
mod tests {
    use crate::test_support::{findings, lines_and_fixed};

    fn run(src: &str) -> (Vec<usize>, String) {
        lines_and_fixed(&findings("context-cancel-not-called", src), src)
    }

    /// A body making more cancel funcs than a flow analysis follows is not followed: its
    /// forgotten cancel goes unreported, where the same one among one fewer is reported.
    #[test]
    fn gives_up_past_the_cancel_funcs_a_flow_follows() {
        let making = |n: usize| {
            let called: String = (1..n)
                .map(|i| format!("\tc{i}, cancel{i} := context.WithCancel(p)\n\tdefer cancel{i}()\n\t_ = c{i}\n"))
                .collect();
            format!("package p\n\nimport \"context\"\n\nfunc f(p context.Context, x bool) {{\n{called}\tctx, cancel := context.WithCancel(p)\n\tif x {{\n\t\treturn\n\t}}\n\tcancel()\n\t_ = ctx\n}}\n")
        };
        let limit = goconc_model::flow::MAX_FOLLOWED;
        assert_eq!(run(&making(limit)).0.len(), 1);
        assert!(run(&making(limit + 1)).0.is_empty());
        assert!(crate::test_support::page_says(
            &super::META,
            &format!("more than {limit} cancel funcs")
        ));
    }

    #[test]
    fn uses_in_conditions_closures_and_loops() {
        let src = "package p

import \"context\"

func a(p context.Context) {
	ctx, cancel := context.WithCancel(p)
	if cancel != nil {
		_ = ctx
	}
}

func b(p context.Context, xs []int) error {
	for range xs {
		ctx, cancel := context.WithCancel(p)
		if ctx.Err() != nil {
			continue
		}
		cancel()
	}
	return nil
}

func c(p context.Context) {
	ctx, cancel := context.WithCancel(p)
	go func() {
		<-ctx.Done()
		cancel()
	}()
}

func d(p context.Context) {
	ctx, cancel := context.WithCancel(p)
	cancel = nil
	_ = ctx
	_ = cancel
}
";
        let (lines, fixed) = run(src);
        assert_eq!(lines, vec![14, 32]);
        // The loop and the reassigned cancel get no fix.
        assert_eq!(fixed, src);
    }

    /// The cancel funcs of one body share one run of the flow analysis: each is still followed
    /// on its own (made by its statement, used up by its own uses, one shadowing another's name).
    #[test]
    fn cancel_funcs_of_one_body_are_followed_apart() {
        let src = "package p

import \"context\"

func f(p context.Context, ok bool) error {
	a, cancelA := context.WithCancel(p)
	b, cancelB := context.WithCancel(a)
	c, cancelC := context.WithCancel(b)
	defer cancelA()
	if ok {
		cancelB()
		return nil
	}
	if c.Err() != nil {
		cancel := cancelC
		cancel()
		return c.Err()
	}
	{
		d, cancelC := context.WithCancel(c)
		_ = d
		cancelC()
	}
	return nil
}
";
        let findings = crate::test_support::findings("context-cancel-not-called", src);
        let messages: Vec<&str> = findings.iter().map(|f| f.message.as_str()).collect();
        // `cancelB` is missed on the last two returns; `cancelC` on the first and the last (the
        // inner block's `cancelC` is another variable, called, and its own).
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(
            messages[0]
                .starts_with("`cancelB` from `context.WithCancel` is not called on every path"),
            "{}",
            messages[0]
        );
        assert!(
            messages[1]
                .starts_with("`cancelC` from `context.WithCancel` is not called on every path"),
            "{}",
            messages[1]
        );
    }

    #[test]
    fn no_fix_when_context_escapes_or_cancel_is_stored() {
        let src = "package p

import \"context\"

type S struct{ cancel context.CancelFunc }

func a(p context.Context) context.Context {
	ctx, _ := context.WithCancel(p)
	return ctx
}

func (s *S) b(p context.Context, ok bool) error {
	ctx, cancel := context.WithCancel(p)
	if !ok {
		return ctx.Err()
	}
	s.cancel = cancel
	return nil
}

func c(p context.Context) {
	ctx, _ := context.WithTimeout(p, 1)
	go run(ctx)
}

func run(context.Context) {}

func (s *S) stop() { s.cancel() }
";
        let (lines, fixed) = run(src);
        assert_eq!(lines, vec![8, 13, 22]);
        assert_eq!(fixed, src);
    }

    #[test]
    fn fix_in_a_case_body_and_var_form() {
        let src = "package p

import \"context\"

func a(p context.Context, k int) error {
	switch k {
	case 1:
		ctx, _ := context.WithCancel(p)
		return ctx.Err()
	}
	var ctx, _ = context.WithCancel(p)
	return ctx.Err()
}
";
        let (lines, fixed) = run(src);
        assert_eq!(lines, vec![8, 11]);
        assert!(
            fixed.contains("\t\tctx, cancel := context.WithCancel(p)\n\t\tdefer cancel()\n"),
            "{fixed}"
        );
        assert!(
            fixed.contains("var ctx, _ = context.WithCancel(p)\n"),
            "{fixed}"
        );
    }
}
