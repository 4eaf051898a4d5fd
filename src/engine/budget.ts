// Shutdown time budget: one global deadline, the last `hardReserve` of it kept for hard stops.
// Every clean phase must end by the clean cut-off so that the hard phase always has its reserve.

export interface ShutdownClock {
  /** Absolute deadline of the whole run, monotonic ms (core/clock.ts). */
  deadlineAt: number;
  /** Part of the deadline kept for hard stops, ms. */
  hardReserveMs: number;
}

/** When every clean phase must be over. */
export function cleanCutoff(clock: ShutdownClock): number {
  return clock.deadlineAt - Math.max(0, clock.hardReserveMs);
}

/**
 * When this guest's clean phase ends: its own timeout counted from when its turn began, cut to what
 * remains of the clean budget. Never before `turnStartedAt` (the budget may already be spent).
 */
export function cleanDeadline(clock: ShutdownClock, turnStartedAt: number, timeoutSeconds: number): number {
  const own = turnStartedAt + Math.max(0, timeoutSeconds) * 1000;
  return Math.max(turnStartedAt, Math.min(own, cleanCutoff(clock)));
}

/** True when the guest's clean phase was shortened by the global budget rather than its own timeout. */
export function cutByBudget(clock: ShutdownClock, turnStartedAt: number, timeoutSeconds: number): boolean {
  return turnStartedAt + Math.max(0, timeoutSeconds) * 1000 > cleanCutoff(clock);
}

/** Whole seconds left until `at` (never negative), for status lines. */
export function secondsLeft(at: number, now: number): number {
  return Math.max(0, Math.ceil((at - now) / 1000));
}

/** Boot: the bound on start + readiness of one guest, counted from when its turn began. */
export function bootDeadline(turnStartedAt: number, timeoutSeconds: number): number {
  return turnStartedAt + Math.max(0, timeoutSeconds) * 1000;
}
