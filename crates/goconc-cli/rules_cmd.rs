//! `goconc rules` and `goconc explain RULE`.

use std::io::Write;

use crate::catalog::{self, Entry};
use crate::EXIT_ERROR;

pub fn list() -> u8 {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let all = catalog::all();
    let width = all.iter().map(|e| e.id().len()).max().unwrap_or(0);
    let mut lines = Vec::new();
    for (key, title, entries) in catalog::by_family() {
        lines.push(format!("{title} (--select {key})"));
        for e in entries {
            let fix = if e.fix().is_some() { "fix" } else { "-" };
            lines.push(format!(
                "  {:width$}  {:7}  {:3}  {}",
                e.id(),
                e.severity().as_str(),
                fix,
                e.summary()
            ));
        }
        lines.push(String::new());
    }
    let fixable = all.iter().filter(|e| e.fix().is_some()).count();
    lines.push(format!(
        "{} rules, {fixable} with a quick fix; `goconc explain RULE` shows a rule's page",
        all.len()
    ));
    for line in lines {
        if writeln!(out, "{line}").is_err() {
            break;
        }
    }
    0
}

/// One rule as `goconc rules --format json` gives it.
pub fn entry_json(e: Entry) -> serde_json::Value {
    serde_json::json!({
        "id": e.id(),
        "family": e.family_key(),
        "family_title": e.family_title(),
        "severity": e.severity().as_str(),
        "summary": e.summary(),
        "fix": e.fix(),
        "url": crate::rule_url(e.id()),
    })
}

/// `goconc rules --format json`: the catalog, one object per rule, in catalog order.
pub fn list_json() -> u8 {
    let catalog: Vec<serde_json::Value> = catalog::all().into_iter().map(entry_json).collect();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let written = serde_json::to_writer_pretty(&mut out, &catalog)
        .map_err(std::io::Error::from)
        .and_then(|()| writeln!(out));
    match written {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            eprintln!("error: writing the catalog: {e}");
            EXIT_ERROR
        }
        _ => 0,
    }
}

pub fn explain(id: &str) -> u8 {
    match catalog::find(id) {
        Some(entry) => {
            print!("{}", entry.page());
            0
        }
        None => {
            eprintln!("error: {}", unknown_rule(id));
            EXIT_ERROR
        }
    }
}

/// "unknown rule `x`", with the closest ids.
pub fn unknown_rule(id: &str) -> String {
    let close = close_matches(id);
    if close.is_empty() {
        let families = catalog::family_keys();
        format!(
            "unknown rule `{id}`: neither a rule id (see `goconc rules`) nor a family ({})",
            families.join(", ")
        )
    } else {
        format!(
            "unknown rule `{id}`; did you mean {}?",
            close
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// Rule ids and family keys within a small edit distance of `id`, or containing it, best first.
pub fn close_matches(id: &str) -> Vec<&'static str> {
    let ids: Vec<&'static str> = catalog::all().into_iter().map(Entry::id).collect();
    let mut scored: Vec<(usize, &'static str)> = catalog::family_keys()
        .into_iter()
        .chain(ids)
        .filter_map(|name| {
            let d = levenshtein(id, name);
            let limit = (id.len() / 3).max(2);
            if d <= limit {
                Some((d, name))
            } else if id.len() >= 3 && name.contains(id) {
                Some((limit + 1, name))
            } else {
                None
            }
        })
        .collect();
    scored.sort();
    scored.into_iter().take(5).map(|(_, id)| id).collect()
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for j in 0..b.len() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != b[j]))
                .min(row[j] + 1)
                .min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::levenshtein;

    #[test]
    fn edit_distance() {
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("", "ab"), 2);
        assert_eq!(levenshtein("mutex", "mutex"), 0);
    }
}
