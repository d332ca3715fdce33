//! Any `goconc.toml` text: a configuration or an error with a message, never a panic; a parsed
//! configuration answers for any path.
#![no_main]

use goconc_analysis::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse_toml(text) {
        Ok(config) => {
            for path in ["a.go", "x/y/z_test.go", "vendor/a/b.go", "", "é/ü.go"] {
                let _ = config.excludes(path);
            }
            for rule in goconc_analysis::rules::all() {
                let _ = config.severity(rule);
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
