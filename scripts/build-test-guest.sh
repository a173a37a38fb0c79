#!/bin/bash
# Build the tiny Linux test guest with qemu-ga, from Debian's packages, at test time.
# Output (cached; rebuilt only when missing):  <repo>/.guest-cache/vmlinuz  <repo>/.guest-cache/initrd.gz
#   vmlinuz    Debian 12 cloud kernel (dpkg -x, nothing installed)
#   initrd.gz  busybox-static + 8 virtio modules + qemu-ga and its shared libraries (per ldd) + scripts/guest-init
# Needs: apt-get download (a Debian mirror), dpkg, gzip. cpio comes from busybox-static itself.
# Adapted from ../shared/reference/qemu-lab/build-initramfs.sh.
set -euo pipefail
SCRIPTS=$(cd "$(dirname "$0")" && pwd)
OUT=${GUEST_CACHE:-$SCRIPTS/../.guest-cache}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
# One build at a time: test files, vitest's globalSetup and the benches may all ask at once. The
# others wait here (bounded) and then find the cache.
exec 9>"$OUT/.build.lock"
flock -w "${GUEST_BUILD_LOCK_WAIT_S:-900}" 9 || { echo "another build of the test guest holds $OUT/.build.lock"; exit 1; }
if [ -s "$OUT/vmlinuz" ] && [ -s "$OUT/initrd.gz" ] && [ "$OUT/initrd.gz" -nt "$SCRIPTS/guest-init" ]; then
  echo "test guest cached in $OUT"; exit 0
fi
WORK="$OUT/work"
rm -rf "$WORK/x" "$WORK/root"; mkdir -p "$WORK/debs" "$WORK/x"
KPKG=${KPKG:-$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/{print $2; exit}')}
[ -n "$KPKG" ] || { echo "cannot resolve the cloud kernel package (apt-cache depends linux-image-cloud-amd64)"; exit 1; }
cd "$WORK/debs"
for p in "$KPKG" busybox-static qemu-guest-agent; do
  ls "${p}"_*.deb >/dev/null 2>&1 || apt-get download "$p" 2>&1 | grep -v 'Download is performed unsandboxed' || true
  ls "${p}"_*.deb >/dev/null 2>&1 || { echo "apt-get download $p failed"; exit 1; }
done
for d in "$WORK"/debs/*.deb; do dpkg -x "$d" "$WORK/x/"; done
X=$WORK/x
KVER=$(ls "$X/lib/modules" | head -1)

R=$WORK/root
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,run,tmp,mnt/data,etc,var,lib64,lib/x86_64-linux-gnu}
ln -s ../run "$R/var/run"
cp "$X/bin/busybox" "$R/bin/busybox"
cp "$SCRIPTS/guest-init" "$R/init"; chmod 755 "$R/init"
for m in drivers/virtio/virtio.ko drivers/virtio/virtio_ring.ko drivers/virtio/virtio_pci_modern_dev.ko \
         drivers/virtio/virtio_pci_legacy_dev.ko drivers/virtio/virtio_pci.ko drivers/block/virtio_blk.ko \
         drivers/char/virtio_console.ko drivers/char/hw_random/virtio-rng.ko; do
  mkdir -p "$R/lib/modules/$KVER/kernel/$(dirname $m)"
  cp "$X/lib/modules/$KVER/kernel/$m" "$R/lib/modules/$KVER/kernel/$m"
done
# qemu-ga's shared libraries, resolved by the host's ldd (same Debian release => same sonames)
cp "$X/usr/sbin/qemu-ga" "$R/usr/sbin/qemu-ga"
if ldd "$X/usr/sbin/qemu-ga" | grep -q 'not found'; then echo "missing libs:"; ldd "$X/usr/sbin/qemu-ga" | grep 'not found'; exit 1; fi
ldd "$X/usr/sbin/qemu-ga" | awk '/=> \//{print $3} /^\t\/lib64/{print $1}' | while read -r lib; do
  case "$lib" in
    /lib64/*) cp -L "$lib" "$R/lib64/" ;;
    *)        cp -L "$lib" "$R/lib/x86_64-linux-gnu/" ;;
  esac
done
echo "root:x:0:0:root:/:/bin/sh" > "$R/etc/passwd"
echo "root:x:0:" > "$R/etc/group"
(cd "$R" && find . | "$X/bin/busybox" cpio -o -H newc 2>/dev/null) | gzip -6 > "$OUT/initrd.gz.tmp"
cp "$X/boot/vmlinuz-$KVER" "$OUT/vmlinuz.tmp"
mv "$OUT/vmlinuz.tmp" "$OUT/vmlinuz"; mv "$OUT/initrd.gz.tmp" "$OUT/initrd.gz"
rm -rf "$X" "$R"
echo "test guest built in $OUT: kernel $KVER, $(du -h "$OUT/initrd.gz" | cut -f1) initrd"
