//! Suppression comments.
//!
//! - `//goconc:ignore RULE[,RULE…] reason` (or `all`) on the finding's line, or alone on the line
//!   above it;
//! - `//nolint`, `//nolint:goconc` and `//nolint:all` (golangci-lint's spelling), likewise.

use goconc_syntax::line_index::LineIndex;

/// The directives of one file, by line.
#[derive(Debug, Default)]
pub struct Suppressions {
    /// (line the directive covers, rule ids or None for every rule)
    entries: Vec<(u32, Option<Vec<String>>)>,
}

impl Suppressions {
    pub fn parse(src: &str) -> Suppressions {
        let mut entries = Vec::new();
        if !src.contains("goconc:ignore") && !src.contains("nolint") {
            return Suppressions { entries };
        }
        for (line_no, line) in src.lines().enumerate() {
            let Some(comment_at) = line.find("//") else {
                continue;
            };
            let mut rest = &line[comment_at..];
            while let Some(at) = rest.find("//") {
                let directive = rest[at + 2..].trim_start();
                rest = &rest[at + 2..];
                let Some(rules) = parse_directive(directive) else {
                    continue;
                };
                let line_no = line_no as u32;
                entries.push((line_no, rules.clone()));
                if line[..comment_at].trim().is_empty() {
                    entries.push((line_no + 1, rules));
                }
                break;
            }
        }
        Suppressions { entries }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn suppresses(&self, line: u32, rule: &str) -> bool {
        self.entries.iter().any(|(l, rules)| {
            *l == line
                && rules
                    .as_ref()
                    .is_none_or(|r| r.iter().any(|id| id == rule || id == "all"))
        })
    }

    /// Whether a finding starting at `offset` is suppressed.
    pub fn suppresses_at(&self, index: &LineIndex, src: &str, offset: usize, rule: &str) -> bool {
        if self.entries.is_empty() {
            return false;
        }
        let line = index.position(src, offset, crate::Encoding::Utf8).line;
        self.suppresses(line, rule)
    }
}

/// The rules a directive names: Some(None) for all rules, None when it is no directive of ours.
fn parse_directive(directive: &str) -> Option<Option<Vec<String>>> {
    if let Some(rest) = directive.strip_prefix("goconc:ignore") {
        let ids = rest.split_whitespace().next().unwrap_or("all");
        let ids: Vec<String> = ids.split(',').map(str::to_string).collect();
        return Some(if ids.iter().any(|id| id == "all") {
            None
        } else {
            Some(ids)
        });
    }
    let rest = directive.strip_prefix("nolint")?;
    if rest.is_empty() || rest.starts_with([' ', '\t']) {
        return Some(None);
    }
    let linters = rest
        .strip_prefix(':')?
        .split_whitespace()
        .next()
        .unwrap_or("");
    let ours = linters.split(',').any(|l| l == "goconc" || l == "all");
    ours.then_some(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives() {
        let s = Suppressions::parse(
            "a() //goconc:ignore mutex-defer-lock why\n//nolint:goconc\nb()\nc() //nolint:errcheck\n//goconc:ignore x,y\nd()\n",
        );
        assert!(s.suppresses(0, "mutex-defer-lock"));
        assert!(!s.suppresses(1, "mutex-defer-lock") || s.suppresses(1, "anything"));
        assert!(s.suppresses(2, "any-rule"));
        assert!(!s.suppresses(3, "any-rule"));
        assert!(s.suppresses(5, "y"));
        assert!(!s.suppresses(5, "z"));
    }
}
