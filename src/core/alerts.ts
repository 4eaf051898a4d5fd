// Alerts: what needs an admin, shaped as a XenAPI message (message.create) so that Xen Orchestra and
// XenCenter show it in their alarm/message views. Pure: what each alert says and how many one run
// may write; sending is the backend's (Toolstack.sendAlert) and the engine's (engine/alerts.ts).

import type { GuestRef, PlanMode } from './types.js';

/** The events that get an alert. The pool slices add theirs here (e.g. an SR that never came up). */
export type AlertKind =
  | 'start-failed'
  | 'hard-stopped'
  | 'stop-failed'
  | 'left-running'
  | 'skipped-maintenance'
  | 'host-maintenance'
  | 'skipped-sr-unplugged'
  | 'migration-failed';

/** One XenAPI message: message.create(name, priority, cls, obj_uuid, body). */
export interface Alert {
  /** Upper-case message name, shown as the alarm's title. */
  name: string;
  /** xapi's scale: 1 most urgent … 5 informational (XO shows 1–2 as errors, 3 as warnings). */
  priority: number;
  cls: 'VM' | 'Host';
  objUuid: string;
  /** A sentence a person understands, naming the guest, what happened and what to do. */
  body: string;
}

interface KindInfo {
  name: string;
  priority: number;
  /** What happened, completed by the guest's name and the detail; `on` says during which run. */
  what: (on: AlertOccasion) => string;
}

/**
 * The run an alert comes from, in the words of its body: the daemon's "at host boot", or the
 * command an admin ran ("by `xen-guests stop-all` (run by root)"), so that a hard stop before
 * maintenance is not reported in XO as if the host had gone down.
 */
export interface AlertOccasion {
  /** "at host boot", "by `xen-guests start-all` (run by root)". */
  at: string;
  /** Whose deadline: "host shutdown", "`xen-guests stop-all`". */
  run: string;
}

/** `command`: the admin command and who ran it ("stop-all", "root"); absent for the daemon. */
export function alertOccasion(mode: PlanMode, command?: { name: string; by: string }): AlertOccasion {
  if (!command) return mode === 'boot' ? { at: 'at host boot', run: 'host boot' } : { at: 'at host shutdown', run: 'host shutdown' };
  const run = `\`xen-guests ${command.name}\``;
  return { at: `by ${run} (run by ${command.by})`, run };
}

const KINDS: Record<AlertKind, KindInfo> = {
  'start-failed': { name: 'XEN_GUESTS_START_FAILED', priority: 2, what: (o) => `was not started ${o.at}` },
  'hard-stopped': { name: 'XEN_GUESTS_HARD_STOPPED', priority: 3, what: (o) => `was powered off (hard) ${o.at} after its clean shutdown did not finish in time` },
  'stop-failed': { name: 'XEN_GUESTS_STOP_FAILED', priority: 2, what: (o) => `could not be stopped ${o.at}` },
  'left-running': { name: 'XEN_GUESTS_LEFT_RUNNING', priority: 1, what: (o) => `was still running when the ${o.run} deadline passed` },
  'skipped-maintenance': { name: 'XEN_GUESTS_SKIPPED_MAINTENANCE', priority: 4, what: (o) => `was not started ${o.at}` },
  'host-maintenance': { name: 'XEN_GUESTS_HOST_MAINTENANCE', priority: 3, what: (o) => `started no guest ${o.at}: the host is in maintenance mode` },
  'skipped-sr-unplugged': { name: 'XEN_GUESTS_SR_UNPLUGGED', priority: 2, what: (o) => `was not started ${o.at}: a storage repository its disks are on is not plugged` },
  'migration-failed': { name: 'XEN_GUESTS_MIGRATION_FAILED', priority: 3, what: (o) => `could not be live-migrated to another host ${o.at} (on_stop=migrate) and was shut down instead` },
};

/** Alerts one run writes at most before folding the rest into one summary message. */
export const ALERTS_PER_RUN = 20;

/** The alert for one guest and event; `detail` says why (the error, the timeout, the reason). */
export function guestAlert(kind: AlertKind, guest: GuestRef, detail: string, on: AlertOccasion): Alert {
  const k = KINDS[kind];
  const because = detail.trim() === '' ? '' : ` (${detail.trim()})`;
  return {
    name: k.name,
    priority: k.priority,
    cls: 'VM',
    objUuid: guest.uuid,
    body: `xen-guests: guest ${JSON.stringify(guest.name)} ${k.what(on)}${because}. See \`xen-guests report\` on the host for the whole run.`,
  };
}

/** An alert about the host itself (e.g. maintenance mode: one message, not one per guest). */
export function hostAlert(kind: AlertKind, hostUuid: string, detail: string, on: AlertOccasion): Alert {
  const k = KINDS[kind];
  return { name: k.name, priority: k.priority, cls: 'Host', objUuid: hostUuid, body: `xen-guests: this host ${k.what(on)}${detail ? ` (${detail})` : ''}.` };
}

/** The one message standing for the alerts past the bound. */
export function foldedAlert(hostUuid: string, folded: number, byKind: ReadonlyMap<string, number>, on: AlertOccasion): Alert {
  const kinds = [...byKind].map(([name, n]) => `${n} ${name}`).join(', ');
  return {
    name: 'XEN_GUESTS_ALERTS_FOLDED',
    priority: 2,
    cls: 'Host',
    objUuid: hostUuid,
    body:
      `xen-guests: ${folded} more alert${folded === 1 ? '' : 's'} of this ${on.run} run were folded into this message ` +
      `(at most ${ALERTS_PER_RUN} are written per run): ${kinds}. See \`xen-guests report\` on the host for every guest.`,
  };
}

/**
 * The per-run bound: one alert per guest and kind, at most `limit` in all; the rest are folded
 * (counted by message name) into one summary.
 */
export interface AlertBudget {
  /** True when this alert may be written; false when it repeats one already taken or is folded. */
  admit(alert: Alert): boolean;
  readonly folded: number;
  readonly foldedByName: ReadonlyMap<string, number>;
}

export function alertBudget(limit = ALERTS_PER_RUN): AlertBudget {
  const seen = new Set<string>();
  const foldedByName = new Map<string, number>();
  let admitted = 0;
  let folded = 0;
  return {
    admit(alert) {
      const key = `${alert.name}\u0000${alert.objUuid}`;
      if (seen.has(key)) return false;
      seen.add(key);
      if (admitted < limit) {
        admitted += 1;
        return true;
      }
      folded += 1;
      foldedByName.set(alert.name, (foldedByName.get(alert.name) ?? 0) + 1);
      return false;
    },
    get folded() {
      return folded;
    },
    foldedByName,
  };
}
