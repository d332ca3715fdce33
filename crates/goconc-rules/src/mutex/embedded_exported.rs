//! `mutex-embedded-exported`: an exported struct embeds `sync.Mutex` or `sync.RWMutex`, which makes
//! `Lock` and `Unlock` part of its API.

use goconc_syntax::NodeExt;
use tree_sitter::Node;

use crate::finding::{Finding, Severity, TextEdit};
use crate::{Context, Family, RuleMeta};
use goconc_model::sync_calls::LockOp;
use goconc_model::Ty;
use goconc_syntax::{method_call, named_children, text, unparen, walk};

pub static META: RuleMeta = RuleMeta {
    id: "mutex-embedded-exported",
    family: Family::Mutex,
    severity: Severity::Hint,
    summary:
        "An exported struct embeds `sync.Mutex`/`RWMutex`, making `Lock`/`Unlock` part of its API.",
    fix: Some("make it a named field `mu sync.Mutex`"),
    doc: r#"
## Why it matters
Embedding promotes the mutex's methods: every user of the exported type can call `Lock` and
`Unlock` on it, and some will — holding your lock from outside while your methods take it too.
The locking discipline leaks out of the package and can never be changed without breaking users.

## Example
```go
type Registry struct {
	sync.Mutex
	services map[string]string
}

func (r *Registry) Add(name, addr string) {
	r.Lock()
	defer r.Unlock()
	r.services[name] = addr
}
```
```go
type Registry struct {
	mu       sync.Mutex
	services map[string]string
}

func (r *Registry) Add(name, addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.services[name] = addr
}
```

## Fix
The quick fix replaces the embedded field with `mu sync.Mutex` (or `sync.RWMutex`) and rewrites
the promoted calls of this file (`r.Lock()` → `r.mu.Lock()`). It is offered only when the type
has no field `mu` already, when no other file of the package calls the promoted methods, and when
the file never names the embedded field in a composite literal. Code outside the package that
called `Lock` on the type stops compiling — which is the point: decide if that API was meant.

## When it stays silent
Unexported types, and a pointer or named mutex field.
"#,
};

/// Whether a type declaration's text can hold an embedded mutex: a line whose first word ends in
/// `Mutex`, or a line with `{` or `;` where fields may follow other text. A quick text test so
/// the tree of every struct is not walked on each keystroke; the tree decides.
fn may_embed_a_mutex(declaration: &str) -> bool {
    declaration.contains("Mutex")
        && declaration.lines().any(|line| {
            line.contains("Mutex")
                && (line.contains(['{', ';'])
                    || line
                        .split_whitespace()
                        .next()
                        .is_some_and(|first| first.trim_start_matches('*').contains("Mutex")))
        })
}

/// Whether the file declares an exported struct type that embeds a mutex: then this rule's fix,
/// reported at the type, rewrites uses inside every function of the file, so an incremental
/// analysis must look at all of them.
pub(crate) fn fix_reads_every_function(decls: &goconc_model::FileDecls) -> bool {
    decls.structs.iter().any(|(name, fields)| {
        name.starts_with(|c: char| c.is_ascii_uppercase())
            && fields.iter().any(|f| {
                f.embedded
                    && matches!(&f.ty, Ty::Named { pkg, name } if pkg == "sync" && (name == "Mutex" || name == "RWMutex"))
            })
    })
}

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    let declarations = cx.model.items.iter().copied();
    let declarations = declarations.filter(|n| n.kind_str() == "type_declaration");
    for item in declarations.filter(|n| may_embed_a_mutex(text(*n, cx.src))) {
        for spec in named_children(item).filter(|n| n.kind_str() == "type_spec") {
            let (Some(name), Some(ty)) = (spec.field("name"), spec.field("type")) else {
                continue;
            };
            let type_name = text(name, cx.src);
            if ty.kind_str() != "struct_type"
                || !type_name.starts_with(|c: char| c.is_ascii_uppercase())
            {
                continue;
            }
            let Some(list) = named_children(ty).find(|n| n.kind_str() == "field_declaration_list")
            else {
                continue;
            };
            for field in named_children(list).filter(|n| n.kind_str() == "field_declaration") {
                // Cheapest test first: this runs over every struct of the file on each keystroke.
                let Some(field_type) = field
                    .field("type")
                    .filter(|t| text(*t, cx.src).ends_with("Mutex"))
                else {
                    continue;
                };
                if field.field("name").is_some() {
                    continue;
                }
                let resolved = Ty::from_node(field_type, cx.src, &cx.model.imports);
                let kind = match resolved {
                    Ty::Named { ref pkg, ref name }
                        if pkg == "sync" && (name == "Mutex" || name == "RWMutex") =>
                    {
                        name.clone()
                    }
                    _ => continue,
                };
                let finding = META.finding(
                    field.byte_span(),
                    format!("exported type `{type_name}` embeds `sync.{kind}`: `Lock` and `Unlock` become part of its API, and callers outside the package can hold its lock"),
                );
                let finding = match rename_fix(cx, type_name, &kind, field, list) {
                    Some(edits) => {
                        finding.with_unsafe_fix(format!("Make it a field `mu sync.{kind}`"), edits)
                    }
                    None => finding,
                };
                out.push(finding);
            }
        }
    }
}

fn rename_fix(
    cx: &Context,
    type_name: &str,
    kind: &str,
    field: Node,
    list: Node,
) -> Option<Vec<TextEdit>> {
    let package = cx.model.package;
    let owner = Ty::named("", type_name);
    if package.field_type(&owner, "mu").is_some()
        || named_children(list).any(|f| f.field("name").is_some_and(|n| text(n, cx.src) == "mu"))
    {
        return None;
    }
    let mut edits = vec![realigned_fields(cx, list, field, kind)?];
    let mut blocked = false;
    walk(cx.model.root, |n| {
        if blocked {
            return false;
        }
        match n.kind_str() {
            "keyed_element" => {
                if n.field("key")
                    .or_else(|| named_children(n).next())
                    .is_some_and(|k| text(k, cx.src) == kind)
                {
                    blocked = true;
                }
            }
            "selector_expression" => {
                // `x.Mutex` naming the embedded field directly.
                let (Some(operand), Some(f)) = (n.field("operand"), n.field("field")) else {
                    return true;
                };
                if text(f, cx.src) == kind && cx.model.type_of(operand).deref() == &owner {
                    edits.push(TextEdit {
                        range: f.byte_span(),
                        new_text: "mu".into(),
                    });
                }
            }
            "call_expression" => {
                if let Some(call) = method_call(n) {
                    let method = text(call.method, cx.src);
                    if LockOp::from_name(method).is_some()
                        && cx.model.type_of(call.receiver).deref() == &owner
                    {
                        let receiver = unparen(call.receiver);
                        edits.push(TextEdit {
                            range: receiver.end_offset()..receiver.end_offset(),
                            new_text: ".mu".into(),
                        });
                    }
                }
            }
            _ => {}
        }
        true
    });
    if blocked {
        return None;
    }
    // Promoted calls in other files of the package would stop compiling.
    let promoted_in_package: usize = package
        .summaries()
        .filter(|(key, _)| key.split('.').next() == Some(type_name))
        .map(|(_, s)| {
            s.acquires
                .iter()
                .filter(|a| a.from_receiver && a.path.is_empty())
                .count()
        })
        .sum();
    let promoted_acquires_here = promoted_acquires_in_file(cx, type_name);
    if promoted_in_package > promoted_acquires_here {
        return None;
    }
    Some(edits)
}

/// Promoted `recv.Lock()`/`RLock()` calls in this file's methods of the type, as the package
/// summaries count them.
fn promoted_acquires_in_file(cx: &Context, type_name: &str) -> usize {
    cx.model
        .functions
        .iter()
        .filter(|f| f.receiver_type.as_deref() == Some(type_name))
        .filter_map(|f| {
            let name = text(f.node.field("name")?, cx.src);
            cx.model.package.summary(&format!("{type_name}.{name}"))
        })
        .map(|s| {
            s.acquires
                .iter()
                .filter(|a| a.from_receiver && a.path.is_empty())
                .count()
        })
        .sum()
}

/// The field list with `field` renamed to `mu sync.KIND`, every line realigned as gofmt would.
fn realigned_fields(cx: &Context, list: Node, field: Node, kind: &str) -> Option<TextEdit> {
    let src = cx.src;
    let open = list.start_byte();
    let close = list.end_offset().checked_sub(1)?;
    let first_line = open + 1 + src.get(open + 1..)?.find('\n')? + 1;
    let close_line = goconc_syntax::line_start(src, close);
    if first_line > close_line || !src[close_line..close].trim().is_empty() {
        return None;
    }
    let children: Vec<Node> = {
        let mut cursor = list.walk();
        list.named_children(&mut cursor).collect()
    };
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let mut offset = first_line;
    for line in src[first_line..close_line].split_inclusive('\n') {
        let body = line.trim_end_matches('\n').trim_end_matches('\r');
        let indent = goconc_syntax::line_indent(src, offset).to_string();
        let starts: Vec<Node> = children
            .iter()
            .copied()
            .filter(|n| n.start_byte() >= offset && n.start_byte() < offset + body.len())
            .collect();
        let cells = match starts.as_slice() {
            [] if body.trim().is_empty() => vec![String::new()],
            [comment] if comment.kind_str() == "comment" => vec![text(*comment, src).to_string()],
            [decl] | [decl, _] if decl.kind_str() == "field_declaration" => {
                if decl.end_position().row != decl.start_position().row {
                    return None;
                }
                let trailing = starts.get(1).filter(|c| c.kind_str() == "comment");
                if starts.len() == 2 && trailing.is_none() {
                    return None;
                }
                let mut cells = Vec::new();
                if *decl == field {
                    cells.push("mu".to_string());
                    cells.push(format!("sync.{kind}"));
                } else {
                    let names: Vec<&str> = goconc_model::types::names_of(*decl)
                        .into_iter()
                        .map(|n| text(n, src))
                        .collect();
                    if !names.is_empty() {
                        cells.push(names.join(", "));
                    }
                    cells.push(text(decl.field("type")?, src).to_string());
                }
                if let Some(tag) = decl.field("tag") {
                    cells.push(text(tag, src).to_string());
                }
                if let Some(comment) = trailing {
                    cells.push(text(*comment, src).to_string());
                }
                cells
            }
            _ => return None,
        };
        rows.push((indent, cells));
        offset += line.len();
    }
    let aligned = crate::gofmt::align(&rows.iter().map(|(_, c)| c.clone()).collect::<Vec<_>>());
    let newline = goconc_syntax::newline(src);
    let mut new_text = String::new();
    for ((indent, cells), line) in rows.iter().zip(aligned) {
        if !(cells.len() == 1 && cells[0].is_empty()) {
            new_text.push_str(indent);
            new_text.push_str(&line);
        }
        new_text.push_str(newline);
    }
    Some(TextEdit {
        range: first_line..close_line,
        new_text,
    })
}

#[cfg(test)]
mod tests {
    use super::may_embed_a_mutex;

    #[test]
    fn the_text_test_lets_every_embedding_through() {
        for embeds in [
            "type A struct {\n\tsync.Mutex\n\tn int\n}",
            "type A struct {\n\t*sync.RWMutex // shared\n}",
            "type A struct {\n\tsync.Mutex `json:\"-\"`\n}",
            "type A struct{ sync.Mutex; n int }",
            "type A struct { n int; sync.Mutex }",
            "type (\n\tA struct {\n\t\tMutex\n\t}\n)",
        ] {
            assert!(may_embed_a_mutex(embeds), "{embeds}");
        }
        for named in [
            "type A struct {\n\tmu sync.Mutex\n\tn  int\n}",
            "type A struct {\n\t// Mutex guards n.\n\tn int\n}",
            "type A int",
        ] {
            assert!(!may_embed_a_mutex(named), "{named}");
        }
    }
}
