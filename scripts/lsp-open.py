#!/usr/bin/env python3
"""Opens one file in `goconc lsp` as an editor would and times the diagnostics.

  lsp-open.py GOCONC ROOT FILE [EDITS]

Prints the seconds from `didOpen` to the file's first `publishDiagnostics` (with the rules and
lines found), then sends EDITS full-text changes, each appending a comment line, and prints the
median and slowest wait for the diagnostics of each version.
"""
import json
import os
import subprocess
import sys
import time


def main():
    goconc, root, path = sys.argv[1], os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
    edits = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    server = subprocess.Popen([goconc, "lsp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL)

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
    for version in range(2, 2 + edits):
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


if __name__ == "__main__":
    main()
