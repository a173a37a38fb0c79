/**
 * One VM: what it is, its snapshot tree, and the snapshot actions. Each action starts an async job
 * that is followed with queryAsyncJobResult until it ends; the tree is read again on every poll, so
 * a snapshot's state moves on the page (Creating, then Ready) with no reload.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { call, describe, followJob, rowsOf, type JobState, type Json } from '../api.ts';
import { ConfirmDialog } from '../components/confirm-dialog.tsx';
import { PageHeading } from '../components/page-heading.tsx';
import { TakeSnapshotDialog, type SnapshotRequest } from '../components/take-snapshot-dialog.tsx';
import { snapshotTree, TRANSIENT_STATES, type SnapshotRow, type VmRow } from '../model.ts';
import { href } from '../router.ts';
import { useApi } from '../use-api.ts';
import { SnapshotTree } from './snapshot-tree.tsx';

type OpenDialog =
  | { readonly kind: 'take' }
  | { readonly kind: 'revert'; readonly snapshot: SnapshotRow }
  | { readonly kind: 'delete'; readonly snapshot: SnapshotRow };

interface RunningJob {
  readonly id: string;
  readonly label: string;
  readonly progress: string;
}

/** What a job is for, in words, and what to say when it succeeds. */
interface JobPlan {
  readonly label: string;
  readonly failed: string;
  readonly succeeded: (end: JobState) => string;
  readonly start: () => Promise<Json>;
}

/** How long a snapshot the page did not start may sit in a moving state before the page looks again. */
const TRANSIENT_REFRESH_MS = 1000;

export function VmPage({ id, isAdmin }: { id: string; isAdmin: boolean }) {
  const vm = useApi(
    async () => rowsOf<VmRow>(await call('listVirtualMachines', { id, listall: true }), 'virtualmachine')[0],
    [id],
  );
  const snaps = useApi(
    async () =>
      rowsOf<SnapshotRow>(
        await call('listVMSnapshot', { virtualmachineid: id, listall: true, page: 1, pagesize: 500 }),
        'vmSnapshot',
      ),
    [id],
  );
  const [dialog, setDialog] = useState<OpenDialog | undefined>(undefined);
  const [jobs, setJobs] = useState<readonly RunningJob[]>([]);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const [failure, setFailure] = useState<string | undefined>(undefined);
  const stop = useRef(new AbortController());
  useEffect(() => {
    const controller = new AbortController();
    stop.current = controller;
    return () => controller.abort();
  }, [id]);

  // A snapshot some other client is creating or deleting still moves on this page.
  const moving = snaps.data?.some((s) => TRANSIENT_STATES.has(s.state)) ?? false;
  useEffect(() => {
    if (!moving || jobs.length > 0) return undefined;
    const timer = setTimeout(() => void snaps.reload(), TRANSIENT_REFRESH_MS);
    return () => clearTimeout(timer);
  }, [moving, jobs.length, snaps.data, snaps.reload]);

  const run = async (plan: JobPlan): Promise<void> => {
    setFailure(undefined);
    setNotice(undefined);
    let jobId: string;
    try {
      jobId = String((await plan.start())['jobid']);
    } catch (err) {
      setFailure(`${plan.failed}: ${describe(err)}`);
      return;
    }
    setJobs((all) => [...all, { id: jobId, label: plan.label, progress: 'Queued' }]);
    try {
      const end = await followJob(
        jobId,
        async (state) => {
          const progress = state.done ? 'Finishing' : (state.progress ?? 'Running');
          setJobs((all) => all.map((j) => (j.id === jobId ? { ...j, progress } : j)));
          await snaps.reload();
        },
        stop.current.signal,
      );
      if (end === undefined) return;
      if (end.failed) setFailure(`${plan.failed}: ${end.errorText ?? 'the server gave no reason'}`);
      else setNotice(plan.succeeded(end));
    } catch (err) {
      setFailure(`${plan.failed}: ${describe(err)}`);
    } finally {
      setJobs((all) => all.filter((j) => j.id !== jobId));
      await Promise.all([vm.reload(), snaps.reload()]);
    }
  };

  const vmName = vm.data?.displayname ?? vm.data?.name ?? 'Instance';
  const take = (r: SnapshotRequest): void => {
    setDialog(undefined);
    const named = r.name === '' ? 'a snapshot' : `snapshot ${r.name}`;
    void run({
      label: `Taking ${named} of ${vmName}`,
      failed: `Taking ${named} failed`,
      succeeded: (end) => `${snapshotName(end) ?? 'The snapshot'} is ready.`,
      start: () =>
        call('createVMSnapshot', {
          virtualmachineid: id,
          name: r.name === '' ? undefined : r.name,
          description: r.description === '' ? undefined : r.description,
          snapshotmemory: r.memory,
          quiescevm: r.quiesce,
        }),
    });
  };
  const revert = (s: SnapshotRow): void => {
    setDialog(undefined);
    void run({
      label: `Reverting ${vmName} to ${s.displayname}`,
      failed: `Reverting to ${s.displayname} failed`,
      succeeded: () => `${vmName} is back at ${s.displayname}.`,
      start: () => call('revertToVMSnapshot', { vmsnapshotid: s.id }),
    });
  };
  const remove = (s: SnapshotRow): void => {
    setDialog(undefined);
    void run({
      label: `Deleting ${s.displayname}`,
      failed: `Deleting ${s.displayname} failed`,
      succeeded: () => `${s.displayname} is deleted.`,
      start: () => call('deleteVMSnapshot', { vmsnapshotid: s.id }),
    });
  };

  if (vm.data === undefined) {
    return (
      <>
        <PageHeading title={vm.loading ? 'Loading instance…' : 'Instance not found'} />
        {vm.error !== undefined && (
          <p role="alert" class="error">
            {vm.error}
          </p>
        )}
        <p>
          <a href={href({ page: 'vms' })}>Back to instances</a>
        </p>
      </>
    );
  }
  const current = snaps.data?.find((s) => s.current);
  return (
    <>
      <p class="breadcrumb">
        <a href={href({ page: 'vms' })}>Instances</a>
      </p>
      <PageHeading title={vmName} />
      <dl class="summary">
        <div>
          <dt>State</dt>
          <dd>{vm.data.state}</dd>
        </div>
        <div>
          <dt>Host</dt>
          <dd>{vm.data.hostname ?? (isAdmin ? 'None' : 'Not shown')}</dd>
        </div>
        <div>
          <dt>Zone</dt>
          <dd>{vm.data.zonename}</dd>
        </div>
        <div>
          <dt>Size</dt>
          <dd>
            {vm.data.cpunumber} vCPU, {vm.data.memory} MiB
          </dd>
        </div>
        <div>
          <dt>Current snapshot</dt>
          <dd>{current?.displayname ?? 'None'}</dd>
        </div>
      </dl>
      <div class="toolbar">
        <button type="button" class="primary" onClick={() => setDialog({ kind: 'take' })}>
          Take snapshot
        </button>
      </div>
      <div role="status" class="status">
        {jobs.length > 0 && (
          <ul class="jobs">
            {jobs.map((j) => (
              <li key={j.id}>
                {j.label}: {j.progress}
              </li>
            ))}
          </ul>
        )}
        {notice !== undefined && <p class="notice">{notice}</p>}
      </div>
      <div role="alert" class="error">
        {failure}
      </div>
      <section aria-labelledby="snapshots-heading">
        <h2 id="snapshots-heading">Snapshots</h2>
        {snaps.error !== undefined && <p class="error">{snaps.error}</p>}
        {snaps.data === undefined ? (
          <p>Loading snapshots…</p>
        ) : snaps.data.length === 0 ? (
          <p>No snapshots yet.</p>
        ) : (
          <SnapshotTree
            roots={snapshotTree(snaps.data)}
            actions={{
              busy: jobs.length > 0,
              onRevert: (s) => setDialog({ kind: 'revert', snapshot: s }),
              onDelete: (s) => setDialog({ kind: 'delete', snapshot: s }),
            }}
          />
        )}
      </section>
      {dialog?.kind === 'take' && (
        <TakeSnapshotDialog
          vmName={vmName}
          vmRunning={vm.data.state === 'Running'}
          onCreate={take}
          onCancel={() => setDialog(undefined)}
        />
      )}
      {dialog?.kind === 'revert' && (
        <ConfirmDialog
          title={`Revert ${vmName} to ${dialog.snapshot.displayname}?`}
          onConfirm={() => revert(dialog.snapshot)}
          onCancel={() => setDialog(undefined)}
        >
          <p>
            The VM’s disks{dialog.snapshot.type === 'DiskAndMemory' ? ' and memory' : ''} go back to how they
            were when {dialog.snapshot.displayname} was taken. Changes made since are lost.
          </p>
        </ConfirmDialog>
      )}
      {dialog?.kind === 'delete' && (
        <ConfirmDialog
          title={`Delete ${dialog.snapshot.displayname}?`}
          onConfirm={() => remove(dialog.snapshot)}
          onCancel={() => setDialog(undefined)}
        >
          <p>The snapshot is removed for good; the VM itself is not changed.</p>
        </ConfirmDialog>
      )}
    </>
  );
}

function snapshotName(end: JobState): string | undefined {
  const snap = end.result?.['vmsnapshot'];
  if (typeof snap !== 'object' || snap === null) return undefined;
  const name = (snap as Record<string, unknown>)['displayname'];
  return typeof name === 'string' ? name : undefined;
}
