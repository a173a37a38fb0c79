/**
 * One QEMU process per running VM: command line, start (daemonized, so it outlives an agent restart),
 * re-attach by pidfile + QMP socket, and stop.
 *
 * Layout in the run dir: `<vm>.qmp` (QMP), `<vm>.qga` (guest agent chardev), `<vm>.pid`, `<vm>.serial`.
 * Disk `i` is the qdev `vd<deviceId>`; qemu-io reaches it as `/machine/peripheral/vd<id>/virtio-backend`.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { LIMITS, safeName, uuid } from './agent-protocol/fields.ts';
import { isRbdName } from './agent-protocol/rbd-connection.ts';
import { PRIVATE_FILE_MODE } from './private-files.ts';
import { waitExit } from './process-exit.ts';
import type { RbdDisk } from './rbd-disk.ts';
import { QmpClient } from './qmp-client.ts';

export type Accel = 'kvm' | 'tcg';

export interface BootImages {
  readonly kernel: string;
  readonly initrd: string;
  readonly append?: string;
}

export interface VmDiskSpec {
  readonly deviceId: number;
  /** Top of the qcow2 chain; QEMU opens the backing files itself. For an RBD disk: the image name. */
  readonly file: string;
  /** An RBD image, opened with QEMU's rbd driver; its key is read from `secretFile` (0600). */
  readonly rbd?: RbdDisk & { readonly secretFile: string };
}

export interface VmProcessSpec {
  readonly name: string;
  readonly uuid: string;
  readonly memoryMb: number;
  readonly cpus: number;
  readonly disks: readonly VmDiskSpec[];
  readonly runDir: string;
  readonly accel: Accel;
  readonly boot?: BootImages;
  /**
   * Guest RAM from a file (`memory-backend-file`, shared mapping: background-snapshot refuses private
   * file mappings), e.g. the benchmark's incompressible RAM on tmpfs. The guest writes to the file.
   */
  readonly ramFile?: string;
  /** Start with `-incoming defer` to load a saved state with `migrate-incoming`. */
  readonly incoming?: boolean;
}

export interface VmPaths {
  readonly qmp: string;
  readonly qga: string;
  readonly pid: string;
  readonly serial: string;
}

export function vmPaths(runDir: string, name: string): VmPaths {
  const base = path.join(runDir, name);
  return { qmp: `${base}.qmp`, qga: `${base}.qga`, pid: `${base}.pid`, serial: `${base}.serial` };
}

export function deviceIdOf(deviceId: number): string {
  return `vd${deviceId}`;
}

/** Node name of a disk's top qcow2 node at start (later tops get the names the agent picks). */
export function startNodeName(deviceId: number): string {
  return `d${deviceId}`;
}

/**
 * The last check before values become QEMU arguments, whatever let them through before: `-m` and
 * `-smp` parse `64,maxmem=1G,slots=2` as options, and `-name` and the option strings that carry
 * file names read a comma the same way. Numbers must be bounded integers, names and UUIDs must be
 * what the protocol allows, and no path may hold a comma.
 */
export function assertSafeArgs(spec: VmProcessSpec): void {
  const bad = (what: string): never => {
    throw new Error(`refusing to start QEMU for this VM: ${what}`);
  };
  const isInt = (n: unknown, min: number, max: number): boolean =>
    typeof n === 'number' && Number.isSafeInteger(n) && n >= min && n <= max;
  if (!safeName.safeParse(spec.name).success) bad('the VM name is not a safe name');
  if (!uuid.safeParse(spec.uuid).success) bad('the VM uuid is not a UUID');
  if (!isInt(spec.memoryMb, 1, LIMITS.maxMemoryMb))
    bad(`memoryMb must be an integer in 1..${LIMITS.maxMemoryMb}`);
  if (!isInt(spec.cpus, 1, LIMITS.maxCpus)) bad(`cpus must be an integer in 1..${LIMITS.maxCpus}`);
  for (const disk of spec.disks) {
    if (!isInt(disk.deviceId, 0, LIMITS.maxVolumes - 1)) bad('a disk device id is out of range');
    if (disk.file.includes(',')) bad('a disk path contains a comma');
    if (disk.rbd) assertSafeRbd(disk.rbd, bad);
  }
  const files = [spec.runDir, spec.ramFile, spec.boot?.kernel, spec.boot?.initrd];
  if (files.some((f) => f?.includes(','))) bad('a run, RAM or boot path contains a comma');
}

/** The parts of an RBD disk that go into `-blockdev` and `-object`: names, hosts, a port, a path. */
function assertSafeRbd(rbd: NonNullable<VmDiskSpec['rbd']>, bad: (what: string) => never): void {
  const names = [rbd.pool, rbd.image, rbd.user];
  if (!names.every(isRbdName)) bad('an RBD name is not a safe name');
  for (const m of rbd.monitors) {
    if (!/^[A-Za-z0-9.:-]+$/.test(m.host)) bad('an RBD monitor host is not a host name or address');
    if (!Number.isInteger(m.port) || m.port < 1 || m.port > 65535) bad('an RBD monitor port is out of range');
  }
  if (rbd.secretFile.includes(',')) bad('an RBD secret path contains a comma');
}

/**
 * `-object secret` (the key, read from a 0600 file: never on the command line) and the rbd node.
 * The raw format node above it gets the same name as a qcow2 top would (`d<id>`).
 */
function rbdArgs(node: string, rbd: NonNullable<VmDiskSpec['rbd']>): string[] {
  const secret = `${node}-key`;
  const servers = rbd.monitors.flatMap((m, i) => [
    `server.${i}.host=${m.host}`,
    `server.${i}.port=${m.port}`,
  ]);
  const options = [
    'driver=rbd',
    `node-name=${node}r`,
    `pool=${rbd.pool}`,
    `image=${rbd.image}`,
    ...servers,
    `user=${rbd.user}`,
    `key-secret=${secret}`,
    'discard=unmap',
  ];
  return [
    '-object',
    `secret,id=${secret},file=${rbd.secretFile},format=base64`,
    '-blockdev',
    options.join(','),
    '-blockdev',
    `driver=raw,node-name=${node},file=${node}r,discard=unmap`,
  ];
}

export function qemuArgs(spec: VmProcessSpec): string[] {
  assertSafeArgs(spec);
  const p = vmPaths(spec.runDir, spec.name);
  const args = [
    '-name',
    spec.name,
    '-uuid',
    spec.uuid,
    '-accel',
    spec.accel,
    '-nodefaults',
    '-no-user-config',
    '-machine',
    'q35',
    '-m',
    String(spec.memoryMb),
    '-smp',
    String(spec.cpus),
    '-display',
    'none',
    '-vga',
    'none',
    '-no-reboot',
    '-serial',
    `file:${p.serial}`,
    '-qmp',
    `unix:${p.qmp},server=on,wait=off`,
    '-chardev',
    `socket,id=qga0,path=${p.qga},server=on,wait=off`,
    '-device',
    'virtio-serial-pci,id=vser0',
    '-device',
    'virtserialport,bus=vser0.0,chardev=qga0,name=org.qemu.guest_agent.0',
    '-pidfile',
    p.pid,
    '-daemonize',
  ];
  if (spec.ramFile) {
    args.push(
      '-object',
      `memory-backend-file,id=ram0,size=${spec.memoryMb}M,mem-path=${spec.ramFile},share=on`,
    );
    args.push('-machine', 'memory-backend=ram0');
  }
  for (const disk of spec.disks) {
    const node = startNodeName(disk.deviceId);
    if (disk.rbd) {
      args.push(...rbdArgs(node, disk.rbd));
    } else {
      // discard=unmap: freed clusters (deleted snapshots, guest TRIM) go back to the host.
      args.push('-blockdev', `driver=file,node-name=${node}f,filename=${disk.file},discard=unmap`);
      args.push('-blockdev', `driver=qcow2,node-name=${node},file=${node}f,discard=unmap`);
    }
    args.push('-device', `virtio-blk-pci,id=${deviceIdOf(disk.deviceId)},drive=${node}`);
  }
  if (spec.boot) {
    args.push('-kernel', spec.boot.kernel, '-initrd', spec.boot.initrd);
    args.push('-append', spec.boot.append ?? 'console=ttyS0 quiet panic=-1');
    args.push('-device', 'virtio-rng-pci');
  }
  if (spec.incoming) args.push('-incoming', 'defer');
  return args;
}

function run(file: string, args: readonly string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, [...args], { timeout: timeoutMs }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${file} failed: ${stderr.trim() || error.message}`));
      else resolve(stdout);
    });
  });
}

/** Starts QEMU daemonized and connects to its QMP socket. */
export async function startVmProcess(spec: VmProcessSpec, timeoutMs = 30_000): Promise<RunningVm> {
  const args = qemuArgs(spec);
  const p = vmPaths(spec.runDir, spec.name);
  // The serial log too: QEMU opens it following links, and truncates it anyway.
  await Promise.all([p.qmp, p.qga, p.pid, p.serial].map((f) => rm(f, { force: true })));
  // With -daemonize the parent exits once the VM is set up, so start-up errors come back here.
  await run('qemu-system-x86_64', args, timeoutMs);
  // Daemonized QEMU sets its own umask (027): the guest's console log and pidfile are ours alone.
  await Promise.all([p.pid, p.serial].map((f) => chmod(f, PRIVATE_FILE_MODE).catch(() => undefined)));
  const pid = await readPid(p.pid);
  if (pid === null) throw new Error(`QEMU for ${spec.name} wrote no pidfile`);
  const qmp = await QmpClient.connect(p.qmp, { connectTimeoutMs: timeoutMs });
  return new RunningVm(spec.name, pid, p, qmp);
}

/** Re-attaches to a QEMU still running from before an agent restart; null when there is none. */
export async function attachVmProcess(runDir: string, name: string): Promise<RunningVm | null> {
  const p = vmPaths(runDir, name);
  const pid = await readPid(p.pid);
  if (pid === null || !isQemuOf(pid, p.qmp)) return null;
  try {
    const qmp = await QmpClient.connect(p.qmp, { connectTimeoutMs: 2000 });
    return new RunningVm(name, pid, p, qmp);
  } catch {
    return null;
  }
}

async function readPid(file: string): Promise<number | null> {
  try {
    const pid = Number.parseInt((await readFile(file, 'utf8')).trim(), 10);
    return Number.isFinite(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** Guards against pid reuse: the process must be a QEMU serving this QMP socket. */
function isQemuOf(pid: number, qmpPath: string): boolean {
  const cmdline = `/proc/${pid}/cmdline`;
  if (!existsSync(cmdline)) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  return readCmdline(cmdline).includes(qmpPath);
}

function readCmdline(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

export class RunningVm {
  constructor(
    readonly name: string,
    readonly pid: number,
    readonly paths: VmPaths,
    readonly qmp: QmpClient,
  ) {}

  async status(): Promise<string> {
    const answer = (await this.qmp.execute('query-status')) as { status?: unknown };
    return typeof answer.status === 'string' ? answer.status : 'unknown';
  }

  /** `quit` (or SIGKILL when `force` or when quit does not work) and wait for the process to go. */
  async stop(force = false, timeoutMs = 10_000): Promise<void> {
    // A quit that gets no answer means a wedged QEMU: no point waiting for it to exit.
    const quitAnswered = force
      ? false
      : await this.qmp.execute('quit', undefined, 5000).then(
          () => true,
          () => this.qmp.closed, // the socket closing first is also an answer
        );
    if (!quitAnswered || !(await waitExit(this.pid, timeoutMs))) {
      try {
        process.kill(this.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      await waitExit(this.pid, 5000);
    }
    this.qmp.close();
    await Promise.all([this.paths.qmp, this.paths.qga, this.paths.pid].map((f) => rm(f, { force: true })));
  }
}

/** Which accelerator works here for an OS-less VM: KVM when `query-kvm` says enabled, else TCG. */
export async function probeKvm(timeoutMs = 8000): Promise<boolean> {
  if (!existsSync('/dev/kvm')) return false;
  return new Promise((resolve) => {
    const child = spawn(
      'qemu-system-x86_64',
      [
        '-accel',
        'kvm',
        '-machine',
        'q35',
        '-nodefaults',
        '-display',
        'none',
        '-vga',
        'none',
        '-S',
        '-qmp',
        'stdio',
      ],
      { stdio: ['pipe', 'pipe', 'ignore'] },
    );
    let out = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', () => resolve(false));
    child.on('close', () => {
      clearTimeout(timer);
      resolve(/"enabled":\s*true/.test(out));
    });
    child.stdin.end('{"execute":"qmp_capabilities"}\n{"execute":"query-kvm"}\n{"execute":"quit"}\n');
  });
}
