/**
 * The agent's files are its own: folders 0700, files 0600, whatever the process umask says (the
 * `vmsnap agent` start sets umask 0077 as a backstop; these set the modes explicitly).
 *
 * A new file is created here with `O_CREAT|O_EXCL` before any tool (qemu-img, the RAM save's shell)
 * writes into it: the tool then opens an existing private file, and a name already taken, by a file
 * or by a symbolic link planted to send the write elsewhere, fails instead of being followed.
 */
import { chmod, mkdir, open, rm } from 'node:fs/promises';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** Creates `dir` (and missing parents) and tightens it to 0700 if it already existed. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  await chmod(dir, PRIVATE_DIR_MODE);
}

/** Creates an empty 0600 file; fails (EEXIST) when the name exists, even as a dangling link. */
export async function createPrivateFile(file: string): Promise<void> {
  const handle = await open(file, 'wx', PRIVATE_FILE_MODE);
  try {
    await handle.chmod(PRIVATE_FILE_MODE); // the umask may have narrowed it further: set it exactly
  } finally {
    await handle.close();
  }
}

/** Creates `file` privately, then lets `fill` write it; removes it again if `fill` fails. */
export async function withPrivateFile(file: string, fill: () => Promise<unknown>): Promise<void> {
  await createPrivateFile(file);
  try {
    await fill();
  } catch (error) {
    await rm(file, { force: true });
    throw error;
  }
}
