#!/usr/bin/env bash
# Engine benchmark of two builds side by side: this tree's logimg-bench
# ("new") against another build's ("base"), interleaved in one run, so a
# refactoring can show that nothing got slower.
#
#   bench/engine-ab.sh --baseline /path/to/old/logimg-bench
#   bench/engine-ab.sh --baseline OLD --rounds 6 -- --size 1G
#
# Rounds alternate the order (base new, new base, ...), each run on a fresh
# image. Arguments after `--` go to both logimg-bench runs (default --size 2G).
# The table gives each test's median logimg MB/s over the rounds and new/base.
# Environment: SCRATCH_PATH=DIR builds into DIR instead of .build;
# BENCH_DIR=DIR puts the test files there (default: under /var/tmp).
# Output is printed and saved to bench/results/engine-ab-<date>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

baseline="" rounds=4
while [[ $# -gt 0 ]]; do
    case "$1" in
        --baseline) baseline="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        --) shift; break ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "bench/engine-ab.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[[ -x "$baseline" ]] || { echo "bench/engine-ab.sh: --baseline must name a logimg-bench binary" >&2; exit 2; }

build=(swift build -c release --product logimg-bench)
if [[ -n "${SCRATCH_PATH:-}" ]]; then build+=(--scratch-path "$SCRATCH_PATH"); fi
"${build[@]}" >&2
new="$("${build[@]}" --show-bin-path)/logimg-bench"

args=(--size 2G)
if [[ -n "${BENCH_DIR:-}" ]]; then args+=(--dir "$BENCH_DIR"); fi
if [[ $# -gt 0 ]]; then args=("$@"); fi

work="$(mktemp -d "${TMPDIR:-/tmp}/logimg-engine-ab.XXXXXX")"
trap 'rm -rf "$work"' EXIT
results="$work/results.tsv"
: >"$results"
for ((round = 0; round < rounds; round++)); do
    if ((round % 2 == 0)); then order=(base new); else order=(new base); fi
    for which in "${order[@]}"; do
        bin="$new"; [[ "$which" == base ]] && bin="$baseline"
        echo "round $((round + 1))/$rounds: $which" >&2
        "$bin" "${args[@]}" >"$work/run.txt" 2>&1
        # The table rows: "<test name>  <MB/s> <IOPS> <raw MB/s> <raw IOPS> <ratio>".
        awk -v w="$which" '/^(4K|1M) / && NF >= 6 {
            n = NF; name = $1; for (i = 2; i <= n - 5; i++) name = name " " $i
            printf "%s\t%s\t%s\t%s\n", w, name, $(n - 4), $(n - 3)
        }' "$work/run.txt" >>"$results"
    done
done

stamp="$(date -u +%Y%m%d-%H%M%S)"
mkdir -p bench/results
out="bench/results/engine-ab-${stamp}.txt"
{
    echo "# logimg engine benchmark, two builds interleaved"
    echo "date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "command:  bench/engine-ab.sh --baseline $baseline --rounds $rounds -- ${args[*]}"
    echo "new:      ${new#"$PWD/"} (commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- Sources 2>/dev/null || echo ' + uncommitted changes'))"
    echo "base:     $baseline"
    echo "nproc:    $(nproc)"
    echo "cpu:      $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "kernel:   $(uname -r)"
    echo
    python3 - "$results" "$rounds" <<'EOF'
import statistics, sys
from collections import defaultdict
runs = defaultdict(list)
for line in open(sys.argv[1]):
    which, test, mbs, iops = line.rstrip("\n").split("\t")
    runs[(test, which)].append((float(mbs), float(iops)))
tests = list(dict.fromkeys(k[0] for k in runs))
print(f"{'test':<34}{'base MB/s':>11}{'new MB/s':>11}{'base IOPS':>11}{'new IOPS':>11}{'new/base':>10}   (medians of {sys.argv[2]} rounds)")
for t in tests:
    b = runs.get((t, "base")); n = runs.get((t, "new"))
    if not b or not n: continue
    bm, nm = statistics.median(x[0] for x in b), statistics.median(x[0] for x in n)
    bi, ni = statistics.median(x[1] for x in b), statistics.median(x[1] for x in n)
    print(f"{t:<34}{bm:>11.0f}{nm:>11.0f}{bi:>11.0f}{ni:>11.0f}{nm / bm if bm else 0:>9.2f}x")
    print(f"{'':<34}{'runs: base ' + ' '.join(f'{x[0]:.0f}' for x in b) + ' | new ' + ' '.join(f'{x[0]:.0f}' for x in n)}")
EOF
} | tee "$out"
echo
echo "saved to $out"
