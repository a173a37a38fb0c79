/**
 * # How a QEMU host agent command fails
 *
 * A handler that refuses a request calls {@link fail}: the agent answers `result: false` with the
 * message and does not log it (an expected refusal). Any other error is answered the same way but
 * logged as a failure. {@link QemuWedgedError} marks a QEMU that can no longer be trusted (see
 * `snapshot-rollback.ts`).
 */

// The refusal convention is shared with the simulator (../command-failure.ts).
export { CommandFailure, fail } from '../command-failure.ts';

/** The QEMU process can no longer be trusted (see rollbackCreate). */
export class QemuWedgedError extends Error {}
