//! What the server says about a rule: the hover on a finding (summary, why it matters, the fix,
//! the link) and the whole page (`goconc.explain`). Both come from the text `docs/rules/ID.md`
//! is generated from: the rules' `RuleMeta` and the engine's own suppression rules.

use goconc_analysis::suppress;
use goconc_analysis::{rules, Severity};

/// One rule of the catalog, whichever layer declares it.
#[derive(Clone, Copy)]
pub struct RuleDoc {
    pub id: &'static str,
    pub severity: Severity,
    pub summary: &'static str,
    pub fix: Option<&'static str>,
    /// The page's body after the summary (Markdown, `## ` sections).
    doc: &'static str,
    page: fn(&'static str) -> String,
}

fn rule_page(id: &'static str) -> String {
    rules::find(id).map(|m| m.page()).unwrap_or_default()
}

fn engine_page(id: &'static str) -> String {
    suppress::find_rule(id)
        .map(|r| r.page())
        .unwrap_or_default()
}

/// The rule `id`, if the catalog has it.
pub fn find(id: &str) -> Option<RuleDoc> {
    if let Some(m) = rules::find(id) {
        return Some(RuleDoc {
            id: m.id,
            severity: m.severity,
            summary: m.summary,
            fix: m.fix,
            doc: m.doc,
            page: rule_page,
        });
    }
    suppress::find_rule(id).map(|r| RuleDoc {
        id: r.id,
        severity: r.severity,
        summary: r.summary,
        fix: r.fix,
        doc: r.doc,
        page: engine_page,
    })
}

/// Every rule id, in catalog order.
pub fn all_ids() -> Vec<&'static str> {
    rules::all()
        .into_iter()
        .map(|m| m.id)
        .chain(suppress::RULES.iter().map(|r| r.id))
        .collect()
}

/// "unknown rule `x`", with the closest ids when some are close.
pub fn unknown_rule(id: &str) -> String {
    let ids = all_ids();
    match goconc_analysis::config::closest(id, ids.iter().copied()) {
        Some(close) => format!("unknown rule `{id}`; did you mean `{close}`?"),
        None => format!("unknown rule `{id}` (`goconc rules` lists them)"),
    }
}

impl RuleDoc {
    /// The rule's page: what `docs/rules/ID.md` and `goconc explain ID` show.
    pub fn page(&self) -> String {
        (self.page)(self.id)
    }

    /// The text of the page's `## title` section, without its heading.
    fn section(&self, title: &str) -> Option<&'static str> {
        let doc = self.doc;
        let heading = format!("## {title}\n");
        let start = if doc.starts_with(&heading) {
            heading.len()
        } else {
            doc.find(&format!("\n{heading}"))? + heading.len() + 1
        };
        let rest = &doc[start..];
        let end = rest.find("\n## ").unwrap_or(rest.len());
        Some(rest[..end].trim())
    }

    /// The hover of a finding of this rule: its summary, why it matters, the fix, and the link
    /// to the page (`page_url`). `severity`: what the finding reports at (the configuration may
    /// differ from the default).
    pub fn hover(&self, severity: Severity, page_url: Option<&str>) -> String {
        let mut out = format!(
            "**goconc** `{}` · {severity}\n\n{}\n",
            self.id, self.summary
        );
        if let Some(why) = self.section("Why it matters") {
            out.push_str(&format!("\n#### Why it matters\n\n{why}\n"));
        }
        match (self.section("Fix"), self.fix) {
            (Some(fix), _) => out.push_str(&format!("\n#### Fix\n\n{fix}\n")),
            (None, Some(fix)) => out.push_str(&format!("\n#### Fix\n\n{fix}.\n")),
            (None, None) => {}
        }
        if let Some(url) = page_url {
            out.push_str(&format!("\n[The rule's page: {}]({url})\n", self.id));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_has_a_page_and_a_hover_with_its_sections() {
        let ids = all_ids();
        assert!(ids.contains(&"mutex-defer-lock") && ids.contains(&"unused-suppression"));
        for id in ids {
            let doc = find(id).unwrap();
            assert!(doc.page().starts_with(&format!("# {id}\n")), "{id}");
            let hover = doc.hover(doc.severity, Some("https://x.test/r.md"));
            assert!(hover.contains(doc.summary), "{id}");
            assert!(hover.contains("#### Why it matters\n\n"), "{id}: {hover}");
            assert!(hover.contains("#### Fix\n\n"), "{id}: {hover}");
            assert!(
                !hover.contains("\n## "),
                "{id}: a later section leaked in: {hover}"
            );
            assert!(hover.ends_with("(https://x.test/r.md)\n"), "{id}");
        }
        assert!(find("nope").is_none());
        assert!(unknown_rule("mutex-defer-lok").contains("`mutex-defer-lock`"));
    }
}
