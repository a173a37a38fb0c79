/**
 * Secrets at rest (users' API secret keys, hosts' agent tokens): AES-256-GCM under a key that is not
 * in the database, so a copy of the database (a backup, a readable WAL, a PostgreSQL dump) does not
 * hand out working credentials. Each value gets its own random IV and is stored as
 * `enc:v1:<base64(iv | tag | ciphertext)>`; the version lets a later format or key rotation coexist.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export const SECRET_KEY_BYTES = 32;
const SEALED_PREFIX = 'enc:v1:';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A sealed value that this key cannot open: a different key, or a damaged value. */
export class SecretBoxError extends Error {}

export class SecretBox {
  readonly #key: Buffer;

  /** `source` says where the key came from (a file, an environment variable), for error messages. */
  constructor(
    key: Uint8Array,
    readonly source: string,
  ) {
    if (key.length !== SECRET_KEY_BYTES)
      throw new Error(`the database key from ${source} must be ${SECRET_KEY_BYTES} bytes, not ${key.length}`);
    this.#key = Buffer.from(key);
  }

  static isSealed(value: string): boolean {
    return value.startsWith(SEALED_PREFIX);
  }

  seal(plain: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return SEALED_PREFIX + Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
  }

  /** The plain text of a sealed value; a value that is not sealed is returned as it is (legacy rows). */
  open(value: string): string {
    if (!SecretBox.isSealed(value)) return value;
    const raw = Buffer.from(value.slice(SEALED_PREFIX.length), 'base64');
    if (raw.length < IV_BYTES + TAG_BYTES) throw new SecretBoxError('sealed value is truncated');
    const decipher = createDecipheriv('aes-256-gcm', this.#key, raw.subarray(0, IV_BYTES));
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString(
        'utf8',
      );
    } catch {
      throw new SecretBoxError(`the database key from ${this.source} does not open a stored secret`);
    }
  }
}
