/**
 * Where the database key (the key of the {@link SecretBox} that seals secrets at rest) comes from,
 * as CloudStack keeps its database key outside the database:
 *
 * 1. `VMSNAP_DATABASE_KEY`: the key itself;
 * 2. `VMSNAP_SECRET_KEY_FILE`: a file holding it, which must exist and be private (0600);
 * 3. otherwise `<data dir>/secret.key`, created with 32 random bytes on first start.
 *
 * A key is 32 bytes written as 64 hex digits or as base64 (`openssl rand -base64 32`). Servers that
 * share a PostgreSQL database must share the key: give them all the same file or variable.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { assertPrivateFile } from '../plugins/trusted-file.ts';
import { SECRET_KEY_BYTES, SecretBox } from '../store/secret-box.ts';

export const SECRET_KEY_FILE = 'secret.key';

export function openSecretBox(dataDir: string, env: NodeJS.ProcessEnv = process.env): SecretBox {
  const inline = nonEmpty(env['VMSNAP_DATABASE_KEY']);
  const file = nonEmpty(env['VMSNAP_SECRET_KEY_FILE']);
  if (inline !== undefined && file !== undefined)
    throw new Error('set VMSNAP_DATABASE_KEY or VMSNAP_SECRET_KEY_FILE, not both');
  if (inline !== undefined) {
    const source = 'the environment variable VMSNAP_DATABASE_KEY';
    return new SecretBox(parseKey(inline, source), source);
  }
  if (file !== undefined) return fromFile(file);
  const own = join(dataDir, SECRET_KEY_FILE);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  createKeyFile(own);
  return fromFile(own);
}

function fromFile(path: string): SecretBox {
  assertPrivateFile(path, 'the database key file');
  return new SecretBox(parseKey(readFileSync(path, 'utf8'), path), path);
}

/** First start: a new random key, 0600; an existing file is left alone ('wx' never overwrites). */
function createKeyFile(path: string): void {
  try {
    writeFileSync(path, `${randomBytes(SECRET_KEY_BYTES).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

/** 64 hex digits or base64 of exactly 32 bytes; anything else is refused, naming the source. */
export function parseKey(text: string, source: string): Buffer {
  const value = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(value)) return Buffer.from(value, 'hex');
  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(value)) {
    const bytes = Buffer.from(value, 'base64');
    if (bytes.length === SECRET_KEY_BYTES) return bytes;
  }
  throw new Error(
    `the database key from ${source} must be ${SECRET_KEY_BYTES} bytes written as 64 hex digits or base64 ` +
      '(for example the output of `openssl rand -base64 32`)',
  );
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}
