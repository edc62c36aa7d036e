#!/usr/bin/env bash
# A throwaway single-node Ceph cluster for the RADOS tests and benchmarks
# (issue 7), from Debian's packages: ceph-mon, ceph-osd (ceph-mgr optional).
#
#   bench/ceph-single-node.sh start DIR   # prints: export CEPH_CONF=DIR/ceph.conf
#   bench/ceph-single-node.sh status DIR
#   bench/ceph-single-node.sh stop DIR    # kills the daemons, removes DIR
#
# One mon and one OSD, everything under DIR (which must not exist; it must not
# be on tmpfs, because BlueStore opens its block file with O_DIRECT). The OSD
# is BlueStore on a sparse file DIR/osd.0.block placed beside its data
# directory (a block path inside the data directory fails with ELOOP).
# BlueStore rather than memstore: memstore keeps whole objects in RAM (over
# 4 GiB after a random-write run), BlueStore on a file stayed under 2 GiB.
# Pools have size 1, auth is off, and a mon on a free port of 127.0.0.1 only.
# With CEPH_MGR=1 a ceph-mgr is started too (about 300 MiB more and 10 s
# slower): `ceph -s` then shows pools, PG states and usage, and `start` also
# waits for every PG to be active+clean. Without it, I/O works the same, and
# `start` proves the pool usable by writing and reading an object.
#
# `start` waits for HEALTH_OK, creates the pool $CEPH_POOL (default logimg),
# checks it with a write and a read, and prints the export line on stdout
# (progress goes to stderr). librados reads $CEPH_CONF
# (rados_conf_read_file(cluster, NULL)); fio's rados engine needs --conf=FILE.
#
# Environment: CEPH_POOL (logimg), CEPH_OSD_SIZE (block file size, 20G),
# CEPH_START_TIMEOUT (seconds to wait for each step, 120), CEPH_MGR (0).
set -euo pipefail

usage() { echo "usage: $0 start|stop|status DIR" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
cmd=$1
dir=$(realpath -m "$2")
conf=$dir/ceph.conf
pool=${CEPH_POOL:-logimg}
marker="# logimg single-node cluster"
say() { echo "ceph-single-node: $*" >&2; }
die() { say "error: $*"; exit 1; }
ceph_() { timeout 30 ceph -c "$conf" --connect-timeout 10 "$@"; }

start() {
    [[ ! -e $dir ]] || die "$dir already exists"
    for tool in ceph-mon ceph-osd monmaptool ceph-authtool ceph rados; do
        command -v "$tool" > /dev/null || die "$tool not found (apt-get install ceph-mon ceph-osd)"
    done
    local t0 fsid port osd_uuid
    t0=$(date +%s.%N)
    mkdir -p "$dir/run" "$dir/log" "$dir/mon.a" "$dir/osd.0"
    fsid=$(cat /proc/sys/kernel/random/uuid)
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    cat > "$conf" <<EOF
$marker ($0 start $dir)
[global]
fsid = $fsid
mon_host = [v2:127.0.0.1:$port]
ms_bind_msgr1 = false
public_network = 127.0.0.1/32
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
keyring = $dir/keyring
run_dir = $dir/run
pid_file = $dir/run/\$name.pid
admin_socket = $dir/run/\$name.asok
log_file = $dir/log/\$name.log
crash_dir = $dir/crash
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_allow_pool_delete = true
mon_warn_on_pool_no_redundancy = false
mon_warn_on_insecure_global_id_reclaim = false
mon_warn_on_insecure_global_id_reclaim_allowed = false
# The shared build machine's disk is often more than 70% full.
mon_data_avail_warn = 2
mon_data_avail_crit = 1
[client]
# Clients (librados in the tests, the ceph and rados tools) get no admin
# socket and no log file: many run at once and would clash on one name.
admin_socket =
log_file =
[mon]
mon_data = $dir/\$name
[mgr]
mgr_data = $dir/\$name
[osd]
osd_data = $dir/\$name
osd_objectstore = bluestore
bluestore_block_path = $dir/\$name.block
bluestore_block_create = true
bluestore_block_size = $(numfmt --from=iec "${CEPH_OSD_SIZE:-20G}")
osd_memory_target = 1073741824
EOF
    ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' > /dev/null
    monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$port]" "$dir/monmap" > /dev/null
    ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/keyring"
    # Daemons log to DIR/log; what they print before they detach goes there too.
    ceph-mon -c "$conf" -i a >> "$dir/log/mon.a.start.log" 2>&1 || { cat "$dir/log/mon.a.start.log" >&2; die "ceph-mon failed"; }
    wait_for "the mon" mon_up
    say "mon up after $(elapsed "$t0") s"

    osd_uuid=$(cat /proc/sys/kernel/random/uuid)
    local id
    id=$(ceph_ osd new "$osd_uuid")
    [[ $id == 0 ]] || die "ceph osd new gave id $id, expected 0"
    truncate -s "${CEPH_OSD_SIZE:-20G}" "$dir/osd.0.block"   # sparse
    ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid" > "$dir/log/osd.0.mkfs.log" 2>&1 ||
        { tail -20 "$dir/log/osd.0.mkfs.log" >&2; die "ceph-osd --mkfs failed"; }
    ceph-osd -c "$conf" -i 0 >> "$dir/log/osd.0.start.log" 2>&1 || { cat "$dir/log/osd.0.start.log" >&2; die "ceph-osd failed"; }
    if [[ ${CEPH_MGR:-0} == 1 ]]; then
        command -v ceph-mgr > /dev/null || die "CEPH_MGR=1 but ceph-mgr is not installed"
        mkdir -p "$dir/mgr.x"
        ceph-mgr -c "$conf" -i x >> "$dir/log/mgr.x.start.log" 2>&1 || { cat "$dir/log/mgr.x.start.log" >&2; die "ceph-mgr failed"; }
    fi
    wait_for "the osd" osd_up
    say "osd up after $(elapsed "$t0") s"
    if [[ ${CEPH_MGR:-0} == 1 ]]; then
        wait_for "the mgr" mgr_up   # loading its Python modules takes 15-20 s
        say "mgr active after $(elapsed "$t0") s"
    fi

    ceph_ osd pool create "$pool" 8 8 > /dev/null 2>&1
    ceph_ osd pool application enable "$pool" rbd > /dev/null 2>&1
    local deadline=$(( $(date +%s) + ${CEPH_START_TIMEOUT:-120} )) health=""
    until health=$(ceph_ health 2> /dev/null) && [[ $health == HEALTH_OK* ]]; do
        (( $(date +%s) < deadline )) || { ceph_ health detail >&2 || true; die "no HEALTH_OK after ${CEPH_START_TIMEOUT:-120} s: $health"; }
        sleep 0.5
    done
    say "HEALTH_OK after $(elapsed "$t0") s"
    if [[ ${CEPH_MGR:-0} == 1 ]]; then
        # A fresh mgr reports HEALTH_OK before it has any PG stats ("unknown").
        wait_for "active+clean PGs" pgs_clean
        say "all PGs active+clean after $(elapsed "$t0") s"
    fi

    # HEALTH_OK without a mgr does not prove the PGs are active: write and read.
    echo probe > "$dir/probe"
    timeout 60 rados -c "$conf" -p "$pool" put probe "$dir/probe" || die "probe write to pool $pool failed"
    if ! timeout 60 rados -c "$conf" -p "$pool" get probe "$dir/probe.back" || ! cmp -s "$dir/probe" "$dir/probe.back"; then
        die "probe read from pool $pool failed"
    fi
    timeout 60 rados -c "$conf" -p "$pool" rm probe
    rm -f "$dir/probe" "$dir/probe.back"
    say "pool $pool ready after $(elapsed "$t0") s"
    echo "export CEPH_CONF=$conf"
}

mon_up() { ceph_ mon stat > /dev/null 2>&1; }
osd_up() { ceph_ osd stat 2> /dev/null | grep -q '1 up'; }
mgr_up() { ceph_ mgr stat 2> /dev/null | grep -q '"available": true'; }
pgs_clean() { ceph_ pg stat 2> /dev/null | grep -Eq '^([0-9]+) pgs: \1 active\+clean;'; }

# wait_for WHAT COMMAND...: polls COMMAND for up to $CEPH_START_TIMEOUT s.
wait_for() {
    local what=$1 deadline=$(( $(date +%s) + ${CEPH_START_TIMEOUT:-120} ))
    shift
    until "$@"; do
        (( $(date +%s) < deadline )) || die "$what did not come up within ${CEPH_START_TIMEOUT:-120} s (logs in $dir/log)"
        sleep 0.2
    done
}

elapsed() { python3 -c "import time; print(f'{time.time() - $1:.1f}')"; }

# Refuses to act on a directory this script did not create.
require_ours() {
    if [[ ! -f $conf ]] || ! head -1 "$conf" | grep -qF "$marker"; then
        die "$dir is not a cluster started by this script"
    fi
}

stop() {
    [[ -e $dir ]] || { say "$dir does not exist"; return 0; }
    require_ours
    local pids=() f p
    for f in "$dir"/run/*.pid; do
        [[ -f $f ]] || continue
        p=$(cat "$f")
        # Only a ceph daemon started with this configuration.
        if [[ -r /proc/$p/cmdline ]] && tr '\0' ' ' < "/proc/$p/cmdline" | grep -qF -- "$conf"; then
            kill -TERM "$p" 2> /dev/null && pids+=("$p")
        fi
    done
    # 3 s to exit cleanly, then SIGKILL: everything is deleted next anyway.
    for _ in $(seq 30); do
        local alive=0
        for p in "${pids[@]}"; do running "$p" && alive=1; done
        (( alive )) || break
        sleep 0.1
    done
    for p in "${pids[@]}"; do kill -KILL "$p" 2> /dev/null || true; done
    rm -rf "$dir"
    say "stopped ${#pids[@]} daemons, removed $dir"
}

# Whether process $1 exists and is not a zombie (a daemon's parent is init,
# which may reap it late).
running() {
    local state
    state=$(awk '{print $3}' "/proc/$1/stat" 2> /dev/null) && [[ -n $state && $state != Z ]]
}

status() {
    require_ours
    ceph_ -s
}

case $cmd in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) usage ;;
esac
