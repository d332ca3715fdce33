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
        let skipping = crate::analyze_skipping(source, package, &options, true);
        let reading = crate::analyze_skipping(source, package, &options, false);
        assert_eq!(
            skipping.findings,
            reading.findings,
            "{}/{name}",
            dir.display()
        );
        assert_eq!(
            skipping.failed_rules,
            reading.failed_rules,
            "{}/{name}",
            dir.display()
        );
        compared += reading.findings.len();
    }
    compared
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
