// on_stop=migrate at host shutdown: move the guest to another host of the pool instead of stopping it.
//
//  1. Read it fresh. Not running here any more (halted, deleted, moved, paused): stop-guest.ts
//     decides and reports, as for any guest.
//  2. Ask the toolstack for a destination (xapi's own check, VM.assert_can_boot_here: another
//     enabled host with room that reaches the guest's disks) and live-migrate it there
//     (VM.pool_migrate), one guest at a time per slot of the group's parallelism.
//  3. The migration gets at most half of what is left of the clean budget when its turn comes, so
//     that the fallback still has the other half for a clean shutdown, and the hard reserve after
//     it: the global deadline holds whatever the migration does. At its end the migration is
//     cancelled.
//  4. A guest that cannot move (no host with room, local disks, a destination disabled meanwhile,
//     a migration failing half-way or running out of its time) and still runs here falls back to
//     clean-then-hard (stop-guest.ts). A destination refused before the copy began is replaced once
//     by a fresh choice, since the pool may have changed (a host disabled during our shutdown).
//
// Why VM.pool_migrate per guest and not host.evacuate: evacuate moves every guest at once, in no
// order of ours, with one deadline for all and no way to stop a single guest that cannot move; the
// shutdown order groups, the per-guest fallback and the global deadline need one migration per guest.

import type { GuestReport, MigrationReport, PlanEntry } from '../core/types.js';
import type { Guest, PoolHost, PoolMigration } from '../toolstack/types.js';
import { cleanCutoff } from './budget.js';
import { logDecision, logOutcome } from './guest-log.js';
import { isLive } from './ops.js';
import { errorTuple, pendingReport } from './report.js';
import { stopGuest, type StopGuestContext } from './stop-guest.js';
import { bounded, iso } from './time.js';

/** Destinations tried at most per guest: the first choice, and one fresh choice if it was refused. */
const MAX_ATTEMPTS = 2;

export async function migrateOrStop(entry: PlanEntry, ctx: StopGuestContext): Promise<GuestReport> {
  const pool = ctx.toolstack.pool;
  if (!entry.migrate || !pool) return stopGuest(entry, ctx);
  const { now, log } = ctx.hooks;
  const t0 = now();
  const fresh = await readHere(ctx, entry);
  if (!fresh) return stopGuest(entry, ctx);

  const until = t0 + Math.max(0, (cleanCutoff(ctx.clock) - t0) / 2);
  logDecision(log, entry.guest, 'migrate', `live migration to another host of the pool, up to ${secs(until - t0)} s; clean-then-hard if it cannot move`);
  ctx.step(entry.guest, 'migrate-requested');
  const errors: string[][] = [];
  const attempt = await migrate(fresh, pool, ctx, until, errors);
  const migration: MigrationReport = { to: attempt.to, seconds: secs(now() - t0), failed: attempt.failed };

  if (attempt.failed === null) {
    const report: GuestReport = {
      ...pendingReport(entry),
      outcome: 'migrated',
      reason: `live-migrated to ${attempt.to!.name} in ${migration.seconds} s`,
      startedAt: iso(t0),
      phase1EndAt: iso(now()),
      endedAt: iso(now()),
      heldMs: Math.round(now() - t0),
      errors,
      migration,
    };
    ctx.step(entry.guest, 'migrated');
    logOutcome(log, report, now() - t0);
    return report;
  }
  log.warn({ guest: entry.guest.uuid, guestName: entry.guest.name, why: attempt.failed, errors }, `${entry.guest.name}: could not migrate (${attempt.failed}); stopping it here`);
  const stopped = await stopGuest(entry, ctx);
  return {
    ...stopped,
    startedAt: iso(t0),
    // Its turn began with the migration attempt: that time was the group's too.
    heldMs: Math.round(now() - t0),
    reason: `could not migrate (${attempt.failed}); ${stopped.reason ?? stopped.outcome}`,
    errors: [...errors, ...stopped.errors],
    migration,
  };
}

/** The guest when it runs on this host now; null when stop-guest.ts should decide about it. */
async function readHere(ctx: StopGuestContext, entry: PlanEntry): Promise<Guest | null> {
  try {
    const g = await bounded(ctx.toolstack.guest(entry.guest.uuid), ctx.clock.deadlineAt, 'reading the guest', ctx.hooks.now);
    return g && g.powerState === 'Running' && g.residentOn === ctx.hostUuid ? g : null;
  } catch {
    return null;
  }
}

interface Attempt {
  to: PoolHost | null;
  /** null = it runs on `to` now. */
  failed: string | null;
}

async function migrate(g: Guest, pool: PoolMigration, ctx: StopGuestContext, until: number, errors: string[][]): Promise<Attempt> {
  const { now } = ctx.hooks;
  let to: PoolHost | null = null;
  let failed = 'no time was left for a migration';
  const windowS = secs(until - now());
  for (let i = 0; i < MAX_ATTEMPTS && now() < until; i++) {
    try {
      to = await bounded(pool.migrationTarget(g, { deadline: until }), until, 'choosing a destination', now);
    } catch (err) {
      errors.push(errorTuple(err));
      return { to, failed: `no host of the pool can take it: ${errorTuple(err).join(' ')}` };
    }
    try {
      await bounded(pool.migrate(g, to, { deadline: until }), until + CANCEL_GRACE_MS, 'migrating', now);
      return { to, failed: null };
    } catch (err) {
      errors.push(errorTuple(err));
      failed = now() >= until ? `the migration to ${to.name} ran out of its ${windowS} s` : `the migration to ${to.name} failed: ${errorTuple(err).join(' ')}`;
    }
    // It may have landed anyway (the end raced the cancel): where it runs decides.
    const where = await whereNow(ctx, g.uuid);
    if (where === 'elsewhere') return { to, failed: null };
    if (where !== 'here') return { to, failed };
  }
  return { to, failed };
}

/** The migration's own deadline is the task's; this only bounds a toolstack that stops answering. */
const CANCEL_GRACE_MS = 2_000;

async function whereNow(ctx: StopGuestContext, uuid: string): Promise<'here' | 'elsewhere' | 'not-running' | 'unknown'> {
  try {
    const g = await bounded(ctx.toolstack.guest(uuid), ctx.clock.deadlineAt, 'reading the guest', ctx.hooks.now);
    if (!g || !isLive(g)) return 'not-running';
    return g.residentOn === ctx.hostUuid ? 'here' : 'elsewhere';
  } catch {
    return 'unknown';
  }
}

function secs(ms: number): number {
  return Math.round(ms / 100) / 10;
}
