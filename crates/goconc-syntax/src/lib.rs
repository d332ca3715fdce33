//! goconc's syntax layer: a Go file's text and its tree-sitter tree kept in step ([`source`]),
//! byte offsets and line/column positions ([`line_index`]), node kinds by number ([`kinds`]), and
//! the small helpers over nodes and walks that every other layer uses (this module's root).
//!
//! It knows Go's grammar and nothing of Go's meaning: no types, no locks, no rules.

// Visitors match on node kinds and then test fields; folding those tests into match guards
// would scatter one check over several arms.
#![allow(clippy::collapsible_match)]

pub mod kinds;
pub mod line_index;
pub mod preorder;
pub mod source;

pub use line_index::{Encoding, LineCol, LineIndex};
pub use source::{parse_text, EditError, SourceFile};

use std::sync::OnceLock;

/// The engine's hash maps and sets, keyed by names and offsets of the code being analysed, hash
/// with FxHash (as rustc does): std's SipHash was ~4% of the analysis, and its resistance to
/// crafted collisions buys nothing for a local checker. No finding depends on a map's order (std's
/// order was random per process, and findings were the same run after run).
pub type HashMap<K, V> = std::collections::HashMap<K, V, rustc_hash::FxBuildHasher>;
/// See [`HashMap`].
pub type HashSet<T> = std::collections::HashSet<T, rustc_hash::FxBuildHasher>;

use tree_sitter::Node;

/// Faster forms of two `Node` methods the engine calls millions of times per standard-library
/// check. tree-sitter's `kind()` measures and UTF-8-validates the kind's C string on each call
/// (3.5% of a check of net/http by instruction count); `child_by_field_name` compares the name
/// with every field name of the grammar (2.4%).
pub trait NodeExt<'t> {
    /// The node's kind, as `Node::kind` gives it.
    fn kind_str(&self) -> &'static str;
    /// The node's kind number, as `Node::kind_id` gives it; from the walks' cache
    /// ([`preorder`]) for a node a walk handed out lately.
    fn kind_number(&self) -> u16;
    /// The first child in a field, as `Node::child_by_field_name` gives it.
    fn field(&self, name: &str) -> Option<Node<'t>>;
    /// The node's parent, as `Node::parent` gives it; read from the installed layout
    /// ([`preorder`]) when it holds the node. tree-sitter's `parent()` descends from the root
    /// and scans each level's children, so a statement's parent in a function of thousands of
    /// statements costs thousands of steps.
    fn parent_node(&self) -> Option<Node<'t>>;
    /// The node's end byte, as `Node::end_byte` gives it; from the walks' cache ([`preorder`])
    /// for a node a walk handed out lately (tree-sitter reads it from the node's subtree).
    fn end_offset(&self) -> usize;
    /// The node's byte range, as `Node::byte_range` gives it, its end from [`Self::end_offset`].
    fn byte_span(&self) -> std::ops::Range<usize>;
}

impl<'t> NodeExt<'t> for Node<'t> {
    #[inline]
    fn kind_str(&self) -> &'static str {
        static NAMES: OnceLock<Vec<Box<str>>> = OnceLock::new();
        let names = NAMES.get_or_init(|| {
            let language: tree_sitter::Language = tree_sitter_go::LANGUAGE.into();
            (0..language.node_kind_count() as u16)
                .map(|id| language.node_kind_for_id(id).unwrap_or("").into())
                .collect()
        });
        let id = self.kind_number();
        match names.get(usize::from(id)) {
            Some(name) => name,
            // ERROR and other built-in symbols sit past the grammar's own kinds.
            None => kind_beyond_the_grammar(id),
        }
    }

    #[inline]
    fn kind_number(&self) -> u16 {
        preorder::cached_kind(*self)
            .or_else(|| preorder::recalled_kind(*self))
            .unwrap_or_else(|| self.kind_id())
    }

    #[inline]
    fn field(&self, name: &str) -> Option<Node<'t>> {
        let id = field_id(name)?;
        preorder::laid_out_field(*self, id).or_else(|| self.child_by_field_id(id))
    }

    #[inline]
    fn end_offset(&self) -> usize {
        preorder::cached_end_byte(*self).unwrap_or_else(|| self.end_byte())
    }

    #[inline]
    fn byte_span(&self) -> std::ops::Range<usize> {
        self.start_byte()..self.end_offset()
    }

    fn parent_node(&self) -> Option<Node<'t>> {
        if let Some((layout, i)) = preorder::locate(*self) {
            if let Some(p) = layout.parent(i) {
                return Some(layout.node(p, *self));
            }
        }
        self.parent()
    }
}

#[cold]
fn kind_beyond_the_grammar(id: u16) -> &'static str {
    let language: tree_sitter::Language = tree_sitter_go::LANGUAGE.into();
    match language.node_kind_for_id(id) {
        Some("ERROR") => "ERROR",
        Some("_ERROR") => "_ERROR",
        _ => "",
    }
}

/// The field names the engine asks for, in the order of [`field_id`]'s match.
const FIELDS: [&str; 26] = [
    "alias",
    "alternative",
    "arguments",
    "body",
    "channel",
    "communication",
    "condition",
    "consequence",
    "field",
    "function",
    "initializer",
    "key",
    "label",
    "left",
    "name",
    "operand",
    "operator",
    "parameters",
    "path",
    "receiver",
    "result",
    "right",
    "tag",
    "type",
    "update",
    "value",
];

/// The id of a tree-sitter-go field name (None for a name the grammar does not have). Inlined
/// with a literal name, the match folds away and only the table is read.
#[inline]
fn field_id(name: &str) -> Option<u16> {
    let slot = match name {
        "alias" => 0,
        "alternative" => 1,
        "arguments" => 2,
        "body" => 3,
        "channel" => 4,
        "communication" => 5,
        "condition" => 6,
        "consequence" => 7,
        "field" => 8,
        "function" => 9,
        "initializer" => 10,
        "key" => 11,
        "label" => 12,
        "left" => 13,
        "name" => 14,
        "operand" => 15,
        "operator" => 16,
        "parameters" => 17,
        "path" => 18,
        "receiver" => 19,
        "result" => 20,
        "right" => 21,
        "tag" => 22,
        "type" => 23,
        "update" => 24,
        "value" => 25,
        _ => return field_id_by_search(name),
    };
    static IDS: OnceLock<[Option<u16>; FIELDS.len()]> = OnceLock::new();
    IDS.get_or_init(|| FIELDS.map(field_id_by_search))[slot]
}

#[cold]
fn field_id_by_search(name: &str) -> Option<u16> {
    let language: tree_sitter::Language = tree_sitter_go::LANGUAGE.into();
    language.field_id_for_name(name).map(u16::from)
}

/// The identifier-like words of a text with their offsets, in one pass (comments and strings
/// included: the syntax tree tells them apart later). A run of identifier characters (see
/// [`is_whole_word`]) that starts with a digit is a number, not a word.
pub fn identifiers(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let bytes = text.as_bytes();
    // The length of the identifier character at `i`, if it is one.
    let identifier_char = move |i: usize| -> Option<usize> {
        let b = *bytes.get(i)?;
        if b < 0x80 {
            return (b.is_ascii_alphanumeric() || b == b'_').then_some(1);
        }
        let c = char_at(bytes, i)??;
        continues_identifier(Some(c)).then(|| c.len_utf8())
    };
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < bytes.len() {
            let Some(len) = identifier_char(i) else {
                // Past the whole character, so that a run starts at a boundary.
                i += char_at(bytes, i).flatten().map_or(1, char::len_utf8);
                continue;
            };
            let start = i;
            i += len;
            while let Some(len) = identifier_char(i) {
                i += len;
            }
            if bytes[start].is_ascii_digit() {
                continue;
            }
            return Some((start, text.get(start..i).unwrap_or("")));
        }
        None
    })
}

/// A byte of an identifier (every byte of a non-ASCII letter counts: Go allows Unicode letters).
pub fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// Whether `bytes[start..end]` is a whole word: no identifier character right before or after
/// it. Beside ASCII, only letters and digits continue an identifier, as for Go's scanner and
/// tree-sitter's: in `S\u{FFFD}` (broken code) or `n…` the word `S` or `n` stands alone.
pub fn is_whole_word(bytes: &[u8], start: usize, end: usize) -> bool {
    !char_before(bytes, start).is_some_and(continues_identifier)
        && !char_at(bytes, end).is_some_and(continues_identifier)
}

/// A letter, a digit or `_`. (A byte that does not decode counts as one: what is not text is
/// nobody's word boundary.)
fn continues_identifier(c: Option<char>) -> bool {
    c.is_none_or(|c| c == '_' || c.is_alphanumeric())
}

/// The character that starts at `at`: `None` past the end, `Some(None)` if it does not decode.
fn char_at(bytes: &[u8], at: usize) -> Option<Option<char>> {
    let lead = *bytes.get(at)?;
    if lead < 0x80 {
        return Some(Some(char::from(lead)));
    }
    let len = match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    };
    let end = (at + len).min(bytes.len());
    Some(
        std::str::from_utf8(&bytes[at..end])
            .ok()
            .and_then(|s| s.chars().next()),
    )
}

/// The character that ends at `at`: `None` at the start, `Some(None)` if it does not decode.
fn char_before(bytes: &[u8], at: usize) -> Option<Option<char>> {
    let last = at.checked_sub(1)?;
    let mut from = last;
    while from > 0 && last - from < 3 && bytes.get(from).is_some_and(|b| b & 0xC0 == 0x80) {
        from -= 1;
    }
    let chars = bytes
        .get(from..at)
        .and_then(|b| std::str::from_utf8(b).ok());
    Some(chars.and_then(|s| s.chars().next_back()))
}

/// The source text of a node ("" if the node's range is not valid in `src`).
pub fn text<'s>(node: Node, src: &'s str) -> &'s str {
    src.get(node.byte_span()).unwrap_or("")
}

/// The named children of a node, comments excluded.
pub fn named_children<'t>(node: Node<'t>) -> NamedChildren<'t> {
    match preorder::laid_out_children(node) {
        Some(children) => NamedChildren::LaidOut(children),
        None => NamedChildren::Cursor {
            cursor: node.walk(),
            state: ChildrenState::Before,
        },
    }
}

/// The iterator of [`named_children`]: steps its own cursor as it goes, so a caller that stops
/// at the first match (`find`, `next`) reads no further, and nothing is collected. A node a
/// layout handed out lately has its children read from the layout instead (the same nodes;
/// see [`preorder::laid_out_children`]).
pub enum NamedChildren<'t> {
    LaidOut(preorder::LaidOutChildren<'t>),
    Cursor {
        cursor: tree_sitter::TreeCursor<'t>,
        state: ChildrenState,
    },
}

pub enum ChildrenState {
    Before,
    Within,
    Done,
}

impl<'t> Iterator for NamedChildren<'t> {
    type Item = Node<'t>;

    fn next(&mut self) -> Option<Node<'t>> {
        let (cursor, state) = match self {
            NamedChildren::LaidOut(children) => return children.next_named(),
            NamedChildren::Cursor { cursor, state } => (cursor, state),
        };
        loop {
            let moved = match state {
                ChildrenState::Before => cursor.goto_first_child(),
                ChildrenState::Within => cursor.goto_next_sibling(),
                ChildrenState::Done => return None,
            };
            if !moved {
                *state = ChildrenState::Done;
                return None;
            }
            *state = ChildrenState::Within;
            let node = cursor.node();
            if node.is_named() && node.kind_str() != "comment" {
                return Some(node);
            }
        }
    }
}

/// The statements of a block or case clause, looking through tree-sitter-go's `statement_list`.
pub fn statements<'t>(node: Node<'t>) -> Vec<Node<'t>> {
    let mut out = Vec::new();
    for child in named_children(node) {
        if child.kind_str() == "statement_list" {
            out.extend(named_children(child));
        } else if is_statement(child.kind_str()) {
            out.push(child);
        }
    }
    out
}

pub fn is_statement(kind: &str) -> bool {
    matches!(
        kind,
        "expression_statement"
            | "send_statement"
            | "inc_statement"
            | "dec_statement"
            | "assignment_statement"
            | "short_var_declaration"
            | "var_declaration"
            | "const_declaration"
            | "type_declaration"
            | "go_statement"
            | "defer_statement"
            | "return_statement"
            | "if_statement"
            | "for_statement"
            | "expression_switch_statement"
            | "type_switch_statement"
            | "select_statement"
            | "labeled_statement"
            | "fallthrough_statement"
            | "break_statement"
            | "continue_statement"
            | "goto_statement"
            | "block"
            | "empty_statement"
            | "receive_statement"
    )
}

/// Strips parentheses around an expression.
/// The outermost of the parentheses around `node` (`node` itself when none): what its
/// context (an argument list, an assignment, a `<-`) sees.
pub fn outer_parens(node: Node) -> Node {
    let mut node = node;
    while let Some(p) = node
        .parent_node()
        .filter(|p| p.kind_str() == "parenthesized_expression")
    {
        node = p;
    }
    node
}

/// The receiver of a method declaration, as written: `func (c *Cache[K]) …`.
#[derive(Clone, Copy, Debug)]
pub struct MethodReceiver<'t> {
    /// `c`; None when the receiver is unnamed.
    pub name: Option<Node<'t>>,
    /// The type as written (`*Cache[K]`).
    pub type_node: Node<'t>,
    /// The named type under any `*`, parentheses and type arguments (`Cache`).
    pub type_name: Node<'t>,
    /// `*T`: the method has a pointer receiver.
    pub pointer: bool,
}

/// The receiver of a `method_declaration`; None for a function, or a receiver type that is not
/// a (pointer to a) named type.
pub fn method_receiver(decl: Node) -> Option<MethodReceiver> {
    let param = named_children(decl.field("receiver")?)
        .find(|n| n.kind_str() == "parameter_declaration")?;
    let type_node = param.field("type")?;
    let mut ty = type_node;
    let mut pointer = false;
    let type_name = loop {
        match ty.kind_str() {
            "pointer_type" => {
                pointer = true;
                ty = named_children(ty).next()?;
            }
            "parenthesized_type" => ty = named_children(ty).next()?,
            "generic_type" => ty = ty.field("type")?,
            "type_identifier" => break ty,
            _ => return None,
        }
    };
    Some(MethodReceiver {
        name: param.field("name"),
        type_node,
        type_name,
        pointer,
    })
}

pub fn unparen(mut node: Node) -> Node {
    while node.kind_str() == "parenthesized_expression" {
        // `named_child(0)`, not a cursor: walks that ask this of every node meet each of N
        // nested parentheses, and a cursor's allocation per level made that the cost of a
        // check (1,100 returns of 450 parentheses: 14 s).
        match node.named_child(0) {
            Some(inner) => node = inner,
            None => break,
        }
    }
    node
}

/// A call `recv.method(args)` taken apart.
#[derive(Clone, Copy)]
pub struct MethodCall<'t> {
    pub call: Node<'t>,
    /// The expression before the dot (`s.mu` in `s.mu.Lock()`).
    pub receiver: Node<'t>,
    /// The method name node (`Lock`).
    pub method: Node<'t>,
    pub args: Node<'t>,
}

/// Takes apart `x.m(args)`; None for other calls.
pub fn method_call(node: Node) -> Option<MethodCall> {
    let node = unparen(node);
    if node.kind_str() != "call_expression" {
        return None;
    }
    let function = unparen(node.field("function")?);
    if function.kind_str() != "selector_expression" {
        return None;
    }
    Some(MethodCall {
        call: node,
        receiver: function.field("operand")?,
        method: function.field("field")?,
        args: node.field("arguments")?,
    })
}

/// The name a call is made by: `m` of `x.m(…)`, `f` of `f(…)`; None for a call of another
/// expression (`fs[i]()`, `func(){…}()`).
pub fn called_name<'s>(call: Node, src: &'s str) -> Option<&'s str> {
    let function = unparen(call.field("function")?);
    match function.kind_str() {
        "selector_expression" => function.field("field").map(|f| text(f, src)),
        "identifier" => Some(text(function, src)),
        _ => None,
    }
}

/// The call of an expression statement, a `go` or a `defer` (`mu.Lock()` in `defer mu.Lock()`).
pub fn statement_call(stmt: Node) -> Option<Node> {
    match stmt.kind_str() {
        "expression_statement" | "go_statement" | "defer_statement" => {
            let expr = unparen(named_children(stmt).next()?);
            (expr.kind_str() == "call_expression").then_some(expr)
        }
        _ => None,
    }
}

/// The arguments of a call, as nodes.
pub fn call_args(call: Node) -> Vec<Node> {
    call.field("arguments")
        .map(|a| named_children(a).collect())
        .unwrap_or_default()
}

/// An expression written as a path of identifiers and field selections (`s.cache.mu`, `(*p).mu`
/// and `p.mu` alike), normalized to dotted text. None for anything else (calls, indexes, …).
/// Iterative: generated selector chains are thousands of links long.
pub fn access_path(node: Node, src: &str) -> Option<String> {
    let mut fields = Vec::new();
    let mut node = unparen(node);
    let root = loop {
        match node.kind_str() {
            "identifier" | "field_identifier" => break text(node, src),
            "selector_expression" => {
                fields.push(text(node.field("field")?, src));
                node = unparen(node.field("operand")?);
            }
            "unary_expression" if matches!(text(node.field("operator")?, src), "*" | "&") => {
                node = unparen(node.field("operand")?);
            }
            _ => return None,
        }
    };
    let mut path =
        String::with_capacity(root.len() + fields.iter().map(|f| f.len() + 1).sum::<usize>());
    path.push_str(root);
    for field in fields.iter().rev() {
        path.push('.');
        path.push_str(field);
    }
    Some(path)
}

/// The root identifier of an access path expression (`s` in `s.cache.mu`).
pub fn path_root(node: Node) -> Option<Node> {
    let mut node = unparen(node);
    loop {
        match node.kind_str() {
            "identifier" => return Some(node),
            "selector_expression" | "unary_expression" => node = unparen(node.field("operand")?),
            _ => return None,
        }
    }
}

/// Whether brackets (`(`, `[`, `{`) nest deeper than `limit` anywhere in Go text; brackets in
/// comments, strings and runes do not count. Code nested that deep is generated or hostile, and
/// walking its tree recursively could overflow a thread's stack: the engine passes over it.
pub fn brackets_nest_deeper_than(text: &str, limit: usize) -> bool {
    let bytes = text.as_bytes();
    if bytes.len() <= limit {
        return false;
    }
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i = memchr_from(b'\n', bytes, i).unwrap_or(bytes.len());
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = find_from(bytes, i + 2, b"*/").map_or(bytes.len(), |end| end + 1);
            }
            b'`' => i = memchr_from(b'`', bytes, i + 1).unwrap_or(bytes.len()),
            quote @ (b'"' | b'\'') => {
                i += 1;
                while i < bytes.len() && bytes[i] != quote && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            _ => {}
        }
        i += 1;
    }
    false
}

fn memchr_from(byte: u8, bytes: &[u8], from: usize) -> Option<usize> {
    memchr::memchr(byte, bytes.get(from..)?).map(|i| from + i)
}

fn find_from(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(bytes.get(from..)?, needle).map(|i| from + i)
}

/// Is `node` inside `ancestor` (or equal to it)?
pub fn is_within(node: Node, ancestor: Node) -> bool {
    node.start_byte() >= ancestor.start_byte() && node.end_offset() <= ancestor.end_offset()
}

/// The ancestors of `node`, the root first and its parent last, found in one descent from the
/// root. tree-sitter's `parent()` descends from the root on every call, so climbing k levels
/// with it costs k descents: quadratic in the depth (3,000 nested closures took 20 s).
pub fn ancestors<'t>(node: Node<'t>) -> Vec<Node<'t>> {
    if let Some((layout, i)) = preorder::locate(node).filter(|(l, _)| l.is_whole_tree()) {
        let mut path = Vec::new();
        let mut at = layout.parent(i);
        while let Some(p) = at {
            path.push(layout.node(p, node));
            at = layout.parent(p);
        }
        path.reverse();
        return path;
    }
    let mut path = Vec::new();
    let mut at = root_of(node);
    // The same descent as `ts_node_parent`, kept whole.
    while at != node {
        path.push(at);
        match at.child_with_descendant(node) {
            Some(next) if next != node => at = next,
            _ => break,
        }
    }
    path
}

/// Does the `break` statement `brk`, inside the loop `lp`, leave `lp`? Unlabelled, when no
/// `for`, `switch` or `select` lies between them; labelled, when no statement inside `lp`
/// carries its label (it names `lp` or a statement around it). False when `brk` is not in `lp`.
pub fn break_leaves(brk: Node, lp: Node, src: &str) -> bool {
    let between = ancestors_under(lp, brk);
    let Some((_, inner)) = between.split_first() else {
        return false;
    };
    match named_children(brk).next().map(|label| text(label, src)) {
        None => !inner.iter().any(|n| {
            matches!(
                n.kind_str(),
                "for_statement"
                    | "expression_switch_statement"
                    | "type_switch_statement"
                    | "select_statement"
            )
        }),
        Some(label) => !inner.iter().any(|n| {
            n.kind_str() == "labeled_statement"
                && n.field("label").is_some_and(|l| text(l, src) == label)
        }),
    }
}

/// Is `node` a receive `<-x`?
pub fn is_receive(node: Node, src: &str) -> bool {
    node.kind_str() == "unary_expression"
        && node
            .field("operator")
            .is_some_and(|op| text(op, src) == "<-")
}

/// The ancestors of `node` from `top` (included) down to its parent, found by descending from
/// `top`; empty when `node` is not inside `top`. Climbing with tree-sitter's `parent()`, which
/// descends from the root on every call, costs the whole depth per step in a deep tree.
pub fn ancestors_under<'t>(top: Node<'t>, node: Node<'t>) -> Vec<Node<'t>> {
    let mut path = Vec::new();
    if top == node || top.start_byte() > node.start_byte() || top.end_offset() < node.end_offset() {
        return path;
    }
    if let Some((layout, i)) = preorder::locate(node) {
        let mut at = layout.parent(i);
        while let Some(p) = at {
            let ancestor = layout.node(p, node);
            path.push(ancestor);
            if ancestor == top {
                path.reverse();
                return path;
            }
            at = layout.parent(p);
        }
        // `top` is not among the ancestors the layout holds: ask the tree.
        path.clear();
    }
    let mut at = top;
    loop {
        path.push(at);
        match at.child_with_descendant(node) {
            Some(next) if next != node => at = next,
            _ => break,
        }
    }
    path
}

/// The root node of the tree `node` belongs to.
pub(crate) fn root_of(node: Node<'_>) -> Node<'_> {
    let raw = node.into_raw();
    // SAFETY: `raw.tree` is the tree `node` borrows for its lifetime, so it is live and its root
    // is a node of that same tree, valid as long as `node` is.
    unsafe { Node::from_raw(tree_sitter::ffi::ts_tree_root_node(raw.tree)) }
}

/// The nearest ancestor that is a function body boundary: a function or method declaration or a
/// function literal.
pub fn enclosing_function(node: Node) -> Option<Node> {
    ancestors(node)
        .into_iter()
        .rev()
        .find(|n| is_function(n.kind_str()))
}

pub fn is_function(kind: &str) -> bool {
    matches!(
        kind,
        "function_declaration" | "method_declaration" | "func_literal"
    )
}

/// The innermost `for` statement around `node` within its own function (a function literal or
/// declaration in between ends the search): the one loop helper every layer uses.
pub fn enclosing_loop(node: Node) -> Option<Node> {
    for n in ancestors(node).into_iter().rev() {
        match n.kind_str() {
            "for_statement" => return Some(n),
            "func_literal" | "function_declaration" | "method_declaration" => return None,
            _ => {}
        }
    }
    None
}

/// Every `for` statement around `node`, innermost first, across function literals too (a
/// goroutine started in a loop runs once per iteration).
pub fn enclosing_loops(node: Node) -> impl Iterator<Item = Node> {
    ancestors(node)
        .into_iter()
        .rev()
        .filter(|n| n.kind_str() == "for_statement")
}

/// `return` statements within `node` that leave its function, outside nested literals.
pub fn returns_within<'t>(node: Node<'t>) -> Vec<Node<'t>> {
    let mut out = Vec::new();
    walk_body(node, |n| {
        if n.kind_str() == "return_statement" {
            out.push(n);
        }
    });
    out
}

/// The `)` closing a call's argument list.
pub fn closing_paren(call: Node) -> Option<usize> {
    let args = call.field("arguments")?;
    let last = args.child(args.child_count().checked_sub(1)?)?;
    (!last.is_named() && last.kind_str() == ")").then(|| last.start_byte())
}

/// The block a statement stands directly in (its parent is the block or its statement list).
pub fn parent_block(stmt: Node) -> Option<Node> {
    let parent = stmt.parent_node()?;
    if parent.kind_str() == "statement_list" {
        return parent.parent_node();
    }
    (parent.kind_str() == "block").then_some(parent)
}

/// The statement a call stands in (`wg.Done()` → its expression statement, `defer wg.Done()` →
/// the defer statement).
pub fn call_statement(call: Node) -> Option<Node> {
    let mut node = call.parent_node()?;
    while node.kind_str() == "parenthesized_expression" {
        node = node.parent_node()?;
    }
    matches!(
        node.kind_str(),
        "expression_statement" | "defer_statement" | "go_statement"
    )
    .then_some(node)
}

/// The whole line(s) of a statement that stands alone on its line(s), including a trailing `//`
/// comment (the fixture convention: deleting a statement line takes its trailing comment along).
pub fn statement_line(node: Node, src: &str) -> Option<std::ops::Range<usize>> {
    let start = line_start(src, node.start_byte());
    if !src.get(start..node.start_byte())?.trim().is_empty() {
        return None;
    }
    let end = line_end_after_newline(src, node.end_byte());
    let after = src.get(node.end_byte()..end)?.trim();
    if !after.is_empty() && !after.starts_with("//") {
        return None;
    }
    Some(start..end)
}

/// Does the statement start its line (only indentation before it)?
pub fn starts_line(node: Node, src: &str) -> bool {
    let start = line_start(src, node.start_byte());
    src.get(start..node.start_byte())
        .is_some_and(|s| s.trim().is_empty())
}

/// Is the function node `f` the innermost function around `node`?
pub fn in_own_body(node: Node, f: Node) -> bool {
    enclosing_function(node) == Some(f)
}

/// Visits every node below `root` in document order. `visit` returns false to skip a subtree.
/// Zero-width tokens after the last token of their parent (the missing tokens of broken code)
/// are not visited: see [`climb`].
pub fn walk<'t>(root: Node<'t>, mut visit: impl FnMut(Node<'t>) -> bool) {
    if let Some((layout, first)) = preorder::locate(root) {
        let end = layout.end(first);
        let mut i = first;
        while i < end {
            i = match visit(layout.node(i, root)) {
                true => i + 1,
                false => layout.end(i),
            };
        }
        return;
    }
    // A cursor made at `root` never leaves it. `ends`: the end byte of each entered ancestor.
    let mut cursor = root.walk();
    let mut ends: Vec<usize> = Vec::new();
    loop {
        let node = cursor.node();
        if visit(node) && cursor.goto_first_child() {
            ends.push(node.end_byte());
            continue;
        }
        if !climb(&mut cursor, node.end_byte(), &mut ends, |_| {}) {
            return;
        }
    }
}

/// A step of [`walk_entering`]. The visitor's answer is read for `Visit` only.
pub enum Step<'t> {
    /// A node, in document order: the visitor answers whether to enter it.
    Visit(Node<'t>),
    /// The walk enters the node just visited (it has children).
    Enter(Node<'t>),
    /// The walk leaves entered nodes until this many are still entered.
    Leave(usize),
}

/// Like [`walk`], telling the visitor when it enters a node's children and when it leaves them,
/// for visitors that keep the chain of ancestors. Every entered node is left by the end.
pub fn walk_entering<'t>(root: Node<'t>, mut step: impl FnMut(Step<'t>) -> bool) {
    if let Some((layout, first)) = preorder::locate(root) {
        // `open`: the index of each entered node, innermost last.
        let mut open: Vec<usize> = Vec::new();
        let end = layout.end(first);
        let mut i = first;
        while i < end {
            while open.last().is_some_and(|&a| layout.end(a) <= i) {
                open.pop();
                step(Step::Leave(open.len()));
            }
            let node = layout.node(i, root);
            if !step(Step::Visit(node)) {
                i = layout.end(i);
                continue;
            }
            if layout.end(i) > i + 1 {
                step(Step::Enter(node));
                open.push(i);
            }
            i += 1;
        }
        while open.pop().is_some() {
            step(Step::Leave(open.len()));
        }
        return;
    }
    // A cursor made at `root` never leaves it. `ends`: the end byte of each entered node.
    let mut cursor = root.walk();
    let mut ends: Vec<usize> = Vec::new();
    loop {
        let node = cursor.node();
        if step(Step::Visit(node)) && cursor.goto_first_child() {
            step(Step::Enter(node));
            ends.push(node.end_byte());
            continue;
        }
        if !climb(&mut cursor, node.end_byte(), &mut ends, |entered| {
            step(Step::Leave(entered));
        }) {
            return;
        }
    }
}

/// Like [`walk`] for visitors that look only at statements, calls, function literals and
/// composite literals: passes over what can hold none of them (tokens, names, literals, types,
/// and expressions and calls without a `(` or `{` of their own; see `model::kinds`). Those
/// nodes are still visited, only not entered.
pub fn walk_calls<'t>(root: Node<'t>, src: &str, mut visit: impl FnMut(Node<'t>) -> bool) {
    use crate::kinds;
    walk(root, |n| {
        visit(n) && !kinds::holds_nothing_to_record(n, kinds::flags(n.kind_number()), src)
    })
}

/// Moves `cursor` from a node ending at `end` to the next node of a walk: its next sibling, or
/// that of the nearest ancestor that has one (popping `ends` and calling `left` per ancestor
/// left). False when the walk is over. A node that ends where its parent ends can be followed
/// only by zero-width tokens, so the walk does not ask tree-sitter for its sibling: that failing
/// call is the most expensive step of a walk (it climbs through hidden nodes).
pub fn climb(
    cursor: &mut tree_sitter::TreeCursor,
    mut end: usize,
    ends: &mut Vec<usize>,
    mut left: impl FnMut(usize),
) -> bool {
    loop {
        let Some(&parent_end) = ends.last() else {
            return false;
        };
        if end < parent_end && cursor.goto_next_sibling() {
            return true;
        }
        cursor.goto_parent();
        ends.pop();
        left(ends.len());
        end = parent_end;
    }
}

/// The identifiers below `node` (nested function literals included), by name, each name's in
/// document order: one walk for a rule that asks for the uses of many names in one function.
pub fn identifiers_by_name<'t>(node: Node<'t>, src: &'t str) -> HashMap<&'t str, Vec<Node<'t>>> {
    let mut by_name: HashMap<&'t str, Vec<Node<'t>>> = HashMap::default();
    walk(node, |n| {
        if n.kind_str() == "identifier" {
            by_name.entry(text(n, src)).or_default().push(n);
        }
        true
    });
    by_name
}

/// Visits the nodes of one function body without entering nested function literals.
pub fn walk_body<'t>(body: Node<'t>, mut visit: impl FnMut(Node<'t>)) {
    walk(body, |n| {
        if n != body && n.kind_str() == "func_literal" {
            return false;
        }
        visit(n);
        true
    });
}

/// Like [`walk_body`] for visitors that look only at calls, function literals, statements and
/// composite literals: passes over what can hold none of them, as [`walk_calls`] does.
pub fn walk_body_calls<'t>(body: Node<'t>, src: &str, mut visit: impl FnMut(Node<'t>)) {
    walk_calls(body, src, |n| {
        if n != body && n.kind_str() == "func_literal" {
            return false;
        }
        visit(n);
        true
    });
}

/// Like [`walk_body`], handing each node its ancestors below `body` and `body` itself (the
/// parent last): tree-sitter's `parent()` searches down from the root, too slow per node.
pub fn walk_body_with_ancestors<'t>(body: Node<'t>, mut visit: impl FnMut(Node<'t>, &[Node<'t>])) {
    let mut ancestors: Vec<Node<'t>> = Vec::new();
    walk_entering(body, |step| match step {
        Step::Visit(node) => {
            if node != body && node.kind_str() == "func_literal" {
                return false;
            }
            visit(node, &ancestors);
            true
        }
        Step::Enter(node) => {
            ancestors.push(node);
            true
        }
        Step::Leave(entered) => {
            ancestors.truncate(entered);
            true
        }
    });
}

/// The parent of a node whose known ancestors are `ancestors` (parent last); beyond them,
/// tree-sitter's own lookup.
pub fn parent_among<'t>(node: Node<'t>, ancestors: &[Node<'t>]) -> Option<Node<'t>> {
    ancestors.last().copied().or_else(|| node.parent_node())
}

/// The whitespace at the start of the line holding `offset`.
pub fn line_indent(src: &str, offset: usize) -> &str {
    let start = line_start(src, offset);
    let rest = &src[start..];
    let len = rest.len() - rest.trim_start_matches([' ', '\t']).len();
    &rest[..len]
}

/// The byte offset where the line holding `offset` starts.
pub fn line_start(src: &str, offset: usize) -> usize {
    src[..offset.min(src.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1)
}

/// The byte offset just past the `\n` that ends the line holding `offset` (or the text's end).
pub fn line_end_after_newline(src: &str, offset: usize) -> usize {
    src[offset.min(src.len())..]
        .find('\n')
        .map_or(src.len(), |i| offset + i + 1)
}

/// The byte range of a whole line holding a statement, when the statement is the only thing on
/// it (apart from a trailing comment it does not own): used to delete a statement cleanly.
pub fn whole_line_of(node: Node, src: &str) -> Option<std::ops::Range<usize>> {
    let start = line_start(src, node.start_byte());
    if !src[start..node.start_byte()].trim().is_empty() {
        return None;
    }
    let end = line_end_after_newline(src, node.end_byte());
    let after = src[node.end_byte()..end].trim();
    if !after.is_empty() {
        return None;
    }
    Some(start..end)
}

/// Does the subtree contain a syntax error or a missing node?
pub fn has_error(node: Node) -> bool {
    node.has_error()
}

/// The doc comment lines directly above a declaration, joined.
pub fn doc_comment(decl: Node, src: &str) -> String {
    // Most declarations have none, and `prev_sibling` scans the parent's children from the
    // first (quadratic over a file's top-level declarations).
    if !comment_may_end_above(decl, src) {
        return String::new();
    }
    let mut lines = Vec::new();
    let mut prev = decl.prev_sibling();
    let mut expected_row = decl.start_position().row;
    while let Some(p) = prev {
        // A comment after code on its line (`func d() {} // …`) belongs to that code.
        let starts_line = src[line_start(src, p.start_byte())..p.start_byte()]
            .trim()
            .is_empty();
        if p.kind_str() != "comment" || p.end_position().row + 1 != expected_row || !starts_line {
            break;
        }
        lines.push(text(p, src).trim_end());
        expected_row = p.start_position().row;
        prev = p.prev_sibling();
    }
    lines.reverse();
    lines.join("\n")
}

/// Whether a comment ends on the line above `node`'s first line (`//` or `*/` there): the cheap
/// test before looking for a doc comment, which most declarations lack. Only a node that starts
/// its line has one (after `var a = 1;` on the same line, the comment above is `a`'s); asking
/// that first also keeps a file of one long line linear (the search for the line above went
/// back over the whole line for every declaration on it).
pub fn comment_may_end_above(node: Node, src: &str) -> bool {
    let before = src.get(..node.start_byte()).unwrap_or("");
    let indented = before.trim_end_matches([' ', '\t']);
    if !indented.ends_with('\n') {
        return false;
    }
    let above_end = indented.len() - 1;
    let above = &before[before[..above_end].rfind('\n').map_or(0, |i| i + 1)..above_end];
    above.contains("//") || above.contains("*/")
}

/// Where to insert a new line after a statement: the end of its line (after a trailing comment),
/// when the statement starts its line and only a comment follows it.
pub fn insertion_after_line(node: Node, src: &str) -> Option<usize> {
    let start = line_start(src, node.start_byte());
    if !src[start..node.start_byte()].trim().is_empty() {
        return None;
    }
    let end = src[node.end_offset()..]
        .find('\n')
        .map_or(src.len(), |i| node.end_offset() + i);
    let after = src[node.end_offset()..end].trim();
    if !(after.is_empty() || after.starts_with("//") && !after.contains("*/")) {
        return None;
    }
    Some(if src[..end].ends_with('\r') {
        end - 1
    } else {
        end
    })
}

/// The line break a file uses: fixes that add lines must keep a CRLF file CRLF.
pub fn newline(src: &str) -> &'static str {
    match src.find('\n') {
        Some(i) if i > 0 && src.as_bytes()[i - 1] == b'\r' => "\r\n",
        _ => "\n",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_words_end_where_an_identifier_ends() {
        let whole = |text: &str, word: &str| {
            let start = text.find(word).unwrap();
            is_whole_word(text.as_bytes(), start, start + word.len())
        };
        assert!(whole("func (s *S) B()", "S"));
        // Letters of any script continue an identifier.
        assert!(!whole("func (s *Sé) B()", "S"));
        assert!(!whole("x := 日S", "S"));
        assert!(!whole("S_1", "S"));
        // What is no letter does not: a replacement character in broken code, punctuation.
        assert!(whole("func (s *S\u{FFFD}\u{FFFD}) B()", "S"));
        assert!(whole("\u{2026}S\u{2014}", "S"));
        assert!(whole("S", "S"));
        // The words of a text end at the same places.
        let words: Vec<&str> = identifiers("(s *S\u{FFFD}\u{FFFD}) Sé 1x _a\u{2026}b")
            .map(|(_, w)| w)
            .collect();
        assert_eq!(words, ["s", "S", "Sé", "_a", "b"]);
    }

    /// With a layout and with the cursor, the walk that keeps its ancestors visits the same
    /// nodes under the same chain of entered nodes, passes over the same subtrees, and has left
    /// every node it entered by its end.
    #[test]
    fn walk_entering_keeps_the_same_ancestors_with_a_layout_or_a_cursor() {
        let file = SourceFile::new(
            "package p\n\nfunc f(mu *sync.Mutex) {\n\tmu.Lock()\n\tgo func() { x := []int{1, (2)}; _ = x }()\n\tif a { b() } else { c() }\n}\n"
                .to_string(),
        );
        let root = file.tree().root_node();
        let chains = || {
            let mut chain: Vec<usize> = Vec::new();
            let mut seen = Vec::new();
            walk_entering(root, |step| match step {
                Step::Visit(n) => {
                    seen.push((n.id(), chain.clone()));
                    n.kind_str() != "parameter_list"
                }
                Step::Enter(n) => {
                    chain.push(n.id());
                    true
                }
                Step::Leave(entered) => {
                    chain.truncate(entered);
                    true
                }
            });
            assert!(chain.is_empty(), "still entered at the end: {chain:?}");
            seen
        };
        let by_cursor = chains();
        let _layout = preorder::install(root);
        assert!(preorder::locate(root).is_some());
        assert_eq!(by_cursor, chains());
        assert!(by_cursor.iter().any(|(_, chain)| chain.len() >= 8));
        // The parameter `mu` (bytes 18..20) is below a list passed over.
        let parameter = root.descendant_for_byte_range(18, 20).unwrap();
        assert_eq!(text(parameter, file.text()), "mu");
        assert!(!by_cursor.iter().any(|(id, _)| *id == parameter.id()));
    }

    /// Passing over what holds no call loses no call: with a layout and with the cursor, the
    /// calls `walk_body_calls` visits are those `walk_body` visits, in arguments, composite
    /// literals, operands and conditions alike, and neither enters the nested literal.
    #[test]
    fn walk_body_calls_visits_every_call_walk_body_visits() {
        let src = "package p\n\nfunc f() {\n\tx := a + g(h(1), T{k: m()}) * -n()\n\tif ok := p.q(); ok {\n\t\tgo func() { inner() }()\n\t}\n\ty := []int{len(s)}\n\t<-c.d()\n}\n";
        let file = SourceFile::new(src.to_string());
        let root = file.tree().root_node();
        let body = root
            .named_child(1)
            .and_then(|f| f.child_by_field_name("body"))
            .unwrap();
        let calls = |all: bool| {
            let mut seen = Vec::new();
            let mut keep = |n: Node| {
                if n.kind_str() == "call_expression" {
                    seen.push(text(n, src).to_string());
                }
            };
            match all {
                true => walk_body(body, &mut keep),
                false => walk_body_calls(body, src, &mut keep),
            }
            seen
        };
        let by_cursor = calls(true);
        assert_eq!(by_cursor.len(), 8, "{by_cursor:?}");
        assert!(!by_cursor.iter().any(|c| c == "inner()"));
        assert_eq!(calls(false), by_cursor);
        let _layout = preorder::install(root);
        assert_eq!(calls(true), by_cursor);
        assert_eq!(calls(false), by_cursor);
    }

    #[test]
    fn a_break_leaves_the_loop_it_aims_at_or_one_around_it() {
        let src = "package p\nfunc f(ch chan int) {\nouter:\n\tfor {\n\t\tfor v := range ch {\n\t\t\tswitch v {\n\t\t\tcase 1:\n\t\t\t\tbreak\n\t\t\tcase 2:\n\t\t\t\tbreak outer\n\t\t\t}\n\t\tinner:\n\t\t\tfor {\n\t\t\t\tbreak inner\n\t\t\t}\n\t\t\tbreak\n\t\t}\n\t}\n}\n";
        let file = SourceFile::new(src.to_string());
        let mut loops = Vec::new();
        let mut breaks = Vec::new();
        walk(file.tree().root_node(), |n| {
            match n.kind_str() {
                "for_statement" => loops.push(n),
                "break_statement" => breaks.push(n),
                _ => {}
            }
            true
        });
        let range = loops[1];
        let leaves: Vec<(&str, bool)> = breaks
            .iter()
            .map(|b| (text(*b, src), break_leaves(*b, range, src)))
            .collect();
        assert_eq!(
            leaves,
            [
                ("break", false),
                ("break outer", true),
                ("break inner", false),
                ("break", true)
            ]
        );
        // Not inside the loop at all.
        assert!(!break_leaves(breaks[0], loops[2], src));
    }

    /// The doc comment of each top-level function of `src`, in order.
    fn docs(src: &str) -> Vec<String> {
        let file = SourceFile::new(src.to_string());
        named_children(file.tree().root_node())
            .filter(|n| n.kind_str() == "function_declaration")
            .map(|n| doc_comment(n, src))
            .collect()
    }

    #[test]
    fn a_methods_receiver_is_read_through_pointers_parentheses_and_type_arguments() {
        let src = "package p\nfunc (c *Cache[K]) a() {}\nfunc (T) b() {}\nfunc (s *(Set)) c() {}\nfunc (m map[string]int) d() {}\nfunc e() {}\n";
        let file = SourceFile::new(src.to_string());
        type Seen<'s> = Option<(Option<&'s str>, &'s str, &'s str, bool)>;
        let seen: Vec<Seen> = named_children(file.tree().root_node())
            .map(|decl| {
                method_receiver(decl).map(|r| {
                    (
                        r.name.map(|n| text(n, src)),
                        text(r.type_node, src),
                        text(r.type_name, src),
                        r.pointer,
                    )
                })
            })
            .collect();
        assert_eq!(
            seen[1..],
            [
                Some((Some("c"), "*Cache[K]", "Cache", true)),
                Some((None, "T", "T", false)),
                Some((Some("s"), "*(Set)", "Set", true)),
                None,
                None,
            ]
        );
    }

    #[test]
    fn kind_str_is_kind_for_every_node() {
        // Broken on purpose: ERROR and MISSING nodes too.
        let src = "package p\nimport \"sync\"\nfunc f(mu *sync.Mutex) {\n\tmu.Lock(\n\tgo func() { x := <-ch }()\n\t}}\n";
        let file = SourceFile::new(src.to_string());
        every_node_has_its_kind(&file);
        assert!(file.tree().root_node().has_error());
        // With a layout installed, nodes reached through tree-sitter (not handed out by the
        // layout's walks) are found in it for their kind, and their fields read from it after.
        let well_formed = SourceFile::new(
            "package p\n\nfunc f(s *S) {\n\t(s.mu).Lock()\n\tdefer func() { s.mu.Unlock() }()\n\tx := (<-s.ch)\n}\n"
                .to_string(),
        );
        let _layout = preorder::install(well_formed.tree().root_node());
        every_node_has_its_kind(&well_formed);
        let _layout = preorder::install(file.tree().root_node());
        every_node_has_its_kind(&file);
    }

    /// Every node of the file, reached by tree-sitter's cursor, gives the kind and the fields
    /// tree-sitter gives it.
    fn every_node_has_its_kind(file: &SourceFile) {
        let mut cursor = file.tree().walk();
        let mut seen = 0;
        loop {
            let node = cursor.node();
            assert_eq!(node.kind_str(), node.kind(), "kind id {}", node.kind_id());
            for field in ["function", "operand", "field", "body", "left", "right"] {
                assert_eq!(
                    node.field(field),
                    node.child_by_field_name(field),
                    "{field}"
                );
            }
            seen += 1;
            if cursor.goto_first_child() || cursor.goto_next_sibling() {
                continue;
            }
            while cursor.goto_parent() && !cursor.goto_next_sibling() {}
            if cursor.node() == file.tree().root_node() {
                break;
            }
        }
        assert!(seen > 40);
    }

    fn preorder<'t>(node: Node<'t>, out: &mut Vec<Node<'t>>) {
        out.push(node);
        let mut cursor = node.walk();
        for child in node.children(&mut cursor) {
            preorder(child, out);
        }
    }

    /// The walk skips only zero-width tokens at the end of their parent (its shortcut past
    /// last children), in broken code too.
    #[test]
    fn walk_visits_every_node_with_text_in_document_order() {
        for src in [
            "package p\nfunc f(s *S) {\n\tif s.m[k] = 1; ok {\n\t\tgo func() { s.n++ }()\n\t}\n\tdelete(s.m, k) // done\n}\n",
            "package p\nfunc f() {\n\tmu.Lock(\n\tx := []int{1, 2\n\tgo func() {\n}\n",
        ] {
            let file = SourceFile::new(src.to_string());
            let root = file.tree().root_node();
            let mut all = Vec::new();
            preorder(root, &mut all);
            let mut visited = Vec::new();
            walk(root, |n| {
                visited.push(n);
                true
            });
            let mut rest = all.iter();
            for n in &visited {
                assert!(rest.any(|m| m == n), "{n:?} visited out of order");
            }
            for n in all.iter().filter(|n| n.start_byte() < n.end_byte()) {
                assert!(visited.contains(n), "{n:?} not visited in {src:?}");
            }
        }
    }

    /// What the walks report from a node: each visit (with its ancestors' count), skipping the
    /// children of every third node to exercise `visit` returning false.
    fn walks_from(node: Node) -> Vec<(usize, usize)> {
        let mut seen = Vec::new();
        let mut count = 0;
        walk(node, |n| {
            seen.push((n.id(), usize::MAX));
            count += 1;
            count % 3 != 0
        });
        walk_body_with_ancestors(node, |n, ancestors| seen.push((n.id(), ancestors.len())));
        walk_body(node, |n| seen.push((n.id(), 0)));
        seen
    }

    /// An installed layout changes no walk: same nodes, order, skips and ancestor chains as the
    /// cursor, from the root and from every node (broken code and zero-width tokens included).
    #[test]
    fn walks_over_an_installed_layout_match_the_cursor() {
        for src in [
            "package p\nfunc f(s *S) {\n\tif s.m[k] = 1; ok {\n\t\tgo func() { s.n++ }()\n\t}\n\tdelete(s.m, k) // done\n}\n",
            "package p\nfunc f() {\n\tmu.Lock(\n\tx := []int{1, 2\n\tgo func() {\n}\n",
            "package p\nvar x = a + b + c + d + e + f + g\nfunc g() int { return ((((1)))) }\n",
            // More nodes start at `a` than a lookup compares: those walk with the cursor.
            format!("package p\nvar x = a{}\n", " + b".repeat(100)).as_str(),
        ] {
            let file = SourceFile::new(src.to_string());
            let root = file.tree().root_node();
            let mut nodes = Vec::new();
            preorder(root, &mut nodes);
            // Each node's ancestors, and those under every third node.
            let climbs = || -> Vec<Vec<usize>> {
                let mut all = Vec::new();
                for &n in &nodes {
                    all.push(ancestors(n).iter().map(|a| a.id()).collect());
                    for &top in nodes.iter().step_by(3) {
                        all.push(ancestors_under(top, n).iter().map(|a| a.id()).collect());
                    }
                }
                all
            };
            let plain: Vec<_> = nodes.iter().map(|&n| walks_from(n)).collect();
            let plain_climbs = climbs();
            let other = SourceFile::new(src.to_string());
            let layout = preorder::install(root);
            let laid_out: Vec<_> = nodes.iter().map(|&n| walks_from(n)).collect();
            assert_eq!(plain, laid_out, "{src:?}");
            assert_eq!(plain_climbs, climbs(), "{src:?}");
            assert!(preorder::locate(root).is_some());
            // A node of another tree is not in the layout: its walks use the cursor.
            assert!(preorder::locate(other.tree().root_node()).is_none());
            drop(layout);
            assert!(preorder::locate(root).is_none(), "dropping the guard uninstalls it");
        }
    }

    /// A node read from a layout is the cursor's node to the last field of its raw context
    /// (byte, row, column, alias) and id: positions, kinds of aliased nodes and lines after a
    /// lone `\r`, a CRLF, multibyte text and a line that only a comment starts on.
    #[test]
    fn a_laid_out_node_is_the_cursors_node() {
        let src = "package p\r\nimport \"sync\"\n\ntype T struct{ mu sync.Mutex; \u{e9}t\u{e9} int }\r\n// note\n\
                   func (t *T) f() {\r\tmu: for { t.mu.Lock(); break mu }\n\tx := \"\u{2603}\"; _ = x.(T)\n}\n\
                   func g() {\n\tmu.Lock(\n}\n";
        let file = SourceFile::new(src.to_string());
        let root = file.tree().root_node();
        fn raw(n: Node) -> ([u32; 4], usize, u16, tree_sitter::Point, tree_sitter::Point) {
            let r = n.into_raw();
            (
                r.context,
                r.id as usize,
                n.kind_id(),
                n.start_position(),
                n.end_position(),
            )
        }
        let visit = || {
            let mut seen = Vec::new();
            walk(root, |n| {
                seen.push(raw(n));
                true
            });
            seen
        };
        let plain = visit();
        let _layout = preorder::install(root);
        assert!(preorder::locate(root).is_some());
        assert_eq!(plain, visit());
        let aliased = plain.iter().filter(|(context, ..)| context[3] != 0).count();
        assert!(
            aliased >= 3,
            "field, type and label names are aliases: {aliased}"
        );
        assert!(plain
            .iter()
            .any(|(context, ..)| context[1] >= 6 && context[2] > 0));
    }

    /// Links too long for an entry (a subtree of more than 65,534 nodes, a parent that many
    /// entries back, a node that many bytes long) are kept apart: the nodes of a long function and of the function after it
    /// still have the cursor's raw context, parent, end byte, walks and climbs.
    #[test]
    fn far_links_lead_where_the_cursors_do() {
        let mut src = String::from("package p\n\nfunc f() {\n");
        for i in 0..15_000 {
            src.push_str(&format!("\tx{i} = y + 1\n"));
        }
        src.push_str("}\n\n// after\nfunc g() { go f() }\n");
        let file = SourceFile::new(src);
        let root = file.tree().root_node();
        let tree_sitters = |n: Node| {
            let parent = n.parent().map(|p| p.id());
            (n.into_raw().context, n.id(), parent, n.end_byte())
        };
        let ours = |n: Node| {
            let parent = n.parent_node().map(|p| p.id());
            (n.into_raw().context, n.id(), parent, n.end_offset())
        };
        let mut nodes = Vec::new();
        preorder(root, &mut nodes);
        assert!(
            nodes.len() > 2 * usize::from(u16::MAX),
            "{} nodes",
            nodes.len()
        );
        let expected: Vec<_> = nodes.iter().map(|&n| tree_sitters(n)).collect();
        let body = named_children(root).nth(1).unwrap().field("body").unwrap();
        let later = named_children(root).last().unwrap();
        let tops = [root, body, later];
        let plain_walks: Vec<_> = tops.iter().map(|&n| walks_from(n)).collect();
        let climbs = || -> Vec<Vec<usize>> {
            nodes
                .iter()
                .step_by(7)
                .map(|&n| ancestors(n).iter().map(|a| a.id()).collect())
                .collect()
        };
        let plain_climbs = climbs();
        let _layout = preorder::install(root);
        let (layout, _) = preorder::locate(root).unwrap();
        assert!(
            layout.far_links() > 1_000,
            "{} far links",
            layout.far_links()
        );
        let mut laid_out = Vec::new();
        walk(root, |n| {
            laid_out.push(ours(n));
            true
        });
        assert_eq!(laid_out, expected);
        let walks: Vec<_> = tops.iter().map(|&n| walks_from(n)).collect();
        assert_eq!(walks, plain_walks);
        assert_eq!(climbs(), plain_climbs);
    }

    /// A layout without some top-level declarations changes no walk, climb, parent or list of
    /// children: the nodes it left out, and the root whose children it does not all hold, use
    /// the cursor; the others still read it.
    #[test]
    fn a_layout_with_holes_changes_no_walk() {
        let src = "package p\n\nfunc a() { mu.Lock(); go func() { x++ }() }\n\n\
                   func b() { { { { x := 1; _ = x } } } }\n\n\
                   func c(s *S) { if s.m[k] = 1; ok { s.n++ } }\nvar d = ((1))\n";
        let file = SourceFile::new(src.to_string());
        let root = file.tree().root_node();
        let mut nodes = Vec::new();
        preorder(root, &mut nodes);
        let facts = |n: Node| {
            let children: Vec<usize> = named_children(n).map(|c| c.id()).collect();
            let fields: Vec<Option<usize>> =
                FIELDS.iter().map(|f| n.field(f).map(|c| c.id())).collect();
            let parent = n.parent_node().map(|p| p.id());
            let climb: Vec<usize> = ancestors(n).iter().map(|a| a.id()).collect();
            (
                walks_from(n),
                children,
                fields,
                parent,
                climb,
                n.end_offset(),
            )
        };
        let plain: Vec<_> = nodes.iter().map(|&n| facts(n)).collect();
        let items: Vec<Node> = named_children(root).collect();
        let hole = items[2];
        assert_eq!(
            text(hole, src).lines().next(),
            Some("func b() { { { { x := 1; _ = x } } } }")
        );
        let _layout = preorder::install_skipping(root, &[hole.byte_range()]);
        assert!(
            preorder::locate(root).is_none(),
            "the root walks with the cursor"
        );
        assert!(preorder::locate(hole).is_none());
        assert!(preorder::locate(hole.named_child(0).unwrap()).is_none());
        let (layout, _) = preorder::locate(items[3]).expect("a declaration after the hole");
        assert!(preorder::locate(items[1]).is_some());
        drop(layout);
        let laid_out: Vec<_> = nodes.iter().map(|&n| facts(n)).collect();
        assert_eq!(plain, laid_out);
    }

    /// With a layout installed (over the whole tree or one function), each node's parent and
    /// kind number come from the layout and its kind cache: they are tree-sitter's, for every
    /// node and broken code too, and stay so once the guard is dropped and another tree's
    /// nodes are walked.
    #[test]
    fn a_laid_out_nodes_parent_and_kind_are_tree_sitters() {
        let src = "package p\r\nimport \"sync\"\n\ntype T struct{ mu sync.Mutex }\n\
                   func (t *T) f() {\r\tmu: for { t.mu.Lock(); break mu }\n\tgo func() { x := <-ch }()\n}\n\
                   func g() {\n\tmu.Lock(\n\t((h))()\n}\n";
        let file = SourceFile::new(src.to_string());
        let root = file.tree().root_node();
        let function = named_children(root).nth(3).unwrap();
        let facts = |top: Node| {
            let mut seen = Vec::new();
            walk(top, |n| {
                seen.push((n.id(), n.kind_id(), n.parent().map(|p| p.id())));
                true
            });
            seen
        };
        let ours = |top: Node| {
            let mut seen = Vec::new();
            walk(top, |n| {
                seen.push((n.id(), n.kind_number(), n.parent_node().map(|p| p.id())));
                true
            });
            seen
        };
        for top in [root, function] {
            let expected = facts(top);
            assert!(expected.len() > 20);
            let layout = preorder::install(top);
            assert!(preorder::locate(top).is_some());
            assert_eq!(ours(top), expected, "{}", top.kind());
            drop(layout);
            assert_eq!(ours(top), expected, "{}", top.kind());
        }
        let other = SourceFile::new("package q\nfunc h() { go g() }\n".to_string());
        let other_root = other.tree().root_node();
        let _layout = preorder::install(other_root);
        assert_eq!(ours(other_root), facts(other_root));
    }

    /// Every field, the named children and the end byte of every laid-out node are
    /// tree-sitter's, the same nodes to the last field of their raw context, over the rule fixtures whole and cut short
    /// at a few points (broken code: ERROR and MISSING nodes).
    #[test]
    fn a_laid_out_nodes_fields_and_children_are_tree_sitters() {
        let fixtures =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
        let mut texts = Vec::new();
        let mut folders = vec![fixtures];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(&folder).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    folders.push(path);
                } else if path.extension().is_some_and(|e| e == "go") {
                    texts.push(std::fs::read_to_string(&path).unwrap());
                }
            }
        }
        assert!(texts.len() > 100, "{} fixtures", texts.len());
        let mut compared = 0;
        let mut laid_out_children = 0;
        for text in &texts {
            let cuts = [text.len(), text.len() * 2 / 3, text.len() / 3];
            for cut in cuts.into_iter().filter(|&c| text.is_char_boundary(c)) {
                let file = SourceFile::new(text[..cut].to_string());
                let root = file.tree().root_node();
                let _layout = preorder::install(root);
                walk(root, |n| {
                    let ours: Vec<_> = named_children(n)
                        .map(|c| (c.id(), c.into_raw().context))
                        .collect();
                    let mut cursor = n.walk();
                    let theirs: Vec<_> = n
                        .named_children(&mut cursor)
                        .filter(|c| c.kind() != "comment")
                        .map(|c| (c.id(), c.into_raw().context))
                        .collect();
                    assert_eq!(
                        ours,
                        theirs,
                        "children of {} at {}",
                        n.kind(),
                        n.start_byte()
                    );
                    laid_out_children += usize::from(preorder::laid_out_children(n).is_some());
                    assert_eq!(
                        n.end_offset(),
                        n.end_byte(),
                        "{} at {}",
                        n.kind(),
                        n.start_byte()
                    );
                    for name in FIELDS {
                        let ours = n.field(name).map(|c| c.into_raw());
                        let theirs = n.child_by_field_name(name).map(|c| c.into_raw());
                        assert_eq!(
                            ours.map(|r| (r.id, r.context)),
                            theirs.map(|r| (r.id, r.context)),
                            "{name} of {} at {}",
                            n.kind(),
                            n.start_byte()
                        );
                        compared += usize::from(theirs.is_some());
                    }
                    true
                });
            }
        }
        assert!(compared > 10_000, "{compared} fields compared");
        assert!(
            laid_out_children > 10_000,
            "{laid_out_children} nodes' children laid out"
        );
    }

    #[test]
    fn walk_with_ancestors_visits_what_walk_body_does_with_each_parent_chain() {
        let src = "package p\nfunc f(s *S) {\n\tif s.m[k] = 1; ok {\n\t\tgo func() { s.n++ }()\n\t}\n\tdelete(s.m, k)\n}\n";
        let file = SourceFile::new(src.to_string());
        let f = named_children(file.tree().root_node()).nth(1).unwrap();
        let body = f.field("body").unwrap();
        let mut plain = Vec::new();
        walk_body(body, |n| plain.push(n));
        let mut with_ancestors = Vec::new();
        walk_body_with_ancestors(body, |n, ancestors| {
            let mut chain = Vec::new();
            let mut at = n;
            while at != body {
                at = at.parent().unwrap();
                chain.push(at);
            }
            chain.reverse();
            assert_eq!(ancestors, &chain[..], "{}", text(n, src));
            if let Some(&last) = ancestors.last() {
                assert_eq!(parent_among(n, ancestors), Some(last));
            }
            with_ancestors.push(n);
        });
        assert_eq!(with_ancestors, plain);
        assert!(!plain.iter().any(|n| text(*n, src) == "s.n++"));
        // Beyond the known chain, tree-sitter's parent.
        assert_eq!(parent_among(body, &[]), Some(f));
    }

    #[test]
    fn field_ids_are_the_grammars() {
        for name in FIELDS {
            assert!(
                field_id_by_search(name).is_some(),
                "{name} is no tree-sitter-go field"
            );
            assert_eq!(field_id(name), field_id_by_search(name), "{name}");
        }
        assert_eq!(field_id("no_such_field"), None);
        let file = SourceFile::new("package p\nfunc f(a int) { g(a) }\n".to_string());
        let f = named_children(file.tree().root_node()).nth(1).unwrap();
        assert_eq!(text(f.field("name").unwrap(), file.text()), "f");
        assert_eq!(text(f.field("parameters").unwrap(), file.text()), "(a int)");
    }

    #[test]
    fn doc_comments_are_the_comments_right_above() {
        let src = "package p\n\n// a must hold mu\n// second line\nfunc a() {}\n\n\
                   /* b's\nblock */\nfunc b() {}\n\n// not b's neighbour\n\nfunc c() {}\n\
                   func d() {} // trailing, not d's\nfunc e() {}\n";
        assert_eq!(
            docs(src),
            [
                "// a must hold mu\n// second line",
                "/* b's\nblock */",
                "",
                "",
                "",
            ]
        );
        let crlf = "package p\r\n\r\n// held\r\nfunc a() {}\r\n";
        assert_eq!(docs(crlf), ["// held"]);
        assert_eq!(docs("func a() {}"), [""]);
    }
}
