// Which guest of an order group goes first. A group ends when its slowest guest is done, and with
// fewer slots than guests a guest asked last can hold the group long after the others are done: a
// hung guest asked last keeps its group open for its whole clean timeout after every other guest
// halted. Longest-processing-time first (LPT, Graham 1969) asks first the guests that took longest,
// so that their long spans overlap the many short ones. The durations come from the last run of the
// same kind (the state directory's last boot or shutdown report); the plan stays a pure function of
// its inputs: the report is one of them.

import type { GuestReport, LastRunTime, OrderWithinGroup, Outcome, PlanEntry, PlanGroup, PlanMode, RunReport, WithinGroupOrder } from './types.js';

export const ORDER_WITHIN_GROUP_VALUES: readonly OrderWithinGroup[] = ['longest-first', 'name'];

/**
 * Outcomes whose span is the time the guest held its group. At boot: ready, or started but not
 * ready by its timeout (it held the group that long). A start-failed in 0 s says nothing of how
 * long a start takes, and a guest gone, skipped or never attempted took no time at all: unknown.
 */
const MEASURED: Record<PlanMode, ReadonlySet<Outcome>> = {
  boot: new Set<Outcome>(['started', 'started-not-ready']),
  // A hard stop after the clean timeout is the very guest this is for; a hard stop by policy or for
  // lack of a clean path and a migration are real spans too. "failed" (the toolstack refused) and a
  // guest that halted by itself before its request are no measure of the next night.
  shutdown: new Set<Outcome>(['clean', 'hard-after-timeout', 'hard-by-policy', 'hard-no-clean-path', 'migrated']),
};

/**
 * Seconds the guest held its group in that run: at boot from its slot to ready or its timeout (its
 * wait for storage and its queue for a slot are not its own time), at shutdown from its turn to
 * halted (or migrated). null when the outcome says nothing.
 */
function heldSeconds(g: GuestReport, mode: PlanMode): number | null {
  if (!MEASURED[mode].has(g.outcome)) return null;
  const ms = g.heldMs !== undefined ? g.heldMs : wallSpan(g, mode);
  // To the tenth of a second `plan` shows: guests that differ by less are equal (ordered by name),
  // so the order of the many short ones does not shuffle with each night's noise.
  return ms !== null && Number.isFinite(ms) && ms >= 0 ? Math.round(ms / 100) / 10 : null;
}

/**
 * Reports of older versions have no heldMs: their ISO stamps are the best left, from the end of a
 * storage wait at boot (the slot entry was not recorded), and a clock step between them is theirs.
 */
function wallSpan(g: GuestReport, mode: PlanMode): number | null {
  const from = mode === 'boot' && g.storageWait ? g.storageWait.endedAt : g.startedAt;
  return from === null || g.endedAt === null ? null : Date.parse(g.endedAt) - Date.parse(from);
}

/** The last run's guests by uuid, when it is a run of this kind on this host (another host's says nothing here). */
function usableRun(report: RunReport | null | undefined, mode: PlanMode, hostUuid: string): RunReport | null {
  return report && report.mode === mode && report.hostUuid === hostUuid ? report : null;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Longest first, then name, then uuid: deterministic for any input. */
function longestFirst(a: PlanEntry, b: PlanEntry): number {
  const byTime = b.lastRun!.rankedBy - a.lastRun!.rankedBy;
  if (byTime !== 0) return byTime;
  if (a.guest.name !== b.guest.name) return a.guest.name < b.guest.name ? -1 : 1;
  return a.guest.uuid < b.guest.uuid ? -1 : a.guest.uuid > b.guest.uuid ? 1 : 0;
}

/**
 * Orders each group's entries (in place; they come in name order) by the rule, and says how. Under
 * longest-first every entry gets its lastRun, which `plan` shows so an admin sees why it is where it is.
 */
export function orderWithinGroups(groups: readonly PlanGroup[], rule: OrderWithinGroup, mode: PlanMode, hostUuid: string, lastRun: RunReport | null | undefined): WithinGroupOrder {
  const run = rule === 'longest-first' ? usableRun(lastRun, mode, hostUuid) : null;
  if (run === null) return { rule, lastRun: null };
  const inRun = new Map(run.guests.map((g) => [g.guest.uuid, g]));
  const times = new Map<PlanEntry, Pick<LastRunTime, 'seconds' | 'outcome'>>();
  for (const entry of groups.flatMap((g) => g.entries)) {
    const g = inRun.get(entry.guest.uuid);
    times.set(entry, { seconds: g ? heldSeconds(g, mode) : null, outcome: g?.outcome ?? null });
  }
  // A guest with no known duration (new, or its last outcome says nothing) is most likely a typical
  // one: ranked as the median of the known ones it goes after the known-long guests, which must not
  // be pushed back by a crowd of newcomers, and before the known-short ones, since a long guest
  // placed last costs the group its whole span while a short one placed early costs next to nothing.
  // With no known duration at all every guest ranks the same, and name order stands.
  const known = [...times.values()].flatMap((t) => (t.seconds === null ? [] : [t.seconds]));
  const typical = known.length ? median(known) : 0;
  for (const [entry, t] of times) entry.lastRun = { ...t, rankedBy: t.seconds ?? typical };
  for (const group of groups) group.entries.sort(longestFirst);
  return { rule, lastRun: { startedAt: run.startedAt, trigger: run.trigger } };
}
