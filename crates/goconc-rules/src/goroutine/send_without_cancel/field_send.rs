//! A bare send on a channel held in a struct field, whose receivers in the package can all stop
//! reading (or nothing receives it).

use super::*;

/// A bare send on a channel held in a struct field (`s.reqs <- r`), anywhere in the package's
/// code, whose receivers in the package are all loops that can stop reading — or that nothing
/// in the package receives from at all.
pub(super) fn check_field_send<'t>(cx: &Context<'_, 't>, send: Node<'t>, out: &mut Vec<Finding>) {
    if send
        .parent_node()
        .is_some_and(|p| p.kind_str() == "communication_case")
    {
        return;
    }
    let Some(channel) = send.field("channel").map(unparen) else {
        return;
    };
    let Some((owner, field)) = field_channel(cx, channel) else {
        return;
    };
    let package = cx.model.package;
    let Some(uses) = package.field_channel(&owner, &field) else {
        return;
    };
    if !uses.only_unbuffered || uses.escapes {
        return;
    }
    // Someone the package's text cannot name (`a.b.f`, a local of unknown type) uses a field
    // of that name: the receivers may be more than those we see.
    if package
        .field_channel("", &field)
        .is_some_and(|unnamed| unnamed.escapes || !unnamed.receivers().is_empty())
    {
        return;
    }
    let sender = enclosing_function_key(cx.model, send);
    let receivers = uses.receivers();
    // A function that both sends and receives hands values to itself: not this shape.
    if receivers
        .iter()
        .any(|r| Some(&r.function) == sender.as_ref())
    {
        return;
    }
    let exported = field.chars().next().is_some_and(char::is_uppercase);
    let why = if receivers.is_empty() {
        // Another package may receive from an exported field.
        if exported {
            return;
        }
        format!("nothing in the package receives from unbuffered `{owner}.{field}`")
    } else if receivers.iter().all(|r| r.in_loop && r.loop_can_stop) {
        // A loop that can stop is common and usually outlives its senders; the evidence that
        // this one may not is the package's own code: another send into the same loop gives
        // up on the stop signal, and this one does not.
        let Some(sibling) = abandoning_sibling(cx, &owner, &field, &receivers) else {
            return;
        };
        // The sender announces its end on another channel, and every receiver reads on until
        // it hears it (the receiver that stops drains first): no receiver leaves a send behind.
        if let Some(last) = last_word(cx, send, &owner, &field) {
            if receivers
                .iter()
                .all(|r| reads_until_last_word(cx, r, &owner, &field, &last))
            {
                return;
            }
        }
        // The sending function started the receiving loop itself (`c.Start()` then
        // `c.inbox <- m`, a test driving the loop it runs): the loop is running at the send.
        if starts_a_receiver(cx, send, &receivers) {
            return;
        }
        let mut names: Vec<&str> = receivers.iter().map(|r| r.function.as_str()).collect();
        names.dedup();
        format!(
            "its receiver{} ({}) can stop reading unbuffered `{owner}.{field}` ({sibling})",
            if names.len() > 1 { "s" } else { "" },
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else {
        return;
    };
    let cancel = cancel_in_scope(cx, send);
    let tail = match &cancel {
        Some(c) => format!(", though `{}` is in scope to abandon it", c.name),
        None => String::new(),
    };
    let message = format!(
        "bare send on `{}`: {why}, and then this send blocks forever{tail}",
        text(channel, cx.src)
    );
    let mut finding = META.finding(send.byte_span(), message);
    for r in &receivers {
        if let Some(range) = range_in_file(cx.model, r) {
            finding = finding.with_related(range, "this loop can stop reading");
        }
    }
    if let (Some(cancel), Some(value)) = (cancel, send.field("value")) {
        let function = goconc_syntax::enclosing_function(send);
        if function.is_some_and(|f| f.field("result").is_none()) && starts_own_line(cx.src, send) {
            finding = with_abandon_fix(cx, finding, send, channel, value, &cancel);
        }
    }
    out.push(finding);
}

/// Does the top-level function around `send` start one of the receivers' functions, with `go`
/// or through a call of a package function that does?
pub(super) fn starts_a_receiver(
    cx: &Context,
    send: Node,
    receivers: &[&goconc_model::channels::fields::FieldChanOp],
) -> bool {
    let package = cx.model.package;
    let starts = |key: &str| starts_through_calls(package, key, receivers);
    let top = top_function(send);
    if function_key(cx.model, top).is_some_and(|k| starts(&k)) {
        return true;
    }
    let mut found = false;
    walk(top, |n| {
        if !found && n.kind_str() == "call_expression" && n.start_byte() < send.start_byte() {
            found = callee_key(cx, n).is_some_and(|k| starts(&k));
        }
        !found
    });
    found
}

/// Does `key` start one of the receivers' functions — by name with `go`, inside a literal it
/// starts (`go func() { err := c.loop(); … }()`), or through the package functions it calls, a
/// few calls deep (`newPeer()` calling `listen()`, which starts `Peer.loop`)?
pub(super) fn starts_through_calls(
    package: &goconc_model::PackageModel,
    key: &str,
    receivers: &[&goconc_model::channels::fields::FieldChanOp],
) -> bool {
    const DEPTH: usize = 4;
    let mut seen: Vec<String> = vec![key.to_string()];
    let mut frontier: Vec<String> = vec![key.to_string()];
    for _ in 0..DEPTH {
        let mut next = Vec::new();
        for key in &frontier {
            let started = package.go_facts(key).is_some_and(|f| {
                receivers.iter().any(|r| {
                    f.starts.contains(&r.function)
                        || f.runs_in_started_literals.contains(&r.function)
                })
            });
            if started {
                return true;
            }
            let Some(summary) = package.summary(key) else {
                continue;
            };
            let owner = key.split_once('.').map(|(t, _)| t);
            for call in &summary.calls {
                let Some((callee, _)) = goconc_model::lock_closure::resolve_call(
                    package,
                    owner,
                    &call.target,
                    &call.name,
                ) else {
                    continue;
                };
                if !seen.contains(&callee) {
                    seen.push(callee.clone());
                    next.push(callee);
                }
            }
        }
        frontier = next;
    }
    false
}

/// The channel on which the function that sends announces its end: every `return` of it follows
/// a send on one other field channel of the same type (`c.readErr <- err; return`), and it
/// cannot leave another way (its body ends in a `for` with no condition and no `break` out of
/// it). `None` when it can.
pub(super) fn last_word(cx: &Context, send: Node, owner: &str, field: &str) -> Option<String> {
    let function = goconc_syntax::enclosing_function(send)?;
    let body = function.field("body")?;
    let last_statement = goconc_syntax::statements(body).pop()?;
    if !is_endless_for(last_statement) || leaves_loop_otherwise(last_statement) {
        return None;
    }
    let mut words: Vec<String> = Vec::new();
    let mut every_return_announced = true;
    walk_body(body, |n| {
        if n.kind_str() != "return_statement" {
            return;
        }
        let announced = n
            .prev_named_sibling()
            .filter(|p| p.kind_str() == "send_statement")
            .and_then(|p| p.field("channel"))
            .and_then(|c| field_channel(cx, unparen(c)))
            .filter(|(o, f)| o == owner && f != field);
        match announced {
            Some((_, f)) => words.push(f),
            None => every_return_announced = false,
        }
    });
    words.dedup();
    match words.as_slice() {
        [word] if every_return_announced => Some(word.clone()),
        _ => None,
    }
}

/// `for { … }`: no condition, no clause, no range.
pub(super) fn is_endless_for(node: Node) -> bool {
    node.kind_str() == "for_statement"
        && named_children(node).all(|c| matches!(c.kind_str(), "block" | "comment"))
}

/// A `break` that leaves `for_stmt` itself (not a `select`, `switch` or loop inside it), or a
/// labelled `break` or `goto`, which this reading does not follow.
pub(super) fn leaves_loop_otherwise(for_stmt: Node) -> bool {
    let Some(body) = for_stmt.field("body") else {
        return true;
    };
    let mut leaves = false;
    walk_body_with_ancestors(body, |n, ancestors| {
        if n.kind_str() != "return_statement" && leaves_loop(n, body, ancestors) {
            leaves = true;
        }
    });
    leaves
}

/// Does `n`, inside the loop body `body`, leave the loop: a `return`, a `goto`, a labelled
/// `break` (not followed here), or a `break` outside any `select`, `switch` or loop of its own?
pub(super) fn leaves_loop(n: Node, body: Node, ancestors: &[Node]) -> bool {
    match n.kind_str() {
        "return_statement" | "goto_statement" => true,
        "break_statement" => {
            named_children(n).next().is_some()
                || !ancestors.iter().any(|a| {
                    *a != body
                        && matches!(
                            a.kind_str(),
                            "for_statement"
                                | "select_statement"
                                | "expression_switch_statement"
                                | "type_switch_statement"
                        )
                })
        }
        _ => false,
    }
}

/// Does the receiver `op` keep reading `owner.field` until the sender's last word on
/// `owner.last`? Either its own loop leaves only from a case that received `last`, or its
/// function, before the loop, defers a call of a method of this file whose loop does (`defer
/// c.drainRead()`), unconditionally or under a flag that turns false only where `last` was
/// received.
pub(super) fn reads_until_last_word(
    cx: &Context,
    op: &goconc_model::channels::fields::FieldChanOp,
    owner: &str,
    field: &str,
    last: &str,
) -> bool {
    let Some(range) = range_in_file(cx.model, op) else {
        return false;
    };
    let Some(node) = cx
        .model
        .root
        .descendant_for_byte_range(range.start, range.end)
    else {
        return false;
    };
    let Some(for_stmt) = goconc_syntax::enclosing_loop(node) else {
        return false;
    };
    if drains_until(cx, for_stmt, owner, last) {
        return true;
    }
    let Some(function) = goconc_syntax::enclosing_function(for_stmt) else {
        return false;
    };
    let Some(body) = function.field("body") else {
        return false;
    };
    goconc_syntax::statements(body)
        .into_iter()
        .filter(|s| s.kind_str() == "defer_statement" && s.end_offset() <= for_stmt.start_byte())
        .any(|defer| deferred_drain(cx, defer, body, owner, field, last))
}

/// The deferred call (or a call in the deferred literal) of a method of `owner` in this file
/// whose last loop drains until `last`; under `if flag { … }` only when every `flag = false` of
/// `body` sits in a case that received `last`.
pub(super) fn deferred_drain(
    cx: &Context,
    defer: Node,
    body: Node,
    owner: &str,
    field: &str,
    last: &str,
) -> bool {
    let mut calls = Vec::new();
    goconc_syntax::walk(defer, |n| {
        if n.kind_str() == "call_expression" {
            calls.push(n);
        }
        true
    });
    calls.into_iter().any(|call| {
        let Some(callee) = call
            .field("function")
            .filter(|f| f.kind_str() == "selector_expression")
        else {
            return false;
        };
        let Some(method) = callee.field("field").map(|m| text(m, cx.src)) else {
            return false;
        };
        let Some(receiver) = callee.field("operand").map(unparen) else {
            return false;
        };
        let ty = cx.model.type_of(receiver);
        let Ty::Named { name, .. } = ty.deref() else {
            return false;
        };
        if name != owner {
            return false;
        }
        let key = format!("{owner}.{method}");
        let Some(drain) = goconc_model::scope::top_level_items(cx.model.root, cx.src)
            .into_iter()
            .find(|item| {
                goconc_model::summary::declaration_key(*item, cx.src).as_deref() == Some(&key)
            })
        else {
            return false;
        };
        let drains = drain.field("body").is_some_and(|b| {
            goconc_syntax::statements(b).pop().is_some_and(|s| {
                is_endless_for(s)
                    && receives(cx, s, owner, field)
                    && drains_until(cx, s, owner, last)
            })
        });
        drains && guard_turns_false_only_on(cx, call, defer, body, owner, last)
    })
}

/// The `if` between `call` and `defer`, if any, tests a bare local flag that `body` sets to
/// `false` only in cases that received `owner.last`.
pub(super) fn guard_turns_false_only_on(
    cx: &Context,
    call: Node,
    defer: Node,
    body: Node,
    owner: &str,
    last: &str,
) -> bool {
    let guards: Vec<Node> = goconc_syntax::ancestors_under(defer, call)
        .into_iter()
        .filter(|a| a.kind_str() == "if_statement")
        .collect();
    let flag = match guards.as_slice() {
        [] => return true,
        [guard] => match guard.field("condition").map(unparen) {
            Some(c) if c.kind_str() == "identifier" && guard.field("initializer").is_none() => {
                text(c, cx.src)
            }
            _ => return false,
        },
        _ => return false,
    };
    let mut only_on_last = true;
    walk_body_with_ancestors(body, |n, ancestors| {
        if n.kind_str() != "assignment_statement" {
            return;
        }
        let (Some(left), Some(right)) = (n.field("left"), n.field("right")) else {
            return;
        };
        if text(left, cx.src) != flag || text(right, cx.src) == "true" {
            return;
        }
        let in_last_case = ancestors
            .iter()
            .any(|a| a.kind_str() == "communication_case" && case_receives(cx, *a, owner, last));
        if !in_last_case {
            only_on_last = false;
        }
    });
    only_on_last
}

/// Every way out of `for_stmt` (a `return`, or a `break`/`goto` that leaves it) sits in a
/// `select` case that received `owner.last`, and there is at least one.
pub(super) fn drains_until(cx: &Context, for_stmt: Node, owner: &str, last: &str) -> bool {
    if !is_endless_for(for_stmt) {
        return false;
    }
    let Some(body) = for_stmt.field("body") else {
        return false;
    };
    let mut exits = 0;
    let mut all_on_last = true;
    walk_body_with_ancestors(body, |n, ancestors| {
        if !leaves_loop(n, body, ancestors) {
            return;
        }
        exits += 1;
        let on_last = ancestors
            .iter()
            .any(|a| a.kind_str() == "communication_case" && case_receives(cx, *a, owner, last));
        if !on_last {
            all_on_last = false;
        }
    });
    exits > 0 && all_on_last
}

/// Does this `select` case receive from `owner.channel` (`case <-c.f:`, `case v := <-c.f:`)?
pub(super) fn case_receives(cx: &Context, case: Node, owner: &str, channel: &str) -> bool {
    let Some(communication) = case.field("communication") else {
        return false;
    };
    let mut found = false;
    goconc_syntax::walk(communication, |n| {
        if n.kind_str() == "unary_expression"
            && n.field("operator").is_some_and(|o| text(o, cx.src) == "<-")
        {
            if let Some(operand) = n.field("operand").map(unparen) {
                if field_channel(cx, operand).is_some_and(|(o, f)| o == owner && f == channel) {
                    found = true;
                }
            }
        }
        !found
    });
    found
}

/// Does a `select` case in `for_stmt` receive from `owner.channel`?
pub(super) fn receives(cx: &Context, for_stmt: Node, owner: &str, channel: &str) -> bool {
    let mut found = false;
    walk_body(for_stmt, |n| {
        if n.kind_str() == "communication_case" && case_receives(cx, n, owner, channel) {
            found = true;
        }
    });
    found
}

/// Another send into one of the receiving loops — on this field or on another field of the
/// same type that the loop also receives — that is a `select` case beside a stop signal: how
/// the package's code shows it knows the loop can stop. Described for the message.
pub(super) fn abandoning_sibling(
    cx: &Context,
    owner: &str,
    field: &str,
    receivers: &[&goconc_model::channels::fields::FieldChanOp],
) -> Option<String> {
    let package = cx.model.package;
    let loops: Vec<(&str, Option<usize>)> = receivers
        .iter()
        .map(|r| (r.function.as_str(), r.loop_offset))
        .collect();
    let fields = package.struct_fields(owner)?;
    for f in fields.iter().filter(|f| matches!(f.ty, Ty::Chan(_))) {
        let ops = package.field_channel_ops(owner, &f.name);
        let same_loop = f.name == field
            || ops.iter().any(|o| {
                matches!(o.kind, FieldOpKind::Receive | FieldOpKind::Range)
                    && loops.contains(&(o.function.as_str(), o.loop_offset))
            });
        if !same_loop {
            continue;
        }
        if let Some(send) = ops
            .iter()
            .find(|o| o.kind == FieldOpKind::Send && o.select_has_cancel)
        {
            return Some(format!(
                "`{}` gives up its send on `{}.{}` into the same loop when it stops",
                send.function, owner, f.name
            ));
        }
    }
    None
}

/// `x.f` where `x` is a value of a package struct type `T`: ("T", "f").
pub(super) fn field_channel(cx: &Context, channel: Node) -> Option<(String, String)> {
    if channel.kind_str() != "selector_expression" {
        return None;
    }
    let operand = unparen(channel.field("operand")?);
    let field = text(channel.field("field")?, cx.src).to_string();
    match cx.model.type_of(operand).deref() {
        Ty::Named { pkg, name } if pkg.is_empty() => Some((name.clone(), field)),
        _ => None,
    }
}
