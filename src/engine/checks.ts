// Runtime checks of what the drivers hand the engine.

import type { Plan, PlanMode } from '../core/types.js';

/** Status lines at most this often; a 1,000-guest run must not produce thousands. */
export const STATUS_INTERVAL_MS = 1_000;

export function checkPlanMode(plan: Plan, mode: PlanMode): void {
  if (plan.mode !== mode) throw new Error(`engine: a ${plan.mode} plan was given to the ${mode} runner (allowed: a ${mode} plan)`);
}

export function checkParallelism(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`engine: ${what} parallelism ${String(value)} is invalid (allowed: an integer >= 1)`);
  }
  return value;
}

/** Node's timers hold at most 2^31-1 ms (~24.8 days); a longer wait fires after 1 ms instead. */
export const MAX_WAIT_MS = 2 ** 31 - 1;

export function checkDeadline(deadlineAt: number, hardReserveMs: number, now: number): void {
  if (!Number.isFinite(deadlineAt)) throw new Error(`engine: shutdown deadlineAt ${String(deadlineAt)} is invalid (allowed: a finite instant on the monotonic clock, ms)`);
  // A wall-clock instant (Date.now() + …) given for a monotonic one lies decades ahead: every
  // bounded wait would overflow the timer, end at once, and leave every guest running.
  if (deadlineAt - now > MAX_WAIT_MS) {
    throw new Error(`engine: shutdown deadlineAt ${String(deadlineAt)} is ${Math.round((deadlineAt - now) / 86_400_000)} days away on the monotonic clock (allowed: at most ${MAX_WAIT_MS} ms ahead; a Date.now()-based instant is wall time — use core/clock.ts deadlineIn)`);
  }
  if (!Number.isFinite(hardReserveMs) || hardReserveMs < 0) {
    throw new Error(`engine: shutdown hardReserveMs ${String(hardReserveMs)} is invalid (allowed: a number of ms >= 0)`);
  }
}
