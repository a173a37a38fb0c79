/**
 * A file pool's URL: `file:///absolute/folder` (CloudStack writes local and shared-mount pools the
 * same way). Only the form is checked here; the folder is on the hosts.
 */
import path from 'node:path';

/** The folder a `file:` URL names; throws an Error saying what is wrong with it. */
export function filePoolPath(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error('the url of a file pool must look like file:///path/to/folder');
  }
  if (parsed.protocol !== 'file:') throw new Error('the url of a file pool must start with file://');
  if (parsed.hostname !== '' && parsed.hostname !== 'localhost')
    throw new Error('the url of a file pool names a folder on the hosts: file:///path, without a host name');
  if (parsed.search !== '' || parsed.hash !== '' || parsed.username !== '' || parsed.password !== '')
    throw new Error('the url of a file pool takes only a path: file:///path/to/folder');
  const folder = decoded(parsed.pathname).replace(/\/+$/, '');
  // The URL parser drops `.`/`..` segments (even encoded ones): the path as written must be the folder.
  const written = decoded(url.replace(/^file:\/\/(localhost)?/i, '')).replace(/\/+$/, '');
  if (folder === '' || written !== folder || path.normalize(folder) !== folder || folder.includes('\0'))
    throw new Error('the url of a file pool must name an absolute, normalised folder (no . or .. segments)');
  return folder;
}

function decoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new Error('the url of a file pool has a malformed %-escape');
  }
}
