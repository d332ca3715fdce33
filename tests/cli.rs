//! End-to-end tests of the `goconc` binary: small Go packages written inline into temporary
//! folders, checked by the real executable, with its output and exit code compared.
//!
//! They lean on two rules with stable, simple triggers: `mutex-defer-lock` (error, with a fix)
//! and `mutex-empty-critical-section` (warning, no fix). Messages are not compared word for word.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_goconc");

/// A temporary folder, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("goconc-cli-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.0.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs goconc in `dir` with a clean color environment.
fn goconc(dir: &Path, args: &[&str]) -> Output {
    goconc_env(dir, args, &[])
}

fn goconc_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run goconc")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

/// `mutex-defer-lock` on line 9 (`defer mu.Lock()`, the range starts at column 8).
const DEFER_LOCK: &str = "package shop

import \"sync\"

var mu sync.Mutex

func Put(m map[string]int, k string) {
	mu.Lock()
	defer mu.Lock()
	m[k] = 1
}
";

const DEFER_LOCK_FIXED: &str = "package shop

import \"sync\"

var mu sync.Mutex

func Put(m map[string]int, k string) {
	mu.Lock()
	defer mu.Unlock()
	m[k] = 1
}
";

/// `mutex-empty-critical-section` (a warning without a fix) on line 8.
const EMPTY_SECTION: &str = "package shop

import \"sync\"

var mu2 sync.Mutex

func Touch() {
	mu2.Lock()
	mu2.Unlock()
}
";

const CLEAN: &str = "package shop

import \"sync\"

var mu3 sync.Mutex

func Get(m map[string]int, k string) int {
	mu3.Lock()
	defer mu3.Unlock()
	return m[k]
}
";

fn module(dir: &TempDir) {
    dir.write("go.mod", "module example.com/shop\n\ngo 1.22\n");
}

#[test]
fn text_output_reads_like_rustc() {
    let dir = TempDir::new("text");
    module(&dir);
    dir.write("put.go", DEFER_LOCK);
    let out = goconc(dir.path(), &["check"]);
    let text = stdout(&out);
    assert_eq!(code(&out), 1, "{text}{}", stderr(&out));
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("put.go:9:8: error[mutex-defer-lock] "),
        "{text}"
    );
    assert_eq!(lines[1], "  |");
    // Tabs are shown as four spaces; the caret sits under `mu.Lock()`.
    assert_eq!(lines[2], "9 |     defer mu.Lock()");
    assert_eq!(lines[3], "  |           ^^^^^^^^^");
    assert!(text.contains("  = note: put.go:8:2: "), "{text}");
    assert!(text.contains("  = help: fix available: "), "{text}");
    assert_eq!(
        lines.last().copied(),
        Some("1 finding (1 error) in 1 file; 1 fixable with --fix")
    );
    assert!(
        !text.contains('\x1b'),
        "no color when stdout is not a terminal"
    );
}

#[test]
fn exit_codes_and_fail_on() {
    let dir = TempDir::new("exit");
    module(&dir);
    dir.write("get.go", CLEAN);
    let out = goconc(dir.path(), &["check", "."]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert_eq!(stdout(&out).trim(), "no findings in 1 file");

    dir.write("touch.go", EMPTY_SECTION);
    let out = goconc(dir.path(), &["check"]);
    assert_eq!(code(&out), 1);
    assert!(
        stdout(&out).contains("1 finding (1 warning) in 2 files"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        code(&goconc(dir.path(), &["check", "--fail-on", "warning"])),
        1
    );
    assert_eq!(
        code(&goconc(dir.path(), &["check", "--fail-on", "error"])),
        0
    );
    assert_eq!(
        code(&goconc(dir.path(), &["check", "--fail-on", "never"])),
        0
    );

    // Usage errors exit 2.
    assert_eq!(code(&goconc(dir.path(), &["check", "--format", "xml"])), 2);
    assert_eq!(
        code(&goconc(dir.path(), &["check", "--go-version", "two"])),
        2
    );
    let out = goconc(dir.path(), &["check", "--select", "mutex-nope"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("mutex-nope"), "{}", stderr(&out));
}

#[test]
fn unreadable_path_is_exit_2_and_the_rest_is_still_checked() {
    let dir = TempDir::new("io");
    module(&dir);
    dir.write("put.go", DEFER_LOCK);
    let out = goconc(dir.path(), &["check", "missing.go", "put.go"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("missing.go"), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("put.go:9:8: error[mutex-defer-lock]"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn json_shape() {
    let dir = TempDir::new("json");
    module(&dir);
    dir.write("put.go", DEFER_LOCK);
    let out = goconc(dir.path(), &["check", "--format", "json"]);
    assert_eq!(code(&out), 1);
    let v: Value = serde_json::from_str(&stdout(&out)).expect("stdout is JSON");
    let items = v.as_array().expect("an array");
    assert_eq!(items.len(), 1);
    let f = &items[0];
    assert_eq!(f["path"], "put.go");
    assert_eq!(f["rule"], "mutex-defer-lock");
    assert_eq!(f["severity"], "error");
    assert!(f["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(f["range"]["start"]["line"], 9);
    assert_eq!(f["range"]["start"]["column"], 8);
    assert_eq!(f["range"]["end"]["line"], 9);
    let start = f["offsets"]["start"].as_u64().unwrap() as usize;
    let end = f["offsets"]["end"].as_u64().unwrap() as usize;
    assert_eq!(&DEFER_LOCK[start..end], "mu.Lock()");
    assert!(f["related"].as_array().is_some());
    let fix = &f["fixes"][0];
    assert!(fix["title"].as_str().is_some());
    let edit = &fix["edits"][0];
    assert!(edit["new_text"].is_string() && edit["range"]["start"]["line"].is_u64());
    assert_eq!(
        f["url"],
        "https://github.com/goconc/goconc/blob/main/docs/rules/mutex-defer-lock.md"
    );

    dir.write("put.go", CLEAN);
    let out = goconc(dir.path(), &["check", "--format", "json"]);
    assert_eq!(code(&out), 0);
    assert_eq!(
        serde_json::from_str::<Value>(&stdout(&out)).unwrap(),
        serde_json::json!([])
    );
}

#[test]
fn sarif_shape() {
    let dir = TempDir::new("sarif");
    module(&dir);
    dir.write("pkg/put.go", DEFER_LOCK);
    let out = goconc(dir.path(), &["check", "--format", "sarif", "./..."]);
    assert_eq!(code(&out), 1);
    let v: Value = serde_json::from_str(&stdout(&out)).expect("stdout is JSON");
    assert_eq!(v["version"], "2.1.0");
    assert!(v["$schema"].as_str().unwrap().contains("sarif"));
    let run = &v["runs"][0];
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "goconc");
    assert!(driver["version"].is_string());
    assert!(driver["informationUri"]
        .as_str()
        .unwrap()
        .starts_with("https://"));
    let rules = driver["rules"].as_array().unwrap();
    assert!(!rules.is_empty());
    for rule in rules {
        let id = rule["id"].as_str().unwrap();
        assert!(
            rule["shortDescription"]["text"]
                .as_str()
                .is_some_and(|t| !t.is_empty()),
            "{id}"
        );
        assert!(rule["fullDescription"]["text"].is_string(), "{id}");
        assert_eq!(
            rule["helpUri"].as_str().unwrap(),
            format!("https://github.com/goconc/goconc/blob/main/docs/rules/{id}.md")
        );
        assert!(["error", "warning", "note"]
            .contains(&rule["defaultConfiguration"]["level"].as_str().unwrap()));
    }
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    let r = &results[0];
    assert_eq!(r["ruleId"], "mutex-defer-lock");
    let index = r["ruleIndex"].as_u64().unwrap() as usize;
    assert_eq!(rules[index]["id"], "mutex-defer-lock");
    assert_eq!(r["level"], "error");
    assert!(r["message"]["text"].is_string());
    let loc = &r["locations"][0]["physicalLocation"];
    assert_eq!(loc["artifactLocation"]["uri"], "pkg/put.go");
    assert_eq!(loc["region"]["startLine"], 9);
    assert_eq!(loc["region"]["startColumn"], 8);
    assert!(loc["region"]["endLine"].is_u64() && loc["region"]["endColumn"].is_u64());
    assert!(r["relatedLocations"][0]["physicalLocation"]["region"]["startLine"].is_u64());
    let change = &r["fixes"][0]["artifactChanges"][0];
    assert_eq!(change["artifactLocation"]["uri"], "pkg/put.go");
    let replacement = &change["replacements"][0];
    assert!(replacement["deletedRegion"]["startLine"].is_u64());
    assert!(replacement["insertedContent"]["text"].is_string());
    assert!(r["fixes"][0]["description"]["text"].is_string());
}

#[test]
fn fix_rewrites_files_and_diff_does_not() {
    let dir = TempDir::new("fix");
    module(&dir);
    let put = dir.write("put.go", DEFER_LOCK);
    dir.write("touch.go", EMPTY_SECTION);

    let out = goconc(dir.path(), &["check", "--diff"]);
    assert_eq!(code(&out), 1);
    assert!(
        stdout(&out).contains("-\tdefer mu.Lock()\n+\tdefer mu.Unlock()\n"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        std::fs::read_to_string(&put).unwrap(),
        DEFER_LOCK,
        "--diff writes nothing"
    );

    let out = goconc(dir.path(), &["check", "--fix"]);
    assert!(
        stderr(&out).contains("fixed 1 finding in put.go"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_to_string(&put).unwrap(), DEFER_LOCK_FIXED);
    // What remains is reported: the warning has no fix.
    assert_eq!(code(&out), 1);
    assert!(stdout(&out).contains("[mutex-empty-critical-section]"));
    assert!(!stdout(&out).contains("[mutex-defer-lock]"));
}

#[test]
fn walks_like_the_go_tool() {
    let dir = TempDir::new("walk");
    module(&dir);
    dir.write("ok.go", CLEAN);
    for skipped in [
        "vendor/v/a.go",
        "testdata/a.go",
        ".hidden/a.go",
        "_old/a.go",
        "pkg/testdata/x/a.go",
    ] {
        dir.write(skipped, DEFER_LOCK);
    }
    dir.write("pkg/put_test.go", DEFER_LOCK);
    let out = goconc(dir.path(), &["check", "./..."]);
    let text = stdout(&out);
    assert_eq!(code(&out), 1, "{text}");
    assert!(
        text.contains("pkg/put_test.go:9:8: error[mutex-defer-lock]"),
        "{text}"
    );
    assert!(
        !text.contains("vendor")
            && !text.contains("testdata")
            && !text.contains("hidden")
            && !text.contains("_old"),
        "{text}"
    );
    assert!(text.contains("in 2 files"), "{text}");

    // A folder the user names is checked even when its name would be skipped in a walk.
    let out = goconc(dir.path(), &["check", "testdata"]);
    assert!(
        stdout(&out).contains("testdata/a.go:9:8"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn goconc_toml_severities_excludes_and_errors() {
    let dir = TempDir::new("toml");
    module(&dir);
    dir.write("put.go", DEFER_LOCK);
    dir.write("gen/put.go", DEFER_LOCK);
    dir.write("touch.go", EMPTY_SECTION);
    dir.write("goconc.toml", "exclude = [\"gen/**\"]\n\n[rules]\nmutex-empty-critical-section = \"off\"\nmutex-defer-lock = \"warning\"\n");
    let out = goconc(dir.path(), &["check"]);
    let text = stdout(&out);
    assert!(
        text.contains("put.go:9:8: warning[mutex-defer-lock]"),
        "{text}"
    );
    assert!(
        !text.contains("gen/put.go") && !text.contains("mutex-empty-critical-section"),
        "{text}"
    );
    assert_eq!(
        code(&goconc(dir.path(), &["check", "--fail-on", "error"])),
        0
    );

    // The nearest config wins: one in a subfolder replaces the root's.
    dir.write("gen/goconc.toml", "[rules]\nmutex-defer-lock = \"off\"\n");
    let out = goconc(dir.path(), &["check", "gen"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));

    // A bad config: exit 2, naming the file, line and key.
    dir.write(
        "goconc.toml",
        "go-version = \"1.22\"\n[rules]\nmutex-nope = \"off\"\n",
    );
    let out = goconc(dir.path(), &["check", "put.go"]);
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(
        err.contains("goconc.toml:3:") && err.contains("mutex-nope"),
        "{err}"
    );
}

#[test]
fn select_and_ignore() {
    let dir = TempDir::new("select");
    module(&dir);
    dir.write("put.go", DEFER_LOCK);
    dir.write("touch.go", EMPTY_SECTION);
    let out = goconc(dir.path(), &["check", "--ignore", "mutex-defer-lock"]);
    assert!(
        !stdout(&out).contains("[mutex-defer-lock]")
            && stdout(&out).contains("[mutex-empty-critical-section]")
    );
    let out = goconc(dir.path(), &["check", "--select", "mutex-defer-lock"]);
    assert!(
        stdout(&out).contains("[mutex-defer-lock]")
            && !stdout(&out).contains("[mutex-empty-critical-section]")
    );
    let out = goconc(dir.path(), &["check", "--ignore", "mutex"]);
    assert_eq!(
        code(&out),
        0,
        "a family prefix turns the family off: {}",
        stdout(&out)
    );
}

/// `--select FAMILY` selects by the rule's declared family, not by its id's first word:
/// `lock-order-inversion` is a mutex rule, `ticker-not-stopped` a time rule.
#[test]
fn select_by_family_takes_rules_whose_ids_do_not_start_with_it() {
    let dir = TempDir::new("family");
    module(&dir);
    dir.write(
        "inv.go",
        "package p\n\nimport (\n\t\"sync\"\n\t\"time\"\n)\n\nvar a, b sync.Mutex\n\n\
         func f() {\n\ta.Lock()\n\tb.Lock()\n\tb.Unlock()\n\ta.Unlock()\n}\n\n\
         func g() {\n\tb.Lock()\n\ta.Lock()\n\ta.Unlock()\n\tb.Unlock()\n}\n\n\
         func tick() {\n\tt := time.NewTicker(time.Second)\n\t<-t.C\n}\n",
    );
    let out = goconc(
        dir.path(),
        &["check", "--select", "mutex", "--go-version", "1.22"],
    );
    assert!(
        stdout(&out).contains("[lock-order-inversion]"),
        "{}",
        stdout(&out)
    );
    assert!(
        !stdout(&out).contains("[ticker-not-stopped]"),
        "{}",
        stdout(&out)
    );
    let out = goconc(
        dir.path(),
        &["check", "--select", "time", "--go-version", "1.22"],
    );
    assert!(
        stdout(&out).contains("[ticker-not-stopped]"),
        "{}",
        stdout(&out)
    );
    assert!(
        !stdout(&out).contains("[lock-order-inversion]"),
        "{}",
        stdout(&out)
    );
    let out = goconc(
        dir.path(),
        &["check", "--ignore", "mutex", "--go-version", "1.22"],
    );
    assert!(
        !stdout(&out).contains("[lock-order-inversion]"),
        "{}",
        stdout(&out)
    );
    // A near miss names the family.
    let out = goconc(dir.path(), &["check", "--select", "mutx"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("`mutex`"), "{}", stderr(&out));
}

#[test]
fn color_only_when_asked_and_no_color_wins() {
    let dir = TempDir::new("color");
    module(&dir);
    dir.write("put.go", DEFER_LOCK);
    let out = goconc_env(dir.path(), &["check"], &[("CLICOLOR_FORCE", "1")]);
    assert!(
        stdout(&out).contains("\x1b["),
        "CLICOLOR_FORCE colors a pipe"
    );
    let out = goconc_env(
        dir.path(),
        &["check"],
        &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")],
    );
    assert!(!stdout(&out).contains('\x1b'), "NO_COLOR turns color off");
    let out = goconc_env(dir.path(), &["check", "--color", "always"], &[]);
    assert!(stdout(&out).contains("\x1b["));
}

#[test]
fn go_version_from_go_mod_and_override() {
    // Only meaningful once a rule depends on the Go version; goroutine-loopvar-capture fires
    // below Go 1.22 only.
    let dir = TempDir::new("gover");
    let rules = stdout(&goconc(dir.path(), &["rules"]));
    if !rules.contains("goroutine-loopvar-capture") {
        eprintln!("skipped: goroutine-loopvar-capture is not registered yet");
        return;
    }
    dir.write("go.mod", "module example.com/loop\n\ngo 1.21\n");
    dir.write(
        "loop.go",
        "package loop\n\nfunc Each(items []string, f func(string)) {\n\tfor _, it := range items {\n\t\tgo func() {\n\t\t\tf(it)\n\t\t}()\n\t}\n}\n",
    );
    let out = goconc(dir.path(), &["check"]);
    assert!(
        stdout(&out).contains("[goroutine-loopvar-capture]"),
        "{}",
        stdout(&out)
    );
    let out = goconc(dir.path(), &["check", "--go-version", "1.22"]);
    assert!(
        !stdout(&out).contains("[goroutine-loopvar-capture]"),
        "{}",
        stdout(&out)
    );
    dir.write("go.mod", "module example.com/loop\n\ngo 1.22\n");
    let out = goconc(dir.path(), &["check"]);
    assert!(
        !stdout(&out).contains("[goroutine-loopvar-capture]"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn rules_explain_and_version() {
    let dir = TempDir::new("rules");
    let out = goconc(dir.path(), &["rules"]);
    assert_eq!(code(&out), 0);
    let text = stdout(&out);
    assert!(
        text.contains("mutex-defer-lock") && text.contains("Mutexes"),
        "{text}"
    );

    let out = goconc(dir.path(), &["explain", "mutex-defer-lock"]);
    assert_eq!(code(&out), 0);
    let page = stdout(&out);
    assert!(page.starts_with("# mutex-defer-lock\n"), "{page}");
    assert!(page.contains("```go"), "{page}");

    let out = goconc(dir.path(), &["explain", "mutex-defer-lok"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("mutex-defer-lock"),
        "close matches: {}",
        stderr(&out)
    );

    let out = goconc(dir.path(), &["--version"]);
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).starts_with("goconc "), "{}", stdout(&out));
}

#[test]
fn bundled_example_has_findings() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = goconc(root, &["check", "examples/shop", "--format", "json"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let rules: std::collections::BTreeSet<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["rule"].as_str())
        .collect();
    assert!(rules.len() >= 3, "{rules:?}");
}

/// What a user reads first: the README's first command, `goconc check examples/shop`, kept as a
/// snapshot (`tests/snapshots/example-shop.txt`). After an intended change to messages, ranges
/// or the text format, `GOCONC_BLESS=1 cargo test --test cli example` rewrites it; review the
/// diff before committing.
#[test]
fn example_package_text_output_matches_its_snapshot() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = goconc_env(
        root,
        &["check", "--color", "never", "examples/shop"],
        &[("NO_COLOR", "1")],
    );
    assert_eq!(code(&out), 1, "the example has findings: {}", stderr(&out));
    let snapshot = root.join("tests/snapshots/example-shop.txt");
    let got = stdout(&out);
    if std::env::var_os("GOCONC_BLESS").is_some() {
        std::fs::create_dir_all(snapshot.parent().unwrap()).unwrap();
        std::fs::write(&snapshot, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&snapshot).unwrap_or_default();
    if got != want {
        let first = got
            .lines()
            .zip(want.lines())
            .position(|(g, w)| g != w)
            .unwrap_or(got.lines().count().min(want.lines().count()));
        panic!(
            "`goconc check examples/shop` differs from {} from line {} on \
             (GOCONC_BLESS=1 rewrites it):\n--- snapshot\n{}\n--- output\n{}",
            snapshot.display(),
            first + 1,
            want.lines()
                .skip(first)
                .take(12)
                .collect::<Vec<_>>()
                .join("\n"),
            got.lines()
                .skip(first)
                .take(12)
                .collect::<Vec<_>>()
                .join("\n"),
        );
    }
}

/// `cmd | head -1` under `set -o pipefail` fails with SIGPIPE (141) whenever `head` exits before
/// `cmd` has written everything; so does `grep -q`. The CI scripts must not cut a pipe short.
#[test]
fn ci_scripts_never_cut_a_pipe_short() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut scripts = Vec::new();
    for folder in [".ci", ".ci/editors"] {
        for entry in std::fs::read_dir(root.join(folder)).unwrap().flatten() {
            if entry.file_type().unwrap().is_file() {
                scripts.push(entry.path());
            }
        }
    }
    assert!(scripts.len() >= 4, "{scripts:?}");
    let cutters = [
        "| head",
        "|head",
        "| grep -q",
        "| grep -m",
        "| sed -n 1q",
        "| sed q",
    ];
    let mut found = Vec::new();
    for script in &scripts {
        let text = std::fs::read_to_string(script).unwrap();
        for (i, line) in text.lines().enumerate() {
            if line.trim_start().starts_with('#') {
                continue;
            }
            if cutters.iter().any(|c| line.contains(c)) {
                found.push(format!("{}:{}: {}", script.display(), i + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "pipes cut short:\n{}", found.join("\n"));
}
