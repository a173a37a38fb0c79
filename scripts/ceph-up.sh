#!/bin/bash
# Throwaway single-node Ceph (Pacific 16.2, Debian 12) for the ceph-rbd tests: 1 mon + 1 memstore OSD,
# cephx on, no mgr, no systemd. Adapted from the measured recipe in
# shared/reference/storage-lab (ceph-up.sh); read its README for the numbers and pitfalls.
#
# Packages: ceph-mon ceph-osd ceph-common (ceph-common brings python3-rados/python3-rbd).
# Env:
#   CEPH_DIR     working dir (required to be new); ceph.conf, keyrings, daemons' data and logs land here
#   OSD_SIZE_MB  memstore capacity (default 1024): memstore keeps objects in OSD RAM
#   POOL         pool created + rbd-initialised (default rbd)
# On success it writes $CEPH_DIR/fixture.env (sourceable, and read by test/helpers/ceph.ts):
#   CEPH_CONF, CEPH_MON_HOST (host:port of the mon, as an rbd:// url names it), CEPH_POOL,
#   CEPH_ADMIN_KEY, CEPH_CAPACITY_BYTES (the pool quota).
#
# Why no mgr: Debian's ceph-mgr pulls ~100 MB of Python modules and ~1.5 s more bring-up, and the
# only thing the tests would get from it is `ceph df` (PG stats; without a mgr it answers zeros). The
# pool gets a quota of the OSD's size instead, which the ceph-rbd driver reports as the capacity
# when `ceph df` has no stats (src/storage-drivers/ceph-rbd/ceph-rbd-pool-provider.ts).
set -euo pipefail

CEPH_DIR=${CEPH_DIR:?set CEPH_DIR to a new directory}
OSD_SIZE_MB=${OSD_SIZE_MB:-1024}
POOL=${POOL-rbd}

ms() { date +%s%3N; }
t0=$(ms); tl=$t0
step() { local n; n=$(ms); printf '[ceph-up] %-28s %6.2fs (total %6.2fs)\n' "$1" "$((n-tl))e-3" "$((n-t0))e-3"; tl=$n; }

if [ -e "$CEPH_DIR/ceph.conf" ]; then echo "$CEPH_DIR already exists; run ceph-down.sh first" >&2; exit 1; fi
mkdir -p "$CEPH_DIR"/{mon/ceph-a,osd/ceph-0,run,log}
chmod 700 "$CEPH_DIR"

# A free TCP port on 127.0.0.1 for the mon (msgr v2 only, as in the recipe). An rbd:// url names it
# as host:port; the Ceph client tries msgr v2 first. (Over v2 a wrong key makes the client hunt until
# its connect timeout, logging handle_auth_bad_method: the ceph-rbd driver reads that line.)
PORT=$(/usr/bin/python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
MON_ADDRS="[v2:127.0.0.1:$PORT]"
FSID=$(cat /proc/sys/kernel/random/uuid)
OSD_UUID=$(cat /proc/sys/kernel/random/uuid)

cat > "$CEPH_DIR/ceph.conf" <<CONF
[global]
fsid = $FSID
mon initial members = a
mon host = $MON_ADDRS
public network = 127.0.0.0/8
ms bind msgr1 = false
ms bind ipv6 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
keyring = $CEPH_DIR/\$cluster.\$name.keyring
run dir = $CEPH_DIR/run
admin socket = $CEPH_DIR/run/\$cluster-\$name.asok
pid file = $CEPH_DIR/run/\$cluster-\$name.pid
log file = $CEPH_DIR/log/\$cluster-\$name.log
mon data = $CEPH_DIR/mon/\$cluster-\$id
osd data = $CEPH_DIR/osd/\$cluster-\$id
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1
mon memory target = 268435456
# Pitfall 1 of the recipe: the default 1.0 s makes every snapshot id allocation wait a paxos round.
paxos propose interval = 0.05
rbd default features = layering, exclusive-lock, object-map, fast-diff, deep-flatten
[client]
# Pitfall 4: one admin socket per client process (QEMU, rbd CLI, ...).
admin socket = $CEPH_DIR/run/\$cluster-\$name.\$pid.\$cctid.asok
log file = $CEPH_DIR/log/\$cluster-\$name.\$pid.log
[osd]
osd objectstore = memstore
memstore device bytes = $((OSD_SIZE_MB*1024*1024))
osd op num shards = 1
osd op num threads per shard = 2
CONF
export CEPH_CONF=$CEPH_DIR/ceph.conf
step "conf"

umask 077
ceph-authtool --create-keyring "$CEPH_DIR/ceph.mon.a.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool --create-keyring "$CEPH_DIR/ceph.client.admin.keyring" --gen-key -n client.admin \
  --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *' >/dev/null
ceph-authtool "$CEPH_DIR/ceph.mon.a.keyring" --import-keyring "$CEPH_DIR/ceph.client.admin.keyring" >/dev/null
monmaptool --create --fsid "$FSID" --addv a "$MON_ADDRS" "$CEPH_DIR/monmap" >/dev/null
step "keyrings+monmap"

ceph-mon --mkfs -i a --monmap "$CEPH_DIR/monmap" --keyring "$CEPH_DIR/ceph.mon.a.keyring"
ceph-mon -i a 2>>"$CEPH_DIR/log/mon-start.log"   # forks; writes run/ceph-mon.a.pid
timeout 60 ceph mon stat >/dev/null               # blocks until the mon has quorum
step "mon up (quorum)"

# Pitfall 2: register the OSD's key first (what ceph-volume does), then mkfs.
OSD_KEY=$(ceph-authtool --gen-print-key)
printf '[osd.0]\n\tkey = %s\n' "$OSD_KEY" > "$CEPH_DIR/ceph.osd.0.keyring"
OSD_ID=$(echo "{\"cephx_secret\": \"$OSD_KEY\"}" | ceph osd new "$OSD_UUID" -i -)
ceph-osd -i "$OSD_ID" --mkfs --osd-uuid "$OSD_UUID" >>"$CEPH_DIR/log/osd-mkfs.log" 2>&1
ceph-osd -i "$OSD_ID" 2>>"$CEPH_DIR/log/osd-start.log"   # forks
up=0
for _ in $(seq 1 600); do
  if ceph osd stat -f json | grep -q '"num_up_osds":1,.*"num_in_osds":1'; then up=1; break; fi
  sleep 0.1
done
[ "$up" = 1 ] || { echo "[ceph-up] the OSD did not come up; see $CEPH_DIR/log" >&2; exit 1; }
step "osd up+in"

if [ -n "$POOL" ]; then
  ceph osd pool create "$POOL" 8 8 replicated >/dev/null 2>&1
  rbd pool init "$POOL"
  # Pitfall 13: no mgr, so readiness is a rados put probe, not PG state.
  ready=0
  for _ in $(seq 1 600); do
    if timeout 5 rados -p "$POOL" put __probe /etc/hostname 2>/dev/null; then rados -p "$POOL" rm __probe; ready=1; break; fi
    sleep 0.1
  done
  [ "$ready" = 1 ] || { echo "[ceph-up] pool $POOL serves no I/O; see $CEPH_DIR/log" >&2; exit 1; }
  # Capacity without a mgr: the ceph-rbd driver reads the pool quota when `ceph df` has no stats.
  ceph osd pool set-quota "$POOL" max_bytes $((OSD_SIZE_MB*1024*1024)) >/dev/null 2>&1
  step "pool $POOL ready"
fi

ADMIN_KEY=$(ceph-authtool -p -n client.admin "$CEPH_DIR/ceph.client.admin.keyring")
cat > "$CEPH_DIR/fixture.env" <<ENV
CEPH_CONF=$CEPH_CONF
CEPH_MON_HOST=127.0.0.1:$PORT
CEPH_POOL=$POOL
CEPH_ADMIN_KEY=$ADMIN_KEY
CEPH_CAPACITY_BYTES=$((OSD_SIZE_MB*1024*1024))
ENV
printf '[ceph-up] READY  conf=%s  mon=127.0.0.1:%s  total %.2fs\n' "$CEPH_CONF" "$PORT" "$(( $(ms)-t0 ))e-3"
