//! A file's header, read alone: its package clause and imports, which is all an index of a
//! module needs to find what a folder imports, without parsing the rest of the file.

use goconc_syntax::SourceFile;

use crate::package::FileDecls;

/// Where a file's header ends: before its first top-level declaration that is not an import
/// (a line starting `func`, `type`, `var` or `const`), or at its end. A line inside a comment
/// or a raw string is no declaration (a package comment may show `var x = p.New()`).
pub fn header_end(text: &str) -> usize {
    let bytes = text.as_bytes();
    let starts_declaration = |at: usize| {
        ["func", "type", "var", "const"].iter().any(|word| {
            bytes[at..].starts_with(word.as_bytes())
                && matches!(
                    bytes.get(at + word.len()),
                    Some(b' ' | b'\t' | b'(' | b'\r' | b'\n')
                )
        })
    };
    // Skips to just past `close`, or to the end of the text.
    let past = |from: usize, close: &str| {
        text.get(from..)
            .and_then(|rest| rest.find(close))
            .map_or(bytes.len(), |i| from + i + close.len())
    };
    let mut at = 0;
    while at < bytes.len() {
        if (at == 0 || bytes[at - 1] == b'\n') && starts_declaration(at) {
            return at;
        }
        at = match bytes[at] {
            b'/' if bytes.get(at + 1) == Some(&b'/') => past(at, "\n"),
            b'/' if bytes.get(at + 1) == Some(&b'*') => past(at + 2, "*/"),
            b'`' => past(at + 1, "`"),
            quote @ (b'"' | b'\'') => {
                // An interpreted string or a rune ends at its unescaped quote or its line.
                let mut end = at + 1;
                while end < bytes.len() && bytes[end] != quote && bytes[end] != b'\n' {
                    end += if bytes[end] == b'\\' { 2 } else { 1 };
                }
                (end + 1).min(bytes.len())
            }
            _ => at + 1,
        };
    }
    text.len()
}

/// The declarations of a file's header alone: its package name and imports, what the index
/// needs to find the folders a folder imports, without parsing the rest of the file.
pub fn header_decls(text: &str) -> FileDecls {
    std::panic::catch_unwind(|| {
        let source = SourceFile::new(&text[..header_end(text)]);
        FileDecls::collect_header(source.tree().root_node(), source.text())
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    /// The `.go` files below `dir`, testdata included (broken and odd files are the point).
    fn go_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                go_files(&path, out);
            } else if path.extension().is_some_and(|x| x == "go") {
                out.push(path);
            }
        }
    }

    /// A header parsed alone names the package and the imports the whole file does: over the
    /// fixtures and the standard library's `sync`, `net/http` and `go/types` trees.
    #[test]
    fn headers_alone_name_the_package_and_imports_of_the_whole_file() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut paths = Vec::new();
        go_files(&root.join("tests/fixtures"), &mut paths);
        if let Ok(output) = std::process::Command::new("go")
            .args(["env", "GOROOT"])
            .output()
        {
            let src = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()).join("src");
            for package in ["sync", "net/http", "go/types"] {
                go_files(&src.join(package), &mut paths);
            }
        }
        let mut compared = 0;
        for path in &paths {
            let Ok(text) = std::fs::read_to_string(path) else {
                continue;
            };
            let source = SourceFile::new(text.as_str());
            let whole = FileDecls::collect_header(source.tree().root_node(), source.text());
            let header = header_decls(&text);
            assert_eq!(
                header.package_name,
                whole.package_name,
                "{}",
                path.display()
            );
            assert_eq!(header.imports, whole.imports, "{}", path.display());
            compared += usize::from(!whole.imports.is_empty());
        }
        assert!(
            compared > 100,
            "only {compared} files with imports compared"
        );
    }

    #[test]
    fn a_header_ends_before_the_first_declaration_that_is_not_an_import() {
        let text = "// Package p.\npackage p\n\nimport (\n\t\"sync\"\n)\n\nimport \"fmt\"\n\nvar (\n\tx = 1\n)\n\nfunc F() {}\n";
        assert_eq!(
            &text[..header_end(text)],
            "// Package p.\npackage p\n\nimport (\n\t\"sync\"\n)\n\nimport \"fmt\"\n\n"
        );
        // A name that only starts like a keyword is no declaration; a file of no declaration
        // is all header.
        let text = "package p\n\nimport \"sync\"\nfunctional := 1\n";
        assert_eq!(header_end(text), text.len());
        assert_eq!(header_end("package p\nfunc(){}"), "package p\n".len());
    }

    /// Lines that start like declarations inside a comment or a raw string are not the end of
    /// the header: a package comment's example, a cgo preamble, a raw import path.
    #[test]
    fn a_header_goes_on_past_declarations_in_comments_and_strings() {
        let doc = "/*\nPackage p keeps pages.\n\nvar pages = p.New()\n*/\npackage p\n\nimport \"sync\"\n\nvar mu sync.Mutex\n";
        assert_eq!(header_end(doc), doc.find("var mu").unwrap());
        let cgo = "package p\n\n/*\n#include <stdlib.h>\nconst char *name;\ntype\n*/\nimport \"C\"\n\nimport \"os\"\n\nfunc F() {}\n";
        assert_eq!(header_end(cgo), cgo.find("func F").unwrap());
        let raw = "package p\n\nimport (\n\t`sync`\n\t// a comment with /* in it\n\t\"os\" // and \"quotes\n)\nconst c = 1\n";
        assert_eq!(header_end(raw), raw.find("const c").unwrap());
        // An unterminated comment runs to the end: the whole text is header.
        let open = "package p\n/*\nfunc F() {}\n";
        assert_eq!(header_end(open), open.len());
        for text in [doc, cgo, raw] {
            let source = SourceFile::new(text);
            let whole = FileDecls::collect_header(source.tree().root_node(), source.text());
            let header = header_decls(text);
            assert_eq!(header.package_name, whole.package_name, "{text}");
            assert_eq!(header.imports, whole.imports, "{text}");
            assert!(!header.imports.is_empty(), "{text}");
        }
    }
}
