// "A host shutdown began in boot B with deadline D": written before the shutdown plan touches a guest
// and again when it ends. D is kept on CLOCK_MONOTONIC of boot B (core/clock.ts), so that a wall
// clock step between two daemons cannot move it; the wall-clock text beside it is for people. A daemon that starts while that record is unfinished (it was killed in the
// middle of the shutdown, or restarted just before it) resumes the shutdown with what is left of D
// instead of starting a fresh deadline or, worse, the boot plan.

import { join } from 'node:path';
import { readTextOrNull, writeFileAtomic } from '../state/atomic.js';
import { isoTime, nullable, num, object, str } from '../state/validate.js';
import { scopeFields } from '../state/schemas.js';
import type { RecordScope } from '../state/scope.js';

export interface ShutdownRecord extends Partial<RecordScope> {
  bootId: string;
  startedAt: string;
  /** The deadline on CLOCK_MONOTONIC of boot `bootId`, ms: meaningless in any other boot. */
  deadlineMonotonicMs: number;
  /** The same deadline as wall time when it was set (ISO), only for people reading the file. */
  deadlineAt: string;
  trigger: string;
  /** ISO time the shutdown plan ended; null while it runs (or when the daemon died in it). */
  finishedAt: string | null;
}

const FILE = 'shutdown-progress.json';
const check = object({ bootId: str, startedAt: isoTime, deadlineMonotonicMs: num, deadlineAt: isoTime, trigger: str, finishedAt: nullable(isoTime), ...scopeFields });

export function shutdownRecordPath(dir: string): string {
  return join(dir, FILE);
}

export async function writeShutdownRecord(dir: string, record: ShutdownRecord): Promise<void> {
  await writeFileAtomic(shutdownRecordPath(dir), JSON.stringify(record, null, 2) + '\n');
}

/** The record in `dir`, or null when absent; a file that does not parse is reported through `onBad`. */
export async function readShutdownRecord(dir: string, onBad: (problem: string) => void): Promise<ShutdownRecord | null> {
  const path = shutdownRecordPath(dir);
  let text: string | null;
  try {
    text = await readTextOrNull(path);
  } catch (err) {
    onBad((err as Error).message);
    return null;
  }
  if (text === null) return null;
  try {
    const value = JSON.parse(text) as unknown;
    const wrong = check(value, '');
    if (wrong === null) return value as ShutdownRecord;
    onBad(`${path}: ${wrong}`);
  } catch (err) {
    onBad(`${path}: not valid JSON (${(err as Error).message})`);
  }
  return null;
}
