//! Go text that quick fixes of several families write.

use tree_sitter::Node;

use goconc_model::types::results_of;
use goconc_model::{FileModel, Ty};
use goconc_syntax::NodeExt;

/// For a function whose last result is `error`, the Go text of the other results' zero values
/// (`["0", "nil"]` for `(int, []byte, error)`). None when the last result is not `error` or a
/// zero value is not simple to write (a type of another package, a type parameter).
fn zero_values_before_error(model: &FileModel, function: Node) -> Option<Vec<String>> {
    let results = results_of(function.field("result"), model.src, &model.imports);
    let (last, others) = results.split_last()?;
    if !last.is_named("", "error") {
        return None;
    }
    others.iter().map(zero_value).collect()
}

/// `return <zeros>, err` for the function, or None (see [`zero_values_before_error`]).
pub(crate) fn return_error(model: &FileModel, function: Node, err: &str) -> Option<String> {
    let mut parts = zero_values_before_error(model, function)?;
    parts.push(err.to_string());
    Some(format!("return {}", parts.join(", ")))
}

fn zero_value(ty: &Ty) -> Option<String> {
    Some(match ty {
        Ty::Named { pkg, name } if pkg.is_empty() => match name.as_str() {
            "int" | "int8" | "int16" | "int32" | "int64" | "uint" | "uint8" | "uint16"
            | "uint32" | "uint64" | "uintptr" | "byte" | "rune" | "float32" | "float64"
            | "complex64" | "complex128" => "0".to_string(),
            "string" => "\"\"".to_string(),
            "bool" => "false".to_string(),
            "error" | "any" => "nil".to_string(),
            // A struct's `T{}` would need the type arguments of a generic type: no fix.
            _ => return None,
        },
        Ty::Pointer(_)
        | Ty::Slice(_)
        | Ty::Map(..)
        | Ty::Chan(_)
        | Ty::Func { .. }
        | Ty::Interface => "nil".to_string(),
        _ => return None,
    })
}
