//! `goconc check`: find the files, analyze each folder as one package (folders in parallel),
//! apply fixes when asked, print, and choose the exit code.

use std::path::{Path, PathBuf};

use goconc_analysis::{rules, Config, Finding, GoVersion};
use rayon::prelude::*;

use crate::discover::{absolute, display_path, relative_slash, DirJob, Inputs, Lookup};
use crate::{fix, output, CheckArgs, Format, EXIT_ERROR, EXIT_FINDINGS};

/// One checked file and what remains in it.
pub struct FileReport {
    /// As shown to the user (relative as given on the command line, no leading `./`).
    pub path: String,
    pub text: String,
    pub findings: Vec<Finding>,
    /// Findings fixed by `--fix` (or that `--diff` would fix).
    pub fixed: usize,
    /// The text before fixes, when fixes changed it.
    pub original: Option<String>,
}

/// Everything one `check` found.
pub struct Report {
    pub files: Vec<FileReport>,
    /// Messages for files and folders that could not be read (exit 2).
    pub errors: Vec<String>,
    /// goconc's own bugs (a rule that panicked, a fix that broke syntax): printed, not fatal.
    pub warnings: Vec<String>,
}

impl Report {
    pub fn findings(&self) -> impl Iterator<Item = (&FileReport, &Finding)> {
        self.files
            .iter()
            .flat_map(|f| f.findings.iter().map(move |x| (f, x)))
    }
}

/// How to run: fixes or not, and the config layered over each folder's `goconc.toml`.
struct Plan {
    mode: Mode,
    overrides: Config,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Report,
    Fix,
    Diff,
}

pub fn run(args: &CheckArgs) -> u8 {
    let overrides = match overrides(args) {
        Ok(c) => c,
        Err(message) => {
            eprintln!("error: {message}");
            return EXIT_ERROR;
        }
    };
    let mode = if args.fix {
        Mode::Fix
    } else if args.diff {
        Mode::Diff
    } else {
        Mode::Report
    };
    let inputs = Inputs::collect(&args.paths);
    let report = match check(inputs, &Plan { mode, overrides }) {
        Ok(report) => report,
        Err(config_errors) => {
            for e in config_errors {
                eprintln!("error: {e}");
            }
            return EXIT_ERROR;
        }
    };
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    for e in &report.errors {
        eprintln!("error: {e}");
    }
    if mode == Mode::Diff {
        let mut any = false;
        for file in &report.files {
            if let Some(original) = &file.original {
                print!("{}", fix::unified_diff(&file.path, original, &file.text));
                any = true;
            }
        }
        let count: usize = report.files.iter().map(|f| f.fixed).sum();
        eprintln!(
            "{}",
            if any {
                format!("{} fixable with --fix", plural(count, "finding"))
            } else {
                "nothing to fix".to_string()
            }
        );
        return if !report.errors.is_empty() {
            EXIT_ERROR
        } else if any {
            EXIT_FINDINGS
        } else {
            0
        };
    }
    if mode == Mode::Fix {
        for file in &report.files {
            if file.fixed > 0 {
                eprintln!("fixed {} in {}", plural(file.fixed, "finding"), file.path);
            }
        }
    }
    let printed = match args.format {
        Format::Text => output::text::print(&report, output::text::use_color(args.color)),
        Format::Json => output::json::print(&report),
        Format::Sarif => output::sarif::print(&report),
    };
    if let Err(e) = printed {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("error: writing the report: {e}");
            return EXIT_ERROR;
        }
    }
    if !report.errors.is_empty() {
        return EXIT_ERROR;
    }
    let failing = args
        .fail_on
        .threshold()
        .is_some_and(|min| report.findings().any(|(_, f)| f.severity >= min));
    if failing {
        EXIT_FINDINGS
    } else {
        0
    }
}

pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// `--go-version`, `--select` and `--ignore` as a config layered over every `goconc.toml`.
fn overrides(args: &CheckArgs) -> Result<Config, String> {
    let mut config = Config::default();
    if let Some(v) = &args.go_version {
        config.go_version = Some(
            GoVersion::parse(v)
                .ok_or_else(|| format!("--go-version: `{v}` is not a Go version such as 1.22"))?,
        );
    }
    let all = rules::all();
    let matching = |pattern: &str| -> Result<Vec<&'static str>, String> {
        match rules::named_by(pattern) {
            Some(metas) => Ok(metas.into_iter().map(|m| m.id).collect()),
            None => Err(crate::rules_cmd::unknown_rule(pattern)),
        }
    };
    let selected: Vec<String> = args
        .select
        .iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if !selected.is_empty() {
        let mut keep = std::collections::HashSet::new();
        for pattern in &selected {
            keep.extend(matching(pattern).map_err(|e| format!("--select: {e}"))?);
        }
        for meta in &all {
            if !keep.contains(meta.id) {
                config.severities.insert(meta.id, None);
            }
        }
    }
    for pattern in args
        .ignore
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        for id in matching(pattern).map_err(|e| format!("--ignore: {e}"))? {
            config.severities.insert(id, None);
        }
    }
    Ok(config)
}

/// One folder ready to analyze: its files, config and Go version.
struct Prepared {
    job: DirJob,
    config: Config,
    go_version: Option<GoVersion>,
}

/// Runs the check. Err holds the messages of `goconc.toml` files that do not parse (nothing is
/// checked then: a config that says something we cannot read must not be silently ignored).
fn check(inputs: Inputs, plan: &Plan) -> Result<Report, Vec<String>> {
    let mut lookup = Lookup::default();
    let mut prepared = Vec::new();
    for (dir, mut job) in inputs.dirs {
        let abs = absolute(&dir);
        let go_version = lookup.go_version(&abs);
        let found = lookup.config(&abs);
        let config = match &found {
            Some(found) => {
                // Exclude globs apply to files found by walking, relative to the config's folder.
                let excluded = |p: &PathBuf| {
                    let abs_file = abs.join(p.file_name().unwrap_or_default());
                    relative_slash(&abs_file, &found.dir)
                        .is_some_and(|rel| found.config.excludes(&rel))
                };
                job.report.retain(|p| !excluded(p));
                found.config.merged_with(&plan.overrides)
            }
            None => Config::default().merged_with(&plan.overrides),
        };
        if job.report.is_empty() {
            continue;
        }
        prepared.push(Prepared {
            job,
            config,
            go_version,
        });
    }
    if !lookup.config_errors.is_empty() {
        return Err(lookup.config_errors.into_values().collect());
    }
    let results: Vec<DirResult> = prepared
        .par_iter()
        .map(|p| check_dir(p, plan.mode))
        .collect();
    let mut report = Report {
        files: Vec::new(),
        errors: inputs.errors,
        warnings: Vec::new(),
    };
    for r in results {
        report.files.extend(r.files);
        report.errors.extend(r.errors);
        report.warnings.extend(r.warnings);
    }
    report.files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(report)
}

#[derive(Default)]
struct DirResult {
    files: Vec<FileReport>,
    errors: Vec<String>,
    warnings: Vec<String>,
}

/// Rounds of `--fix`: fixing one finding can reveal or enable another.
const MAX_FIX_ROUNDS: usize = 5;

fn check_dir(p: &Prepared, mode: Mode) -> DirResult {
    let mut result = DirResult::default();
    // Read every file of the folder; one that cannot be read is reported and left out.
    let mut paths: Vec<&Path> = Vec::new();
    let mut texts: Vec<String> = Vec::new();
    let mut valid_utf8: Vec<bool> = Vec::new();
    for path in &p.job.files {
        match std::fs::read(path) {
            Ok(bytes) => {
                let (text, ok) = match String::from_utf8(bytes) {
                    Ok(s) => (s, true),
                    Err(e) => (String::from_utf8_lossy(e.as_bytes()).into_owned(), false),
                };
                paths.push(path);
                texts.push(text);
                valid_utf8.push(ok);
            }
            Err(e) => {
                if p.job.report.contains(path) {
                    result.errors.push(format!("{}: {}", display_path(path), e));
                }
            }
        }
    }
    let reported: Vec<bool> = paths
        .iter()
        .map(|path| p.job.report.contains(*path))
        .collect();
    let originals = texts.clone();
    let mut fixed = vec![0usize; texts.len()];
    let mut round = 0;
    let outcomes = loop {
        let files: Vec<(String, &str)> = paths
            .iter()
            .zip(&texts)
            .map(|(path, text)| {
                (
                    path.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    text.as_str(),
                )
            })
            .collect();
        let outcomes = crate::package::analyze_dir(&files, p.go_version, &p.config);
        if mode == Mode::Report || round == MAX_FIX_ROUNDS {
            break outcomes;
        }
        let mut changed = false;
        for (i, outcome) in outcomes.iter().enumerate() {
            if !reported[i] || !valid_utf8[i] {
                continue;
            }
            let fixes = fix::apply_first_fixes(&texts[i], &outcome.findings);
            if fixes.broke_syntax {
                result.warnings.push(format!(
                    "goconc bug: the fixes for {} would break its syntax; left unchanged",
                    display_path(paths[i])
                ));
            }
            if fixes.fixed > 0 && fixes.text != texts[i] {
                texts[i] = fixes.text;
                fixed[i] += fixes.fixed;
                changed = true;
            }
        }
        if !changed {
            break outcomes;
        }
        round += 1;
    };
    for (i, outcome) in outcomes.into_iter().enumerate() {
        if !reported[i] {
            continue;
        }
        let shown = display_path(paths[i]);
        for rule in &outcome.failed_rules {
            result.warnings.push(format!(
                "goconc bug: rule {rule} failed on {shown}; its findings there are missing"
            ));
        }
        let changed = texts[i] != originals[i];
        if mode == Mode::Fix && changed {
            if let Err(e) = std::fs::write(paths[i], &texts[i]) {
                result
                    .errors
                    .push(format!("{shown}: writing the fixed file: {e}"));
                continue;
            }
        }
        result.files.push(FileReport {
            path: shown,
            findings: outcome.findings,
            fixed: fixed[i],
            original: changed.then(|| originals[i].clone()),
            text: std::mem::take(&mut texts[i]),
        });
    }
    result
}
