/**
 * A picture of a directory tree (every entry's type, mode, size, mtime and link target, links not
 * followed), to show that an agent left everything outside its roots exactly as it was.
 */
import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import path from 'node:path';

export type TreePicture = Record<string, string>;

/** Every entry under `dir`, except those under one of `skip` (the agent's own roots). */
export function pictureTree(dir: string, skip: readonly string[]): TreePicture {
  const picture: TreePicture = {};
  const walk = (current: string): void => {
    for (const name of readdirSync(current)) {
      const full = path.join(current, name);
      if (skip.includes(full)) continue;
      const st = lstatSync(full);
      const link = st.isSymbolicLink() ? ` -> ${readlinkSync(full)}` : '';
      picture[path.relative(dir, full)] = `${st.mode.toString(8)} ${st.size} ${st.mtimeMs}${link}`;
      if (st.isDirectory()) walk(full);
    }
  };
  walk(dir);
  return picture;
}
