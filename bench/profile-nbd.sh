#!/usr/bin/env bash
# Where `logimg serve` spends its time under one fio job (issue 3: profile the
# NBD goals that are missed). Records the server with `perf record -g` while
# fio's nbd engine runs the job, then prints the hottest symbols (self time)
# and the hottest call chains.
#
#   bench/profile-nbd.sh randwrite          # 4 KiB random writes, iodepth 16
#   bench/profile-nbd.sh randwrite-fl       # ... with an NBD flush every 32 writes
#   bench/profile-nbd.sh seqwrite           # 1 MiB sequential writes, iodepth 4
#   bench/profile-nbd.sh randread           # 4 KiB random reads after a random fill
#
# Environment: SIZE (default 2G), SECONDS_PER_JOB (default 10), SCRATCH_PATH,
# BENCH_DIR (default /var/tmp). Output goes to bench/results/profile-<job>-<date>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C
job="${1:-randwrite}"
size="${SIZE:-2G}"
secs="${SECONDS_PER_JOB:-10}"
case "$job" in
    randwrite) args=(--rw=randwrite --bs=4k --iodepth=16) ;;
    randwrite-fl) args=(--rw=randwrite --bs=4k --iodepth=16 --fsync=32) ;;
    seqwrite) args=(--rw=write --bs=1M --iodepth=4) ;;
    randread) args=(--rw=randread --bs=4k --iodepth=16) ;;
    seqread) args=(--rw=read --bs=1M --iodepth=4) ;;
    *) echo "bench/profile-nbd.sh: unknown job '$job'" >&2; exit 2 ;;
esac
for tool in perf fio; do command -v "$tool" >/dev/null || { echo "bench/profile-nbd.sh: $tool is missing" >&2; exit 1; }; done
build=(swift build -c release --product logimg)
if [[ -n "${SCRATCH_PATH:-}" ]]; then build+=(--scratch-path "$SCRATCH_PATH"); fi
"${build[@]}" >&2
bin="$("${build[@]}" --show-bin-path)/logimg"
work="$(mktemp -d "${BENCH_DIR:-/var/tmp}/logimg-profile.XXXXXX")"
server=""
cleanup() { [[ -n "$server" ]] && kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
"$bin" create "$work/d.limg" --size "$size" >/dev/null
"$bin" serve "$work/d.limg" --socket "$work/s.sock" >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 100); do grep -q . "$work/serve.log" 2>/dev/null && [[ -S "$work/s.sock" ]] && break; sleep 0.1; done
uri="nbd+unix:///?socket=$work/s.sock"
fio_run() { fio --name=profile --ioengine=nbd --uri="$uri" --size="$size" --output-format=json --output="$work/$1.json" "${@:2}" >/dev/null; }
if [[ "$job" == randread || "$job" == seqread ]]; then fio_run fill --rw=randwrite --bs=64k --iodepth=16; fi
demangle() { if command -v swift >/dev/null; then swift demangle --simplified; else cat; fi; }
stamp="$(date -u +%Y%m%d-%H%M%S)"
mkdir -p bench/results
out="bench/results/profile-$job-$stamp.txt"
perf record -F 999 -g -p "$server" -o "$work/perf.data" -- sleep "$((secs + 1))" 2>/dev/null &
perfpid=$!
fio_run job "${args[@]}" --time_based --runtime="$secs"
wait "$perfpid" || true
{
    echo "# logimg serve profile: $job"
    echo "date:    $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "command: bench/profile-nbd.sh $job   (SIZE=$size SECONDS_PER_JOB=$secs)"
    echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "nproc:   $(nproc)"
    python3 - "$work/job.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
for k in ("write", "read"):
    d = j[k]
    if d["io_bytes"]:
        p99 = d["clat_ns"]["percentile"].get("99.000000", 0) / 1000
        print(f"fio {k}: {d['iops']:.0f} IOPS, {d['bw_bytes']/1e6:.0f} MB/s, p99 {p99:.0f} us")
PY
    echo
    echo "## self time by symbol (server process, all threads)"
    perf report -i "$work/perf.data" --no-children --sort symbol --percent-limit 1.5 --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -40 | demangle | cut -c1-160
    echo
    echo "## self time by thread"
    perf report -i "$work/perf.data" --no-children --sort comm --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -10
    echo
    echo "## time including callees (top call sites)"
    perf report -i "$work/perf.data" --children --sort symbol --percent-limit 5 --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -30 | demangle | cut -c1-160
} | tee "$out"
echo "saved to $out" >&2
