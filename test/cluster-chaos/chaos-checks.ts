/**
 * What must hold after the chaos (issue 12), read straight from the shared database: the jobs
 * table, the snapshot rows, and the simulator's world (its VM rows and its per-command record,
 * written with each command's effect). Each check returns the violations it found, so a failure
 * names them all.
 */
import pg from 'pg';

interface JobRow {
  id: string;
  kind: string;
  queue_key: string;
  status: string;
  started: string | null;
  completed: string | null;
}

interface CommandRow {
  id: string;
  kind: string;
  job_id: string | null;
  vm_name: string;
  snapshot_name: string | null;
  started: string;
  finished: string;
}

interface SnapshotRow {
  id: string;
  vm_id: string;
  name: string;
  state: string;
  parent_id: string | null;
  current: number | boolean;
}

interface SimSnapshotBody {
  id: string;
  name: string;
  parentName: string | null;
}

export interface ChaosFacts {
  readonly jobs: readonly JobRow[];
  readonly commands: readonly CommandRow[];
  readonly takeovers: readonly { description: string; created: number }[];
  /** Failed jobs' error texts, counted (for the report: why jobs failed under the chaos). */
  readonly failures: Record<string, number>;
  /** Snapshot rows by state (removed ones excluded). */
  readonly snapshotStates: Record<string, number>;
}

export async function withDatabase<T>(url: string, work: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Jobs not yet final (the test waits until there are none). */
export async function unfinishedJobs(c: pg.Client): Promise<number> {
  const r = await c.query<{ n: string }>(
    "SELECT count(*) AS n FROM async_jobs WHERE status IN ('queued', 'running')",
  );
  return Number(r.rows[0]?.n ?? 0);
}

export async function readFacts(c: pg.Client): Promise<ChaosFacts> {
  const jobs = await c.query<JobRow>(
    "SELECT id, kind, queue_key, status, started, completed FROM async_jobs WHERE queue_key NOT LIKE 'done:%'",
  );
  const commands = await c.query<CommandRow>('SELECT * FROM simulator_commands ORDER BY started');
  const takeovers = await c.query<{ description: string; created: string }>(
    "SELECT description, created FROM events WHERE type = 'JOB.TAKEOVER' ORDER BY created",
  );
  const failed = await c.query<{ result: string | null }>(
    "SELECT result FROM async_jobs WHERE status = 'failed'",
  );
  const failures: Record<string, number> = {};
  for (const f of failed.rows) {
    const errortext = (JSON.parse(f.result ?? '{}') as { errortext?: unknown }).errortext;
    const text = typeof errortext === 'string' ? errortext : 'no text';
    // Ids and names vary: the text with them masked groups the same failure.
    const key = text.replace(/[0-9a-f-]{36}|i-9-[0-9a-f]+-VM\S*/g, '…').slice(0, 200);
    failures[key] = (failures[key] ?? 0) + 1;
  }
  const states = await c.query<{ state: string; n: string }>(
    'SELECT state, count(*) AS n FROM vm_snapshots WHERE removed IS NULL GROUP BY state',
  );
  return {
    failures,
    snapshotStates: Object.fromEntries(states.rows.map((r) => [r.state, Number(r.n)])),
    jobs: jobs.rows,
    commands: commands.rows,
    takeovers: takeovers.rows.map((t) => ({ description: t.description, created: Number(t.created) })),
  };
}

/** Jobs whose host-side command ran more than once (two records of one job and command kind). */
export function duplicateCommands(facts: ChaosFacts): string[] {
  const seen = new Map<string, number>();
  for (const c of facts.commands) {
    const key = `${c.job_id ?? 'no job'} ${c.kind} ${c.snapshot_name ?? ''}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  return [...seen].filter(([, n]) => n > 1).map(([key, n]) => `${key} ran ${n} times`);
}

/** Commands that name no job, or a job the database does not have. */
export function commandsWithoutJob(facts: ChaosFacts): string[] {
  const ids = new Set(facts.jobs.map((j) => j.id));
  return facts.commands
    .filter((c) => c.job_id === null || !ids.has(c.job_id))
    .map((c) => `${c.kind} on ${c.vm_name} for job ${c.job_id ?? 'none'}`);
}

/**
 * One VM's jobs one after another: in the jobs table (each job of a queue started after the one
 * before it completed) and on the host (each command received after the one before it was stored).
 */
export function overlaps(facts: ChaosFacts): string[] {
  const found: string[] = [];
  const byQueue = groupBy(
    facts.jobs.filter((j) => j.started !== null),
    (j) => j.queue_key,
  );
  for (const [queue, jobs] of byQueue) {
    jobs.sort((a, b) => Number(a.started) - Number(b.started));
    for (let i = 1; i < jobs.length; i += 1) {
      const before = jobs[i - 1]!;
      const after = jobs[i]!;
      if (before.completed === null || Number(after.started) < Number(before.completed))
        found.push(`VM ${queue}: job ${after.id} started before job ${before.id} completed`);
    }
  }
  for (const [vm, commands] of groupBy(facts.commands, (c) => c.vm_name)) {
    for (let i = 1; i < commands.length; i += 1) {
      const before = commands[i - 1]!;
      const after = commands[i]!;
      if (Number(after.started) < Number(before.finished))
        found.push(
          `VM ${vm}: ${after.kind} of job ${after.job_id} overlapped ${before.kind} of job ${before.job_id}`,
        );
    }
  }
  return found;
}

/** Snapshots left in a transitional state, and jobs left running or queued. */
export async function transitional(c: pg.Client): Promise<string[]> {
  const snaps = await c.query<{ id: string; state: string }>(
    "SELECT id, state FROM vm_snapshots WHERE removed IS NULL AND state IN ('Creating', 'Reverting', 'Expunging')",
  );
  const jobs = await c.query<{ id: string; status: string }>(
    "SELECT id, status FROM async_jobs WHERE status IN ('queued', 'running')",
  );
  return [
    ...snaps.rows.map((s) => `snapshot ${s.id} is ${s.state}`),
    ...jobs.rows.map((j) => `job ${j.id} is ${j.status}`),
  ];
}

/**
 * The database equals the simulator, VM by VM: the Ready snapshots are the simulator's snapshots
 * (same ids and names), with the same parents, and the same one is current.
 */
export async function databaseVersusSimulator(
  c: pg.Client,
): Promise<{ mismatches: string[]; compared: number }> {
  const vms = await c.query<{ id: string; instance_name: string }>(
    'SELECT id, instance_name FROM vms WHERE removed IS NULL',
  );
  const snaps = await c.query<SnapshotRow>(
    "SELECT id, vm_id, name, state, parent_id, current FROM vm_snapshots WHERE removed IS NULL AND state = 'Ready'",
  );
  const sim = await c.query<{ name: string; body: string }>(
    "SELECT name, body FROM simulator_objects WHERE kind = 'vm'",
  );
  const simByName = new Map(sim.rows.map((r) => [r.name, JSON.parse(r.body) as SimVmBody]));
  const readyByVm = groupBy(snaps.rows, (s) => s.vm_id);
  const mismatches: string[] = [];
  let compared = 0;
  for (const vm of vms.rows) {
    const body = simByName.get(vm.instance_name);
    if (body === undefined) {
      mismatches.push(`VM ${vm.instance_name} is not in the simulator`);
      continue;
    }
    const ready = readyByVm.get(vm.id) ?? [];
    const nameOf = new Map(ready.map((s) => [s.id, s.name]));
    const dbView = ready
      .map(
        (s) =>
          `${s.id}:${s.name}<${s.parent_id === null ? '-' : (nameOf.get(s.parent_id) ?? `?${s.parent_id}`)}`,
      )
      .sort();
    const simView = Object.values(body.snapshots)
      .map((s) => `${s.id}:${s.name}<${s.parentName ?? '-'}`)
      .sort();
    if (dbView.join() !== simView.join())
      mismatches.push(
        `VM ${vm.instance_name}: database ${JSON.stringify(dbView)} simulator ${JSON.stringify(simView)}`,
      );
    const dbCurrent = ready.find((s) => s.current === 1 || s.current === true)?.name ?? null;
    if (dbCurrent !== body.currentSnapshot)
      mismatches.push(
        `VM ${vm.instance_name}: current ${dbCurrent} in the database, ${body.currentSnapshot} in the simulator`,
      );
    compared += ready.length;
  }
  return { mismatches, compared };
}

interface SimVmBody {
  snapshots: Record<string, SimSnapshotBody>;
  currentSnapshot: string | null;
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = map.get(k);
    if (list === undefined) map.set(k, [item]);
    else list.push(item);
  }
  return map;
}
