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
