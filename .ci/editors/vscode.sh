#!/usr/bin/env bash
# Builds, packages and tests the VS Code extension (editors/vscode) in a real VS Code.
#
#   GOCONC_BIN=target/release/goconc bash .ci/editors/vscode.sh
#
# From a bare Debian bookworm machine with Node 20 and npm: installs the Debian packages
# (Chromium, ripgrep, and what code-server's native modules need to build), code-server 4.100.3
# into a cache folder, the extension's npm packages (`npm ci`), then builds the extension,
# packages the .vsix (and one with the server inside, for this platform), runs the unit tests
# (`node --test`) and the end-to-end test (code-server +
# headless Chromium, driven by playwright-core). Every install step is skipped when its result is
# already there, so a second run only builds and tests.
#
# Environment:
#   GOCONC_BIN             the goconc binary the extension runs (default: target/release/goconc)
#   GOCONC_EDITORS_CACHE   where code-server is installed (default: ~/.cache/goconc-editors)
#   SKIP_E2E=1             stop after the unit tests
#   VSCODE_CI_STEPS        a space-separated subset of the steps below, run in that order
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$(pwd)"
EXT="$ROOT/editors/vscode"

CODE_SERVER_VERSION=4.100.3
RIPGREP_VERSION=1.15.11                     # the @vscode/ripgrep that code-server 4.100.3 bundles
RIPGREP_ASSET=ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz
DEBIAN_PACKAGES=(build-essential python3 pkg-config libkrb5-dev ripgrep chromium fonts-liberation)

CACHE="${GOCONC_EDITORS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/goconc-editors}"
CODE_SERVER_DIR="$CACHE/code-server-$CODE_SERVER_VERSION"
export CODE_SERVER="$CODE_SERVER_DIR/node_modules/.bin/code-server"
# npm and node-gyp run without a TTY and as root here.
export npm_config_yes=true npm_config_unsafe_perm=true npm_config_fund=false npm_config_audit=false
export npm_config_update_notifier=false

GOCONC_BIN="${GOCONC_BIN:-target/release/goconc}"
case "$GOCONC_BIN" in /*) ;; *) GOCONC_BIN="$ROOT/$GOCONC_BIN" ;; esac

die() { echo "error: $*" >&2; exit 1; }

# The first line of a command's output. Not `cmd | head -1`: under pipefail that fails with
# SIGPIPE (141) whenever head exits before cmd has written everything. Fails when cmd fails.
first_line() {
    local out
    out="$("$@")" || return
    printf '%s\n' "${out%%$'\n'*}"
}

step_check_server() {
    [ -x "$GOCONC_BIN" ] || die "no goconc binary at $GOCONC_BIN: build it (cargo build --release) or set GOCONC_BIN"
    "$GOCONC_BIN" --version
    command -v node >/dev/null || die "node is not on PATH (Node 20 is needed)"
    local major
    major="$(node -p 'process.versions.node.split(".")[0]')"
    [ "$major" = 20 ] || die "code-server $CODE_SERVER_VERSION needs Node 20; this is Node $(node --version)"
}

step_debian_packages() {
    local missing=()
    for p in "${DEBIAN_PACKAGES[@]}"; do
        [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = 'install ok installed' ] || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        echo "all present: ${DEBIAN_PACKAGES[*]}"
        return
    fi
    echo "installing: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# code-server's @vscode/ripgrep downloads rg in a postinstall step (not reachable here); it first
# looks for the archive in a cache folder under os.tmpdir(): put Debian's rg there.
step_code_server() {
    if [ -x "$CODE_SERVER" ] && [ -f "$CODE_SERVER_DIR/.installed" ]; then
        echo "present: $(first_line "$CODE_SERVER" --version)"
        return
    fi
    local tmp="$CACHE/tmp"
    mkdir -p "$tmp/vscode-ripgrep-cache-$RIPGREP_VERSION" "$CODE_SERVER_DIR"
    if [ ! -s "$tmp/vscode-ripgrep-cache-$RIPGREP_VERSION/$RIPGREP_ASSET" ]; then
        local stage
        stage="$(mktemp -d)"
        cp "$(command -v rg)" "$stage/rg"
        tar -C "$stage" -czf "$tmp/vscode-ripgrep-cache-$RIPGREP_VERSION/$RIPGREP_ASSET" rg
        rm -rf "$stage"
    fi
    rm -f "$CODE_SERVER_DIR/.installed"
    [ -f "$CODE_SERVER_DIR/package.json" ] || echo '{"private":true}' > "$CODE_SERVER_DIR/package.json"
    TMPDIR="$tmp" npm install --prefix "$CODE_SERVER_DIR" --no-save --loglevel=error \
        "code-server@$CODE_SERVER_VERSION"
    first_line "$CODE_SERVER" --version
    touch "$CODE_SERVER_DIR/.installed"
}

# `npm ci` only when package-lock.json changed since the last install.
step_npm_ci() {
    local stamp="$EXT/node_modules/.goconc-lock.sha256"
    local want
    want="$(sha256sum "$EXT/package-lock.json" | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        echo "node_modules matches package-lock.json"
        return
    fi
    (cd "$EXT" && npm ci --loglevel=error)
    echo "$want" > "$stamp"
}

step_build() {
    (cd "$EXT" && npm run --silent typecheck && npm run --silent build)
}

step_package() {
    (cd "$EXT" && npm run --silent package)
    ls -l "$EXT"/*.vsix
}

step_unit() {
    (cd "$EXT" && GOCONC_BIN="$GOCONC_BIN" npm run --silent test:unit)
}

# A .vsix for this platform with the server inside (`vsce package --target linux-x64`): it must
# hold extension/server/goconc, executable, and that binary must run.
step_package_bundled() {
    (cd "$EXT" && GOCONC_BIN="$GOCONC_BIN" npm run --silent package:bundled)
    local vsix
    vsix="$(ls "$EXT"/goconc-*-*.vsix)"
    ls -l "$vsix"
    local unpacked
    unpacked="$(mktemp -d)"
    python3 - "$vsix" "$unpacked" <<'PY'
import os, stat, sys, zipfile
vsix, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(vsix) as z:
    names = z.namelist()
    assert 'extension/server/goconc' in names, names
    assert 'extension/dist/extension.js' in names, names
    manifest = z.read('extension.vsixmanifest').decode()
    target = os.path.basename(vsix)[len('goconc-'):-len('.vsix')]
    assert f'TargetPlatform="{target}"' in manifest, manifest
    z.extract('extension/server/goconc', out)
    mode = z.getinfo('extension/server/goconc').external_attr >> 16
    assert mode & stat.S_IXUSR, oct(mode)
    os.chmod(os.path.join(out, 'extension/server/goconc'), mode & 0o777)
PY
    "$unpacked/extension/server/goconc" --version
    rm -rf "$unpacked"
    [ ! -e "$EXT/server" ] || die "package:bundled left editors/vscode/server behind"
}

step_e2e() {
    if [ "${SKIP_E2E:-}" = 1 ]; then
        echo "skipped (SKIP_E2E=1)"
        return
    fi
    (cd "$EXT" && GOCONC_BIN="$GOCONC_BIN" node test/e2e/run.mjs)
}

STEPS=(check_server debian_packages code_server npm_ci build package package_bundled unit e2e)
# VSCODE_CI_STEPS="build unit" runs only those steps (for working on the extension).
if [ -n "${VSCODE_CI_STEPS:-}" ]; then read -ra STEPS <<< "$VSCODE_CI_STEPS"; fi

TIMINGS=()
total_start=$(date +%s)
for name in "${STEPS[@]}"; do
    echo "::: vscode ${name}"
    start=$(date +%s)
    "step_${name}"
    elapsed=$(( $(date +%s) - start ))
    TIMINGS+=("$(printf '%-16s %5ds' "$name" "$elapsed")")
    echo "::: vscode ${name} done in ${elapsed}s"
done
TIMINGS+=("$(printf '%-16s %5ds' total "$(( $(date +%s) - total_start ))")")

echo "::: vscode timings"
printf '  %s\n' "${TIMINGS[@]}"
