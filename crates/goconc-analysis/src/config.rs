//! Configuration: per-rule severities, a Go version override and exclude globs, read from a
//! `goconc.toml` text. Finding and reading the file is the front end's job.
//!
//! ```toml
//! go-version = "1.21"          # overrides go.mod
//! exclude = ["gen/**", "*.pb.go"]
//!
//! [rules]
//! mutex-empty-critical-section = "off"   # off | hint | info | warning | error
//! waitgroup-go-available = "warning"
//! ```

use std::collections::HashMap;

use crate::rules;
use goconc_model::goversion::GoVersion;
use goconc_rules::finding::Severity;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    /// Per-rule severity overrides; `None` turns the rule off.
    pub severities: HashMap<&'static str, Option<Severity>>,
    pub go_version: Option<GoVersion>,
    /// Globs (`*`, `**`, `?`) matched against slash-separated paths relative to the config file.
    pub exclude: Vec<String>,
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

    /// Sets a rule's severity from a word (`off`, `hint`, `info`, `warning`, `error`).
    pub fn set_severity(&mut self, rule: &str, word: &str) -> Result<(), String> {
        let meta = rules::find(rule).ok_or_else(|| unknown_rule_message(rule))?;
        let severity = parse_level(word)?;
        self.severities.insert(meta.id, severity);
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
                        config.exclude.push(s.to_string());
                    }
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
                    return Err(err(
                        other,
                        "unknown setting (expected go-version, exclude or [rules])".into(),
                    ))
                }
            }
        }
        Ok(config)
    }

    /// Whether a slash-separated relative path matches one of the exclude globs.
    pub fn excludes(&self, relative_path: &str) -> bool {
        self.exclude
            .iter()
            .any(|g| glob_match(g, relative_path) || glob_match(&format!("**/{g}"), relative_path))
    }
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
    let close: Vec<&str> = rules::all()
        .iter()
        .map(|r| r.id)
        .filter(|id| id.split('-').next() == rule.split('-').next())
        .collect();
    if close.is_empty() {
        format!("unknown rule `{rule}` (see `goconc rules`)")
    } else {
        format!(
            "unknown rule `{rule}`; rules of that family: {}",
            close.join(", ")
        )
    }
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

/// A small glob matcher: `**` any run of path segments, `*` any run within a segment, `?` one
/// character.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some(b'*') if p.get(1) == Some(&b'*') => {
                let rest = p[2..].strip_prefix(b"/").unwrap_or(&p[2..]);
                if rest.is_empty() {
                    return true;
                }
                (0..=s.len()).any(|i| (i == 0 || s[i - 1] == b'/') && go(rest, &s[i..]))
                    || go(rest, s)
            }
            Some(b'*') => (0..=s.len())
                .take_while(|&i| i == 0 || s[i - 1] != b'/')
                .any(|i| go(&p[1..], &s[i..])),
            Some(b'?') => !s.is_empty() && s[0] != b'/' && go(&p[1..], &s[1..]),
            Some(&c) => s.first() == Some(&c) && go(&p[1..], &s[1..]),
        }
    }
    go(pattern.as_bytes(), path.as_bytes())
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
        let e = Config::parse_toml("[rules]\nmutex-defer-lock = \"loud\"\n").unwrap_err();
        assert_eq!(e.line, 2);
    }

    #[test]
    fn globs() {
        assert!(glob_match("*.pb.go", "x.pb.go"));
        assert!(!glob_match("*.pb.go", "a/x.pb.go"));
        assert!(glob_match("**/*.pb.go", "a/b/x.pb.go"));
        assert!(glob_match("gen/**", "gen/x.go"));
    }
}
