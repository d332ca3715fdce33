//! Quiet functions and files: top-level functions and methods in which no rule can report, told
//! apart by their text alone so that the model's walk and the rules pass over them; and files
//! whose declarations are all quiet, which need no analysis (nor a second parse, in a folder too
//! large to keep every tree).
//!
//! Every rule reports inside a function only where the function's own text names what the rule
//! is about: a keyword (`go`, `select`, `chan`), the `<-` operator, a method or function the
//! rule starts from (`Lock`, `Done`, `WithCancel`, `Fatal`, …; see [`WORDS`]), or — for the rules about
//! values, whose trigger is a type rather than a call — a name through which such a value is
//! reached: a type of the package that holds a lock, a field, variable, function or method
//! whose type leads to one, an atomically accessed field or variable. A function whose text
//! holds none of these words draws no finding, and what other functions' findings need from it
//! comes from the package's declarations ([`super::package::FileDecls`]), which always read the
//! whole file. Skipping such a function is what the engine's incremental analysis does with an unchanged
//! one; its tests compare the two with a full analysis over random edits of real files.
//!
//! Only code counts: a word inside a comment or a string literal ("go", "close" and "select"
//! are English) triggers nothing, since no rule reads comments or strings to report. Otherwise
//! the words are generous on purpose: skipping less costs time, skipping wrongly would cost a
//! finding.

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use tree_sitter::Node;

use super::imports::Imports;
use super::package::{FileDecls, PackageModel};
use crate::HashSet;
use goconc_syntax::{is_whole_word, is_word_byte, text, NodeExt};

/// Words whose presence makes a function worth the rules' look, by the rules that start from
/// them. Matched as whole words. A word a rule starts from but reports only together with
/// another one is left out when that other one is here: `Add` (WaitGroup rules need the `go`
/// statement of the same function), `make` (a channel is made with `chan`), `defer` (deferred
/// unlocks, `Done`s and `cancel`s come with their `Lock`, `go` or constructor), `Background`
/// and `TODO` (reported only with a `Context` parameter).
const WORDS: &[&str] = &[
    // Goroutines and channels: `go f()`, `g.Go(…)`, `wg.Go(…)`, `make(chan T)`, `select`.
    "go",
    "Go",
    "TryGo",
    "chan",
    "select",
    "close",
    // Mutexes (lock traces, held-blocking, order, kind mismatch, empty sections).
    "Lock",
    "RLock",
    "Unlock",
    "RUnlock",
    "TryLock",
    "TryRLock",
    // A WaitGroup's `Done` in a function a goroutine runs; condition variables and errgroups.
    "Done",
    "Wait",
    "WithContext",
    // Contexts: a `context.Context` parameter (the constructors: [`RULE_WORDS`]).
    "Context",
    // Timers and tickers.
    "After",
    "Tick",
    "NewTicker",
    "NewTimer",
    // os/signal.
    "Notify",
    // Every type and function of sync and sync/atomic is spelled through the package's name
    // (files that import them under another name or with a dot have no quiet function).
    "sync",
    "atomic",
];

/// Words the model keeps as lists of its own: the `context.With…` constructors
/// (`context-cancel-not-called`).
const RULE_WORDS: [&[&str]; 1] = [&crate::sync_calls::CONTEXT_CANCEL_CONSTRUCTORS];

/// Words that make a function worth reading only as a helper another function starts on a
/// goroutine: `t.Fatal` & co. `test-fatal-in-goroutine` reports them where the same function
/// starts the goroutine (`go`, `Go` and `TryGo` are triggers of their own) and in a function
/// of the file started by `go helper(t)`, which it reads through the model.
const HELPER_WORDS: &[&str] = &crate::flow::TEST_GOEXIT_METHODS;

/// Operators that trigger rules wherever they appear: sends and receives.
const OPERATORS: &[&str] = &["<-"];

/// The words of one package: [`WORDS`], [`RULE_WORDS`], [`HELPER_WORDS`] and [`OPERATORS`]
/// (one automaton for every package) and the package's own names through which a lock-holding
/// or atomically accessed value is reached.
#[derive(Debug, Clone)]
pub struct Triggers {
    /// The package's own names, sorted, without duplicates.
    names: Vec<String>,
    /// Their search, built when a text without a shared word is first asked about: most
    /// functions of a package that locks name `Lock` or `go` first, and building an automaton of
    /// a generated package's hundred thousand type names cost more than asking.
    own_names: OnceLock<Option<OwnNames>>,
}

/// How a text is searched for the package's own names, as whole words.
#[derive(Debug, Clone)]
enum OwnNames {
    Automaton(AhoCorasick),
    /// Past [`MAX_AUTOMATON_NAMES`]: every identifier of the text looked up, one hash each
    /// (building the automaton grows faster than its names).
    Set(HashSet<String>),
}

/// The most names searched with an automaton.
const MAX_AUTOMATON_NAMES: usize = 4096;

impl OwnNames {
    fn build(names: &[String]) -> Option<OwnNames> {
        if names.is_empty() {
            return None;
        }
        if names.len() > MAX_AUTOMATON_NAMES {
            return Some(OwnNames::Set(names.iter().cloned().collect()));
        }
        // Built for every package that needs it: the NFA builds in a fraction of a DFA's time.
        AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .kind(Some(AhoCorasickKind::ContiguousNFA))
            .build(names)
            .ok()
            .map(OwnNames::Automaton)
    }

    /// Whether some whole-word occurrence `start..end` of a name in `text` passes `keep`.
    fn any_in(&self, text: &str, mut keep: impl FnMut(usize, usize) -> bool) -> bool {
        match self {
            OwnNames::Automaton(search) => {
                whole_word_matches(search, text).any(|m| keep(m.start(), m.end()))
            }
            OwnNames::Set(names) => goconc_syntax::identifiers(text)
                .any(|(at, word)| names.contains(word) && keep(at, at + word.len())),
        }
    }
}

/// The automaton of the words every package shares; patterns from `first_helper_word` on are
/// [`HELPER_WORDS`].
struct CommonWords {
    search: AhoCorasick,
    first_helper_word: usize,
}

impl CommonWords {
    fn get() -> Option<&'static CommonWords> {
        static COMMON: OnceLock<Option<CommonWords>> = OnceLock::new();
        COMMON
            .get_or_init(|| {
                let mut words: Vec<&str> = WORDS
                    .iter()
                    .chain(RULE_WORDS.iter().copied().flatten())
                    .chain(OPERATORS)
                    .copied()
                    .collect();
                let first_helper_word = words.len();
                words.extend(HELPER_WORDS);
                let search = AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(words)
                    .ok()?;
                Some(CommonWords {
                    search,
                    first_helper_word,
                })
            })
            .as_ref()
    }
}

/// What the code of a function holds, its comments and string literals left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    Nothing,
    /// Only [`HELPER_WORDS`].
    HelperWords,
    Trigger,
}

impl Triggers {
    pub fn of(package: &PackageModel) -> Triggers {
        let mut names = package.names_leading_to_locks();
        names.extend(package.atomic_names().iter().cloned());
        // A call that drops one's result leaks its goroutine (goroutine-leak-unbuffered-send).
        names.extend(
            package
                .pending_send_returners()
                .iter()
                .map(|key| key.rsplit('.').next().unwrap_or(key).to_string()),
        );
        // A call to a helper that leaves a lock held (`c.State.lock()`) is a lock taken.
        names.extend(
            package
                .summaries()
                .filter(|(_, summary)| !summary.keeps.is_empty())
                .map(|(key, _)| key.rsplit('.').next().unwrap_or(key).to_string()),
        );
        // A call through which a goroutine sends to itself (channel-self-deadlock) is reported
        // where the function makes it, a function that may name nothing else of interest.
        names.extend(package.self_sends().iter().filter_map(|found| {
            let step = found.chain.iter().find(|s| s.call == found.report)?;
            Some(
                step.callee
                    .rsplit('.')
                    .next()
                    .unwrap_or(&step.callee)
                    .to_string(),
            )
        }));
        // A value method whose copy races with a write (goroutine-captured-write) is reported
        // at its receiver, in a body that may name nothing else of interest.
        names.extend(
            package
                .copied_while_written()
                .iter()
                .map(|c| c.method.clone()),
        );
        names.retain(|n| !n.is_empty());
        names.sort_unstable();
        names.dedup();
        Triggers {
            names,
            own_names: OnceLock::new(),
        }
    }

    fn own_names(&self) -> Option<&OwnNames> {
        self.own_names
            .get_or_init(|| OwnNames::build(&self.names))
            .as_ref()
    }

    /// Whether `text` holds a trigger: an operator anywhere, a word as a whole word (in code,
    /// comments or strings alike: a file is judged from its text alone).
    fn found_in(&self, text: &str) -> bool {
        let Some(common) = CommonWords::get() else {
            return true;
        };
        whole_word_matches(&common.search, text).next().is_some()
            || self
                .own_names()
                .is_some_and(|own| own.any_in(text, |_, _| true))
    }

    /// What the code of a top-level declaration holds. A word inside a comment or a string
    /// literal triggers nothing: no rule reads them.
    fn found_in_code(&self, item: Node, src: &str) -> Found {
        let Some(common) = CommonWords::get() else {
            return Found::Trigger;
        };
        let code = text(item, src);
        let in_code = |start: usize, end: usize| {
            !item
                .descendant_for_byte_range(item.start_byte() + start, item.start_byte() + end)
                .is_some_and(|n| is_comment_or_string(n.kind_str()))
        };
        let mut found = Found::Nothing;
        for m in whole_word_matches(&common.search, code).filter(|m| in_code(m.start(), m.end())) {
            if m.pattern().as_usize() < common.first_helper_word {
                return Found::Trigger;
            }
            found = Found::HelperWords;
        }
        if self
            .own_names()
            .is_some_and(|own| own.any_in(code, in_code))
        {
            return Found::Trigger;
        }
        found
    }
}

fn is_comment_or_string(kind: &str) -> bool {
    matches!(
        kind,
        "comment"
            | "interpreted_string_literal"
            | "interpreted_string_literal_content"
            | "raw_string_literal"
            | "raw_string_literal_content"
            | "rune_literal"
            | "escape_sequence"
    )
}

/// The matches of `search` in `text` that are operators, or words as whole words.
/// Leftmost-longest matching: of two words starting at one place, at most the longer can be a
/// whole word there, and a whole word never starts inside a word (a word byte precedes it), so
/// skipping past a match that is not a whole word loses none that is.
fn whole_word_matches<'a>(
    search: &'a AhoCorasick,
    text: &'a str,
) -> impl Iterator<Item = aho_corasick::Match> + 'a {
    let bytes = text.as_bytes();
    search.find_iter(text).filter(move |m| {
        let is_operator = !is_word_byte(bytes[m.start()]);
        is_operator || is_whole_word(bytes, m.start(), m.end())
    })
}

/// The functions a `go` statement of the file may start by name: the identifier after each
/// whole word `go` (parentheses and spaces skipped). `None` when a comment follows some `go`,
/// which may hide any name.
fn names_started_by_go(src: &str) -> Option<HashSet<&str>> {
    let bytes = src.as_bytes();
    let mut names = HashSet::default();
    for (start, _) in src.match_indices("go") {
        if !is_whole_word(bytes, start, start + 2) {
            continue;
        }
        let mut at = start + 2;
        while bytes
            .get(at)
            .is_some_and(|&b| b.is_ascii_whitespace() || b == b'(')
        {
            at += 1;
        }
        // A comment may hide the name (`go /* … */ helper(t)`); `go/ast` in a comment or a
        // string is no statement.
        if bytes.get(at) == Some(&b'/') && matches!(bytes.get(at + 1), Some(b'/' | b'*')) {
            return None;
        }
        // The name as the parser reads it: where identifier characters end.
        if let Some((0, name)) = src
            .get(at..)
            .and_then(|rest| goconc_syntax::identifiers(rest).next())
        {
            names.insert(name);
        }
    }
    Some(names)
}

/// Whether every import of sync and sync/atomic uses the package's own name (else a sync type
/// can be spelled `s.Mutex` or `Mutex`, without the word `sync`, and nothing is quiet).
pub fn spells_sync_plainly(imports: &Imports) -> bool {
    imports.is_spelled_plainly("sync") && imports.is_spelled_plainly("sync/atomic")
}

/// Where the declarations after the package clause and imports start (comments between them
/// skipped): the part of a file where findings can be.
pub fn declarations_start(items: &[Node], src: &str) -> usize {
    items
        .iter()
        .find(|item| {
            !matches!(
                item.kind_str(),
                "package_clause" | "import_declaration" | "comment"
            )
        })
        .map_or(src.len(), |item| item.start_byte())
}

/// Whether no rule can report anywhere in a file: no trigger in its declarations (after the
/// package clause and imports, which draw no finding). Such a file needs no analysis, and no
/// tree: a folder too large to keep every tree need not parse it again.
pub fn is_quiet_file(src: &str, decls: &FileDecls, package: &PackageModel) -> bool {
    is_quiet_text(
        src,
        decls.declarations_start,
        decls.sync_spelled_plainly,
        package,
    )
}

/// [`is_quiet_file`] from its parts, for a caller that has the tree rather than the
/// declarations: where the declarations start ([`declarations_start`]) and whether sync is
/// spelled plainly ([`spells_sync_plainly`]).
pub fn is_quiet_text(
    src: &str,
    declarations_start: usize,
    sync_spelled_plainly: bool,
    package: &PackageModel,
) -> bool {
    sync_spelled_plainly
        && src
            .get(declarations_start..)
            .is_some_and(|declarations| !package.triggers().found_in(declarations))
}

/// The start bytes of the quiet top-level functions and methods among `items`.
pub fn quiet_functions(
    items: &[Node],
    src: &str,
    imports: &Imports,
    package: &PackageModel,
) -> HashSet<usize> {
    let mut quiet = HashSet::default();
    if !spells_sync_plainly(imports) {
        return quiet;
    }
    let triggers = package.triggers();
    // Computed once, for the first function holding helper words only.
    let mut started: Option<Option<HashSet<&str>>> = None;
    for &item in items {
        let kind = item.kind_str();
        if !matches!(kind, "function_declaration" | "method_declaration") {
            continue;
        }
        let is_quiet = match triggers.found_in_code(item, src) {
            Found::Nothing => true,
            Found::Trigger => false,
            // Read as a helper only when a `go` statement may start it by name.
            Found::HelperWords => {
                let started = started.get_or_insert_with(|| names_started_by_go(src));
                let name = item.field("name").map(|n| text(n, src));
                kind == "method_declaration"
                    || started
                        .as_ref()
                        .is_some_and(|names| !name.is_some_and(|n| names.contains(n)))
            }
        };
        if is_quiet {
            quiet.insert(item.start_byte());
        }
    }
    quiet
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::top_level_items;
    use goconc_syntax::SourceFile;

    /// The names of the quiet functions of a one-file package.
    fn quiet_names(src: &str) -> Vec<String> {
        let file = SourceFile::new(src);
        let root = file.tree().root_node();
        let decls = FileDecls::collect(root, src);
        let package = PackageModel::from_files([&decls]);
        let imports = Imports::from_tree(root, src);
        let items = top_level_items(root, src);
        let quiet = quiet_functions(&items, src, &imports, &package);
        let mut names: Vec<String> = items
            .iter()
            .filter(|i| quiet.contains(&i.start_byte()))
            .filter_map(|i| i.field("name").map(|n| text(n, src).to_string()))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_function_is_quiet_only_without_any_trigger() {
        let src = r#"package p

import "sync"

func plain(xs []int) int { s := 0; for _, x := range xs { s += x }; return s }
func algorithm(going int) int { return going * 2 } // "go" only inside longer words
func starts() { go plain(nil) }
func receives(ch chan int) int { return <-ch }
func sends(c interface{ Put(int) }, ch chan<- int) { ch <- 1 }
func locks(mu *sync.Mutex) { mu.Lock(); mu.Unlock() }
func cancels(ctx context.Context) { for ctx.Err() == nil {} }
func waits(c interface{ Wait() }) { c.Wait() }
func fatalInGoroutine(t interface{ Fatal(...any) }) { go func() { t.Fatal("x") }() }
"#;
        assert_eq!(quiet_names(src), ["algorithm", "plain"]);
    }

    #[test]
    fn words_in_comments_and_strings_trigger_nothing() {
        let src = r#"package p

// goes to the log; "select" is a word of the doc comment only
func logs(w interface{ Write(string) }) {
	// We go on: close the file later.
	w.Write("go, close the chan <- now")
	w.Write(`Lock and Unlock`)
	_ = '<'
}

func starts(f func()) {
	// a comment, then code that counts
	go f()
}

func receives(ch chan int) int { /* nothing */ return <-ch }
"#;
        assert_eq!(quiet_names(src), ["logs"]);
    }

    #[test]
    fn test_helpers_are_read_only_when_a_go_statement_starts_them() {
        let src = r#"package p

import "testing"

func check(t *testing.T) { t.Fatal("x") }
func started(t *testing.T) { t.Fatalf("x") }
func startedInParens(t *testing.T) { t.Skip() }
func notStarted(t *testing.T) { t.FailNow() }
func (h helper) method(t *testing.T) { t.Fatal("x") }

type helper struct{}

// A path such as go/ast in a comment starts nothing.
func TestX(t *testing.T) {
	go started(t)
	go (startedInParens)(t)
	check(t)
}
"#;
        assert_eq!(quiet_names(src), ["check", "method", "notStarted"]);
        // A comment after `go` may hide any name: every helper is read.
        let hidden = src.replace("go started(t)", "go /* why */ started(t)");
        assert_eq!(quiet_names(&hidden), ["method"]);
    }

    #[test]
    fn names_leading_to_a_lock_make_a_function_worth_reading() {
        let src = r#"package p

import "sync"

type Counter struct {
	mu sync.Mutex
	n  int
}

type Registry struct {
	counters map[string]*Counter
	byName   chan Counter
}

var global Counter

func newCounter() *Counter { return nil }

func (c Counter) Value() int { return c.n }
func copyGlobal() { x := global; _ = x }
func fromCall() { x := *newCounter(); _ = x }
func fromField(r *Registry) { for _, c := range r.counters { _ = c } }
func fromChannelField(r *Registry) { x := <-r.byName; _ = x }
func unrelated(p *point) int { return p.x }

type point struct{ x, y int }
"#;
        assert_eq!(quiet_names(src), ["unrelated"]);
    }

    #[test]
    fn long_chains_and_cycles_of_types_lead_to_a_lock_exactly() {
        // Twelve types in a row; the last holds a lock in the first package, nothing in the
        // second. `b` reaches the lock only through `a`, which it points back to.
        let chain = |last: &str| {
            let mut src = String::from("package p\n\nimport \"sync\"\n\nvar _ sync.Mutex\n\n");
            for i in 0..12 {
                src += &format!("type t{i} struct{{ next *t{} }}\n", i + 1);
            }
            src += &format!("type t12 struct{{ {last} }}\n\n");
            src += "type a struct{ b *b; c *c }\ntype b struct{ a *a }\ntype c struct{ t *t0 }\n\n";
            src += "func head(x *t0) *t0 { return x }\nfunc back(y *b) *b { return y }\n";
            src
        };
        assert!(quiet_names(&chain("mu sync.Mutex")).is_empty());
        assert_eq!(quiet_names(&chain("n int")), ["back", "head"]);
    }

    #[test]
    fn an_aliased_or_dot_sync_import_leaves_nothing_quiet() {
        for import in ["s \"sync\"", ". \"sync\"", "a \"sync/atomic\""] {
            let src = format!("package p\n\nimport {import}\n\nfunc plain() int {{ return 1 }}\n");
            assert!(quiet_names(&src).is_empty(), "{import}");
        }
        let src = "package p\n\nimport \"sync\"\n\nfunc plain() int { return 1 }\n";
        assert_eq!(quiet_names(src), ["plain"]);
    }

    #[test]
    fn atomically_accessed_names_make_every_access_worth_reading() {
        let src = r#"package p

import "sync/atomic"

type stats struct{ hits int64 }

func (s *stats) hit() { atomic.AddInt64(&s.hits, 1) }
func (s *stats) read() int64 { return s.hits }
func (s *stats) copy() stats { return *s }
func other() int { return 0 }
"#;
        // The owner's name counts too: a copy `*s` names no field.
        assert_eq!(quiet_names(src), ["other"]);
    }

    /// Whether the one file of a package is quiet, as the command line asks of a dropped tree.
    fn file_is_quiet(src: &str) -> bool {
        let file = SourceFile::new(src);
        let decls = FileDecls::collect(file.tree().root_node(), src);
        let package = PackageModel::from_files([&decls]);
        is_quiet_file(src, &decls, &package)
    }

    #[test]
    fn a_file_is_quiet_when_its_declarations_hold_no_trigger() {
        // The generated-file header and the imports say nothing about the code.
        let quiet = "// Code generated by 'go generate'; DO NOT EDIT.\n\npackage p\n\nimport \"sync\"\n\nvar table = [...]int{1, 2}\n\nfunc get(i int) int { return table[i] }\n";
        assert!(file_is_quiet(quiet));
        for declarations in [
            "type T struct{ sync.Mutex }\n",
            "type guard struct{ mu sync.Mutex }\n\ntype T struct{ guard }\n",
            "var a, b struct{ mu sync.Mutex }\n\nvar c = a\n",
            "var f = func(ch chan int) { ch <- 1 }\n",
            "func get() { go get() }\n",
        ] {
            let src = format!("package p\n\nimport \"sync\"\n\n{declarations}");
            assert!(!file_is_quiet(&src), "{declarations}");
        }
        assert!(!file_is_quiet(
            "package p\n\nimport s \"sync\"\n\nfunc get() int { return 1 }\n"
        ));
    }
}
