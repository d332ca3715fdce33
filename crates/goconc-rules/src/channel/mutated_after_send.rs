//! `channel-mutated-after-send`: a pointer, map or slice is modified after being sent on a
//! channel.

use crate::finding::LineOf;
use goconc_syntax::NodeExt;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use tree_sitter::Node;

use crate::finding::{Finding, Severity};
use crate::{Context, Family, RuleMeta};
use goconc_model::flow::{self, ExitKind, FlowAnalysis};
use goconc_model::{FileModel, Ty};
use goconc_syntax::in_own_body;
use goconc_syntax::{
    call_args, enclosing_function, is_within, method_call, named_children, text, unparen, walk,
};

pub static META: RuleMeta = RuleMeta {
    id: "channel-mutated-after-send",
    family: Family::Channel,
    severity: Severity::Warning,
    summary: "A pointer, map or slice is modified after being sent on a channel: the receiver now shares it.",
    fix: None,
    doc: r#"
## Why it matters
Sending a pointer, a map or a slice on a channel hands over a reference, not a copy. When the
sender keeps writing through it, the receiver sees values change under it — a data race that
`go test -race` reports only when both sides happen to run at once. The common shape is a buffer
or a record reused for the next item after it was sent.

## Example
```go
func emit(rows *sql.Rows, out chan<- *Record) error {
	rec := &Record{}
	for rows.Next() {
		if err := rows.Scan(&rec.ID, &rec.Name); err != nil {
			return err
		}
		out <- rec
		rec.Seen = true
	}
	return rows.Err()
}
```
```go
func emit(rows *sql.Rows, out chan<- *Record) error {
	for rows.Next() {
		rec := &Record{Seen: true}
		if err := rows.Scan(&rec.ID, &rec.Name); err != nil {
			return err
		}
		out <- rec
	}
	return rows.Err()
}
```

## Fix
Finish the value before sending it, and make a new one for the next item (or send a copy of a
struct value instead of a pointer).

## When it stays silent
- The channel carries values (structs, numbers, strings): the receiver got a copy.
- The variable is assigned a new pointer, map or slice between the send and the write, or it is
  declared inside the loop body (a new one per iteration).
- The sender receives from a channel, waits on a `WaitGroup` or takes a lock between the send and
  the write: the receiver may have handed it back.
- Only a method is called on it (`p.Close()`), or the write is on another goroutine.
- The variable's type is unknown.
"#,
};

/// A variable (by the position of its declaring identifier) sent on every path to here.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sent {
    send: Range<usize>,
    channel: String,
}

type State = BTreeMap<usize, Sent>;

struct Mutation {
    node: Range<usize>,
    name: String,
    sent: Sent,
}

struct Analysis<'m, 't> {
    model: &'m FileModel<'t>,
    found: BTreeMap<usize, Mutation>,
}

/// The declaration (by its identifier's start) of a tracked sent value: an identifier whose type
/// is a pointer, map or slice, or whose channel carries one.
fn sent_value<'t>(model: &FileModel<'t>, send: Node<'t>) -> Option<(usize, String)> {
    let value = unparen(send.field("value")?);
    if value.kind_str() != "identifier" {
        return None;
    }
    let decl = model.resolve(value)?;
    let shares = |t: &Ty| matches!(t, Ty::Pointer(_) | Ty::Map(..) | Ty::Slice(_));
    let tracked = if decl.ty.is_unknown() {
        let channel = send.field("channel")?;
        matches!(model.type_of(channel), Ty::Chan(ref e) if shares(e))
    } else {
        shares(&decl.ty)
    };
    let channel = text(send.field("channel")?, model.src).to_string();
    tracked.then_some((decl.ident.start_byte(), channel))
}

/// The variable an lvalue writes through (`p` in `p.a.b`, `m[k]`, `(*p).x`, `s[i].f`), when it
/// writes through it rather than to the variable itself.
fn written_through(node: Node) -> Option<Node> {
    let mut current = unparen(node);
    let mut through = false;
    loop {
        match current.kind_str() {
            "identifier" => return through.then_some(current),
            "selector_expression" | "index_expression" => {
                through = true;
                current = unparen(current.field("operand")?);
            }
            "unary_expression" => {
                through = true;
                current = unparen(current.field("operand")?);
            }
            _ => return None,
        }
    }
}

impl<'t> Analysis<'_, 't> {
    fn mutate(&mut self, state: &mut State, target: Node<'t>, whole: Node<'t>) {
        let Some(root) = written_through(target) else {
            return;
        };
        let Some(decl) = self.model.resolve(root) else {
            return;
        };
        let at = decl.ident.start_byte();
        if let Some(sent) = state.remove(&at) {
            self.found.entry(whole.start_byte()).or_insert(Mutation {
                node: whole.byte_span(),
                name: decl.name.to_string(),
                sent,
            });
        }
    }

    fn kill_name(&self, state: &mut State, name: &str) {
        let model = self.model;
        state.retain(|&at, _| text_at(model, at) != name);
    }
}

fn text_at<'t>(model: &FileModel<'t>, at: usize) -> &'t str {
    let rest = model.src.get(at..).unwrap_or("");
    let end = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    &rest[..end]
}

impl<'t> FlowAnalysis<'t> for Analysis<'_, 't> {
    type State = State;

    fn transfer(&mut self, stmt: Node<'t>, state: &mut State) {
        if stmt.kind_str() == "go_statement" || stmt.kind_str() == "defer_statement" {
            return;
        }
        let model = self.model;
        walk(stmt, |node| {
            if node.kind_str() == "func_literal" {
                return false;
            }
            match node.kind_str() {
                "send_statement" => {
                    if let Some((at, channel)) = sent_value(model, node) {
                        state.insert(
                            at,
                            Sent {
                                send: node.byte_span(),
                                channel,
                            },
                        );
                    }
                }
                "assignment_statement" => {
                    if let Some(left) = node.field("left") {
                        for target in named_children(left) {
                            if unparen(target).kind_str() == "identifier" {
                                self.kill_name(state, text(unparen(target), model.src));
                            } else {
                                self.mutate(state, target, target);
                            }
                        }
                    }
                }
                "inc_statement" | "dec_statement" => {
                    if let Some(target) = named_children(node).next() {
                        self.mutate(state, target, target);
                    }
                }
                "short_var_declaration" | "range_clause" => {
                    if let Some(left) = node.field("left") {
                        for target in named_children(left) {
                            self.kill_name(state, text(unparen(target), model.src));
                        }
                    }
                }
                "var_spec" => {
                    let mut cursor = node.walk();
                    let names: Vec<Node> =
                        node.children_by_field_name("name", &mut cursor).collect();
                    for name in names {
                        self.kill_name(state, text(name, model.src));
                    }
                }
                "unary_expression" => {
                    // A receive: the value may have been handed back.
                    if node
                        .field("operator")
                        .is_some_and(|o| text(o, model.src) == "<-")
                    {
                        state.clear();
                    }
                }
                "call_expression" => {
                    let callee = node.field("function").map(unparen);
                    let builtin = callee
                        .filter(|f| f.kind_str() == "identifier" && model.resolve(*f).is_none())
                        .map(|f| text(f, model.src))
                        .filter(|name| {
                            matches!(*name, "delete" | "clear")
                                && model.package.func(name).is_none()
                        });
                    if builtin.is_some() {
                        if let Some(&target) = call_args(node).first() {
                            if unparen(target).kind_str() == "identifier" {
                                if let Some(decl) = model.resolve(unparen(target)) {
                                    if let Some(sent) = state.remove(&decl.ident.start_byte()) {
                                        self.found.entry(node.start_byte()).or_insert(Mutation {
                                            node: node.byte_span(),
                                            name: decl.name.to_string(),
                                            sent,
                                        });
                                    }
                                }
                            }
                        }
                    }
                    // Synchronisation: the receiver may be done with it.
                    if let Some(mc) = method_call(node) {
                        if matches!(text(mc.method, model.src), "Lock" | "RLock" | "Wait" | "Do") {
                            state.clear();
                        }
                    }
                }
                _ => {}
            }
            true
        });
    }

    fn join(&self, a: &State, b: &State) -> State {
        a.iter()
            .filter(|(k, v)| b.get(k) == Some(v))
            .map(|(k, v)| (*k, v.clone()))
            .collect()
    }
}

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    let mut functions: Vec<Node> = Vec::new();
    for &send in &cx.index.send_statements {
        if sent_value(cx.model, send).is_none() {
            continue;
        }
        if let Some(f) = enclosing_function(send) {
            if !functions.contains(&f) {
                functions.push(f);
            }
        }
    }
    let mut found = BTreeMap::new();
    for function in functions {
        let Some(body) = function.field("body") else {
            continue;
        };
        let mut analysis = Analysis {
            model: cx.model,
            found: BTreeMap::new(),
        };
        if flow::run(cx.model, body, &mut analysis, State::new()).is_none() {
            continue;
        }
        // A second iteration of each loop that sends a variable declared outside it.
        let sends: Vec<Node> = cx
            .index
            .send_statements
            .iter()
            .copied()
            .filter(|s| is_within(*s, body) && in_own_body(*s, function))
            .collect();
        let mut loops_done = BTreeSet::new();
        for &lp in &cx.index.for_statements {
            if !is_within(lp, body)
                || !in_own_body(lp, function)
                || !loops_done.insert(lp.start_byte())
            {
                continue;
            }
            let sends_outer = sends.iter().any(|&s| {
                is_within(s, lp)
                    && sent_value(cx.model, s)
                        .is_some_and(|(at, _)| !(at >= lp.start_byte() && at < lp.end_offset()))
            });
            if !sends_outer {
                continue;
            }
            let Some(lp_body) = lp.field("body") else {
                continue;
            };
            let Some(exits) = flow::run(cx.model, lp_body, &mut analysis, State::new()) else {
                continue;
            };
            let Some(end) = exits.into_iter().find(|e| e.kind == ExitKind::EndOfBody) else {
                continue;
            };
            let mut entry = end.state;
            entry.retain(|&at, _| !(at >= lp.start_byte() && at < lp.end_offset()));
            for header in named_children(lp).filter(|n| n.kind_str() != "block") {
                let node = match header.kind_str() {
                    "for_clause" => header.field("update"),
                    _ => Some(header),
                };
                if let Some(node) = node {
                    analysis.transfer(node, &mut entry);
                }
            }
            if !entry.is_empty() {
                let _ = flow::run(cx.model, lp_body, &mut analysis, entry);
            }
        }
        found.extend(analysis.found);
    }
    for (_, m) in found {
        let name = &m.name;
        let message = format!(
            "`{name}` is modified after it was sent on `{}` (line {}): the receiver shares it and can see the change or race with it",
            m.sent.channel,
            LineOf(m.sent.send.start)
        );
        out.push(
            META.finding(m.node, message)
                .with_related(m.sent.send, format!("`{name}` sent here")),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::lines_of;

    const ID: &str = "channel-mutated-after-send";

    #[test]
    fn pointer_map_and_slice_writes_after_send() {
        let src = "package p\n\ntype T struct{ n int }\n\nfunc a(ch chan *T) {\n\tp := &T{}\n\tch <- p\n\tp.n = 2\n}\n\nfunc b(ch chan map[string]int) {\n\tm := map[string]int{}\n\tch <- m\n\tm[\"a\"] = 1\n}\n\nfunc c(ch chan []int, xs []int) {\n\tbuf := make([]int, 1)\n\tfor _, x := range xs {\n\t\tbuf[0] = x\n\t\tch <- buf\n\t}\n}\n";
        assert_eq!(lines_of(src, ID), vec![8, 14, 20]);
    }

    #[test]
    fn values_fresh_variables_and_handbacks_are_silent() {
        let src = "package p\n\ntype T struct{ n int }\n\nfunc a(ch chan T) {\n\tv := T{}\n\tch <- v\n\tv.n = 2\n}\n\nfunc b(ch chan *T, xs []int) {\n\tfor _, x := range xs {\n\t\tp := &T{}\n\t\tp.n = x\n\t\tch <- p\n\t}\n}\n\nfunc c(ch chan *T, back chan bool) {\n\tp := &T{}\n\tch <- p\n\t<-back\n\tp.n = 1\n}\n\nfunc d(ch chan *T) {\n\tp := &T{}\n\tch <- p\n\tp = &T{}\n\tp.n = 1\n}\n";
        assert!(lines_of(src, ID).is_empty());
    }
}
