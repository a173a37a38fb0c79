/** Instances: state, host, how many snapshots each has and when the last was taken. */
import { call, rowsOf } from '../api.ts';
import { PageHeading } from '../components/page-heading.tsx';
import { when, type SnapshotRow, type VmRow } from '../model.ts';
import { href } from '../router.ts';
import { useApi } from '../use-api.ts';

interface VmLine {
  readonly vm: VmRow;
  readonly snapshots: number;
  readonly last: SnapshotRow | undefined;
}

/** A page of this size holds every VM and snapshot of an ordinary account; the API caps it anyway. */
const PAGE_SIZE = 500;

async function loadLines(): Promise<VmLine[]> {
  const [vms, snaps] = await Promise.all([
    call('listVirtualMachines', { listall: true, page: 1, pagesize: PAGE_SIZE }),
    call('listVMSnapshot', { listall: true, page: 1, pagesize: PAGE_SIZE }),
  ]);
  const byVm = new Map<string, SnapshotRow[]>();
  // Newest first, as the API lists them: a VM's first is its last taken.
  for (const s of rowsOf<SnapshotRow>(snaps, 'vmSnapshot')) {
    byVm.set(s.virtualmachineid, [...(byVm.get(s.virtualmachineid) ?? []), s]);
  }
  return rowsOf<VmRow>(vms, 'virtualmachine').map((vm) => {
    const own = byVm.get(vm.id) ?? [];
    return { vm, snapshots: own.length, last: own[0] };
  });
}

export function VmListPage({ isAdmin }: { isAdmin: boolean }) {
  const lines = useApi(loadLines, []);
  return (
    <>
      <PageHeading title="Instances" />
      <div class="toolbar">
        <button type="button" onClick={() => void lines.reload()}>
          Refresh
        </button>
      </div>
      {lines.error !== undefined && (
        <p role="alert" class="error">
          {lines.error}
        </p>
      )}
      {lines.data === undefined ? (
        <p>{lines.loading ? 'Loading instances…' : ''}</p>
      ) : lines.data.length === 0 ? (
        <p>No instances.</p>
      ) : (
        <table>
          <caption>Your instances and their snapshots</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">State</th>
              <th scope="col">Host</th>
              {isAdmin && <th scope="col">Account</th>}
              <th scope="col">Snapshots</th>
              <th scope="col">Last snapshot</th>
            </tr>
          </thead>
          <tbody>
            {lines.data.map(({ vm, snapshots, last }) => (
              <tr key={vm.id}>
                <th scope="row">
                  <a href={href({ page: 'vm', id: vm.id })}>{vm.displayname ?? vm.name}</a>
                </th>
                <td>
                  <span class={`vm-state vm-${vm.state.toLowerCase()}`}>{vm.state}</span>
                </td>
                <td>{vm.hostname ?? (isAdmin ? 'None' : 'Not shown')}</td>
                {isAdmin && <td>{vm.account}</td>}
                <td>{snapshots}</td>
                <td>{last === undefined ? 'None' : `${last.displayname}, ${when(last.created)}`}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
