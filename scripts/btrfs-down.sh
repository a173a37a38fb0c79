#!/bin/bash
# Unmounts and detaches the btrfs of btrfs-up.sh and deletes its file (stop QEMUs using it first).
# umount can take seconds while the subvolume cleaner runs.
set -u
FS_IMG=${FS_IMG:-/tmp/vmsnap-btrfs.img}
FS_MNT=${FS_MNT:-/tmp/vmsnap-btrfs}
if mountpoint -q "$FS_MNT"; then umount "$FS_MNT" || { echo "umount failed (busy? fuser -vm $FS_MNT)" >&2; exit 1; }; fi
if [ -f "$FS_IMG.loopdev" ]; then
  LOOP=$(cat "$FS_IMG.loopdev")
  # Detach only if that loop device still points at our file.
  if losetup -n -O BACK-FILE "$LOOP" 2>/dev/null | grep -qF "$FS_IMG"; then losetup -d "$LOOP"; fi
  rm -f "$FS_IMG.loopdev"
fi
rm -f "$FS_IMG"
rmdir "$FS_MNT" 2>/dev/null || true
echo "[btrfs-down] done"
