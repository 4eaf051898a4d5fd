// Host shutdown: snapshot first (seed 003), then the shutdown plan inside one global deadline.
// systemd's stop timeout is pushed out while the work runs, never past our own deadline.
// The deadline is recorded before any guest is touched, so that a daemon killed in the middle and
// started again finishes the same shutdown inside the same deadline (see daemon.ts).

import type { Config, GuestRef, GuestReport, RunReport, ShutdownSnapshot } from '../core/types.js';
import { buildPlan, lateShutdownEntry } from '../core/plan.js';
import { buildSnapshot } from '../core/snapshot.js';
import { effectivePolicies } from '../core/policy.js';
import { runShutdown } from '../engine/index.js';
import { failureSentence } from '../core/meanings.js';
import { alertSinkFor, settleAlerts } from '../engine/alerts.js';
import { runReport } from '../engine/report.js';
import type { Logger } from '../log.js';
import type { Notifier } from '../systemd/notify.js';
import type { StateDir } from '../state/index.js';
import { retry } from '../retry.js';
import type { Guest, HostInfo, Toolstack, UnreadableGuest } from '../toolstack/types.js';
import { logPlanWarnings, statusWithWaits, summarizePlan } from './summaries.js';
import type { ShutdownRecord } from './shutdown-record.js';
import { deadlineIn, instantInThisBoot, monotonicNow, monotonicOf, msLeft, wallIso, wallTimeOf } from '../core/clock.js';
import type { Witnesses } from './witnesses.js';
import type { HeldLock } from '../state/lock.js';
import { lockForShutdown } from './operation-lock.js';

export interface ShutdownPhaseInput {
  config: Config;
  log: Logger;
  notifier: Notifier;
  witnesses: Witnesses;
  toolstack: Toolstack;
  bootId: string;
  trigger: string;
  /** Resuming a shutdown an earlier daemon of this boot began: its record (deadline and start). */
  resume?: ShutdownRecord;
}

/** Margin added to systemd's stop timeout beyond our own deadline, for writing the report and exiting. */
const SYSTEMD_MARGIN_MS = 30_000;
const EXTEND_EVERY_MS = 5_000;
const READ_RETRY_MS = 1_000;

export async function runShutdownPhase(input: ShutdownPhaseInput): Promise<RunReport> {
  const { config, log, notifier, witnesses, toolstack, bootId, trigger, resume } = input;
  const state = witnesses.state;
  const hardReserveMs = config.shutdown.hardReserve * 1000;
  const recorded = resume ? instantInThisBoot({ bootId: resume.bootId, monotonicMs: resume.deadlineMonotonicMs }, bootId) : null;
  const deadlineAt = recorded !== null ? resumedDeadline(recorded, hardReserveMs, log) : deadlineIn(config.shutdown.deadline * 1000);
  const startedAt = resume?.startedAt ?? new Date().toISOString();
  const record = (finishedAt: string | null): ShutdownRecord => ({ bootId, startedAt, deadlineMonotonicMs: deadlineAt, deadlineAt: wallIso(deadlineAt), trigger, finishedAt });
  await witnesses.recordShutdown(record(null));
  const extend = () => notifier.extendTimeout(msLeft(deadlineAt) + SYSTEMD_MARGIN_MS);
  extend();
  const ticker = setInterval(extend, EXTEND_EVERY_MS);
  let lock: HeldLock | null = null;
  try {
    lock = await lockForShutdown(state.paths.dir, bootId, deadlineAt - hardReserveMs, log);
    const lastSeen = await runningAsLastSeen(state, bootId);
    let guests: Guest[];
    let host: HostInfo;
    let unreadable: UnreadableGuest[];
    try {
      await toolstack.waitUntilReady({ deadline: deadlineAt - hardReserveMs, onWaiting: sayOnce(log, notifier, deadlineAt - hardReserveMs, lastSeen) });
      [guests, host, unreadable] = await readUntil(toolstack, deadlineAt - hardReserveMs, log);
    } catch (err) {
      // Nothing can be stopped without the toolstack: say what was not done, close the record.
      const report = unreachableReport({ bootId, trigger, startedAt, gaveUpAt: deadlineAt - hardReserveMs, deadlineAt, lastSeen, why: failureSentence(err) });
      log.error({ leftRunning: report.leftRunning.map((g) => g.uuid) }, report.interrupted!);
      await state.writeReport(report).catch((e: unknown) => log.error({ err: (e as Error).message }, 'could not write the shutdown report'));
      await witnesses.recordShutdown(record(new Date().toISOString()));
      return report;
    }
    // The snapshot must show the guests as they were before anyone stopped them for this boot's end:
    // a resumed shutdown keeps the first daemon's, and after `stop-all` (nothing of this host running
    // now) the one stop-all wrote is kept, so that on_start=restore brings back what it stopped.
    // Computed once: the snapshot records the very policies the plan acts on.
    const policies = effectivePolicies(guests, config);
    const snapshot = buildSnapshot(guests, host, config, bootId, new Date().toISOString(), policies);
    const earlier = await state.readSnapshot().catch(() => null);
    const nothingRunsHere = !snapshot.guests.some((g) => g.residentOn === host.uuid && (g.powerState === 'Running' || g.powerState === 'Paused'));
    const keepEarlier = earlier?.bootId === bootId && (resume || nothingRunsHere);
    if (keepEarlier) {
      log.info({ takenAt: earlier.takenAt }, 'keeping the metadata snapshot taken earlier in this boot (before its guests were stopped)');
    } else {
      await writeSnapshotSafely(state, log, snapshot);
    }

    // How long each guest took at the last shutdown: the slow ones (a guest that hung) are asked first in their group.
    const lastRun = await state.readReport('shutdown').catch(() => null);
    const plan = buildPlan({ mode: 'shutdown', guests, host, config, snapshot: null, unreadable, policies, lastRun });
    await logPlanWarnings(log, plan, { bootId, witnesses });
    log.info(summarizePlan(plan), 'shutdown plan');
    const alerts = alertSinkFor(config, toolstack, log, host.uuid, 'shutdown');

    const status = statusWithWaits(plan, (line) => notifier.status(line));
    const report = await runShutdown(
      toolstack,
      plan,
      { log, onStatus: status.onStatus, onProgress: (p) => {
          status.track(p);
          extend();
        } },
      {
        parallelism: config.shutdown.parallelism,
        deadlineAt,
        hardReserveMs,
        bootId,
        trigger,
        hostUuid: host.uuid,
        entryForLateGuest: (guest) => lateShutdownEntry(guest, host, config),
        ...(alerts ? { alerts } : {}),
      },
    );
    leaveUnreadable(report, unreadable, log);
    report.snapshotTakenAt = keepEarlier ? earlier.takenAt : snapshot.takenAt;
    // Never past the shutdown's own deadline: an alert is worth less than the host going down on time.
    if (alerts) report.alerts = await settleAlerts(alerts, msLeft(deadlineAt), log);
    await state.writeReport(report).catch((err: unknown) => log.error({ err: (err as Error).message }, 'could not write the shutdown report'));
    await witnesses.recordShutdown(record(new Date().toISOString()));
    const level = report.leftRunning.length > 0 ? 'error' : 'info';
    log[level]({ totals: report.totals, leftRunning: report.leftRunning }, 'shutdown plan finished');
    return report;
  } finally {
    clearInterval(ticker);
    await lock?.release();
  }
}

/**
 * The deadline an earlier daemon set, kept as it was; when it has (nearly) passed, the hard reserve
 * from now, so that hard stops can still be made before systemd gives up on us.
 */
function resumedDeadline(recorded: number, hardReserveMs: number, log: Logger): number {
  const floor = deadlineIn(hardReserveMs);
  if (recorded >= floor) {
    log.warn({ deadlineAt: wallIso(recorded), leftMs: Math.round(msLeft(recorded)) }, 'resuming a host shutdown an earlier daemon began; keeping its deadline');
    return recorded;
  }
  log.error({ deadlineAt: wallIso(recorded) }, 'resuming a host shutdown whose deadline has (nearly) passed; allowing only the hard reserve');
  return floor;
}

/** The guests this boot's report left running: what the daemon last knew when the toolstack is gone. */
async function runningAsLastSeen(state: StateDir, bootId: string): Promise<GuestRef[]> {
  const boot = await state.readReport('boot').catch(() => null);
  if (boot?.bootId !== bootId) return [];
  // Started by this boot's plan, or found running by it (its skip reason says so).
  const running = (g: GuestReport) => g.outcome === 'started' || g.outcome === 'started-not-ready' || (g.outcome === 'skipped' && g.reason?.startsWith('already running') === true);
  return boot.guests.filter(running).map((g) => g.guest);
}

/** The toolstack's silence is news once (error, with the plan); each further retry is for debug. */
function sayOnce(log: Logger, notifier: Notifier, until: number, lastSeen: GuestRef[]): (why: string) => void {
  let told = false;
  return (why) => {
    notifier.status(`stopping: waiting for the toolstack: ${why}`);
    if (told) return void log.debug({ why }, 'toolstack still unreachable; retrying');
    told = true;
    const seen = lastSeen.length ? `, ${lastSeen.length} guest${lastSeen.length === 1 ? '' : 's'} still running as last seen` : '';
    log.error({ why, until: wallIso(until), lastSeen: lastSeen.map((g) => g.uuid) },
      `toolstack unreachable: ${why}; retrying until the deadline at ${clockTime(until)}${seen}`);
  };
}

/** A monotonic instant as the local time of day a person reads in the journal (HH:MM:SS). */
function clockTime(monotonicMs: number): string {
  return new Date(wallTimeOf(monotonicMs)).toTimeString().slice(0, 8);
}

/** The shutdown run when the toolstack never answered: no guest touched, the ones last seen running named. */
function unreachableReport(r: { bootId: string; trigger: string; startedAt: string; gaveUpAt: number; deadlineAt: number; lastSeen: GuestRef[]; why: string }): RunReport {
  const names = r.lastSeen.map((g) => g.name).join(', ');
  const report = runReport({
    mode: 'shutdown', bootId: r.bootId, hostUuid: 'unknown (toolstack unreachable)', trigger: r.trigger, startedAt: monotonicOf(Date.parse(r.startedAt)),
    endedAt: monotonicNow(), deadlineAt: r.deadlineAt, guests: [], groups: [], leftRunning: r.lastSeen,
  });
  const what = r.lastSeen.length ? `Could not stop ${r.lastSeen.length} guest${r.lastSeen.length === 1 ? '' : 's'} last seen running: ${names}.` : 'Could not stop any guest (none known to be running).';
  return { ...report, exitCode: 1, interrupted: `shutdown gave up at ${clockTime(r.gaveUpAt)}, the deadline for reaching the toolstack: ${r.why}. ${what} No snapshot was taken.` };
}

/**
 * Guests and host, retried while the toolstack fails (a restart), until `until`. A malformed guest
 * record is left out and returned apart; a whole-table read that fails is made one record at a time
 * (by the event cache's sync, or, should the sync fail, by this host's resident guests one by one).
 */
async function readUntil(toolstack: Toolstack, until: number, log: Logger): Promise<[Guest[], HostInfo, UnreadableGuest[]]> {
  let told = false;
  return retry(
    async () => {
      const unreadable: UnreadableGuest[] = [];
      // Through the event cache: its one read is the plan's, and it follows events before the first stop.
      const read = { throughEvents: true, deadline: until, residentFallback: true, onUnreadable: (g: UnreadableGuest) => unreadable.push(g) };
      const [guests, host] = await Promise.all([toolstack.guests(read), toolstack.host()]);
      return [guests, host, unreadable] as [Guest[], HostInfo, UnreadableGuest[]];
    },
    {
      initialMs: READ_RETRY_MS,
      maxMs: READ_RETRY_MS * 4,
      deadline: until,
      now: monotonicNow,
      retryable: () => true,
      // The first failure is news; the retries after it are for debug.
      onRetry: (err) => {
        log[told ? 'debug' : 'error']({ err: (err as Error).message }, 'host is going down but the guests cannot be read; retrying');
        told = true;
      },
    },
  );
}

/**
 * A guest whose record could not be read was neither judged nor stopped: it may still run, so the
 * report names it among those left running (and the daemon exits 1), rather than call the shutdown done.
 */
function leaveUnreadable(report: RunReport, unreadable: UnreadableGuest[], log: Logger): void {
  for (const bad of unreadable) {
    log.error({ ref: bad.ref, uuid: bad.uuid, guest: bad.name, problem: bad.problem }, `guest ${bad.name ?? bad.ref} was not stopped: its record is unreadable (${bad.problem})`);
    report.leftRunning.push({ uuid: bad.uuid ?? bad.ref, name: bad.name ?? bad.ref, ref: bad.ref });
  }
}

/** A snapshot that cannot be written (disk full, read-only) must not keep guests from stopping. */
async function writeSnapshotSafely(state: StateDir, log: Logger, snapshot: ShutdownSnapshot): Promise<void> {
  try {
    await state.writeSnapshot(snapshot);
    log.info({ guests: snapshot.guests.length }, 'metadata snapshot written');
  } catch (err) {
    log.error({ err: err instanceof Error ? err.message : String(err) }, 'could not write the metadata snapshot; stopping guests anyway');
  }
}
