//! End-to-end tests of `goconc lsp`: the real binary over stdio with real framing.

#[path = "common/lsp_client.rs"]
mod lsp_client;
#[path = "common/wants.rs"]
mod wants;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lsp_client::{capabilities, file_uri, Enc, LspClient, Text};
use serde_json::{json, Value};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn utf16_client() -> LspClient {
    LspClient::start(capabilities(&[]), Value::Null)
}

fn utf8_client() -> LspClient {
    LspClient::start(capabilities(&["utf-16", "utf-8"]), Value::Null)
}

/// A scratch folder with its own go.mod, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("goconc-lsp-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("go.mod"), "module scratch\n\ngo 1.25\n").unwrap();
        Scratch(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `(line, rule)` of every `// want rule "message"` expectation (0-based lines, as LSP counts).
fn wants(text: &str) -> Vec<(u64, String)> {
    let mut out: Vec<(u64, String)> = wants::parse(text)
        .expect("well-formed want comments")
        .into_iter()
        .map(|w| (w.line as u64 - 1, w.rule))
        .collect();
    out.sort();
    out
}

fn diag_lines(diags: &Value) -> Vec<(u64, String)> {
    let mut out: Vec<(u64, String)> = diags
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["range"]["start"]["line"].as_u64().unwrap(),
                d["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

fn slice_of(text: &str, range: &Value, enc: Enc) -> String {
    let (s, e) = (
        Text::offset(text, &range["start"], enc),
        Text::offset(text, &range["end"], enc),
    );
    text[s..e].to_string()
}

const MUTEX_SNIPPET: &str = "package p\n\nimport \"sync\"\n\nvar mu sync.Mutex\n\nfunc f() {\n\tmu.Lock()\n\tdefer mu.Lock()\n}\n";

#[test]
fn open_publishes_diagnostics_with_codes_ranges_and_pages() {
    let mut client = utf16_client();
    assert_eq!(
        client.init_result["capabilities"]["positionEncoding"],
        "utf-16"
    );
    assert_eq!(
        client.init_result["capabilities"]["textDocumentSync"]["change"],
        2
    );
    let kinds = &client.init_result["capabilities"]["codeActionProvider"]["codeActionKinds"];
    assert!(
        kinds
            .as_array()
            .unwrap()
            .contains(&json!("source.fixAll.goconc")),
        "{kinds}"
    );
    for folder in [
        "mutex-defer-lock",
        "mutex-unlock-missing",
        "mutex-unlock-kind-mismatch",
    ] {
        let path = fixtures().join(folder).join("positive.go");
        let text = std::fs::read_to_string(&path).unwrap();
        let uri = file_uri(&path);
        client.open(&uri, 1, &text);
        let params = client.diagnostics(&uri, Some(1));
        let diags = &params["diagnostics"];
        assert_eq!(diag_lines(diags), wants(&text), "{folder}");
        for d in diags.as_array().unwrap() {
            let rule = d["code"].as_str().unwrap();
            assert_eq!(d["source"], "goconc");
            assert_eq!(d["severity"], 1, "{d}");
            assert_eq!(
                d["codeDescription"]["href"],
                format!("https://github.com/goconc/goconc/blob/main/docs/rules/{rule}.md")
            );
            let covered = slice_of(&text, &d["range"], Enc::Utf16);
            assert!(
                !covered.is_empty() && !covered.contains('\n') || rule == "mutex-unlock-missing",
                "{d}: {covered:?}"
            );
            for r in d["relatedInformation"].as_array().into_iter().flatten() {
                assert_eq!(r["location"]["uri"], uri.as_str());
                assert!(!r["message"].as_str().unwrap().is_empty());
            }
        }
        if folder == "mutex-defer-lock" {
            // `defer registryMu.Lock()`: the range is the deferred call, related = where it was locked.
            let first = &diags[0];
            assert!(
                slice_of(&text, &first["range"], Enc::Utf16).contains("registryMu.Lock()"),
                "{first}"
            );
            let related = &first["relatedInformation"][0];
            assert_eq!(
                related["location"]["range"]["start"]["line"],
                first["range"]["start"]["line"].as_u64().unwrap() - 1
            );
        }
    }
    assert!(client.shutdown().success());
}

#[test]
fn columns_follow_the_negotiated_encoding() {
    let text = "package p\n\nimport \"sync\"\n\nvar mu sync.Mutex\n\nfunc f() {\n\tmu.Lock()\n\t/* é😀 */ defer mu.Lock()\n}\n";
    for (client, enc, name) in [
        (utf16_client(), Enc::Utf16, "utf-16"),
        (utf8_client(), Enc::Utf8, "utf-8"),
        (
            LspClient::start(capabilities(&["utf-32"]), Value::Null),
            Enc::Utf32,
            "utf-32",
        ),
    ] {
        let mut client = client;
        assert_eq!(client.init_result["capabilities"]["positionEncoding"], name);
        client.open("untitled:enc.go", 1, text);
        let params = client.diagnostics("untitled:enc.go", Some(1));
        let d = &params["diagnostics"][0];
        assert_eq!(d["code"], "mutex-defer-lock");
        let want = text.find("mu.Lock()\n}").unwrap();
        assert_eq!(
            d["range"]["start"],
            Text::position(text, want, enc),
            "{name}"
        );
        assert_eq!(slice_of(text, &d["range"], enc), "mu.Lock()");
        assert!(client.shutdown().success());
    }
}

#[test]
fn crlf_documents() {
    let text = MUTEX_SNIPPET.replace('\n', "\r\n");
    let mut client = utf16_client();
    client.open("untitled:crlf.go", 1, &text);
    let params = client.diagnostics("untitled:crlf.go", Some(1));
    let d = &params["diagnostics"][0];
    assert_eq!(slice_of(&text, &d["range"], Enc::Utf16), "mu.Lock()");
    assert_eq!(d["range"]["start"], json!({"line": 8, "character": 7}));
    // The ignore action keeps the file's line endings.
    let actions = client.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": "untitled:crlf.go"}, "range": d["range"], "context": {"diagnostics": [d]}}),
    );
    let ignore = actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["title"].as_str().unwrap().starts_with("Ignore"))
        .unwrap();
    let fixed = Text::apply(
        &text,
        &Text::workspace_edits(&ignore["edit"], "untitled:crlf.go"),
        Enc::Utf16,
    );
    assert!(
        fixed.contains(
            "\tmu.Lock()\r\n\t//goconc:ignore mutex-defer-lock reason\r\n\tdefer mu.Lock()\r\n"
        ),
        "{fixed:?}"
    );
    assert!(client.shutdown().success());
}

/// A deterministic pseudo-random sequence.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const SESSION_BASE: &str = "package session

import \"sync\"

type store struct {
	mu sync.Mutex
	n  int
}

// get forgets to unlock when n is zero.
func (s *store) get() int {
	s.mu.Lock()
	if s.n == 0 {
		return 0
	}
	s.mu.Unlock()
	return s.n
}

func (s *store) set(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n = n
}
";

const SESSION_TYPED: &str = "
// bump: ünïcödé 😀 世界 — defer Lock by mistake.
func (s *store) bump() {
	s.mu.Lock()
	defer s.mu.Lock()
	label := \"héllo 👋🏽 wörld\"
	_ = label
	s.n++
}

// reset: Ω≈ç√ — RLock on a Mutex field would not compile, so a plain missing unlock.
func (s *store) reset() {
	s.mu.Lock()
	if s.n < 0 {
		return
	}
	s.n = 0 // 🙂
	s.mu.Unlock()
}
";

/// Builds the edits of a typing session: the notifications (each a list of changes, positions
/// relative to the text after the previous change) and the final text.
fn typing_session(enc: Enc, seed: u64) -> (Vec<Vec<Value>>, String, usize) {
    let mut rng = Rng(seed);
    let mut text = SESSION_BASE.to_string();
    let mut notifications: Vec<Vec<Value>> = Vec::new();
    let mut pending: Vec<Value> = Vec::new();
    let mut changes = 0;
    let mut edit =
        |text: &mut String, pending: &mut Vec<Value>, start: usize, end: usize, new: &str| {
            pending.push(json!({"range": Text::range(text, start, end, enc), "text": new}));
            text.replace_range(start..end, new);
            changes += 1;
        };
    let mut comment_lines: Vec<String> = Vec::new();
    for (i, ch) in SESSION_TYPED.chars().enumerate() {
        let at = text.len();
        // A typo, then backspace over it.
        if i % 11 == 5 {
            edit(&mut text, &mut pending, at, at, "ß");
            let len = text.len();
            edit(&mut text, &mut pending, len - "ß".len(), len, "");
        }
        let at = text.len();
        edit(&mut text, &mut pending, at, at, &ch.to_string());
        // Noise elsewhere in the file every so often.
        if i % 23 == 7 {
            let lines: Vec<usize> = std::iter::once(0)
                .chain(text.match_indices('\n').map(|(j, _)| j + 1))
                .collect();
            match rng.below(3) {
                0 => {
                    // A comment line with non-ASCII text at the start of a random line.
                    let line_start = lines[1 + rng.below(lines.len().min(20) - 1)];
                    let comment = format!("// nöte {} 🎉 ✓\n", rng.below(1000));
                    edit(&mut text, &mut pending, line_start, line_start, &comment);
                    comment_lines.push(comment);
                }
                1 if !comment_lines.is_empty() => {
                    // Delete one of those comment lines again.
                    let comment = comment_lines.remove(rng.below(comment_lines.len()));
                    let at = text.find(&comment).unwrap();
                    edit(&mut text, &mut pending, at, at + comment.len(), "");
                }
                _ => {
                    // Cut a range across lines and paste it back (with its emoji), in two changes.
                    let l = 1 + rng.below(lines.len().min(20) - 3);
                    let start = lines[l] + 1;
                    let end = lines[l + 2] + 1;
                    let (start, end) = (start.min(text.len()), end.min(text.len()));
                    if text.is_char_boundary(start) && text.is_char_boundary(end) && start < end {
                        let cut = text[start..end].to_string();
                        edit(&mut text, &mut pending, start, end, "");
                        edit(&mut text, &mut pending, start, start, &cut);
                    }
                }
            }
        }
        if pending.len() > rng.below(4) {
            notifications.push(std::mem::take(&mut pending));
        }
    }
    if !pending.is_empty() {
        notifications.push(pending);
    }
    (notifications, text, changes)
}

fn run_typing_session(encodings: &[&str], enc: Enc) {
    let uri = "untitled:session.go";
    let (notifications, final_text, changes) = typing_session(enc, 0x9e3779b97f4a7c15);
    assert!(changes >= 300, "only {changes} changes");
    assert!(notifications.iter().any(|n| n.len() >= 3));
    let mut client = LspClient::start(capabilities(encodings), Value::Null);
    client.open(uri, 1, SESSION_BASE);
    let mut version = 1;
    for changes in notifications {
        version += 1;
        client.change(uri, version, Value::Array(changes));
    }
    let session = client.diagnostics(uri, Some(version))["diagnostics"].clone();
    let fix_all = |client: &mut LspClient| {
        client.request(
            "textDocument/codeAction",
            json!({"textDocument": {"uri": uri}, "range": Text::range(&final_text, 0, 0, enc), "context": {"diagnostics": [], "only": ["source.fixAll"]}}),
        )
    };
    let session_fix_all = fix_all(&mut client);

    let mut fresh = LspClient::start(capabilities(encodings), Value::Null);
    fresh.open(uri, 1, &final_text);
    let expected = fresh.diagnostics(uri, Some(1))["diagnostics"].clone();
    assert_eq!(
        session, expected,
        "diagnostics after the session differ from a fresh open"
    );
    assert_eq!(session_fix_all, fix_all(&mut fresh));
    let rules: Vec<&str> = session
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert!(
        rules.contains(&"mutex-defer-lock") && rules.contains(&"mutex-unlock-missing"),
        "{rules:?}"
    );
    for d in session.as_array().unwrap() {
        let covered = slice_of(&final_text, &d["range"], enc);
        assert!(!covered.is_empty(), "{d}");
        if d["code"].as_str().unwrap().starts_with("mutex-") {
            assert!(covered.contains("Lock"), "{d}: {covered:?}");
        }
    }
    assert!(client.shutdown().success());
    assert!(fresh.shutdown().success());
}

#[test]
fn typing_session_utf16_client() {
    run_typing_session(&["utf-16"], Enc::Utf16);
}

#[test]
fn typing_session_utf8_client() {
    run_typing_session(&["utf-8", "utf-32", "utf-16"], Enc::Utf8);
}

fn code_actions(
    client: &mut LspClient,
    uri: &str,
    text: &str,
    only: Option<&[&str]>,
    enc: Enc,
) -> Vec<Value> {
    let mut context = json!({"diagnostics": []});
    if let Some(only) = only {
        context["only"] = json!(only);
    }
    client
        .request(
            "textDocument/codeAction",
            json!({"textDocument": {"uri": uri}, "range": Text::range(text, 0, text.len(), enc), "context": context}),
        )
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// What the title of an unsafe quick fix ends with.
const UNSAFE: &str = " (unsafe: may change behaviour)";

/// The fixture folders whose quick fixes are checked through the protocol: the mutex rules.
/// `GOCONC_LSP_FIXTURES=all` checks every folder with golden files.
const FIX_FOLDERS: &[&str] = &[
    "mutex-defer-in-loop",
    "mutex-defer-lock",
    "mutex-double-lock",
    "mutex-held-blocking",
    "mutex-unlock-kind-mismatch",
    "mutex-unlock-missing",
];

/// Every fixture file with a golden file, in [`FIX_FOLDERS`].
fn golden_fixtures() -> Vec<(PathBuf, String)> {
    let all = std::env::var("GOCONC_LSP_FIXTURES").is_ok_and(|v| v == "all");
    let mut out = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && (all || FIX_FOLDERS.iter().any(|f| p.file_name().unwrap() == *f)))
        .collect();
    dirs.sort();
    for dir in dirs {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        for f in files {
            if f.extension().is_some_and(|e| e == "go") {
                if let Ok(golden) = std::fs::read_to_string(format!("{}.golden", f.display())) {
                    out.push((f, golden));
                }
            }
        }
    }
    assert!(!out.is_empty());
    out
}

/// Sends a WorkspaceEdit's edits to the server as one didChange (last edit first, so earlier
/// positions stay valid), and returns the new text.
fn send_edits(
    client: &mut LspClient,
    uri: &str,
    text: &str,
    edits: &[Value],
    version: i64,
    enc: Enc,
) -> String {
    let mut sorted = edits.to_vec();
    sorted.sort_by_key(|e| std::cmp::Reverse(Text::offset(text, &e["range"]["start"], enc)));
    let changes: Vec<Value> = sorted
        .iter()
        .map(|e| json!({"range": e["range"], "text": e["newText"]}))
        .collect();
    client.change(uri, version, Value::Array(changes));
    Text::apply(text, edits, enc)
}

#[test]
fn quick_fixes_through_the_protocol_give_the_goldens() {
    let mut client = utf16_client();
    let mut checked = 0;
    for (path, golden) in golden_fixtures() {
        let text = std::fs::read_to_string(&path).unwrap();
        let uri = file_uri(&path);
        let name = path.display().to_string();
        client.open(&uri, 1, &text);
        let published = client.diagnostics(&uri, Some(1))["diagnostics"].clone();

        // Each quick fix is tied to a published diagnostic; the first safe fix of each is
        // preferred, and unsafe ones say so.
        let quickfixes = code_actions(&mut client, &uri, &text, Some(&["quickfix"]), Enc::Utf16);
        assert!(quickfixes.iter().all(|a| a["kind"] == "quickfix"));
        for a in &quickfixes {
            let d = &a["diagnostics"][0];
            assert!(
                published.as_array().unwrap().contains(d),
                "{name}: {a} not tied to a published diagnostic"
            );
            let title = a["title"].as_str().unwrap();
            assert!(
                !(a["isPreferred"] == true && title.ends_with(UNSAFE)),
                "{name}: {a}"
            );
        }
        let any_unsafe = quickfixes
            .iter()
            .any(|a| a["title"].as_str().unwrap().ends_with(UNSAFE));

        // Fix-all in one action gives the golden when every fix is safe (it applies safe ones
        // only: see fix_all_applies_safe_fixes_and_unsafe_ones_are_offered_one_by_one).
        let actions = code_actions(
            &mut client,
            &uri,
            &text,
            Some(&["source.fixAll"]),
            Enc::Utf16,
        );
        if !any_unsafe {
            assert_eq!(actions.len(), 1, "{name}: {actions:?}");
            assert_eq!(actions[0]["kind"], "source.fixAll.goconc");
            let edits = Text::workspace_edits(&actions[0]["edit"], &uri);
            assert_eq!(
                Text::apply(&text, &edits, Enc::Utf16),
                golden,
                "{name}: fix-all"
            );
        }

        // One quick fix at a time, re-analysed after each, until none is left.
        let mut current = text.clone();
        let mut version = 1;
        for _ in 0..100 {
            let actions =
                code_actions(&mut client, &uri, &current, Some(&["quickfix"]), Enc::Utf16);
            // The fix a user picks: the preferred one, else an unsafe one read and accepted
            // (never "Ignore…" nor the documentation).
            let is_fix = |a: &&Value| {
                a["isPreferred"] == true || a["title"].as_str().unwrap().ends_with(UNSAFE)
            };
            let Some(fix) = actions.iter().find(is_fix) else {
                break;
            };
            version += 1;
            let edits = Text::workspace_edits(&fix["edit"], &uri);
            current = send_edits(&mut client, &uri, &current, &edits, version, Enc::Utf16);
            client.diagnostics(&uri, Some(version));
        }
        assert_eq!(current, golden, "{name}: quick fixes one by one");
        client.close(&uri);
        client.diagnostics(&uri, None);
        checked += 1;
    }
    assert!(checked >= 3, "{checked}");
    assert!(client.shutdown().success());
}

#[test]
fn document_changes_carry_the_version() {
    let mut caps = capabilities(&[]);
    caps["workspace"]["workspaceEdit"] = json!({"documentChanges": true});
    let mut client = LspClient::start(caps, Value::Null);
    client.open("untitled:dc.go", 3, MUTEX_SNIPPET);
    client.diagnostics("untitled:dc.go", Some(3));
    let actions = code_actions(
        &mut client,
        "untitled:dc.go",
        MUTEX_SNIPPET,
        Some(&["quickfix"]),
        Enc::Utf16,
    );
    let fix = actions
        .iter()
        .find(|a| a["isPreferred"] == true)
        .expect("a quick fix");
    let dc = &fix["edit"]["documentChanges"][0];
    assert_eq!(dc["textDocument"]["version"], 3);
    assert_eq!(
        Text::apply(
            MUTEX_SNIPPET,
            &Text::workspace_edits(&fix["edit"], "untitled:dc.go"),
            Enc::Utf16
        ),
        MUTEX_SNIPPET.replace("defer mu.Lock()", "defer mu.Unlock()")
    );
    assert!(client.shutdown().success());
}

#[test]
fn ignore_action_writes_the_comment_and_silences_the_rule() {
    let mut client = utf8_client();
    let uri = "untitled:ignore.go";
    let text = MUTEX_SNIPPET.replace("\tdefer mu.Lock()", "\tif true {\n\t\tdefer mu.Lock()\n\t}");
    client.open(uri, 1, &text);
    let diags = client.diagnostics(uri, Some(1))["diagnostics"].clone();
    let d = diags
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "mutex-defer-lock")
        .unwrap()
        .clone();
    let actions = client.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": uri}, "range": d["range"], "context": {"diagnostics": [d], "only": ["quickfix"]}}),
    );
    let ignore = actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["title"] == "Ignore mutex-defer-lock on this line")
        .expect("an ignore action")
        .clone();
    assert_eq!(ignore["kind"], "quickfix");
    assert_eq!(ignore["diagnostics"][0], d);
    let edits = Text::workspace_edits(&ignore["edit"], uri);
    let new_text = send_edits(&mut client, uri, &text, &edits, 2, Enc::Utf8);
    assert!(
        new_text.contains(
            "\tif true {\n\t\t//goconc:ignore mutex-defer-lock reason\n\t\tdefer mu.Lock()\n"
        ),
        "{new_text}"
    );
    let after = client.diagnostics(uri, Some(2))["diagnostics"].clone();
    assert!(
        after
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["code"] != "mutex-defer-lock"),
        "{after}"
    );
    assert!(client.shutdown().success());
}

#[test]
fn code_actions_honour_only_and_range() {
    let mut client = utf16_client();
    let uri = "untitled:only.go";
    client.open(uri, 1, MUTEX_SNIPPET);
    client.diagnostics(uri, Some(1));
    let all = code_actions(&mut client, uri, MUTEX_SNIPPET, None, Enc::Utf16);
    assert!(
        all.iter().any(|a| a["kind"] == "quickfix")
            && all.iter().any(|a| a["kind"] == "source.fixAll.goconc")
    );
    let source = code_actions(
        &mut client,
        uri,
        MUTEX_SNIPPET,
        Some(&["source"]),
        Enc::Utf16,
    );
    assert!(!source.is_empty() && source.iter().all(|a| a["kind"] == "source.fixAll.goconc"));
    assert!(code_actions(
        &mut client,
        uri,
        MUTEX_SNIPPET,
        Some(&["refactor"]),
        Enc::Utf16
    )
    .is_empty());
    // A range on the `package` line touches no finding.
    let none = client.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": uri}, "range": Text::range(MUTEX_SNIPPET, 0, 3, Enc::Utf16), "context": {"diagnostics": [], "only": ["quickfix"]}}),
    );
    assert_eq!(none, json!([]));
    assert!(client.shutdown().success());
}

/// Waits for a publish of `uri` whose diagnostics satisfy `done` (an analysis that started before
/// a settings change may publish once more with the old settings).
fn settled(client: &mut LspClient, uri: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let d = client.diagnostics(uri, None)["diagnostics"].clone();
        if done(&d) || Instant::now() > deadline {
            return d;
        }
    }
}

#[test]
fn configuration_changes_severities_and_client_settings_beat_goconc_toml() {
    let scratch = Scratch::new("config");
    scratch.write(
        "goconc.toml",
        "[rules]\nmutex-defer-lock = \"off\"\nmutex-unlock-missing = \"warning\"\n",
    );
    let path = scratch.write("a.go", MUTEX_SNIPPET);
    let uri = file_uri(&path);

    // Pulled with workspace/configuration.
    let mut client = LspClient::start(
        capabilities(&[]),
        json!({"rules": {"mutex-defer-lock": "info"}}),
    );
    client.open(&uri, 1, MUTEX_SNIPPET);
    let d = client.diagnostics(&uri, Some(1))["diagnostics"].clone();
    let d = &d.as_array().unwrap()[0];
    assert_eq!(
        (d["code"].as_str().unwrap(), d["severity"].as_u64().unwrap()),
        ("mutex-defer-lock", 3),
        "{d}"
    );
    *client.configuration.lock().unwrap() =
        json!({"rules": {"mutex-defer-lock": "hint"}, "rulesBaseUrl": "https://example.test/r/"});
    client.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": null}),
    );
    let d = settled(&mut client, &uri, |d| d[0]["severity"] == 4)[0].clone();
    assert_eq!(d["severity"], 4, "{d}");
    assert_eq!(
        d["codeDescription"]["href"],
        "https://example.test/r/mutex-defer-lock.md"
    );
    assert!(client.server_requested("workspace/configuration"));
    // Without a client setting, goconc.toml's "off" applies.
    *client.configuration.lock().unwrap() = json!({});
    client.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": null}),
    );
    assert_eq!(settled(&mut client, &uri, |d| d == &json!([])), json!([]));
    assert!(client.shutdown().success());

    // Pushed in didChangeConfiguration (a client without workspace/configuration).
    let mut caps = capabilities(&[]);
    caps["workspace"]["configuration"] = json!(false);
    let mut client = LspClient::start(caps, Value::Null);
    client.open(&uri, 1, MUTEX_SNIPPET);
    assert_eq!(client.diagnostics(&uri, Some(1))["diagnostics"], json!([]));
    client.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"goconc": {"rules": {"mutex-defer-lock": "error"}}}}),
    );
    let d = settled(&mut client, &uri, |d| d[0]["severity"] == 1)[0].clone();
    assert_eq!(
        (d["code"].as_str().unwrap(), d["severity"].as_u64().unwrap()),
        ("mutex-defer-lock", 1)
    );
    assert!(client.shutdown().success());
}

#[test]
fn close_clears_diagnostics() {
    let mut client = utf16_client();
    client.open("untitled:close.go", 1, MUTEX_SNIPPET);
    assert!(
        !client.diagnostics("untitled:close.go", Some(1))["diagnostics"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    client.close("untitled:close.go");
    let cleared = client.diagnostics("untitled:close.go", None);
    assert_eq!(cleared["diagnostics"], json!([]));
    // Closed means closed: code actions have nothing to say.
    assert_eq!(
        code_actions(
            &mut client,
            "untitled:close.go",
            MUTEX_SNIPPET,
            None,
            Enc::Utf16
        ),
        Vec::<Value>::new()
    );
    assert!(client.shutdown().success());
}

#[test]
fn sibling_files_give_types_and_their_changes_reanalyse() {
    let scratch = Scratch::new("siblings");
    scratch.write(
        "types.go",
        "package p\n\nimport \"sync\"\n\ntype S struct {\n\tmu sync.Mutex\n}\n",
    );
    let main_text = "package p\n\nfunc (s *S) f() {\n\ts.mu.Lock()\n\tdefer s.mu.Lock()\n}\n";
    let main = scratch.write("main.go", main_text);
    let uri = file_uri(&main);
    let mut client = utf16_client();
    client.open(&uri, 1, main_text);
    let d = client.diagnostics(&uri, Some(1))["diagnostics"].clone();
    assert_eq!(
        d[0]["code"], "mutex-defer-lock",
        "the mutex field comes from types.go: {d}"
    );
    assert!(client.server_requested("client/registerCapability"));

    // types.go changes on disk: mu is no longer a mutex.
    let types = scratch.write(
        "types.go",
        "package p\n\ntype S struct {\n\tmu interface{ Lock() }\n}\n",
    );
    client.notify(
        "workspace/didChangeWatchedFiles",
        json!({"changes": [{"uri": file_uri(&types), "type": 2}]}),
    );
    assert_eq!(client.diagnostics(&uri, Some(1))["diagnostics"], json!([]));

    // An open buffer of types.go wins over the disk.
    let types_uri = file_uri(&types);
    let types_text = "package p\n\nimport \"sync\"\n\ntype S struct {\n\tmu sync.RWMutex\n}\n";
    client.open(&types_uri, 1, types_text);
    let d = client.diagnostics(&uri, Some(1))["diagnostics"].clone();
    assert_eq!(d[0]["code"], "mutex-defer-lock", "{d}");

    // Typing in the open sibling re-checks main.go, whose own text did not change (what the
    // server kept of main.go's functions must not outlive the type it was judged with).
    let at = types_text.find("sync.RWMutex").unwrap();
    client.change(
        &types_uri,
        2,
        json!([{"range": Text::range(types_text, at, at + "sync.RWMutex".len(), Enc::Utf16), "text": "interface{ Lock() }"}]),
    );
    assert_eq!(
        settled(&mut client, &uri, |d| d == &json!([])),
        json!([]),
        "main.go keeps a finding about a mutex its sibling no longer declares"
    );
    assert!(client.shutdown().success());
}

/// A type declared per GOOS: a Linux file sees the Linux declaration, never the Windows one, on
/// open and while typing; a Windows file sees the Windows one.
#[test]
fn a_file_sees_the_types_of_its_own_build_configuration() {
    let scratch = Scratch::new("per-goos");
    let windows_text = "package p\n\nimport \"sync\"\n\ntype A struct {\n\tmu sync.Mutex\n\tn  int\n}\n\nfunc (a A) N() int { return a.n }\n";
    let windows = scratch.write("a_windows.go", windows_text);
    let linux_text =
        "package p\n\ntype A struct {\n\tn int\n}\n\nfunc (a A) N() int { return a.n }\n";
    let linux = scratch.write("a_linux.go", linux_text);
    let user_text = "package p\n\nfunc use(a A) int { return a.n }\n";
    let user = scratch.write("use_linux.go", user_text);
    let mut client = utf16_client();
    for (path, text) in [(&linux, linux_text), (&user, user_text)] {
        let uri = file_uri(path);
        client.open(&uri, 1, text);
        assert_eq!(
            client.diagnostics(&uri, Some(1))["diagnostics"],
            json!([]),
            "{}: the Windows A (with a mutex) is not the Linux A",
            path.display()
        );
    }
    // Typing in the Linux file keeps the Linux view.
    let user_uri = file_uri(&user);
    let at = user_text.find("return").unwrap();
    client.change(
        &user_uri,
        2,
        json!([{"range": Text::range(user_text, at, at, Enc::Utf16), "text": "_ = 1; "}]),
    );
    assert_eq!(
        client.diagnostics(&user_uri, Some(2))["diagnostics"],
        json!([])
    );
    let uri = file_uri(&windows);
    client.open(&uri, 1, windows_text);
    let d = client.diagnostics(&uri, Some(1))["diagnostics"].clone();
    assert_eq!(d[0]["code"], "sync-value-copied", "{d}");
    assert!(client.shutdown().success());
}

#[test]
fn malformed_input_is_survived() {
    let mut client = utf16_client();
    // A body that is not JSON: a parse error with a null id, and the server goes on.
    client.send_raw(&lsp_client::frame("{this is not json"));
    let err = client.wait_for(|m| m.get("error").is_some() && m["id"].is_null());
    assert_eq!(err["error"]["code"], -32700);
    // Unknown request: MethodNotFound. Unknown notification: ignored.
    client.notify("goconc/noSuchNotification", json!({}));
    let id = client.send_request("goconc/noSuchMethod", json!({}));
    assert_eq!(client.wait_response(id)["error"]["code"], -32601);
    // A change to a document that is not open.
    client.change(
        "untitled:never-opened.go",
        2,
        json!([{"text": "package x"}]),
    );
    // Out-of-range positions clamp: a range far past the end appends.
    let uri = "untitled:clamp.go";
    client.open(uri, 1, "package p\n");
    client.change(
        uri,
        2,
        json!([{"range": {"start": {"line": 99, "character": 0}, "end": {"line": 120, "character": 5}}, "text": &MUTEX_SNIPPET["package p\n".len()..]}]),
    );
    let d = client.diagnostics(uri, Some(2))["diagnostics"].clone();
    assert_eq!(d[0]["code"], "mutex-defer-lock", "{d}");
    // A column past the end of its line clamps to the line's end.
    client.change(uri, 3, json!([{"range": {"start": {"line": 0, "character": 400}, "end": {"line": 0, "character": 500}}, "text": " // ok"}]));
    let d3 = client.diagnostics(uri, Some(3))["diagnostics"].clone();
    assert_eq!(d3, d);
    // Garbage framing: a header without Content-Length.
    client.send_raw(b"X-Nonsense: 1\r\n\r\n");
    let id = client.send_request("textDocument/codeAction", json!({"textDocument": {"uri": uri}, "range": Text::range("", 0, 0, Enc::Utf16), "context": {"diagnostics": []}}));
    assert!(client.wait_response(id).get("result").is_some());
    assert!(client.shutdown().success());
}

#[test]
fn exit_codes() {
    let client = utf16_client();
    let status = client.shutdown();
    assert_eq!(status.code(), Some(0));
    let mut client = utf16_client();
    client.notify("exit", Value::Null);
    assert_eq!(client.wait_exit().code(), Some(1), "exit without shutdown");
}

#[test]
fn a_huge_file_does_not_stall_others() {
    // About 5 MB of Go.
    let mut big = String::from("package big\n\nimport \"sync\"\n\nvar mu sync.Mutex\n\n");
    let mut i = 0;
    while big.len() < 5_000_000 {
        big.push_str(&format!("func f{i}(x int) int {{\n\tif x > {i} {{\n\t\treturn x * 2\n\t}}\n\treturn x + {i}\n}}\n\n"));
        i += 1;
    }
    big.push_str("func last() {\n\tmu.Lock()\n\tdefer mu.Lock()\n}\n");
    let mut client = utf16_client();
    client.open("untitled:big.go", 1, &big);
    client.open("untitled:small.go", 1, MUTEX_SNIPPET);
    let small = client.diagnostics("untitled:small.go", Some(1));
    assert_eq!(small["diagnostics"][0]["code"], "mutex-defer-lock");
    // Edit the big file while it is being parsed or analysed (seconds for 5 MB): the small one
    // still answers at once, long before the big one.
    let started = Instant::now();
    client.change(
        "untitled:big.go",
        2,
        json!([{"range": Text::range(&big, 0, 0, Enc::Utf16), "text": "// edited\n"}]),
    );
    client.change(
        "untitled:small.go",
        2,
        json!([{"range": Text::range(MUTEX_SNIPPET, 0, 0, Enc::Utf16), "text": "// edited\n"}]),
    );
    let small = client.diagnostics("untitled:small.go", Some(2));
    let small_at = started.elapsed();
    assert_eq!(small["diagnostics"][0]["code"], "mutex-defer-lock");
    let big_diags = client
        .try_wait_for(
            &|m| m["params"]["uri"] == "untitled:big.go" && m["params"]["version"] == 2,
            Duration::from_secs(600),
        )
        .expect("big diagnostics");
    let big_at = started.elapsed();
    eprintln!("small file answered after {small_at:?}, the big one after {big_at:?}");
    assert!(
        small_at * 4 < big_at,
        "the small file waited for the big one: {small_at:?} of {big_at:?}"
    );
    assert_eq!(
        big_diags["params"]["diagnostics"].as_array().unwrap().len(),
        1
    );
    assert!(client.shutdown().success());
}

/// A `Content-Length` shorter than its body: the rest of the body is skipped (and logged), the
/// next message is answered, and `exit` still ends the server.
#[test]
fn a_short_content_length_is_skipped_and_the_server_reads_on() {
    let mut client = utf16_client();
    let body = json!({"jsonrpc": "2.0", "id": 900, "method": "textDocument/codeAction", "params": {"textDocument": {"uri": "untitled:none.go"}, "range": Text::range("", 0, 0, Enc::Utf16), "context": {"diagnostics": []}}}).to_string();
    let mut bytes = b"Content-Length: 20\r\n\r\n".to_vec();
    bytes.extend_from_slice(body.as_bytes());
    client.send_raw(&bytes);
    let err = client.wait_for(|m| m.get("error").is_some() && m["id"].is_null());
    assert_eq!(err["error"]["code"], -32700);
    let skipped = client.wait_for(|m| m["method"] == "window/logMessage");
    let message = skipped["params"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("skipped {} bytes", body.len() - 20)),
        "{message}"
    );
    let id = client.send_request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": "untitled:none.go"}, "range": Text::range("", 0, 0, Enc::Utf16), "context": {"diagnostics": []}}),
    );
    assert_eq!(client.wait_response(id)["result"], json!([]));
    assert_eq!(client.shutdown().code(), Some(0));
}

/// For LSP a lone `\r` ends a line (Go counts only `\n`): positions the server sends and
/// reads follow the client's lines, in UTF-16 and UTF-8, with CR-only and mixed line endings.
#[test]
fn a_lone_cr_is_a_line_break_for_positions() {
    // Explicit semicolons: Go reads the CR-only file as one line, and still parses it.
    let cr_only = "package p;\r/* é😀 */\rimport \"sync\";\rvar mu sync.Mutex;\rfunc f() {\r\tmu.Lock();\r\t/* ü */ defer mu.Lock();\r}\r";
    let mixed = "package p\r\n\r\nimport \"sync\" // a\rb 😀\n\nvar mu sync.Mutex // c\r\r\n\nfunc f() {\r\n\tmu.Lock()\n\t/* ü */ defer mu.Lock()\r\n}\n";
    for (client, enc) in [(utf16_client(), Enc::Utf16), (utf8_client(), Enc::Utf8)] {
        let mut client = client;
        for (name, text) in [("cr", cr_only), ("mixed", mixed)] {
            let uri = format!("untitled:{name}.go");
            client.open(&uri, 1, text);
            let d = client.diagnostics(&uri, Some(1))["diagnostics"].clone();
            let d = &d[0];
            assert_eq!(d["code"], "mutex-defer-lock", "{name}: {d}");
            let want = text.rfind("mu.Lock()").unwrap();
            assert_eq!(
                d["range"]["start"],
                Text::position(text, want, enc),
                "{name} {enc:?}"
            );
            assert_eq!(slice_of(text, &d["range"], enc), "mu.Lock()");
            // A change at client positions lands where the client means it: `Lock` → `Unlock`.
            let at = text.rfind("Lock()").unwrap();
            client.change(
                &uri,
                2,
                json!([{"range": Text::range(text, at, at + 1, enc), "text": "Unl"}]),
            );
            assert_eq!(
                client.diagnostics(&uri, Some(2))["diagnostics"],
                json!([]),
                "{name} {enc:?}"
            );
        }
        assert!(client.shutdown().success());
    }
}

/// The struct in a sibling file on disk and the methods in the open file: editing the method
/// that skips the lock keeps `guarded-field-unlocked`, as a fresh open reports it.
#[test]
fn guarded_field_of_a_sibling_type_survives_editing_the_method() {
    let scratch = Scratch::new("guarded");
    scratch.write(
        "types.go",
        "package p\n\nimport \"sync\"\n\ntype Cache struct {\n\tmu    sync.Mutex\n\titems map[string]string\n}\n",
    );
    let text = "package p\n\n\
                func (c *Cache) Set(k, v string) {\n\tc.mu.Lock()\n\tdefer c.mu.Unlock()\n\tc.items[k] = v\n}\n\n\
                func (c *Cache) Delete(k string) {\n\tc.mu.Lock()\n\tdelete(c.items, k)\n\tc.mu.Unlock()\n}\n\n\
                func (c *Cache) Len() int {\n\treturn len(c.items)\n}\n";
    let path = scratch.write("cache.go", text);
    let uri = file_uri(&path);
    let rules = |d: &Value| -> Vec<String> {
        d["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["code"].as_str().unwrap().to_string())
            .collect()
    };
    let mut client = utf16_client();
    client.open(&uri, 1, text);
    assert_eq!(
        rules(&client.diagnostics(&uri, Some(1))),
        ["guarded-field-unlocked"]
    );
    let mut current = text.to_string();
    for (version, (anchor, typed)) in [("return len", "// n\n\t"), ("// n\n\t", "")]
        .into_iter()
        .enumerate()
    {
        let at = current.find(anchor).unwrap();
        let end = if typed.is_empty() {
            at + anchor.len()
        } else {
            at
        };
        let version = version as i64 + 2;
        client.change(
            &uri,
            version,
            json!([{"range": Text::range(&current, at, end, Enc::Utf16), "text": typed}]),
        );
        current.replace_range(at..end, typed);
        let after = client.diagnostics(&uri, Some(version));
        let mut fresh = utf16_client();
        fresh.open(&uri, 1, &current);
        let expected = fresh.diagnostics(&uri, Some(1));
        assert_eq!(
            after["diagnostics"], expected["diagnostics"],
            "after editing at {anchor:?}"
        );
        assert_eq!(rules(&after), ["guarded-field-unlocked"]);
        assert!(fresh.shutdown().success());
    }
    assert!(client.shutdown().success());
}

/// Text that tree-sitter-go parses slowly (random characters; no NUL, so the server parses it).
fn garbage(bytes: usize, seed: u64) -> String {
    let mut rng = Rng(seed);
    let raw: Vec<u8> = (0..bytes)
        .map(|_| (rng.next() >> 24) as u8)
        .map(|b| if b == 0 { b'x' } else { b })
        .collect();
    String::from_utf8_lossy(&raw).into_owned()
}

/// A keystroke in a document whose reparse takes seconds must not hold up another document:
/// the small one's diagnostics come long before the slow one's.
#[test]
fn a_document_slow_to_parse_holds_up_no_other() {
    let slow = garbage(120_000, 0x5EED);
    let mut client = utf16_client();
    client.open("untitled:slow.go", 1, &slow);
    client.open("untitled:small.go", 1, MUTEX_SNIPPET);
    client.diagnostics("untitled:small.go", Some(1));
    client
        .try_wait_for(
            &|m| m["params"]["uri"] == "untitled:slow.go" && m["params"]["version"] == 1,
            Duration::from_secs(600),
        )
        .expect("the slow document's first diagnostics");
    let mut middle = slow.len() / 2;
    while !slow.is_char_boundary(middle) {
        middle += 1;
    }
    let started = Instant::now();
    client.change(
        "untitled:slow.go",
        2,
        json!([{"range": Text::range(&slow, middle, middle, Enc::Utf16), "text": "x"}]),
    );
    client.change(
        "untitled:small.go",
        2,
        json!([{"range": Text::range(MUTEX_SNIPPET, 0, 0, Enc::Utf16), "text": "// edited\n"}]),
    );
    let small = client.diagnostics("untitled:small.go", Some(2));
    let small_at = started.elapsed();
    assert_eq!(small["diagnostics"][0]["code"], "mutex-defer-lock");
    client
        .try_wait_for(
            &|m| m["params"]["uri"] == "untitled:slow.go" && m["params"]["version"] == 2,
            Duration::from_secs(600),
        )
        .expect("the slow document's diagnostics after the keystroke");
    let slow_at = started.elapsed();
    eprintln!("small document answered after {small_at:?}, the slow one after {slow_at:?}");
    assert!(
        small_at * 4 < slow_at,
        "the small document waited for the slow one's reparse: {small_at:?} of {slow_at:?}"
    );
    assert!(client.shutdown().success());
}

/// About 5 MB of Go with one finding at the end.
fn five_megabytes_of_go() -> String {
    let mut big = String::from("package big\n\nimport \"sync\"\n\nvar mu sync.Mutex\n\n");
    let mut i = 0;
    while big.len() < 5_000_000 {
        big.push_str(&format!("func f{i}(x int) int {{\n\tif x > {i} {{\n\t\treturn x * 2\n\t}}\n\treturn x + {i}\n}}\n\n"));
        i += 1;
    }
    big.push_str("func last() {\n\tmu.Lock()\n\tdefer mu.Lock()\n}\n");
    big
}

/// Thirty keystrokes while a 5 MB file is still being parsed: one parse at a time, the edits
/// that wait folded into the next round (not a full parse per keystroke, each with its own
/// tree: gigabytes). The peak memory is compared with a server that only opened the file.
#[test]
fn typing_into_a_file_still_being_parsed_parses_once_at_a_time() {
    let big = five_megabytes_of_go();
    let uri = "untitled:big.go";
    let only_opened = {
        let mut client = utf16_client();
        client.open(uri, 1, &big);
        client
            .try_wait_for(&|m| m["params"]["version"] == 1, Duration::from_secs(600))
            .expect("diagnostics of the opened file");
        let peak = client.peak_memory_kb().unwrap();
        assert!(client.shutdown().success());
        peak
    };
    let mut client = utf16_client();
    client.open(uri, 1, &big);
    let mut text = big.clone();
    let at = text.find("func f100(").unwrap();
    for (i, c) in "// typed while parsing ok".chars().take(30).enumerate() {
        let offset = at + i;
        client.change(
            uri,
            i as i64 + 2,
            json!([{"range": Text::range(&text, offset, offset, Enc::Utf16), "text": c.to_string()}]),
        );
        text.insert(offset, c);
    }
    let last = "// typed while parsing ok".chars().take(30).count() as i64 + 1;
    let published = client
        .try_wait_for(
            &|m| m["params"]["uri"] == uri && m["params"]["version"] == last,
            Duration::from_secs(600),
        )
        .expect("diagnostics of the last keystroke");
    let d = &published["params"]["diagnostics"];
    assert_eq!(d.as_array().unwrap().len(), 1, "{d}");
    assert_eq!(
        slice_of(&text, &d[0]["range"], Enc::Utf16),
        "mu.Lock()",
        "the edits were applied in order"
    );
    let typed = client.peak_memory_kb().unwrap();
    eprintln!(
        "peak memory: {} MB typing while parsing, {} MB only opening",
        typed / 1024,
        only_opened / 1024
    );
    assert!(
        typed < only_opened * 2,
        "typing while parsing peaked at {} MB, opening alone at {} MB",
        typed / 1024,
        only_opened / 1024
    );
    assert!(client.shutdown().success());
}

/// A file with `n` functions that each defer a Lock (a finding each): large publications.
fn many_findings(n: usize) -> String {
    let mut text = String::from("package p\n\nimport \"sync\"\n\nvar mu sync.Mutex\n\n");
    for i in 0..n {
        text.push_str(&format!(
            "func f{i}() {{\n\tmu.Lock()\n\tdefer mu.Lock()\n}}\n\n"
        ));
    }
    text
}

/// A client that stops reading while the server keeps publishing: only the newest diagnostics
/// of the document wait for it, not one publication per version.
#[test]
fn a_client_that_stops_reading_gets_only_the_newest_diagnostics() {
    let text = many_findings(300);
    let uri = "untitled:many.go";
    let mut client =
        LspClient::start_capturing_log(capabilities(&[]), Value::Null, "warn,goconc_lsp=trace");
    client.open(uri, 1, &text);
    let first = client.diagnostics(uri, Some(1));
    assert_eq!(first["diagnostics"].as_array().unwrap().len(), 300);
    client.pause_reading();
    let last = 40;
    for version in 2..=last {
        // Each change moves every finding down a line: a new publication of ~100 KB.
        client.change(
            uri,
            version,
            json!([{"range": Text::range("", 0, 0, Enc::Utf16), "text": "// moved\n"}]),
        );
        let published = format!("published uri=\"{uri}\" version={version}");
        assert!(
            client.wait_log(|l| l.ends_with(&published), Duration::from_secs(60)),
            "version {version} was not published"
        );
    }
    client.resume_reading();
    let mut versions = Vec::new();
    loop {
        let p = client.diagnostics(uri, None);
        let version = p["version"].as_i64().unwrap();
        versions.push(version);
        if version == last {
            assert_eq!(
                p["diagnostics"][0]["range"]["start"]["line"],
                first["diagnostics"][0]["range"]["start"]["line"]
                    .as_i64()
                    .unwrap()
                    + last
                    - 1
            );
            break;
        }
    }
    eprintln!("publications the client read after it resumed: {versions:?}");
    assert!(
        versions.len() <= 4,
        "{} publications waited for the client: {versions:?}",
        versions.len()
    );
    assert!(client.shutdown().success());
}

/// Go source has no NUL bytes: a text with some gets one diagnostic and is not parsed; once
/// they are gone it is checked as usual.
#[test]
fn a_text_with_nul_bytes_is_reported_once_and_not_parsed() {
    let uri = "untitled:nul.go";
    let mut text = MUTEX_SNIPPET.replace("var mu", "// é\0\0\nvar mu");
    text.push_str(&garbage(200_000, 7).replace('x', "\0"));
    let mut client = utf16_client();
    client.open(uri, 1, &text);
    let d = client.diagnostics(uri, Some(1))["diagnostics"].clone();
    assert_eq!(d.as_array().unwrap().len(), 1, "{d}");
    let message = d[0]["message"].as_str().unwrap();
    assert!(
        message.contains("NUL") && message.contains("not Go source"),
        "{message}"
    );
    let first = text.find('\0').unwrap();
    assert_eq!(
        d[0]["range"]["start"],
        Text::position(&text, first, Enc::Utf16)
    );
    assert!(code_actions(&mut client, uri, &text, None, Enc::Utf16).is_empty());
    // The junk and the NULs deleted: checked again.
    let end = text.len();
    let junk = MUTEX_SNIPPET.len() + "// é\0\0\n".len();
    client.change(
        uri,
        2,
        json!([
            {"range": Text::range(&text, junk, end, Enc::Utf16), "text": ""},
            {"range": Text::range(&text[..junk], first, first + 2, Enc::Utf16), "text": ""},
        ]),
    );
    let d = client.diagnostics(uri, Some(2))["diagnostics"].clone();
    assert_eq!(d[0]["code"], "mutex-defer-lock", "{d}");
    assert!(client.shutdown().success());
}

/// A `didChange` whose version is not above the document's is applied (stdio keeps the order),
/// logged, and withholds quick fixes; an exact repeat is ignored; a save brings the text back in
/// step from disk.
#[test]
fn stale_and_repeated_versions_are_logged_and_recovered_from_on_save() {
    let scratch = Scratch::new("versions");
    let path = scratch.write("a.go", MUTEX_SNIPPET);
    let uri = file_uri(&path);
    let line_of = |d: &Value| {
        d["diagnostics"][0]["range"]["start"]["line"]
            .as_i64()
            .unwrap()
    };
    let warning = |client: &mut LspClient, words: &str| {
        let words = words.to_string();
        client.wait_for(move |m| {
            m["method"] == "window/logMessage"
                && m["params"]["message"].as_str().unwrap().contains(&words)
        })
    };
    let mut client = utf16_client();
    client.open(&uri, 5, MUTEX_SNIPPET);
    let first = line_of(&client.diagnostics(&uri, Some(5)));
    let comment = json!([{"range": Text::range("", 0, 0, Enc::Utf16), "text": "// one\n"}]);
    // The same version again, with a new change: applied.
    client.change(&uri, 5, comment.clone());
    warning(&mut client, "not above 5");
    assert_eq!(line_of(&client.diagnostics(&uri, Some(5))), first + 1);
    assert!(
        code_actions(
            &mut client,
            &uri,
            MUTEX_SNIPPET,
            Some(&["quickfix"]),
            Enc::Utf16
        )
        .is_empty(),
        "quick fixes on a text that may differ from the editor's"
    );
    // That notification once more: a duplicate, ignored (the next change shows it).
    client.change(&uri, 5, comment.clone());
    warning(&mut client, "duplicate");
    client.change(&uri, 6, comment);
    assert_eq!(line_of(&client.diagnostics(&uri, Some(6))), first + 2);
    // The editor saves what it has (here a third comment line): goconc takes the saved text.
    let saved = format!("// one\n// one\n// three\n{MUTEX_SNIPPET}");
    std::fs::write(&path, &saved).unwrap();
    client.notify(
        "textDocument/didSave",
        json!({"textDocument": {"uri": uri}}),
    );
    warning(&mut client, "differed from the saved file");
    assert_eq!(line_of(&client.diagnostics(&uri, Some(6))), first + 3);
    assert!(
        !code_actions(&mut client, &uri, &saved, Some(&["quickfix"]), Enc::Utf16).is_empty(),
        "quick fixes are back once in step"
    );
    assert!(client.shutdown().success());
}

/// Two sibling files declare the same type (invalid Go, as while a file is being moved): every
/// server process must pick the same one, the one `goconc check` picks (the later path), so the
/// diagnostics of the open file do not change from one editor session to the next.
#[test]
fn duplicate_declarations_give_the_same_diagnostics_in_every_server_process() {
    let scratch = Scratch::new("duplicates");
    scratch.write(
        "a.go",
        "package p\n\nimport \"sync\"\n\ntype S struct {\n\tmu sync.Mutex\n\tn  int // guarded by mu\n}\n",
    );
    scratch.write("b.go", "package p\n\ntype S struct {\n\tn int\n}\n");
    let main_text = "package p\n\nfunc (s *S) Set(v int) {\n\ts.n = v\n}\n\n\
                     func (s *S) Get() int {\n\ts.mu.Lock()\n\tdefer s.mu.Unlock()\n\treturn s.n\n}\n";
    let main = scratch.write("c.go", main_text);
    let uri = file_uri(&main);
    // Each process hashes with its own keys: eight of them would disagree on a map's order.
    for run in 0..8 {
        let mut client = utf16_client();
        client.open(&uri, 1, main_text);
        let d = client.diagnostics(&uri, Some(1))["diagnostics"].clone();
        assert_eq!(
            d,
            json!([]),
            "server process {run}: b.go's S (no guard) wins"
        );
        assert!(client.shutdown().success());
    }
}

// ---------------------------------------------------------------------------------------------
// Workspace diagnostics, pull diagnostics, hover, commands, fix safety.

/// A file with one `mutex-defer-lock` finding, in package `pkg`.
fn defer_lock_file(pkg: &str) -> String {
    MUTEX_SNIPPET.replace("package p", &format!("package {pkg}"))
}

/// A module like a user's: two folders with findings, and what the background check must not
/// report (vendor, testdata, a generated file).
fn workspace_module(name: &str) -> Scratch {
    let scratch = Scratch::new(name);
    scratch.write("a.go", &defer_lock_file("p"));
    scratch.write("b.go", "package p\n\nfunc helper() int { return 1 }\n");
    scratch.write(
        "gen.go",
        &format!(
            "// Code generated by hand-written-test. DO NOT EDIT.\n\n{}",
            defer_lock_file("p").replace("func f()", "func g()")
        ),
    );
    for dir in ["sub", "vendor/v", "testdata"] {
        std::fs::create_dir_all(scratch.0.join(dir)).unwrap();
    }
    scratch.write("sub/c.go", &defer_lock_file("sub"));
    scratch.write("vendor/v/v.go", &defer_lock_file("v"));
    scratch.write("testdata/t.go", &defer_lock_file("t"));
    scratch
}

fn with_progress(mut caps: Value) -> Value {
    caps["window"] = json!({"workDoneProgress": true, "showDocument": {"support": true}});
    caps["workspace"]["applyEdit"] = json!(true);
    caps
}

/// A client whose server checks `folder` in the background (pages of rules go to `cache`).
fn workspace_client(folder: &Path, caps: Value, init: Value) -> LspClient {
    let cache = folder.join(".cache");
    LspClient::start_in(
        env!("CARGO_BIN_EXE_goconc"),
        caps,
        init,
        &[folder],
        &[("XDG_CACHE_HOME", cache.to_str().unwrap())],
    )
}

fn is_publication_of(m: &Value, uri: &str) -> bool {
    m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri
}

/// Waits for the `$/progress` end of the background check's round, returning its message.
fn round_end(client: &mut LspClient) -> String {
    let end =
        client.wait_for(|m| m["method"] == "$/progress" && m["params"]["value"]["kind"] == "end");
    end["params"]["value"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn the_background_check_lists_findings_of_files_never_opened() {
    let scratch = workspace_module("ws-list");
    let mut client = workspace_client(&scratch.0, with_progress(capabilities(&[])), Value::Null);
    let begin =
        client.wait_for(|m| m["method"] == "$/progress" && m["params"]["value"]["kind"] == "begin");
    assert_eq!(
        begin["params"]["value"]["title"],
        "goconc: checking the workspace"
    );
    assert!(client.server_requested("window/workDoneProgress/create"));
    let end = round_end(&mut client);
    assert_eq!(
        end, "4 files checked: 2 findings",
        "a.go, b.go, gen.go, sub/c.go"
    );
    for name in ["a.go", "sub/c.go"] {
        let path = scratch.0.join(name);
        let text = std::fs::read_to_string(&path).unwrap();
        let params = client.diagnostics(&file_uri(&path), None);
        assert!(params["version"].is_null(), "{params}");
        assert_eq!(
            diag_lines(&params["diagnostics"]),
            vec![(8, "mutex-defer-lock".to_string())]
        );
        assert_eq!(
            slice_of(&text, &params["diagnostics"][0]["range"], Enc::Utf16),
            "mu.Lock()"
        );
    }
    // The publications came before the end of the round: nothing of vendor, testdata, the
    // generated file, or the clean b.go.
    let others: Vec<Value> = client
        .queued()
        .into_iter()
        .filter(|m| m["method"] == "textDocument/publishDiagnostics")
        .collect();
    assert!(others.is_empty(), "{others:?}");
    assert!(client.shutdown().success());
}

#[test]
fn a_file_changed_on_disk_has_its_package_checked_again() {
    let scratch = workspace_module("ws-change");
    let mut client = workspace_client(&scratch.0, with_progress(capabilities(&[])), Value::Null);
    round_end(&mut client);
    let registrations = client.server_requests_of("client/registerCapability", 1);
    assert!(
        registrations[0].to_string().contains("**/*.go"),
        "{registrations:?}"
    );
    let a = file_uri(&scratch.0.join("a.go"));
    client.diagnostics(&a, None);

    // b.go gets a finding; a.go is deleted; a new folder appears.
    let b = scratch.write(
        "b.go",
        &defer_lock_file("p")
            .replace("var mu", "var mu2")
            .replace("mu.", "mu2."),
    );
    let b_uri = file_uri(&b);
    client.notify(
        "workspace/didChangeWatchedFiles",
        json!({"changes": [{"uri": b_uri, "type": 2}]}),
    );
    let d = client.diagnostics(&b_uri, None);
    assert_eq!(
        diag_lines(&d["diagnostics"]),
        vec![(8, "mutex-defer-lock".to_string())]
    );

    std::fs::remove_file(scratch.0.join("a.go")).unwrap();
    client.notify(
        "workspace/didChangeWatchedFiles",
        json!({"changes": [{"uri": a, "type": 3}]}),
    );
    assert_eq!(client.diagnostics(&a, None)["diagnostics"], json!([]));

    std::fs::create_dir_all(scratch.0.join("later")).unwrap();
    let later = scratch.write("later/d.go", &defer_lock_file("later"));
    client.notify(
        "workspace/didChangeWatchedFiles",
        json!({"changes": [{"uri": file_uri(&later), "type": 1}]}),
    );
    let d = client.diagnostics(&file_uri(&later), None);
    assert_eq!(
        diag_lines(&d["diagnostics"]),
        vec![(8, "mutex-defer-lock".to_string())]
    );

    // Folders deleted or moved in come as one event for the folder, as VS Code reports them.
    let folders = registrations[0]["params"]["registrations"][0]["registerOptions"]["watchers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["globPattern"] == "**/*")
        .cloned();
    assert_eq!(
        folders,
        Some(json!({"globPattern": "**/*", "kind": 5})),
        "{registrations:?}"
    );
    let c = file_uri(&scratch.0.join("sub/c.go"));
    client.diagnostics(&c, None);
    std::fs::remove_dir_all(scratch.0.join("sub")).unwrap();
    client.notify(
        "workspace/didChangeWatchedFiles",
        json!({"changes": [{"uri": file_uri(&scratch.0.join("sub")), "type": 3}]}),
    );
    assert_eq!(client.diagnostics(&c, None)["diagnostics"], json!([]));
    let outside = Scratch::new("ws-change-outside");
    outside.write("e.go", &defer_lock_file("moved"));
    std::fs::remove_file(outside.0.join("go.mod")).unwrap();
    std::fs::rename(&outside.0, scratch.0.join("moved")).unwrap();
    client.notify(
        "workspace/didChangeWatchedFiles",
        json!({"changes": [{"uri": file_uri(&scratch.0.join("moved")), "type": 1}]}),
    );
    let d = client.diagnostics(&file_uri(&scratch.0.join("moved/e.go")), None);
    assert_eq!(
        diag_lines(&d["diagnostics"]),
        vec![(8, "mutex-defer-lock".to_string())]
    );
    assert!(client.shutdown().success());
}

#[test]
fn without_a_file_watcher_saves_and_a_rescan_find_changes_on_disk() {
    let scratch = workspace_module("ws-nowatch");
    let mut caps = with_progress(capabilities(&[]));
    caps["workspace"]["didChangeWatchedFiles"] = json!({"dynamicRegistration": false});
    let cache = scratch.0.join(".cache");
    let mut client = LspClient::start_in(
        env!("CARGO_BIN_EXE_goconc"),
        caps,
        Value::Null,
        &[&scratch.0],
        &[
            ("XDG_CACHE_HOME", cache.to_str().unwrap()),
            ("GOCONC_RESCAN_SECONDS", "1"),
        ],
    );
    round_end(&mut client);
    assert!(!client
        .server_requests
        .lock()
        .unwrap()
        .iter()
        .any(|m| m == "client/registerCapability"));
    let a = file_uri(&scratch.0.join("a.go"));
    client.diagnostics(&a, None);
    let c = file_uri(&scratch.0.join("sub/c.go"));
    client.diagnostics(&c, None);

    // A save of an open file has its package checked again: a.go was fixed on disk meanwhile.
    let b = scratch.0.join("b.go");
    let b_uri = file_uri(&b);
    client.open(&b_uri, 1, &std::fs::read_to_string(&b).unwrap());
    client.diagnostics(&b_uri, Some(1));
    std::fs::write(scratch.0.join("a.go"), "package p\n").unwrap();
    client.notify(
        "textDocument/didSave",
        json!({"textDocument": {"uri": b_uri}}),
    );
    assert_eq!(client.diagnostics(&a, None)["diagnostics"], json!([]));

    // A change nobody tells the server of is found by looking (GOCONC_RESCAN_SECONDS).
    scratch.write("sub/c.go", "package sub\n");
    assert_eq!(client.diagnostics(&c, None)["diagnostics"], json!([]));
    assert!(client.shutdown().success());
}

#[test]
fn an_open_buffer_wins_over_its_file_on_disk_until_it_is_closed() {
    let scratch = workspace_module("ws-open");
    let mut client = workspace_client(&scratch.0, with_progress(capabilities(&[])), Value::Null);
    round_end(&mut client);
    let a = file_uri(&scratch.0.join("a.go"));
    assert_eq!(
        diag_lines(&client.diagnostics(&a, None)["diagnostics"]).len(),
        1
    );

    // The buffer is fixed, not saved.
    let fixed = defer_lock_file("p").replace("defer mu.Lock()", "defer mu.Unlock()");
    client.open(&a, 1, &fixed);
    assert_eq!(client.diagnostics(&a, Some(1))["diagnostics"], json!([]));

    // A change of b.go on disk has the package checked again: b.go's finding is published, and
    // a.go's file on disk, which is open, is not (it would come first, the files in order).
    let b = scratch.write(
        "b.go",
        &defer_lock_file("p")
            .replace("var mu", "var mu2")
            .replace("mu.", "mu2."),
    );
    let b_uri = file_uri(&b);
    client.notify(
        "workspace/didChangeWatchedFiles",
        json!({"changes": [{"uri": b_uri, "type": 2}]}),
    );
    client.diagnostics(&b_uri, None);
    let from_disk: Vec<Value> = client
        .queued()
        .into_iter()
        .filter(|m| is_publication_of(m, &a) && m["params"]["version"].is_null())
        .collect();
    assert!(from_disk.is_empty(), "{from_disk:?}");

    // Closed without saving: the file on disk counts again.
    client.close(&a);
    let d = client.wait_for(|m| is_publication_of(m, &a) && m["params"]["version"].is_null())
        ["params"]
        .clone();
    assert_eq!(
        diag_lines(&d["diagnostics"]),
        vec![(8, "mutex-defer-lock".to_string())]
    );
    assert!(client.shutdown().success());
}

#[test]
fn workspace_diagnostics_can_be_limited_and_turned_off() {
    let scratch = workspace_module("ws-settings");
    let mut client = workspace_client(
        &scratch.0,
        with_progress(capabilities(&[])),
        json!({"workspaceDiagnostics": {"maxFiles": 3}}),
    );
    let end = round_end(&mut client);
    assert_eq!(
        end,
        "3 files checked: 1 finding; 1 more left out (goconc.workspaceDiagnostics.maxFiles)"
    );
    let a = file_uri(&scratch.0.join("a.go"));
    assert_eq!(
        diag_lines(&client.diagnostics(&a, None)["diagnostics"]).len(),
        1
    );
    let c = file_uri(&scratch.0.join("sub/c.go"));
    assert!(!client.queued().iter().any(|m| is_publication_of(m, &c)));

    // Off: what was published is withdrawn.
    *client.configuration.lock().unwrap() = json!({"workspaceDiagnostics": false});
    client.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": null}),
    );
    assert_eq!(client.diagnostics(&a, None)["diagnostics"], json!([]));

    // On again, without a limit: both folders.
    *client.configuration.lock().unwrap() = json!({"workspaceDiagnostics": {"enabled": true}});
    client.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": null}),
    );
    assert_eq!(round_end(&mut client), "4 files checked: 2 findings");
    assert_eq!(
        diag_lines(&client.diagnostics(&c, None)["diagnostics"]).len(),
        1
    );
    assert!(client.shutdown().success());
}

/// Capabilities of a client that pulls diagnostics (LSP 3.17) and can be told to pull again.
fn pull_capabilities() -> Value {
    let mut caps = with_progress(capabilities(&[]));
    caps["textDocument"]["diagnostic"] = json!({"dynamicRegistration": false});
    caps["workspace"]["diagnostics"] = json!({"refreshSupport": true});
    caps
}

/// `workspace/diagnostic` until the reports of `uris` have come, as VS Code asks: again with
/// the result ids it has. Returns the reports by URI and the result ids.
fn pull_workspace_until(
    client: &mut LspClient,
    known: &mut Vec<Value>,
    uris: &[&str],
) -> std::collections::HashMap<String, Value> {
    let mut got = std::collections::HashMap::new();
    while !uris.iter().all(|u| got.contains_key(*u)) {
        let report = client.request(
            "workspace/diagnostic",
            json!({"identifier": "goconc", "previousResultIds": known.clone()}),
        );
        for item in report["items"].as_array().unwrap() {
            let uri = item["uri"].as_str().unwrap().to_string();
            known.retain(|k| k["uri"] != uri.as_str());
            known.push(json!({"uri": uri, "value": item["resultId"]}));
            got.insert(uri, item.clone());
        }
    }
    got
}

#[test]
fn a_client_that_pulls_is_answered_and_never_pushed_to() {
    let scratch = workspace_module("ws-pull");
    scratch.write(
        "types.go",
        "package p\n\nimport \"sync\"\n\ntype S struct {\n\tmu sync.Mutex\n}\n",
    );
    let main_text = "package p\n\nfunc (s *S) f() {\n\ts.mu.Lock()\n\tdefer s.mu.Lock()\n}\n";
    let main = scratch.write("main.go", main_text);
    let mut client = workspace_client(&scratch.0, pull_capabilities(), Value::Null);
    let provider = &client.init_result["capabilities"]["diagnosticProvider"];
    assert_eq!(
        provider,
        &json!({"identifier": "goconc", "interFileDependencies": true, "workspaceDiagnostics": true}),
    );

    // The workspace: files never opened.
    let a = file_uri(&scratch.0.join("a.go"));
    let c = file_uri(&scratch.0.join("sub/c.go"));
    let mut known = Vec::new();
    let got = pull_workspace_until(&mut client, &mut known, &[&a, &c]);
    assert_eq!(
        diag_lines(&got[&a]["items"]),
        vec![(8, "mutex-defer-lock".to_string())]
    );
    assert!(got[&a]["version"].is_null());

    // An open document: pulled once its text is analysed; unchanged when asked again.
    let main_uri = file_uri(&main);
    client.open(&main_uri, 1, main_text);
    let pull = |client: &mut LspClient, previous: Value| {
        client.request(
            "textDocument/diagnostic",
            json!({"textDocument": {"uri": main_uri}, "previousResultId": previous}),
        )
    };
    let first = pull(&mut client, Value::Null);
    assert_eq!(first["kind"], "full");
    assert_eq!(
        diag_lines(&first["items"]),
        vec![(4, "mutex-defer-lock".to_string())]
    );
    let again = pull(&mut client, first["resultId"].clone());
    assert_eq!(
        again,
        json!({"kind": "unchanged", "resultId": first["resultId"]})
    );

    // A sibling changes on disk: the client is asked to pull again, and gets the new result.
    let types = scratch.write(
        "types.go",
        "package p\n\ntype S struct {\n\tmu interface{ Lock() }\n}\n",
    );
    client.notify(
        "workspace/didChangeWatchedFiles",
        json!({"changes": [{"uri": file_uri(&types), "type": 2}]}),
    );
    client.server_requests_of("workspace/diagnostic/refresh", 1);
    assert!(client.server_requested("workspace/diagnostic/refresh"));
    let after = pull(&mut client, first["resultId"].clone());
    assert_eq!(after["kind"], "full", "{after}");
    assert_eq!(after["items"], json!([]));

    // Everything known: the workspace answer waits for news, here sub/c.go fixed on disk.
    let held = client.send_request(
        "workspace/diagnostic",
        json!({"identifier": "goconc", "previousResultIds": known.clone()}),
    );
    assert!(
        client
            .try_wait_for(&|m| m["id"] == held, Duration::from_millis(500))
            .is_none(),
        "answered with nothing new"
    );
    let fixed_c = scratch.write("sub/c.go", "package sub\n");
    client.notify(
        "workspace/didChangeWatchedFiles",
        json!({"changes": [{"uri": file_uri(&fixed_c), "type": 2}]}),
    );
    let answer = client.wait_response(held);
    let items = answer["result"]["items"].as_array().unwrap();
    let c_report = items
        .iter()
        .find(|i| i["uri"] == c.as_str())
        .expect("sub/c.go");
    assert_eq!(c_report["items"], json!([]));

    let pushed: Vec<Value> = client
        .queued()
        .into_iter()
        .filter(|m| m["method"] == "textDocument/publishDiagnostics")
        .collect();
    assert!(
        pushed.is_empty(),
        "a pulling client was pushed to: {pushed:?}"
    );

    // A held answer does not hold up the end: shutdown is answered and the server exits.
    for item in items {
        known.retain(|k| k["uri"] != item["uri"]);
        known.push(json!({"uri": item["uri"], "value": item["resultId"]}));
    }
    let held = client.send_request(
        "workspace/diagnostic",
        json!({"identifier": "goconc", "previousResultIds": known}),
    );
    assert!(
        client
            .try_wait_for(&|m| m["id"] == held, Duration::from_millis(300))
            .is_none(),
        "answered with nothing new"
    );
    assert!(client.shutdown().success());
}

#[test]
fn hover_on_a_finding_explains_its_rule() {
    let mut client = utf16_client();
    let uri = "untitled:hover.go";
    client.open(uri, 1, MUTEX_SNIPPET);
    let d = client.diagnostics(uri, Some(1))["diagnostics"][0].clone();
    assert_eq!(client.init_result["capabilities"]["hoverProvider"], true);
    let at = Text::offset(MUTEX_SNIPPET, &d["range"]["start"], Enc::Utf16) + 3;
    let hover = client.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri}, "position": Text::position(MUTEX_SNIPPET, at, Enc::Utf16)}),
    );
    assert_eq!(hover["contents"]["kind"], "markdown");
    let text = hover["contents"]["value"].as_str().unwrap();
    for piece in [
        "**goconc** `mutex-defer-lock` · error",
        "`defer mu.Lock()` right after `mu.Lock()`: the deferred call was meant to be `Unlock`.",
        "#### Why it matters\n\nA slip of the fingers",
        "#### Fix\n\nThe quick fix renames the deferred call",
        "(https://github.com/goconc/goconc/blob/main/docs/rules/mutex-defer-lock.md)",
    ] {
        assert!(text.contains(piece), "{piece:?} not in:\n{text}");
    }
    assert!(!text.contains("## When it stays silent"), "{text}");
    assert_eq!(hover["range"], d["range"]);
    // Where there is no finding, no hover.
    let nothing = client.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri}, "position": {"line": 0, "character": 2}}),
    );
    assert!(nothing.is_null(), "{nothing}");
    assert!(client.shutdown().success());
}

/// A safe fix (`mutex-defer-lock`) and an unsafe one (`mutex-defer-in-loop`) in one file.
const SAFE_AND_UNSAFE: &str = "package p

import \"sync\"

var mu sync.Mutex

func f() {
	mu.Lock()
	defer mu.Lock()
}

func g(keys []string, m map[string]int) {
	for _, k := range keys {
		mu.Lock()
		defer mu.Unlock()
		delete(m, k)
	}
}
";

#[test]
fn fix_all_applies_safe_fixes_and_unsafe_ones_are_offered_one_by_one() {
    let mut client = utf16_client();
    let uri = "untitled:safety.go";
    client.open(uri, 1, SAFE_AND_UNSAFE);
    let diags = client.diagnostics(uri, Some(1))["diagnostics"].clone();
    assert_eq!(
        diag_lines(&diags),
        vec![
            (8, "mutex-defer-lock".to_string()),
            (14, "mutex-defer-in-loop".to_string())
        ]
    );
    let fix_all = code_actions(
        &mut client,
        uri,
        SAFE_AND_UNSAFE,
        Some(&["source.fixAll"]),
        Enc::Utf16,
    );
    let fixed = Text::apply(
        SAFE_AND_UNSAFE,
        &Text::workspace_edits(&fix_all[0]["edit"], uri),
        Enc::Utf16,
    );
    assert_eq!(
        fixed,
        SAFE_AND_UNSAFE.replace("defer mu.Lock()", "defer mu.Unlock()")
    );

    let quick = code_actions(
        &mut client,
        uri,
        SAFE_AND_UNSAFE,
        Some(&["quickfix"]),
        Enc::Utf16,
    );
    let titles: Vec<(&str, bool)> = quick
        .iter()
        .map(|a| (a["title"].as_str().unwrap(), a["isPreferred"] == true))
        .collect();
    assert!(
        titles.contains(&(
            format!("Move the loop body into a function literal{UNSAFE}").as_str(),
            false
        )),
        "{titles:?}"
    );
    assert!(
        titles.contains(&("Change to `defer mu.Unlock()`", true)),
        "{titles:?}"
    );
    let docs = quick
        .iter()
        .find(|a| a["title"] == "Show documentation for mutex-defer-in-loop")
        .expect("a documentation action");
    assert_eq!(
        docs["command"],
        json!({"title": "Show documentation for mutex-defer-in-loop", "command": "goconc.explain", "arguments": ["mutex-defer-in-loop"]})
    );
    // The unsafe fix, chosen by hand, applies.
    let unsafe_fix = quick
        .iter()
        .find(|a| a["title"].as_str().unwrap().ends_with(UNSAFE))
        .unwrap();
    let by_hand = Text::apply(
        SAFE_AND_UNSAFE,
        &Text::workspace_edits(&unsafe_fix["edit"], uri),
        Enc::Utf16,
    );
    assert!(by_hand.contains("func() {"), "{by_hand}");
    assert!(client.shutdown().success());
}

#[test]
fn commands_fix_all_in_a_file_and_explain_a_rule() {
    let scratch = Scratch::new("commands");
    let path = scratch.write("safety.go", SAFE_AND_UNSAFE);
    let uri = file_uri(&path);
    let mut client = workspace_client(
        &scratch.0,
        with_progress(capabilities(&[])),
        json!({"workspaceDiagnostics": false}),
    );
    assert_eq!(
        client.init_result["capabilities"]["executeCommandProvider"]["commands"],
        json!(["goconc.fixAll", "goconc.explain"])
    );
    client.open(&uri, 1, SAFE_AND_UNSAFE);
    client.diagnostics(&uri, Some(1));
    let answer = client.request(
        "workspace/executeCommand",
        json!({"command": "goconc.fixAll", "arguments": [uri]}),
    );
    assert_eq!(answer, json!({"applied": true, "fixes": 1}));
    let applied = client.server_requests_of("workspace/applyEdit", 1);
    let edits = Text::workspace_edits(&applied[0]["params"]["edit"], &uri);
    assert_eq!(
        Text::apply(SAFE_AND_UNSAFE, &edits, Enc::Utf16),
        SAFE_AND_UNSAFE.replace("defer mu.Lock()", "defer mu.Unlock()")
    );

    let page = client.request(
        "workspace/executeCommand",
        json!({"command": "goconc.explain", "arguments": ["mutex-defer-lock"]}),
    );
    let page = page.as_str().unwrap();
    assert!(page.starts_with("# mutex-defer-lock\n"), "{page}");
    assert!(page.contains("## When it stays silent"), "{page}");
    let shown = client.server_requests_of("window/showDocument", 1);
    let shown_uri = shown[0]["params"]["uri"].as_str().unwrap();
    assert!(shown_uri.ends_with("/mutex-defer-lock.md"), "{shown_uri}");
    let shown_path = shown_uri.strip_prefix("file://").unwrap();
    assert!(
        shown_path.starts_with(scratch.0.join(".cache").to_str().unwrap()),
        "{shown_path}"
    );
    assert_eq!(std::fs::read_to_string(shown_path).unwrap(), page);

    let id = client.send_request(
        "workspace/executeCommand",
        json!({"command": "goconc.explain", "arguments": ["mutex-defer-lok"]}),
    );
    let error = client.wait_response(id)["error"].clone();
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("did you mean `mutex-defer-lock`?"),
        "{error}"
    );
    assert!(client.shutdown().success());

    // A client that cannot show documents gets the page as a message.
    let mut client = utf16_client();
    client.request(
        "workspace/executeCommand",
        json!({"command": "goconc.explain", "arguments": [{"rule": "unused-suppression"}]}),
    );
    let message = client.wait_for(|m| m["method"] == "window/showMessage");
    assert!(message["params"]["message"]
        .as_str()
        .unwrap()
        .starts_with("# unused-suppression\n"));
    assert!(client.shutdown().success());
}

#[test]
fn settings_name_the_suppression_rules_too() {
    let mut client = LspClient::start_capturing_log(
        capabilities(&[]),
        json!({"rules": {"suppression-without-reason": "error", "unused-suppression": "warning"}}),
        "warn",
    );
    let uri = "untitled:suppress.go";
    let text = "package p\n\nimport \"sync\"\n\nvar mu sync.Mutex\n\nfunc f() {\n\tmu.Lock() //nolint:goconc\n\tdefer mu.Lock()\n\tmu.Unlock() //goconc:ignore mutex-defer-lock not here\n}\n";
    client.open(uri, 1, text);
    let d = client.diagnostics(uri, Some(1))["diagnostics"].clone();
    let seen: Vec<(String, u64)> = d
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap().to_string(),
                d["severity"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        seen.contains(&("suppression-without-reason".to_string(), 1)),
        "{seen:?}"
    );
    assert!(
        seen.contains(&("unused-suppression".to_string(), 2)),
        "{seen:?}"
    );
    assert!(
        !client.wait_log(|l| l.contains("setting rules"), Duration::from_millis(200)),
        "a setting was refused"
    );
    assert!(client.shutdown().success());
}

#[test]
fn a_client_that_could_pull_can_ask_to_be_pushed_to() {
    let mut client = LspClient::start(pull_capabilities(), json!({"pullDiagnostics": false}));
    assert!(client.init_result["capabilities"]
        .get("diagnosticProvider")
        .is_none_or(Value::is_null));
    client.open("untitled:push.go", 1, MUTEX_SNIPPET);
    let d = client.diagnostics("untitled:push.go", Some(1));
    assert_eq!(d["diagnostics"][0]["code"], "mutex-defer-lock");
    assert!(client.shutdown().success());
}

/// The nice value of each of a process's threads, by thread name (Linux: `/proc/PID/task`).
#[cfg(target_os = "linux")]
fn thread_nice_values(pid: u32) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let (Ok(name), Ok(stat)) = (
            std::fs::read_to_string(task.path().join("comm")),
            std::fs::read_to_string(task.path().join("stat")),
        ) else {
            continue; // the thread ended meanwhile
        };
        // The fields after the name in parentheses start at field 3; nice is field 19.
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        let nice = after_name.split(' ').nth(19 - 3).unwrap().parse().unwrap();
        out.push((name.trim().to_string(), nice));
    }
    out
}

#[cfg(target_os = "linux")]
#[test]
fn the_background_check_runs_on_its_own_bounded_threads_at_the_lowest_priority() {
    let scratch = workspace_module("ws-threads");
    let mut client = workspace_client(
        &scratch.0,
        with_progress(capabilities(&[])),
        json!({"workspaceDiagnostics": {"threads": 2}}),
    );
    assert_eq!(round_end(&mut client), "4 files checked: 2 findings");
    let threads = thread_nice_values(client.pid());
    // Linux keeps 15 bytes of a thread's name: "goconc-background-N" is "goconc-backgrou".
    let background: Vec<i64> = threads
        .iter()
        .filter(|(name, _)| name.starts_with("goconc-backgrou"))
        .map(|(_, nice)| *nice)
        .collect();
    assert_eq!(background, [19, 19], "{threads:?}");
    // The rest of the server (its handlers, the open documents' analyses) keeps its priority.
    assert!(
        threads
            .iter()
            .any(|(name, nice)| !name.starts_with("goconc-backgrou") && *nice < 19),
        "{threads:?}"
    );
    assert!(client.shutdown().success());
}

#[test]
fn a_client_without_progress_support_gets_findings_and_no_progress() {
    let scratch = workspace_module("ws-noprogress");
    let mut client = workspace_client(&scratch.0, capabilities(&[]), Value::Null);
    let a = file_uri(&scratch.0.join("a.go"));
    let c = file_uri(&scratch.0.join("sub/c.go"));
    assert_eq!(
        diag_lines(&client.diagnostics(&a, None)["diagnostics"]).len(),
        1
    );
    assert_eq!(
        diag_lines(&client.diagnostics(&c, None)["diagnostics"]).len(),
        1
    );
    // The round is over once both folders are published; give a late message a moment.
    std::thread::sleep(Duration::from_millis(300));
    let progress: Vec<Value> = client
        .queued()
        .into_iter()
        .filter(|m| m["method"] == "$/progress")
        .collect();
    assert!(progress.is_empty(), "{progress:?}");
    let requests = client.server_requests.lock().unwrap().clone();
    assert!(
        !requests
            .iter()
            .any(|m| m == "window/workDoneProgress/create"),
        "{requests:?}"
    );
    assert!(client.shutdown().success());
}

/// The background check merges what `goconc check` merges: a Linux file sees the Linux
/// declaration of a type declared per GOOS, never the Windows one.
#[test]
fn the_background_check_sees_each_file_with_its_own_build_configuration() {
    let scratch = Scratch::new("ws-per-goos");
    let windows = scratch.write(
        "a_windows.go",
        "package p\n\nimport \"sync\"\n\ntype A struct {\n\tmu sync.Mutex\n\tn  int\n}\n\nfunc (a A) N() int { return a.n }\n",
    );
    scratch.write(
        "a_linux.go",
        "package p\n\ntype A struct {\n\tn int\n}\n\nfunc (a A) N() int { return a.n }\n",
    );
    let user = scratch.write(
        "use_linux.go",
        "package p\n\nfunc use(a A) int { return a.n }\n",
    );
    let mut client = workspace_client(&scratch.0, with_progress(capabilities(&[])), Value::Null);
    let d = client.diagnostics(&file_uri(&windows), None)["diagnostics"].clone();
    assert_eq!(d[0]["code"], "sync-value-copied", "{d}");
    assert_eq!(round_end(&mut client), "3 files checked: 1 finding");
    let user_uri = file_uri(&user);
    let about_user: Vec<Value> = client
        .queued()
        .into_iter()
        .filter(|m| is_publication_of(m, &user_uri))
        .collect();
    assert!(
        about_user.is_empty(),
        "the Windows A is not the Linux A: {about_user:?}"
    );
    assert!(client.shutdown().success());
}

/// A module of two packages: `app` calls into `helper`, whose summaries decide its findings (a
/// test helper that can stop the goroutine, a function that blocks).
fn two_package_module(name: &str) -> Scratch {
    let scratch = Scratch::new(name);
    for dir in ["helper", "app"] {
        std::fs::create_dir_all(scratch.0.join(dir)).unwrap();
    }
    scratch.write(
        "helper/helper.go",
        "package helper\n\nimport (\n\t\"net/http\"\n\t\"testing\"\n)\n\n\
         // Must stops the test on an error.\nfunc Must(t testing.TB, err error) {\n\tif err != nil {\n\t\tt.Fatalf(\"%v\", err)\n\t}\n}\n\n\
         // Fetch waits for the network.\nfunc Fetch(url string) error {\n\t_, err := http.Get(url)\n\treturn err\n}\n",
    );
    scratch.write(
        "app/app.go",
        "package app\n\nimport (\n\t\"sync\"\n\n\t\"scratch/helper\"\n)\n\n\
         type Cache struct {\n\tmu   sync.Mutex\n\tdata map[string]string\n}\n\n\
         func (c *Cache) Get(k string) string {\n\tc.mu.Lock()\n\tdefer c.mu.Unlock()\n\treturn c.data[k]\n}\n\n\
         func (c *Cache) Check(url string) error {\n\tc.mu.Lock()\n\tdefer c.mu.Unlock()\n\treturn helper.Fetch(url)\n}\n",
    );
    scratch.write(
        "app/app_test.go",
        "package app\n\nimport (\n\t\"errors\"\n\t\"sync\"\n\t\"testing\"\n\n\t\"scratch/helper\"\n)\n\n\
         func TestWork(t *testing.T) {\n\tvar wg sync.WaitGroup\n\twg.Add(1)\n\tgo func() {\n\t\thelper.Must(t, errors.New(\"x\"))\n\t\twg.Done()\n\t}()\n\twg.Wait()\n}\n",
    );
    scratch
}

/// (line from 0, rule, message) of `goconc check --format json` for one file of a scratch module.
fn cli_findings(scratch: &Scratch, args: &[&str], file: &str) -> Vec<(u64, String, String)> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_goconc"))
        .args(["check", "--format", "json", "--fail-on", "never"])
        .args(args)
        .current_dir(&scratch.0)
        .output()
        .unwrap();
    let findings: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut lines: Vec<(u64, String, String)> = findings
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["path"].as_str().unwrap().trim_start_matches("./") == file)
        .map(|f| {
            (
                f["range"]["start"]["line"].as_u64().unwrap() - 1,
                f["rule"].as_str().unwrap().to_string(),
                f["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn the_server_and_the_command_line_agree_across_the_packages_of_a_module() {
    let scratch = two_package_module("ws-xpkg");
    // The command line, naming the importing folder alone or the whole module.
    let expected_test = vec![(15, "waitgroup-done-not-deferred".to_string())];
    let expected_app = vec![(22, "mutex-held-blocking".to_string())];
    for args in [&["app"][..], &["./..."][..]] {
        let in_test = cli_findings(&scratch, args, "app/app_test.go");
        assert_eq!(
            in_test
                .iter()
                .map(|(l, r, _)| (*l, r.clone()))
                .collect::<Vec<_>>(),
            expected_test,
            "{args:?}"
        );
        assert!(
            in_test[0]
                .2
                .contains("`helper.Must` on line 15 can end the goroutine with `t.Fatalf`"),
            "{in_test:?}"
        );
        let in_app = cli_findings(&scratch, args, "app/app.go");
        assert_eq!(
            in_app
                .iter()
                .map(|(l, r, _)| (*l, r.clone()))
                .collect::<Vec<_>>(),
            expected_app,
            "{args:?}"
        );
    }
    // The server: the background check of the closed file, the open document.
    let mut client = workspace_client(&scratch.0, with_progress(capabilities(&[])), Value::Null);
    round_end(&mut client);
    let app = file_uri(&scratch.0.join("app/app.go"));
    assert_eq!(
        diag_lines(&client.diagnostics(&app, None)["diagnostics"]),
        expected_app
    );
    let test_path = scratch.0.join("app/app_test.go");
    let test_uri = file_uri(&test_path);
    let test_text = std::fs::read_to_string(&test_path).unwrap();
    client.open(&test_uri, 1, &test_text);
    let published = client.diagnostics(&test_uri, Some(1));
    assert_eq!(diag_lines(&published["diagnostics"]), expected_test);
    assert!(
        published["diagnostics"][0]["message"]
            .as_str()
            .unwrap()
            .contains("`helper.Must` on line 15 can end the goroutine with `t.Fatalf`"),
        "{published}"
    );

    // An open buffer of the helper wins over its file on disk: once `Must` only reports, the
    // test's next analysis no longer blames it (only a panic is left to skip `Done`: a hint).
    let helper = file_uri(&scratch.0.join("helper/helper.go"));
    let helper_text = std::fs::read_to_string(scratch.0.join("helper/helper.go")).unwrap();
    client.open(&helper, 1, &helper_text.replace("t.Fatalf", "t.Errorf"));
    client.diagnostics(&helper, Some(1));
    client.change(&test_uri, 2, json!([{"text": test_text.clone() + "\n"}]));
    let after = client.diagnostics(&test_uri, Some(2));
    let messages: Vec<&str> = after["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["message"].as_str().unwrap())
        .collect();
    assert!(
        messages.iter().all(|m| !m.contains("helper.Must")),
        "{messages:?}"
    );
    assert!(client.shutdown().success());
}

/// A ladder of 24 rungs: each `p{i}` imports two packages that both import `p{i+1}`, and the
/// last waits on the network. `p0` calls down the ladder under a lock. The server follows the
/// imports as deep as the command line does (48 packages; it stopped at 16) and makes each
/// package's exports once, not once per path (2^24 paths lead to the bottom).
#[test]
fn the_server_follows_imports_as_deep_as_the_command_line() {
    const RUNGS: usize = 24;
    let scratch = Scratch::new("ws-ladder");
    for i in 0..=RUNGS {
        std::fs::create_dir_all(scratch.0.join(format!("p{i}"))).unwrap();
        if i == RUNGS {
            scratch.write(
                &format!("p{i}/p.go"),
                &format!(
                    "package p{i}\n\nimport \"net/http\"\n\n\
                     func F() error {{\n\t_, err := http.Get(\"x\")\n\treturn err\n}}\n"
                ),
            );
            continue;
        }
        scratch.write(
            &format!("p{i}/p.go"),
            &format!(
                "package p{i}\n\nimport (\n\t\"scratch/p{i}/left\"\n\t\"scratch/p{i}/right\"\n)\n\n\
                 func F() error {{\n\tif err := left.F(); err != nil {{\n\t\treturn err\n\t}}\n\
                 \treturn right.F()\n}}\n"
            ),
        );
        for side in ["left", "right"] {
            std::fs::create_dir_all(scratch.0.join(format!("p{i}/{side}"))).unwrap();
            scratch.write(
                &format!("p{i}/{side}/{side}.go"),
                &format!(
                    "package {side}\n\nimport \"scratch/p{next}\"\n\n\
                     func F() error {{ return p{next}.F() }}\n",
                    next = i + 1
                ),
            );
        }
    }
    let use_path = scratch.write(
        "p0/use.go",
        "package p0\n\nimport \"sync\"\n\nvar mu sync.Mutex\n\n\
         func G() error {\n\tmu.Lock()\n\tdefer mu.Unlock()\n\treturn F()\n}\n",
    );
    let expected = vec![(9, "mutex-held-blocking".to_string())];
    let from_cli = cli_findings(&scratch, &["p0"], "p0/use.go");
    assert_eq!(
        from_cli
            .iter()
            .map(|(l, r, _)| (*l, r.clone()))
            .collect::<Vec<_>>(),
        expected
    );
    let mut client = utf16_client();
    let uri = file_uri(&use_path);
    client.open(&uri, 1, &std::fs::read_to_string(&use_path).unwrap());
    let published = client.diagnostics(&uri, Some(1));
    assert_eq!(diag_lines(&published["diagnostics"]), expected);
    assert_eq!(
        published["diagnostics"][0]["message"].as_str(),
        Some(from_cli[0].2.as_str())
    );
    assert!(client.shutdown().success());
}

/// A folder first read only for what it exports (a file importing it was opened) is read in
/// full once one of its own files is opened: the unlocked read in `len.go` is judged by the
/// locked writes of its sibling `locked.go`, as the command line judges it.
#[test]
fn a_package_read_for_its_exports_is_read_in_full_when_its_file_is_opened() {
    let scratch = Scratch::new("exports-then-full");
    for dir in ["lib", "app"] {
        std::fs::create_dir_all(scratch.0.join(dir)).unwrap();
    }
    scratch.write(
        "lib/locked.go",
        "package lib\n\nimport \"sync\"\n\ntype Cache struct {\n\tmu    sync.Mutex\n\titems map[string]string\n}\n\n\
         func (c *Cache) Set(k, v string) {\n\tc.mu.Lock()\n\tdefer c.mu.Unlock()\n\tc.items[k] = v\n}\n\n\
         func (c *Cache) Delete(k string) {\n\tc.mu.Lock()\n\tdelete(c.items, k)\n\tc.mu.Unlock()\n}\n",
    );
    let len_path = scratch.write(
        "lib/len.go",
        "package lib\n\nfunc (c *Cache) Len() int {\n\treturn len(c.items)\n}\n",
    );
    let app_path = scratch.write(
        "app/app.go",
        "package app\n\nimport \"scratch/lib\"\n\nfunc Fill(c *lib.Cache) {\n\tc.Set(\"a\", \"b\")\n}\n",
    );
    let expected: Vec<(u64, String)> = cli_findings(&scratch, &["lib"], "lib/len.go")
        .into_iter()
        .map(|(l, r, _)| (l, r))
        .collect();
    assert_eq!(expected, [(3, "guarded-field-unlocked".to_string())]);
    let mut client = utf16_client();
    let app = file_uri(&app_path);
    client.open(&app, 1, &std::fs::read_to_string(&app_path).unwrap());
    client.diagnostics(&app, Some(1));
    let len = file_uri(&len_path);
    client.open(&len, 1, &std::fs::read_to_string(&len_path).unwrap());
    assert_eq!(
        diag_lines(&client.diagnostics(&len, Some(1))["diagnostics"]),
        expected
    );
    assert!(client.shutdown().success());
}
