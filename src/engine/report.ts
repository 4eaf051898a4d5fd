// Assembling the run records: one GuestReport per plan entry, totals, and the exit code.

import type { GuestRef, GuestReport, Outcome, PlanEntry, PlanMode, RunReport } from '../core/types.js';
import { ToolstackError } from '../core/meanings.js';
import { skipsNotAGuest } from '../core/plan.js';
import { EngineTimeout, iso } from './time.js';
import type { Clock } from '../core/clock.js';
import { EXIT_DEGRADED, EXIT_FAILED, EXIT_OK, foreseenHardStop } from '../core/exit-codes.js';

const NO_OUTCOMES: Record<Outcome, number> = {
  started: 0,
  'started-not-ready': 0,
  'start-failed': 0,
  clean: 0,
  'hard-after-timeout': 0,
  'hard-by-policy': 0,
  'hard-no-clean-path': 0,
  migrated: 0,
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
  return { ...pendingReport(entry), outcome: 'skipped', reason: entry.reason, skipCode: entry.skipCode };
}

/** A toolstack error as [code, ...params] exactly as sent; anything else as [kind, message]. */
export function errorTuple(err: unknown): string[] {
  if (err instanceof ToolstackError) return [err.code, ...err.params];
  if (err instanceof EngineTimeout) return ['ENGINE_TIMEOUT', err.what, String(err.afterMs / 1000)];
  if (err instanceof Error) return [err.name || 'Error', err.message];
  return ['Error', String(err)];
}

/** Per outcome, how many guests; templates, snapshots and the control domain are listed in a report but are no guests. */
export function countOutcomes(guests: readonly GuestReport[]): Record<Outcome, number> {
  const totals = { ...NO_OUTCOMES };
  for (const g of guests) if (!(g.outcome === 'skipped' && skipsNotAGuest(g.skipCode))) totals[g.outcome] += 1;
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
 * after a timeout, or found without a clean path the plan had counted on (still a success for the
 * daemon); else 0. A hard stop the guest's policy asked for, or the plan foresaw for want of a clean
 * path (`foreseen` of the hard-no-clean-path outcomes), is as planned.
 */
export function shutdownExitCode(totals: Record<Outcome, number>, leftRunning: number, foreseen = 0): number {
  if (totals.failed > 0 || leftRunning > 0) return EXIT_FAILED;
  if (totals['hard-after-timeout'] > 0 || totals['hard-no-clean-path'] > foreseen) return EXIT_DEGRADED;
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
  /** The clock the instants above were read on (monotonic); stamps are projected to wall time by it. */
  clock?: Clock;
}): RunReport {
  const totals = countOutcomes(r.guests);
  const stamp = (at: number): string => iso(at, r.clock);
  return {
    mode: r.mode,
    bootId: r.bootId,
    hostUuid: r.hostUuid,
    startedAt: stamp(r.startedAt),
    endedAt: stamp(r.endedAt),
    deadlineAt: r.deadlineAt === null ? null : stamp(r.deadlineAt),
    trigger: r.trigger,
    guests: r.guests,
    groups: r.groups.map((g) => ({ order: g.order, startedAt: stamp(g.startedAt), endedAt: stamp(g.endedAt) })),
    totals,
    exitCode: r.mode === 'boot' ? bootExitCode(totals) : shutdownExitCode(totals, r.leftRunning.length, r.guests.filter(foreseenHardStop).length),
    leftRunning: r.leftRunning,
  };
}

/** Skipped entries that are guests: templates, snapshots and dom0 are not counted as skipped guests. */
export function guestsSkipped(skipped: readonly Pick<PlanEntry, 'skipCode'>[]): number {
  return skipped.filter((e) => !skipsNotAGuest(e.skipCode)).length;
}
