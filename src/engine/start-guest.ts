// One guest at boot: start it (or wait for a start already under way), then wait until it is ready.
// The start itself holds one of the group's parallel slots; readiness is waited for outside the
// slot, by events, so a guest whose agent never comes does not keep the next guest from starting.

import type { GuestRef, GuestReport, PlanEntry } from '../core/types.js';
import type { Guest, Toolstack } from '../toolstack/types.js';
import { BACKEND_GRACE_MS, runWatched } from './watched.js';
import { bootDeadline } from './budget.js';
import { logDecision, logOutcome } from './guest-log.js';
import type { GuestStep, ResolvedHooks } from './hooks.js';
import { startInFlight } from './ops.js';
import { describeReadiness, readinessHolds } from './ready.js';
import { errorTuple, pendingReport } from './report.js';
import { bounded, iso, whenAborted } from './time.js';
import { meaningOf } from '../core/meanings.js';
import { retry } from '../retry.js';
import { awaitStorage, type GroupStorage, type StorageGate } from './storage-wait.js';

const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 5_000;

export interface StartGuestContext {
  toolstack: Toolstack;
  hooks: ResolvedHooks;
  /** Aborted: launch nothing more, stop waiting for readiness. */
  signal?: AbortSignal;
  /** uuids a previous daemon of this boot already started: never started twice. */
  alreadyStarted: ReadonlySet<string>;
  /** Records the intent to start, durably, before the start is sent. */
  beforeStart?: (guest: GuestRef) => Promise<void>;
  /** Runs `fn` in one of the group's start slots. */
  slot: <T>(fn: () => Promise<T>) => Promise<T>;
  /** `srs`: with 'storage-wait', the SRs it waits for. */
  step: (guest: GuestRef, step: GuestStep, srs?: string[]) => void;
  /** The run's SR plugs, shared by its guests (one per run, so a plugged SR is not asked again). */
  storage: StorageGate;
  /** Which SRs the group's guests' disks are on, read once for the group before it launched. */
  groupStorage: GroupStorage;
}

/** `before`: the guest's record just before our own start, when we started it. */
type Launch = { up: false } | { up: true; deadline: number; before: Guest | null };

export async function startGuest(entry: PlanEntry, ctx: StartGuestContext): Promise<GuestReport> {
  const report = pendingReport(entry);
  const { now, log } = ctx.hooks;
  let slotAt: number | null = null;
  try {
    // A wait for storage counts against the guest's ready timeout; without one the timeout counts
    // from its start slot, as before (a queue for a slot is not the guest's time).
    const storageDeadline = bootDeadline(now(), entry.timeout);
    const storage = ctx.signal?.aborted ? ({ ok: true } as const) : await storageBeforeStart(entry, report, storageDeadline, ctx);
    const deadline = report.storageWait ? storageDeadline : null;
    // The guest's own time starts when it gets its slot: a queue behind the others of its group and
    // a wait for storage are not its to be ranked by at the next boot (core/within-group.ts).
    const launch: Launch = storage.ok
      ? await ctx.slot(() => {
          slotAt = now();
          return launchGuest(entry, report, deadline, ctx);
        })
      : { up: false };
    if (!storage.ok) {
      report.outcome = storage.outcome;
      report.reason = storage.reason;
      ctx.step(entry.guest, storage.outcome);
    }
    if (launch.up) await awaitReadiness(entry, report, launch.deadline, launch.before, ctx);
  } catch (err) {
    // A bug here must cost this guest only, never the others of the plan.
    report.errors.push(errorTuple(err));
    report.outcome = report.phase1EndAt ? 'started-not-ready' : 'start-failed';
    report.reason = 'internal error in the engine';
    log.error({ guest: entry.guest.uuid, guestName: entry.guest.name, err }, 'engine: unexpected error while starting a guest');
    ctx.step(entry.guest, report.phase1EndAt ? 'not-ready' : 'start-failed');
  }
  const end = now();
  report.endedAt = iso(end);
  if (slotAt !== null) report.heldMs = Math.round(end - slotAt);
  logOutcome(log, report, report.startedAt ? Date.now() - Date.parse(report.startedAt) : null); // wall span, for the log line
  return report;
}

/**
 * Outside the slot: a guest whose SRs are not plugged here waits for them (engine/storage-wait.ts).
 * It reads nothing itself (the group's storage was read before the group launched): launchGuest
 * reads the guest's record fresh in its slot.
 */
async function storageBeforeStart(entry: PlanEntry, report: GuestReport, deadline: number, ctx: StartGuestContext): ReturnType<typeof awaitStorage> {
  if (ctx.alreadyStarted.has(entry.guest.uuid)) return { ok: true };
  return awaitStorage(report, ctx.groupStorage.get(entry.guest.uuid) ?? [], deadline, entry.timeout, {
    toolstack: ctx.toolstack,
    hooks: ctx.hooks,
    gate: ctx.storage,
    waiting: (ref, srs) => ctx.step(ref, 'storage-wait', srs),
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  });
}

/** Inside the slot: decide, then start. Resolves once the guest runs or its part has ended. */
async function launchGuest(entry: PlanEntry, report: GuestReport, storageDeadline: number | null, ctx: StartGuestContext): Promise<Launch> {
  const { toolstack, hooks } = ctx;
  const { now, log } = hooks;
  const ref = entry.guest;
  const end = (outcome: GuestReport['outcome'], reason: string, step?: GuestStep): Launch => {
    report.outcome = outcome;
    report.reason = reason;
    ctx.step(ref, step ?? (outcome === 'start-failed' ? 'start-failed' : 'not-attempted'));
    return { up: false };
  };
  const running = (deadline: number, before: Guest | null = null): Launch => {
    report.phase1EndAt = iso(now());
    ctx.step(ref, 'started');
    return { up: true, deadline, before };
  };

  if (ctx.signal?.aborted) return end('not-attempted', 'boot plan aborted before its turn');
  const t0 = now();
  report.startedAt ??= iso(t0);
  const deadline = storageDeadline ?? bootDeadline(t0, entry.timeout);

  let g: Guest | null;
  try {
    g = await bounded(toolstack.guest(ref.uuid), deadline, 'reading the guest', now);
  } catch (err) {
    report.errors.push(errorTuple(err));
    return end('start-failed', 'could not read the guest before starting it');
  }
  if (!g) return end('gone', 'deleted before its start', 'gone');

  if (startInFlight(g)) {
    // What the guest held while Halted tells that start's readiness from leftovers of its last run.
    const halted = g.powerState === 'Halted' ? g : null;
    logDecision(log, ref, 'await-start', 'a start is already in flight: waiting for it instead of starting again');
    ctx.step(ref, 'start-awaited');
    // Not cut by an abort: a start in flight is let finish.
    const r = await waitQuietly(toolstack, ref.uuid, (x) => x.powerState === 'Running' || !startInFlight(x), deadline, ctx.hooks.now);
    if (r === 'gone') return end('gone', 'deleted while its start was in flight', 'gone');
    if (r === 'aborted') throw new Error('unreachable: the wait for a start in flight has no abort signal');
    if (r === 'timeout') return end('start-failed', `the start already in flight did not finish within ${entry.timeout} s`);
    if (r instanceof Error) {
      report.errors.push(errorTuple(r));
      return end('start-failed', 'lost track of the start already in flight');
    }
    g = r;
    if (g.powerState === 'Running') {
      report.reason = 'started by an operation already in flight';
      return running(deadline, halted);
    }
    // That start ended without the guest running: ours is the next honest attempt.
  }
  switch (g.powerState) {
    case 'Running':
      logDecision(log, ref, 'none', 'already running: not started again');
      report.reason = ctx.alreadyStarted.has(ref.uuid) ? "already running (asked to start earlier in this boot's plan)" : 'already running (started by someone else)';
      return running(deadline);
    case 'Paused':
      return end('not-attempted', 'paused: not started (unpausing is an admin decision)');
    case 'Suspended':
      return end('not-attempted', 'suspended: its suspend image needs an admin decision');
    case 'Halted':
      break;
  }
  if (ctx.alreadyStarted.has(ref.uuid)) {
    return end('not-attempted', 'already started by an earlier daemon of this boot and halted since: not started twice');
  }
  if (ctx.signal?.aborted) return end('not-attempted', 'boot plan aborted before its turn');

  if (ctx.beforeStart) {
    try {
      await bounded(ctx.beforeStart(ref), deadline, 'recording the start intent', now);
    } catch (err) {
      // Availability first: the record only guards against a second start after a daemon crash.
      report.errors.push(['INTENT_NOT_RECORDED', ...errorTuple(err)]);
      log.error({ guest: ref.uuid, guestName: ref.name, err }, `${ref.name}: could not record the start intent; starting anyway`);
    }
  }
  logDecision(log, ref, 'start', `order ${entry.order}, up to ${entry.timeout} s until ${describeReadiness(entry.ready ?? { kind: 'running' })}`);
  ctx.step(ref, 'start-requested');
  // Asked again only when the failure said nothing about the guest (transient) and the guest is
  // still Halted: the start never happened, so asking again is safe. Running after all ends it well.
  let startedAnyway = null as Launch | null;
  try {
    await retry(
      async () => {
        const target = g!;
        await runWatched(toolstack, target, { run: () => toolstack.start(target, { deadline, startDelay: entry.startDelay }), inFlight: startInFlight, reached: (x) => x.powerState === 'Running', method: 'start' }, deadline, now);
      },
      {
        initialMs: RETRY_FIRST_MS,
        maxMs: RETRY_MAX_MS,
        deadline,
        now,
        retryable: async (err) => {
          report.errors.push(errorTuple(err));
          const meaning = meaningOf(err);
          if (meaning !== 'transient' && meaning !== 'wrong-state') return false;
          // Did it start after all (someone else at the same moment, or before the toolstack lost the start)?
          const again = await bounded(toolstack.guest(ref.uuid), deadline + BACKEND_GRACE_MS, 'reading the guest', now).catch(() => null);
          if (again?.powerState === 'Running') {
            report.reason = meaning === 'transient' ? `started, though the toolstack lost track of the start (${errorTuple(err)[0]})` : 'started by someone else at the same moment';
            startedAnyway = running(deadline);
            return false;
          }
          if (meaning !== 'transient' || again?.powerState !== 'Halted') return false;
          g = again;
          return true;
        },
        onRetry: (err) => log.warn({ guest: ref.uuid, guestName: ref.name, err: errorTuple(err) }, `${ref.name}: start did not go through (${errorTuple(err)[0]}); asking again`),
      },
    );
  } catch (err) {
    return startedAnyway ?? end('start-failed', `start refused or failed: ${errorTuple(err)[0]}`);
  }
  if (report.errors.length > 0) report.reason = `started when asked again, after ${report.errors.map((e) => e[0]).join(', ')}`;
  return running(deadline, g);
}

/** Outside the slot: wait by events until the guest is ready, bounded by the guest's timeout. */
async function awaitReadiness(entry: PlanEntry, report: GuestReport, deadline: number, before: Guest | null, ctx: StartGuestContext): Promise<void> {
  const { now } = ctx.hooks;
  const check = entry.ready ?? { kind: 'running' };
  const ready = (): void => {
    report.outcome = 'started';
    report.phase2At = iso(now());
    ctx.step(entry.guest, 'ready');
  };
  const notReady = (reason: string): void => {
    report.outcome = 'started-not-ready';
    report.reason = reason;
    ctx.step(entry.guest, 'not-ready');
  };
  if (check.kind === 'running') return ready();
  if (ctx.signal?.aborted) return notReady('boot plan aborted before it was ready');
  if (check.kind === 'vm-data' && before && readinessHolds(check)({ ...before, powerState: 'Running' })) {
    ctx.hooks.log.warn(
      { guest: entry.guest.uuid, guestName: entry.guest.name, key: check.key },
      `${entry.guest.name}: ${describeReadiness(check).replace(' written by the guest', '')} already holds a value from before this start; waiting for the guest to write a new one`,
    );
  }

  const r = await waitQuietly(ctx.toolstack, entry.guest.uuid, readinessHolds(check, before), deadline, ctx.hooks.now, ctx.signal);
  if (r === 'aborted') return notReady('boot plan aborted before it was ready');
  if (r instanceof Error) {
    if (ctx.signal?.aborted) return notReady('boot plan aborted before it was ready');
    report.errors.push(errorTuple(r));
    return notReady(`lost track of readiness (${describeReadiness(check)})`);
  }
  if (r === 'gone') {
    report.outcome = 'gone';
    report.reason = 'deleted while waiting for readiness';
    return ctx.step(entry.guest, 'gone');
  }
  if (r === 'timeout') {
    if (ctx.signal?.aborted) return notReady('boot plan aborted before it was ready');
    return notReady(`not ready within ${entry.timeout} s (waited for: ${describeReadiness(check)})`);
  }
  ready();
}

/** toolstack.waitFor, bounded and cut by `signal`, with failures returned instead of thrown. */
async function waitQuietly(
  toolstack: Toolstack,
  uuid: string,
  until: (g: Guest) => boolean,
  deadline: number,
  now: () => number,
  signal?: AbortSignal,
): Promise<Guest | 'timeout' | 'gone' | 'aborted' | Error> {
  const aborted = whenAborted(signal);
  try {
    const wait = toolstack.waitFor(uuid, until, signal ? { deadline, signal } : { deadline });
    const r = await Promise.race([bounded(wait, deadline + BACKEND_GRACE_MS, 'waiting for the guest', now), aborted.promise]);
    return signal?.aborted ? 'aborted' : r;
  } catch (err) {
    if (signal?.aborted) return 'aborted';
    return err instanceof Error ? err : new Error(String(err));
  } finally {
    aborted.dispose();
  }
}
