//! Types as far as the engine needs them, read from type syntax without a type checker.

use goconc_syntax::NodeExt;
use tree_sitter::Node;

use super::imports::Imports;
use goconc_syntax::{line_end_after_newline, line_start, named_children, text};

/// A Go type as written. Named types carry the import path of their package ("" for the package
/// being checked, and for predeclared names such as `int`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Ty {
    Named {
        pkg: String,
        name: String,
    },
    Pointer(Box<Ty>),
    Slice(Box<Ty>),
    Array(Box<Ty>),
    Map(Box<Ty>, Box<Ty>),
    Chan(Box<Ty>),
    Func {
        results: Vec<Ty>,
    },
    Struct(Vec<Field>),
    Interface,
    /// The several results of a call.
    Tuple(Vec<Ty>),
    #[default]
    Unknown,
}

/// A struct field. An embedded field is named after its type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Field {
    pub name: String,
    pub ty: Ty,
    pub embedded: bool,
    /// The mutex a `// guarded by mu` comment names for this field.
    pub guard: Option<String>,
}

/// Synchronisation values that must not be copied and that rules track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncKind {
    Mutex,
    RWMutex,
    WaitGroup,
    Once,
    Cond,
    Map,
    Pool,
    /// A `sync/atomic` typed value (`atomic.Int64`, `atomic.Value`, …).
    Atomic,
    /// A package type with pointer `Lock`/`Unlock` methods (the `noCopy` convention).
    NoCopy,
}

impl Ty {
    pub fn named(pkg: &str, name: &str) -> Ty {
        Ty::Named {
            pkg: pkg.to_string(),
            name: name.to_string(),
        }
    }

    pub fn pointer(to: Ty) -> Ty {
        Ty::Pointer(Box::new(to))
    }

    pub fn is_named(&self, pkg: &str, name: &str) -> bool {
        matches!(self, Ty::Named { pkg: p, name: n } if p == pkg && n == name)
    }

    /// The type a pointer points to, or the type itself.
    // Not `std::ops::Deref`: auto-deref from a pointer type to its pointee would hide bugs.
    #[allow(clippy::should_implement_trait)]
    pub fn deref(&self) -> &Ty {
        match self {
            Ty::Pointer(inner) => inner,
            other => other,
        }
    }

    pub fn is_pointer(&self) -> bool {
        matches!(self, Ty::Pointer(_))
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self, Ty::Unknown)
    }

    /// The element type of a slice, array, map (its value) or channel.
    pub fn element(&self) -> Option<&Ty> {
        match self.deref() {
            Ty::Slice(e) | Ty::Array(e) | Ty::Chan(e) | Ty::Map(_, e) => Some(e),
            _ => None,
        }
    }

    /// The `i`th of several results, or the type itself for `i == 0`.
    pub fn result(&self, i: usize) -> Ty {
        match self {
            Ty::Tuple(items) => items.get(i).cloned().unwrap_or_default(),
            other if i == 0 => other.clone(),
            _ => Ty::Unknown,
        }
    }

    /// The standard library synchronisation type this is (not through pointers).
    pub fn sync_kind(&self) -> Option<SyncKind> {
        let Ty::Named { pkg, name } = self else {
            return None;
        };
        match (pkg.as_str(), name.as_str()) {
            ("sync", "Mutex") => Some(SyncKind::Mutex),
            ("sync", "RWMutex") => Some(SyncKind::RWMutex),
            ("sync", "WaitGroup") => Some(SyncKind::WaitGroup),
            ("sync", "Once") => Some(SyncKind::Once),
            ("sync", "Cond") => Some(SyncKind::Cond),
            ("sync", "Map") => Some(SyncKind::Map),
            ("sync", "Pool") => Some(SyncKind::Pool),
            (
                "sync/atomic",
                "Bool" | "Int32" | "Int64" | "Uint32" | "Uint64" | "Uintptr" | "Value" | "Pointer",
            ) => Some(SyncKind::Atomic),
            _ => None,
        }
    }

    /// A short Go spelling for messages (`sync.Mutex`, `*Service`).
    pub fn display(&self) -> String {
        match self {
            Ty::Named { pkg, name } if pkg.is_empty() => name.clone(),
            Ty::Named { pkg, name } => {
                format!("{}.{}", pkg.rsplit('/').next().unwrap_or(pkg), name)
            }
            Ty::Pointer(t) => format!("*{}", t.display()),
            Ty::Slice(t) => format!("[]{}", t.display()),
            Ty::Array(t) => format!("[…]{}", t.display()),
            Ty::Map(k, v) => format!("map[{}]{}", k.display(), v.display()),
            Ty::Chan(t) => format!("chan {}", t.display()),
            Ty::Func { .. } => "func".into(),
            Ty::Struct(_) => "struct{…}".into(),
            Ty::Interface => "interface{…}".into(),
            Ty::Tuple(items) => {
                format!(
                    "({})",
                    items.iter().map(Ty::display).collect::<Vec<_>>().join(", ")
                )
            }
            Ty::Unknown => "?".into(),
        }
    }

    /// Reads a type from its syntax. Unknown shapes give `Ty::Unknown`, and so do the parts of
    /// a type nested deeper than [`MAX_TYPE_DEPTH`].
    pub fn from_node(node: Node, src: &str, imports: &Imports) -> Ty {
        Ty::from_node_at(node, src, imports, 0)
    }

    fn from_node_at(node: Node, src: &str, imports: &Imports, depth: usize) -> Ty {
        if depth > MAX_TYPE_DEPTH {
            return Ty::Unknown;
        }
        let child = |field: &str| node.field(field);
        let sub = |n: Option<Node>| {
            n.map_or(Ty::Unknown, |n| {
                Ty::from_node_at(n, src, imports, depth + 1)
            })
        };
        match node.kind_str() {
            "type_identifier" | "identifier" => {
                let name = text(node, src);
                Ty::Named {
                    pkg: String::new(),
                    name: name.to_string(),
                }
            }
            "qualified_type" => {
                let (Some(pkg), Some(name)) = (child("package"), child("name")) else {
                    return Ty::Unknown;
                };
                let local = text(pkg, src);
                let path = imports.path_of(local).unwrap_or(local);
                Ty::Named {
                    pkg: path.to_string(),
                    name: text(name, src).to_string(),
                }
            }
            "pointer_type" => Ty::pointer(sub(named_children(node).next())),
            "slice_type" => Ty::Slice(Box::new(sub(child("element")))),
            "array_type" | "implicit_length_array_type" => {
                Ty::Array(Box::new(sub(child("element"))))
            }
            "map_type" => Ty::Map(Box::new(sub(child("key"))), Box::new(sub(child("value")))),
            "channel_type" => Ty::Chan(Box::new(sub(child("value")))),
            "generic_type" => sub(child("type")),
            "parenthesized_type" | "type_elem" => sub(named_children(node).next()),
            "function_type" => Ty::Func {
                results: results_at(child("result"), src, imports, depth + 1),
            },
            "interface_type" => Ty::Interface,
            "struct_type" => Ty::Struct(struct_fields_at(node, src, imports, depth + 1)),
            _ => Ty::Unknown,
        }
    }
}

/// How deep a type read from syntax nests ([`Ty::from_node`]): far beyond real code, and low
/// enough that the recursive walks over a [`Ty`] (its drop too) stay shallow.
pub const MAX_TYPE_DEPTH: usize = 64;

/// The result types of a function signature's `result` node.
pub fn results_of(result: Option<Node>, src: &str, imports: &Imports) -> Vec<Ty> {
    results_at(result, src, imports, 0)
}

fn results_at(result: Option<Node>, src: &str, imports: &Imports, depth: usize) -> Vec<Ty> {
    let Some(result) = result else {
        return Vec::new();
    };
    if result.kind_str() != "parameter_list" {
        return vec![Ty::from_node_at(result, src, imports, depth)];
    }
    let mut out = Vec::new();
    for param in named_children(result) {
        let ty = param
            .field("type")
            .map_or(Ty::Unknown, |t| Ty::from_node_at(t, src, imports, depth));
        let names = names_of(param).len().max(1);
        out.extend(std::iter::repeat_n(ty, names));
    }
    // Kept in signatures and types for the whole check: a vector's first growth makes room
    // for four.
    out.shrink_to_fit();
    out
}

/// The identifiers a parameter or field declaration declares (`a, b int` → `a`, `b`).
pub fn names_of(decl: Node) -> Vec<Node> {
    let mut cursor = decl.walk();
    decl.children_by_field_name("name", &mut cursor).collect()
}

/// The fields of a `struct_type` node.
pub fn struct_fields(node: Node, src: &str, imports: &Imports) -> Vec<Field> {
    struct_fields_at(node, src, imports, 0)
}

fn struct_fields_at(node: Node, src: &str, imports: &Imports, depth: usize) -> Vec<Field> {
    let mut fields = Vec::new();
    let Some(list) = named_children(node).find(|n| n.kind_str() == "field_declaration_list") else {
        return fields;
    };
    for decl in named_children(list).filter(|n| n.kind_str() == "field_declaration") {
        let Some(type_node) = decl.field("type") else {
            continue;
        };
        let ty = Ty::from_node_at(type_node, src, imports, depth);
        let names = names_of(decl);
        if names.is_empty() {
            let name = match ty.deref() {
                Ty::Named { name, .. } => name.clone(),
                _ => continue,
            };
            // `*T` embedded: tree-sitter keeps the `*` as an anonymous token beside the type.
            let star = (0..decl.child_count())
                .filter_map(|i| decl.child(i))
                .any(|c| !c.is_named() && c.kind_str() == "*");
            let ty = if star { Ty::pointer(ty) } else { ty };
            fields.push(Field {
                name,
                ty,
                embedded: true,
                guard: None,
            });
        } else {
            for name in names {
                fields.push(Field {
                    name: text(name, src).to_string(),
                    ty: ty.clone(),
                    embedded: false,
                    guard: guard_comment(decl, src),
                });
            }
        }
    }
    fields.shrink_to_fit();
    fields
}

/// `// guarded by mu` (or `protected by s.mu`, `mu guards`) in a comment at the end of a field's
/// line or on the line above it: the name of the guarding mutex, without a receiver prefix.
fn guard_comment(decl: Node, src: &str) -> Option<String> {
    // Cheap first: either comment lies on the line above or the field's own, and most fields
    // have none that names a guard (the sibling lookups below are linear in the struct's
    // length).
    let line = line_start(src, decl.start_byte());
    let around =
        line_start(src, line.saturating_sub(1))..line_end_after_newline(src, decl.end_offset());
    let names_a_guard = |t: &str| {
        let t = t.to_ascii_lowercase();
        t.contains("guarded by ") || t.contains("protected by ")
    };
    if !src.get(around).is_some_and(names_a_guard) {
        return None;
    }
    let row = decl.start_position().row;
    let mut comments = Vec::new();
    if let Some(next) = decl
        .next_sibling()
        .filter(|n| n.kind_str() == "comment" && n.start_position().row == row)
    {
        comments.push(next);
    }
    // A comment on the line above counts only when it stands alone on its line (not the
    // trailing comment of the previous field).
    let alone = |c: &Node| {
        c.prev_sibling()
            .is_none_or(|p| p.end_position().row < c.start_position().row)
    };
    if let Some(prev) = decl
        .prev_sibling()
        .filter(|n| n.kind_str() == "comment" && n.end_position().row + 1 == row && alone(n))
    {
        comments.push(prev);
    }
    comments.into_iter().find_map(|c| {
        let lower = text(c, src).to_ascii_lowercase();
        let at = lower
            .find("guarded by ")
            .map(|i| i + 11)
            .or_else(|| lower.find("protected by ").map(|i| i + 13))?;
        let word: String = lower[at..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
            .collect();
        let word = word.trim_end_matches('.');
        let name = word.rsplit('.').next().unwrap_or(word);
        // Keep the original case of the name.
        let original = &text(c, src)[at..at + word.len()];
        (!name.is_empty()).then(|| original.rsplit('.').next().unwrap_or(original).to_string())
    })
}
