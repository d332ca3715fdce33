//! `goconc rules` and `goconc explain RULE`.

use std::io::Write;

use goconc_analysis::rules;

use crate::EXIT_ERROR;

/// The rules grouped by family, families in catalog order.
pub fn by_family() -> Vec<(rules::Family, Vec<&'static rules::RuleMeta>)> {
    rules::Family::ALL
        .into_iter()
        .map(|family| {
            let metas = rules::all()
                .into_iter()
                .filter(|m| m.family == family)
                .collect();
            (family, metas)
        })
        .filter(|(_, metas): &(_, Vec<_>)| !metas.is_empty())
        .collect()
}

pub fn list() -> u8 {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let groups = by_family();
    let width = rules::all().iter().map(|m| m.id.len()).max().unwrap_or(0);
    let mut lines = Vec::new();
    for (family, metas) in &groups {
        lines.push(format!("{} (--select {})", family.title(), family.key()));
        for m in metas {
            let fix = if m.fix.is_some() { "fix" } else { "-" };
            lines.push(format!(
                "  {:width$}  {:7}  {:3}  {}",
                m.id,
                m.severity.as_str(),
                fix,
                m.summary
            ));
        }
        lines.push(String::new());
    }
    let count = rules::all().len();
    let fixable = rules::all().iter().filter(|m| m.fix.is_some()).count();
    lines.push(format!(
        "{count} rules, {fixable} with a quick fix; `goconc explain RULE` shows a rule's page"
    ));
    for line in lines {
        if writeln!(out, "{line}").is_err() {
            break;
        }
    }
    0
}

pub fn explain(id: &str) -> u8 {
    match rules::find(id) {
        Some(meta) => {
            print!("{}", meta.page());
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
        let families: Vec<&str> = rules::Family::ALL.iter().map(|f| f.key()).collect();
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
    let families = rules::Family::ALL.iter().map(|f| f.key());
    let mut scored: Vec<(usize, &'static str)> = families
        .chain(rules::all().iter().map(|m| m.id))
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
