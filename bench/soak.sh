#!/usr/bin/env bash
# Soak test: `logimg serve` under fio load, killed with SIGKILL at random
# moments and restarted, with flush-aware verification after every restart.
#
#   bench/soak.sh                              # 10 minutes, 1 GiB disk, seed 1
#   bench/soak.sh --duration 60                # short mode
#   bench/soak.sh --duration 600 --size 2G --seed 7 --out /tmp/soak
#   CEPH_CONF=/var/tmp/ceph/ceph.conf bench/soak.sh --image rados://logimg/soak
#
# --image rados://POOL/NAME soaks an image in Ceph RADOS instead of a
# directory (it must not exist; it is removed at the end). RADOS keeps a
# killed writer's lock, so every restart and snapshot command after a kill
# passes --break-lock: each cycle also exercises fencing and takeover.
#
# Each cycle:
#   1. `logimg serve IMAGE --socket SOCK` (background compactor on, as by default).
#   2. The checker (below) verifies the image after the previous crash, then
#      writes; fio runs 4 jobs (4 NBD connections, numjobs=4) on 4 disjoint
#      regions with random 4K-64K reads and writes (rwmixread=50), iodepth 8,
#      an NBD flush every 32 writes (--fsync=32), and verify=crc32c with
#      verify_backlog=256 (every written block is read back and checked while
#      the server is up).
#   3. After a random 4-25 s (seeded; 3-12 s with --duration < 120) the
#      server's VmHWM is sampled and the server is killed with SIGKILL.
#   4. With the server down: `logimg check` (exit status != 0 is a
#      violation), `logimg snapshot create IMAGE soak-N`, and `logimg snapshot
#      delete` of the snapshot from two cycles back. Snapshots are taken here
#      because `logimg snapshot` opens the image for writing and fails with
#      "in use" while `serve` holds the lock; the CLI has no way to snapshot
#      a served image.
# After the duration: one more restart and verification, SIGTERM (must exit 0),
# `logimg check`, a read-only `serve` and a last verification.
#
# Why a checker of our own and not fio's verify_state_save/verify_only after
# the restart: fio records which writes *completed*, not which a completed
# flush covered. After SIGKILL only flushed (or FUA) writes must survive; a
# write acknowledged after the last flush may be lost, so fio's verify_only
# would report false failures (and it re-derives a job's write sequence from
# its seed, which does not survive several restarts of a mixed workload).
# fio's own verification is therefore used only within a run (verify_backlog:
# a block read back while the server is up must be what was written; a
# connection error when the server dies is not a verify failure), and
# crash durability is checked by a python3-libnbd checker on its own region
# (the last 1/8 of the disk, at most 64 MiB), one connection, synchronous:
#   - it writes 512 B - 128 KiB at random 512 B-aligned offsets (so partial 4 KiB
#     blocks too), ~10% with FUA, plus write-zeroes and trims (logimg reads
#     trimmed sectors as zeros), with a flush every ~16 writes, and reads random
#     ranges back (each must be exactly the newest write while the server is up);
#   - every sector it writes is tagged: (sector number, write id) and a hash
#     filler, so any sector read back names the write it came from;
#   - per sector it keeps the newest durable write id (set by a completed
#     flush or a FUA write) and the ids written since (pending, including a
#     write in flight when the server died);
#   - after a restart every sector must read its durable write or one of the
#     pending ones, with a filler that matches (zeros for zero-writes and
#     trims); then it flushes and what it read becomes durable;
#   - snapshot soak-N must read (in the checker's region) exactly what the head
#     read after that crash (SHA-256), and every snapshot still kept must still
#     read the same later, with compaction and crashes in between.
# The checker's state survives the restarts in a file (the checker process is
# never killed; only the server is).
#
# Printed at the end and saved to OUT/soak-<date>.txt (default OUT:
# bench/results): operations (fio I/Os, flushes, checker ops), restarts,
# bytes verified by the checker, the server's peak VmHWM, and every violation.
# Exit status 1 on any violation.
#
# Environment: LOGIMG_BIN=PATH uses that binary instead of building
# (swift build -c release --product logimg; SCRATCH_PATH=DIR builds there);
# BENCH_DIR=DIR holds the image (default /var/tmp).
set -euo pipefail
cd "$(dirname "$0")/.."

duration=600 size=1G seed=1 outdir=bench/results image=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --duration) duration="$2"; shift 2 ;;
        --size) size="$2"; shift 2 ;;
        --seed) seed="$2"; shift 2 ;;
        --out) outdir="$2"; shift 2 ;;
        --image) image="$2"; shift 2 ;;
        -h|--help) sed -n '2,64p' "$0"; exit 0 ;;
        *) echo "bench/soak.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[[ "$duration" =~ ^[0-9]+$ ]] || { echo "bench/soak.sh: --duration must be whole seconds" >&2; exit 2; }
[[ "$seed" =~ ^[0-9]+$ ]] || { echo "bench/soak.sh: --seed must be a number" >&2; exit 2; }

py=/usr/bin/python3
for tool in fio nbdinfo "$py"; do
    command -v "$tool" >/dev/null || { echo "bench/soak.sh: $tool is missing (apt-get install fio libnbd-bin python3-libnbd)" >&2; exit 1; }
done
"$py" -c 'import nbd' 2>/dev/null || { echo "bench/soak.sh: python3-libnbd is missing" >&2; exit 1; }
fio --enghelp=nbd >/dev/null 2>&1 || { echo "bench/soak.sh: fio has no nbd engine" >&2; exit 1; }

if [[ -n "${LOGIMG_BIN:-}" ]]; then
    logimg="$LOGIMG_BIN"
else
    build=(swift build -c release --product logimg)
    if [[ -n "${SCRATCH_PATH:-}" ]]; then build+=(--scratch-path "$SCRATCH_PATH"); fi
    "${build[@]}" >&2
    logimg="$("${build[@]}" --show-bin-path)/logimg"
fi
[[ -x "$logimg" ]] || { echo "bench/soak.sh: $logimg is not executable" >&2; exit 1; }

work="$(mktemp -d "${BENCH_DIR:-/var/tmp}/logimg-soak.XXXXXX")"
img="${image:-$work/disk.limg}"
break_lock=()
if [[ $img == rados://* ]]; then
    [[ -n "${CEPH_CONF:-}" ]] || { echo "bench/soak.sh: --image rados://... needs CEPH_CONF" >&2; exit 2; }
    break_lock=(--break-lock)
fi
sock="$work/nbd.sock"
uri="nbd+unix:///?socket=$sock"
pid="" fio_pid="" chk_pid=""
cleanup() {
    local p
    for p in "$fio_pid" "$chk_pid" "$pid"; do
        if [[ -n "$p" ]]; then kill -KILL "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; fi
    done
    if [[ $img == rados://* ]]; then
        local pool=${img#rados://}; local ns=${pool#*/}; pool=${pool%%/*}
        rados -p "$pool" -N "$ns" ls 2>/dev/null | xargs -r rados -p "$pool" -N "$ns" rm 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

RANDOM=$seed
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
violations=()
violation() { violations+=("$*"); log "VIOLATION: $*"; }

# --- the checker -------------------------------------------------------------
cat >"$work/checker.py" <<'EOF'
"""Flush-aware crash checker for bench/soak.sh (see the header there)."""
import argparse, hashlib, json, os, pickle, random, struct, sys, time
from array import array
import nbd

SECTOR = 512
MAGIC = b"LOGSOAK1"
ZERO = bytes(SECTOR)

def sector_bytes(sector, wid):
    head = struct.pack("<8sQq", MAGIC, sector, wid)
    fill = hashlib.blake2b(head, digest_size=64).digest() * 8
    return head + fill[: SECTOR - len(head)]

def content(first, count, wid):
    if wid <= 0:
        return bytes(count * SECTOR)
    return b"".join(sector_bytes(first + i, wid) for i in range(count))

def decode(buf, off, sector):
    """The write id a sector carries: 0 for zeros, None if it is garbage."""
    b = buf[off : off + SECTOR]
    if b == ZERO:
        return 0
    magic, s, wid = struct.unpack_from("<8sQq", b)
    if magic != MAGIC or s != sector or wid <= 0 or b != sector_bytes(sector, wid):
        return None
    return wid

class State:
    def __init__(self, nsec):
        self.durable = array("q", bytes(8 * nsec))  # newest durable write id per sector (<= 0: zeros)
        self.pending = {}                           # sector -> write ids since (oldest first)
        self.next_id = 1
        self.snapshots = {}                         # name -> sha256 of the region

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sock", required=True)
    ap.add_argument("--state", required=True)
    ap.add_argument("--result", required=True)
    ap.add_argument("--ready", required=True)
    ap.add_argument("--offset", type=int, required=True)
    ap.add_argument("--length", type=int, required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--cycle", type=int, required=True)
    ap.add_argument("--snapshots", default="")      # snapshots that exist now
    ap.add_argument("--new-snapshot", default="")   # taken after the last crash: must equal the head
    ap.add_argument("--verify-only", action="store_true")
    ap.add_argument("--read-only", action="store_true")
    a = ap.parse_args()
    base = a.offset // SECTOR
    nsec = a.length // SECTOR
    st = pickle.load(open(a.state, "rb")) if os.path.exists(a.state) else State(nsec)
    res = {"ops": 0, "writes": 0, "flushes": 0, "bytes_written": 0, "bytes_verified": 0,
           "violations": [], "disconnected": False, "verify_seconds": 0.0}
    rng = random.Random(a.seed * 1_000_003 + a.cycle)

    def violation(msg):
        if len(res["violations"]) < 20:
            res["violations"].append(msg)
        print("VIOLATION " + msg, file=sys.stderr, flush=True)

    def save():
        tmp = a.state + ".tmp"
        with open(tmp, "wb") as f:
            pickle.dump(st, f)
        os.replace(tmp, a.state)
        with open(a.result, "w") as f:
            json.dump(res, f)

    def connect(export=""):
        h = nbd.NBD()
        h.set_export_name(export)
        h.connect_unix(a.sock)
        return h

    def latest(s):
        p = st.pending.get(s)
        return p[-1] if p else st.durable[s]

    h = connect()
    try:
        # 1. After a crash: every sector reads its durable write or a later one.
        t0 = time.monotonic()
        digest = hashlib.sha256()
        bad = 0
        chunk = 4 << 20
        for off in range(0, a.length, chunk):
            n = min(chunk, a.length - off)
            buf = h.pread(n, a.offset + off)
            digest.update(buf)
            for i in range(n // SECTOR):
                s = off // SECTOR + i
                got = decode(buf, i * SECTOR, base + s)
                ok_ids = [st.durable[s]] + st.pending.get(s, [])
                if got is None:
                    bad += 1
                    if bad <= 5:
                        violation(f"cycle {a.cycle}: sector {base + s} (byte {(base + s) * SECTOR}) holds data no write produced; expected one of write ids {ok_ids[-4:]}")
                    continue
                if got == 0 and any(w <= 0 for w in ok_ids):
                    st.durable[s] = 0  # zeros (never written, zero-write or trim)
                elif got in ok_ids:
                    st.durable[s] = got
                else:
                    bad += 1
                    if bad <= 5:
                        violation(f"cycle {a.cycle}: sector {base + s} (byte {(base + s) * SECTOR}) reads write id {got} (0: zeros); "
                                  f"allowed: durable {ok_ids[0]} or pending {ok_ids[1:][-4:]} (negative: zeros)")
            res["bytes_verified"] += n
        if bad > 5:
            violation(f"cycle {a.cycle}: {bad} bad sectors in all")
        st.pending.clear()
        head = digest.hexdigest()
        if not a.read_only:
            h.flush()  # what was read is durable from here on
        # 2. Snapshots: the new one equals the head; every kept one is unchanged.
        names = [n for n in a.snapshots.split(",") if n]
        for name in list(st.snapshots):
            if name not in names:
                del st.snapshots[name]
        if a.new_snapshot:
            st.snapshots[a.new_snapshot] = head
        for name in names:
            want = st.snapshots.get(name)
            if want is None:
                continue
            hs = connect(name)
            d = hashlib.sha256()
            for off in range(0, a.length, chunk):
                n = min(chunk, a.length - off)
                d.update(hs.pread(n, a.offset + off))
                res["bytes_verified"] += n
            hs.shutdown()
            if d.hexdigest() != want:
                violation(f"cycle {a.cycle}: snapshot {name} no longer reads what the head read when it was taken")
        res["verify_seconds"] = round(time.monotonic() - t0, 2)
        save()
        with open(a.ready, "w") as f:
            f.write("verified\n")
        if a.verify_only:
            h.shutdown()
            save()
            return 0

        # 3. Writes, zeroes, trims, flushes and read-backs until the server goes away.
        sizes = [1, 1, 2, 7, 8, 8, 8, 16, 16, 64, 128, 256]
        since_flush = 0
        while True:
            r = rng.random()
            count = rng.choice(sizes)
            first = rng.randrange(0, nsec - count + 1)
            if rng.random() < 0.5:
                first -= first % 8
            if r < 0.15:  # read back: exactly the newest write while the server is up
                buf = h.pread(count * SECTOR, (base + first) * SECTOR)
                res["bytes_verified"] += count * SECTOR
                for i in range(count):
                    s = first + i
                    want = latest(s)
                    got = decode(buf, i * SECTOR, base + s)
                    if got != (0 if want <= 0 else want):
                        violation(f"cycle {a.cycle}: read-back of sector {base + s} gives write id {got}, newest is {want}")
                        break
                res["ops"] += 1
                continue
            if since_flush >= rng.randint(8, 24):
                h.flush()
                for s, ids in st.pending.items():
                    st.durable[s] = ids[-1]
                st.pending.clear()
                res["flushes"] += 1
                res["ops"] += 1
                since_flush = 0
                continue
            wid = st.next_id
            st.next_id += 1
            kind = "write" if r < 0.85 else ("zero" if r < 0.93 else "trim")
            if kind != "write":
                wid = -wid
            fua = rng.random() < 0.1
            for s in range(first, first + count):
                st.pending.setdefault(s, []).append(wid)
            off = (base + first) * SECTOR
            flags = nbd.CMD_FLAG_FUA if fua else 0
            if kind == "write":
                h.pwrite(content(base + first, count, wid), off, flags)
            elif kind == "zero":
                h.zero(count * SECTOR, off, flags)
            else:
                h.trim(count * SECTOR, off, flags)
            if fua:  # durable at once: older pending ids of these sectors are superseded
                for s in range(first, first + count):
                    st.durable[s] = wid
                    del st.pending[s]
            res["writes"] += 1
            res["ops"] += 1
            res["bytes_written"] += count * SECTOR
            since_flush += 1
    except nbd.Error as e:
        res["disconnected"] = True
        res["error"] = e.string
        if not a.verify_only and os.path.exists(a.ready):
            save()
            return 0
        violation(f"cycle {a.cycle}: NBD error before verification finished: {e.string}")
        save()
        return 0

sys.exit(main())
EOF

# --- helpers -----------------------------------------------------------------
size_bytes="$("$py" -c '
import re, sys
m = re.fullmatch(r"([0-9.]+)([KMGT]?)(i?B)?", sys.argv[1])
if not m: sys.exit("bad --size " + sys.argv[1])
print(int(float(m.group(1)) * 1024 ** " KMGT".index(m.group(2) or " ")) // 512 * 512)' "$size")"
mib=$((1 << 20))
chk_len=$((size_bytes / 8 / mib * mib))
if ((chk_len > 64 * mib)); then chk_len=$((64 * mib)); fi
chk_off=$((size_bytes - chk_len))
fio_region=$((chk_off / 4 / mib * mib))
((chk_len >= mib && fio_region >= 4 * mib)) || { echo "bench/soak.sh: --size is too small (need >= 64M)" >&2; exit 2; }

if ((duration < 120)); then kill_min=3 kill_span=10; else kill_min=4 kill_span=22; fi

# start_server [serve options...]: sets $pid; returns 1 if it does not come up.
start_server() {
    rm -f "$sock"
    : >"$work/serve.out"
    "$logimg" serve "$img" --socket "$sock" ${break_lock[@]+"${break_lock[@]}"} "$@" >"$work/serve.out" 2>"$work/serve-$cycle.err" &
    pid=$!
    local i
    for ((i = 0; i < 1200; i++)); do
        if grep -q '^serving ' "$work/serve.out"; then return 0; fi
        if ! kill -0 "$pid" 2>/dev/null; then break; fi
        sleep 0.1
    done
    violation "cycle $cycle: logimg serve did not start: $(tr '\n' ' ' <"$work/serve-$cycle.err" | cut -c1-400)"
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=""
    return 1
}

hwm_max=0 hwm_list=() cycle_hwm=0
sample_hwm() {
    local kb
    kb="$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)"
    cycle_hwm=$((kb / 1024))
    hwm_list+=("$cycle_hwm")
    if ((kb > hwm_max)); then hwm_max=$kb; fi
}

# run_checker [checker options...]: starts the checker in the background (sets $chk_pid).
run_checker() {
    rm -f "$work/ready"
    "$py" "$work/checker.py" --sock "$sock" --state "$work/checker.state" --result "$work/checker-$cycle.json" \
        --ready "$work/ready" --offset "$chk_off" --length "$chk_len" --seed "$seed" --cycle "$cycle" \
        --snapshots "$(IFS=,; echo "${snapshots[*]}")" "$@" 2>>"$work/checker.err" &
    chk_pid=$!
}

# wait_ready: waits for the checker's verification; returns 1 if it ended without it.
wait_ready() {
    local i
    for ((i = 0; i < 6000; i++)); do
        if [[ -f "$work/ready" ]]; then return 0; fi
        if ! kill -0 "$chk_pid" 2>/dev/null; then return 1; fi
        sleep 0.1
    done
    return 1
}

# wait_for PID SECONDS: waits for a client to end after the server died.
wait_for() {
    local p="$1" i
    for ((i = 0; i < $2 * 10; i++)); do
        if ! kill -0 "$p" 2>/dev/null; then wait "$p" 2>/dev/null || true; return 0; fi
        sleep 0.1
    done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
    return 1
}

fio_ios=0 fio_flushes=0 fio_read=0 fio_written=0
chk_ops=0 chk_written=0 verified=0
collect_checker() {  # collect_checker CYCLE
    local f="$work/checker-$1.json" line
    [[ -f "$f" ]] || { violation "cycle $1: the checker wrote no result ($(tail -c 300 "$work/checker.err" 2>/dev/null))"; return; }
    line="$("$py" -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(r["ops"], r["bytes_written"], r["bytes_verified"], r["verify_seconds"])
for v in r["violations"]: print("V", v)' "$f")"
    local ops written ver secs
    read -r ops written ver secs <<<"$(head -1 <<<"$line")"
    chk_ops=$((chk_ops + ops)) chk_written=$((chk_written + written)) verified=$((verified + ver))
    last_verify_secs=$secs
    while IFS= read -r v; do violation "${v#V }"; done < <(grep '^V ' <<<"$line" || true)
}

collect_fio() {  # collect_fio CYCLE
    local j="$work/fio-$1.json" e="$work/fio-$1.err" line
    if grep -Eiq 'verify failed|bad magic|bad header|verify: |crc32c: ' "$e" 2>/dev/null; then
        violation "cycle $1: fio verify failure: $(grep -Ei 'verify|magic|header|crc32c' "$e" | head -3 | tr '\n' ' ')"
    fi
    line="$("$py" -c '
import json, sys
t = open(sys.argv[1]).read()
j = json.loads(t[t.index("{"):])
ios = sum(x["read"]["total_ios"] + x["write"]["total_ios"] for x in j["jobs"])
fl = sum(x.get("sync", {}).get("total_ios", 0) for x in j["jobs"])
rb = sum(x["read"]["io_bytes"] for x in j["jobs"])
wb = sum(x["write"]["io_bytes"] for x in j["jobs"])
eilseq = [x["jobname"] for x in j["jobs"] if x.get("error") == 84]
print(ios, fl, rb, wb, len(eilseq))' "$j" 2>/dev/null || echo "none")"
    if [[ "$line" == none ]]; then
        violation "cycle $1: fio wrote no readable result: $(tail -c 300 "$e" | tr '\n' ' ')"
        cycle_fio_ios=0
        return
    fi
    local ios fl rb wb eil
    read -r ios fl rb wb eil <<<"$line"
    if ((eil > 0)); then violation "cycle $1: $eil fio job(s) ended with EILSEQ (verify failure)"; fi
    fio_ios=$((fio_ios + ios)) fio_flushes=$((fio_flushes + fl)) fio_read=$((fio_read + rb)) fio_written=$((fio_written + wb))
    cycle_fio_ios=$ios
}

check_image() {  # check_image WHEN
    local rc=0
    "$logimg" check "$img" >"$work/check.out" 2>&1 || rc=$?
    checks=$((checks + 1))
    if grep -q '^Torn tail' "$work/check.out"; then torn_tails=$((torn_tails + 1)); fi
    if ((rc != 0)); then
        check_failures=$((check_failures + 1))
        violation "$1: logimg check exited $rc: $(head -5 "$work/check.out" | tr '\n' ' ' | cut -c1-600)"
    fi
    last_check=$rc
}

# --- the soak ----------------------------------------------------------------
"$logimg" create "$img" --size "$size_bytes" >/dev/null
log "image $img ($size_bytes bytes), 4 fio jobs x $((fio_region / mib)) MiB, checker region $((chk_len / mib)) MiB at $chk_off, seed $seed, $duration s"
start_time=$SECONDS
cycle=0 restarts=0 checks=0 check_failures=0 torn_tails=0 last_check=0 last_verify_secs=0 cycle_fio_ios=0
snapshots=() new_snapshot="" snap_ops=0
cycles_log=()
while true; do
    cycle=$((cycle + 1)) cycle_hwm=-
    start_server || break
    run_checker ${new_snapshot:+--new-snapshot "$new_snapshot"}
    if ! wait_ready; then
        violation "cycle $cycle: the checker did not finish verifying: $(tail -c 400 "$work/checker.err")"
        wait_for "$chk_pid" 5 || true; chk_pid=""
        collect_checker "$cycle"
        break
    fi
    fio --name=soak --ioengine=nbd --uri="$uri" --numjobs=4 --size="$fio_region" --offset_increment="$fio_region" \
        --rw=randrw --rwmixread=50 --bsrange=4k-64k --iodepth=8 --fsync=32 \
        --verify=crc32c --verify_backlog=256 --verify_state_save=0 \
        --time_based --runtime=3600 --randseed=$((seed * 1000 + cycle)) \
        --output-format=json --output="$work/fio-$cycle.json" >/dev/null 2>"$work/fio-$cycle.err" &
    fio_pid=$!
    interval="$((kill_min + RANDOM % kill_span)).$((RANDOM % 10))"
    sleep "$interval"
    if ! kill -0 "$pid" 2>/dev/null; then
        violation "cycle $cycle: logimg serve died on its own: $(tail -c 600 "$work/serve-$cycle.err" | tr '\n' ' ')"
    else
        if ! kill -0 "$fio_pid" 2>/dev/null; then
            violation "cycle $cycle: fio ended while the server was up: $(tail -c 400 "$work/fio-$cycle.err" | tr '\n' ' ')"
        fi
        sample_hwm
        kill -KILL "$pid"
    fi
    wait "$pid" 2>/dev/null || true
    pid=""
    restarts=$((restarts + 1))
    wait_for "$fio_pid" 30 || violation "cycle $cycle: fio did not exit within 30 s of the server's death"
    fio_pid=""
    wait_for "$chk_pid" 30 || violation "cycle $cycle: the checker did not exit within 30 s of the server's death"
    chk_pid=""
    collect_fio "$cycle"
    collect_checker "$cycle"
    if grep -Eq 'Fatal error|Stack dump|Backtrace' "$work/serve-$cycle.err"; then
        violation "cycle $cycle: logimg serve crashed: $(grep -E -m3 'Fatal error|Stack dump|Backtrace' "$work/serve-$cycle.err" | tr '\n' ' ')"
    fi

    # The server is down: check, then snapshot create/delete.
    check_image "cycle $cycle, after kill -9"
    new_snapshot="soak-$cycle"
    if "$logimg" snapshot create "$img" "$new_snapshot" ${break_lock[@]+"${break_lock[@]}"} 2>>"$work/snap.err"; then
        snapshots+=("$new_snapshot")
        snap_ops=$((snap_ops + 1))
    else
        violation "cycle $cycle: logimg snapshot create failed: $(tail -1 "$work/snap.err")"
        new_snapshot=""
    fi
    if ((${#snapshots[@]} > 2)); then
        if "$logimg" snapshot delete "$img" "${snapshots[0]}" ${break_lock[@]+"${break_lock[@]}"} 2>>"$work/snap.err"; then
            snapshots=("${snapshots[@]:1}")
            snap_ops=$((snap_ops + 1))
        else
            violation "cycle $cycle: logimg snapshot delete ${snapshots[0]} failed: $(tail -1 "$work/snap.err")"
        fi
    fi
    line="$(printf '%5d %8.1f %9d %9d %8s %6s %6s' "$cycle" "$interval" "$cycle_fio_ios" \
        "$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["ops"])' "$work/checker-$cycle.json" 2>/dev/null || echo 0)" \
        "$cycle_hwm" "$last_check" "$last_verify_secs")"
    cycles_log+=("$line")
    log "cycle $line"
    if ((SECONDS - start_time >= duration)); then break; fi
done

# --- the end: verify, clean shutdown, check, read-only serve, verify ---------
if [[ -z "$pid" ]]; then
    cycle=$((cycle + 1))
    if start_server; then
        run_checker --verify-only ${new_snapshot:+--new-snapshot "$new_snapshot"}
        wait_for "$chk_pid" 600 || violation "final: the checker did not finish"
        chk_pid=""
        collect_checker "$cycle"
        sample_hwm
        kill -TERM "$pid"
        rc=0
        wait "$pid" || rc=$?
        pid=""
        if ((rc != 0)); then violation "final: logimg serve exited $rc after SIGTERM: $(tail -c 400 "$work/serve-$cycle.err")"; fi
        check_image "final, after SIGTERM"
        cycle=$((cycle + 1))
        if start_server --read-only; then
            run_checker --verify-only --read-only
            wait_for "$chk_pid" 600 || violation "final read-only: the checker did not finish"
            chk_pid=""
            collect_checker "$cycle"
            kill -TERM "$pid"
            rc=0
            wait "$pid" || rc=$?
            pid=""
            if ((rc != 0)); then violation "final read-only: logimg serve exited $rc after SIGTERM"; fi
        fi
    fi
fi
elapsed=$((SECONDS - start_time))
# Where the log's bytes are: the head's live data, garbage, what only snapshots
# read, and the rest (held by neither: space the compactor cannot see).
space="$("$logimg" info --output json "$img" 2>/dev/null | "$py" -c '
import json, sys
i = json.load(sys.stdin)
g = 1 << 30
log, live, garbage, size = i["logBytes"], i["liveBytes"], i["garbageBytes"], i["virtualSize"]
excl = sum(s["bytesExclusive"] for s in i.get("snapshots", []))
rest = log - live - garbage - excl
print("log %.2f GiB for a %.2f GiB disk: head live %.2f, garbage %.2f, snapshot-exclusive %.2f, other %.2f GiB"
      % (log / g, size / g, live / g, garbage / g, excl / g, rest / g))' 2>/dev/null || echo unknown)"
info="$("$logimg" info "$img" 2>&1 | grep -E '^(disk size|segments|log bytes|live bytes|garbage bytes|write amplification|extents|checkpoint generation):' | sed 's/^/  /' || true)"

# --- report ------------------------------------------------------------------
stamp="$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$outdir"
out="$outdir/soak-${stamp}.txt"
{
    echo "# logimg soak test (serve + fio nbd + kill -9 + flush-aware checker)"
    echo "date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "command:  bench/soak.sh --duration $duration --size $size --seed $seed${image:+ --image $image}"
    echo "binary:   $logimg"
    echo "commit:   $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- Sources 2>/dev/null || echo ' (+ uncommitted changes)')"
    echo "machine:  $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(free -h | awk '/^Mem:/ {print $2}') RAM, kernel $(uname -r), load before $(cut -d' ' -f1-3 /proc/loadavg)"
    if [[ $img == rados://* ]]; then
        echo "store:    $img (CEPH_CONF=$CEPH_CONF); restarts and snapshot commands pass --break-lock"
    else
        echo "fs:       $(df -T "$work" | awk 'NR==2 {print $2 " on " $1}')"
    fi
    echo "fio:      $(fio --version), 4 jobs x $((fio_region / mib)) MiB, randrw 50/50, bs 4k-64k, iodepth 8, flush every 32 writes, verify=crc32c verify_backlog=256"
    echo "checker:  $((chk_len / mib)) MiB region at byte $chk_off, 1 connection, 512 B-128 KiB writes/zeroes/trims, ~10% FUA, flush every 8-24 writes"
    echo
    echo "cycle  up(s)   fio ios  chk ops  HWM MiB  check verify(s)"
    printf '%s\n' "${cycles_log[@]}"
    echo
    echo "image at the end (snapshots kept: ${snapshots[*]:-none}):"
    echo "$info"
    echo
    echo "duration:         ${elapsed} s (asked ${duration} s)"
    echo "operations:       $((fio_ios + fio_flushes + chk_ops)) (fio I/Os $fio_ios + fio flushes $fio_flushes + checker ops $chk_ops)"
    echo "fio bytes:        read $((fio_read / mib)) MiB (incl. verify_backlog read-back), written $((fio_written / mib)) MiB"
    echo "checker written:  $((chk_written / mib)) MiB"
    echo "restarts:         $restarts after kill -9, plus 1 SIGTERM and 1 read-only serve at the end"
    echo "snapshot ops:     $snap_ops (create/delete while the server was down)"
    echo "space at the end: $space"
    echo "logimg check:     $checks runs, $check_failures failed ($torn_tails reported a torn unflushed tail, which is not an error)"
    echo "bytes verified:   $verified ($((verified / mib)) MiB by the checker after restarts, snapshots and read-backs)"
    echo "server VmHWM:     max $((hwm_max / 1024)) MiB (sampled before each kill; per cycle: ${hwm_list[*]})"
    echo "violations:       ${#violations[@]}"
    for v in "${violations[@]}"; do echo "  - $v"; done
} | tee "$out"
echo
echo "saved to $out"
if ((${#violations[@]} > 0)); then exit 1; fi
