/** RBD images as volumes, and their data, for the ceph-rbd tests. */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { StoragePoolInfo, VolumeInfo } from '../../src/core/plugin-api.ts';
import { CEPH_RBD_DRIVER } from '../../src/storage-drivers/ceph-rbd/ceph-rbd-driver.ts';
import type { TestCeph } from '../helpers/ceph.ts';

const MIB = 1024 * 1024;

export function cephPool(ceph: TestCeph): StoragePoolInfo {
  return {
    id: 'ceph-pool-1',
    name: 'ceph1',
    zoneId: 'zone-1',
    provider: CEPH_RBD_DRIVER,
    url: ceph.url(),
    details: {},
    scope: 'ZONE',
    hostId: null,
    path: ceph.pool,
  };
}

/** `count` new 4 MiB images, as volumes named (and imaged) by their ids. */
export async function cephVolumes(ceph: TestCeph, count: number): Promise<VolumeInfo[]> {
  const tag = randomUUID().slice(0, 8);
  const volumes = Array.from({ length: count }, (_, i) => {
    const id = `vol-${tag}-${i}`;
    return {
      id,
      name: `disk-${i}`,
      type: i === 0 ? ('ROOT' as const) : ('DATADISK' as const),
      poolId: 'ceph-pool-1',
      driver: CEPH_RBD_DRIVER,
      pool: cephPool(ceph),
      format: 'RAW' as const,
      path: id,
      size: 4 * MIB,
      deviceId: i,
    };
  });
  for (const v of volumes) await ceph.rbd(['create', `${ceph.pool}/${v.path}`, '--size', '4M']);
  return volumes;
}

const IMAGE_IO = `
import rados, rbd, sys
c = rados.Rados(conffile=sys.argv[1]); c.connect()
io = c.open_ioctx(sys.argv[2]); img = rbd.Image(io, sys.argv[3])
if sys.argv[4] == "write": img.write(bytes([int(sys.argv[5])]) * 65536, 0)
else: print(img.read(0, 65536)[0])
img.close(); io.close(); c.shutdown()
`;

function python(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('/usr/bin/python3', ['-c', IMAGE_IO, ...args], { timeout: 60_000 }, (err, out, stderr) =>
      err ? reject(new Error(stderr || err.message)) : resolve(out.trim()),
    ),
  );
}

/** Fills the image's first 64 KiB with `byte`, through librbd. */
export async function writeByte(ceph: TestCeph, image: string, byte: number): Promise<void> {
  await python([ceph.conf, ceph.pool, image, 'write', String(byte)]);
}

/** The first byte of the image. */
export async function readByte(ceph: TestCeph, image: string): Promise<number> {
  return Number(await python([ceph.conf, ceph.pool, image, 'read']));
}
