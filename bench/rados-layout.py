#!/usr/bin/python3
"""Segment layout on RADOS (issue 7): appended segment objects vs one object per batch.

    export CEPH_CONF=/tmp/ceph-dev/ceph.conf      # bench/ceph-single-node.sh start DIR
    /usr/bin/python3 bench/rados-layout.py         # about 4-5 minutes
    /usr/bin/python3 bench/rados-layout.py --seconds 5 --rounds 5 --depths 1,8
    /usr/bin/python3 bench/rados-layout.py --sweep # remove leftovers of killed runs

Layouts (the engine writes group-commit batches of up to 1 MiB):
  (a) append: each batch is aio_write at increasing offsets into the open
      segment object; a batch that would end past --segment-size (64 MiB)
      starts the next object.
  (b) object: each batch is aio_write_full of a new, never-modified object.
Writes: batch sizes 8K,128K,1M x writes in flight 1,4, both layouts, for
--seconds each, interleaved over --rounds rounds (the layout order alternates
per round); the table shows medians. Per cell: batches/s, MB/s, client
latency p50/p99 (submit to completion), and the OSD's work per batch: CPU
(utime+stime of ceph-osd from /proc/PID/stat) and bytes written to its device
(/proc/PID/io write_bytes, i.e. BlueStore data + BlueFS/RocksDB, both in the
block file), plus the BlueStore/BlueFS counter breakdown from `perf dump` over
the admin socket. After the last completion the OSD's counters keep being
read until it is idle (at most --settle s), so deferred writes and RocksDB
flushes done after the acknowledgement are charged to the cell.
Reads: --read-mib MiB written in --read-batch batches in both layouts, then
random 4 KiB reads (aio_read) at the same depths: IOPS, latency, OSD CPU and
device bytes read per read. Metadata: BlueStore onodes, extent-map shards and
RocksDB key+value bytes per object and per GiB of log (admin socket
calc_objectstore_db_histogram; `rados df` has no object counts without a
ceph-mgr), OSD cost of deleting each dataset, and the time to list a
namespace of --list-objects objects, of the datasets' namespaces, and of an
empty namespace (a RADOS listing scans every object of the pool's PGs and
filters by namespace, so recovery's listing cost grows with the whole pool).

Everything lives in namespaces layout-bench-<pid>-* of --pool and is removed
at the end (also on error or SIGINT/SIGTERM; --sweep removes what a killed run
left). Output is printed and saved to bench/results/rados-layout-<date>.txt.
Needs Debian's python3-rados, hence /usr/bin/python3.
"""
import argparse
import datetime
import json
import os
import random
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time

try:
    import rados
except ImportError:
    sys.exit("rados-layout: no python3-rados module; run with /usr/bin/python3 (apt-get install python3-rados)")

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")


def parse_size(s):
    s = s.strip().upper().removesuffix("IB").removesuffix("B")
    mult = {"K": KiB, "M": MiB, "G": GiB}.get(s[-1:], 1)
    if s[-1:] in "KMG":
        s = s[:-1]
    return int(float(s) * mult)


def fmt_size(n):
    for unit, m in (("M", MiB), ("K", KiB)):
        if n >= m and n % m == 0:
            return f"{n // m}{unit}"
    return str(n)


def log(msg):
    print(f"rados-layout: {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- OSD probes

class Osd:
    """The ceph-osd process of CONF: CPU, /proc io, perf counters (admin socket)."""

    PERF = {  # perf dump section -> counters kept
        "osd": ["op_w", "op_r", "op_w_in_bytes", "op_r_out_bytes"],
        "bluestore": ["bluestore_write_big_bytes", "bluestore_write_small_bytes",
                      "bluestore_write_deferred_bytes", "deferred_write_bytes", "write_pad_bytes",
                      "bluestore_write_big", "bluestore_write_small"],
        "bluefs": ["bytes_written_wal", "bytes_written_sst", "bytes_written_slow"],
    }

    def __init__(self, conf, osd_id):
        self.conf, self.id = conf, osd_id
        self.pid = self._find_pid()
        self.asok = None
        try:
            path = subprocess.run(["ceph-conf", "-c", conf, "-n", f"osd.{osd_id}", "--lookup", "admin_socket"],
                                  capture_output=True, text=True, timeout=30).stdout.strip()
            if path and os.path.exists(path):
                self.asok = path
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.perf_source = f"admin socket {self.asok}" if self.asok else f"`ceph tell osd.{osd_id} perf dump`"
        self.command("perf dump")  # fails early if neither works

    def _find_pid(self):
        out = subprocess.run(["pgrep", "-af", "ceph-osd"], capture_output=True, text=True).stdout.splitlines()
        procs = [(int(l.split()[0]), l) for l in out if l.strip()]
        mine = [p for p, l in procs if self.conf in l and f"-i {self.id}" in l]
        if len(mine) == 1:
            return mine[0]
        if len(procs) == 1:
            return procs[0][0]
        sys.exit(f"rados-layout: cannot tell which ceph-osd serves {self.conf}: {out}")

    def command(self, prefix, **kw):
        if self.asok:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(60)
                s.connect(self.asok)
                s.sendall(json.dumps({"prefix": prefix, **kw}).encode() + b"\0")
                n = struct.unpack(">I", s.recv(4, socket.MSG_WAITALL))[0]
                buf = bytearray()
                while len(buf) < n:
                    chunk = s.recv(n - len(buf))
                    if not chunk:
                        break
                    buf += chunk
            text = buf.decode()
        else:
            text = subprocess.run(["ceph", "-c", self.conf, "tell", f"osd.{self.id}", *prefix.split(), *kw.values()],
                                  capture_output=True, text=True, check=True, timeout=60).stdout
        return json.JSONDecoder().raw_decode(text.lstrip())[0]  # some commands print several objects

    def cpu(self):
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime

    def io(self):
        with open(f"/proc/{self.pid}/io") as f:
            return {k: int(v) for k, v in (line.split(":") for line in f)}

    def snap(self):
        perf = self.command("perf dump")
        s = {"t": time.perf_counter(), "cpu": self.cpu(), "self_cpu": sum(os.times()[:2]), "host_busy": host_busy()}
        io = self.io()
        s["dev_w"], s["dev_r"] = io["write_bytes"], io["read_bytes"]
        for sec, keys in self.PERF.items():
            for k in keys:
                s[f"{sec}.{k}"] = perf.get(sec, {}).get(k, 0)
        return s

    def wait_idle(self, max_s, tick=0.25):
        """Waits until a tick with at most 1 clock tick of OSD CPU and < 256 KiB written."""
        t0 = time.perf_counter()
        c, w = self.cpu(), self.io()["write_bytes"]
        while time.perf_counter() - t0 < max_s:
            time.sleep(tick)
            c2, w2 = self.cpu(), self.io()["write_bytes"]
            if c2 - c <= 1.0 / CLK_TCK + 1e-9 and w2 - w < 256 * KiB:
                break
            c, w = c2, w2
        return time.perf_counter() - t0

    def db_histogram(self):
        h = self.command("calc_objectstore_db_histogram")
        return {k: h.get(k, 0) for k in ("num_onodes", "num_shards", "num_deferred", "total_key_size", "total_value_size")}


def host_busy():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / CLK_TCK  # user nice system irq softirq steal


def delta(a, b):
    return {k: b[k] - a[k] for k in a}


# --------------------------------------------------------------------------- I/O driver

class Driver:
    """Keeps up to DEPTH aio operations in flight; records each one's latency."""

    def __init__(self, depth):
        self.depth = depth
        self.sem = threading.Semaphore(depth)
        self.lat = []
        self.errors = []

    def callback(self, t0, want_len=None):
        def done(comp, *rest):
            r = comp.get_return_value()
            if r < 0:
                self.errors.append(r)
            elif want_len is not None and len(rest[0]) != want_len:
                self.errors.append(f"short read {len(rest[0])}")
            self.lat.append(time.perf_counter() - t0)
            self.sem.release()
        return done

    def run(self, submit, seconds=None, count=None):
        """Calls submit(i, callback) until SECONDS pass or COUNT ops; returns (ops, elapsed)."""
        n = 0
        t_start = time.perf_counter()
        t_end = t_start + seconds if seconds is not None else None
        while count is None or n < count:
            self.sem.acquire()
            if t_end is not None and time.perf_counter() >= t_end:
                self.sem.release()
                break
            submit(n, time.perf_counter())
            n += 1
        for _ in range(self.depth):
            self.sem.acquire()
        for _ in range(self.depth):
            self.sem.release()
        if self.errors:
            raise RuntimeError(f"{len(self.errors)} failed operations, first: {self.errors[0]}")
        return n, time.perf_counter() - t_start


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else 0.0


class Bench:
    def __init__(self, args):
        self.a = args
        self.cluster = rados.Rados(conffile=args.conf)
        self.cluster.connect(timeout=30)
        if not self.cluster.pool_exists(args.pool):
            sys.exit(f"rados-layout: pool {args.pool} does not exist")
        self.ioctx = self.cluster.open_ioctx(args.pool)
        self.osd = Osd(args.conf, args.osd)
        self.prefix = f"layout-bench-{os.getpid()}"
        self.seq = 0  # object names never repeat within a run
        self.payload = {}

    def ns(self, suffix):
        return f"{self.prefix}-{suffix}"

    def data(self, size):
        if size not in self.payload:
            self.payload[size] = os.urandom(size)  # incompressible; the same bytes for every batch
        return self.payload[size]

    # ---- writing

    def write_batches(self, layout, bs, depth, ns, seconds=None, count=None):
        """Writes batches in LAYOUT to namespace NS; returns (driver, ops, elapsed, objects)."""
        self.ioctx.set_namespace(ns)
        data, seg = self.data(bs), self.a.segment_size
        drv = Driver(depth)
        objects = []
        state = {"off": seg}  # forces a new segment object on the first batch

        def submit(i, t0):
            if layout == "a":
                if state["off"] + bs > seg:
                    self.seq += 1
                    objects.append(f"seg-{self.seq:016x}")
                    state["off"] = 0
                self.ioctx.aio_write(objects[-1], data, state["off"], oncomplete=drv.callback(t0))
                state["off"] += bs
            else:
                self.seq += 1
                objects.append(f"seg-{self.seq:016x}")
                self.ioctx.aio_write_full(objects[-1], data, oncomplete=drv.callback(t0))

        ops, elapsed = drv.run(submit, seconds=seconds, count=count)
        return drv, ops, elapsed, objects

    def remove(self, ns, names, depth=32):
        self.ioctx.set_namespace(ns)
        drv = Driver(depth)
        drv.run(lambda i, t0: self.ioctx.aio_remove(names[i], oncomplete=drv.callback(t0)), count=len(names))

    def write_cell(self, layout, bs, depth):
        ns = self.ns("w")
        before = self.osd.snap()
        drv, ops, elapsed, objects = self.write_batches(layout, bs, depth, ns, seconds=self.a.seconds)
        settle = self.osd.wait_idle(self.a.settle)
        d = delta(before, self.osd.snap())
        self.remove(ns, objects)
        self.osd.wait_idle(self.a.settle)
        return {
            "ops": ops, "objects": len(objects), "elapsed": elapsed, "settle": settle,
            "rate": ops / elapsed, "mbs": ops * bs / elapsed / 1e6,
            "p50": pct(drv.lat, 50) * 1e6, "p99": pct(drv.lat, 99) * 1e6,
            "cpu_us": d["cpu"] / ops * 1e6, "dev_b": d["dev_w"] / ops, "dev_amp": d["dev_w"] / (ops * bs),
            "big_b": d["bluestore.bluestore_write_big_bytes"] / ops,
            "small_b": d["bluestore.bluestore_write_small_bytes"] / ops,
            "defer_b": d["bluestore.bluestore_write_deferred_bytes"] / ops,
            "wal_b": d["bluefs.bytes_written_wal"] / ops,
            "sst_b": (d["bluefs.bytes_written_sst"] + d["bluefs.bytes_written_slow"]) / ops,
            "extra_ops": d["osd.op_w"] + d["osd.op_r"] - ops,
            "other_cpu": max(0.0, d["host_busy"] - d["cpu"] - d["self_cpu"]) / d["t"],
            "self_cpu_us": d["self_cpu"] / ops * 1e6,
        }

    # ---- reading

    def read_cell(self, layout, objects, obj_size, depth):
        self.ioctx.set_namespace(self.ns("r" + layout))
        rng = random.Random(depth * 7919 + len(objects))
        blocks = obj_size // (4 * KiB)
        drv = Driver(depth)

        def submit(i, t0):
            self.ioctx.aio_read(objects[rng.randrange(len(objects))], 4 * KiB, rng.randrange(blocks) * 4 * KiB,
                                oncomplete=drv.callback(t0, want_len=4 * KiB))

        before = self.osd.snap()
        ops, elapsed = drv.run(submit, seconds=self.a.read_seconds)
        d = delta(before, self.osd.snap())
        return {
            "ops": ops, "rate": ops / elapsed, "mbs": ops * 4 * KiB / elapsed / 1e6,
            "p50": pct(drv.lat, 50) * 1e6, "p99": pct(drv.lat, 99) * 1e6,
            "cpu_us": d["cpu"] / ops * 1e6, "dev_b": d["dev_r"] / ops,
            "extra_ops": d["osd.op_w"] + d["osd.op_r"] - ops,
        }

    def make_dataset(self, layout):
        """--read-mib MiB in --read-batch batches, in namespace r<layout>; returns objects and costs."""
        bs = self.a.read_batch
        count = self.a.read_mib * MiB // bs
        h0, s0 = self.osd.db_histogram(), self.osd.snap()
        _, ops, elapsed, objects = self.write_batches(layout, bs, 4, self.ns("r" + layout), count=count)
        self.osd.wait_idle(self.a.settle)
        s1 = self.osd.snap()
        h1 = self.osd.db_histogram()
        return objects, {"write_s": elapsed, "write_cpu": s1["cpu"] - s0["cpu"], "hist": delta(h0, h1)}

    def drop_dataset(self, layout, objects):
        s0 = self.osd.snap()
        t0 = time.perf_counter()
        self.remove(self.ns("r" + layout), objects)
        t = time.perf_counter() - t0
        self.osd.wait_idle(self.a.settle)
        d = delta(s0, self.osd.snap())
        return {"rm_s": t, "rm_cpu": d["cpu"], "rm_dev": d["dev_w"]}

    def list_time(self, ns):
        self.ioctx.set_namespace(ns)
        t0 = time.perf_counter()
        n = sum(1 for _ in self.ioctx.list_objects())
        return n, time.perf_counter() - t0

    # ---- cleanup

    def sweep(self, prefix):
        """Removes every object in a namespace starting with PREFIX; returns the count."""
        self.ioctx.set_namespace(rados.LIBRADOS_ALL_NSPACES)
        found = [(o.nspace, o.key) for o in self.ioctx.list_objects() if o.nspace.startswith(prefix)]
        for ns in sorted({n for n, _ in found}):
            self.remove(ns, [k for n, k in found if n == ns])
        return len(found)


# --------------------------------------------------------------------------- main

def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--conf", default=os.environ.get("CEPH_CONF"), help="ceph.conf (default $CEPH_CONF)")
    p.add_argument("--pool", default="logimg")
    p.add_argument("--osd", type=int, default=0, help="the OSD to measure (a single-OSD cluster)")
    p.add_argument("--seconds", type=float, default=3.0, help="per write cell (3)")
    p.add_argument("--read-seconds", type=float, default=2.0, help="per read cell (2)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--sizes", default="8K,128K,1M", help="batch sizes (8K,128K,1M)")
    p.add_argument("--depths", default="1,4", help="writes in flight (1,4)")
    p.add_argument("--segment-size", default="64M", help="layout (a) object size (64M)")
    p.add_argument("--read-mib", type=int, default=256, help="size of each read dataset (256)")
    p.add_argument("--read-batch", default="128K", help="batch size the read datasets are written in (128K)")
    p.add_argument("--list-objects", type=int, default=10000, help="objects in the listing namespace (10000)")
    p.add_argument("--settle", type=float, default=3.0, help="max seconds to wait for the OSD to go idle (3)")
    p.add_argument("--output", help="results file (default bench/results/rados-layout-<date>.txt)")
    p.add_argument("--sweep", action="store_true", help="only remove objects of namespaces layout-bench-* and exit")
    args = p.parse_args()
    if not args.conf:
        sys.exit("rados-layout: set CEPH_CONF or pass --conf")
    args.segment_size = parse_size(args.segment_size)
    args.read_batch = parse_size(args.read_batch)
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    depths = [int(d) for d in args.depths.split(",")]
    if max(sizes) > args.segment_size or args.segment_size % args.read_batch or args.read_mib * MiB % args.segment_size:
        sys.exit("rados-layout: batch sizes must fit the segment size, which must be a multiple of --read-batch "
                 "and divide --read-mib")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    bench = Bench(args)
    if args.sweep:
        log(f"removed {bench.sweep('layout-bench-')} objects")
        return

    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    out_path = args.output or os.path.join(REPO, "bench", "results", f"rados-layout-{stamp}.txt")
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    out = open(out_path, "w")

    def emit(line=""):
        print(line, flush=True)
        out.write(line + "\n")

    try:
        run(bench, args, sizes, depths, emit)
    finally:
        try:
            n = bench.sweep(bench.prefix)
            if n:
                log(f"cleanup removed {n} leftover objects")
        except Exception as e:  # noqa: BLE001 - report, the run's own error matters more
            log(f"cleanup failed: {e}; run with --sweep")
        out.close()
        log(f"saved to {os.path.relpath(out_path)}")


def git(*a):
    try:
        return subprocess.run(["git", "-C", REPO, *a], capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError:
        return ""


def run(bench, args, sizes, depths, emit):
    osd = bench.osd
    cfg = {k: next(iter(osd.command("config get", var=k).values()), "?")
           for k in ("bluestore_prefer_deferred_size_hdd", "osd_memory_target")}
    rc, outb, _ = bench.cluster.mon_command(json.dumps({"prefix": "osd metadata", "id": args.osd, "format": "json"}), b"")
    meta = json.loads(outb) if rc == 0 and outb else {}
    dirty = "" if subprocess.run(["git", "-C", REPO, "diff", "--quiet", "HEAD", "--", "bench/rados-layout.py"]).returncode == 0 \
        else " (+ uncommitted bench/rados-layout.py)"
    emit("# RADOS segment layout: (a) append to a 64 MiB segment object vs (b) one object per batch (issue 7)")
    emit(f"date:     {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M:%S} UTC")
    emit(f"command:  /usr/bin/python3 bench/rados-layout.py {' '.join(sys.argv[1:])}".rstrip())
    emit(f"commit:   {git('rev-parse', '--short', 'HEAD') or 'unknown'}{dirty}")
    emit(f"host:     nproc {os.cpu_count()}, {subprocess.run(['uname', '-r'], capture_output=True, text=True).stdout.strip()}, "
         f"load {os.getloadavg()[0]:.2f}")
    emit(f"ceph:     {meta.get('ceph_version_short', '?')}, pool {args.pool}, osd.{args.osd} pid {osd.pid}, "
         f"{meta.get('osd_objectstore', '?')} {meta.get('bluestore_bdev_type', '?')} (rotational {meta.get('rotational', '?')}), "
         f"min_alloc {meta.get('bluestore_min_alloc_size', '?')}, prefer_deferred_hdd {cfg['bluestore_prefer_deferred_size_hdd']}, "
         f"osd_memory_target {cfg['osd_memory_target']}")
    emit(f"counters: OSD CPU = utime+stime of /proc/{osd.pid}/stat; device bytes = /proc/{osd.pid}/io write_bytes/read_bytes "
         f"(BlueStore block file incl. BlueFS);")
    emit(f"          breakdown from perf dump via {osd.perf_source}: bluestore.bluestore_write_big_bytes, "
         f"bluestore_write_small_bytes, bluestore_write_deferred_bytes, bluefs.bytes_written_wal, bytes_written_sst+slow;")
    emit("          metadata from calc_objectstore_db_histogram (num_onodes, num_shards, total_key_size+total_value_size)")
    emit(f"params:   {args.seconds:g} s per write cell, {args.read_seconds:g} s per read cell, {args.rounds} rounds, "
         f"segment {fmt_size(args.segment_size)}, read datasets {args.read_mib} MiB in {fmt_size(args.read_batch)} batches, "
         f"listing {args.list_objects} objects, namespaces {bench.prefix}-*")

    osd.wait_idle(args.settle)
    s0 = osd.snap()
    time.sleep(2)
    idle = delta(s0, osd.snap())
    emit(f"idle OSD: {idle['cpu'] / idle['t'] * 100:.1f}% CPU, {idle['dev_w'] / idle['t'] / 1e3:.0f} kB/s written "
         f"(not subtracted below); other processes {max(0, idle['host_busy'] - idle['cpu'] - idle['self_cpu']) / idle['t'] * 100:.0f}% CPU")
    emit()

    # ---- writes
    t_start = time.perf_counter()
    cells = [(bs, d) for bs in sizes for d in depths]
    writes = {}
    total = args.rounds * len(cells) * 2
    n = 0
    for r in range(args.rounds):
        for bs, depth in cells:
            for layout in (("a", "b") if (r + n // 2) % 2 == 0 else ("b", "a")):
                n += 1
                res = bench.write_cell(layout, bs, depth)
                writes.setdefault((bs, depth, layout), []).append(res)
                log(f"[{n}/{total}] round {r + 1} write {fmt_size(bs)} QD{depth} ({layout}): {res['rate']:.0f} batches/s, "
                    f"{res['mbs']:.1f} MB/s, OSD {res['cpu_us']:.0f} us/batch, {res['dev_amp']:.2f} dev B/B, "
                    f"settle {res['settle']:.1f} s")

    # ---- read datasets, metadata, reads, listing
    datasets, costs = {}, {}
    for layout in ("a", "b"):
        log(f"writing read dataset ({layout}): {args.read_mib} MiB in {fmt_size(args.read_batch)} batches")
        datasets[layout], costs[layout] = bench.make_dataset(layout)
    obj_size = {"a": args.segment_size, "b": args.read_batch}
    reads = {}
    total = args.rounds * len(depths) * 2
    n = 0
    for r in range(args.rounds):
        for depth in depths:
            for layout in (("a", "b") if (r + n // 2) % 2 == 0 else ("b", "a")):
                n += 1
                res = bench.read_cell(layout, datasets[layout], obj_size[layout], depth)
                reads.setdefault((depth, layout), []).append(res)
                log(f"[{n}/{total}] round {r + 1} read 4K QD{depth} ({layout}): {res['rate']:.0f} IOPS, "
                    f"OSD {res['cpu_us']:.0f} us/read, {res['dev_b']:.0f} dev B/read")

    log(f"creating {args.list_objects} 4 KiB objects for the listing test")
    h0, s0 = osd.db_histogram(), osd.snap()
    _, _, list_create_s, list_objs = bench.write_batches("b", 4 * KiB, 16, bench.ns("list"), count=args.list_objects)
    osd.wait_idle(args.settle)
    s1, h1 = osd.snap(), osd.db_histogram()
    list_hist, list_cpu = delta(h0, h1), s1["cpu"] - s0["cpu"]
    listing = {}
    for name, ns in (("list", bench.ns("list")), ("ra", bench.ns("ra")), ("rb", bench.ns("rb")), ("empty", bench.ns("empty"))):
        runs = [bench.list_time(ns) for _ in range(3)]
        listing[name] = (runs[0][0], statistics.median(t for _, t in runs))
    t0 = time.perf_counter()
    bench.ioctx.set_namespace(rados.LIBRADOS_ALL_NSPACES)
    pool_objects = sum(1 for _ in bench.ioctx.list_objects())
    pool_list_s = time.perf_counter() - t0
    s0 = osd.snap()
    t0 = time.perf_counter()
    bench.remove(bench.ns("list"), list_objs)
    list_rm_s = time.perf_counter() - t0
    osd.wait_idle(args.settle)
    list_rm_cpu = osd.snap()["cpu"] - s0["cpu"]
    drops = {layout: bench.drop_dataset(layout, datasets[layout]) for layout in ("a", "b")}
    elapsed = time.perf_counter() - t_start

    # ---- report
    med = lambda rs, k: statistics.median(x[k] for x in rs)  # noqa: E731
    emit(f"Writes: medians of {args.rounds} rounds; OSD work per batch includes the settle after the last ack.")
    emit("dev B/B = OSD device bytes written per payload byte; KV B/batch = BlueFS (RocksDB WAL+SST) bytes per batch.")
    hdr = (f"{'batch':>6} {'QD':>3} {'layout':<7}{'batch/s':>9}{'MB/s':>8}{'p50 us':>8}{'p99 us':>8}"
           f"{'OSD us/b':>10}{'dev B/B':>9}{'KV B/batch':>11}{'objects':>9}")
    emit(hdr)
    keys = ["rate", "mbs", "p50", "p99", "cpu_us", "dev_amp", "kv"]
    for bs, depth in cells:
        m = {}
        for layout in ("a", "b"):
            rs = writes[(bs, depth, layout)]
            for x in rs:
                x["kv"] = x["wal_b"] + x["sst_b"]
            m[layout] = {k: med(rs, k) for k in keys + ["objects"]}
            v = m[layout]
            emit(f"{fmt_size(bs):>6} {depth:>3} {layout:<7}{v['rate']:>9.0f}{v['mbs']:>8.1f}{v['p50']:>8.0f}{v['p99']:>8.0f}"
                 f"{v['cpu_us']:>10.0f}{v['dev_amp']:>9.2f}{v['kv']:>11.0f}{v['objects']:>9.0f}")
        ratio = {k: (m["b"][k] / m["a"][k] if m["a"][k] else float("nan")) for k in keys}
        emit(f"{'':>6} {'':>3} {'(b)/(a)':<7}" + "".join(f"{ratio[k]:>{w}.2f}x" for k, w in
                                                       zip(keys, (8, 7, 7, 7, 9, 8, 10))))
    emit()
    emit(f"Random 4 KiB reads over {args.read_mib} MiB: (a) {len(datasets['a'])} objects of {fmt_size(args.segment_size)}, "
         f"(b) {len(datasets['b'])} objects of {fmt_size(args.read_batch)} (medians of {args.rounds} rounds)")
    emit(f"{'':>6} {'QD':>3} {'layout':<7}{'IOPS':>9}{'MB/s':>8}{'p50 us':>8}{'p99 us':>8}{'OSD us/r':>10}{'dev B/r':>9}")
    rkeys = ["rate", "mbs", "p50", "p99", "cpu_us", "dev_b"]
    for depth in depths:
        m = {layout: {k: med(reads[(depth, layout)], k) for k in rkeys} for layout in ("a", "b")}
        for layout in ("a", "b"):
            v = m[layout]
            emit(f"{'read4K':>6} {depth:>3} {layout:<7}{v['rate']:>9.0f}{v['mbs']:>8.1f}{v['p50']:>8.0f}{v['p99']:>8.0f}"
                 f"{v['cpu_us']:>10.0f}{v['dev_b']:>9.0f}")
        emit(f"{'':>6} {'':>3} {'(b)/(a)':<7}" + "".join(
            f"{(m['b'][k] / m['a'][k] if m['a'][k] else float('nan')):>{w}.2f}x" for k, w in zip(rkeys, (8, 7, 7, 7, 9, 8))))
    emit()

    emit(f"Metadata and deletion per GiB of log ({args.read_mib} MiB datasets written in {fmt_size(args.read_batch)} batches, QD4):")
    emit(f"{'':>10}{'objects':>9}{'onodes':>8}{'shards':>8}{'KV bytes':>10}{'write s':>9}{'rm s':>7}{'rm OSD s':>10}{'rm dev MB':>10}")
    per_gib = GiB / (args.read_mib * MiB)
    mrow = {}
    for layout in ("a", "b"):
        h, c, d = costs[layout]["hist"], costs[layout], drops[layout]
        kv = h["total_key_size"] + h["total_value_size"]
        mrow[layout] = [len(datasets[layout]) * per_gib, h["num_onodes"] * per_gib, h["num_shards"] * per_gib, kv * per_gib,
                        c["write_s"] * per_gib, d["rm_s"] * per_gib, d["rm_cpu"] * per_gib, d["rm_dev"] * per_gib / 1e6]
        emit(f"{'(' + layout + ')':>10}" + "".join(f"{x:>{w}.{p}f}" for x, (w, p) in
                                                  zip(mrow[layout], ((9, 0), (8, 0), (8, 0), (10, 0), (9, 2), (7, 2), (10, 2), (10, 1)))))
    emit(f"{'(b)/(a)':>10}" + "".join(f"{b / a:>{w}.2f}x" if a else f"{'-':>{w + 1}}" for a, b, w in
                                      zip(mrow["a"], mrow["b"], (8, 7, 7, 9, 8, 6, 9, 9))))
    per_obj = (list_hist["total_key_size"] + list_hist["total_value_size"]) / args.list_objects
    emit(f"{args.list_objects} 4 KiB objects: onodes +{list_hist['num_onodes']}, KV +{per_obj:.0f} B/object "
         f"(memtable/SST, before compaction), create {list_create_s / args.list_objects * 1e6:.0f} us/object "
         f"(OSD {list_cpu / args.list_objects * 1e6:.0f} us), remove {list_rm_s / args.list_objects * 1e6:.0f} us/object "
         f"(OSD {list_rm_cpu / args.list_objects * 1e6:.0f} us)")
    emit()
    emit(f"Listing (python list_objects, median of 3; the pool held {pool_objects} objects, listing all namespaces took "
         f"{pool_list_s:.2f} s):")
    for name, label in (("list", "listing namespace"), ("rb", "(b) read dataset"), ("ra", "(a) read dataset"),
                        ("empty", "empty namespace")):
        cnt, t = listing[name]
        emit(f"  {label:<18} {cnt:>7} objects  {t * 1e3:>8.1f} ms" + (f"  ({t / cnt * 1e6:.1f} us/object)" if cnt else ""))
    per_pool_obj = listing["empty"][1] / max(1, pool_objects)
    seg_objs = 64 * GiB // args.read_batch
    emit(f"  an empty namespace costs {per_pool_obj * 1e6:.2f} us per object in the pool (the OSD scans every PG and filters "
         f"by namespace); 64 GiB of log in (b) {fmt_size(args.read_batch)} objects = {seg_objs} objects, listed in about "
         f"{max(listing['list'][1] / args.list_objects, per_pool_obj) * seg_objs:.1f} s, vs {64 * GiB // args.segment_size} "
         f"objects in (a)")
    emit()
    emit("Write details (medians per batch): BlueStore big/small/deferred bytes, BlueFS WAL and SST bytes, client CPU,")
    emit("settle s after the last ack, foreign OSD ops (not ours: other clients; should be ~0), cores used by other processes.")
    emit(f"{'batch':>6} {'QD':>3} {'lay':<4}{'big':>9}{'small':>9}{'defer':>9}{'WAL':>8}{'SST':>8}{'cli us':>8}{'settle':>7}"
         f"{'foreign':>8}{'other':>8}")
    for bs, depth in cells:
        for layout in ("a", "b"):
            rs = writes[(bs, depth, layout)]
            emit(f"{fmt_size(bs):>6} {depth:>3} {layout:<4}" + "".join(
                f"{med(rs, k):>{w}.{p}f}" for k, w, p in (("big_b", 9, 0), ("small_b", 9, 0), ("defer_b", 9, 0), ("wal_b", 8, 0),
                                                          ("sst_b", 8, 0), ("self_cpu_us", 8, 0), ("settle", 7, 1),
                                                          ("extra_ops", 8, 0), ("other_cpu", 8, 2))))
    foreign = max(x["extra_ops"] for rs in list(writes.values()) + list(reads.values()) for x in rs)
    if foreign > 20:
        emit(f"WARNING: up to {foreign} OSD ops per cell were not this benchmark's: another client used the cluster.")
    busy = statistics.median(x["other_cpu"] for rs in writes.values() for x in rs)
    if busy > 0.25:
        emit(f"WARNING: other processes used a median {busy:.2f} of {os.cpu_count()} cores during the write cells "
             f"(a build?): absolute numbers are low and noisy, compare ratios only.")
    emit(f"total measured time {elapsed:.0f} s")


if __name__ == "__main__":
    main()
