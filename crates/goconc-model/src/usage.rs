//! How a file's code uses names that rules of other files ask about: which struct fields it reads
//! or calls, which callees it hands a detached context or its caller's context, and which fields
//! it sets back to `nil`. Names only, no positions: facts of one file merged by
//! [`super::PackageModel`] into facts of the package (the CLI and a server, which refreshes one
//! file at a time, see the same).

use goconc_syntax::NodeExt;
use tree_sitter::Node;

use super::imports::Imports;
use goconc_syntax::{kinds, named_children, text, unparen};

/// What one file's code does with names (each list sorted, without duplicates).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Usage {
    /// Field (or method) names of selectors `x.f` that are read: called, passed, compared,
    /// dereferenced — anything but the target of a plain `=` assignment.
    pub fields_read: Vec<String>,
    /// Names of callees (functions or methods) to which some call hands `context.WithoutCancel(…)`:
    /// work the package means to survive its caller's cancellation.
    pub detached_callees: Vec<String>,
    /// Names of plain (unqualified) functions to which some call hands a `context.Context`
    /// parameter of the function it is in.
    pub callees_given_context: Vec<String>,
    /// Field names of selectors assigned a literal `nil` (`p.full = nil`): a field never set
    /// back to nil can only go from nil to non-nil, once.
    pub nil_assigned: Vec<String>,
    /// Field names of selectors `x.f` whose value is taken whole and handed on: passed to a
    /// call, returned, assigned or stored elsewhere, sent, or its address taken (`&x.f`) — not
    /// a method called on it, a field selected from it, or a comparison. What tells a field
    /// whose value other code can reach from one only ever used in place.
    pub fields_taken: Vec<String>,
}

impl Usage {
    /// Adds what `other` says; [`Usage::normalize`] sorts the lists again once all are in.
    pub fn merge(&mut self, other: &Usage) {
        self.fields_read.extend(other.fields_read.iter().cloned());
        self.detached_callees
            .extend(other.detached_callees.iter().cloned());
        self.callees_given_context
            .extend(other.callees_given_context.iter().cloned());
        self.nil_assigned.extend(other.nil_assigned.iter().cloned());
        self.fields_taken.extend(other.fields_taken.iter().cloned());
    }

    /// Sorts each list and drops duplicates: what lookups and comparisons expect.
    pub fn normalize(&mut self) {
        for list in [
            &mut self.fields_read,
            &mut self.detached_callees,
            &mut self.callees_given_context,
            &mut self.nil_assigned,
            &mut self.fields_taken,
        ] {
            list.sort_unstable();
            list.dedup();
        }
    }
}

/// The usage facts of the top-level declarations `items` (functions and variable declarations;
/// types, constants and imports use nothing).
pub fn collect_in(items: &[Node], src: &str, imports: &Imports) -> Usage {
    let mut usage = Usage::default();
    let context = imports.local_names_of("context");
    for &item in items {
        match item.kind_str() {
            "function_declaration" | "method_declaration" | "var_declaration" => {}
            _ => continue,
        }
        collect_item(item, src, context, &mut usage);
    }
    usage.normalize();
    usage
}

fn collect_item(item: Node, src: &str, context: Option<&str>, usage: &mut Usage) {
    // The `context.Context` parameters of the item and of the literals in it, by name
    // (shadowing aside: a local `ctx` of another type passed to a function is rare, and this
    // only says that the function is given a context somewhere).
    let mut context_params: Vec<&str> = Vec::new();
    // Selectors that are the target of a plain assignment: written, not read.
    let mut written: crate::HashSet<usize> = crate::HashSet::default();
    // Selectors whose value is handed on whole (see `mark_taken_whole`), marked by their parent.
    let mut taken: crate::HashSet<usize> = crate::HashSet::default();
    goconc_syntax::walk(item, |n| {
        if kinds::flags(n.kind_number()) & kinds::OPAQUE != 0 {
            // Names, literals, types, comments: nothing below them is a selector or a call.
            // Parameter lists are types too, read here for their context parameters.
            if n.kind_str() == "parameter_list" {
                if let Some(context) = context {
                    context_params.extend(context_parameters(n, src, context));
                }
            }
            return false;
        }
        mark_taken_whole(n, src, &mut taken);
        match n.kind_str() {
            "assignment_statement" => {
                if n.field("operator").is_some_and(|o| text(o, src) == "=") {
                    if let Some(left) = n.field("left") {
                        let values: Vec<Node> = n
                            .field("right")
                            .map(|r| named_children(r).collect())
                            .unwrap_or_default();
                        for (i, target) in named_children(left).enumerate() {
                            if target.kind_str() != "selector_expression" {
                                continue;
                            }
                            written.insert(target.id());
                            let nil = values.get(i).is_some_and(|v| v.kind_str() == "nil");
                            if let (true, Some(field)) = (nil, target.field("field")) {
                                usage.nil_assigned.push(text(field, src).to_string());
                            }
                        }
                    }
                }
            }
            "selector_expression" => {
                if !written.contains(&n.id()) {
                    if let Some(field) = n.field("field") {
                        usage.fields_read.push(text(field, src).to_string());
                        if taken.contains(&n.id()) {
                            usage.fields_taken.push(text(field, src).to_string());
                        }
                    }
                }
            }
            "call_expression" => read_call(n, src, context, &context_params, usage),
            _ => {}
        }
        true
    });
}

/// Marks, in `taken`, the selectors below `node` whose value `node` hands on whole: an
/// argument, a returned value, the right side of an assignment or declaration, an element of a
/// composite literal, the value of a send, or the operand of `&` — not a method called on it, a
/// field selected from it, or a comparison. Asked top-down of every node of the walk, because
/// climbing from each selector to its parent costs a descent from the root per step
/// (tree-sitter's `parent()`), quadratic in nested function literals.
fn mark_taken_whole(node: Node, src: &str, taken: &mut crate::HashSet<usize>) {
    let mut mark = |value: Node| {
        let value = unparen(value);
        if value.kind_str() == "selector_expression" {
            taken.insert(value.id());
        }
    };
    let mark_list = |list: Node, mark: &mut dyn FnMut(Node)| {
        if list.kind_str() == "expression_list" {
            named_children(list).for_each(mark);
        } else {
            mark(list);
        }
    };
    match node.kind_str() {
        "argument_list" | "return_statement" | "literal_value" => {
            for child in named_children(node) {
                mark_list(child, &mut mark);
            }
        }
        "literal_element" | "keyed_element" => named_children(node).for_each(&mut mark),
        "send_statement" => node.field("value").into_iter().for_each(mark),
        "unary_expression" => {
            if node.field("operator").is_some_and(|o| text(o, src) == "&") {
                node.field("operand").into_iter().for_each(mark);
            }
        }
        "assignment_statement" | "short_var_declaration" => {
            if let Some(right) = node.field("right") {
                mark_list(right, &mut mark);
            }
        }
        "var_spec" => {
            if let Some(value) = node.field("value") {
                mark_list(value, &mut mark);
            }
        }
        _ => {}
    }
}

/// The names of the parameters of type `context.Context` in a parameter list.
fn context_parameters<'s>(list: Node, src: &'s str, context: &str) -> Vec<&'s str> {
    let mut names = Vec::new();
    for param in named_children(list) {
        let Some(ty) = param.field("type") else {
            continue;
        };
        let is_context = ty.kind_str() == "qualified_type"
            && ty.field("package").is_some_and(|p| text(p, src) == context)
            && ty.field("name").is_some_and(|n| text(n, src) == "Context");
        if is_context {
            names.extend(
                named_children(param)
                    .filter(|c| c.kind_str() == "identifier")
                    .map(|c| text(c, src)),
            );
        }
    }
    names
}

fn read_call(call: Node, src: &str, context: Option<&str>, params: &[&str], usage: &mut Usage) {
    let Some(function) = call.field("function").map(unparen) else {
        return;
    };
    let (callee, operand) = match function.kind_str() {
        "identifier" => (text(function, src), None),
        "selector_expression" => match function.field("field") {
            Some(field) => (text(field, src), function.field("operand")),
            None => return,
        },
        _ => return,
    };
    let args: Vec<Node> = call
        .field("arguments")
        .map(|a| named_children(a).collect())
        .unwrap_or_default();
    let Some(context) = context else {
        return;
    };
    for arg in args.iter().map(|a| unparen(*a)) {
        match arg.kind_str() {
            "call_expression" => {
                let detaches = arg
                    .field("function")
                    .filter(|f| f.kind_str() == "selector_expression")
                    .is_some_and(|f| {
                        f.field("operand").is_some_and(|o| text(o, src) == context)
                            && f.field("field")
                                .is_some_and(|n| text(n, src) == "WithoutCancel")
                    });
                if detaches {
                    usage.detached_callees.push(callee.to_string());
                }
            }
            "identifier" if operand.is_none() && params.contains(&text(arg, src)) => {
                usage.callees_given_context.push(callee.to_string());
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage_of(src: &str) -> Usage {
        let file = goconc_syntax::SourceFile::new(src.to_string());
        let root = file.tree().root_node();
        let imports = Imports::from_tree(root, src);
        let items: Vec<Node> = named_children(root).collect();
        collect_in(&items, src, &imports)
    }

    #[test]
    fn reads_writes_and_calls() {
        let u = usage_of(
            "package p

import (
	\"context\"
	\"sync\"
)

type S struct {
	stop  context.CancelFunc
	quit  context.CancelFunc
	cond  *sync.Cond
	other func()
	last  *int
}

func (s *S) start(ctx context.Context) {
	_, s.stop = context.WithCancel(ctx)
	s.quit = nil
	s.last, s.other = nil, func() {}
	s.cond.Broadcast()
	persist(ctx, 1)
	s.save(ctx)
	flush(context.WithoutCancel(ctx))
	go func(c context.Context) { record(c) }(ctx)
}

func (s *S) end() {
	defer s.other()
}

func persist(context.Context, int) {}
func flush(context.Context)        {}
func record(context.Context)       {}
func (s *S) save(context.Context)  {}
",
        );
        assert!(u.fields_read.contains(&"other".to_string()));
        assert!(u.fields_read.contains(&"cond".to_string()));
        assert!(!u.fields_read.contains(&"quit".to_string()), "{u:?}");
        // `_, s.stop = …` assigns to the field too.
        assert!(!u.fields_read.contains(&"stop".to_string()), "{u:?}");
        assert_eq!(u.nil_assigned, ["last", "quit"]);
        assert_eq!(u.detached_callees, ["flush"]);
        assert_eq!(u.callees_given_context, ["persist", "record"]);
    }
}
