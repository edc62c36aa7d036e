#!/usr/bin/env bash
# Live snapshot benchmark: snapshots of a disk in use, logimg against
# qemu-storage-daemon (qcow2 internal snapshots over QMP).
#
#   bench/live.sh                                  # 4 GiB, 100 snapshots, one a second
#   bench/live.sh --size 1G --snapshots 20 --interval 0.5 --runs 1
#
# For each server, on a fresh disk of SIZE served over NBD on a Unix socket:
#   1. fill: fio writes the whole disk (1 MiB sequential writes), so a
#      snapshot is taken of SIZE written;
#   2. quiet: fio 4 KiB random writes, iodepth 16, for SNAPSHOTS x INTERVAL + 4 s
#      with no snapshot (the guest's latency baseline);
#   3. snapshots: the same fio job while SNAPSHOTS snapshots are taken, one
#      every INTERVAL seconds:
#        logimg   `logimg snapshot create IMAGE sN` from another process, timed
#                 around the whole process (start-up, finding the server through
#                 its control socket, the command, exit);
#        qsd      `blockdev-snapshot-internal-sync` over one QMP connection
#                 opened beforehand (bench/qmp-snapshots.py: no process start,
#                 the anchor's best case).
# Servers: `logimg serve IMAGE --socket S` (release build) and
# `qemu-storage-daemon` with a qcow2 (64 KiB clusters, cache=writeback,
# aio=threads) exported with `--export type=nbd` and a QMP monitor.
# Reported: snapshot latency p50/p99/max; the guest's write latency p99 and max
# (fio lat, submission to completion) with and without snapshots; ratios
# (goals: logimg p99 < 50 ms and >= 5x faster than qsd; guest p99 during
# snapshots within 1.5x of quiet).
#
# Environment: SCRATCH_PATH=DIR builds into DIR instead of .build;
# BENCH_DIR=DIR holds the disks (default /var/tmp).
# Output is printed and saved to bench/results/live-<date>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

size=4G snapshots=100 interval=1 runs=1 servers="logimg,qsd"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --size) size="$2"; shift 2 ;;
        --snapshots) snapshots="$2"; shift 2 ;;
        --interval) interval="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        --servers) servers="$2"; shift 2 ;;
        -h|--help) sed -n '2,31p' "$0"; exit 0 ;;
        *) echo "bench/live.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

for tool in fio qemu-img qemu-storage-daemon nbdinfo python3; do
    command -v "$tool" >/dev/null || { echo "bench/live.sh: $tool is missing (apt-get install qemu-utils qemu-system-common libnbd-bin fio)" >&2; exit 1; }
done
fio --enghelp=nbd >/dev/null 2>&1 || { echo "bench/live.sh: fio has no nbd engine" >&2; exit 1; }

build=(swift build -c release --product logimg)
if [[ -n "${SCRATCH_PATH:-}" ]]; then build+=(--scratch-path "$SCRATCH_PATH"); fi
"${build[@]}" >&2
logimg="$("${build[@]}" --show-bin-path)/logimg"

work="$(mktemp -d "${BENCH_DIR:-/var/tmp}/logimg-live-bench.XXXXXX")"
sock="$work/nbd.sock" qmp="$work/qmp.sock"
pid=""
cleanup() {
    if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

fio_seconds=$(awk -v n="$snapshots" -v i="$interval" 'BEGIN { printf "%d", n * i + 4 }')
now_us() { local t="$EPOCHREALTIME"; echo "${t/./}"; }

wait_nbd() {
    for _ in $(seq 400); do
        if nbdinfo --size "nbd+unix:///?socket=$sock" >/dev/null 2>&1; then return 0; fi
        if ! kill -0 "$pid" 2>/dev/null; then break; fi
        sleep 0.05
    done
    echo "bench/live.sh: $1 did not start: $(cat "$work/server.err")" >&2
    exit 1
}

# start_server NAME: a fresh disk and its server on $sock; sets $pid.
start_server() {
    rm -rf "$work/disk" "$sock" "$qmp"
    mkdir -p "$work/disk"
    case "$1" in
        logimg)
            "$logimg" create "$work/disk/d.limg" --size "$size" >/dev/null
            "$logimg" serve "$work/disk/d.limg" --socket "$sock" >/dev/null 2>"$work/server.err" &
            pid=$! ;;
        qsd)
            qemu-img create -q -f qcow2 -o cluster_size=64k "$work/disk/d.qcow2" "$size"
            qemu-storage-daemon \
                --blockdev "driver=file,node-name=file0,filename=$work/disk/d.qcow2,aio=threads,cache.direct=off" \
                --blockdev driver=qcow2,node-name=disk0,file=file0 \
                --nbd-server "addr.type=unix,addr.path=$sock" \
                --export type=nbd,id=exp0,node-name=disk0,name=,writable=on \
                --chardev "socket,id=qmp0,path=$qmp,server=on,wait=off" \
                --monitor chardev=qmp0 >/dev/null 2>"$work/server.err" &
            pid=$! ;;
    esac
    wait_nbd "$1"
}
stop_server() { kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""; }

# run_fio NAME ARGS...: one fio job on the export; JSON to $work/NAME.json.
run_fio() {
    local name="$1"; shift
    fio --name="$name" --ioengine=nbd --uri="nbd+unix:///?socket=$sock" --size="$size" \
        --lat_percentiles=1 --percentile_list=50:99:99.9 \
        --output-format=json --output="$work/$name.json" "$@" >/dev/null
}
# fio_lat FILE: write lat p99 and max in ms.
fio_lat() {
    python3 - "$1" <<'PY'
import json, sys
t = open(sys.argv[1]).read(); w = json.loads(t[t.index("{"):])["jobs"][0]["write"]
p = w["lat_ns"]["percentile"]
print("%.3f %.3f %.0f" % (p["99.000000"] / 1e6, w["lat_ns"]["max"] / 1e6, w["iops"]))
PY
}
# stats: p50 p99 max of the numbers on stdin.
stats() { sort -g | awk '{a[NR]=$1} END { i99 = int(NR * 0.99 + 0.999); if (i99 < 1) i99 = 1; if (i99 > NR) i99 = NR; printf "%.1f %.1f %.1f\n", a[int((NR + 1) / 2)], a[i99], a[NR] }'; }

take_snapshots() {  # take_snapshots SERVER: latencies (ms) to $work/snap-SERVER.txt
    local out="$work/snap-$1.txt"; : >"$out"
    case "$1" in
        logimg)
            local start t0 t1 next
            start=$(now_us)
            for i in $(seq "$snapshots"); do
                t0=$(now_us)
                "$logimg" snapshot create "$work/disk/d.limg" "s$i" >/dev/null
                t1=$(now_us)
                awk -v d=$((t1 - t0)) 'BEGIN { printf "%.3f\n", d / 1000 }' >>"$out"
                next=$(awk -v s="$start" -v i="$i" -v iv="$interval" 'BEGIN { printf "%d", s + i * iv * 1e6 }')
                t1=$(now_us)
                if (( next > t1 )); then sleep "$(awk -v d=$((next - t1)) 'BEGIN { printf "%.6f", d / 1e6 }')"; fi
            done ;;
        qsd)
            python3 bench/qmp-snapshots.py "$qmp" disk0 "$snapshots" "$interval" >"$out" ;;
    esac
}

stamp=$(date +%Y%m%d-%H%M%S)
out="bench/results/live-${stamp}.txt"
mkdir -p bench/results
declare -A snap quiet busy
{
    echo "# bench/live.sh --size $size --snapshots $snapshots --interval $interval --runs $runs --servers $servers"
    echo "# $(date -u '+%Y-%m-%d %H:%M:%S UTC'); $(nproc) cores; $(uname -r); commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "# $(qemu-storage-daemon --version | head -1); $(fio --version)"
} | tee "$out"

IFS=, read -r -a server_list <<<"$servers"
for run in $(seq "$runs"); do
    for s in "${server_list[@]}"; do
        echo "== run $run: $s" >&2
        start_server "$s"
        run_fio fill --rw=write --bs=1M --iodepth=4
        run_fio quiet --rw=randwrite --bs=4k --iodepth=16 --time_based --runtime="$fio_seconds" --randrepeat=0
        run_fio busy --rw=randwrite --bs=4k --iodepth=16 --time_based --runtime="$fio_seconds" --randrepeat=0 &
        fio_pid=$!
        sleep 2
        take_snapshots "$s"
        wait "$fio_pid"
        stop_server
        snap[$s]+="$(cat "$work/snap-$s.txt")"$'\n'
        quiet[$s]+="$(fio_lat "$work/quiet.json")"$'\n'
        busy[$s]+="$(fio_lat "$work/busy.json")"$'\n'
    done
done

median_col() { awk -v c="$1" 'NF { print $c }' | sort -g | awk '{a[NR]=$1} END { printf "%.3f", a[int((NR + 1) / 2)] }'; }
{
    echo
    printf "%-8s %10s %10s %10s | %12s %12s %10s | %12s %12s %10s | %8s\n" server "snap p50" "snap p99" "snap max" "quiet p99" "quiet max" "quiet IOPS" "busy p99" "busy max" "busy IOPS" "busy/quiet p99"
    for s in "${server_list[@]}"; do
        read -r p50 p99 max <<<"$(printf '%s' "${snap[$s]}" | grep . | stats)"
        qp99=$(printf '%s' "${quiet[$s]}" | median_col 1); qmax=$(printf '%s' "${quiet[$s]}" | median_col 2); qiops=$(printf '%s' "${quiet[$s]}" | median_col 3)
        bp99=$(printf '%s' "${busy[$s]}" | median_col 1); bmax=$(printf '%s' "${busy[$s]}" | median_col 2); biops=$(printf '%s' "${busy[$s]}" | median_col 3)
        ratio=$(awk -v b="$bp99" -v q="$qp99" 'BEGIN { printf "%.2fx", b / q }')
        printf "%-8s %8s ms %8s ms %8s ms | %9s ms %9s ms %10.0f | %9s ms %9s ms %10.0f | %8s\n" "$s" "$p50" "$p99" "$max" "$qp99" "$qmax" "$qiops" "$bp99" "$bmax" "$biops" "$ratio"
        eval "p99_$s=$p99"
    done
    if [[ -n "${p99_logimg:-}" && -n "${p99_qsd:-}" ]]; then
        awk -v l="$p99_logimg" -v q="$p99_qsd" 'BEGIN { printf "\nsnapshot latency p99: logimg %.1f ms, qemu-storage-daemon %.1f ms: logimg %.1fx faster (goal >= 5x, and < 50 ms)\n", l, q, q / l }'
    fi
    echo "(snapshot latency: logimg = whole CLI process; qsd = QMP round trip on an open connection)"
    for s in "${server_list[@]}"; do
        echo "$s snapshot latencies, ms, in order taken: $(printf '%s' "${snap[$s]}" | grep . | tr '\n' ' ')"
    done
} | tee -a "$out"
echo "saved to $out" >&2
