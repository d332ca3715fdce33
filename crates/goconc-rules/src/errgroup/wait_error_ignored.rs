//! `errgroup-wait-error-ignored`: `g.Wait()` as a statement throws away the first error of the
//! group's goroutines.

use goconc_syntax::NodeExt;
use tree_sitter::Node;

use super::{group_go, is_group};
use crate::finding::{Finding, Severity, TextEdit};
use crate::fixes::return_error;
use crate::{Context, Family, RuleMeta};
use goconc_syntax::{
    access_path, enclosing_function, line_indent, method_call, newline, path_root, text, walk_body,
};

pub static META: RuleMeta = RuleMeta {
    id: "errgroup-wait-error-ignored",
    family: Family::Errgroup,
    severity: Severity::Warning,
    summary: "`g.Wait()` called as a statement: the first error of the group's goroutines is lost.",
    fix: Some(
        "`if err := g.Wait(); err != nil { return err }` where the function returns an error",
    ),
    doc: r#"
## Why it matters
An `errgroup.Group` exists to collect the first error of its goroutines, and `Wait` is the only
place that error comes out. Calling `g.Wait()` as a bare statement waits for the goroutines and
then drops what went wrong: the function goes on (and usually reports success) with half of the
work failed. It reads like a `sync.WaitGroup` wait, which is why it slips through review.

## Example
```go
func Fetch(ctx context.Context, urls []string) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, u := range urls {
		g.Go(func() error { return get(ctx, u) })
	}
	g.Wait()
	return nil
}
```
```go
func Fetch(ctx context.Context, urls []string) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, u := range urls {
		g.Go(func() error { return get(ctx, u) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return nil
}
```

## Fix
When the enclosing function's last result is an `error` and its other results have simple zero
values (numbers, strings, booleans, pointers, slices, maps, channels, functions, interfaces), the
quick fix replaces the statement by `if err := g.Wait(); err != nil { return …, err }`. Otherwise
handle the error by hand (log it, or return it after changing the signature).

## When it stays silent
- The result is used: `err := g.Wait()`, `return g.Wait()`, or dropped on purpose with
  `_ = g.Wait()`.
- Every goroutine the function starts on the group is a function literal that only ever returns
  `nil`: there is no error to lose.
- The receiver is not known to be an `errgroup.Group` (a `sync.WaitGroup`'s `Wait` returns nothing).
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    for &call in cx.index.calls_named("Wait") {
        let Some(mc) = method_call(call) else {
            continue;
        };
        if !goconc_syntax::call_args(call).is_empty() || !is_group(cx.model, mc.receiver) {
            continue;
        }
        let Some(stmt) = call
            .parent_node()
            .filter(|p| p.kind_str() == "expression_statement")
        else {
            continue;
        };
        if only_nil_errors(cx, mc.receiver) {
            continue;
        }
        let recv = text(mc.receiver, cx.src);
        let mut finding = META.finding(
            call.byte_span(),
            format!("the error of `{recv}.Wait()` is dropped: the first failure of the group's goroutines is lost"),
        );
        if let Some(function) = enclosing_function(call) {
            if let Some(ret) = return_error(cx.model, function, "err") {
                let indent = line_indent(cx.src, stmt.start_byte());
                let nl = newline(cx.src);
                let replacement = format!(
                    "if err := {}; err != nil {{{nl}{indent}\t{ret}{nl}{indent}}}",
                    text(call, cx.src)
                );
                // The statement's trailing comment (a `// want`) goes with it.
                let end =
                    goconc_syntax::insertion_after_line(stmt, cx.src).unwrap_or(stmt.end_offset());
                finding = finding.with_unsafe_fix(
                    format!("Return the error of `{recv}.Wait()`"),
                    vec![TextEdit {
                        range: stmt.start_byte()..end,
                        new_text: replacement,
                    }],
                );
            }
        }
        out.push(finding);
    }
}

/// Do all the functions handed to this group in the file only return `nil`? (At least one.)
fn only_nil_errors(cx: &Context, receiver: Node) -> bool {
    let Some(path) = access_path(receiver, cx.src) else {
        return false;
    };
    let root_decl = path_root(receiver)
        .and_then(|r| cx.model.resolve(r))
        .map(|d| d.ident.start_byte());
    let mut count = 0;
    for name in ["Go", "TryGo"] {
        for &call in cx.index.calls_named(name) {
            let Some((recv, f)) = group_go(cx.model, call) else {
                continue;
            };
            if access_path(recv, cx.src).as_deref() != Some(path.as_str())
                || path_root(recv)
                    .and_then(|r| cx.model.resolve(r))
                    .map(|d| d.ident.start_byte())
                    != root_decl
            {
                continue;
            }
            count += 1;
            if f.kind_str() != "func_literal" {
                return false;
            }
            let Some(body) = f.field("body") else {
                return false;
            };
            let mut all_nil = true;
            walk_body(body, |n| {
                if n.kind_str() == "return_statement" {
                    let value = text(n, cx.src).trim_start_matches("return").trim();
                    if value != "nil" {
                        all_nil = false;
                    }
                }
            });
            if !all_nil {
                return false;
            }
        }
    }
    count > 0
}

#[cfg(test)]
mod tests {
    use crate::test_support::{analyze_alone, FileOptions};
    use goconc_syntax::SourceFile;

    fn findings(src: &str) -> Vec<(String, usize)> {
        let file = SourceFile::new(src.to_string());
        analyze_alone(&file, &FileOptions::default())
            .findings
            .into_iter()
            .filter(|f| f.rule == super::META.id)
            .map(|f| (f.message, f.fixes.len()))
            .collect()
    }

    #[test]
    fn a_wait_group_wait_is_not_an_errgroup_wait() {
        let src = "package p\nimport \"sync\"\nfunc f() error {\n\tvar wg sync.WaitGroup\n\twg.Wait()\n\treturn nil\n}\n";
        assert!(findings(src).is_empty());
    }

    #[test]
    fn no_fix_when_the_function_returns_no_error() {
        let src = "package p\nimport \"golang.org/x/sync/errgroup\"\nfunc f() int {\n\tvar g errgroup.Group\n\tg.Go(work)\n\tg.Wait()\n\treturn 1\n}\n";
        assert_eq!(findings(src).len(), 1);
        assert_eq!(findings(src)[0].1, 0);
    }
}
