//! `channel-send-after-close`: a send on a channel after it was closed on the same path.

use crate::finding::LineOf;
use crate::finding::{Finding, Severity};
use crate::{Context, Family, RuleMeta};
use goconc_model::channels::CloseEvent;

pub static META: RuleMeta = RuleMeta {
    id: "channel-send-after-close",
    family: Family::Channel,
    severity: Severity::Error,
    summary: "A send on a channel after it was closed on the same path: the send panics.",
    fix: None,
    doc: r#"
## Why it matters
Sending on a closed channel panics (`send on closed channel`), and so does a `select` case that
sends on it when that case is chosen. The shape is usually a producer that closes its output to
signal "done" and then, on some path, still has one more value to deliver: an error sent after
the `close`, a final flush, or a loop whose body closes the channel and then sends again on the
next iteration.

## Example
```go
func scan(lines []string, out chan<- string, errc chan<- error) {
	for _, l := range lines {
		out <- l
	}
	close(out)
	if len(lines) == 0 {
		out <- "(empty)"
	}
}
```
```go
func scan(lines []string, out chan<- string, errc chan<- error) {
	defer close(out)
	for _, l := range lines {
		out <- l
	}
	if len(lines) == 0 {
		out <- "(empty)"
	}
}
```

## Fix
Close the channel after the last send on every path — `defer close(out)` at the top of the
producer does that — and never close a channel that another goroutine may still send on.

## When it stays silent
- The `close` is only on some of the paths to the send (closed in one branch, sent in another).
- The channel variable is assigned a new channel between the close and the send.
- The send runs in a goroutine or a function literal: each literal is checked on its own.
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    if cx.index.calls_named("close").is_empty() || cx.index.send_statements.is_empty() {
        return;
    }
    for event in cx.close_events().iter().cloned() {
        if let CloseEvent::SendAfterClose { close, send, path } = event {
            let message = if close.start >= send.start {
                format!("send on `{path}`, which the previous iteration closed: the send panics")
            } else {
                format!(
                    "send on `{path}` after it was closed on every path to here (line {}): the send panics",
                    LineOf(close.start)
                )
            };
            out.push(
                META.finding(send, message)
                    .with_related(close, format!("`{path}` closed here")),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::lines_of;

    const ID: &str = "channel-send-after-close";

    #[test]
    fn sends_after_close() {
        let src = "package p\n\nfunc a(ch chan int) {\n\tclose(ch)\n\tch <- 1\n}\n\nfunc b(ch chan int, xs []int) {\n\tfor _, x := range xs {\n\t\tch <- x\n\t\tclose(ch)\n\t}\n}\n\nfunc c(ch chan int, done chan struct{}) {\n\tclose(ch)\n\tselect {\n\tcase ch <- 1:\n\tcase <-done:\n\t}\n}\n";
        assert_eq!(lines_of(src, ID), vec![5, 10, 18]);
    }

    #[test]
    fn other_paths_are_silent() {
        let src = "package p\n\nfunc a(ch chan int, x bool) {\n\tif x {\n\t\tclose(ch)\n\t\treturn\n\t}\n\tch <- 1\n}\n\nfunc b(ch chan int) {\n\tclose(ch)\n\tch = make(chan int, 1)\n\tch <- 1\n}\n\nfunc c(ch chan int) {\n\tclose(ch)\n\tgo func() { ch <- 1 }()\n}\n";
        assert!(lines_of(src, ID).is_empty());
    }
}
