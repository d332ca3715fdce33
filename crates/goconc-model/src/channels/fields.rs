//! Channels held in struct fields: what each function of a file does with `x.f` where `x` is a
//! value of a package type `T` (its receiver, a parameter, or a local made by `&T{…}`), read from
//! the function's text alone — sends, receives, ranges, closes, the `make` calls that give the
//! field its capacity (`s.reqs = make(chan req)`, `&Server{reqs: make(chan req, 8)}`), and the
//! uses that hand the channel elsewhere (`ch := s.reqs`, `return s.reqs`, `f(s.reqs)`).
//!
//! Each operation carries what the channel rules ask across methods: whether it runs on a
//! goroutine the function starts, whether it is a `select` case that can give up, whether the
//! loop around a receive can stop reading, and which of the same value's mutexes are held at it
//! (or taken earlier in the same loop iteration), from the order of the statements around it.
//!
//! Facts are per top-level function, offsets relative to the function's start (so a server can
//! keep them while the function's text is unchanged), collected with the file's declarations and
//! merged per package ([`super::super::PackageModel::field_channel_ops`]).

use goconc_syntax::NodeExt;
use tree_sitter::Node;

use super::Capacity;
use crate::goroutines::{local_composite_types, Signature};
use crate::imports::Imports;
use crate::types::Ty;
use goconc_syntax::{call_args, named_children, statements, text, unparen};

/// What one use of a field channel does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldOpKind {
    Send,
    Receive,
    Range,
    Close,
    /// `x.f = make(chan T, n)` or `T{f: make(chan T, n)}`; `Unknown` for any other value stored.
    Make(Capacity),
    /// Any other use: the channel is handed elsewhere (aliased, returned, passed, stored).
    Escape,
}

/// One use of the channel field `owner.field` in a function of the package.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldChanOp {
    /// The struct type (`Server`).
    pub owner: String,
    pub field: String,
    pub kind: FieldOpKind,
    /// The top-level function or method it is in, by summary key (`Server.loop`).
    pub function: String,
    /// It runs on a goroutine the function starts (`go func(){…}()`, `g.Go(func…)`).
    pub in_goroutine: bool,
    /// A case of a `select` that can leave without it (another case, or a `default`).
    pub select_can_leave: bool,
    /// Another case of its `select` receives a cancellation signal.
    pub select_has_cancel: bool,
    /// It sits in a loop of its own function (for a range: the range loop itself).
    pub in_loop: bool,
    /// That loop, by its offset relative to the top-level function: operations of one loop
    /// share it (a receiving loop with several cases).
    pub loop_offset: Option<usize>,
    /// A receive or range whose loop can stop reading by another way than this receive itself
    /// (a `return`, `break` or `goto` outside its own `select` case).
    pub loop_can_stop: bool,
    /// Mutexes of the same value (paths below it: `mu`) write-locked at the operation: locked by
    /// an earlier statement of an enclosing block and not unlocked since.
    pub held: Vec<String>,
    /// The same for read locks (`RLock`).
    pub read_held: Vec<String>,
    /// Mutexes of the same value that the enclosing loop's iteration locks before reaching the
    /// operation (even when it unlocks them again first).
    pub taken_in_iteration: Vec<String>,
    /// Byte offset and length, relative to the start of the top-level function.
    pub offset: usize,
    pub len: usize,
}

/// The field channel uses of some of a file's top-level declarations. Escapes are kept only for
/// fields the file itself shows to be channels (an operation, a `make`, or a `chan` field type
/// in `chan_fields`).
pub fn collect_in(
    items: &[Node],
    src: &str,
    imports: &Imports,
    chan_fields: &crate::HashSet<(String, String)>,
) -> Vec<(String, Vec<FieldChanOp>)> {
    let mut out = Vec::new();
    for (_, decl, name, body) in crate::scope::named_bodies(items) {
        let body_text = text(body, src);
        // A cheap text screen: only bodies that could touch a channel are walked.
        let may_touch_channel = ["<-", "close(", "chan", "range"]
            .iter()
            .any(|needle| body_text.contains(needle))
            || chan_fields
                .iter()
                .any(|(_, f)| body_text.contains(f.as_str()));
        if !may_touch_channel {
            continue;
        }
        let scope = Signature::of(decl, src, imports);
        let key = crate::summary::summary_key(
            scope.receiver.as_ref().map(|(_, t)| t.as_str()),
            text(name, src),
        );
        let mut collector = Collector {
            decl,
            body,
            src,
            scope: &scope,
            chan_fields,
            function: key.clone(),
            ops: Vec::new(),
            composites: std::cell::OnceCell::new(),
            made_channels: std::cell::OnceCell::new(),
            blocks: Default::default(),
        };
        collector.walk();
        let mut ops = collector.ops;
        // Escapes and stores of unknown values only where the field is known to hold a
        // channel: a channel operation or `make` on it, or its declared type.
        let shows_channel = |o: &FieldChanOp| {
            !matches!(
                o.kind,
                FieldOpKind::Escape | FieldOpKind::Make(Capacity::Unknown)
            )
        };
        let known: Vec<(String, String)> = ops
            .iter()
            .filter(|o| shows_channel(o))
            .map(|o| (o.owner.clone(), o.field.clone()))
            .collect();
        ops.retain(|o| {
            shows_channel(o)
                || chan_fields.contains(&(o.owner.clone(), o.field.clone()))
                || known.contains(&(o.owner.clone(), o.field.clone()))
        });
        if !ops.is_empty() {
            out.push((key, ops));
        }
    }
    out
}

/// The struct fields of a file's types declared with a channel type: `(Type, field)`.
pub fn chan_fields_of(decls: &crate::FileDecls) -> crate::HashSet<(String, String)> {
    decls
        .structs
        .iter()
        .flat_map(|(owner, fields)| {
            fields
                .iter()
                .filter(|f| matches!(f.ty, Ty::Chan(_)))
                .map(move |f| (owner.clone(), f.name.clone()))
        })
        .collect()
}

struct Collector<'a, 't> {
    decl: Node<'t>,
    body: Node<'t>,
    src: &'t str,
    scope: &'a Signature<'t>,
    chan_fields: &'a crate::HashSet<(String, String)>,
    function: String,
    ops: Vec<FieldChanOp>,
    /// The package types of the locals made by composite literals or `new`, on first use.
    composites: std::cell::OnceCell<crate::HashMap<&'t str, String>>,
    /// The locals made by `make(chan …)`, on first use (see [`made_channels`]).
    made_channels: std::cell::OnceCell<crate::HashMap<&'t str, Vec<(usize, Capacity)>>>,
    /// The statements and lock calls of each block an operation looked back over (see
    /// [`BlockLocks`]), by node id.
    blocks: std::cell::RefCell<crate::HashMap<usize, std::rc::Rc<BlockLocks<'t>>>>,
}

impl<'t> Collector<'_, 't> {
    fn walk(&mut self) {
        let body = self.body;
        let mut selectors = Vec::new();
        let mut literals = Vec::new();
        goconc_syntax::walk(body, |n| {
            match n.kind_str() {
                "selector_expression" => selectors.push(n),
                "composite_literal" => literals.push(n),
                _ => {}
            }
            true
        });
        for sel in selectors {
            self.selector(sel);
        }
        for lit in literals {
            self.composite(lit);
        }
    }

    /// The package type of the identifier `root` at `at`: the receiver, a parameter, or a local
    /// made by a composite literal or `new`.
    fn root_type(&self, root: Node) -> Option<String> {
        if root.kind_str() != "identifier" {
            return None;
        }
        let name = text(root, self.src);
        if let Some((r, t)) = &self.scope.receiver {
            if *r == name {
                return Some(t.clone());
            }
        }
        if let Some(ty) = self.scope.param(name) {
            return match ty.deref() {
                Ty::Named { pkg, name } if pkg.is_empty() => Some(name.clone()),
                _ => None,
            };
        }
        self.composites
            .get_or_init(|| local_composite_types(self.body, self.src))
            .get(name)
            .cloned()
    }

    fn selector(&mut self, sel: Node<'t>) {
        let (Some(operand), Some(field)) = (sel.field("operand"), sel.field("field")) else {
            return;
        };
        let operand = unparen(operand);
        // A root the text cannot type (`c.quic.ch`, a local of unknown type): kept under no
        // owner, so that the rules know someone they cannot name uses a field of that name.
        let owner = self.root_type(operand).unwrap_or_default();
        // A method value or call (`s.run()`) is no field.
        let expr = goconc_syntax::outer_parens(sel);
        let Some(parent) = expr.parent_node() else {
            return;
        };
        let src = self.src;
        let kind = match parent.kind_str() {
            "call_expression" if parent.field("function") == Some(expr) => return,
            "selector_expression" => return,
            "send_statement" if parent.field("channel") == Some(expr) => FieldOpKind::Send,
            "unary_expression"
                if parent
                    .field("operator")
                    .is_some_and(|o| text(o, src) == "<-") =>
            {
                FieldOpKind::Receive
            }
            "range_clause" if parent.field("right") == Some(expr) => FieldOpKind::Range,
            "argument_list" => {
                let builtin = parent
                    .parent_node()
                    .and_then(|c| c.field("function"))
                    .filter(|f| f.kind_str() == "identifier")
                    .map(|f| text(f, src));
                match builtin {
                    Some("close") => FieldOpKind::Close,
                    Some("len" | "cap") => return,
                    _ => FieldOpKind::Escape,
                }
            }
            "binary_expression"
                if parent
                    .field("operator")
                    .is_some_and(|o| matches!(text(o, src), "==" | "!=")) =>
            {
                return
            }
            "expression_list" => match parent.parent_node() {
                Some(stmt)
                    if stmt.kind_str() == "assignment_statement"
                        && stmt.field("left") == Some(parent) =>
                {
                    let position = named_children(parent).position(|n| n == expr);
                    let value = stmt
                        .field("right")
                        .and_then(|r| position.and_then(|i| named_children(r).nth(i)));
                    match value {
                        Some(value) => FieldOpKind::Make(self.capacity_of(value)),
                        None => FieldOpKind::Make(Capacity::Unknown),
                    }
                }
                _ => FieldOpKind::Escape,
            },
            _ => FieldOpKind::Escape,
        };
        let node = match kind {
            FieldOpKind::Send | FieldOpKind::Range => parent,
            FieldOpKind::Receive => parent,
            FieldOpKind::Close => parent.parent_node().unwrap_or(parent),
            _ => expr,
        };
        let root = match operand.kind_str() {
            "identifier" if !owner.is_empty() => text(operand, src),
            _ => "",
        };
        let field = text(field, src).to_string();
        // `x.f = ch`: the channel lives in the local `ch` too, which may be stored or used
        // elsewhere.
        let stored_local = matches!(kind, FieldOpKind::Make(_))
            && parent
                .parent_node()
                .and_then(|stmt| stmt.field("right"))
                .and_then(|r| named_children(r).next())
                .map(unparen)
                .is_some_and(|v| v.kind_str() == "identifier");
        if stored_local {
            self.push(
                owner.clone(),
                field.clone(),
                FieldOpKind::Escape,
                node,
                root,
            );
        }
        self.push(owner, field, kind, node, root);
    }

    /// `T{f: make(chan X, n)}`, `&T{f: ch}`: the capacity the literal gives each channel field
    /// of a package type.
    fn composite(&mut self, lit: Node<'t>) {
        let Some(ty) = lit
            .field("type")
            .filter(|t| t.kind_str() == "type_identifier")
        else {
            return;
        };
        let owner = text(ty, self.src).to_string();
        let Some(body) = lit.field("body") else {
            return;
        };
        for element in named_children(body).filter(|e| e.kind_str() == "keyed_element") {
            let mut parts = named_children(element);
            let (Some(key), Some(value)) = (parts.next(), parts.next()) else {
                continue;
            };
            let key = unparen(named_children(key).next().unwrap_or(key));
            if key.kind_str() != "identifier" && key.kind_str() != "field_identifier" {
                continue;
            }
            let value = unparen(named_children(value).next().unwrap_or(value));
            let capacity = self.capacity_of(value);
            let field = text(key, self.src).to_string();
            // `reqs: make(chan T)`, `reqs: ch` with `ch` made here, or any value of a field the
            // file declares as a channel (its capacity then unknown).
            let is_chan = is_make_chan(value, self.src)
                || capacity != Capacity::Unknown
                || self.chan_fields.contains(&(owner.clone(), field.clone()));
            if !is_chan {
                continue;
            }
            if value.kind_str() == "identifier" {
                // The channel lives in a local too (`reqs: ch`): other holders may exist.
                self.push(
                    owner.clone(),
                    field.clone(),
                    FieldOpKind::Escape,
                    element,
                    "",
                );
            }
            self.push(
                owner.clone(),
                field,
                FieldOpKind::Make(capacity),
                element,
                "",
            );
        }
    }

    /// The capacity a stored value gives: `make(chan T[, n])`, or a local made so in this
    /// function (`ch := make(chan T)` … `s.ch = ch`).
    fn capacity_of(&self, value: Node) -> Capacity {
        let value = unparen(value);
        if let Some(capacity) = make_capacity(value, self.src) {
            return capacity;
        }
        if value.kind_str() == "identifier" {
            let name = text(value, self.src);
            let made = self
                .made_channels
                .get_or_init(|| made_channels(self.body, self.src));
            // The first `name := make(chan …)` before the value.
            if let Some((_, capacity)) = made
                .get(name)
                .into_iter()
                .flatten()
                .find(|(at, _)| *at < value.start_byte())
            {
                return *capacity;
            }
        }
        Capacity::Unknown
    }

    fn push(
        &mut self,
        owner: String,
        field: String,
        kind: FieldOpKind,
        node: Node<'t>,
        root: &str,
    ) {
        let (in_goroutine, own_function) = placement(node, self.decl, self.src);
        let comm = select_case(node);
        let (select_can_leave, select_has_cancel) = match comm {
            Some(case) => select_facts(case, self.src),
            None => (false, false),
        };
        let loop_stmt = match kind {
            // The operation is the range clause; its loop is the `for` around it.
            FieldOpKind::Range => node
                .parent_node()
                .filter(|p| p.kind_str() == "for_statement"),
            _ => enclosing_loop_within(node, own_function),
        };
        // The loop can stop reading by a way other than this receive's own case: a `return` or
        // `break` elsewhere in its body, or another case that leaves.
        let loop_can_stop = match kind {
            FieldOpKind::Receive | FieldOpKind::Range => {
                loop_stmt.is_some_and(|lp| leaves_elsewhere(lp, comm, self.src))
            }
            _ => false,
        };
        let locks = if root.is_empty() {
            Locks::default()
        } else {
            let mut locks = self.locks_before(node, own_function, loop_stmt, root);
            if let Some(lp) = loop_stmt {
                // Back to this operation the loop's body runs its statements after it too: a
                // lock they take is taken between one operation and the next.
                for path in self.locks_after_in_iteration(node, lp, root) {
                    if !locks.taken.contains(&path) {
                        locks.taken.push(path);
                    }
                }
                locks.taken.sort();
            }
            locks
        };
        let start = self.decl.start_byte();
        let loop_offset = loop_stmt.map(|lp| lp.start_byte().saturating_sub(start));
        self.ops.push(FieldChanOp {
            owner,
            field,
            kind,
            function: self.function.clone(),
            in_goroutine,
            select_can_leave,
            select_has_cancel,
            in_loop: loop_stmt.is_some(),
            loop_offset,
            loop_can_stop,
            held: locks.held,
            read_held: locks.read_held,
            taken_in_iteration: locks.taken,
            offset: node.start_byte().saturating_sub(start),
            len: node.end_offset().saturating_sub(node.start_byte()),
        });
    }
}

/// Where an operation of the package's facts is in this file's text, when its function is one of
/// this file's top-level functions (None for another file's).
pub fn range_in_file(model: &crate::FileModel, op: &FieldChanOp) -> Option<std::ops::Range<usize>> {
    offsets_in_file(model, &op.function, op.offset, op.len)
}

/// Where `len` bytes at `offset` from the start of the top-level function `function` (by
/// summary key) are in this file's text, when that function is one of this file's.
pub fn offsets_in_file(
    model: &crate::FileModel,
    function: &str,
    offset: usize,
    len: usize,
) -> Option<std::ops::Range<usize>> {
    // From the file's items, not the model's functions: an incremental analysis leaves the
    // functions it did not re-analyse out of the model, and the other side usually sits in one
    // of those.
    let function = model.item_declared_as(function)?;
    let start = function.start_byte() + offset;
    (start + len <= function.end_offset()).then_some(start..start + len)
}

/// The body's `name := make(chan T[, n])` declarations by name, in document order with where each
/// starts: one walk, read by every store of a local into a field (walking the body per store was
/// quadratic in the generated functions of compilers).
fn made_channels<'t>(
    body: Node<'t>,
    src: &'t str,
) -> crate::HashMap<&'t str, Vec<(usize, Capacity)>> {
    let mut made: crate::HashMap<&'t str, Vec<(usize, Capacity)>> = crate::HashMap::default();
    goconc_syntax::walk(body, |n| {
        if n.kind_str() == "short_var_declaration" {
            if let (Some(left), Some(right)) = (n.field("left"), n.field("right")) {
                let names: Vec<Node> = named_children(left).collect();
                let values: Vec<Node> = named_children(right).collect();
                if names.len() == values.len() {
                    for (i, v) in names.iter().zip(values) {
                        if let Some(capacity) = make_capacity(unparen(v), src) {
                            made.entry(text(*i, src))
                                .or_default()
                                .push((n.start_byte(), capacity));
                        }
                    }
                }
            }
        }
        true
    });
    made
}

/// `make(chan T)`, `make(chan T, n)`.
fn is_make_chan(value: Node, src: &str) -> bool {
    make_capacity(value, src).is_some()
}

/// The capacity of `make(chan T[, n])`; None when the value is no such call.
pub fn make_capacity(value: Node, src: &str) -> Option<Capacity> {
    if value.kind_str() != "call_expression" {
        return None;
    }
    let function = value.field("function")?;
    if function.kind_str() != "identifier" || text(function, src) != "make" {
        return None;
    }
    let args = call_args(value);
    if args.first()?.kind_str() != "channel_type" {
        return None;
    }
    Some(match args.get(1) {
        None => Capacity::Unbuffered,
        Some(&n) => {
            let lit = unparen(n);
            let parsed = (lit.kind_str() == "int_literal")
                .then(|| text(lit, src).replace('_', "").parse::<u64>().ok())
                .flatten();
            match parsed {
                Some(0) => Capacity::Unbuffered,
                Some(v) => Capacity::Buffered(v),
                None => Capacity::Unknown,
            }
        }
    })
}

/// Whether the node runs on a goroutine the declaration starts (a function literal between them
/// is started by `go`, or handed to a `Go` method), and the innermost function around it (the
/// declaration or a literal).
fn placement<'t>(node: Node<'t>, decl: Node<'t>, src: &str) -> (bool, Node<'t>) {
    let mut in_goroutine = false;
    let mut own = None;
    let mut current = node.parent_node();
    while let Some(n) = current {
        if n == decl {
            break;
        }
        if n.kind_str() == "func_literal" {
            own.get_or_insert(n);
            let started = crate::goroutines::go_statement_of(n).is_some() || handed_to_go(n, src);
            in_goroutine |= started;
        }
        current = n.parent_node();
    }
    (in_goroutine, own.unwrap_or(decl))
}

/// `x.Go(func…)` / `x.TryGo(func…)`: a literal handed to a group (read from syntax).
fn handed_to_go(lit: Node, src: &str) -> bool {
    lit.parent_node()
        .filter(|p| p.kind_str() == "argument_list")
        .and_then(|p| p.parent_node())
        .and_then(|call| call.field("function"))
        .filter(|f| f.kind_str() == "selector_expression")
        .and_then(|f| f.field("field"))
        .is_some_and(|m| matches!(text(m, src), "Go" | "TryGo"))
}

/// The innermost `for` around `node` inside `function`.
fn enclosing_loop_within<'t>(node: Node<'t>, function: Node<'t>) -> Option<Node<'t>> {
    let mut current = node.parent_node();
    while let Some(n) = current {
        if n == function {
            return None;
        }
        match n.kind_str() {
            "for_statement" => return Some(n),
            "func_literal" => return None,
            _ => current = n.parent_node(),
        }
    }
    None
}

/// The `communication_case` an operation is the communication of.
fn select_case(node: Node) -> Option<Node> {
    let mut comm = node;
    loop {
        let parent = comm.parent_node()?;
        match parent.kind_str() {
            "parenthesized_expression" | "receive_statement" | "expression_list" => comm = parent,
            "communication_case" => {
                return (parent.field("communication") == Some(comm)).then_some(parent)
            }
            _ => return None,
        }
    }
}

/// (the select can leave without this case, another case receives a cancellation signal).
fn select_facts(case: Node, src: &str) -> (bool, bool) {
    let Some(select) = case.parent_node() else {
        return (false, false);
    };
    let mut can_leave = false;
    let mut cancel = false;
    for c in named_children(select) {
        match c.kind_str() {
            "default_case" => can_leave = true,
            "communication_case" if c != case => {
                can_leave = true;
                let stops = c
                    .field("communication")
                    .and_then(|m| match m.kind_str() {
                        "receive_statement" => m.field("right"),
                        _ => None,
                    })
                    .map(unparen)
                    .filter(|r| r.kind_str() == "unary_expression")
                    .and_then(|r| r.field("operand"))
                    .map(unparen)
                    .is_some_and(|o| is_stop_signal(o, src));
                cancel |= stops;
            }
            _ => {}
        }
    }
    (can_leave, cancel)
}

/// `ctx.Done()`, `t.C`, `done`, `s.quit`: a receive that means "stop".
fn is_stop_signal(operand: Node, src: &str) -> bool {
    match operand.kind_str() {
        "call_expression" => operand
            .field("function")
            .and_then(|f| f.field("field"))
            .is_some_and(|f| matches!(text(f, src), "Done" | "After")),
        "selector_expression" | "identifier" => {
            let name = match operand.kind_str() {
                "identifier" => text(operand, src),
                _ => operand.field("field").map_or("", |f| text(f, src)),
            };
            crate::words::STOP_CHANNEL.in_identifier(name)
        }
        _ => false,
    }
}

/// The mutexes below `root` locked at an operation.
#[derive(Default)]
struct Locks {
    held: Vec<String>,
    read_held: Vec<String>,
    taken: Vec<String>,
}

/// The lock calls one statement makes: the method (`Lock`, `RUnlock`…), the mutex's access path
/// and whether the call is deferred.
type LockCalls<'t> = Vec<(&'t str, String, bool)>;

/// A block's statements and the lock calls each makes, read once per function: every operation
/// on a channel field looks back over the statements before it (and a loop's body after it), and
/// a function of thousands of operations would otherwise read its statements again for each.
struct BlockLocks<'t> {
    statements: Vec<Node<'t>>,
    /// The lock calls of the statements that make any, by statement index, in order.
    calls: Vec<(usize, LockCalls<'t>)>,
    /// The indices of the block's `continue` statements, in order.
    continues: Vec<usize>,
    /// What the calls before a statement leave held, swept forward: operations are asked about
    /// in the order of the text, so each block is read once.
    sweep: std::cell::RefCell<Sweep<'t>>,
    /// For the statements between two `continue`s (by the index of the first), the last
    /// statement of the body itself (not a branch) that write-locks each mutex.
    last_locks: std::cell::OnceCell<crate::HashMap<usize, crate::HashMap<String, usize>>>,
}

/// The effect of the lock calls of a block's first `upto` calling statements: the last call on
/// each mutex (deferred calls left out), and the mutexes write-locked at all.
#[derive(Default)]
struct Sweep<'t> {
    upto: usize,
    last: crate::HashMap<String, &'t str>,
    read_last: crate::HashMap<String, &'t str>,
    locked: crate::HashSet<String>,
}

impl<'t> BlockLocks<'t> {
    fn of(block: Node<'t>, src: &'t str) -> BlockLocks<'t> {
        let statements = statements(block);
        let mut calls = Vec::new();
        let mut continues = Vec::new();
        for (i, stmt) in statements.iter().enumerate() {
            if stmt.kind_str() == "continue_statement" {
                continues.push(i);
            }
            let found = lock_calls(*stmt, src);
            if !found.is_empty() {
                calls.push((i, found));
            }
        }
        BlockLocks {
            statements,
            calls,
            continues,
            sweep: Default::default(),
            last_locks: Default::default(),
        }
    }

    /// The index of the statement that is `node` itself.
    fn index_of(&self, node: Node) -> Option<usize> {
        let i = self
            .statements
            .partition_point(|s| s.start_byte() < node.start_byte());
        (self.statements.get(i) == Some(&node)).then_some(i)
    }

    /// The index of the statement that holds `node`.
    fn index_holding(&self, node: Node) -> Option<usize> {
        let i = self
            .statements
            .partition_point(|s| s.end_offset() <= node.start_byte());
        self.statements
            .get(i)
            .is_some_and(|s| goconc_syntax::is_within(node, *s))
            .then_some(i)
    }

    /// The effect of the lock calls of the statements before index `end`.
    fn effect_before(&self, end: usize) -> std::cell::Ref<'_, Sweep<'t>> {
        let upto = self.calls.partition_point(|(i, _)| *i < end);
        {
            let mut sweep = self.sweep.borrow_mut();
            if sweep.upto > upto {
                *sweep = Sweep::default();
            }
            for (_, calls) in &self.calls[sweep.upto..upto] {
                for (op, path, deferred) in calls {
                    if *deferred {
                        continue;
                    }
                    match *op {
                        "Lock" | "Unlock" => {
                            if *op == "Lock" {
                                sweep.locked.insert(path.clone());
                            }
                            sweep.last.insert(path.clone(), op);
                        }
                        _ => {
                            sweep.read_last.insert(path.clone(), op);
                        }
                    }
                }
            }
            sweep.upto = upto;
        }
        self.sweep.borrow()
    }

    /// The mutexes that the body's own statements from index `from` write-lock before the next
    /// `continue`.
    fn locked_from(&self, from: usize) -> impl Iterator<Item = &String> {
        let segments = self.last_locks.get_or_init(|| {
            let mut segments: crate::HashMap<usize, crate::HashMap<String, usize>> =
                Default::default();
            for (i, calls) in &self.calls {
                // Only a lock the iteration always takes: a statement of the body itself, not a
                // branch.
                if self.statements[*i].kind_str() != "expression_statement" {
                    continue;
                }
                let segment = self.segment_of(*i);
                for (op, path, _) in calls {
                    if *op == "Lock" {
                        segments
                            .entry(segment)
                            .or_default()
                            .insert(path.clone(), *i);
                    }
                }
            }
            segments
        });
        segments
            .get(&self.segment_of(from))
            .into_iter()
            .flatten()
            .filter(move |(_, last)| **last >= from)
            .map(|(path, _)| path)
    }

    /// The index of the first statement after the last `continue` before `i` (0 for none).
    fn segment_of(&self, i: usize) -> usize {
        match self.continues.partition_point(|c| *c < i) {
            0 => 0,
            n => self.continues[n - 1] + 1,
        }
    }
}

impl<'t> Collector<'_, 't> {
    fn block_locks(&self, block: Node<'t>) -> std::rc::Rc<BlockLocks<'t>> {
        self.blocks
            .borrow_mut()
            .entry(block.id())
            .or_insert_with(|| std::rc::Rc::new(BlockLocks::of(block, self.src)))
            .clone()
    }

    /// The mutexes below `root` held at `node` (locked by an earlier statement of an enclosing
    /// block inside `function`, not unlocked by a statement since), and the write locks the
    /// enclosing loop's iteration takes before reaching it. Each list is sorted.
    fn locks_before(
        &self,
        node: Node<'t>,
        function: Node<'t>,
        loop_stmt: Option<Node<'t>>,
        root: &str,
    ) -> Locks {
        let prefix = format!("{root}.");
        // Each enclosing block with the number of its statements before `node`, outermost first.
        let mut levels: Vec<(std::rc::Rc<BlockLocks<'t>>, usize)> = Vec::new();
        let mut in_iteration_from = None;
        let mut current = node;
        while let Some(parent) = current.parent_node() {
            if parent == function {
                break;
            }
            if Some(parent) == loop_stmt {
                in_iteration_from = Some(levels.len());
            }
            if goconc_syntax::is_statement(current.kind_str()) {
                let block = self.block_locks(parent);
                if let Some(pos) = block.index_of(current) {
                    levels.push((block, pos));
                }
            }
            current = parent;
        }
        levels.reverse();
        let in_iteration_from = in_iteration_from.map(|i| levels.len() - i);
        // A mutex's last call on the way to `node`, outermost block first, decides whether it
        // is held there.
        let mut last: crate::HashMap<&str, &str> = Default::default();
        let mut read_last: crate::HashMap<&str, &str> = Default::default();
        let mut taken: crate::HashSet<&str> = Default::default();
        let effects: Vec<_> = levels
            .iter()
            .map(|(block, pos)| block.effect_before(*pos))
            .collect();
        for (depth, effect) in effects.iter().enumerate() {
            let in_iteration = in_iteration_from.is_some_and(|from| depth >= from);
            fn own<'p>(path: &'p str, prefix: &str) -> Option<&'p str> {
                path.strip_prefix(prefix)
            }
            for (path, op) in &effect.last {
                if let Some(path) = own(path, &prefix) {
                    last.insert(path, op);
                }
            }
            for (path, op) in &effect.read_last {
                if let Some(path) = own(path, &prefix) {
                    read_last.insert(path, op);
                }
            }
            if in_iteration {
                taken.extend(effect.locked.iter().filter_map(|p| own(p, &prefix)));
            }
        }
        let sorted = |paths: Vec<&str>| {
            let mut paths: Vec<String> = paths.into_iter().map(str::to_string).collect();
            paths.sort();
            paths
        };
        Locks {
            held: sorted(
                last.into_iter()
                    .filter(|(_, op)| *op == "Lock")
                    .map(|(p, _)| p)
                    .collect(),
            ),
            read_held: sorted(
                read_last
                    .into_iter()
                    .filter(|(_, op)| *op == "RLock")
                    .map(|(p, _)| p)
                    .collect(),
            ),
            taken: sorted(taken.into_iter().collect()),
        }
    }

    /// The write locks below `root` that the statements of `lp`'s body after the one holding
    /// `node` take (all of its statements when `node` is the range loop itself), before the
    /// body can `continue` back to the operation. Sorted.
    fn locks_after_in_iteration(&self, node: Node<'t>, lp: Node<'t>, root: &str) -> Vec<String> {
        let prefix = format!("{root}.");
        let Some(body) = lp.field("body") else {
            return Vec::new();
        };
        let block = self.block_locks(body);
        let from = match node.kind_str() == "range_clause" {
            true => 0,
            false => match block.index_holding(node) {
                Some(i) => i + 1,
                None => return Vec::new(),
            },
        };
        let mut taken: Vec<String> = block
            .locked_from(from)
            .filter_map(|path| path.strip_prefix(&prefix).map(str::to_string))
            .collect();
        taken.sort();
        taken
    }
}

/// A block whose last statement leaves: `return`, `break`, `continue`, `goto`, `panic(…)`.
fn ends_by_leaving(block: Node, src: &str) -> bool {
    statements(block).last().is_some_and(|last| {
        matches!(
            last.kind_str(),
            "return_statement" | "break_statement" | "continue_statement" | "goto_statement"
        ) || goconc_syntax::statement_call(*last)
            .and_then(|c| c.field("function"))
            .is_some_and(|f| f.kind_str() == "identifier" && text(f, src) == "panic")
    })
}

/// Whether the loop can be left by another way than the `select` case `own` (when the operation
/// is one): a `return`, `break` or `goto` in the loop's body outside that case.
fn leaves_elsewhere(lp: Node, own: Option<Node>, src: &str) -> bool {
    let Some(body) = lp.field("body") else {
        return false;
    };
    let mut found = false;
    goconc_syntax::walk(body, |n| {
        if found || Some(n) == own || n.kind_str() == "func_literal" {
            return false;
        }
        if matches!(
            n.kind_str(),
            "return_statement" | "break_statement" | "goto_statement"
        ) {
            // A `break` inside a nested `select` or `switch` leaves only that statement.
            let plain_break =
                n.kind_str() == "break_statement" && named_children(n).next().is_none();
            found = !plain_break || goconc_syntax::break_leaves(n, lp, src);
        }
        !found
    });
    found
}

/// The lock method calls a statement makes (outside function literals): (method, receiver path,
/// deferred).
fn lock_calls<'t>(stmt: Node<'t>, src: &'t str) -> LockCalls<'t> {
    let mut out = Vec::new();
    let deferred = stmt.kind_str() == "defer_statement";
    if stmt.kind_str() == "go_statement" {
        return out;
    }
    goconc_syntax::walk_calls(stmt, src, |n| {
        if n.kind_str() == "func_literal" {
            return false;
        }
        // `if s.closed { s.mu.Unlock(); return }`: a branch that leaves does not reach the
        // operation, nor does what it unlocks.
        if n.kind_str() == "block" && n != stmt && ends_by_leaving(n, src) {
            return false;
        }
        if n.kind_str() == "call_expression" {
            if let Some(mc) = goconc_syntax::method_call(n) {
                let method = text(mc.method, src);
                if matches!(method, "Lock" | "RLock" | "Unlock" | "RUnlock")
                    && call_args(n).is_empty()
                {
                    if let Some(path) = goconc_syntax::access_path(mc.receiver, src) {
                        out.push((method, path, deferred));
                    }
                }
            }
        }
        true
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use goconc_syntax::SourceFile;

    fn ops(src: &str) -> Vec<FieldChanOp> {
        let file = SourceFile::new(src.to_string());
        let root = file.tree().root_node();
        let imports = Imports::from_tree(root, src);
        let decls = crate::FileDecls::collect(root, src);
        let items = crate::scope::top_level_items(root, src);
        collect_in(&items, src, &imports, &chan_fields_of(&decls))
            .into_iter()
            .flat_map(|(_, ops)| ops)
            .collect()
    }

    #[test]
    fn operations_capacities_and_locks() {
        let src = r#"package p

import "sync"

type server struct {
	mu   sync.Mutex
	reqs chan int
	quit chan struct{}
}

func newServer() *server {
	return &server{reqs: make(chan int), quit: make(chan struct{}, 1)}
}

func (s *server) loop() {
	for {
		s.mu.Lock()
		s.mu.Unlock()
		select {
		case r := <-s.reqs:
			_ = r
		case <-s.quit:
			return
		}
	}
}

func (s *server) put(v int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs <- v
}

func (s *server) stop() {
	close(s.quit)
	c := s.reqs
	_ = c
}
"#;
        let all = ops(src);
        let find = |f: &str, kind: FieldOpKind| {
            all.iter()
                .find(|o| o.field == f && o.kind == kind)
                .unwrap_or_else(|| panic!("{f} {kind:?} in {all:#?}"))
        };
        find("reqs", FieldOpKind::Make(Capacity::Unbuffered));
        find("quit", FieldOpKind::Make(Capacity::Buffered(1)));
        let recv = find("reqs", FieldOpKind::Receive);
        assert!(recv.in_loop && recv.loop_can_stop && recv.select_has_cancel);
        assert!(recv.held.is_empty());
        assert_eq!(recv.taken_in_iteration, vec!["mu".to_string()]);
        let send = find("reqs", FieldOpKind::Send);
        assert_eq!(send.held, vec!["mu".to_string()]);
        assert_eq!(send.function, "server.put");
        find("quit", FieldOpKind::Close);
        find("reqs", FieldOpKind::Escape);
    }

    /// The forward sweep of a block's lock calls answers a statement asked about after a later
    /// one as a fresh read would (it starts again).
    #[test]
    fn a_block_asked_out_of_order_sweeps_again() {
        let src = "package p\n\nfunc f() {\n\tb.mu.Lock()\n\tx()\n\tb.mu.Unlock()\n\tb.rw.RLock()\n\ty()\n}\n";
        let file = SourceFile::new(src.to_string());
        let mut body = None;
        goconc_syntax::walk(file.tree().root_node(), |n| {
            if n.kind_str() == "block" && body.is_none() {
                body = Some(n);
            }
            true
        });
        let block = BlockLocks::of(body.unwrap(), src);
        let held = |end: usize| {
            let effect = block.effect_before(end);
            let mut held: Vec<String> = effect
                .last
                .iter()
                .filter(|(_, op)| **op == "Lock")
                .map(|(path, _)| path.clone())
                .collect();
            held.extend(
                effect
                    .read_last
                    .iter()
                    .filter(|(_, op)| **op == "RLock")
                    .map(|(path, _)| format!("read {path}")),
            );
            held.sort();
            held
        };
        assert_eq!(held(5), ["read b.rw"]);
        assert_eq!(held(2), ["b.mu"]);
        assert_eq!(held(4), ["read b.rw"]);
        assert_eq!(held(0), Vec::<String>::new());
    }

    /// What each operation holds, read from the statements before it in every enclosing block
    /// (and, in a loop, from those after it in the iteration): the answers do not depend on the
    /// order the operations are asked about in.
    #[test]
    fn locks_held_at_each_operation_of_a_long_function() {
        let src = r#"package p

import "sync"

type box struct {
	mu, other sync.Mutex
	rw        sync.RWMutex
	ch        chan int
}

func (b *box) run() {
	b.mu.Lock()
	b.ch <- 1
	b.mu.Unlock()
	b.ch <- 2
	b.rw.RLock()
	if b.ch != nil {
		b.other.Lock()
		b.ch <- 3
		b.other.Unlock()
	}
	b.ch <- 4
	b.rw.RUnlock()
	for {
		b.ch <- 5
		b.mu.Lock()
		b.ch <- 6
		b.mu.Unlock()
	}
}
"#;
        let mut sends: Vec<_> = ops(src)
            .into_iter()
            .filter(|o| o.kind == FieldOpKind::Send)
            .collect();
        sends.sort_by_key(|o| o.offset);
        let names = |list: &[String]| list.join(",");
        let seen: Vec<_> = sends
            .iter()
            .map(|o| {
                format!(
                    "{}|{}|{}",
                    names(&o.held),
                    names(&o.read_held),
                    names(&o.taken_in_iteration)
                )
            })
            .collect();
        assert_eq!(
            seen,
            ["mu||", "||", "other|rw|", "|rw|", "||mu", "mu||mu"],
            "{sends:#?}"
        );
    }
}
