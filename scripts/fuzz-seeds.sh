#!/bin/bash
# Fills fuzz/corpus/<target>/ with seeds (the folder is ignored by git): the fixtures and
# examples under 8 KB for analyze_bytes, a whole session for lsp_input, two configurations for
# config_toml. incremental_edits carries its own seed files and needs none.
# Usage: bash scripts/fuzz-seeds.sh   (from anywhere), then: cd fuzz && cargo +nightly fuzz run TARGET
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
corpus="$root/fuzz/corpus"
mkdir -p "$corpus/analyze_bytes" "$corpus/lsp_input" "$corpus/config_toml"

find "$root/tests/fixtures" "$root/examples" -name '*.go' -size -8k -print0 |
    while IFS= read -r -d '' file; do
        # Named by content, so running the script again adds nothing.
        cp "$file" "$corpus/analyze_bytes/$(sha1sum "$file" | cut -c1-16)"
    done

frame() { printf 'Content-Length: %d\r\n\r\n%s' "${#1}" "$1"; }
{
    frame '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}'
    frame '{"jsonrpc":"2.0","method":"initialized","params":{}}'
    frame '{"jsonrpc":"2.0","method":"textDocument/didOpen","params":{"textDocument":{"uri":"file:///tmp/a.go","languageId":"go","version":1,"text":"package a\n\nimport \"sync\"\n\nvar mu sync.Mutex\n\nfunc F() {\n\tmu.Lock()\n}\n"}}}'
    frame '{"jsonrpc":"2.0","method":"textDocument/didChange","params":{"textDocument":{"uri":"file:///tmp/a.go","version":2},"contentChanges":[{"range":{"start":{"line":7,"character":10},"end":{"line":7,"character":10}},"text":"\n\tdefer mu.Unlock()"}]}}'
    frame '{"jsonrpc":"2.0","id":2,"method":"textDocument/codeAction","params":{"textDocument":{"uri":"file:///tmp/a.go"},"range":{"start":{"line":7,"character":0},"end":{"line":7,"character":0}},"context":{"diagnostics":[]}}}'
    frame '{"jsonrpc":"2.0","id":3,"method":"shutdown"}'
    frame '{"jsonrpc":"2.0","method":"exit"}'
} > "$corpus/lsp_input/session"

printf '[rules]\n"mutex-held-blocking" = "off"\n"goroutine-not-waited" = "error"\n' > "$corpus/config_toml/rules"
printf 'go-version = "1.21"\nexclude = ["vendor/**", "*.pb.go"]\n' > "$corpus/config_toml/exclude"
echo "seeds: $(ls "$corpus/analyze_bytes" | wc -l) Go files, 1 session, 2 configurations in $corpus"
