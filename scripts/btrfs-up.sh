#!/bin/bash
# A throwaway btrfs on a sparse loop file, for host-local VM disks (tests, CI, trying the btrfs
# driver). Root needed (losetup, mount). From reference/storage-lab (btrfs-up.sh), measured 0.05-0.08 s.
#   FS_IMG   backing file (default /tmp/vmsnap-btrfs.img)   FS_SIZE (default 8G, sparse: costs what is written;
#            deleted subvolumes free space asynchronously, so keep it generous: 4G hit ENOSPC in the lab)
#   FS_MNT   mount point  (default /tmp/vmsnap-btrfs)
# The pool folder for `createStoragePool provider=btrfs url=file://$FS_MNT/vmsnap` is created too.
set -euo pipefail
FS_IMG=${FS_IMG:-/tmp/vmsnap-btrfs.img}
FS_SIZE=${FS_SIZE:-8G}
FS_MNT=${FS_MNT:-/tmp/vmsnap-btrfs}
if mountpoint -q "$FS_MNT"; then echo "$FS_MNT already mounted" >&2; exit 1; fi
mkdir -p "$FS_MNT" "$(dirname "$FS_IMG")"
rm -f "$FS_IMG"; truncate -s "$FS_SIZE" "$FS_IMG"
# Own the loop device explicitly, so btrfs-down.sh detaches exactly this one.
LOOP=$(losetup --find --show "$FS_IMG")
echo "$LOOP" > "$FS_IMG.loopdev"
mkfs.btrfs -q -f -L vmsnap -m single -d single "$LOOP" >/dev/null   # single metadata: no DUP overhead
mount -t btrfs -o noatime "$LOOP" "$FS_MNT"
mkdir -p -m 0700 "$FS_MNT/vmsnap"
echo "[btrfs-up] $FS_MNT on $FS_IMG ($FS_SIZE, $LOOP)"
