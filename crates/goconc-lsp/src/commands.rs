//! `workspace/executeCommand`: what the server can be asked to do beyond answering requests.
//!
//! - `goconc.fixAll` `[uri]` (or `[{"uri": …}]`): applies the safe fixes of an open document
//!   through `workspace/applyEdit`, as `source.fixAll.goconc` does; answers
//!   `{"applied": bool, "fixes": N}`.
//! - `goconc.explain` `[ruleId]` (or `[{"rule": …}]`): answers the rule's page (Markdown, as
//!   `goconc explain` prints it) and shows it: written to a file and opened with
//!   `window/showDocument` where the client can (VS Code, Neovim 0.10+, Helix), else sent as a
//!   `window/showMessage`. The "Show documentation for RULE" code action runs it.

use std::path::{Path, PathBuf};

use serde_json::Value;
use tower_lsp_server::ls_types::Uri;

pub const FIX_ALL: &str = "goconc.fixAll";
pub const EXPLAIN: &str = "goconc.explain";

/// The commands the server announces in `executeCommandProvider`.
pub const ALL: [&str; 2] = [FIX_ALL, EXPLAIN];

/// The one argument of a command: a string, or an object holding it under `key`.
fn argument<'a>(arguments: &'a [Value], key: &str) -> Option<&'a str> {
    match arguments.first()? {
        Value::String(s) => Some(s),
        Value::Object(o) => o.get(key).and_then(Value::as_str),
        _ => None,
    }
}

/// The document `goconc.fixAll` is about.
pub fn fix_all_target(arguments: &[Value]) -> Result<Uri, String> {
    let uri = argument(arguments, "uri").ok_or_else(|| {
        format!("{FIX_ALL} takes the document's URI: arguments [\"file:///…/x.go\"]")
    })?;
    uri.parse()
        .map_err(|_| format!("{FIX_ALL}: `{uri}` is not a URI"))
}

/// The rule `goconc.explain` is about.
pub fn explain_target(arguments: &[Value]) -> Result<&str, String> {
    argument(arguments, "rule").ok_or_else(|| {
        format!("{EXPLAIN} takes a rule id: arguments [\"mutex-defer-lock\"] (`goconc rules` lists them)")
    })
}

/// Where rule pages are written for the editor to open: the user's cache folder (XDG, then
/// `%LOCALAPPDATA%`, then `~/.cache`), else the temporary folder; one folder per goconc version,
/// so a page always matches the server that wrote it.
fn pages_dir() -> PathBuf {
    let absolute = |var: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    let base = absolute("XDG_CACHE_HOME")
        .or_else(|| absolute("LOCALAPPDATA"))
        .or_else(|| absolute("HOME").map(|home| home.join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("goconc")
        .join("rule-pages")
        .join(env!("CARGO_PKG_VERSION"))
}

/// Writes a rule's page as `ID.md` (atomically: an editor never opens half a page) and returns
/// its path.
pub fn write_page(id: &str, page: &str) -> Result<PathBuf, String> {
    write_page_in(&pages_dir(), id, page)
}

fn write_page_in(dir: &Path, id: &str, page: &str) -> Result<PathBuf, String> {
    let failed =
        |e: std::io::Error| format!("cannot write the page of {id} in {}: {e}", dir.display());
    std::fs::create_dir_all(dir).map_err(failed)?;
    let path = dir.join(format!("{id}.md"));
    let partial = dir.join(format!(".{id}.md.{}", std::process::id()));
    std::fs::write(&partial, page).map_err(failed)?;
    std::fs::rename(&partial, &path).map_err(|e| {
        let _ = std::fs::remove_file(&partial);
        failed(e)
    })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arguments_are_a_string_or_an_object() {
        assert_eq!(
            fix_all_target(&[json!("file:///a/b.go")]).unwrap().as_str(),
            "file:///a/b.go"
        );
        assert_eq!(
            fix_all_target(&[json!({"uri": "file:///a/b.go"})])
                .unwrap()
                .as_str(),
            "file:///a/b.go"
        );
        assert!(fix_all_target(&[]).unwrap_err().contains("arguments"));
        assert_eq!(explain_target(&[json!({"rule": "x"})]), Ok("x"));
        assert!(explain_target(&[json!(3)]).is_err());
    }

    #[test]
    fn pages_are_written_whole() {
        let dir = std::env::temp_dir().join(format!("goconc-pages-{}", std::process::id()));
        let path = write_page_in(&dir, "mutex-defer-lock", "# mutex-defer-lock\n").unwrap();
        assert_eq!(path, dir.join("mutex-defer-lock.md"));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "# mutex-defer-lock\n"
        );
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
