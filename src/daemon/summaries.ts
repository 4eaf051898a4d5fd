// One-line descriptions of plans and runs for logs and systemd's STATUS=.

import type { Plan, RunReport } from '../core/types.js';
import type { Logger } from '../log.js';
import type { Progress } from '../engine/hooks.js';
import { createInFlightTracker } from '../engine/in-flight.js';
import { formatSeconds } from '../report/format/units.js';
import { printable } from '../report/format/table.js';
import { monotonicNow } from '../core/clock.js';
import type { Witnesses } from './witnesses.js';

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

/**
 * Plan warnings (refused per-guest values…) at their own level the first time they are seen in this
 * host boot, by this daemon or an earlier one; at debug afterwards, since the boot plan and the
 * shutdown plan of one boot repeat the same ones. A warning is one guest's key and value, so a new
 * guest, key or value is always news; one info line says how many were only repeated at debug.
 */
export async function logPlanWarnings(log: Logger, plan: Plan, told: { bootId: string; witnesses: Witnesses }): Promise<void> {
  const earlier = await told.witnesses.warningsTold(told.bootId);
  const fresh: string[] = [];
  for (const w of plan.warnings) {
    const known = earlier.has(w.message);
    if (!known) fresh.push(w.message);
    log[known ? 'debug' : (w.level ?? 'warn')]({ guest: w.guest?.uuid, guestName: w.guest?.name }, w.message);
  }
  const repeated = plan.warnings.length - fresh.length;
  if (repeated > 0) {
    log.info({ repeated }, `${repeated} plan warning${repeated === 1 ? '' : 's'} already logged earlier in this boot (journalctl -b -u xen-guests) ${repeated === 1 ? 'is' : 'are'} repeated at debug only`);
  }
  if (fresh.length > 0) await told.witnesses.rememberWarningsTold(told.bootId, fresh);
}

export function summarizePlan(plan: Plan): Record<string, unknown> {
  return {
    mode: plan.mode,
    groups: plan.groups.map((g) => ({ order: g.order, guests: g.entries.length })),
    acting: plan.totals.acting,
    skipped: plan.totals.skipped,
    budget: plan.budget ?? undefined,
    // Which run the order inside the groups was learned from (null: name order), for the journal.
    withinGroup: plan.withinGroup ?? undefined,
  };
}

export function describeRun(report: RunReport): string {
  const parts = Object.entries(report.totals)
    .filter(([, n]) => n > 0)
    .map(([outcome, n]) => `${n} ${outcome}`);
  return parts.length ? parts.join(', ') : 'nothing to do';
}
