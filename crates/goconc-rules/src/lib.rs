//! The rule catalog. Each rule lives in its own file, one folder per family, with its
//! documentation beside its code; `docs/rules/*.md` and `goconc rules` are generated from the
//! [`RuleMeta`] values collected here. [`run`] checks one file's model with every rule.
//!
//! Rules read the model's facts (`goconc-model`) and decide what is wrong; they never compute
//! package-wide facts of their own, and no rule reads another rule's module.

// Visitors match on node kinds and then test fields; folding those tests into match guards
// would scatter one check over several arms.
#![allow(clippy::collapsible_match)]

use std::ops::Range;

pub use finding::{apply_edits, Applicability, Finding, Fix, Related, Severity, TextEdit};
use goconc_model::goversion::GoVersion;
pub use goconc_model::index::NodeIndex;
use goconc_model::FileModel;

pub mod atomic;
pub mod channel;
pub mod cond;
pub mod context;
pub mod errgroup;
pub mod finding;
mod fixes;
mod gofmt;
pub mod goroutine;
mod messages;
pub mod mutex;
mod receiver_copy;
pub mod sync;
pub mod test;
#[cfg(test)]
pub(crate) mod test_support;
pub mod time;
pub mod waitgroup;
mod waits;

/// A family of rules: one folder of this crate, one section of the catalog. Its key is the
/// folder's name and what `--select KEY` names; most rule ids start with it, but ids are fixed
/// and some do not (`lock-order-inversion` is a mutex rule, `ticker-not-stopped` a time rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Goroutine,
    WaitGroup,
    Errgroup,
    Mutex,
    Sync,
    Channel,
    Context,
    Time,
    Atomic,
    Test,
    Cond,
}

impl Family {
    /// Every family, in catalog order.
    pub const ALL: [Family; 11] = [
        Family::Goroutine,
        Family::WaitGroup,
        Family::Errgroup,
        Family::Mutex,
        Family::Sync,
        Family::Channel,
        Family::Context,
        Family::Time,
        Family::Atomic,
        Family::Test,
        Family::Cond,
    ];

    /// The folder's name, and the word `--select`/`--ignore` take.
    pub fn key(self) -> &'static str {
        match self {
            Family::Goroutine => "goroutine",
            Family::WaitGroup => "waitgroup",
            Family::Errgroup => "errgroup",
            Family::Mutex => "mutex",
            Family::Sync => "sync",
            Family::Channel => "channel",
            Family::Context => "context",
            Family::Time => "time",
            Family::Atomic => "atomic",
            Family::Test => "test",
            Family::Cond => "cond",
        }
    }

    /// The catalog section's title.
    pub fn title(self) -> &'static str {
        match self {
            Family::Goroutine => "Goroutine lifecycle",
            Family::WaitGroup => "sync.WaitGroup",
            Family::Errgroup => "errgroup",
            Family::Mutex => "Mutexes",
            Family::Sync => "Values that must not be copied",
            Family::Channel => "Channels",
            Family::Context => "Context",
            Family::Time => "Time",
            Family::Atomic => "Atomics",
            Family::Test => "Tests",
            Family::Cond => "sync.Cond",
        }
    }

    pub fn from_key(key: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.key() == key)
    }
}

/// The rules a `--select`/`--ignore` word names: `all`, a family key, or a rule id. None when it
/// names nothing.
pub fn named_by(word: &str) -> Option<Vec<&'static RuleMeta>> {
    let family = Family::from_key(word);
    let rules: Vec<&'static RuleMeta> = all()
        .into_iter()
        .filter(|m| word == "all" || m.id == word || Some(m.family) == family)
        .collect();
    (!rules.is_empty()).then_some(rules)
}

/// What a rule is, for the catalog, configuration and documentation.
#[derive(Debug)]
pub struct RuleMeta {
    pub id: &'static str,
    /// The family: the rule's folder, its catalog section, what `--select FAMILY` selects.
    pub family: Family,
    pub severity: Severity,
    /// One sentence: what the rule finds.
    pub summary: &'static str,
    /// The quick fix, when the rule offers one.
    pub fix: Option<&'static str>,
    /// The rule's page in Markdown: why it matters, a bad and a good example, the fix, and when it
    /// stays silent. Written next to the rule's code.
    pub doc: &'static str,
}

impl RuleMeta {
    /// A finding of this rule at its default severity.
    pub fn finding(&'static self, range: Range<usize>, message: impl Into<String>) -> Finding {
        Finding {
            rule: self.id,
            severity: self.severity,
            range,
            message: tight(message.into()),
            related: Vec::new(),
            fixes: Vec::new(),
        }
    }

    /// The Markdown page of this rule (`docs/rules/ID.md`, `goconc explain ID`).
    pub fn page(&self) -> String {
        let fix = match self.fix {
            Some(fix) => format!("Quick fix: {fix}."),
            None => "No automatic fix.".to_string(),
        };
        format!(
            "# {id}\n\n**{family}** · default severity **{severity}** · {fix}\n\n{summary}\n\n{doc}\n",
            id = self.id,
            family = self.family.title(),
            severity = self.severity,
            summary = self.summary,
            doc = self.doc.trim(),
        )
    }
}

/// `text` without the spare capacity `format!` leaves: a file can draw tens of thousands of
/// findings, each held until the file is written out (45,000 on the closures shape of `goconc
/// bench --shapes`, where the spare room was a twentieth of the check's peak).
fn tight(mut text: String) -> String {
    text.shrink_to_fit();
    text
}

/// Pushes onto a list that most findings keep at one element: `push` on an empty `Vec` makes
/// room for four.
fn push_one<T>(list: &mut Vec<T>, item: T) {
    list.reserve_exact(1);
    list.push(item);
}

impl Finding {
    pub fn with_related(mut self, range: Range<usize>, message: impl Into<String>) -> Finding {
        push_one(
            &mut self.related,
            Related {
                range,
                message: tight(message.into()),
            },
        );
        self
    }

    pub fn with_fix(self, title: impl Into<String>, edits: Vec<TextEdit>) -> Finding {
        self.fix_of(title.into(), edits, Applicability::Safe)
    }

    /// A fix that may change behaviour beyond the bug ([`Applicability::Unsafe`]).
    pub fn with_unsafe_fix(self, title: impl Into<String>, edits: Vec<TextEdit>) -> Finding {
        self.fix_of(title.into(), edits, Applicability::Unsafe)
    }

    fn fix_of(
        mut self,
        title: String,
        mut edits: Vec<TextEdit>,
        applicability: Applicability,
    ) -> Finding {
        if !edits.is_empty() {
            edits.shrink_to_fit();
            push_one(
                &mut self.fixes,
                Fix {
                    title: tight(title),
                    edits,
                    applicability,
                },
            );
        }
        self
    }
}

/// A rule: its description and the function that checks one file.
pub struct Rule {
    pub meta: &'static RuleMeta,
    pub check: fn(&Context, &mut Vec<Finding>),
}

/// Every rule, in catalog order.
pub fn registry() -> &'static [Rule] {
    static RULES: std::sync::OnceLock<Vec<Rule>> = std::sync::OnceLock::new();
    RULES.get_or_init(|| {
        let mut rules = Vec::new();
        rules.extend(goroutine::rules());
        rules.extend(waitgroup::rules());
        rules.extend(errgroup::rules());
        rules.extend(mutex::rules());
        rules.extend(sync::rules());
        rules.extend(channel::rules());
        rules.extend(context::rules());
        rules.extend(time::rules());
        rules.extend(atomic::rules());
        rules.extend(test::rules());
        rules.extend(cond::rules());
        rules
    })
}

/// Every rule's description, in catalog order.
pub fn all() -> Vec<&'static RuleMeta> {
    registry().iter().map(|r| r.meta).collect()
}

pub fn find(id: &str) -> Option<&'static RuleMeta> {
    registry().iter().map(|r| r.meta).find(|m| m.id == id)
}

/// What every rule gets for one file: the model, the Go version, and an index of the nodes
/// rules look for, gathered in one walk so that no rule walks the whole tree again.
pub struct Context<'a, 't> {
    pub model: &'a FileModel<'t>,
    pub src: &'t str,
    pub go_version: GoVersion,
    pub is_test_file: bool,
    pub index: NodeIndex<'t>,
    /// Lock-state runs of the bodies that call lock methods, by body start, computed once before
    /// the rules run and shared by every rule that reads them.
    pub lock_traces: crate::HashMap<usize, std::rc::Rc<goconc_model::locks::LockTrace<'t>>>,
    /// Top-level functions left out of the model, in document order (an incremental analysis
    /// keeps their findings): rules that read the text of the whole file pass over them.
    pub skipped: Vec<std::ops::Range<usize>>,
    /// The file's local channels and how each is used, built once before the rules run and
    /// shared by the rules that read them (each built its own before). Empty when the file
    /// starts no goroutine: every one of those rules is about a goroutine.
    pub channels: goconc_model::channels::Channels<'t>,
    /// The bodies that call lock methods and those calls (see [`mutex::locking_bodies`]),
    /// listed once for the six mutex rules that start from them (each listed its own before).
    locking_bodies: mutex::LockingBodies<'t>,
    /// In a file that starts no goroutine but sends: its local channels, for the two rules that
    /// judge a send there (see [`Self::local_channels`]). Built once here, not by each rule (a
    /// cell built on first use would make the context invariant in `'t`).
    channels_without_goroutines: goconc_model::channels::Channels<'t>,
    /// Where channels are closed twice or sent on after a close, computed on first use and
    /// shared by the rules that read it.
    close_events: std::cell::OnceCell<Vec<goconc_model::channels::CloseEvent>>,
    /// The file's field accesses and method calls judged with the package's types, collected
    /// on first use from the recorded lock traces and shared by the rules that read them.
    guard_facts: std::cell::OnceCell<goconc_model::guards::GuardFacts>,
}

impl<'t> Context<'_, 't> {
    /// Whether `offset` lies in a function left out of the model.
    pub fn is_skipped(&self, offset: usize) -> bool {
        let i = self.skipped.partition_point(|r| r.start <= offset);
        i > 0 && offset < self.skipped[i - 1].end
    }

    /// The top-level function left out of the model that `offset` lies in.
    pub fn skipped_function_at(&self, offset: usize) -> Option<tree_sitter::Node<'t>> {
        let i = self.skipped.partition_point(|r| r.start <= offset);
        let range = self.skipped.get(i.checked_sub(1)?)?;
        if offset >= range.end {
            return None;
        }
        let item = self
            .model
            .root
            .descendant_for_byte_range(range.start, range.end)?;
        (item.byte_range() == *range).then_some(item)
    }

    /// Does the code at `range` run under a deferred `recover()` that stops its panic (a test
    /// that closes a channel twice to see the runtime's error; see [`goconc_model::panics`])?
    pub fn panic_is_expected(&self, range: &std::ops::Range<usize>) -> bool {
        self.model
            .root
            .descendant_for_byte_range(range.start, range.end)
            .is_some_and(|node| goconc_model::panics::recovered(self.model, node))
    }

    /// The file's local channels, also in a file that starts no goroutine (where
    /// [`Self::channels`] is left empty): a send there can still wait for a receiver.
    pub fn local_channels(&self) -> &goconc_model::channels::Channels<'t> {
        match self.channels.is_empty() {
            true => &self.channels_without_goroutines,
            false => &self.channels,
        }
    }

    /// The close dataflow's events over every function of the file that closes a channel.
    pub fn close_events(&self) -> &[goconc_model::channels::CloseEvent] {
        self.close_events
            .get_or_init(|| goconc_model::channels::close_events(self.model, &self.index))
    }

    /// The field accesses and method calls of the file's functions, with the locks held at
    /// each (see [`goconc_model::guards`]).
    pub fn guard_facts(&self) -> &goconc_model::guards::GuardFacts {
        self.guard_facts.get_or_init(|| {
            goconc_model::guards::collect_replaying(self.model, |body| self.lock_trace(body))
        })
    }

    /// The lock state over a function body (None when it takes no lock or cannot be followed).
    pub fn lock_trace(
        &self,
        body: tree_sitter::Node<'t>,
    ) -> Option<std::rc::Rc<goconc_model::locks::LockTrace<'t>>> {
        self.lock_traces.get(&body.start_byte()).cloned()
    }
}

/// Whether some rule's findings outside functions depend on what is inside every function of
/// the file (an incremental analysis then leaves no function out).
pub fn need_every_function(decls: &goconc_model::FileDecls) -> bool {
    mutex::embedded_exported::fix_reads_every_function(decls)
        || receiver_copy::judged_against_every_method(decls)
        || mutex::double_lock::groups_across_functions(decls)
}

/// Runs the lock state once over every body that calls a lock method, or a function of the
/// package that leaves a lock held for its caller.
pub fn lock_traces<'t>(
    model: &FileModel<'t>,
    index: &NodeIndex<'t>,
) -> crate::HashMap<usize, std::rc::Rc<goconc_model::locks::LockTrace<'t>>> {
    let mut bodies = std::collections::BTreeSet::new();
    for name in ["Lock", "RLock", "Unlock", "RUnlock"] {
        for &call in index.calls_named(name) {
            if let Some(body) = model
                .function_of(call)
                .and_then(|f| model.functions[f].body)
            {
                bodies.insert((body.start_byte(), body.id()));
            }
        }
    }
    for body in mutex::keeper_calling_bodies(model, index) {
        bodies.insert((body.start_byte(), body.id()));
    }
    let mut traces = crate::HashMap::default();
    for function in &model.functions {
        let Some(body) = function.body else { continue };
        if !bodies.contains(&(body.start_byte(), body.id())) {
            continue;
        }
        if let Some(trace) = goconc_model::locks::LockTrace::record(model, body) {
            traces.insert(body.start_byte(), std::rc::Rc::new(trace));
        }
    }
    traces
}

pub use goconc_syntax::{HashMap, HashSet};

/// The findings of one file, and the rules that failed on it (a bug in goconc: they are logged and
/// their findings dropped, the rest still count).
#[derive(Debug, Default)]
pub struct Outcome {
    pub findings: Vec<Finding>,
    pub failed_rules: Vec<&'static str>,
    /// Top-level declarations no rule read because their brackets nest too deep
    /// (`goconc_model::scope::too_deep_items`): front ends say so once, where a user sees it.
    pub too_deep: Vec<std::ops::Range<usize>>,
}

/// How the configuration sets one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleSetting {
    Off,
    /// The rule's own severity: its default, or the lower one it gives to weaker evidence.
    Default,
    /// Every finding of the rule at this severity.
    Severity(Severity),
}

/// What the rules need to know about a file besides its model.
#[derive(Debug, Clone, Copy)]
pub struct FileFacts {
    /// The Go version the file is compiled with.
    pub go_version: GoVersion,
    /// `_test.go` files: test-only rules apply.
    pub is_test_file: bool,
}

/// Runs every rule the settings leave on over a model. `skipped`: the top-level functions the
/// model leaves out, in document order. Findings come in rule order, their line references not
/// yet resolved ([`finding::settle`] does that once the caller has merged what it keeps).
pub fn run<'t>(
    model: FileModel<'t>,
    index: NodeIndex<'t>,
    facts: FileFacts,
    skipped: Vec<std::ops::Range<usize>>,
    setting: &dyn Fn(&'static RuleMeta) -> RuleSetting,
) -> Outcome {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    let src = model.src;
    let mut outcome = Outcome::default();
    // A bug here fails the channel rules (they then see no channel), not the analysis.
    let starts_goroutines = !index.go_statements.is_empty() || !index.calls_named("Go").is_empty();
    let channels = catch_unwind(AssertUnwindSafe(|| match starts_goroutines {
        true => goconc_model::channels::Channels::build(&model, index.calls_named("make")),
        false => goconc_model::channels::Channels::default(),
    }))
    .unwrap_or_else(|_| {
        outcome.failed_rules.push("channel model");
        goconc_model::channels::Channels::default()
    });
    let sends_without_goroutines = !starts_goroutines && !index.send_statements.is_empty();
    let channels_without_goroutines =
        catch_unwind(AssertUnwindSafe(|| match sends_without_goroutines {
            true => goconc_model::channels::Channels::build(&model, index.calls_named("make")),
            false => goconc_model::channels::Channels::default(),
        }))
        .unwrap_or_else(|_| {
            outcome.failed_rules.push("channel model");
            goconc_model::channels::Channels::default()
        });
    let context = Context {
        model: &model,
        src,
        go_version: facts.go_version,
        is_test_file: facts.is_test_file,
        lock_traces: lock_traces(&model, &index),
        locking_bodies: mutex::collect_locking_bodies(&model, &index),
        index,
        skipped,
        channels,
        channels_without_goroutines,
        close_events: Default::default(),
        guard_facts: Default::default(),
    };
    for rule in registry() {
        let set = setting(rule.meta);
        if set == RuleSetting::Off {
            continue;
        }
        // Each rule adds to the file's list itself (a list per rule, then copied, held every
        // finding twice); what a rule that fails had added is dropped.
        let start = outcome.findings.len();
        let findings = &mut outcome.findings;
        match catch_unwind(AssertUnwindSafe(|| (rule.check)(&context, findings))) {
            Ok(()) => {
                // A rule may lower its own default (a Go-version dependent severity); the
                // configuration overrides it only when the user set it.
                if let RuleSetting::Severity(severity) = set {
                    for finding in &mut outcome.findings[start..] {
                        finding.severity = severity;
                    }
                }
            }
            Err(_) => {
                outcome.findings.truncate(start);
                outcome.failed_rules.push(rule.meta.id);
            }
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The folder each rule's `META` is written in, read from this crate's sources.
    fn folder_of(id: &str) -> Option<String> {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let needle = format!("id: \"{id}\",");
        for dir in std::fs::read_dir(&src).ok()?.flatten() {
            let Ok(files) = std::fs::read_dir(dir.path()) else {
                continue;
            };
            for file in files.flatten() {
                let text = std::fs::read_to_string(file.path()).unwrap_or_default();
                if text.contains("pub static META") && text.contains(&needle) {
                    return Some(dir.file_name().to_string_lossy().into_owned());
                }
            }
        }
        None
    }

    #[test]
    fn every_rule_lives_in_the_folder_of_its_family() {
        for meta in all() {
            let folder =
                folder_of(meta.id).unwrap_or_else(|| panic!("no rule file declares `{}`", meta.id));
            assert_eq!(
                folder,
                meta.family.key(),
                "`{}` is declared in `{folder}/` but its family is `{}`",
                meta.id,
                meta.family.key()
            );
        }
    }

    #[test]
    fn a_family_key_selects_every_rule_of_the_family_and_nothing_else() {
        let mutex = named_by("mutex").unwrap();
        assert!(mutex.iter().any(|m| m.id == "lock-order-inversion"));
        assert!(mutex.iter().any(|m| m.id == "guarded-field-unlocked"));
        assert!(mutex.iter().all(|m| m.family == Family::Mutex));
        let time = named_by("time").unwrap();
        assert!(time.iter().any(|m| m.id == "ticker-not-stopped"));
        assert_eq!(named_by("mutex-defer-lock").unwrap().len(), 1);
        assert_eq!(named_by("all").unwrap().len(), all().len());
        assert!(named_by("mute").is_none());
        for family in Family::ALL {
            assert!(named_by(family.key()).is_some(), "{family:?} has no rule");
        }
    }
}
