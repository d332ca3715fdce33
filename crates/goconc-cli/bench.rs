//! `goconc bench`: the speed benchmark. Over every `.go` file that `goconc check` would check
//! under a root (default: the Go standard library, `$(go env GOROOT)/src`), it times a
//! parse-only pass (`SourceFile::new` per file) and the full check (parse plus
//! `analyze_package` per folder), both on one thread so their ratio is fair, and reports peak
//! memory. A folder's files are read just before its passes (disk time is in neither), and
//! dropped after, as `goconc check` does: the peak is the check's, not that of 69 MB of source
//! held at once. The two passes are interleaved folder by folder, alternating which goes first,
//! so a slow spell of a shared machine (this one's speed moves by half within minutes) slows
//! both alike.
//!
//! The target: the full check at most 1.35× the parse-only time, peak memory at most 400 MB.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use goconc_analysis::{Config, GoVersion, SourceFile};

use crate::discover::{Inputs, Lookup};
use crate::EXIT_ERROR;

#[derive(Args, Clone)]
pub struct BenchArgs {
    /// The tree to check (default: `$(go env GOROOT)/src`).
    #[arg(long)]
    pub root: Option<PathBuf>,
    /// Run each pass (with --shapes: check each shape) this many times and keep the fastest
    /// (with --shapes, and the median peak): CPU time on a shared or virtual machine varies by
    /// a fifth from run to run.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// Instead: check generated files of hostile shapes (deep nesting, long chains, huge
    /// tables, one-line files) and report CPU seconds and peak MB per MB of input.
    #[arg(long)]
    pub shapes: bool,
    /// With --shapes: multiply each shape's size by this.
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// With --shapes: only the shapes whose name contains this.
    #[arg(long)]
    pub only: Option<String>,
    /// With --shapes: check with this goconc binary (to compare builds), not this one.
    #[arg(long)]
    pub binary: Option<PathBuf>,
    /// With --shapes: stop a check after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub limit: u64,
    /// Parse this file as `check` does, keep its tree to the end and exit: how the shapes bench
    /// measures what tree-sitter's tree alone costs.
    #[arg(long, hide = true, value_name = "FILE")]
    pub parse_only: Option<PathBuf>,
}

/// The files of one folder.
struct Dir {
    paths: Vec<PathBuf>,
    go_version: Option<GoVersion>,
}

impl Dir {
    /// Each file's name and text (as `goconc check` reads them; unreadable files left out).
    fn read(&self) -> Vec<(String, String)> {
        self.paths
            .iter()
            .filter_map(|path| {
                let raw = std::fs::read(path).ok()?;
                Some((file_name(path), String::from_utf8_lossy(&raw).into_owned()))
            })
            .collect()
    }
}

fn goroot_src() -> Result<PathBuf, String> {
    let out = std::process::Command::new("go")
        .args(["env", "GOROOT"])
        .output()
        .map_err(|e| format!("running `go env GOROOT`: {e} (is go on PATH? or pass --root DIR)"))?;
    if !out.status.success() {
        return Err(format!(
            "`go env GOROOT` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("src"))
}

/// The peak resident set size of this process, in bytes (`VmHWM`, Linux only).
pub fn peak_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// CPU time of the calling thread (user + system), in nanoseconds. Unlike wall time it is not
/// inflated by other processes competing for the cores.
#[cfg(unix)]
fn thread_cpu_time() -> Option<Duration> {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec it is given.
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) } == 0;
    ok.then(|| Duration::new(now.tv_sec as u64, now.tv_nsec as u32))
}

#[cfg(not(unix))]
fn thread_cpu_time() -> Option<Duration> {
    None
}

/// Wall and CPU time of one pass, summed over its parts.
#[derive(Clone, Copy, Default)]
struct Timing {
    wall: Duration,
    cpu: Option<Duration>,
}

impl Timing {
    /// Runs `f` and adds its time.
    fn add(&mut self, f: impl FnOnce()) {
        let cpu_start = thread_cpu_time();
        let start = Instant::now();
        f();
        self.wall += start.elapsed();
        self.cpu = match (cpu_start, thread_cpu_time()) {
            (Some(a), Some(b)) => Some(self.cpu.unwrap_or_default() + b.saturating_sub(a)),
            _ => None,
        };
    }

    /// CPU time when known (the fair measure on a busy machine), else wall time.
    fn best(self) -> Duration {
        self.cpu.unwrap_or(self.wall)
    }

    fn keep_faster(self, other: Option<Timing>) -> Timing {
        match other {
            Some(o) if o.best() <= self.best() => o,
            _ => self,
        }
    }
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_000_000.0
}

pub fn run(args: &BenchArgs) -> u8 {
    if let Some(file) = &args.parse_only {
        return parse_only(file);
    }
    if args.shapes {
        return crate::shapes::run(
            args.binary.clone(),
            args.scale,
            args.only.as_deref(),
            Duration::from_secs(args.limit),
            args.repeat,
        );
    }
    let root = match &args.root {
        Some(root) => root.clone(),
        None => match goroot_src() {
            Ok(root) => root,
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_ERROR;
            }
        },
    };
    let inputs = Inputs::collect(std::slice::from_ref(&root), None);
    for e in &inputs.errors {
        e.eprint("error");
    }
    if !inputs.errors.is_empty() {
        return EXIT_ERROR;
    }
    let mut lookup = Lookup::default();
    let mut dirs = Vec::new();
    let (mut files, mut bytes, mut lines) = (0usize, 0u64, 0usize);
    let mut generated = 0usize;
    for (dir, job) in &inputs.dirs {
        let d = Dir {
            paths: job.files.values().map(|f| f.path.clone()).collect(),
            go_version: lookup.go_version(dir),
        };
        for (_, text) in d.read() {
            files += 1;
            generated += usize::from(crate::check::is_generated(&text));
            bytes += text.len() as u64;
            lines += text.lines().count();
        }
        dirs.push(d);
    }
    println!("root:   {}", root.display());
    println!("files:  {files} in {} folders (vendor/, testdata/, hidden and _ folders skipped, like `goconc check`)", dirs.len());
    println!("        {generated} of them generated: read for their declarations only, like `goconc check`");
    println!("bytes:  {bytes} ({:.1} MB)", mb(bytes));
    println!("lines:  {lines}");
    println!(
        "threads: 1 for both passes, interleaved folder by folder; best of {}",
        args.repeat.max(1)
    );
    println!();

    let config = Config::default();
    let mut parse_best: Option<Timing> = None;
    let mut full_best: Option<Timing> = None;
    let mut per_rule: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut failed: BTreeMap<&'static str, usize> = BTreeMap::new();
    for round in 0..args.repeat.max(1) {
        let mut errors = 0usize;
        let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
        let mut fails: BTreeMap<&'static str, usize> = BTreeMap::new();
        let (mut parse, mut full) = (Timing::default(), Timing::default());
        for (k, d) in dirs.iter().enumerate() {
            let read = d.read();
            let mut parse_only = || {
                parse.add(|| {
                    for (_, text) in &read {
                        let file = SourceFile::new(text.as_str());
                        errors += usize::from(file.tree().root_node().has_error());
                    }
                });
            };
            let mut full_check = || {
                full.add(|| {
                    // As `goconc check` reads a generated file a walk finds: for its
                    // declarations only.
                    let files: Vec<crate::package::DirFile> = read
                        .iter()
                        .map(|(name, text)| crate::package::DirFile {
                            name: name.clone(),
                            text: text.as_str(),
                            reported: !crate::check::is_generated(text),
                        })
                        .collect();
                    let analysed =
                        crate::package::analyze_dir(&files, d.go_version, &config, None, None);
                    for outcome in analysed.iter().map(|a| &a.outcome) {
                        for f in &outcome.findings {
                            *counts.entry(f.rule).or_default() += 1;
                        }
                        for r in &outcome.failed_rules {
                            *fails.entry(r).or_default() += 1;
                        }
                    }
                });
            };
            // Whichever runs second finds the folder's text warm in the cache: take turns.
            if k % 2 == 0 {
                parse_only();
                full_check();
            } else {
                full_check();
                parse_only();
            }
        }
        if round == 0 && errors > 0 {
            println!("({errors} files have syntax errors tree-sitter recovered from)");
        }
        parse_best = Some(parse.keep_faster(parse_best));
        full_best = Some(full.keep_faster(full_best));
        per_rule = counts;
        failed = fails;
    }
    let (Some(parse), Some(full)) = (parse_best, full_best) else {
        return EXIT_ERROR;
    };
    let rate = |d: Duration| mb(bytes) / d.as_secs_f64().max(1e-9);
    let line = |name: &str, t: Timing| {
        let cpu = t.cpu.map_or("cpu ?".to_string(), |c| {
            format!("cpu {:7.2} s  {:6.2} MB/s", c.as_secs_f64(), rate(c))
        });
        println!(
            "{name}  wall {:7.2} s  {:6.2} MB/s   {cpu}",
            t.wall.as_secs_f64(),
            rate(t.wall),
        );
    };
    line("parse only:", parse);
    line("full check:", full);
    let use_cpu = parse.cpu.is_some() && full.cpu.is_some();
    let secs = |t: Timing| {
        if use_cpu { t.best() } else { t.wall }
            .as_secs_f64()
            .max(1e-9)
    };
    let ratio = secs(full) / secs(parse);
    let wall_ratio = full.wall.as_secs_f64() / parse.wall.as_secs_f64().max(1e-9);
    println!(
        "ratio full/parse: {ratio:.3} by {} time, {wall_ratio:.3} by wall time (target ≤ 1.35: {})",
        if use_cpu { "CPU" } else { "wall" },
        if ratio <= 1.35 { "met" } else { "NOT met" }
    );
    // The passes are interleaved: the process's peak is the run's.
    let peak = peak_memory().unwrap_or(0);
    println!(
        "peak memory: {:.0} MB (target ≤ 400 MB: {})",
        mb(peak),
        if peak <= 400_000_000 {
            "met"
        } else {
            "NOT met"
        }
    );
    println!();
    let total: usize = per_rule.values().sum();
    println!("findings: {total}");
    let mut sorted: Vec<_> = per_rule.into_iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    for (rule, n) in sorted {
        println!("  {n:6}  {rule}");
    }
    if !failed.is_empty() {
        println!("rules that panicked (goconc bugs):");
        for (rule, n) in failed {
            println!("  {n:6}  {rule}");
        }
    }
    0
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Parses `file` and exits: the child's peak is then what the tree costs.
fn parse_only(file: &Path) -> u8 {
    match crate::files::read_regular(file) {
        Ok(bytes) => {
            goconc_analysis::parse_text(&String::from_utf8_lossy(&bytes));
            0
        }
        Err(e) => {
            eprintln!("error: {}: {e}", file.display());
            EXIT_ERROR
        }
    }
}
