//! Suppression comments, and the findings about them.
//!
//! What silences a finding:
//! - `//goconc:ignore RULE[,RULE…] reason` (a rule id, a family key such as `mutex`, or `all`);
//! - staticcheck's `//lint:ignore goconc/RULE[,goconc/RULE…] reason` (other tools' checks in the
//!   list are theirs; `goconc/all` or `goconc/*` names every rule);
//! - golangci-lint's `//nolint`, `//nolint:goconc` and `//nolint:all` (every goconc rule), with the
//!   reason after a second `//` as nolintlint asks (`//nolint:goconc // why`);
//! - file-wide: `//lint:file-ignore goconc/RULE reason` and `//goconc:file-ignore RULE reason`,
//!   anywhere in the file.
//!
//! A directive at the end of a line covers that line. A directive alone on its line covers the
//! next line that is not a comment; when that line starts a declaration (`func`, `type`, `var`,
//! `const`), the whole declaration. A finding is covered when the line it starts on is.
//!
//! The findings about directives ([`UNUSED_SUPPRESSION`], [`SUPPRESSION_WITHOUT_REASON`]) are the
//! engine's own: they are not in the rule catalog of `goconc-rules`, but the configuration knows
//! them ([`RULES`]) and the front ends list them with the catalog.

use std::ops::Range;

use crate::rules;
use goconc_rules::finding::{Finding, Severity, TextEdit};

/// A suppression that silenced nothing (reported when asked: `--report-unused-suppressions`).
pub const UNUSED_SUPPRESSION: &str = "unused-suppression";
/// A suppression that gives no reason.
pub const SUPPRESSION_WITHOUT_REASON: &str = "suppression-without-reason";

/// What the catalog says of one of the engine's own rules.
#[derive(Debug)]
pub struct SuppressionRule {
    pub id: &'static str,
    pub severity: Severity,
    pub summary: &'static str,
    pub fix: Option<&'static str>,
    /// The rule's page (Markdown), as the rules of the catalog have.
    pub doc: &'static str,
}

impl SuppressionRule {
    /// The Markdown page (`docs/rules/ID.md`, `goconc explain ID`), laid out as a rule's.
    pub fn page(&self) -> String {
        let fix = match self.fix {
            Some(fix) => format!("Quick fix: {fix}."),
            None => "No automatic fix.".to_string(),
        };
        format!(
            "# {id}\n\n**{family}** · default severity **{severity}** · {fix}\n\n{summary}\n\n{doc}\n",
            id = self.id,
            family = FAMILY_TITLE,
            severity = self.severity,
            summary = self.summary,
            doc = self.doc.trim(),
        )
    }
}

/// The family key of the engine's own rules (`--select suppression`).
pub const FAMILY_KEY: &str = "suppression";
/// Their section of the catalog.
pub const FAMILY_TITLE: &str = "Suppression comments";

/// The engine's own rules, in catalog order.
pub static RULES: [SuppressionRule; 2] = [
    SuppressionRule {
        id: UNUSED_SUPPRESSION,
        severity: Severity::Warning,
        summary: "A suppression comment that silences no finding, or names no goconc rule (reported with `--report-unused-suppressions`).",
        fix: Some("Remove the comment"),
        doc: r#"
## Why it matters

A suppression outlives the finding it was written for: the code is fixed, the rule grows more
precise, or the comment names the wrong rule and never silenced anything. A stale suppression
then hides the next real finding on that line. This is ruff's `unused-noqa` (RUF100) and
golangci-lint's `nolintlint` check of unused directives.

It is reported only when asked for: `goconc check --report-unused-suppressions`, or
`report-unused-suppressions = true` in `goconc.toml`. A directive that names only rules that are
off (by `--select`, `--ignore` or `goconc.toml`) is not reported: goconc cannot tell whether they
would still fire. A name that is neither a rule nor a family is reported, with the closest ids.

## Example

```go
func (c *Cache) Get(k string) string {
	c.mu.Lock()
	defer c.mu.Unlock() //goconc:ignore mutex-defer-lock fixed in #42, comment left behind
	return c.m[k]
}
```

## Fix

Remove the comment (the quick fix does, when the comment suppresses only goconc rules and all of
them are unused), or correct the rule it names.
"#,
    },
    SuppressionRule {
        id: SUPPRESSION_WITHOUT_REASON,
        severity: Severity::Hint,
        summary: "A suppression comment that does not say why the finding is wrong or accepted.",
        fix: None,
        doc: r#"
## Why it matters

A reviewer reading `//goconc:ignore mutex-unlock-missing` cannot tell a false positive from a
shortcut; the next person to touch the code cannot tell whether the reason still holds. The
reason is the text after the rule ids (`//goconc:ignore RULE reason`, `//lint:ignore goconc/RULE
reason`) or after a second `//` on a `nolint` line (`//nolint:goconc // reason`), as
golangci-lint's `nolintlint` asks. staticcheck refuses a `lint:ignore` without one.

It is a hint, and hints fail `goconc check` by default (`--fail-on hint`): turn it off with
`--ignore suppression-without-reason` or `suppression-without-reason = "off"` under `[rules]` in
`goconc.toml`.

## Example

```go
mu.Lock() //nolint:goconc
```

## Fix

```go
mu.Lock() //nolint:goconc // released by unlockAll, which every caller defers
```

## When it stays silent

A bare `//nolint` or `//nolint:all` is usually written for other linters: it needs a reason
here only where it silenced a goconc finding. A directive that names goconc (`//goconc:ignore`,
`//lint:ignore goconc/RULE`, `//nolint:goconc`) always does.
"#,
    },
];

/// The engine rule with this id.
pub fn find_rule(id: &str) -> Option<&'static SuppressionRule> {
    RULES.iter().find(|r| r.id == id)
}

/// How a directive is spelled (for messages and for what its reason looks like).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spelling {
    GoconcIgnore,
    GoconcFileIgnore,
    LintIgnore,
    LintFileIgnore,
    Nolint,
}

impl Spelling {
    /// How to write a reason in this spelling, for the hint's message.
    fn with_reason(self) -> &'static str {
        match self {
            Spelling::GoconcIgnore => "//goconc:ignore RULE reason",
            Spelling::GoconcFileIgnore => "//goconc:file-ignore RULE reason",
            Spelling::LintIgnore => "//lint:ignore goconc/RULE reason",
            Spelling::LintFileIgnore => "//lint:file-ignore goconc/RULE reason",
            Spelling::Nolint => "//nolint:goconc // reason",
        }
    }
}

/// One suppression comment.
#[derive(Debug, Clone)]
pub struct Directive {
    pub spelling: Spelling,
    /// From its `//` to the end of its line (trailing spaces left out).
    pub range: Range<usize>,
    /// The names it gives (rule ids or family keys, `goconc/` removed); None: every rule.
    pub names: Option<Vec<String>>,
    pub reason: Option<String>,
    /// Whether only goconc rules are named (so removing the comment changes nothing else).
    pub only_ours: bool,
    /// Whether goconc is named (`//goconc:…`, `goconc/RULE`, `//nolint:goconc`), not only reached
    /// by `//nolint` or `//nolint:all`, which other linters' users write.
    pub names_goconc: bool,
    /// Whether the comment is alone on its line.
    pub own_line: bool,
    /// The 0-based lines it covers (inclusive), or None for the whole file.
    pub covers: Option<(u32, u32)>,
}

impl Directive {
    fn covers_line(&self, line: u32) -> bool {
        self.covers
            .is_none_or(|(first, last)| first <= line && line <= last)
    }

    /// None when it does not suppress `rule`; else the indices of the names that do (none when
    /// it names every rule).
    fn matching_names(&self, rule: &str) -> Option<Vec<usize>> {
        let Some(names) = &self.names else {
            return Some(Vec::new());
        };
        let family = rule_family(rule);
        let hits: Vec<usize> = names
            .iter()
            .enumerate()
            .filter(|(_, n)| *n == "all" || *n == rule || Some(n.as_str()) == family)
            .map(|(i, _)| i)
            .collect();
        (!hits.is_empty()).then_some(hits)
    }
}

fn rule_family(rule: &str) -> Option<&'static str> {
    match rules::find(rule) {
        Some(meta) => Some(meta.family.key()),
        None => find_rule(rule).map(|_| FAMILY_KEY),
    }
}

/// The directives of one file.
#[derive(Debug, Default)]
pub struct Suppressions {
    directives: Vec<Directive>,
    /// Byte offset where each line starts (only filled when there are directives).
    line_starts: Vec<usize>,
}

/// Whether a text may hold a directive (a quick test before reading it line by line).
fn may_hold_directives(src: &str) -> bool {
    src.contains("goconc:") || src.contains("lint")
}

impl Suppressions {
    /// The directives of `src`. With the file's syntax tree, a directive above a declaration
    /// covers the whole declaration; without one, the next line only.
    pub fn parse(src: &str, root: Option<tree_sitter::Node>) -> Suppressions {
        let mut found = Suppressions::default();
        if !may_hold_directives(src) {
            return found;
        }
        let mut offset = 0;
        let lines: Vec<(usize, &str)> = src
            .split_inclusive('\n')
            .map(|line| {
                let start = offset;
                offset += line.len();
                (start, line.trim_end_matches(['\n', '\r']))
            })
            .collect();
        found.line_starts = lines.iter().map(|(start, _)| *start).collect();
        for (line_no, &(line_start, line)) in lines.iter().enumerate() {
            let Some(comment_at) = line.find("//") else {
                continue;
            };
            let own_line = line[..comment_at].trim().is_empty();
            // A directive may follow other comment text (`// want …`, `// TODO //nolint`).
            let mut search = comment_at;
            while let Some(at) = line[search..].find("//").map(|i| search + i) {
                search = at + 2;
                let Some(parsed) = parse_directive(&line[at + 2..]) else {
                    continue;
                };
                let line_no = line_no as u32;
                let covers = match parsed.spelling {
                    Spelling::GoconcFileIgnore | Spelling::LintFileIgnore => None,
                    _ if own_line && at == comment_at => {
                        Some(covered_below(&lines, line_no as usize, root))
                    }
                    _ => Some((line_no, line_no)),
                };
                found.directives.push(Directive {
                    spelling: parsed.spelling,
                    range: line_start + at..line_start + line.trim_end().len(),
                    names: parsed.names,
                    reason: parsed.reason,
                    only_ours: parsed.only_ours,
                    names_goconc: parsed.names_goconc,
                    own_line: own_line && at == comment_at,
                    covers,
                });
                break;
            }
        }
        found
    }

    pub fn is_empty(&self) -> bool {
        self.directives.is_empty()
    }

    pub fn directives(&self) -> &[Directive] {
        &self.directives
    }

    /// The 0-based line of a byte offset.
    fn line_of(&self, offset: usize) -> u32 {
        self.line_starts
            .partition_point(|&start| start <= offset)
            .saturating_sub(1) as u32
    }

    /// Whether a finding of `rule` starting on the 0-based `line` is suppressed.
    pub fn suppresses(&self, line: u32, rule: &str) -> bool {
        self.directives
            .iter()
            .any(|d| d.covers_line(line) && d.matching_names(rule).is_some())
    }

    /// Drops the suppressed findings and adds the findings about the directives themselves:
    /// unused ones when `config.report_unused_suppressions`, those without a reason, each at the
    /// severity the configuration gives it (or not at all when it is off).
    pub fn apply(&self, findings: &mut Vec<Finding>, src: &str, config: &crate::Config) {
        if self.directives.is_empty() {
            return;
        }
        // Per directive, per name (or one slot for "every rule"): whether it silenced something.
        let mut used: Vec<Vec<bool>> = self
            .directives
            .iter()
            .map(|d| vec![false; d.names.as_ref().map_or(1, Vec::len)])
            .collect();
        findings.retain(|f| {
            let line = self.line_of(f.range.start);
            let mut suppressed = false;
            for (d, slots) in self.directives.iter().zip(used.iter_mut()) {
                if !d.covers_line(line) {
                    continue;
                }
                if let Some(names) = d.matching_names(f.rule) {
                    suppressed = true;
                    if names.is_empty() {
                        slots[0] = true;
                    }
                    for i in names {
                        slots[i] = true;
                    }
                }
            }
            !suppressed
        });
        let severity = |id: &str| {
            let rule = find_rule(id).map_or(Severity::Hint, |r| r.severity);
            config.severity_of(id, rule)
        };
        if let Some(severity) = severity(SUPPRESSION_WITHOUT_REASON) {
            // A bare `//nolint` or `//nolint:all` is goconc's business only where it silenced a
            // goconc finding: elsewhere it is another linter's directive.
            let ours = |(d, slots): &(&Directive, &Vec<bool>)| {
                d.reason.is_none() && (d.names_goconc || slots.iter().any(|u| *u))
            };
            for (d, _) in self.directives.iter().zip(&used).filter(ours) {
                findings.push(Finding {
                    rule: SUPPRESSION_WITHOUT_REASON,
                    severity,
                    range: d.range.clone(),
                    message: format!(
                        "`{}` gives no reason: say why the finding is wrong or accepted (`{}`)",
                        &src[d.range.clone()],
                        d.spelling.with_reason()
                    ),
                    related: Vec::new(),
                    fixes: Vec::new(),
                });
            }
        }
        if !config.report_unused_suppressions {
            return;
        }
        let Some(severity) = severity(UNUSED_SUPPRESSION) else {
            return;
        };
        for (d, slots) in self.directives.iter().zip(&used) {
            if let Some(finding) = unused_finding(d, slots, src, config, severity) {
                findings.push(finding);
            }
        }
    }
}

/// The finding for a directive whose names (some or all) silenced nothing, if any.
fn unused_finding(
    d: &Directive,
    used: &[bool],
    src: &str,
    config: &crate::Config,
    severity: Severity,
) -> Option<Finding> {
    let mut problems = Vec::new();
    let mut unused_names = 0;
    match &d.names {
        None => {
            if !used[0] {
                problems.push("no goconc finding here to suppress".to_string());
            }
        }
        Some(names) => {
            for (name, &was_used) in names.iter().zip(used) {
                if was_used {
                    continue;
                }
                let Some(rule_ids) = named_rules(name) else {
                    unused_names += 1;
                    problems.push(unknown_name(name));
                    continue;
                };
                // Rules that are off cannot tell: they may still fire once turned on.
                if rule_ids
                    .iter()
                    .all(|id| config.severity_of(id, Severity::Hint).is_none())
                {
                    continue;
                }
                unused_names += 1;
                problems.push(format!("no `{name}` finding here to suppress"));
            }
            if unused_names < names.len() && problems.is_empty() {
                return None;
            }
        }
    }
    if problems.is_empty() {
        return None;
    }
    let whole = d.names.as_ref().is_none_or(|n| unused_names == n.len());
    let mut finding = Finding {
        rule: UNUSED_SUPPRESSION,
        severity,
        range: d.range.clone(),
        message: format!("unused suppression: {}", problems.join("; ")),
        related: Vec::new(),
        fixes: Vec::new(),
    };
    if whole && d.only_ours {
        finding.fixes.push(goconc_rules::Fix {
            title: "Remove the unused suppression comment".to_string(),
            edits: vec![removal(d, src)],
            applicability: goconc_rules::Applicability::Safe,
        });
    }
    Some(finding)
}

/// The rule ids a directive's name stands for: a rule of the catalog or of the engine, a family,
/// or `all`. None when it names nothing.
fn named_rules(name: &str) -> Option<Vec<&'static str>> {
    if let Some(rule) = find_rule(name) {
        return Some(vec![rule.id]);
    }
    if name == FAMILY_KEY {
        return Some(RULES.iter().map(|r| r.id).collect());
    }
    rules::named_by(name).map(|metas| metas.into_iter().map(|m| m.id).collect())
}

fn unknown_name(name: &str) -> String {
    let mut candidates: Vec<(usize, &str)> = rules::all()
        .iter()
        .map(|m| m.id)
        .chain(rules::Family::ALL.iter().map(|f| f.key()))
        .chain(RULES.iter().map(|r| r.id))
        .map(|id| (crate::config::edit_distance(name, id), id))
        .filter(|(d, _)| *d <= (name.len() / 3).max(2))
        .collect();
    candidates.sort();
    match candidates.first() {
        Some((_, id)) => format!("`{name}` is no goconc rule (did you mean `{id}`?)"),
        None => format!("`{name}` is no goconc rule (see `goconc rules`)"),
    }
}

/// The edit that removes a directive: its whole line when it is alone on it, else the comment
/// and the spaces before it.
fn removal(d: &Directive, src: &str) -> TextEdit {
    let line_start = src[..d.range.start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = src[d.range.end..]
        .find('\n')
        .map_or(src.len(), |i| d.range.end + i + 1);
    let range = if d.own_line {
        line_start..line_end
    } else {
        let before = src[line_start..d.range.start].trim_end().len();
        line_start + before..d.range.end
    };
    TextEdit {
        range,
        new_text: String::new(),
    }
}

/// The lines a directive alone on line `at` covers: the next line that is not a comment, and the
/// whole declaration that starts there, if one does.
fn covered_below(
    lines: &[(usize, &str)],
    at: usize,
    root: Option<tree_sitter::Node>,
) -> (u32, u32) {
    let mut next = at + 1;
    while next < lines.len() && lines[next].1.trim_start().starts_with("//") {
        next += 1;
    }
    if next >= lines.len() {
        return (at as u32, at as u32);
    }
    let first = next as u32;
    let Some(root) = root else {
        return (at as u32, first);
    };
    let (start, text) = lines[next];
    let token = start + (text.len() - text.trim_start().len());
    let Some(mut node) = root.descendant_for_byte_range(token, token) else {
        return (at as u32, first);
    };
    loop {
        if node.start_byte() != token {
            break;
        }
        if matches!(
            node.kind(),
            "function_declaration"
                | "method_declaration"
                | "type_declaration"
                | "var_declaration"
                | "const_declaration"
        ) {
            return (at as u32, node.end_position().row as u32);
        }
        match node.parent() {
            Some(parent) => node = parent,
            None => break,
        }
    }
    (at as u32, first)
}

/// A directive read from the text after `//`.
struct Parsed {
    spelling: Spelling,
    names: Option<Vec<String>>,
    reason: Option<String>,
    only_ours: bool,
    names_goconc: bool,
}

fn reason_of(text: &str) -> Option<String> {
    let reason = text.trim();
    (!reason.is_empty()).then(|| reason.to_string())
}

/// `RULE[,RULE…] reason` of goconc's own directives.
fn goconc_names(rest: &str, spelling: Spelling) -> Option<Parsed> {
    // `//goconc:ignorex` is no directive.
    if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    let rest = rest.trim_start();
    let (ids, reason) = rest.split_once([' ', '\t']).unwrap_or((rest, ""));
    let names: Vec<String> = ids
        .split(',')
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .collect();
    Some(Parsed {
        spelling,
        names: (!names.is_empty() && !names.iter().any(|n| n == "all")).then_some(names),
        reason: reason_of(reason),
        only_ours: true,
        names_goconc: true,
    })
}

/// staticcheck's `CHECK[,CHECK…] reason`: only the `goconc/` checks are ours.
fn lint_names(rest: &str, spelling: Spelling) -> Option<Parsed> {
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let rest = rest.trim_start();
    let (checks, reason) = rest.split_once([' ', '\t']).unwrap_or((rest, ""));
    let mut names = Vec::new();
    let mut theirs = false;
    for check in checks.split(',').filter(|c| !c.is_empty()) {
        match check.strip_prefix("goconc/") {
            Some(name) => names.push(name.to_string()),
            None => theirs = true,
        }
    }
    if names.is_empty() {
        return None;
    }
    let every = names.iter().any(|n| n == "all" || n == "*");
    Some(Parsed {
        spelling,
        names: (!every).then_some(names),
        reason: reason_of(reason),
        only_ours: !theirs,
        names_goconc: true,
    })
}

/// The directive at the start of a comment's text (after its `//`), or None when it is not one
/// of ours.
fn parse_directive(comment: &str) -> Option<Parsed> {
    if let Some(rest) = comment.strip_prefix("goconc:ignore") {
        return goconc_names(rest, Spelling::GoconcIgnore);
    }
    if let Some(rest) = comment.strip_prefix("goconc:file-ignore") {
        return goconc_names(rest, Spelling::GoconcFileIgnore);
    }
    if let Some(rest) = comment.strip_prefix("lint:ignore") {
        return lint_names(rest, Spelling::LintIgnore);
    }
    if let Some(rest) = comment.strip_prefix("lint:file-ignore") {
        return lint_names(rest, Spelling::LintFileIgnore);
    }
    // golangci-lint reads `// nolint` too, but gofmt keeps directives unspaced; so does goconc.
    let rest = comment.strip_prefix("nolint")?;
    let (ours, only_ours, names_goconc, after) = if let Some(list) = rest.strip_prefix(':') {
        let end = list.find([' ', '\t']).unwrap_or(list.len());
        let linters: Vec<&str> = list[..end].split(',').collect();
        let ours = linters.iter().any(|l| *l == "goconc" || *l == "all");
        let named = linters.contains(&"goconc");
        (
            ours,
            linters.iter().all(|l| *l == "goconc"),
            named,
            &list[end..],
        )
    } else if rest.is_empty() || rest.starts_with([' ', '\t']) {
        (true, false, false, rest)
    } else {
        return None;
    };
    if !ours {
        return None;
    }
    let after = after.trim_start();
    let reason = after.strip_prefix("//").unwrap_or(after);
    Some(Parsed {
        spelling: Spelling::Nolint,
        names: None,
        reason: reason_of(reason),
        only_ours,
        names_goconc,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    fn finding(rule: &'static str, src: &str, needle: &str) -> Finding {
        let at = src.find(needle).unwrap();
        Finding {
            rule,
            severity: Severity::Error,
            range: at..at + needle.len(),
            message: String::new(),
            related: Vec::new(),
            fixes: Vec::new(),
        }
    }

    #[test]
    fn directives() {
        let s = Suppressions::parse(
            "a() //goconc:ignore mutex-defer-lock why\n//nolint:goconc\nb()\nc() //nolint:errcheck\n//goconc:ignore x,y\nd()\n",
            None,
        );
        assert!(s.suppresses(0, "mutex-defer-lock"));
        assert!(s.suppresses(2, "any-rule"));
        assert!(!s.suppresses(3, "any-rule"));
        assert!(s.suppresses(5, "y"));
        assert!(!s.suppresses(5, "z"));
    }

    #[test]
    fn staticcheck_and_family_and_file_directives() {
        let s = Suppressions::parse(
            "//lint:ignore SA1000,goconc/mutex-defer-lock,goconc/waitgroup legacy\na()\n//lint:ignore SA1000 theirs\nb()\nc() //goconc:ignorex\n",
            None,
        );
        assert!(s.suppresses(1, "mutex-defer-lock"));
        assert!(s.suppresses(1, "waitgroup-add-in-goroutine"));
        assert!(!s.suppresses(1, "mutex-unlock-missing"));
        assert!(!s.suppresses(3, "mutex-defer-lock"));
        assert!(!s.suppresses(4, "mutex-defer-lock"));
        let s = Suppressions::parse(
            "package p\n\nf()\n//lint:file-ignore goconc/mutex-defer-lock generated\n",
            None,
        );
        assert!(s.suppresses(2, "mutex-defer-lock") && s.suppresses(0, "mutex-defer-lock"));
        assert!(!s.suppresses(2, "mutex-unlock-missing"));
    }

    #[test]
    fn reasons() {
        let s = Suppressions::parse(
            "a() //nolint:goconc // why\nb() //nolint:goconc\nc() //goconc:ignore x\nd() //lint:ignore goconc/x because\n",
            None,
        );
        let reasons: Vec<Option<&str>> =
            s.directives().iter().map(|d| d.reason.as_deref()).collect();
        assert_eq!(reasons, [Some("why"), None, None, Some("because")]);
    }

    #[test]
    fn a_directive_above_a_declaration_covers_it() {
        let src = "package p\n\n// F does things.\n//goconc:ignore mutex-defer-lock a reason\n// more doc\nfunc F() {\n\tmu.Lock()\n\tdefer mu.Lock()\n}\n\nfunc G() {\n\tdefer mu.Lock()\n}\n";
        let source = goconc_syntax::SourceFile::new(src);
        let s = Suppressions::parse(src, Some(source.tree().root_node()));
        assert!(s.suppresses(7, "mutex-defer-lock"));
        assert!(!s.suppresses(11, "mutex-defer-lock"));
        // Without the tree, the next line that is not a comment.
        let s = Suppressions::parse(src, None);
        assert!(s.suppresses(5, "mutex-defer-lock") && !s.suppresses(7, "mutex-defer-lock"));
    }

    #[test]
    fn unused_and_reasonless_directives_are_findings() {
        let src = "a() //goconc:ignore mutex-defer-lock,mutex-nope why\nb() //nolint:goconc\n";
        let s = Suppressions::parse(src, None);
        let mut findings = vec![finding("mutex-defer-lock", src, "a()")];
        let mut config = Config::default();
        config.report_unused_suppressions = true;
        s.apply(&mut findings, src, &config);
        let seen: Vec<(&str, &str)> = findings
            .iter()
            .map(|f| (f.rule, f.message.as_str()))
            .collect();
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert_eq!(seen[0].0, SUPPRESSION_WITHOUT_REASON);
        assert!(
            seen[1].1.contains("`mutex-nope` is no goconc rule"),
            "{seen:?}"
        );
        assert!(findings[1].fixes.is_empty(), "one of its names is used");
        assert!(seen[2].1.contains("no goconc finding here"), "{seen:?}");
        // Its removal takes the comment and the spaces before it.
        let (fixed, _) = goconc_rules::apply_edits(src, &findings[2].fixes[0].edits);
        assert_eq!(
            fixed,
            "a() //goconc:ignore mutex-defer-lock,mutex-nope why\nb()\n"
        );
        // Not asked for: only the missing reason.
        let mut findings = Vec::new();
        s.apply(&mut findings, src, &Config::default());
        assert_eq!(findings.len(), 1);
    }

    #[test]
    fn another_linters_nolint_needs_a_reason_only_where_it_silences_goconc() {
        let src = "a() //nolint:all
b() //nolint
c() //nolint:errcheck,goconc
";
        let s = Suppressions::parse(src, None);
        let mut findings = vec![finding("mutex-defer-lock", src, "b()")];
        s.apply(&mut findings, src, &Config::default());
        let lines: Vec<&str> = findings
            .iter()
            .map(|f| &src[f.range.start - 4..f.range.start - 1])
            .collect();
        // `a()`: another linter's business; `b()`: it silenced ours; `c()`: it names goconc.
        assert_eq!(lines, ["b()", "c()"], "{findings:?}");
    }
}
