//! Channels made locally (`ch := make(chan T)`, `var ch = make(chan T, n)`): their capacity and
//! every operation on them — send, receive, `range`, `close`, `select` case — with where it runs
//! (the declaring function's own body, a goroutine it starts, or some other closure), and every
//! way the channel leaves the function's sight (passed to a call, stored, returned, aliased).
//!
//! Rules that need the whole picture of a channel ("who else can receive?") must stay silent
//! when [`LocalChannel::escapes`] is not empty or when an operation sits in a plain closure
//! ([`ChanOp::in_closure`]): the other end may then live anywhere.
//!
//! Build it once per rule run from the `make` calls of the file's node index:
//!
//! ```ignore
//! let channels = Channels::build(cx.model, cx.index.calls_named("make"));
//! for ch in channels.iter().filter(|c| c.is_unbuffered() && !c.escaped()) {
//!     for op in ch.ops_of(OpKind::Send).filter(|op| op.goroutine.is_some()) { … }
//! }
//! ```
//!
//! Building costs one walk of each function that makes a channel (nothing when the file makes
//! none), so every channel rule can afford to build its own.

use goconc_syntax::NodeExt;
use tree_sitter::Node;

use super::scope::FileModel;
use crate::goroutines::goroutine_start;

pub mod closes;
pub mod fields;
pub mod keys;
pub mod own_goroutine;
pub mod registries;
pub mod senders;
pub mod tables;

pub use closes::{close_events, CloseEvent};
use goconc_syntax::{call_args, enclosing_loop, named_children, text, unparen, walk};
pub use keys::{builtin_arg, chan_key, ChanKey};

/// The buffer of a channel, as far as the `make` call tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Capacity {
    /// `make(chan T)` or `make(chan T, 0)`.
    Unbuffered,
    /// `make(chan T, n)` with a constant literal `n > 0`.
    Buffered(u64),
    /// `make(chan T, expr)` with any other expression (see [`LocalChannel::capacity_expr`]).
    Unknown,
}

/// What an operation does to the channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// `ch <- v` (also as a `select` case).
    Send,
    /// `<-ch` anywhere in an expression, `v := <-ch`, `v, ok := <-ch`, `case v := <-ch:`.
    Receive,
    /// `for v := range ch`.
    Range,
    /// `close(ch)`.
    Close,
}

/// The `select` an operation is a case of.
#[derive(Debug, Clone, Copy)]
pub struct SelectCase<'t> {
    pub select: Node<'t>,
    /// The `communication_case` holding the operation.
    pub case: Node<'t>,
    /// The select has a `default` case: the operation never blocks.
    pub has_default: bool,
    /// Another case receives from a cancellation or timeout signal: `ctx.Done()`,
    /// `time.After(…)`, a timer's or ticker's `.C`, or a channel named like `done`/`stop`/`quit`.
    pub has_cancel: bool,
    /// How many other communication cases the select has (any of them can win).
    pub other_cases: usize,
}

impl SelectCase<'_> {
    /// Can the select leave without this operation happening? (Any other case or a default.)
    pub fn can_leave(&self) -> bool {
        self.has_default || self.other_cases > 0
    }
}

/// One operation on a local channel.
#[derive(Debug, Clone, Copy)]
pub struct ChanOp<'t> {
    pub kind: OpKind,
    /// The `send_statement`, the `<-ch` unary expression, the `for_statement` of a range, or the
    /// `close(ch)` call.
    pub node: Node<'t>,
    /// The channel's identifier at this operation.
    pub ident: Node<'t>,
    /// A receive of the form `v, ok := <-ch` / `v, ok = <-ch`.
    pub with_ok: bool,
    /// The goroutine the operation runs on when it is not the declaring function's own: the
    /// outermost function literal between them that is started by `go func(){…}()` or handed to
    /// `wg.Go`/`g.Go` (for errgroup and WaitGroup receivers of known type), and the statement or
    /// call that starts it.
    pub goroutine: Option<Goroutine<'t>>,
    /// A function literal that is *not* started as a goroutine lies between the declaring
    /// function and the operation (a callback, a deferred closure, a helper): when it runs is
    /// unknown to the model.
    pub in_closure: bool,
    /// The operation is a case of a `select`.
    pub select: Option<SelectCase<'t>>,
    /// The innermost `for` statement around the operation inside its own function (a literal
    /// counts as its own function); None when the operation is not in a loop there. For a
    /// `Range` operation this is the range loop's enclosing loop, not the range itself.
    pub loop_stmt: Option<Node<'t>>,
}

/// A function literal running on its own goroutine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Goroutine<'t> {
    /// The `func_literal`.
    pub literal: Node<'t>,
    /// The `go_statement`, or the `x.Go(…)` call expression.
    pub start: Node<'t>,
}

/// How a channel leaves the declaring function's sight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EscapeKind {
    /// An argument of a call other than `close`, `len` and `cap` (including `go f(ch)` and
    /// `signal.Notify(ch, …)`).
    CallArgument,
    /// Put in a composite literal, or on the right of an assignment to a field, index or other
    /// variable.
    Stored,
    /// Returned.
    Returned,
    /// Assigned to another variable (`out := ch`, `var r <-chan T = ch`).
    Assigned,
    /// The channel variable itself is assigned again (`ch = nil`, `ch = make(…)`).
    Reassigned,
    /// `&ch`.
    AddressTaken,
    /// Sent as a value over another channel.
    Sent,
    /// Any other use the model does not understand.
    Other,
}

#[derive(Debug, Clone, Copy)]
pub struct Escape<'t> {
    pub kind: EscapeKind,
    /// The channel's identifier at that use.
    pub ident: Node<'t>,
}

/// A channel made by `make` and held in a local variable.
#[derive(Debug, Clone)]
pub struct LocalChannel<'t> {
    pub name: &'t str,
    /// The declaring identifier.
    pub ident: Node<'t>,
    /// The `make(…)` call.
    pub make_call: Node<'t>,
    /// The `chan T` type node inside `make`.
    pub chan_type: Node<'t>,
    pub capacity: Capacity,
    /// The capacity argument, when there is one.
    pub capacity_expr: Option<Node<'t>>,
    /// The declaring function (an index into [`FileModel::functions`]).
    pub function: usize,
    /// Every operation, in document order.
    pub ops: Vec<ChanOp<'t>>,
    /// Every escaping use, in document order.
    pub escapes: Vec<Escape<'t>>,
}

impl<'t> LocalChannel<'t> {
    pub fn is_unbuffered(&self) -> bool {
        self.capacity == Capacity::Unbuffered
    }

    /// The channel leaves the function's sight: whole-picture rules must stay silent.
    pub fn escaped(&self) -> bool {
        !self.escapes.is_empty()
    }

    /// The operations of one kind.
    pub fn ops_of(&self, kind: OpKind) -> impl Iterator<Item = &ChanOp<'t>> + '_ {
        self.ops.iter().filter(move |op| op.kind == kind)
    }

    /// Is the whole picture known: no escape and no operation inside a plain closure?
    pub fn fully_visible(&self) -> bool {
        !self.escaped() && !self.ops.iter().any(|op| op.in_closure)
    }

    /// Operations that run on the declaring function's own goroutine.
    pub fn parent_ops(&self) -> impl Iterator<Item = &ChanOp<'t>> + '_ {
        self.ops
            .iter()
            .filter(|op| op.goroutine.is_none() && !op.in_closure)
    }
}

/// The local channels of one file.
#[derive(Debug, Default)]
pub struct Channels<'t> {
    channels: Vec<LocalChannel<'t>>,
}

impl<'t> Channels<'t> {
    /// Builds the channels from the file's `make` calls (`cx.index.calls_named("make")`).
    pub fn build(model: &FileModel<'t>, make_calls: &[Node<'t>]) -> Channels<'t> {
        let mut channels = Vec::new();
        for &call in make_calls {
            if let Some(ch) = declared_channel(model, call) {
                channels.push(ch);
            }
        }
        // One walk per declaring function, for all its channels together.
        let mut i = 0;
        while i < channels.len() {
            let function = channels[i].function;
            let mut j = i;
            while j < channels.len() && channels[j].function == function {
                j += 1;
            }
            collect_uses(model, &mut channels[i..j]);
            i = j;
        }
        Channels { channels }
    }

    pub fn iter(&self) -> impl Iterator<Item = &LocalChannel<'t>> {
        self.channels.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.channels.is_empty()
    }

    /// The local channel an expression names (an identifier resolving to its declaration).
    pub fn of_expr(&self, model: &FileModel<'t>, expr: Node<'t>) -> Option<&LocalChannel<'t>> {
        let expr = unparen(expr);
        if expr.kind_str() != "identifier" {
            return None;
        }
        let decl = model.resolve(expr)?;
        self.channels.iter().find(|c| c.ident == decl.ident)
    }
}

/// The channel type and buffer of a `make(chan T[, n])` call of the builtin `make`: the `chan T`
/// node, the capacity, and the capacity argument when there is one.
pub fn made_channel<'t>(
    model: &FileModel<'t>,
    call: Node<'t>,
) -> Option<(Node<'t>, Capacity, Option<Node<'t>>)> {
    let function = call.field("function")?;
    if function.kind_str() != "identifier"
        || text(function, model.src) != "make"
        || model.resolve(function).is_some()
    {
        return None;
    }
    let args = call_args(call);
    let chan_type = *args.first()?;
    if chan_type.kind_str() != "channel_type" {
        return None;
    }
    let (capacity, capacity_expr) = match args.get(1) {
        None => (Capacity::Unbuffered, None),
        Some(&n) => {
            let lit = unparen(n);
            let value = (lit.kind_str() == "int_literal")
                .then(|| text(lit, model.src).replace('_', "").parse::<u64>().ok())
                .flatten();
            match value {
                Some(0) => (Capacity::Unbuffered, Some(n)),
                Some(v) => (Capacity::Buffered(v), Some(n)),
                None => (Capacity::Unknown, Some(n)),
            }
        }
    };
    Some((chan_type, capacity, capacity_expr))
}

/// `name := make(chan T…)` or `var name = make(chan T…)`, one name per value.
fn declared_channel<'t>(model: &FileModel<'t>, call: Node<'t>) -> Option<LocalChannel<'t>> {
    let (chan_type, capacity, capacity_expr) = made_channel(model, call)?;
    let list = call.parent_node()?;
    if list.kind_str() != "expression_list" {
        return None;
    }
    let position = named_children(list).position(|n| n == call)?;
    let stmt = list.parent_node()?;
    let left = match stmt.kind_str() {
        "short_var_declaration" => stmt.field("left")?,
        "var_spec" => stmt,
        _ => return None,
    };
    let names: Vec<Node> = if stmt.kind_str() == "var_spec" {
        let mut cursor = left.walk();
        left.children_by_field_name("name", &mut cursor).collect()
    } else {
        named_children(left).collect()
    };
    if names.len() != named_children(list).count() {
        return None;
    }
    let ident = *names.get(position)?;
    let decl = model.resolve_name(text(ident, model.src), stmt.end_offset())?;
    if decl.ident != ident {
        return None;
    }
    Some(LocalChannel {
        name: decl.name,
        ident,
        make_call: call,
        chan_type,
        capacity,
        capacity_expr,
        function: decl.function,
        ops: Vec::new(),
        escapes: Vec::new(),
    })
}

fn collect_uses<'t>(model: &FileModel<'t>, channels: &mut [LocalChannel<'t>]) {
    let Some(function) = channels.first().map(|c| model.functions[c.function].node) else {
        return;
    };
    // The channels by name: a function may make thousands, and each of its identifiers was
    // compared with every one.
    let mut by_name: crate::HashMap<&str, Vec<usize>> = crate::HashMap::default();
    for (i, c) in channels.iter().enumerate() {
        by_name.entry(c.name).or_default().push(i);
    }
    walk(function, |node| {
        if node.kind_str() != "identifier" {
            return true;
        }
        let name = text(node, model.src);
        // Two channels of one function may share a name (`resultC` made in an early-return
        // branch and again below it): a use belongs to the one it resolves to.
        let Some(named) = by_name.get(name) else {
            return true;
        };
        if !named.iter().any(|&i| channels[i].ident != node) {
            return true;
        }
        let Some(declared) = model.resolve(node).map(|d| d.ident) else {
            return true;
        };
        let Some(&i) = named
            .iter()
            .find(|&&i| channels[i].ident == declared && channels[i].ident != node)
        else {
            return true;
        };
        let ch = &mut channels[i];
        if node.start_byte() < ch.ident.start_byte() {
            return true;
        }
        classify(model, function, node, ch);
        true
    });
}

/// Sorts one use of a channel identifier into an operation or an escape.
fn classify<'t>(
    model: &FileModel<'t>,
    function: Node<'t>,
    ident: Node<'t>,
    ch: &mut LocalChannel<'t>,
) {
    let src = model.src;
    // Look through parentheses.
    let expr = goconc_syntax::outer_parens(ident);
    let Some(parent) = expr.parent_node() else {
        return;
    };
    let mut op = |kind: OpKind, node: Node<'t>, with_ok: bool| {
        let (goroutine, in_closure) = placement(model, node, function);
        ch.ops.push(ChanOp {
            kind,
            node,
            ident,
            with_ok,
            goroutine,
            in_closure,
            select: select_case(model, node),
            loop_stmt: enclosing_loop(if kind == OpKind::Range {
                node.parent_node().unwrap_or(node)
            } else {
                node
            }),
        });
    };
    match parent.kind_str() {
        "send_statement" if parent.field("channel") == Some(expr) => {
            op(OpKind::Send, parent, false);
            return;
        }
        "unary_expression"
            if parent
                .field("operator")
                .is_some_and(|o| text(o, src) == "<-") =>
        {
            op(OpKind::Receive, parent, receives_with_ok(parent));
            return;
        }
        "range_clause" if parent.field("right") == Some(expr) => {
            if let Some(for_stmt) = parent.parent_node() {
                op(OpKind::Range, for_stmt, false);
            }
            return;
        }
        "argument_list" => {
            if let Some(call) = parent.parent_node() {
                let callee = call.field("function").map(unparen);
                let builtin = callee
                    .filter(|f| f.kind_str() == "identifier" && model.resolve(*f).is_none())
                    .map(|f| text(f, src));
                match builtin {
                    Some("close") => {
                        op(OpKind::Close, call, false);
                        return;
                    }
                    Some("len" | "cap") => return,
                    _ => {}
                }
            }
        }
        "binary_expression" => {
            // `ch == nil`, `ch != nil`: no effect on the channel.
            if parent
                .field("operator")
                .is_some_and(|o| matches!(text(o, src), "==" | "!="))
            {
                return;
            }
        }
        _ => {}
    }
    let kind = match parent.kind_str() {
        "argument_list" => EscapeKind::CallArgument,
        "send_statement" => EscapeKind::Sent,
        "unary_expression"
            if parent
                .field("operator")
                .is_some_and(|o| text(o, src) == "&") =>
        {
            EscapeKind::AddressTaken
        }
        "literal_value" | "literal_element" | "keyed_element" => EscapeKind::Stored,
        "expression_list" => match parent.parent_node().map(|g| (g.kind_str(), g)) {
            Some(("return_statement", _)) => EscapeKind::Returned,
            Some(("assignment_statement", g)) => {
                if g.field("left") == Some(parent) {
                    EscapeKind::Reassigned
                } else {
                    let targets_plain = g
                        .field("left")
                        .is_some_and(|l| named_children(l).all(|n| n.kind_str() == "identifier"));
                    if targets_plain {
                        EscapeKind::Assigned
                    } else {
                        EscapeKind::Stored
                    }
                }
            }
            Some(("short_var_declaration" | "var_spec", _)) => EscapeKind::Assigned,
            Some(("literal_value" | "argument_list", _)) => EscapeKind::Stored,
            _ => EscapeKind::Other,
        },
        "return_statement" => EscapeKind::Returned,
        "var_spec" => EscapeKind::Assigned,
        _ => EscapeKind::Other,
    };
    ch.escapes.push(Escape { kind, ident });
}

/// `v, ok := <-ch`, `v, ok = <-ch`, `case v, ok := <-ch:`.
fn receives_with_ok(recv: Node) -> bool {
    let node = goconc_syntax::outer_parens(recv);
    let Some(parent) = node.parent_node() else {
        return false;
    };
    let stmt = match parent.kind_str() {
        "receive_statement" => parent,
        "expression_list" => match parent.parent_node() {
            Some(g)
                if matches!(
                    g.kind_str(),
                    "short_var_declaration" | "assignment_statement"
                ) =>
            {
                g
            }
            _ => return false,
        },
        _ => return false,
    };
    stmt.field("left")
        .is_some_and(|l| named_children(l).count() == 2)
}

/// Where an operation runs relative to the declaring function `function`.
fn placement<'t>(
    model: &FileModel<'t>,
    node: Node<'t>,
    function: Node<'t>,
) -> (Option<Goroutine<'t>>, bool) {
    let mut goroutine = None;
    let mut in_closure = false;
    let mut current = node.parent_node();
    while let Some(n) = current {
        if n == function {
            break;
        }
        if n.kind_str() == "func_literal" {
            match goroutine_start(model, n) {
                Some(start) => goroutine = Some(Goroutine { literal: n, start }),
                None => in_closure = true,
            }
        }
        current = n.parent_node();
    }
    (goroutine, in_closure)
}

/// The select case an operation is the communication of.
fn select_case<'t>(model: &FileModel<'t>, node: Node<'t>) -> Option<SelectCase<'t>> {
    let mut comm = node;
    loop {
        let parent = comm.parent_node()?;
        match parent.kind_str() {
            "parenthesized_expression" | "receive_statement" => comm = parent,
            "expression_list" if comm.kind_str() == "unary_expression" => comm = parent,
            _ => break,
        }
    }
    let case = comm.parent_node()?;
    if case.kind_str() != "communication_case" || case.field("communication") != Some(comm) {
        return None;
    }
    let select = case.parent_node()?;
    let mut has_default = false;
    let mut has_cancel = false;
    let mut other_cases = 0;
    for c in named_children(select) {
        match c.kind_str() {
            "default_case" => has_default = true,
            "communication_case" if c != case => {
                other_cases += 1;
                if c.field("communication")
                    .is_some_and(|m| is_cancel_receive(model, m))
                {
                    has_cancel = true;
                }
            }
            _ => {}
        }
    }
    Some(SelectCase {
        select,
        case,
        has_default,
        has_cancel,
        other_cases,
    })
}

/// Is a select communication a receive from a cancellation or timeout signal?
pub fn is_cancel_receive(model: &FileModel, comm: Node) -> bool {
    let src = model.src;
    let recv = match comm.kind_str() {
        "receive_statement" => comm.field("right").map(unparen),
        _ => None,
    };
    let Some(recv) = recv else { return false };
    if recv.kind_str() != "unary_expression" {
        return false;
    }
    let Some(operand) = recv.field("operand").map(unparen) else {
        return false;
    };
    is_cancel_channel(model, operand, src)
}

/// `ctx.Done()`, `time.After(d)`, `t.C`, `done`, `s.stop`, … — a channel that signals "stop
/// waiting".
pub fn is_cancel_channel(model: &FileModel, operand: Node, src: &str) -> bool {
    match operand.kind_str() {
        "call_expression" => {
            let Some(function) = operand.field("function").map(unparen) else {
                return false;
            };
            if let Some(name) = model.qualified_name(function, "time") {
                return matches!(name, "After" | "Tick");
            }
            function.kind_str() == "selector_expression"
                && function
                    .field("field")
                    .is_some_and(|f| text(f, src) == "Done")
        }
        "selector_expression" | "identifier" => {
            let name = match operand.kind_str() {
                "identifier" => text(operand, src),
                _ => operand.field("field").map_or("", |f| text(f, src)),
            };
            name == "C" || crate::words::STOP_CHANNEL.in_identifier(name)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::NodeIndex;
    use crate::{FileDecls, PackageModel};
    use goconc_syntax::SourceFile;

    fn with_channels(src: &str, f: impl FnOnce(&FileModel, &Channels)) {
        let file = SourceFile::new(src.to_string());
        let root = file.tree().root_node();
        let decls = FileDecls::collect(root, src);
        let package = PackageModel::from_files([&decls]);
        let model = FileModel::build(root, file.text(), &package);
        let index = NodeIndex::build(root, file.text());
        let channels = Channels::build(&model, index.calls_named("make"));
        f(&model, &channels);
    }

    #[test]
    fn uses_belong_to_the_channel_they_resolve_to() {
        let src = r#"package p

func f(early bool) <-chan int {
	if early {
		out := make(chan int, 1)
		out <- 1
		return out
	}
	out := make(chan int)
	go func() { out <- 2 }()
	return out
}
"#;
        with_channels(src, |_, chans| {
            let all: Vec<_> = chans.iter().collect();
            assert_eq!(all.len(), 2);
            let (first, second) = (all[0], all[1]);
            assert_eq!(first.capacity, Capacity::Buffered(1));
            assert!(first.ops_of(OpKind::Send).all(|op| op.goroutine.is_none()));
            assert_eq!(first.ops_of(OpKind::Send).count(), 1);
            assert_eq!(second.capacity, Capacity::Unbuffered);
            let sends: Vec<_> = second.ops_of(OpKind::Send).collect();
            assert_eq!(sends.len(), 1);
            assert!(sends[0].goroutine.is_some());
            assert_eq!(first.escapes.len(), 1);
            assert_eq!(second.escapes.len(), 1);
        });
    }

    #[test]
    fn capacity_ops_and_placement() {
        let src = r#"package p

import "context"

func f(ctx context.Context, n int) (int, error) {
	a := make(chan int)
	b, c := make(chan error, 1), make(chan int, n)
	go func() { a <- 1 }()
	go func() {
		select {
		case b <- nil:
		case <-ctx.Done():
		}
	}()
	defer func() { close(c) }()
	for v := range c {
		_ = v
	}
	v, ok := <-a
	_ = ok
	return v, <-b
}
"#;
        with_channels(src, |_, chans| {
            let all: Vec<_> = chans.iter().collect();
            assert_eq!(all.len(), 3);
            let (a, b, c) = (all[0], all[1], all[2]);
            assert_eq!((a.name, a.capacity), ("a", Capacity::Unbuffered));
            assert_eq!((b.name, b.capacity), ("b", Capacity::Buffered(1)));
            assert_eq!((c.name, c.capacity), ("c", Capacity::Unknown));
            let send = a.ops_of(OpKind::Send).next().unwrap();
            assert!(send.goroutine.is_some() && !send.in_closure && send.select.is_none());
            let recv = a.ops_of(OpKind::Receive).next().unwrap();
            assert!(recv.with_ok && recv.goroutine.is_none());
            let bsend = b.ops_of(OpKind::Send).next().unwrap();
            let sel = bsend.select.unwrap();
            assert!(sel.has_cancel && !sel.has_default && sel.can_leave());
            assert!(b.parent_ops().any(|op| op.kind == OpKind::Receive));
            assert!(!a.escaped() && !b.escaped());
            let close = c.ops_of(OpKind::Close).next().unwrap();
            assert!(close.in_closure);
            assert!(c.ops_of(OpKind::Range).next().is_some());
            assert!(!c.fully_visible());
        });
    }

    #[test]
    fn escapes() {
        let src = r#"package p

type s struct{ ch chan int }

func g(chan int) {}

func f() (chan int, *s) {
	a := make(chan int)
	g(a)
	b := make(chan int)
	x := &s{ch: b}
	c := make(chan int)
	c = nil
	d := make(chan int)
	if d != nil && len(d) == 0 {
		return d, x
	}
	return c, x
}
"#;
        with_channels(src, |_, chans| {
            let kinds: Vec<Vec<EscapeKind>> = chans
                .iter()
                .map(|c| c.escapes.iter().map(|e| e.kind).collect())
                .collect();
            assert_eq!(
                kinds,
                vec![
                    vec![EscapeKind::CallArgument],
                    vec![EscapeKind::Stored],
                    vec![EscapeKind::Reassigned, EscapeKind::Returned],
                    vec![EscapeKind::Returned],
                ]
            );
        });
    }
}
