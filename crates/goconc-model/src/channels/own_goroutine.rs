//! What a top-level function does on the goroutine that runs it, for facts composed over calls:
//! the calls it makes there (directly, deferred, or inside a function literal it calls at once —
//! not in a `go` statement nor in a literal it hands to someone else), its loops, the receives
//! from its channel parameters, and the field channels it hands to a goroutine it starts
//! (`go d.loop(ctx, d.ops)`).
//!
//! With the field channel facts ([`super::fields`]) this answers "does the goroutine that alone
//! receives from `d.ops` reach, from its own receiving loop and through calls of the package, a
//! send on `d.ops`?" — a goroutine that sends to itself. Offsets are relative to the start of the
//! top-level function, like the field channel facts, so that a server keeps them while the
//! function's text is unchanged.

use goconc_syntax::NodeExt;
use tree_sitter::Node;

use crate::imports::Imports;
use crate::summary::CallTarget;
use goconc_syntax::{call_args, named_children, text, unparen};

/// One call made on the function's own goroutine.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OwnCall {
    pub target: CallTarget,
    pub name: String,
    /// Byte offset and length of the call, relative to the start of the top-level function.
    pub offset: usize,
    pub len: usize,
    /// Every call of the function reaches it: it sits in a top-level statement of the body (not
    /// in a nested block, a `case`, a function literal, or the right side of `&&`/`||`).
    pub on_every_call: bool,
}

/// A receive (`<-ch`, `for v := range ch`) from one of the function's parameters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ParamReceive {
    /// The parameter's position (the receiver not counted).
    pub param: usize,
    pub offset: usize,
    pub len: usize,
    /// The innermost loop around it, by offset (for a range: the range loop).
    pub loop_offset: Option<usize>,
}

/// An argument `x.f` of a call started by `go` (`go d.loop(ctx, d.ops)`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GoArg {
    pub target: CallTarget,
    pub name: String,
    /// The argument's position.
    pub arg: usize,
    /// Where `x.f` is, relative to the top-level function: the field channel facts' `Escape` of
    /// the same offset names its owner and field.
    pub offset: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct OwnGoroutine {
    pub calls: Vec<OwnCall>,
    /// The `for` statements of its own goroutine code: offset and length.
    pub loops: Vec<(usize, usize)>,
    /// The send statements of its own goroutine code, by offset.
    pub sends: Vec<usize>,
    /// Of those, the ones every call reaches (see [`OwnCall::on_every_call`]).
    pub sends_on_every_call: Vec<usize>,
    pub param_receives: Vec<ParamReceive>,
    pub go_args: Vec<GoArg>,
    /// The functions and methods it starts by name (`go d.loop()`, also on a local it made of a
    /// package type), as calls to resolve, each with whether the `go` sits in a loop (which may
    /// start several goroutines running it).
    pub starts: Vec<(CallTarget, String, bool)>,
}

impl OwnGoroutine {
    /// Hashes what the facts tell other functions, without offsets (an edit elsewhere in the
    /// function keeps the hash): each call, send and receive by the loop it sits in, each loop by
    /// the loop around it.
    pub fn hash_without_offsets(&self, key: &mut impl std::hash::Hasher) {
        use std::hash::Hash;
        let innermost = |offset: usize| {
            self.loops
                .iter()
                .enumerate()
                .filter(|(_, &(start, len))| start <= offset && offset < start + len)
                .min_by_key(|(_, &(_, len))| len)
                .map(|(i, _)| i)
        };
        for &(start, _) in &self.loops {
            // The loop around this one (a loop contains its own start: skip itself).
            self.loops
                .iter()
                .enumerate()
                .filter(|(_, &(s, l))| s < start && start < s + l)
                .min_by_key(|(_, &(_, l))| l)
                .map(|(i, _)| i)
                .hash(key);
        }
        for c in &self.calls {
            (&c.target, &c.name, c.on_every_call, innermost(c.offset)).hash(key);
        }
        for &send in &self.sends {
            (innermost(send), self.sends_on_every_call.contains(&send)).hash(key);
        }
        for r in &self.param_receives {
            (r.param, r.loop_offset.and_then(innermost)).hash(key);
        }
        for a in &self.go_args {
            (&a.target, &a.name, a.arg).hash(key);
        }
        self.starts.hash(key);
    }

    /// Gives back the room the lists grew into: the facts of every function of a package are
    /// held until its last file is checked.
    fn shrink_to_fit(&mut self) {
        self.calls.shrink_to_fit();
        self.loops.shrink_to_fit();
        self.sends.shrink_to_fit();
        self.sends_on_every_call.shrink_to_fit();
        self.param_receives.shrink_to_fit();
        self.go_args.shrink_to_fit();
        self.starts.shrink_to_fit();
    }

    /// The innermost loop of this function around `offset` (a `for` statement's own offset, or
    /// its range clause's), as a range of offsets.
    pub fn loop_at(&self, offset: usize) -> Option<std::ops::Range<usize>> {
        self.loops
            .iter()
            .filter(|&&(start, len)| start <= offset && offset < start + len)
            .min_by_key(|&&(_, len)| len)
            .map(|&(start, len)| start..start + len)
    }
}

/// The facts of one top-level function or method (`decl`, with its `body`).
pub fn collect<'a, 's>(
    decl: Node,
    body: Node,
    src: &'s str,
    imports: &'a Imports,
    names: &crate::summary::NamesByFunction<'a, 's>,
) -> OwnGoroutine {
    let start = decl.start_byte();
    let params = param_names(decl, src);
    let mut facts = OwnGoroutine::default();
    let mut calls: Vec<Node> = Vec::new();
    let mut go_calls: Vec<Node> = Vec::new();
    let mut top_level: crate::HashMap<usize, bool> = Default::default();
    let mut called_in_place: crate::HashSet<usize> = Default::default();
    goconc_syntax::walk(body, |n| match n.kind_str() {
        "go_statement" => {
            if let Some(call) = named_children(n)
                .next()
                .filter(|c| c.kind_str() == "call_expression")
            {
                go_calls.push(call);
            }
            false
        }
        // A literal runs on this goroutine only when it is called right here (`func(){…}()`,
        // `defer func(){…}()`); one handed to a call may run anywhere.
        // The walk meets the call before its literal, so the call marks it (asking the literal
        // for its parent would cost a descent from the root per literal in deep nesting).
        "func_literal" => called_in_place.contains(&n.id()),
        "call_expression" => {
            if let Some(function) = n.field("function").map(unparen) {
                if function.kind_str() == "func_literal" {
                    called_in_place.insert(function.id());
                }
            }
            calls.push(n);
            true
        }
        "for_statement" => {
            facts
                .loops
                .push((n.start_byte() - start, n.end_offset() - n.start_byte()));
            true
        }
        "send_statement" => {
            facts.sends.push(n.start_byte() - start);
            if on_every_call(n, body, src, &mut top_level) {
                facts.sends_on_every_call.push(n.start_byte() - start);
            }
            true
        }
        "unary_expression" if n.field("operator").is_some_and(|o| text(o, src) == "<-") => {
            if let Some(param) = n
                .field("operand")
                .and_then(|o| param_of(unparen(o), &params, src))
            {
                facts.param_receives.push(ParamReceive {
                    param,
                    offset: n.start_byte() - start,
                    len: n.end_offset() - n.start_byte(),
                    loop_offset: enclosing_for(n, body).map(|l| l.start_byte() - start),
                });
            }
            true
        }
        "range_clause" => {
            let param = n
                .field("right")
                .and_then(|r| param_of(unparen(r), &params, src));
            if let (Some(param), Some(lp)) = (param, n.parent_node()) {
                facts.param_receives.push(ParamReceive {
                    param,
                    offset: n.start_byte() - start,
                    len: n.end_offset() - n.start_byte(),
                    loop_offset: Some(lp.start_byte() - start),
                });
            }
            true
        }
        _ => true,
    });
    if calls.is_empty() && go_calls.is_empty() {
        return facts;
    }
    let mut all = calls.clone();
    all.extend(&go_calls);
    let mut targets = crate::summary::call_targets(decl, body, src, imports, &all, names);
    // `d := &driver{…}; go d.loop(d.ops)`: a method of a local made of a package type.
    if targets.iter().any(Option::is_none) {
        let composites = crate::goroutines::local_composite_types(body, src);
        for (call, target) in all.iter().zip(targets.iter_mut()) {
            if target.is_none() {
                *target = composite_method(*call, &composites, src);
            }
        }
    }
    for (&call, target) in calls.iter().zip(&targets) {
        let Some((target, name)) = target.clone() else {
            continue;
        };
        facts.calls.push(OwnCall {
            target,
            name,
            offset: call.start_byte() - start,
            len: call.end_offset() - call.start_byte(),
            on_every_call: on_every_call(call, body, src, &mut top_level),
        });
    }
    for (&call, target) in go_calls.iter().zip(&targets[calls.len()..]) {
        let Some((target, name)) = target.clone() else {
            continue;
        };
        let in_loop = enclosing_for(call, body).is_some();
        facts.starts.push((target.clone(), name.clone(), in_loop));
        for (arg, value) in call_args(call).into_iter().enumerate() {
            if value.kind_str() == "selector_expression" {
                facts.go_args.push(GoArg {
                    target: target.clone(),
                    name: name.clone(),
                    arg,
                    offset: value.start_byte() - start,
                });
            }
        }
    }
    facts.shrink_to_fit();
    facts
}

/// `x.m(…)` or `x.f.m(…)` with `x` a local made of a package type `T` (`x := &T{…}`): a method
/// reached from a value of `T`.
fn composite_method(
    call: Node,
    composites: &crate::HashMap<&str, String>,
    src: &str,
) -> Option<(CallTarget, String)> {
    let function = unparen(call.field("function")?);
    if function.kind_str() != "selector_expression" {
        return None;
    }
    let operand = function.field("operand")?;
    let name = text(function.field("field")?, src);
    let path = goconc_syntax::access_path(operand, src)?;
    let root = text(goconc_syntax::path_root(operand)?, src);
    let ty = composites.get(root)?;
    let rest = path
        .strip_prefix(root)
        .unwrap_or("")
        .trim_start_matches('.')
        .to_string();
    Some((CallTarget::Typed(ty.clone(), rest), name.to_string()))
}

/// The names of `decl`'s parameters by position (`""` for an unnamed one).
fn param_names<'s>(decl: Node, src: &'s str) -> Vec<&'s str> {
    let mut names = Vec::new();
    let Some(list) = decl.field("parameters") else {
        return names;
    };
    for p in named_children(list) {
        let declared: Vec<&str> = named_children(p)
            .filter(|c| c.kind_str() == "identifier")
            .map(|c| text(c, src))
            .collect();
        match declared.is_empty() {
            true => names.push(""),
            false => names.extend(declared),
        }
    }
    names
}

fn param_of(expr: Node, params: &[&str], src: &str) -> Option<usize> {
    if expr.kind_str() != "identifier" {
        return None;
    }
    let name = text(expr, src);
    params.iter().position(|p| !p.is_empty() && *p == name)
}

/// The innermost `for` around `node` below `body`, not crossing a function literal.
fn enclosing_for<'t>(node: Node<'t>, body: Node<'t>) -> Option<Node<'t>> {
    let mut current = node.parent_node();
    while let Some(n) = current {
        if n == body || n.kind_str() == "func_literal" {
            return None;
        }
        if n.kind_str() == "for_statement" {
            return Some(n);
        }
        current = n.parent_node();
    }
    None
}

/// Does every call of the function reach `node`? It sits in a top-level statement of `body`:
/// no block, `case` or function literal lies between them, nor the right side of `&&`/`||`.
/// Answers are remembered per node in `memo`, so the calls of one body cost one walk up each
/// ancestor however deep the body nests (an `else if` chain of thousands of arms).
fn on_every_call(
    node: Node,
    body: Node,
    src: &str,
    memo: &mut crate::HashMap<usize, bool>,
) -> bool {
    // The nodes from `node` up, each with the answer its parent edge gives, until an answer is
    // known: the body itself, an edge that leaves the top level, or a node seen before.
    let mut path: Vec<usize> = Vec::new();
    let mut child = node;
    let mut answer = false;
    loop {
        if child == body {
            answer = true;
            break;
        }
        if let Some(&known) = memo.get(&child.id()) {
            answer = known;
            break;
        }
        let Some(n) = child.parent_node() else { break };
        path.push(child.id());
        let leaves_top_level = match n.kind_str() {
            "statement_list" if n.parent_node() == Some(body) => false,
            "block"
            | "statement_list"
            | "expression_case"
            | "default_case"
            | "type_case"
            | "communication_case"
            | "type_switch_statement"
            | "func_literal" => n != body,
            "binary_expression" => {
                n.field("right") == Some(child)
                    && n.field("operator")
                        .is_some_and(|o| matches!(text(o, src), "&&" | "||"))
            }
            _ => false,
        };
        if leaves_top_level {
            break;
        }
        child = n;
    }
    for id in path {
        memo.insert(id, answer);
    }
    answer
}

/// The channel's buffer, from every `make` of the field in the package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelfSendCapacity {
    /// Every `make` is unbuffered.
    Unbuffered,
    /// Some `make` gives a constant buffer (the largest), none an unknown one. A buffer only
    /// delays the deadlock: once other senders have filled it, the loop's own send waits.
    Buffered(u64),
    /// A `make` with a variable size, a value stored from elsewhere, or no `make` in the package.
    Unknown,
}

/// A place in a top-level function of the package: its key, and offsets relative to its start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub function: String,
    pub offset: usize,
    pub len: usize,
}

/// One call on the way from the receiving loop to the send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub call: Place,
    /// Every call of the caller reaches this call (see [`OwnCall::on_every_call`]).
    pub on_every_call: bool,
    /// The callee's key.
    pub callee: String,
    /// A method of the caller's own type called on the caller's receiver (`d.apply(o)`): the
    /// same value.
    pub on_receiver: bool,
}

/// A goroutine that sends to itself: the loop of `receiver` is the only receiver of the channel
/// field `owner.field` in the package, and from inside that loop, on the same goroutine, its
/// calls reach a send on the same field (or the loop sends on it directly).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfSend {
    pub owner: String,
    pub field: String,
    pub capacity: SelfSendCapacity,
    /// The receives of the loop (in `receiver`'s function).
    pub receives: Vec<Place>,
    pub receiver: String,
    /// The calls from the loop to the send's function (empty when the loop sends itself).
    pub chain: Vec<Step>,
    pub send: Place,
    /// Where the goroutine commits to the send: the last call of the chain after which every
    /// step (each later call, and the send) sits in a top-level statement of its function — or
    /// the send itself when it does not.
    pub report: Place,
    /// The loop reads the field of its own receiver, and every call on the way is made on the
    /// receiver of a method of the same type: the send is on the channel the loop reads, not on
    /// the same field of another value (`n.driver.…` may name another driver).
    pub same_value: bool,
}

/// How far the walk from a loop follows calls, and how many functions it visits at most.
const MAX_DEPTH: usize = 8;
const MAX_VISITED: usize = 4096;

/// Every goroutine of the package that sends to itself (see [`SelfSend`]), one per place to
/// report, in a stable order.
pub fn self_sends(package: &crate::PackageModel) -> Vec<SelfSend> {
    use super::fields::FieldOpKind;
    let mut keys: Vec<&String> = package.go_facts_keys().collect();
    keys.sort();
    keys.dedup();
    // The receives of each field channel (`Owner.field`): by the field itself, or through a
    // parameter of a function started with the field as its argument.
    let mut receives: std::collections::BTreeMap<(String, String), Vec<Receive>> =
        Default::default();
    // Escapes that are such hand-offs: (function, offset).
    let mut handed: crate::HashSet<(String, usize)> = Default::default();
    for &key in &keys {
        let Some(facts) = package.go_facts(key) else {
            continue;
        };
        for op in &facts.field_ops {
            if matches!(op.kind, FieldOpKind::Receive | FieldOpKind::Range) && !op.owner.is_empty()
            {
                receives
                    .entry((op.owner.clone(), op.field.clone()))
                    .or_default()
                    .push(Receive {
                        place: Place {
                            function: key.clone(),
                            offset: op.offset,
                            len: op.len,
                        },
                        loop_offset: op.loop_offset,
                        in_goroutine: op.in_goroutine,
                        handed_in: false,
                    });
            }
        }
        for arg in &facts.own.go_args {
            let Some(escape) = facts.field_ops.iter().find(|o| {
                o.kind == FieldOpKind::Escape && o.offset == arg.offset && !o.owner.is_empty()
            }) else {
                continue;
            };
            let owner = crate::lock_closure::owner_of(key);
            let Some((callee, _)) =
                crate::lock_closure::resolve_call(package, owner, &arg.target, &arg.name)
            else {
                continue;
            };
            let Some(callee_facts) = package.go_facts(&callee) else {
                continue;
            };
            let param_receives: Vec<&ParamReceive> = callee_facts
                .own
                .param_receives
                .iter()
                .filter(|r| r.param == arg.arg)
                .collect();
            if param_receives.is_empty() {
                continue;
            }
            handed.insert((key.clone(), arg.offset));
            let entry = receives
                .entry((escape.owner.clone(), escape.field.clone()))
                .or_default();
            for r in param_receives {
                entry.push(Receive {
                    place: Place {
                        function: callee.clone(),
                        offset: r.offset,
                        len: r.len,
                    },
                    loop_offset: r.loop_offset,
                    in_goroutine: false,
                    handed_in: true,
                });
            }
        }
    }
    // The functions started by name with `go` in the package: how many `go` statements, and
    // whether one of them sits in a loop.
    let mut started: crate::HashMap<String, (usize, bool)> = Default::default();
    for &key in &keys {
        let Some(facts) = package.go_facts(key) else {
            continue;
        };
        let owner = crate::lock_closure::owner_of(key);
        for (target, name, in_loop) in &facts.own.starts {
            if let Some((callee, _)) =
                crate::lock_closure::resolve_call(package, owner, target, name)
            {
                let entry = started.entry(callee).or_default();
                entry.0 += 1;
                entry.1 |= *in_loop;
            }
        }
    }
    let mut out: Vec<SelfSend> = Vec::new();
    for ((owner, field), received) in receives {
        // An exported field may be received by another package's code.
        if field.starts_with(|c: char| c.is_uppercase()) {
            continue;
        }
        let Some((receiver, loop_offset)) = single_loop(&received) else {
            continue;
        };
        // The goroutine that loops is started somewhere: by name, or with the channel handed in.
        // Started once, outside a loop: one goroutine receives. Workers started in a loop, or
        // by several `go` statements, may take what one of them sends.
        if started.get(&receiver) != Some(&(1, false)) {
            continue;
        }
        let ops = package.field_channel_ops(&owner, &field);
        // Handed elsewhere, or used through a value the text cannot type: another receiver may
        // exist out of sight.
        let escapes = ops.iter().any(|o| {
            o.kind == FieldOpKind::Escape && !handed.contains(&(o.function.clone(), o.offset))
        });
        let untyped = package.field_channel_ops("", &field).iter().any(|o| {
            matches!(
                o.kind,
                FieldOpKind::Receive | FieldOpKind::Range | FieldOpKind::Escape
            )
        });
        if escapes || untyped {
            continue;
        }
        let capacity = capacity_of(ops);
        let Some(loop_facts) = package.go_facts(&receiver) else {
            continue;
        };
        let Some(loop_range) = loop_facts.own.loop_at(loop_offset) else {
            continue;
        };
        // Sends on the goroutine that runs their function: not in a `go` statement nor in a
        // literal handed to a call (a callback may run anywhere), not a `select` case that can
        // give up.
        let blocking_sends: Vec<&super::fields::FieldChanOp> = ops
            .iter()
            .filter(|o| o.kind == FieldOpKind::Send && !o.in_goroutine && !o.select_can_leave)
            .filter(|o| {
                package
                    .go_facts(&o.function)
                    .is_some_and(|f| f.own.sends.contains(&o.offset))
            })
            .collect();
        if blocking_sends.is_empty() {
            continue;
        }
        let found = reach_sends(package, &receiver, &loop_range, &blocking_sends);
        let reads_own_field = crate::lock_closure::owner_of(&receiver) == Some(owner.as_str())
            && received.iter().all(|r| !r.handed_in);
        let receive_places: Vec<Place> = received.into_iter().map(|r| r.place).collect();
        for (chain, send) in found {
            let report = report_place(package, &chain, &send);
            let same_value = reads_own_field && chain.iter().all(|s| s.on_receiver);
            if out
                .iter()
                .any(|s| s.report == report && s.owner == owner && s.field == field)
            {
                continue;
            }
            out.push(SelfSend {
                owner: owner.clone(),
                field: field.clone(),
                capacity,
                receives: receive_places.clone(),
                receiver: receiver.clone(),
                chain,
                send,
                report,
                same_value,
            });
        }
    }
    out
}

/// The function and loop all receives share, when they are all in one loop of one function's
/// own goroutine.
fn single_loop(received: &[Receive]) -> Option<(String, usize)> {
    let first = received.first()?;
    let loop_offset = first.loop_offset?;
    received
        .iter()
        .all(|r| {
            r.place.function == first.place.function
                && r.loop_offset == Some(loop_offset)
                && !r.in_goroutine
        })
        .then(|| (first.place.function.clone(), loop_offset))
}

/// One receive from a field channel: on the field itself, or on a parameter of a function
/// started with the field as its argument.
struct Receive {
    place: Place,
    loop_offset: Option<usize>,
    in_goroutine: bool,
    /// Through a parameter of a function started with the field as its argument.
    handed_in: bool,
}

fn capacity_of(ops: &[super::fields::FieldChanOp]) -> SelfSendCapacity {
    use super::fields::FieldOpKind;
    use super::Capacity;
    let mut capacity = None;
    for op in ops {
        let FieldOpKind::Make(made) = op.kind else {
            continue;
        };
        capacity = Some(match (capacity, made) {
            (_, Capacity::Unknown) | (Some(SelfSendCapacity::Unknown), _) => {
                SelfSendCapacity::Unknown
            }
            (None | Some(SelfSendCapacity::Unbuffered), Capacity::Unbuffered) => {
                SelfSendCapacity::Unbuffered
            }
            (Some(SelfSendCapacity::Buffered(n)), Capacity::Unbuffered) => {
                SelfSendCapacity::Buffered(n)
            }
            (Some(SelfSendCapacity::Buffered(n)), Capacity::Buffered(m)) => {
                SelfSendCapacity::Buffered(n.max(m))
            }
            (None | Some(SelfSendCapacity::Unbuffered), Capacity::Buffered(m)) => {
                SelfSendCapacity::Buffered(m)
            }
        });
    }
    capacity.unwrap_or(SelfSendCapacity::Unknown)
}

/// The sends among `sends` that the loop `loop_range` of `receiver` reaches on its own
/// goroutine, each with the calls that lead there (breadth first: the shortest chain; each
/// function is entered once).
fn reach_sends(
    package: &crate::PackageModel,
    receiver: &str,
    loop_range: &std::ops::Range<usize>,
    sends: &[&super::fields::FieldChanOp],
) -> Vec<(Vec<Step>, Place)> {
    let mut found = Vec::new();
    let send_place = |op: &super::fields::FieldChanOp| Place {
        function: op.function.clone(),
        offset: op.offset,
        len: op.len,
    };
    for op in sends {
        if op.function == receiver && loop_range.contains(&op.offset) {
            found.push((Vec::new(), send_place(op)));
        }
    }
    let mut visited: crate::HashSet<String> = Default::default();
    visited.insert(receiver.to_string());
    let mut frontier: Vec<(String, Vec<Step>)> = vec![(receiver.to_string(), Vec::new())];
    for _ in 0..MAX_DEPTH {
        let mut next = Vec::new();
        for (function, chain) in frontier {
            let Some(facts) = package.go_facts(&function) else {
                continue;
            };
            let owner = crate::lock_closure::owner_of(&function);
            for call in &facts.own.calls {
                if function == receiver && !loop_range.contains(&call.offset) {
                    continue;
                }
                let Some((callee, _)) =
                    crate::lock_closure::resolve_call(package, owner, &call.target, &call.name)
                else {
                    continue;
                };
                if visited.len() >= MAX_VISITED || !visited.insert(callee.clone()) {
                    continue;
                }
                let mut steps = chain.clone();
                steps.push(Step {
                    call: Place {
                        function: function.clone(),
                        offset: call.offset,
                        len: call.len,
                    },
                    on_every_call: call.on_every_call,
                    on_receiver: call.target == CallTarget::Receiver(String::new())
                        && crate::lock_closure::owner_of(&callee) == owner,
                    callee: callee.clone(),
                });
                for op in sends.iter().filter(|o| o.function == callee) {
                    found.push((steps.clone(), send_place(op)));
                }
                next.push((callee, steps));
            }
        }
        frontier = next;
    }
    found
}

/// See [`SelfSend::report`].
fn report_place(package: &crate::PackageModel, chain: &[Step], send: &Place) -> Place {
    let send_certain = package
        .go_facts(&send.function)
        .is_some_and(|f| f.own.sends_on_every_call.contains(&send.offset));
    if !send_certain || chain.is_empty() {
        return send.clone();
    }
    let mut at = chain.len() - 1;
    while at > 0 && chain[at].on_every_call {
        at -= 1;
    }
    chain[at].call.clone()
}
