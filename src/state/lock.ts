// Single-instance locks in the state directory. Node has no flock(2) (it needs a native addon), so a
// lock is a file created atomically: the holder's description is written to a private temp file and
// link(2)ed to the lock's name, which fails with EEXIST when the lock exists, and never shows a
// half-written file. A lock whose holder is gone is stale and taken over: the holder's process no
// longer exists, its pid now belongs to another process (start time differs), or it was taken in
// an earlier boot (a reboot empties no state directory). Two locks:
//   daemon.lock     held by the daemon for its whole life: a second daemon on the same state
//                   directory refuses to start, naming the first.
//   operation.lock  held while guests are being started or stopped by plan: the daemon's boot plan
//                   and shutdown, and start-all / stop-all. Whoever finds it held is told by whom.

import { link, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';

export const DAEMON_LOCK = 'daemon.lock';
export const OPERATION_LOCK = 'operation.lock';

export interface LockHolder {
  pid: number;
  /** What holds it, for the message: "the daemon (boot plan)", "stop-all by root". */
  what: string;
  bootId: string;
  /** Kernel start time of the holder process (clock ticks since boot; null where /proc has none). */
  startTicks: number | null;
  /** ISO time it was taken (for people). */
  since: string;
}

export interface HeldLock {
  readonly path: string;
  readonly holder: LockHolder;
  /** Give it up (removes the file only while it is still ours). Never throws. */
  release(): Promise<void>;
}

export class LockBusyError extends Error {
  constructor(
    readonly path: string,
    readonly holder: LockHolder,
  ) {
    super(`${holder.what} (pid ${holder.pid}, since ${holder.since}) holds ${path}`);
    this.name = 'LockBusyError';
  }
}

/** Kernel start time of `pid` (field 22 of /proc/<pid>/stat), null when unknown, 'gone' when no such process. */
export async function processStartTicks(pid: number): Promise<number | null | 'gone'> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return null;
    // No /proc entry: gone on Linux; elsewhere ask the kernel directly.
    return processExists(pid) ? null : 'gone';
  }
  // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
  const after = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(after[19]);
  return Number.isFinite(ticks) ? ticks : null;
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Why `holder` no longer holds anything, or null when it is alive in this boot. */
export async function staleBecause(holder: LockHolder, bootId: string): Promise<string | null> {
  if (holder.bootId !== bootId) return `taken in an earlier boot (${holder.bootId})`;
  const ticks = await processStartTicks(holder.pid);
  if (ticks === 'gone') return `process ${holder.pid} no longer exists`;
  if (ticks !== null && holder.startTicks !== null && ticks !== holder.startTicks) return `pid ${holder.pid} now belongs to another process`;
  return null;
}

function parseHolder(text: string): LockHolder | null {
  try {
    const v = JSON.parse(text) as Partial<LockHolder>;
    if (typeof v.pid === 'number' && typeof v.what === 'string' && typeof v.bootId === 'string' && typeof v.since === 'string') {
      return { pid: v.pid, what: v.what, bootId: v.bootId, since: v.since, startTicks: typeof v.startTicks === 'number' ? v.startTicks : null };
    }
  } catch {
    // fall through: not a holder
  }
  return null;
}

/** The holder of the lock at `path`, or null when it is free. */
export async function readHolder(path: string): Promise<LockHolder | null> {
  try {
    return parseHolder(await readFile(path, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * Takes the lock `name` in `dir` for this process, taking over a stale one (reported through
 * `onStale`). Throws LockBusyError naming a live holder.
 */
export async function acquireLock(dir: string, name: string, what: string, bootId: string, onStale: (holder: LockHolder | null, why: string) => void = () => undefined): Promise<HeldLock> {
  const path = join(dir, name);
  const ticks = await processStartTicks(process.pid);
  const holder: LockHolder = { pid: process.pid, what, bootId, startTicks: typeof ticks === 'number' ? ticks : null, since: new Date().toISOString() };
  const text = JSON.stringify(holder) + '\n';
  const temp = join(dir, `.${name}.${process.pid}.${Math.random().toString(36).slice(2)}`);
  await writeFile(temp, text, { mode: 0o640 });
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await link(temp, path);
        return held(path, holder, text);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const current = await readHolder(path);
      const why = current ? await staleBecause(current, bootId) : 'the lock file is unreadable';
      if (current && why === null) throw new LockBusyError(path, current);
      await setAside(path, current, why!, onStale);
    }
    throw new Error(`could not take ${path}: it kept changing hands`);
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

/**
 * Moves a stale lock out of the way. Renaming first (atomic) and then checking what was moved keeps
 * two takers of the same stale lock from removing each other's fresh one: a live lock moved by
 * mistake is linked back.
 */
async function setAside(path: string, stale: LockHolder | null, why: string, onStale: (holder: LockHolder | null, why: string) => void): Promise<void> {
  const aside = `${path}.stale-${process.pid}`;
  try {
    await rename(path, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const moved = parseHolder(await readFile(aside, 'utf8').catch(() => ''));
  const same = moved === null ? stale === null : stale !== null && moved.pid === stale.pid && moved.since === stale.since;
  if (!same) await link(aside, path).catch(() => undefined);
  else onStale(stale, why);
  await unlink(aside).catch(() => undefined);
}

function held(path: string, holder: LockHolder, text: string): HeldLock {
  let released = false;
  return {
    path,
    holder,
    async release() {
      if (released) return;
      released = true;
      // Only our own file: a lock taken over from us (we were thought stale) is not ours to remove.
      const now = await readFile(path, 'utf8').catch(() => null);
      if (now === text) await unlink(path).catch(() => undefined);
    },
  };
}

function logStale(log: Logger, name: string) {
  return (holder: LockHolder | null, why: string) => log.warn({ lock: name, holder, why }, `stale ${name} taken over: ${why}`);
}

/** Takes `name` or returns null after logging why it could not (never for a live holder: that throws). */
export async function tryLock(dir: string, name: string, what: string, bootId: string, log: Logger): Promise<HeldLock | null> {
  try {
    return await acquireLock(dir, name, what, bootId, logStale(log, name));
  } catch (err) {
    if (err instanceof LockBusyError) throw err;
    log.error({ lock: join(dir, name), err: (err as Error).message }, `could not take ${name}; carrying on without it`);
    return null;
  }
}
