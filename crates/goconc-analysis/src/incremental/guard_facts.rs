//! The guard facts (field accesses, method calls, constructed calls, method-call counts) of a
//! file whose syntax errors (if any) lie inside its functions, kept per function across edits.
//!
//! A function's guard facts are judged with the file's own declarations: they read its own
//! text, the file's types and signatures, and the declaration facts of every function (the
//! summaries of its callees). The caller folds all but the text into one key; while it holds,
//! the facts of a function whose text is unchanged are kept, offsets relative to its start,
//! and only the functions typed in are judged again (a keystroke in one method of a large
//! file was judging all of them).

use super::{containing, IncrementalFile, TopFunction, TopLevel};
use crate::{HashMap, HashSet};
use goconc_model::guards::{self, ConstructedCall, FieldAccess, MethodCall};
use goconc_model::{FileDecls, Imports};
use tree_sitter::Node;

/// What one function tells of the fields it touches and the methods it calls, judged with the
/// file's own declarations (see [`FileDecls::field_accesses_in`]).
pub(super) struct ItemGuards {
    accesses: Vec<FieldAccess>,
    calls: Vec<MethodCall>,
    constructed: Vec<ConstructedCall>,
    counts: Vec<(String, u32)>,
}

impl IncrementalFile {
    /// The guard facts of a file broken nowhere but inside functions, as
    /// [`FileDecls::field_accesses_in`] gives them: a function's facts depend on its own text
    /// and on what `context` folds in (the file's declarations and every function's
    /// declaration facts), so those of a function whose text is unchanged are kept while
    /// `context` is. Sets the file's constructed calls and method-call counts.
    pub(super) fn guard_facts(
        &mut self,
        mut decls: FileDecls,
        root: Node,
        top: &TopLevel,
        src: &str,
        imports: &Imports,
        context: u64,
    ) -> (FileDecls, guards::GuardFacts) {
        let functions = &top.functions[..];
        if context != self.guards_context {
            self.item_guards.clear();
            self.guards_context = context;
        }
        // Two functions of one text (two `init`s alike) would share one slot: both are judged
        // again each time.
        let repeated = &top.repeated;
        let kept =
            |f: &TopFunction| !repeated.contains(&f.key) && self.item_guards.contains_key(&f.key);
        let skip: HashSet<usize> = functions
            .iter()
            .filter(|f| kept(f))
            .map(|f| f.node.start_byte())
            .collect();
        // The syntax-only parts, per function judged again.
        let mut fresh: HashMap<usize, ItemGuards> = HashMap::default();
        for f in functions.iter().filter(|f| !kept(f)) {
            let (constructed, counts) = guards::constructed_calls_and_counts(&[f.node], src);
            fresh.insert(
                f.node.start_byte(),
                ItemGuards {
                    accesses: Vec::new(),
                    calls: Vec::new(),
                    constructed,
                    counts,
                },
            );
        }
        let mut counts: std::collections::BTreeMap<String, u32> = Default::default();
        decls.constructed_calls.clear();
        for f in functions {
            let start = f.node.start_byte();
            match fresh.get(&start) {
                Some(found) => {
                    decls
                        .constructed_calls
                        .extend(found.constructed.iter().cloned());
                    for (name, n) in &found.counts {
                        *counts.entry(name.clone()).or_default() += n;
                    }
                }
                None => {
                    let Some(found) = self.item_guards.get(&f.key) else {
                        continue;
                    };
                    decls
                        .constructed_calls
                        .extend(found.constructed.iter().map(|c| {
                            let mut c = c.clone();
                            c.declaration += start;
                            c.offset += start;
                            c
                        }));
                    for (name, n) in &found.counts {
                        *counts.entry(name.clone()).or_default() += n;
                    }
                }
            }
        }
        decls.method_call_counts = counts.into_iter().collect();
        let (decls, found) = decls.guard_facts_skipping(root, &top.items, src, &skip, imports);
        // Each fact under the function it is in; one in no top-level function has nothing to
        // be kept under: the file is collected whole.
        let outside = |offset: usize| containing(functions, offset).is_none();
        if found.accesses.iter().any(|a| outside(a.offset))
            || found.calls.iter().any(|c| outside(c.offset))
        {
            self.item_guards.clear();
            return decls.field_accesses_in(root, &top.items, src);
        }
        let start_of = |offset: usize| containing(functions, offset).map(|f| f.node.start_byte());
        for access in found.accesses {
            if let Some(facts) = start_of(access.offset).and_then(|s| fresh.get_mut(&s)) {
                facts.accesses.push(access);
            }
        }
        for call in found.calls {
            if let Some(facts) = start_of(call.offset).and_then(|s| fresh.get_mut(&s)) {
                facts.calls.push(call);
            }
        }
        // In document order, function by function, as a walk of the whole file finds them.
        let mut facts = guards::GuardFacts::default();
        for f in functions {
            let start = f.node.start_byte();
            if let Some(found) = fresh.get(&start) {
                facts.accesses.extend(found.accesses.iter().cloned());
                facts.calls.extend(found.calls.iter().cloned());
            } else if let Some(found) = self.item_guards.get(&f.key) {
                facts.accesses.extend(found.accesses.iter().map(|a| {
                    let mut a = a.clone();
                    a.offset += start;
                    a
                }));
                facts.calls.extend(found.calls.iter().map(|c| {
                    let mut c = c.clone();
                    c.offset += start;
                    c
                }));
            }
        }
        let current: HashSet<u64> = functions.iter().map(|f| f.key).collect();
        self.item_guards.retain(|k, _| current.contains(k));
        for f in functions.iter().filter(|f| !repeated.contains(&f.key)) {
            let start = f.node.start_byte();
            let Some(mut found) = fresh.remove(&start) else {
                continue;
            };
            for a in &mut found.accesses {
                a.offset -= start;
            }
            for c in &mut found.calls {
                c.offset -= start;
            }
            for c in &mut found.constructed {
                c.declaration -= start;
                c.offset -= start;
            }
            self.item_guards.insert(f.key, found);
        }
        (decls, facts)
    }
}
