#!/usr/bin/env bash
# Snapshot depth benchmark: reads and snapshot operations at 0 … 10,000
# snapshots, logimg vs qcow2 internal snapshots. Run as `bench/snapshot.sh --depth`
# (or directly); see bench/snapshot.sh for the other mode.
#
#   bench/snapshot.sh --depth                                  # 0 10 100 1000 10000 snapshots
#   SNAPSHOT_DEPTH_COUNTS="0 10 100" SNAPSHOT_DEPTH_READS=50000 bench/snapshot.sh --depth
#   bench/snapshot.sh --depth --keep                           # keep the images
#
# For each count N (ascending): a 1 GiB disk, its first 256 MiB written with
# 1 MiB writes, then N rounds of 16 random 4 KiB writes into those 256 MiB,
# each followed by a snapshot s1 … sN (seeded: every run does the same
# writes). Built once per N, then measured:
#   - in process (logimg-bench --snapshot-depth measure): R random 4 KiB reads
#     of the 256 MiB from the head and from the oldest snapshot's view
#     (queue depth 1, page cache warm); createSnapshot (+ untimed delete),
#     revert to the newest snapshot, deleteSnapshot in the middle of the chain,
#     snapshots(includeUsage: true / false); clean open; recovery (open after a
#     child wrote, flushed and exited without closing); newest checkpoint file
#     size; map memory (ImageInfo.mapBytes) and RSS growth over the first open;
#   - through `logimg serve --no-compact` with fio's nbd engine (randread 4k,
#     iodepth 16, the 256 MiB): the head export and the oldest snapshot's;
#   - CLI: `logimg snapshot create` + `delete`, `logimg snapshot list` (whole processes);
#   - qcow2 (64 KiB clusters) with the same fill and the same writes (qemu-io)
#     and N internal snapshots (`qemu-img snapshot -c` per round), while N <=
#     SNAPSHOT_DEPTH_QCOW2_MAX: `qemu-img bench` (R reads of 4 KiB, depth 16,
#     step 289 x 4 KiB over the first 256 MiB, -t none and -t writeback), fio
#     through `qemu-nbd -r` on the head and on `-l s1`, and `qemu-img snapshot
#     -c` + `-d`, `-l`;
#   - a control image per N > 0: the same fill and rounds with no snapshot, its head
#     read in the same rounds as the image's head and view (what the larger map
#     costs, told apart from what the snapshots cost);
#   - at N=1000: every snapshot but the oldest deleted, then head reads again,
#     after a Compactor pass, and after a reopen (logimg-bench --snapshot-depth shrink).
#
# Environment:
#   SNAPSHOT_DEPTH_COUNTS      snapshot counts (default "0 10 100 1000 10000")
#   SNAPSHOT_DEPTH_READS       in-process and qemu-img bench reads (default 200000)
#   SNAPSHOT_DEPTH_REPS        in-process repetitions per operation (default 7)
#   SNAPSHOT_DEPTH_CLI_REPS    CLI / qemu-img repetitions (default 5)
#   SNAPSHOT_DEPTH_FIO_SECONDS fio run time per export (default 5, plus 1 s ramp)
#   SNAPSHOT_DEPTH_QCOW2_MAX   most qcow2 snapshots built (default 1000; "n/a" above): each round is a
#                              qemu-io and a qemu-img snapshot -c process, 0.1-0.4 s a round between 100 and
#                              1,000 snapshots (2 loaded cores) and growing with N, so 10,000 takes hours
#   SNAPSHOT_DEPTH_LIST_MAX    most snapshots at which snapshots(includeUsage: true) and `logimg snapshot
#                              list` (which shows usage) are timed (default 10000; "n/a" above): on the
#                              delta-map index they take 0.8 s at 100 and minutes at 1,000
#   SCRATCH_PATH=DIR           build into DIR instead of .build
#   BENCH_DIR=DIR              put the images there (default: a new directory under /var/tmp)
# Output is printed and saved with the command, date and machine to
# bench/results/snapshot-depth-<date>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C

keep=0
for a in "$@"; do
    case "$a" in
        --depth) ;;
        --keep) keep=1 ;;
        -h|--help) sed -n '2,44p' "$0"; exit 0 ;;
        *) echo "bench/snapshot-depth.sh: unknown argument $a" >&2; exit 2 ;;
    esac
done
counts="$(tr ' ' '\n' <<<"${SNAPSHOT_DEPTH_COUNTS:-0 10 100 1000 10000}" | grep . | sort -n | uniq | tr '\n' ' ')"
reads="${SNAPSHOT_DEPTH_READS:-200000}"
reps="${SNAPSHOT_DEPTH_REPS:-7}"
cli_reps="${SNAPSHOT_DEPTH_CLI_REPS:-5}"
fio_seconds="${SNAPSHOT_DEPTH_FIO_SECONDS:-5}"
qcow2_max="${SNAPSHOT_DEPTH_QCOW2_MAX:-1000}"
list_max="${SNAPSHOT_DEPTH_LIST_MAX:-10000}"
size=1G filled=256M filled_bytes=$((256 << 20))

for tool in qemu-img qemu-io qemu-nbd fio nbdinfo python3; do
    command -v "$tool" >/dev/null || { echo "bench/snapshot-depth.sh: $tool is missing (apt-get install qemu-utils libnbd-bin fio)" >&2; exit 1; }
done
fio --enghelp=nbd >/dev/null 2>&1 || { echo "bench/snapshot-depth.sh: fio has no nbd engine" >&2; exit 1; }

build=(swift build -c release)
if [[ -n "${SCRATCH_PATH:-}" ]]; then build+=(--scratch-path "$SCRATCH_PATH"); fi
"${build[@]}" --product logimg >&2
"${build[@]}" --product logimg-bench >&2
bin="$("${build[@]}" --show-bin-path)"
logimg="$bin/logimg"
bench="$bin/logimg-bench"

own_dir=0
if [[ -n "${BENCH_DIR:-}" ]]; then dir="$BENCH_DIR"; mkdir -p "$dir"; else dir="/var/tmp/logimg-snapdepth-$$"; mkdir -p "$dir"; own_dir=1; fi
sock="$dir/nbd.sock"
pid=""
cleanup() {
    if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -f "$sock" "$dir/fio.json" "$dir/serve.err" "$dir/base.raw"
    if (( ! keep )); then
        rm -rf "$dir"/d*.limg "$dir/d.qcow2" "$dir/results.txt" "$dir/offsets.txt"
        if (( own_dir )); then rmdir "$dir" 2>/dev/null || true; fi
    fi
}
trap cleanup EXIT

now_us() { local t="$EPOCHREALTIME"; echo "${t/./}"; }
median() { sort -g | awk '{a[NR]=$1} END { if (NR % 2) printf "%.3f\n", a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2 }'; }
time_ms() { local t0 t1; t0=$(now_us); "$@" >/dev/null; t1=$(now_us); awk -v d=$((t1 - t0)) 'BEGIN { printf "%.3f\n", d / 1000 }'; }
results="$dir/results.txt"
: >"$results"
put() { echo "$1 $2 $3" >>"$results"; }             # put N key value
put_kv() { while read -r k v; do [[ -n "$k" ]] && put "$1" "$k" "$v"; done <<<"$2"; }

# O_DIRECT for qemu-img bench -t none, if the file system takes it.
cache_direct=none
if ! dd if=/dev/zero of="$dir/odirect" bs=4096 count=1 oflag=direct 2>/dev/null; then cache_direct=""; fi
rm -f "$dir/odirect"

# serve_fio NAME EXPORT: fio randread through the running server on $sock; prints IOPS.
wait_socket() {
    for _ in $(seq 200); do
        if [[ -S "$sock" ]] && nbdinfo --size "nbd+unix:///${1}?socket=$sock" >/dev/null 2>&1; then return 0; fi
        sleep 0.05
    done
    echo "bench/snapshot-depth.sh: server did not start: $(cat "$dir/serve.err")" >&2
    exit 1
}
stop_server() { kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""; }
fio_iops() {  # fio_iops EXPORT
    fio --name=depth --ioengine=nbd --uri="nbd+unix:///${1}?socket=$sock" --size="$filled" \
        --rw=randread --bs=4k --iodepth=16 --time_based --runtime="$fio_seconds" --ramp_time=1 \
        --output-format=json --output="$dir/fio.json" >/dev/null
    python3 -c 'import json,sys; t=open(sys.argv[1]).read(); print("%.0f" % json.loads(t[t.index("{"):])["jobs"][0]["read"]["iops"])' "$dir/fio.json"
}
logimg_fio() {  # logimg_fio IMAGE EXPORT
    rm -f "$sock"
    "$logimg" serve "$1" --socket "$sock" --no-compact >/dev/null 2>"$dir/serve.err" & pid=$!
    wait_socket "$2"; fio_iops "$2"; stop_server
}
qemu_fio() {  # qemu_fio QCOW2 EXPORT-SNAPSHOT ("" = head)
    rm -f "$sock"
    local load=(); if [[ -n "$2" ]]; then load=(-l "$2"); fi
    qemu-nbd -f qcow2 -r --cache=writeback --aio=threads "${load[@]}" -t -k "$sock" "$1" 2>"$dir/serve.err" & pid=$!
    wait_socket ""; fio_iops ""; stop_server
}
qemu_bench() {  # qemu_bench QCOW2 CACHE: reads/s over the first 256 MiB (a raw layer bounds it)
    local aio=(); if [[ "$2" == none ]]; then aio=(-i native); fi
    qemu-img bench -c "$reads" -d 16 -s 4096 -S $((289 * 4096)) -t "$2" "${aio[@]}" --image-opts \
        "driver=raw,size=$filled_bytes,file.driver=qcow2,file.file.driver=file,file.file.filename=$1" |
        awk -v n="$reads" '/Run completed in/ { for (i = 1; i <= NF; i++) if ($i == "in") { printf "%.0f\n", n / $(i + 1); exit } }'
}

stamp="$(date -u +%Y%m%d-%H%M%S)"
mkdir -p bench/results
out="bench/results/snapshot-depth-${stamp}.txt"
{
    echo "# logimg snapshot depth benchmark"
    echo "date:    $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "command: SNAPSHOT_DEPTH_COUNTS=\"${counts% }\" SNAPSHOT_DEPTH_READS=$reads SNAPSHOT_DEPTH_REPS=$reps SNAPSHOT_DEPTH_CLI_REPS=$cli_reps SNAPSHOT_DEPTH_FIO_SECONDS=$fio_seconds SNAPSHOT_DEPTH_QCOW2_MAX=$qcow2_max SNAPSHOT_DEPTH_LIST_MAX=$list_max bench/snapshot.sh --depth"
    echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- Sources 2>/dev/null || echo ' (+ uncommitted changes)')"
    echo "nproc:   $(nproc)"
    echo "cpu:     $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "memory:  $(free -h | awk '/^Mem:/ {print $2}')"
    echo "kernel:  $(uname -r)"
    echo "load:    $(cut -d" " -f1-3 /proc/loadavg) (1/5/15 min, before the run)"
    echo "swift:   $(swift --version 2>/dev/null | head -1)"
    echo "qemu:    $(qemu-img --version | head -1)   fio: $(fio --version)"
    echo "fs:      $(df -T "$dir" | awk 'NR==2 {print $2 " on " $1 " (" $7 ")"}')"
    echo "method:  1 GiB disk, first 256 MiB written (1 MiB writes), then N x (16 random 4 KiB writes + snapshot);"
    echo "         reads: $reads random 4 KiB of the 256 MiB; qemu-img bench: -d 16, step 289 x 4 KiB, -t ${cache_direct:-writeback (no O_DIRECT)} and -t writeback;"
    echo "         fio: nbd engine, randread 4k, iodepth 16, ${fio_seconds} s (+1 s ramp); qcow2 built up to $qcow2_max snapshots"
    echo

    # qcow2: made once from a raw file with the fill's bytes, then advanced from one N to the next
    # (the rounds are one seeded sequence, so N=100's image is N=10's plus 90 rounds).
    "$bench" --snapshot-bench prepare-raw --raw "$dir/base.raw" --written "$filled" >/dev/null
    truncate -s "$size" "$dir/base.raw"
    qemu-img convert -f raw -O qcow2 -o cluster_size=65536 "$dir/base.raw" "$dir/d.qcow2"
    rm -f "$dir/base.raw"
    qcow2_n=0
    max_n=$(awk '{print $NF}' <<<"$counts")
    "$bench" --snapshot-depth offsets --snapshots "$max_n" >"$dir/offsets.txt"
    mapfile -t rounds <"$dir/offsets.txt"

    for n in $counts; do
        echo "== $n snapshots"
        img="$dir/d$n.limg"
        rm -rf "$img"
        kv=$("$bench" --snapshot-depth build --image "$img" --snapshots "$n")
        put_kv "$n" "$kv"
        echo "logimg: built in $(awk '$1 == "build_seconds" {print $2}' <<<"$kv") s, $(du -sh "$img" | cut -f1)"

        qcow2=""
        if (( n <= qcow2_max )); then
            t0=$(now_us)
            for ((r = qcow2_n + 1; r <= n; r++)); do
                cmds=()
                for off in ${rounds[r - 1]}; do cmds+=(-c "write -q -P $((r % 255 + 1)) $off 4k"); done
                qemu-io -f qcow2 "${cmds[@]}" "$dir/d.qcow2" >/dev/null
                qemu-img snapshot -c "s$r" "$dir/d.qcow2"
                if (( r % 500 == 0 )); then echo "  qcow2: $r/$n snapshots, $(( ($(now_us) - t0) / 1000000 )) s" >&2; fi
            done
            t1=$(now_us)
            if (( n > qcow2_n )); then
                echo "qcow2:  rounds $((qcow2_n + 1))..$n in $(awk -v d=$((t1 - t0)) 'BEGIN { printf "%.1f", d / 1e6 }') s ($(awk -v d=$((t1 - t0)) -v k=$((n - qcow2_n)) 'BEGIN { printf "%.1f", d / 1e3 / k }') ms a round), $(du -h "$dir/d.qcow2" | cut -f1)"
            fi
            qcow2_n=$n
            qcow2="$dir/d.qcow2"
        else
            echo "qcow2:  n/a (SNAPSHOT_DEPTH_QCOW2_MAX=$qcow2_max)"
        fi

        # The control: the same writes with no snapshot, so that what the map's size costs a read
        # (more extents after more writes) is not counted as what the snapshots cost.
        control=()
        if (( n > 0 )); then
            flat="$dir/d$n-flat.limg"
            rm -rf "$flat"
            "$bench" --snapshot-depth build --image "$flat" --snapshots "$n" --no-snapshots >/dev/null
            control=(--control "$flat")
        fi
        echo "  in-process measures ..." >&2
        no_usage=(); if (( n > list_max )); then no_usage=(--no-usage); fi
        kv=$("$bench" --snapshot-depth measure --image "$img" --reads "$reads" --reps "$reps" "${no_usage[@]}" "${control[@]}")
        put_kv "$n" "$kv"
        if (( n > 0 )); then rm -rf "$flat"; fi

        echo "  CLI and qemu-img snapshot commands ..." >&2
        lc=(); ld=(); ll=(); qc=(); qd=(); ql=()
        for r in $(seq "$cli_reps"); do
            lc+=("$(time_ms "$logimg" snapshot create "$img" "cli-$r")")
            ld+=("$(time_ms "$logimg" snapshot delete "$img" "cli-$r")")
            if (( n <= list_max )); then ll+=("$(time_ms "$logimg" snapshot list "$img")"); fi
            if [[ -n "$qcow2" ]]; then
                qc+=("$(time_ms qemu-img snapshot -c "cli-$r" "$qcow2")")
                qd+=("$(time_ms qemu-img snapshot -d "cli-$r" "$qcow2")")
                ql+=("$(time_ms qemu-img snapshot -l "$qcow2")")
            fi
        done
        put "$n" cli_create_ms "$(printf '%s\n' "${lc[@]}" | median)"
        put "$n" cli_delete_ms "$(printf '%s\n' "${ld[@]}" | median)"
        if (( n <= list_max )); then put "$n" cli_list_ms "$(printf '%s\n' "${ll[@]}" | median)"; fi
        if [[ -n "$qcow2" ]]; then
            put "$n" qcow2_create_ms "$(printf '%s\n' "${qc[@]}" | median)"
            put "$n" qcow2_delete_ms "$(printf '%s\n' "${qd[@]}" | median)"
            put "$n" qcow2_list_ms "$(printf '%s\n' "${ql[@]}" | median)"
        fi

        echo "  fio through logimg serve and qemu-nbd ..." >&2
        put "$n" fio_head "$(logimg_fio "$img" "")"
        if [[ -n "$qcow2" ]]; then put "$n" qcow2_fio_head "$(qemu_fio "$qcow2" "")"; fi
        if (( n > 0 )); then
            put "$n" fio_view "$(logimg_fio "$img" s1)"
            if [[ -n "$qcow2" ]]; then put "$n" qcow2_fio_view "$(qemu_fio "$qcow2" s1)"; fi
        fi
        if [[ -n "$qcow2" ]]; then
            echo "  qemu-img bench ..." >&2
            put "$n" qcow2_bench_wb "$(qemu_bench "$qcow2" writeback)"
            if [[ -n "$cache_direct" ]]; then put "$n" qcow2_bench_direct "$(qemu_bench "$qcow2" none)"; fi
        fi

        if (( n == 1000 )); then
            echo "  deleting all but the oldest of 1000 ..." >&2
            put_kv "$n" "$("$bench" --snapshot-depth shrink --image "$img" --reads "$reads")"
        fi
        grep "^$n " "$results" | cut -d' ' -f2- | paste -sd' ' | fold -s -w 120 | sed 's/^/  /'
        echo
        if (( ! keep )); then rm -rf "$img"; fi
    done

    python3 - "$results" "$counts" <<'EOF'
import sys
from collections import defaultdict
v = defaultdict(dict)
for line in open(sys.argv[1]):
    n, k, x = line.split()
    v[int(n)][k] = x
counts = [int(c) for c in sys.argv[2].split()]
def num(n, k):
    try: return float(v[n][k])
    except (KeyError, ValueError): return None
def fmt(x, d=0):
    return "n/a" if x is None else f"{x:.{d}f}"
def ratio(a, b):
    return "n/a" if a is None or b is None or b == 0 else f"{a / b:.2f}x"
base = counts[0]
print(f"Reads (per second; in-process: queue depth 1, warm page cache; ratios against N={base} and qcow2)")
cols = ["N", "head", "/N0", "view", "/N0", "qb-wb", "qb-dir", "head/qb-wb", "fio head", "/N0", "qcow2", "l/q",
        "fio view", "/N0", "qcow2 s1", "l/q"]
w = [6, 9, 6, 9, 6, 9, 9, 11, 9, 6, 9, 6, 9, 6, 9, 6]
print("".join(c.rjust(x) for c, x in zip(cols, w)))
for n in counts:
    h, vw = num(n, "head_reads_per_s"), num(n, "view_reads_per_s")
    fh, fv = num(n, "fio_head"), num(n, "fio_view")
    row = [str(n), fmt(h), ratio(h, num(base, "head_reads_per_s")), fmt(vw),
           ratio(vw, num(base, "head_reads_per_s") if base == 0 else num(base, "view_reads_per_s")),
           fmt(num(n, "qcow2_bench_wb")), fmt(num(n, "qcow2_bench_direct")), ratio(h, num(n, "qcow2_bench_wb")),
           fmt(fh), ratio(fh, num(base, "fio_head")), fmt(num(n, "qcow2_fio_head")), ratio(fh, num(n, "qcow2_fio_head")),
           fmt(fv), ratio(fv, num(base, "fio_head") if base == 0 else num(base, "fio_view")),
           fmt(num(n, "qcow2_fio_view")), ratio(fv, num(n, "qcow2_fio_view"))]
    print("".join(c.rjust(x) for c, x in zip(row, w)))
print("(view = the oldest snapshot s1; at N=0 its /N0 is against the N=0 head. qb = qemu-img bench on the qcow2 head,")
print(" writeback / O_DIRECT; qcow2 / qcow2 s1 = fio through qemu-nbd -r on the head / with -l s1; l/q = logimg / qcow2)")
print()
print("Against the same writes without snapshots (the control image, its head read in the same rounds)")
cols = ["N", "extents", "control", "head", "/ctl", "view", "/ctl"]
w = [6, 9, 9, 9, 7, 9, 7]
print("".join(c.rjust(x) for c, x in zip(cols, w)))
for n in counts:
    ctl = num(n, "control_reads_per_s") if n > 0 else num(n, "head_reads_per_s")
    h, vw = num(n, "head_reads_per_s"), num(n, "view_reads_per_s")
    row = [str(n), fmt(num(n, "control_extents") if n > 0 else num(n, "extents")), fmt(ctl), fmt(h), ratio(h, ctl), fmt(vw), ratio(vw, ctl)]
    print("".join(c.rjust(x) for c, x in zip(row, w)))
print("(control = an image with the same fill and the same N rounds of 16 random 4 KiB writes, no snapshot; at N=0 the")
print(" image itself. /ctl isolates what the snapshots cost a read from what the larger map costs)")
print()
print("Operations (ms, medians) and sizes")
cols = ["N", "create", "CLI c", "qcow2 c", "delete", "CLI d", "qcow2 d", "revert", "list", "list+use", "CLI list",
        "qcow2 -l", "open", "recover", "ckpt B", "map B", "map RSS", "extents"]
w = [6, 8, 8, 9, 8, 8, 9, 8, 8, 9, 9, 9, 8, 8, 10, 11, 10, 9]
print("".join(c.rjust(x) for c, x in zip(cols, w)))
for n in counts:
    row = [str(n)] + [fmt(num(n, k), 2) for k in ["create_ms", "cli_create_ms", "qcow2_create_ms", "delete_ms",
           "cli_delete_ms", "qcow2_delete_ms", "revert_ms", "list_ms", "list_usage_ms", "cli_list_ms", "qcow2_list_ms",
           "open_ms", "recovery_ms"]] + [fmt(num(n, k)) for k in ["checkpoint_bytes", "map_bytes", "map_rss_bytes", "extents"]]
    print("".join(c.rjust(x) for c, x in zip(row, w)))
print("(create/delete/revert/list in process; CLI and qemu-img include process start; delete = a snapshot in the")
print(" middle; map B = ImageInfo.mapBytes, every delta map and view, shared nodes once; map RSS = process RSS growth")
print(" over the first open (recovery))")
print()
if 1000 in counts and num(1000, "shrunk_head_reads_per_s") is not None:
    b = num(base, "head_reads_per_s")
    print(f"Delete all but the oldest of 1000 ({fmt(num(1000, 'delete_all_ms'), 1)} ms): head reads/s "
          f"{fmt(num(1000, 'shrunk_head_reads_per_s'))} ({ratio(num(1000, 'shrunk_head_reads_per_s'), b)} of N={base}); "
          f"after compaction {fmt(num(1000, 'compacted_head_reads_per_s'))} ({ratio(num(1000, 'compacted_head_reads_per_s'), b)}; "
          f"{fmt(num(1000, 'compact_ms'), 0)} ms, {fmt(num(1000, 'compact_reclaimed_bytes'))} B reclaimed); "
          f"reopened {fmt(num(1000, 'reopened_head_reads_per_s'))} ({ratio(num(1000, 'reopened_head_reads_per_s'), b)}); "
          f"against the same writes without snapshots: {ratio(num(1000, 'shrunk_head_reads_per_s'), num(1000, 'control_reads_per_s'))}")
    print()
print("Goals:")
top = counts[-1]
def goal(ok, text):
    print(f"  {'n/a ' if ok is None else 'met ' if ok else 'MISS'}  {text}")
h0 = num(base, "head_reads_per_s")
for k, what in [("head_reads_per_s", "head"), ("view_reads_per_s", "view")]:
    x = num(top, k)
    goal(None if x is None or not h0 or base != 0 or top == 0 else x >= 0.9 * h0,
         f"{what} reads at N={top} >= 0.9x N=0: {ratio(x, h0)}")
    q = num(top, "qcow2_bench_wb")
    goal(None if x is None or q is None else x >= q, f"{what} reads at N={top} >= 1.0x qcow2 (qemu-img bench, writeback): {ratio(x, q)}")
for k, what in [("head_reads_per_s", "head"), ("view_reads_per_s", "view")]:
    x, ctl = num(top, k), num(top, "control_reads_per_s")
    goal(None if x is None or ctl is None else x >= 0.9 * ctl,
         f"{what} reads at N={top} >= 0.9x the same writes without snapshots: {ratio(x, ctl)}")
c = [num(n, "create_ms") for n in counts]
goal(None if None in c else max(c) < 1, f"create < 1 ms in process at every count: max {fmt(max(x for x in c if x is not None), 3)} ms")
c = [num(n, "cli_create_ms") for n in counts]
goal(None if None in c else max(c) < 30, f"create < 30 ms from the CLI at every count: max {fmt(max(x for x in c if x is not None), 1)} ms")
s = num(1000, "shrunk_head_reads_per_s")
goal(None if s is None or not h0 else s >= 0.9 * h0, f"head reads after deleting 999 of 1000 >= 0.9x N=0: {ratio(s, h0)}")
ctl = num(1000, "control_reads_per_s")
goal(None if s is None or not ctl else s >= 0.9 * ctl,
     f"head reads after deleting 999 of 1000 >= 0.9x the same writes without snapshots: {ratio(s, ctl)}")
EOF
} | tee "$out"
echo
echo "saved to $out"
