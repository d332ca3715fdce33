#!/bin/bash
# A short, repeatable run of every fuzz target from its seeds, for CI: it proves the targets
# still build and that no seed, nor the first mutations libFuzzer derives from them, crashes,
# hangs or runs out of memory. The long runs (10 minutes a target, `docs/reliability.md`) stay
# by hand: they find what this cannot.
#
# Repeatable: a fixed seed and a fixed number of runs per target (never a time limit), so the
# same commit runs the same inputs and CI cannot fail one time in ten. The counts keep the
# whole step near two minutes on two cores once the targets are built.
#
# Needs a nightly toolchain and cargo-fuzz (`.ci/run` installs both when missing).
# Usage: bash scripts/fuzz-smoke.sh            (every target)
#        bash scripts/fuzz-smoke.sh lsp_input  (one)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/fuzz-seeds.sh"
cd "$root/fuzz"

# Runs per target, seeds included: about 30 s each with AddressSanitizer on this machine.
declare -A RUNS=(
    [analyze_bytes]=600
    [incremental_edits]=500
    [lsp_input]=5000
    [config_toml]=50000
)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(analyze_bytes incremental_edits lsp_input config_toml)

cargo +nightly fuzz build
for target in "${targets[@]}"; do
    runs=${RUNS[$target]:?"unknown fuzz target: $target"}
    # Seeds go in through a scratch copy: what the run adds to the corpus is not kept.
    scratch=$(mktemp -d)
    cp -r "corpus/$target/." "$scratch/" 2>/dev/null || true
    echo "::: fuzz $target: $runs runs"
    start=$(date +%s)
    # -timeout is per input and generous: CI shares the machine. A crash leaves its input in
    # fuzz/artifacts/$target/ and fails the step.
    log="$scratch.log"
    status=0
    cargo +nightly fuzz run "$target" "$scratch" -- \
        -seed=1 -runs="$runs" -timeout=120 -rss_limit_mb=4096 -max_len=8192 \
        -print_final_stats=1 > "$log" 2>&1 || status=$?
    if [ "$status" -eq 0 ]; then
        grep -E '^stat::(number_of_executed_units|peak_rss_mb)|^Done' "$log" || true
    else
        tail -n 60 "$log"
    fi
    rm -rf "$scratch" "$log"
    echo "::: fuzz $target: exit $status in $(( $(date +%s) - start ))s"
    [ "$status" -eq 0 ] || exit "$status"
done
