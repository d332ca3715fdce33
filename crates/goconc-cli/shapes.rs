//! `goconc bench --shapes`: generated files of hostile or merely unusual shapes (deep nesting,
//! long chains, many same-named declarations, huge tables and functions, megabytes on one line),
//! each checked by a child `goconc check` process, with its CPU seconds and peak memory per MB of
//! input. The targets: at most 2 s and 100 MB per MB of input. A child that aborts (a stack
//! overflow) or exceeds the time limit is reported as such.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::EXIT_ERROR;

/// The targets per MB of input.
const SECONDS_PER_MB: f64 = 2.0;
const PEAK_MB_PER_MB: f64 = 100.0;

const HEADER: &str =
    "package p\n\nimport (\n\t\"sync\"\n)\n\nvar mu sync.Mutex\nvar wg sync.WaitGroup\n\n\
                      type T struct {\n\tmu sync.Mutex\n\tn  int\n}\n\n";

/// One generated shape: its name, what it is, and its text at a scale. At 1.0 each is at least
/// about 1 MB (the shapes of a few kilobytes are repeated or lengthened, their depth or
/// chain kept), so that its cost per MB measures how the check scales, not what any process
/// costs to start.
struct Shape {
    name: &'static str,
    what: &'static str,
    /// The child's `--format`: JSON also names every finding (fingerprints), which text skips.
    format: &'static str,
    text: fn(f64) -> String,
}

fn count(base: usize, scale: f64) -> usize {
    ((base as f64 * scale) as usize).max(1)
}

fn shapes() -> Vec<Shape> {
    vec![
        Shape {
            name: "else-if-chain",
            what: "one function, an else-if chain of 30,000 arms that unlock",
            format: "text",
            text: |s| {
                let open = format!("{HEADER}func F(x int) {{\n\tmu.Lock()\n");
                let arm = |_| "\t\tmu.Unlock()".to_string();
                let close = " else {\n\t\treturn\n\t}\n}\n";
                framed(&open, count(30_000, s), |i| else_if_arm(i, arm(i)), close)
            },
        },
        Shape {
            name: "nested-ifs",
            what: "170 functions, each 450 ifs deep (within the nesting limit) around a lock",
            format: "text",
            text: |s| repeated(count(170, s), |i| nested(i, "if x > 0 {\n", 450)),
        },
        Shape {
            name: "nested-blocks-too-deep",
            what: "85 functions, each 3,000 blocks deep (past the limit: skipped with a note)",
            format: "text",
            text: |s| repeated(count(85, s), |i| nested(i, "{\n", 3000)),
        },
        Shape {
            name: "nested-closures",
            what: "100 functions, each 450 closures deep, every closure locking",
            format: "text",
            text: nested_closures,
        },
        Shape {
            name: "nested-closures-json",
            what: "the nested closures (45,000 findings) reported as JSON, fingerprints included",
            format: "json",
            text: nested_closures,
        },
        Shape {
            name: "nested-parens",
            what: "1,100 functions, each returning 450 nested parentheses under a lock",
            format: "text",
            text: |s| {
                repeated(count(1100, s), |i| {
                    format!(
                        "func F{i}() int {{\n\tmu.Lock()\n\treturn {}1{}\n}}\n\n",
                        "(".repeat(450),
                        ")".repeat(450)
                    )
                })
            },
        },
        Shape {
            name: "go-statements",
            what: "one function starting 15,000 goroutines",
            format: "text",
            text: |s| {
                framed(
                    &format!("{HEADER}func F() {{\n"),
                    count(15_000, s),
                    |_| {
                        "\twg.Add(1)\n\tgo func() {\n\t\tdefer wg.Done()\n\t\tmu.Lock()\n\t\tmu.Unlock()\n\t}()\n".into()
                    },
                    "\twg.Wait()\n}\n",
                )
            },
        },
        Shape {
            name: "one-line",
            what: "2 MB of functions on one line",
            format: "text",
            text: |s| {
                framed(
                    HEADER,
                    count(25_000, s),
                    |i| {
                        format!(
                            "func f{i}(m map[int]int) {{ mu.Lock(); m[{i}] = {i}; mu.Unlock() }}; "
                        )
                    },
                    "\n",
                )
            },
        },
        Shape {
            name: "same-parameter-name",
            what: "200,000 one-line functions with a parameter mu",
            format: "text",
            text: |s| {
                repeated(count(200_000, s), |i| {
                    format!("func f{i}(mu *sync.Mutex) {{ mu.Lock(); mu.Unlock() }}\n")
                })
            },
        },
        Shape {
            name: "same-receiver-name",
            what: "20,000 methods with the receiver s",
            format: "text",
            text: |s| {
                repeated(count(20_000, s), |i| {
                    format!("func (s *T) M{i}() int {{\n\ts.mu.Lock()\n\tdefer s.mu.Unlock()\n\treturn s.n\n}}\n\n")
                })
            },
        },
        Shape {
            name: "long-function",
            what: "one function of 50,000 statements",
            format: "text",
            text: |s| {
                framed(
                    &format!("{HEADER}func F(m map[int]int) error {{\n\tmu.Lock()\n\tdefer mu.Unlock()\n"),
                    count(50_000, s),
                    |i| format!("\tif err := g({i}); err != nil {{\n\t\treturn err\n\t}}\n\tm[{i}]++\n"),
                    "\treturn nil\n}\n\nfunc g(int) error { return nil }\n",
                )
            },
        },
        Shape {
            name: "channel-field-ops",
            what: "one loop of 25,000 sends on a channel field under its lock, and replacements",
            format: "text",
            text: |s| {
                framed(
                    &format!("{HEADER}type Q struct {{\n\tmu sync.Mutex\n\tch chan int\n}}\n\nfunc (q *Q) Run() {{\n\tfor {{\n"),
                    count(25_000, s),
                    |i| {
                        let replace = if i % 10 == 0 { "\t\tq.ch = make(chan int)\n" } else { "" };
                        format!("\t\tq.mu.Lock()\n\t\tq.ch <- {i}\n\t\tq.mu.Unlock()\n{replace}")
                    },
                    "\t}\n}\n",
                )
            },
        },
        Shape {
            name: "big-switch",
            what: "one function, a switch of 40,000 cases under a lock",
            format: "text",
            text: |s| {
                framed(
                    &format!("{HEADER}func F(x int) int {{\n\tmu.Lock()\n\tdefer mu.Unlock()\n\tswitch x {{\n"),
                    count(40_000, s),
                    |i| format!("\tcase {i}:\n\t\treturn {}\n", i * 7),
                    "\t}\n\treturn 0\n}\n",
                )
            },
        },
        Shape {
            name: "table",
            what: "a composite-literal table of 100,000 rows with calls",
            format: "text",
            text: |s| {
                framed(
                    &format!(
                        "{HEADER}var table = []struct {{\n\tname string\n\tf    func() int\n}}{{\n"
                    ),
                    count(100_000, s),
                    |i| format!("\t{{\"row{i}\", func() int {{ return {i} }}}},\n"),
                    "}\n\nfunc F() {\n\tmu.Lock()\n\tdefer mu.Unlock()\n}\n",
                )
            },
        },
        Shape {
            name: "call-chains",
            what: "30 functions, each a chain of 8,000 method calls a.M().M()…",
            format: "text",
            text: |s| {
                framed(
                    &format!("{HEADER}type A struct{{}}\n\nfunc (a A) M() A {{ return a }}\n\n"),
                    count(30, s),
                    |i| format!("func F{i}(a A) {{\n\ta{}\n}}\n\n", ".M()".repeat(8_000)),
                    "",
                )
            },
        },
        Shape {
            name: "cancel-funcs",
            what: "one function making 14,000 contexts whose cancel funcs are never called",
            format: "text",
            text: |s| {
                framed(
                    "package p\n\nimport \"context\"\n\nfunc F(ctx context.Context) {\n",
                    count(14_000, s),
                    |i| {
                        format!("\tc{i}, cancel{i} := context.WithCancel(ctx)\n\t_ = c{i}\n\t_ = cancel{i}\n")
                    },
                    "}\n",
                )
            },
        },
        Shape {
            name: "goroutines-writing",
            what: "one function starting 40,000 goroutines that write its variable",
            format: "text",
            text: |s| {
                framed(
                    &format!("{HEADER}func F() int {{\n\tx := 0\n"),
                    count(40_000, s),
                    |i| format!("\tgo func() {{ x = {i} }}()\n"),
                    "\treturn x\n}\n",
                )
            },
        },
        Shape {
            name: "wide-struct",
            what: "a struct of 8,000 fields and a mutex, with 16,000 methods",
            format: "text",
            text: |s| {
                wide_struct(
                    format!("{HEADER}type S struct {{\n\tmu sync.Mutex\n"),
                    count(8_000, s),
                    |i| format!("\tf{i} int"),
                    |i| {
                        format!("func (s *S) G{i}() int {{\n\ts.mu.Lock()\n\tdefer s.mu.Unlock()\n\treturn s.f{i}\n}}\n\nfunc (s *S) P{i}() int {{ return s.f{i} }}\n")
                    },
                )
            },
        },
        Shape {
            name: "closed-channels",
            what: "one function making 20,000 channels, each closed and then sent on",
            format: "text",
            text: |s| {
                framed(
                    &format!("{HEADER}func F() {{\n"),
                    count(20_000, s),
                    |i| format!("\tc{i} := make(chan int, 1)\n\tclose(c{i})\n\tc{i} <- 1\n"),
                    "}\n",
                )
            },
        },
        Shape {
            name: "channels-closed-on-some-paths",
            what: "one function of 12,000 channels, each closed, then sent on under an `if`",
            format: "text",
            text: |s| {
                framed(
                    &format!("{HEADER}func F(x int) {{\n"),
                    count(12_000, s),
                    |i| {
                        format!(
                            "\tc{i} := make(chan int, 1)\n\tclose(c{i})\n\tif x == {i} {{\n\t\tc{i} <- 1\n\t}}\n"
                        )
                    },
                    "}\n",
                )
            },
        },
        Shape {
            name: "goroutine-senders",
            what: "one function of 10,000 channels, each sent on by a goroutine it starts, received unless it returns first",
            format: "text",
            text: |s| {
                framed(
                    &format!("{HEADER}func F(x int) {{\n"),
                    count(10_000, s),
                    |i| {
                        format!(
                            "\tc{i} := make(chan int)\n\tgo func() {{\n\t\tc{i} <- {i}\n\t}}()\n\tif x == {i} {{\n\t\treturn\n\t}}\n\t<-c{i}\n"
                        )
                    },
                    "}\n",
                )
            },
        },
        Shape {
            name: "tickers",
            what: "one function making 20,000 tickers that it never stops",
            format: "text",
            text: |s| {
                framed(
                    "package p\n\nimport \"time\"\n\nfunc F() {\n",
                    count(20_000, s),
                    |i| format!("\tt{i} := time.NewTicker(time.Second)\n\t_ = t{i}\n"),
                    "}\n",
                )
            },
        },
        Shape {
            name: "atomic-counters",
            what: "a struct of 8,000 counters, each added to atomically and read plainly",
            format: "text",
            text: |s| {
                wide_struct(
                    String::from("package p\n\nimport \"sync/atomic\"\n\ntype S struct {\n"),
                    count(8_000, s),
                    |i| format!("\tc{i} int64"),
                    |i| {
                        format!("func (s *S) A{i}() {{ atomic.AddInt64(&s.c{i}, 1) }}\n\nfunc (s *S) R{i}() int64 {{ return s.c{i} }}\n")
                    },
                )
            },
        },
        Shape {
            name: "else-if-sends",
            what: "one function, an else-if chain of 30,000 arms that send under a lock",
            format: "text",
            text: |s| {
                let open = format!("{HEADER}func F(x int, c chan int) {{\n\tmu.Lock()\n");
                let arm = |i| else_if_arm(i, format!("\t\tc <- {i}"));
                framed(&open, count(30_000, s), arm, "\n\tmu.Unlock()\n}\n")
            },
        },
        Shape {
            name: "local-funcs",
            what: "one function binding 16,000 closures that lock to locals and calling each",
            format: "text",
            text: |s| {
                framed(
                    &format!("{HEADER}func F() {{\n"),
                    count(16_000, s),
                    |i| {
                        format!("\tf{i} := func() {{\n\t\tmu.Lock()\n\t\tdefer mu.Unlock()\n\t}}\n\tf{i}()\n")
                    },
                    "}\n",
                )
            },
        },
        Shape {
            name: "deferred-locks-in-loops",
            what: "one function of 20,000 loops that each lock and defer the unlock",
            format: "text",
            text: |s| {
                framed(
                    &format!("{HEADER}func F(xs []int) {{\n"),
                    count(20_000, s),
                    |_| "\tfor range xs {\n\t\tmu.Lock()\n\t\tdefer mu.Unlock()\n\t}\n".into(),
                    "}\n",
                )
            },
        },
        Shape {
            name: "mutexes-held-together",
            what: "one function locking 20,000 mutexes one after another, then unlocking them",
            format: "text",
            text: |s| {
                let n = count(20_000, s);
                let locked = framed(
                    &opening_over_mutexes(n, "F()"),
                    n,
                    |i| format!("\tm{i}.Lock()\n"),
                    "",
                );
                framed(&locked, n, |i| format!("\tm{i}.Unlock()\n"), "}\n")
            },
        },
        Shape {
            name: "conditional-locks",
            what: "one function of 20,000 `if x == i { mi.Lock() }`, the mutexes never unlocked",
            format: "text",
            text: |s| {
                let n = count(20_000, s);
                framed(
                    &opening_over_mutexes(n, "F(x int)"),
                    n,
                    |i| format!("\tif x == {i} {{\n\t\tm{i}.Lock()\n\t}}\n"),
                    "}\n",
                )
            },
        },
        Shape {
            name: "locks-before-returns",
            what: "one function of 20,000 `mi.Lock(); if x == i { return }`",
            format: "text",
            text: |s| {
                let n = count(20_000, s);
                framed(
                    &opening_over_mutexes(n, "F(x int)"),
                    n,
                    |i| format!("\tm{i}.Lock()\n\tif x == {i} {{\n\t\treturn\n\t}}\n"),
                    "}\n",
                )
            },
        },
        Shape {
            name: "locks-before-continues",
            what: "one loop of 12,000 `mi.Lock(); if x == i { continue }`, then their unlocks",
            format: "text",
            text: |s| {
                let n = count(12_000, s);
                let locked = framed(
                    &(opening_over_mutexes(n, "F(xs []int)") + "\tfor _, x := range xs {\n"),
                    n,
                    |i| format!("\t\tm{i}.Lock()\n\t\tif x == {i} {{\n\t\t\tcontinue\n\t\t}}\n"),
                    "",
                );
                framed(&locked, n, |i| format!("\t\tm{i}.Unlock()\n"), "\t}\n}\n")
            },
        },
        Shape {
            name: "generated-46mb",
            what: "46 MB of generated types and methods that lock",
            format: "text",
            text: |s| {
                let target = (46.0 * 1024.0 * 1024.0 * s) as usize;
                let mut t = String::from(HEADER);
                let mut i = 0;
                while t.len() < target {
                    let _ = write!(
                        t,
                        "type S{i} struct {{\n\tmu   sync.Mutex\n\tdata map[string]int // guarded by mu\n\tnext *S{i}\n}}\n\n\
                         func (s *S{i}) Get(k string) (int, bool) {{\n\ts.mu.Lock()\n\tdefer s.mu.Unlock()\n\tv, ok := s.data[k]\n\treturn v, ok\n}}\n\n\
                         func (s *S{i}) Put(k string, v int) {{\n\ts.mu.Lock()\n\tif s.data == nil {{\n\t\ts.data = map[string]int{{}}\n\t}}\n\ts.data[k] = v\n\ts.mu.Unlock()\n}}\n\n"
                    );
                    i += 1;
                }
                t
            },
        },
    ]
}

/// The header and `n` functions: a nesting shape is a few kilobytes deep, so it is repeated
/// (its depth kept) until the file is large enough that the cost per MB measures how the check
/// scales, not the few MB any process starts with.
/// 100 functions, each 450 closures deep, every closure locking (and so a finding per closure).
fn nested_closures(s: f64) -> String {
    repeated(count(100, s), |i| {
        format!(
            "func F{i}() {{\n{}mu.Unlock()\n{}}}\n\n",
            "func() {\nmu.Lock()\n".repeat(450),
            "}()\n".repeat(450)
        )
    })
}

/// `start` (which opens a struct), `n` fields, the struct's end, then the methods of each field.
fn wide_struct(
    start: String,
    n: usize,
    field: impl Fn(usize) -> String,
    methods: impl Fn(usize) -> String,
) -> String {
    let mut t = start;
    for i in 0..n {
        let _ = writeln!(t, "{}", field(i));
    }
    t.push_str("}\n\n");
    for i in 0..n {
        let _ = writeln!(t, "{}", methods(i));
    }
    t
}

/// `opening`, `piece(i)` for each `i` below `n`, then `closing`: the form of nearly every shape.
fn framed(opening: &str, n: usize, piece: impl Fn(usize) -> String, closing: &str) -> String {
    let mut t = String::from(opening);
    for i in 0..n {
        t.push_str(&piece(i));
    }
    t + closing
}

/// The header, `n` package mutexes `m0`, `m1`, … and the opening of the function `signature`
/// (`F(x int)`), its body to follow.
fn opening_over_mutexes(n: usize, signature: &str) -> String {
    repeated(n, |i| format!("var m{i} sync.Mutex\n")) + &format!("\nfunc {signature} {{\n")
}

/// The header, then `function(i)` for each `i` below `n`.
fn repeated(n: usize, function: impl Fn(usize) -> String) -> String {
    framed(HEADER, n, function, "")
}

/// The `i`th arm of an `if x == 0 { … } else if x == 1 { … }` chain, with `body` its lines.
fn else_if_arm(i: usize, body: String) -> String {
    match i {
        0 => format!("\tif x == 0 {{\n{body}\n\t}}"),
        _ => format!(" else if x == {i} {{\n{body}\n\t}}"),
    }
}

/// Function `F{i}` whose body is `open` repeated `depth` times, a lock taken inside and the
/// matching closing braces.
fn nested(i: usize, open: &str, depth: usize) -> String {
    format!(
        "func F{i}(x int) {{\nmu.Lock()\n{}mu.Unlock()\n{}}}\n\n",
        open.repeat(depth),
        "}\n".repeat(depth)
    )
}

/// The fastest of `repeat` checks (at least one), with the median of their peaks: the peak
/// moves by a tenth between two runs of one check, as the allocator returns freed pages on a
/// timer. The first check that fails or does not end well is told instead.
fn fastest_of(repeat: usize, check: impl Fn() -> Result<Cost, String>) -> Result<Cost, String> {
    let mut runs: Vec<Cost> = Vec::new();
    for _ in 0..repeat.max(1) {
        let cost = check()?;
        if cost.outcome != "ok" {
            return Ok(cost);
        }
        runs.push(cost);
    }
    let mut peaks: Vec<u64> = runs.iter().map(|c| c.peak_bytes).collect();
    peaks.sort_unstable();
    let median_peak = peaks[peaks.len() / 2];
    let mut fastest = runs
        .into_iter()
        .min_by_key(|c| c.cpu)
        .ok_or("no check ran")?;
    fastest.peak_bytes = median_peak;
    Ok(fastest)
}

/// What a child check cost.
struct Cost {
    cpu: Duration,
    wall: Duration,
    peak_bytes: u64,
    outcome: String,
}

/// Runs `binary check DIR` in a child (see [`run_in_child`]).
fn check_in_child(
    binary: &Path,
    dir: &Path,
    format: &str,
    limit: Duration,
) -> Result<Cost, String> {
    let args = [
        "check".as_ref(),
        "--format".as_ref(),
        format.as_ref(),
        dir.as_os_str(),
    ];
    run_in_child(binary, &args, limit)
}

/// Parses the shape's file in a child that only parses it: what tree-sitter's tree costs
/// alone, the floor under the check's peak.
fn parse_in_child(binary: &Path, dir: &Path, limit: Duration) -> Result<Cost, String> {
    let file = dir.join("x.go");
    let args = ["bench".as_ref(), "--parse-only".as_ref(), file.as_os_str()];
    run_in_child(binary, &args, limit)
}

/// Runs `binary ARGS…` and waits for it with `wait4`, which gives its CPU time and peak
/// resident memory.
#[cfg(unix)]
fn run_in_child(binary: &Path, args: &[&std::ffi::OsStr], limit: Duration) -> Result<Cost, String> {
    use std::os::unix::process::ExitStatusExt;
    let started = Instant::now();
    let mut child = std::process::Command::new(binary)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let pid = child.id() as libc::pid_t;
    let mut timed_out = false;
    loop {
        // Peek without reaping: WNOWAIT keeps the child for wait4 below.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid writes only the siginfo it is given.
        let done = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        } == 0
            && unsafe { info.si_pid() } == pid;
        if done {
            break;
        }
        if started.elapsed() > limit && !timed_out {
            let _ = child.kill();
            timed_out = true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 writes only the status and rusage it is given.
    if unsafe { libc::wait4(pid, &mut status, 0, &mut usage) } != pid {
        return Err("wait4 failed".into());
    }
    let wall = started.elapsed();
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    let status = std::process::ExitStatus::from_raw(status);
    let outcome = match (timed_out, status.code(), status.signal()) {
        (true, _, _) => format!("stopped after {} s", limit.as_secs()),
        (_, Some(0 | 1), _) => "ok".into(),
        (_, Some(code), _) => format!("exit {code}"),
        (_, None, Some(signal)) => format!("killed by signal {signal}"),
        _ => "?".into(),
    };
    Ok(Cost {
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        wall,
        peak_bytes: usage.ru_maxrss as u64 * 1024,
        outcome,
    })
}

#[cfg(not(unix))]
fn run_in_child(_: &Path, _: &[&std::ffi::OsStr], _: Duration) -> Result<Cost, String> {
    Err("the shapes bench needs a Unix system (wait4)".into())
}

/// Checks every shape (those whose name contains `only`) `repeat` times in a child, and prints
/// the fastest CPU time and the median peak of its checks, against the targets.
pub fn run(
    binary: Option<PathBuf>,
    scale: f64,
    only: Option<&str>,
    limit: Duration,
    repeat: usize,
) -> u8 {
    let binary = match binary.map_or_else(std::env::current_exe, Ok) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: cannot find the goconc binary: {e}");
            return EXIT_ERROR;
        }
    };
    let root = std::env::temp_dir().join(format!("goconc-shapes-{}", std::process::id()));
    println!(
        "{:<24} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}  outcome",
        "shape", "input MB", "cpu s", "s/MB", "peak MB", "MB/MB", "tree"
    );
    // What the process costs with nearly nothing to read: subtracted from each peak, so that a
    // small shape is judged by what its size adds.
    let baseline_dir = root.join("baseline");
    let baseline = std::fs::create_dir_all(&baseline_dir)
        .and_then(|_| std::fs::write(baseline_dir.join("x.go"), HEADER))
        .map_err(|e| e.to_string())
        .and_then(|_| check_in_child(&binary, &baseline_dir, "text", limit));
    let baseline_bytes = match baseline {
        Ok(c) => c.peak_bytes,
        Err(e) => {
            eprintln!("error: {e}");
            let _ = std::fs::remove_dir_all(&root);
            return EXIT_ERROR;
        }
    };
    // The same for a child that only parses: a build without `--parse-only` (an older one,
    // through --binary) leaves the tree's column empty.
    let parse_baseline_bytes = parse_in_child(&binary, &baseline_dir, limit)
        .ok()
        .filter(|c| c.outcome == "ok")
        .map(|c| c.peak_bytes);
    println!(
        "(peak MB is the child's whole peak; MB/MB counts what it adds to the {:.0} MB of a check of an empty file;\n \
         tree: the MB/MB of parsing alone, tree-sitter's tree, which the check holds throughout)",
        baseline_bytes as f64 / (1024.0 * 1024.0)
    );
    let mut missed = 0;
    for shape in shapes() {
        if only.is_some_and(|o| !shape.name.contains(o)) {
            continue;
        }
        let dir = root.join(shape.name);
        let text = (shape.text)(scale);
        let written =
            std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(dir.join("x.go"), &text));
        if let Err(e) = written {
            eprintln!("error: writing {}: {e}", dir.display());
            let _ = std::fs::remove_dir_all(&root);
            return EXIT_ERROR;
        }
        let mb = text.len() as f64 / (1024.0 * 1024.0);
        drop(text);
        let cost = fastest_of(repeat, || {
            check_in_child(&binary, &dir, shape.format, limit)
        });
        let tree_per_mb = parse_baseline_bytes.and_then(|baseline| {
            let parsed = fastest_of(repeat, || parse_in_child(&binary, &dir, limit)).ok()?;
            let added = parsed.peak_bytes.saturating_sub(baseline) as f64 / (1024.0 * 1024.0);
            (parsed.outcome == "ok").then(|| format!("{:.1}", added / mb))
        });
        let _ = std::fs::remove_dir_all(&dir);
        match cost {
            Ok(c) => {
                let peak_mb = c.peak_bytes as f64 / (1024.0 * 1024.0);
                let added_mb =
                    c.peak_bytes.saturating_sub(baseline_bytes) as f64 / (1024.0 * 1024.0);
                let per_mb = c.cpu.as_secs_f64() / mb;
                let over =
                    per_mb > SECONDS_PER_MB || added_mb / mb > PEAK_MB_PER_MB || c.outcome != "ok";
                missed += usize::from(over);
                println!(
                    "{:<24} {:>8.2} {:>8.2} {:>8.2} {:>8.0} {:>8.1} {:>8}  {}{}   ({}; wall {:.2} s)",
                    shape.name,
                    mb,
                    c.cpu.as_secs_f64(),
                    per_mb,
                    peak_mb,
                    added_mb / mb,
                    tree_per_mb.as_deref().unwrap_or("-"),
                    c.outcome,
                    if over { ", over target" } else { "" },
                    shape.what,
                    c.wall.as_secs_f64()
                );
            }
            Err(e) => {
                eprintln!("error: {e}");
                let _ = std::fs::remove_dir_all(&root);
                return EXIT_ERROR;
            }
        }
    }
    let _ = std::fs::remove_dir_all(&root);
    println!(
        "targets: at most {SECONDS_PER_MB} CPU s and {PEAK_MB_PER_MB} peak MB per MB of input; {missed} shape(s) over"
    );
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(cpu_ms: u64, peak_mb: u64, outcome: &str) -> Cost {
        Cost {
            cpu: Duration::from_millis(cpu_ms),
            wall: Duration::from_millis(cpu_ms),
            peak_bytes: peak_mb << 20,
            outcome: outcome.to_string(),
        }
    }

    /// Three checks: the fastest time is kept with the median peak, whichever check had it.
    #[test]
    fn repeated_checks_keep_the_fastest_time_and_the_median_peak() {
        let runs = std::cell::RefCell::new(vec![
            cost(2900, 120, "ok"),
            cost(2100, 100, "ok"),
            cost(2400, 105, "ok"),
        ]);
        let best = fastest_of(3, || Ok(runs.borrow_mut().remove(0))).expect("three checks");
        assert_eq!(best.cpu, Duration::from_millis(2100));
        assert_eq!(best.peak_bytes, 105 << 20);
    }

    /// A check that does not end well is told, and no more are run.
    #[test]
    fn a_check_that_fails_is_told_instead() {
        let runs = std::cell::RefCell::new(vec![
            cost(100, 10, "ok"),
            cost(300_000, 10, "stopped after 300 s"),
            cost(90, 10, "ok"),
        ]);
        let told = fastest_of(3, || Ok(runs.borrow_mut().remove(0))).expect("a check ran");
        assert_eq!(told.outcome, "stopped after 300 s");
        assert_eq!(runs.borrow().len(), 1);
    }
}
