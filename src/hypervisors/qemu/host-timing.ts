/**
 * Timings the agent reports: the host's wall clock in ms with sub-ms resolution, rounding to
 * hundredths, and a pause measured from QEMU's own STOP/RESUME event timestamps (µs resolution).
 */
import { round } from '../../core/round-ms.ts';
import type { QmpClient } from './qmp-client.ts';

/** Re-exported for the agent's timing code, which reads its helpers from here. */
export { round };

/** Epoch ms with sub-ms resolution (comparable with QEMU's event timestamps). */
export function hostNowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Pause between the first STOP and the next RESUME seen since `sinceSeq`, from QEMU's timestamps. */
export function pauseFromEvents(qmp: QmpClient, sinceSeq: number): number {
  const events = qmp.eventsSince(sinceSeq);
  const stop = events.find((e) => e.event === 'STOP');
  if (!stop) return 0;
  const resume = events.find((e) => e.event === 'RESUME' && e.seq > stop.seq);
  return resume ? round(resume.qemuMs - stop.qemuMs) : Number.NaN;
}
