//! Skipping quiet functions (`goconc_model::quiet`) must change no finding: the engine's analysis
//! with and without reading them, compared over the fixtures and standard library packages.

use goconc_model::FileDecls;
use goconc_syntax::SourceFile;

/// Analyses every package folder under `dir` with and without reading quiet functions;
/// returns how many findings were compared.
fn compare_folders(dir: &std::path::Path) -> usize {
    let mut compared = 0;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if path.is_dir() && !name.starts_with('.') && name != "testdata" {
            compared += compare_folders(&path);
        } else if name.ends_with(".go") {
            if let Ok(text) = std::fs::read_to_string(&path) {
                files.push((name, text));
            }
        }
    }
    compared + compare_package(&files, &dir.display().to_string())
}

/// Analyses one package's files with and without reading quiet functions; returns how many
/// findings were compared.
fn compare_package(files: &[(String, String)], dir: &str) -> usize {
    let mut compared = 0;
    let sources: Vec<SourceFile> = files
        .iter()
        .map(|(_, t)| SourceFile::new(t.as_str()))
        .collect();
    let decls: Vec<FileDecls> = sources
        .iter()
        .map(|s| FileDecls::collect(s.tree().root_node(), s.text()))
        .collect();
    let names: Vec<&str> = files.iter().map(|(name, _)| name.as_str()).collect();
    let models = crate::package_models(&names, &decls);
    for (i, ((name, _), source)) in files.iter().zip(sources.iter()).enumerate() {
        let options = crate::FileOptions {
            is_test_file: name.ends_with("_test.go"),
            ..Default::default()
        };
        let package = models.of(i);
        let skipping =
            crate::analyze_skipping(source.tree(), source.text(), package, &options, true);
        let reading =
            crate::analyze_skipping(source.tree(), source.text(), package, &options, false);
        assert_eq!(skipping.findings, reading.findings, "{dir}/{name}");
        assert_eq!(skipping.failed_rules, reading.failed_rules, "{dir}/{name}");
        compared += reading.findings.len();
    }
    compared
}

/// A package with more lock-holding types than the trigger automaton takes: its own names are
/// looked up word by word instead, and a function whose only trigger is one of them still
/// reports.
#[test]
fn skipping_quiet_functions_changes_no_finding_with_thousands_of_own_names() {
    let mut text = String::from("package p\n\nimport \"sync\"\n\n");
    for i in 0..5000 {
        text.push_str(&format!(
            "type S{i} struct {{\n\tmu sync.Mutex\n\tn  int\n}}\n\n"
        ));
    }
    // No shared trigger word in either: only the type's name, copied by value (reported), and
    // the name in a comment only (nothing to report).
    text.push_str("func (s S4321) Count() int {\n\treturn s.n\n}\n\n");
    text.push_str("// S17 is not used here.\nfunc Other() int {\n\treturn 1\n}\n");
    let files = vec![("p.go".to_string(), text)];
    let compared = compare_package(&files, "generated");
    assert!(compared >= 1, "the copied S4321 receiver was not reported");
}

#[test]
fn skipping_quiet_functions_changes_no_finding_of_the_fixtures() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
    let compared = compare_folders(&fixtures);
    assert!(compared > 150, "only {compared} findings compared");
}

#[test]
fn skipping_quiet_functions_changes_no_finding_of_the_standard_library() {
    let Ok(output) = std::process::Command::new("go")
        .args(["env", "GOROOT"])
        .output()
    else {
        eprintln!("go not found: standard library packages skipped");
        return;
    };
    let src = std::path::PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()).join("src");
    let mut compared = 0;
    for package in [
        "sync",
        "context",
        "net/http",
        "database/sql",
        "os/exec",
        "testing",
        "time",
    ] {
        compared += compare_folders(&src.join(package));
    }
    assert!(compared > 20, "only {compared} findings compared");
}
