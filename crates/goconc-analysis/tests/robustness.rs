//! The engine on text being typed: incremental reparses must equal fresh parses, and no input —
//! truncated, mangled, half-typed — may make a rule fail.
//!
//! Inputs are the fixture files and, when `go` is on PATH, a handful of files of the Go standard
//! library (`$(go env GOROOT)/src`).

mod common;

use common::{fixture_files, stdlib_files, Rng};
use goconc_analysis::{analyze_alone, FileOptions, SourceFile};

const SNIPPETS: &[&str] = &[
    "mu.Lock()\n",
    "defer mu.Unlock()\n",
    "go func() {\n",
    "}\n",
    "}()\n",
    "wg.Add(1)\n",
    "{",
    "}",
    "(",
    ")",
    "\"",
    "`",
    "//",
    "/*",
    "é",
    "😀",
    "\n",
    "\t",
    "ctx, cancel := context.WithCancel(ctx)\n",
    "for _, v := range xs {\n",
    "select {\ncase <-ch:\n",
    "return\n",
    "x := *p\n",
    "func (c Counter) M() {}\n",
    "goto L\n",
    "L:\n",
];

fn char_boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn random_edit(rng: &mut Rng, text: &str) -> (std::ops::Range<usize>, String) {
    let start = char_boundary(text, rng.below(text.len() + 1));
    let end = match rng.below(3) {
        0 => start,
        _ => char_boundary(text, start + rng.below(40)),
    };
    let insert = if rng.below(4) == 0 {
        String::new()
    } else {
        SNIPPETS[rng.below(SNIPPETS.len())].to_string()
    };
    (start..end, insert)
}

#[test]
fn incremental_edits_give_the_tree_and_findings_of_a_fresh_parse() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let options = FileOptions::default();
    let mut files = fixture_files();
    files.truncate(12);
    files.extend(stdlib_files());
    let mut edits = 0;
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let mut file = SourceFile::new(text);
        for step in 0..60 {
            let (range, insert) = random_edit(&mut rng, file.text());
            file.edit(range, &insert).unwrap();
            edits += 1;
            if step % 6 == 5 {
                let fresh = SourceFile::new(file.text().to_string());
                assert_eq!(
                    file.tree().root_node().to_sexp(),
                    fresh.tree().root_node().to_sexp(),
                    "{}: tree differs after {} edits",
                    path.display(),
                    step + 1
                );
                let incremental = analyze_alone(&file, &options);
                let again = analyze_alone(&fresh, &options);
                assert!(
                    incremental.failed_rules.is_empty(),
                    "{}: rules failed: {:?}",
                    path.display(),
                    incremental.failed_rules
                );
                assert_eq!(
                    incremental.findings,
                    again.findings,
                    "{}: findings differ",
                    path.display()
                );
            }
        }
    }
    assert!(edits >= 600, "only {edits} edits were made");
}

#[test]
fn no_rule_fails_on_truncated_or_mangled_code() {
    let mut rng = Rng(42);
    let options = FileOptions::default();
    let mut files = fixture_files();
    files.extend(stdlib_files());
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let mut variants = Vec::new();
        for cut in 1..=20 {
            variants.push(text[..char_boundary(&text, text.len() * cut / 21)].to_string());
        }
        for _ in 0..20 {
            let mut mangled = text.clone();
            for _ in 0..5 {
                let (range, insert) = random_edit(&mut rng, &mangled);
                mangled.replace_range(range, &insert);
            }
            variants.push(mangled);
        }
        for variant in variants {
            let outcome = analyze_alone(&SourceFile::new(variant.clone()), &options);
            assert!(
                outcome.failed_rules.is_empty(),
                "{}: rules {:?} failed on a variant:\n{}",
                path.display(),
                outcome.failed_rules,
                &variant[..variant.len().min(2000)]
            );
        }
    }
}

#[test]
fn empty_and_odd_inputs() {
    for text in [
        "",
        "package",
        "package p\nfunc",
        "\u{feff}package p",
        "package p\n\x00\x01",
        "}}}}{{{{",
        &"{".repeat(5000),
    ] {
        let outcome = analyze_alone(&SourceFile::new(text), &FileOptions::default());
        assert!(
            outcome.failed_rules.is_empty(),
            "{text:?}: {:?}",
            outcome.failed_rules
        );
    }
}
