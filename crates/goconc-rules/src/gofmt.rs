//! The bit of gofmt that fixes must reproduce: column alignment of struct fields.
//!
//! gofmt lays out a run of field lines with text/tabwriter: each line is a list of cells (names,
//! type, tag, comment), and a column is as wide as its widest cell plus one space, over every
//! consecutive line that has a cell in it. A fix that renames a field must realign its run or
//! the result is not gofmt-clean.

/// Aligns lines given as cells (the last cell of a line is not padded), as gofmt's tabwriter
/// does with padding 1. Each returned line has no indentation; the caller adds it.
///
/// A column's width is taken over each maximal run of consecutive lines that have a padded cell
/// in that column (such a run always lies within one run of the column before).
pub fn align(lines: &[Vec<String>]) -> Vec<String> {
    let padded = |line: &Vec<String>, column: usize| column + 1 < line.len();
    let columns = lines
        .iter()
        .map(|l| l.len().saturating_sub(1))
        .max()
        .unwrap_or(0);
    let mut widths: Vec<Vec<usize>> = lines.iter().map(|l| vec![0; l.len()]).collect();
    for column in 0..columns {
        let mut start = 0;
        while start < lines.len() {
            if !padded(&lines[start], column) {
                start += 1;
                continue;
            }
            let mut end = start;
            while end < lines.len() && padded(&lines[end], column) {
                end += 1;
            }
            let all_empty = lines[start..end].iter().all(|l| l[column].is_empty());
            let block = if all_empty {
                0
            } else {
                lines[start..end]
                    .iter()
                    .map(|l| width(&l[column]) + 1)
                    .max()
                    .unwrap_or(0)
            };
            for w in &mut widths[start..end] {
                w[column] = block;
            }
            start = end;
        }
    }
    lines
        .iter()
        .zip(&widths)
        .map(|(line, w)| {
            let mut out = String::new();
            for (column, cell) in line.iter().enumerate() {
                out.push_str(cell);
                if column + 1 < line.len() {
                    out.push_str(&" ".repeat(w[column].saturating_sub(width(cell))));
                }
            }
            out
        })
        .collect()
}

fn width(cell: &str) -> usize {
    cell.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(line: &[&str]) -> Vec<String> {
        line.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn aligns_like_gofmt() {
        let lines = vec![
            cells(&["mu", "sync.Mutex", "// want"]),
            cells(&["services", "map[string]string"]),
        ];
        assert_eq!(
            align(&lines),
            vec!["mu       sync.Mutex // want", "services map[string]string"]
        );
        let lines = vec![
            cells(&["sync.Mutex", "// c"]),
            cells(&["idle", "[]int"]),
            cells(&["// note"]),
            cells(&["n", "int"]),
        ];
        assert_eq!(
            align(&lines),
            vec!["sync.Mutex // c", "idle       []int", "// note", "n int"]
        );
    }
}
