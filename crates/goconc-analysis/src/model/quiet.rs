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
//! whole file. Skipping such a function is what [`crate::incremental`] does with an unchanged
//! one; its tests compare the two with a full analysis over random edits of real files.
//!
//! The words are generous on purpose (a comment saying "go" makes a function worth the walk):
//! skipping less costs time, skipping wrongly would cost a finding.

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use tree_sitter::Node;

use super::imports::Imports;
use super::package::{FileDecls, PackageModel};
use crate::syntax::{is_whole_word, is_word_byte, text, NodeExt};
use crate::HashSet;

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

/// Words that rules keep as their own lists: `context.With…` constructors
/// (`context-cancel-not-called`), and `t.Fatal` & co (`test-fatal-in-goroutine` reads a helper
/// started by `go helper(t)` through the model, so the helper itself must not be quiet).
const RULE_WORDS: [&[&str]; 2] = [
    &crate::rules::context::cancel_not_called::CONSTRUCTORS,
    &crate::rules::testing::fatal_in_goroutine::FORBIDDEN,
];

/// Operators that trigger rules wherever they appear: sends and receives.
const OPERATORS: &[&str] = &["<-"];

/// The words of one package: [`WORDS`], [`RULE_WORDS`] and [`OPERATORS`] (one automaton for
/// every package) and
/// the package's own names through which a lock-holding or atomically accessed value is reached.
#[derive(Debug, Clone)]
pub struct Triggers {
    own_names: Option<AhoCorasick>,
}

impl Triggers {
    pub fn of(package: &PackageModel) -> Triggers {
        let mut names = package.names_leading_to_locks();
        names.extend(
            package
                .atomics()
                .keys()
                .map(|k| k.rsplit('.').next().unwrap_or(k).to_string()),
        );
        names.retain(|n| !n.is_empty());
        names.sort_unstable();
        names.dedup();
        // Built for every package: the NFA builds in a fraction of a DFA's time.
        let own_names = (!names.is_empty()).then(|| {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .kind(Some(AhoCorasickKind::ContiguousNFA))
                .build(&names)
        });
        Triggers {
            own_names: own_names.and_then(Result::ok),
        }
    }

    /// Whether `text` holds a trigger: an operator anywhere, a word as a whole word.
    fn found_in(&self, text: &str) -> bool {
        static COMMON: OnceLock<Option<AhoCorasick>> = OnceLock::new();
        let common = COMMON.get_or_init(|| {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(
                    WORDS
                        .iter()
                        .chain(RULE_WORDS.iter().copied().flatten())
                        .chain(OPERATORS),
                )
                .ok()
        });
        let Some(common) = common else {
            return true;
        };
        found_by(common, text)
            || self
                .own_names
                .as_ref()
                .is_some_and(|own| found_by(own, text))
    }
}

/// Whether `search` finds an operator, or a word as a whole word, in `text`. Leftmost-longest
/// matching: of two words starting at one place, at most the longer can be a whole word there,
/// and a whole word never starts inside a word (a word byte precedes it), so skipping past a
/// match that is not a whole word loses none that is.
fn found_by(search: &AhoCorasick, text: &str) -> bool {
    let bytes = text.as_bytes();
    search.find_iter(text).any(|m| {
        let is_operator = !is_word_byte(bytes[m.start()]);
        is_operator || is_whole_word(bytes, m.start(), m.end())
    })
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
    for &item in items {
        if matches!(
            item.kind_str(),
            "function_declaration" | "method_declaration"
        ) && !triggers.found_in(text(item, src))
        {
            quiet.insert(item.start_byte());
        }
    }
    quiet
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::scope::top_level_items;
    use crate::source::SourceFile;

    /// The names of the quiet functions of a one-file package.
    fn quiet_names(src: &str) -> Vec<String> {
        let file = SourceFile::new(src);
        let root = file.tree().root_node();
        let decls = FileDecls::collect(root, src);
        let package = PackageModel::from_files([&decls]);
        let imports = Imports::from_tree(root, src);
        let items = top_level_items(root);
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
func (s *stats) other() int { return 0 }
"#;
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

    /// Analyses every package folder under `dir` with and without reading quiet functions;
    /// returns how many findings were compared.
    fn compare_folders(dir: &std::path::Path) -> usize {
        let mut compared = 0;
        let Ok(entries) = std::fs::read_dir(dir) else {
            return 0;
        };
        let mut files = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            if path.is_dir() && !name.starts_with('.') && name != "testdata" {
                compared += compare_folders(&path);
            } else if name.ends_with(".go") {
                if let Ok(text) = std::fs::read_to_string(&path) {
                    files.push((name, text));
                }
            }
        }
        let sources: Vec<SourceFile> = files
            .iter()
            .map(|(_, t)| SourceFile::new(t.as_str()))
            .collect();
        let decls: Vec<FileDecls> = sources
            .iter()
            .map(|s| FileDecls::collect(s.tree().root_node(), s.text()))
            .collect();
        let models = crate::package_models(&decls);
        for ((name, _), (source, d)) in files.iter().zip(sources.iter().zip(&decls)) {
            let options = crate::FileOptions {
                is_test_file: name.ends_with("_test.go"),
                ..Default::default()
            };
            let package = &models[d.package_name.as_str()];
            let skipping = crate::analyze_skipping(source, package, &options, true);
            let reading = crate::analyze_skipping(source, package, &options, false);
            assert_eq!(
                skipping.findings,
                reading.findings,
                "{}/{name}",
                dir.display()
            );
            assert_eq!(
                skipping.failed_rules,
                reading.failed_rules,
                "{}/{name}",
                dir.display()
            );
            compared += reading.findings.len();
        }
        compared
    }

    #[test]
    fn skipping_quiet_functions_changes_no_finding_of_the_fixtures() {
        let fixtures =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
        let compared = compare_folders(&fixtures);
        assert!(compared > 150, "only {compared} findings compared");
    }

    #[test]
    fn skipping_quiet_functions_changes_no_finding_of_the_standard_library() {
        let Ok(output) = std::process::Command::new("go")
            .args(["env", "GOROOT"])
            .output()
        else {
            eprintln!("go not found: standard library packages skipped");
            return;
        };
        let src =
            std::path::PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()).join("src");
        let mut compared = 0;
        for package in [
            "sync",
            "context",
            "net/http",
            "database/sql",
            "os/exec",
            "testing",
            "time",
        ] {
            compared += compare_folders(&src.join(package));
        }
        assert!(compared > 20, "only {compared} findings compared");
    }
}
