//! `goroutine-captured-write`: a goroutine assigns to a variable of the function that started it
//! (or writes one of its map entries), and that function reads the variable afterwards with
//! nothing in between that waits for the goroutine: a data race.

use crate::finding::LineOf;
use crate::HashSet;
use goconc_syntax::NodeExt;

use tree_sitter::Node;

use crate::finding::{Finding, Severity};
use crate::{Context, Family, RuleMeta};
use goconc_model::goroutines::goroutine_start;
use goconc_model::{Decl, DeclKind, Ty};
use goconc_syntax::{is_within, named_children, text, unparen, walk_body};

use crate::messages::function_name;
use crate::waits::{waits_between as synchronised_between, WaitSpans};

pub static META: RuleMeta = RuleMeta {
    id: "goroutine-captured-write",
    family: Family::Goroutine,
    severity: Severity::Warning,
    summary: "A goroutine assigns to, appends to or writes a map entry of a variable declared outside it (including a named result) with no lock, atomic or channel between it and the readers, or between it and the goroutines the same loop starts.",
    fix: None,
    doc: r#"
## Why it matters
A closure started with `go` shares the variables of the function around it. When the goroutine
assigns one of them and the function reads it afterwards without first waiting for the
goroutine — a `WaitGroup`, a channel receive, a lock — the read races with the write: it may see
the old value, a torn value, or (for slices and maps) corrupt memory. A named result written by
a goroutine is read by every `return`.

## Example
```go
func load(keys []string) (err error) {
	go func() {
		err = prefetch(keys)
	}()
	return
}
```
```go
func load(keys []string) (err error) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		err = prefetch(keys)
	}()
	<-done
	return
}
```

## Goroutines of one loop
A loop that starts a goroutine per iteration (`go func(){…}()`, `wg.Go`, an errgroup's `g.Go`)
starts many writers: when each assigns, appends to, or writes an entry of a variable declared
before the loop, two of them can write at once, however the function waits for them afterwards.
For a map the runtime stops the program (`fatal error: concurrent map writes`). The same holds
for a field of one value the loop shares (`s.elapsed = d`, `s.count++`, where `s` is a receiver,
parameter or local declared before the loop and never set inside it): every goroutine writes
the field of the same value. A goroutine that takes a lock is judged by its writes made with no
lock held (the lock state of its body): the lock taken for the shared map does not cover the
timing written after `Unlock`. The finding sits on the first such write; a second goroutine
literal of the loop writing the same variable (or field) is the same defect and is not reported
again.

## A value method's copy, while the function writes a field
The other direction races too. A method with a value receiver copies the whole value at every
call, a plain read of each field. When a function starts a goroutine that calls a method on a
variable it captures (`go func() { … c.commit(to) … }()`), that call reaches such a method
through the type's own methods (`commit` calls `c.Save(…)`, and `Save` has a value receiver),
and the function then writes a field of the same variable (`c.offset = to + 1`) with nothing
ordering the two, the copy races with the write. The finding sits on the value method's
receiver, one per type and file (the type's other such methods are its related places), with
an unsafe fix that gives them pointer receivers (values of the type lose the methods). The
call's variable is typed from the code: a receiver, a parameter of a package type, or a local
declared once from a call of the package (`c, err := f.cursorFor(feed)`, the first result).
It stays silent when the write comes before the `go` statement; when, between the `go` and
the write, the function sends, receives, `select`s, ranges, calls something that waits
(`Wait`, `Lock`, …) or has taken a lock; when the goroutine waits before its call (a receive,
a `select`, a `Wait`) and the function, after the write or in a `defer`, could let it go on (a
send, receive, `select`, `close`, a call of a local function value such as `cancel`,
`Unlock`, `Done`, …); when the goroutine calls the method on a copy made before it started
(`copied := *s`); and when the value's type cannot be told from the code.

## Fix
Hand the value over instead of sharing the variable: send it on a channel, or wait for the
goroutine (`wg.Wait()`, `<-done`, `g.Wait()`) before reading, or guard both sides with the same
mutex. No automatic fix: which one fits depends on the design.

## When it stays silent
- The goroutine takes a lock (`Lock`/`RLock`) anywhere in its body; for goroutines of one loop,
  only while a lock is held at the write (on some path), or when the lock state does not follow
  every lock the goroutine takes (`c.L.Lock()` on a `sync.Locker`).
- Between the `go` statement and the read, the function sends on or receives from a channel,
  `select`s, ranges over a channel, or calls `Wait`, `Lock`, `RLock` or an atomic load.
- The variable holds a channel (setting it to `nil` in a `select` loop is a different idiom).
- The function never reads the variable after starting the goroutine.
- The variable is declared inside the goroutine, or is a package-level variable.
- For goroutines of one loop: the variable is declared inside the loop (each iteration has its
  own); the write is to a slice or array element (`out[i] = v`: distinct elements do not race);
  the loop's body sends, receives, selects or waits (`<-done` after each `go`: the iterations
  take turns); or the goroutine sends, receives or selects before the write (a token handed
  from goroutine to goroutine, or a semaphore of one, may order the writes).
- For a field written by goroutines of one loop, or any write by such a goroutine that locks:
  the goroutine waits or spins on an atomic anywhere (`Wait`, `Load…`, `Swap…`,
  `CompareAndSwap…`: writers taking turns through a flag); the value is set to another inside
  the loop (`cur = all[i]`: the race is on the variable); the field holds a channel; the field
  belongs to an element (`all[i].n = v`) or is reached through another field (`s.a.b`).
- The goroutine's body holds more than 64 mutexes at once on some path, or uses `goto`: its
  locks are not followed.
"#,
};

mod value_copy;

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    value_copy::check(cx, out);
    let mut loops = LoopsOf::default();
    let mut bodies = StartingBodies::default();
    for &lit in &cx.index.func_literals {
        if let Some(start) = goroutine_start(cx.model, lit) {
            check_goroutine(cx, &mut loops, &mut bodies, lit, start, out);
        }
    }
}

/// What the check asks of a starting function's own body after each goroutine it starts (the
/// first read of a variable, whether it waits before that read), gathered in one walk per body:
/// a function may start thousands of goroutines, and walking its body for each cost the square
/// of its length (8,000 `go` statements in one function: 17 s).
#[derive(Default)]
struct StartingBodies<'t> {
    by_body: crate::HashMap<usize, BodyReads<'t>>,
}

struct BodyReads<'t> {
    /// The identifiers of the body that may read a variable (not the target of a plain
    /// assignment), by name, in document order.
    reads: crate::HashMap<&'t str, Vec<Node<'t>>>,
    /// Its `return` statements, in document order: each reads the named results.
    returns: Vec<Node<'t>>,
    waits: WaitSpans,
}

impl<'t> StartingBodies<'t> {
    fn of(&mut self, cx: &Context<'_, 't>, body: Node<'t>) -> &BodyReads<'t> {
        self.by_body.entry(body.start_byte()).or_insert_with(|| {
            let mut reads: crate::HashMap<&'t str, Vec<Node<'t>>> = Default::default();
            let mut returns = Vec::new();
            walk_body(body, |n| match n.kind_str() {
                "return_statement" => returns.push(n),
                "identifier" if !is_plain_assignment_target(n) => {
                    reads.entry(text(n, cx.src)).or_default().push(n);
                }
                _ => {}
            });
            BodyReads {
                reads,
                returns,
                waits: WaitSpans::of(cx, body),
            }
        })
    }
}

/// For each starting function, the loops its own body runs (outside function literals): the
/// innermost one around each statement that starts a goroutine, and whether the loop waits for
/// anything. Computed once per function: a function may start thousands of goroutines.
#[derive(Default)]
struct LoopsOf<'t> {
    by_function: crate::HashMap<usize, crate::HashMap<usize, LoopAround<'t>>>,
    /// Variables (and fields of one, by name) already reported as written by the goroutines of
    /// a loop: two goroutine literals of one loop writing one map are one defect.
    reported: HashSet<(usize, &'t str)>,
    /// Whether a variable is set inside a loop, by (loop, declaration): asked once per pair,
    /// however many of its fields the loop's goroutines write.
    set_inside: crate::HashMap<(usize, usize), bool>,
}

#[derive(Clone, Copy)]
struct LoopAround<'t> {
    node: Node<'t>,
    /// The loop's body sends, receives, selects or waits (outside function literals): its
    /// iterations may wait for each other's goroutines.
    waits: bool,
}

impl<'t> LoopsOf<'t> {
    /// The innermost loop of `parent`'s own body around `start` (a `go` statement or a group's
    /// `Go` call).
    fn around(
        &mut self,
        cx: &Context<'_, 't>,
        parent: usize,
        parent_body: Node<'t>,
        start: Node<'t>,
    ) -> Option<LoopAround<'t>> {
        let starts = self.by_function.entry(parent).or_insert_with(|| {
            let mut starts = crate::HashMap::default();
            let mut waits: crate::HashMap<usize, bool> = crate::HashMap::default();
            goconc_syntax::walk_body_with_ancestors(parent_body, |n, ancestors| {
                // Where a goroutine starts: a `go` statement or a group's `Go(func…)` call.
                let starts_goroutine = match n.kind_str() {
                    "go_statement" => true,
                    "call_expression" => n
                        .field("function")
                        .and_then(|f| f.field("field"))
                        .is_some_and(|m| matches!(text(m, cx.src), "Go" | "TryGo")),
                    _ => false,
                };
                if !starts_goroutine {
                    return;
                }
                let Some(&lp) = ancestors
                    .iter()
                    .rev()
                    .find(|a| a.kind_str() == "for_statement")
                else {
                    return;
                };
                let waits = *waits.entry(lp.start_byte()).or_insert_with(|| {
                    lp.field("body").is_some_and(|body| {
                        synchronised_between(cx, body, body.start_byte(), body.end_offset())
                    })
                });
                starts.insert(n.start_byte(), LoopAround { node: lp, waits });
            });
            starts
        });
        starts.get(&start.start_byte()).copied()
    }
}

fn check_goroutine<'t>(
    cx: &Context<'_, 't>,
    loops: &mut LoopsOf<'t>,
    bodies: &mut StartingBodies<'t>,
    lit: Node<'t>,
    start: Node<'t>,
    out: &mut Vec<Finding>,
) {
    let Some(body) = lit.field("body") else {
        return;
    };
    let Some(parent) = cx.model.function_of(start) else {
        return;
    };
    let Some(parent_body) = cx.model.functions.get(parent).and_then(|f| f.body) else {
        return;
    };
    let started = Started {
        body,
        parent,
        parent_body,
        start,
    };
    let mut writes: Vec<Write<'t>> = Vec::new();
    let mut locks = 0usize;
    let mut takes_turns = false;
    walk_body(body, |n| match n.kind_str() {
        "assignment_statement" => {
            if let Some(left) = n.field("left") {
                for target in named_children(left) {
                    writes.extend(write_of(cx, n, unparen(target)));
                }
            }
        }
        "inc_statement" | "dec_statement" => {
            if let Some(target) = named_children(n).next() {
                writes.extend(write_of(cx, n, unparen(target)));
            }
        }
        "call_expression" => match goconc_syntax::called_name(n, cx.src) {
            Some("Lock" | "RLock") => locks += 1,
            Some(name) if may_take_turns(cx, n, name) => takes_turns = true,
            _ => {}
        },
        _ => {}
    });
    if writes.is_empty() {
        return;
    }
    // A goroutine that locks: only its writes made with no lock held are judged, and only
    // against the goroutines of the same loop (its reader may hold the lock). One that waits
    // or spins on an atomic may be taking turns with the others: only the plain variables of
    // a goroutine that takes no lock are judged, as before.
    let unlocked = if locks > 0 {
        match unlocked_statements(cx, body, locks) {
            Some(unlocked) if !takes_turns => Some(unlocked),
            _ => return,
        }
    } else {
        None
    };
    let mut reported = HashSet::default();
    for write in writes {
        let Write {
            statement,
            ident,
            field,
        } = write;
        if unlocked
            .as_ref()
            .is_some_and(|u| !u.contains(&statement.start_byte()))
        {
            continue;
        }
        let Some(decl) = cx.model.resolve(ident) else {
            continue;
        };
        let field_name = field.map_or("", |f| text(f, cx.src));
        if is_within(decl.ident, lit) || !reported.insert((decl.ident.start_byte(), field_name)) {
            continue;
        }
        if let Some(field) = field {
            if takes_turns {
                continue;
            }
            if let Some(finding) = iterations_write_field(cx, loops, started, decl, ident, field) {
                out.push(finding);
            }
            continue;
        }
        // `ch = nil` in a select loop: channel variables are a different idiom.
        if matches!(decl.ty, Ty::Chan(_)) || !declared_around(cx, decl, parent) {
            continue;
        }
        let read = match unlocked {
            Some(_) => None,
            None => {
                let body = bodies.of(cx, parent_body);
                first_read(cx, decl, body, start)
                    .filter(|read| !body.waits.between(start.end_offset(), read.start_byte()))
            }
        };
        let Some(read) = read else {
            // No racing read by the starting function: goroutines started once per iteration
            // still race with each other on the variable.
            if let Some(finding) = iterations_write(cx, loops, started, decl, ident) {
                out.push(finding);
            }
            continue;
        };
        let what = if decl.kind == DeclKind::Result {
            "named result"
        } else {
            "variable"
        };
        let how = if read.kind_str() == "return_statement" {
            "returns it"
        } else {
            "reads it"
        };
        let message = format!(
            "the goroutine writes {what} `{}` of {} with no lock, atomic or channel, and {} {how} at line {} without waiting for the goroutine: a data race",
            decl.name,
            function_name(cx.model, parent),
            function_name(cx.model, parent),
            LineOf(read.start_byte()),
        );
        out.push(
            META.finding(ident.byte_span(), message)
                .with_related(read.byte_span(), "read here, concurrently with the write")
                .with_related(start.byte_span(), "the goroutine starts here"),
        );
    }
}

/// A goroutine started once per iteration of a loop writes a variable declared outside the loop,
/// and the loop does not wait between iterations: the goroutines of two iterations write it at
/// once (for a map, `fatal error: concurrent map writes`).
fn iterations_write<'t>(
    cx: &Context<'_, 't>,
    loops: &mut LoopsOf<'t>,
    started: Started<'t>,
    decl: &Decl<'t>,
    ident: Node<'t>,
) -> Option<Finding> {
    let Started { parent, start, .. } = started;
    let around = shared_by_iterations(cx, loops, started, decl, "", ident)?;
    let function = function_name(cx.model, parent);
    let message = match ident.parent_node().is_some_and(|p| p.kind_str() == "index_expression") {
        true => format!(
            "the goroutines this loop starts, one per iteration, write entries of map `{}` of {function} with no lock: two of them writing at once is a data race, and the runtime stops the program (`concurrent map writes`)",
            decl.name
        ),
        false => format!(
            "the goroutines this loop starts, one per iteration, write variable `{}` of {function} with no lock, atomic or channel: two of them writing at once is a data race",
            decl.name
        ),
    };
    Some(
        META.finding(ident.byte_span(), message)
            .with_related(start.byte_span(), "one goroutine per iteration starts here")
            .with_related(
                around.declared.byte_span(),
                "declared outside the loop, shared by every iteration",
            ),
    )
}

/// The same for a field of one value (`s.elapsed = d`, `s.count++`): a receiver, parameter or
/// local declared outside the loop and never set to another value inside it, so every
/// goroutine writes the field of the same value.
fn iterations_write_field<'t>(
    cx: &Context<'_, 't>,
    loops: &mut LoopsOf<'t>,
    started: Started<'t>,
    decl: &Decl<'t>,
    ident: Node<'t>,
    field: Node<'t>,
) -> Option<Finding> {
    let Started { parent, start, .. } = started;
    if decl.kind != DeclKind::Receiver && !declared_around(cx, decl, parent) {
        return None;
    }
    let field_name = text(field, cx.src);
    // A channel field set in a select loop, like `ch = nil`, is a different idiom.
    if matches!(
        cx.model.package.field_type(&decl.ty, field_name),
        Some(Ty::Chan(_))
    ) {
        return None;
    }
    let around = shared_by_iterations(cx, loops, started, decl, field_name, ident)?;
    let set_inside = *loops
        .set_inside
        .entry((around.node.start_byte(), decl.ident.start_byte()))
        .or_insert_with(|| cx.model.written_within(decl, around.node));
    if set_inside {
        return None;
    }
    let function = function_name(cx.model, parent);
    let message = format!(
        "the goroutines this loop starts, one per iteration, write field `{}.{field_name}` of {function} with no lock held, atomic or channel: two of them writing at once is a data race",
        decl.name
    );
    Some(
        META.finding(ident.start_byte()..field.end_offset(), message)
            .with_related(start.byte_span(), "one goroutine per iteration starts here")
            .with_related(
                decl.ident.byte_span(),
                "declared outside the loop: every goroutine writes the same value's field",
            ),
    )
}

/// A goroutine the check looks at: its body, and where it is started (the function, that
/// function's body, and the `go` statement or `Go` call).
#[derive(Clone, Copy)]
struct Started<'t> {
    body: Node<'t>,
    parent: usize,
    parent_body: Node<'t>,
    start: Node<'t>,
}

struct Shared<'t> {
    node: Node<'t>,
    declared: Node<'t>,
}

/// The loop whose goroutines, one per iteration, all write `decl` (or its field `field`): the
/// innermost loop of the starting function around the start, when it does not wait between
/// iterations, `decl` is declared outside it, and the goroutine does not take turns first.
/// Records the write as reported.
fn shared_by_iterations<'t>(
    cx: &Context<'_, 't>,
    loops: &mut LoopsOf<'t>,
    started: Started<'t>,
    decl: &Decl<'t>,
    field: &'t str,
    ident: Node<'t>,
) -> Option<Shared<'t>> {
    let Started {
        body,
        parent,
        parent_body,
        start,
    } = started;
    let around = loops.around(cx, parent, parent_body, start)?;
    let key = (decl.ident.start_byte(), field);
    if around.waits || is_within(decl.ident, around.node) || loops.reported.contains(&key) {
        return None;
    }
    // A goroutine that receives, sends or selects before it writes may be waiting for its
    // turn: a token handed from goroutine to goroutine, or a semaphore of one.
    if channel_op_before(cx, body, ident.start_byte()) {
        return None;
    }
    loops.reported.insert(key);
    Some(Shared {
        node: around.node,
        declared: decl.ident,
    })
}

/// One write by a goroutine: the statement, the variable written (`x`, `m` of `m[k]`, `s` of
/// `s.f`) and, for a field, the field's name.
struct Write<'t> {
    statement: Node<'t>,
    ident: Node<'t>,
    field: Option<Node<'t>>,
}

fn write_of<'t>(cx: &Context<'_, 't>, statement: Node<'t>, target: Node<'t>) -> Option<Write<'t>> {
    if let Some(ident) = written_variable(cx, target) {
        return Some(Write {
            statement,
            ident,
            field: None,
        });
    }
    // `s.f = v`: one field of a named value (not `a.b.c`, not `pkg.Var`).
    if target.kind_str() != "selector_expression" {
        return None;
    }
    let operand = unparen(target.field("operand")?);
    (operand.kind_str() == "identifier").then_some(Write {
        statement,
        ident: operand,
        field: Some(target.field("field")?),
    })
}

/// The start offsets of the goroutine body's statements run with no lock held on any path (the
/// lock state of the body). None when the state cannot be followed.
/// `locks` is the number of `Lock`/`RLock` calls the body makes: when the lock state does not
/// follow every one (`c.L.Lock()` on a `sync.Locker`), nothing is known unlocked.
fn unlocked_statements(cx: &Context, body: Node, locks: usize) -> Option<HashSet<usize>> {
    struct Unlocked {
        statements: HashSet<usize>,
        locks: HashSet<usize>,
    }
    impl<'t> goconc_model::locks::LockObserver<'t> for Unlocked {
        fn statement(&mut self, node: Node<'t>, state: &goconc_model::locks::LockState) {
            if state.held.is_empty() {
                self.statements.insert(node.start_byte());
            } else {
                self.statements.remove(&node.start_byte());
            }
        }
        fn lock_call(
            &mut self,
            call: &goconc_model::sync_calls::LockCall<'t>,
            _key: &str,
            deferred: bool,
            _state: &goconc_model::locks::LockState,
        ) {
            if !deferred
                && matches!(
                    call.op,
                    goconc_model::sync_calls::LockOp::Lock
                        | goconc_model::sync_calls::LockOp::RLock
                )
            {
                self.locks.insert(call.call.start_byte());
            }
        }
    }
    let trace = cx.lock_trace(body)?;
    let mut unlocked = Unlocked {
        statements: HashSet::default(),
        locks: HashSet::default(),
    };
    trace.replay(&mut unlocked);
    (unlocked.locks.len() >= locks).then_some(unlocked.statements)
}

/// A call by which goroutines of one loop may take turns: a wait, or an atomic load, swap or
/// compare-and-swap spun on (`for atomic.LoadInt32(&x.turn) != me {}`, `x.turn.Load()` on a
/// `sync/atomic` value). An atomic is told by its package or its type, not its name: a
/// `LoadConfig()` call takes no turn.
fn may_take_turns(cx: &Context, call: Node, name: &str) -> bool {
    const TURN_OPS: [&str; 3] = ["Load", "Swap", "CompareAndSwap"];
    if matches!(name, "Lock" | "RLock") {
        return false;
    }
    if goconc_model::sync_calls::may_wait_by_name(name) {
        return true;
    }
    if let Some(function) = goconc_model::atomics::atomic_func(call, cx.src, &cx.model.imports) {
        return goconc_model::atomics::split_func(function)
            .is_some_and(|(op, _)| TURN_OPS.contains(&op));
    }
    TURN_OPS.contains(&name)
        && goconc_syntax::method_call(call).is_some_and(|m| {
            let ty = cx.model.type_of(m.receiver);
            cx.model.package.sync_kind(ty.deref()) == Some(goconc_model::types::SyncKind::Atomic)
        })
}

/// Does the goroutine's body send, receive or select before `offset` (a `range` over a channel
/// does not count: it shares out work, it does not take turns)?
fn channel_op_before(cx: &Context, body: Node, offset: usize) -> bool {
    let mut found = false;
    walk_body(body, |n| {
        if found || n.start_byte() >= offset {
            return;
        }
        found = match n.kind_str() {
            "select_statement" | "send_statement" => true,
            "unary_expression" => n.field("operator").is_some_and(|o| text(o, cx.src) == "<-"),
            _ => false,
        };
    });
    found
}

/// The variable an assignment target writes: `x`, or `m` in `m[k]` for a map `m`.
fn written_variable<'t>(cx: &Context<'_, 't>, target: Node<'t>) -> Option<Node<'t>> {
    match target.kind_str() {
        "identifier" if text(target, cx.src) != "_" => Some(target),
        "index_expression" => {
            let operand = unparen(target.field("operand")?);
            (operand.kind_str() == "identifier" && matches!(cx.model.type_of(operand), Ty::Map(..)))
                .then_some(operand)
        }
        _ => None,
    }
}

/// Is the variable a local, parameter or result of the starting function (or of a function
/// around it)?
fn declared_around(cx: &Context, decl: &Decl, parent: usize) -> bool {
    if decl.kind == DeclKind::Receiver {
        return false;
    }
    let mut f = Some(parent);
    while let Some(i) = f {
        if decl.function == i {
            return true;
        }
        f = cx.model.functions.get(i).and_then(|x| x.parent);
    }
    false
}

/// The first read of the variable by the starting function's own body after the `go` statement:
/// a use of the name (not a plain assignment to it), or any `return` for a named result.
fn first_read<'t>(
    cx: &Context<'_, 't>,
    decl: &Decl<'t>,
    body: &BodyReads<'t>,
    start: Node<'t>,
) -> Option<Node<'t>> {
    let after = start.end_offset();
    let after_start = |nodes: &[Node<'t>]| nodes.partition_point(|n| n.start_byte() < after);
    let use_of_name = body.reads.get(decl.name).and_then(|uses| {
        uses[after_start(uses)..]
            .iter()
            .find(|&&n| cx.model.resolve(n).map(|d| d.ident) == Some(decl.ident))
            .copied()
    });
    let first_return = (decl.kind == DeclKind::Result)
        .then(|| body.returns.get(after_start(&body.returns)).copied())
        .flatten();
    match (use_of_name, first_return) {
        (Some(a), Some(b)) => Some(if b.start_byte() < a.start_byte() {
            b
        } else {
            a
        }),
        (a, b) => a.or(b),
    }
}

fn is_plain_assignment_target(ident: Node) -> bool {
    let Some(list) = ident
        .parent_node()
        .filter(|p| p.kind_str() == "expression_list")
    else {
        return false;
    };
    let Some(stmt) = list.parent_node() else {
        return false;
    };
    if stmt.field("left") != Some(list) {
        return false;
    }
    // `if err := f(); err != nil`: the `err` on the left of `:=` is declared (or written) there,
    // not read.
    stmt.kind_str() == "short_var_declaration"
        || (stmt.kind_str() == "assignment_statement"
            && stmt.field("operator").is_some_and(|o| o.kind_str() == "="))
}

#[cfg(test)]
mod tests {
    use crate::test_support::{findings, snippets};

    fn found(src: &str) -> Vec<String> {
        snippets(&findings(super::META.id, src), src)
    }

    #[test]
    fn package_variables_and_shadowed_names_are_not_reported() {
        let src = "package p\n\nvar total int\n\nfunc f() int {\n\tgo func() {\n\t\ttotal = 1\n\t}()\n\treturn total\n}\n\nfunc g() int {\n\tx := 0\n\tgo func() {\n\t\tx := 2\n\t\t_ = x\n\t}()\n\treturn x\n}\n";
        assert!(found(src).is_empty());
    }

    #[test]
    fn reports_the_written_name_once() {
        let src = "package p\n\nfunc f() int {\n\tx := 0\n\tgo func() {\n\t\tx = 1\n\t\tx = 2\n\t}()\n\treturn x\n}\n";
        assert_eq!(found(src), vec!["x".to_string()]);
    }
}
