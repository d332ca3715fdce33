//! Which function literals run on a goroutine of their own: `go func(){…}()`, and the literals
//! handed to a `sync.WaitGroup`'s `Go` or an `errgroup.Group`'s `Go`/`TryGo`.

use goconc_syntax::NodeExt;
use tree_sitter::Node;

use crate::flow::TEST_GOEXIT_METHODS;
use crate::imports::Imports;
use crate::sync_calls::{waitgroup_call, WaitGroupOp};
use crate::{FileModel, Ty};
use goconc_syntax::{method_call, named_children, text};

/// The statement or call that runs a function literal on a new goroutine: the `go` statement of
/// `go func(){…}(…)`, or the call `x.Go(func…)` / `x.TryGo(func…)` on a group.
pub fn goroutine_start<'t>(model: &FileModel<'t>, lit: Node<'t>) -> Option<Node<'t>> {
    go_statement_of(lit).or_else(|| group_go_call_of(model, lit))
}

/// The `go` statement that starts a function literal directly: `go func(…){…}(…)`.
pub fn go_statement_of(lit: Node) -> Option<Node> {
    let mut node = lit;
    let mut parent = lit.parent()?;
    while parent.kind_str() == "parenthesized_expression" {
        node = parent;
        parent = parent.parent()?;
    }
    if parent.kind_str() != "call_expression" || parent.field("function")? != node {
        return None;
    }
    let go = parent.parent()?;
    (go.kind_str() == "go_statement").then_some(go)
}

/// The call `x.Go(lit)` / `x.TryGo(lit)` that hands a function literal to a group (a
/// `sync.WaitGroup` or an `errgroup.Group`) to run on a new goroutine.
pub fn group_go_call_of<'t>(model: &FileModel<'t>, lit: Node<'t>) -> Option<Node<'t>> {
    let mut node = lit;
    let mut parent = lit.parent()?;
    while parent.kind_str() == "parenthesized_expression" {
        node = parent;
        parent = parent.parent()?;
    }
    if parent.kind_str() != "argument_list" || parent.named_child(0)? != node {
        return None;
    }
    let call = parent.parent()?;
    let mc = method_call(call)?;
    match text(mc.method, model.src) {
        "Go" => {
            if waitgroup_call(model, call).is_some_and(|c| c.op == WaitGroupOp::Go) {
                return Some(call);
            }
        }
        "TryGo" => {}
        _ => return None,
    }
    let ty = model.type_of(mc.receiver);
    ty.deref()
        .is_named("golang.org/x/sync/errgroup", "Group")
        .then_some(call)
}

/// Is `node` (inside `outer`) inside a function literal, strictly between the two, that runs on
/// a goroutine of its own (`go func(){…}()`, `g.Go(func(){…})`)?
pub fn in_nested_goroutine(model: &FileModel, node: Node, outer: Node) -> bool {
    let mut current = node.parent();
    while let Some(n) = current {
        if n == outer {
            return false;
        }
        if n.kind_str() == "func_literal" && goroutine_start(model, n).is_some() {
            return true;
        }
        current = n.parent();
    }
    false
}

/// How a call can end the goroutine that makes it without coming back to the caller (the rest of
/// the goroutine, `wg.Done()` included, never runs), as the packages document it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoroutineExit {
    /// `t.Fatal…`, `t.FailNow`, `t.Skip…` on a testing handle, or `runtime.Goexit()`.
    Goexit,
    /// An assertion of a package documented to stop the test with `t.FailNow` when it fails:
    /// testify's `require.X(t, …)`, gotest.tools' `assert.Assert(t, …)`/`NilError`/`Equal`/….
    FailingAssertion,
}

/// Assertion packages whose functions call `t.FailNow` when the assertion fails, and which of
/// their functions do (None: all of them).
const FAIL_NOW_ASSERTIONS: [(&str, Option<&[&str]>); 3] = [
    ("github.com/stretchr/testify/require", None),
    (
        "gotest.tools/v3/assert",
        Some(&[
            "Assert",
            "NilError",
            "Equal",
            "DeepEqual",
            "Error",
            "ErrorContains",
            "ErrorIs",
            "ErrorType",
        ]),
    ),
    (
        "gotest.tools/assert",
        Some(&[
            "Assert",
            "NilError",
            "Equal",
            "DeepEqual",
            "Error",
            "ErrorContains",
            "ErrorType",
        ]),
    ),
];

/// Does this call end the calling goroutine (see [`GoroutineExit`])?
pub fn goroutine_exit(model: &FileModel, call: Node) -> Option<GoroutineExit> {
    let function = goconc_syntax::unparen(call.field("function")?);
    if function.kind_str() != "selector_expression" {
        return None;
    }
    let operand = function.field("operand")?;
    let name = text(function.field("field")?, model.src);
    if model.is_package(operand, "runtime") {
        return (name == "Goexit").then_some(GoroutineExit::Goexit);
    }
    for (path, names) in FAIL_NOW_ASSERTIONS {
        if model.is_package(operand, path) {
            let listed = names.is_none_or(|names| names.contains(&name));
            return listed.then_some(GoroutineExit::FailingAssertion);
        }
    }
    let testing = crate::sync_calls::is_testing_handle(&model.type_of(operand));
    (testing && TEST_GOEXIT_METHODS.contains(&name)).then_some(GoroutineExit::Goexit)
}

/// What one top-level function or method tells the rest of the package about goroutines, read
/// from its text alone (collected per file with the declarations, merged per package, so that a
/// server refreshing one file sees what the CLI sees).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct GoFacts {
    /// A call in its own body that can end the goroutine it runs on, as written (`t.Fatalf`,
    /// `runtime.Goexit`, `require.NoError`): on a testing handle it takes as a parameter, or of
    /// a package documented to stop the test.
    pub ends_goroutine: Option<String>,
    /// The functions and methods it starts by name: `go worker(…)`, `go s.loop()`, by summary
    /// key (`worker`, `Server.loop`), each once.
    pub starts: Vec<String>,
}

/// The goroutine facts of some of a file's top-level declarations, by summary key; functions
/// with nothing to tell are left out.
pub fn collect_in(items: &[Node], src: &str, imports: &Imports) -> crate::HashMap<String, GoFacts> {
    let mut out = crate::HashMap::default();
    for &decl in items {
        if !matches!(
            decl.kind_str(),
            "function_declaration" | "method_declaration"
        ) {
            continue;
        }
        let (Some(name), Some(body)) = (decl.field("name"), decl.field("body")) else {
            continue;
        };
        let body_text = text(body, src);
        let may_start = body_text.contains("go ");
        let may_end = body_text.contains("Goexit")
            || TEST_GOEXIT_METHODS.iter().any(|m| body_text.contains(m))
            || FAIL_NOW_ASSERTIONS
                .iter()
                .any(|(path, _)| imports.local_names_of(path).is_some());
        if !may_start && !may_end {
            continue;
        }
        let scope = Signature::of(decl, src, imports);
        let facts = GoFacts {
            ends_goroutine: may_end
                .then(|| goroutine_end_in(body, src, imports, &scope))
                .flatten(),
            starts: if may_start {
                started_by_name(decl, body, src, imports, &scope)
            } else {
                Vec::new()
            },
        };
        if facts != GoFacts::default() {
            let receiver_type = scope.receiver.as_ref().map(|(_, t)| t.as_str());
            out.insert(
                crate::summary::summary_key(receiver_type, text(name, src)),
                facts,
            );
        }
    }
    out
}

/// The receiver and parameters of a declaration, by name, with their types: what a name in its
/// body means when no local shadows it.
struct Signature<'s> {
    /// The receiver's name and its type's name.
    receiver: Option<(&'s str, String)>,
    params: Vec<(&'s str, Ty)>,
}

impl<'s> Signature<'s> {
    fn of(decl: Node, src: &'s str, imports: &Imports) -> Signature<'s> {
        let mut receiver = None;
        if let Some(param) = decl
            .field("receiver")
            .and_then(|r| named_children(r).next())
        {
            let ty = param.field("type").map(|t| Ty::from_node(t, src, imports));
            if let (Some(name), Some(Ty::Named { pkg, name: ty })) =
                (param.field("name"), ty.as_ref().map(Ty::deref))
            {
                if pkg.is_empty() {
                    receiver = Some((text(name, src), ty.clone()));
                }
            }
        }
        let mut params = Vec::new();
        if let Some(list) = decl.field("parameters") {
            for param in named_children(list) {
                let Some(ty) = param.field("type") else {
                    continue;
                };
                let ty = Ty::from_node(ty, src, imports);
                for name in crate::types::names_of(param) {
                    params.push((text(name, src), ty.clone()));
                }
            }
        }
        Signature { receiver, params }
    }

    fn param(&self, name: &str) -> Option<&Ty> {
        self.params.iter().find(|(n, _)| *n == name).map(|(_, t)| t)
    }
}

/// The first call of the body (outside function literals, which may run elsewhere) that ends
/// the goroutine: `t.Fatal…` on a testing-handle parameter, `runtime.Goexit()`, a failing-now
/// assertion.
fn goroutine_end_in(body: Node, src: &str, imports: &Imports, scope: &Signature) -> Option<String> {
    let mut found = None;
    goconc_syntax::walk_calls(body, src, |n| {
        if found.is_some() || n.kind_str() == "func_literal" {
            return false;
        }
        if n.kind_str() != "call_expression" {
            return true;
        }
        let Some(function) = n.field("function").map(goconc_syntax::unparen) else {
            return true;
        };
        if function.kind_str() != "selector_expression" {
            return true;
        }
        let (Some(operand), Some(field)) = (function.field("operand"), function.field("field"))
        else {
            return true;
        };
        let (root, method) = (text(operand, src), text(field, src));
        let ends = if operand.kind_str() != "identifier" {
            false
        } else if let Some(ty) = scope.param(root) {
            crate::sync_calls::is_testing_handle(ty) && TEST_GOEXIT_METHODS.contains(&method)
        } else {
            match imports.path_of(root) {
                Some("runtime") => method == "Goexit",
                Some(path) => FAIL_NOW_ASSERTIONS.iter().any(|(p, names)| {
                    *p == path && names.is_none_or(|names| names.contains(&method))
                }),
                None => false,
            }
        };
        if ends {
            found = Some(text(function, src).to_string());
        }
        true
    });
    found
}

/// The package functions and methods the body starts by name with `go`.
fn started_by_name(
    decl: Node,
    body: Node,
    src: &str,
    imports: &Imports,
    scope: &Signature,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    goconc_syntax::walk_calls(body, src, |n| {
        if n.kind_str() != "go_statement" {
            return true;
        }
        let Some(call) = named_children(n).next().map(goconc_syntax::unparen) else {
            return false;
        };
        let Some(function) = call.field("function").map(goconc_syntax::unparen) else {
            return true;
        };
        let key = match function.kind_str() {
            "identifier" => {
                let name = text(function, src);
                (!declared_in(decl, body, name, src)).then(|| name.to_string())
            }
            "selector_expression" => {
                let (Some(operand), Some(field)) =
                    (function.field("operand"), function.field("field"))
                else {
                    return true;
                };
                let operand = goconc_syntax::unparen(operand);
                let root = text(operand, src);
                let type_name = if operand.kind_str() != "identifier" {
                    None
                } else if scope.receiver.as_ref().is_some_and(|(r, _)| *r == root) {
                    scope.receiver.as_ref().map(|(_, t)| t.clone())
                } else if let Some(ty) = scope.param(root) {
                    match ty.deref() {
                        Ty::Named { pkg, name } if pkg.is_empty() => Some(name.clone()),
                        _ => None,
                    }
                } else if imports.path_of(root).is_some() {
                    None
                } else {
                    local_composite_type(body, root, src)
                };
                type_name.map(|t| format!("{t}.{}", text(field, src)))
            }
            _ => None,
        };
        if let Some(key) = key {
            if !out.contains(&key) {
                out.push(key);
            }
        }
        true
    });
    out
}

/// Is `name` a parameter, result, receiver or local of the declaration (so not a package
/// function)?
fn declared_in(decl: Node, body: Node, name: &str, src: &str) -> bool {
    let declares = |list: Option<Node>| {
        list.is_some_and(|l| {
            named_children(l).any(|p| {
                crate::types::names_of(p)
                    .iter()
                    .any(|n| text(*n, src) == name)
            })
        })
    };
    if declares(decl.field("parameters"))
        || declares(decl.field("receiver"))
        || declares(decl.field("result"))
    {
        return true;
    }
    let mut found = false;
    goconc_syntax::walk(body, |n| {
        if found {
            return false;
        }
        match n.kind_str() {
            "short_var_declaration" | "range_clause" => {
                if let Some(left) = n.field("left") {
                    found = named_children(left).any(|i| text(i, src) == name);
                }
            }
            "var_spec" | "const_spec" => {
                found = crate::types::names_of(n)
                    .iter()
                    .any(|i| text(*i, src) == name);
            }
            "parameter_declaration" | "variadic_parameter_declaration" => {
                found = crate::types::names_of(n)
                    .iter()
                    .any(|i| text(*i, src) == name);
            }
            _ => {}
        }
        !found
    });
    found
}

/// The type of a local made by `name := &T{…}`, `name := T{…}` or `name := new(T)` in the body
/// (the first such declaration), for a type `T` of the package.
fn local_composite_type(body: Node, name: &str, src: &str) -> Option<String> {
    let mut found = None;
    goconc_syntax::walk(body, |n| {
        if found.is_some() {
            return false;
        }
        if n.kind_str() != "short_var_declaration" {
            return true;
        }
        let (Some(left), Some(right)) = (n.field("left"), n.field("right")) else {
            return true;
        };
        let names: Vec<Node> = named_children(left).collect();
        let values: Vec<Node> = named_children(right).collect();
        if names.len() != values.len() {
            return true;
        }
        for (ident, value) in names.iter().zip(values) {
            if text(*ident, src) != name {
                continue;
            }
            let mut value = goconc_syntax::unparen(value);
            if value.kind_str() == "unary_expression" {
                if let Some(operand) = value.field("operand") {
                    value = goconc_syntax::unparen(operand);
                }
            }
            let ty = match value.kind_str() {
                "composite_literal" => value.field("type"),
                "call_expression"
                    if value
                        .field("function")
                        .is_some_and(|f| text(f, src) == "new") =>
                {
                    value
                        .field("arguments")
                        .and_then(|a| named_children(a).next())
                }
                _ => None,
            };
            found = ty
                .filter(|t| t.kind_str() == "type_identifier")
                .map(|t| text(t, src).to_string());
        }
        true
    });
    found
}
