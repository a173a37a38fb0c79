/**
 * The storage lab's ordered-writer consistency check (reference/storage-lab/ordered-writer.py), for a
 * VM under test: round c writes byte c%256 to disk 0, then 1, …, each write finished before the next
 * (HMP qemu-io through QEMU's own block layer). At every instant the disks' first bytes read
 * `[c,…,c,c-1,…,c-1]`; a crash-consistent multi-disk snapshot must read the same way. A cut that is
 * not atomic can show a later disk newer than an earlier one.
 */
import { execFile } from 'node:child_process';
import type { QmpClient } from '../../src/hypervisors/qemu/qmp-client.ts';
import { writePattern } from '../qemu/helpers.ts';

export class OrderedWriter {
  rounds = 0;
  private stopping = false;
  private running: Promise<void> | null = null;

  constructor(
    private readonly qmp: QmpClient,
    private readonly disks: number,
    /** Bound on the rounds, whatever happens to the test. */
    private readonly maxRounds = 1_000_000,
  ) {}

  start(): void {
    this.running = this.loop();
  }

  private async loop(): Promise<void> {
    while (!this.stopping && this.rounds < this.maxRounds) {
      const c = (this.rounds + 1) % 256;
      for (let i = 0; i < this.disks; i++) await writePattern(this.qmp, i, c, '0', '4k');
      this.rounds++;
    }
  }

  /** Resolves once at least `n` more rounds have completed (a condition, not a sleep). */
  async advance(n: number): Promise<void> {
    const target = this.rounds + n;
    while (this.rounds < target) {
      if (this.running === null || this.stopping) throw new Error('the writer is not running');
      await new Promise((resolve) => setImmediate(resolve));
      await Promise.race([this.running, new Promise((resolve) => setTimeout(resolve, 5))]);
    }
  }

  async stop(): Promise<number> {
    this.stopping = true;
    await this.running;
    return this.rounds;
  }
}

/** True when first bytes read `[c,…,c,c-1,…,c-1]` (mod 256). */
export function consistentCut(values: readonly number[]): boolean {
  const c = values[0]!;
  const prev = (c + 255) % 256;
  if (!values.every((v) => v === c || v === prev)) return false;
  const firstOld = values.indexOf(prev);
  return firstOld < 0 || values.slice(firstOld).every((v) => v === prev);
}

const READ_SNAPSHOTS = `
import json, rados, rbd, sys
c = rados.Rados(conffile=sys.argv[1]); c.connect(); io = c.open_ioctx(sys.argv[2])
out = []
for image, snap in json.loads(sys.stdin.read()):
    im = rbd.Image(io, image, read_only=True)
    ids = [s['id'] for s in im.list_snaps() if s['name'] == snap or (s.get('group') or {}).get('snap_name') == snap]
    im.set_snap_by_id(ids[0])
    out.append(im.read(0, 1)[0])
    im.close()
io.close(); c.shutdown()
print(json.dumps(out))
`;

/**
 * The first byte of each image at each named snapshot, user or group (pitfall 5: a group snapshot's
 * images cannot be opened by name with the CLI; python3-rbd opens them by id).
 */
export function firstBytes(
  conf: string,
  pool: string,
  reads: readonly (readonly [image: string, snap: string])[],
): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      '/usr/bin/python3',
      ['-c', READ_SNAPSHOTS, conf, pool],
      { timeout: 120_000 },
      (error, stdout, stderr) =>
        error
          ? reject(new Error(`reading snapshots: ${stderr || error.message}`))
          : resolve(JSON.parse(stdout) as number[]),
    );
    child.stdin?.end(JSON.stringify(reads));
  });
}
