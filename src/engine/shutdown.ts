// The shutdown plan: descending order groups, bounded parallelism, each guest clean-then-hard
// (stop-guest.ts). Then the guests of this host still running (started by someone else meanwhile)
// get the same treatment; every transition in flight on this host's guests is waited for; and the
// report lists whatever is still running. Everything ends by `deadlineAt`.

import pLimit from 'p-limit';
import type { GuestRef, GuestReport, Plan, PlanEntry, RunReport, SkipCode } from '../core/types.js';
import type { Guest, GuestsQuery, Toolstack } from '../toolstack/types.js';
import { cleanCutoff, type ShutdownClock } from './budget.js';
import { checkDeadline, checkParallelism, checkPlanMode, STATUS_INTERVAL_MS } from './checks.js';
import type { EngineHooks, GuestStep, ResolvedHooks } from './hooks.js';
import { resolveHooks } from './hooks.js';
import { anyOperationInFlight, isLive } from './ops.js';
import { isGuest } from '../core/not-a-guest.js';
import { guestsSkipped, pendingReport, runReport, skippedReport } from './report.js';
import { shutdownStatus, throttleStatus } from './status.js';
import { stopGuest, type StopGuestContext } from './stop-guest.js';
import { migrateOrStop } from './migrate-guest.js';
import { bounded, iso, sleep } from './time.js';
import { alertOfReport, type AlertSink } from './alerts.js';

export interface ShutdownOptions {
  /** Guests being stopped at once at most, within a group. */
  parallelism: number;
  /** The whole run ends by then, monotonic ms (core/clock.ts). */
  deadlineAt: number;
  /** The last part of the deadline kept for hard stops, ms. */
  hardReserveMs: number;
  bootId: string;
  /** What caused the run, for the report ("host shutdown", "stop-all"). */
  trigger: string;
  hostUuid: string;
  /**
   * The plan entry for a guest found running on this host after the groups (started by someone
   * else meanwhile), so that its own policy applies; null = leave it alone. Default: clean-then-hard
   * with the longest clean timeout of the plan, cut to what remains of the clean budget.
   */
  entryForLateGuest?: (guest: Guest) => PlanEntry | null;
  /** Where what needs an admin is raised (XenAPI messages); raising never holds up a stop. */
  alerts?: AlertSink;
  /** Aborted (Ctrl-C on stop-all): no further group or sweep; stops in flight run to their end. */
  signal?: AbortSignal;
  /**
   * on_stop=migrate guests made this run disable the host: enable it again at the end (stop-all,
   * the host stays up). The daemon at host shutdown leaves it disabled; xapi enables it when it
   * starts again.
   */
  reenableHost?: boolean;
}

/** Plan skips the engine must respect even when the guest runs: xapi's "self-managed poweroff". */
const LEAVE_ALONE: ReadonlySet<SkipCode> = new Set<SkipCode>(['self-managed-poweroff']);
/** Rounds of "stop what was started meanwhile", so that a guest restarted in a loop cannot hold us. */
const SWEEP_ROUNDS = 3;
/**
 * The sweep's and the transition wait's read: the event cache (synced afresh if its loop failed);
 * when that sync cannot be made for another reason than an outage or the time, a direct read, and
 * when even that fails, this host's resident guests one by one. A read that gives up here would
 * leave guests started late running at host shutdown.
 */
const THROUGH_EVENTS_OR_DIRECTLY: GuestsQuery = { throughEvents: true, residentFallback: true };
const FINAL: ReadonlySet<GuestStep> = new Set<GuestStep>(['halted', 'stopped', 'migrated', 'failed', 'not-attempted', 'gone']);
const STOPPED: ReadonlySet<GuestStep> = new Set<GuestStep>(['halted', 'stopped', 'migrated', 'gone']);

export async function runShutdown(toolstack: Toolstack, plan: Plan, hooks: EngineHooks, opts: ShutdownOptions): Promise<RunReport> {
  checkPlanMode(plan, 'shutdown');
  const parallelism = checkParallelism(opts.parallelism, 'shutdown');
  const h = resolveHooks(hooks);
  checkDeadline(opts.deadlineAt, opts.hardReserveMs, h.now());
  const clock: ShutdownClock = { deadlineAt: opts.deadlineAt, hardReserveMs: opts.hardReserveMs };
  const startedAt = h.now();
  const groups = plan.groups.length;
  const count = { total: plan.groups.reduce((n, g) => n + g.entries.length, 0), done: 0, stopped: 0, group: 0, phase: 'group' as 'group' | 'sweep' };
  const status = throttleStatus(h.status, STATUS_INTERVAL_MS, h.now);
  const showStatus = (): void =>
    status.update(shutdownStatus({ phase: count.phase, group: count.group, groups, left: count.total - count.done, deadlineAt: clock.deadlineAt, now: h.now() }));

  const step = (guest: GuestRef, s: GuestStep): void => {
    if (FINAL.has(s)) count.done += 1;
    if (STOPPED.has(s)) count.stopped += 1;
    h.progress({ mode: 'shutdown', guest, step: s, group: count.group, groups, done: count.done, total: count.total, succeeded: count.stopped, at: h.now() });
    showStatus();
  };
  const alertOf = (r: GuestReport): GuestReport => {
    const a = opts.alerts ? alertOfReport(r) : null;
    if (a) opts.alerts!.raise(a.kind, r.guest, a.detail);
    // on_stop=migrate that ended in a shutdown: the guest is down, not running elsewhere as meant.
    if (r.migration?.failed) opts.alerts?.raise('migration-failed', r.guest, `${r.migration.failed}; then ${r.outcome}`);
    return r;
  };
  const ctx: StopGuestContext = { toolstack, hooks: h, clock, hostUuid: opts.hostUuid, step };

  h.log.info(
    { groups, guests: count.total, skipped: guestsSkipped(plan.skipped), parallelism, deadlineAt: iso(clock.deadlineAt, h.clock), hardReserveMs: clock.hardReserveMs, trigger: opts.trigger },
    'shutdown plan: starting',
  );
  const disabledHost = await disableHostForMigrations(toolstack, plan, h, clock);
  // One report per plan entry, in plan order; a guest stopped again in the sweep replaces its own.
  const reports = new Map<string, GuestReport>();
  const groupTimes: { order: number; startedAt: number; endedAt: number }[] = [];
  for (const [i, group] of plan.groups.entries()) {
    count.group = i + 1;
    if (opts.signal?.aborted) {
      for (const entry of group.entries) {
        reports.set(entry.guest.uuid, { ...pendingReport(entry), reason: 'not attempted: the run was interrupted before its group' });
        step(entry.guest, 'not-attempted');
      }
      continue;
    }
    const groupStart = h.now();
    showStatus();
    h.log.info({ group: count.group, order: group.order, guests: group.entries.length }, `shutdown: group ${count.group}/${groups} (order ${group.order})`);
    const slot = pLimit(parallelism);
    const done = await Promise.all(group.entries.map((entry) => slot(() => migrateOrStop(entry, ctx).then(alertOf))));
    for (const r of done) reports.set(r.guest.uuid, r);
    await waitShutdownDelay(group.delayAfter ?? 0, h, clock, count.group, groups);
    groupTimes.push({ order: group.order, startedAt: groupStart, endedAt: h.now() });
  }
  for (const entry of plan.skipped) if (!reports.has(entry.guest.uuid)) reports.set(entry.guest.uuid, skippedReport(entry));

  const leaveAlone = new Set(plan.skipped.filter((e) => e.skipCode !== null && LEAVE_ALONE.has(e.skipCode)).map((e) => e.guest.uuid));
  count.group = 0;
  count.phase = 'sweep';
  if (!opts.signal?.aborted) await sweepLateGuests(plan, opts, ctx, reports, leaveAlone, parallelism, count, showStatus, alertOf);
  await waitForTransitions(toolstack, h, clock, opts.hostUuid, new Set(reports.keys()), status);
  const leftRunning = await stillRunning(toolstack, h, clock, opts.hostUuid, leaveAlone, reports);
  for (const g of leftRunning) opts.alerts?.raise('left-running', g, `deadline ${iso(clock.deadlineAt)}`);
  if (disabledHost && opts.reenableHost) await enableHostAgain(toolstack, h, clock);

  const report = runReport({
    mode: 'shutdown',
    bootId: opts.bootId,
    hostUuid: opts.hostUuid,
    trigger: opts.trigger,
    startedAt,
    endedAt: h.now(),
    deadlineAt: clock.deadlineAt,
    guests: [...reports.values()],
    groups: groupTimes,
    leftRunning,
    clock: h.clock,
  });
  status.update(
    leftRunning.length
      ? `shutdown plan done: ${leftRunning.length} guest${leftRunning.length === 1 ? '' : 's'} still running`
      : `shutdown plan done: ${count.stopped}/${count.total} guests stopped, none left running`,
  );
  status.flush();
  const level = leftRunning.length ? 'error' : 'info';
  h.log[level]({ totals: report.totals, exitCode: report.exitCode, leftRunning: leftRunning.map((g) => g.uuid) }, 'shutdown plan: done');
  return report;
}

/**
 * Before any migration, the host is disabled (host.disable) so that nothing is started on it or
 * migrated onto it meanwhile — another host's own evacuation included. A failure is logged and the
 * run goes on: migrations still work, only the guard is missing.
 */
async function disableHostForMigrations(toolstack: Toolstack, plan: Plan, h: ResolvedHooks, clock: ShutdownClock): Promise<boolean> {
  const pool = toolstack.pool;
  if (!pool || !plan.groups.some((g) => g.entries.some((e) => e.migrate))) return false;
  try {
    await bounded(pool.disableThisHost(), cleanCutoff(clock), 'disabling this host', h.now);
    h.log.info('shutdown: this host is disabled (host.disable) so that no guest is started or migrated onto it meanwhile');
    return true;
  } catch (err) {
    h.log.warn({ err }, 'shutdown: could not disable this host before migrating guests away; migrating anyway');
    return false;
  }
}

async function enableHostAgain(toolstack: Toolstack, h: ResolvedHooks, clock: ShutdownClock): Promise<void> {
  try {
    await bounded(toolstack.pool!.enableThisHost(), Math.max(clock.deadlineAt, h.now() + 1_000), 'enabling this host again', h.now);
    h.log.info('shutdown: this host is enabled again (host.enable)');
  } catch (err) {
    h.log.error({ err }, 'shutdown: could not enable this host again; enable it with xe host-enable');
  }
}

/**
 * VM.shutdown_delay: the next group is asked only `delaySeconds` after this group's last guest
 * stopped. xapi sleeps it inside each guest's own task, but the engine's part of a guest ends when
 * it leaves Running, so the order would not hold without this wait. Never past the clean cut-off:
 * the hard reserve stays whole (the plan's budget already set the delays aside).
 */
async function waitShutdownDelay(delaySeconds: number, h: ResolvedHooks, clock: ShutdownClock, group: number, groups: number): Promise<void> {
  if (delaySeconds <= 0) return;
  const until = Math.min(h.now() + delaySeconds * 1000, cleanCutoff(clock));
  if (until <= h.now()) return;
  h.log.info({ group, delayMs: Math.round(until - h.now()) }, `shutdown: group ${group}/${groups} done; waiting ${delaySeconds} s (VM.shutdown_delay) before the next group`);
  await sleep(until - h.now());
}

/** Guests of this host running after the groups — started meanwhile, or never in the plan — get the same clean-then-hard. */
async function sweepLateGuests(
  plan: Plan,
  opts: ShutdownOptions,
  ctx: StopGuestContext,
  reports: Map<string, GuestReport>,
  leaveAlone: Set<string>,
  parallelism: number,
  count: { total: number },
  showStatus: () => void,
  alertOf: (r: GuestReport) => GuestReport,
): Promise<void> {
  const h = ctx.hooks;
  const longest = Math.max(0, ...plan.groups.flatMap((g) => g.entries.map((e) => e.timeout)));
  const tried = new Set<string>();
  for (let round = 0; round < SWEEP_ROUNDS && h.now() < ctx.clock.deadlineAt; round++) {
    // The event cache suffices: a guest started meanwhile shows there; the final check reads fresh.
    const cached = await readAll(ctx.toolstack, h, ctx.clock.deadlineAt, THROUGH_EVENTS_OR_DIRECTLY);
    if (!cached) return;
    const runningNow = (guests: Guest[]): Guest[] =>
      guests.filter(
        (g) => g.residentOn === opts.hostUuid && isLive(g) && isGuest(g) && !leaveAlone.has(g.uuid) && reports.get(g.uuid)?.outcome !== 'failed' && !tried.has(g.uuid),
      );
    let late = runningNow(cached);
    // A guest we saw halt (its task said done) may still show Running in the cache: its power-state
    // event can arrive after the task's answer, more so on a busy host. Only a fresh read may call it
    // "running again after its stop".
    if (late.some((g) => reports.has(g.uuid) && reports.get(g.uuid)!.outcome !== 'skipped')) {
      const fresh = await readAll(ctx.toolstack, h, ctx.clock.deadlineAt, {});
      if (!fresh) return;
      late = runningNow(fresh);
    }
    if (late.length === 0) return;
    const entries: PlanEntry[] = [];
    for (const g of late) {
      tried.add(g.uuid);
      const entry = opts.entryForLateGuest ? opts.entryForLateGuest(g) : lateEntry(g, longest, ctx.clock, h.now());
      if (entry) entries.push(entry);
      else leaveAlone.add(g.uuid);
    }
    if (entries.length === 0) return;
    h.log.warn({ guests: entries.map((e) => ({ guest: e.guest.uuid, guestName: e.guest.name })) }, `shutdown: ${entries.length} guest(s) of this host still running after the groups; stopping them too`);
    count.total += entries.length;
    showStatus();
    const slot = pLimit(parallelism);
    const done = await Promise.all(entries.map((entry) => slot(() => stopGuest(entry, ctx).then(alertOf))));
    for (const r of done) {
      reports.set(r.guest.uuid, asLate(r, reports.get(r.guest.uuid)));
    }
  }
}

/** The sweep's report of a guest, saying why it was stopped after the groups. */
function asLate(r: GuestReport, before: GuestReport | undefined): GuestReport {
  const outcome = r.reason ?? r.outcome;
  if (!before) return { ...r, reason: `not in the plan, found running on this host after the groups; ${outcome}` };
  if (before.outcome === 'skipped') return { ...r, reason: `started by someone else during the shutdown (planned: ${before.reason ?? 'skip'}); ${outcome}` };
  return { ...r, reason: `running again after its stop (${before.outcome}); ${outcome}`, errors: [...before.errors, ...r.errors] };
}

function lateEntry(g: Guest, longestTimeout: number, clock: ShutdownClock, now: number): PlanEntry {
  const remaining = Math.max(0, (cleanCutoff(clock) - now) / 1000);
  return {
    guest: { uuid: g.uuid, name: g.name, ref: g.ref },
    action: g.powerState === 'Paused' || !g.cleanShutdown.able ? 'hard-shutdown' : 'clean-shutdown',
    order: g.order,
    timeout: longestTimeout > 0 ? Math.min(longestTimeout, remaining) : remaining,
    ready: null,
    startDelay: 0,
    reason: null,
    skipCode: null,
    memoryRequired: g.memoryRequired,
    powerState: g.powerState,
  };
}

/** Wait for every operation in flight on this host's guests — ours and ones already under way — bounded by the deadline. */
async function waitForTransitions(
  toolstack: Toolstack,
  h: ResolvedHooks,
  clock: ShutdownClock,
  hostUuid: string,
  ours: ReadonlySet<string>,
  status: { update(line: string): void },
): Promise<void> {
  const all = await readAll(toolstack, h, clock.deadlineAt, THROUGH_EVENTS_OR_DIRECTLY);
  if (!all) return;
  const busy = all.filter((g) => (g.residentOn === hostUuid || ours.has(g.uuid)) && isGuest(g) && anyOperationInFlight(g));
  if (busy.length === 0) return;
  let left = busy.length;
  const show = (): void => status.update(shutdownStatus({ phase: 'transitions', group: 0, groups: 0, left, deadlineAt: clock.deadlineAt, now: h.now() }));
  show();
  h.log.info({ guests: busy.map((g) => ({ guest: g.uuid, guestName: g.name, operations: Object.values(g.currentOperations) })) }, `shutdown: waiting for ${busy.length} transition(s) to finish`);
  await Promise.all(
    busy.map(async (g) => {
      try {
        const r = await bounded(
          toolstack.waitFor(g.uuid, (x) => !anyOperationInFlight(x), { deadline: clock.deadlineAt }),
          clock.deadlineAt,
          'waiting for a transition',
          h.now,
        );
        if (r === 'timeout') h.log.error({ guest: g.uuid, guestName: g.name }, `${g.name}: a transition was still in flight at the deadline`);
      } catch (err) {
        h.log.error({ guest: g.uuid, guestName: g.name, err }, `${g.name}: lost track of a transition in flight`);
      }
      left -= 1;
      show();
    }),
  );
}

/** Guests of this host still up at the end, read fresh (only those, where the backend can); from the reports when the toolstack cannot answer. */
async function stillRunning(
  toolstack: Toolstack,
  h: ResolvedHooks,
  clock: ShutdownClock,
  hostUuid: string,
  leaveAlone: ReadonlySet<string>,
  reports: Map<string, GuestReport>,
): Promise<GuestRef[]> {
  // A final read gets a moment past the deadline only if the deadline has already passed; it is one call.
  const all = await readAll(toolstack, h, Math.max(clock.deadlineAt, h.now() + 1_000), { liveOnThisHost: true });
  if (!all) {
    return [...reports.values()].filter((r) => r.outcome === 'failed').map((r) => r.guest);
  }
  return all
    .filter((g) => g.residentOn === hostUuid && isLive(g) && isGuest(g) && !leaveAlone.has(g.uuid))
    .map((g) => ({ uuid: g.uuid, name: g.name, ref: g.ref }));
}

async function readAll(toolstack: Toolstack, h: ResolvedHooks, deadline: number, query: GuestsQuery): Promise<Guest[] | null> {
  try {
    return await bounded(toolstack.guests({ ...query, deadline }), deadline, 'reading all guests', h.now);
  } catch (err) {
    h.log.error({ err }, 'shutdown: could not read the guests');
    return null;
  }
}
