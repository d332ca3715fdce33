//! The `// want` comments of the Go fixtures: what a user must read on a line.
//!
//! ```go
//! c.mu.Lock() // want mutex-unlock-missing "stays locked when the function returns at line 9"
//! x := f(<-ch) // want goroutine-x:10 "pattern" other-rule "pattern"
//! ```
//!
//! Each expectation is a rule id, optionally `:COLUMN` (1-based, in characters, as the text
//! output counts them), and a quoted pattern that the finding's message must contain (`\"` and
//! `\\` escape a quote and a backslash). Without a column the finding must start at the line's
//! first token. Shared by the engine's fixture harness and the language-server tests.

#![allow(dead_code)] // each test binary uses its own part

/// One expected finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want {
    /// 1-based line of the comment (and of the finding's start).
    pub line: usize,
    pub rule: String,
    /// 1-based column in characters; None: the line's first token.
    pub column: Option<usize>,
    /// A piece of the message, matched literally.
    pub pattern: String,
}

/// Every expectation of a file, or the first malformed `// want` comment.
pub fn parse(text: &str) -> Result<Vec<Want>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let Some(at) = line.find("// want ") else {
            continue;
        };
        let mut rest = &line[at + "// want ".len()..];
        loop {
            rest = rest.trim_start();
            if rest.is_empty() {
                break;
            }
            let (want, after) = parse_one(rest)
                .map_err(|e| format!("line {}: malformed `// want`: {e}: {line}", i + 1))?;
            out.push(Want {
                line: i + 1,
                ..want
            });
            rest = after;
        }
    }
    Ok(out)
}

/// `rule[:col] "pattern"` at the start of `s`, and what follows it.
fn parse_one(s: &str) -> Result<(Want, &str), String> {
    let end = s.find(|c: char| c.is_whitespace()).unwrap_or(s.len());
    let (head, rest) = s.split_at(end);
    if head.starts_with('"') {
        return Err("a rule id comes before each quoted pattern".into());
    }
    let (rule, column) = match head.split_once(':') {
        Some((rule, col)) => {
            let col: usize = col
                .parse()
                .map_err(|_| format!("`{col}` is not a column"))?;
            (rule, Some(col))
        }
        None => (head, None),
    };
    if rule.is_empty()
        || !rule
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(format!("`{rule}` is not a rule id"));
    }
    let rest = rest.trim_start();
    let Some(body) = rest.strip_prefix('"') else {
        return Err(format!("`{rule}` needs a quoted message pattern"));
    };
    let mut pattern = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                let want = Want {
                    line: 0,
                    rule: rule.to_string(),
                    column,
                    pattern,
                };
                return Ok((want, &body[i + 1..]));
            }
            '\\' => match chars.next() {
                Some((_, e @ ('"' | '\\'))) => pattern.push(e),
                _ => return Err("only \\\" and \\\\ are escapes".into()),
            },
            c => pattern.push(c),
        }
    }
    Err("the pattern's closing quote is missing".into())
}

/// The column (1-based, in characters) of a line's first token.
pub fn first_token_column(line: &str) -> usize {
    line.chars().take_while(|c| c.is_whitespace()).count() + 1
}

/// A finding as the fixture checks see it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub line: usize,
    pub column: usize,
    pub rule: String,
    pub message: String,
}

/// Pairs findings with expectations: returns the problems (unmet expectations and findings no
/// expectation accounts for), each naming its line.
pub fn compare(text: &str, wants: &[Want], seen: &[Seen]) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut used = vec![false; seen.len()];
    let mut problems = Vec::new();
    for want in wants {
        let column = want.column.unwrap_or_else(|| {
            lines
                .get(want.line - 1)
                .map_or(1, |l| first_token_column(l))
        });
        let found = seen.iter().enumerate().position(|(i, s)| {
            !used[i]
                && s.line == want.line
                && s.rule == want.rule
                && s.column == column
                && s.message.contains(&want.pattern)
        });
        match found {
            Some(i) => used[i] = true,
            None => {
                let near: Vec<String> = seen
                    .iter()
                    .filter(|s| s.line == want.line)
                    .map(|s| format!("{}:{} \"{}\"", s.rule, s.column, s.message))
                    .collect();
                problems.push(format!(
                    "{}:{column}: expected {} \"{}\"; found on this line: {near:?}",
                    want.line, want.rule, want.pattern
                ));
            }
        }
    }
    for (s, used) in seen.iter().zip(&used) {
        if !used {
            problems.push(format!(
                "{}:{}: unexpected {} \"{}\"",
                s.line, s.column, s.rule, s.message
            ));
        }
    }
    problems
}

/// The parser's own check (run by the fixture harness): escapes, columns, and the old
/// `// want "rule-id"` form, which no longer says enough and must be refused.
pub fn check_parser() -> Result<(), String> {
    let text = "x // want a-b \"m \\\"q\\\" \\\\\" c:7 \"n\"\n";
    let wants = parse(text)?;
    let ok = wants.len() == 2
        && wants[0].pattern == "m \"q\" \\"
        && wants[1].rule == "c"
        && wants[1].column == Some(7)
        && parse("x // want \"a-b\"\n").is_err()
        && parse("x // want a-b\n").is_err()
        && parse("x // want a-b \"open\n").is_err();
    match ok {
        true => Ok(()),
        false => Err(format!("the want parser misread {text:?}: {wants:?}")),
    }
}
