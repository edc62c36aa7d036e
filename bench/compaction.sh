#!/usr/bin/env bash
# Compaction benchmark: write and space amplification under background
# compaction (greedy vs cost-benefit, uniform vs 80/20 overwrites), and
# sequential reads after `compact` against a raw file.
#
#   bench/compaction.sh                       # 1 GiB disk, 5x overwrite
#   bench/compaction.sh --size 512M --overwrite 3
#
# Arguments go to logimg-compactbench. SCRATCH_PATH=DIR builds there;
# BENCH_DIR=DIR puts the files there (default /var/tmp).
set -euo pipefail
cd "$(dirname "$0")/.."
build=(swift build -c release --product logimg-compactbench)
if [[ -n "${SCRATCH_PATH:-}" ]]; then build+=(--scratch-path "$SCRATCH_PATH"); fi
"${build[@]}" >&2
bin="$("${build[@]}" --show-bin-path)/logimg-compactbench"
args=(--dir "${BENCH_DIR:-/var/tmp}" "$@")
stamp="$(date -u +%Y%m%d-%H%M%S)"
mkdir -p bench/results
out="bench/results/compaction-${stamp}.txt"
{
    echo "# logimg compaction benchmark"
    echo "date:    $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "command: bench/compaction.sh $*"
    echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "nproc:   $(nproc); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    "$bin" "${args[@]}"
} | tee "$out"
echo "saved to $out" >&2
