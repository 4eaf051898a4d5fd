// The boot journal says "guest X was asked to start at T in this boot"; X is Halted now. Either the
// daemon died between journalling and sending the start (it never started: start it now), or it
// started and someone shut it down since (leave it: never start a guest twice, never undo an admin).
// The guest's last start time (VM_metrics.start_time) tells them apart: a start sent after the
// journal line shows a start time at or after T. xapi keeps whole seconds, so T is rounded down.

import type { Logger } from '../log.js';
import type { Guest, Toolstack } from '../toolstack/types.js';

/** The journalled guests to treat as already started (the rest are started as if never journalled). */
export async function startedFromJournal(journal: ReadonlyMap<string, string>, guests: readonly Guest[], toolstack: Toolstack, log: Logger): Promise<Set<string>> {
  const started = new Set(journal.keys());
  if (!toolstack.lastStartTime) return started;
  for (const [uuid, at] of journal) {
    const guest = guests.find((g) => g.uuid === uuid);
    if (!guest || guest.powerState !== 'Halted') continue;
    let last: Date | null;
    try {
      last = await toolstack.lastStartTime(guest);
    } catch (err) {
      log.warn({ guest: uuid, guestName: guest.name, err: (err as Error).message }, `${guest.name}: journalled start at ${at}, halted now, start time unreadable: not started again`);
      continue;
    }
    const journalledSecond = Math.floor(Date.parse(at) / 1000) * 1000;
    if (last !== null && last.getTime() >= journalledSecond) {
      log.info({ guest: uuid, guestName: guest.name, journalledAt: at, startedAt: last.toISOString() }, `${guest.name}: started at ${last.toISOString()} in this boot and shut down since: not started again`);
      continue;
    }
    started.delete(uuid);
    log.warn({ guest: uuid, guestName: guest.name, journalledAt: at, lastStart: last?.toISOString() ?? null }, `${guest.name}: its start was journalled at ${at} but never reached the toolstack (last start ${last?.toISOString() ?? 'never'}); starting it now`);
  }
  return started;
}
