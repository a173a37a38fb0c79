/**
 * Quiescing the guest for the storage strategy: policy, freeze budget, guest-agent ping, freeze and
 * thaw, each bounded by a timeout of our own (a gateway that never answers must not hold a frozen
 * guest). The host agent's watchdog thaws the guest at the budget even if this process dies.
 */
import { messageOf } from '../core/message-of.ts';
import type {
  AgentCommand,
  AnswerFor,
  Consistency,
  HostInfo,
  QuiescePolicy,
  SnapshotOperation,
  StrategyContext,
  ThawOutcome,
} from '../core/plugin-api.ts';
import { DEFAULT_FREEZE_BUDGET_MS } from '../core/freeze-budget.ts';
import { parseQuiescePolicy } from '../core/snapshot-options.ts';

export const FREEZE_BUDGET_SETTING = 'vmsnapshot.freeze.budget';
export const QUIESCE_POLICY_SETTING = 'vmsnapshot.quiesce.policy';
/** Proxmox pings the agent with 3 s before freezing; a live agent answers in milliseconds. */
export const GUEST_PING_TIMEOUT_MS = 3_000;

/** The guest's state after the quiesce phase. */
interface GuestQuiesce {
  readonly consistency: Consistency;
  /** Set when a freeze succeeded: a thaw is owed to this host. */
  readonly frozenOn: HostInfo | null;
  readonly freezeSentAt: number | null;
  readonly note: string | null;
}

interface QuiescePlan {
  readonly needsFreeze: boolean;
  readonly budgetMs: number;
  readonly policy: QuiescePolicy;
}

export function freezeBudgetMs(ctx: StrategyContext): number {
  const value = readSetting(() => ctx.numberSetting(FREEZE_BUDGET_SETTING));
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : DEFAULT_FREEZE_BUDGET_MS;
}

/** The request's policy (typed, checked by the API), else the setting's. */
export function quiescePolicy(ctx: StrategyContext, op: SnapshotOperation): QuiescePolicy {
  if (op.options.quiescePolicy !== undefined) return op.options.quiescePolicy;
  const value = readSetting(() => ctx.setting(QUIESCE_POLICY_SETTING)) ?? '';
  return value === '' ? 'required' : parseQuiescePolicy(value, `setting ${QUIESCE_POLICY_SETTING}`);
}

/** A setting the registry does not know falls back to the default instead of failing the snapshot. */
function readSetting<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

export async function quiesceGuest(
  ctx: StrategyContext,
  op: SnapshotOperation,
  plan: QuiescePlan,
): Promise<GuestQuiesce> {
  const unfrozen = (consistency: Consistency, note: string | null): GuestQuiesce => ({
    consistency,
    frozenOn: null,
    freezeSentAt: null,
    note,
  });
  if (!op.quiesce) return unfrozen('crash-consistent', null);
  // A stopped guest has no writes in flight: its disks hold what it flushed at shutdown.
  if (op.vm.state !== 'Running')
    return unfrozen('application-consistent', 'guest not running: no freeze needed');
  // Drivers that declare needsQuiesce=false make the cut consistent themselves.
  if (!plan.needsFreeze) return unfrozen('application-consistent', 'storage drivers quiesce on their own');

  const vmName = op.vm.instanceName;
  const downgrade = (consistency: Consistency, problem: string): GuestQuiesce => {
    const message = `Cannot quiesce VM ${op.vm.displayName}: ${problem}`;
    if (plan.policy === 'required') throw new Error(message);
    ctx.log.warn(
      { vm: vmName, err: problem },
      'quiesce failed; taking a crash-consistent snapshot (best-effort policy)',
    );
    return unfrozen(consistency, problem);
  };

  let host: HostInfo;
  try {
    host = await ctx.pickHost(op.vm, op.volumes);
  } catch (err) {
    return downgrade('no-guest-agent', `the QEMU guest agent is not reachable (no host: ${messageOf(err)})`);
  }
  const ping = await sendWithin(
    ctx,
    host,
    { kind: 'GuestPing', vmName },
    Math.min(GUEST_PING_TIMEOUT_MS, plan.budgetMs),
  );
  if (!ping.ok || !ping.answer.result || !ping.answer.available) {
    const why = !ping.ok ? ping.error : ping.answer.result ? 'no answer to guest-ping' : ping.answer.details;
    return downgrade('no-guest-agent', `the QEMU guest agent is not reachable (${why})`);
  }

  await ctx.checkpoint('quiesce', { hostId: host.id, budgetMs: plan.budgetMs });
  const freezeSentAt = Date.now();
  const freezeCommand = { kind: 'FreezeThaw', vmName, option: 'freeze', budgetMs: plan.budgetMs } as const;
  const freeze = await sendWithin(ctx, host, freezeCommand, plan.budgetMs);
  if (freeze.ok && freeze.answer.result && freeze.answer.status === 'frozen') {
    return { consistency: 'application-consistent', frozenOn: host, freezeSentAt, note: null };
  }
  // The guest may be partly or belatedly frozen: thaw it before deciding anything else.
  await sendThaw(ctx, host, vmName, plan.budgetMs);
  if (!freeze.ok)
    return downgrade('quiesce-timed-out', `guest agent freeze did not complete: ${freeze.error}`);
  const why = freeze.answer.result ? `guest reports ${freeze.answer.status}` : freeze.answer.details;
  return downgrade('crash-consistent', `guest agent freeze failed: ${why}`);
}

/** Thaws once the cut is over, unless every driver says it already released the guest. */
export async function thawGuest(
  ctx: StrategyContext,
  op: SnapshotOperation,
  guest: GuestQuiesce,
  /** Every driver cut and said it already released the guest (`needsUnquiesce: false`). */
  released: boolean,
  budgetMs: number,
): Promise<{ outcome: ThawOutcome; at: number }> {
  if (guest.frozenOn === null) return { outcome: 'not-frozen', at: Date.now() };
  if (released) return { outcome: 'not-needed', at: Date.now() };
  const ok = await sendThaw(ctx, guest.frozenOn, op.vm.instanceName, budgetMs);
  if (!ok) {
    ctx.log.warn(
      { vm: op.vm.instanceName, budgetMs },
      'guest thaw failed; the host agent watchdog thaws it within the freeze budget',
    );
  }
  return { outcome: ok ? 'ok' : 'failed (watchdog)', at: Date.now() };
}

async function sendThaw(
  ctx: StrategyContext,
  host: HostInfo,
  vmName: string,
  budgetMs: number,
): Promise<boolean> {
  const thaw = await sendWithin(ctx, host, { kind: 'FreezeThaw', vmName, option: 'thaw' }, budgetMs);
  return thaw.ok && thaw.answer.result;
}

type Sent<C extends AgentCommand> = { ok: true; answer: AnswerFor<C> } | { ok: false; error: string };

/** Sends with a timeout of our own too: a gateway that never answers must not hold a frozen guest. */
async function sendWithin<C extends AgentCommand>(
  ctx: StrategyContext,
  host: HostInfo,
  command: C,
  timeoutMs: number,
): Promise<Sent<C>> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<Sent<C>>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, error: `no answer within ${timeoutMs} ms` }), timeoutMs);
  });
  const answered = ctx.agents.send(host.id, command, { timeoutMs }).then(
    (answer): Sent<C> => ({ ok: true, answer }),
    (err: unknown): Sent<C> => ({ ok: false, error: messageOf(err) }),
  );
  try {
    return await Promise.race([answered, expired]);
  } finally {
    clearTimeout(timer);
  }
}
