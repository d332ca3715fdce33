//! `goconc check`: find the files, analyze each folder as one package (folders in parallel),
//! apply fixes when asked, print, and choose the exit code.

use std::io::Write;
use std::path::{Path, PathBuf};

use goconc_analysis::{Config, Finding, GoVersion};
use rayon::prelude::*;

use crate::baseline::{self, Baseline};
use crate::discover::{
    path_bytes, relative_slash, shown, DirJob, Inputs, Lookup, PathMessage, StdinFile,
};
use crate::files::{self, Written};
use crate::newcode::ChangedLines;
use crate::{fix, output, CheckArgs, Format, EXIT_ERROR, EXIT_FINDINGS};

/// One checked file and what remains in it.
pub struct FileReport {
    /// As shown to the user: as given on the command line (the first spelling that named it),
    /// without a leading `./`.
    pub path: PathBuf,
    pub text: String,
    pub findings: Vec<Finding>,
    /// The fingerprint of each finding ([`crate::fingerprint`]), when asked for; else empty.
    pub fingerprints: Vec<String>,
    /// Findings fixed by `--fix` (or that `--diff` would fix).
    pub fixed: usize,
    /// The text before fixes, when fixes changed it.
    pub original: Option<String>,
    /// Its text came from standard input.
    pub from_stdin: bool,
}

impl FileReport {
    /// Keeps the findings (and their fingerprints) whose index passes `keep`.
    pub fn retain(&mut self, keep: impl Fn(usize) -> bool) {
        let mut index = 0;
        self.findings.retain(|_| {
            index += 1;
            keep(index - 1)
        });
        if !self.fingerprints.is_empty() {
            let mut index = 0;
            self.fingerprints.retain(|_| {
                index += 1;
                keep(index - 1)
            });
        }
    }
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
    /// `--unsafe-fixes`: the summary counts the unsafe fixes as applicable.
    pub unsafe_fixes: bool,
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
    /// The findings are to be named (`crate::fingerprint`).
    fingerprints: bool,
    overrides: Config,
    unsafe_fixes: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Report,
    Fix,
    Diff,
}

/// Where one output goes.
enum Sink {
    Stdout,
    Stderr,
    File(PathBuf),
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
    match run_checked(args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            EXIT_ERROR
        }
    }
}

/// The outputs asked for: each format and where it goes. Err when two would write to one
/// place (the second would overwrite or interleave with the first).
fn outputs(args: &CheckArgs) -> Result<Vec<(Format, Sink)>, String> {
    let specs = if args.format.is_empty() {
        vec![crate::OutputSpec {
            format: Format::Text,
            path: None,
        }]
    } else {
        args.format.clone()
    };
    let outputs = specs
        .into_iter()
        .map(|spec| {
            let sink = match (spec.path, &args.output_file) {
                (Some(path), _) => Sink::File(path),
                (None, Some(path)) => Sink::File(path.clone()),
                (None, None) => Sink::Stdout,
            };
            (spec.format, sink)
        })
        .collect::<Vec<_>>();
    let mut places: Vec<(Option<&Path>, Format)> = Vec::new();
    for (format, sink) in &outputs {
        let place = match sink {
            Sink::File(path) => Some(path.as_path()),
            _ => None,
        };
        if let Some((_, first)) = places.iter().find(|(p, _)| *p == place) {
            let name = |f: &Format| format!("{f:?}").to_lowercase();
            return Err(match place {
                Some(path) => format!(
                    "--format {} and {} would both write {}: give each its own file (`--format {}:FILE`)",
                    name(first),
                    name(format),
                    path.display(),
                    name(format)
                ),
                None => format!(
                    "--format {} and {} would both write to standard output: give one a file (`--format {}:FILE`)",
                    name(first),
                    name(format),
                    name(format)
                ),
            });
        }
        places.push((place, *format));
    }
    Ok(outputs)
}

/// Standard input's text, when a path is `-`.
fn read_stdin(args: &CheckArgs) -> Result<Option<StdinFile>, String> {
    let wants_stdin = args.paths.iter().any(|p| p.as_os_str() == "-");
    if !wants_stdin {
        if args.stdin_filename.is_some() {
            return Err(
                "--stdin-filename names the text read from standard input: add `-` to \
                        the paths to read it"
                    .to_string(),
            );
        }
        return Ok(None);
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut bytes)
        .map_err(|e| format!("reading standard input: {e}"))?;
    let path = args
        .stdin_filename
        .clone()
        .unwrap_or_else(|| PathBuf::from("stdin.go"));
    let text = files::go_text(bytes).map_err(|e| format!("standard input: {e}"))?;
    Ok(Some(StdinFile { path, text }))
}

fn run_checked(args: &CheckArgs) -> Result<u8, String> {
    let overrides = overrides(args)?;
    let mode = if args.fix {
        Mode::Fix
    } else if args.diff {
        Mode::Diff
    } else {
        Mode::Report
    };
    let outputs = outputs(args)?;
    let lookup = match &args.config {
        Some(path) => Lookup::with_config_file(path)?,
        None => Lookup::default(),
    };
    // Read before the check, so that a bad revision or baseline is told at once.
    let changed = match (&args.new_from_rev, &args.new_from_merge_base) {
        (Some(rev), _) => Some(ChangedLines::since(rev)?),
        (None, Some(branch)) => Some(ChangedLines::since_merge_base(branch)?),
        (None, None) => None,
    };
    let baseline = args.baseline.as_deref().map(Baseline::read).transpose()?;
    let stdin = read_stdin(args)?;
    let stdin_fix = stdin.is_some() && mode == Mode::Fix;
    let inputs = Inputs::collect(&args.paths, stdin);
    let wants_fingerprints = baseline.is_some()
        || args.write_baseline.is_some()
        || outputs.iter().any(|(f, _)| output::shows_fingerprints(*f));
    let plan = Plan {
        mode,
        fingerprints: wants_fingerprints,
        overrides,
        unsafe_fixes: args.unsafe_fixes,
    };
    let mut report = match check(inputs, lookup, &plan) {
        Ok(report) => report,
        Err(config_errors) => return Err(config_errors.join("\nerror: ")),
    };
    for w in &report.warnings {
        w.eprint("warning");
    }
    for e in &report.errors {
        e.eprint("error");
    }
    if mode == Mode::Diff {
        return Ok(print_diff(&report));
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
    // `--fix -`: the fixed text goes to stdout (as ruff does), the report to stderr.
    if stdin_fix {
        if let Some(file) = report.files.iter().find(|f| f.from_stdin) {
            let mut out = std::io::stdout().lock();
            if let Err(e) = out
                .write_all(file.text.as_bytes())
                .and_then(|()| out.flush())
            {
                if e.kind() != std::io::ErrorKind::BrokenPipe {
                    return Err(format!("writing the fixed text: {e}"));
                }
            }
        }
    }
    if wants_fingerprints {
        // Those the analysis did not name: fixed texts and quiet files, told without a tree.
        let unnamed = |f: &FileReport| f.fingerprints.len() != f.findings.len();
        let fingerprints: Vec<Vec<String>> = report
            .files
            .par_iter()
            .filter(|f| unnamed(f))
            .map(crate::fingerprint::of_file)
            .collect();
        let files = report.files.iter_mut().filter(|f| unnamed(f));
        for (file, fingerprints) in files.zip(fingerprints) {
            file.fingerprints = fingerprints;
        }
    }
    if let Some(changed) = &changed {
        let before = report.findings().count();
        for file in &mut report.files {
            let stdin = file.from_stdin;
            changed.keep_new(file, stdin);
        }
        let hidden = before - report.findings().count();
        if hidden > 0 {
            eprintln!(
                "note: {} on lines not changed since {} not shown",
                plural(hidden, "finding"),
                args.new_from_rev
                    .as_deref()
                    .or(args.new_from_merge_base.as_deref())
                    .unwrap_or("the revision")
            );
        }
    }
    if let Some(path) = &args.write_baseline {
        let count = baseline::write(path, &report)?;
        eprintln!("wrote {} to {}", plural(count, "finding"), path.display());
        return Ok(if report.errors.is_empty() {
            0
        } else {
            EXIT_ERROR
        });
    }
    if let (Some(baseline), Some(path)) = (&baseline, &args.baseline) {
        let applied = baseline.apply(&mut report);
        if applied.hidden > 0 {
            eprintln!(
                "note: {} in the baseline {} not shown",
                plural(applied.hidden, "finding"),
                path.display()
            );
        }
        if applied.stale > 0 {
            eprintln!(
                "note: {} of the baseline {} no longer found (fixed?): `--write-baseline {}` \
                 drops them",
                plural(applied.stale, "finding"),
                path.display(),
                path.display()
            );
        }
    }
    let json_to_stdout = outputs
        .iter()
        .any(|(f, sink)| *f == Format::Json && matches!(sink, Sink::Stdout));
    if outputs.iter().any(|(f, _)| *f == Format::Json) {
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
    for (format, sink) in outputs {
        let sink = match sink {
            Sink::Stdout if stdin_fix => Sink::Stderr,
            sink => sink,
        };
        let written = write_output(&report, args, format, &sink, json_to_stdout);
        if let Err(e) = written {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                let to = match &sink {
                    Sink::File(path) => format!(" to {}", path.display()),
                    _ => String::new(),
                };
                return Err(format!("writing the {format:?} report{to}: {e}").to_lowercase());
            }
        }
    }
    if !report.errors.is_empty() {
        return Ok(EXIT_ERROR);
    }
    let failing = args
        .fail_on
        .threshold()
        .is_some_and(|min| report.findings().any(|(_, f)| f.severity >= min));
    Ok(if failing { EXIT_FINDINGS } else { 0 })
}

/// Writes one format where it goes. `--statistics` replaces the text and JSON reports on a
/// terminal or pipe with the counts per rule.
fn write_output(
    report: &Report,
    args: &CheckArgs,
    format: Format,
    sink: &Sink,
    json_to_stdout: bool,
) -> std::io::Result<()> {
    let mut file;
    // Buffered: a locked stdout flushes at every newline, a system call per line of a report
    // that can run to tens of megabytes.
    let mut stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let mut stderr = std::io::BufWriter::new(std::io::stderr().lock());
    let (out, color): (&mut dyn Write, bool) = match sink {
        Sink::Stdout => {
            let color = output::text::use_color(args.color);
            (&mut stdout as &mut dyn Write, color)
        }
        Sink::Stderr => (&mut stderr as &mut dyn Write, false),
        Sink::File(path) => {
            file = std::io::BufWriter::new(std::fs::File::create(path)?);
            (
                &mut file as &mut dyn Write,
                args.color == crate::ColorChoice::Always,
            )
        }
    };
    let statistics = args.statistics && !matches!(sink, Sink::File(_));
    let result = match format {
        Format::Text if statistics && !json_to_stdout => {
            output::statistics::write_text(out, report, args.unsafe_fixes)
        }
        Format::Json if statistics => {
            output::statistics::write_json(out, report, args.unsafe_fixes)
        }
        _ => output::write(format, report, out, color),
    };
    result.and_then(|()| out.flush())
}

/// `--diff`: the changes `--fix` would make; exit 1 when there are some.
fn print_diff(report: &Report) -> u8 {
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
    if !report.errors.is_empty() {
        EXIT_ERROR
    } else if any {
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
    config.report_unused_suppressions = args.report_unused_suppressions;
    let all = crate::catalog::all();
    let matching = |pattern: &str| -> Result<Vec<&'static str>, String> {
        crate::catalog::named_by(pattern).ok_or_else(|| crate::rules_cmd::unknown_rule(pattern))
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
        for entry in &all {
            // Unused suppressions are asked for by their own option, whatever is selected.
            if !keep.contains(entry.id())
                && entry.id() != goconc_analysis::suppress::UNUSED_SUPPRESSION
            {
                config.severities.insert(entry.id(), None);
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
struct Prepared<'a> {
    job: &'a DirJob,
    config: &'a Config,
    go_version: Option<GoVersion>,
    /// The exports of the module's packages the folder imports.
    module: Option<std::sync::Arc<goconc_analysis::ModuleSummaries>>,
}

/// Runs the check. Err holds the messages of `goconc.toml` files that do not parse (nothing is
/// checked then: a config that says something we cannot read must not be silently ignored).
fn check(inputs: Inputs, mut lookup: Lookup, plan: &Plan) -> Result<Report, Vec<String>> {
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
        prepared.push((dir, job, config, go_version));
    }
    if !lookup.config_errors.is_empty() {
        return Err(lookup.config_errors.into_values().collect());
    }
    let named: Vec<(&Path, &DirJob)> = prepared
        .iter()
        .map(|(dir, job, _, _)| (dir.as_path(), job))
        .collect();
    let files: usize = prepared
        .iter()
        .map(|(_, job, _, _)| job.files.values().filter(|f| f.report).count())
        .sum();
    let progress = crate::progress::bar(files);
    // Each folder once the exports of the module packages it imports are made.
    let results: Vec<DirResult> =
        crate::module::check_in_import_order(&named, &mut lookup, |i, input| {
            let (_, job, config, go_version) = &prepared[i];
            let p = Prepared {
                job,
                config,
                go_version: *go_version,
                module: input.module,
            };
            let checked = check_dir(&p, plan, input.exports_with.as_ref());
            progress.inc(job.files.values().filter(|f| f.report).count() as u64);
            checked
        });
    progress.finish_and_clear();
    let mut report = Report {
        files: Vec::new(),
        errors: inputs.errors,
        warnings: inputs.warnings,
        unsafe_fixes: plan.unsafe_fixes,
    };
    for r in results {
        report.errors.extend(r.errors);
        report.warnings.extend(r.warnings);
        for file in r.files {
            let file = if plan.mode == Mode::Fix && !file.from_stdin {
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
    let Some(original) = file.original.as_ref().filter(|o| **o != file.text) else {
        return file.into_report();
    };
    let message = match files::replace_if_unchanged(
        &file.path,
        original.as_bytes(),
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
    /// The text as read, when fixes changed it (None: `text` is as read).
    original: Option<String>,
    /// The findings of `original` under `--fix` (reported if the fixes cannot be written).
    original_findings: Option<Vec<Finding>>,
    text: String,
    findings: Vec<Finding>,
    /// Their fingerprints, when the analysis named them.
    fingerprints: Option<Vec<String>>,
    fixed: usize,
    from_stdin: bool,
}

impl Checked {
    fn into_report(self) -> FileReport {
        let original = self.original.filter(|o| *o != self.text);
        FileReport {
            path: shown(&self.path).to_path_buf(),
            findings: self.findings,
            fingerprints: self.fingerprints.unwrap_or_default(),
            fixed: self.fixed,
            original,
            text: self.text,
            from_stdin: self.from_stdin,
        }
    }

    /// The file as it was read, its fixes not applied.
    fn unwritten(self) -> FileReport {
        FileReport {
            path: shown(&self.path).to_path_buf(),
            findings: self.original_findings.unwrap_or(self.findings),
            fingerprints: Vec::new(),
            fixed: 0,
            original: None,
            text: self.original.unwrap_or(self.text),
            from_stdin: self.from_stdin,
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

/// Whether a Go file says it is generated: one definition, in the model.
pub use goconc_analysis::is_generated;

/// Checks one folder. With `exports_with`, also makes its exports to the rest of its module
/// from the declarations the check reads (None when it reads none: no file of it is reported).
fn check_dir(
    p: &Prepared,
    plan: &Plan,
    exports_with: Option<&std::sync::Arc<goconc_analysis::ModuleSummaries>>,
) -> (DirResult, Option<goconc_analysis::module::PackageExports>) {
    let mode = plan.mode;
    let mut result = DirResult::default();
    // Read every file of the folder. One that cannot be read, or is not Go text, is left out:
    // reported when asked for, silently when it is only read for the package's types.
    let mut paths: Vec<&Path> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut texts: Vec<String> = Vec::new();
    let mut reported: Vec<bool> = Vec::new();
    let mut from_stdin: Vec<bool> = Vec::new();
    for (name, file) in &p.job.files {
        let text = match &file.stdin_text {
            Some(text) => Ok(text.as_str().to_string()),
            None => files::read_regular(&file.path)
                .map_err(|e| e.to_string())
                .and_then(files::go_text),
        };
        match text {
            Ok(text) => {
                paths.push(&file.path);
                names.push(name.to_string_lossy().into_owned());
                // A generated file found by a walk is read for the package's types only.
                reported.push(file.report && (file.named || !is_generated(&text)));
                texts.push(text);
                from_stdin.push(file.stdin_text.is_some());
            }
            Err(message) => {
                if file.report {
                    result.errors.push(PathMessage::new(&file.path, message));
                }
            }
        }
    }
    if !reported.contains(&true) {
        return (result, None);
    }
    let mut exports = None;
    // A file's text as read, kept aside only once a fix changes it (a plain check holds each
    // text once, not twice).
    let mut originals: Vec<Option<String>> = vec![None; texts.len()];
    let mut first_findings: Vec<Option<Vec<Finding>>> = vec![None; texts.len()];
    let mut fixed = vec![0usize; texts.len()];
    let mut round = 0;
    // A plain check names its findings while the analysis holds each tree; fixes change texts
    // after the analysis, so their findings are named afterwards (`crate::fingerprint::of_file`).
    let fingerprint = |i: usize, text: &str, tree: &tree_sitter::Tree, findings: &[Finding]| {
        crate::fingerprint::of_findings(shown(paths[i]), text, tree.root_node(), findings)
    };
    let fingerprint: Option<&crate::package::Fingerprinter<'_>> =
        (plan.fingerprints && mode == Mode::Report).then_some(&fingerprint);
    let outcomes = loop {
        let files: Vec<crate::package::DirFile> = names
            .iter()
            .zip(&texts)
            .zip(&reported)
            .map(|((name, text), &reported)| crate::package::DirFile {
                name: name.clone(),
                text: text.as_str(),
                reported,
            })
            .collect();
        // Exports from the texts as read, as the index makes those of folders not named.
        let (outcomes, made) = crate::package::analyze_dir_exporting(
            &files,
            p.go_version,
            p.config,
            p.module.as_ref(),
            fingerprint,
            exports_with.filter(|_| round == 0),
        );
        if made.is_some() {
            exports = made;
        }
        if mode == Mode::Report || round == MAX_FIX_ROUNDS {
            break outcomes;
        }
        let mut changed = false;
        for (i, outcome) in outcomes.iter().map(|a| &a.outcome).enumerate() {
            if !reported[i] {
                continue;
            }
            if round == 0 && mode == Mode::Fix {
                first_findings[i] = Some(outcome.findings.clone());
            }
            let fixes = fix::apply_first_fixes(&texts[i], &outcome.findings, plan.unsafe_fixes);
            if fixes.broke_syntax {
                result.warnings.push(PathMessage::new(
                    paths[i],
                    "goconc bug: its fixes would break its syntax; left unchanged",
                ));
            }
            if fixes.fixed > 0 && fixes.text != texts[i] {
                let before = std::mem::replace(&mut texts[i], fixes.text);
                originals[i].get_or_insert(before);
                fixed[i] += fixes.fixed;
                changed = true;
            }
        }
        if !changed {
            break outcomes;
        }
        round += 1;
    };
    for (i, analysed) in outcomes.into_iter().enumerate() {
        if !reported[i] {
            continue;
        }
        let outcome = analysed.outcome;
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
            original: originals[i].take(),
            original_findings: first_findings[i].take(),
            findings: outcome.findings,
            fingerprints: analysed.fingerprints,
            fixed: fixed[i],
            text: std::mem::take(&mut texts[i]),
            from_stdin: from_stdin[i],
        });
    }
    (result, exports)
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
