//! How rules name the code they talk about in messages.

use goconc_model::FileModel;
use goconc_syntax::{text, NodeExt};

/// The name of a function of the model, for messages (`` `fetch` ``, or "the enclosing function
/// literal").
pub(crate) fn function_name(model: &FileModel, function: usize) -> String {
    let Some(f) = model.functions.get(function) else {
        return "the function".into();
    };
    match f.node.field("name") {
        Some(name) => format!("`{}`", text(name, model.src)),
        None => "the enclosing function literal".into(),
    }
}

/// How a function leaves by `exit`, for a message ("… when `f` returns at line 12 without
/// receiving"): "returns
/// at line 12", "stops at line 14 (`t.Fatalf`)", "ends"; with no exit, by going on to the next
/// iteration of the loop that makes the channel anew, when `next_iteration`.
pub(crate) fn how_it_leaves(
    cx: &crate::Context,
    exit: Option<tree_sitter::Node>,
    next_iteration: bool,
) -> Option<String> {
    Some(match exit {
        Some(exit) if exit.kind_str() == "return_statement" => {
            format!(
                "returns at line {}",
                crate::finding::LineOf(exit.start_byte())
            )
        }
        Some(exit) if exit.kind_str() == "expression_statement" => {
            let stop = goconc_syntax::statement_call(exit)
                .and_then(|c| c.field("function"))
                .map_or("", |f| text(f, cx.src));
            format!(
                "stops at line {} (`{stop}`)",
                crate::finding::LineOf(exit.start_byte())
            )
        }
        Some(_) => "ends".to_string(),
        None if next_iteration => {
            "goes on to its next iteration (which makes a new channel)".to_string()
        }
        None => return None,
    })
}
