// One-line descriptions of plans and runs for logs and systemd's STATUS=.

import type { Plan, RunReport } from '../core/types.js';
import type { Logger } from '../log.js';
import type { Progress } from '../engine/hooks.js';
import { createInFlightTracker } from '../engine/in-flight.js';
import { formatSeconds } from '../report/format/units.js';
import { printable } from '../report/format/table.js';
import { monotonicNow } from '../core/clock.js';

/**
 * STATUS= for systemctl status: the engine's line plus what it waits for ("waiting for db-01:
 * vm-data/ready written by the guest, 4m12s left"), from the run's own progress events.
 */
export function statusWithWaits(plan: Plan, setStatus: (line: string) => void): { onStatus: (line: string) => void; track: (p: Progress) => void } {
  const waits = createInFlightTracker(plan.groups.flatMap((g) => g.entries), monotonicNow);
  let engineLine = '';
  const show = () => {
    const waiting = waits.line({ seconds: formatSeconds, name: printable });
    setStatus(waiting ? `${engineLine}; ${waiting}` : engineLine);
  };
  return {
    onStatus(line) {
      engineLine = line;
      show();
    },
    track(p) {
      waits.track(p);
      show();
    },
  };
}

/** Plan warnings already logged by this daemon: the same per-guest problem is not news at the next plan. */
const warned = new Set<string>();

/**
 * Plan warnings (refused per-guest values…) at their own level the first time this daemon sees
 * them, at debug afterwards: the boot plan and the shutdown plan of one boot repeat the same ones.
 */
export function logPlanWarnings(log: Logger, plan: Plan): void {
  for (const w of plan.warnings) {
    const level = warned.has(w.message) ? 'debug' : (w.level ?? 'warn');
    warned.add(w.message);
    log[level]({ guest: w.guest?.uuid, guestName: w.guest?.name }, w.message);
  }
}

export function summarizePlan(plan: Plan): Record<string, unknown> {
  return {
    mode: plan.mode,
    groups: plan.groups.map((g) => ({ order: g.order, guests: g.entries.length })),
    acting: plan.totals.acting,
    skipped: plan.totals.skipped,
    budget: plan.budget ?? undefined,
  };
}

export function describeRun(report: RunReport): string {
  const parts = Object.entries(report.totals)
    .filter(([, n]) => n > 0)
    .map(([outcome, n]) => `${n} ${outcome}`);
  return parts.length ? parts.join(', ') : 'nothing to do';
}
