//! The client's settings (`initializationOptions`, `workspace/didChangeConfiguration`,
//! `workspace/configuration` section `goconc`):
//!
//! ```json
//! { "rules": { "mutex-defer-lock": "off" }, "goVersion": "1.21", "runOutsideModule": true,
//!   "rulesBaseUrl": "https://…/docs/rules/", "logLevel": "info" }
//! ```
//!
//! They are layered over the `goconc.toml` found upward from each file: a rule severity or Go
//! version set here wins over the file's.

use goconc_analysis::{Config, GoVersion};
use serde_json::Value;

pub const DEFAULT_RULES_BASE_URL: &str = "https://github.com/goconc/goconc/blob/main/docs/rules/";

#[derive(Debug, Clone)]
pub struct Settings {
    /// Severities and Go version set by the client (layered over goconc.toml).
    pub config: Config,
    pub rules_base_url: String,
    pub log_level: Option<String>,
    /// Whether files with no `go.mod` above them are checked.
    pub run_outside_module: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            config: Config::default(),
            rules_base_url: DEFAULT_RULES_BASE_URL.to_string(),
            log_level: None,
            run_outside_module: true,
        }
    }
}

/// The `goconc` object of a settings value (`{"goconc": {…}}`, what VS Code sends, is unwrapped).
fn section(value: &Value) -> &Value {
    match value.get("goconc") {
        Some(inner) if inner.is_object() => inner,
        _ => value,
    }
}

impl Settings {
    /// Reads settings from a JSON value; a `{"goconc": {…}}` wrapper (what VS Code sends in
    /// `didChangeConfiguration`) is unwrapped. Unknown keys are ignored; bad values are skipped
    /// and described in the returned problems (for `window/logMessage`).
    pub fn from_json(value: &Value) -> (Settings, Vec<String>) {
        let mut settings = Settings::default();
        let mut problems = Vec::new();
        let value = section(value);
        let Some(object) = value.as_object() else {
            return (settings, problems);
        };
        if let Some(rules) = object.get("rules") {
            match rules.as_object() {
                Some(rules) => {
                    for (rule, level) in rules {
                        let Some(word) = level.as_str() else {
                            problems.push(format!("goconc: setting rules.{rule}: expected a string (off, hint, info, warning, error)"));
                            continue;
                        };
                        if let Err(message) = settings.config.set_severity(rule, word) {
                            problems.push(format!("goconc: setting rules.{rule}: {message}"));
                        }
                    }
                }
                None if rules.is_null() => {}
                None => problems.push(
                    "goconc: setting `rules` must be an object of rule id to severity".to_string(),
                ),
            }
        }
        match object.get("goVersion") {
            Some(Value::String(s)) if s.trim().is_empty() => {}
            Some(Value::String(s)) => match GoVersion::parse(s) {
                Some(v) => settings.config.go_version = Some(v),
                None => problems.push(format!(
                    "goconc: setting goVersion: `{s}` is not a Go version such as \"1.22\""
                )),
            },
            Some(Value::Null) | None => {}
            Some(other) => problems.push(format!(
                "goconc: setting goVersion: expected a string, got {other}"
            )),
        }
        if let Some(url) = object.get("rulesBaseUrl").and_then(Value::as_str) {
            if !url.trim().is_empty() {
                settings.rules_base_url = url.trim().to_string();
            }
        }
        if let Some(level) = object.get("logLevel").and_then(Value::as_str) {
            settings.log_level = Some(level.to_string());
        }
        if let Some(b) = object.get("runOutsideModule").and_then(Value::as_bool) {
            settings.run_outside_module = b;
        }
        (settings, problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_and_unwraps() {
        let (s, problems) = Settings::from_json(&json!({"goconc": {
            "rules": {"mutex-defer-lock": "off", "mutex-unlock-missing": "hint", "nope": "error"},
            "goVersion": "1.21", "rulesBaseUrl": "https://x/", "runOutsideModule": false
        }}));
        assert_eq!(s.config.severities.get("mutex-defer-lock"), Some(&None));
        assert_eq!(
            s.config.severities.get("mutex-unlock-missing"),
            Some(&Some(goconc_analysis::Severity::Hint))
        );
        assert_eq!(s.config.go_version, Some(GoVersion::new(21)));
        assert_eq!(s.rules_base_url, "https://x/");
        assert!(!s.run_outside_module);
        assert_eq!(problems.len(), 1, "{problems:?}");
        let (s, problems) = Settings::from_json(&Value::Null);
        assert!(problems.is_empty() && s.config.severities.is_empty());
    }
}
