/**
 * Schedules: the VM snapshot policies (issue 13's listVMSnapshotPolicies), read-only, with the
 * schedule in words, its time zone, what it keeps, and how its last run went. They are created and
 * changed through the API or the CLI.
 */
import { call, rowsOf } from '../api.ts';
import { PageHeading } from '../components/page-heading.tsx';
import { when } from '../model.ts';
import { href } from '../router.ts';
import { useApi } from '../use-api.ts';

export interface PolicyRow {
  readonly id: string;
  readonly virtualmachineid: string;
  readonly virtualmachinename?: string;
  readonly scheduledescription?: string;
  readonly intervaltype?: string;
  readonly schedule?: string;
  readonly cron?: string;
  readonly timezone: string;
  readonly maxsnaps?: number;
  readonly keephourly?: number;
  readonly keepdaily?: number;
  readonly keepweekly?: number;
  readonly keepmonthly?: number;
  readonly keepyearly?: number;
  readonly snapshotmemory?: boolean;
  readonly quiescevm?: boolean;
  readonly nextrun?: string;
  readonly lastrun?: string;
  readonly lastrunoutcome?: string;
  readonly lastrunreason?: string;
}

/** The API that lists policies; the console shows Schedules only where the server has it. */
export const POLICY_LIST_API = 'listVMSnapshotPolicies';

export async function serverHasSchedules(): Promise<boolean> {
  const apis = await call('listApis', { name: POLICY_LIST_API });
  return rowsOf<{ name: string }>(apis, 'api').some((a) => a.name === POLICY_LIST_API);
}

function retention(p: PolicyRow): string {
  if (p.maxsnaps !== undefined) return `Newest ${p.maxsnaps}`;
  const levels: [string, number | undefined][] = [
    ['hourly', p.keephourly],
    ['daily', p.keepdaily],
    ['weekly', p.keepweekly],
    ['monthly', p.keepmonthly],
    ['yearly', p.keepyearly],
  ];
  const kept = levels.filter(([, n]) => n !== undefined && n > 0).map(([what, n]) => `${n} ${what}`);
  return kept.length === 0 ? 'Everything' : `Keeps ${kept.join(', ')}`;
}

function schedule(p: PolicyRow): string {
  return p.scheduledescription ?? p.cron ?? `${p.intervaltype ?? ''} ${p.schedule ?? ''}`.trim();
}

function what(p: PolicyRow): string {
  const parts = [p.snapshotmemory === true ? 'Disk and memory' : 'Disk only'];
  if (p.quiescevm === true) parts.push('quiesced');
  return parts.join(', ');
}

function lastRun(p: PolicyRow): string {
  if (p.lastrun === undefined) return 'Not run yet';
  const outcome = p.lastrunoutcome === undefined ? '' : `: ${p.lastrunoutcome}`;
  const reason = p.lastrunreason === undefined ? '' : ` (${p.lastrunreason})`;
  return `${when(p.lastrun)}${outcome}${reason}`;
}

export function SchedulesPage() {
  const policies = useApi(
    async () =>
      rowsOf<PolicyRow>(
        await call(POLICY_LIST_API, { listall: true, page: 1, pagesize: 500 }),
        'vmsnapshotpolicy',
      ),
    [],
  );
  return (
    <>
      <PageHeading title="Schedules" />
      <div class="toolbar">
        <button type="button" onClick={() => void policies.reload()}>
          Refresh
        </button>
      </div>
      {policies.error !== undefined && (
        <p role="alert" class="error">
          {policies.error}
        </p>
      )}
      {policies.data === undefined ? (
        <p>Loading schedules…</p>
      ) : policies.data.length === 0 ? (
        <p>No schedules. Create one with createVMSnapshotPolicy (the API or the CLI).</p>
      ) : (
        <table>
          <caption>Snapshot schedules and what each keeps</caption>
          <thead>
            <tr>
              <th scope="col">Instance</th>
              <th scope="col">Schedule</th>
              <th scope="col">Time zone</th>
              <th scope="col">Snapshot</th>
              <th scope="col">Retention</th>
              <th scope="col">Next run</th>
              <th scope="col">Last run</th>
            </tr>
          </thead>
          <tbody>
            {policies.data.map((p) => (
              <tr key={p.id}>
                <th scope="row">
                  <a href={href({ page: 'vm', id: p.virtualmachineid })}>
                    {p.virtualmachinename ?? p.virtualmachineid}
                  </a>
                </th>
                <td>{schedule(p)}</td>
                <td>{p.timezone}</td>
                <td>{what(p)}</td>
                <td>{retention(p)}</td>
                <td>{when(p.nextrun)}</td>
                <td>{lastRun(p)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
