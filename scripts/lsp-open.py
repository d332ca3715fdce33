#!/usr/bin/env python3
"""Opens one file in `goconc lsp` as an editor would and times the diagnostics.

  lsp-open.py GOCONC ROOT FILE [EDITS] [--after LINE --insert TEXT]

Prints the seconds from `didOpen` to the file's first `publishDiagnostics` (with the rules and
lines found), then sends EDITS full-text changes and prints the median and slowest wait for the
diagnostics of each version. Each edit appends a comment line to the file; with `--after`, it
inserts TEXT (`\\t` and `\\n` read as tab and newline) after the first line containing LINE,
and the script also prints how many of the file's functions the server analysed again per edit
(from its debug log): a keystroke in one function of a large file, or a doc comment typed above
one (`--after '// Close immediately' --insert '// x\\n'`).
"""
import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("goconc")
    parser.add_argument("root")
    parser.add_argument("file")
    parser.add_argument("edits", nargs="?", type=int, default=0)
    parser.add_argument("--after", help="insert after the first line containing this text")
    parser.add_argument("--insert", default="\\t_ = 1\\n", help="the text each edit inserts")
    args = parser.parse_args()
    goconc, root, path = args.goconc, os.path.abspath(args.root), os.path.abspath(args.file)
    edits = args.edits
    log = tempfile.TemporaryFile()
    env = dict(os.environ, GOCONC_LOG="debug") if args.after else None
    server = subprocess.Popen([goconc, "lsp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=log if args.after else subprocess.DEVNULL, env=env)

    def send(message):
        body = json.dumps(message).encode()
        server.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        server.stdin.flush()

    def receive():
        header = b""
        while not header.endswith(b"\r\n\r\n"):
            byte = server.stdout.read(1)
            if not byte:
                sys.exit("the server ended")
            header += byte
        length = next(int(line.split(b":")[1]) for line in header.split(b"\r\n")
                      if line.lower().startswith(b"content-length"))
        return json.loads(server.stdout.read(length))

    def diagnostics_of(version):
        while True:
            m = receive()
            if (m.get("method") == "textDocument/publishDiagnostics"
                    and m["params"]["uri"] == uri
                    and (version is None or m["params"].get("version") == version)):
                return m["params"]["diagnostics"]

    uri = "file://" + path
    folder = "file://" + root
    send({"jsonrpc": "2.0", "id": 1, "method": "initialize",
          "params": {"rootUri": folder, "capabilities": {},
                     "workspaceFolders": [{"uri": folder, "name": "root"}]}})
    while receive().get("id") != 1:
        pass
    send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
    text = open(path).read()
    started = time.time()
    send({"jsonrpc": "2.0", "method": "textDocument/didOpen",
          "params": {"textDocument": {"uri": uri, "languageId": "go", "version": 1, "text": text}}})
    found = diagnostics_of(None)
    print(f"first diagnostics after {time.time() - started:.2f} s:",
          [(d["code"], d["range"]["start"]["line"] + 1) for d in found])
    waits = []
    insert = (args.insert or "").replace("\\t", "\t").replace("\\n", "\n")
    for version in range(2, 2 + edits):
        if args.after:
            line = text.index(args.after)
            at = text.index("\n", line) + 1
            text = text[:at] + insert + text[at:]
        else:
            text += "// edit\n"
        started = time.time()
        send({"jsonrpc": "2.0", "method": "textDocument/didChange",
              "params": {"textDocument": {"uri": uri, "version": version},
                         "contentChanges": [{"text": text}]}})
        diagnostics_of(version)
        waits.append(time.time() - started)
    if waits:
        waits.sort()
        print(f"{edits} edits: median {1000 * waits[len(waits) // 2]:.1f} ms, "
              f"slowest {1000 * waits[-1]:.1f} ms")
    send({"jsonrpc": "2.0", "id": 2, "method": "shutdown"})
    send({"jsonrpc": "2.0", "method": "exit"})
    server.wait(timeout=10)
    if args.after:
        log.seek(0)
        lines = log.read().decode(errors="replace").splitlines()
        counts = collections.Counter(
            m.group(0) for line in lines if "analysed in" in line and "version=1 " not in line
            for m in [re.search(r"functions=\d+ analysed=\d+", line)] if m)
        print("functions analysed again per edit:",
              ", ".join(f"{n} x {what}" for what, n in counts.most_common()))


if __name__ == "__main__":
    main()
