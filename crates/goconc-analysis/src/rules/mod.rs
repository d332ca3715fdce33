//! The rule catalog. Each rule lives in its own file, one folder per family, with its
//! documentation beside its code; `docs/rules/*.md` and `goconc rules` are generated from the
//! [`RuleMeta`] values collected here.

use std::collections::HashMap;
use std::ops::Range;

use tree_sitter::Node;

use crate::finding::{Finding, Fix, Related, Severity, TextEdit};
use crate::goversion::GoVersion;
use crate::model::FileModel;
use crate::syntax::{text, walk};

pub mod context;
pub mod goroutine;
pub mod mutex;
pub mod sync_copy;
pub mod testing;
pub mod waitgroup;

/// What a rule is, for the catalog, configuration and documentation.
#[derive(Debug)]
pub struct RuleMeta {
    pub id: &'static str,
    /// The catalog section (`Mutexes`, `sync.WaitGroup`, …).
    pub family: &'static str,
    pub severity: Severity,
    /// One sentence: what the rule finds.
    pub summary: &'static str,
    /// The quick fix, when the rule offers one.
    pub fix: Option<&'static str>,
    /// The rule's page in Markdown: why it matters, a bad and a good example, the fix, and when it
    /// stays silent. Written next to the rule's code.
    pub doc: &'static str,
}

impl RuleMeta {
    /// A finding of this rule at its default severity.
    pub fn finding(&'static self, range: Range<usize>, message: impl Into<String>) -> Finding {
        Finding {
            rule: self.id,
            severity: self.severity,
            range,
            message: message.into(),
            related: Vec::new(),
            fixes: Vec::new(),
        }
    }

    /// The Markdown page of this rule (`docs/rules/ID.md`, `goconc explain ID`).
    pub fn page(&self) -> String {
        let fix = match self.fix {
            Some(fix) => format!("Quick fix: {fix}."),
            None => "No automatic fix.".to_string(),
        };
        format!(
            "# {id}\n\n**{family}** · default severity **{severity}** · {fix}\n\n{summary}\n\n{doc}\n",
            id = self.id,
            family = self.family,
            severity = self.severity,
            summary = self.summary,
            doc = self.doc.trim(),
        )
    }
}

impl Finding {
    pub fn with_related(mut self, range: Range<usize>, message: impl Into<String>) -> Finding {
        self.related.push(Related { range, message: message.into() });
        self
    }

    pub fn with_fix(mut self, title: impl Into<String>, edits: Vec<TextEdit>) -> Finding {
        if !edits.is_empty() {
            self.fixes.push(Fix { title: title.into(), edits });
        }
        self
    }
}

/// A rule: its description and the function that checks one file.
pub struct Rule {
    pub meta: &'static RuleMeta,
    pub check: fn(&Context, &mut Vec<Finding>),
}

/// Every rule, in catalog order.
pub fn registry() -> &'static [Rule] {
    static RULES: std::sync::OnceLock<Vec<Rule>> = std::sync::OnceLock::new();
    RULES.get_or_init(|| {
        let mut rules = Vec::new();
        rules.extend(goroutine::rules());
        rules.extend(waitgroup::rules());
        rules.extend(mutex::rules());
        rules.extend(sync_copy::rules());
        rules.extend(context::rules());
        rules.extend(testing::rules());
        rules
    })
}

/// Every rule's description, in catalog order.
pub fn all() -> Vec<&'static RuleMeta> {
    registry().iter().map(|r| r.meta).collect()
}

pub fn find(id: &str) -> Option<&'static RuleMeta> {
    registry().iter().map(|r| r.meta).find(|m| m.id == id)
}

/// What every rule gets for one file: the model, the Go version, and an index of the nodes
/// rules look for, gathered in one walk so that no rule walks the whole tree again.
pub struct Context<'a, 't> {
    pub model: &'a FileModel<'t>,
    pub src: &'t str,
    pub go_version: GoVersion,
    pub is_test_file: bool,
    pub index: NodeIndex<'t>,
}

/// Nodes of one file that rules start from, in document order.
#[derive(Default)]
pub struct NodeIndex<'t> {
    /// Calls `x.m(…)` by method name, and `f(…)` by function name.
    pub calls: HashMap<&'t str, Vec<Node<'t>>>,
    pub go_statements: Vec<Node<'t>>,
    pub defer_statements: Vec<Node<'t>>,
    pub for_statements: Vec<Node<'t>>,
    pub func_literals: Vec<Node<'t>>,
}

impl<'t> NodeIndex<'t> {
    pub fn build(root: Node<'t>, src: &'t str) -> NodeIndex<'t> {
        let mut index = NodeIndex::default();
        walk(root, |node| {
            match node.kind() {
                "call_expression" => {
                    if let Some(function) = node.child_by_field_name("function") {
                        let name = match function.kind() {
                            "selector_expression" => function.child_by_field_name("field").map(|f| text(f, src)),
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
                _ => {}
            }
            true
        });
        index
    }

    /// Calls of the method or function `name`.
    pub fn calls_named(&self, name: &str) -> &[Node<'t>] {
        self.calls.get(name).map_or(&[], Vec::as_slice)
    }
}
