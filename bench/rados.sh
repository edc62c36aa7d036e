#!/usr/bin/env bash
# RADOS benchmark (issue 7): logimg serving a rados:// image vs an RBD image,
# under identical fio jobs, with the OSD's work per guest I/O.
#
#   bench/rados.sh                              # own cluster, 2 GiB disks, 10 s per job, 3 rounds
#   bench/rados.sh --seconds 20 --runs 5 --jobs randwrite,randread
#   CEPH_CONF=/tmp/ceph-dev/ceph.conf bench/rados.sh --reuse --only rbd --seconds 3 --runs 1
#
# Cluster: by default a throwaway single-node cluster (bench/ceph-single-node.sh
# start, in a temporary directory under $BENCH_DIR, stopped at the end). With
# --reuse, the running cluster $CEPH_CONF names (single OSD, pool --pool).
# Disks (fresh for every job and round, --size each):
#   rbd      RBD image POOL/bench-rbd, fio's rbd engine (librbd defaults: the
#            cache is writethrough until the first flush, writeback after it)
#   logimg   `logimg serve rados://POOL/bench-limg` on a Unix socket (objects
#            in RADOS namespace bench-limg), fio's nbd engine
# Jobs (one fio job):
#   randwrite     4 KiB random writes, iodepth 16
#   randwrite-fl  the same with a flush every 32 writes (--fsync=32)
#   randread      4 KiB random reads, iodepth 16  } after a sequential
#   seqread       1 MiB sequential reads, iodepth 4  } 1 MiB fill of the disk
#   seqwrite      1 MiB sequential writes, iodepth 4
# Rounds interleave the disks (round 1: rbd job1, logimg job1, rbd job2, ...;
# round 2 starts with logimg). Each run also records the OSD's work from just
# before the job until it ends (logimg: until its server has exited), plus the
# time the OSD takes to go idle after that (at most 3 s): CPU = utime+stime of
# the ceph-osd process (/proc/PID/stat), device bytes = /proc/PID/io
# write_bytes/read_bytes (the BlueStore block file, RocksDB included), and the
# BlueStore/BlueFS byte counters of `perf dump` (admin socket). Printed: OSD CPU
# us per guest I/O and OSD device bytes per guest byte (written for write jobs,
# read for read jobs). The table shows medians and logimg/rbd ratios, and the
# issue's goals.
#
# Options: --size 2G --seconds 10 --runs 3 --jobs LIST --only rbd|logimg
#          --reuse --pool logimg
# Environment: SCRATCH_PATH (release build dir, default .build-benchrel),
# LOGIMG (a logimg binary to use instead of building one),
# BENCH_DIR (temporary files and the own cluster, default /var/tmp),
# CEPH_CONF (with --reuse). Needs fio with the rbd and nbd engines, rbd, rados,
# ceph, nbdinfo, python3. Output is printed and saved to
# bench/results/rados-<date>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
cmdline="bench/rados.sh${*:+ $*}"

size=2G seconds=10 runs=3 only="" reuse=0 pool=logimg
jobs="randwrite,randwrite-fl,randread,seqread,seqwrite"
rbd_name=bench-rbd limg_name=bench-limg
while [[ $# -gt 0 ]]; do
    case "$1" in
        --size) size="$2"; shift 2 ;;
        --seconds) seconds="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        --jobs) jobs="$2"; shift 2 ;;
        --only) only="$2"; shift 2 ;;
        --reuse) reuse=1; shift ;;
        --pool) pool="$2"; shift 2 ;;
        -h|--help) sed -n '2,41p' "$0"; exit 0 ;;
        *) echo "bench/rados.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
case "$only" in
    "") disks=(rbd logimg) ;;
    rbd|logimg) disks=("$only") ;;
    *) echo "bench/rados.sh: --only takes rbd or logimg" >&2; exit 2 ;;
esac
has_disk() { [[ " ${disks[*]} " == *" $1 "* ]]; }
say() { echo "bench/rados.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }

tools=(fio rbd rados ceph ceph-conf python3)
if has_disk logimg; then tools+=(nbdinfo swift); fi
for tool in "${tools[@]}"; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install fio ceph-common libnbd-bin)"
done
for engine in rbd nbd; do
    if [[ $engine == rbd ]] || has_disk logimg; then
        fio --enghelp="$engine" >/dev/null 2>&1 || die "fio has no $engine engine"
    fi
done
if [[ $reuse == 1 ]]; then
    [[ -n "${CEPH_CONF:-}" && -f "$CEPH_CONF" ]] || die "--reuse needs CEPH_CONF set to the running cluster's ceph.conf"
    CEPH_CONF="$(realpath "$CEPH_CONF")"
    export CEPH_CONF
fi

if has_disk logimg; then
    if [[ -n "${LOGIMG:-}" ]]; then
        logimg="$(realpath "$LOGIMG")"
        [[ -x "$logimg" ]] || die "LOGIMG=$LOGIMG is not an executable"
    else
        build=(swift build -c release --product logimg --scratch-path "${SCRATCH_PATH:-.build-benchrel}")
        "${build[@]}" >&2
        logimg="$("${build[@]}" --show-bin-path)/logimg"
    fi
fi

work="$(mktemp -d "${BENCH_DIR:-/var/tmp}/logimg-rados-bench.XXXXXX")"
sock="$work/nbd.sock"
uri="nbd+unix:///?socket=$sock"
own_cluster=""
pid=""
disks_ours=0  # set once the images are known not to exist before this run
cleanup() {
    local rc=$?
    set +e
    if [[ -n "$pid" ]]; then kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=""; fi
    if [[ -n "$own_cluster" ]]; then
        bench/ceph-single-node.sh stop "$own_cluster" >/dev/null 2>&1
    elif [[ $disks_ours == 1 ]]; then
        remove_disks
    fi
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ $reuse == 0 ]]; then
    own_cluster="$work/ceph"
    say "starting a single-node cluster in $own_cluster"
    export CEPH_POOL="$pool"
    line="$(bench/ceph-single-node.sh start "$own_cluster")"
    [[ "$line" == "export CEPH_CONF="* ]] || die "unexpected output from ceph-single-node.sh: $line"
    export CEPH_CONF="${line#export CEPH_CONF=}"
fi
ceph_() { timeout 60 ceph -c "$CEPH_CONF" "$@"; }
ceph_ osd pool ls | grep -qx "$pool" || die "pool $pool does not exist in the cluster of $CEPH_CONF"

# The OSD: its process (by the configuration in its command line) and admin socket.
osd_pid="$(pgrep -af ceph-osd | awk -v c="$CEPH_CONF" 'index($0, c) && / -i 0( |$)/ {print $1}' | head -1)"
if [[ -z "$osd_pid" ]]; then
    pidfile="$(ceph-conf -c "$CEPH_CONF" -n osd.0 --lookup pid_file 2>/dev/null || true)"
    [[ -n "$pidfile" && -f "$pidfile" ]] && osd_pid="$(cat "$pidfile")"
fi
[[ -n "$osd_pid" && -r "/proc/$osd_pid/io" ]] || die "cannot find the ceph-osd process of $CEPH_CONF (or read /proc/PID/io)"
asok="$(ceph-conf -c "$CEPH_CONF" -n osd.0 --lookup admin_socket 2>/dev/null || true)"
[[ -S "$asok" ]] || asok=""

# Python helper: OSD snapshots, idle wait, per-run rows, report, object removal.
cat >"$work/helper.py" <<'EOF'
import json, os, socket, statistics, struct, subprocess, sys, time
CLK = os.sysconf("SC_CLK_TCK")
PERF = {"bluestore": ["bluestore_write_big_bytes", "bluestore_write_small_bytes", "bluestore_write_deferred_bytes"],
        "bluefs": ["bytes_written_wal", "bytes_written_sst", "bytes_written_slow"],
        "osd": ["op_w", "op_r", "op_w_in_bytes", "op_r_out_bytes"]}

def cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / CLK

def io(pid):
    return {k: int(v) for k, v in (l.split(":") for l in open(f"/proc/{pid}/io"))}

def perf(asok):
    if asok:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(60); s.connect(asok)
            s.sendall(b'{"prefix": "perf dump"}\0')
            n = struct.unpack(">I", s.recv(4, socket.MSG_WAITALL))[0]
            buf = bytearray()
            while len(buf) < n:
                c = s.recv(n - len(buf))
                if not c: break
                buf += c
        return json.loads(buf)
    out = subprocess.run(["ceph", "-c", os.environ["CEPH_CONF"], "tell", "osd.0", "perf", "dump"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return json.loads(out)

def snap(pid, asok, path):
    p = perf(asok)
    d = {"t": time.time(), "cpu": cpu(pid)}
    i = io(pid); d["dev_w"], d["dev_r"] = i["write_bytes"], i["read_bytes"]
    for sec, keys in PERF.items():
        for k in keys: d[f"{sec}.{k}"] = p.get(sec, {}).get(k, 0)
    json.dump(d, open(path, "w"))

def idle(pid, max_s):
    t0 = time.time(); c, w = cpu(pid), io(pid)["write_bytes"]
    while time.time() - t0 < max_s:
        time.sleep(0.25)
        c2, w2 = cpu(pid), io(pid)["write_bytes"]
        if c2 - c <= 1 / CLK + 1e-9 and w2 - w < 256 * 1024: break
        c, w = c2, w2

def row(fio_json, pre, before, after, job, disk, rnd):
    text = open(fio_json).read()
    j = json.loads(text[text.index("{"):])["jobs"][0]
    if j.get("error"): sys.exit(f"fio reported error {j['error']}")
    wr = j["write"]["io_bytes"] > 0
    side = j["write"] if wr else j["read"]
    p99 = side.get("clat_ns", {}).get("percentile", {}).get("99.000000", 0) / 1000
    a, b, q = json.load(open(before)), json.load(open(after)), json.load(open(pre))
    d = {k: b[k] - a[k] for k in a}
    rate = (a["osd.op_w"] + a["osd.op_r"] - q["osd.op_w"] - q["osd.op_r"]) / max(0.1, a["t"] - q["t"])
    ops = max(1, side["total_ios"]); gbytes = max(1, side["io_bytes"])
    osd_b = d["dev_w"] if wr else d["dev_r"]
    kv = d["bluefs.bytes_written_wal"] + d["bluefs.bytes_written_sst"] + d["bluefs.bytes_written_slow"]
    print("\t".join(str(x) for x in (job, disk, rnd, f"{side['iops']:.0f}", f"{side['bw_bytes'] / 1e6:.1f}", f"{p99:.0f}",
          f"{d['cpu'] / ops * 1e6:.1f}", f"{osd_b / gbytes:.3f}", f"{d['dev_w'] / 1e6:.1f}", f"{kv / 1e6:.1f}",
          f"{d['osd.op_w']}", f"{d['osd.op_r']}", ops, f"{d['cpu']:.2f}", f"{d['t']:.1f}", f"{rate:.0f}")))

COLS = ["job", "disk", "round", "iops", "mbs", "p99", "cpu_us", "osd_bb", "dev_w_mb", "kv_mb", "op_w", "op_r", "ops", "osd_cpu_s", "window_s", "foreign"]

def report(path, runs_wanted):
    rows = [dict(zip(COLS, l.rstrip("\n").split("\t"))) for l in open(path) if l.strip()]
    if not rows:
        print("no runs"); return
    num = ["iops", "mbs", "p99", "cpu_us", "osd_bb", "dev_w_mb", "kv_mb", "op_w", "op_r"]
    groups = {}
    for r in rows: groups.setdefault((r["job"], r["disk"]), []).append(r)
    med = {k: {c: statistics.median(float(r[c]) for r in v) for c in num} for k, v in groups.items()}
    jobs = list(dict.fromkeys(r["job"] for r in rows)); disks = list(dict.fromkeys(r["disk"] for r in rows))
    print(f"medians of {runs_wanted} runs; OSD us/op = OSD CPU per guest I/O; OSD B/B = OSD device bytes written per guest byte")
    print("written (write jobs) or read per guest byte read (read jobs); OSD ops = RADOS ops the OSD served per guest I/O")
    print(f"{'job':<14}{'disk':<8}{'IOPS':>9}{'MB/s':>9}{'p99 us':>9}{'OSD us/op':>11}{'OSD B/B':>9}{'OSD ops/op':>11}{'KV MB':>8}")
    for job in jobs:
        for disk in ("rbd", "logimg"):
            if (job, disk) not in med: continue
            m = med[(job, disk)]
            ops = statistics.median((float(r["op_w"]) + float(r["op_r"])) / float(r["ops"]) for r in groups[(job, disk)])
            print(f"{job:<14}{disk:<8}{m['iops']:>9.0f}{m['mbs']:>9.1f}{m['p99']:>9.0f}{m['cpu_us']:>11.1f}{m['osd_bb']:>9.3f}{ops:>11.3f}{m['kv_mb']:>8.1f}")
        if (job, "rbd") in med and (job, "logimg") in med:
            a, b = med[(job, "rbd")], med[(job, "logimg")]
            rt = lambda k: f"{b[k] / a[k]:.2f}x" if a[k] else "-"
            print(f"{'':<14}{'lg/rbd':<8}{rt('iops'):>9}{rt('mbs'):>9}{rt('p99'):>9}{rt('cpu_us'):>11}{rt('osd_bb'):>9}")
        print()
    def ratio(job, k):
        if (job, "rbd") in med and (job, "logimg") in med and med[(job, "rbd")][k]:
            return med[(job, "logimg")][k] / med[(job, "rbd")][k]
        return None
    print("goals (issue 7):")
    g = [("randwrite", "4 KiB random writes", 3.0), ("randread", "random reads", 0.8), ("seqread", "sequential reads", 0.8)]
    any_goal = False
    for job, what, want in g:
        r = ratio(job, "iops")
        if r is None: continue
        any_goal = True
        extra = ""
        if job == "randwrite":
            c, bb = ratio(job, "cpu_us"), ratio(job, "osd_bb")
            ok = r >= want and c is not None and c < 1 and bb is not None and bb < 1
            extra = f", OSD CPU per write {c:.2f}x, OSD bytes per guest byte {bb:.2f}x (both goal < 1x)"
        else:
            ok = r >= want
        print(f"  {'met ' if ok else 'MISS'}  {what}: {r:.2f}x RBD IOPS (goal >= {want}x){extra}")
    for job in ("randwrite-fl", "seqwrite"):
        r = ratio(job, "iops")
        if r is not None:
            any_goal = True
            print(f"  info  {job}: {r:.2f}x RBD IOPS, OSD CPU per op {ratio(job, 'cpu_us'):.2f}x")
    if not any_goal: print("  (needs both disks)")
    busy = [r for r in rows if float(r["foreign"]) > 0]
    if busy:
        print(f"WARNING: in {len(busy)} of {len(rows)} runs the OSD served other clients' ops just before the job "
              f"(up to {max(float(r['foreign']) for r in busy):.0f} ops/s; column 'other/s'): its counters include their work.")
    print()
    print("all runs:")
    print(f"{'job':<14}{'disk':<8}{'round':>6}{'IOPS':>9}{'MB/s':>9}{'p99 us':>9}{'OSD us/op':>11}{'OSD B/B':>9}"
          f"{'dev w MB':>10}{'KV MB':>8}{'OSD op_w':>10}{'op_r':>9}{'OSD cpu s':>10}{'window s':>9}{'other/s':>8}")
    for r in rows:
        print(f"{r['job']:<14}{r['disk']:<8}{r['round']:>6}{r['iops']:>9}{r['mbs']:>9}{r['p99']:>9}{r['cpu_us']:>11}{r['osd_bb']:>9}"
              f"{r['dev_w_mb']:>10}{r['kv_mb']:>8}{r['op_w']:>10}{r['op_r']:>9}{r['osd_cpu_s']:>10}{r['window_s']:>9}{r['foreign']:>8}")

def rm_namespace(pool, ns):
    try:
        import rados
    except ImportError:
        objs = subprocess.run(["rados", "-p", pool, "-N", ns, "ls"], capture_output=True, text=True, check=True).stdout.split()
        for o in objs: subprocess.run(["rados", "-p", pool, "-N", ns, "rm", o], check=True)
        return
    c = rados.Rados(conffile=os.environ["CEPH_CONF"]); c.connect(timeout=60)
    ioctx = c.open_ioctx(pool); ioctx.set_namespace(ns)
    names = [o.key for o in ioctx.list_objects()]
    comps = [ioctx.aio_remove(n) for n in names]
    for comp in comps: comp.wait_for_complete()
    ioctx.close(); c.shutdown()

cmd = sys.argv[1]
if cmd == "snap": snap(sys.argv[2], sys.argv[3], sys.argv[4])
elif cmd == "idle": idle(sys.argv[2], float(sys.argv[3]))
elif cmd == "row": row(*sys.argv[2:9])
elif cmd == "report": report(sys.argv[2], sys.argv[3])
elif cmd == "rmns": rm_namespace(sys.argv[2], sys.argv[3])
EOF
# Debian's python3 has the rados module (namespace removal in one process);
# PATH's python3 may not.
pyrados=python3
if [[ -x /usr/bin/python3 ]] && /usr/bin/python3 -c 'import rados' 2>/dev/null; then pyrados=/usr/bin/python3; fi
helper() { python3 "$work/helper.py" "$@"; }
osd_snap() { helper snap "$osd_pid" "$asok" "$1"; }
osd_idle() { helper idle "$osd_pid" "$1"; }

rbd_exists() { timeout 60 rbd -c "$CEPH_CONF" info "$pool/$rbd_name" >/dev/null 2>&1; }
limg_exists() { [[ -n "$(timeout 60 rados -c "$CEPH_CONF" -p "$pool" -N "$limg_name" ls 2>/dev/null | head -1)" ]]; }
remove_disks() {
    if rbd_exists; then timeout 300 rbd -c "$CEPH_CONF" rm --no-progress "$pool/$rbd_name" >/dev/null 2>&1 || say "could not remove RBD image $pool/$rbd_name"; fi
    if limg_exists; then timeout 300 "$pyrados" "$work/helper.py" rmns "$pool" "$limg_name" || say "could not remove namespace $limg_name of pool $pool"; fi
}
# Refuses to delete images this script did not create (a run killed with SIGKILL leaves them).
if rbd_exists; then die "RBD image $pool/$rbd_name exists; remove it first: rbd -c \$CEPH_CONF rm $pool/$rbd_name"; fi
if limg_exists; then die "namespace $limg_name of pool $pool has objects; remove them first: rados -c \$CEPH_CONF -p $pool -N $limg_name ls | xargs -r -n1 rados -c \$CEPH_CONF -p $pool -N $limg_name rm"; fi
disks_ours=1

# start_disk DISK: a fresh disk (and for logimg its server); sets fio_engine.
start_disk() {
    case "$1" in
        rbd)
            timeout 60 rbd -c "$CEPH_CONF" create --size "$size" "$pool/$rbd_name"
            fio_engine=(--ioengine=rbd --clientname=admin --pool="$pool" --rbdname="$rbd_name")
            ;;
        logimg)
            "$logimg" create "rados://$pool/$limg_name" --size "$size" >/dev/null
            rm -f "$sock"
            "$logimg" serve "rados://$pool/$limg_name" --socket "$sock" >"$work/serve.out" 2>"$work/serve.err" &
            pid=$!
            fio_engine=(--ioengine=nbd --uri="$uri")
            for _ in $(seq 600); do
                if [[ -S "$sock" ]] && nbdinfo --size "$uri" >/dev/null 2>&1; then return 0; fi
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.05
            done
            die "logimg serve did not start: $(cat "$work/serve.err")"
            ;;
    esac
}
stop_server() {
    if [[ -n "$pid" ]]; then
        kill -TERM "$pid" 2>/dev/null || true
        local rc=0
        wait "$pid" 2>/dev/null || rc=$?
        pid=""
        # 143 = killed by our SIGTERM before it installed a handler; anything else is a failure.
        if [[ $rc != 0 && $rc != 143 ]]; then die "logimg serve exited with status $rc: $(tail -3 "$work/serve.err")"; fi
    fi
}
fio_run() {  # fio_run OUTPUT fio-args...
    local out="$1"; shift
    fio --name=bench "${fio_engine[@]}" --size="$size" --output-format=json --output="$out" "$@" >/dev/null 2>"$work/fio.err" ||
        die "fio failed: $(tail -5 "$work/fio.err")"
}
job_args() {
    case "$1" in
        randwrite) echo "--rw=randwrite --bs=4k --iodepth=16" ;;
        randwrite-fl) echo "--rw=randwrite --bs=4k --iodepth=16 --fsync=32" ;;
        randread) echo "--rw=randread --bs=4k --iodepth=16" ;;
        seqread) echo "--rw=read --bs=1M --iodepth=4" ;;
        seqwrite) echo "--rw=write --bs=1M --iodepth=4" ;;
        *) die "unknown job $1" ;;
    esac
}

IFS=, read -r -a job_list <<<"$jobs"
for job in "${job_list[@]}"; do job_args "$job" >/dev/null; done
results="$work/results.tsv"
: >"$results"
total=$((runs * ${#job_list[@]} * ${#disks[@]}))
n=0
t_start=$SECONDS
for ((round = 0; round < runs; round++)); do
    for job in "${job_list[@]}"; do
        for ((i = 0; i < ${#disks[@]}; i++)); do
            disk="${disks[$(((i + round) % ${#disks[@]}))]}"
            n=$((n + 1))
            start_disk "$disk"
            if [[ "$job" == *read ]]; then
                say "[$n/$total] round $((round + 1)) $job $disk: filling $size"
                fio_run "$work/fill.json" --rw=write --bs=1M --iodepth=4
            fi
            osd_idle 5
            # One quiet second first: OSD ops in it are another client's (column other/s).
            osd_snap "$work/pre.json"
            sleep 1
            osd_snap "$work/before.json"
            # shellcheck disable=SC2046  # job_args is meant to split into words
            fio_run "$work/job.json" $(job_args "$job") --time_based --runtime="$seconds"
            stop_server
            osd_idle 3
            osd_snap "$work/after.json"
            helper row "$work/job.json" "$work/pre.json" "$work/before.json" "$work/after.json" "$job" "$disk" "$((round + 1))" >>"$results"
            tail -1 "$results" | awk -F'\t' -v n="$n" -v t="$total" \
                '{printf "bench/rados.sh: [%d/%d] round %s %s %s: %s IOPS, %s MB/s, p99 %s us, OSD %s us/op, %s OSD B/B\n", n, t, $3, $1, $2, $4, $5, $6, $7, $8}' >&2
            remove_disks
        done
    done
done
elapsed=$((SECONDS - t_start))

stamp="$(date -u +%Y%m%d-%H%M%S)"
mkdir -p bench/results
out="bench/results/rados-${stamp}.txt"
{
    echo "# logimg on RADOS vs RBD (issue 7): fio rbd engine vs fio nbd engine on logimg serve rados://"
    echo "date:    $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "command: $cmdline"
    echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- Sources 2>/dev/null || echo ' (+ uncommitted changes)')"
    echo "nproc:   $(nproc); cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'); memory: $(free -h | awk '/^Mem:/ {print $2}'); kernel: $(uname -r)"
    echo "fio:     $(fio --version); ceph: $(ceph --version | awk '{print $3}')${logimg:+; logimg: $logimg}"
    echo "cluster: $(if [[ -n "$own_cluster" ]]; then echo "own single-node cluster (bench/ceph-single-node.sh)"; else echo "reused $CEPH_CONF"; fi), pool $pool, osd.0 pid $osd_pid, $(ceph_ osd metadata 0 2>/dev/null | python3 -c 'import json,sys; m=json.load(sys.stdin); print(m.get("osd_objectstore","?"), m.get("bluestore_bdev_type","?"), "min_alloc", m.get("bluestore_min_alloc_size","?"))' 2>/dev/null || echo '?')"
    echo "disks:   $size each, fresh per run; $seconds s per job, $runs rounds, jobs $jobs, disks ${disks[*]}; read jobs after a 1 MiB sequential fill"
    echo "OSD:     CPU = utime+stime of /proc/$osd_pid/stat; device bytes = /proc/$osd_pid/io; KV = bluefs bytes_written_wal+sst+slow from perf dump (${asok:-ceph tell})"
    echo "         window = job start to job end (logimg: to its server's exit) + up to 3 s until the OSD is idle"
    echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) at the end; total $elapsed s"
    echo
    helper report "$results" "$runs"
} | tee "$out"
echo
echo "saved to $out"
