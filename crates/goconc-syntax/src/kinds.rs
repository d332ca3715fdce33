//! Node kinds by number. tree-sitter's `Node::kind()` measures and validates a C string on every
//! call; the model's walk touches every node of a file, so it asks for the kind's number and looks
//! up what the engine cares about in a table built once.

use std::sync::OnceLock;

use crate::NodeExt;

/// The index records nodes of this kind.
pub const INDEX: u8 = 1;
/// The model declares names or functions at nodes of this kind.
pub const DECLARES: u8 = 2;
/// Nodes of this kind bound the scope of a local declaration.
pub const SCOPE: u8 = 4;
/// Nothing below a node of this kind is indexed or declares a local: the model's walk passes
/// over it without entering. Tokens, names, literals and types — a third of a body's nodes and
/// the bulk of the cursor steps. (A type's array length may hold a call, `[unsafe.Sizeof(x)]T`:
/// a constant expression, nothing a rule starts from.)
pub const OPAQUE: u8 = 8;
/// An expression (or a statement made of expressions only): what is below it can be indexed or
/// declare only through a call or a function literal (whose signature has a `(`), so when its
/// text holds no `(` the model's walk passes over what is below it (`a.b.c`, `x == nil`, `i++`,
/// `T{a: 1}`, `x := y`). A declaring statement is read at the node itself, before that choice.
pub const EXPRESSION: u8 = 16;
/// Like [`EXPRESSION`], for a node whose own text holds one `(` (a call, its arguments, a
/// parenthesized expression, a type assertion): passed over when its text holds no other `(`
/// (`s.mu.Lock()`, `fmt.Sprint(a, b)`, `m(T{1})`) — a call is indexed where it is visited, and
/// nothing below such a call is.
pub const PARENTHESIZED: u8 = 32;

const INDEXED: &[&str] = &[
    "call_expression",
    "go_statement",
    "defer_statement",
    "for_statement",
    "func_literal",
    "send_statement",
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

const OPAQUES: &[&str] = &[
    "identifier",
    "field_identifier",
    "type_identifier",
    "package_identifier",
    "label_name",
    "blank_identifier",
    "int_literal",
    "float_literal",
    "imaginary_literal",
    "rune_literal",
    "raw_string_literal",
    "interpreted_string_literal",
    "nil",
    "true",
    "false",
    "iota",
    "comment",
    "qualified_type",
    "pointer_type",
    "slice_type",
    "array_type",
    "implicit_length_array_type",
    "map_type",
    "channel_type",
    "function_type",
    "struct_type",
    "interface_type",
    "generic_type",
    "type_arguments",
    "parenthesized_type",
    "negated_type",
    "type_parameter_list",
    "parameter_list",
    "type_declaration",
    "import_declaration",
    "const_declaration",
];

const EXPRESSIONS: &[&str] = &[
    "selector_expression",
    "binary_expression",
    "unary_expression",
    "index_expression",
    "slice_expression",
    "expression_list",
    "keyed_element",
    "literal_element",
    "inc_statement",
    "dec_statement",
    "expression_statement",
    "composite_literal",
    "literal_value",
    // Statements of expressions only; those that declare are read at the statement itself.
    "short_var_declaration",
    "var_declaration",
    "assignment_statement",
    "return_statement",
    "send_statement",
    "receive_statement",
    "range_clause",
];

const PARENTHESIZEDS: &[&str] = &[
    "call_expression",
    "argument_list",
    "parenthesized_expression",
    "type_assertion_expression",
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

/// Each list of kinds with the flag its kinds carry.
const KIND_FLAGS: &[(&[&str], u8)] = &[
    (INDEXED, INDEX),
    (DECLARING, DECLARES),
    (SCOPES, SCOPE),
    (OPAQUES, OPAQUE),
    (EXPRESSIONS, EXPRESSION),
    (PARENTHESIZEDS, PARENTHESIZED),
];

/// Whether the model's walk can pass over `node` (of kind flags `flags`) without entering it.
pub fn holds_nothing_to_record(node: tree_sitter::Node, flags: u8, src: &str) -> bool {
    if flags & OPAQUE != 0 {
        return true;
    }
    let own_parens = if flags & EXPRESSION != 0 {
        0
    } else if flags & PARENTHESIZED != 0 {
        1
    } else {
        return false;
    };
    // The end from the layout when it handed the node out: tree-sitter reads it from the
    // node's subtree, a cache miss per node of a large tree (a tenth of a check of 25,000
    // channel operations in one loop).
    let Some(text) = src.as_bytes().get(node.byte_span()) else {
        return false;
    };
    memchr::memchr_iter(b'(', text).nth(own_parens).is_none()
}

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
                // Anonymous tokens can share a name with a named kind (`func`): only named kinds
                // carry the engine's flags, and tokens are leaves.
                if !language.node_kind_is_named(id as u16) {
                    return OPAQUE;
                }
                KIND_FLAGS
                    .iter()
                    .filter(|(names, _)| names.contains(&name))
                    .fold(0, |flags, (_, flag)| flags | flag)
            })
            .collect()
    });
    table.get(kind_id as usize).copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A misspelt kind would silently never match: every name must be one of the grammar's
    /// named kinds.
    #[test]
    fn every_listed_kind_is_a_named_kind_of_the_grammar() {
        let language: tree_sitter::Language = tree_sitter_go::LANGUAGE.into();
        for name in KIND_FLAGS.iter().flat_map(|(names, _)| names.iter()) {
            let id = language.id_for_node_kind(name, true);
            assert_ne!(id, 0, "{name} is not a named kind of tree-sitter-go");
        }
    }

    /// What the walk never enters holds nothing it records: no kind it records is opaque, and
    /// a scope is always entered (a kind it records may be passed over below itself: a call or a
    /// declaring statement is visited, and recorded, first).
    #[test]
    fn what_the_walk_records_is_never_opaque() {
        let language: tree_sitter::Language = tree_sitter_go::LANGUAGE.into();
        for name in [INDEXED, DECLARING].concat() {
            let id = language.id_for_node_kind(name, true);
            assert_eq!(flags(id) & OPAQUE, 0, "{name}");
        }
        for name in SCOPES {
            let id = language.id_for_node_kind(name, true);
            assert_eq!(
                flags(id) & (OPAQUE | EXPRESSION | PARENTHESIZED),
                0,
                "{name}"
            );
        }
    }

    /// A call, an argument list, an expression or a statement of expressions is passed over
    /// exactly when nothing below it is a call or a function literal.
    #[test]
    fn calls_and_expressions_are_passed_over_only_when_they_hold_no_code() {
        let src = "package p\nfunc f() {\n\ts.mu.Lock()\n\tg(h(x))\n\tk(func() {})\n\tm(T{1})\n\t_ = a.b[i] == nil\n\t_ = (x).(T)\n\t_ = y == z()\n\tv := T{a: []int{1}}\n\tw := func() {}\n\treturn\n}\n";
        let file = crate::SourceFile::new(src.to_string());
        let mut seen = Vec::new();
        crate::walk(file.tree().root_node(), |n| {
            let flags = flags(n.kind_id());
            if flags & (EXPRESSION | PARENTHESIZED) != 0 {
                seen.push((&src[n.byte_range()], holds_nothing_to_record(n, flags, src)));
            }
            true
        });
        for (text, passed) in [
            ("s.mu.Lock()", true),
            ("()", true),
            ("g(h(x))", false),
            ("h(x)", true),
            ("k(func() {})", false),
            ("m(T{1})", true),
            ("a.b[i] == nil", true),
            ("(x).(T)", false),
            ("y == z()", false),
            ("_ = y == z()", false),
            ("_ = a.b[i] == nil", true),
            ("v := T{a: []int{1}}", true),
            ("T{a: []int{1}}", true),
            ("w := func() {}", false),
            ("return", true),
        ] {
            assert!(seen.contains(&(text, passed)), "{text}: {seen:?}");
        }
    }
}
