//! Node kinds by number. tree-sitter's `Node::kind()` measures and validates a C string on every
//! call; the model's walk touches every node of a file, so it asks for the kind's number and looks
//! up what the engine cares about in a table built once.

use std::sync::OnceLock;

/// The index records nodes of this kind.
pub const INDEX: u8 = 1;
/// The model declares names or functions at nodes of this kind.
pub const DECLARES: u8 = 2;
/// Nodes of this kind bound the scope of a local declaration.
pub const SCOPE: u8 = 4;

const INDEXED: &[&str] = &[
    "call_expression",
    "go_statement",
    "defer_statement",
    "for_statement",
    "func_literal",
    "send_statement",
    "assignment_statement",
    "short_var_declaration",
    "var_spec",
    "return_statement",
    "composite_literal",
];

const DECLARING: &[&str] = &[
    "function_declaration",
    "method_declaration",
    "func_literal",
    "short_var_declaration",
    "var_declaration",
    "receive_statement",
    "type_switch_statement",
    "range_clause",
];

const SCOPES: &[&str] = &[
    "block",
    "if_statement",
    "for_statement",
    "expression_switch_statement",
    "type_switch_statement",
    "communication_case",
    "expression_case",
    "default_case",
    "type_case",
    "func_literal",
    "function_declaration",
    "method_declaration",
];

/// The flags of a node kind number.
pub fn flags(kind_id: u16) -> u8 {
    static TABLE: OnceLock<Vec<u8>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let language: tree_sitter::Language = tree_sitter_go::LANGUAGE.into();
        (0..language.node_kind_count())
            .map(|id| {
                let Some(name) = language.node_kind_for_id(id as u16) else {
                    return 0;
                };
                // Anonymous tokens can share a name with a named kind (`func`): only named kinds.
                if !language.node_kind_is_named(id as u16) {
                    return 0;
                }
                let mut flags = 0;
                if INDEXED.contains(&name) {
                    flags |= INDEX;
                }
                if DECLARING.contains(&name) {
                    flags |= DECLARES;
                }
                if SCOPES.contains(&name) {
                    flags |= SCOPE;
                }
                flags
            })
            .collect()
    });
    table.get(kind_id as usize).copied().unwrap_or(0)
}
