#!/usr/bin/env python3
"""Takes internal snapshots of a qemu-storage-daemon node over QMP, one every
INTERVAL seconds, and prints each one's latency in ms (one per line).

    qmp-snapshots.py QMP_SOCKET NODE COUNT INTERVAL

The latency is the QMP round trip of blockdev-snapshot-internal-sync on one
connection opened beforehand (no process start), the anchor's best case.
"""
import json, socket, sys, time

path, node, count, interval = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
f = s.makefile("rw")

def reply():
    while True:
        line = f.readline()
        if not line:
            sys.exit("qmp-snapshots: QMP socket closed")
        msg = json.loads(line)
        if "event" in msg:
            continue
        return msg

def execute(cmd, **args):
    f.write(json.dumps({"execute": cmd, "arguments": args}) + "\n")
    f.flush()
    r = reply()
    if "error" in r:
        sys.exit("qmp-snapshots: %s: %s" % (cmd, r["error"]["desc"]))
    return r["return"]

reply()  # greeting
execute("qmp_capabilities")
start = time.monotonic()
for i in range(1, count + 1):
    t0 = time.monotonic()
    execute("blockdev-snapshot-internal-sync", device=node, name="s%d" % i)
    print("%.3f" % ((time.monotonic() - t0) * 1000), flush=True)
    next_at = start + i * interval
    time.sleep(max(0.0, next_at - time.monotonic()))
