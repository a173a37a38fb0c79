/**
 * `npm run bench:qemu` (issue 6 item 3): memory snapshots in both modes on the same VMs (no OS, RAM
 * full of incompressible data, 256 MiB and 1 GiB), a quiesced two-disk disk-only snapshot on the tiny
 * Linux guest, reverts in both modes, and a 64 MiB block-commit. Pauses come from QEMU's STOP/RESUME
 * event timestamps. The last line is machine-readable.
 */
import { execFileSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AgentCommand, AnswerFor, AnswerOf, HostTimings, VmSpecTO } from '../src/core/plugin-api.ts';
import { topNodes } from '../src/hypervisors/qemu/live-block.ts';
import { hostNowMs } from '../src/hypervisors/qemu/host-timing.ts';
import { QemuHostAgent } from '../src/hypervisors/qemu/qemu-host-agent.ts';
import { createSnap, deleteSnap, revertSnap, vmSpec } from '../test/qemu/agent-fixtures.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SIZES_MB = (process.env.BENCH_SIZES_MB ?? '256,1024').split(',').map(Number);
const MODES = (process.env.BENCH_MODES ?? 'live,internal').split(',') as ('live' | 'internal')[];
const ACCEL = process.env.BENCH_ACCEL; // auto (default) | kvm | tcg, for the OS-less VMs

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

async function quiescedDiskSnapshots(
  agent: QemuHostAgent,
): Promise<{ freeze: number[]; pause: number[]; notes: string[] }> {
  const vm = vmSpec('benchguest', 2, 256);
  await run(agent, { kind: 'CreateVM', vm });
  await run(agent, { kind: 'StartVM', vm });
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ping = await agent.execute({ kind: 'GuestPing', vmName: vm.name });
    if (ping.result && ping.available) break;
    if (Date.now() > deadline) throw new Error('tiny guest did not boot');
  }
  const guest = agent.guestAgent(vm.name)!;
  const result = { freeze: [] as number[], pause: [] as number[], notes: [] as string[] };
  for (let i = 0; i < ROUNDS; i++) {
    // Dirty some data between snapshots, as a working guest would.
    await guest.fileWrite(`/mnt/data/file${i}`, Buffer.alloc(1024 * 1024, i));
    const answer = (await run(
      agent,
      createSnap(vm, `q${i}`, 'Disk', { quiesce: true, freezeBudgetMs: 5000 }),
    )) as SnapshotAnswer;
    result.freeze.push(answer.timings?.freezeMs ?? Number.NaN);
    result.pause.push(answer.timings?.pauseMs ?? Number.NaN);
    if (answer.details) result.notes.push(answer.details);
  }
  await run(agent, { kind: 'DestroyVM', vmName: vm.name });
  return result;
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
  const top = (await topNodes(qmp)).get(0)!.node;
  const since = qmp.mark();
  await run(agent, deleteSnap(vm, 'base'));
  const job = qmp
    .eventsSince(since)
    .filter((e) => e.event === 'JOB_STATUS_CHANGE' && e.data.id === `commit-${top}`);
  const created = job.find((e) => e.data.status === 'created');
  const concluded = job.find((e) => e.data.status === 'concluded');
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
    for (const sizeMb of SIZES_MB) {
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

    const disk = await quiescedDiskSnapshots(agent);
    console.log(`\nquiesced two-disk disk-only snapshot, tiny guest (tcg):`);
    console.log(`  freeze window ${fmt(disk.freeze)}; VM pause ${fmt(disk.pause)}`);
    for (const note of disk.notes) console.log(`  ${note}`);

    const commitMs = await blockCommit64(agent);
    console.log(
      `\nblock-commit of 64 MiB (active layer, live, ${accel}): ${commitMs} ms (job created -> concluded)\n`,
    );

    const big = Math.max(...SIZES_MB);
    const livePause = byMode.live![big] ? median(byMode.live![big].pause) : Number.NaN;
    const savePause = byMode.internal![big] ? median(byMode.internal![big].pause) : Number.NaN;
    console.log(
      `bench:qemu accel=${accel} live_pause_ms=${livePause} save_pause_ms=${savePause} live_to_save_ratio=${(livePause / savePause).toFixed(3)} freeze_ms=${median(disk.freeze)} disk_pause_ms=${median(disk.pause)}`,
    );
  } finally {
    await agent.stopAll();
    rmSync(scratch, { recursive: true, force: true });
    rmSync(ramDir, { recursive: true, force: true });
  }
}

await main();
