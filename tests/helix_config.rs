//! The Helix configuration shipped in `editors/helix/languages.toml`. Helix itself can't be
//! installed here, so this checks the file against Helix's own schema (the names its
//! `languages.toml` parser accepts) and then starts the real server exactly the way that file
//! tells Helix to, delivering `config` the way Helix does.

#[path = "common/lsp_client.rs"]
mod lsp_client;

use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::channel;
use std::time::Duration;

use lsp_client::{capabilities, file_uri, frame, read_message, LspClient};
use serde_json::{json, Value};

/// Helix's `LanguageServerFeature` names: what `only-features` / `except-features` accept
/// (helix-core `syntax/config.rs`, serde kebab-case). Pull diagnostics count as `diagnostics`.
const HELIX_FEATURES: &[&str] = &[
    "format",
    "goto-declaration",
    "goto-definition",
    "goto-type-definition",
    "goto-reference",
    "goto-implementation",
    "signature-help",
    "hover",
    "document-highlight",
    "completion",
    "code-action",
    "workspace-command",
    "document-symbols",
    "workspace-symbols",
    "diagnostics",
    "rename-symbol",
    "inlay-hints",
    "document-colors",
];

/// Keys of a `[language-server.NAME]` table in Helix.
const HELIX_SERVER_KEYS: &[&str] = &[
    "command",
    "args",
    "environment",
    "config",
    "timeout",
    "required-root-patterns",
];

/// Keys of one `language-servers` entry written as a table.
const HELIX_ENTRY_KEYS: &[&str] = &["name", "only-features", "except-features"];

/// The settings goconc reads (crates/goconc-lsp/src/settings.rs).
const SETTINGS_KEYS: &[&str] = &[
    "rules",
    "goVersion",
    "runOutsideModule",
    "rulesBaseUrl",
    "logLevel",
    "workspaceDiagnostics",
    "pullDiagnostics",
];

const SEVERITIES: &[&str] = &["off", "hint", "info", "warning", "error"];
const LOG_LEVELS: &[&str] = &["error", "warn", "info", "debug", "trace"];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn languages_toml() -> toml::Table {
    let path = repo().join("editors/helix/languages.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    toml::from_str(&text).unwrap_or_else(|e| panic!("{} is not valid TOML: {e}", path.display()))
}

/// The one `[[language]]` entry with `name = "go"`.
fn go_language(file: &toml::Table) -> toml::Table {
    let languages = file
        .get("language")
        .and_then(toml::Value::as_array)
        .expect("a [[language]] array");
    let go: Vec<&toml::Value> = languages
        .iter()
        .filter(|l| l.get("name").and_then(toml::Value::as_str) == Some("go"))
        .collect();
    assert_eq!(go.len(), 1, "exactly one [[language]] with name = \"go\"");
    go[0].as_table().expect("[[language]] is a table").clone()
}

/// The name of a `language-servers` entry: a string, or a table with `name`.
fn entry_name(entry: &toml::Value) -> String {
    match entry {
        toml::Value::String(name) => name.clone(),
        toml::Value::Table(t) => t
            .get("name")
            .and_then(toml::Value::as_str)
            .unwrap_or_else(|| panic!("language-servers entry without a name: {entry}"))
            .to_string(),
        other => panic!("a language-servers entry is a string or a table, not {other}"),
    }
}

fn language_servers(go: &toml::Table) -> Vec<toml::Value> {
    go.get("language-servers")
        .and_then(toml::Value::as_array)
        .expect("go's language-servers list")
        .clone()
}

fn goconc_server(file: &toml::Table) -> toml::Table {
    file.get("language-server")
        .and_then(|s| s.get("goconc"))
        .and_then(toml::Value::as_table)
        .expect("a [language-server.goconc] table")
        .clone()
}

/// `config` as the JSON Helix sends (an empty object when absent).
fn config_json(server: &toml::Table) -> Value {
    let config = server
        .get("config")
        .cloned()
        .unwrap_or_else(|| toml::Value::Table(toml::Table::new()));
    serde_json::to_value(&config).expect("config converts to JSON")
}

fn string_list(value: &toml::Value, what: &str) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("{what} is a list"))
        .iter()
        .map(|v| {
            v.as_str()
                .unwrap_or_else(|| panic!("{what} holds strings, not {v}"))
                .to_string()
        })
        .collect()
}

#[test]
fn go_keeps_the_builtin_servers_before_goconc() {
    let file = languages_toml();
    let go = go_language(&file);
    // Helix rejects unknown keys in [[language]]; this entry sets only what it must.
    let mut keys: Vec<&str> = go.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["language-servers", "name"], "keys of the go entry");

    let names: Vec<String> = language_servers(&go).iter().map(entry_name).collect();
    let at = |name: &str| {
        let found: Vec<usize> = (0..names.len()).filter(|&i| names[i] == name).collect();
        assert_eq!(
            found.len(),
            1,
            "{name} once in go's language-servers: {names:?}"
        );
        found[0]
    };
    let goconc = at("goconc");
    // The user's list replaces Helix's built-in one: the built-ins must be repeated, first.
    assert!(at("gopls") < goconc, "gopls before goconc: {names:?}");
    assert!(
        at("golangci-lint-lsp") < goconc,
        "golangci-lint-lsp before goconc: {names:?}"
    );
}

#[test]
fn goconc_features_are_helix_feature_names() {
    let file = languages_toml();
    let go = go_language(&file);
    let servers = language_servers(&go);
    let entry = servers
        .iter()
        .find(|e| entry_name(e) == "goconc")
        .and_then(toml::Value::as_table)
        .expect("goconc's entry is a table (name + only-features)");
    for key in entry.keys() {
        assert!(
            HELIX_ENTRY_KEYS.contains(&key.as_str()),
            "unknown key `{key}` in goconc's language-servers entry"
        );
    }
    let only = string_list(
        entry.get("only-features").expect("only-features"),
        "only-features",
    );
    let except = entry
        .get("except-features")
        .map(|v| string_list(v, "except-features"))
        .unwrap_or_default();
    for feature in only.iter().chain(&except) {
        assert!(
            HELIX_FEATURES.contains(&feature.as_str()),
            "`{feature}` is not a Helix language server feature ({HELIX_FEATURES:?})"
        );
    }
    let mut only_sorted = only;
    only_sorted.sort();
    assert_eq!(
        only_sorted,
        ["code-action", "diagnostics", "hover"],
        "goconc offers diagnostics, code actions and hovers, nothing else"
    );
}

#[test]
fn language_server_goconc_runs_goconc_lsp_with_known_settings() {
    let server = goconc_server(&languages_toml());
    for key in server.keys() {
        assert!(
            HELIX_SERVER_KEYS.contains(&key.as_str()),
            "unknown key `{key}` in [language-server.goconc]"
        );
    }
    assert_eq!(
        server.get("command").and_then(toml::Value::as_str),
        Some("goconc")
    );
    let args = string_list(server.get("args").expect("args"), "args");
    assert_eq!(args, ["lsp", "--stdio"]);

    let config = config_json(&server);
    let config = config.as_object().expect("config is a table");
    for (key, value) in config {
        assert!(
            SETTINGS_KEYS.contains(&key.as_str()),
            "config key `{key}` is not a goconc setting ({SETTINGS_KEYS:?})"
        );
        match key.as_str() {
            "runOutsideModule" | "pullDiagnostics" => {
                assert!(value.is_boolean(), "{key} = {value}")
            }
            "workspaceDiagnostics" => {
                assert!(value.is_boolean() || value.is_object(), "{key} = {value}")
            }
            "goVersion" | "rulesBaseUrl" => assert!(value.is_string(), "{key} = {value}"),
            "logLevel" => assert!(
                LOG_LEVELS.contains(&value.as_str().unwrap_or("")),
                "{key} = {value}"
            ),
            "rules" => {
                for (rule, severity) in value.as_object().expect("rules is a table") {
                    assert!(
                        repo().join(format!("docs/rules/{rule}.md")).is_file(),
                        "rules: `{rule}` is not a rule id"
                    );
                    assert!(
                        SEVERITIES.contains(&severity.as_str().unwrap_or("")),
                        "rules.{rule} = {severity}"
                    );
                }
            }
            _ => unreachable!(),
        }
    }
}

/// Helix's client capabilities, as far as goconc looks at them.
fn helix_capabilities() -> Value {
    let mut caps = capabilities(&["utf-8", "utf-32", "utf-16"]);
    caps["workspace"]["workspaceEdit"] = json!({"documentChanges": true});
    caps
}

/// `command` + `args` of [language-server.goconc], with `config` as `initializationOptions`:
/// the server starts and announces what Helix needs for diagnostics and code actions.
#[test]
fn the_configured_command_starts_the_server() {
    let server = goconc_server(&languages_toml());
    let command = server.get("command").and_then(toml::Value::as_str).unwrap();
    assert_eq!(command, "goconc", "the binary under test stands in for it");
    let args = string_list(server.get("args").expect("args"), "args");
    let mut child = Command::new(env!("CARGO_BIN_EXE_goconc"))
        .args(&args)
        .env("GOCONC_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start goconc with the configured args");
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        while let Some(msg) = read_message(&mut reader) {
            if tx.send(msg).is_err() {
                break;
            }
        }
    });
    let mut send = |msg: Value| {
        stdin.write_all(&frame(&msg.to_string())).unwrap();
        stdin.flush().unwrap();
    };
    let wait_response = |id: i64| loop {
        let msg = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("an answer from goconc within 30 s");
        if msg.get("id").and_then(Value::as_i64) == Some(id) && msg.get("method").is_none() {
            assert!(msg.get("error").is_none(), "error response: {msg}");
            return msg["result"].clone();
        }
    };

    send(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "processId": std::process::id(),
            "clientInfo": {"name": "helix"},
            "rootUri": null,
            "capabilities": helix_capabilities(),
            "initializationOptions": config_json(&server),
        }}),
    );
    let result = wait_response(1);
    let caps = &result["capabilities"];
    assert_eq!(result["serverInfo"]["name"], "goconc", "{result}");
    assert!(caps["textDocumentSync"].is_object(), "{caps}");
    assert_eq!(caps["textDocumentSync"]["openClose"], true, "{caps}");
    assert_eq!(caps["textDocumentSync"]["change"], 2, "incremental: {caps}");
    let kinds = caps["codeActionProvider"]["codeActionKinds"]
        .as_array()
        .unwrap_or_else(|| panic!("codeActionProvider with codeActionKinds: {caps}"));
    assert!(kinds.contains(&json!("quickfix")), "{caps}");
    assert!(kinds.contains(&json!("source.fixAll.goconc")), "{caps}");
    assert_eq!(caps["hoverProvider"], true, "{caps}");
    assert_eq!(
        caps["positionEncoding"], "utf-8",
        "Helix offers utf-8 first"
    );

    send(json!({"jsonrpc": "2.0", "id": 2, "method": "shutdown", "params": null}));
    wait_response(2);
    send(json!({"jsonrpc": "2.0", "method": "exit", "params": null}));
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success(), "goconc exited with {status}");
}

/// A scratch module with the mutex-defer-lock fixture, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let dir = std::env::temp_dir().join(format!("goconc-helix-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("go.mod"), "module example.com/demo\n\ngo 1.22\n").unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What Helix answers to `workspace/configuration` for `section`: that path inside `config`
/// (null when missing).
fn helix_section(config: &Value, section: &str) -> Value {
    section
        .split('.')
        .filter(|s| !s.is_empty())
        .try_fold(config, |v, part| v.get(part))
        .cloned()
        .unwrap_or(Value::Null)
}

/// A user's rule severity written into the shipped `config` reaches the server the way Helix
/// delivers it: `initializationOptions`, `workspace/configuration` answered from `config`, and
/// `workspace/didChangeConfiguration` with `config` right after start-up.
#[test]
fn settings_in_config_reach_the_server_the_way_helix_sends_them() {
    let server = goconc_server(&languages_toml());
    let mut config = config_json(&server);
    config["rules"]["mutex-defer-lock"] = json!("warning");

    let mut client = LspClient::start(helix_capabilities(), config.clone());
    *client.configuration.lock().unwrap() = helix_section(&config, "goconc");
    client.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": config}),
    );

    let scratch = Scratch::new();
    let path = scratch.0.join("positive.go");
    let text = std::fs::read_to_string(repo().join("tests/fixtures/mutex-defer-lock/positive.go"))
        .unwrap();
    std::fs::write(&path, &text).unwrap();
    let uri = file_uri(&path);
    client.open(&uri, 1, &text);
    let params = client.diagnostics(&uri, Some(1));
    let diagnostics = params["diagnostics"].as_array().unwrap();
    let lines: Vec<u64> = diagnostics
        .iter()
        .map(|d| d["range"]["start"]["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [12, 24, 32, 40, 51], "{params}");
    for d in diagnostics {
        assert_eq!(d["code"], "mutex-defer-lock", "{d}");
        assert_eq!(d["source"], "goconc", "{d}");
        assert_eq!(d["severity"], 2, "the rule set to warning in config: {d}");
    }
    assert!(client.shutdown().success());
}
