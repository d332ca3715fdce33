//! Every rule a finding can name: the rule catalog of `goconc-rules` and the engine's own rules
//! about suppression comments, seen alike by `goconc rules`, `explain`, the docs, SARIF's rule
//! list and `--select`.

use goconc_analysis::suppress::{self, SuppressionRule};
use goconc_analysis::{rules, RuleMeta, Severity};

#[derive(Clone, Copy)]
pub enum Entry {
    Rule(&'static RuleMeta),
    Engine(&'static SuppressionRule),
}

impl Entry {
    pub fn id(self) -> &'static str {
        match self {
            Entry::Rule(m) => m.id,
            Entry::Engine(r) => r.id,
        }
    }

    pub fn family_key(self) -> &'static str {
        match self {
            Entry::Rule(m) => m.family.key(),
            Entry::Engine(_) => suppress::FAMILY_KEY,
        }
    }

    pub fn family_title(self) -> &'static str {
        match self {
            Entry::Rule(m) => m.family.title(),
            Entry::Engine(_) => suppress::FAMILY_TITLE,
        }
    }

    pub fn severity(self) -> Severity {
        match self {
            Entry::Rule(m) => m.severity,
            Entry::Engine(r) => r.severity,
        }
    }

    pub fn summary(self) -> &'static str {
        match self {
            Entry::Rule(m) => m.summary,
            Entry::Engine(r) => r.summary,
        }
    }

    pub fn fix(self) -> Option<&'static str> {
        match self {
            Entry::Rule(m) => m.fix,
            Entry::Engine(r) => r.fix,
        }
    }

    pub fn doc(self) -> &'static str {
        match self {
            Entry::Rule(m) => m.doc,
            Entry::Engine(r) => r.doc,
        }
    }

    /// The rule's Markdown page.
    pub fn page(self) -> String {
        match self {
            Entry::Rule(m) => m.page(),
            Entry::Engine(r) => r.page(),
        }
    }
}

/// Every rule, in catalog order, the engine's last.
pub fn all() -> Vec<Entry> {
    rules::all()
        .into_iter()
        .map(Entry::Rule)
        .chain(suppress::RULES.iter().map(Entry::Engine))
        .collect()
}

pub fn find(id: &str) -> Option<Entry> {
    all().into_iter().find(|e| e.id() == id)
}

/// The family keys, in catalog order.
pub fn family_keys() -> Vec<&'static str> {
    rules::Family::ALL
        .iter()
        .map(|f| f.key())
        .chain([suppress::FAMILY_KEY])
        .collect()
}

/// The rules grouped by family, families in catalog order: (key, title, rules).
pub fn by_family() -> Vec<(&'static str, &'static str, Vec<Entry>)> {
    let all = all();
    let mut groups: Vec<(&'static str, &'static str, Vec<Entry>)> = Vec::new();
    for key in family_keys() {
        let members: Vec<Entry> = all
            .iter()
            .copied()
            .filter(|e| e.family_key() == key)
            .collect();
        if let Some(first) = members.first() {
            groups.push((key, first.family_title(), members));
        }
    }
    groups
}

/// The rule ids a `--select`/`--ignore` word names: `all`, a family key, or a rule id. None when
/// it names nothing.
pub fn named_by(word: &str) -> Option<Vec<&'static str>> {
    let ids: Vec<&'static str> = all()
        .into_iter()
        .filter(|e| word == "all" || e.id() == word || e.family_key() == word)
        .map(Entry::id)
        .collect();
    (!ids.is_empty()).then_some(ids)
}
