// Runtime checks of what the drivers hand the engine.

import { LONGEST_TIMER_MS } from '../core/clock.js';
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

export function checkDeadline(deadlineAt: number, hardReserveMs: number, now: number): void {
  if (!Number.isFinite(deadlineAt)) throw new Error(`engine: shutdown deadlineAt ${String(deadlineAt)} is invalid (allowed: a finite instant on the monotonic clock, ms)`);
  // A wall-clock instant (Date.now() + …) given for a monotonic one lies decades ahead: a caller's
  // mistake (the config allows at most a day), which once overflowed every timer and left all guests running.
  if (deadlineAt - now > LONGEST_TIMER_MS) {
    throw new Error(`engine: shutdown deadlineAt ${String(deadlineAt)} is ${Math.round((deadlineAt - now) / 86_400_000)} days away on the monotonic clock (allowed: at most ${LONGEST_TIMER_MS} ms ahead; a Date.now()-based instant is wall time — use core/clock.ts deadlineIn)`);
  }
  if (!Number.isFinite(hardReserveMs) || hardReserveMs < 0) {
    throw new Error(`engine: shutdown hardReserveMs ${String(hardReserveMs)} is invalid (allowed: a number of ms >= 0)`);
  }
}
