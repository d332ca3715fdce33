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

/// A type declared per GOOS: the Linux file's value receiver copies nothing, the Windows file's
/// copies the Windows type's mutex.
#[test]
fn each_file_sees_the_types_of_its_build_configuration() {
    let dir = TempDir::new("per-goos");
    module(&dir);
    dir.write(
        "a_windows.go",
        "package p\n\nimport \"sync\"\n\ntype A struct {\n\tmu sync.Mutex\n\tn  int\n}\n\nfunc (a A) N() int { return a.n }\n",
    );
    dir.write(
        "a_linux.go",
        "package p\n\ntype A struct {\n\tn int\n}\n\nfunc (a A) N() int { return a.n }\n",
    );
    let out = goconc(dir.path(), &["check", "--format", "json"]);
    let text = stdout(&out);
    let findings: serde_json::Value = serde_json::from_str(&text).unwrap();
    let paths: Vec<&str> = findings
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths.len(), 1, "{text}");
    assert!(paths[0].ends_with("a_windows.go"), "{text}");
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

// --- issue 18: `--fix` never loses work, no input stalls, each file once ----------------------

/// Files whose name starts with `.goconc-fix-`: temporary files `--fix` must not leave behind.
fn leftover_temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".goconc-fix-"))
        .collect()
}

#[cfg(unix)]
#[test]
fn fix_keeps_mode_owner_hard_links_and_symbolic_links() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = TempDir::new("fix-keeps");
    module(&dir);
    let moded = dir.write("moded/put.go", DEFER_LOCK);
    std::fs::set_permissions(&moded, std::fs::Permissions::from_mode(0o640)).unwrap();
    // Only root may give a file away; as another user the owner is ours either way.
    let is_root = std::fs::metadata(&moded).unwrap().uid() == 0
        && std::os::unix::fs::chown(&moded, Some(4321), Some(4322)).is_ok();
    let linked = dir.write("linked/put.go", DEFER_LOCK);
    let other_name = dir.path().join("put.go.link");
    std::fs::hard_link(&linked, &other_name).unwrap();
    let real = dir.write("real/put.go", DEFER_LOCK);
    std::fs::create_dir_all(dir.path().join("symlinked")).unwrap();
    let symlink = dir.path().join("symlinked/put.go");
    std::os::unix::fs::symlink("../real/put.go", &symlink).unwrap();

    let out = goconc(
        dir.path(),
        &["check", "--fix", "moded", "linked", "symlinked"],
    );
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    for shown in ["moded/put.go", "linked/put.go", "symlinked/put.go"] {
        assert!(
            stderr(&out).contains(&format!("fixed 1 finding in {shown}")),
            "{}",
            stderr(&out)
        );
    }
    let meta = std::fs::metadata(&moded).unwrap();
    assert_eq!(std::fs::read_to_string(&moded).unwrap(), DEFER_LOCK_FIXED);
    assert_eq!(meta.mode() & 0o7777, 0o640);
    if is_root {
        assert_eq!((meta.uid(), meta.gid()), (4321, 4322));
    }
    // Both names of the hard-linked file see the fix: still one file.
    assert_eq!(
        std::fs::read_to_string(&other_name).unwrap(),
        DEFER_LOCK_FIXED
    );
    let (a, b) = (
        std::fs::metadata(&linked).unwrap(),
        std::fs::metadata(&other_name).unwrap(),
    );
    assert_eq!((a.ino(), a.nlink()), (b.ino(), 2));
    // The link stays a link; the file it points to is fixed.
    assert!(std::fs::symlink_metadata(&symlink)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read_to_string(&real).unwrap(), DEFER_LOCK_FIXED);
    for folder in ["moded", "linked", "symlinked", "real"] {
        assert_eq!(
            leftover_temporaries(&dir.path().join(folder)),
            Vec::<String>::new()
        );
    }
}

/// `--fix` on a disk that fills up: a real write failure, made with RLIMIT_FSIZE (writes past
/// the limit fail with EFBIG, as on a full disk with ENOSPC), one byte more than the file has and
/// one less than the fixed text needs. The old in-place write truncated the file and wrote it
/// halfway, then dropped the file from the report.
#[cfg(unix)]
#[test]
fn a_fix_that_cannot_be_written_leaves_the_file_whole_and_its_findings_reported() {
    use std::os::unix::process::CommandExt;
    let dir = TempDir::new("fix-full");
    module(&dir);
    let single = dir.write("single/put.go", DEFER_LOCK);
    let linked = dir.write("linked/put.go", DEFER_LOCK);
    std::fs::hard_link(&linked, dir.path().join("put.go.link")).unwrap();
    assert_eq!(DEFER_LOCK_FIXED.len(), DEFER_LOCK.len() + 2);
    let limit = DEFER_LOCK.len() as u64 + 1;
    for folder in ["single", "linked"] {
        let mut cmd = Command::new(BIN);
        cmd.args(["check", "--fix", folder])
            .current_dir(dir.path())
            .env_remove("NO_COLOR")
            .env_remove("CLICOLOR_FORCE");
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                let rlimit = libc::rlimit {
                    rlim_cur: limit as libc::rlim_t,
                    rlim_max: limit as libc::rlim_t,
                };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &rlimit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let out = cmd.output().unwrap();
        let (text, err) = (stdout(&out), stderr(&out));
        assert_eq!(code(&out), 2, "{folder}: {text}{err}");
        assert!(
            err.contains(&format!("error: {folder}/put.go: not fixed: "))
                && err.contains("the file is unchanged"),
            "{folder}: {err}"
        );
        assert!(!err.contains("fixed 1 finding"), "{folder}: {err}");
        // Its findings are still reported, and still fixable.
        assert!(
            text.contains(&format!("{folder}/put.go:9:8: error[mutex-defer-lock]")),
            "{folder}: {text}"
        );
        assert!(
            text.contains("1 finding (1 error) in 1 file; 1 fixable with --fix"),
            "{folder}: {text}"
        );
        assert_eq!(
            leftover_temporaries(&dir.path().join(folder)),
            Vec::<String>::new()
        );
    }
    assert_eq!(std::fs::read_to_string(&single).unwrap(), DEFER_LOCK);
    assert_eq!(std::fs::read_to_string(&linked).unwrap(), DEFER_LOCK);
    // With room, the same files are fixed.
    let out = goconc(dir.path(), &["check", "--fix", "single", "linked"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&single).unwrap(), DEFER_LOCK_FIXED);
    assert_eq!(std::fs::read_to_string(&linked).unwrap(), DEFER_LOCK_FIXED);
}

/// Runs `goconc check --fix` paused (through its test seam, GOCONC_TEST_PAUSE_BEFORE_WRITE) just
/// before it compares and writes `put.go`, lets `meanwhile` act on the file, then lets it go on.
fn fix_with_a_change_meanwhile(dir: &TempDir, meanwhile: impl FnOnce(&Path)) -> Output {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    let mut child = Command::new(BIN)
        .args(["check", "--fix", "put.go"])
        .current_dir(dir.path())
        .env("GOCONC_TEST_PAUSE_BEFORE_WRITE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "goconc ended without pausing: {seen}"
        );
        if line.starts_with("goconc-test: about to write put.go") {
            break;
        }
        seen.push_str(&line);
    }
    meanwhile(&dir.path().join("put.go"));
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"\n").unwrap();
    drop(stdin);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    let mut out = child.wait_with_output().unwrap();
    out.stderr = (seen + &rest).into_bytes();
    out
}

#[test]
fn fix_leaves_alone_a_file_edited_or_deleted_while_it_runs() {
    let dir = TempDir::new("fix-race");
    module(&dir);
    let put = dir.write("put.go", DEFER_LOCK);
    let appended = "\nfunc Added() {}\n";
    let out = fix_with_a_change_meanwhile(&dir, |path| {
        let mut text = std::fs::read_to_string(path).unwrap();
        text.push_str(appended);
        std::fs::write(path, text).unwrap();
    });
    let err = stderr(&out);
    assert_eq!(
        std::fs::read_to_string(&put).unwrap(),
        format!("{DEFER_LOCK}{appended}"),
        "the edit made meanwhile is kept: {err}"
    );
    assert!(
        err.contains("warning: put.go: changed on disk while goconc ran: left as it is, not fixed"),
        "{err}"
    );
    assert!(!err.contains("fixed 1 finding"), "{err}");
    assert!(
        stdout(&out).contains("put.go:9:8: error[mutex-defer-lock]"),
        "{}",
        stdout(&out)
    );
    assert_eq!(code(&out), 1, "{err}");

    let out = fix_with_a_change_meanwhile(&dir, |path| std::fs::remove_file(path).unwrap());
    let err = stderr(&out);
    assert!(!put.exists(), "a file deleted meanwhile is not recreated");
    assert!(
        err.contains("warning: put.go: deleted while goconc ran: not recreated"),
        "{err}"
    );
    assert_eq!(leftover_temporaries(dir.path()), Vec::<String>::new());
}

/// Go source is UTF-8 without NUL bytes: anything else named `.go` is told in one line and not
/// parsed (1 MB of random bytes took 10 s), and never counted as fixable.
#[test]
fn a_go_file_that_is_not_go_text_is_skipped_in_one_line() {
    let dir = TempDir::new("binary");
    module(&dir);
    dir.write("put.go", DEFER_LOCK);
    // Random-looking bytes with a NUL, and a fixable file in Latin-1 (not UTF-8).
    let junk: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    assert!(junk.contains(&0));
    std::fs::write(dir.path().join("junk.go"), &junk).unwrap();
    let latin1 = DEFER_LOCK.replace("import", "// caf\u{e9}\nimport");
    let latin1: Vec<u8> = latin1
        .chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap())
        .collect();
    let latin1_path = dir.path().join("latin1.go");
    std::fs::write(&latin1_path, &latin1).unwrap();

    let out = goconc(dir.path(), &["check", "--fix"]);
    let (text, err) = (stdout(&out), stderr(&out));
    assert_eq!(code(&out), 2, "{text}{err}");
    let lines: Vec<&str> = err.lines().collect();
    for expected in [
        "error: junk.go: not Go source: a NUL byte at line 1 (byte offset 0); skipped",
        "error: latin1.go: not Go source: invalid UTF-8 at line 3 (byte offset 20); skipped",
    ] {
        assert!(lines.contains(&expected), "{err}");
    }
    assert_eq!(err.matches("junk.go").count(), 1, "{err}");
    // Not analysed, not fixed, not counted: only put.go is.
    assert!(err.contains("fixed 1 finding in put.go"), "{err}");
    assert!(
        !err.contains("in latin1.go") && !text.contains("latin1.go"),
        "{text}"
    );
    assert_eq!(std::fs::read(&latin1_path).unwrap(), latin1);
    assert_eq!(text.trim(), "no findings in 1 file");
}

/// Runs goconc and kills it if it has not ended after a minute (a FIFO used to hang it for good).
fn goconc_or_kill(dir: &Path, args: &[&str]) -> Output {
    use std::process::Stdio;
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..600 {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    panic!("goconc {args:?} hung; stderr so far: {}", stderr(&out));
}

#[cfg(unix)]
#[test]
fn fifos_and_devices_are_refused_without_hanging() {
    let dir = TempDir::new("fifo");
    module(&dir);
    dir.write("put.go", DEFER_LOCK);
    let fifo = dir.path().join("pipe.go");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) }, 0);
    let out = goconc_or_kill(
        dir.path(),
        &["check", "pipe.go", "/dev/zero", "put.go", "./pipe.go"],
    );
    let err = stderr(&out);
    assert_eq!(code(&out), 2, "{err}");
    assert!(
        err.contains("error: pipe.go: not a regular file (a FIFO)"),
        "{err}"
    );
    assert!(
        err.contains("error: /dev/zero: not a regular file (a character device)"),
        "{err}"
    );
    assert_eq!(
        err.matches("pipe.go").count(),
        1,
        "one message per file: {err}"
    );
    assert!(
        stdout(&out).contains("put.go:9:8: error[mutex-defer-lock]"),
        "the other files are still checked: {}",
        stdout(&out)
    );
    // Found by a walk, the FIFO is reported the same way, and never opened.
    let out = goconc_or_kill(dir.path(), &["check", "."]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("error: pipe.go: not a regular file (a FIFO)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_same_file_named_several_ways_is_reported_once() {
    let dir = TempDir::new("aliases");
    module(&dir);
    dir.write("put.go", DEFER_LOCK);
    dir.write("sub/clean.go", CLEAN);
    let out = goconc(
        dir.path(),
        &["check", "put.go", "./put.go", "sub/../put.go", ".", "./..."],
    );
    let text = stdout(&out);
    assert_eq!(code(&out), 1, "{text}{}", stderr(&out));
    assert_eq!(text.matches("error[mutex-defer-lock]").count(), 1, "{text}");
    // The first spelling that asked for it.
    assert!(text.starts_with("put.go:9:8: "), "{text}");
    assert!(text.contains("1 finding (1 error) in 2 files"), "{text}");
    let out = goconc(
        dir.path(),
        &["check", "--format", "json", "sub/../put.go", "put.go"],
    );
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v[0]["path"], "sub/../put.go");
}

#[cfg(unix)]
#[test]
fn broken_and_looping_go_symlinks_are_errors() {
    let dir = TempDir::new("symlinks");
    module(&dir);
    dir.write("put.go", DEFER_LOCK);
    let link = |target: &str, name: &str| {
        std::os::unix::fs::symlink(target, dir.path().join(name)).unwrap()
    };
    link("gone.go", "dangling.go");
    link("loop_b.go", "loop_a.go");
    link("loop_a.go", "loop_b.go");
    // Not a Go file: not goconc's business.
    link("gone.txt", "notes.txt");
    for args in [
        vec!["check", "."],
        vec!["check", "dangling.go", "loop_a.go", "put.go"],
    ] {
        let out = goconc(dir.path(), &args);
        let err = stderr(&out);
        assert_eq!(code(&out), 2, "{args:?}: {err}");
        assert!(
            err.contains(
                "error: dangling.go: broken symbolic link: its target `gone.go` does not exist"
            ),
            "{args:?}: {err}"
        );
        assert!(
            err.contains("error: loop_a.go: symbolic link to `loop_b.go` cannot be followed"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("notes.txt"), "{err}");
        assert!(
            stdout(&out).contains("put.go:9:8: error[mutex-defer-lock]"),
            "{}",
            stdout(&out)
        );
    }
}

/// Text prints a name's own bytes (as ripgrep does; the terminal shows what it can); JSON strings
/// cannot hold bytes that are not UTF-8, so JSON is lossy and says so; SARIF percent-encodes
/// every byte outside RFC 3986's unreserved set.
#[cfg(unix)]
#[test]
fn unusual_file_names_are_printed_faithfully_and_percent_encoded_in_sarif() {
    use std::os::unix::ffi::OsStrExt;
    let dir = TempDir::new("names");
    module(&dir);
    dir.write("a b#1 100%é.go", DEFER_LOCK);
    let raw_name = std::ffi::OsStr::from_bytes(b"raw\xffname.go");
    std::fs::write(
        dir.path().join(raw_name),
        CLEAN.replace("Get", "Get2").replace("mu3", "mu4"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join(raw_name),
        EMPTY_SECTION
            .replace("Touch", "Touch2")
            .replace("mu2", "mu5"),
    )
    .unwrap();

    let out = goconc(dir.path(), &["check", "."]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("a b#1 100%é.go:9:8: error[mutex-defer-lock]"),
        "{}",
        stdout(&out)
    );
    let raw_line = b"raw\xffname.go:8:2: warning[mutex-empty-critical-section]";
    assert!(
        out.stdout.windows(raw_line.len()).any(|w| w == raw_line),
        "the name's own bytes: {}",
        stdout(&out)
    );

    let out = goconc(dir.path(), &["check", "--format", "sarif", "."]);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let uris: std::collections::BTreeSet<&str> = v["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(
        uris.into_iter().collect::<Vec<_>>(),
        ["a%20b%231%20100%25%C3%A9.go", "raw%FFname.go"]
    );

    let out = goconc(dir.path(), &["check", "--format", "json", "."]);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let paths: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["a b#1 100%é.go", "raw\u{fffd}name.go"]);
    let warning = b"warning: raw\xffname.go: the file name is not UTF-8: JSON shows it with U+FFFD";
    assert!(
        out.stderr.windows(warning.len()).any(|w| w == warning),
        "{}",
        stderr(&out)
    );
}

#[test]
fn gitignored_files_are_skipped_in_walks_but_checked_when_named_and_read_for_types() {
    let dir = TempDir::new("gitignore");
    module(&dir);
    // The ignore crate (like git and ripgrep) applies .gitignore inside a repository only.
    std::fs::create_dir_all(dir.path().join(".git")).unwrap();
    dir.write(".gitignore", "gen/\n*_gen.go\n");
    dir.write("gen/put.go", DEFER_LOCK);
    dir.write("put.go", DEFER_LOCK);
    // A type declared in an ignored (generated) file still counts for the package.
    dir.write(
        "store_gen.go",
        "package shop\n\nimport \"sync\"\n\ntype Store struct {\n\tmu sync.Mutex\n\tn  int\n}\n",
    );
    dir.write(
        "copy.go",
        "package shop\n\nfunc byValue(s Store) int { return s.n }\n",
    );
    let out = goconc(dir.path(), &["check", "--format", "json", "."]);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let paths: std::collections::BTreeSet<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths.into_iter().collect::<Vec<_>>(),
        ["copy.go", "put.go"],
        "{v}"
    );
    // Named, a path is checked whatever .gitignore says.
    let out = goconc(dir.path(), &["check", "gen/put.go", "store_gen.go"]);
    assert!(
        stdout(&out).contains("gen/put.go:9:8: error[mutex-defer-lock]"),
        "{}",
        stdout(&out)
    );
    let out = goconc(dir.path(), &["check", "gen"]);
    assert!(
        stdout(&out).contains("gen/put.go:9:8: error[mutex-defer-lock]"),
        "{}",
        stdout(&out)
    );
}

/// `*a*a*…b` against a long name: exponential for the old backtracking matcher (it did not end),
/// linear with globset. Not timed.
#[test]
fn exclude_globs_with_many_stars_do_not_stall() {
    let dir = TempDir::new("globs");
    module(&dir);
    let long = format!("{}.go", "a".repeat(200));
    dir.write(&long, DEFER_LOCK);
    dir.write("gen_x.go", CLEAN);
    dir.write(
        "goconc.toml",
        &format!("exclude = [\"{}b\", \"gen_*.go\"]\n", "*a".repeat(30)),
    );
    let out = goconc(dir.path(), &["check"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("{long}:9:8: error[mutex-defer-lock]")),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("in 1 file"), "{}", stdout(&out));
    // A glob that does not compile is a config error on its line.
    dir.write("goconc.toml", "exclude = [\"gen/[a\"]\n");
    let out = goconc(dir.path(), &["check"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("goconc.toml:1: exclude: `gen/[a`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn long_source_lines_are_cut_around_the_caret() {
    let dir = TempDir::new("longline");
    module(&dir);
    // 50 findings on one line of ~1 MB.
    let pad = "x".repeat(20_000);
    let mut line = String::new();
    for i in 0..50 {
        line.push_str(&format!(
            "func F{i}() {{ mu.Lock(); defer mu.Lock(); _ = \"{pad}\" }}; "
        ));
    }
    dir.write(
        "long.go",
        &format!("package shop\n\nimport \"sync\"\n\nvar mu sync.Mutex\n\n{line}\n"),
    );
    let out = goconc(dir.path(), &["check"]);
    let text = stdout(&out);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(text.matches("error[mutex-defer-lock]").count(), 50);
    assert!(text.len() < 50 * 1_000, "{} bytes printed", text.len());
    let shown: Vec<&str> = text.lines().filter(|l| l.starts_with("7 | ")).collect();
    assert_eq!(shown.len(), 50);
    for (source, carets) in text
        .lines()
        .zip(text.lines().skip(1))
        .filter(|(l, _)| l.starts_with("7 | "))
    {
        let source = &source["7 | ".len()..];
        assert!(source.chars().count() <= 120, "{source}");
        // Cut on both sides, but for the first finding, 24 columns from the start.
        assert!(
            (source.starts_with("...") || source.starts_with("func F0() {"))
                && source.ends_with("..."),
            "{source}"
        );
        let carets = &carets["  | ".len()..];
        let column = carets.find('^').unwrap();
        assert_eq!(&source[column..column + carets.trim().len()], "mu.Lock()");
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

/// Generated Go nested thousands deep compiles, and checking it must neither overflow a stack
/// (with two or more folders the analysis runs on worker threads) nor lose the other findings:
/// a 3,000-arm `else if` chain is followed to its end; 1,500 nested `if`s and 3,000 nested
/// blocks are passed over with one line on stderr each.
#[test]
fn deeply_nested_code_is_checked_or_skipped_with_a_note_never_a_crash() {
    let dir = TempDir::new("deep");
    module(&dir);
    let arms: String = (1..3000)
        .map(|i| format!(" else if x == {i} {{\n\t\tmu.Unlock()\n\t}}"))
        .collect();
    dir.write(
        "chain/chain.go",
        &format!(
            "package chain\n\nimport \"sync\"\n\nvar mu sync.Mutex\n\nfunc F(x int) {{\n\
             \tmu.Lock()\n\tif x == 0 {{\n\t\tmu.Unlock()\n\t}}{arms} else {{\n\t\treturn\n\t}}\n}}\n"
        ),
    );
    let nested_ifs = format!(
        "{}mu.Unlock()\n{}",
        "if x > 0 {\n".repeat(1500),
        "}\n".repeat(1500)
    );
    dir.write(
        "ifs/ifs.go",
        &format!(
            "{}\nfunc Deep(x int) {{\nmu.Lock()\n{nested_ifs}}}\n",
            DEFER_LOCK.replace("package shop", "package ifs")
        ),
    );
    let blocks = format!("{}mu.Unlock()\n{}", "{\n".repeat(3000), "}\n".repeat(3000));
    dir.write(
        "blocks/blocks.go",
        &format!(
            "{}\nfunc Deep() {{\nmu.Lock()\n{blocks}}}\n",
            DEFER_LOCK.replace("package shop", "package blocks")
        ),
    );
    let out = goconc(dir.path(), &["check", "./..."]);
    let (stdout, stderr) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    // The chain is read to its last arm, where the function returns with the lock held.
    assert!(stdout.contains("mutex-unlock-missing"), "{stdout}");
    assert!(stdout.contains("chain.go:6010:3"), "{stdout}");
    // The nested functions are skipped, once each, and the rest of their files still checked.
    for (file, line) in [("ifs.go", 13), ("blocks.go", 13)] {
        let note = format!("{file}: line {line}: not checked: brackets nest deeper than");
        assert_eq!(stderr.matches(&note).count(), 1, "{note}\n{stderr}");
    }
    assert_eq!(stdout.matches("mutex-defer-lock").count(), 2, "{stdout}");
}

/// `guarded-field-unlocked` on the suite fixture: the reads a test makes on its own goroutine of
/// fields whose every write is made there under the lock are hints; the same reads in suites
/// whose writer a goroutine, an errgroup callback or parallel tests reach stay warnings.
#[test]
fn guarded_reads_on_a_tests_own_goroutine_are_hints_and_concurrent_ones_warnings() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = goconc(
        root,
        &[
            "check",
            "--format",
            "json",
            "--select",
            "guarded-field-unlocked",
            "tests/fixtures/guarded-field-unlocked",
        ],
    );
    let v: Value = serde_json::from_str(&stdout(&out)).expect("stdout is JSON");
    let mut severities: Vec<(String, String)> = v
        .as_array()
        .expect("an array")
        .iter()
        .filter(|f| {
            f["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("suite_test.go"))
        })
        .map(|f| {
            let message = f["message"].as_str().unwrap_or_default();
            let field = message.split('`').nth(1).unwrap_or_default().to_string();
            (
                field,
                f["severity"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    severities.sort();
    // `AddNode` reads `s.nextPort` and `s.nodes` without `s.mu`: one finding for both.
    let add_node = v
        .as_array()
        .expect("an array")
        .iter()
        .filter_map(|f| f["message"].as_str())
        .find(|m| m.starts_with("`s.nextPort`"))
        .expect("the AddNode finding");
    assert!(
        add_node.contains("this function also reads `s.nodes` without it"),
        "{add_node}"
    );
    let expected: Vec<(String, String)> = [
        ("s.count", "warning"),
        ("s.next", "warning"),
        ("s.nextPort", "hint"),
        ("s.nodes", "hint"),
        ("s.serial", "warning"),
    ]
    .iter()
    .map(|(f, s)| (f.to_string(), s.to_string()))
    .collect();
    assert_eq!(severities, expected);
}

/// A project's own lock wrapper in another package of the module (`type Mutex interface {
/// Lock(); Unlock() }`, a `RWMutex` embedding it): its values are locks for every rule, as
/// `sync`'s are. An interface with `Lock` but no `Unlock()` is no lock.
#[test]
fn lock_interfaces_of_another_package_of_the_module_are_locks() {
    let dir = TempDir::new("module-lockers");
    module(&dir);
    dir.write(
        "lsync/sync.go",
        "package sync\n\nimport \"sync\"\n\ntype Mutex interface {\n\tLock()\n\tUnlock()\n}\n\n\
         type RWMutex interface {\n\tMutex\n\tRLock()\n\tRUnlock()\n}\n\n\
         type Store interface {\n\tLock()\n\tUnlock(force bool)\n\tGet(k string) int\n}\n\n\
         func NewMutex() Mutex { return &sync.Mutex{} }\n\n\
         func NewRWMutex() RWMutex { return &sync.RWMutex{} }\n",
    );
    dir.write(
        "cache/cache.go",
        "package cache\n\nimport \"example.com/shop/lsync\"\n\n\
         type Cache struct {\n\tmu    sync.RWMutex\n\tstore sync.Store\n\titems map[string]int\n}\n\n\
         func (c *Cache) Put(k string, v int) bool {\n\tc.mu.Lock()\n\tif k == \"\" {\n\t\treturn false\n\t}\n\
         \tc.items[k] = v\n\tc.mu.Unlock()\n\treturn true\n}\n\n\
         func (c *Cache) Get(k string) int {\n\tc.mu.RLock()\n\tdefer c.mu.RUnlock()\n\treturn c.items[k]\n}\n\n\
         func (c *Cache) Fill(k string) bool {\n\tc.store.Lock()\n\tif k == \"\" {\n\t\treturn false\n\t}\n\
         \tc.store.Unlock(false)\n\treturn true\n}\n",
    );
    let text = dir.path().join("cache/cache.go");
    let src = std::fs::read_to_string(&text).unwrap();
    std::fs::write(
        &text,
        src.replace(
            "import \"example.com/shop/lsync\"",
            "import sync \"example.com/shop/lsync\"",
        ),
    )
    .unwrap();
    let out = goconc(dir.path(), &["check", "--format", "json", "cache"]);
    let text = stdout(&out);
    let findings: Value = serde_json::from_str(&text).unwrap();
    let found: Vec<(&str, u64)> = findings
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let line = f["range"]["start"]["line"].as_u64().unwrap();
            (f["rule"].as_str().unwrap(), line)
        })
        .collect();
    // `Put` returns at line 14 with `c.mu` held; `Fill`'s `Store` unlocks with an argument,
    // which no `sync.Locker` does, so it is not taken for a lock.
    assert_eq!(found, vec![("mutex-unlock-missing", 12)], "{text}");
}

/// The shapes bench also measures each shape parsed alone: the column `tree` holds a number per
/// shape, the MB per MB of tree-sitter's tree under the check's own.
#[test]
fn the_shapes_bench_reports_the_tree_alone_beside_the_check() {
    let dir = TempDir::new("bench-tree");
    let out = goconc(
        dir.path(),
        &[
            "bench",
            "--shapes",
            "--scale",
            "0.05",
            "--only",
            "nested-ifs",
        ],
    );
    let text = stdout(&out);
    assert_eq!(code(&out), 0, "{text}{}", stderr(&out));
    let header = text.lines().next().unwrap();
    assert!(
        header.trim_end().ends_with("MB/MB     tree  outcome"),
        "{header}"
    );
    let row = text
        .lines()
        .find(|l| l.starts_with("nested-ifs"))
        .expect("the shape's row");
    // Name, input MB, CPU s, s/MB, peak MB, MB/MB, then the tree's MB/MB.
    let cell = row.split_whitespace().nth(6).unwrap();
    let tree: f64 = cell.parse().unwrap_or_else(|_| panic!("{cell:?} in {row}"));
    assert!(tree >= 0.0, "{row}");
}

/// `--parse-only` parses a file and exits 0; a file that is not there is an error (exit 2)
/// that names it.
#[test]
fn bench_parse_only_parses_a_file_or_names_the_one_it_cannot_read() {
    let dir = TempDir::new("parse-only");
    let file = dir.write("x.go", "package p\n\nfunc f() {\n\tif x {\n}\n");
    let out = goconc(
        dir.path(),
        &["bench", "--parse-only", file.to_str().unwrap()],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let missing = dir.path().join("missing.go");
    let out = goconc(
        dir.path(),
        &["bench", "--parse-only", missing.to_str().unwrap()],
    );
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("missing.go"), "{}", stderr(&out));
}

/// The findings of `goconc check --format json` run in `dir` on `args`, as (file, rule, line).
fn json_findings(dir: &std::path::Path, args: &[&str]) -> Vec<(String, String, u64)> {
    let mut all = vec!["check", "--format", "json"];
    all.extend(args);
    let out = goconc(dir, &all);
    let text = stdout(&out);
    let findings: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let mut found: Vec<(String, String, u64)> = findings
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap_or_default().replace('\\', "/"),
                f["rule"].as_str().unwrap().to_string(),
                f["range"]["start"]["line"].as_u64().unwrap(),
            )
        })
        .collect();
    found.sort();
    found
}

/// `lib.Fetch` waits for a network round trip: what a check of `app` learns from `lib`'s
/// summary.
const FETCH_LIB: &str = "package lib\n\nimport \"net/http\"\n\n\
    // Fetch waits for a network round trip.\nfunc Fetch(url string) error {\n\
    \tresp, err := http.Get(url)\n\tif err != nil {\n\t\treturn err\n\t}\n\
    \treturn resp.Body.Close()\n}\n";

/// Whether `found` (from [`json_findings`]) holds `rule` at `line` of the file whose path ends
/// with `file`.
fn reported(found: &[(String, String, u64)], file: &str, rule: &str, line: u64) -> bool {
    found
        .iter()
        .any(|(f, r, l)| f.ends_with(file) && r == rule && *l == line)
}

/// A package whose external tests import a package that imports it (legal Go): checked in
/// import order, its own exports cannot wait for its check, which waits for the other package.
/// Whichever folders are named, `app` is judged by `lib`'s summary (`Fetch` waits on the
/// network), and the check ends. The same when `lib` has no tests and its only file is
/// generated (never reported, so its check reads nothing and its exports are made apart).
#[test]
fn folders_get_the_same_findings_whichever_are_named_with_them() {
    const LIB: &str = "package lib\n\nimport (\n\t\"io\"\n\t\"net/http\"\n)\n\n\
        // Fetch waits for a network round trip.\nfunc Fetch(url string) (string, error) {\n\
        \tresp, err := http.Get(url)\n\tif err != nil {\n\t\treturn \"\", err\n\t}\n\
        \tdefer resp.Body.Close()\n\tb, err := io.ReadAll(resp.Body)\n\treturn string(b), err\n}\n";
    const APP: &str = "package app\n\nimport (\n\t\"sync\"\n\n\t\"example.com/shop/lib\"\n)\n\n\
        type Pages struct {\n\tmu    sync.Mutex\n\tpages map[string]string\n}\n\n\
        func (p *Pages) Page(name string) string {\n\tp.mu.Lock()\n\tdefer p.mu.Unlock()\n\
        \treturn p.pages[name]\n}\n\n\
        func (p *Pages) Check(url string) error {\n\tp.mu.Lock()\n\tdefer p.mu.Unlock()\n\
        \t_, err := lib.Fetch(url)\n\treturn err\n}\n";
    const LIB_TEST: &str = "package lib_test\n\nimport (\n\t\"testing\"\n\n\
        \t\"example.com/shop/app\"\n)\n\nfunc TestPages(t *testing.T) {\n\
        \tvar p app.Pages\n\t_ = p.Page(\"a\")\n}\n";
    for generated in [false, true] {
        let dir = TempDir::new(if generated { "order-gen" } else { "order" });
        module(&dir);
        let lib = match generated {
            true => format!("// Code generated by hand. DO NOT EDIT.\n\n{LIB}"),
            false => LIB.to_string(),
        };
        dir.write("lib/lib.go", &lib);
        if !generated {
            dir.write("lib/lib_test.go", LIB_TEST);
        }
        dir.write("app/app.go", APP);
        let alone = json_findings(dir.path(), &["app"]);
        assert!(
            reported(&alone, "app/app.go", "mutex-held-blocking", 23),
            "generated {generated}: {alone:?}"
        );
        for named in [&["."][..], &["app", "lib"], &["lib", "app"]] {
            let found: Vec<_> = json_findings(dir.path(), named)
                .into_iter()
                .filter(|(file, _, _)| file.ends_with("app/app.go"))
                .collect();
            assert_eq!(found, alone, "generated {generated}, named {named:?}");
        }
    }
}

/// A chain of 200 packages, each calling the next, the last one waiting on the network: each
/// package is summarised only after the one it imports, so the call under a lock in the first
/// reports the wait at the end of the chain, whether the first is named alone or with the rest
/// (run in reverse order of naming, folders interleaved with summaries made apart).
#[test]
fn a_long_import_chain_is_summarised_link_by_link() {
    let dir = TempDir::new("import-chain");
    module(&dir);
    const LINKS: usize = 200;
    for i in 0..LINKS {
        let body = if i + 1 < LINKS {
            format!(
                "package p{i}\n\nimport \"example.com/shop/p{next}\"\n\n\
                 func F() error {{ return p{next}.F() }}\n",
                next = i + 1
            )
        } else {
            format!(
                "package p{i}\n\nimport \"net/http\"\n\n\
                 func F() error {{\n\t_, err := http.Get(\"x\")\n\treturn err\n}}\n"
            )
        };
        dir.write(&format!("p{i}/p.go"), &body);
    }
    dir.write(
        "p0/use.go",
        "package p0\n\nimport \"sync\"\n\nvar mu sync.Mutex\n\n\
         func G() error {\n\tmu.Lock()\n\tdefer mu.Unlock()\n\treturn F()\n}\n",
    );
    let every_other: Vec<String> = (0..LINKS)
        .step_by(2)
        .rev()
        .map(|i| format!("./p{i}"))
        .collect();
    let every_other: Vec<&str> = every_other.iter().map(String::as_str).collect();
    for named in [&["./p0"][..], &["."], &every_other] {
        let found = json_findings(dir.path(), named);
        assert!(
            reported(&found, "p0/use.go", "mutex-held-blocking", 10),
            "{:?}: {found:?}",
            &named[..named.len().min(3)]
        );
    }
}

/// A module named without a dot (`go mod init shop`): `shop/lib` is its package, not the
/// standard library's, so a helper of `app` that calls `lib.Fetch` carries the wait into the
/// caller that holds a lock.
#[test]
fn a_module_named_without_a_dot_is_summarised_through_helpers() {
    let dir = TempDir::new("dotless-module");
    dir.write("go.mod", "module shop\n\ngo 1.22\n");
    dir.write("lib/lib.go", FETCH_LIB);
    dir.write(
        "app/app.go",
        "package app\n\nimport (\n\t\"sync\"\n\n\t\"shop/lib\"\n)\n\n\
         var mu sync.Mutex\n\n\
         func refresh(url string) error {\n\treturn lib.Fetch(url)\n}\n\n\
         func Check(url string) error {\n\tmu.Lock()\n\tdefer mu.Unlock()\n\
         \treturn refresh(url)\n}\n",
    );
    for named in [&["."][..], &["./app"]] {
        let found = json_findings(dir.path(), named);
        assert!(
            reported(&found, "app/app.go", "mutex-held-blocking", 18),
            "{named:?}: {found:?}"
        );
    }
}

/// A generator kept beside the package it writes (`//go:build ignore`, `package main`, importing
/// the package that uses its output) is no part of what `lib` exports: `app` is still judged by
/// `lib.Fetch`, whether the generator is marked ignored or only declares `main`.
#[test]
fn a_generator_beside_a_package_is_not_what_it_exports() {
    for constraint in ["//go:build ignore\n\n", ""] {
        let dir = TempDir::new("generator");
        module(&dir);
        dir.write("lib/lib.go", FETCH_LIB);
        dir.write(
            "lib/gen.go",
            &format!(
                "{constraint}// gen writes the pages.\npackage main\n\n\
                 import \"example.com/shop/app\"\n\nfunc main() {{ _ = app.Check(\"x\") }}\n"
            ),
        );
        dir.write(
            "app/app.go",
            "package app\n\nimport (\n\t\"sync\"\n\n\t\"example.com/shop/lib\"\n)\n\n\
             var mu sync.Mutex\n\n\
             func Check(url string) error {\n\tmu.Lock()\n\tdefer mu.Unlock()\n\
             \treturn lib.Fetch(url)\n}\n",
        );
        for named in [&["./app"][..], &["."]] {
            let found = json_findings(dir.path(), named);
            assert!(
                reported(&found, "app/app.go", "mutex-held-blocking", 14),
                "{constraint:?} {named:?}: {found:?}"
            );
        }
    }
}

/// A package comment that shows code at the start of a line (`var pages = app.New()`) is
/// still a comment: the module index reads the imports after it and hands `app`'s check what
/// `lib.Fetch` does.
#[test]
fn imports_after_a_package_comment_showing_code_are_followed() {
    let dir = TempDir::new("package-comment");
    module(&dir);
    dir.write("lib/lib.go", FETCH_LIB);
    dir.write(
        "app/app.go",
        "/*\nPackage app keeps pages:\n\nvar pages = app.New()\n*/\npackage app\n\n\
         import (\n\t\"sync\"\n\n\t\"example.com/shop/lib\"\n)\n\n\
         type Pages struct {\n\tmu    sync.Mutex\n\tpages map[string]string\n}\n\n\
         func (p *Pages) Check(url string) error {\n\tp.mu.Lock()\n\tdefer p.mu.Unlock()\n\
         \treturn lib.Fetch(url)\n}\n",
    );
    for named in [&["."][..], &["./app"], &["./app", "./lib"]] {
        let found = json_findings(dir.path(), named);
        assert!(
            reported(&found, "app/app.go", "mutex-held-blocking", 22),
            "{named:?}: {found:?}"
        );
    }
}

/// Broken code whose packages import each other (which Go rejects): each is summarised with
/// what is ready, then checked with those summaries, and the check ends.
#[test]
fn packages_importing_each_other_are_summarised_then_checked() {
    let dir = TempDir::new("import-cycle");
    module(&dir);
    dir.write(
        "lib/lib.go",
        "package lib\n\nimport (\n\t\"net/http\"\n\n\t\"example.com/shop/app\"\n)\n\n\
         var _ app.Pages\n\n\
         // Fetch waits for a network round trip.\nfunc Fetch(url string) error {\n\
         \tresp, err := http.Get(url)\n\tif err != nil {\n\t\treturn err\n\t}\n\
         \treturn resp.Body.Close()\n}\n",
    );
    dir.write(
        "app/app.go",
        "package app\n\nimport (\n\t\"sync\"\n\n\t\"example.com/shop/lib\"\n)\n\n\
         type Pages struct {\n\tmu    sync.Mutex\n\tpages map[string]string\n}\n\n\
         func (p *Pages) Page(name string) string {\n\tp.mu.Lock()\n\tdefer p.mu.Unlock()\n\
         \treturn p.pages[name]\n}\n\n\
         func (p *Pages) Check(url string) error {\n\tp.mu.Lock()\n\tdefer p.mu.Unlock()\n\
         \treturn lib.Fetch(url)\n}\n",
    );
    let found = json_findings(dir.path(), &["."]);
    assert!(
        reported(&found, "app/app.go", "mutex-held-blocking", 23),
        "{found:?}"
    );
}
