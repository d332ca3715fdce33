//! Channels kept in a map or slice field of a package type — a registry of subscribers, waiters
//! or listeners (`p.subscribers map[chan T]struct{}`, `s.waiters []chan struct{}`,
//! `b.subs map[int]*sub` with `sub.ch`) — and what each function does with them: closes every
//! channel of the field (`for c := range p.subs { close(c) }`), closes one member it removes or
//! looks up (`delete(p.subs, c); close(c)`, `c, ok := p.subs[id]; … close(c)`), or sends on
//! members. The field's element type is not needed: `close` and `<-` show that the element (or
//! the path below it) is a channel.
//!
//! A close of every member that leaves the channels in the field hands closed channels to every
//! later reader of the field: another method that closes a member panics (`close of closed
//! channel`), one that sends panics too. A close of a member that does not check the member is
//! still there closes again what a close-every already closed. The rules read these per package
//! (see `channel-double-close` and `channel-send-after-close`).
//!
//! Facts are per top-level function, offsets relative to the function's start, collected with the
//! file's declarations (in [`crate::goroutines::GoFacts`]) and read per package through
//! [`crate::PackageModel::channel_registry_ops`].

use goconc_syntax::NodeExt;
use tree_sitter::Node;

use crate::goroutines::Signature;
use crate::imports::Imports;
use crate::types::Ty;
use goconc_syntax::{access_path, call_args, is_within, named_children, text, unparen};

/// Which part of a field's entries holds the channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Element {
    /// The map key (`map[chan T]V`): the first variable of a `range`, the key of `delete`.
    Key,
    /// The value (`map[K]chan T`, `[]chan T`): the second variable of a `range`, an index read.
    Value,
}

/// What a function does with the channels of a registry field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegistryOpKind {
    /// `for c := range x.f { close(c) }`. `removes`: the loop deletes the entry it closes, or the
    /// function stores a new value in the field (or `clear`s it) after the loop starts.
    CloseEach { removes: bool },
    /// `close(c)` of a member the function deletes from the field or reads from it by index.
    /// `checked`: the function looks the member up and tests what it found (`_, ok :=
    /// x.f[c]`, `if c != nil`), so the close runs only for a member still there.
    CloseMember { checked: bool },
    /// A send on a member (ranged over or read by index).
    Send,
}

/// One use of the channels held in `owner.field`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RegistryOp {
    pub owner: String,
    pub field: String,
    pub element: Element,
    /// The path below the element that names the channel: empty for the element itself, `ch`
    /// for `close(s.ch)` where `s` is the element.
    pub below: String,
    pub kind: RegistryOpKind,
    /// The top-level function or method, by summary key (`Publisher.Close`).
    pub function: String,
    /// Fields of the same value this function marks as done: set to `true` (`p.closed = true`)
    /// or closed (`close(p.done)`).
    pub marks: Vec<String>,
    /// Fields of the same value this function tests: in an `if` or `for` condition, or received
    /// from (`<-p.done`).
    pub tests: Vec<String>,
    /// Byte offset and length of the `close` call or send statement, relative to the start of
    /// the top-level function.
    pub offset: usize,
    pub len: usize,
}

impl RegistryOp {
    /// Whether `other` uses the same channels (same field, same element, same path below it).
    pub fn same_channels(&self, other: &RegistryOp) -> bool {
        self.owner == other.owner
            && self.field == other.field
            && self.element == other.element
            && self.below == other.below
    }

    /// Whether this function marks a field as done that `other`'s function tests: the two are
    /// ordered by that flag (`closed = true` … `if closed { return }`).
    pub fn marks_what_is_tested_by(&self, other: &RegistryOp) -> bool {
        self.marks.iter().any(|m| other.tests.contains(m))
    }

    /// Where the operation is in this file's text, when its function is one of the file's
    /// top-level functions.
    pub fn range_in_file(&self, model: &crate::FileModel) -> Option<std::ops::Range<usize>> {
        let function = crate::scope::top_level_items(model.root, model.src)
            .into_iter()
            .filter(|item| crate::scope::is_function_item(*item))
            .find(|item| {
                crate::summary::declaration_key(*item, model.src).as_deref() == Some(&self.function)
            })?;
        let start = function.start_byte() + self.offset;
        (start + self.len <= function.end_offset()).then_some(start..start + self.len)
    }
}

/// The registry operations of some of a file's top-level declarations, by summary key.
pub fn collect_in(items: &[Node], src: &str, imports: &Imports) -> Vec<(String, Vec<RegistryOp>)> {
    let mut out = Vec::new();
    for (_, decl, name, body) in crate::scope::named_bodies(items) {
        let body_text = text(body, src);
        // A cheap text screen: a close or a send, and a range or an index or a delete.
        let acts = body_text.contains("close(") || body_text.contains("<-");
        let reaches =
            body_text.contains("range") || body_text.contains('[') || body_text.contains("delete(");
        if !acts || !reaches {
            continue;
        }
        let scope = Signature::of(decl, src, imports);
        let mut roots: Vec<(&str, String)> = Vec::new();
        if let Some((r, t)) = &scope.receiver {
            roots.push((r, t.clone()));
        }
        for (p, ty) in &scope.params {
            if let Ty::Named { pkg, name } = ty.deref() {
                if pkg.is_empty() && !roots.iter().any(|(n, _)| n == p) {
                    roots.push((p, name.clone()));
                }
            }
        }
        if roots.is_empty() {
            continue;
        }
        let key = crate::summary::summary_key(
            scope.receiver.as_ref().map(|(_, t)| t.as_str()),
            text(name, src),
        );
        let ops = Collector {
            decl,
            body,
            src,
            roots,
            function: key.clone(),
        }
        .collect();
        if !ops.is_empty() {
            out.push((key, ops));
        }
    }
    out
}

/// A name bound to a member of a registry field.
struct Binding<'t> {
    name: &'t str,
    owner: String,
    field: String,
    element: Element,
    /// Where the name means the member: the range loop, or the function from the lookup on.
    within: Node<'t>,
    from: usize,
    origin: Origin<'t>,
}

enum Origin<'t> {
    /// `for k, v := range x.f`.
    Range { lp: Node<'t> },
    /// `delete(x.f, k)` names the key `k` (a parameter or local of the function).
    Deleted,
    /// `v := x.f[k]` / `v, ok := x.f[k]`, with the `ok` name when there is one.
    Lookup { ok: Option<&'t str> },
}

struct Collector<'t> {
    decl: Node<'t>,
    body: Node<'t>,
    src: &'t str,
    /// The receiver and the parameters of a package type: (name, type).
    roots: Vec<(&'t str, String)>,
    function: String,
}

impl<'t> Collector<'t> {
    /// `x.f` with `x` one of the roots: (owner type, field, root name).
    fn registry(&self, node: Node<'t>) -> Option<(String, String, &'t str)> {
        let node = unparen(node);
        if node.kind_str() != "selector_expression" {
            return None;
        }
        let operand = unparen(node.field("operand")?);
        if operand.kind_str() != "identifier" {
            return None;
        }
        let root = text(operand, self.src);
        let (_, owner) = self.roots.iter().find(|(n, _)| *n == root)?;
        Some((
            owner.clone(),
            text(node.field("field")?, self.src).to_string(),
            root,
        ))
    }

    fn collect(&self) -> Vec<RegistryOp> {
        let src = self.src;
        let mut bindings: Vec<Binding<'t>> = Vec::new();
        let mut closes: Vec<(Node<'t>, Node<'t>)> = Vec::new();
        let mut sends: Vec<(Node<'t>, Node<'t>)> = Vec::new();
        // (field, delete call) for every `delete(x.f, …)`; (field, node) for every store of a new
        // value in `x.f` or `clear(x.f)`; (field, index text) for every read by index.
        let mut deletes: Vec<(String, Node<'t>)> = Vec::new();
        let mut resets: Vec<(String, usize)> = Vec::new();
        let mut lookups: Vec<(String, &'t str)> = Vec::new();
        let mut marks: Vec<String> = Vec::new();
        let mut tests: Vec<String> = Vec::new();
        let root_names: Vec<&str> = self.roots.iter().map(|(n, _)| *n).collect();
        let field_of_root = |n: Node<'t>| -> Option<String> {
            let n = unparen(n);
            if n.kind_str() != "selector_expression" {
                return None;
            }
            let operand = unparen(n.field("operand")?);
            (operand.kind_str() == "identifier" && root_names.contains(&text(operand, src)))
                .then(|| n.field("field").map(|f| text(f, src).to_string()))
                .flatten()
        };
        goconc_syntax::walk(self.body, |n| {
            match n.kind_str() {
                "for_statement" => {
                    let clause = named_children(n).find(|c| c.kind_str() == "range_clause");
                    if let Some(clause) = clause {
                        if let (Some(left), Some((owner, field, _))) = (
                            clause.field("left"),
                            clause.field("right").and_then(|r| self.registry(r)),
                        ) {
                            for (i, var) in named_children(left).enumerate().take(2) {
                                if var.kind_str() != "identifier" || text(var, src) == "_" {
                                    continue;
                                }
                                bindings.push(Binding {
                                    name: text(var, src),
                                    owner: owner.clone(),
                                    field: field.clone(),
                                    element: if i == 0 { Element::Key } else { Element::Value },
                                    within: n,
                                    from: n.start_byte(),
                                    origin: Origin::Range { lp: n },
                                });
                            }
                        }
                    }
                    if let Some(condition) = n.field("condition") {
                        collect_tests(condition, &field_of_root, &mut tests);
                    }
                }
                "if_statement" => {
                    if let Some(condition) = n.field("condition") {
                        collect_tests(condition, &field_of_root, &mut tests);
                    }
                }
                "call_expression" => {
                    let builtin = n
                        .field("function")
                        .filter(|f| f.kind_str() == "identifier")
                        .map(|f| text(f, src));
                    let args = call_args(n);
                    match (builtin, args.as_slice()) {
                        (Some("close"), [arg]) => {
                            if let Some(field) = field_of_root(*arg) {
                                marks.push(field);
                            }
                            closes.push((n, unparen(*arg)));
                        }
                        (Some("delete"), [map, key]) => {
                            if let Some((owner, field, _)) = self.registry(*map) {
                                let key = unparen(*key);
                                if key.kind_str() == "identifier" {
                                    bindings.push(Binding {
                                        name: text(key, src),
                                        owner,
                                        field: field.clone(),
                                        element: Element::Key,
                                        within: self.body,
                                        from: self.body.start_byte(),
                                        origin: Origin::Deleted,
                                    });
                                }
                                deletes.push((field, n));
                            }
                        }
                        (Some("clear"), [map]) => {
                            if let Some((_, field, _)) = self.registry(*map) {
                                resets.push((field, n.start_byte()));
                            }
                        }
                        _ => {}
                    }
                }
                "send_statement" => {
                    if let Some(channel) = n.field("channel") {
                        sends.push((n, unparen(channel)));
                    }
                }
                "unary_expression" => {
                    let receive = n.field("operator").is_some_and(|o| text(o, src) == "<-");
                    if let Some(field) = n
                        .field("operand")
                        .filter(|_| receive)
                        .and_then(&field_of_root)
                    {
                        tests.push(field);
                    }
                }
                "index_expression" => {
                    if let (Some((_, field, _)), Some(index)) = (
                        n.field("operand").and_then(|o| self.registry(o)),
                        n.field("index"),
                    ) {
                        lookups.push((field, text(unparen(index), src)));
                    }
                }
                "assignment_statement" | "short_var_declaration" => {
                    self.assignment(n, &mut bindings, &mut resets, &mut marks);
                }
                _ => {}
            }
            true
        });
        let function_tests = |name: &str| {
            let mut found = false;
            goconc_syntax::walk(self.body, |n| {
                if found {
                    return false;
                }
                if matches!(n.kind_str(), "if_statement" | "for_statement") {
                    if let Some(condition) = n.field("condition") {
                        goconc_syntax::walk(condition, |c| {
                            found |= c.kind_str() == "identifier" && text(c, src) == name;
                            !found
                        });
                    }
                }
                !found
            });
            found
        };
        let mut ops = Vec::new();
        let mut push = |binding: &Binding, below: String, kind: RegistryOpKind, node: Node| {
            let start = self.decl.start_byte();
            let op = RegistryOp {
                owner: binding.owner.clone(),
                field: binding.field.clone(),
                element: binding.element,
                below,
                kind,
                function: self.function.clone(),
                marks: Vec::new(),
                tests: Vec::new(),
                offset: node.start_byte().saturating_sub(start),
                len: node.end_offset().saturating_sub(node.start_byte()),
            };
            if !ops.contains(&op) {
                ops.push(op);
            }
        };
        let bound = |channel: Node<'t>| -> Option<(&Binding<'t>, String)> {
            let path = access_path(channel, src)?;
            let (root, below) = match path.split_once('.') {
                Some((r, b)) => (r, b.to_string()),
                None => (path.as_str(), String::new()),
            };
            // The innermost binding of the name whose reach holds the use: a range variable
            // over a deleted key, the latest lookup.
            bindings
                .iter()
                .filter(|b| {
                    b.name == root && is_within(channel, b.within) && b.from <= channel.start_byte()
                })
                .max_by_key(|b| (matches!(b.origin, Origin::Range { .. }), b.from))
                .map(|b| (b, below))
        };
        for &(call, channel) in &closes {
            // `close(x.f[k])`: a member read by index.
            if channel.kind_str() == "index_expression" {
                if let Some((owner, field, _)) =
                    channel.field("operand").and_then(|o| self.registry(o))
                {
                    let binding = Binding {
                        name: "",
                        owner,
                        field,
                        element: Element::Value,
                        within: self.body,
                        from: 0,
                        origin: Origin::Lookup { ok: None },
                    };
                    push(
                        &binding,
                        String::new(),
                        RegistryOpKind::CloseMember { checked: false },
                        call,
                    );
                }
                continue;
            }
            let Some((binding, below)) = bound(channel) else {
                continue;
            };
            let kind = match binding.origin {
                Origin::Range { lp } => {
                    let deleted_in_loop = deletes
                        .iter()
                        .any(|(f, d)| *f == binding.field && is_within(*d, lp));
                    let reset_after = resets
                        .iter()
                        .any(|(f, at)| *f == binding.field && *at >= lp.start_byte());
                    RegistryOpKind::CloseEach {
                        removes: deleted_in_loop || reset_after,
                    }
                }
                Origin::Deleted => RegistryOpKind::CloseMember {
                    checked: lookups
                        .iter()
                        .any(|(f, index)| *f == binding.field && *index == binding.name),
                },
                Origin::Lookup { ok } => RegistryOpKind::CloseMember {
                    checked: ok.is_some_and(&function_tests) || function_tests(binding.name),
                },
            };
            push(binding, below, kind, call);
        }
        for &(send, channel) in &sends {
            if channel.kind_str() == "index_expression" {
                if let Some((owner, field, _)) =
                    channel.field("operand").and_then(|o| self.registry(o))
                {
                    let binding = Binding {
                        name: "",
                        owner,
                        field,
                        element: Element::Value,
                        within: self.body,
                        from: 0,
                        origin: Origin::Lookup { ok: None },
                    };
                    push(&binding, String::new(), RegistryOpKind::Send, send);
                }
                continue;
            }
            if let Some((binding, below)) = bound(channel) {
                // A deleted key is no member any more: a send on it is no send to the registry.
                if !matches!(binding.origin, Origin::Deleted) {
                    push(binding, below, RegistryOpKind::Send, send);
                }
            }
        }
        marks.sort();
        marks.dedup();
        tests.sort();
        tests.dedup();
        for op in &mut ops {
            op.marks = marks.clone();
            op.tests = tests.clone();
        }
        ops
    }

    /// `v := x.f[k]`, `v, ok := x.f[k]` bind `v`; `x.f = …` stores a new value (a reset);
    /// `x.g = true` marks `g`.
    fn assignment(
        &self,
        n: Node<'t>,
        bindings: &mut Vec<Binding<'t>>,
        resets: &mut Vec<(String, usize)>,
        marks: &mut Vec<String>,
    ) {
        let src = self.src;
        let (Some(left), Some(right)) = (n.field("left"), n.field("right")) else {
            return;
        };
        let targets: Vec<Node> = named_children(left).collect();
        let values: Vec<Node> = named_children(right).map(unparen).collect();
        if let ([target, ok], [value]) = (targets.as_slice(), values.as_slice()) {
            self.bind_lookup(n, *target, Some(*ok), *value, bindings);
            return;
        }
        for (i, target) in targets.iter().enumerate() {
            let Some(value) = values.get(i).copied() else {
                continue;
            };
            if let Some((_, field, _)) = self.registry(*target) {
                if text(value, src) == "true" {
                    marks.push(field.clone());
                }
                resets.push((field, n.start_byte()));
            }
            self.bind_lookup(n, *target, None, value, bindings);
        }
    }

    fn bind_lookup(
        &self,
        stmt: Node<'t>,
        target: Node<'t>,
        ok: Option<Node<'t>>,
        value: Node<'t>,
        bindings: &mut Vec<Binding<'t>>,
    ) {
        if target.kind_str() != "identifier"
            || text(target, self.src) == "_"
            || value.kind_str() != "index_expression"
        {
            return;
        }
        let Some((owner, field, _)) = value.field("operand").and_then(|o| self.registry(o)) else {
            return;
        };
        let ok = ok
            .filter(|o| o.kind_str() == "identifier")
            .map(|o| text(o, self.src))
            .filter(|o| *o != "_");
        bindings.push(Binding {
            name: text(target, self.src),
            owner,
            field,
            element: Element::Value,
            within: self.body,
            from: stmt.start_byte(),
            origin: Origin::Lookup { ok },
        });
    }
}

/// The fields of the roots that a condition reads (`p.closed`, `!s.stopped`).
fn collect_tests<'t>(
    condition: Node<'t>,
    field_of_root: &dyn Fn(Node<'t>) -> Option<String>,
    tests: &mut Vec<String>,
) {
    goconc_syntax::walk(condition, |c| {
        if c.kind_str() == "func_literal" {
            return false;
        }
        if let Some(field) = field_of_root(c) {
            tests.push(field);
            return false;
        }
        true
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use goconc_syntax::SourceFile;

    fn ops(src: &str) -> Vec<RegistryOp> {
        let file = SourceFile::new(src.to_string());
        let root = file.tree().root_node();
        let imports = Imports::from_tree(root, src);
        let items = crate::scope::top_level_items(root, src);
        collect_in(&items, src, &imports)
            .into_iter()
            .flat_map(|(_, ops)| ops)
            .collect()
    }

    #[test]
    fn closes_members_and_sends() {
        let src = r#"package p

type hub struct {
	subs   map[chan int]bool
	named  map[string]chan int
	closed bool
}

func (h *hub) shutdown() {
	for c := range h.subs {
		close(c)
	}
	h.closed = true
}

func (h *hub) drop(c chan int) {
	delete(h.subs, c)
	close(c)
}

func (h *hub) dropChecked(c chan int) {
	if _, ok := h.subs[c]; ok {
		delete(h.subs, c)
		close(c)
	}
}

func (h *hub) dropNamed(name string) {
	c, ok := h.named[name]
	if !ok {
		return
	}
	delete(h.named, name)
	close(c)
}

func (h *hub) publish(v int) {
	if h.closed {
		return
	}
	for c := range h.subs {
		c <- v
	}
}

func (h *hub) reset() {
	for _, c := range h.named {
		close(c)
	}
	h.named = map[string]chan int{}
}
"#;
        let all = ops(src);
        let kind_in = |f: &str| {
            all.iter()
                .filter(|o| o.function == f)
                .map(|o| (o.field.as_str(), o.element, o.kind))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            kind_in("hub.shutdown"),
            vec![(
                "subs",
                Element::Key,
                RegistryOpKind::CloseEach { removes: false }
            )]
        );
        assert_eq!(
            all.iter()
                .find(|o| o.function == "hub.shutdown")
                .unwrap()
                .marks,
            vec!["closed".to_string()]
        );
        assert_eq!(
            kind_in("hub.drop"),
            vec![(
                "subs",
                Element::Key,
                RegistryOpKind::CloseMember { checked: false }
            )]
        );
        assert_eq!(
            kind_in("hub.dropChecked"),
            vec![(
                "subs",
                Element::Key,
                RegistryOpKind::CloseMember { checked: true }
            )]
        );
        assert_eq!(
            kind_in("hub.dropNamed"),
            vec![(
                "named",
                Element::Value,
                RegistryOpKind::CloseMember { checked: true }
            )]
        );
        assert_eq!(
            kind_in("hub.publish"),
            vec![("subs", Element::Key, RegistryOpKind::Send)]
        );
        assert!(all
            .iter()
            .find(|o| o.function == "hub.publish")
            .unwrap()
            .tests
            .contains(&"closed".to_string()));
        assert_eq!(
            kind_in("hub.reset"),
            vec![(
                "named",
                Element::Value,
                RegistryOpKind::CloseEach { removes: true }
            )]
        );
    }
}
