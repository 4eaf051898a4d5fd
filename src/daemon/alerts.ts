// The daemon's side of alerts: a sink when the config wants them and the backend can write them
// (XenAPI message.create; xl has no such place), and a bounded wait for them after a run.

import type { AlertTally, Config, PlanMode } from '../core/types.js';
import { createAlertSink, type AlertSink } from '../engine/alerts.js';
import type { Logger } from '../log.js';
import type { Toolstack } from '../toolstack/types.js';

/** How long a run waits, after its last guest, for its alerts to be written. */
const SETTLE_MS = 15_000;

export function alertSinkFor(config: Config, toolstack: Toolstack, log: Logger, hostUuid: string, mode: PlanMode): AlertSink | null {
  if (!config.alerts || !toolstack.sendAlert) return null;
  const send = toolstack.sendAlert.bind(toolstack);
  return createAlertSink({ send, log, hostUuid, mode });
}

/** Waits at most SETTLE_MS, and never more than `leftMs` (what remains of a deadline). */
export async function settleAlerts(sink: AlertSink, leftMs: number, log: Logger): Promise<AlertTally> {
  const tally = await sink.settle(Math.max(0, Math.min(SETTLE_MS, leftMs)));
  const level = tally.failed > 0 ? 'warn' : 'info';
  log[level]({ alerts: tally }, `alerts: ${tally.sent} written as XenAPI messages, ${tally.folded} folded into one, ${tally.failed} failed`);
  return tally;
}
