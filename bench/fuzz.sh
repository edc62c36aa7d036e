#!/usr/bin/env bash
# Fuzzes every parser of logimg with libFuzzer (issue 6 §5).
#
#   bench/fuzz.sh                         # every target, 60 s each
#   FUZZ_SECONDS=600 bench/fuzz.sh fuzz-segment fuzz-nbd
#
# Targets (the package in Fuzz/): fuzz-manifest (manifest and segment header),
# fuzz-segment (record parser and recovery scan of a segment), fuzz-checkpoint
# (checkpoint decoding, snapshot payloads), fuzz-nbd (NBD handshake and request
# decoders, bytes as the client's stream) and fuzz-image (a whole image opened,
# read, checked and written).
#
# Each target is built in release with --sanitize fuzzer --sanitize address and
# runs for FUZZ_SECONDS (default 60) with -rss_limit_mb=2048 -timeout=10 on a
# scratch copy of its seed corpus (Tests/Fuzz/Corpus/<target>; the checked-in
# corpus is not changed). Prints executions, coverage (cov: and ft: of
# libFuzzer's final line) and any crash, and saves the output to
# bench/results/fuzz-<date>.txt. Crash, leak, timeout and OOM inputs are kept
# in bench/out/fuzz-<date>/. Exits 1 if any target found one.
#
# Environment: FUZZ_SECONDS (default 60); FUZZ_SKIP_BUILD=1 uses the binaries
# already built; FUZZ_ARGS adds libFuzzer flags (e.g. "-jobs=2 -workers=2").
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-60}"
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    targets=(fuzz-manifest fuzz-segment fuzz-checkpoint fuzz-nbd fuzz-image)
fi

# swiftc keeps only the last of several -sanitize= options, so SwiftPM's
# "--sanitize fuzzer --sanitize address" compiles Swift code with ASan but
# without libFuzzer's coverage instrumentation (only the C targets get it).
# -Xswiftc -sanitize=fuzzer,address comes last and asks for both.
build=(swift build -c release --sanitize fuzzer --sanitize address -Xswiftc -sanitize=fuzzer,address)
build_start=$SECONDS
if [[ "${FUZZ_SKIP_BUILD:-0}" != 1 ]]; then
    for t in "${targets[@]}"; do
        (cd Fuzz && "${build[@]}" --product "$t")
    done
fi
build_seconds=$((SECONDS - build_start))
bin="$(cd Fuzz && "${build[@]}" --show-bin-path)"

stamp="$(date -u +%Y%m%d-%H%M%S)"
mkdir -p bench/results
out="bench/results/fuzz-${stamp}.txt"
artifacts="bench/out/fuzz-${stamp}"
mkdir -p "$artifacts"
scratch="$(mktemp -d /tmp/logimg-fuzz.XXXXXX)"
trap 'rm -rf "$scratch"' EXIT

export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"

failed=0
summary=()
{
    echo "# logimg fuzzing (libFuzzer, -sanitize=fuzzer,address, release)"
    echo "date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "command:  FUZZ_SECONDS=${seconds} bench/fuzz.sh $*"
    echo "commit:   $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (dirty)')"
    echo "machine:  $(nproc) cores, $(uname -r), $(swift --version 2>&1 | head -1)"
    echo "build:    ${build_seconds} s"
    echo
} | tee "$out"

for t in "${targets[@]}"; do
    corpus="$scratch/$t"
    mkdir -p "$corpus"
    cp Tests/Fuzz/Corpus/"$t"/* "$corpus"/
    seeds=$(ls "$corpus" | wc -l)
    log="$scratch/$t.log"
    echo "== $t: $seeds seeds, ${seconds} s" | tee -a "$out"
    set +e
    # shellcheck disable=SC2086  # FUZZ_ARGS is meant to split into words
    "$bin/$t" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$artifacts/$t-" ${FUZZ_ARGS:-} "$corpus" >"$log" 2>&1
    rc=$?
    set -e
    # The last "#N ... cov: C ft: F corp: ..." status line, and the final stats.
    last="$(grep -E '^#[0-9]+' "$log" | tail -1 || true)"
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
    speed="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
    rss="$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)"
    cov="$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')"
    ft="$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')"
    corp="$(echo "$last" | sed -n 's/.*corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p')"
    found="$(ls "$artifacts" 2>/dev/null | grep "^$t-" || true)"
    status="ok"
    if [[ $rc -ne 0 || -n "$found" ]]; then
        status="FAILED (exit $rc)"
        failed=1
        {
            grep -E 'ERROR|==[0-9]+==|Fatal error|runtime failure|deadly signal|Test unit written|SUMMARY' "$log" | head -20
            grep -A25 -E '^ *#0 ' "$log" | head -40
            for f in $found; do echo "input: $artifacts/$f"; done
        } | tee -a "$out"
    fi
    {
        echo "$last"
        echo "executions: ${execs:-?}  exec/s: ${speed:-?}  cov: ${cov:-?}  ft: ${ft:-?}  corpus: ${corp:-?}  peak RSS: ${rss:-?} MB  -> $status"
        echo
    } | tee -a "$out"
    summary+=("$(printf '%-16s %12s %8s %8s %8s  %s' "$t" "${execs:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}" "$status")")
done

{
    echo "== summary (${seconds} s per target)"
    printf '%-16s %12s %8s %8s %8s  %s\n' target executions exec/s cov ft result
    printf '%s\n' "${summary[@]}"
} | tee -a "$out"
echo "saved: $out"
if [[ $failed -ne 0 ]]; then
    echo "crash inputs: $artifacts" >&2
fi
exit $failed
