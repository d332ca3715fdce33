//! A bare send in the `default` of a `select` whose stop case was checked only once.

use super::*;

/// `select { case <-ctx.Done(): return; default: ch <- v }`: the stop case was looked at once,
/// when nothing was ready, and then the bare send in `default` blocks with nothing watching it.
/// The `select` itself is the code's word that the work can be stopped while it runs.
pub(super) fn check_default_send<'t>(
    cx: &Context<'_, 't>,
    send: Node<'t>,
    defaults_reported: &mut Vec<usize>,
    out: &mut Vec<Finding>,
) {
    let Some((select, default)) = default_around(send) else {
        return;
    };
    // One finding per `default`: its first bare send shows the defect, a second one (an
    // error path that sends and returns) is the same defect again.
    if defaults_reported.contains(&default.start_byte()) {
        return;
    }
    let Some((stop_case, stop)) = stop_case_of(cx, select) else {
        return;
    };
    let (Some(channel), Some(value)) = (send.field("channel").map(unparen), send.field("value"))
    else {
        return;
    };
    // `default: done <- true`: the send is the signal itself.
    let stop_text = text(stop, cx.src);
    let channel_text = text(channel, cx.src);
    if stop_text == channel_text || stop_text.strip_suffix(".Done()") == Some(channel_text) {
        return;
    }
    // The stop case itself sends on the same channel (`case <-ctx.Done(): out <- 0; return`):
    // the code counts on the receiver to read to the end, and watching the stop would not
    // spare this send.
    let mut stop_sends = false;
    for (case, _) in stop_cases_of(cx, select) {
        walk_body(case, |n| {
            if n.kind_str() == "send_statement"
                && n.field("channel")
                    .is_some_and(|c| text(unparen(c), cx.src) == channel_text)
            {
                stop_sends = true;
            }
        });
    }
    if stop_sends {
        return;
    }
    // A local channel made with a buffer takes the value without a receiver. (The context
    // builds the channels only where the analysed code starts goroutines.)
    let channels = cx.local_channels();
    if channels
        .of_expr(cx.model, channel)
        .is_some_and(|ch| ch.capacity != Capacity::Unbuffered)
    {
        return;
    }
    let message = format!(
        "bare send on `{channel_text}` in the `default` of a `select` that watches `<-{stop_text}` (line {}): the stop was checked once, before the send, and if the receiver stops reading this send blocks forever with nothing watching `{stop_text}`",
        LineOf(stop_case.start_byte()),
    );
    let mut finding = META
        .finding(send.byte_span(), message)
        .with_related(stop_case.byte_span(), "the stop case, checked only once");
    if let Some(fix) = merge_default_fix(cx, default, send, channel, value) {
        finding = finding.with_fix(
            "Make the send a case of the `select`, beside the stop case",
            vec![fix],
        );
    } else if let Some(edits) = wrap_sends_fix(cx, default, select) {
        // Unsafe: the goroutine now gives up its value when stopped, after work the
        // `default` did before the send.
        finding = finding.with_unsafe_fix(
            format!("Abandon the send when `{stop_text}` is ready"),
            edits,
        );
    }
    defaults_reported.push(default.start_byte());
    out.push(finding);
}

/// The `select` and its `default_case` that `send` runs in (not in a nested function or in a
/// case of a nested `select`).
pub(super) fn default_around(send: Node) -> Option<(Node, Node)> {
    let mut node = send.parent_node()?;
    loop {
        match node.kind_str() {
            "default_case" => {
                let select = node
                    .parent_node()
                    .filter(|p| p.kind_str() == "select_statement")?;
                return Some((select, node));
            }
            "communication_case"
            | "select_statement"
            | "func_literal"
            | "function_declaration"
            | "method_declaration"
            | "source_file" => return None,
            _ => node = node.parent_node()?,
        }
    }
}

/// The case of `select` that receives from a stop signal — `ctx.Done()` or a done/stop/quit
/// channel, not a timer (`time.After`, `t.C`), which says "waited long enough", not "stop" —
/// with the receive's operand.
pub(super) fn stop_case_of<'t>(
    cx: &Context<'_, 't>,
    select: Node<'t>,
) -> Option<(Node<'t>, Node<'t>)> {
    stop_cases_of(cx, select).next()
}

/// Every stop case of `select` (see [`stop_case_of`]), in order.
pub(super) fn stop_cases_of<'a, 't: 'a>(
    cx: &'a Context<'_, 't>,
    select: Node<'t>,
) -> impl Iterator<Item = (Node<'t>, Node<'t>)> + 'a {
    named_children(select).filter_map(move |case| {
        if case.kind_str() != "communication_case" {
            return None;
        }
        let comm = case.field("communication")?;
        if !is_cancel_receive(cx.model, comm) {
            return None;
        }
        let operand = comm
            .field("right")
            .map(unparen)
            .and_then(|r| r.field("operand"))
            .map(unparen)?;
        let is_stop = match operand.kind_str() {
            "call_expression" => operand.field("function").map(unparen).is_some_and(|f| {
                f.kind_str() == "selector_expression"
                    && f.field("field").is_some_and(|m| text(m, cx.src) == "Done")
            }),
            "identifier" | "selector_expression" => {
                let name = match operand.kind_str() {
                    "identifier" => text(operand, cx.src),
                    _ => operand.field("field").map_or("", |f| text(f, cx.src)),
                };
                goconc_model::words::STOP_CHANNEL.in_identifier(name)
            }
            _ => false,
        };
        is_stop.then_some((case, operand))
    })
}

/// `default: ch <- v` holding nothing else (no comment either) becomes `case ch <- v:`. Safe
/// when the value is a name, a field or a literal: a `select` evaluates its send values on
/// entry, so a call there would now run even when the stop case wins.
pub(super) fn merge_default_fix(
    cx: &Context,
    default: Node,
    send: Node,
    channel: Node,
    value: Node,
) -> Option<TextEdit> {
    if goconc_syntax::statements(default) != [send] {
        return None;
    }
    let plain = |n: Node| {
        matches!(
            unparen(n).kind_str(),
            "identifier"
                | "selector_expression"
                | "int_literal"
                | "float_literal"
                | "interpreted_string_literal"
                | "raw_string_literal"
                | "rune_literal"
                | "true"
                | "false"
                | "nil"
        )
    };
    if !plain(value) || !plain(channel) {
        return None;
    }
    let head = cx.src.get(default.start_byte()..send.start_byte())?;
    let gap = head
        .strip_prefix("default")?
        .trim_start()
        .strip_prefix(':')?;
    // After the send, at most a comment on its own line, which stays where it is.
    let tail = cx.src.get(send.end_offset()..default.end_offset())?.trim();
    if !gap.trim().is_empty()
        || !(tail.is_empty() || tail.starts_with("//") && !tail.contains('\n'))
    {
        return None;
    }
    Some(TextEdit {
        range: default.start_byte()..send.end_offset(),
        new_text: format!("case {} <- {}:", text(channel, cx.src), text(value, cx.src)),
    })
}

/// Every bare send of the `default` wrapped in a `select` with a copy of every stop case of the
/// `select` (the finding stands for all the sends), when each of those cases does nothing but
/// `return` (a `break` there would leave only the new `select`).
pub(super) fn wrap_sends_fix(cx: &Context, default: Node, select: Node) -> Option<Vec<TextEdit>> {
    // (stop, its `return`) of each stop case.
    let mut stops: Vec<(&str, &str)> = Vec::new();
    for (case, stop) in stop_cases_of(cx, select) {
        let comm = case.field("communication");
        let body: Vec<Node> = goconc_syntax::statements(case)
            .into_iter()
            .filter(|s| Some(*s) != comm)
            .collect();
        let [ret] = body[..] else {
            return None;
        };
        if ret.kind_str() != "return_statement" {
            return None;
        }
        stops.push((text(stop, cx.src), text(ret, cx.src)));
    }
    let mut sends = Vec::new();
    walk_body(default, |n| {
        if n.kind_str() == "send_statement" && default_around(n).is_some_and(|(_, d)| d == default)
        {
            sends.push(n);
        }
    });
    sends
        .into_iter()
        .map(|send| {
            let channel = send.field("channel").map(unparen)?;
            let value = send.field("value")?;
            if !starts_own_line(cx.src, send) {
                return None;
            }
            let indent = line_indent(cx.src, send.start_byte());
            let nl = newline(cx.src);
            let cases: String = stops
                .iter()
                .map(|(stop, ret)| format!("{indent}case <-{stop}:{nl}{indent}\t{ret}{nl}"))
                .collect();
            Some(TextEdit {
                range: send.byte_span(),
                new_text: format!(
                    "select {{{nl}{indent}case {} <- {}:{nl}{cases}{indent}}}",
                    text(channel, cx.src),
                    text(value, cx.src),
                ),
            })
        })
        .collect()
}
