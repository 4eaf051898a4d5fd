// The boot plan: ascending order groups; within a group at most `parallelism` starts in flight;
// the next group begins only when every guest of this one is ready, failed or timed out.

import pLimit from 'p-limit';
import type { GuestRef, GuestReport, Plan, PlanEntry, RunReport } from '../core/types.js';
import type { Toolstack } from '../toolstack/types.js';
import type { EngineHooks, GuestStep, ResolvedHooks } from './hooks.js';
import { resolveHooks } from './hooks.js';
import { guestsSkipped, runReport, skippedReport, pendingReport } from './report.js';
import { startGuest } from './start-guest.js';
import { createStorageGate, readGroupStorage } from './storage-wait.js';
import { bootStatus, throttleStatus } from './status.js';
import { checkParallelism, checkPlanMode, STATUS_INTERVAL_MS } from './checks.js';
import { logOutcome } from './guest-log.js';
import { alertOfReport, raisePlanSkips, type AlertSink } from './alerts.js';

export interface BootOptions {
  /** Starts in flight at most, within a group. */
  parallelism: number;
  bootId: string;
  /** What caused the run, for the report ("host boot", "start-all"). */
  trigger: string;
  /** Aborted (SIGTERM during the boot plan): launch nothing more, let starts in flight finish. */
  signal?: AbortSignal;
  /** uuids a previous, killed daemon of this boot already started: never started again. */
  alreadyStarted?: ReadonlySet<string>;
  /** Called before each start; the daemon records its intent durably here. */
  beforeStart?: (guest: GuestRef) => Promise<void>;
  /** Where what needs an admin is raised (XenAPI messages); the driver settles it after the run. */
  alerts?: AlertSink;
}

const FINAL: ReadonlySet<GuestStep> = new Set<GuestStep>(['ready', 'not-ready', 'start-failed', 'not-attempted', 'gone']);

export async function runBoot(toolstack: Toolstack, plan: Plan, hooks: EngineHooks, opts: BootOptions): Promise<RunReport> {
  checkPlanMode(plan, 'boot');
  const parallelism = checkParallelism(opts.parallelism, 'boot');
  const h = resolveHooks(hooks);
  const startedAt = h.now();
  const total = plan.groups.reduce((n, g) => n + g.entries.length, 0);
  const groups = plan.groups.length;
  const count = { done: 0, up: 0, failed: 0, group: 0 };
  const status = throttleStatus(h.status, STATUS_INTERVAL_MS, h.now);

  const storage = createStorageGate(toolstack, h.now);
  const step = (guest: GuestRef, s: GuestStep, srs?: string[]): void => {
    if (FINAL.has(s)) count.done += 1;
    if (s === 'ready') count.up += 1;
    if (s === 'start-failed') count.failed += 1;
    h.progress({ mode: 'boot', guest, step: s, group: count.group, groups, done: count.done, total, succeeded: count.up, at: h.now(), ...(srs ? { srs } : {}) });
    status.update(bootStatus({ group: count.group, groups, up: count.up, total, failed: count.failed }));
  };

  h.log.info({ groups, guests: total, skipped: guestsSkipped(plan.skipped), parallelism, trigger: opts.trigger }, 'boot plan: starting');
  if (opts.alerts) raisePlanSkips(opts.alerts, plan);
  const alertOf = (r: GuestReport): GuestReport => {
    const a = opts.alerts ? alertOfReport(r) : null;
    if (a) opts.alerts!.raise(a.kind, r.guest, a.detail);
    return r;
  };
  const reports: GuestReport[] = [];
  const groupTimes: { order: number; startedAt: number; endedAt: number }[] = [];
  for (const [i, group] of plan.groups.entries()) {
    count.group = i + 1;
    if (opts.signal?.aborted) {
      for (const entry of group.entries) reports.push(notAttempted(entry, h, step));
      continue;
    }
    const groupStart = h.now();
    status.update(bootStatus({ group: count.group, groups, up: count.up, total, failed: count.failed }));
    h.log.info({ group: count.group, order: group.order, guests: group.entries.length }, `boot: group ${count.group}/${groups} (order ${group.order})`);
    const slot = pLimit(parallelism);
    const alreadyStarted = opts.alreadyStarted ?? new Set<string>();
    const toStart = group.entries.filter((e) => !alreadyStarted.has(e.guest.uuid));
    const ctx = {
      toolstack,
      hooks: h,
      alreadyStarted,
      slot: <T>(fn: () => Promise<T>) => slot(fn),
      step,
      storage,
      groupStorage: await readGroupStorage(toStart, `boot: group ${count.group}/${groups}`, toolstack, h),
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.beforeStart ? { beforeStart: opts.beforeStart } : {}),
    };
    reports.push(...(await Promise.all(group.entries.map((entry) => startGuest(entry, ctx).then(alertOf)))));
    groupTimes.push({ order: group.order, startedAt: groupStart, endedAt: h.now() });
  }
  reports.push(...plan.skipped.map(skippedReport));

  const report = runReport({
    mode: 'boot',
    bootId: opts.bootId,
    hostUuid: plan.hostUuid,
    trigger: opts.trigger,
    startedAt,
    endedAt: h.now(),
    deadlineAt: null,
    guests: reports,
    groups: groupTimes,
    leftRunning: [],
    clock: h.clock,
  });
  status.update(`boot plan done${opts.signal?.aborted ? ' (aborted)' : ''}: ${count.up}/${total} guests up, ${count.failed} failed`);
  status.flush();
  h.log.info({ totals: report.totals, exitCode: report.exitCode, aborted: opts.signal?.aborted ?? false }, 'boot plan: done');
  return report;
}

function notAttempted(entry: PlanEntry, h: ResolvedHooks, step: (g: GuestRef, s: GuestStep) => void): GuestReport {
  const r = { ...pendingReport(entry), reason: 'boot plan aborted before its group' };
  step(entry.guest, 'not-attempted');
  logOutcome(h.log, r, null);
  return r;
}
