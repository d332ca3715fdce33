//! Which package variables and struct fields a file accesses through `sync/atomic` functions
//! (`atomic.AddInt64(&s.n, 1)`, `atomic.LoadInt32(&ready)`).
//!
//! Collected from syntax alone per file ([`super::FileDecls::atomics`], owned data a server keeps
//! per file); [`resolve`] turns the accesses of every file into keys (`Counter.n`, or a package
//! variable's name) once the package's struct types are merged, so that a plain access in one
//! file meets an atomic one in another.

use crate::HashMap;
use goconc_syntax::NodeExt;

use tree_sitter::Node;

use super::imports::Imports;
use super::package::PackageModel;
use super::types::{names_of, Ty};
use goconc_syntax::{call_args, named_children, path_root, text, unparen, walk};

/// What an atomically accessed path starts from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AtomicRoot {
    /// A value of a type of the package: the receiver or a parameter (`Counter` for `c.n` in a
    /// method of `*Counter`).
    Type(String),
    /// A package-level variable.
    Var(String),
}

/// One call of a `sync/atomic` function on `&root.fields…`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AtomicAccess {
    pub root: AtomicRoot,
    /// The fields selected after the root (`["stats", "n"]` for `&s.stats.n`).
    pub fields: Vec<String>,
    /// The function called (`AddInt64`).
    pub func: String,
    /// Byte offset of the call in its file.
    pub offset: usize,
}

/// One atomic access to a key, package-wide (the least by function name, then offset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AtomicUse {
    pub func: String,
    pub offset: usize,
}

const OPS: &[&str] = &[
    "CompareAndSwap",
    "Add",
    "Load",
    "Store",
    "Swap",
    "And",
    "Or",
];
const TYPES: &[&str] = &["Int32", "Int64", "Uint32", "Uint64", "Uintptr", "Pointer"];

/// Splits a `sync/atomic` function name (`AddInt64` → (`Add`, `Int64`)).
pub fn split_func(name: &str) -> Option<(&'static str, &'static str)> {
    let op = OPS.iter().find(|op| name.starts_with(**op))?;
    let ty = TYPES.iter().find(|t| &name[op.len()..] == **t)?;
    Some((op, ty))
}

/// `atomic.AddInt64(…)` with `atomic` naming `sync/atomic`: the function name.
pub fn atomic_func<'s>(call: Node, src: &'s str, imports: &Imports) -> Option<&'s str> {
    let function = unparen(call.field("function")?);
    if function.kind_str() != "selector_expression" {
        return None;
    }
    let operand = function.field("operand")?;
    if operand.kind_str() != "identifier" || !imports.is(text(operand, src), "sync/atomic") {
        return None;
    }
    let name = text(function.field("field")?, src);
    split_func(name).map(|_| name)
}

/// The expression whose address is the first argument (`s.n` in `atomic.AddInt64(&s.n, 1)`).
pub fn addressed_arg(call: Node) -> Option<Node> {
    let first = unparen(*call_args(call).first()?);
    if first.kind_str() != "unary_expression" || first.child(0).map(|o| o.kind_str()) != Some("&") {
        return None;
    }
    first.field("operand").map(unparen)
}

/// Atomic accesses to fields and package variables in a file.
/// Atomic accesses in some of a file's top-level declarations (an incremental analysis asks for
/// the ones that changed).
pub fn collect_in(items: &[Node], src: &str, imports: &Imports) -> Vec<AtomicAccess> {
    let mut out = Vec::new();
    if !imports.imports("sync/atomic") {
        return out;
    }
    // `atomic.` under whatever name the file imports sync/atomic as: functions without it are
    // skipped unread.
    let needles: Vec<String> = imports
        .local_names_of("sync/atomic")
        .map(|n| format!("{n}."))
        .into_iter()
        .collect();
    for &decl in items {
        if !matches!(
            decl.kind_str(),
            "function_declaration" | "method_declaration"
        ) {
            continue;
        }
        let decl_text = text(decl, src);
        if !needles.iter().any(|n| decl_text.contains(n.as_str())) {
            continue;
        }
        let mut typed: HashMap<&str, String> = HashMap::default(); // receiver and parameters of a package type
        let mut locals: Vec<&str> = Vec::new();
        for field in ["receiver", "parameters"] {
            let Some(list) = decl.field(field) else {
                continue;
            };
            for param in named_children(list) {
                let ty = param.field("type").map(|t| Ty::from_node(t, src, imports));
                for name in names_of(param) {
                    let name = text(name, src);
                    match ty.as_ref().map(Ty::deref) {
                        Some(Ty::Named { pkg, name: t }) if pkg.is_empty() => {
                            typed.insert(name, t.clone());
                        }
                        _ => locals.push(name),
                    }
                }
            }
        }
        // Names the function's literals and bodies declare shadow package variables.
        locals.extend(super::summary::declared_names(decl, src, false));
        walk(decl, |n| {
            if n.kind_str() != "call_expression" {
                return true;
            }
            let Some(func) = atomic_func(n, src, imports) else {
                return true;
            };
            let Some(arg) = addressed_arg(n) else {
                return true;
            };
            let Some(path) = goconc_syntax::access_path(arg, src) else {
                return true;
            };
            let Some(root_ident) = path_root(arg) else {
                return true;
            };
            let root_name = text(root_ident, src);
            let fields: Vec<String> = path.split('.').skip(1).map(str::to_string).collect();
            let root = if let Some(t) = typed.get(root_name) {
                if fields.is_empty() || locals.contains(&root_name) {
                    return true;
                }
                AtomicRoot::Type(t.clone())
            } else if locals.contains(&root_name) {
                return true;
            } else {
                AtomicRoot::Var(root_name.to_string())
            };
            out.push(AtomicAccess {
                root,
                fields,
                func: func.to_string(),
                offset: n.start_byte(),
            });
            true
        });
    }
    out
}

/// Keys of the accesses of every file of a package: `Owner.field` for a field (the struct type
/// that declares it, through embedding), the variable's name for a package variable.
pub fn resolve<'a>(
    package: &PackageModel,
    accesses: impl IntoIterator<Item = &'a AtomicAccess>,
) -> HashMap<String, AtomicUse> {
    let mut out: HashMap<String, AtomicUse> = HashMap::default();
    for access in accesses {
        let Some(key) = key_of(package, access) else {
            continue;
        };
        // The least access by (function, offset), not the first: the answer must not depend
        // on the order the files were merged in (a server lays one file over the others).
        let later = |known: &AtomicUse| (&access.func, access.offset) < (&known.func, known.offset);
        if out.get(&key).is_none_or(later) {
            let func = access.func.clone();
            out.insert(
                key,
                AtomicUse {
                    func,
                    offset: access.offset,
                },
            );
        }
    }
    out
}

fn key_of(package: &PackageModel, access: &AtomicAccess) -> Option<String> {
    let mut ty = match &access.root {
        AtomicRoot::Type(t) => Ty::named("", t),
        AtomicRoot::Var(v) => {
            let ty = package.var(v)?;
            if access.fields.is_empty() {
                return Some(v.clone());
            }
            ty.clone()
        }
    };
    let (last, path) = access.fields.split_last()?;
    for f in path {
        ty = package.field_type(&ty, f)?;
    }
    owner_key(package, &ty, last)
}

/// `Owner.field` for field `name` of a value of type `ty`: the struct type that declares it,
/// looking through pointers and embedded fields as Go promotes them.
pub fn owner_key(package: &PackageModel, ty: &Ty, name: &str) -> Option<String> {
    let mut level = vec![ty.clone()];
    for _depth in 0..4 {
        let mut next = Vec::new();
        for t in &level {
            let Some(fields) = package.fields_of(t) else {
                continue;
            };
            if fields.iter().any(|f| f.name == name) {
                return match t.deref() {
                    Ty::Named { pkg, name: owner } if pkg.is_empty() => {
                        Some(format!("{owner}.{name}"))
                    }
                    _ => None,
                };
            }
            next.extend(fields.iter().filter(|f| f.embedded).map(|f| f.ty.clone()));
        }
        if next.is_empty() {
            break;
        }
        level = next;
    }
    None
}
