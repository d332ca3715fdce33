//! Who sends on a local channel and who waits for it: the "sender left behind" dataflow over the
//! parent's body, and small questions about a channel's senders and receivers that the
//! goroutine-leak rules ask.

use crate::HashSet;
use goconc_syntax::NodeExt;
use std::ops::Range;

use tree_sitter::Node;

use super::{Capacity, ChanOp, Goroutine, LocalChannel, OpKind};
use crate::flow::{self, ExitKind, FlowAnalysis};
use crate::FileModel;

/// The one goroutine that sends on a channel, and its sends; None when the sends are spread over
/// several goroutines, or some send runs in the parent or in a plain closure.
pub fn single_sender<'a, 't>(
    ch: &'a LocalChannel<'t>,
) -> Option<(Goroutine<'t>, Vec<&'a ChanOp<'t>>)> {
    let mut sender: Option<Goroutine<'t>> = None;
    let mut sends = Vec::new();
    for op in ch.ops_of(OpKind::Send) {
        let g = op.goroutine?;
        if op.in_closure || sender.is_some_and(|s| s != g) {
            return None;
        }
        sender = Some(g);
        sends.push(op);
    }
    Some((sender?, sends))
}

/// A bare send (not a `select` case that can be abandoned) outside any loop of its goroutine.
/// The shape every leak rule starts from: an unbuffered channel made here and never escaping,
/// one goroutine that sends on it, and the parent as its only receiver. Returns that goroutine
/// and its sends.
pub fn lone_sender_to_parent<'a, 't>(
    ch: &'a LocalChannel<'t>,
) -> Option<(Goroutine<'t>, Vec<&'a ChanOp<'t>>)> {
    if ch.capacity != Capacity::Unbuffered || !ch.fully_visible() {
        return None;
    }
    let (sender, sends) = single_sender(ch)?;
    parent_is_only_receiver(ch, sender).then_some((sender, sends))
}

pub fn is_single_blocking_send(op: &ChanOp) -> bool {
    op.loop_stmt.is_none() && op.select.is_none_or(|s| !s.can_leave())
}

/// Receives, ranges and closes: only the parent receives, only the sender closes.
pub fn parent_is_only_receiver(ch: &LocalChannel, sender: Goroutine) -> bool {
    ch.ops.iter().all(|op| match op.kind {
        OpKind::Send => true,
        OpKind::Receive => op.goroutine.is_none() && !op.in_closure,
        OpKind::Range => false,
        OpKind::Close => op.goroutine == Some(sender) && !op.in_closure,
    })
}

/// The statement of the parent body that starts a goroutine (`go func(){…}()`), when it is a
/// `go` statement directly in the parent (not inside a nested literal).
pub fn go_statement<'t>(
    model: &FileModel<'t>,
    g: Goroutine<'t>,
    parent: usize,
) -> Option<Node<'t>> {
    (g.start.kind_str() == "go_statement" && model.function_of(g.start) == Some(parent))
        .then_some(g.start)
}

/// Where the parent leaves a sender behind: the exits it takes while a value is still owed
/// (returns and the end of the body), and, for a channel made in the loop that starts its
/// goroutine, whether an iteration can end owing one (the next iteration makes a new channel and
/// nobody receives from the old one again).
#[derive(Debug, Default)]
pub struct LeftBehind<'t> {
    pub exits: Vec<Node<'t>>,
    pub next_iteration: bool,
}

/// Runs "is a value still owed to the sender?" over the parent's body: the state becomes pending
/// at the `go` statement and clears at any receive from the channel. Returns the exits left
/// while pending (returns, the end of the body, calls that end a test's goroutine), and whether
/// a loop iteration can end owing a value to the sender of a channel made in that iteration;
/// None when the analysis cannot see every receive (one in an `if` or `switch` header, `goto`).
pub fn left_behind<'t>(
    model: &FileModel<'t>,
    ch: &LocalChannel<'t>,
    go: Node<'t>,
) -> Option<LeftBehind<'t>> {
    let body = model.functions.get(ch.function)?.body?;
    let receives: Vec<Range<usize>> = ch
        .parent_ops()
        .filter(|op| op.kind == OpKind::Receive)
        .map(|op| op.node.byte_span())
        .collect();
    // The statement that makes the channel, when it runs once per iteration of a loop.
    let make_stmt = goconc_syntax::enclosing_loop(go)
        .filter(|lp| goconc_syntax::is_within(ch.ident, *lp))
        .and_then(|_| {
            let mut stmt = ch.make_call;
            while let Some(p) = stmt.parent_node() {
                if matches!(p.kind_str(), "short_var_declaration" | "var_declaration") {
                    return Some(p);
                }
                stmt = p;
            }
            None
        });
    let mut analysis = Pending {
        start: go,
        clears: receives,
        seen: HashSet::default(),
        make_stmt,
        next_iteration: false,
    };
    let exits = flow::run(model, body, &mut analysis, false)?;
    if analysis.seen.len() != analysis.clears.len() {
        return None;
    }
    // A loop that receives `v, ok` until the sender closes the channel, and leaves only once
    // `ok` said so, has received everything the sender sent.
    let closed_when = close_observed(model, ch, go, body);
    let mut out: Vec<Node<'t>> = exits
        .into_iter()
        .filter(|e| e.state && leaves_goroutines_behind(model, e))
        .map(|e| e.node)
        .filter(|e| !gated_on(model.src, body, *e, &closed_when))
        .collect();
    out.sort_by_key(|n| n.start_byte());
    Some(LeftBehind {
        exits: out,
        next_iteration: analysis.next_iteration,
    })
}

/// Does the function's goroutine leave by this exit while the program goes on? Returns and the
/// end of the body do, and so do `t.Fatal` & co, which end a test's goroutine; `os.Exit` and a
/// panic end the program, which frees every goroutine it started.
fn leaves_goroutines_behind<'t>(model: &FileModel<'t>, exit: &flow::Exit<'t, bool>) -> bool {
    match exit.kind {
        ExitKind::Return | ExitKind::EndOfBody => true,
        ExitKind::NoReturn => goconc_syntax::statement_call(exit.node)
            .is_some_and(|call| crate::goroutines::goroutine_exit(model, call).is_some()),
    }
}

/// The exits of `body` its goroutine can take after the statement `start` without running a
/// statement that holds one of `clears` (a `close(ch)`, a `defer close(ch)`): returns, the end
/// of the body, and calls that end a test's goroutine, in source order. None when the flow
/// analysis cannot see every one of `clears` (one in an `if` or `switch` header, a `goto`, …).
pub fn exits_skipping<'t>(
    model: &FileModel<'t>,
    body: Node<'t>,
    start: Node<'t>,
    clears: Vec<Range<usize>>,
) -> Option<Vec<Node<'t>>> {
    let mut analysis = Pending {
        start,
        clears,
        seen: HashSet::default(),
        make_stmt: None,
        next_iteration: false,
    };
    let exits = flow::run(model, body, &mut analysis, false)?;
    if analysis.seen.len() != analysis.clears.len() {
        return None;
    }
    let mut out: Vec<Node<'t>> = exits
        .into_iter()
        .filter(|e| e.state && leaves_goroutines_behind(model, e))
        .map(|e| e.node)
        .collect();
    out.sort_by_key(|n| n.start_byte());
    Some(out)
}

/// What says the sender's channel was seen closed, with where it says so: the `ok` of each
/// `v, ok := <-ch` of the parent (within the statement's block or `select` case), and the
/// variables that case or block assigns from it (`stopped = !ok`, anywhere in the body), when
/// the goroutine started by `go` closes the channel on its way out (`defer close(ch)` in its
/// body). Empty otherwise.
fn close_observed<'t>(
    model: &FileModel<'t>,
    ch: &LocalChannel<'t>,
    go: Node<'t>,
    body: Node<'t>,
) -> Vec<(&'t str, Node<'t>)> {
    let src = model.src;
    let closes_on_exit = ch.ops_of(OpKind::Close).any(|op| {
        let Some(g) = op
            .goroutine
            .filter(|g| goconc_syntax::is_within(g.literal, go))
        else {
            return false;
        };
        op.node
            .parent_node()
            .filter(|d| d.kind_str() == "defer_statement")
            .and_then(goconc_syntax::parent_block)
            .and_then(|b| b.parent_node())
            .is_some_and(|f| f == g.literal)
    });
    let mut gates = Vec::new();
    if !closes_on_exit {
        return gates;
    }
    for op in ch.parent_ops().filter(|op| op.with_ok) {
        // `case v, ok := <-ch:` holds the receive itself; `v, ok := <-ch` in an expression list.
        let Some(statement) = op.node.parent_node().and_then(|p| match p.kind_str() {
            "receive_statement" => Some(p),
            _ => p.parent_node(),
        }) else {
            continue;
        };
        let ok = statement
            .field("left")
            .and_then(|left| goconc_syntax::named_children(left).nth(1))
            .filter(|ok| ok.kind_str() == "identifier")
            .map(|ok| goconc_syntax::text(ok, src))
            .filter(|ok| *ok != "_");
        let scope = statement
            .parent_node()
            .filter(|p| p.kind_str() == "communication_case")
            .or_else(|| goconc_syntax::parent_block(statement));
        let (Some(ok), Some(scope)) = (ok, scope) else {
            continue;
        };
        gates.push((ok, scope));
        // `stopped = !ok`: a variable of the parent that carries what `ok` said.
        goconc_syntax::walk_body(scope, |n| {
            if n.kind_str() != "assignment_statement" {
                return;
            }
            let (Some(left), Some(right)) = (n.field("left"), n.field("right")) else {
                return;
            };
            if reads_any(src, right, &[ok]) {
                for target in goconc_syntax::named_children(left) {
                    if target.kind_str() == "identifier" {
                        gates.push((goconc_syntax::text(target, src), body));
                    }
                }
            }
        });
    }
    gates
}

/// Does `node` read a variable named one of `names`?
fn reads_any(src: &str, node: Node, names: &[&str]) -> bool {
    let mut reads = false;
    goconc_syntax::walk(node, |n| {
        reads |= n.kind_str() == "identifier" && names.contains(&goconc_syntax::text(n, src));
        !reads
    });
    reads
}

/// Is `exit` reached only through an `if` in `body` whose condition reads one of the gates,
/// within that gate's scope?
fn gated_on(src: &str, body: Node, exit: Node, gates: &[(&str, Node)]) -> bool {
    if gates.is_empty() {
        return false;
    }
    goconc_syntax::ancestors_under(body, exit)
        .into_iter()
        .filter(|n| n.kind_str() == "if_statement")
        // The `then` branch: the one taken when the condition holds.
        .filter(|n| {
            n.field("consequence")
                .is_some_and(|then| goconc_syntax::is_within(exit, then))
        })
        .filter_map(|n| n.field("condition").map(|c| (n, c)))
        .any(|(statement, condition)| {
            gates.iter().any(|(name, scope)| {
                goconc_syntax::is_within(statement, *scope) && reads_any(src, condition, &[name])
            })
        })
}

/// "Is something still owed?": set at `start` (the `go` statement), cleared by any statement
/// holding one of `clears` (the parent's receives, or its closes of the channel).
struct Pending<'t> {
    start: Node<'t>,
    clears: Vec<Range<usize>>,
    seen: HashSet<usize>,
    /// The statement making the channel anew in each iteration.
    make_stmt: Option<Node<'t>>,
    /// An iteration ended owing a value: the make statement ran again while pending.
    next_iteration: bool,
}

impl<'t> FlowAnalysis<'t> for Pending<'t> {
    type State = bool;

    fn transfer(&mut self, stmt: Node<'t>, state: &mut bool) {
        if Some(stmt) == self.make_stmt {
            // A new channel: the old one's sender is left behind for good.
            self.next_iteration |= *state;
            *state = false;
            return;
        }
        if stmt == self.start {
            *state = true;
            return;
        }
        for (i, r) in self.clears.iter().enumerate() {
            if r.start >= stmt.start_byte() && r.end <= stmt.end_offset() {
                self.seen.insert(i);
                *state = false;
            }
        }
    }

    fn join(&self, a: &bool, b: &bool) -> bool {
        *a || *b
    }
}
