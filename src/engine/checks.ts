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

export function checkDeadline(deadlineAt: number, hardReserveMs: number): void {
  if (!Number.isFinite(deadlineAt)) throw new Error(`engine: shutdown deadlineAt ${String(deadlineAt)} is invalid (allowed: a finite instant on the monotonic clock, ms)`);
  if (!Number.isFinite(hardReserveMs) || hardReserveMs < 0) {
    throw new Error(`engine: shutdown hardReserveMs ${String(hardReserveMs)} is invalid (allowed: a number of ms >= 0)`);
  }
}
