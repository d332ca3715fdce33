//! The incremental analysis a server keeps per open file must give exactly what a fresh analysis
//! of the same text gives — declarations and findings — after every edit of a typing session,
//! while analysing again only the functions that changed.
//!
//! Inputs: the fixture files and, when `go` is on PATH, files of the Go standard library.

mod common;

use std::sync::Arc;

use common::{fixture_files, stdlib_files, Rng};
use goconc_analysis::{analyze, FileDecls, FileOptions, IncrementalFile, PackageModel, SourceFile};

/// What a developer types: mostly single characters and short pieces inside function bodies,
/// sometimes a line that takes or releases a lock, sometimes a deletion.
const TYPED: &[&str] = &[
    "x",
    "e",
    " ",
    "\n\t",
    "(",
    ")",
    "{",
    "}",
    "\"",
    "// note é 😀\n",
    "mu.Lock()\n",
    "defer mu.Unlock()\n",
    "s.mu.Lock()\n",
    "go func() {}()\n",
    "wg.Add(1)\n",
    "atomic.AddInt64(&s.n, 1)\n",
    "time.Sleep(time.Second)\n",
    "return\n",
];

fn char_boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn typing_edit(rng: &mut Rng, text: &str) -> (std::ops::Range<usize>, String) {
    let start = char_boundary(text, rng.below(text.len() + 1));
    match rng.below(10) {
        // Backspace or a selection deleted.
        0 | 1 => (
            start..char_boundary(text, start + 1 + rng.below(12)),
            String::new(),
        ),
        _ => (start..start, TYPED[rng.below(TYPED.len())].to_string()),
    }
}

fn fresh_outcome(
    file: &SourceFile,
    options: &FileOptions,
) -> (FileDecls, Vec<goconc_analysis::Finding>) {
    let fresh = SourceFile::new(file.text().to_string());
    let decls = FileDecls::collect(fresh.tree().root_node(), fresh.text());
    let package = PackageModel::from_files([&decls]);
    let outcome = analyze(&fresh, &package, options);
    assert!(
        outcome.failed_rules.is_empty(),
        "rules failed: {:?}",
        outcome.failed_rules
    );
    (decls, outcome.findings)
}

/// FNV-1a of the path's last two components (the fixture's folder and name), the same on
/// every machine and checkout.
fn stable_hash(path: &std::path::Path) -> u64 {
    let mut parts: Vec<_> = path.components().rev().take(2).collect();
    parts.reverse();
    let name: std::path::PathBuf = parts.iter().collect();
    name.to_string_lossy()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        })
}

fn own_package(decls: &Arc<FileDecls>, _facts: u64) -> (Arc<PackageModel>, u64) {
    (Arc::new(PackageModel::from_files([decls.as_ref()])), 0)
}

#[test]
fn every_edit_gives_what_a_fresh_analysis_gives() {
    let options = FileOptions::default();
    let mut files: Vec<(std::path::PathBuf, usize)> =
        fixture_files().into_iter().map(|p| (p, 12)).collect();
    files.extend(stdlib_files().into_iter().map(|p| (p, 16)));
    let (mut functions, mut analysed, mut edits) = (0, 0, 0);
    for (path, steps) in files {
        // Each file's edits from its own name: a fixture added elsewhere changes no other
        // file's sequence.
        let mut rng = Rng(0x2545_F491_4F6C_DD1D ^ stable_hash(&path));
        let text = std::fs::read_to_string(&path).unwrap();
        let mut file = SourceFile::new(text);
        let mut incremental = IncrementalFile::new();
        incremental.analyze(&file, &options, own_package);
        for step in 0..steps {
            let (range, insert) = typing_edit(&mut rng, file.text());
            file.edit(range, &insert).unwrap();
            edits += 1;
            let (decls, outcome, reuse) = incremental.analyze(&file, &options, own_package);
            let (want_decls, want_findings) = fresh_outcome(&file, &options);
            let place = format!("{} after {} edits", path.display(), step + 1);
            assert!(outcome.failed_rules.is_empty(), "{place}: rules failed");
            if *decls != want_decls {
                let mut got: Vec<_> = decls.summaries.iter().collect();
                got.sort_by_key(|x| x.0);
                let mut want: Vec<_> = want_decls.summaries.iter().collect();
                want.sort_by_key(|x| x.0);
                // Which parts differ (maps print in no fixed order: compared, not printed).
                let mut differing: Vec<&str> = Vec::new();
                macro_rules! compare {
                    ($($part:ident),*) => {
                        $(if decls.$part != want_decls.$part {
                            differing.push(stringify!($part));
                        })*
                    };
                }
                compare!(
                    package_name,
                    structs,
                    named,
                    lockers,
                    funcs,
                    methods,
                    vars,
                    summaries,
                    goroutines,
                    atomics,
                    call_sites,
                    field_accesses,
                    method_calls,
                    constructed_calls,
                    method_call_counts,
                    declarations_start,
                    sync_spelled_plainly,
                    usage,
                    build,
                    generated,
                    imports
                );
                let first_difference = differing.iter().map(|d| d.to_string()).collect::<Vec<_>>();
                panic!(
                    "{place}: declarations differ in {}\n got atomics {:?}\n want {:?}\n got summaries {got:?}\n want {want:?}\n got accesses {:?}\n want {:?}\n got usage {:?}\n want {:?}",
                    first_difference.join(", "),
                    decls.atomics, want_decls.atomics, decls.field_accesses, want_decls.field_accesses, decls.usage, want_decls.usage
                );
            }
            assert_eq!(outcome.findings, want_findings, "{place}: findings differ");
            functions += reuse.functions;
            analysed += reuse.analysed;
        }
    }
    assert!(edits >= 1000, "only {edits} edits were made");
    eprintln!("{analysed} of {functions} functions analysed again over {edits} random edits");
}

/// Broken code can put a method inside an ERROR item rather than a function item: its field
/// accesses are still read (the model walks ERROR nodes), by the incremental analysis too. (Found
/// by the random edits above, on the store fixture of test-fatal-in-goroutine.)
#[test]
fn accesses_of_a_method_inside_broken_code_are_kept() {
    let text = "package store

import (
\t\")syenc\"
)

type Store struct {
\tmu   sync.RWMutex
\tdata maxp[int]string
}

func New() *Store { return &S}tore{data: make(map[int]string)} }

func (s *Store) Put(k int, v string// note
) {
\ts.mu.Lock()
\tdefer s.mu.Unlock()
\ts.data[k] = v
}}

func (s *Store) Get(k int) (string, error) {
\ts.mu.RLock()
\tdefer s.mu.RUnlock()
\tv, ok := s.data[k{
\t\treturn \"\", nil
\t}
\treturn v, nil
}
";
    let file = SourceFile::new(text.to_string());
    let (decls, _, _) = IncrementalFile::new().analyze(&file, &FileOptions::default(), own_package);
    let (want, _) = fresh_outcome(&file, &FileOptions::default());
    assert!(
        want.field_accesses
            .iter()
            .any(|a| a.function == "Store.Put"),
        "the fresh analysis reads Put's write: {:?}",
        want.field_accesses
    );
    assert_eq!(decls.field_accesses, want.field_accesses);
}

/// A newline typed into a broken type declaration changes which types it declares although its
/// tokens stay the same: the declarations are read again. (Found by the random edits above,
/// on the types of mutex-defer-in-loop.)
#[test]
fn a_newline_that_changes_how_a_broken_type_reads_is_seen() {
    let text = "package p

import \"sync\"

type( Cache struct {
\tmu    sync.Mutex
\titems map[string][]byte
}

type Directory\" struct {
\tmu    sync.RWgo func() {}()
Mutex
\tusers map[int]string
}

type Pool struct {
\tmu    sync.Mutex
}
";
    let options = FileOptions::default();
    let mut file = SourceFile::new(text.to_string());
    let mut incremental = IncrementalFile::new();
    let (before, _, _) = incremental.analyze(&file, &options, own_package);
    let at = text.find("RWgo").unwrap() + "RWgo".len();
    file.edit(at..at, "\n\t").unwrap();
    let (after, _, _) = incremental.analyze(&file, &options, own_package);
    let (want, _) = fresh_outcome(&file, &options);
    let names = |decls: &FileDecls| {
        let mut names: Vec<String> = decls.structs.keys().cloned().collect();
        names.sort();
        names
    };
    assert_ne!(
        names(&before),
        names(&want),
        "the newline changes the declared types"
    );
    assert_eq!(names(&after), names(&want));
    assert!(*after == want);
}

/// A comment typed key by key into a function of a large real file: each keystroke analyses
/// that function again and reuses the rest.
#[test]
fn typing_a_comment_in_a_real_file_reuses_the_other_functions() {
    let options = FileOptions::default();
    for path in stdlib_files() {
        let text = std::fs::read_to_string(&path).unwrap();
        let mut file = SourceFile::new(text.clone());
        let mut incremental = IncrementalFile::new();
        incremental.analyze(&file, &options, own_package);
        // The start of a line in the middle of a function body.
        let mid = text[..text.len() / 2].rfind("\n\t").unwrap() + 1;
        file.edit(mid..mid, "\t// \n").unwrap();
        incremental.analyze(&file, &options, own_package);
        let mut worst = 0;
        for (i, c) in "waiting for the lock é".chars().enumerate() {
            let at = mid
                + 4
                + "waiting for the lock é"
                    .chars()
                    .take(i)
                    .map(char::len_utf8)
                    .sum::<usize>();
            file.edit(at..at, c.encode_utf8(&mut [0; 4])).unwrap();
            let (_, outcome, reuse) = incremental.analyze(&file, &options, own_package);
            worst = worst.max(reuse.analysed);
            assert_eq!(
                outcome.findings,
                fresh_outcome(&file, &options).1,
                "{}",
                path.display()
            );
        }
        eprintln!(
            "{}: at most {worst} functions analysed per keystroke",
            path.display()
        );
        assert!(
            worst <= 3,
            "{}: {worst} functions analysed per keystroke",
            path.display()
        );
    }
}

/// A generated table: typing in its values changes nothing a function depends on.
#[test]
fn typing_in_a_call_free_table_analyses_no_function() {
    let text = "package p\n\nimport \"sync\"\n\nvar names = [...]string{\"a\", \"b\"}\n\n\
                var mu sync.Mutex\n\nfunc F() {\n\tmu.Lock()\n\tdefer mu.Lock()\n}\n";
    let options = FileOptions::default();
    let mut file = SourceFile::new(text.to_string());
    let mut incremental = IncrementalFile::new();
    incremental.analyze(&file, &options, own_package);
    let at = text.find("\"b\"").unwrap();
    file.edit(at..at, "\"c\", ").unwrap();
    let (_, outcome, reuse) = incremental.analyze(&file, &options, own_package);
    assert_eq!((reuse.functions, reuse.analysed), (1, 0));
    assert_eq!(outcome.findings, fresh_outcome(&file, &options).1);
    assert_eq!(outcome.findings.len(), 1);
    // The table's type is part of what functions see.
    let at = file.text().find("string{").unwrap();
    file.edit(at..at + 6, "any").unwrap();
    let (_, _, reuse) = incremental.analyze(&file, &options, own_package);
    assert_eq!(reuse.analysed, 1);
}

#[test]
fn typing_in_one_function_analyses_only_that_function() {
    let text = "package p\n\nimport \"sync\"\n\ntype S struct {\n\tmu sync.Mutex\n\tn  int\n}\n\n\
                func (s *S) A() {\n\ts.mu.Lock()\n\tif s.n > 0 {\n\t\treturn\n\t}\n\ts.mu.Unlock()\n}\n\n\
                func (s *S) B() int {\n\treturn 1\n}\n\n\
                func (s *S) C() {\n\ts.mu.Lock()\n\tdefer s.mu.Lock()\n}\n";
    let options = FileOptions::default();
    let mut file = SourceFile::new(text.to_string());
    let mut incremental = IncrementalFile::new();
    let (_, first, reuse) = incremental.analyze(&file, &options, own_package);
    assert_eq!((reuse.functions, reuse.analysed), (3, 3));
    let rules: Vec<&str> = first.findings.iter().map(|f| f.rule).collect();
    assert_eq!(rules, ["mutex-unlock-missing", "mutex-defer-lock"]);

    // A comment typed into B: A and C keep their findings, moved down by the new text.
    let at = text.find("return 1").unwrap();
    file.edit(at..at, "// one\n\t").unwrap();
    let (_, second, reuse) = incremental.analyze(&file, &options, own_package);
    assert_eq!((reuse.functions, reuse.analysed), (3, 1));
    assert_eq!(second.findings, fresh_outcome(&file, &options).1);
    assert_eq!(
        second.findings[1].range.start,
        first.findings[1].range.start + 8
    );

    // A statement typed above A's guarded read moves where A reads the field, not what it
    // reads: only A is analysed again, and C keeps its finding.
    let at = file.text().find("\ts.mu.Lock()\n\tif").unwrap() + 1;
    file.edit(at..at, "_ = 1\n\t").unwrap();
    let (_, moved, reuse) = incremental.analyze(&file, &options, own_package);
    assert_eq!((reuse.functions, reuse.analysed), (3, 1));
    assert_eq!(moved.findings, fresh_outcome(&file, &options).1);
    assert_eq!(moved.findings.len(), 2);

    // A comment typed into the struct type declares nothing new: no function is analysed.
    let at = file.text().find("\tn  int").unwrap();
    file.edit(at..at, "\t// count\n").unwrap();
    let (_, typed, reuse) = incremental.analyze(&file, &options, own_package);
    assert_eq!(reuse.analysed, 0);
    assert_eq!(typed.findings, fresh_outcome(&file, &options).1);
    // A guard annotation does: every function is judged again.
    let at = file.text().find("// count").unwrap() + 3;
    file.edit(at..at + 5, "guarded by mu").unwrap();
    let (_, _, reuse) = incremental.analyze(&file, &options, own_package);
    assert_eq!(reuse.analysed, 3);

    // A lock taken in B changes what the package knows of B: everything is analysed again.
    let at = file.text().find("return 1").unwrap();
    file.edit(at..at, "s.mu.Lock()\n\t").unwrap();
    let (_, third, reuse) = incremental.analyze(&file, &options, own_package);
    assert_eq!(reuse.analysed, 3);
    assert_eq!(third.findings, fresh_outcome(&file, &options).1);
}

/// Typing above a method's channel operations and guarded accesses moves where they are, not
/// what they are: the other methods keep what was found in them. Taking the receive out of its
/// loop changes what the package knows of `Run`: every method is judged again.
#[test]
fn typing_above_channel_operations_analyses_only_that_method() {
    let text = r#"package p

import "sync"

type S struct {
	mu   sync.Mutex
	n    int
	jobs chan int
}

func New() *S {
	s := &S{jobs: make(chan int)}
	go s.Run()
	return s
}

func (s *S) Run() {
	for {
		s.mu.Lock()
		j := <-s.jobs
		s.n += j
		s.mu.Unlock()
	}
}

func (s *S) Submit(j int) {
	s.mu.Lock()
	s.jobs <- j
	s.mu.Unlock()
}

func (s *S) Add(j int) {
	s.mu.Lock()
	s.n += j
	s.mu.Unlock()
}

func (s *S) Count() int {
	return s.n
}
"#;
    let options = FileOptions::default();
    let mut file = SourceFile::new(text.to_string());
    let mut incremental = IncrementalFile::new();
    let (_, first, reuse) = incremental.analyze(&file, &options, own_package);
    assert_eq!((reuse.functions, reuse.analysed), (5, 5));
    let rules: Vec<&str> = first.findings.iter().map(|f| f.rule).collect();
    assert_eq!(
        rules,
        [
            "channel-lock-deadlock",
            "channel-lock-deadlock",
            "guarded-field-unlocked"
        ]
    );

    // Run, and Submit, whose finding points into Run (kept for no function), are judged
    // again; New, Add and Count keep theirs.
    for step in 0..3 {
        // Above the loop: the loop moves with the operations in it.
        let at = file.text().find("\tfor {").unwrap();
        file.edit(at..at, "\t_ = 1\n").unwrap();
        let (_, moved, reuse) = incremental.analyze(&file, &options, own_package);
        assert_eq!((reuse.functions, reuse.analysed), (5, 2), "edit {step}");
        assert_eq!(moved.findings, fresh_outcome(&file, &options).1);
    }

    // The receive taken out of its loop.
    let from = file.text().find("\tfor {").unwrap();
    file.edit(from..from + "\tfor {".len(), "\t{").unwrap();
    let (_, changed, reuse) = incremental.analyze(&file, &options, own_package);
    assert_eq!(reuse.analysed, 5);
    assert_eq!(changed.findings, fresh_outcome(&file, &options).1);
}

/// A doc comment is read by the function it documents alone: typing one analyses that function
/// again, not the file. One that says the caller holds the lock changes what the function
/// tells the package, and its finding goes, as in a fresh analysis.
#[test]
fn typing_a_doc_comment_analyses_only_the_function_it_documents() {
    let text = "package p\n\nimport \"sync\"\n\ntype S struct {\n\tmu sync.Mutex\n\tn  int\n}\n\n\
                func (s *S) Add() {\n\ts.mu.Lock()\n\ts.n++\n\ts.mu.Unlock()\n}\n\n\
                func (s *S) Reset() {\n\ts.mu.Lock()\n\tdefer s.mu.Unlock()\n\ts.n = 0\n}\n\n\
                func (s *S) Get() int {\n\treturn s.n\n}\n";
    let options = FileOptions::default();
    let mut file = SourceFile::new(text.to_string());
    let mut incremental = IncrementalFile::new();
    let (_, first, _) = incremental.analyze(&file, &options, own_package);
    let rules: Vec<&str> = first.findings.iter().map(|f| f.rule).collect();
    assert_eq!(rules, ["guarded-field-unlocked"]);

    // A line opened above Get, then the comment typed on it.
    let at = text.find("func (s *S) Get").unwrap();
    file.edit(at..at, "\n").unwrap();
    incremental.analyze(&file, &options, own_package);
    for (i, c) in "// Get returns the count.".char_indices() {
        file.edit(at + i..at + i, &c.to_string()).unwrap();
        let (_, typed, reuse) = incremental.analyze(&file, &options, own_package);
        assert_eq!(typed.findings, fresh_outcome(&file, &options).1);
        // A lone `/` is a syntax error between the functions: the next keystroke follows it.
        if i >= 2 {
            assert_eq!((reuse.functions, reuse.analysed), (3, 1), "{c:?}");
            assert_eq!(typed.findings.len(), 1);
        }
    }
    // Another line of it: still only Get.
    let at = file.text().find("func (s *S) Get").unwrap();
    file.edit(at..at, "// It reads n.\n").unwrap();
    let (_, _, reuse) = incremental.analyze(&file, &options, own_package);
    assert_eq!(reuse.analysed, 1);

    // What the caller must hold: Get expects the lock held, and reads n under it.
    let at = file.text().find("count.").unwrap();
    file.edit(at..at + "count.".len(), "count; the caller must hold s.mu.")
        .unwrap();
    let (_, documented, _) = incremental.analyze(&file, &options, own_package);
    assert_eq!(documented.findings, fresh_outcome(&file, &options).1);
    assert!(documented.findings.is_empty(), "{:?}", documented.findings);

    // A blank line makes it a comment of the file, no longer Get's: the finding is back.
    let at = file.text().find("func (s *S) Get").unwrap();
    file.edit(at..at, "\n").unwrap();
    let (_, detached, _) = incremental.analyze(&file, &options, own_package);
    assert_eq!(detached.findings, fresh_outcome(&file, &options).1);
    assert_eq!(detached.findings.len(), 1);
}

/// Found by the `incremental_edits` fuzz target (stop 43): error recovery read the same broken
/// parameter list (`wg *sync.Wan int`) one way, then another once a line of the body below was
/// cut. The declaration context hashed the signature's text alone, so the signatures kept from
/// the first reading disagreed with a fresh analysis.
#[test]
fn a_broken_signature_read_anew_after_an_edit_below_it_is_seen() {
    let seed = "package p\n\nimport (\n\t\"context\"\n\t\"sync\"\n\t\"time\"\n)\n\n\
                func F(ctx context.Context, wg *sync.WaitGroup, ch chan int) {\n\tfor i := 0; i < 3; i++ {\n\t\twg.Add(1)\n\t\tgo func() {\n\t\t\tdefer wg.Done()\n\t\t\tch <- i\n\t\t}()\n\t}\n\
                \tctx, cancel := context.WithTimeout(ctx, time.Second)\n\t_ = ctx\n\t_ = cancel\n\tclose(ch)\n}\n";
    let options = FileOptions::default();
    let mut file = SourceFile::new(seed.to_string());
    let mut incremental = IncrementalFile::new();
    incremental.analyze(&file, &options, own_package);
    // The end of the function cut, then part of the signature, then a line of the body.
    for (cut, text) in [
        ("l\n\tclose(ch)\n}\n", ""),
        ("itGroup, ch cha", ""),
        ("efer wg.Done()\n", ""),
    ] {
        let at = file
            .text()
            .find(cut)
            .unwrap_or_else(|| panic!("{cut:?} in {:?}", file.text()));
        file.edit(at..at + cut.len(), text).unwrap();
        let (decls, outcome, _) = incremental.analyze(&file, &options, own_package);
        let (want_decls, want_findings) = fresh_outcome(&file, &options);
        assert!(
            decls.funcs == want_decls.funcs,
            "after cutting {cut:?}: {:?}",
            decls.funcs
        );
        assert!(*decls == want_decls, "after cutting {cut:?}");
        assert_eq!(outcome.findings, want_findings);
    }
    assert!(
        file.text().contains("wg *sync.Wan int) {"),
        "{:?}",
        file.text()
    );
}

/// Found by the `incremental_edits` fuzz target (stop 43): `func (s *S\u{FFFD}\u{FFFD}) B()` (bytes
/// that were no text, replaced) reads as a method of `S` to the parser, but the quiet-function
/// filter took `S\u{FFFD}\u{FFFD}` for one word, not the type `S`, and passed over `B`: a fresh
/// analysis missed the unguarded write that the server (which reads every function it
/// analyses) reported. A character that is no letter now ends a word, as it ends an identifier.
#[test]
fn a_method_whose_receiver_type_is_glued_to_junk_is_read_by_both() {
    let package = WithSibling::new(
        "package p\n\nimport \"sync\"\n\ntype S struct {\n\tmu sync.Mutex\n\tn  int // guarded by mu\n}\n",
    );
    let text = "package p\n\nimport \"sync\"\n\nfunc (s *S) A() {\n\ts.mu.Lock()\n\tif s.n > 0 {\n\t\treturn\n\t}\n\ts.mu.Unlock()\n}\n\n\
                func (s *S) B() int {\n\ts.n++\n\treturn s.n\n}\n";
    let options = FileOptions::default();
    let mut file = SourceFile::new(text.to_string());
    let mut incremental = IncrementalFile::new();
    incremental.analyze(&file, &options, |d, k| package.package(d, k));
    let at = file.text().find("\t\treturn").unwrap() + "\t\treturn".len();
    file.edit(at..at, "(").unwrap();
    let at = file.text().find("*S) B").unwrap() + "*S".len();
    file.edit(at..at, "\u{FFFD}\u{FFFD}").unwrap();
    let (_, outcome, _) = incremental.analyze(&file, &options, |d, k| package.package(d, k));
    let (_, fresh) = package.fresh(&file, &options);
    assert_eq!(outcome.findings, fresh);
    assert!(
        fresh.iter().any(|f| f.rule == "guarded-field-unlocked"),
        "{fresh:?}"
    );
}

/// Moves a file's type declarations into a sibling file (with the same package clause and
/// imports): the file without them and the sibling, or None when the file declares no type.
fn split_types(text: &str) -> Option<(String, String)> {
    let file = SourceFile::new(text.to_string());
    let root = file.tree().root_node();
    let mut header = String::new();
    let mut types = Vec::new();
    let mut cursor = root.walk();
    for node in root.named_children(&mut cursor) {
        match node.kind() {
            "package_clause" | "import_declaration" => {
                header.push_str(&text[node.byte_range()]);
                header.push_str("\n\n");
            }
            "type_declaration" => types.push(node.byte_range()),
            _ => {}
        }
    }
    if types.is_empty() {
        return None;
    }
    let mut sibling = header;
    let mut rest = text.to_string();
    for range in types.iter().rev() {
        rest.replace_range(range.clone(), "");
    }
    for range in types {
        sibling.push_str(&text[range]);
        sibling.push_str("\n\n");
    }
    Some((rest, sibling))
}

/// A package of one edited file and a sibling on disk: the server's view (the file laid over a
/// model of the sibling) and a fresh analysis of both files.
struct WithSibling {
    sibling: FileDecls,
    base: Arc<PackageModel>,
}

impl WithSibling {
    fn new(sibling_text: &str) -> WithSibling {
        let file = SourceFile::new(sibling_text.to_string());
        let sibling = FileDecls::collect(file.tree().root_node(), file.text());
        let base = Arc::new(PackageModel::from_files([&sibling]));
        WithSibling { sibling, base }
    }

    fn package(&self, decls: &Arc<FileDecls>, _facts: u64) -> (Arc<PackageModel>, u64) {
        (Arc::new(PackageModel::over(self.base.clone(), decls)), 1)
    }

    fn fresh(
        &self,
        file: &SourceFile,
        options: &FileOptions,
    ) -> (FileDecls, Vec<goconc_analysis::Finding>) {
        let fresh = SourceFile::new(file.text().to_string());
        let decls = FileDecls::collect(fresh.tree().root_node(), fresh.text());
        let package = PackageModel::from_files([&decls, &self.sibling]);
        let outcome = analyze(&fresh, &package, options);
        assert!(
            outcome.failed_rules.is_empty(),
            "{:?}",
            outcome.failed_rules
        );
        (decls, outcome.findings)
    }
}

/// The same property with the file's types declared in a sibling file, as packages split them
/// (`types.go`): what the kept functions tell about those types must still count.
#[test]
fn every_edit_with_types_in_a_sibling_gives_what_a_fresh_analysis_gives() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let options = FileOptions::default();
    let mut files: Vec<(std::path::PathBuf, usize)> =
        fixture_files().into_iter().map(|p| (p, 10)).collect();
    files.extend(stdlib_files().into_iter().map(|p| (p, 12)));
    let (mut split, mut edits) = (0, 0);
    for (path, steps) in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let Some((own, sibling)) = split_types(&text) else {
            continue;
        };
        split += 1;
        let package = WithSibling::new(&sibling);
        let mut file = SourceFile::new(own);
        let mut incremental = IncrementalFile::new();
        incremental.analyze(&file, &options, |d, k| package.package(d, k));
        for step in 0..steps {
            let (range, insert) = typing_edit(&mut rng, file.text());
            file.edit(range, &insert).unwrap();
            edits += 1;
            let (decls, outcome, _) =
                incremental.analyze(&file, &options, |d, k| package.package(d, k));
            let (want_decls, want_findings) = package.fresh(&file, &options);
            let place = format!("{} after {} edits", path.display(), step + 1);
            assert!(outcome.failed_rules.is_empty(), "{place}: rules failed");
            assert!(*decls == want_decls, "{place}: declarations differ");
            assert_eq!(outcome.findings, want_findings, "{place}: findings differ");
        }
    }
    assert!(split >= 20, "only {split} files declare types");
    assert!(edits >= 200, "only {edits} edits were made");
}

/// The struct in a sibling file, the methods here: editing the method that skips the lock, or
/// another one, keeps `guarded-field-unlocked` (the evidence is in the methods not edited).
#[test]
fn guarded_field_evidence_in_kept_methods_of_a_sibling_type_survives_edits() {
    let package = WithSibling::new(
        "package p\n\nimport \"sync\"\n\ntype Cache struct {\n\tmu    sync.Mutex\n\titems map[string]string\n}\n",
    );
    let text = "package p\n\n\
                func (c *Cache) Set(k, v string) {\n\tc.mu.Lock()\n\tdefer c.mu.Unlock()\n\tc.items[k] = v\n}\n\n\
                func (c *Cache) Delete(k string) {\n\tc.mu.Lock()\n\tdelete(c.items, k)\n\tc.mu.Unlock()\n}\n\n\
                func (c *Cache) Len() int {\n\treturn len(c.items)\n}\n";
    let options = FileOptions::default();
    let mut file = SourceFile::new(text.to_string());
    let mut incremental = IncrementalFile::new();
    let guarded = |findings: &[goconc_analysis::Finding]| {
        findings
            .iter()
            .filter(|f| f.rule == "guarded-field-unlocked")
            .count()
    };
    let (_, first, _) = incremental.analyze(&file, &options, |d, k| package.package(d, k));
    assert_eq!(guarded(&first.findings), 1, "{:?}", first.findings);
    for (anchor, typed) in [
        ("return len", "// how many\n\t"),
        ("delete(c.items", "_ = k\n\t"),
        ("// how many\n\t", ""),
    ] {
        let at = file.text().find(anchor).unwrap();
        let end = if typed.is_empty() {
            at + anchor.len()
        } else {
            at
        };
        file.edit(at..end, typed).unwrap();
        let (_, outcome, reuse) =
            incremental.analyze(&file, &options, |d, k| package.package(d, k));
        assert_eq!(reuse.analysed, 1, "one method edited at {anchor:?}");
        assert_eq!(guarded(&outcome.findings), 1, "after editing at {anchor:?}");
        assert_eq!(outcome.findings, package.fresh(&file, &options).1);
    }
}

/// A read that races with a replacement names where the replacement is. With the type in a
/// sibling file, an edit of one reader left `Reset` out of the model (its findings kept), and the
/// other readers' findings lost the replacement's line and place. (Found by the random edits
/// above, once broken lines inside a function kept the other functions.)
#[test]
fn a_kept_replacement_is_still_named_by_the_readers_that_race_with_it() {
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/guarded-field-unlocked/replaced_pointer.go");
    let (text, sibling) = split_types(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    let package = WithSibling::new(&sibling);
    let options = FileOptions::default();
    let mut file = SourceFile::new(text);
    let mut incremental = IncrementalFile::new();
    incremental.analyze(&file, &options, |d, k| package.package(d, k));
    let at = file.text().find("\treturn ok").unwrap();
    file.edit(at..at, "\t// listed\n").unwrap();
    let (_, outcome, reuse) = incremental.analyze(&file, &options, |d, k| package.package(d, k));
    assert!(reuse.analysed < reuse.functions, "{reuse:?}");
    let named: Vec<&str> = outcome
        .findings
        .iter()
        .filter(|f| {
            f.message
                .contains("`Reset` replaces `x.book` under `x.mu` at line")
        })
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(named.len(), 2, "{:#?}", outcome.findings);
    assert_eq!(outcome.findings, package.fresh(&file, &options).1);
}

/// Found by the `incremental_edits` fuzz target: methods pasted into the middle of other
/// methods (broken code, declarations nested in bodies), the struct in a sibling file. After
/// the sixteenth edit the incremental analysis reported a write in a method a fresh analysis
/// does not see.
#[test]
fn methods_pasted_into_other_methods_give_what_a_fresh_analysis_gives() {
    let package = WithSibling::new(
        "package p\n\nimport \"sync\"\n\ntype S struct {\n\tmu sync.Mutex\n\tn  int // guarded by mu\n}\n",
    );
    const C: &str = "func (s *S) C() {\n\ts.n = 1\n}\n";
    let edits: [(usize, &str); 16] = [
        (82, "\n\t"),
        (47, C),
        (133, "go func() {}()\n"),
        (36, C),
        (69, "{"),
        (133, C),
        (213, C),
        (145, C),
        (121, C),
        (130, C),
        (277, C),
        (388, C),
        (289, C),
        (259, C),
        (211, C),
        (58, C),
    ];
    let options = FileOptions::default();
    let mut file = SourceFile::new(
        "package p\n\nimport \"sync\"\n\nfunc (s *S) A() {\n\ts.mu.Lock()\n\tif s.n > 0 {\n\t\treturn\n\t}\n\ts.mu.Unlock()\n}\n\nfunc (s *S) B() int {\n\ts.n++\n\treturn s.n\n}\n"
            .to_string(),
    );
    let mut incremental = IncrementalFile::new();
    incremental.analyze(&file, &options, |d, k| package.package(d, k));
    for (step, (at, typed)) in edits.into_iter().enumerate() {
        file.edit(at..at, typed).unwrap();
        let (decls, outcome, _) =
            incremental.analyze(&file, &options, |d, k| package.package(d, k));
        let (want_decls, want_findings) = package.fresh(&file, &options);
        assert!(
            *decls == want_decls,
            "declarations differ after {} edits",
            step + 1
        );
        assert_eq!(outcome.findings, want_findings, "after {} edits", step + 1);
    }
}
