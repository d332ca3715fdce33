//! Any bytes, analysed as a Go file alone and as one of a package of two: no panic, no rule
//! failure, no abort.
#![no_main]

use goconc_analysis::{analyze_alone, analyze_package, FileOptions, PackageFile, SourceFile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Go source is UTF-8: the front ends refuse anything else before the engine sees it.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = SourceFile::new(text.to_string());
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
