/**
 * What a refused command or answer says: which field, and why, in words that never repeat the
 * refused value (it may be hostile, and it may end up in a log or an API error).
 */
import type { z } from 'zod';

export interface Refusal {
  readonly ok: false;
  /** Dotted path of the refused field, e.g. `vm.memoryMb`, `target.parent.name`, `volumes.0.path`. */
  readonly field: string;
  readonly error: string;
}

export type Checked<T> = { readonly ok: true; readonly value: T } | Refusal;

export function refusal(field: string, why: string): Refusal {
  return { ok: false, field, error: `refused field ${field}: ${why}` };
}

/** The first issue of a failed parse, as a refusal. */
export function refusalOf(error: z.ZodError): Refusal {
  const issue = error.issues[0];
  if (!issue) return refusal('(body)', 'invalid');
  const field = issue.path.map(String).join('.') || '(body)';
  return refusal(field, issue.message);
}
