#!/usr/bin/env bash
# The full crash-state explorer (Spec/consistency.md §10): every workload of
# length 1 and 2 over the whole operation alphabet, length 3 over the reduced
# one, and seeded random runs of 200 operations, each with up to 200 crash
# states and the crashes during their recovery, plus the all-subsets class:
# every subset of the pending operations (10,000 seeded random ones past 12
# pending) after every file operation of the length 1-3 workloads and at the
# syncs, barrier acknowledgements and the end of the random runs (after every
# operation they would add 157,674 states, over a 25-minute budget).
# Prints the report table and keeps it in bench/results/crashtest-<date>.txt;
# exits non-zero on any violation.
#
#   bench/crashtest.sh
#   bench/crashtest.sh --states-per-workload 50 --random 2
#   bench/crashtest.sh --no-exhaustive-subsets                 # the crash plan alone
#   bench/crashtest.sh --subsets-every-operation all           # random runs too (much longer)
#   bench/crashtest.sh --planted missingFlushSync --length 1    # must fail
#
# Arguments go to logimg-crashtest (--help lists them) after the defaults
# below, so they override them. SCRATCH_PATH=DIR builds there.
set -euo pipefail
cd "$(dirname "$0")/.."
build=(swift build -c release --product logimg-crashtest)
if [[ -n "${SCRATCH_PATH:-}" ]]; then build+=(--scratch-path "$SCRATCH_PATH"); fi
"${build[@]}" >&2
bin="$("${build[@]}" --show-bin-path)/logimg-crashtest"
defaults=(--exhaustive-subsets --subsets-every-operation 1,2,3)
stamp="$(date -u +%Y%m%d-%H%M%S)"
mkdir -p bench/results
out="bench/results/crashtest-${stamp}.txt"
set +e
{
    status=0
    echo "# logimg crash-state explorer"
    echo "date:    $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "command: bench/crashtest.sh $* (runs logimg-crashtest ${defaults[*]} $*)"
    echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (with local changes)')"
    echo "nproc:   $(nproc); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    start=$(date +%s)
    "$bin" "${defaults[@]}" "$@" || status=$?
    echo "wall time: $(( $(date +%s) - start )) s"
    exit "$status"
} | tee "$out"
rc=${PIPESTATUS[0]}
set -e
echo "saved to $out" >&2
exit "$rc"
