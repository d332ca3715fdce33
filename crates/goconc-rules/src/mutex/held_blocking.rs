//! `mutex-held-blocking`: a blocking operation while a lock is held, at the severity its
//! evidence supports, one finding per critical section.

use crate::finding::LineOf;
use goconc_syntax::NodeExt;
use std::collections::BTreeMap;

use tree_sitter::Node;

use super::locking_bodies;
use crate::finding::{Finding, Severity};
use crate::{Context, Family, RuleMeta};
use goconc_model::blocking::{blocking_call_kind, blocking_method, method_kind, BlockKind};
use goconc_model::lock_closure::{canonical, field_named, owner_of};
use goconc_model::locks::{self, LockObserver, LockState, Mode};
use goconc_model::summary::{self, LockRoot};
use goconc_model::sync_calls::{lock_call, lock_key, waitgroup_call, WaitGroupOp};
use goconc_model::{FileModel, Ty};
use goconc_syntax::{
    access_path, call_args, method_call, named_children, statement_call, text, unparen, walk,
    walk_body,
};

pub static META: RuleMeta = RuleMeta {
    id: "mutex-held-blocking",
    family: Family::Mutex,
    severity: Severity::Warning,
    summary: "A blocking operation while a lock is held: I/O, `time.Sleep`, an unbuffered channel operation, `wg.Wait`, `g.Wait`, or a function of the same module that does one of these.",
    fix: None,
    doc: r#"
## Why it matters
While a goroutine sleeps, waits on the network or on a channel with a lock held, every other
goroutine that needs the lock waits too: latency spikes become outages, and if the awaited party
needs the same lock (a receiver that locks before it receives), the program deadlocks.

## Example
```go
func (s *Service) Refresh(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	resp, err := s.client.Do(req) // every reader of s waits for the network
	// …
}
```
Do the slow part first, then take the lock only to publish the result:
```go
func (s *Service) Refresh(ctx context.Context) error {
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.data = parse(resp)
	s.mu.Unlock()
	return nil
}
```

## Fix
None: moving work out of a critical section changes what the lock protects.

## What counts as blocking
- Package functions: `time.Sleep`, `net.Dial…`/`Lookup…`, `http.Get/Post/Head/PostForm`, file
  system calls of `os` (`ReadFile`, `WriteFile`, `Open`, `RemoveAll`, …). `net.Listen`,
  `net.ListenPacket`, `net.DialUDP` and `net.DialIP` bind or connect a local socket and await
  no one: they do not count. (`io.Copy` and friends block only as much as their reader or
  writer, which is unknown, so they do not count.)
- Methods on values whose type the package's own code declares: `(*http.Client).Do/Get/…`,
  `(*exec.Cmd).Run/Output/…`, `*sql.DB`/`Tx`/`Stmt`/`Conn` queries, `(*os.File).Read/Write/…`,
  `net.Conn` reads and writes, `Listener.Accept`, `WaitGroup.Wait`, errgroup's `Wait`.
- A send, receive or `range` on a channel made unbuffered in the same function, outside a
  `select` with a `default`; a receive from `time.After`.
- A call to a function or method of the same package that does one of the above, however many
  calls deep, unless it lets go of the caller's lock around it (`mu.Unlock(); slow(); mu.Lock()`);
  and a call to an exported function or method of another package of the same module that does
  (`store.Flush()`, `s.db.Sync()` with `db` declared `*store.DB`), as that package's summaries
  tell when its folder is inside the module goconc reads.

## Evidence and severity
One finding per critical section (a lock and where it was taken): the most telling blocking
operation in it, with a count of the others.
- `warning`:
  - a channel operation or `Wait` whose other end must take the same lock: the goroutine that
    receives (or sends, or calls `Done`) locks it, directly or through calls. They can deadlock.
  - a sleep or timer wait in a loop that re-checks what the lock guards, while holding it
    (polling): whoever would change that state needs the lock first.
  - an unbounded wait — a network round trip, a query, a process, a recursive `os.RemoveAll` —
    under a lock that another function of the package takes only for the state it guards in
    memory: that function never blocks, and under the lock it touches a field that some
    function writes under the same lock. Each caller of it waits for the I/O. (Field facts are
    read where a type and its methods are declared in one file; a lock whose other holders
    touch no such field serialises the I/O itself.) Not when the result is stored under the
    lock, nor inside a state change: between taking the lock and the wait, the function tests
    a field of the lock's owner (`if r.running`, `switch n.state`) and assigns it (`r.running
    = true`), as a `Start` does that others must wait for.
- `hint`: everything else. File I/O under a lock usually serialises that very I/O (the lock's
  job); a sleep adds latency but cannot deadlock; a channel operation or `Wait` whose other end
  does not take the lock cannot deadlock on it; an unbounded wait whose result is stored under
  the lock (check-then-act, connect-once), or made inside a state change the lock makes atomic
  (`Start` setting `running` and then dialing), is what the lock is for.

## When it stays silent
When the lock is held only on some paths, when the channel's capacity or the receiver's type is
unknown, in `go` and `defer` statements, and for `sync.Cond.Wait` (which releases its lock while
waiting). Test files get the same reading: a test that sleeps under a lock gets the same hint. Nor in a function that holds more than 64 mutexes at once on
some path, or uses `goto`: its locks are not followed.
"#,
};

/// What a blocking operation waits for.
#[derive(Debug, Clone)]
enum Wait<'t> {
    Sleep,
    /// `<-time.After(d)`.
    Timer,
    File,
    Unbounded,
    /// `wg.Wait()` / `g.Wait()` on this receiver.
    Group(Node<'t>),
    /// A send, receive or range on a local unbuffered channel (the channel expression).
    Channel(Node<'t>),
}

struct Op<'t> {
    node: Node<'t>,
    what: String,
    wait: Wait<'t>,
    key: String,
    /// Where the lock was taken (None: the caller holds it).
    site: Option<usize>,
    read: bool,
}

struct Observer<'m, 't> {
    model: &'m FileModel<'t>,
    ops: BTreeMap<usize, Option<Op<'t>>>,
}

impl<'t> LockObserver<'t> for Observer<'_, 't> {
    fn statement(&mut self, node: Node<'t>, state: &LockState) {
        if matches!(node.kind_str(), "go_statement" | "defer_statement") {
            return;
        }
        let held = state.held.iter().find(|(_, h)| h.on_every_path);
        let mut found: Vec<(Node<'t>, String, Wait<'t>, Vec<String>)> = Vec::new();
        walk_body(node, |n| {
            if let Some((what, wait, released)) = blocking_op(self.model, n) {
                found.push((n, what, wait, released));
            }
        });
        for (op, what, wait, released) in found {
            let held = held.filter(|(key, _)| !released.contains(key)).or_else(|| {
                state
                    .held
                    .iter()
                    .find(|(key, h)| h.on_every_path && !released.contains(key))
            });
            let report = held.map(|(key, h)| Op {
                node: op,
                what,
                wait,
                key: key.clone(),
                site: h.sites.iter().next().copied(),
                read: h.mode == Mode::Read,
            });
            self.ops.insert(op.start_byte(), report);
        }
    }
}

/// What blocks at this node, described for the message, with what it waits for and the keys of
/// the caller's locks a callee lets go around it.
fn blocking_op<'t>(
    model: &FileModel<'t>,
    node: Node<'t>,
) -> Option<(String, Wait<'t>, Vec<String>)> {
    match node.kind_str() {
        "call_expression" => blocking_call_description(model, node),
        "send_statement" => {
            let channel = node.field("channel")?;
            (unbuffered_local(model, channel) && !in_select_with_default(node)).then(|| {
                (
                    format!("the send on unbuffered `{}`", text(channel, model.src)),
                    Wait::Channel(channel),
                    Vec::new(),
                )
            })
        }
        "unary_expression" => {
            let op = node.field("operator")?;
            if text(op, model.src) != "<-" {
                return None;
            }
            let channel = unparen(node.field("operand")?);
            if in_select_with_default(node) {
                return None;
            }
            if unbuffered_local(model, channel) {
                return Some((
                    format!("the receive from unbuffered `{}`", text(channel, model.src)),
                    Wait::Channel(channel),
                    Vec::new(),
                ));
            }
            let after = channel.kind_str() == "call_expression"
                && channel
                    .field("function")
                    .and_then(|f| model.qualified_name(f, "time"))
                    == Some("After");
            after.then(|| {
                (
                    "waiting on `time.After`".to_string(),
                    Wait::Timer,
                    Vec::new(),
                )
            })
        }
        "range_clause" => {
            let channel = node.field("right")?;
            unbuffered_local(model, channel).then(|| {
                (
                    format!("ranging over unbuffered `{}`", text(channel, model.src)),
                    Wait::Channel(channel),
                    Vec::new(),
                )
            })
        }
        _ => None,
    }
}

fn wait_of(kind: BlockKind, receiver: Option<Node>) -> Option<Wait> {
    Some(match kind {
        BlockKind::Sleep => Wait::Sleep,
        BlockKind::File => Wait::File,
        BlockKind::Unbounded => Wait::Unbounded,
        BlockKind::Wait => Wait::Group(receiver?),
    })
}

fn blocking_call_description<'t>(
    model: &FileModel<'t>,
    call: Node<'t>,
) -> Option<(String, Wait<'t>, Vec<String>)> {
    if let Some((what, kind)) = blocking_call_kind(call, model.src, &model.imports) {
        return Some((format!("`{what}`"), wait_of(kind, None)?, Vec::new()));
    }
    if let Some(mc) = method_call(call) {
        let ty = model.type_of(mc.receiver);
        if let Ty::Named { pkg, name } = ty.deref() {
            let method = text(mc.method, model.src);
            if !pkg.is_empty() && blocking_method(pkg, name, method) {
                let wait = wait_of(method_kind(pkg, name), Some(mc.receiver))?;
                return Some((
                    format!("`{}.{method}`", text(mc.receiver, model.src)),
                    wait,
                    Vec::new(),
                ));
            }
        }
    }
    // A function or method of another package of the module that blocks, as its package's
    // summaries tell.
    if let Some(imported) = goconc_model::module::imported_callee(model, call) {
        let (blocking, via) = imported.facts?.blocks.as_ref()?;
        let wait = wait_of(blocking.kind, None).unwrap_or(Wait::Unbounded);
        let mut chain: Vec<String> = via.iter().map(|v| format!("`{v}`")).collect();
        chain.push(format!("`{}`", blocking.what));
        let function = text(call.field("function")?, model.src);
        return Some((
            format!("`{function}` (it calls {})", chain.join(" → ")),
            wait,
            Vec::new(),
        ));
    }
    // A same-package function or method that blocks, however deep.
    let callee = locks::callee(model, call)?;
    let effects = model.package.lock_closure().effects(&callee.key)?;
    let (blocking, via) = effects.blocks.as_ref()?;
    let wait = wait_of(blocking.kind, None).unwrap_or(Wait::Unbounded);
    // The caller's locks the callee lets go around its blocking: none of those is held then.
    let released = model
        .package
        .summary(&callee.key)
        .map(|s| {
            s.entered_held
                .iter()
                .flat_map(|lock| locks::keys_at_call(model, call, &callee, lock))
                .collect()
        })
        .unwrap_or_default();
    let mut chain: Vec<String> = via.iter().map(|v| format!("`{v}`")).collect();
    chain.push(format!("`{}`", blocking.what));
    let function = text(call.field("function")?, model.src);
    Some((
        format!("`{function}` (it calls {})", chain.join(" → ")),
        wait,
        released,
    ))
}

/// A channel variable this function made with `make(chan T)` and no capacity.
fn unbuffered_local(model: &FileModel, channel: Node) -> bool {
    let channel = unparen(channel);
    if channel.kind_str() != "identifier" {
        return false;
    }
    let Some(init) = model.resolve(channel).and_then(|d| d.init).map(unparen) else {
        return false;
    };
    init.kind_str() == "call_expression"
        && init
            .field("function")
            .is_some_and(|f| text(f, model.src) == "make")
        && call_args(init).len() == 1
        && call_args(init)
            .first()
            .is_some_and(|t| t.kind_str() == "channel_type")
}

fn in_select_with_default(node: Node) -> bool {
    let mut current = node.parent_node();
    while let Some(n) = current {
        match n.kind_str() {
            "communication_case" => {
                return n.parent_node().is_some_and(|select| {
                    named_children(select).any(|c| c.kind_str() == "default_case")
                });
            }
            "block" | "func_literal" | "function_declaration" | "method_declaration" => {
                return false
            }
            _ => current = n.parent_node(),
        }
    }
    false
}

/// A critical section: the lock, and where it was taken (None: the caller holds it).
type Section = (String, Option<usize>);

/// How the evidence reads for one operation: a warning with its reason, or a hint.
enum Verdict {
    Warning(String),
    Hint(String),
}

struct Judge<'a, 'm, 't> {
    cx: &'a Context<'m, 't>,
    /// The top-level function around the body.
    top: Node<'t>,
    /// The summary key of the function the body belongs to (to leave it out of "other takers").
    own_key: Option<String>,
}

impl<'t> Judge<'_, '_, 't> {
    fn verdict(&self, op: &Op<'t>) -> Verdict {
        let key = &op.key;
        match &op.wait {
            Wait::Sleep | Wait::Timer => match self.polls(op) {
                true => Verdict::Warning(format!(
                    "in a loop that waits for what `{key}` guards: whoever would change it needs `{key}` first"
                )),
                false => Verdict::Hint(format!(
                    "it delays every goroutine that needs `{key}` but cannot deadlock on it"
                )),
            },
            Wait::File => Verdict::Hint(format!(
                "file I/O under a lock usually serialises that very I/O; if `{key}` guards only memory, do the I/O outside"
            )),
            Wait::Unbounded => match self.short_taker(op) {
                Some(_) if self.state_change(op).is_some() => {
                    let (field, line) = self.state_change(op).unwrap_or_default();
                    Verdict::Hint(format!(
                        "it runs inside a change of `{field}`, checked and set under `{key}` (line {}): whoever reads it waits for the change to finish, as the lock means",
                        LineOf(line)
                    ))
                }
                Some(other) if !self.publishes(op) => Verdict::Warning(format!(
                    "`{other}` needs `{key}` only for the state it guards, and waits for this too"
                )),
                _ => Verdict::Hint(format!(
                    "every goroutine that needs `{key}` waits for it; if `{key}` does not serialise this wait, do it outside"
                )),
            },
            Wait::Channel(channel) => match self.channel_other_end(op, *channel) {
                Some(line) => Verdict::Warning(format!(
                    "the goroutine on the other end locks `{key}` (line {}): they can deadlock",
                    LineOf(line)
                )),
                None => Verdict::Hint(format!(
                    "the goroutine on the other end does not take `{key}`, so this cannot deadlock on it"
                )),
            },
            Wait::Group(group) => match self.group_other_end(op, *group) {
                Some(who) => Verdict::Warning(format!("{who}: they can deadlock")),
                None => Verdict::Hint(format!(
                    "none of the goroutines it waits for is seen to take `{key}`"
                )),
            },
        }
    }

    /// A sleep or timer wait in a loop that reads, before the wait, a field of the value the
    /// lock belongs to (in its condition or body): polling state that only a holder of the
    /// lock can change.
    fn polls(&self, op: &Op<'t>) -> bool {
        let Some(loop_stmt) = goconc_syntax::enclosing_loop(op.node) else {
            return false;
        };
        if !loop_stmt
            .field("body")
            .is_some_and(|b| goconc_syntax::is_within(op.node, b))
        {
            return false;
        }
        let root = locks::key_root(&op.key);
        let lock_field = op.key.split('.').nth(1);
        let src = self.cx.src;
        let mut reads_state = false;
        walk(loop_stmt, |n| {
            if reads_state
                || n.start_byte() >= op.node.start_byte()
                || n.kind_str() == "range_clause"
                || (n != loop_stmt && n.kind_str() == "func_literal")
            {
                return false;
            }
            if n.kind_str() == "selector_expression" {
                let operand = n.field("operand").map(unparen);
                let field = n.field("field").map(|f| text(f, src));
                let called = n.parent_node().is_some_and(|p| {
                    p.kind_str() == "call_expression" && p.field("function") == Some(n)
                });
                if operand.is_some_and(|o| o.kind_str() == "identifier" && text(o, src) == root)
                    && field != lock_field
                    && !called
                {
                    reads_state = true;
                }
            }
            true
        });
        reads_state
    }

    /// Another function of the package that takes the same lock only for memory: it never
    /// blocks, and (for a lock of a struct) under the lock it reads or writes a field that some
    /// function writes under the same lock. A lock whose other holders touch no such state
    /// serialises the I/O itself.
    fn short_taker(&self, op: &Op<'t>) -> Option<String> {
        let model = self.cx.model;
        let at = op.node.start_byte();
        let name = locks::canonical_key(model, &op.key, at)?;
        let closure = model.package.lock_closure();
        // The package's field accesses, this file's judged with the package's types (the
        // declarations of its types may sit in a sibling file).
        let own = self.cx.guard_facts();
        let mut seen = crate::HashSet::default();
        let accesses: Vec<&goconc_model::guards::FieldAccess> = own
            .accesses
            .iter()
            .chain(model.package.field_accesses())
            // A call on a field's self-locking value reads the pointer only: not state the
            // lock guards.
            .filter(|a| !a.pointer_only)
            .filter(|a| seen.insert((a.function.as_str(), a.offset, a.field.as_str())))
            .collect();
        // The fields the lock guards in memory: written somewhere while it is held.
        let guarded: Option<(String, String, Vec<&str>)> =
            locks::lock_path_of_key(model, &op.key, at).and_then(|(path, owner)| {
                let owner = match &path.root {
                    LockRoot::Receiver => owner?,
                    LockRoot::Typed(t) => t.clone(),
                    _ => return None,
                };
                // No facts about the type's fields: nothing to tell state from I/O by.
                if !accesses.iter().any(|a| a.type_name == owner) {
                    return None;
                }
                let written: Vec<&str> = accesses
                    .iter()
                    .filter(|a| a.type_name == owner && a.write && a.guards.contains(&path.path))
                    .map(|a| a.field.as_str())
                    .collect();
                Some((owner, path.path, written))
            });
        // The taker with the fewest calls reads best as a short section (`List` over `Create`).
        let mut takers: Vec<&String> = closure.acquirers(&name).iter().collect();
        takers.sort_by_key(|key| model.package.summary(key).map_or(0, |s| s.calls.len()));
        takers
            .into_iter()
            .filter(|key| Some(key.as_str()) != self.own_key.as_deref())
            .find(|key| {
                let never_blocks = model.package.summary(key).is_some_and(|s| {
                    s.blocks.is_none()
                        && s.blocks_released.is_none()
                        && closure.effects(key).is_none_or(|e| e.blocks.is_none())
                });
                let touches_state = match &guarded {
                    None => true,
                    Some((owner, lock, written)) => accesses.iter().any(|a| {
                        &a.function == *key
                            && &a.type_name == owner
                            && a.guards.contains(lock)
                            && written.contains(&a.field.as_str())
                    }),
                };
                never_blocks && touches_state
            })
            .cloned()
    }

    /// A state change the lock makes atomic: between taking the lock and the blocking call, the
    /// function tests a field of the lock's owner (`if srv.running {…}`, `switch n.state`) and
    /// assigns it (`srv.running = true`). A `Start` that sets `running` and then opens its
    /// database keeps `Stop` waiting on purpose. The field and where it is assigned.
    fn state_change(&self, op: &Op<'t>) -> Option<(String, usize)> {
        let site = op.site?;
        let at = op.node.start_byte();
        let owner = op.key.rsplit_once('.')?.0;
        let src = self.cx.src;
        let mut tested: Vec<&str> = Vec::new();
        let mut assigned: Vec<(&str, usize)> = Vec::new();
        walk_body(self.top, |n| {
            if n.start_byte() < site || n.start_byte() >= at {
                return;
            }
            let owned_field = |e: Node<'t>| {
                let e = unparen(e);
                (e.kind_str() == "selector_expression"
                    && e.field("operand").is_some_and(|o| text(o, src) == owner))
                .then(|| text(e, src))
            };
            match n.kind_str() {
                "if_statement" | "expression_switch_statement" => {
                    let tested_part = n.field("condition").or_else(|| n.field("value"));
                    if let Some(part) = tested_part {
                        goconc_syntax::walk(part, |e| {
                            tested.extend(owned_field(e));
                            true
                        });
                    }
                }
                "assignment_statement" => {
                    if let Some(left) = n.field("left") {
                        assigned.extend(
                            named_children(left)
                                .filter_map(owned_field)
                                .map(|f| (f, n.start_byte())),
                        );
                    }
                }
                _ => {}
            }
        });
        assigned
            .into_iter()
            .find(|(field, _)| tested.contains(field))
            .map(|(field, offset)| (field.to_string(), offset))
    }

    /// The blocking call's result is stored into a field (of the lock's owner or another
    /// value) in the same function: the lock makes the wait atomic with that state change.
    fn publishes(&self, op: &Op<'t>) -> bool {
        let src = self.cx.src;
        let mut stmt = op.node;
        while let Some(parent) = stmt.parent_node() {
            if matches!(
                stmt.kind_str(),
                "short_var_declaration" | "assignment_statement"
            ) {
                break;
            }
            if goconc_syntax::is_function(parent.kind_str()) || parent.kind_str() == "block" {
                return false;
            }
            stmt = parent;
        }
        let Some(left) = stmt.field("left") else {
            return false;
        };
        let mut results: Vec<&str> = Vec::new();
        for target in named_children(left) {
            match target.kind_str() {
                "selector_expression" | "index_expression" => return true,
                "identifier" => {
                    let name = text(target, src);
                    if name != "_" && name != "err" {
                        results.push(name);
                    }
                }
                _ => {}
            }
        }
        if results.is_empty() {
            return false;
        }
        let mut stored = false;
        walk_body(self.top, |n| {
            if stored
                || n.start_byte() < stmt.end_offset()
                || n.kind_str() != "assignment_statement"
            {
                return;
            }
            let (Some(left), Some(right)) = (n.field("left"), n.field("right")) else {
                return;
            };
            let into_field = named_children(left)
                .any(|t| matches!(t.kind_str(), "selector_expression" | "index_expression"));
            if into_field {
                walk(right, |r| {
                    if r.kind_str() == "identifier" && results.contains(&text(r, src)) {
                        stored = true;
                    }
                    !stored
                });
            }
        });
        stored
    }

    /// The goroutine started in this function that uses `channel` and takes the lock: where it
    /// takes it.
    fn channel_other_end(&self, op: &Op<'t>, channel: Node<'t>) -> Option<usize> {
        let model = self.cx.model;
        let declared = model.resolve(unparen(channel))?.ident;
        let name = text(unparen(channel), self.cx.src);
        let mut found = None;
        for &go in &self.cx.index.go_statements {
            // The other end is another goroutine: not the one that sends or receives here.
            if found.is_some()
                || !goconc_syntax::is_within(go, self.top)
                || goconc_syntax::is_within(op.node, go)
            {
                continue;
            }
            let mut uses = false;
            walk(go, |n| {
                if n.kind_str() == "identifier"
                    && text(n, self.cx.src) == name
                    && model.resolve(n).is_some_and(|d| d.ident == declared)
                {
                    uses = true;
                }
                !uses
            });
            if uses {
                found = self.takes_in(go, op);
            }
        }
        found
    }

    /// Where the code of a `go` statement (its literal, or the function it calls) takes the
    /// lock of `op`, directly or through calls.
    fn takes_in(&self, go: Node<'t>, op: &Op<'t>) -> Option<usize> {
        let model = self.cx.model;
        let mut at = None;
        walk(go, |n| {
            if at.is_some() {
                return false;
            }
            if n.kind_str() == "call_expression" {
                if let Some(lock) = lock_call(model, n) {
                    if lock.op.is_acquire()
                        && lock_key(model, &lock).as_deref() == Some(op.key.as_str())
                        && !(op.read && lock.op.is_read())
                    {
                        at = Some(n.start_byte());
                    }
                } else if let Some(callee) = locks::callee(model, n) {
                    let effects = model.package.lock_closure().effects(&callee.key);
                    for taken in effects.map(|e| e.takes.as_slice()).unwrap_or_default() {
                        if op.read && taken.read {
                            continue;
                        }
                        if locks::keys_at_call(model, n, &callee, &taken.lock).contains(&op.key) {
                            at = Some(n.start_byte());
                        }
                    }
                }
            }
            true
        });
        at
    }

    /// Who, counted by the group `Wait` waits on, takes the lock: a goroutine of this function
    /// that calls `Done` on the same group, or a function of the package that does.
    fn group_other_end(&self, op: &Op<'t>, group: Node<'t>) -> Option<String> {
        let model = self.cx.model;
        let group_key = access_path(group, self.cx.src)?;
        for &go in &self.cx.index.go_statements {
            if !goconc_syntax::is_within(go, self.top) || goconc_syntax::is_within(op.node, go) {
                continue;
            }
            let mut counts = false;
            walk(go, |n| {
                if let Some(wg) = statement_call(n).and_then(|c| waitgroup_call(model, c)) {
                    if wg.op == WaitGroupOp::Done
                        && access_path(wg.receiver, self.cx.src).as_deref() == Some(&group_key)
                    {
                        counts = true;
                    }
                }
                !counts
            });
            if counts && self.takes_in(go, op).is_some() {
                return Some(format!(
                    "the goroutine started at line {} calls `Done` and locks `{}`",
                    LineOf(go.start_byte()),
                    op.key
                ));
            }
        }
        // `wg.Go(func() { … })`: the group runs the function and counts it down.
        for &call in self.cx.index.calls_named("Go") {
            if !goconc_syntax::is_within(call, self.top) {
                continue;
            }
            let Some(wg) = waitgroup_call(model, call) else {
                continue;
            };
            if wg.op == WaitGroupOp::Go
                && access_path(wg.receiver, self.cx.src).as_deref() == Some(&group_key)
                && self.takes_in(call, op).is_some()
            {
                return Some(format!(
                    "the function `{group_key}.Go` runs at line {} locks `{}` before it returns",
                    LineOf(call.start_byte()),
                    op.key
                ));
            }
        }
        // Package functions that count the same group down.
        let group_name = locks::lock_path_of_key(model, &group_key, op.node.start_byte())
            .and_then(|(path, owner)| field_named(model.package, owner.as_deref(), &path))
            .map(|(name, _)| name)?;
        let lock_name = locks::canonical_key(model, &op.key, op.node.start_byte())?;
        let closure = model.package.lock_closure();
        let mut who: Vec<String> = model
            .package
            .summaries()
            .filter(|(key, s)| {
                s.dones.iter().any(|d| {
                    field_named(model.package, owner_of(key), d)
                        .is_some_and(|(n, _)| n == group_name)
                })
            })
            .filter(|(key, _)| {
                closure.effects(key).is_some_and(|e| {
                    e.takes.iter().any(|t| {
                        !(op.read && t.read)
                            && canonical(model.package, owner_of(key), &t.lock).as_deref()
                                == Some(lock_name.as_str())
                    })
                })
            })
            .map(|(key, _)| format!("`{key}` calls `Done` and locks `{}`", op.key))
            .collect();
        who.sort();
        who.into_iter().next()
    }
}

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    for (index, body, calls) in locking_bodies(cx) {
        if !calls.iter().any(|c| c.op.is_acquire()) && !calls.iter().any(|c| c.op.is_release()) {
            continue;
        }
        let mut observer = Observer {
            model: cx.model,
            ops: BTreeMap::new(),
        };
        let Some(trace) = cx.lock_trace(body) else {
            continue;
        };
        trace.replay(&mut observer);
        let mut top = index;
        while let Some(parent) = cx.model.functions[top].parent {
            top = parent;
        }
        let top_function = &cx.model.functions[top];
        let own_key = top_function
            .node
            .field("name")
            .map(|n| summary::summary_key(top_function.receiver_type.as_deref(), text(n, cx.src)));
        let judge = Judge {
            cx,
            top: top_function.node,
            own_key,
        };
        // One finding per critical section: the lock and where it was taken.
        let mut sections: BTreeMap<Section, Vec<(Op, Verdict)>> = BTreeMap::new();
        for op in observer.ops.into_values().flatten() {
            let verdict = judge.verdict(&op);
            sections
                .entry((op.key.clone(), op.site))
                .or_default()
                .push((op, verdict));
        }
        for ((key, site), ops) in sections {
            let count = ops.len();
            let chosen = ops
                .iter()
                .position(|(_, v)| matches!(v, Verdict::Warning(_)))
                .unwrap_or(0);
            let (op, verdict) = &ops[chosen];
            let held = match site {
                Some(site) => format!("`{key}` is held (locked at line {})", LineOf(site)),
                None => format!(
                    "`{key}` is held (by the caller: this function's first use of it is an unlock)"
                ),
            };
            let more = match count {
                1 => String::new(),
                2 => " (1 more blocking call in this critical section)".to_string(),
                n => format!(" ({} more blocking calls in this critical section)", n - 1),
            };
            let (severity, reason) = match verdict {
                Verdict::Warning(reason) => (Severity::Warning, reason),
                Verdict::Hint(reason) => (Severity::Hint, reason),
            };
            let mut finding = META.finding(
                op.node.byte_span(),
                format!("{} blocks while {held}: {reason}{more}", op.what),
            );
            finding.severity = severity;
            if let Some(site) = site {
                finding =
                    finding.with_related(site..site + key.len(), format!("`{key}` is locked here"));
            }
            out.push(finding);
        }
    }
}
