//! `atomic-typed-available`: `atomic.AddInt64(&s.n, 1)` on a plain integer field that could be an
//! `atomic.Int64` (Go ≥ 1.19).

use crate::finding::{Finding, Severity};
use crate::{Context, Family, RuleMeta};
use goconc_model::atomics::split_func;
use goconc_model::types::names_of;
use goconc_model::Ty;
use goconc_syntax::NodeExt;
use goconc_syntax::{named_children, text};

pub static META: RuleMeta = RuleMeta {
    id: "atomic-typed-available",
    family: Family::Atomic,
    severity: Severity::Hint,
    summary:
        "`atomic.AddInt64(&s.n, 1)` style on a field that could be `atomic.Int64` (Go ≥ 1.19).",
    fix: None,
    doc: r#"
## Why it matters
Since Go 1.19 `sync/atomic` has types (`atomic.Int64`, `atomic.Uint32`, `atomic.Bool`, …) whose
methods are the only way to reach the value. With a plain `int64` field and `atomic.AddInt64`,
nothing stops the next change from reading the field directly (a data race), and on 32-bit
platforms a 64-bit field must also be 8-byte aligned by hand. The typed values close both holes.

## Example
```go
type Stats struct {
	hits int64
}

func (s *Stats) Hit() { atomic.AddInt64(&s.hits, 1) }
```
```go
type Stats struct {
	hits atomic.Int64
}

func (s *Stats) Hit() { s.hits.Add(1) }
```

## Fix
Change the field's type and every access to it (`s.hits.Add(1)`, `s.hits.Load()`). No quick fix:
the change spans every file that touches the field.

## When it stays silent
- The module's Go version is below 1.19.
- The field is exported (other packages may use it), is not of a plain integer type, or is a
  package-level variable or a local.
- The hint is given once per field, at its declaration.
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    let atomics = cx.model.package.atomics();
    if !cx.go_version.at_least(19) || atomics.is_empty() {
        return;
    }
    // At the field's declaration: one hint per field, where the change starts.
    for &decl in cx
        .model
        .items
        .iter()
        .filter(|n| n.kind_str() == "type_declaration")
    {
        for spec in named_children(decl).filter(|n| n.kind_str() == "type_spec") {
            let (Some(name), Some(ty)) = (spec.field("name"), spec.field("type")) else {
                continue;
            };
            if ty.kind_str() != "struct_type" {
                continue;
            }
            let owner = text(name, cx.src);
            let Some(list) = named_children(ty).find(|n| n.kind_str() == "field_declaration_list")
            else {
                continue;
            };
            for field_decl in named_children(list).filter(|n| n.kind_str() == "field_declaration") {
                let Some(type_node) = field_decl.field("type") else {
                    continue;
                };
                let plain = match Ty::from_node(type_node, cx.src, &cx.model.imports) {
                    Ty::Named { pkg, name } if pkg.is_empty() => name,
                    _ => continue,
                };
                for ident in names_of(field_decl) {
                    let field = text(ident, cx.src);
                    if field.starts_with(|c: char| c.is_ascii_uppercase()) {
                        continue;
                    }
                    let key = format!("{owner}.{field}");
                    let Some(used) = atomics.get(&key) else {
                        continue;
                    };
                    let Some((_, typed)) = split_func(&used.func) else {
                        continue;
                    };
                    if !plain.eq_ignore_ascii_case(typed) {
                        continue;
                    }
                    out.push(META.finding(
                        ident.byte_span(),
                        format!(
                            "`{key}` is a plain `{plain}` used through `atomic.{}`: as an `atomic.{typed}` (Go 1.19) every access to it would be atomic",
                            used.func
                        ),
                    ));
                }
            }
        }
    }
}
