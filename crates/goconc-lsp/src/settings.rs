//! The client's settings (`initializationOptions`, `workspace/didChangeConfiguration`,
//! `workspace/configuration` section `goconc`):
//!
//! ```json
//! { "rules": { "mutex-defer-lock": "off" }, "goVersion": "1.21", "runOutsideModule": true,
//!   "rulesBaseUrl": "https://…/docs/rules/", "logLevel": "info",
//!   "workspaceDiagnostics": { "enabled": true, "maxFiles": 10000, "threads": 0 },
//!   "pullDiagnostics": true }
//! ```
//!
//! They are layered over the `goconc.toml` found upward from each file: a rule severity or Go
//! version set here wins over the file's. A severity other than `off` for `unused-suppression`
//! also turns on its report (what `report-unused-suppressions = true` does in goconc.toml): an
//! editor user who names the rule wants to see it.

use goconc_analysis::suppress::UNUSED_SUPPRESSION;
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
    pub workspace_diagnostics: WorkspaceDiagnostics,
    /// Pull diagnostics for clients that can (false: push to every client). Read once, from
    /// `initializationOptions`: the capabilities it decides are announced in `initialize`.
    pub pull_diagnostics: bool,
}

/// `workspaceDiagnostics`: the background check of the workspace folders' files that are not
/// open. `true`/`false` stand for `{ "enabled": … }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkspaceDiagnostics {
    pub enabled: bool,
    /// At most this many files are checked (whole folders, in path order); 0: none.
    pub max_files: usize,
    /// Background threads; 0 picks a quarter of the cores (at least one).
    pub threads: usize,
}

impl Default for WorkspaceDiagnostics {
    fn default() -> Self {
        WorkspaceDiagnostics {
            enabled: true,
            max_files: 10_000,
            threads: 0,
        }
    }
}

impl WorkspaceDiagnostics {
    /// The number of background threads to run.
    pub fn thread_count(&self) -> usize {
        if self.threads > 0 {
            return self.threads;
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        (cores / 4).max(1)
    }

    fn from_json(value: &Value, problems: &mut Vec<String>) -> WorkspaceDiagnostics {
        let mut out = WorkspaceDiagnostics::default();
        let object = match value {
            Value::Bool(enabled) => {
                out.enabled = *enabled;
                return out;
            }
            Value::Null => return out,
            Value::Object(object) => object,
            other => {
                problems.push(format!(
                    "goconc: setting workspaceDiagnostics: expected true, false or an object such as {{\"enabled\": true, \"maxFiles\": 10000}}, got {other}"
                ));
                return out;
            }
        };
        match object.get("enabled") {
            Some(Value::Bool(b)) => out.enabled = *b,
            Some(Value::Null) | None => {}
            Some(other) => problems.push(format!(
                "goconc: setting workspaceDiagnostics.enabled: expected true or false, got {other}"
            )),
        }
        for (key, slot) in [
            ("maxFiles", &mut out.max_files),
            ("threads", &mut out.threads),
        ] {
            match object.get(key) {
                Some(Value::Number(n)) if n.as_u64().is_some() => {
                    *slot = n.as_u64().map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX));
                }
                Some(Value::Null) | None => {}
                Some(other) => problems.push(format!(
                    "goconc: setting workspaceDiagnostics.{key}: expected a whole number of 0 or more, got {other}"
                )),
            }
        }
        out
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            config: Config::default(),
            rules_base_url: DEFAULT_RULES_BASE_URL.to_string(),
            log_level: None,
            run_outside_module: true,
            workspace_diagnostics: WorkspaceDiagnostics::default(),
            pull_diagnostics: true,
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
        if let Some(b) = object.get("pullDiagnostics").and_then(Value::as_bool) {
            settings.pull_diagnostics = b;
        }
        if let Some(value) = object.get("workspaceDiagnostics") {
            settings.workspace_diagnostics = WorkspaceDiagnostics::from_json(value, &mut problems);
        }
        if let Some(Some(_)) = settings.config.severities.get(UNUSED_SUPPRESSION) {
            settings.config.report_unused_suppressions = true;
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
        assert_eq!(s.workspace_diagnostics, WorkspaceDiagnostics::default());
    }

    #[test]
    fn workspace_diagnostics_take_a_switch_or_an_object() {
        let (s, problems) = Settings::from_json(&json!({"workspaceDiagnostics": false}));
        assert!(!s.workspace_diagnostics.enabled && problems.is_empty());
        let (s, problems) =
            Settings::from_json(&json!({"workspaceDiagnostics": {"maxFiles": 12, "threads": 3}}));
        assert_eq!(
            s.workspace_diagnostics,
            WorkspaceDiagnostics {
                enabled: true,
                max_files: 12,
                threads: 3
            }
        );
        assert!(problems.is_empty());
        let (s, problems) =
            Settings::from_json(&json!({"workspaceDiagnostics": {"maxFiles": -1, "enabled": 1}}));
        assert_eq!(s.workspace_diagnostics, WorkspaceDiagnostics::default());
        assert_eq!(problems.len(), 2, "{problems:?}");
    }

    #[test]
    fn the_suppression_rules_are_rules_too() {
        let (s, problems) = Settings::from_json(&json!({"rules": {
            "unused-suppression": "warning", "suppression-without-reason": "off"
        }}));
        assert!(problems.is_empty(), "{problems:?}");
        assert!(s.config.report_unused_suppressions);
        assert_eq!(
            s.config.severities.get("suppression-without-reason"),
            Some(&None)
        );
        let (s, _) = Settings::from_json(&json!({"rules": {"unused-suppression": "off"}}));
        assert!(!s.config.report_unused_suppressions);
    }
}
