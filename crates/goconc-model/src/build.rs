//! Build configurations: which GOOS, GOARCH and build tags a file is compiled under, from its
//! `//go:build` line (or older `// +build` lines) and its name (`x_windows.go`, `x_linux_arm64.go`,
//! go/build's rules). Two files can be compiled together when some configuration satisfies both;
//! a file never sees a declaration from a file it cannot be compiled with (the Linux
//! `OSAllocator` is not the Windows one).

/// The operating systems go/build knows (`syslist.go`).
const KNOWN_OS: &[&str] = &[
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "hurd",
    "illumos",
    "ios",
    "js",
    "linux",
    "nacl",
    "netbsd",
    "openbsd",
    "plan9",
    "solaris",
    "wasip1",
    "windows",
    "zos",
];

/// The architectures go/build knows.
const KNOWN_ARCH: &[&str] = &[
    "386",
    "amd64",
    "amd64p32",
    "arm",
    "armbe",
    "arm64",
    "arm64be",
    "loong64",
    "mips",
    "mipsle",
    "mips64",
    "mips64le",
    "mips64p32",
    "mips64p32le",
    "ppc",
    "ppc64",
    "ppc64le",
    "riscv",
    "riscv64",
    "s390",
    "s390x",
    "sparc",
    "sparc64",
    "wasm",
];

/// The systems the `unix` tag stands for.
const UNIX_OS: &[&str] = &[
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "hurd",
    "illumos",
    "ios",
    "linux",
    "netbsd",
    "openbsd",
    "solaris",
];

/// Past this many free tags in two constraints together, they are taken as compatible (no real
/// file comes near).
const MAX_FREE_TAGS: usize = 12;

/// A build constraint expression.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Expr {
    Tag(String),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

/// What a file's constraint line and name require.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Build {
    /// The `//go:build` expression (or the `// +build` lines), when the file has one that parses.
    expr: Option<Expr>,
    /// The GOOS and GOARCH of a name like `x_linux_amd64.go`.
    os: Option<String>,
    arch: Option<String>,
}

impl Build {
    /// The constraint of a file's text: its `//go:build` line, or else its `// +build` lines,
    /// before the package clause. A line that does not parse constrains nothing.
    pub fn of_text(src: &str) -> Build {
        let mut plus: Option<Expr> = None;
        for line in src.lines() {
            let line = line.trim();
            if line.starts_with("package ") || line.starts_with("package\t") {
                break;
            }
            if let Some(expr) = line.strip_prefix("//go:build") {
                if expr.starts_with([' ', '\t']) || expr.is_empty() {
                    return Build {
                        expr: parse(expr),
                        ..Build::default()
                    };
                }
            }
            if let Some(terms) = line.strip_prefix("// +build") {
                if let Some(e) = parse_plus(terms) {
                    plus = Some(match plus {
                        Some(p) => Expr::And(Box::new(p), Box::new(e)),
                        None => e,
                    });
                }
            }
        }
        Build {
            expr: plus,
            ..Build::default()
        }
    }

    /// Adds what a file name says (`_windows`, `_arm64`, `_linux_arm64` before `.go` or
    /// `_test.go`; the part before the first `_` never counts).
    pub fn with_file_name(&self, name: &str) -> Build {
        let mut build = self.clone();
        let stem = name.rsplit('/').next().unwrap_or(name);
        let stem = stem.split('.').next().unwrap_or(stem);
        let Some(at) = stem.find('_') else {
            return build;
        };
        let mut parts: Vec<&str> = stem[at..].split('_').collect();
        if parts.last() == Some(&"test") {
            parts.pop();
        }
        let n = parts.len();
        if n >= 2 && KNOWN_OS.contains(&parts[n - 2]) && KNOWN_ARCH.contains(&parts[n - 1]) {
            build.os = Some(parts[n - 2].to_string());
            build.arch = Some(parts[n - 1].to_string());
        } else if n >= 1 && KNOWN_OS.contains(&parts[n - 1]) {
            build.os = Some(parts[n - 1].to_string());
        } else if n >= 1 && KNOWN_ARCH.contains(&parts[n - 1]) {
            build.arch = Some(parts[n - 1].to_string());
        }
        build
    }

    /// Whether the file is never built: `//go:build ignore`, the convention of generators
    /// kept beside the package they write (`go build` never sets the tag `ignore`).
    pub fn is_ignored(&self) -> bool {
        matches!(&self.expr, Some(Expr::Tag(tag)) if tag == "ignore")
    }

    /// Whether the file is built in every configuration.
    pub fn is_unconstrained(&self) -> bool {
        self.expr.is_none() && self.os.is_none() && self.arch.is_none()
    }

    /// Whether some configuration compiles both files.
    pub fn compatible(&self, other: &Build) -> bool {
        if self.is_unconstrained() || other.is_unconstrained() || self == other {
            return true;
        }
        let mut tags: Vec<&str> = Vec::new();
        for expr in [&self.expr, &other.expr].into_iter().flatten() {
            expr.tags(&mut tags);
        }
        let mut oses: Vec<&str> = tags
            .iter()
            .copied()
            .filter(|t| KNOWN_OS.contains(t))
            .chain(
                [&self.os, &other.os]
                    .into_iter()
                    .flatten()
                    .map(String::as_str),
            )
            .collect();
        // Systems that imply a tag: android is linux, ios is darwin, illumos is solaris; and a
        // system outside every list.
        oses.extend(["android", "ios", "illumos", ""]);
        if tags.contains(&"unix") {
            oses.extend(UNIX_OS);
        }
        oses.sort_unstable();
        oses.dedup();
        let mut arches: Vec<&str> = tags
            .iter()
            .copied()
            .filter(|t| KNOWN_ARCH.contains(t))
            .chain(
                [&self.arch, &other.arch]
                    .into_iter()
                    .flatten()
                    .map(String::as_str),
            )
            .chain([""])
            .collect();
        arches.sort_unstable();
        arches.dedup();
        let mut free: Vec<&str> = tags
            .iter()
            .copied()
            .filter(|t| !KNOWN_OS.contains(t) && !KNOWN_ARCH.contains(t) && *t != "unix")
            .collect();
        free.sort_unstable();
        free.dedup();
        if free.len() > MAX_FREE_TAGS {
            return true;
        }
        for &os in &oses {
            for &arch in &arches {
                for bits in 0u32..(1 << free.len()) {
                    let config = Config {
                        os,
                        arch,
                        free: &free,
                        bits,
                    };
                    if config.builds(self) && config.builds(other) {
                        return true;
                    }
                }
            }
        }
        false
    }
}

/// One configuration: a GOOS, a GOARCH ("" for one outside the lists) and the free tags set.
struct Config<'a> {
    os: &'a str,
    arch: &'a str,
    free: &'a [&'a str],
    bits: u32,
}

impl Config<'_> {
    /// Whether `os` satisfies a system named by a tag or a file name (`linux` is satisfied by
    /// android too).
    fn is_os(&self, name: &str) -> bool {
        self.os == name
            || (name == "linux" && self.os == "android")
            || (name == "darwin" && self.os == "ios")
            || (name == "solaris" && self.os == "illumos")
    }

    fn tag(&self, tag: &str) -> bool {
        if tag == "unix" {
            return UNIX_OS.contains(&self.os);
        }
        if KNOWN_OS.contains(&tag) {
            return self.is_os(tag);
        }
        if KNOWN_ARCH.contains(&tag) {
            return self.arch == tag;
        }
        match self.free.iter().position(|t| *t == tag) {
            Some(i) => self.bits & (1 << i) != 0,
            None => true,
        }
    }

    fn eval(&self, expr: &Expr) -> bool {
        match expr {
            Expr::Tag(t) => self.tag(t),
            Expr::Not(e) => !self.eval(e),
            Expr::And(a, b) => self.eval(a) && self.eval(b),
            Expr::Or(a, b) => self.eval(a) || self.eval(b),
        }
    }

    fn builds(&self, build: &Build) -> bool {
        build.os.as_deref().is_none_or(|os| self.is_os(os))
            && build.arch.as_deref().is_none_or(|arch| self.arch == arch)
            && build.expr.as_ref().is_none_or(|e| self.eval(e))
    }
}

impl Expr {
    fn tags<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Expr::Tag(t) => out.push(t),
            Expr::Not(e) => e.tags(out),
            Expr::And(a, b) | Expr::Or(a, b) => {
                a.tags(out);
                b.tags(out);
            }
        }
    }
}

/// Parses a `//go:build` expression: `||`, `&&`, `!`, parentheses and tags. None when it does
/// not parse (or nests past what any file does).
fn parse(text: &str) -> Option<Expr> {
    let tokens = tokenize(text)?;
    let mut parser = Parser {
        tokens: &tokens,
        at: 0,
        depth: 0,
    };
    let expr = parser.or()?;
    (parser.at == tokens.len()).then_some(expr)
}

/// `// +build` terms: spaces are OR, commas AND, `!` negates a tag.
fn parse_plus(text: &str) -> Option<Expr> {
    let mut any: Option<Expr> = None;
    for option in text.split_whitespace() {
        let mut all: Option<Expr> = None;
        for term in option.split(',') {
            let (negated, tag) = match term.strip_prefix('!') {
                Some(t) => (true, t),
                None => (false, term),
            };
            if tag.is_empty() || !tag.chars().all(is_tag_char) {
                return None;
            }
            let mut e = Expr::Tag(tag.to_string());
            if negated {
                e = Expr::Not(Box::new(e));
            }
            all = Some(match all {
                Some(a) => Expr::And(Box::new(a), Box::new(e)),
                None => e,
            });
        }
        let all = all?;
        any = Some(match any {
            Some(a) => Expr::Or(Box::new(a), Box::new(all)),
            None => all,
        });
    }
    any
}

fn is_tag_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

#[derive(Debug, PartialEq)]
enum Token {
    Tag(String),
    Not,
    And,
    Or,
    Open,
    Close,
}

fn tokenize(text: &str) -> Option<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            ' ' | '\t' | '\r' => {}
            '!' => tokens.push(Token::Not),
            '(' => tokens.push(Token::Open),
            ')' => tokens.push(Token::Close),
            '&' if chars.next_if(|(_, c)| *c == '&').is_some() => tokens.push(Token::And),
            '|' if chars.next_if(|(_, c)| *c == '|').is_some() => tokens.push(Token::Or),
            c if is_tag_char(c) => {
                let mut end = i + c.len_utf8();
                while let Some((j, d)) = chars.next_if(|(_, d)| is_tag_char(*d)) {
                    end = j + d.len_utf8();
                }
                tokens.push(Token::Tag(text[i..end].to_string()));
            }
            _ => return None,
        }
    }
    Some(tokens)
}

struct Parser<'a> {
    tokens: &'a [Token],
    at: usize,
    depth: usize,
}

impl Parser<'_> {
    fn or(&mut self) -> Option<Expr> {
        let mut left = self.and()?;
        while self.tokens.get(self.at) == Some(&Token::Or) {
            self.at += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Some(left)
    }

    fn and(&mut self) -> Option<Expr> {
        let mut left = self.not()?;
        while self.tokens.get(self.at) == Some(&Token::And) {
            self.at += 1;
            left = Expr::And(Box::new(left), Box::new(self.not()?));
        }
        Some(left)
    }

    fn not(&mut self) -> Option<Expr> {
        self.depth += 1;
        if self.depth > 64 {
            return None;
        }
        let expr = match self.tokens.get(self.at)? {
            Token::Not => {
                self.at += 1;
                Expr::Not(Box::new(self.not()?))
            }
            Token::Open => {
                self.at += 1;
                let e = self.or()?;
                if self.tokens.get(self.at) != Some(&Token::Close) {
                    return None;
                }
                self.at += 1;
                e
            }
            Token::Tag(t) => {
                self.at += 1;
                Expr::Tag(t.clone())
            }
            _ => return None,
        };
        self.depth -= 1;
        Some(expr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, src: &str) -> Build {
        Build::of_text(src).with_file_name(name)
    }

    #[test]
    fn names_and_lines() {
        let linux = file("osallocator_linux.go", "package p");
        let windows = file("osallocator_windows.go", "package p");
        let plain = file("portallocator.go", "package p");
        assert!(!linux.compatible(&windows));
        assert!(linux.compatible(&plain) && windows.compatible(&plain));
        assert!(file("a_linux_test.go", "package p").compatible(&linux));
        assert!(!file("a_linux_arm64.go", "").compatible(&file("b_amd64.go", "")));
        assert!(file("a_linux_arm64.go", "").compatible(&file("b_arm64.go", "")));
        // The part before the first `_` is no constraint: `linux.go` is built everywhere.
        assert!(file("linux.go", "").is_unconstrained());
        let unix = file("x.go", "//go:build unix\n\npackage p");
        assert!(unix.compatible(&linux) && !unix.compatible(&windows));
        let not_windows = file("x.go", "//go:build !windows\n\npackage p");
        assert!(!not_windows.compatible(&windows) && not_windows.compatible(&linux));
        let both = file("x.go", "//go:build linux && (amd64 || arm64)\npackage p");
        assert!(both.compatible(&linux) && !both.compatible(&file("y_386.go", "")));
        // Android files are Linux files too.
        assert!(file("a_android.go", "").compatible(&linux));
        assert!(!file("a_android.go", "").compatible(&file("b.go", "//go:build !linux\n")));
        // A custom tag can be set either way.
        let tagged = file("x.go", "//go:build integration\n");
        assert!(!tagged.compatible(&file("y.go", "//go:build !integration && linux\n")));
        assert!(tagged.compatible(&linux));
    }

    #[test]
    fn old_plus_build_lines_and_bad_lines() {
        let old = file(
            "x.go",
            "// +build linux darwin\n// +build !386\n\npackage p",
        );
        assert!(old.compatible(&file("y_linux.go", "")));
        assert!(!old.compatible(&file("y_windows.go", "")));
        assert!(!old.compatible(&file("y_386.go", "")));
        // A line that does not parse constrains nothing; nor does one after the package clause.
        assert!(file("x.go", "//go:build linux &&\npackage p").is_unconstrained());
        assert!(file("x.go", "package p\n//go:build linux\n").is_unconstrained());
        assert!(file("x.go", &format!("//go:build {}x\n", "(".repeat(500))).is_unconstrained());
    }

    #[test]
    fn only_a_file_that_asks_for_the_ignore_tag_alone_is_never_built() {
        for text in [
            "//go:build ignore\n\npackage main\n",
            "// +build ignore\n\npackage main\n",
        ] {
            assert!(Build::of_text(text).is_ignored(), "{text}");
        }
        for text in [
            "//go:build !ignore\n\npackage p\n",
            "//go:build linux\n\npackage p\n",
            "package p\n\n//go:build ignore\n",
            "// ignore\npackage p\n",
        ] {
            assert!(!Build::of_text(text).is_ignored(), "{text}");
        }
    }
}
