// What the engine's drivers (the daemon, start-all / stop-all) hand it, and what it tells them back.

import type { Logger } from '../log.js';
import type { GuestRef, PlanMode } from '../core/types.js';
import { systemClock, type Clock } from '../core/clock.js';

/** One step of one guest, as it happens. */
export type GuestStep =
  // boot
  | 'storage-wait' // its SRs are not plugged on this host: plugging them before the start
  | 'start-requested'
  | 'start-awaited' // someone else's start was in flight: waiting for it instead
  | 'started'
  | 'ready'
  | 'not-ready'
  | 'start-failed'
  // shutdown
  | 'clean-requested'
  | 'clean-refused'
  | 'halted'
  | 'cancel-requested'
  | 'hard-requested'
  | 'migrate-requested'
  | 'migrated'
  | 'stopped'
  | 'failed'
  // both
  | 'not-attempted'
  | 'gone';

export interface Progress {
  mode: PlanMode;
  guest: GuestRef;
  step: GuestStep;
  /** 1-based index of the group being run and the number of groups; group 0 is the final sweep. */
  group: number;
  groups: number;
  /** Guests whose part has ended, of `total` guests the run acts on. */
  done: number;
  total: number;
  /** Boot: guests started and ready so far. Shutdown: guests stopped so far. */
  succeeded: number;
  /** Monotonic ms of the step (the engine's clock). */
  at: number;
  /** With 'storage-wait': the names of the SRs the guest waits for. */
  srs?: string[];
}

export interface EngineHooks {
  log: Logger;
  /** A human status line (systemd STATUS=, a terminal); rate-limited by the engine. */
  onStatus?: (line: string) => void;
  /** Every guest step: the daemon extends systemd's stop timeout while work moves; the CLI draws progress. */
  onProgress?: (p: Progress) => void;
  /**
   * Monotonic time for every wait and deadline, wall time for report stamps. Deadlines are handed to
   * the toolstack, so a substitute must keep now() on CLOCK_MONOTONIC (core/clock.ts).
   */
  clock?: Clock;
}

/** Hooks with defaults filled in; a throwing callback never breaks a run. */
export interface ResolvedHooks {
  log: Logger;
  status: (line: string) => void;
  progress: (p: Progress) => void;
  clock: Clock;
  /** clock.now, bound. */
  now: () => number;
}

export function resolveHooks(hooks: EngineHooks): ResolvedHooks {
  const { log } = hooks;
  const clock = hooks.clock ?? systemClock;
  return {
    log,
    clock,
    now: () => clock.now(),
    status: guarded(hooks.onStatus, log, 'onStatus'),
    progress: guarded(hooks.onProgress, log, 'onProgress'),
  };
}

function guarded<A>(fn: ((a: A) => void) | undefined, log: Logger, name: string): (a: A) => void {
  if (!fn) return () => undefined;
  return (a) => {
    try {
      fn(a);
    } catch (err) {
      log.warn({ err, hook: name }, `engine hook ${name} threw; ignored`);
    }
  };
}
