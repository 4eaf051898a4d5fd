// One log line per guest decision and one per outcome, always with the guest's uuid and name.

import type { GuestRef, GuestReport, Outcome } from '../core/types.js';
import type { Logger } from '../log.js';

export function logDecision(log: Logger, guest: GuestRef, action: string, reason: string): void {
  log.info({ guest: guest.uuid, guestName: guest.name, action, reason }, `${guest.name}: ${action} (${reason})`);
}

const WARN: ReadonlySet<Outcome> = new Set<Outcome>(['started-not-ready', 'hard-after-timeout', 'hard-no-clean-path', 'not-attempted']);
const ERROR: ReadonlySet<Outcome> = new Set<Outcome>(['start-failed', 'failed']);

export function logOutcome(log: Logger, r: GuestReport, ms: number | null): void {
  const level = ERROR.has(r.outcome) ? 'error' : WARN.has(r.outcome) ? 'warn' : 'info';
  const fields = {
    guest: r.guest.uuid,
    guestName: r.guest.name,
    action: r.action,
    outcome: r.outcome,
    reason: r.reason,
    ms,
    ...(r.errors.length ? { errors: r.errors } : {}),
  };
  log[level](fields, `${r.guest.name}: ${r.outcome}${r.reason ? ` (${r.reason})` : ''}`);
}
