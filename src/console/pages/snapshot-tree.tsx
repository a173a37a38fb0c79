/**
 * The snapshot tree: each snapshot under its parent, the current one marked, and for each what
 * vmsnap knows that CloudStack and Proxmox do not show: consistency, freeze window, pause, strategy.
 */
import {
  consistencyInWords,
  milliseconds,
  snapshotSize,
  stateInWords,
  typeInWords,
  when,
  type SnapshotNode,
  type SnapshotRow,
} from '../model.ts';

export interface TreeActions {
  readonly onRevert: (s: SnapshotRow) => void;
  readonly onDelete: (s: SnapshotRow) => void;
  /** While a job runs on the VM, its snapshots take no other action. */
  readonly busy: boolean;
}

export function SnapshotTree({ roots, actions }: { roots: readonly SnapshotNode[]; actions: TreeActions }) {
  return (
    <ul class="tree">
      {roots.map((node) => (
        <SnapshotItem key={node.snapshot.id} node={node} actions={actions} />
      ))}
    </ul>
  );
}

function SnapshotItem({ node, actions }: { node: SnapshotNode; actions: TreeActions }) {
  const s = node.snapshot;
  const headingId = `snap-${s.id}`;
  return (
    <li>
      <article class={s.current ? 'snapshot current' : 'snapshot'} aria-labelledby={headingId}>
        <div class="snapshot-head">
          <h3 id={headingId}>{s.displayname}</h3>
          <span class={`state state-${s.state.toLowerCase()}`}>{stateInWords(s.state)}</span>
          {s.current && <span class="badge">Current</span>}
        </div>
        {s.description !== undefined && s.description !== '' && <p class="description">{s.description}</p>}
        <dl class="facts">
          <Fact term="Type" value={typeInWords(s.type)} />
          <Fact term="Consistency" value={consistencyInWords(s.consistency)} />
          <Fact term="Freeze window" value={milliseconds(s.freezewindowms)} />
          <Fact term="Pause" value={milliseconds(s.pausems)} />
          <Fact term="Strategy" value={s.strategy ?? 'Not chosen yet'} />
          <Fact term="Size" value={snapshotSize(s)} />
          <Fact term="Taken" value={when(s.created)} />
          <Fact term="Taken by" value={s.vmsnapshotpolicyid === undefined ? 'A user' : 'A schedule'} />
          {s.durationms !== undefined && <Fact term="Took" value={milliseconds(s.durationms)} />}
          {s.errortext !== undefined && <Fact term="Why it failed" value={s.errortext} />}
        </dl>
        <div class="actions">
          <ActionButton
            label="Revert"
            snapshot={s}
            enabled={!actions.busy && s.state === 'Ready'}
            onClick={actions.onRevert}
          />
          <ActionButton
            label="Delete"
            snapshot={s}
            enabled={!actions.busy && (s.state === 'Ready' || s.state === 'Error')}
            onClick={actions.onDelete}
            danger
          />
        </div>
      </article>
      {node.children.length > 0 && <SnapshotTree roots={node.children} actions={actions} />}
    </li>
  );
}

/**
 * "Revert <name>" / "Delete <name>": the name is in the accessible name, and hidden from sight
 * because the card shows it. An unavailable action is aria-disabled, not disabled, so the button
 * keeps focus when a confirmed job starts (a disabled button would drop it to the page).
 */
function ActionButton(props: {
  label: string;
  snapshot: SnapshotRow;
  enabled: boolean;
  onClick: (s: SnapshotRow) => void;
  danger?: boolean;
}) {
  const { label, snapshot, enabled, onClick, danger } = props;
  return (
    <button
      type="button"
      class={danger === true ? 'danger' : undefined}
      aria-disabled={enabled ? undefined : 'true'}
      onClick={() => {
        if (enabled) onClick(snapshot);
      }}
    >
      {label}
      <span class="sr-only"> {snapshot.displayname}</span>
    </button>
  );
}

function Fact({ term, value }: { term: string; value: string }) {
  return (
    <div>
      <dt>{term}</dt>
      <dd>{value}</dd>
    </div>
  );
}
