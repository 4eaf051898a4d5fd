// Files that are either the old version or the new one, never torn: write a temp file in the same
// directory, fsync it, rename it over the target, fsync the directory (so the rename itself survives
// a power cut). Every failure names the file, the directory and the errno.

import { constants } from 'node:fs';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** An I/O failure in the state directory, worded for an admin: what, where, and the errno. */
export class StateDirError extends Error {
  constructor(
    message: string,
    readonly path: string,
    readonly errno: string | null,
  ) {
    super(message);
    this.name = 'StateDirError';
  }
}

const ERRNO_WORDS: Record<string, string> = {
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOTDIR: 'a path component is not a directory',
  EISDIR: 'is a directory',
  EIO: 'I/O error',
  ENOENT: 'no such file or directory',
};

export function describeErrno(err: unknown): { code: string | null; text: string } {
  const code = (err as NodeJS.ErrnoException | null)?.code ?? null;
  if (code) return { code, text: `${code} (${ERRNO_WORDS[code] ?? (err as Error).message})` };
  return { code: null, text: err instanceof Error ? err.message : String(err) };
}

export function wrapError(action: string, path: string, err: unknown): StateDirError {
  const { code, text } = describeErrno(err);
  return new StateDirError(`cannot ${action} ${path} in state directory ${dirname(path)}: ${text}`, path, code);
}

let tempCounter = 0;

/** Replace `path` with `data` atomically (see the file comment). */
export async function writeFileAtomic(path: string, data: string, mode = 0o640): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.tmp-${process.pid}-${++tempCounter}`);
  try {
    const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw wrapError('write', path, err);
  }
  await syncDir(dir).catch((err: unknown) => {
    throw wrapError('sync the directory entry of', path, err);
  });
}

/** fsync a directory so that a rename or create in it is durable. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The file's text, or null when it does not exist. */
export async function readTextOrNull(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw wrapError('read', path, err);
  }
}

/** Create the directory (and parents) with `mode` when missing; a clear error when impossible. */
export async function ensureDir(dir: string, mode = 0o750): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode });
  } catch (err) {
    const { code, text } = describeErrno(err);
    throw new StateDirError(`cannot create state directory ${dir}: ${text}`, dir, code);
  }
}

/** Check that files can be created in `dir` now, rather than at the first shutdown. */
export async function probeWritable(dir: string): Promise<void> {
  const probe = join(dir, `.write-probe-${process.pid}`);
  try {
    const handle = await open(probe, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600);
    await handle.close();
    await rm(probe, { force: true });
  } catch (err) {
    const { code, text } = describeErrno(err);
    throw new StateDirError(`state directory ${dir} is not writable: ${text}`, dir, code);
  }
}
