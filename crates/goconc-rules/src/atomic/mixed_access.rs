//! `atomic-mixed-access`: a field or package variable updated through `sync/atomic` functions in
//! one place and read or written plainly in another (package-wide).

use crate::HashSet;
use goconc_syntax::NodeExt;

use tree_sitter::Node;

use super::access_key;
use crate::finding::{Finding, Severity};
use crate::{Context, Family, RuleMeta};
use goconc_model::atomics::atomic_func;
use goconc_model::DeclKind;
use goconc_syntax::{enclosing_function, path_root, text, unparen, walk};

pub static META: RuleMeta = RuleMeta {
    id: "atomic-mixed-access",
    family: Family::Atomic,
    severity: Severity::Error,
    summary: "A variable or field accessed through `sync/atomic` functions in one place and with plain reads or writes elsewhere in the package.",
    fix: None,
    doc: r#"
## Why it matters
Atomic functions only protect a value when every concurrent access goes through them. One plain
read (`if s.count > max`) or write (`s.count = 0`) next to `atomic.AddInt64(&s.count, 1)` is a data
race: the plain read may see a torn or stale value, and the plain write may wipe out increments.
The race detector catches it only when a test happens to run both at once.

## Example
```go
func (s *Server) Handle() {
	atomic.AddInt64(&s.active, 1)
	defer atomic.AddInt64(&s.active, -1)
	// …
}

func (s *Server) Busy() bool {
	return s.active > 100
}
```
```go
func (s *Server) Busy() bool {
	return atomic.LoadInt64(&s.active) > 100
}
```
Better still, make the field an `atomic.Int64`: then no plain access compiles.

## Fix
Use `atomic.Load…`/`atomic.Store…` for the plain access, or change the field to a `sync/atomic`
type. No quick fix.

## When it stays silent
- The plain access is on a value the function has just made (`s := &Server{}; s.active = 1`):
  nobody else can see it yet. `init` functions and test files are not checked either.
- The address is taken (`&s.active`): that is how the atomic functions and their wrappers get it.
- Locals: only fields of the package's struct types and package-level variables are tracked.
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    let atomics = cx.model.package.atomics();
    if atomics.is_empty() || cx.is_test_file {
        return;
    }
    let names: HashSet<&str> = atomics
        .keys()
        .map(|k| k.rsplit('.').next().unwrap_or(k))
        .collect();
    walk(cx.model.root, |n| {
        let name_node = match n.kind_str() {
            "selector_expression" => n.field("field"),
            "identifier" => {
                // The name first: `parent()` searches down from the root.
                if !names.contains(text(n, cx.src)) {
                    return true;
                }
                let parent_kind = n.parent().map(|p| p.kind_str()).unwrap_or("");
                (!matches!(
                    parent_kind,
                    "selector_expression"
                        | "var_spec"
                        | "const_spec"
                        | "parameter_declaration"
                        | "keyed_element"
                        | "literal_element"
                ))
                .then_some(n)
            }
            "function_declaration" | "method_declaration" if cx.is_skipped(n.start_byte()) => {
                return false;
            }
            // Package-level initialisers, like `init`, run before any goroutine.
            "var_declaration" | "const_declaration"
                if n.parent().is_some_and(|p| p.kind_str() == "source_file") =>
            {
                return false;
            }
            "function_declaration" => {
                // Package initialisation runs before any goroutine.
                return n.field("name").is_none_or(|f| text(f, cx.src) != "init");
            }
            _ => None,
        };
        let Some(name_node) = name_node else {
            return true;
        };
        if !names.contains(text(name_node, cx.src)) {
            return true;
        }
        if let Some(f) = check_access(cx, n) {
            out.push(f);
        }
        true
    });
}

fn check_access(cx: &Context, expr: Node) -> Option<Finding> {
    // `&s.n`: the atomic call itself, or a pointer handed to a wrapper.
    let mut outer = expr;
    while let Some(p) = outer
        .parent()
        .filter(|p| p.kind_str() == "parenthesized_expression")
    {
        outer = p;
    }
    let parent = outer.parent()?;
    if parent.kind_str() == "unary_expression" && parent.child(0).map(|o| o.kind_str()) == Some("&")
    {
        return None;
    }
    // A method call on the value (`s.n.String()`) or a deeper selection is not this access.
    if parent.kind_str() == "selector_expression" && parent.field("operand") == Some(outer) {
        return None;
    }
    // `x = atomic.AddInt64(&x, 1)` is atomic-result-assigned's finding.
    if assigned_from_atomic(cx, outer) {
        return None;
    }
    let key = access_key(cx.model, expr)?;
    let atomic = cx.model.package.atomics().get(&key)?;
    // A value the function has just made is not shared yet.
    if expr.kind_str() == "selector_expression" {
        if let Some(decl) = path_root(expr).and_then(|r| cx.model.resolve(r)) {
            if decl.kind == DeclKind::Local && decl.init.is_some_and(|i| is_fresh_value(cx, i)) {
                return None;
            }
        }
    }
    enclosing_function(expr)?;
    let written = is_written(outer);
    if excused(cx, expr, &key, &atomic.func, written) {
        return None;
    }
    let shown = text(expr, cx.src);
    let mut finding = META.finding(
        expr.byte_range(),
        format!(
            "`{shown}` is {} plainly here, but `atomic.{}` accesses `{key}` elsewhere in the package: the plain access races with it",
            if written { "written" } else { "read" },
            atomic.func
        ),
    );
    if let Some(call) = cx
        .model
        .root
        .descendant_for_byte_range(atomic.offset, atomic.offset + 1)
        .and_then(|n| call_at(n, atomic.offset))
    {
        if atomic_func(call, cx.src, &cx.model.imports) == Some(atomic.func.as_str()) {
            finding = finding.with_related(
                call.byte_range(),
                format!("`{key}` is accessed atomically here"),
            );
        }
    }
    Some(finding)
}

/// The call expression that starts at `offset`, from a node there.
fn call_at(node: Node, offset: usize) -> Option<Node> {
    let mut current = Some(node);
    while let Some(n) = current {
        if n.start_byte() != offset {
            return None;
        }
        if n.kind_str() == "call_expression" {
            return Some(n);
        }
        current = n.parent();
    }
    None
}

/// `T{…}`, `&T{…}` or `new(T)`: a value nobody else has yet.
fn is_fresh_value(cx: &Context, init: Node) -> bool {
    let init = unparen(init);
    match init.kind_str() {
        "composite_literal" => true,
        "unary_expression" => init
            .field("operand")
            .is_some_and(|o| unparen(o).kind_str() == "composite_literal"),
        "call_expression" => init.field("function").is_some_and(|f| {
            f.kind_str() == "identifier"
                && text(f, cx.src) == "new"
                && cx.model.resolve(f).is_none()
        }),
        _ => false,
    }
}

/// Is the expression assigned to, incremented or decremented?
fn is_written(expr: Node) -> bool {
    let Some(parent) = expr.parent() else {
        return false;
    };
    match parent.kind_str() {
        "inc_statement" | "dec_statement" => true,
        "expression_list" => parent.parent().is_some_and(|s| {
            s.kind_str() == "assignment_statement" && s.field("left") == Some(parent)
        }),
        _ => false,
    }
}

/// Is the expression the target of `x = atomic.F(&…)`?
fn assigned_from_atomic(cx: &Context, expr: Node) -> bool {
    let Some(list) = expr.parent().filter(|p| p.kind_str() == "expression_list") else {
        return false;
    };
    let Some(stmt) = list
        .parent()
        .filter(|s| s.kind_str() == "assignment_statement")
    else {
        return false;
    };
    if stmt.field("left") != Some(list) {
        return false;
    }
    let Some(right) = stmt.field("right") else {
        return false;
    };
    goconc_syntax::named_children(right).any(|v| {
        let v = unparen(v);
        v.kind_str() == "call_expression" && atomic_func(v, cx.src, &cx.model.imports).is_some()
    })
}

/// The idioms where a plain access next to atomic ones is deliberate and safe, or where goconc
/// cannot tell the two fields apart:
/// - the same function also accesses the key atomically (an optimistic read before a
///   compare-and-swap, an `Init` that publishes with a store);
/// - constructors and initialisers (`new…`, `New…`, `init…`, `Init…`): the value is not shared yet;
/// - a read in a function that takes a lock or expects one held (the atomic writes happen under
///   that lock; lock-free readers use atomic loads);
/// - code documented to run with the world stopped, or a comment on the line or just above that
///   talks about the atomic or the ordering (`// No need for an atomic read …`, `// load-consume`);
/// - the field's declared type does not fit the atomic function (another struct of the same name
///   in a file for another platform).
fn excused(cx: &Context, expr: Node, key: &str, func: &str, written: bool) -> bool {
    let Some(decl) = top_function(expr) else {
        return true;
    };
    let name = decl.field("name").map_or("", |n| text(n, cx.src));
    if ["new", "New", "init", "Init"]
        .iter()
        .any(|p| name.starts_with(p))
    {
        return true;
    }
    let decl_text = text(decl, cx.src);
    let doc = goconc_syntax::doc_comment(decl, cx.src);
    if [decl_text, doc.as_str()]
        .iter()
        .any(|t| t.contains("world is stopped") || t.contains("world stopped"))
    {
        return true;
    }
    // A comment on the two lines above that mentions the atomic.
    let line_start = goconc_syntax::line_start(cx.src, expr.start_byte());
    let above_start = cx.src[..line_start.saturating_sub(1)]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let above2_start = cx.src[..above_start.saturating_sub(1)]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let line_end = goconc_syntax::line_end_after_newline(cx.src, expr.end_byte());
    let deliberate = |c: &str| {
        ["atomic", "race", "load-", "ordering"]
            .iter()
            .any(|w| c.contains(w))
    };
    let comments = cx
        .src
        .get(above2_start.max(decl.field("body").map_or(0, |b| b.start_byte()))..line_end)
        .unwrap_or("")
        .lines()
        .filter_map(|l| l.find("//").map(|i| &l[i..]))
        .filter(|c| !c.starts_with("// want"));
    if comments.into_iter().any(deliberate) {
        return true;
    }
    let mut same_function_atomic = false;
    let mut locks = false;
    walk(decl, |n| {
        if n.kind_str() == "call_expression" {
            if atomic_func(n, cx.src, &cx.model.imports).is_some() {
                if let Some(arg) = goconc_model::atomics::addressed_arg(n) {
                    if access_key(cx.model, arg).as_deref() == Some(key) {
                        same_function_atomic = true;
                    }
                }
            } else if n.start_byte() < expr.start_byte() {
                if let Some(mc) = goconc_syntax::method_call(n) {
                    if matches!(text(mc.method, cx.src), "Lock" | "RLock") {
                        locks = true;
                    }
                }
            }
        }
        !same_function_atomic
    });
    if same_function_atomic {
        return true;
    }
    let summary_key = goconc_model::summary::summary_key(receiver_type(decl, cx).as_deref(), name);
    let expects_held = cx
        .model
        .package
        .summary(&summary_key)
        .is_some_and(|s| s.expects_held);
    if !written && (locks || expects_held) {
        return true;
    }
    !field_type_fits(cx, expr, key, func)
}

fn top_function(node: Node) -> Option<Node> {
    let mut current = node.parent();
    while let Some(n) = current {
        if matches!(n.kind_str(), "function_declaration" | "method_declaration") {
            return Some(n);
        }
        current = n.parent();
    }
    None
}

fn receiver_type(decl: Node, cx: &Context) -> Option<String> {
    let index = cx.model.function_index(decl)?;
    cx.model.functions.get(index)?.receiver_type.clone()
}

/// Does the declared type of the field (as this file declares it, when it does) fit the atomic
/// function (`AddInt32` → `int32`, `StorePointer` → `unsafe.Pointer`)?
fn field_type_fits(cx: &Context, expr: Node, key: &str, func: &str) -> bool {
    let Some((_, suffix)) = goconc_model::atomics::split_func(func) else {
        return false;
    };
    let ty = match key.split_once('.') {
        Some((owner, field)) => local_field_type(cx, owner, field)
            .or_else(|| cx.model.package.field(owner, field).map(|f| f.ty.clone())),
        None => cx.model.package.var(key).cloned(),
    };
    let _ = expr;
    match ty {
        Some(goconc_model::Ty::Named { pkg, name }) => {
            if suffix == "Pointer" {
                pkg == "unsafe" && name == "Pointer"
            } else {
                pkg.is_empty() && name.eq_ignore_ascii_case(suffix)
            }
        }
        // Unknown or unusual declarations (arrays, pointers): trust the key.
        _ => true,
    }
}

/// The type of `owner.field` when this file declares `owner` itself.
fn local_field_type(cx: &Context, owner: &str, field: &str) -> Option<goconc_model::Ty> {
    for &decl in cx
        .model
        .items
        .iter()
        .filter(|n| n.kind_str() == "type_declaration")
    {
        for spec in goconc_syntax::named_children(decl).filter(|n| n.kind_str() == "type_spec") {
            let (Some(name), Some(ty)) = (spec.field("name"), spec.field("type")) else {
                continue;
            };
            if text(name, cx.src) != owner || ty.kind_str() != "struct_type" {
                continue;
            }
            let fields = goconc_model::types::struct_fields(ty, cx.src, &cx.model.imports);
            return fields.into_iter().find(|f| f.name == field).map(|f| f.ty);
        }
    }
    None
}
