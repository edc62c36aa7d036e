#!/usr/bin/env bash
# Engine benchmark: logimg vs a raw file, in one process (Sources/logimg-bench).
#
#   bench/engine.sh                      # 2 GiB disk, 1 GiB of 4 KiB ops per test
#   bench/engine.sh --size 8G --seconds 20
#
# Arguments are passed to logimg-bench (see `logimg-bench --help`).
# Environment: SCRATCH_PATH=DIR builds into DIR instead of .build;
# BENCH_DIR=DIR puts the test files there (default: under /var/tmp).
# Output is printed and saved with the command, date and machine to
# bench/results/engine-<date>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

build=(swift build -c release --product logimg-bench)
if [[ -n "${SCRATCH_PATH:-}" ]]; then build+=(--scratch-path "$SCRATCH_PATH"); fi
"${build[@]}"
bin="$("${build[@]}" --show-bin-path)/logimg-bench"

args=(--size 2G)
if [[ -n "${BENCH_DIR:-}" ]]; then args+=(--dir "$BENCH_DIR"); fi
args+=("$@")

stamp="$(date -u +%Y%m%d-%H%M%S)"
mkdir -p bench/results
out="bench/results/engine-${stamp}.txt"
{
    echo "# logimg engine benchmark"
    echo "date:    $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "command: bench/engine.sh $*"
    echo "run:     ${bin#"$PWD/"} ${args[*]}"
    echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- Sources 2>/dev/null || echo ' (+ uncommitted changes)')"
    echo "nproc:   $(nproc)"
    echo "cpu:     $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "memory:  $(free -h | awk '/^Mem:/ {print $2}')"
    echo "kernel:  $(uname -r)"
    echo "load:    $(cut -d" " -f1-3 /proc/loadavg) (1/5/15 min, before the run)"
    echo "swift:   $(swift --version 2>/dev/null | head -1)"
    echo "fs:      $(df -T "${BENCH_DIR:-/var/tmp}" | awk 'NR==2 {print $2 " on " $1 " (" $7 ")"}')"
    echo
    "$bin" "${args[@]}" 2>&1
} | tee "$out"
echo
echo "saved to $out"
