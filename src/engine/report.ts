// Assembling the run records: one GuestReport per plan entry, totals, and the exit code.

import type { GuestRef, GuestReport, Outcome, PlanEntry, PlanMode, RunReport } from '../core/types.js';
import { ToolstackError } from '../core/meanings.js';
import { EngineTimeout, iso } from './time.js';
import { EXIT_DEGRADED, EXIT_FAILED, EXIT_OK } from '../core/exit-codes.js';

const NO_OUTCOMES: Record<Outcome, number> = {
  started: 0,
  'started-not-ready': 0,
  'start-failed': 0,
  clean: 0,
  'hard-after-timeout': 0,
  'hard-by-policy': 0,
  'hard-no-clean-path': 0,
  'already-halted': 0,
  'halted-by-itself': 0,
  gone: 0,
  failed: 0,
  'not-attempted': 0,
  skipped: 0,
};

/** Exit codes shared by the daemon and start-all / stop-all. */
export { EXIT_DEGRADED, EXIT_FAILED, EXIT_OK } from '../core/exit-codes.js';

/** A report for an entry whose part has not begun; the runner fills it in. */
export function pendingReport(entry: PlanEntry): GuestReport {
  return {
    guest: { ...entry.guest },
    order: entry.order,
    action: entry.action,
    outcome: 'not-attempted',
    reason: null,
    startedAt: null,
    phase1EndAt: null,
    phase2At: null,
    endedAt: null,
    errors: [],
  };
}

export function skippedReport(entry: PlanEntry): GuestReport {
  return { ...pendingReport(entry), outcome: 'skipped', reason: entry.reason };
}

/** A toolstack error as [code, ...params] exactly as sent; anything else as [kind, message]. */
export function errorTuple(err: unknown): string[] {
  if (err instanceof ToolstackError) return [err.code, ...err.params];
  if (err instanceof EngineTimeout) return ['ENGINE_TIMEOUT', err.what, String(err.afterMs / 1000)];
  if (err instanceof Error) return [err.name || 'Error', err.message];
  return ['Error', String(err)];
}

export function countOutcomes(guests: readonly GuestReport[]): Record<Outcome, number> {
  const totals = { ...NO_OUTCOMES };
  for (const g of guests) totals[g.outcome] += 1;
  return totals;
}

/**
 * Boot: 1 when a start failed; 3 when a guest started but was not ready in time, or was not
 * attempted (boot plan aborted); else 0.
 */
export function bootExitCode(totals: Record<Outcome, number>): number {
  if (totals['start-failed'] > 0 || totals.failed > 0) return EXIT_FAILED;
  if (totals['started-not-ready'] > 0 || totals['not-attempted'] > 0) return EXIT_DEGRADED;
  return EXIT_OK;
}

/**
 * Shutdown: 1 when a guest could not be stopped or is left running; 3 when some were hard-stopped
 * after a timeout or had no clean path (still a success for the daemon); else 0. A hard stop the
 * guest's policy asked for is as planned.
 */
export function shutdownExitCode(totals: Record<Outcome, number>, leftRunning: number): number {
  if (totals.failed > 0 || leftRunning > 0) return EXIT_FAILED;
  if (totals['hard-after-timeout'] > 0 || totals['hard-no-clean-path'] > 0) return EXIT_DEGRADED;
  return EXIT_OK;
}

export function runReport(r: {
  mode: PlanMode;
  bootId: string;
  hostUuid: string;
  trigger: string;
  startedAt: number;
  endedAt: number;
  deadlineAt: number | null;
  guests: GuestReport[];
  groups: { order: number; startedAt: number; endedAt: number }[];
  leftRunning: GuestRef[];
}): RunReport {
  const totals = countOutcomes(r.guests);
  return {
    mode: r.mode,
    bootId: r.bootId,
    hostUuid: r.hostUuid,
    startedAt: iso(r.startedAt),
    endedAt: iso(r.endedAt),
    deadlineAt: r.deadlineAt === null ? null : iso(r.deadlineAt),
    trigger: r.trigger,
    guests: r.guests,
    groups: r.groups.map((g) => ({ order: g.order, startedAt: iso(g.startedAt), endedAt: iso(g.endedAt) })),
    totals,
    exitCode: r.mode === 'boot' ? bootExitCode(totals) : shutdownExitCode(totals, r.leftRunning.length),
    leftRunning: r.leftRunning,
  };
}
