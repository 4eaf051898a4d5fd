// What a run is waiting for right now, guest by guest, from the engine's own progress events: the
// guest, on what (its start, its readiness check, its clean shutdown, a hard stop) and how long its
// timeout has left. Start-all's live line and the daemon's STATUS= say it, so that a five-minute
// readiness wait is never just "group 1/5". Pure: time comes from the caller's monotonic clock.

import type { PlanEntry } from '../core/types.js';
import type { GuestStep, Progress } from './hooks.js';
import { describeReadiness } from './ready.js';

export interface InFlight {
  name: string;
  waitingFor: 'storage' | 'start' | 'readiness' | 'clean' | 'hard';
  /** Monotonic ms when its timeout started counting (the start request, the clean request). */
  since: number;
  /** Seconds: boot, start + readiness; shutdown, the clean phase. */
  timeout: number;
  /** The readiness check in words, e.g. "vm-data/ready written by the guest". */
  ready: string;
  /** Waiting for storage: the SRs not plugged yet. */
  srs?: string[];
}

/** How the caller writes seconds and names (its own units; control characters escaped or not). */
export interface InFlightFormat {
  seconds: (s: number) => string;
  name?: (n: string) => string;
}

/** How many guests a line names before "+N more". */
const NAMED_IN_LINE = 2;

const FINAL: ReadonlySet<GuestStep> = new Set<GuestStep>(['ready', 'not-ready', 'start-failed', 'halted', 'stopped', 'migrated', 'failed', 'not-attempted', 'gone']);

/** Where each step leaves a guest: still in flight (and waiting for what), or done. */
function nextWait(step: GuestStep): InFlight['waitingFor'] | 'done' | null {
  switch (step) {
    case 'storage-wait':
      return 'storage';
    case 'start-requested':
    case 'start-awaited':
      return 'start';
    case 'started':
      return 'readiness';
    case 'clean-requested':
      return 'clean';
    case 'clean-refused':
    case 'cancel-requested':
    case 'hard-requested':
      return 'hard';
    default:
      return FINAL.has(step) ? 'done' : null;
  }
}

/** One guest, e.g. "db-01: vm-data/ready written by the guest, 4m12s left". */
export function describeInFlight(g: InFlight, now: number, fmt: InFlightFormat): string {
  const left = g.timeout - (now - g.since) / 1000;
  const name = fmt.name ? fmt.name(g.name) : g.name;
  switch (g.waitingFor) {
    case 'storage':
      return `${name}: SR ${(g.srs ?? []).map((sr) => `'${sr}'`).join(', ')} not plugged, ${fmt.seconds(Math.max(0, left))} left`;
    case 'start':
      return `${name}: starting, ${fmt.seconds(Math.max(0, left))} left`;
    case 'readiness':
      return left > 0 ? `${name}: ${g.ready}, ${fmt.seconds(left)} left` : `${name}: ${g.ready}, past its ${fmt.seconds(g.timeout)}`;
    case 'clean':
      return left > 0 ? `${name}: clean shutdown, ${fmt.seconds(left)} left` : `${name}: PAST its ${fmt.seconds(g.timeout)} clean timeout`;
    case 'hard':
      return `${name}: hard stop`;
  }
}

/** "SR 'nfs-vms' (2 guests), 4m left": per SR, the guests held up and the longest time left among them. */
function storageWaits(all: readonly InFlight[], now: number, fmt: InFlightFormat): string[] {
  const bySr = new Map<string, { guests: number; left: number }>();
  for (const g of all) {
    if (g.waitingFor !== 'storage') continue;
    const left = Math.max(0, g.timeout - (now - g.since) / 1000);
    for (const sr of g.srs ?? []) {
      const seen = bySr.get(sr);
      bySr.set(sr, { guests: (seen?.guests ?? 0) + 1, left: Math.max(seen?.left ?? 0, left) });
    }
  }
  return [...bySr].map(([sr, w]) => `SR '${fmt.name ? fmt.name(sr) : sr}' (${w.guests} guest${w.guests === 1 ? '' : 's'}), ${fmt.seconds(w.left)} left`);
}

export interface InFlightTracker {
  track(p: Progress): void;
  /** "waiting for a: …; b: … +3 more", or '' when nothing is in flight. */
  line(fmt: InFlightFormat): string;
}

export function createInFlightTracker(entries: readonly PlanEntry[], monotonicNow: () => number): InFlightTracker {
  const planned = new Map(entries.map((e) => [e.guest.uuid, e]));
  const inFlight = new Map<string, InFlight>();
  return {
    track(p) {
      const next = nextWait(p.step);
      if (next === null) return;
      if (next === 'done') {
        inFlight.delete(p.guest.uuid);
        return;
      }
      const entry = planned.get(p.guest.uuid);
      const before = inFlight.get(p.guest.uuid);
      // The timeout counts from the storage wait or the start request (boot), or the clean request (shutdown).
      const restarts = (next === 'start' && before?.waitingFor !== 'storage') || next === 'storage' || next === 'clean' || !before;
      inFlight.set(p.guest.uuid, {
        name: p.guest.name,
        waitingFor: next,
        since: restarts ? monotonicNow() : before.since,
        timeout: entry?.timeout ?? 0,
        ready: describeReadiness(entry?.ready ?? { kind: 'running' }),
        ...(next === 'storage' && p.srs ? { srs: p.srs } : {}),
      });
    },
    line(fmt) {
      if (inFlight.size === 0) return '';
      const all = [...inFlight.values()];
      // Storage first and per SR ("SR 'nfs-vms' (2 guests)"): one missing SR holds up many guests.
      const storage = storageWaits(all, monotonicNow(), fmt);
      const others = all.filter((g) => g.waitingFor !== 'storage');
      const parts = [...storage, ...others.map((g) => describeInFlight(g, monotonicNow(), fmt))];
      const named = parts.slice(0, NAMED_IN_LINE);
      const more = parts.length > NAMED_IN_LINE ? ` +${parts.length - NAMED_IN_LINE} more` : '';
      return `waiting for ${named.join('; ')}${more}`;
    },
  };
}
