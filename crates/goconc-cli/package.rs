//! Analyzing the files of one folder within a memory budget.
//!
//! Every file's declarations must be read before any file of the package is analyzed, and a
//! tree-sitter tree takes ~110 bytes per (visible) node, some 35 bytes per byte of Go. Most
//! folders are small; a few are not (`cmd/compile/internal/ssa` holds 12 MB of generated Go: 4
//! million nodes, ~430 MB of trees). A file whose findings are not wanted (generated code a walk
//! found) is parsed, its declarations read and its tree dropped at once. Each other file is
//! parsed, its tree laid out in document order (the array the walks read, 17 bytes a node) and
//! its declarations read, and the trees are kept with their layouts for the analysis while their
//! nodes fit in [`TREE_NODE_BUDGET`]; past it, the
//! trees cheapest to build again (parse time per node, as measured) are dropped, and those files
//! are parsed a second time for their analysis. Parse time per node varies twofold (`ssa`'s
//! `opGen.go`, tables of literals, parses at 0.26 µs a node, its `rewrite*.go` files at 0.56), so
//! less is parsed twice than when the first files that fit are kept. A file in which no rule can
//! report (`goconc_analysis::is_quiet_file`; `opGen.go` is one) is neither analysed nor, when
//! dropped, parsed again. Files are parsed largest first: a tree is over the budget only between
//! its parse and the next eviction, so the peak is the budget plus the tree just parsed, and the
//! later trees are the small ones. The results are the same whatever is kept.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

use tree_sitter::Tree;

use goconc_analysis::module::PackageExports;
use goconc_analysis::{
    analyze_tree, is_quiet_text, parse_text, quiet_outcome, Config, FileDecls, FileOptions,
    GoVersion, ModuleSummaries, Outcome, PackageModel,
};
use goconc_syntax::preorder::LaidOut;

/// Visible syntax nodes of one folder whose trees are kept between the reading of declarations
/// and the analysis, with their layouts. `goconc bench` (one thread, the standard library) then
/// peaks at ~170 MB (~160 MB when each layout was built again for the analysis; ~370 MB when
/// generated files were kept too).
pub const TREE_NODE_BUDGET: usize = 3_000_000;

/// One file of a folder to check.
pub struct DirFile<'a> {
    pub name: String,
    pub text: &'a str,
    /// Whether its findings are wanted. A file that is not (a generated file a walk found) is
    /// read for its declarations only: neither analysed nor kept parsed, and its outcome is
    /// empty. A third of the standard library's bytes are such files.
    pub reported: bool,
}

/// Checks the files of one folder as one package (two when there is an external `_test`
/// package). One result per file, in the order given. `fingerprint`, when given, names each
/// finding of a file from its tree while the analysis holds it (the file's index, its text and
/// tree, its findings), instead of a second parse once the folder is done. The trees are parsed
/// from the texts given, which are not copied.
pub fn analyze_dir(
    files: &[DirFile<'_>],
    module_go_version: Option<GoVersion>,
    config: &Config,
    module: Option<&Arc<ModuleSummaries>>,
    fingerprint: Option<&Fingerprinter<'_>>,
) -> Vec<Analysed> {
    analyze_dir_exporting(files, module_go_version, config, module, fingerprint, None).0
}

/// [`analyze_dir`], with `exports_with` also making the folder's exports to the rest of its
/// module from the declarations it reads (see `crate::module`), its own calls into the module
/// resolved through `exports_with`.
pub fn analyze_dir_exporting(
    files: &[DirFile<'_>],
    module_go_version: Option<GoVersion>,
    config: &Config,
    module: Option<&Arc<ModuleSummaries>>,
    fingerprint: Option<&Fingerprinter<'_>>,
    exports_with: Option<&Arc<ModuleSummaries>>,
) -> (Vec<Analysed>, Option<PackageExports>) {
    analyze_within(
        files,
        TREE_NODE_BUDGET,
        module_go_version,
        config,
        module,
        fingerprint,
        exports_with,
    )
}

/// Names each finding of the file at an index, given its text, its tree and its findings.
pub type Fingerprinter<'a> =
    dyn Fn(usize, &str, &Tree, &[goconc_analysis::Finding]) -> Vec<String> + 'a;

/// One file's outcome, and the fingerprints of its findings when they were asked for and its
/// tree was at hand (a quiet file is told without one).
#[derive(Default)]
pub struct Analysed {
    pub outcome: Outcome,
    pub fingerprints: Option<Vec<String>>,
}

/// One file's tree and its layout while they are kept, and what they cost.
struct Parsed {
    laid_out: Option<LaidOut>,
    nodes: usize,
    /// Seconds of parsing per node: what dropping the tree costs per node of memory it frees.
    rebuild_cost: f64,
}

/// Parses a file, lays its tree out and reads its declarations, while the tree is fresh in the
/// cache: the tree with its layout (for the analysis to read too), the declarations, and the
/// seconds the parse took.
fn parse_and_collect(text: &str) -> (LaidOut, FileDecls, f64) {
    let started = Instant::now();
    let tree = parse_text(text);
    let parse_seconds = started.elapsed().as_secs_f64();
    let laid_out = goconc_analysis::lay_out(tree, text);
    let decls = {
        let _layout = laid_out.install();
        collect(laid_out.tree(), text)
    };
    (laid_out, decls, parse_seconds)
}

/// A file's declarations; none when reading them failed.
fn collect(tree: &Tree, text: &str) -> FileDecls {
    catch_unwind(AssertUnwindSafe(|| {
        FileDecls::collect(tree.root_node(), text)
    }))
    .unwrap_or_default()
}

/// Drops the trees cheapest to build again until those kept hold at most `node_budget` nodes.
fn keep_within_budget(parsed: &mut [Parsed], kept_nodes: &mut usize, node_budget: usize) {
    while *kept_nodes > node_budget {
        // A tree over the budget alone is held whole for its analysis anyway: dropping it
        // lowers no peak, it only parses the file twice (a 12 MB generated file: 10% of its
        // check).
        let Some(cheapest) = parsed
            .iter_mut()
            .filter(|p| p.laid_out.is_some() && p.nodes <= node_budget)
            .min_by(|a, b| a.rebuild_cost.total_cmp(&b.rebuild_cost))
        else {
            break;
        };
        cheapest.laid_out = None;
        *kept_nodes -= cheapest.nodes;
    }
}

/// [`analyze_dir`], keeping trees of at most `node_budget` nodes in all, besides a tree that is
/// over the budget alone (kept: its analysis needs it whole anyway).
fn analyze_within(
    files: &[DirFile<'_>],
    node_budget: usize,
    module_go_version: Option<GoVersion>,
    config: &Config,
    module: Option<&Arc<ModuleSummaries>>,
    fingerprint: Option<&Fingerprinter<'_>>,
    exports_with: Option<&Arc<ModuleSummaries>>,
) -> (Vec<Analysed>, Option<PackageExports>) {
    let mut decls: Vec<FileDecls> = (0..files.len()).map(|_| FileDecls::default()).collect();
    let mut parsed: Vec<Parsed> = (0..files.len())
        .map(|_| Parsed {
            laid_out: None,
            nodes: 0,
            rebuild_cost: 0.0,
        })
        .collect();
    // Files read for their declarations only, each tree dropped at once.
    for (index, file) in files.iter().enumerate().filter(|(_, f)| !f.reported) {
        decls[index] = collect(&parse_text(file.text), file.text);
    }
    let mut largest_first: Vec<usize> = (0..files.len()).filter(|&i| files[i].reported).collect();
    largest_first.sort_by_key(|&i| std::cmp::Reverse(files[i].text.len()));
    // Each kept tree keeps its layout in document order from the reading of its declarations to
    // its analysis, so that it is built once, not for each (the analysis laid out a tree again
    // for every file: a twentieth of checking the standard library). The file parsed last is
    // analysed first, right after the package's declarations are merged, while its tree is
    // still in the cache. Held apart from the others, it is never dropped for the budget.
    let (last, earlier) = match largest_first.split_last() {
        Some((&last, earlier)) => (Some(last), earlier),
        None => (None, &[][..]),
    };
    let mut kept_nodes = 0;
    for &index in earlier {
        let (laid_out, file_decls, parse_seconds) = parse_and_collect(files[index].text);
        decls[index] = file_decls;
        let nodes = laid_out.tree().root_node().descendant_count();
        kept_nodes += nodes;
        parsed[index] = Parsed {
            laid_out: Some(laid_out),
            nodes,
            rebuild_cost: parse_seconds / nodes as f64,
        };
        keep_within_budget(&mut parsed, &mut kept_nodes, node_budget);
    }
    let last_laid_out = last.map(|index| {
        let (laid_out, file_decls, _) = parse_and_collect(files[index].text);
        decls[index] = file_decls;
        kept_nodes += laid_out.tree().root_node().descendant_count();
        keep_within_budget(&mut parsed, &mut kept_nodes, node_budget);
        (index, laid_out)
    });
    let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    let exports = exports_with.map(|with| {
        goconc_analysis::module::package_exports(names.iter().copied().zip(&decls), Some(with))
    });
    // What tells a quiet file, kept aside: the declarations themselves are moved into the models.
    let quiet_facts: Vec<(usize, bool)> = decls
        .iter()
        .map(|d| (d.declarations_start, d.sync_spelled_plainly))
        .collect();
    let models = goconc_analysis::package_models_given(&names, decls, module);
    let package_of = |index: usize| -> &PackageModel { models.of(index) };
    // A quiet file has nothing to report: told from its text and declarations, without a tree.
    let is_quiet = |index: usize| {
        let (declarations_start, sync_spelled_plainly) = quiet_facts[index];
        is_quiet_text(
            files[index].text,
            declarations_start,
            sync_spelled_plainly,
            package_of(index),
        )
    };
    let options_of = |index: usize| FileOptions {
        module_go_version,
        is_test_file: files[index].name.ends_with("_test.go"),
        config: config.clone(),
    };
    let analyze_one = |index: usize, tree: &Tree| -> Analysed {
        if is_quiet(index) {
            return Analysed {
                outcome: quiet_outcome(files[index].text, &options_of(index)),
                fingerprints: None,
            };
        }
        let text = files[index].text;
        let outcome = analyze_tree(tree, text, package_of(index), &options_of(index));
        let fingerprints = fingerprint.map(|f| f(index, text, tree, &outcome.findings));
        Analysed {
            outcome,
            fingerprints,
        }
    };
    // A kept tree's analysis reads the layout its declarations were read with.
    let analyze_laid_out = |index: usize, laid_out: &LaidOut| -> Analysed {
        let _layout = laid_out.install();
        analyze_one(index, laid_out.tree())
    };
    let mut outcomes: Vec<Option<Analysed>> = (0..files.len()).map(|_| None).collect();
    if let Some((index, laid_out)) = last_laid_out {
        outcomes[index] = Some(analyze_laid_out(index, &laid_out));
    }
    // The other kept trees, last parsed first (the likeliest to be in the cache still), each
    // freed as soon as its file is done; then the dropped files, in the memory that freed.
    for &index in earlier.iter().rev() {
        if let Some(laid_out) = parsed[index].laid_out.take() {
            outcomes[index] = Some(analyze_laid_out(index, &laid_out));
        }
    }
    for (index, outcome) in outcomes.iter_mut().enumerate() {
        if outcome.is_some() || !files[index].reported {
            continue;
        }
        // Nor does it need parsing again.
        *outcome = Some(match is_quiet(index) {
            true => Analysed {
                outcome: quiet_outcome(files[index].text, &options_of(index)),
                fingerprints: None,
            },
            false => analyze_one(index, &parse_text(files[index].text)),
        });
    }
    let outcomes = outcomes
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect();
    (outcomes, exports)
}

#[cfg(test)]
mod tests {
    use super::*;
    use goconc_analysis::{analyze_package, PackageFile, SourceFile};

    /// A package of three files whose findings depend on declarations in the other files: the
    /// lock-holding type, and a method that takes the lock.
    fn package() -> Vec<(String, String)> {
        let types = "package p\n\nimport \"sync\"\n\ntype Store struct {\n\tmu sync.Mutex\n\tn  int\n}\n\nfunc (s *Store) lock() { s.mu.Lock() }\n";
        let copies = "package p\n\nfunc byValue(s Store) int { return s.n }\n\nfunc copyIt(p *Store) int {\n\tc := *p\n\treturn c.n\n}\n";
        let locks = "package p\n\nfunc (s *Store) Bump(fail bool) error {\n\ts.mu.Lock()\n\tif fail {\n\t\treturn nil\n\t}\n\ts.n++\n\ts.mu.Unlock()\n\treturn nil\n}\n";
        vec![
            ("types.go".to_string(), types.to_string()),
            ("copies.go".to_string(), copies.to_string()),
            ("locks.go".to_string(), locks.to_string()),
        ]
    }

    fn findings(outcomes: &[Outcome]) -> Vec<Vec<(&'static str, std::ops::Range<usize>)>> {
        outcomes
            .iter()
            .map(|o| {
                o.findings
                    .iter()
                    .map(|f| (f.rule, f.range.clone()))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn the_findings_do_not_depend_on_which_trees_are_kept() {
        let files = package();
        let together: Vec<PackageFile> = files
            .iter()
            .map(|(name, text)| PackageFile {
                name: name.clone(),
                source: SourceFile::new(text.as_str()),
            })
            .collect();
        let expected = findings(&analyze_package(&together, None, &Config::default()));
        assert!(
            expected.iter().filter(|f| !f.is_empty()).count() >= 2,
            "the package must draw findings in several files: {expected:?}"
        );
        // Room for the largest tree but not for all: some trees kept, some parsed again.
        let nodes: Vec<usize> = together
            .iter()
            .map(|f| f.source.tree().root_node().descendant_count())
            .collect();
        let some = *nodes.iter().max().unwrap_or(&0);
        assert!(some < nodes.iter().sum::<usize>());
        // Every tree over the budget alone (all kept), the largest over it alone and the others
        // dropped, some kept, all kept.
        for budget in [0, some - 1, some, usize::MAX] {
            // Every file reported; then each in turn read for its declarations only, which it
            // still lends to the others (the lock-holding type, the method that locks) while
            // it reports nothing itself.
            for unreported in std::iter::once(None).chain((0..files.len()).map(Some)) {
                let outcomes: Vec<Outcome> = analyze_within(
                    &dir_files(&files, unreported),
                    budget,
                    None,
                    &Config::default(),
                    None,
                    None,
                    None,
                )
                .0
                .into_iter()
                .map(|a| a.outcome)
                .collect();
                let mut wanted = expected.clone();
                if let Some(i) = unreported {
                    wanted[i].clear();
                }
                assert_eq!(
                    findings(&outcomes),
                    wanted,
                    "budget {budget}, {unreported:?}"
                );
            }
        }
    }

    /// The files as a folder's, all reported but the one at `unreported`.
    fn dir_files(files: &[(String, String)], unreported: Option<usize>) -> Vec<DirFile<'_>> {
        files
            .iter()
            .enumerate()
            .map(|(i, (name, text))| DirFile {
                name: name.clone(),
                text: text.as_str(),
                reported: Some(i) != unreported,
            })
            .collect()
    }

    #[test]
    fn fingerprints_named_during_the_analysis_are_those_of_a_second_parse() {
        let files = package();
        let borrowed = dir_files(&files, None);
        let fingerprint =
            |i: usize, text: &str, tree: &Tree, findings: &[goconc_analysis::Finding]| {
                let path = std::path::Path::new(&files[i].0);
                crate::fingerprint::of_findings(path, text, tree.root_node(), findings)
            };
        // All trees kept (the last parsed with its layout held), and none kept (parsed again).
        for budget in [usize::MAX, 0] {
            let analysed = analyze_within(
                &borrowed,
                budget,
                None,
                &Config::default(),
                None,
                Some(&fingerprint),
                None,
            )
            .0;
            let mut named = 0;
            for ((name, text), a) in files.iter().zip(analysed) {
                let during = a.fingerprints.expect("a file with a tree is named");
                let report = crate::check::FileReport {
                    path: name.into(),
                    text: text.clone(),
                    findings: a.outcome.findings,
                    fingerprints: Vec::new(),
                    fixed: 0,
                    original: None,
                    from_stdin: false,
                };
                assert_eq!(during, crate::fingerprint::of_file(&report), "{name}");
                named += during.len();
            }
            assert!(named >= 2, "budget {budget}: {named} findings named");
        }
    }
}
