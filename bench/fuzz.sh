#!/usr/bin/env bash
# Fuzzes every parser of logimg with libFuzzer (issue 6 §5).
#
#   bench/fuzz.sh                         # every target, 60 s each
#   FUZZ_SECONDS=600 bench/fuzz.sh fuzz-segment fuzz-nbd
#   bench/fuzz.sh --ci                    # CI's short run (.ci/run): every target, 30 s each
#   bench/fuzz.sh --ci --seconds 10 fuzz-nbd
#
# Targets (the package in Fuzz/): fuzz-manifest (manifest and segment header),
# fuzz-segment (record parser and recovery scan of a segment), fuzz-checkpoint
# (checkpoint decoding, snapshot payloads), fuzz-nbd (NBD handshake and request
# decoders, bytes as the client's stream), fuzz-image (a whole image opened,
# read, checked and written) and fuzz-control (the control protocol's request
# parser, bytes as one request line).
#
# Each target is built in release with --sanitize fuzzer --sanitize address (in
# Fuzz/.build, apart from the main package's .build) and runs for FUZZ_SECONDS
# (default 60) with -rss_limit_mb=2048 -timeout=10 on a scratch copy of its seed
# corpus (Tests/Fuzz/Corpus/<target>; the checked-in corpus is not changed).
# Prints executions, coverage (cov: and ft: of libFuzzer's final line) and any
# crash, and saves the output to bench/results/fuzz-<date>.txt. Crash, leak,
# timeout and OOM inputs are kept in bench/out/fuzz-<date>/. Exits 1 if any
# target found one.
#
# --ci (what .ci/run runs): 30 s per target unless --seconds or FUZZ_SECONDS says
# otherwise; writes nothing under bench/results/ (the output and any crash input
# go to bench/out/fuzz-ci-<date>/, which git ignores); stops a target that runs
# more than 120 s past its time; prints each crash input's path and, when it is at
# most 4 KiB, its bytes in base64 (a CI log outlives CI's clone); ends on one
# summary line per target.
#
# Environment: FUZZ_SECONDS (default 60, 30 with --ci); FUZZ_SKIP_BUILD=1 uses
# the binaries already built; FUZZ_ARGS adds libFuzzer flags (e.g. "-jobs=2
# -workers=2", or "-max_len=65536").
set -euo pipefail
cd "$(dirname "$0")/.."

ci=0
seconds=""
targets=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --ci) ci=1; shift ;;
        --seconds) seconds="${2:?--seconds needs a number}"; shift 2 ;;
        --seconds=*) seconds="${1#--seconds=}"; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "bench/fuzz.sh: unknown option $1" >&2; exit 2 ;;
        *) targets+=("$1"); shift ;;
    esac
done
if [[ -z "$seconds" ]]; then
    if [[ $ci -eq 1 ]]; then seconds="${FUZZ_SECONDS:-30}"; else seconds="${FUZZ_SECONDS:-60}"; fi
fi
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "bench/fuzz.sh: seconds must be a positive whole number, not '$seconds'" >&2
    exit 2
fi
if [[ ${#targets[@]} -eq 0 ]]; then
    targets=(fuzz-manifest fuzz-segment fuzz-checkpoint fuzz-nbd fuzz-image fuzz-control)
fi
for t in "${targets[@]}"; do
    if [[ ! -d "Tests/Fuzz/Corpus/$t" ]]; then
        echo "bench/fuzz.sh: no target $t (no Tests/Fuzz/Corpus/$t)" >&2
        exit 2
    fi
done
start_seconds=$SECONDS

# swiftc keeps only the last of several -sanitize= options, so SwiftPM's
# "--sanitize fuzzer --sanitize address" compiles Swift code with ASan but
# without libFuzzer's coverage instrumentation (only the C targets get it).
# -Xswiftc -sanitize=fuzzer,address comes last and asks for both.
# The Fuzz package resolves its dependencies like the main package does (git
# reads https://github.com/ from the machine's local copies), so this needs no
# network.
build=(swift build -c release --sanitize fuzzer --sanitize address -Xswiftc -sanitize=fuzzer,address)
build_start=$SECONDS
if [[ "${FUZZ_SKIP_BUILD:-0}" != 1 ]]; then
    [[ $ci -eq 1 ]] && echo "== building the fuzz targets (Fuzz/.build, release, ASan + libFuzzer)"
    for t in "${targets[@]}"; do
        (cd Fuzz && "${build[@]}" --product "$t" </dev/null)
    done
fi
build_seconds=$((SECONDS - build_start))
bin="$(cd Fuzz && "${build[@]}" --show-bin-path </dev/null)"

stamp="$(date -u +%Y%m%d-%H%M%S)"
if [[ $ci -eq 1 ]]; then
    artifacts="bench/out/fuzz-ci-${stamp}"
    mkdir -p "$artifacts"
    out="$artifacts/fuzz-ci.txt"
    command="bench/fuzz.sh --ci --seconds ${seconds} ${targets[*]}"
else
    mkdir -p bench/results
    out="bench/results/fuzz-${stamp}.txt"
    artifacts="bench/out/fuzz-${stamp}"
    mkdir -p "$artifacts"
    command="FUZZ_SECONDS=${seconds} bench/fuzz.sh ${targets[*]}"
fi
scratch="$(mktemp -d /tmp/logimg-fuzz.XXXXXX)"
trap 'rm -rf "$scratch"' EXIT

export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"

failed=0
summary=()
{
    echo "# logimg fuzzing (libFuzzer, -sanitize=fuzzer,address, release)"
    echo "date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "command:  ${command}"
    echo "commit:   $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (dirty)')"
    echo "machine:  $(nproc) cores, $(uname -r), $(swift --version 2>&1 | head -1)"
    echo "load:     $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
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
    # A target that has not stopped 120 s after its time is stuck outside what
    # -timeout catches (say at exit); only --ci puts a bound on it.
    limit=()
    if [[ $ci -eq 1 ]]; then limit=(timeout --kill-after=10 $((seconds + 120))); fi
    set +e
    # shellcheck disable=SC2086  # FUZZ_ARGS is meant to split into words
    "${limit[@]}" "$bin/$t" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$artifacts/$t-" ${FUZZ_ARGS:-} "$corpus" </dev/null >"$log" 2>&1
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
        kind="$(grep -o -m1 -E 'ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer): [a-z-]+|ERROR: libFuzzer: out-of-memory|deadly signal|Fatal error|detected memory leaks|timeout after [0-9]+ seconds' "$log" || true)"
        if [[ $rc -eq 124 || $rc -eq 137 ]] && [[ $ci -eq 1 ]]; then
            kind="still running $((seconds + 120)) s after start, stopped"
        fi
        status="FAILED (exit $rc${kind:+: $kind})"
        failed=1
        {
            grep -E 'ERROR|==[0-9]+==|Fatal error|runtime failure|deadly signal|Test unit written|SUMMARY' "$log" | head -20
            grep -A25 -E '^ *#0 ' "$log" | head -40
            if [[ $ci -eq 1 ]]; then
                cp "$log" "$artifacts/$t.log"
                echo "full output: $artifacts/$t.log"
            fi
            for f in $found; do
                echo "input: $artifacts/$f"
                echo "  reproduce: (cd Fuzz && ${build[*]} --product $t) && SWIFT_BACKTRACE=enable=no $bin/$t $artifacts/$f"
                if [[ $ci -eq 1 && $(stat -c %s "$artifacts/$f") -le 4096 ]]; then
                    b64="$(base64 -w0 "$artifacts/$f")"
                    echo "  base64: ${b64:-(empty input)}"
                fi
            done
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
    echo "== summary (${seconds} s per target; build ${build_seconds} s, total $((SECONDS - start_seconds)) s)"
    printf '%-16s %12s %8s %8s %8s  %s\n' target executions exec/s cov ft result
    printf '%s\n' "${summary[@]}"
} | tee -a "$out"
echo "saved: $out"
if [[ $failed -ne 0 ]]; then
    echo "fuzzing found a crash, leak, timeout or OOM; inputs: $artifacts" >&2
fi
exit $failed
