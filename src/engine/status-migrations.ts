// What `status` says of on_stop=migrate guests: while a host shutdown runs, where each of them is now
// (read live from the toolstack: migrating and to which host, already running on another host, still
// here waiting its turn or being shut down here); after it, from the last shutdown report, where each
// went and how long it took, or why it stayed. Pure: the command reads the state directory and the
// toolstack and hands both in.

import type { Guest, PoolHost } from '../toolstack/types.js';
import type { Outcome, RunReport, ShutdownSnapshot } from '../core/types.js';

export type MigrationState =
  /** Still running here; its migration has not been asked yet. */
  | 'waiting'
  /** A live migration is under way (`to` is null until xapi has reserved the destination). */
  | 'migrating'
  /** Runs on another host now (`to`). */
  | 'migrated'
  /** Still here with a shutdown under way: it could not move, or it fell back. */
  | 'stopping-here'
  /** Halted or suspended here: it was not moved. */
  | 'stopped-here'
  /** The VM no longer exists. */
  | 'gone'
  /** Last run only: it was not moved (`why`), then ended as `then`. */
  | 'not-moved';

export interface GuestMigration {
  uuid: string;
  name: string;
  state: MigrationState;
  /** Destination (migrating / migrated), or the host that was tried (not-moved); null when none. */
  to: PoolHost | null;
  /** Last run only: seconds from asking to the end of the attempt. */
  seconds: number | null;
  /** Last run only: why it did not move. */
  why: string | null;
  /** Last run only, when it did not move: how it ended here. */
  then: Outcome | null;
}

export interface MigrationsView {
  /** 'under-way': a shutdown run of this boot began and has recorded no report yet (it runs, or it died); 'last': the last shutdown report. */
  run: 'under-way' | 'last';
  /** ISO: when the shutdown run began (its snapshot, or its report's start). */
  since: string;
  guests: GuestMigration[];
}

export interface MigrationsInput {
  hostUuid: string;
  /** The current boot id; null when it could not be read (then no run counts as under way). */
  bootId: string | null;
  snapshot: ShutdownSnapshot | null;
  lastShutdown: RunReport | null;
  /** Every VM, read now. */
  guests: Guest[];
  /** Host uuid → name, for every host of the pool. */
  hostNames: ReadonlyMap<string, string>;
}

/**
 * A snapshot of this boot that the last report does not name: a shutdown run began and has not ended
 * (or was cut off). Told by identity (the report names its snapshot), so a clock step between the
 * snapshot and the report cannot flip it; a report of an older version, naming none, is placed by
 * its wall times as before.
 */
export function shutdownUnderWay(i: Pick<MigrationsInput, 'hostUuid' | 'bootId' | 'snapshot' | 'lastShutdown'>): boolean {
  const s = i.snapshot;
  if (!s || i.bootId === null || s.bootId !== i.bootId || s.hostUuid !== i.hostUuid) return false;
  const last = i.lastShutdown;
  if (!last) return true;
  if (last.snapshotTakenAt === undefined) return Date.parse(last.startedAt) < Date.parse(s.takenAt);
  return !(last.bootId === s.bootId && last.snapshotTakenAt === s.takenAt);
}

/** The migrations to show, or null when there are none (no on_stop=migrate guest in the run). */
export function migrationsView(i: MigrationsInput): MigrationsView | null {
  if (shutdownUnderWay(i)) {
    const guests = underWay(i);
    return guests.length ? { run: 'under-way', since: i.snapshot!.takenAt, guests } : null;
  }
  if (!i.lastShutdown || i.lastShutdown.hostUuid !== i.hostUuid) return null;
  const guests = fromReport(i.lastShutdown);
  return guests.length ? { run: 'last', since: i.lastShutdown.startedAt, guests } : null;
}

/** The name shown for a host missing from the host list (unreadable, or the host left the pool). */
export const UNKNOWN_HOST_NAME = 'unknown host';

function hostOf(uuid: string | null | undefined, names: ReadonlyMap<string, string>): PoolHost | null {
  return uuid ? { uuid, name: names.get(uuid) ?? UNKNOWN_HOST_NAME } : null;
}

const STOPPING = new Set(['clean_shutdown', 'hard_shutdown', 'shutdown']);

function underWay(i: MigrationsInput): GuestMigration[] {
  const now = new Map(i.guests.map((g) => [g.uuid, g]));
  const movers = i.snapshot!.guests.filter((g) => g.policy.onStop === 'migrate' && g.residentOn === i.hostUuid && (g.powerState === 'Running' || g.powerState === 'Paused'));
  return movers.map((s) => {
    const g = now.get(s.uuid);
    const base = { uuid: s.uuid, name: g?.name ?? s.name, seconds: null, why: null, then: null };
    const { state, to } = where(g, i.hostUuid);
    return { ...base, state, to: hostOf(to, i.hostNames) };
  });
}

function where(g: Guest | undefined, hostUuid: string): { state: MigrationState; to: string | null } {
  if (!g) return { state: 'gone', to: null };
  const ops = Object.values(g.currentOperations);
  if (ops.includes('pool_migrate')) return { state: 'migrating', to: g.migratingTo ?? null };
  const live = g.powerState === 'Running' || g.powerState === 'Paused';
  if (live && g.residentOn !== null && g.residentOn !== hostUuid) return { state: 'migrated', to: g.residentOn };
  if (!live) return { state: 'stopped-here', to: null };
  return { state: ops.some((o) => STOPPING.has(o)) ? 'stopping-here' : 'waiting', to: null };
}

function fromReport(report: RunReport): GuestMigration[] {
  return report.guests.flatMap((r) => {
    const m = r.migration;
    if (!m) return [];
    const moved = m.failed === null && r.outcome === 'migrated';
    return [{ uuid: r.guest.uuid, name: r.guest.name, state: moved ? 'migrated' : 'not-moved', to: m.to, seconds: m.seconds, why: m.failed, then: moved ? null : r.outcome }];
  });
}
