//! Go language versions: from a `go.mod` `go` line or a file's `//go:build go1.N` constraint.

/// A Go version `1.minor` (the patch level never changes language rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GoVersion {
    pub minor: u32,
}

impl GoVersion {
    /// The newest Go this release of goconc knows: assumed when nothing says otherwise.
    pub const NEWEST: GoVersion = GoVersion { minor: 27 };

    pub const fn new(minor: u32) -> GoVersion {
        GoVersion { minor }
    }

    /// Parses `1.22`, `1.22.3`, `go1.22`, `1.22rc1`.
    pub fn parse(s: &str) -> Option<GoVersion> {
        let s = s.trim().strip_prefix("go").unwrap_or(s.trim());
        let rest = s.strip_prefix("1.")?;
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        Some(GoVersion {
            minor: digits.parse().ok()?,
        })
    }

    /// The `go` directive of a go.mod text.
    pub fn from_go_mod(text: &str) -> Option<GoVersion> {
        text.lines().find_map(|line| {
            let line = line.split("//").next().unwrap_or("").trim();
            let version = line.strip_prefix("go")?;
            if !version.starts_with([' ', '\t']) {
                return None;
            }
            GoVersion::parse(version)
        })
    }

    /// A `//go:build` line's `go1.N` term lowers the language version of the file to N (Go's
    /// rule since 1.21). Only a constraint that requires the version (not one negated) counts.
    pub fn from_build_constraint(src: &str) -> Option<GoVersion> {
        for line in src.lines() {
            let line = line.trim();
            if line.starts_with("package ") {
                break;
            }
            let Some(expr) = line.strip_prefix("//go:build") else {
                continue;
            };
            return expr
                .split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == '&' || c == '|')
                .filter(|term| term.starts_with("go1."))
                .filter_map(GoVersion::parse)
                .min();
        }
        None
    }

    pub fn at_least(self, minor: u32) -> bool {
        self.minor >= minor
    }
}

impl std::fmt::Display for GoVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "1.{}", self.minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_versions() {
        assert_eq!(
            GoVersion::from_go_mod("module x\n\ngo 1.21.5\n"),
            Some(GoVersion::new(21))
        );
        assert_eq!(GoVersion::from_go_mod("module x\ngodebug x=1\n"), None);
        assert_eq!(
            GoVersion::from_build_constraint("//go:build go1.21 && linux\n\npackage p"),
            Some(GoVersion::new(21))
        );
        assert_eq!(
            GoVersion::from_build_constraint("package p\n//go:build go1.21"),
            None
        );
    }
}
