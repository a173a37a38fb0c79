/**
 * Where a volume lives, checked together with its pool: a file (`path` empty or an absolute,
 * normalised path, confined to the pool root on the agent) or, on a `ceph-rbd` pool, an RBD image
 * (`path` empty or an image name; the pool's url a well-formed RBD connection, `pool.path` the RBD
 * pool's name). Refusals name the field (`path`, `pool.url` …) and never repeat a url: it holds a key.
 */
import type { z } from 'zod';
import { volumePath } from './fields.ts';
import { isRbdName, parseRbdPoolUrl } from './rbd-connection.ts';

interface VolumeLocation {
  readonly path: string;
  readonly pool?: { readonly provider: string; readonly url: string; readonly path: string } | undefined;
}

export function checkVolumeLocation(volume: VolumeLocation, ctx: z.RefinementCtx): void {
  const issue = (path: (string | number)[], message: string): void =>
    ctx.addIssue({ code: 'custom', path, message });
  if (volume.pool?.provider !== 'ceph-rbd') {
    const file = volumePath.safeParse(volume.path);
    if (!file.success) issue(['path'], file.error.issues[0]?.message ?? 'invalid');
    return;
  }
  if (volume.path !== '' && !isRbdName(volume.path))
    issue(['path'], 'must be empty or an RBD image name of [A-Za-z0-9._-], starting with a letter or digit');
  const url = parseRbdPoolUrl(volume.pool.url);
  if (!url.ok) issue(['pool', 'url'], url.why);
  if (!isRbdName(volume.pool.path)) issue(['pool', 'path'], 'must be an RBD pool name');
  else if (url.ok && url.value.pool !== volume.pool.path) issue(['pool', 'path'], 'must be the url’s pool');
}
