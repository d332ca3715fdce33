//! `goconc check`: find the files, analyze each folder as one package (folders in parallel),
//! apply fixes when asked, print, and choose the exit code.

use std::io::Write;
use std::path::{Path, PathBuf};

use goconc_analysis::{rules, Config, Finding, GoVersion};
use rayon::prelude::*;

use crate::discover::{path_bytes, relative_slash, shown, DirJob, Inputs, Lookup, PathMessage};
use crate::files::{self, Written};
use crate::{fix, output, CheckArgs, Format, EXIT_ERROR, EXIT_FINDINGS};

/// One checked file and what remains in it.
pub struct FileReport {
    /// As shown to the user: as given on the command line (the first spelling that named it),
    /// without a leading `./`.
    pub path: PathBuf,
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
    /// Files and folders that could not be read or checked, and files `--fix` could not write
    /// (exit 2).
    pub errors: Vec<PathMessage>,
    /// goconc's own bugs (a rule that panicked, a fix that broke syntax), files `--fix` left
    /// alone because they changed meanwhile, ignore files with bad globs: printed, not fatal.
    pub warnings: Vec<PathMessage>,
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

/// The stack of each thread that analyses folders. The engine bounds its own recursion
/// (`MAX_NESTING`), so this is a margin, not the guard: rayon's default of 2 MiB is what made
/// deeply nested code abort the process once two folders were checked.
const ANALYSIS_STACK: usize = 16 << 20;

pub fn run(args: &CheckArgs) -> u8 {
    // Fails only if the pool was already built, which leaves its threads as they are.
    let _ = rayon::ThreadPoolBuilder::new()
        .stack_size(ANALYSIS_STACK)
        .build_global();
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
        w.eprint("warning");
    }
    for e in &report.errors {
        e.eprint("error");
    }
    if mode == Mode::Diff {
        let mut any = false;
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        for file in &report.files {
            if let Some(original) = &file.original {
                let diff = fix::unified_diff(&file.path, original, &file.text);
                if let Err(e) = out.write_all(&diff) {
                    if e.kind() != std::io::ErrorKind::BrokenPipe {
                        eprintln!("error: writing the diff: {e}");
                        return EXIT_ERROR;
                    }
                }
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
        let stderr = std::io::stderr();
        let mut err = stderr.lock();
        for file in report.files.iter().filter(|f| f.fixed > 0) {
            let _ = write!(err, "fixed {} in ", plural(file.fixed, "finding"));
            let _ = err.write_all(&path_bytes(&file.path));
            let _ = writeln!(err);
        }
    }
    if args.format == Format::Json {
        for file in report.files.iter().filter(|f| !f.findings.is_empty()) {
            if file.path.to_str().is_none() {
                PathMessage {
                    path: file.path.clone(),
                    message: "the file name is not UTF-8: JSON shows it with U+FFFD in place of \
                              the bytes that are not"
                        .to_string(),
                }
                .eprint("warning");
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
        // `dir` is canonical: absolute, without links.
        let go_version = lookup.go_version(&dir);
        let found = lookup.config(&dir);
        let config = match &found {
            Some(found) => {
                // Exclude globs are relative to the config's folder. An excluded file is still
                // read for the package's types; its findings are not reported.
                for (name, file) in job.files.iter_mut() {
                    let rel = relative_slash(&dir.join(name), &found.dir);
                    if rel.is_some_and(|rel| found.config.excludes(&rel)) {
                        file.report = false;
                    }
                }
                found.config.merged_with(&plan.overrides)
            }
            None => Config::default().merged_with(&plan.overrides),
        };
        if !job.files.values().any(|f| f.report) {
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
        warnings: inputs.warnings,
    };
    for r in results {
        report.errors.extend(r.errors);
        report.warnings.extend(r.warnings);
        for file in r.files {
            let file = if plan.mode == Mode::Fix {
                write_fixes(file, &mut report)
            } else {
                file.into_report()
            };
            report.files.push(file);
        }
    }
    report.files.sort_by(|a, b| a.path.cmp(&b.path));
    report.errors.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(report)
}

/// Writes a file's fixes, one file at a time. A file that cannot be written, or that changed or
/// vanished since it was read, is reported as it was read: its findings stay in the report.
fn write_fixes(file: Checked, report: &mut Report) -> FileReport {
    if file.text == file.original {
        return file.into_report();
    }
    let message = match files::replace_if_unchanged(
        &file.path,
        file.original.as_bytes(),
        file.text.as_bytes(),
    ) {
        Ok(Written::Replaced) => return file.into_report(),
        Ok(Written::Changed) => {
            "changed on disk while goconc ran: left as it is, not fixed (its findings are of the \
             text goconc read; run goconc again)"
        }
        Ok(Written::Deleted) => {
            "deleted while goconc ran: not recreated (its findings are of the text goconc read)"
        }
        Err(message) => {
            report.errors.push(PathMessage::new(
                &file.path,
                format!("not fixed: {message}"),
            ));
            return file.unwritten();
        }
    };
    report.warnings.push(PathMessage::new(&file.path, message));
    file.unwritten()
}

/// One reported file after its folder's analysis, with its fixes applied in memory.
struct Checked {
    /// As spelled: for reading and writing.
    path: PathBuf,
    original: String,
    /// The findings of `original` under `--fix` (reported if the fixes cannot be written).
    original_findings: Option<Vec<Finding>>,
    text: String,
    findings: Vec<Finding>,
    fixed: usize,
}

impl Checked {
    fn into_report(self) -> FileReport {
        let changed = self.text != self.original;
        FileReport {
            path: shown(&self.path).to_path_buf(),
            findings: self.findings,
            fixed: self.fixed,
            original: changed.then_some(self.original),
            text: self.text,
        }
    }

    /// The file as it was read, its fixes not applied.
    fn unwritten(self) -> FileReport {
        FileReport {
            path: shown(&self.path).to_path_buf(),
            findings: self.original_findings.unwrap_or(self.findings),
            fixed: 0,
            original: None,
            text: self.original,
        }
    }
}

#[derive(Default)]
struct DirResult {
    files: Vec<Checked>,
    errors: Vec<PathMessage>,
    warnings: Vec<PathMessage>,
}

/// Rounds of `--fix`: fixing one finding can reveal or enable another.
const MAX_FIX_ROUNDS: usize = 5;

fn check_dir(p: &Prepared, mode: Mode) -> DirResult {
    let mut result = DirResult::default();
    // Read every file of the folder. One that cannot be read, or is not Go text, is left out:
    // reported when asked for, silently when it is only read for the package's types.
    let mut paths: Vec<&Path> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut texts: Vec<String> = Vec::new();
    let mut reported: Vec<bool> = Vec::new();
    for (name, file) in &p.job.files {
        let text = files::read_regular(&file.path)
            .map_err(|e| e.to_string())
            .and_then(files::go_text);
        match text {
            Ok(text) => {
                paths.push(&file.path);
                names.push(name.to_string_lossy().into_owned());
                texts.push(text);
                reported.push(file.report);
            }
            Err(message) => {
                if file.report {
                    result.errors.push(PathMessage::new(&file.path, message));
                }
            }
        }
    }
    if !reported.contains(&true) {
        return result;
    }
    let mut originals = texts.clone();
    let mut first_findings: Vec<Option<Vec<Finding>>> = vec![None; texts.len()];
    let mut fixed = vec![0usize; texts.len()];
    let mut round = 0;
    let outcomes = loop {
        let files: Vec<(String, &str)> = names
            .iter()
            .zip(&texts)
            .map(|(name, text)| (name.clone(), text.as_str()))
            .collect();
        let outcomes = crate::package::analyze_dir(&files, p.go_version, &p.config);
        if mode == Mode::Report || round == MAX_FIX_ROUNDS {
            break outcomes;
        }
        let mut changed = false;
        for (i, outcome) in outcomes.iter().enumerate() {
            if !reported[i] {
                continue;
            }
            if round == 0 && mode == Mode::Fix {
                first_findings[i] = Some(outcome.findings.clone());
            }
            let fixes = fix::apply_first_fixes(&texts[i], &outcome.findings);
            if fixes.broke_syntax {
                result.warnings.push(PathMessage::new(
                    paths[i],
                    "goconc bug: its fixes would break its syntax; left unchanged",
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
        for rule in &outcome.failed_rules {
            result.warnings.push(PathMessage::new(
                paths[i],
                format!("goconc bug: rule {rule} failed here; its findings are missing"),
            ));
        }
        for skipped in &outcome.too_deep {
            result.warnings.push(PathMessage::new(
                paths[i],
                too_deep_message(&texts[i], skipped.start),
            ));
        }
        result.files.push(Checked {
            path: paths[i].to_path_buf(),
            original: std::mem::take(&mut originals[i]),
            original_findings: first_findings[i].take(),
            findings: outcome.findings,
            fixed: fixed[i],
            text: std::mem::take(&mut texts[i]),
        });
    }
    result
}

/// What a user reads about a declaration the engine passed over because it nests too deep.
fn too_deep_message(text: &str, start: usize) -> String {
    let line = 1 + memchr_count(b'\n', &text.as_bytes()[..start.min(text.len())]);
    format!(
        "line {line}: not checked: brackets nest deeper than {} levels in this declaration \
         (generated code?), too deep to analyse safely",
        goconc_analysis::MAX_NESTING
    )
}

fn memchr_count(byte: u8, bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == byte).count()
}
