//! Start transitions: a method that, holding a lock of its receiver, checks a state field of
//! the receiver, turns back on some of its values, and at once sets it to one of them
//! (`if s.running { return errRunning }; s.running = true`). Once the state has been set, no
//! other run of the method passes the check until something sets the state to a value the
//! check lets through again: what the method writes after it is written by one run only.

use goconc_syntax::{named_children, statement_call, statements, text, unparen, NodeExt};
use tree_sitter::Node;

/// The longest value text kept for a state comparison (`runningState`, `true`): longer
/// expressions are no state constants.
const MAX_VALUE_LEN: usize = 64;

/// See the module's documentation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StartTransition {
    /// The receiver's state field (`running`).
    pub state: String,
    /// The values of the state the check turns back.
    pub turned_back: TurnedBack,
    /// The receiver's lock held across the check and the change, as a path below the
    /// receiver (`mu`).
    pub lock: String,
    /// Byte offset of the statement that sets the state (`s.running = true`).
    pub advance: usize,
    /// Byte offset where the critical section holding it ends: the next release of the lock
    /// among the body's statements, or the end of the body (a deferred release).
    pub until: usize,
}

impl StartTransition {
    /// Is the byte offset within the critical section, after the state was set?
    pub fn covers(&self, offset: usize) -> bool {
        self.advance < offset && offset < self.until
    }

    pub fn shift_offsets(&mut self, shift: impl Fn(usize) -> usize) {
        self.advance = shift(self.advance);
        self.until = shift(self.until);
    }
}

/// Which values of the state a check turns back, by their text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TurnedBack {
    /// `if s.running { return }` is `true`; `case runningState, closedState: return`.
    Values(Vec<String>),
    /// `if s.state != idle { return }`: every value but these.
    AllBut(Vec<String>),
}

impl TurnedBack {
    pub fn contains(&self, value: &str) -> bool {
        match self {
            TurnedBack::Values(values) => values.iter().any(|v| v == value),
            TurnedBack::AllBut(values) => values.iter().all(|v| v != value),
        }
    }
}

/// The start transition of a method's body, if its statements hold one: a lock of the
/// receiver taken (`recv.mu.Lock()`, not a read lock), then, with no release in between, a
/// check of `recv.state` that returns on the values it turns back (an `if` without `else`
/// whose block ends in `return`, or a `switch` on the state whose turning-back cases do), and
/// right after the check `recv.state = v`, `v` one of the values turned back.
pub fn start_transition(body: Node, src: &str, receiver: &str) -> Option<StartTransition> {
    let stmts = statements(body);
    let mut held: Option<String> = None;
    for (i, stmt) in stmts.iter().enumerate() {
        if let Some((lock, acquiring)) = receiver_lock_call(*stmt, src, receiver) {
            match acquiring {
                true => held = Some(lock),
                false if held.as_deref() == Some(lock.as_str()) => held = None,
                false => {}
            }
            continue;
        }
        let Some(lock) = &held else { continue };
        let Some((state, turned_back)) = state_check(*stmt, src, receiver) else {
            continue;
        };
        let Some(next) = stmts.get(i + 1) else {
            continue;
        };
        let Some((set, value)) = receiver_assignment(*next, src, receiver) else {
            continue;
        };
        if set != state || !turned_back.contains(&value) {
            continue;
        }
        let until = stmts[i + 2..]
            .iter()
            .find(|s| receiver_lock_call(**s, src, receiver).is_some_and(|(l, a)| !a && l == *lock))
            .map_or(body.end_offset(), |s| s.start_byte());
        return Some(StartTransition {
            state,
            turned_back,
            lock: lock.clone(),
            advance: next.start_byte(),
            until,
        });
    }
    None
}

/// `recv.mu.Lock()` (`("mu", true)`) or `recv.mu.Unlock()` (`("mu", false)`) as a statement of
/// its own; `recv.Lock()` is `("", …)`. Read locks do not make a check and its change one step.
fn receiver_lock_call(stmt: Node, src: &str, receiver: &str) -> Option<(String, bool)> {
    if stmt.kind_str() != "expression_statement" {
        return None;
    }
    let call = goconc_syntax::method_call(statement_call(stmt)?)?;
    if !goconc_syntax::call_args(call.call).is_empty() {
        return None;
    }
    let acquiring = match text(call.method, src) {
        "Lock" => true,
        "Unlock" => false,
        _ => return None,
    };
    let path = goconc_syntax::access_path(call.receiver, src)?;
    let rest = match path.strip_prefix(receiver)? {
        "" => "",
        rest => rest.strip_prefix('.')?,
    };
    Some((rest.to_string(), acquiring))
}

/// `recv.f` as an operand: the field's name.
fn receiver_field<'s>(expr: Node, src: &'s str, receiver: &str) -> Option<&'s str> {
    let expr = unparen(expr);
    if expr.kind_str() != "selector_expression" {
        return None;
    }
    let operand = unparen(expr.field("operand")?);
    if operand.kind_str() != "identifier" || text(operand, src) != receiver {
        return None;
    }
    Some(text(expr.field("field")?, src))
}

/// The only item of a list.
fn single(list: Node) -> Option<Node> {
    let mut items = named_children(list);
    let first = items.next()?;
    items.next().is_none().then_some(first)
}

/// `recv.f = v` with one name and one value: the field and the value's text.
pub fn receiver_assignment(stmt: Node, src: &str, receiver: &str) -> Option<(String, String)> {
    if stmt.kind_str() != "assignment_statement"
        || stmt.field("operator").map(|o| text(o, src)) != Some("=")
    {
        return None;
    }
    let left = single(stmt.field("left")?)?;
    let right = single(stmt.field("right")?)?;
    let field = receiver_field(left, src, receiver)?;
    Some((field.to_string(), state_value(right, src)?))
}

/// The text of a value a state can be compared with: a name, a qualified name, a literal.
pub fn state_value(expr: Node, src: &str) -> Option<String> {
    let expr = unparen(expr);
    let fits = matches!(
        expr.kind_str(),
        "identifier"
            | "true"
            | "false"
            | "nil"
            | "int_literal"
            | "interpreted_string_literal"
            | "selector_expression"
    );
    let value = text(expr, src);
    (fits && value.len() <= MAX_VALUE_LEN).then(|| value.to_string())
}

/// Does the statement list end in a `return`?
fn ends_in_return(holder: Node) -> bool {
    statements(holder)
        .last()
        .is_some_and(|s| s.kind_str() == "return_statement")
}

/// A check of `recv.state` that returns on some of its values: the state field and the values
/// turned back.
fn state_check(stmt: Node, src: &str, receiver: &str) -> Option<(String, TurnedBack)> {
    match stmt.kind_str() {
        "if_statement" => {
            if stmt.field("initializer").is_some() || stmt.field("alternative").is_some() {
                return None;
            }
            if !ends_in_return(stmt.field("consequence")?) {
                return None;
            }
            let condition = unparen(stmt.field("condition")?);
            if let Some(field) = receiver_field(condition, src, receiver) {
                return Some((field.to_string(), TurnedBack::Values(vec!["true".into()])));
            }
            if condition.kind_str() != "binary_expression" {
                return None;
            }
            let (left, right) = (condition.field("left")?, condition.field("right")?);
            let (field, other) = match receiver_field(left, src, receiver) {
                Some(field) => (field, right),
                None => (receiver_field(right, src, receiver)?, left),
            };
            let value = state_value(other, src)?;
            let turned_back = match text(condition.field("operator")?, src) {
                "==" => TurnedBack::Values(vec![value]),
                "!=" => TurnedBack::AllBut(vec![value]),
                _ => return None,
            };
            Some((field.to_string(), turned_back))
        }
        "expression_switch_statement" => {
            if stmt.field("initializer").is_some() {
                return None;
            }
            let field = receiver_field(stmt.field("value")?, src, receiver)?;
            let mut turned: Vec<String> = Vec::new();
            let mut passed: Vec<String> = Vec::new();
            let mut default_turns_back = false;
            for case in named_children(stmt) {
                match case.kind_str() {
                    "expression_case" => {
                        let values: Option<Vec<String>> = named_children(case.field("value")?)
                            .map(|v| state_value(v, src))
                            .collect();
                        match ends_in_return(case) {
                            true => turned.extend(values?),
                            false => passed.extend(values?),
                        }
                    }
                    "default_case" => default_turns_back = ends_in_return(case),
                    _ => {}
                }
            }
            let turned_back = match default_turns_back {
                true => TurnedBack::AllBut(passed),
                false => TurnedBack::Values(turned),
            };
            Some((field.to_string(), turned_back))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transition(body: &str) -> Option<StartTransition> {
        let src = format!("package p\n\nfunc (s *S) Start() error {{\n{body}\n}}\n");
        let file = goconc_syntax::SourceFile::new(src.clone());
        let decl = named_children(file.tree().root_node())
            .find(|n| n.kind_str() == "method_declaration")
            .unwrap();
        start_transition(decl.field("body").unwrap(), &src, "s")
    }

    #[test]
    fn a_flag_checked_and_set_under_the_lock() {
        let t = transition(
            "s.mu.Lock()\ndefer s.mu.Unlock()\nif s.running {\nreturn errRunning\n}\ns.running = true\ns.x = 1\nreturn nil",
        )
        .unwrap();
        assert_eq!((t.state.as_str(), t.lock.as_str()), ("running", "mu"));
        assert!(t.turned_back.contains("true") && !t.turned_back.contains("false"));
    }

    #[test]
    fn a_switch_of_states_and_the_release_that_ends_it() {
        let t = transition(
            "s.lock.Lock()\nswitch s.state {\ncase running:\ns.lock.Unlock()\nreturn errRunning\ncase closed:\ns.lock.Unlock()\nreturn errClosed\n}\ns.state = running\ns.open()\ns.lock.Unlock()\nreturn nil",
        )
        .unwrap();
        assert_eq!(t.state, "state");
        assert!(t.turned_back.contains("closed") && !t.turned_back.contains("initial"));
        assert!(t.until > t.advance);
    }

    #[test]
    fn no_transition_without_the_lock_or_with_a_value_let_through() {
        // No lock held at the check.
        assert!(
            transition("if s.running {\nreturn errRunning\n}\ns.running = true\nreturn nil")
                .is_none()
        );
        // The value set is one the check lets through: a second run passes the check too.
        assert!(transition(
            "s.mu.Lock()\ndefer s.mu.Unlock()\nif s.running {\nreturn errRunning\n}\ns.running = false\nreturn nil"
        )
        .is_none());
        // Something happens between the check and the change.
        assert!(transition(
            "s.mu.Lock()\ndefer s.mu.Unlock()\nif s.running {\nreturn errRunning\n}\ns.x = 1\ns.running = true\nreturn nil"
        )
        .is_none());
        // A read lock lets two runs in at once.
        assert!(transition(
            "s.mu.RLock()\ndefer s.mu.RUnlock()\nif s.running {\nreturn errRunning\n}\ns.running = true\nreturn nil"
        )
        .is_none());
    }

    #[test]
    fn a_check_that_lets_only_the_initial_state_through() {
        let t = transition(
            "s.mu.Lock()\ndefer s.mu.Unlock()\nif s.state != idle {\nreturn errState\n}\ns.state = started\nreturn nil",
        )
        .unwrap();
        assert!(t.turned_back.contains("stopped") && !t.turned_back.contains("idle"));
    }
}
