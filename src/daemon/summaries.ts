// One-line descriptions of plans and runs for logs and systemd's STATUS=.

import type { Plan, RunReport } from '../core/types.js';
import type { Logger } from '../log.js';

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
