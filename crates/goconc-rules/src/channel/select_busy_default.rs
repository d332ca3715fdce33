//! `select-busy-default`: `for { select { … default: } }` with an empty `default`.

use goconc_syntax::NodeExt;
use tree_sitter::Node;

use crate::finding::{Finding, Severity, TextEdit};
use crate::{Context, Family, RuleMeta};
use goconc_syntax::{line_end_after_newline, line_start, named_children, statements, text};

pub static META: RuleMeta = RuleMeta {
    id: "select-busy-default",
    family: Family::Channel,
    severity: Severity::Warning,
    summary: "`for { select { … default: } }` with an empty `default`: when no case is ready the loop spins a core.",
    fix: Some("remove the empty `default`"),
    doc: r#"
## Why it matters
A `default` case makes a `select` return at once when no other case is ready. Inside a loop
whose only statement is that `select`, an empty `default` turns waiting into polling: the
goroutine runs flat out, burning a whole CPU core and starving other goroutines, until something
arrives. Without the `default`, the `select` blocks and the goroutine costs nothing while it
waits.

## Example
```go
for {
	select {
	case job := <-jobs:
		job.Run()
	case <-ctx.Done():
		return
	default:
	}
}
```
```go
for {
	select {
	case job := <-jobs:
		job.Run()
	case <-ctx.Done():
		return
	}
}
```

## Fix
Remove the empty `default` so that the `select` blocks. The quick fix deletes the `default:`
line.

## When it stays silent
- The `default` does something (`time.Sleep`, a log line, other work), or the loop body has
  statements besides the `select`.
- The `select` is not in a loop — the "try to send, else drop" idiom — or the loop ranges over
  something or counts (`for _, l := range listeners { select { case l <- ev: default: } }`).
- The loop has a condition (`for pb.Next() { … }`, `for !stopped.Load() { … }`): the `default`
  may be how the condition gets re-checked.
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    for &lp in &cx.index.for_statements {
        // Cheap first: most loops hold no `select` at all.
        if !text(lp, cx.src).contains("select") {
            continue;
        }
        // Only `for { … }`: a condition may be how the loop stops (`for pb.Next()`), a range or
        // a counter bounds it.
        if named_children(lp).any(|n| n.kind_str() != "block") {
            continue;
        }
        let Some(body) = lp.field("body") else {
            continue;
        };
        let stmts = statements(body);
        let [select] = stmts.as_slice() else { continue };
        if select.kind_str() != "select_statement" {
            continue;
        }
        let cases: Vec<Node> = named_children(*select).collect();
        let Some(default) = cases
            .iter()
            .copied()
            .find(|c| c.kind_str() == "default_case")
        else {
            continue;
        };
        if !statements(default).is_empty() {
            continue;
        }
        let comm_cases = cases
            .iter()
            .filter(|c| c.kind_str() == "communication_case")
            .count();
        let start = default.start_byte();
        let keyword = start..(start + "default".len()).min(default.end_offset());
        let message = "empty `default` in a `select` that is the whole body of a `for` loop: while no case is ready the loop spins a CPU core";
        let mut finding = META.finding(keyword, message);
        if comm_cases > 0 {
            if let Some(range) = default_line(cx.src, default) {
                finding = finding.with_unsafe_fix(
                    "Remove the empty `default`",
                    vec![TextEdit {
                        range,
                        new_text: String::new(),
                    }],
                );
            }
        }
        out.push(finding);
    }
}

/// The whole line of an empty `default:` that stands alone on it (a trailing `//` comment goes
/// with it), when nothing else of the clause is on other lines.
fn default_line(src: &str, default: Node) -> Option<std::ops::Range<usize>> {
    let start = line_start(src, default.start_byte());
    if !src.get(start..default.start_byte())?.trim().is_empty() {
        return None;
    }
    let end = line_end_after_newline(src, default.start_byte());
    let line = src.get(default.start_byte()..end)?.trim_end();
    let rest = line
        .strip_prefix("default")?
        .trim_start()
        .strip_prefix(':')?
        .trim();
    if !(rest.is_empty() || rest.starts_with("//") && !rest.contains("*/")) {
        return None;
    }
    // Comments on the lines below belong to the clause: keep the fix out of them.
    if default.end_offset() > end {
        return None;
    }
    Some(start..end)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::lines_of;

    const ID: &str = "select-busy-default";

    #[test]
    fn spinning_loops() {
        let src = "package p\n\nfunc a(ch, done chan int) {\n\tfor {\n\t\tselect {\n\t\tcase <-ch:\n\t\tcase <-done:\n\t\t\treturn\n\t\tdefault:\n\t\t}\n\t}\n}\n";
        assert_eq!(lines_of(src, ID), vec![9]);
    }

    #[test]
    fn working_default_and_ranging_loops_are_silent() {
        let src = "package p\n\nimport \"time\"\n\nfunc a(ch chan int) {\n\tfor {\n\t\tselect {\n\t\tcase <-ch:\n\t\tdefault:\n\t\t\ttime.Sleep(time.Millisecond)\n\t\t}\n\t}\n}\n\nfunc b(ls []chan int) {\n\tfor _, l := range ls {\n\t\tselect {\n\t\tcase l <- 1:\n\t\tdefault:\n\t\t}\n\t}\n}\n\nfunc c(ch chan int) {\n\tselect {\n\tcase ch <- 1:\n\tdefault:\n\t}\n}\n";
        assert!(lines_of(src, ID).is_empty());
    }
}
