//! Any bytes, analysed as a Go file alone and as one of a package of two: no panic, no rule
//! failure, no abort. The header read alone (what the command line's module index reads) names
//! the package and imports the whole file does, wherever the whole file parses cleanly.
#![no_main]

use goconc_analysis::{
    analyze_alone, analyze_package, header_decls, FileDecls, FileOptions, PackageFile, SourceFile,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Go source is UTF-8: the front ends refuse anything else before the engine sees it.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = SourceFile::new(text.to_string());
    header_names_what_the_whole_file_does(&file);
    let outcome = analyze_alone(&file, &FileOptions::default());
    assert!(outcome.failed_rules.is_empty(), "{:?}", outcome.failed_rules);
    for f in &outcome.findings {
        assert!(f.range.start <= f.range.end && f.range.end <= text.len());
        assert!(text.is_char_boundary(f.range.start) && text.is_char_boundary(f.range.end));
    }
    let files = [
        PackageFile {
            name: "a.go".into(),
            source: file,
        },
        PackageFile {
            name: "b_test.go".into(),
            source: SourceFile::new(text.to_string()),
        },
    ];
    for outcome in analyze_package(&files, None, &Default::default()) {
        assert!(outcome.failed_rules.is_empty(), "{:?}", outcome.failed_rules);
    }
});

/// Where the whole file parses without an error and its imports all come before its other
/// declarations (the compiler's rule; the grammar accepts them anywhere), the header alone names
/// the same package and imports.
fn header_names_what_the_whole_file_does(file: &SourceFile) {
    let header = header_decls(file.text());
    let root = file.tree().root_node();
    if root.has_error() {
        return;
    }
    let mut seen_declaration = false;
    let mut cursor = root.walk();
    for child in root.named_children(&mut cursor) {
        match child.kind() {
            "package_clause" | "comment" => {}
            "import_declaration" if seen_declaration => return,
            "import_declaration" => {}
            _ => seen_declaration = true,
        }
    }
    let whole = FileDecls::collect_header(root, file.text());
    assert_eq!(header.package_name, whole.package_name);
    assert_eq!(header.imports, whole.imports);
}
