//! Forward dataflow over one function body, following Go's structured control flow directly on
//! the syntax tree: if/else, for (with break/continue and labels), switch with fallthrough, type
//! switch, select, return, and calls that never return (`panic`, `os.Exit`, `log.Fatal…`,
//! `t.Fatal…`). Loops iterate to a fixed point. `goto` makes the analysis give up: a rule then
//! stays silent for that function rather than guess.
//!
//! A rule supplies the state, how a simple statement changes it, how two states merge where
//! paths meet, and what to do at each exit.

use goconc_syntax::NodeExt;
use std::collections::BTreeMap;

use tree_sitter::Node;

use super::scope::FileModel;
use goconc_syntax::{named_children, statement_call, statements, text, unparen};

/// The methods of `*testing.T`/`B`/`F` and `testing.TB` that end the goroutine that calls them
/// (`runtime.Goexit`): the test stops only when that goroutine is the test's own.
pub const TEST_GOEXIT_METHODS: [&str; 6] =
    ["Fatal", "Fatalf", "FailNow", "Skip", "Skipf", "SkipNow"];

/// How a path leaves the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    Return,
    /// Falling off the closing brace.
    EndOfBody,
    /// A call that does not return: `panic`, `os.Exit`, `log.Fatal…`, `t.Fatal…`, `runtime.Goexit`.
    NoReturn,
}

pub trait FlowAnalysis<'t> {
    type State: Clone + PartialEq;

    /// Applies one simple statement (expression, assignment, declaration, send, `go`, `defer`,
    /// `return` before it exits, `if`/`switch`/`for` init statements), or the expression a
    /// control statement evaluates (an `if` or `for` condition, a `switch` value, a `range`
    /// clause) — calls there run too.
    fn transfer(&mut self, stmt: Node<'t>, state: &mut Self::State);

    /// Merges the states of two paths that meet.
    fn join(&self, a: &Self::State, b: &Self::State) -> Self::State;

    /// A `continue` statement leaves the iteration with `state` (for analyses that remember
    /// what a path carries back to the top of the loop).
    fn continued(&mut self, _stmt: Node<'t>, _state: &mut Self::State) {}

    /// The state has grown past what the analysis follows: the walk gives up, as on `goto`.
    fn exhausted(&self, _state: &Self::State) -> bool {
        false
    }
}

/// One way out of the function and the state on it (joined over every path to that exit).
#[derive(Debug, Clone)]
pub struct Exit<'t, S> {
    pub kind: ExitKind,
    /// The `return` statement, the no-return call's statement, or the body (for `EndOfBody`).
    pub node: Node<'t>,
    pub state: S,
}

/// Runs an analysis over a function body. None when the body uses `goto` or a loop does not
/// settle: the caller should report nothing for the function.
pub fn run<'t, A: FlowAnalysis<'t>>(
    model: &FileModel<'t>,
    body: Node<'t>,
    analysis: &mut A,
    entry: A::State,
) -> Option<Vec<Exit<'t, A::State>>> {
    run_with(
        model.src,
        &|call| is_no_return_call(model, call),
        body,
        analysis,
        entry,
    )
}

/// [`run`] over a body read without a file model: `no_return` tells the calls that never
/// return (the package summaries read bodies this way, before any model exists).
pub fn run_with<'t, A: FlowAnalysis<'t>>(
    src: &'t str,
    no_return: &dyn Fn(Node<'t>) -> bool,
    body: Node<'t>,
    analysis: &mut A,
    entry: A::State,
) -> Option<Vec<Exit<'t, A::State>>> {
    let mut walker = Walker {
        src,
        no_return,
        analysis,
        exits: BTreeMap::new(),
        gave_up: false,
        depth: 0,
    };
    let flow = walker.block(body, entry);
    if let Some(state) = flow.normal {
        walker.exit(ExitKind::EndOfBody, body, state);
    }
    if walker.gave_up {
        return None;
    }
    Some(walker.exits.into_values().collect())
}

struct Flow<S> {
    /// The state falling through to the next statement; None when no path does.
    normal: Option<S>,
    breaks: Vec<(Option<String>, S)>,
    continues: Vec<(Option<String>, S)>,
    /// A case body ended in `fallthrough`.
    fallthrough: bool,
}

impl<S> Flow<S> {
    fn normal(state: S) -> Self {
        Flow {
            normal: Some(state),
            breaks: Vec::new(),
            continues: Vec::new(),
            fallthrough: false,
        }
    }
    fn dead() -> Self {
        Flow {
            normal: None,
            breaks: Vec::new(),
            continues: Vec::new(),
            fallthrough: false,
        }
    }
}

struct Walker<'m, 't, A: FlowAnalysis<'t>> {
    src: &'t str,
    no_return: &'m dyn Fn(Node<'t>) -> bool,
    analysis: &'m mut A,
    exits: BTreeMap<usize, Exit<'t, A::State>>,
    gave_up: bool,
    /// How many statements the walk is inside of: it recurses into nested statements (`else
    /// if` chains and labels excepted, which it follows in a loop).
    depth: usize,
}

const MAX_LOOP_ITERATIONS: usize = 16;

/// The most mutexes held, or channels followed, at once in one function that an analysis
/// follows; past it the analysis gives up on the function, as on `goto`. No function of the
/// pinned projects or the standard library comes near (3 mutexes held at once, 4 channels
/// closed, 2 goroutine senders left behind), while code that did paid for each join or each
/// channel with a walk over all the others: quadratic.
pub const MAX_FOLLOWED: usize = 64;

/// Past this many nested statements the walk gives up (a rule then stays silent for the
/// function). Brackets nest no deeper than `MAX_NESTING` in what the engine reads, so this only
/// guards the stack should that ever change.
const MAX_DEPTH: usize = crate::scope::MAX_NESTING + 16;

impl<'t, A: FlowAnalysis<'t>> Walker<'_, 't, A> {
    fn join(&self, a: Option<A::State>, b: Option<A::State>) -> Option<A::State> {
        match (a, b) {
            (Some(a), Some(b)) => Some(self.analysis.join(&a, &b)),
            (a, None) => a,
            (None, b) => b,
        }
    }

    fn exit(&mut self, kind: ExitKind, node: Node<'t>, state: A::State) {
        if self.analysis.exhausted(&state) {
            self.gave_up = true;
        }
        let merged = match self.exits.remove(&node.start_byte()) {
            Some(old) => self.analysis.join(&old.state, &state),
            None => state,
        };
        self.exits.insert(
            node.start_byte(),
            Exit {
                kind,
                node,
                state: merged,
            },
        );
    }

    fn block(&mut self, block: Node<'t>, state: A::State) -> Flow<A::State> {
        self.sequence(&statements(block), state)
    }

    fn sequence(&mut self, stmts: &[Node<'t>], state: A::State) -> Flow<A::State> {
        let mut flow = Flow::normal(state);
        for stmt in stmts {
            let Some(state) = flow.normal.take() else {
                break;
            };
            let next = self.statement(*stmt, state);
            flow.normal = next.normal;
            flow.breaks.extend(next.breaks);
            flow.continues.extend(next.continues);
            flow.fallthrough = next.fallthrough;
        }
        flow
    }

    fn statement(&mut self, stmt: Node<'t>, state: A::State) -> Flow<A::State> {
        if self.gave_up {
            return Flow::dead();
        }
        if self.depth >= MAX_DEPTH || self.analysis.exhausted(&state) {
            self.gave_up = true;
            return Flow::dead();
        }
        self.depth += 1;
        let flow = self.statement_within(stmt, state);
        self.depth -= 1;
        flow
    }

    fn statement_within(&mut self, stmt: Node<'t>, mut state: A::State) -> Flow<A::State> {
        match stmt.kind_str() {
            "block" => self.block(stmt, state),
            "return_statement" => {
                self.analysis.transfer(stmt, &mut state);
                self.exit(ExitKind::Return, stmt, state);
                Flow::dead()
            }
            "if_statement" => self.if_statement(stmt, state),
            "for_statement" => self.for_statement(stmt, None, state),
            "labeled_statement" => {
                // `A: B: for …`: only the innermost label names the loop (the outer ones only
                // mark a place, as the walk gives up on `goto`).
                let mut stmt = stmt;
                while let Some(inner) = named_children(stmt)
                    .find(|n| n.kind_str() != "label_name")
                    .filter(|inner| inner.kind_str() == "labeled_statement")
                {
                    stmt = inner;
                }
                let label = stmt.field("label").map(|l| text(l, self.src).to_string());
                let Some(inner) = named_children(stmt).find(|n| n.kind_str() != "label_name")
                else {
                    return Flow::normal(state);
                };
                match inner.kind_str() {
                    "for_statement" => self.for_statement(inner, label, state),
                    "expression_switch_statement"
                    | "type_switch_statement"
                    | "select_statement" => {
                        let mut flow = self.statement(inner, state);
                        self.take_breaks(&mut flow, label.as_deref());
                        flow
                    }
                    _ => self.statement(inner, state),
                }
            }
            "expression_switch_statement" | "type_switch_statement" => {
                let mut flow = self.switch_statement(stmt, state);
                self.take_breaks(&mut flow, None);
                flow
            }
            "select_statement" => {
                let mut flow = self.select_statement(stmt, state);
                self.take_breaks(&mut flow, None);
                flow
            }
            "break_statement" => {
                let label = named_children(stmt)
                    .next()
                    .map(|l| text(l, self.src).to_string());
                Flow {
                    normal: None,
                    breaks: vec![(label, state)],
                    continues: Vec::new(),
                    fallthrough: false,
                }
            }
            "continue_statement" => {
                let label = named_children(stmt)
                    .next()
                    .map(|l| text(l, self.src).to_string());
                self.analysis.continued(stmt, &mut state);
                Flow {
                    normal: None,
                    breaks: Vec::new(),
                    continues: vec![(label, state)],
                    fallthrough: false,
                }
            }
            "fallthrough_statement" => Flow {
                fallthrough: true,
                ..Flow::normal(state)
            },
            "goto_statement" => {
                self.gave_up = true;
                Flow::dead()
            }
            _ => {
                self.analysis.transfer(stmt, &mut state);
                if stmt.kind_str() == "expression_statement" && self.is_no_return(stmt) {
                    self.exit(ExitKind::NoReturn, stmt, state);
                    return Flow::dead();
                }
                Flow::normal(state)
            }
        }
    }

    /// Moves breaks aimed at this statement (unlabelled, or with its label) into its normal exit.
    fn take_breaks(&mut self, flow: &mut Flow<A::State>, label: Option<&str>) {
        let breaks = std::mem::take(&mut flow.breaks);
        for (target, state) in breaks {
            if target.is_none() || target.as_deref() == label {
                flow.normal = self.join(flow.normal.take(), Some(state));
            } else {
                flow.breaks.push((target, state));
            }
        }
    }

    /// An `if` and the `else if`s chained to it, followed in a loop (generated code chains
    /// thousands), joined as if each `else if` were walked as a nested statement: the last
    /// branch first.
    fn if_statement(&mut self, stmt: Node<'t>, mut state: A::State) -> Flow<A::State> {
        let mut branches = Vec::new();
        let mut stmt = stmt;
        let last = loop {
            if let Some(init) = stmt.field("initializer") {
                self.analysis.transfer(init, &mut state);
            }
            if let Some(condition) = stmt.field("condition") {
                self.analysis.transfer(condition, &mut state);
            }
            branches.push(match stmt.field("consequence") {
                Some(block) => self.block(block, state.clone()),
                None => Flow::normal(state.clone()),
            });
            match stmt.field("alternative") {
                Some(alt) if alt.kind_str() == "if_statement" && !self.gave_up => stmt = alt,
                Some(alt) => break self.statement(alt, state),
                None => break Flow::normal(state),
            }
        };
        let mut flow = last;
        for then_flow in branches.into_iter().rev() {
            flow = Flow {
                normal: self.join(then_flow.normal, flow.normal),
                breaks: then_flow.breaks.into_iter().chain(flow.breaks).collect(),
                continues: then_flow
                    .continues
                    .into_iter()
                    .chain(flow.continues)
                    .collect(),
                fallthrough: false,
            };
        }
        flow
    }

    fn for_statement(
        &mut self,
        stmt: Node<'t>,
        label: Option<String>,
        mut state: A::State,
    ) -> Flow<A::State> {
        let clause = named_children(stmt).find(|n| n.kind_str() == "for_clause");
        let has_range = named_children(stmt).any(|n| n.kind_str() == "range_clause");
        let has_condition = has_range
            || clause.is_some_and(|c| c.field("condition").is_some())
            || named_children(stmt).any(|n| {
                n.kind_str() != "for_clause"
                    && n.kind_str() != "block"
                    && n.kind_str() != "range_clause"
            });
        if let Some(init) = clause.and_then(|c| c.field("initializer")) {
            self.analysis.transfer(init, &mut state);
        }
        let update = clause.and_then(|c| c.field("update"));
        let Some(body) = stmt.field("body") else {
            return Flow::normal(state);
        };

        // The condition or range clause is evaluated at the top of every iteration.
        let header = named_children(stmt)
            .find(|n| n.kind_str() != "for_clause" && n.kind_str() != "block")
            .or_else(|| clause.and_then(|c| c.field("condition")));
        let mut head = state;
        let mut breaks = Vec::new();
        let mut outer_breaks = Vec::new();
        let mut outer_continues = Vec::new();
        let mut settled = false;
        for _ in 0..MAX_LOOP_ITERATIONS {
            let mut entry = head.clone();
            if let Some(header) = header {
                self.analysis.transfer(header, &mut entry);
            }
            let flow = self.block(body, entry);
            breaks.clear();
            outer_breaks.clear();
            outer_continues.clear();
            let mut end = flow.normal;
            for (target, s) in flow.continues {
                if target.is_none() || target == label {
                    end = self.join(end, Some(s));
                } else {
                    outer_continues.push((target, s));
                }
            }
            for (target, s) in flow.breaks {
                if target.is_none() || target == label {
                    breaks.push(s);
                } else {
                    outer_breaks.push((target, s));
                }
            }
            if let (Some(update), Some(s)) = (update, end.as_mut()) {
                self.analysis.transfer(update, s);
            }
            let next = self.join(Some(head.clone()), end).expect("head is present");
            if next == head {
                settled = true;
                break;
            }
            head = next;
        }
        if !settled {
            self.gave_up = true;
            return Flow::dead();
        }
        let mut normal = has_condition.then_some(head);
        for s in breaks {
            normal = self.join(normal, Some(s));
        }
        Flow {
            normal,
            breaks: outer_breaks,
            continues: outer_continues,
            fallthrough: false,
        }
    }

    fn switch_statement(&mut self, stmt: Node<'t>, mut state: A::State) -> Flow<A::State> {
        if let Some(init) = stmt.field("initializer") {
            self.analysis.transfer(init, &mut state);
        }
        if let Some(value) = stmt.field("value") {
            self.analysis.transfer(value, &mut state);
        }
        let cases: Vec<Node> = named_children(stmt)
            .filter(|n| {
                matches!(
                    n.kind_str(),
                    "expression_case" | "default_case" | "type_case"
                )
            })
            .collect();
        let has_default = cases.iter().any(|c| c.kind_str() == "default_case");
        let mut result = Flow::dead();
        if !has_default {
            result.normal = Some(state.clone());
        }
        let mut carried: Option<A::State> = None;
        for case in cases {
            let entry = self
                .join(Some(state.clone()), carried.take())
                .expect("state is present");
            let mut flow = self.sequence(&statements(case), entry);
            if flow.fallthrough {
                carried = flow.normal.take();
            }
            result.normal = self.join(result.normal, flow.normal);
            result.breaks.extend(flow.breaks);
            result.continues.extend(flow.continues);
        }
        result
    }

    fn select_statement(&mut self, stmt: Node<'t>, state: A::State) -> Flow<A::State> {
        let mut result = Flow::dead();
        for case in named_children(stmt)
            .filter(|n| matches!(n.kind_str(), "communication_case" | "default_case"))
        {
            let mut entry = state.clone();
            if let Some(comm) = case.field("communication") {
                self.analysis.transfer(comm, &mut entry);
            }
            let flow = self.sequence(&statements(case), entry);
            result.normal = self.join(result.normal, flow.normal);
            result.breaks.extend(flow.breaks);
            result.continues.extend(flow.continues);
        }
        // `select {}` blocks forever: no path continues.
        result
    }

    fn is_no_return(&self, stmt: Node<'t>) -> bool {
        statement_call(stmt).is_some_and(|call| (self.no_return)(call))
    }
}

/// Calls after which control never comes back to the caller: `panic`, `os.Exit`, `log.Fatal…`,
/// `runtime.Goexit`, `t.Fatal…`, and functions and methods of the package (or, exported, of
/// another package of the module) whose every path ends in one of those (`fatalf(t, …)` wrapping
/// `t.Fatalf`).
pub fn is_no_return_call(model: &FileModel, call: Node) -> bool {
    let Some(function) = call.field("function").map(unparen) else {
        return false;
    };
    match function.kind_str() {
        "identifier" => {
            if model.resolve(function).is_some() {
                return false;
            }
            let name = text(function, model.src);
            name == "panic"
                || (model.package.func(name).is_some()
                    && model.package.summary(name).is_some_and(|s| s.never_returns))
        }
        "selector_expression" => {
            let (Some(operand), Some(field)) = (function.field("operand"), function.field("field"))
            else {
                return false;
            };
            let name = text(field, model.src);
            if model.is_package(operand, "os") {
                return name == "Exit";
            }
            if model.is_package(operand, "log") {
                return name.starts_with("Fatal") || name.starts_with("Panic");
            }
            if model.is_package(operand, "runtime") {
                return name == "Goexit";
            }
            let ty = model.type_of(operand);
            let testing = ["T", "B", "F", "TB"]
                .iter()
                .any(|t| ty.deref().is_named("testing", t));
            if testing {
                return TEST_GOEXIT_METHODS.contains(&name);
            }
            match ty.deref() {
                super::types::Ty::Named { pkg, name: owner } if pkg.is_empty() => model
                    .package
                    .summary(&format!("{owner}.{name}"))
                    .is_some_and(|s| s.never_returns),
                // `testutil.Fail(t, …)`, `x.Must()` of another package of the module.
                _ => super::module::imported_callee(model, call)
                    .and_then(|callee| callee.facts)
                    .is_some_and(|facts| facts.never_returns),
            }
        }
        _ => false,
    }
}
