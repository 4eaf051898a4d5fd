// The boot journal says "guest X was asked to start at T in this boot"; X is Halted now. Either the
// daemon died between journalling and sending the start (it never started: start it now), or it
// started and someone shut it down since (leave it: never start a guest twice, never undo an admin).
// The guest's last start time (VM_metrics.start_time) tells them apart.
//
// The line records that start time as read just before the start was sent, so the guest counts as
// started since the line exactly when its start time is no longer that value. This compares two of
// xapi's own readings for identity, not times, so no clock step on either side can fool it.
//
// Lines of older versions, or written when the start time could not be read, have only the line's
// times. For them start_time (xapi's wall clock, which chronyd's makestep may step at any moment)
// is compared with T two ways, and the guest counts as started when either says so:
//  - on the wall clock: start_time ≥ the line's wall time. A backward step between the line and the
//    start fools it (the start reads as older than the line);
//  - on this boot's monotonic clock, which the line also records: start_time projected onto it
//    through the wall clock as it reads now ≥ the line's instant. A forward step between the start
//    and now fools it towards "not started", and a backward step after the line towards "started"
//    (an earlier start, within the step before the line, projects to after it).
// So for these lines a step can still err either way; xapi keeps whole seconds, so a start in T's
// second still counts.

import { monotonicOf, systemClock, type Clock } from '../core/clock.js';
import type { Logger } from '../log.js';
import type { JournalEntry } from '../state/index.js';
import type { Guest, Toolstack } from '../toolstack/types.js';

const SECOND_MS = 1000;

/** Whether a start at `lastStart` (whole seconds, xapi's wall clock) came after the journal line. */
export function startedAfterJournalLine(entry: JournalEntry, lastStart: Date | null, clock: Clock = systemClock): boolean {
  if (entry.startTimeBefore !== undefined) return startTimeMs(lastStart) !== startTimeMs(entry.startTimeBefore);
  if (lastStart === null) return false;
  const startMs = lastStart.getTime();
  const byWall = startMs >= Math.floor(Date.parse(entry.at) / SECOND_MS) * SECOND_MS;
  // The true start lies within the second start_time names: after the line if that second ends after it.
  const byMonotonic = entry.monotonicMs !== undefined && monotonicOf(startMs, clock) + SECOND_MS > entry.monotonicMs;
  return byWall || byMonotonic;
}

function startTimeMs(startTime: Date | string | null): number | null {
  if (startTime === null) return null;
  return typeof startTime === 'string' ? Date.parse(startTime) : startTime.getTime();
}

/**
 * The guest's start time to journal with its start request (ISO; null: it never ran), or undefined
 * when the toolstack cannot tell, and the line then falls back to the clocks.
 */
export async function startTimeBefore(toolstack: Toolstack, guest: Pick<Guest, 'uuid' | 'name' | 'ref'>, log: Logger): Promise<string | null | undefined> {
  if (!toolstack.lastStartTime) return undefined;
  try {
    return (await toolstack.lastStartTime(guest))?.toISOString() ?? null;
  } catch (err) {
    log.debug({ guest: guest.uuid, guestName: guest.name, err: (err as Error).message }, `${guest.name}: start time unreadable before its start; its journal line has the clocks only`);
    return undefined;
  }
}

/** The journalled guests to treat as already started (the rest are started as if never journalled). */
export async function startedFromJournal(
  journal: ReadonlyMap<string, JournalEntry>,
  guests: readonly Guest[],
  toolstack: Toolstack,
  log: Logger,
  clock: Clock = systemClock,
): Promise<Set<string>> {
  const started = new Set(journal.keys());
  if (!toolstack.lastStartTime) return started;
  for (const [uuid, entry] of journal) {
    const guest = guests.find((g) => g.uuid === uuid);
    if (!guest || guest.powerState !== 'Halted') continue;
    const at = entry.at;
    let last: Date | null;
    try {
      last = await toolstack.lastStartTime(guest);
    } catch (err) {
      log.warn({ guest: uuid, guestName: guest.name, err: (err as Error).message }, `${guest.name}: journalled start at ${at}, halted now, start time unreadable: not started again`);
      continue;
    }
    if (last !== null && startedAfterJournalLine(entry, last, clock)) {
      log.info({ guest: uuid, guestName: guest.name, journalledAt: at, startedAt: last.toISOString() }, `${guest.name}: started at ${last.toISOString()} in this boot and shut down since: not started again`);
      continue;
    }
    started.delete(uuid);
    log.warn({ guest: uuid, guestName: guest.name, journalledAt: at, lastStart: last?.toISOString() ?? null }, `${guest.name}: its start was journalled at ${at} but never reached the toolstack (last start ${last?.toISOString() ?? 'never'}); starting it now`);
  }
  return started;
}
