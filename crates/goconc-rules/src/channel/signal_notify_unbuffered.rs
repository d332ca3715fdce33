//! `signal-notify-unbuffered`: an unbuffered channel passed to `signal.Notify`.

use goconc_syntax::NodeExt;
use tree_sitter::Node;

use crate::finding::{Finding, Severity, TextEdit};
use crate::{Context, Family, RuleMeta};
use goconc_model::FileModel;
use goconc_syntax::{call_args, named_children, text, unparen};

pub static META: RuleMeta = RuleMeta {
    id: "signal-notify-unbuffered",
    family: Family::Channel,
    severity: Severity::Error,
    summary: "An unbuffered channel passed to `signal.Notify`: a signal that arrives while nobody is receiving is dropped.",
    fix: Some("`make(chan os.Signal, 1)`"),
    doc: r#"
## Why it matters
`signal.Notify` never blocks when it delivers a signal: if the channel has no room, the signal is
dropped. With an unbuffered channel there is room only while a goroutine is blocked in the
receive at that very moment, so a Ctrl-C or a SIGTERM that arrives during start-up, or while the
handler is busy, is silently lost and the program does not shut down. `go vet` reports the same
mistake (sigchanyzer).

## Example
```go
sigs := make(chan os.Signal)
signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
<-sigs
```
```go
sigs := make(chan os.Signal, 1)
signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
<-sigs
```

## Fix
Give the channel a buffer: one is enough to remember one signal until it is received. The quick
fix rewrites the `make` call.

## When it stays silent
- The channel is buffered, or its capacity is not a constant.
- The channel is not made in sight: a parameter, a field, or a variable assigned elsewhere.
- `signal.Notify(make(chan os.Signal), …)`, which nobody can receive from anyway (as `go vet`).
"#,
};

pub fn check(cx: &Context, out: &mut Vec<Finding>) {
    for &call in cx.index.calls_named("Notify") {
        let Some(function) = call.field("function") else {
            continue;
        };
        if cx.model.qualified_name(function, "os/signal") != Some("Notify") {
            continue;
        }
        let Some(arg) = call_args(call).first().map(|a| unparen(*a)) else {
            continue;
        };
        if arg.kind_str() != "identifier" {
            continue;
        }
        let Some(make) = declared_make(cx.model, arg) else {
            continue;
        };
        let args = call_args(make);
        let Some(&chan_type) = args.first().filter(|t| t.kind_str() == "channel_type") else {
            continue;
        };
        let edit = match args.get(1).map(|c| unparen(*c)) {
            None => TextEdit {
                range: chan_type.end_offset()..chan_type.end_offset(),
                new_text: ", 1".into(),
            },
            Some(cap)
                if cap.kind_str() == "int_literal"
                    && text(cap, cx.src).trim_start_matches('0').is_empty() =>
            {
                TextEdit {
                    range: cap.byte_span(),
                    new_text: "1".into(),
                }
            }
            Some(_) => continue,
        };
        let name = text(arg, cx.src);
        let message = format!(
            "`{name}` is unbuffered: `signal.Notify` does not wait, so a signal that arrives while nobody is receiving from `{name}` is dropped"
        );
        out.push(
            META.finding(call.byte_span(), message)
                .with_related(
                    make.byte_span(),
                    format!("`{name}` is made here without a buffer"),
                )
                .with_fix(
                    format!("Buffer `{name}`: `make({}, 1)`", text(chan_type, cx.src)),
                    vec![edit],
                ),
        );
    }
}

/// The `make(…)` call that declares `ident` (`c := make(…)`, `var c = make(…)`, also at package
/// level in this file), when it is the declaration's only value for that name.
fn declared_make<'t>(model: &FileModel<'t>, ident: Node<'t>) -> Option<Node<'t>> {
    let init = match model.resolve(ident) {
        Some(decl) => decl.init?,
        None => package_var_init(model, text(ident, model.src))?,
    };
    let init = unparen(init);
    let function = init.field("function")?;
    (init.kind_str() == "call_expression"
        && function.kind_str() == "identifier"
        && text(function, model.src) == "make"
        && model.resolve(function).is_none())
    .then_some(init)
}

/// `var name = expr` at the top level of this file.
fn package_var_init<'t>(model: &FileModel<'t>, name: &str) -> Option<Node<'t>> {
    for &decl in model
        .items
        .iter()
        .filter(|n| n.kind_str() == "var_declaration")
    {
        let mut specs = Vec::new();
        for child in named_children(decl) {
            match child.kind_str() {
                "var_spec" => specs.push(child),
                "var_spec_list" => {
                    specs.extend(named_children(child).filter(|n| n.kind_str() == "var_spec"))
                }
                _ => {}
            }
        }
        for spec in specs {
            let mut cursor = spec.walk();
            let names: Vec<Node> = spec.children_by_field_name("name", &mut cursor).collect();
            let Some(i) = names.iter().position(|n| text(*n, model.src) == name) else {
                continue;
            };
            let values: Vec<Node> = spec
                .field("value")
                .map(|v| named_children(v).collect())
                .unwrap_or_default();
            return (values.len() == names.len()).then(|| values[i]);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::test_util::lines_of;
    use crate::apply_edits;
    use crate::test_support::{analyze_alone, FileOptions};
    use goconc_syntax::SourceFile;

    const ID: &str = "signal-notify-unbuffered";

    #[test]
    fn unbuffered_local_and_package_var_are_fixed() {
        let src = "package p\n\nimport (\n\t\"os\"\n\t\"os/signal\"\n)\n\nvar quit = make(chan os.Signal)\n\nfunc a() {\n\tc := make(chan os.Signal)\n\tsignal.Notify(c, os.Interrupt)\n\tsignal.Notify(quit)\n\t<-c\n}\n";
        assert_eq!(lines_of(src, ID), vec![12, 13]);
        let file = SourceFile::new(src);
        let edits: Vec<_> = analyze_alone(&file, &FileOptions::default())
            .findings
            .into_iter()
            .flat_map(|f| f.fixes.into_iter().flat_map(|x| x.edits))
            .collect();
        let (fixed, _) = apply_edits(src, &edits);
        assert!(fixed.contains("var quit = make(chan os.Signal, 1)"));
        assert!(fixed.contains("c := make(chan os.Signal, 1)"));
    }

    #[test]
    fn buffered_and_unknown_are_silent() {
        let src = "package p\n\nimport (\n\t\"os\"\n\t\"os/signal\"\n)\n\nfunc a(p chan os.Signal, n int) {\n\tc := make(chan os.Signal, 1)\n\td := make(chan os.Signal, n)\n\tsignal.Notify(c)\n\tsignal.Notify(d)\n\tsignal.Notify(p)\n}\n";
        assert!(lines_of(src, ID).is_empty());
    }
}
