// One-line descriptions of plans and runs for logs and systemd's STATUS=.

import type { Plan, RunReport } from '../core/types.js';

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
