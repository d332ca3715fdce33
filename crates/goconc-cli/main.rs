//! The `goconc` command line: `check`, `rules`, `explain`, `bench`, `lsp` (and the hidden `gen-docs`).
//!
//! This crate is the front end for terminals and CI. It owns everything the engine must not know:
//! the file system (walking folders, `go.mod`, `goconc.toml`), output formats, colors, exit codes.
//! It knows nothing of Go semantics: every finding comes from `goconc_analysis`.

mod baseline;
mod bench;
mod catalog;
mod check;
mod discover;
mod docs;
mod files;
mod fingerprint;
mod fix;
mod module;
mod newcode;
mod output;
mod package;
mod progress;
mod rules_cmd;
mod shapes;

use std::process::ExitCode;

#[cfg(all(unix, not(feature = "system-allocator")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options (the way `tikv-jemallocator` documents). Freed pages go back to the
/// system after a second instead of ten: a folder's syntax trees are freed together once it is
/// analysed, and keeping them dirty for ten seconds made `goconc bench`'s peak wander between
/// 374 and 397 MB from run to run (356–377 MB with this; the ratio stays within its noise).
#[cfg(all(unix, not(feature = "system-allocator")))]
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8] = b"dirty_decay_ms:1000\0";

/// Gives tree-sitter's C code the allocator Rust uses. Syntax trees are most of what goconc
/// allocates; under glibc's `malloc`, building and freeing them (`malloc_consolidate`,
/// `_int_free`, `unlink_chunk`) was a tenth of `goconc bench`'s samples.
#[cfg(all(unix, not(feature = "system-allocator")))]
fn use_jemalloc_for_tree_sitter() {
    // tree-sitter must never see null for a non-zero size (its own defaults abort too).
    unsafe extern "C" fn malloc(size: usize) -> *mut std::ffi::c_void {
        let ptr = unsafe { tikv_jemalloc_sys::malloc(size) };
        if ptr.is_null() && size != 0 {
            std::process::abort();
        }
        ptr
    }
    unsafe extern "C" fn calloc(count: usize, size: usize) -> *mut std::ffi::c_void {
        let ptr = unsafe { tikv_jemalloc_sys::calloc(count, size) };
        if ptr.is_null() && count != 0 && size != 0 {
            std::process::abort();
        }
        ptr
    }
    unsafe extern "C" fn realloc(old: *mut std::ffi::c_void, size: usize) -> *mut std::ffi::c_void {
        let ptr = unsafe { tikv_jemalloc_sys::realloc(old, size) };
        if ptr.is_null() && size != 0 {
            std::process::abort();
        }
        ptr
    }
    // SAFETY: one allocator family, malloc-aligned memory, never null for a non-zero size, and
    // installed first thing in `main`, before any tree-sitter object exists.
    unsafe {
        tree_sitter::set_allocator(Some(tree_sitter::Allocator {
            malloc,
            calloc,
            realloc,
            free: tikv_jemalloc_sys::free,
        }));
    }
}

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Where each rule's page is published; `<id>.md` is appended.
pub const RULE_DOCS_URL: &str = "https://github.com/goconc/goconc/blob/main/docs/rules/";

/// The project's home page (SARIF `informationUri`).
pub const HOME_URL: &str = "https://github.com/goconc/goconc";

/// The page of one rule.
pub fn rule_url(id: &str) -> String {
    format!("{RULE_DOCS_URL}{id}.md")
}

/// Exit codes: 0 clean, 1 findings at or above `--fail-on`, 2 usage or I/O error.
pub const EXIT_FINDINGS: u8 = 1;
pub const EXIT_ERROR: u8 = 2;

#[derive(Parser)]
#[command(
    name = "goconc",
    version,
    about = "Reviews Go code for concurrency mistakes",
    long_about = "Reviews Go code for concurrency mistakes: forgotten unlocks, WaitGroup misuse, \
                  lost context cancels, copied mutexes, goroutines that t.Fatal, and more.\n\n\
                  Exit status: 0 no findings, 1 findings at or above --fail-on, 2 usage or I/O error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check Go files and folders (recursively; `./...` accepted).
    Check(Box<CheckArgs>),
    /// List every rule: id, default severity, whether it has a quick fix, what it finds.
    Rules {
        /// `json`: the catalog as a JSON array (id, family, severity, summary, fix, url).
        #[arg(long, value_enum, default_value_t = RulesFormat::Text)]
        format: RulesFormat,
    },
    /// Print a rule's page: why it matters, a bad and a good example, the fix, when it is silent.
    Explain {
        /// The rule id, e.g. `mutex-unlock-missing`.
        rule: String,
    },
    /// Measure parse-only and full-check speed over a Go tree (default: the Go standard library).
    Bench(bench::BenchArgs),
    /// Run the language server over stdin/stdout (what editors start).
    Lsp {
        /// Accepted because editors pass it; stdio is the only transport.
        #[arg(long)]
        stdio: bool,
    },
    /// Write docs/rules/*.md from the rules' own documentation (`--check`: fail when stale).
    #[command(hide = true)]
    GenDocs {
        /// Compare instead of writing; exit 1 when a page is missing, stale or extra.
        #[arg(long)]
        check: bool,
        /// The folder to write the pages into.
        #[arg(long, default_value = "docs/rules")]
        out: std::path::PathBuf,
    },
}

#[derive(Args, Clone)]
pub struct CheckArgs {
    /// Files and folders to check. Folders are walked recursively, skipping vendor/, testdata/,
    /// hidden and `_`-prefixed folders, what `.gitignore` ignores and generated files; a file
    /// you name is always checked. `dir/...` means the same as `dir`; `-` reads standard input
    /// (see --stdin-filename).
    #[arg(default_value = ".")]
    pub paths: Vec<std::path::PathBuf>,
    /// Output format, optionally to a file: `sarif:goconc.sarif`. Repeat the option (or separate
    /// with commas) for several at once. Formats: text, json, sarif, github, rdjson, checkstyle,
    /// gitlab.
    #[arg(long, value_name = "FORMAT[:FILE]", value_delimiter = ',', value_parser = parse_output)]
    pub format: Vec<OutputSpec>,
    /// Write the output of the formats named without a file here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output_file: Option<std::path::PathBuf>,
    /// Apply the safe quick fixes in place, then report what remains.
    #[arg(long, conflicts_with = "diff")]
    pub fix: bool,
    /// Print the changes `--fix` would make as a unified diff, without writing anything.
    #[arg(long)]
    pub diff: bool,
    /// With --fix or --diff: also apply the fixes marked unsafe (they may change behaviour
    /// beyond the bug; review them).
    #[arg(long)]
    pub unsafe_fixes: bool,
    /// Exit with status 1 when findings at or above this severity remain.
    #[arg(long, value_enum, default_value_t = FailOn::Hint)]
    pub fail_on: FailOn,
    /// The Go language version to assume, overriding go.mod and goconc.toml (e.g. `1.21`).
    #[arg(long, value_name = "VERSION")]
    pub go_version: Option<String>,
    /// Only these rules (ids, or families such as `mutex`: see `goconc rules`), comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "RULE")]
    pub select: Vec<String>,
    /// Turn these rules off (ids or families), comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "RULE")]
    pub ignore: Vec<String>,
    /// When to color the text output. `auto`: on a terminal, unless NO_COLOR is set.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Use this configuration file for every checked file instead of the nearest goconc.toml.
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// The path of the file read from standard input (`-`): its folder's other files are read
    /// from disk for the package, and findings are reported under this name.
    #[arg(long, value_name = "PATH")]
    pub stdin_filename: Option<std::path::PathBuf>,
    /// Only findings on lines changed since this git revision (committed, staged, unstaged and
    /// untracked changes), as `git diff REV` shows them.
    #[arg(long, value_name = "REV", conflicts_with = "new_from_merge_base")]
    pub new_from_rev: Option<String>,
    /// Only findings on lines changed since the merge base of HEAD and this branch.
    #[arg(long, value_name = "BRANCH")]
    pub new_from_merge_base: Option<String>,
    /// Hide the findings recorded in this baseline file (see --write-baseline).
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<std::path::PathBuf>,
    /// Record every finding in this baseline file, print nothing else, and exit 0.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["fix", "diff"])]
    pub write_baseline: Option<std::path::PathBuf>,
    /// Report suppression comments that silence nothing, or name no rule.
    #[arg(long)]
    pub report_unused_suppressions: bool,
    /// Print how many findings each rule has, instead of the findings.
    #[arg(long)]
    pub statistics: bool,
}

/// One `--format` value: a format and where its output goes (None: standard output, or
/// `--output-file`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputSpec {
    pub format: Format,
    pub path: Option<std::path::PathBuf>,
}

fn parse_output(value: &str) -> Result<OutputSpec, String> {
    let (name, path) = match value.split_once(':') {
        Some((name, path)) => (name, Some(path)),
        None => (value, None),
    };
    let format = Format::from_str(name, true).map_err(|_| {
        let names: Vec<String> = Format::value_variants()
            .iter()
            .filter_map(|f| f.to_possible_value().map(|v| v.get_name().to_string()))
            .collect();
        format!(
            "unknown format `{name}` (the formats are {})",
            names.join(", ")
        )
    })?;
    let path = match path {
        None | Some("stdout" | "-") => None,
        Some("") => return Err(format!("`{value}`: no file name after the colon")),
        Some(path) => Some(std::path::PathBuf::from(path)),
    };
    Ok(OutputSpec { format, path })
}

#[derive(ValueEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum Format {
    Text,
    Json,
    Sarif,
    /// GitHub Actions workflow commands (`::error file=…::message`), shown as annotations.
    Github,
    /// reviewdog's Diagnostic Format (rdjson).
    Rdjson,
    Checkstyle,
    /// GitLab code quality (Code Climate JSON).
    Gitlab,
}

#[derive(ValueEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum RulesFormat {
    Text,
    Json,
}

#[derive(ValueEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum FailOn {
    Hint,
    Info,
    Warning,
    Error,
    /// Never exit 1 for findings (I/O errors still exit 2).
    Never,
}

impl FailOn {
    pub fn threshold(self) -> Option<goconc_analysis::Severity> {
        use goconc_analysis::Severity;
        match self {
            FailOn::Hint => Some(Severity::Hint),
            FailOn::Info => Some(Severity::Info),
            FailOn::Warning => Some(Severity::Warning),
            FailOn::Error => Some(Severity::Error),
            FailOn::Never => None,
        }
    }
}

#[derive(ValueEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

fn main() -> ExitCode {
    #[cfg(all(unix, not(feature = "system-allocator")))]
    use_jemalloc_for_tree_sitter();
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Rules { format } => match format {
            RulesFormat::Text => rules_cmd::list(),
            RulesFormat::Json => rules_cmd::list_json(),
        },
        Command::Explain { rule } => rules_cmd::explain(&rule),
        Command::Bench(args) => bench::run(&args),
        Command::Lsp { stdio: _ } => goconc_lsp::run_stdio().clamp(0, 255) as u8,
        Command::GenDocs { check, out } => docs::run(&out, check),
    };
    ExitCode::from(code)
}
