#!/bin/bash
# Stops the throwaway cluster started by scripts/ceph-up.sh (by PID file only) and deletes its
# directory. Stop QEMU / other librbd clients first. The cluster is disposable, so the daemons get
# SIGKILL (pitfall 9: SIGTERM makes the OSD wait ~2 s for a mon ack). KEEP=1 keeps $CEPH_DIR (logs).
set -u
CEPH_DIR=${CEPH_DIR:?set CEPH_DIR}
t0=$(date +%s%3N); n=0
# Pitfall 10: a killed daemon is reparented to PID 1 and is a zombie for a moment; kill -0 still works.
alive() { local st; st=$(awk '{print $3}' /proc/"$1"/stat 2>/dev/null) || return 1; [ -n "$st" ] && [ "$st" != Z ]; }
for f in "$CEPH_DIR"/run/ceph-osd.*.pid "$CEPH_DIR"/run/ceph-mon.*.pid; do
  [ -f "$f" ] || continue
  p=$(cat "$f"); [ -n "$p" ] && kill -0 "$p" 2>/dev/null || continue
  grep -q "^ceph-" /proc/"$p"/comm 2>/dev/null || continue   # a stale PID file must not kill a stranger
  kill -KILL "$p"
  for _ in $(seq 1 150); do alive "$p" || break; sleep 0.05; done
  n=$((n+1))
done
[ "${KEEP:-0}" = 1 ] || rm -rf "$CEPH_DIR"
printf '[ceph-down] stopped %d daemon(s) in %.2fs\n' "$n" "$(( $(date +%s%3N)-t0 ))e-3"
