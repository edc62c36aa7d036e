#!/usr/bin/env bash
# Snapshot benchmark: logimg vs qcow2 internal snapshots, in two modes.
#
#   bench/snapshot.sh                              # size mode: default sizes (see below)
#   SNAPSHOT_BENCH_SIZES="1G 4G 16G" bench/snapshot.sh
#   bench/snapshot.sh --depth [--keep]             # depth mode: 0 … 10,000 snapshots
#
# Depth mode (bench/snapshot-depth.sh, which documents it and its
# SNAPSHOT_DEPTH_* settings): head and oldest-view reads, snapshot create,
# delete, revert and list, open, recovery, checkpoint size and memory at
# 0, 10, 100, 1,000 and 10,000 snapshots, beside qcow2 with as many internal
# snapshots; saved to bench/results/snapshot-depth-<date>.txt.
#
# Size mode:
# For each size S, the disk is S bytes and every 4 KiB block of it is written
# exactly once in a random order: S/4K random 4 KiB writes, one extent each
# (about 4M extents at 16 GiB). Then, median of several runs each:
#   - logimg in-process: LogImage.createSnapshot, then deleteSnapshot
#     (logimg-bench --snapshot-bench time);
#   - logimg CLI: `logimg snapshot create` then `logimg snapshot delete`,
#     wall time of the whole process (start, open, operation, close);
#   - qemu-img: `qemu-img snapshot -c` then `-d` on a qcow2 (64 KiB clusters)
#     with the same contents. The qcow2 is made with `qemu-img convert` from a
#     raw file holding the same bytes, which allocates the same clusters as
#     the random 4 KiB writes would (every cluster holds written data).
# Process start alone (`logimg --version`, `qemu-img --version`) is timed too.
#
# Environment:
#   SNAPSHOT_BENCH_SIZES   sizes written (default "1G 4G 16G")
#   SNAPSHOT_BENCH_REPS    in-process repetitions (default 9)
#   SNAPSHOT_BENCH_CLI_REPS  CLI / qemu-img repetitions (default 7)
#   SCRATCH_PATH=DIR       build into DIR instead of .build
#   BENCH_DIR=DIR          put the images there (default: a new directory under /var/tmp)
# Disk space: about 2 x the largest size (the raw file is removed once the
# qcow2 is made). Output is printed and saved with the command, date and
# machine to bench/results/snapshot-<date>.txt.
set -euo pipefail
if [[ "${1:-}" == --depth ]]; then exec "$(dirname "$0")/snapshot-depth.sh" "$@"; fi
cd "$(dirname "$0")/.."
export LC_ALL=C

default_sizes="1G 4G 16G"
sizes="${SNAPSHOT_BENCH_SIZES:-$default_sizes}"
reps="${SNAPSHOT_BENCH_REPS:-9}"
cli_reps="${SNAPSHOT_BENCH_CLI_REPS:-7}"

build=(swift build -c release)
if [[ -n "${SCRATCH_PATH:-}" ]]; then build+=(--scratch-path "$SCRATCH_PATH"); fi
"${build[@]}" --product logimg >&2
"${build[@]}" --product logimg-bench >&2
bin="$("${build[@]}" --show-bin-path)"
logimg="$bin/logimg"
bench="$bin/logimg-bench"
command -v qemu-img >/dev/null || { echo "bench/snapshot.sh: qemu-img not found (apt-get install qemu-utils)" >&2; exit 1; }

own_dir=0
if [[ -n "${BENCH_DIR:-}" ]]; then dir="$BENCH_DIR"; mkdir -p "$dir"; else dir="/var/tmp/logimg-snapbench-$$"; mkdir -p "$dir"; own_dir=1; fi
cleanup() { rm -rf "$dir/bench.limg" "$dir/bench.raw" "$dir/bench.qcow2"; if (( own_dir )); then rmdir "$dir" 2>/dev/null || true; fi; }
trap cleanup EXIT

now_us() { local t="$EPOCHREALTIME"; echo "${t/./}"; }
median() { sort -g | awk '{a[NR]=$1} END { if (NR % 2) printf "%.3f\n", a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2 }'; }
# Times "$@" (a whole process) in ms; fails the script if it fails.
time_ms() { local t0 t1; t0=$(now_us); "$@" >/dev/null; t1=$(now_us); awk -v d=$((t1 - t0)) 'BEGIN { printf "%.3f\n", d / 1000 }'; }
get() { awk -v k="$1" '$1 == k { print $2 }' <<<"$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "-" }'; }

stamp="$(date -u +%Y%m%d-%H%M%S)"
mkdir -p bench/results
out="bench/results/snapshot-${stamp}.txt"
{
    echo "# logimg snapshot benchmark"
    echo "date:    $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "command: SNAPSHOT_BENCH_SIZES=\"$sizes\" SNAPSHOT_BENCH_REPS=$reps SNAPSHOT_BENCH_CLI_REPS=$cli_reps bench/snapshot.sh $*"
    echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- Sources 2>/dev/null || echo ' (+ uncommitted changes)')"
    echo "nproc:   $(nproc)"
    echo "cpu:     $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "memory:  $(free -h | awk '/^Mem:/ {print $2}')"
    echo "kernel:  $(uname -r)"
    echo "load:    $(cut -d" " -f1-3 /proc/loadavg) (1/5/15 min, before the run)"
    echo "swift:   $(swift --version 2>/dev/null | head -1)"
    echo "qemu:    $(qemu-img --version | head -1)"
    echo "fs:      $(df -T "$dir" | awk 'NR==2 {print $2 " on " $1 " (" $7 ")"}')"
    echo "method:  disk of S bytes, each 4 KiB block written once in random order (S/4K writes, one extent each);"
    echo "         qcow2 (64 KiB clusters) made by qemu-img convert from a raw file with the same bytes;"
    echo "         in-process: median of $reps createSnapshot/deleteSnapshot on an open image;"
    echo "         CLI: median of $cli_reps whole processes (start + open + op + exit; the op's record is flushed,"
    echo "         no closing checkpoint); qemu-img likewise."
    echo

    start_l=(); start_q=()
    for _ in $(seq "$cli_reps"); do start_l+=("$(time_ms "$logimg" --version)"); start_q+=("$(time_ms qemu-img --version)"); done
    pstart_l=$(printf '%s\n' "${start_l[@]}" | median); pstart_q=$(printf '%s\n' "${start_q[@]}" | median)
    echo "process start alone: logimg --version ${pstart_l} ms, qemu-img --version ${pstart_q} ms"
    echo

    rows=()
    for size in $sizes; do
        echo "== $size written by 4 KiB random writes"
        rm -rf "$dir/bench.limg" "$dir/bench.raw" "$dir/bench.qcow2"
        # qcow2 first (through a raw file), then the raw file goes, then the limg image.
        raw_out=$("$bench" --snapshot-bench prepare-raw --raw "$dir/bench.raw" --written "$size")
        t0=$(now_us)
        qemu-img convert -f raw -O qcow2 -o cluster_size=65536 "$dir/bench.raw" "$dir/bench.qcow2"
        t1=$(now_us)
        rm -f "$dir/bench.raw"
        clusters=$(qemu-img check "$dir/bench.qcow2" | awk -F'[ /]' '/allocated/ { print $1; exit }')
        echo "qcow2: $clusters allocated 64 KiB clusters, $(du -h "$dir/bench.qcow2" | cut -f1) (raw file $(get raw_seconds "$raw_out") s, convert $(awk -v d=$((t1 - t0)) 'BEGIN { printf "%.1f", d / 1e6 }') s)"
        prep=$("$bench" --snapshot-bench prepare-image --image "$dir/bench.limg" --written "$size")
        extents=$(get extents "$prep")
        echo "limg:  $(get writes "$prep") writes in $(get write_seconds "$prep") s ($(get write_iops "$prep") IOPS), $extents extents, $(du -sh "$dir/bench.limg" | cut -f1)"

        inproc=$("$bench" --snapshot-bench time --image "$dir/bench.limg" --reps "$reps")
        ic=$(get create_ms "$inproc"); id=$(get delete_ms "$inproc")
        echo "logimg in-process: create $ic ms, delete $id ms (median of $reps; open $(get open_ms "$inproc") ms, close $(get close_ms "$inproc") ms)"
        echo "  create runs (ms): $(get create_all_ms "$inproc")"
        echo "  delete runs (ms): $(get delete_all_ms "$inproc")"

        lc=(); ld=(); qc=(); qd=()
        for r in $(seq "$cli_reps"); do
            lc+=("$(time_ms "$logimg" snapshot create "$dir/bench.limg" "cli-$r")")
            ld+=("$(time_ms "$logimg" snapshot delete "$dir/bench.limg" "cli-$r")")
            qc+=("$(time_ms qemu-img snapshot -c "cli-$r" "$dir/bench.qcow2")")
            qd+=("$(time_ms qemu-img snapshot -d "cli-$r" "$dir/bench.qcow2")")
        done
        clc=$(printf '%s\n' "${lc[@]}" | median); cld=$(printf '%s\n' "${ld[@]}" | median)
        cqc=$(printf '%s\n' "${qc[@]}" | median); cqd=$(printf '%s\n' "${qd[@]}" | median)
        echo "logimg CLI:        create $clc ms, delete $cld ms (median of $cli_reps; runs: ${lc[*]} / ${ld[*]})"
        echo "qemu-img snapshot: create $cqc ms, delete $cqd ms (median of $cli_reps; runs: ${qc[*]} / ${qd[*]})"
        echo
        rows+=("$size $extents $clusters $ic $id $clc $cld $cqc $cqd")
        rm -rf "$dir/bench.limg" "$dir/bench.qcow2"
    done

    echo "Summary (ms, medians). ratio = qemu-img / logimg: above 1x, logimg is faster."
    printf '%-8s %9s %9s | %10s %10s | %10s %10s | %10s %10s | %9s %9s | %9s %9s\n' \
        written extents clusters "in-proc c" "in-proc d" "CLI c" "CLI d" "qemu c" "qemu d" \
        "qemu/CLI c" "qemu/CLI d" "qemu/in c" "qemu/in d"
    for row in "${rows[@]}"; do
        read -r s e c ic id clc cld cqc cqd <<<"$row"
        printf '%-8s %9s %9s | %10s %10s | %10s %10s | %10s %10s | %9s %9s | %9s %9s\n' \
            "$s" "$e" "$c" "$ic" "$id" "$clc" "$cld" "$cqc" "$cqd" \
            "$(ratio "$cqc" "$clc")" "$(ratio "$cqd" "$cld")" "$(ratio "$cqc" "$ic")" "$(ratio "$cqd" "$id")"
    done
    echo "(c = snapshot create, d = delete; CLI and qemu-img include process start: ${pstart_l} ms / ${pstart_q} ms alone)"
} | tee "$out"
echo
echo "saved to $out"
