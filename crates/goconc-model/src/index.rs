//! Nodes of one file that rules start from — calls by name, `go`, `defer` and `for` statements,
//! function literals — gathered during the model's single walk so no rule walks the whole tree
//! again.

use crate::HashMap;
use goconc_syntax::NodeExt;

use tree_sitter::Node;

use goconc_syntax::{text, walk};

/// Nodes of one file that rules start from, in document order.
#[derive(Default)]
pub struct NodeIndex<'t> {
    /// Calls `x.m(…)` by method name, and `f(…)` by function name.
    pub calls: HashMap<&'t str, Vec<Node<'t>>>,
    pub go_statements: Vec<Node<'t>>,
    pub defer_statements: Vec<Node<'t>>,
    pub for_statements: Vec<Node<'t>>,
    pub func_literals: Vec<Node<'t>>,
    /// `ch <- v` statements (also as `select` cases).
    pub send_statements: Vec<Node<'t>>,
}

impl<'t> NodeIndex<'t> {
    /// Builds the index with a walk of its own (the model's walk builds it too: see
    /// [`super::FileModel::build_with_index`]).
    pub fn build(root: Node<'t>, src: &'t str) -> NodeIndex<'t> {
        let mut index = NodeIndex::default();
        walk(root, |node| {
            index.add(node, src);
            true
        });
        index
    }

    /// Records one node if rules start from its kind.
    pub fn add(&mut self, node: Node<'t>, src: &'t str) {
        let index = self;
        {
            match node.kind_str() {
                "call_expression" => {
                    if let Some(function) = node.field("function") {
                        let name = match function.kind_str() {
                            "selector_expression" => function.field("field").map(|f| text(f, src)),
                            "identifier" => Some(text(function, src)),
                            _ => None,
                        };
                        if let Some(name) = name {
                            index.calls.entry(name).or_default().push(node);
                        }
                    }
                }
                "go_statement" => index.go_statements.push(node),
                "defer_statement" => index.defer_statements.push(node),
                "for_statement" => index.for_statements.push(node),
                "func_literal" => index.func_literals.push(node),
                "send_statement" => index.send_statements.push(node),
                _ => {}
            }
        }
    }

    /// Calls of the method or function `name`.
    pub fn calls_named(&self, name: &str) -> &[Node<'t>] {
        self.calls.get(name).map_or(&[], Vec::as_slice)
    }

    /// The `go` statements inside `node`, in document order (bisected: a function may start
    /// thousands, and a rule asks this for each of them).
    pub fn go_statements_within<'a>(
        &'a self,
        node: Node<'t>,
    ) -> impl Iterator<Item = Node<'t>> + 'a {
        within(&self.go_statements, node)
    }

    /// The function literals inside `node`, in document order (bisected, as the `go`
    /// statements are).
    pub fn func_literals_within<'a>(
        &'a self,
        node: Node<'t>,
    ) -> impl Iterator<Item = Node<'t>> + 'a {
        within(&self.func_literals, node)
    }

    /// The calls named `name` inside `node`, in document order.
    pub fn calls_named_within<'a>(
        &'a self,
        name: &str,
        node: Node<'t>,
    ) -> impl Iterator<Item = Node<'t>> + 'a {
        within(self.calls_named(name), node)
    }
}

/// The nodes of a list in document order (the walk that builds the index adds them so) that lie
/// inside `node`.
fn within<'a, 't>(nodes: &'a [Node<'t>], node: Node<'t>) -> impl Iterator<Item = Node<'t>> + 'a {
    let first = nodes.partition_point(|c| c.start_byte() < node.start_byte());
    let end = node.end_offset();
    nodes[first..]
        .iter()
        .copied()
        .take_while(move |c| c.start_byte() < end)
        .filter(move |c| goconc_syntax::is_within(*c, node))
}
