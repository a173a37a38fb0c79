/**
 * `npm run bench:qemu` (issue 6 item 3): memory snapshots in both modes on the same VMs (no OS, RAM
 * full of incompressible data, 256 MiB and 1 GiB), a quiesced two-disk disk-only snapshot on the tiny
 * Linux guest, reverts in both modes, and a 64 MiB block-commit. Pauses come from QEMU's STOP/RESUME
 * event timestamps. The `bench:qemu` line is machine-readable: `max_freeze_ms` and `frozen_total_ms`
 * are the medians of each quiesced snapshot's longest freeze and frozen total, every freeze counted
 * (issue 15); `freeze_ms` is the window around the cut alone. Environment: BENCH_ROUNDS,
 * BENCH_SIZES_MB, BENCH_MODES, BENCH_ACCEL, BENCH_QUIESCE_ROUNDS, BENCH_FLUSH (a list such as
 * `sync,freeze-cycle`: the line reports the first, one more line each for the others),
 * BENCH_ONLY=quiesce, BENCH_GUEST_APPEND, BENCH_VERBOSE.
 */
import { execFileSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AgentCommand, AnswerFor, AnswerOf, HostTimings, VmSpecTO } from '../src/core/plugin-api.ts';
import { hostNowMs } from '../src/hypervisors/qemu/host-timing.ts';
import { PRE_FREEZE_FLUSHES, type PreFreezeFlush } from '../src/hypervisors/qemu/guest-presync.ts';
import { QemuHostAgent } from '../src/hypervisors/qemu/qemu-host-agent.ts';
import { createSnap, deleteSnap, revertSnap, vmSpec } from '../test/qemu/agent-fixtures.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SIZES_MB = (process.env.BENCH_SIZES_MB ?? '256,1024').split(',').map(Number);
const MODES = (process.env.BENCH_MODES ?? 'live,internal').split(',') as ('live' | 'internal')[];
const ACCEL = process.env.BENCH_ACCEL; // auto (default) | kvm | tcg, for the OS-less VMs
const QUIESCE_ROUNDS = Number(process.env.BENCH_QUIESCE_ROUNDS ?? 9);
/** Pre-freeze flushes to measure; the bench line reports the first (`sync`, the agent's default). */
const FLUSHES = (process.env.BENCH_FLUSH ?? 'sync')
  .split(',')
  .map((f) => PRE_FREEZE_FLUSHES.find((p) => p === f) ?? fail(`BENCH_FLUSH: unknown flush ${f}`));
/** `quiesce`: only the quiesced snapshots (quick runs while tuning the freeze). */
const ONLY = process.env.BENCH_ONLY;
/** The tiny guest's kernel command line (e.g. with vmsnap.rcu_expedited=0 to measure the default). */
const GUEST_APPEND = process.env.BENCH_GUEST_APPEND;

function fail(message: string): never {
  throw new Error(message);
}

type Ok<C extends AgentCommand> = Extract<AnswerFor<C>, { result: true }>;
type SnapshotAnswer = Extract<AnswerOf<'CreateVMSnapshot'>, { result: true }>;

async function run<C extends AgentCommand>(agent: QemuHostAgent, command: C): Promise<Ok<C>> {
  const answer = await agent.execute(command);
  if (!answer.result) throw new Error(`${command.kind} failed: ${answer.details}`);
  return answer;
}

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = hostNowMs();
  const value = await fn();
  return { value, ms: round(hostNowMs() - start) };
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : round((sorted[mid - 1]! + sorted[mid]!) / 2);
}

function fmt(values: readonly number[]): string {
  return `median ${median(values)} (${values.join(' / ')})`;
}

/** Guest RAM from a file of random bytes on tmpfs (shared: background-snapshot needs shmem or anon). */
function randomRamFile(dir: string, sizeMb: number): string {
  const file = path.join(dir, `ram-${sizeMb}.bin`);
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(16 * 1024 * 1024);
  for (let done = 0; done < sizeMb; done += 16) writeSync(fd, randomFillSync(chunk));
  closeSync(fd);
  return file;
}

interface MemoryFigures {
  pause: number[];
  total: number[];
  revert: number[];
}

async function memorySnapshots(
  agent: QemuHostAgent,
  vm: VmSpecTO,
  mode: 'live' | 'internal',
): Promise<MemoryFigures> {
  const figures: MemoryFigures = { pause: [], total: [], revert: [] };
  await run(agent, { kind: 'CreateVM', vm });
  await run(agent, { kind: 'StartVM', vm });
  for (let i = 0; i < ROUNDS; i++) {
    const { value, ms } = await timed(
      async () =>
        (await run(
          agent,
          createSnap(vm, `${mode}${i}`, 'DiskAndMemory', { memoryMode: mode }),
        )) as SnapshotAnswer,
    );
    const timings: HostTimings = value.timings ?? {};
    figures.pause.push(round(timings.pauseMs ?? Number.NaN));
    if (value.details && process.env.BENCH_VERBOSE) console.log(`  ${value.details}`);
    figures.total.push(ms);
  }
  for (let i = 0; i < Math.min(ROUNDS, 2); i++) {
    const { ms } = await timed(() => run(agent, revertSnap(vm, `${mode}${i}`, 'DiskAndMemory')));
    figures.revert.push(ms);
  }
  await run(agent, { kind: 'DestroyVM', vmName: vm.name });
  return figures;
}

interface QuiesceFigures {
  /** The window around the cut (freeze sent -> thaw answered). */
  freeze: number[];
  /** The longest continuous frozen interval of each snapshot, every freeze counted. */
  maxFreeze: number[];
  /** All frozen intervals of each snapshot added up. */
  frozenTotal: number[];
  pause: number[];
  notes: string[];
}

/** One tiny guest on an agent of its own: the pre-freeze flush is an agent option. */
interface QuiescedGuest {
  readonly flush: PreFreezeFlush;
  readonly agent: QemuHostAgent;
  readonly vm: VmSpecTO;
  readonly figures: QuiesceFigures;
}

async function bootQuiescedGuest(
  flush: PreFreezeFlush,
  scratch: string,
  cache: string,
): Promise<QuiescedGuest> {
  const agent = new QemuHostAgent({
    stateDir: path.join(scratch, `state-${flush}`),
    poolDir: path.join(scratch, `pool-${flush}`),
    guestBoot: {
      kernel: path.join(cache, 'vmlinuz'),
      initrd: path.join(cache, 'initrd.gz'),
      ...(GUEST_APPEND ? { append: GUEST_APPEND } : {}),
    },
    preFreezeFlush: flush,
  });
  await agent.init();
  const vm = vmSpec(`benchguest-${flush}`, 2, 256);
  await run(agent, { kind: 'CreateVM', vm });
  await run(agent, { kind: 'StartVM', vm });
  const figures: QuiesceFigures = { freeze: [], maxFreeze: [], frozenTotal: [], pause: [], notes: [] };
  return { flush, agent, vm, figures };
}

async function waitForGuestAgent(guest: QuiescedGuest): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const ping = await guest.agent.execute({ kind: 'GuestPing', vmName: guest.vm.name });
    if (ping.result && ping.available) return;
    if (Date.now() > deadline) throw new Error(`tiny guest ${guest.vm.name} did not boot`);
  }
}

async function quiescedSnapshot(guest: QuiescedGuest, round: number): Promise<void> {
  // Dirty some data before each snapshot, as a working guest would.
  await guest.agent
    .guestAgent(guest.vm.name)!
    .fileWrite(`/mnt/data/file${round}`, Buffer.alloc(1024 * 1024, round));
  const answer = (await run(
    guest.agent,
    createSnap(guest.vm, `q${round}`, 'Disk', { quiesce: true, freezeBudgetMs: 5000 }),
  )) as SnapshotAnswer;
  const { figures } = guest;
  figures.freeze.push(answer.timings?.freezeMs ?? Number.NaN);
  figures.maxFreeze.push(answer.timings?.maxFreezeMs ?? Number.NaN);
  figures.frozenTotal.push(answer.timings?.frozenTotalMs ?? Number.NaN);
  figures.pause.push(answer.timings?.pauseMs ?? Number.NaN);
  if (answer.details) figures.notes.push(answer.details);
}

/**
 * The quiesced snapshots, one guest per pre-freeze flush, taken round-robin (round 1 of every flush,
 * then round 2 ...): on a shared machine whose load moves from minute to minute, every flush sees
 * the same moments, so the modes compare fairly.
 */
async function quiescedInterleaved(
  scratch: string,
  cache: string,
): Promise<Map<PreFreezeFlush, QuiesceFigures>> {
  const guests: QuiescedGuest[] = [];
  try {
    for (const flush of FLUSHES) guests.push(await bootQuiescedGuest(flush, scratch, cache));
    for (const guest of guests) await waitForGuestAgent(guest);
    for (let i = 0; i < QUIESCE_ROUNDS; i++) for (const guest of guests) await quiescedSnapshot(guest, i);
    return new Map(guests.map((g) => [g.flush, g.figures]));
  } finally {
    for (const guest of guests) await guest.agent.stopAll();
  }
}

async function blockCommit64(agent: QemuHostAgent): Promise<number> {
  const vm = vmSpec('benchcommit', 2, 64);
  await run(agent, { kind: 'CreateVM', vm });
  await run(agent, { kind: 'StartVM', vm });
  await run(agent, createSnap(vm, 'base'));
  const qmp = agent.runningVm(vm.name)!.qmp;
  await qmp.execute('human-monitor-command', {
    'command-line': 'qemu-io -d /machine/peripheral/vd0/virtio-backend "write -P 0x5a 0 64M"',
  });
  const since = qmp.mark();
  await run(agent, deleteSnap(vm, 'base'));
  const job = qmp
    .eventsSince(since)
    // Commit job ids are random (`commit-<hex>`, live-block.ts qmpJobId): from the first commit
    // created to the last concluded, disk 0's 64 MiB and disk 1's empty overlay (one after the other).
    .filter((e) => e.event === 'JOB_STATUS_CHANGE' && String(e.data.id).startsWith('commit-'));
  const created = job.find((e) => e.data.status === 'created');
  const concluded = job.findLast((e) => e.data.status === 'concluded');
  await run(agent, { kind: 'DestroyVM', vmName: vm.name });
  return created && concluded ? round(concluded.qemuMs - created.qemuMs) : Number.NaN;
}

async function main(): Promise<void> {
  execFileSync(path.join(repoRoot, 'scripts/build-test-guest.sh'), { stdio: 'ignore' });
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'vmsnap-bench-'));
  const ramDir = mkdtempSync('/dev/shm/vmsnap-bench-');
  const ramFiles = new Map<string, string>();
  const cache = path.join(repoRoot, '.guest-cache');
  const agent = new QemuHostAgent({
    stateDir: path.join(scratch, 'state'),
    poolDir: path.join(scratch, 'pool'),
    guestBoot: {
      kernel: path.join(cache, 'vmlinuz'),
      initrd: path.join(cache, 'initrd.gz'),
      vmNamePattern: '^benchguest',
    },
    ramFileFor: (name) => ramFiles.get(name),
    ...(ACCEL === 'kvm' || ACCEL === 'tcg' ? { accel: ACCEL } : {}),
  });
  try {
    await agent.init();
    const ping = await run(agent, { kind: 'Ping' });
    const accel = ping.accel ?? 'tcg';
    const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
    console.log(
      `vmsnap QEMU benchmark: ${os.cpus().length} x ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, ${os.release()}`,
    );
    console.log(
      `QEMU: ${execFileSync('qemu-system-x86_64', ['--version'], { encoding: 'utf8' }).split('\n')[0]}`,
    );
    console.log(
      `accelerator: OS-less VMs on ${accel.toUpperCase()}, the tiny Linux guest on TCG; ${ROUNDS} rounds each, times in ms\n`,
    );

    const byMode: Record<string, Record<number, MemoryFigures>> = { live: {}, internal: {} };
    for (const sizeMb of ONLY === 'quiesce' ? [] : SIZES_MB) {
      for (const mode of MODES) {
        const name = `bench${mode}${sizeMb}`;
        ramFiles.set(name, randomRamFile(ramDir, sizeMb));
        const figures = await memorySnapshots(agent, vmSpec(name, 2, sizeMb), mode);
        rmSync(ramFiles.get(name)!, { force: true });
        byMode[mode]![sizeMb] = figures;
        console.log(
          `memory snapshot, ${mode.padEnd(8)} ${String(sizeMb).padStart(4)} MiB random RAM (${accel}):`,
        );
        console.log(
          `  pause ${fmt(figures.pause)}; total ${fmt(figures.total)}; revert ${fmt(figures.revert)}`,
        );
      }
    }

    const quiesced = await quiescedInterleaved(scratch, cache);
    for (const [flush, disk] of quiesced) {
      console.log(`\nquiesced two-disk disk-only snapshot, tiny guest (tcg), pre-freeze flush: ${flush}`);
      console.log(`  longest freeze ${fmt(disk.maxFreeze)}; frozen in all ${fmt(disk.frozenTotal)}`);
      console.log(`  freeze window around the cut ${fmt(disk.freeze)}; VM pause ${fmt(disk.pause)}`);
      if (process.env.BENCH_VERBOSE) for (const note of disk.notes) console.log(`  ${note}`);
      else console.log(`  last: ${disk.notes.at(-1) ?? ''}`);
    }

    const commitMs = ONLY === 'quiesce' ? Number.NaN : await blockCommit64(agent);
    if (ONLY !== 'quiesce')
      console.log(
        `\nblock-commit of 64 MiB (active layer, live, ${accel}): ${commitMs} ms (job created -> concluded)\n`,
      );

    const big = Math.max(...SIZES_MB);
    const livePause = byMode.live![big] ? median(byMode.live![big].pause) : Number.NaN;
    const savePause = byMode.internal![big] ? median(byMode.internal![big].pause) : Number.NaN;
    const disk = quiesced.get(FLUSHES[0]!)!;
    console.log(
      `bench:qemu accel=${accel} live_pause_ms=${livePause} save_pause_ms=${savePause} live_to_save_ratio=${(livePause / savePause).toFixed(3)} freeze_ms=${median(disk.freeze)} max_freeze_ms=${median(disk.maxFreeze)} frozen_total_ms=${median(disk.frozenTotal)} disk_pause_ms=${median(disk.pause)} flush=${FLUSHES[0]}`,
    );
    for (const flush of FLUSHES.slice(1)) {
      const other = quiesced.get(flush)!;
      console.log(
        `bench:qemu flush=${flush} freeze_ms=${median(other.freeze)} max_freeze_ms=${median(other.maxFreeze)} frozen_total_ms=${median(other.frozenTotal)}`,
      );
    }
  } finally {
    await agent.stopAll();
    rmSync(scratch, { recursive: true, force: true });
    rmSync(ramDir, { recursive: true, force: true });
  }
}

await main();
