#!/usr/bin/env bash
# NBD benchmark: fio's nbd engine against five servers, under identical jobs.
#
#   bench/nbd.sh                               # 2 GiB disks, 10 s per job, 3 rounds
#   bench/nbd.sh --size 4G --seconds 20 --runs 5
#   bench/nbd.sh --servers logimg,nbdkit --jobs randwrite,randread --runs 1
#
# Servers (each on a fresh disk for every job and round, on a Unix socket):
#   logimg        logimg serve (release build)
#   qcow2-direct  qemu-nbd -f qcow2 --cache=none --aio=native       (O_DIRECT)
#   qcow2-wb      qemu-nbd -f qcow2 --cache=writeback --aio=threads (page cache)
#   raw-direct    qemu-nbd -f raw --cache=none --aio=native         (O_DIRECT)
#   nbdkit        nbdkit file plugin on a raw file
#   logimg-base   logimg serve from another build: $LOGIMG_BASELINE names its
#                 binary (a before/after comparison of two commits in one run:
#                 --servers logimg,logimg-base; the logimg/x column is new/old)
# Jobs (one fio job, one connection):
#   randwrite     4 KiB random writes, iodepth 16
#   randwrite-fl  4 KiB random writes, iodepth 16, NBD_CMD_FLUSH every 32 writes (--fsync=32)
#   seqwrite      1 MiB sequential writes, iodepth 4
#   randread      4 KiB random reads, iodepth 16, after a random fill (64 KiB writes, random order)
#   seqread       1 MiB sequential reads, iodepth 4, after a random fill
# Rounds interleave the servers (A/B/C/D/E, then B/C/D/E/A, ...) and the
# table shows medians. fio's nbd engine prints a line before its JSON, so
# results go through --output=FILE.
#
# Environment: SCRATCH_PATH=DIR builds into DIR instead of .build;
# BENCH_DIR=DIR holds the disks (default /var/tmp; O_DIRECT needs a real file system).
# Output is printed and saved to bench/results/nbd-<date>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

size=2G seconds=10 runs=3
servers="logimg,qcow2-direct,qcow2-wb,raw-direct,nbdkit"
jobs="randwrite,randwrite-fl,seqwrite,randread,seqread"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --size) size="$2"; shift 2 ;;
        --seconds) seconds="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        --servers) servers="$2"; shift 2 ;;
        --jobs) jobs="$2"; shift 2 ;;
        -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
        *) echo "bench/nbd.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

for tool in fio qemu-img qemu-nbd nbdkit nbdinfo python3; do
    command -v "$tool" >/dev/null || { echo "bench/nbd.sh: $tool is missing (apt-get install qemu-utils libnbd-bin fio nbdkit)" >&2; exit 1; }
done
fio --enghelp=nbd >/dev/null 2>&1 || { echo "bench/nbd.sh: fio has no nbd engine" >&2; exit 1; }

build=(swift build -c release --product logimg)
if [[ -n "${SCRATCH_PATH:-}" ]]; then build+=(--scratch-path "$SCRATCH_PATH"); fi
"${build[@]}" >&2
logimg="$("${build[@]}" --show-bin-path)/logimg"

work="$(mktemp -d "${BENCH_DIR:-/var/tmp}/logimg-nbd-bench.XXXXXX")"
sock="$work/nbd.sock"
uri="nbd+unix:///?socket=$sock"
pid=""
cleanup() {
    if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# start_server NAME: a fresh disk and a server for it on $sock; sets $pid.
start_server() {
    rm -rf "$work/disk" "$sock"
    mkdir -p "$work/disk"
    case "$1" in
        logimg|logimg-base)
            local bin="$logimg"
            if [[ "$1" == logimg-base ]]; then
                bin="${LOGIMG_BASELINE:-}"
                [[ -x "$bin" ]] || { echo "bench/nbd.sh: logimg-base needs LOGIMG_BASELINE=/path/to/logimg" >&2; exit 2; }
            fi
            "$bin" create "$work/disk/d.limg" --size "$size" >/dev/null
            "$bin" serve "$work/disk/d.limg" --socket "$sock" >"$work/serve.out" 2>"$work/serve.err" &
            pid=$!
            ;;
        qcow2-direct|qcow2-wb)
            qemu-img create -q -f qcow2 "$work/disk/d.qcow2" "$size"
            local cache=none aio=native
            if [[ "$1" == qcow2-wb ]]; then cache=writeback aio=threads; fi
            qemu-nbd -f qcow2 --cache=$cache --aio=$aio -t -k "$sock" "$work/disk/d.qcow2" 2>"$work/serve.err" &
            pid=$!
            ;;
        raw-direct)
            truncate -s "$size" "$work/disk/d.raw"
            qemu-nbd -f raw --cache=none --aio=native -t -k "$sock" "$work/disk/d.raw" 2>"$work/serve.err" &
            pid=$!
            ;;
        nbdkit)
            truncate -s "$size" "$work/disk/d.raw"
            nbdkit -f -U "$sock" file "$work/disk/d.raw" 2>"$work/serve.err" &
            pid=$!
            ;;
        *) echo "bench/nbd.sh: unknown server $1" >&2; exit 2 ;;
    esac
    for _ in $(seq 200); do
        if [[ -S "$sock" ]] && nbdinfo --size "$uri" >/dev/null 2>&1; then return 0; fi
        sleep 0.05
    done
    echo "bench/nbd.sh: server $1 did not start: $(cat "$work/serve.err")" >&2
    exit 1
}

stop_server() {
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=""
}

fio_run() {  # fio_run OUTPUT fio-args...
    local out="$1"; shift
    fio --name=bench --ioengine=nbd --uri="$uri" --size="$size" --output-format=json --output="$out" "$@" >/dev/null
}

job_args() {
    case "$1" in
        randwrite) echo "--rw=randwrite --bs=4k --iodepth=16" ;;
        randwrite-fl) echo "--rw=randwrite --bs=4k --iodepth=16 --fsync=32" ;;
        seqwrite) echo "--rw=write --bs=1M --iodepth=4" ;;
        randread) echo "--rw=randread --bs=4k --iodepth=16" ;;
        seqread) echo "--rw=read --bs=1M --iodepth=4" ;;
        *) echo "bench/nbd.sh: unknown job $1" >&2; exit 2 ;;
    esac
}

IFS=, read -r -a server_list <<<"$servers"
IFS=, read -r -a job_list <<<"$jobs"
results="$work/results.tsv"
: >"$results"
total=$((runs * ${#job_list[@]} * ${#server_list[@]}))
n=0
for ((round = 0; round < runs; round++)); do
    for job in "${job_list[@]}"; do
        for ((i = 0; i < ${#server_list[@]}; i++)); do
            server="${server_list[$(((i + round) % ${#server_list[@]}))]}"
            n=$((n + 1))
            echo "[$n/$total] round $((round + 1)) $job $server" >&2
            start_server "$server"
            if [[ "$job" == *read ]]; then
                fio_run "$work/fill.json" --rw=randwrite --bs=64k --iodepth=16
            fi
            # shellcheck disable=SC2046  # job_args is meant to split into words
            fio_run "$work/job.json" $(job_args "$job") --time_based --runtime="$seconds" --ramp_time=1
            stop_server
            python3 - "$work/job.json" "$job" "$server" >>"$results" <<'EOF'
import json, sys
text = open(sys.argv[1]).read()
j = json.loads(text[text.index("{"):])["jobs"][0]
side = j["read"] if j["read"]["io_bytes"] > 0 else j["write"]
p99 = side.get("clat_ns", {}).get("percentile", {}).get("99.000000", 0) / 1000
print(f"{sys.argv[2]}\t{sys.argv[3]}\t{side['iops']:.0f}\t{side['bw_bytes'] / 1e6:.1f}\t{p99:.0f}")
EOF
        done
    done
done

stamp="$(date -u +%Y%m%d-%H%M%S)"
mkdir -p bench/results
out="bench/results/nbd-${stamp}.txt"
{
    echo "# logimg NBD benchmark (fio nbd engine)"
    echo "date:    $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "command: bench/nbd.sh --size $size --seconds $seconds --runs $runs --servers $servers --jobs $jobs"
    echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- Sources 2>/dev/null || echo ' (+ uncommitted changes)')"
    echo "nproc:   $(nproc)"
    echo "cpu:     $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "memory:  $(free -h | awk '/^Mem:/ {print $2}')"
    echo "kernel:  $(uname -r)"
    if [[ -n "${LOGIMG_BASELINE:-}" ]]; then echo "logimg-base: $LOGIMG_BASELINE"; fi
    echo "fio:     $(fio --version)   qemu-nbd: $(qemu-nbd --version | head -1)   nbdkit: $(nbdkit --version)"
    echo "fs:      $(df -T "$work" | awk 'NR==2 {print $2 " on " $1 " (" $7 ")"}')"
    echo
    python3 - "$results" <<'EOF'
import statistics, sys
from collections import defaultdict
runs = defaultdict(list)
for line in open(sys.argv[1]):
    job, server, iops, mbs, p99 = line.rstrip("\n").split("\t")
    runs[(job, server)].append((float(iops), float(mbs), float(p99)))
med = {k: tuple(statistics.median(x[i] for x in v) for i in range(3)) for k, v in runs.items()}
jobs = list(dict.fromkeys(k[0] for k in runs))
servers = list(dict.fromkeys(k[1] for k in runs))
print(f"{'job':<14}{'server':<14}{'IOPS':>10}{'MB/s':>10}{'p99 us':>10}{'logimg/x':>10}   (medians of {len(next(iter(runs.values())))} runs)")
for job in jobs:
    base = med.get((job, "logimg"))
    for s in servers:
        if (job, s) not in med: continue
        iops, mbs, p99 = med[(job, s)]
        ratio = f"{base[0] / iops:.2f}x" if base and s != "logimg" and iops > 0 else ""
        print(f"{job:<14}{s:<14}{iops:>10.0f}{mbs:>10.1f}{p99:>10.0f}{ratio:>10}")
    print()
def r(job, others):
    b = med.get((job, "logimg")); xs = [med[(job, o)][0] for o in others if (job, o) in med]
    return b[0] / max(xs) if b and xs else None
goals = [
    ("randwrite", ["raw-direct"], 1.0, "random writes vs qemu-nbd raw"),
    ("randwrite", ["qcow2-direct", "qcow2-wb"], 1.2, "random writes vs the better qcow2"),
    ("randwrite-fl", ["qcow2-direct", "qcow2-wb"], 2.0, "random writes with flushes vs the better qcow2"),
    ("seqwrite", ["raw-direct"], 0.9, "sequential writes vs raw"),
    ("seqread", ["raw-direct"], 0.9, "sequential reads vs raw"),
    ("randread", ["qcow2-direct", "qcow2-wb"], 0.9, "random reads vs the better qcow2"),
]
print("goals:")
for job, others, want, what in goals:
    got = r(job, others)
    if got is None: continue
    print(f"  {'met ' if got >= want else 'MISS'}  {what}: {got:.2f}x (goal {want}x)")
nb = r("randwrite", ["nbdkit"])
if nb is not None: print(f"  info  random writes vs nbdkit (aim): {nb:.2f}x")
EOF
} | tee "$out"
echo
echo "saved to $out"
