//! Configuration: per-rule severities, a Go version override and exclude globs, read from a
//! `goconc.toml` text. Finding and reading the file is the front end's job.
//!
//! ```toml
//! go-version = "1.21"          # overrides go.mod
//! exclude = ["gen/**", "*.pb.go"]
//!
//! report-unused-suppressions = true   # as --report-unused-suppressions
//!
//! [rules]
//! mutex-empty-critical-section = "off"   # off | hint | info | warning | error
//! waitgroup-go-available = "warning"
//! ```
//!
//! An unknown key or rule is an error naming the closest valid one.

use std::collections::HashMap;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::rules;
use goconc_model::goversion::GoVersion;
use goconc_rules::finding::Severity;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    /// Per-rule severity overrides; `None` turns the rule off.
    pub severities: HashMap<&'static str, Option<Severity>>,
    pub go_version: Option<GoVersion>,
    /// Globs (`*`, `**`, `?`, `[ab]`, `{a,b}`) matched against slash-separated paths relative to
    /// the config file; a glob also matches below any folder (`*.pb.go` is `**/*.pb.go` too).
    pub exclude: Vec<String>,
    /// `exclude` compiled (the front ends ask per file, the server per keystroke).
    exclude_matcher: ExcludeMatcher,
    /// Report suppression comments that silence nothing (`unused-suppression`).
    pub report_unused_suppressions: bool,
}

/// The top-level keys of `goconc.toml`.
pub const KEYS: [&str; 4] = [
    "go-version",
    "exclude",
    "report-unused-suppressions",
    "rules",
];

/// Exclude globs compiled into one [`GlobSet`]: matching is linear in the path's length
/// (globset compiles to a regular expression), where a backtracking matcher is exponential on
/// globs such as `*a*a*a*b`.
#[derive(Clone, Default)]
struct ExcludeMatcher {
    /// The globs it was built from: `Config::exclude` is public, so a change made after the build
    /// must not be matched against a stale set.
    globs: Vec<String>,
    set: GlobSet,
}

impl ExcludeMatcher {
    /// Globs that do not compile are left out (`parse_toml` reports them).
    fn new(globs: &[String]) -> ExcludeMatcher {
        let mut builder = GlobSetBuilder::new();
        for glob in globs {
            for pattern in [glob.clone(), format!("**/{glob}")] {
                if let Ok(compiled) = compile_glob(&pattern) {
                    builder.add(compiled);
                }
            }
        }
        ExcludeMatcher {
            globs: globs.to_vec(),
            set: builder.build().unwrap_or_else(|_| GlobSet::empty()),
        }
    }
}

/// `*` and `?` stay within one path segment; `**` crosses them.
fn compile_glob(pattern: &str) -> Result<globset::Glob, globset::Error> {
    GlobBuilder::new(pattern).literal_separator(true).build()
}

/// A cache of `Config::exclude`, which the derived `PartialEq` of `Config` already compares.
impl PartialEq for ExcludeMatcher {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for ExcludeMatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ExcludeMatcher").field(&self.globs).finish()
    }
}

/// A problem in a configuration text, with the 1-based line it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub line: usize,
    pub key: Option<String>,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.key {
            Some(key) => write!(f, "line {}: `{}`: {}", self.line, key, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

impl Config {
    /// The severity a rule reports at, or None when it is off.
    pub fn severity(&self, rule: &rules::RuleMeta) -> Option<Severity> {
        match self.severities.get(rule.id) {
            Some(set) => *set,
            None => Some(rule.severity),
        }
    }

    /// The severity of the rule `id` whose default is `default`, or None when it is off (for
    /// the engine's own rules, which have no [`rules::RuleMeta`]).
    pub fn severity_of(&self, id: &str, default: Severity) -> Option<Severity> {
        match self.severities.get(id) {
            Some(set) => *set,
            None => Some(default),
        }
    }

    /// Sets a rule's severity from a word (`off`, `hint`, `info`, `warning`, `error`).
    pub fn set_severity(&mut self, rule: &str, word: &str) -> Result<(), String> {
        let id = match rules::find(rule) {
            Some(meta) => meta.id,
            None => {
                crate::suppress::find_rule(rule)
                    .ok_or_else(|| unknown_rule_message(rule))?
                    .id
            }
        };
        let severity = parse_level(word)?;
        self.severities.insert(id, severity);
        Ok(())
    }

    /// Layers `other` on top of `self` (its settings win).
    pub fn merged_with(&self, other: &Config) -> Config {
        let mut merged = self.clone();
        merged
            .severities
            .extend(other.severities.iter().map(|(k, v)| (*k, *v)));
        if other.go_version.is_some() {
            merged.go_version = other.go_version;
        }
        merged.exclude.extend(other.exclude.iter().cloned());
        merged.exclude_matcher = ExcludeMatcher::new(&merged.exclude);
        merged.report_unused_suppressions |= other.report_unused_suppressions;
        merged
    }

    pub fn parse_toml(text: &str) -> Result<Config, ConfigError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| ConfigError {
            line: e.span().map_or(1, |s| line_of(text, s.start)),
            key: None,
            message: e.message().to_string(),
        })?;
        let mut config = Config::default();
        let err = |key: &str, message: String| ConfigError {
            line: key_line(text, key),
            key: Some(key.to_string()),
            message,
        };
        for (key, value) in &table {
            match key.as_str() {
                "go-version" | "go_version" => {
                    let s = value
                        .as_str()
                        .ok_or_else(|| err(key, "expected a string such as \"1.22\"".into()))?;
                    config.go_version = Some(GoVersion::parse(s).ok_or_else(|| {
                        err(key, format!("`{s}` is not a Go version such as \"1.22\""))
                    })?);
                }
                "exclude" => {
                    let items = value
                        .as_array()
                        .ok_or_else(|| err(key, "expected a list of glob strings".into()))?;
                    for item in items {
                        let s = item
                            .as_str()
                            .ok_or_else(|| err(key, "expected a list of glob strings".into()))?;
                        compile_glob(s)
                            .map_err(|e| err(key, format!("`{s}`: {}", glob_error(&e))))?;
                        config.exclude.push(s.to_string());
                    }
                    config.exclude_matcher = ExcludeMatcher::new(&config.exclude);
                }
                "report-unused-suppressions" => {
                    config.report_unused_suppressions = value
                        .as_bool()
                        .ok_or_else(|| err(key, "expected true or false".into()))?;
                }
                "rules" => {
                    let rules = value.as_table().ok_or_else(|| {
                        err(key, "expected a table of rule = \"severity\"".into())
                    })?;
                    for (rule, level) in rules {
                        let word = level.as_str().ok_or_else(|| {
                            err(
                                rule,
                                "expected one of off, hint, info, warning, error".into(),
                            )
                        })?;
                        config.set_severity(rule, word).map_err(|m| err(rule, m))?;
                    }
                }
                other => {
                    let message = match closest(other, KEYS.iter().copied()) {
                        Some(key) => format!("unknown key; did you mean `{key}`?"),
                        None => format!("unknown key (the keys are {})", KEYS.join(", ")),
                    };
                    return Err(err(other, message));
                }
            }
        }
        Ok(config)
    }

    /// Whether a slash-separated relative path matches one of the exclude globs.
    pub fn excludes(&self, relative_path: &str) -> bool {
        if self.exclude.is_empty() {
            return false;
        }
        if self.exclude_matcher.globs == self.exclude {
            self.exclude_matcher.set.is_match(relative_path)
        } else {
            ExcludeMatcher::new(&self.exclude)
                .set
                .is_match(relative_path)
        }
    }
}

/// globset's message without its copy of the glob (the caller names it).
fn glob_error(e: &globset::Error) -> String {
    e.kind().to_string()
}

fn parse_level(word: &str) -> Result<Option<Severity>, String> {
    if word == "off" {
        return Ok(None);
    }
    Severity::parse(word)
        .map(Some)
        .ok_or_else(|| format!("`{word}` is not a severity (off, hint, info, warning, error)"))
}

fn unknown_rule_message(rule: &str) -> String {
    let ids = rules::all()
        .into_iter()
        .map(|r| r.id)
        .chain(crate::suppress::RULES.iter().map(|r| r.id));
    match closest(rule, ids) {
        Some(id) => format!("unknown rule `{rule}`; did you mean `{id}`?"),
        None => format!("unknown rule `{rule}` (see `goconc rules`)"),
    }
}

/// The candidate closest to `word` by edit distance, when it is close enough to be a typo (at
/// most a third of the word's length, and at least 2, edits away).
pub fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance, in characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for j in 0..b.len() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != b[j]))
                .min(row[j] + 1)
                .min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn key_line(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            let l = l.trim_start().trim_start_matches('"');
            l.starts_with(key)
                && l[key.len()..]
                    .trim_start()
                    .trim_start_matches('"')
                    .trim_start()
                    .starts_with(['=', ']'])
                || l.starts_with('[') && l.contains(key)
        })
        .map_or(1, |i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_reports_errors_with_lines() {
        let c = Config::parse_toml(
            "go-version = \"1.21\"\nexclude = [\"gen/**\"]\n[rules]\nmutex-defer-lock = \"off\"\n",
        )
        .unwrap();
        assert_eq!(c.go_version, Some(GoVersion::new(21)));
        assert_eq!(c.severities.get("mutex-defer-lock"), Some(&None));
        assert!(c.excludes("gen/a/b.go"));
        assert!(!c.excludes("src/a.go"));
        let e = Config::parse_toml("go-version = \"1.21\"\n[rules]\nmutex-nope = \"off\"\n")
            .unwrap_err();
        assert_eq!(e.line, 3);
        assert_eq!(e.key.as_deref(), Some("mutex-nope"));
        let e = Config::parse_toml("\n\ncolour = 1\n").unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (3, Some("colour")));
        assert!(
            e.message.contains("the keys are go-version, exclude"),
            "{}",
            e.message
        );
        let e = Config::parse_toml("go-verison = \"1.21\"\n").unwrap_err();
        assert_eq!(e.message, "unknown key; did you mean `go-version`?");
        let e = Config::parse_toml("[rules]\nmutex-defer-lok = \"off\"\n").unwrap_err();
        assert!(
            e.message.contains("did you mean `mutex-defer-lock`?"),
            "{}",
            e.message
        );
        let c = Config::parse_toml(
            "report-unused-suppressions = true\n[rules]\nsuppression-without-reason = \"off\"\n",
        )
        .unwrap();
        assert!(c.report_unused_suppressions);
        assert_eq!(
            c.severity_of("suppression-without-reason", Severity::Hint),
            None
        );
        let e = Config::parse_toml("[rules]\nmutex-defer-lock = \"loud\"\n").unwrap_err();
        assert_eq!(e.line, 2);
    }

    fn excluding(globs: &[&str]) -> Config {
        let list: Vec<String> = globs.iter().map(|g| format!("{g:?}")).collect();
        Config::parse_toml(&format!("exclude = [{}]\n", list.join(", "))).unwrap()
    }

    #[test]
    fn globs() {
        let c = excluding(&["*.pb.go", "gen/**", "x/?.go", "{a,b}_gen.go", "[mn]ock.go"]);
        // `*` stays within a segment, and every glob also matches below any folder.
        assert!(c.excludes("x.pb.go") && c.excludes("a/b/x.pb.go"));
        assert!(c.excludes("gen/x.go") && c.excludes("gen/a/b.go") && c.excludes("sub/gen/x.go"));
        assert!(!c.excludes("gen.go") && !c.excludes("generated/x.go"));
        assert!(c.excludes("x/a.go") && !c.excludes("x/ab.go") && !c.excludes("x/a/b.go"));
        assert!(c.excludes("a_gen.go") && c.excludes("b_gen.go") && !c.excludes("c_gen.go"));
        assert!(c.excludes("mock.go") && c.excludes("nock.go") && !c.excludes("lock.go"));
        assert!(!Config::default().excludes("a.go"));
    }

    #[test]
    fn a_glob_that_does_not_compile_is_an_error_on_its_line() {
        let e = Config::parse_toml("go-version = \"1.21\"\nexclude = [\"gen/[a\"]\n").unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (2, Some("exclude")));
        assert!(e.message.contains("gen/[a"), "{}", e.message);
    }

    #[test]
    fn excludes_follow_changes_to_the_public_list() {
        let mut c = excluding(&["a.go"]);
        c.exclude.push("b.go".to_string());
        assert!(c.excludes("a.go") && c.excludes("b.go"));
        let merged = Config::default().merged_with(&c);
        assert!(merged.excludes("sub/b.go"));
        assert_eq!(merged, c);
    }

    /// A backtracking matcher takes exponential time here (minutes for this size); globset is
    /// linear. Not timed: with the old matcher this test does not finish.
    #[test]
    fn many_stars_against_a_long_name_do_not_backtrack() {
        let glob = "*a".repeat(30) + "b";
        let c = excluding(&[&glob]);
        let name = "a".repeat(200) + ".go";
        assert!(!c.excludes(&name));
        assert!(c.excludes(&("a".repeat(40) + "b")));
    }
}
