//! Reuse across edits of one file. An editor changes one function at a time, so what the engine
//! learnt about every other top-level function still holds: [`IncrementalFile`] keeps, per
//! top-level function or method, its declaration facts (summary, atomic accesses) and its
//! findings, and recomputes only the functions whose text changed. Field accesses and method
//! calls (the guard facts) also depend on the callees' summaries: they are kept per function
//! while no function's declaration facts change ([`guard_facts`]). While the file has a syntax
//! error between its functions, every fact is collected over the whole file (which functions
//! the parser sees then depends on more than their text); an error inside one function's text
//! leaves the others as they were.
//!
//! The result is always what [`FileDecls::collect`] and [`crate::analyze`] give for the same text
//! (the tests check it over random edits of real files). What a function's facts and findings
//! depend on besides its own text is folded into two keys; when a key changes, everything kept
//! under it is dropped:
//! - the declaration context: the file's text outside function bodies (package clause, imports,
//!   types, variables, signatures, comments between declarations), and what the parser made of
//!   a broken declaration; a function's doc comment is in that function's key instead;
//! - the findings context: that, plus the facts of every function of the file, the caller's key
//!   for the other files of the package, and the options.
//!
//! Offsets are left out of both keys wherever a fact lies inside a function: typing moves the
//! facts below it, and no finding kept for one function points into another.
//!
//! Findings are kept with offsets relative to their function. One whose range, related
//! locations or fix edits reach outside its function is not kept: that function is analysed
//! again on every run.
//!
//! A rule may also read what the functions left out of the model say: `guarded-field-unlocked`
//! infers a field's guard from its accesses in every method. The file's own declarations carry
//! those accesses only for the types the file itself declares, so each function's accesses as
//! the whole package sees them are kept too, and handed to the rules with the package. When what
//! they say (offsets left out) changes, the findings kept for the other functions may rest on
//! evidence that is gone: the file is analysed again with every function.

mod guard_facts;

use crate::{HashMap, HashSet};
use goconc_syntax::NodeExt;
use guard_facts::ItemGuards;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use tree_sitter::Node;

use crate::{effective_go_version, finish, run_rules, FileOptions, Finding, Outcome, SourceFile};
use goconc_model::atomics::{self, AtomicAccess};
use goconc_model::goroutines::{self, GoFacts};
use goconc_model::guards::{self, FieldAccess, MethodCall};
use goconc_model::scope::{is_function_item, top_level_items};
use goconc_model::summary::{self, FuncSummary};
use goconc_model::usage::{self, Usage};
use goconc_model::{FileDecls, FileModel, Imports, PackageModel};
use goconc_rules::finding::{line_refs, map_line_refs, LineOf};
use goconc_syntax::text;

/// What the engine keeps of one file between analyses. One per open document; not shared.
#[derive(Default)]
pub struct IncrementalFile {
    decl_context: u64,
    /// Per type declaration of the file (by a hash of its text): the key [`declaration_context`]
    /// folds in for it, so a keystroke does not walk every type's tokens again.
    type_keys: HashMap<u64, u64>,
    /// The imports and signatures of the file: they depend on nothing but the text outside
    /// function bodies.
    signatures: Option<(Imports, FileDecls)>,
    /// Per function (by [`TopFunction::key`]): its declaration facts, offsets relative to the
    /// function's start.
    item_decls: HashMap<u64, ItemDecls>,
    findings_context: u64,
    /// Per function: its findings (before suppressions), relative to the function's start.
    item_findings: HashMap<u64, Vec<Finding>>,
    /// Per function: its field accesses judged with the whole package's types (what
    /// `guarded-field-unlocked` finds in it), relative to the function's start. Kept under the
    /// findings context like its findings.
    item_accesses: HashMap<u64, Vec<FieldAccess>>,
    /// Per function: its calls of methods of types holding a mutex, judged the same way, with
    /// the locks held at each (what `guarded-field-unlocked` reads of how methods are entered).
    item_calls: HashMap<u64, Vec<MethodCall>>,
    /// A key of those accesses of every function at the last analysis, offsets left out.
    accesses_key: u64,
    /// Per function: its guard facts as the file's own declarations judge them (field
    /// accesses, method calls, constructed calls, method-call counts), offsets relative to
    /// the function's start. Kept under [`IncrementalFile::guards_context`].
    item_guards: HashMap<u64, ItemGuards>,
    /// What every function's guard facts read besides its own text: the declaration context
    /// and the declaration facts of every function (offsets left out).
    guards_context: u64,
    /// The declarations (by a hash of their text) already reported as too deep to read.
    too_deep_told: HashSet<u64>,
}

/// A top-level function or method and a 64-bit hash of its text and doc comment, computed once
/// per analysis: the key of everything kept for it. The key of a function with a syntax error
/// also hashes how the parser read it: error recovery may read the same text another way when
/// the text after it changes.
#[derive(Clone, Copy)]
struct TopFunction<'t> {
    node: Node<'t>,
    key: u64,
}

/// The file's top-level declarations (see [`top_level_items`]) and, of those, its functions and
/// methods: listed once per analysis.
struct TopLevel<'t> {
    items: Vec<Node<'t>>,
    functions: Vec<TopFunction<'t>>,
    /// The parser's error recovery reaches past the functions' own text: the file's top level
    /// is an error, or a declaration other than a function has one (an unclosed type can take
    /// in the methods after it). A function then is not read alone as among its file's items,
    /// and the file's facts are collected over the whole file.
    broken_between_functions: bool,
    /// The keys of functions whose text another function repeats (a duplicate declaration, or
    /// two `init`s alike): one slot would hold what both say, so nothing is kept for them.
    repeated: HashSet<u64>,
}

impl<'t> TopLevel<'t> {
    fn of(root: Node<'t>, src: &str) -> TopLevel<'t> {
        let items = top_level_items(root, src);
        let functions: Vec<TopFunction> = items
            .iter()
            .enumerate()
            .filter(|(_, n)| is_function_item(**n))
            .map(|(at, &node)| TopFunction {
                node,
                key: function_key(node, doc_start(&items, at, src), src),
            })
            .collect();
        let broken_between_functions = root.has_error()
            && (root.is_error()
                || root.is_missing()
                || goconc_syntax::named_children(root)
                    .any(|item| item.has_error() && !is_function_item(item)));
        let mut seen: HashSet<u64> = HashSet::default();
        let repeated = functions
            .iter()
            .filter(|f| !seen.insert(f.key))
            .map(|f| f.key)
            .collect();
        TopLevel {
            items,
            functions,
            broken_between_functions,
            repeated,
        }
    }
}

/// See [`TopFunction::key`]: the function's text with its doc comment (from `doc_start`).
fn function_key(node: Node, doc_start: usize, src: &str) -> u64 {
    let mut key = DefaultHasher::new();
    src.get(doc_start..node.start_byte()).hash(&mut key);
    text(node, src).hash(&mut key);
    if node.has_error() {
        hash_tokens_but_comments(node, src, &mut key);
    }
    key.finish()
}

#[derive(Clone, Default)]
struct ItemDecls {
    summaries: Vec<(String, FuncSummary)>,
    goroutines: Vec<(String, std::sync::Arc<GoFacts>)>,
    atomics: Vec<AtomicAccess>,
    usage: Usage,
    call_sites: Vec<atomics::CallSite>,
}

impl ItemDecls {
    /// Hashes what other functions may learn from these facts. Offsets are left out: a finding
    /// that points at another function is never kept (see [`within`]), so where the other
    /// function's calls are does not matter to what is kept.
    fn hash_without_offsets(&self, key: &mut impl Hasher) {
        for (name, s) in &self.summaries {
            name.hash(key);
            s.hash_without_offsets(key);
        }
        for (name, g) in &self.goroutines {
            name.hash(key);
            g.hash_for_reuse(key);
        }
        for a in &self.atomics {
            (
                &a.root,
                &a.fields,
                &a.func,
                &a.function,
                &a.locks,
                a.test_entry,
            )
                .hash(key);
        }
        self.usage.hash(key);
        self.call_sites.hash(key);
    }
}

/// How much of the last analysis was reused, for logs and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reuse {
    /// Top-level functions and methods in the file.
    pub functions: usize,
    /// Of those, how many were analysed again.
    pub analysed: usize,
}

impl IncrementalFile {
    pub fn new() -> IncrementalFile {
        IncrementalFile::default()
    }

    /// Of the declarations an outcome of this file's `text` names as too deep to read, those not
    /// named before: a server says so once per declaration, not at every keystroke.
    pub fn untold_too_deep(&mut self, text: &str, outcome: &Outcome) -> Vec<Range<usize>> {
        let mut current = HashSet::default();
        let mut untold = Vec::new();
        for range in &outcome.too_deep {
            let key = hash_of(&text.get(range.clone()).unwrap_or(""));
            current.insert(key);
            if !self.too_deep_told.contains(&key) {
                untold.push(range.clone());
            }
        }
        self.too_deep_told = current;
        untold
    }

    /// The file's declarations (equal to [`FileDecls::collect`]), then its findings (equal to
    /// [`crate::analyze`] with the package `package_of` returns). `package_of` gets this file's
    /// declarations and a key of what they say (offsets left out: equal keys, equal facts for
    /// the other files), and returns the package model together with a key that changes
    /// whenever the declarations of the package's other files change.
    pub fn analyze(
        &mut self,
        file: &SourceFile,
        options: &FileOptions,
        package_of: impl FnOnce(&Arc<FileDecls>, u64) -> (Arc<PackageModel>, u64),
    ) -> (Arc<FileDecls>, Outcome, Reuse) {
        let root = file.tree().root_node();
        let src = file.text();
        let top = TopLevel::of(root, src);
        let decls = catch_unwind(AssertUnwindSafe(|| self.collect_decls(root, &top, src)));
        let (decls, decls_key) = match decls {
            Ok(found) => found,
            Err(_) => {
                // A bug in goconc: start from scratch next time.
                *self = IncrementalFile::default();
                (FileDecls::default(), 0)
            }
        };
        let decls = Arc::new(decls);
        let (package, others_key) = package_of(&decls, decls_key);
        let context = hash_of(&(
            decls_key,
            others_key,
            options_key(options),
            effective_go_version(src, options),
        ));
        let reuse_functions = !goconc_rules::need_every_function(&decls);
        let (outcome, reuse) =
            self.findings(file, &top, &package, options, context, reuse_functions);
        (decls, outcome, reuse)
    }

    /// The declarations of the file, reusing the facts of unchanged functions, and a key of
    /// everything in them that findings may depend on (offsets left out).
    fn collect_decls(&mut self, root: Node, top: &TopLevel, src: &str) -> (FileDecls, u64) {
        let (items, functions) = (&top.items[..], &top.functions[..]);
        let context = declaration_context(items, src, &mut self.type_keys);
        if context != self.decl_context || self.signatures.is_none() {
            self.item_decls.clear();
            self.decl_context = context;
            let imports = Imports::from_tree(root, src);
            let signatures = FileDecls::signatures(items, src, &imports);
            self.signatures = Some((imports, signatures));
        }
        let (imports, signatures) = self.signatures.as_ref().expect("set above");
        let imports = imports.clone();
        let mut decls = signatures.clone();
        // The one offset among the signatures: a doc comment typed above the first function
        // moves it without changing the declaration context.
        decls.declarations_start = goconc_model::quiet::declarations_start(items, src);
        // Summaries and atomic accesses of the functions not seen before.
        let mut fresh: HashMap<u64, ItemDecls> = HashMap::default();
        let chan_fields = goconc_model::channels::fields::chan_fields_of(signatures);
        for f in functions {
            if self.item_decls.contains_key(&f.key) || fresh.contains_key(&f.key) {
                continue;
            }
            let start = f.node.start_byte();
            // The goroutine facts resolve calls against the names the summary built.
            let names = summary::NamesByFunction::default();
            let mut summaries: Vec<(String, FuncSummary)> =
                summary::collect_in(&[f.node], src, &imports, &names)
                    .into_iter()
                    .collect();
            for (_, s) in &mut summaries {
                shift_summary(s, start, Direction::ToRelative);
            }
            let mut found = atomics::collect_in(&[f.node], src, &imports);
            for a in &mut found {
                a.offset = a.offset.saturating_sub(start);
            }
            let goroutines = goroutines::collect_in(&[f.node], src, &imports, &chan_fields, &names)
                .into_iter()
                .map(|(key, facts)| (key, std::sync::Arc::new(facts)))
                .collect();
            fresh.insert(
                f.key,
                ItemDecls {
                    summaries,
                    goroutines,
                    atomics: found,
                    usage: usage::collect_in(&[f.node], src, &imports),
                    call_sites: atomics::call_sites_in(&[f.node], src, &imports),
                },
            );
        }
        for f in functions {
            let start = f.node.start_byte();
            let facts = part(&fresh, &self.item_decls, f.key);
            for (key, s) in &facts.summaries {
                let mut s = s.clone();
                shift_summary(&mut s, start, Direction::ToAbsolute);
                decls.summaries.insert(key.clone(), std::sync::Arc::new(s));
            }
            decls.usage.merge(&facts.usage);
            decls.goroutines.extend(facts.goroutines.iter().cloned());
            decls
                .atomics
                .extend(facts.atomics.iter().cloned().map(|mut a| {
                    a.offset += start;
                    a
                }));
            decls.call_sites.extend(facts.call_sites.iter().cloned());
        }
        // In broken code a function the parser nests in an ERROR item is seen one way alone
        // and another way among its file's items: its facts are then collected over the whole
        // file, as `FileDecls::collect` does, not kept per function (slower while the file is
        // broken that way, and the same as the CLI). An error inside a function's own text
        // (a half-typed line) leaves the others as they were.
        let broken = top.broken_between_functions;
        if broken {
            let whole = FileDecls::collect(root, src);
            decls.summaries = whole.summaries;
            decls.goroutines = whole.goroutines;
            decls.atomics = whole.atomics;
            decls.usage = whole.usage;
            decls.call_sites = whole.call_sites;
        }
        // As `FileDecls::collect` gives them: each once, in order.
        decls.call_sites.sort();
        decls.call_sites.dedup();
        decls.usage.normalize();
        let mut key = DefaultHasher::new();
        context.hash(&mut key);
        for f in functions {
            part(&fresh, &self.item_decls, f.key).hash_without_offsets(&mut key);
        }
        if broken {
            let mut summaries: Vec<_> = decls.summaries.iter().collect();
            summaries.sort_by(|a, b| a.0.cmp(b.0));
            let mut goroutine_facts: Vec<_> = decls.goroutines.iter().collect();
            goroutine_facts.sort_by(|a, b| a.0.cmp(b.0));
            (
                summaries,
                goroutine_facts,
                &decls.atomics,
                &decls.usage,
                &decls.call_sites,
            )
                .hash(&mut key);
        }
        // Field accesses and method calls, judged with the file's own types and summaries.
        let guards_context = key.clone().finish();
        let (with_accesses, guard_facts) = if broken {
            // Which functions the parser sees then depends on more than their text: collected
            // over the whole file, as `FileDecls::collect` does.
            self.item_guards.clear();
            decls.field_accesses_in(root, items, src)
        } else {
            self.guard_facts(decls, root, top, src, &imports, guards_context)
        };
        decls = with_accesses;
        // Where in its function a fact is does not enter the key: the findings kept for other
        // functions never point into this one (see [`within`]), and the facts are hashed in
        // document order, so what reorders them still changes the key. A fact outside every
        // top-level function (in a variable's function literal, or broken code) keeps its
        // offset: nothing is kept for it to be relative to.
        let position = |offset: usize| containing(functions, offset).map_or(Some(offset), |_| None);
        for a in &guard_facts.accesses {
            (
                &a.type_name,
                &a.field,
                &a.guards,
                a.expects_held,
                a.write,
                a.element,
                a.lazy_init,
                a.set_up,
                &a.function,
                position(a.offset),
                a.len,
                (a.method, a.pointer_only),
            )
                .hash(&mut key);
        }
        for c in &guard_facts.calls {
            (
                &c.callee,
                &c.caller,
                &c.guards,
                c.receiver,
                c.how,
                position(c.offset),
                c.len,
            )
                .hash(&mut key);
        }
        for c in &decls.constructed_calls {
            (
                &c.constructor,
                &c.method,
                &c.caller,
                position(c.offset),
                c.len,
            )
                .hash(&mut key);
        }
        decls.method_call_counts.hash(&mut key);
        decls.field_accesses = guard_facts.accesses;
        decls.method_calls = guard_facts.calls;
        // Keep only the functions the file has now.
        let current: HashSet<u64> = functions.iter().map(|f| f.key).collect();
        self.item_decls.retain(|k, _| current.contains(k));
        self.item_decls.extend(fresh);
        (decls, key.finish())
    }

    /// The findings of the file, analysing only the functions with nothing kept under
    /// `context`.
    fn findings(
        &mut self,
        file: &SourceFile,
        top: &TopLevel,
        package: &PackageModel,
        options: &FileOptions,
        context: u64,
        reuse_functions: bool,
    ) -> (Outcome, Reuse) {
        let (items, functions) = (&top.items[..], &top.functions[..]);
        let (root, src) = (file.tree().root_node(), file.text());
        let imports = match &self.signatures {
            Some((imports, _)) => imports.clone(),
            None => Imports::from_tree(root, src),
        };
        let given_package = package;
        if context != self.findings_context {
            self.item_findings.clear();
            self.item_accesses.clear();
            self.item_calls.clear();
            self.findings_context = context;
        }
        // Two functions of the same text (a duplicate declaration, invalid Go) are one
        // declaration to the rules, which report one of them ("one finding per field per
        // function"): what was kept for the text would be repeated at both. Analyse them again.
        let repeated = &top.repeated;
        let kept_for = |f: &TopFunction| {
            reuse_functions && !repeated.contains(&f.key) && self.item_findings.contains_key(&f.key)
        };
        let skip: HashSet<usize> = functions
            .iter()
            .filter(|f| kept_for(f))
            .map(|f| f.node.start_byte())
            .collect();
        let reuse = Reuse {
            functions: functions.len(),
            analysed: functions.len() - skip.len(),
        };
        // The field accesses of the functions left out, as the package sees them: the file's
        // declarations hold them only for its own types (a type declared in a sibling file
        // would lose the evidence of every method not analysed again).
        let left_out = |f: &&TopFunction| skip.contains(&f.node.start_byte());
        let kept_accesses: Vec<FieldAccess> =
            kept_in(functions, left_out, &self.item_accesses, |a| &mut a.offset);
        let kept_calls: Vec<MethodCall> =
            kept_in(functions, left_out, &self.item_calls, |c| &mut c.offset);
        let with_kept;
        let package = if kept_accesses.is_empty() && kept_calls.is_empty() {
            package
        } else {
            // Which fields reach a lock is computed on the caller's model, so the copy takes it
            // over and the caller's next model too (`PackageModel::reuse_type_facts`), instead
            // of once per keystroke on a copy that is dropped.
            package.lock_reach();
            let mut model = package.clone();
            model.add_field_accesses(kept_accesses);
            model.add_method_calls(kept_calls);
            with_kept = model;
            &with_kept
        };
        let built = catch_unwind(AssertUnwindSafe(|| {
            let (model, index) =
                FileModel::build_partial(root, src, package, &skip, imports, items);
            let facts = guards::collect(&model);
            (model, index, facts.accesses, facts.calls)
        }));
        let Ok((model, index, accesses, calls)) = built else {
            self.item_findings.clear();
            self.item_accesses.clear();
            self.item_calls.clear();
            return (
                Outcome {
                    findings: Vec::new(),
                    failed_rules: vec!["model"],
                    too_deep: Vec::new(),
                },
                reuse,
            );
        };
        // Functions are in document order, so these ranges are too.
        let skipped: Vec<Range<usize>> = functions
            .iter()
            .filter(|f| skip.contains(&f.node.start_byte()))
            .map(|f| f.node.byte_range())
            .collect();
        let mut outcome = run_rules(model, index, options, skipped);
        if !outcome.failed_rules.is_empty() {
            // Findings of a failed rule are missing: keep nothing that lacks them.
            self.item_findings.clear();
            self.item_accesses.clear();
            self.item_calls.clear();
        }
        // What the analysed functions found, None once one finding reaches outside them.
        let mut fresh: HashMap<u64, Option<Vec<Finding>>> = functions
            .iter()
            .filter(|f| !skip.contains(&f.node.start_byte()))
            .map(|f| (f.key, Some(Vec::new())))
            .collect();
        let mut findings = Vec::with_capacity(outcome.findings.len());
        for finding in outcome.findings.drain(..) {
            let Some(f) = containing(functions, finding.range.start) else {
                findings.push(finding);
                continue;
            };
            if skip.contains(&f.node.start_byte()) {
                // Seen by a rule that reads the whole file, without the model of that
                // function: what was kept for it stands.
                continue;
            }
            let span = f.node.byte_range();
            if let Some(slot) = fresh.get_mut(&f.key) {
                match slot {
                    Some(kept) if within(&finding, &span) => {
                        kept.push(relocate(&finding, span.start, Direction::ToRelative))
                    }
                    _ => *slot = None,
                }
            }
            findings.push(finding);
        }
        for f in functions
            .iter()
            .filter(|f| skip.contains(&f.node.start_byte()))
        {
            if let Some(kept) = self.item_findings.get(&f.key) {
                let start = f.node.start_byte();
                findings.extend(
                    kept.iter()
                        .map(|k| relocate(k, start, Direction::ToAbsolute)),
                );
            }
        }
        if outcome.failed_rules.is_empty() {
            let current: HashSet<u64> = functions.iter().map(|f| f.key).collect();
            self.item_findings.retain(|k, _| current.contains(k));
            self.item_accesses.retain(|k, _| current.contains(k));
            let analysed = |f: &&TopFunction| !skip.contains(&f.node.start_byte());
            self.item_accesses
                .extend(by_function(functions, analysed, accesses, |a| {
                    &mut a.offset
                }));
            self.item_calls.retain(|k, _| current.contains(k));
            self.item_calls
                .extend(by_function(functions, analysed, calls, |c| &mut c.offset));
            let mut key = DefaultHasher::new();
            for f in functions {
                for a in self.item_accesses.get(&f.key).into_iter().flatten() {
                    (
                        &a.type_name,
                        &a.field,
                        &a.guards,
                        a.expects_held,
                        a.write,
                        &a.function,
                        a.len,
                    )
                        .hash(&mut key);
                }
                for c in self.item_calls.get(&f.key).into_iter().flatten() {
                    (&c.callee, &c.caller, &c.guards, c.receiver, c.how, c.len).hash(&mut key);
                }
                0xffu8.hash(&mut key);
            }
            let accesses_key = key.finish();
            let evidence_moved = accesses_key != self.accesses_key;
            self.accesses_key = accesses_key;
            if evidence_moved && !skip.is_empty() {
                // What the analysed functions tell of the fields changed: a finding kept for
                // another function may rest on what they said before.
                self.item_findings.clear();
                return self.findings(file, top, given_package, options, context, false);
            }
            for (key, found) in fresh {
                match found {
                    // Both copies' findings went to one slot: keep nothing for that text.
                    Some(_) if repeated.contains(&key) => self.item_findings.remove(&key),
                    Some(found) => self.item_findings.insert(key, found),
                    // Reaches outside its function: analysed again next time.
                    None => self.item_findings.remove(&key),
                };
            }
        }
        finish(&mut findings, Some(root), src, options);
        outcome.findings = findings;
        outcome.too_deep = goconc_model::scope::too_deep_items(root, src);
        (outcome, reuse)
    }
}

/// `facts` of the functions `analysed` says yes to, by function key (every such function gets
/// its list, maybe empty), offsets made relative to the function's start.
fn by_function<T>(
    functions: &[TopFunction],
    analysed: impl Fn(&&TopFunction) -> bool,
    facts: Vec<T>,
    offset: impl Fn(&mut T) -> &mut usize,
) -> HashMap<u64, Vec<T>> {
    let mut grouped: HashMap<u64, Vec<T>> = functions
        .iter()
        .filter(analysed)
        .map(|f| (f.key, Vec::new()))
        .collect();
    for mut fact in facts {
        let Some(f) = containing(functions, *offset(&mut fact)) else {
            continue;
        };
        if let Some(kept) = grouped.get_mut(&f.key) {
            *offset(&mut fact) -= f.node.start_byte();
            kept.push(fact);
        }
    }
    grouped
}

/// What was kept for the functions `left_out` says yes to, in their order, offsets made
/// absolute again.
fn kept_in<T: Clone>(
    functions: &[TopFunction],
    left_out: impl Fn(&&TopFunction) -> bool,
    kept: &HashMap<u64, Vec<T>>,
    offset: impl Fn(&mut T) -> &mut usize,
) -> Vec<T> {
    let mut out = Vec::new();
    for f in functions.iter().filter(left_out) {
        for fact in kept.get(&f.key).into_iter().flatten() {
            let mut fact = fact.clone();
            *offset(&mut fact) += f.node.start_byte();
            out.push(fact);
        }
    }
    out
}

/// The facts of one function: just collected or kept from before.
fn part<'a>(
    fresh: &'a HashMap<u64, ItemDecls>,
    kept: &'a HashMap<u64, ItemDecls>,
    key: u64,
) -> &'a ItemDecls {
    static EMPTY: ItemDecls = ItemDecls {
        summaries: Vec::new(),
        goroutines: Vec::new(),
        atomics: Vec::new(),
        usage: Usage {
            fields_read: Vec::new(),
            detached_callees: Vec::new(),
            callees_given_context: Vec::new(),
            nil_assigned: Vec::new(),
            fields_taken: Vec::new(),
        },
        call_sites: Vec::new(),
    };
    fresh.get(&key).or_else(|| kept.get(&key)).unwrap_or(&EMPTY)
}

/// A key of the file's text outside function bodies, blank lines included (they decide which
/// comment documents which declaration), functions' doc comments left to the functions' keys
/// (see [`doc_start`]). Comments inside type declarations count only when one
/// names a guarding mutex (`// guarded by mu`): the rest do not change what a type declares.
/// `type_keys` remembers each type declaration's part of the key by its text; entries of
/// declarations that are gone are dropped.
fn declaration_context(items: &[Node], src: &str, type_keys: &mut HashMap<u64, u64>) -> u64 {
    let mut key = DefaultHasher::new();
    let mut used = HashMap::with_capacity_and_hasher(type_keys.len(), Default::default());
    let mut from = 0;
    for (at, &item) in items.iter().enumerate() {
        let text_before = |end: usize| src.get(from..end).unwrap_or("");
        if let Some(body) = item.field("body").filter(|_| is_function_item(item)) {
            // A function's doc comment is in its own key: only its facts read it.
            text_before(doc_start(items, at, src).max(from)).hash(&mut key);
            src.get(item.start_byte()..body.start_byte()).hash(&mut key);
            from = body.end_byte();
        } else if item.kind_str() == "type_declaration" {
            text_before(item.start_byte()).hash(&mut key);
            let declaration = text(item, src);
            let tokens_key = || {
                let mut type_key = DefaultHasher::new();
                if names_a_guard(declaration) {
                    declaration.hash(&mut type_key);
                } else {
                    hash_tokens_but_comments(item, src, &mut type_key);
                }
                type_key.finish()
            };
            // A broken declaration's tokens depend on the code around it as much as on its
            // text (error recovery): only a clean one is remembered by its text.
            let type_key = if item.has_error() {
                tokens_key()
            } else {
                let by_text = hash_of(&declaration);
                let type_key = *type_keys.entry(by_text).or_insert_with(tokens_key);
                used.insert(by_text, type_key);
                type_key
            };
            type_key.hash(&mut key);
            from = item.end_byte();
        } else if let Some(declares) = declared_outside_values(item, src) {
            text_before(item.start_byte()).hash(&mut key);
            declares.hash(&mut key);
            from = item.end_byte();
        }
        // A comment's text is in the text around the items (or, above a function, in its
        // key): a doc comment line typed adds an item that changes nothing else.
        if item.kind_str() != "comment" {
            item.kind_id().hash(&mut key);
        }
        // Error recovery reads past a broken declaration: text after it can change how the
        // same text reads (`wg *sync.Wan int` read one way, then another once the body below
        // changed). What the parser made of it counts, not only its text; a function's body is
        // its own key's.
        if item.has_error() && item.kind_str() != "type_declaration" {
            if is_function_item(item) {
                let body = item.field("body");
                for part in goconc_syntax::named_children(item) {
                    if Some(part) != body && part.has_error() {
                        hash_tokens_but_comments(part, src, &mut key);
                    }
                }
            } else {
                hash_tokens_but_comments(item, src, &mut key);
            }
        }
    }
    src.get(from..).unwrap_or("").hash(&mut key);
    *type_keys = used;
    key.finish()
}

/// Where the doc comment of the function `items[at]` starts (its start when it has none): the
/// lines right above it that start with `//`, up to a line that does not. Between two items
/// lies nothing but comments, blank space and declarations too deep to read, and nothing but
/// the function itself reads a comment there (its doc comment: "the caller must hold `mu`",
/// see [`goconc_syntax::doc_comment`]). So that text is hashed into the function's key, not the
/// declaration context: typing a doc comment analyses that function again, not the file. The
/// text is only scanned, within the gap (linear in the file).
fn doc_start(items: &[Node], at: usize, src: &str) -> usize {
    let function = items[at].start_byte();
    let floor = at
        .checked_sub(1)
        .map_or(0, |p| items[p].end_byte())
        .min(function);
    let Some(gap) = src.get(floor..function) else {
        return function;
    };
    // The function starts its line.
    let Some(mut line_end) = gap.rfind('\n') else {
        return function;
    };
    if !gap[line_end + 1..].trim().is_empty() {
        return function;
    }
    let shares_previous_line = floor > 0 && src.as_bytes().get(floor - 1) != Some(&b'\n');
    let mut start = function;
    loop {
        let above = &gap[..line_end];
        let line_start = above.rfind('\n').map_or(0, |i| i + 1);
        let line = &above[line_start..];
        let comment = line.trim_start();
        // A comment after the previous item on its line is that item's.
        if !comment.starts_with("//") || (line_start == 0 && shares_previous_line) {
            break;
        }
        start = floor + line_start + (line.len() - comment.len());
        if line_start == 0 {
            break;
        }
        line_end = line_start - 1;
    }
    start
}

/// What functions can learn from a variable declaration without a call or a function literal
/// (a generated table): its names and type, not its value. Nothing else reads it: the model
/// passes over it, and a variable's type comes from its declaration, not its value.
fn declared_outside_values(item: Node, src: &str) -> Option<String> {
    let declaration = text(item, src);
    match item.kind_str() {
        "var_declaration" if !declaration.contains('(') => {
            Some(declaration.split('{').next().unwrap_or("").to_string())
        }
        _ => None,
    }
}

fn names_a_guard(declaration: &str) -> bool {
    let lower = declaration.to_ascii_lowercase();
    lower.contains("guarded by") || lower.contains("protected by")
}

/// Hashes a node's tree, comments left out: each node's kind and field, each token's text, and
/// where each node's children end. The shape counts, not only the tokens: after a broken line,
/// the same tokens can be read as a struct or as an error (a newline typed after `sync.RWgo`).
fn hash_tokens_but_comments(node: Node, src: &str, key: &mut impl Hasher) {
    let mut cursor = node.walk();
    loop {
        let current = cursor.node();
        let is_comment = current.kind_str() == "comment";
        if !is_comment {
            current.kind_id().hash(key);
            cursor.field_id().map(|id| id.get()).hash(key);
            if current.child_count() == 0 {
                text(current, src).hash(key);
            }
            if cursor.goto_first_child() {
                continue;
            }
        }
        loop {
            if cursor.node() == node {
                return;
            }
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                return;
            }
            // The end of a node's children.
            u16::MAX.hash(key);
        }
    }
}

/// A key of the options findings depend on (the configuration's maps sorted, so equal options
/// give equal keys).
fn options_key(options: &FileOptions) -> u64 {
    let mut severities: Vec<_> = options.config.severities.iter().collect();
    severities.sort();
    hash_of(&(
        severities,
        options.config.go_version,
        options.module_go_version,
        options.is_test_file,
    ))
}

fn hash_of(value: &impl Hash) -> u64 {
    let mut key = DefaultHasher::new();
    value.hash(&mut key);
    key.finish()
}

/// The top-level function whose range holds `offset` (`functions` are in document order).
fn containing<'f, 't>(
    functions: &'f [TopFunction<'t>],
    offset: usize,
) -> Option<&'f TopFunction<'t>> {
    let i = functions.partition_point(|f| f.node.start_byte() <= offset);
    let f = functions.get(i.checked_sub(1)?)?;
    (offset < f.node.end_byte()).then_some(f)
}

/// Whether a finding's range, related locations and fix edits all lie inside `span`.
fn within(finding: &Finding, span: &Range<usize>) -> bool {
    let inside = |r: &Range<usize>| span.start <= r.start && r.end <= span.end;
    let refs_inside = |message: &str| {
        line_refs(message)
            .into_iter()
            .all(|offset| span.start <= offset && offset <= span.end)
    };
    inside(&finding.range)
        && refs_inside(&finding.message)
        && finding
            .related
            .iter()
            .all(|r| inside(&r.range) && refs_inside(&r.message))
        && finding
            .fixes
            .iter()
            .all(|fix| fix.edits.iter().all(|e| inside(&e.range)))
}

#[derive(Clone, Copy)]
enum Direction {
    ToRelative,
    ToAbsolute,
}

fn move_offset(offset: usize, start: usize, direction: Direction) -> usize {
    match direction {
        Direction::ToRelative => offset.saturating_sub(start),
        Direction::ToAbsolute => offset + start,
    }
}

fn relocate(finding: &Finding, start: usize, direction: Direction) -> Finding {
    let mut finding = finding.clone();
    let shift = |r: &mut Range<usize>| {
        *r = move_offset(r.start, start, direction)..move_offset(r.end, start, direction);
    };
    let move_refs = |message: &mut String| {
        *message = map_line_refs(message, |offset| {
            LineOf(move_offset(offset, start, direction)).to_string()
        });
    };
    shift(&mut finding.range);
    move_refs(&mut finding.message);
    for related in &mut finding.related {
        shift(&mut related.range);
        move_refs(&mut related.message);
    }
    for fix in &mut finding.fixes {
        for edit in &mut fix.edits {
            shift(&mut edit.range);
        }
    }
    finding
}

fn shift_summary(summary: &mut FuncSummary, start: usize, direction: Direction) {
    summary.shift_offsets(|offset| move_offset(offset, start, direction));
}
