#!/usr/bin/env bash
# The full crash-state explorer (Spec/consistency.md §10): every workload of
# length 1 and 2 over the whole operation alphabet, length 3 over the reduced
# one, and seeded random runs of 200 operations, each with up to 200 crash
# states and the crashes during their recovery. Prints the report table and
# keeps it in bench/results/crashtest-<date>.txt; exits non-zero on any
# violation.
#
#   bench/crashtest.sh
#   bench/crashtest.sh --states-per-workload 50 --random 2
#   bench/crashtest.sh --planted missingFlushSync --length 1    # must fail
#
# Arguments go to logimg-crashtest (--help lists them). SCRATCH_PATH=DIR builds there.
set -euo pipefail
cd "$(dirname "$0")/.."
build=(swift build -c release --product logimg-crashtest)
if [[ -n "${SCRATCH_PATH:-}" ]]; then build+=(--scratch-path "$SCRATCH_PATH"); fi
"${build[@]}" >&2
bin="$("${build[@]}" --show-bin-path)/logimg-crashtest"
stamp="$(date -u +%Y%m%d-%H%M%S)"
mkdir -p bench/results
out="bench/results/crashtest-${stamp}.txt"
set +e
{
    status=0
    echo "# logimg crash-state explorer"
    echo "date:    $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "command: bench/crashtest.sh $*"
    echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (with local changes)')"
    echo "nproc:   $(nproc); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    start=$(date +%s)
    "$bin" "$@" || status=$?
    echo "wall time: $(( $(date +%s) - start )) s"
    exit "$status"
} | tee "$out"
rc=${PIPESTATUS[0]}
set -e
echo "saved to $out" >&2
exit "$rc"
