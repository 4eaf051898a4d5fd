// The alert sink the engine's drivers raise alerts into while a run goes on. Raising never waits and
// never throws: messages go out one at a time behind the run, so a slow or failing message.create
// cannot hold up a start or a stop. One alert per guest and kind, at most ALERTS_PER_RUN per run;
// the rest are folded into one summary message when the run settles its alerts.
//
// For the other pool slices: call `raise(kind, guest, detail)` from wherever the event is decided
// (add the kind to core/alerts.ts). Whoever runs a plan — the daemon at host boot and shutdown,
// `start-all` / `stop-all` by hand — builds the sink with alertSinkFor and settles it with
// settleAlerts after the run: one place, so both are bounded alike and honour `alerts = false`.

import { type Alert, type AlertBudget, type AlertKind, alertBudget, alertOccasion, foldedAlert, guestAlert, hostAlert } from '../core/alerts.js';
import type { AlertTally, Config, GuestReport, GuestRef, Plan, PlanMode } from '../core/types.js';
import type { Logger } from '../log.js';
import type { Toolstack } from '../toolstack/types.js';

export interface AlertSink {
  /** Queue the alert for a guest; never waits, never throws. */
  raise(kind: AlertKind, guest: GuestRef, detail: string): void;
  /** Queue an alert about the host itself. */
  raiseHost(kind: AlertKind, detail: string): void;
  /**
   * Write the summary of what was folded, then wait at most `withinMs` for the queue to drain.
   * What is still unsent then is counted as failed (and logged); the run does not wait longer.
   */
  settle(withinMs: number): Promise<AlertTally>;
}

export interface AlertSinkOptions {
  /** message.create through the backend. */
  send: (alert: Alert) => Promise<void>;
  log: Logger;
  hostUuid: string;
  mode: PlanMode;
  /** The admin command that runs the plan (its name and who ran it); absent for the daemon. */
  command?: { name: string; by: string };
  budget?: AlertBudget;
}

export function createAlertSink(opts: AlertSinkOptions): AlertSink {
  const { log } = opts;
  const budget = opts.budget ?? alertBudget();
  const on = alertOccasion(opts.mode, opts.command);
  const tally: AlertTally = { sent: 0, folded: 0, failed: 0 };
  let queued = 0;
  let chain: Promise<void> = Promise.resolve();

  function enqueue(alert: Alert): void {
    queued += 1;
    chain = chain.then(async () => {
      try {
        await opts.send(alert);
        tally.sent += 1;
        log.info({ alert: alert.name, cls: alert.cls, obj: alert.objUuid }, 'alert written as a XenAPI message');
      } catch (err) {
        tally.failed += 1;
        log.warn({ alert: alert.name, obj: alert.objUuid, err: err instanceof Error ? err.message : String(err) }, 'could not write an alert as a XenAPI message; carrying on');
      } finally {
        queued -= 1;
      }
    });
  }

  function offer(alert: Alert): void {
    if (budget.admit(alert)) enqueue(alert);
  }

  return {
    raise: (kind, guest, detail) => offer(guestAlert(kind, guest, detail, on)),
    raiseHost: (kind, detail) => offer(hostAlert(kind, opts.hostUuid, detail, on)),
    async settle(withinMs) {
      tally.folded = budget.folded;
      if (budget.folded > 0) enqueue(foldedAlert(opts.hostUuid, budget.folded, budget.foldedByName, on));
      let timer: NodeJS.Timeout | undefined;
      const drained = await Promise.race([
        chain.then(() => true),
        new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, withinMs)))),
      ]).finally(() => clearTimeout(timer));
      if (!drained) {
        log.warn({ unsent: queued, withinMs }, 'alerts still unsent when their time was up; given up');
        return { ...tally, failed: tally.failed + queued };
      }
      return { ...tally };
    },
  };
}

/** What a finished guest's report needs an admin for, if anything. */
export function alertOfReport(r: GuestReport): { kind: AlertKind; detail: string } | null {
  const why = [r.reason, r.errors.length ? r.errors[r.errors.length - 1]!.join(' ') : ''].filter(Boolean).join('; ');
  switch (r.outcome) {
    case 'start-failed':
      // Its SR never became pluggable here: the storage needs the admin, not the guest.
      return { kind: r.storageWait && !r.storageWait.plugged ? 'skipped-sr-unplugged' : 'start-failed', detail: why };
    case 'hard-after-timeout':
      return { kind: 'hard-stopped', detail: why };
    case 'failed':
      return { kind: r.action === 'start' ? 'start-failed' : 'stop-failed', detail: why };
    default:
      return null;
  }
}

/** The plan's skips that need an admin: guests in maintenance, and one host alert for host maintenance. */
export function raisePlanSkips(sink: AlertSink, plan: Plan): void {
  let hostMaintenance: string | null = null;
  let held = 0;
  for (const e of plan.skipped) {
    if (e.skipCode === 'maintenance') sink.raise('skipped-maintenance', e.guest, e.reason ?? '');
    if (e.skipCode === 'host-maintenance') {
      hostMaintenance = e.reason;
      held += 1;
    }
  }
  if (hostMaintenance !== null) sink.raiseHost('host-maintenance', `${hostMaintenance}; ${held} guest${held === 1 ? '' : 's'} not started`);
}

/** How long a run waits, after its last guest, for its alerts to be written. */
const SETTLE_MS = 15_000;

/**
 * The sink for one run, or null when the config turns alerts off or the backend has no place for
 * them (xl: no message.create; its events go to the journal only).
 */
export function alertSinkFor(
  config: Config,
  toolstack: Toolstack,
  log: Logger,
  hostUuid: string,
  mode: PlanMode,
  command?: { name: string; by: string },
): AlertSink | null {
  if (!config.alerts || !toolstack.sendAlert) return null;
  const send = toolstack.sendAlert.bind(toolstack);
  return createAlertSink({ send, log, hostUuid, mode, ...(command ? { command } : {}) });
}

/** Waits at most SETTLE_MS, and never more than `leftMs` (what remains of a deadline). */
export async function settleAlerts(sink: AlertSink, leftMs: number, log: Logger): Promise<AlertTally> {
  const tally = await sink.settle(Math.max(0, Math.min(SETTLE_MS, leftMs)));
  const level = tally.failed > 0 ? 'warn' : 'info';
  log[level]({ alerts: tally }, `alerts: ${tally.sent} written as XenAPI messages, ${tally.folded} folded into one, ${tally.failed} failed`);
  return tally;
}
