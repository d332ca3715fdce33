//! End-to-end tests of what teams adopting goconc in CI use: only new findings (baselines,
//! `--new-from-rev`), the formats CI systems read, standard input, generated files, suppression
//! comments, the machine-readable catalog, `--statistics`, `--config`, and the progress bar.

#[path = "common/cli_support.rs"]
mod cli_support;

use std::process::Command;

use cli_support::*;
use serde_json::Value;

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The findings of a JSON report as (path, rule, line).
fn findings(out: &std::process::Output) -> Vec<(String, String, u64)> {
    json(&stdout(out))
        .as_array()
        .expect("an array")
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["rule"].as_str().unwrap().to_string(),
                f["range"]["start"]["line"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// `defer mu.Lock()` after a comment holding a two-byte character: columns in characters and in
/// UTF-8 bytes differ by one.
const WIDE: &str = "package shop

import \"sync\"

var mu sync.Mutex

func Put(m map[string]int, k string) {
	mu.Lock()
	/* é */ defer mu.Lock()
	m[k] = 1
}
";

#[test]
fn github_rdjson_checkstyle_and_gitlab_formats() {
    let dir = TempDir::new("formats");
    module(&dir);
    dir.write("pkg/put.go", WIDE);
    dir.write("pkg/touch.go", EMPTY_SECTION);

    let out = goconc(dir.path(), &["check", "--format", "github", "./..."]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let lines: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with(
            "::error file=pkg/put.go,line=9,endLine=9,col=16,endColumn=25,title=goconc mutex-defer-lock::`defer mu.Lock()`"
        ),
        "{}",
        lines[0]
    );
    assert!(lines[0].ends_with("(fix available: Change to `defer mu.Unlock()`)"));
    assert!(
        lines[1].starts_with("::warning file=pkg/touch.go,line=8,"),
        "{}",
        lines[1]
    );

    let out = goconc(dir.path(), &["check", "--format", "rdjson", "./..."]);
    let v = json(&stdout(&out));
    assert_eq!(v["source"]["name"], "goconc");
    let d = &v["diagnostics"][0];
    assert_eq!(d["location"]["path"], "pkg/put.go");
    assert_eq!(d["severity"], "ERROR");
    assert_eq!(d["code"]["value"], "mutex-defer-lock");
    assert!(d["code"]["url"]
        .as_str()
        .unwrap()
        .ends_with("mutex-defer-lock.md"));
    // Columns in UTF-8 bytes: `é` is two.
    assert_eq!(
        d["location"]["range"]["start"],
        serde_json::json!({"line": 9, "column": 17})
    );
    let suggestion = &d["suggestions"][0];
    assert_eq!(suggestion["text"], "Unlock");
    assert_eq!(v["diagnostics"][1]["severity"], "WARNING");
    assert!(v["diagnostics"][1].get("suggestions").is_none());

    let out = goconc(dir.path(), &["check", "--format", "checkstyle", "./..."]);
    let xml = stdout(&out);
    assert!(xml
        .starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<checkstyle version=\"5.0\">\n"));
    assert!(xml.contains("  <file name=\"pkg/put.go\">\n    <error line=\"9\" column=\"16\" severity=\"error\" message=\"`defer mu.Lock()` locks"), "{xml}");
    assert!(xml.contains("source=\"goconc.mutex-defer-lock\"/>"));
    assert!(xml.contains("severity=\"warning\""));
    assert!(xml.trim_end().ends_with("</checkstyle>"));

    let out = goconc(dir.path(), &["check", "--format", "gitlab", "./..."]);
    let issues = json(&stdout(&out));
    let issue = &issues[0];
    assert_eq!(issue["check_name"], "mutex-defer-lock");
    assert_eq!(issue["severity"], "critical");
    assert_eq!(issue["location"]["path"], "pkg/put.go");
    assert_eq!(issue["location"]["lines"]["begin"], 9);
    assert_eq!(issue["fingerprint"].as_str().unwrap().len(), 16);
    assert_eq!(issues[1]["severity"], "major");
    assert_ne!(issue["fingerprint"], issues[1]["fingerprint"]);
}

#[test]
fn several_formats_at_once_and_an_output_file() {
    let dir = TempDir::new("outputs");
    module(&dir);
    dir.write("pkg/put.go", DEFER_LOCK);
    let out = goconc(
        dir.path(),
        &[
            "check",
            "--format",
            "text",
            "--format",
            "sarif:goconc.sarif",
            "--format",
            "checkstyle:checkstyle.xml,json:out.json",
            "./pkg",
        ],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("error[mutex-defer-lock]"),
        "{}",
        stdout(&out)
    );
    assert!(!stdout(&out).contains("\x1b["), "a pipe is not colored");
    assert_eq!(json(&dir.read("goconc.sarif"))["version"], "2.1.0");
    assert!(dir
        .read("checkstyle.xml")
        .contains("goconc.mutex-defer-lock"));
    assert_eq!(json(&dir.read("out.json"))[0]["rule"], "mutex-defer-lock");

    // --output-file takes the formats named without a file; stdout stays empty.
    let out = goconc(
        dir.path(),
        &[
            "check",
            "--format",
            "github",
            "--output-file",
            "annotations.txt",
            "./pkg",
        ],
    );
    assert_eq!(code(&out), 1);
    assert_eq!(stdout(&out), "");
    assert!(dir
        .read("annotations.txt")
        .starts_with("::error file=pkg/put.go,line=9,"));

    // Two formats in one place would overwrite or interleave each other.
    let out = goconc(dir.path(), &["check", "--format", "text,json", "."]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("--format text and json would both write to standard output"),
        "{}",
        stderr(&out)
    );
    let out = goconc(
        dir.path(),
        &[
            "check",
            "--format",
            "sarif,gitlab",
            "--output-file",
            "x",
            ".",
        ],
    );
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("--format sarif and gitlab would both write x"),
        "{}",
        stderr(&out)
    );

    let out = goconc(dir.path(), &["check", "--format", "xml", "."]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("unknown format `xml` (the formats are text, json, sarif, github, rdjson, checkstyle, gitlab)"), "{}", stderr(&out));
    let out = goconc(
        dir.path(),
        &["check", "--format", "sarif:no-such-dir/x.sarif", "."],
    );
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("no-such-dir/x.sarif"),
        "{}",
        stderr(&out)
    );
}

const LANGUAGE_PATTERN: &str = "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$";

/// Removes every `"pattern": pattern` of a schema; how many.
fn drop_pattern(schema: &mut Value, pattern: &str) -> usize {
    match schema {
        Value::Object(map) => {
            let mut dropped = 0;
            if map.get("pattern").and_then(Value::as_str) == Some(pattern) {
                map.remove("pattern");
                dropped += 1;
            }
            dropped
                + map
                    .values_mut()
                    .map(|v| drop_pattern(v, pattern))
                    .sum::<usize>()
        }
        Value::Array(items) => items.iter_mut().map(|v| drop_pattern(v, pattern)).sum(),
        _ => 0,
    }
}

/// Every finding kind the SARIF writer knows: related locations, fixes, a path to encode.
#[test]
fn sarif_is_valid_against_the_sarif_2_1_0_schema_and_has_partial_fingerprints() {
    let dir = TempDir::new("sarif-schema");
    module(&dir);
    dir.write("pkg/put.go", DEFER_LOCK);
    dir.write("pkg/a b/touch.go", EMPTY_SECTION);
    dir.write(
        "pkg/why.go",
        "package shop\n\nfunc F() {\n\tmu.Lock() //nolint:goconc\n}\n",
    );
    let out = goconc(
        dir.path(),
        &[
            "check",
            "--format",
            "sarif",
            "--report-unused-suppressions",
            "./...",
        ],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let sarif = json(&stdout(&out));
    let mut schema = json(include_str!("schemas/sarif-2.1.0-rtm.5.json"));
    // The schema's pattern for the `language` properties has an unbalanced `]`, which the
    // validator refuses as a regex when it checks the schema itself; goconc writes no
    // `language`, so that pattern is left out here (the schema file stays as published).
    assert!(drop_pattern(&mut schema, LANGUAGE_PATTERN) >= 1);
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&sarif)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "SARIF schema violations:\n{}",
        errors.join("\n")
    );
    // And the schema is strict enough to notice: a misspelt property fails.
    let mut broken = sarif.clone();
    broken["runs"][0]["results"][0]["partialFingerprint"] = serde_json::json!({});
    assert!(!validator.is_valid(&broken));

    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let rules: Vec<&str> = results
        .iter()
        .map(|r| r["ruleId"].as_str().unwrap())
        .collect();
    assert!(
        rules.contains(&"mutex-defer-lock") && rules.contains(&"mutex-empty-critical-section"),
        "{rules:?}"
    );
    assert!(
        rules.contains(&"suppression-without-reason") && rules.contains(&"unused-suppression"),
        "{rules:?}"
    );
    let driver_rules = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    for r in results {
        let fingerprint = r["partialFingerprints"]["goconc/v1"].as_str().unwrap();
        assert!(fingerprint.len() == 16 && fingerprint.chars().all(|c| c.is_ascii_hexdigit()));
        let index = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(driver_rules[index]["id"], r["ruleId"]);
    }
}

#[test]
fn a_baseline_hides_known_findings_while_lines_above_them_change() {
    let dir = TempDir::new("baseline");
    module(&dir);
    dir.write("pkg/put.go", DEFER_LOCK);
    dir.write("pkg/touch.go", EMPTY_SECTION);
    let out = goconc(
        dir.path(),
        &["check", "--write-baseline", "goconc-baseline.json", "./..."],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert!(
        stderr(&out).contains("wrote 2 findings to goconc-baseline.json"),
        "{}",
        stderr(&out)
    );
    let baseline = json(&dir.read("goconc-baseline.json"));
    assert_eq!(baseline["goconc_baseline"], 1);
    assert_eq!(baseline["findings"].as_array().unwrap().len(), 2);

    // Unrelated edits above both findings, and a new finding.
    let edited = DEFER_LOCK.replace(
        "var mu sync.Mutex\n",
        "// mu guards the map.\nvar mu sync.Mutex\n\nvar other = 1\n",
    );
    dir.write("pkg/put.go", &edited);
    dir.write(
        "pkg/touch.go",
        &EMPTY_SECTION.replace("package shop\n", "// Package shop sells.\npackage shop\n"),
    );
    dir.write(
        "pkg/new.go",
        "package shop\n\nfunc Again(m map[string]int) {\n\tmu.Lock()\n\tdefer mu.Lock()\n}\n",
    );
    let out = goconc(
        dir.path(),
        &[
            "check",
            "--format",
            "json",
            "--baseline",
            "goconc-baseline.json",
            "./...",
        ],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(
        findings(&out),
        [("pkg/new.go".to_string(), "mutex-defer-lock".to_string(), 5)]
    );
    assert!(
        stderr(&out).contains("note: 2 findings in the baseline goconc-baseline.json not shown"),
        "{}",
        stderr(&out)
    );

    // Fixing a known finding leaves its entry stale, which is said; the rest still counts.
    dir.write("pkg/touch.go", "package shop\n");
    dir.write("pkg/new.go", "package shop\n");
    let out = goconc(
        dir.path(),
        &["check", "--baseline", "goconc-baseline.json", "./..."],
    );
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stderr(&out).contains("1 finding of the baseline goconc-baseline.json no longer found"),
        "{}",
        stderr(&out)
    );
    // Renaming the function of a known finding makes it new again.
    dir.write("pkg/put.go", &edited.replace("func Put(", "func PutAll("));
    let out = goconc(
        dir.path(),
        &["check", "--baseline", "goconc-baseline.json", "./..."],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));

    let out = goconc(dir.path(), &["check", "--baseline", "missing.json", "."]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("--baseline missing.json: "),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("write one with --write-baseline missing.json"));
    dir.write("bad.json", "{\"findings\": []}");
    let out = goconc(dir.path(), &["check", "--baseline", "bad.json", "."]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("not a goconc baseline"),
        "{}",
        stderr(&out)
    );
}

fn git(dir: &std::path::Path, args: &[&str]) {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn new_from_rev_reports_only_findings_on_changed_lines() {
    let dir = TempDir::new("new-from-rev");
    module(&dir);
    dir.write("pkg/put.go", DEFER_LOCK);
    dir.write("pkg/touch.go", EMPTY_SECTION);
    git(dir.path(), &["init", "-q", "-b", "main"]);
    git(dir.path(), &["add", "."]);
    git(dir.path(), &["commit", "-q", "-m", "old findings"]);
    git(dir.path(), &["checkout", "-q", "-b", "feature"]);
    // A committed change with a new finding, lines added above an old one, and an untracked file.
    let put = DEFER_LOCK.replace(
        "import \"sync\"\n",
        "import \"sync\"\n\n// more\n// lines\n",
    ) + "\nfunc Put2(m map[string]int) {\n\tmu.Lock()\n\tdefer mu.Lock()\n}\n";
    dir.write("pkg/put.go", &put);
    git(dir.path(), &["commit", "-qam", "new finding"]);
    dir.write(
        "pkg/fresh.go",
        "package shop\n\nfunc Fresh() {\n\tmu.Lock()\n\tmu.Unlock()\n}\n",
    );
    let out = goconc(
        dir.path(),
        &[
            "check",
            "--format",
            "json",
            "--new-from-rev",
            "main",
            "./...",
        ],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let got = findings(&out);
    assert_eq!(
        got,
        [
            (
                "pkg/fresh.go".to_string(),
                "mutex-empty-critical-section".to_string(),
                4
            ),
            ("pkg/put.go".to_string(), "mutex-defer-lock".to_string(), 18),
        ]
    );
    assert!(
        stderr(&out).contains("note: 2 findings on lines not changed since main not shown"),
        "{}",
        stderr(&out)
    );
    // The merge base of HEAD and main is main's commit; from a subfolder, with a file named.
    let out = goconc(
        &dir.path().join("pkg"),
        &[
            "check",
            "--format",
            "json",
            "--new-from-merge-base",
            "main",
            "put.go",
        ],
    );
    assert_eq!(
        findings(&out),
        [("put.go".to_string(), "mutex-defer-lock".to_string(), 18)]
    );
    // An edit not yet staged counts too.
    dir.write(
        "pkg/touch.go",
        &EMPTY_SECTION.replace("mu2.Lock()", "mu2.Lock() // edited"),
    );
    let out = goconc(
        dir.path(),
        &[
            "check",
            "--format",
            "json",
            "--new-from-rev",
            "HEAD",
            "./...",
        ],
    );
    assert_eq!(
        findings(&out),
        [
            (
                "pkg/fresh.go".to_string(),
                "mutex-empty-critical-section".to_string(),
                4
            ),
            (
                "pkg/touch.go".to_string(),
                "mutex-empty-critical-section".to_string(),
                8
            ),
        ]
    );
    let out = goconc(dir.path(), &["check", "--new-from-rev", "no-such-rev", "."]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("`no-such-rev` is not a revision of this repository"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn standard_input_is_checked_with_its_package_from_disk() {
    let dir = TempDir::new("stdin");
    module(&dir);
    // The lock-holding type is declared in a sibling on disk: only the package tells that the
    // value receiver copies a mutex.
    dir.write(
        "pkg/store.go",
        "package shop\n\nimport \"sync\"\n\ntype Store struct {\n\tmu sync.Mutex\n\tn  int\n}\n",
    );
    dir.write("pkg/get.go", "package shop\n");
    let text = "package shop\n\nfunc (s Store) Get() int { return s.n }\n";
    let out = goconc_stdin(
        dir.path(),
        &[
            "check",
            "--format",
            "json",
            "--stdin-filename",
            "pkg/get.go",
            "-",
        ],
        text,
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(
        findings(&out),
        [("pkg/get.go".to_string(), "sync-value-copied".to_string(), 3)]
    );
    // The file on disk is not what was checked, nor written.
    assert_eq!(dir.read("pkg/get.go"), "package shop\n");

    // `--fix -`: the fixed text on stdout, what remains on stderr.
    let out = goconc_stdin(
        dir.path(),
        &["check", "--fix", "--stdin-filename", "pkg/put.go", "-"],
        DEFER_LOCK,
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        DEFER_LOCK.replace("defer mu.Lock()", "defer mu.Unlock()")
    );
    assert!(
        stderr(&out).contains("fixed 1 finding in pkg/put.go"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("pkg/put.go").exists());

    let out = goconc(dir.path(), &["check", "--stdin-filename", "x.go", "."]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("add `-` to the paths"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn generated_files_are_skipped_unless_named_and_still_count_for_types() {
    let dir = TempDir::new("generated");
    module(&dir);
    let header = "// Code generated by stringer; DO NOT EDIT.\n\n";
    dir.write("pkg/put_gen.go", &format!("{header}{DEFER_LOCK}"));
    // The type with the mutex lives in a generated file; the copy is in a hand-written one.
    dir.write("pkg/types_gen.go", &format!("{header}package shop\n\nimport \"sync\"\n\ntype Store struct {{\n\tmu sync.Mutex\n}}\n"));
    dir.write(
        "pkg/copy.go",
        "package shop\n\nfunc (s Store) Get() int { return 0 }\n",
    );
    // Not generated: the marker must be a whole line before the package clause.
    dir.write(
        "pkg/late.go",
        &DEFER_LOCK
            .replace(
                "var mu sync.Mutex",
                "var mu3 sync.Mutex\n\n// Code generated by hand; DO NOT EDIT.",
            )
            .replace("mu.", "mu3."),
    );
    let out = goconc(dir.path(), &["check", "--format", "json", "./..."]);
    let got = findings(&out);
    assert_eq!(
        got.iter()
            .map(|(p, r, _)| (p.as_str(), r.as_str()))
            .collect::<Vec<_>>(),
        [
            ("pkg/copy.go", "sync-value-copied"),
            ("pkg/late.go", "mutex-defer-lock")
        ],
        "{got:?}"
    );
    let out = goconc(dir.path(), &["check", "--format", "json", "pkg/put_gen.go"]);
    assert_eq!(
        findings(&out),
        [(
            "pkg/put_gen.go".to_string(),
            "mutex-defer-lock".to_string(),
            11
        )]
    );
}

#[test]
fn staticcheck_and_declaration_suppressions() {
    let dir = TempDir::new("suppress");
    module(&dir);
    dir.write(
        "pkg/a.go",
        "package shop

import \"sync\"

var mu sync.Mutex

//lint:ignore SA2001,goconc/mutex-empty-critical-section a barrier: waits for writers
func Barrier() {
	mu.Lock()
	mu.Unlock()
}

// Twice is old.
//
//goconc:ignore mutex the whole function is scheduled for removal
func Twice() {
	mu.Lock()
	mu.Unlock()
	mu.Lock()
	defer mu.Lock()
}

func Kept() {
	mu.Lock()
	mu.Unlock()
}
",
    );
    dir.write(
        "pkg/b.go",
        "package shop

//lint:file-ignore goconc/mutex-defer-lock generated-like legacy file

func Put(m map[string]int) {
	mu.Lock()
	defer mu.Lock()
}
",
    );
    let out = goconc(dir.path(), &["check", "--format", "json", "./..."]);
    assert_eq!(
        findings(&out),
        [(
            "pkg/a.go".to_string(),
            "mutex-empty-critical-section".to_string(),
            24
        )]
    );
}

#[test]
fn unused_suppressions_are_reported_when_asked_and_removed_by_fix() {
    let dir = TempDir::new("unused");
    module(&dir);
    let text = "package shop

import \"sync\"

var mu sync.Mutex

func Put(m map[string]int) {
	mu.Lock()
	defer mu.Unlock() //goconc:ignore mutex-defer-lock fixed long ago
	//nolint:goconc // nothing to hide below
	m[\"a\"] = 1
	//goconc:ignore mutex-defer-lok typo in the rule
	m[\"b\"] = 2
}
";
    dir.write("pkg/a.go", text);
    let out = goconc(dir.path(), &["check", "./..."]);
    assert_eq!(code(&out), 0, "not asked for: {}", stdout(&out));
    let out = goconc(
        dir.path(),
        &["check", "--report-unused-suppressions", "./..."],
    );
    assert_eq!(code(&out), 1);
    let text_out = stdout(&out);
    assert!(text_out.contains("pkg/a.go:9:20: warning[unused-suppression] unused suppression: no `mutex-defer-lock` finding here to suppress"), "{text_out}");
    assert!(text_out.contains("pkg/a.go:10:2: warning[unused-suppression] unused suppression: no goconc finding here to suppress"), "{text_out}");
    assert!(text_out.contains("pkg/a.go:12:2: warning[unused-suppression] unused suppression: `mutex-defer-lok` is no goconc rule (did you mean `mutex-defer-lock`?)"), "{text_out}");
    // A directive naming only rules that are off cannot tell.
    let out = goconc(
        dir.path(),
        &[
            "check",
            "--report-unused-suppressions",
            "--ignore",
            "mutex-defer-lock",
            "--format",
            "json",
            "./...",
        ],
    );
    assert_eq!(
        findings(&out).iter().map(|f| f.2).collect::<Vec<_>>(),
        [10, 12]
    );
    // goconc.toml asks too; --fix removes what silenced nothing.
    dir.write("goconc.toml", "report-unused-suppressions = true\n");
    let out = goconc(dir.path(), &["check", "--fix", "./..."]);
    assert!(
        stderr(&out).contains("fixed 3 findings in pkg/a.go"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        dir.read("pkg/a.go"),
        text.replace(" //goconc:ignore mutex-defer-lock fixed long ago", "")
            .replace("\t//nolint:goconc // nothing to hide below\n", "")
            .replace("\t//goconc:ignore mutex-defer-lok typo in the rule\n", "")
    );
}

#[test]
fn a_suppression_without_a_reason_is_a_hint() {
    let dir = TempDir::new("reason");
    module(&dir);
    dir.write(
        "pkg/a.go",
        "package shop

import \"sync\"

var mu sync.Mutex

func Touch() {
	mu.Lock() //nolint:goconc
	mu.Unlock()
}

func Touch2() {
	//goconc:ignore mutex-empty-critical-section
	mu.Lock()
	mu.Unlock()
}
",
    );
    let out = goconc(dir.path(), &["check", "./..."]);
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    assert!(text.contains("pkg/a.go:8:12: hint[suppression-without-reason] `//nolint:goconc` gives no reason: say why the finding is wrong or accepted (`//nolint:goconc // reason`)"), "{text}");
    assert!(text.contains("pkg/a.go:13:2: hint[suppression-without-reason] `//goconc:ignore mutex-empty-critical-section` gives no reason"), "{text}");
    assert!(text.contains("2 findings (2 hints) in 1 file"), "{text}");
    // It is a rule like the others: off by option or by goconc.toml.
    let out = goconc(
        dir.path(),
        &["check", "--ignore", "suppression-without-reason", "./..."],
    );
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    dir.write(
        "goconc.toml",
        "[rules]\nsuppression-without-reason = \"off\"\n",
    );
    let out = goconc(dir.path(), &["check", "./..."]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let out = goconc(dir.path(), &["explain", "suppression-without-reason"]);
    assert!(stdout(&out).contains("# suppression-without-reason"));
}

#[test]
fn rules_json_is_the_whole_catalog() {
    let dir = TempDir::new("rules-json");
    let out = goconc(dir.path(), &["rules", "--format", "json"]);
    assert_eq!(code(&out), 0);
    let rules = json(&stdout(&out));
    let rules = rules.as_array().unwrap();
    let text = stdout(&goconc(dir.path(), &["rules"]));
    assert!(text.contains(&format!("{} rules", rules.len())), "{text}");
    let defer_lock = rules
        .iter()
        .find(|r| r["id"] == "mutex-defer-lock")
        .unwrap();
    assert_eq!(defer_lock["family"], "mutex");
    assert_eq!(defer_lock["family_title"], "Mutexes");
    assert_eq!(defer_lock["severity"], "error");
    assert!(defer_lock["summary"]
        .as_str()
        .unwrap()
        .contains("defer mu.Lock()"));
    assert!(defer_lock["fix"].is_string());
    assert_eq!(
        defer_lock["url"],
        "https://github.com/goconc/goconc/blob/main/docs/rules/mutex-defer-lock.md"
    );
    let unfixable = rules
        .iter()
        .find(|r| r["id"] == "mutex-double-lock")
        .unwrap();
    assert!(unfixable["fix"].is_null());
    for rule in rules {
        let id = rule["id"].as_str().unwrap();
        assert!(text.contains(id), "{id} is in `goconc rules`");
        let page =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("docs/rules/{id}.md"));
        assert!(page.exists(), "{id} has a page");
    }
    assert!(rules
        .iter()
        .any(|r| r["id"] == "unused-suppression" && r["family"] == "suppression"));
}

#[test]
fn statistics_count_findings_per_rule() {
    let dir = TempDir::new("statistics");
    module(&dir);
    dir.write("pkg/put.go", DEFER_LOCK);
    dir.write(
        "pkg/put2.go",
        "package shop\n\nfunc Put2(m map[string]int) {\n\tmu.Lock()\n\tdefer mu.Lock()\n}\n",
    );
    dir.write("pkg/touch.go", EMPTY_SECTION);
    let out = goconc(dir.path(), &["check", "--statistics", "./..."]);
    assert_eq!(code(&out), 1);
    let lines: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[0].starts_with("2  mutex-defer-lock              [*] error    `defer mu.Lock()`"),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("1  mutex-empty-critical-section      warning  "),
        "{lines:?}"
    );
    assert_eq!(lines[2], "3 findings in 2 rules");
    let out = goconc(
        dir.path(),
        &["check", "--statistics", "--format", "json", "./..."],
    );
    let rows = json(&stdout(&out));
    assert_eq!(rows[0]["code"], "mutex-defer-lock");
    assert_eq!(rows[0]["count"], 2);
    assert_eq!(rows[0]["fixable"], true);
    assert_eq!(rows[1]["fixable"], false);
}

#[test]
fn config_option_and_unknown_keys() {
    let dir = TempDir::new("config");
    module(&dir);
    dir.write("pkg/put.go", DEFER_LOCK);
    dir.write("pkg/touch.go", EMPTY_SECTION);
    dir.write(
        "pkg/goconc.toml",
        "[rules]\nmutex-empty-critical-section = \"off\"\n",
    );
    dir.write(
        "ci/strict.toml",
        "exclude = [\"pkg/put.go\"]\n[rules]\nmutex-empty-critical-section = \"error\"\n",
    );
    let out = goconc(dir.path(), &["check", "--format", "json", "./..."]);
    assert_eq!(findings(&out).len(), 1, "the nearest goconc.toml");
    // --config wins over every goconc.toml; its globs are relative to its own folder.
    dir.write(
        "strict.toml",
        "exclude = [\"pkg/put.go\"]\n[rules]\nmutex-empty-critical-section = \"error\"\n",
    );
    let out = goconc(
        dir.path(),
        &[
            "check",
            "--format",
            "json",
            "--config",
            "strict.toml",
            "./...",
        ],
    );
    let v = json(&stdout(&out));
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v[0]["rule"], "mutex-empty-critical-section");
    assert_eq!(v[0]["severity"], "error");

    dir.write("typo.toml", "go-version = \"1.21\"\nexlcude = [\"x\"]\n");
    let out = goconc(dir.path(), &["check", "--config", "typo.toml", "."]);
    assert_eq!(code(&out), 2);
    assert_eq!(
        stderr(&out).trim(),
        "error: typo.toml:2: exlcude: unknown key; did you mean `exclude`?"
    );
    dir.write("pkg/goconc.toml", "[rules]\nmutex-defer-lok = \"off\"\n");
    let out = goconc(dir.path(), &["check", "."]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("pkg/goconc.toml:2: mutex-defer-lok: unknown rule `mutex-defer-lok`; did you mean `mutex-defer-lock`?"), "{}", stderr(&out));
    let out = goconc(dir.path(), &["check", "--config", "missing.toml", "."]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).starts_with("error: --config missing.toml: "),
        "{}",
        stderr(&out)
    );
}

/// Many files: a bar on a terminal (a pseudo-terminal made by `script`), nothing in a pipe.
#[test]
fn a_progress_bar_on_a_terminal_and_none_in_a_pipe() {
    let dir = TempDir::new("progress");
    module(&dir);
    for i in 0..250 {
        dir.write(
            &format!("p{}/f{i}.go", i % 25),
            &format!("package p\n\nfunc F{i}() {{}}\n"),
        );
    }
    let piped = goconc(dir.path(), &["check", "."]);
    assert_eq!(code(&piped), 0, "{}", stderr(&piped));
    assert_eq!(stderr(&piped), "");
    assert_eq!(stdout(&piped), "no findings in 250 files\n");
    // `script` runs goconc with stdout and stderr on a pseudo-terminal and records what it drew.
    let transcript = dir.path().join("typescript");
    let command = format!("{BIN} check .");
    let out = Command::new("script")
        .args(["-q", "-e", "-c", &command])
        .arg(&transcript)
        .current_dir(dir.path())
        .env("TERM", "xterm")
        .output()
        .expect("script (util-linux) runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let screen = String::from_utf8_lossy(&std::fs::read(&transcript).unwrap()).into_owned();
    assert!(
        screen.contains("checking") && screen.contains("/250 files"),
        "{screen:?}"
    );
    assert!(screen.contains("no findings in 250 files"), "{screen:?}");
}

/// `mutex-defer-lock`'s fix is safe; `sync-value-copied`'s (a pointer receiver changes the
/// method set) is not.
#[test]
fn fix_applies_safe_fixes_and_unsafe_fixes_the_rest() {
    let dir = TempDir::new("fix-safety");
    module(&dir);
    let copy = "package shop\n\nimport \"sync\"\n\ntype Store struct {\n\tmu sync.Mutex\n\tn  int\n}\n\nfunc (s Store) Count() int { return s.n }\n";
    dir.write("pkg/put.go", DEFER_LOCK);
    dir.write("pkg/store.go", copy);
    let out = goconc(dir.path(), &["check", "./..."]);
    let text = stdout(&out);
    assert!(
        text.contains("= help: fix available: Change to `defer mu.Unlock()`"),
        "{text}"
    );
    assert!(
        text.contains(
            "= help: unsafe fix available (--unsafe-fixes): Use a pointer receiver `*Store`"
        ),
        "{text}"
    );
    assert!(
        text.ends_with("; 1 fixable with --fix (1 more with --unsafe-fixes)\n"),
        "{text}"
    );
    let out = goconc(dir.path(), &["check", "--format", "json", "./..."]);
    let applicability: Vec<String> = json(&stdout(&out))
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["fixes"][0]["applicability"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(applicability, ["safe", "unsafe"]);

    let out = goconc(dir.path(), &["check", "--diff", "./..."]);
    assert!(stdout(&out).contains("+\tdefer mu.Unlock()") && !stdout(&out).contains("*Store"));
    let out = goconc(dir.path(), &["check", "--fix", "./..."]);
    assert_eq!(code(&out), 1, "the unsafe one remains");
    assert!(dir.read("pkg/put.go").contains("defer mu.Unlock()"));
    assert_eq!(dir.read("pkg/store.go"), copy);
    assert!(
        stdout(&out).ends_with("1 finding (1 error) in 2 files; 1 fixable with --unsafe-fixes\n"),
        "{}",
        stdout(&out)
    );
    let out = goconc(dir.path(), &["check", "--fix", "--unsafe-fixes", "./..."]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(dir
        .read("pkg/store.go")
        .contains("func (s *Store) Count() int"));
}

/// A copy of `examples/shop` in a git repository whose `origin/main` is the example as it is,
/// with one more commit on a branch that adds a finding.
fn shop_repository(name: &str) -> TempDir {
    let dir = TempDir::new(name);
    let shop = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop");
    for entry in std::fs::read_dir(&shop).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        dir.write(&name, &std::fs::read_to_string(entry.path()).unwrap());
    }
    git(dir.path(), &["init", "-q", "-b", "main"]);
    git(dir.path(), &["add", "."]);
    git(dir.path(), &["commit", "-q", "-m", "shop"]);
    git(
        dir.path(),
        &["update-ref", "refs/remotes/origin/main", "HEAD"],
    );
    git(dir.path(), &["checkout", "-q", "-b", "change"]);
    dir.write("added.go", "package shop\n\nimport \"sync\"\n\nvar addedMu sync.Mutex\n\nfunc Added() {\n\taddedMu.Lock()\n\tdefer addedMu.Lock()\n}\n");
    git(dir.path(), &["add", "."]);
    git(dir.path(), &["commit", "-q", "-m", "a new finding"]);
    dir
}

/// Runs a shell command line with the goconc under test first on PATH.
fn shell(dir: &std::path::Path, line: &str) -> std::process::Output {
    let bin_dir = std::path::Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("sh")
        .args(["-c", line])
        .current_dir(dir)
        .env("PATH", path)
        .output()
        .expect("sh runs")
}

/// The `goconc check` command lines of the YAML blocks of docs/ci.md, continuation lines
/// joined, with whether their output is piped on (to reviewdog) and the pipe cut off.
fn ci_md_commands() -> Vec<(String, bool)> {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ci.md"),
    )
    .unwrap();
    let mut commands = Vec::new();
    let mut in_yaml = false;
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        if line.starts_with("```") {
            in_yaml = line == "```yaml";
            continue;
        }
        let Some(at) = line.find("goconc check").filter(|_| in_yaml) else {
            continue;
        };
        let mut command = line[at..].to_string();
        while command.ends_with('\\') {
            command.pop();
            command.push(' ');
            command.push_str(lines.next().unwrap().trim());
        }
        match command.split_once(" | ") {
            Some((goconc, _)) => commands.push((goconc.trim().to_string(), true)),
            None => commands.push((command.trim().to_string(), false)),
        }
    }
    commands
}

#[test]
fn workflows_in_docs_ci_md_run_as_written() {
    let commands = ci_md_commands();
    assert_eq!(
        commands.len(),
        3,
        "the GitHub, reviewdog and GitLab jobs: {commands:?}"
    );
    let schema_text = include_str!("schemas/sarif-2.1.0-rtm.5.json");
    for (command, piped) in &commands {
        let dir = shop_repository("ci-md");
        let out = shell(dir.path(), command);
        let stdout = stdout(&out);
        if command.contains("--fail-on never") {
            assert_eq!(code(&out), 0, "{command}: {}", stderr(&out));
        } else {
            assert_eq!(
                code(&out),
                1,
                "{command}: findings fail the job: {}",
                stderr(&out)
            );
        }
        if command.contains("--format github") {
            assert!(stdout.lines().count() >= 10, "{command}: {stdout}");
            assert!(
                stdout
                    .lines()
                    .all(|l| l.starts_with("::error file=") || l.starts_with("::warning file=")),
                "{command}: {stdout}"
            );
        }
        if command.contains("sarif:goconc.sarif") {
            let mut schema = json(schema_text);
            drop_pattern(&mut schema, LANGUAGE_PATTERN);
            let validator = jsonschema::validator_for(&schema).unwrap();
            let sarif = json(&dir.read("goconc.sarif"));
            assert!(
                validator.is_valid(&sarif),
                "{command}: goconc.sarif is not valid SARIF"
            );
            assert_eq!(
                sarif["runs"][0]["results"].as_array().unwrap().len(),
                11,
                "{command}"
            );
        }
        if command.contains("--format rdjson") {
            assert!(piped, "{command}: piped to reviewdog");
            let result = json(&stdout);
            let diagnostics = result["diagnostics"].as_array().unwrap();
            // Only the finding of the change, not the example's own.
            assert_eq!(diagnostics.len(), 1, "{command}: {stdout}");
            assert_eq!(diagnostics[0]["location"]["path"], "added.go");
            assert_eq!(diagnostics[0]["suggestions"][0]["text"], "Unlock");
        }
        if command.contains("gitlab:gl-code-quality-report.json") {
            assert!(stdout.contains("11 findings"), "{command}: {stdout}");
            let issues = json(&dir.read("gl-code-quality-report.json"));
            assert_eq!(issues.as_array().unwrap().len(), 11, "{command}");
            assert!(issues
                .as_array()
                .unwrap()
                .iter()
                .all(|i| i["fingerprint"].is_string()));
        }
    }
}

/// Each hook of .pre-commit-hooks.yaml, run as pre-commit runs it: its entry followed by the
/// names of the Go files.
#[test]
fn pre_commit_hooks_run_as_declared() {
    let hooks = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".pre-commit-hooks.yaml"),
    )
    .unwrap();
    let mut ids = Vec::new();
    let mut entries = Vec::new();
    for line in hooks.lines() {
        if let Some(id) = line.strip_prefix("- id: ") {
            ids.push(id.trim().to_string());
        }
        if let Some(entry) = line.trim().strip_prefix("entry: ") {
            entries.push(entry.trim().to_string());
        }
        if let Some(types) = line.trim().strip_prefix("types: ") {
            assert_eq!(types, "[go]");
        }
    }
    assert_eq!(ids, ["goconc", "goconc-fix", "goconc-system"]);
    assert_eq!(entries.len(), ids.len());
    for (id, entry) in ids.iter().zip(&entries) {
        let dir = shop_repository("pre-commit");
        let out = shell(dir.path(), &format!("{entry} cache.go workers.go added.go"));
        assert_eq!(code(&out), 1, "{id}: {}{}", stdout(&out), stderr(&out));
        let text = stdout(&out);
        assert!(text.contains("workers.go:"), "{id}: {text}");
        if id == "goconc-fix" {
            assert!(
                stderr(&out).contains("fixed 1 finding in added.go"),
                "{id}: {}",
                stderr(&out)
            );
            assert!(dir.read("added.go").contains("defer addedMu.Unlock()"));
        } else {
            assert!(
                text.contains("added.go:9:8: error[mutex-defer-lock]"),
                "{id}: {text}"
            );
        }
    }
}
