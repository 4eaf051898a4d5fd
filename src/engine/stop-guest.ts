// What happens to one guest at host shutdown — a hung one included.
//
//  1. Read it fresh. Deleted, halted or suspended meanwhile, or moved to another host: recorded, not
//     touched.
//  2. Hard stop at once only when its entry says so (policy poweroff, or no clean path: no PV
//     drivers / shutdown feature, Paused) or the fresh record shows it cannot take a clean request.
//  3. Otherwise ask for a clean shutdown (XenAPI Async.VM.clean_shutdown). A refusal the backend
//     calls no-clean-path goes hard at once; any other failure is retried until the clean phase
//     ends, since it may be passing (toolstack restart).
//  4. Wait for Halted, by events, until its clean phase ends: its own timeout from when its turn
//     began, cut to what remains of the clean budget (deadline − hard reserve). A failed request
//     (no acknowledgement, cancelled by someone) does not end the wait: the guest may still obey.
//  5. A guest still running then — hung, or ignoring the request — has its request cancelled and is
//     hard-stopped, bounded by the global deadline. Never earlier. Never suspended.

import type { GuestRef, GuestReport, Outcome, PlanEntry } from '../core/types.js';
import type { CleanShutdownHandle, Guest, Toolstack } from '../toolstack/types.js';
import { cleanDeadline, cutByBudget, type ShutdownClock } from './budget.js';
import { logDecision, logOutcome } from './guest-log.js';
import type { GuestStep, ResolvedHooks } from './hooks.js';
import { hardInFlight, isLive, stopInFlight } from './ops.js';
import { runWatched } from './watched.js';
import { errorTuple, pendingReport } from './report.js';
import { WAIT_DECIDED, bounded, iso, sleep } from './time.js';
import { meaningOf } from '../core/meanings.js';
import { retry } from '../retry.js';

const CANCEL_BOUND_MS = 2_000;
const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 5_000;

export interface StopGuestContext {
  toolstack: Toolstack;
  hooks: ResolvedHooks;
  clock: ShutdownClock;
  hostUuid: string;
  step: (guest: GuestRef, step: GuestStep) => void;
}

/** How a guest's part ended, before it is written into the report. */
interface Ending {
  outcome: Outcome;
  reason: string;
  step: GuestStep;
}

export async function stopGuest(entry: PlanEntry, ctx: StopGuestContext): Promise<GuestReport> {
  const { now, log } = ctx.hooks;
  const report = pendingReport(entry);
  const t0 = now();
  report.startedAt = iso(t0);
  const ending = await stop(entry, report, ctx, t0).catch((err: unknown): Ending => {
    // A bug here must cost this guest only, never the others of the plan.
    report.errors.push(errorTuple(err));
    log.error({ guest: entry.guest.uuid, guestName: entry.guest.name, err }, 'engine: unexpected error while stopping a guest');
    return { outcome: 'failed', reason: 'internal error in the engine', step: 'failed' };
  });
  report.outcome = ending.outcome;
  report.reason = ending.reason;
  const end = now();
  report.endedAt = iso(end);
  report.heldMs = Math.round(end - t0);
  ctx.step(entry.guest, ending.step);
  logOutcome(log, report, end - t0);
  return report;
}

async function stop(entry: PlanEntry, report: GuestReport, ctx: StopGuestContext, t0: number): Promise<Ending> {
  const { clock } = ctx;
  const ref = entry.guest;
  const g = await readGuest(ctx, ref.uuid, report);
  if (g === 'unreadable') return { outcome: 'failed', reason: 'could not read the guest', step: 'failed' };
  if (g === null) return gone('deleted during the plan');
  if (!isLive(g)) {
    const how = g.powerState === 'Suspended' ? 'suspended by someone else' : 'halted';
    return { outcome: 'halted-by-itself', reason: `${how} before its turn`, step: 'halted' };
  }
  if (g.residentOn !== null && g.residentOn !== ctx.hostUuid) {
    return { outcome: 'not-attempted', reason: `moved to host ${g.residentOn} before its turn`, step: 'not-attempted' };
  }

  if (entry.action === 'hard-shutdown') {
    const noPath = g.powerState === 'Paused' || !g.cleanShutdown.able || g.blockedOperations['clean_shutdown'] !== undefined;
    return hard(g, report, ctx, {
      outcome: noPath ? 'hard-no-clean-path' : 'hard-by-policy',
      reason: entry.reason ?? (noPath ? g.cleanShutdown.reason : 'policy: poweroff'),
      requestedClean: false,
    });
  }
  if (g.powerState === 'Paused') {
    return hard(g, report, ctx, { outcome: 'hard-no-clean-path', reason: 'paused: cannot take a clean request', requestedClean: false });
  }
  if (!g.cleanShutdown.able) {
    return hard(g, report, ctx, { outcome: 'hard-no-clean-path', reason: g.cleanShutdown.reason, requestedClean: false });
  }

  // The clean phase is counted from now, when the request is about to go out, not from the turn's
  // start: the fresh read above must not eat into the time the guest is given to obey.
  const asked = ctx.hooks.now();
  const until = cleanDeadline(clock, asked, entry.timeout);
  const cut = cutByBudget(clock, asked, entry.timeout);
  const timedOut = (): string =>
    cut ? `still running when the clean budget ran out (${secs(until - asked)} s of its ${entry.timeout} s)` : `still running after its ${entry.timeout} s clean timeout`;
  if (until <= ctx.hooks.now()) {
    return hard(g, report, ctx, { outcome: 'hard-after-timeout', reason: 'the clean budget was spent before its turn', requestedClean: false });
  }

  if (stopInFlight(g)) {
    logDecision(ctx.hooks.log, ref, 'await-stop', `a shutdown is already in flight: waiting up to ${secs(until - ctx.hooks.now())} s for it`);
    const r = await waitHalted(ctx, ref.uuid, until, null);
    if (r === 'halted') return { outcome: 'halted-by-itself', reason: 'stopped by an operation already in flight', step: 'halted' };
    if (r === 'gone') return gone('deleted during the plan');
    return hard(g, report, ctx, { outcome: 'hard-after-timeout', reason: timedOut(), requestedClean: false });
  }

  logDecision(ctx.hooks.log, ref, 'clean-shutdown', `clean phase up to ${secs(until - ctx.hooks.now())} s${cut ? ' (cut to fit the deadline)' : ''}`);
  ctx.step(ref, 'clean-requested');
  const request = await requestClean(g, report, ctx, until);
  report.phase1EndAt = iso(ctx.hooks.now());
  switch (request.kind) {
    case 'no-clean-path':
      ctx.step(ref, 'clean-refused');
      return hard(g, report, ctx, { outcome: 'hard-no-clean-path', reason: `clean shutdown refused: ${request.code}`, requestedClean: false });
    case 'halted':
      return { outcome: 'halted-by-itself', reason: 'halted while the clean request was being sent', step: 'halted' };
    case 'gone':
      return gone('deleted during the plan');
    case 'gave-up':
      return hard(g, report, ctx, { outcome: 'hard-after-timeout', reason: `${timedOut()}; the clean request never got through`, requestedClean: false });
    case 'sent':
      break;
  }

  // The guest's time to obey runs from when xapi accepted the request (a retried or slow request must
  // not shorten it), still never past the clean budget.
  const obeyUntil = Math.max(until, cleanDeadline(clock, ctx.hooks.now(), entry.timeout));
  const r = await waitHalted(ctx, ref.uuid, obeyUntil, request.handle, report);
  if (r === 'halted') return { outcome: 'clean', reason: entry.reason ?? 'halted after the clean request', step: 'halted' };
  if (r === 'gone') return gone('deleted during the plan');
  if (typeof r === 'object') {
    // The toolstack accepted the request, then said the guest cannot act on it: no use waiting.
    ctx.step(ref, 'clean-refused');
    return hard(g, report, ctx, { outcome: 'hard-no-clean-path', reason: `clean shutdown refused: ${r.noCleanPath}`, requestedClean: false });
  }

  ctx.step(ref, 'cancel-requested');
  await cancelQuietly(request.handle, report, ctx);
  return hard(g, report, ctx, { outcome: 'hard-after-timeout', reason: timedOut(), requestedClean: true });
}

type Request =
  | { kind: 'sent'; handle: CleanShutdownHandle }
  | { kind: 'no-clean-path'; code: string }
  | { kind: 'halted' | 'gone' | 'gave-up' };

/**
 * Send the clean request; retry failures until the clean phase ends, unless the backend says there is
 * no clean path, or a fresh read shows the guest halted, deleted or paused meanwhile.
 */
async function requestClean(g: Guest, report: GuestReport, ctx: StopGuestContext, until: number): Promise<Request> {
  const { now } = ctx.hooks;
  let decided = null as Request | null;
  const settled = new AbortController();
  const decide = (r: Request): false => {
    decided = r;
    settled.abort(WAIT_DECIDED);
    return false;
  };
  try {
    const handle = await retry(() => bounded(ctx.toolstack.requestCleanShutdown(g), until, 'clean shutdown request', now), {
      initialMs: RETRY_FIRST_MS,
      maxMs: RETRY_MAX_MS,
      deadline: until,
      now,
      signal: settled.signal,
      retryable: async (err) => {
        report.errors.push(errorTuple(err));
        const meaning = meaningOf(err);
        if (meaning === 'no-clean-path') return decide({ kind: 'no-clean-path', code: errorTuple(err)[0]! });
        if (meaning === 'wrong-state' || meaning === 'gone') {
          const fresh = await readGuest(ctx, g.uuid, report);
          if (fresh === null) return decide({ kind: 'gone' });
          if (fresh !== 'unreadable' && !isLive(fresh)) return decide({ kind: 'halted' });
          if (fresh !== 'unreadable' && fresh.powerState === 'Paused') return decide({ kind: 'no-clean-path', code: errorTuple(err)[0]! });
        }
        return true;
      },
      onRetry: (err) => ctx.hooks.log.warn({ guest: g.uuid, guestName: g.name, err: errorTuple(err) }, `${g.name}: clean shutdown request failed; retrying`),
      // Between attempts the guest may halt by itself: that ends the retries at once.
      pause: async (ms) => {
        const halted = await waitHalted(ctx, g.uuid, now() + ms, null);
        if (halted === 'halted' || halted === 'gone') decide({ kind: halted });
      },
    });
    return { kind: 'sent', handle };
  } catch {
    return decided ?? { kind: 'gave-up' };
  }
}

/**
 * Until `until`: 'halted' as soon as the guest is Halted (or the clean request reports it done),
 * 'gone' if deleted, else 'timeout'. A failing request is recorded and the wait goes on — unless the
 * backend says the guest has no clean path: then the refusing code, since waiting cannot help.
 */
async function waitHalted(
  ctx: StopGuestContext,
  uuid: string,
  until: number,
  handle: CleanShutdownHandle | null,
  report?: GuestReport,
): Promise<'halted' | 'gone' | 'timeout' | { noCleanPath: string }> {
  const { now } = ctx.hooks;
  const stopWatching = new AbortController();
  const watch = bounded(
    ctx.toolstack.waitFor(uuid, (x) => !isLive(x), { deadline: until, signal: stopWatching.signal }),
    until,
    'waiting for Halted',
    now,
  ).then(
    (r) => (r === 'timeout' || r === 'gone' ? r : ('halted' as const)),
    // Events lost for good: the request may still tell us; otherwise the clean phase runs out.
    async () => {
      await sleep(until - now(), stopWatching.signal);
      return 'timeout' as const;
    },
  );
  type Waited = 'halted' | 'gone' | 'timeout' | { noCleanPath: string };
  const byRequest = handle
    ? handle.done.then(
        (): Waited => 'halted',
        (err: unknown): Waited | Promise<Waited> => {
          report?.errors.push(errorTuple(err));
          return meaningOf(err) === 'no-clean-path' ? { noCleanPath: errorTuple(err)[0]! } : watch;
        },
      )
    : watch;
  try {
    return await Promise.race([watch, byRequest]);
  } finally {
    stopWatching.abort(WAIT_DECIDED);
  }
}

async function hard(g: Guest, report: GuestReport, ctx: StopGuestContext, why: { outcome: Outcome; reason: string; requestedClean: boolean }): Promise<Ending> {
  const { now, log } = ctx.hooks;
  const { deadlineAt } = ctx.clock;
  logDecision(log, { uuid: g.uuid, name: g.name, ref: g.ref }, 'hard-shutdown', why.reason);
  ctx.step({ uuid: g.uuid, name: g.name, ref: g.ref }, 'hard-requested');
  report.phase2At = iso(now());
  const op = {
    run: () => ctx.toolstack.hardShutdown(g, { deadline: deadlineAt }),
    inFlight: hardInFlight,
    reached: (x: Guest) => !isLive(x),
    method: 'hard shutdown',
    awaitAnswer: true,
  };
  // A guest still running after a failed hard stop is asked again, with backoff, until the deadline,
  // whatever the failure meant: one transient error (a toolstack restart, xenopsd hiccup) or a
  // refusal that may not last must not leave it running while time remains.
  let decided = null as Ending | null;
  // A failed attempt may still have reached the toolstack (a restart loses the answer, not the
  // hard stop xenopsd already began): from then on a halt is not proof that the clean request won.
  let lostAttempt: string | null = null;
  const foundHalted = (): Ending => (lostAttempt === null ? haltedBeforeHard(why.requestedClean) : haltedAfterLostHardStop(why, lostAttempt));
  try {
    // The hard phase ends by the deadline whatever the backend does.
    const answer = await retry(() => bounded(runWatched(ctx.toolstack, g, op, deadlineAt, now), deadlineAt, 'hard shutdown', now), {
      initialMs: RETRY_FIRST_MS,
      maxMs: RETRY_MAX_MS,
      deadline: deadlineAt,
      now,
      retryable: async (err) => {
        report.errors.push(errorTuple(err));
        lostAttempt = errorTuple(err)[0] ?? 'an error';
        // It may have halted by that very hard stop, or been deleted.
        const fresh = await readGuest(ctx, g.uuid, report);
        if (fresh === null) decided = gone('deleted during the plan');
        else if (fresh !== 'unreadable' && !isLive(fresh)) decided = foundHalted();
        return decided === null;
      },
      onRetry: (err, _n, delayMs) => log.warn({ guest: g.uuid, guestName: g.name, err: errorTuple(err), retryInMs: Math.round(delayMs) }, `${g.name}: hard shutdown failed; retrying`),
    });
    // Halted before the plug was pulled: its halt was only noticed late (a busy client), so it is not a
    // hard stop — unless an earlier attempt of ours may have pulled it.
    if (answer === 'already-halted') return foundHalted();
    return { outcome: why.outcome, reason: why.reason, step: 'stopped' };
  } catch (err) {
    return decided ?? { outcome: 'failed', reason: `hard shutdown failed: ${errorTuple(err)[0]}`, step: 'failed' };
  }
}

/** Counted as the hard stop it may well have been: an admin is told of a hard stop rather than promised a clean one. */
function haltedAfterLostHardStop(why: { outcome: Outcome; reason: string }, lost: string): Ending {
  return { outcome: why.outcome, reason: `${why.reason}; the hard stop's answer was lost (${lost}) and it was found halted after, so it counts as hard-stopped`, step: 'stopped' };
}

function haltedBeforeHard(requestedClean: boolean): Ending {
  return requestedClean
    ? { outcome: 'clean', reason: 'halted after the clean request, noticed only as its clean phase ran out', step: 'halted' }
    : { outcome: 'halted-by-itself', reason: 'halted on its own before the hard stop', step: 'halted' };
}

async function cancelQuietly(handle: CleanShutdownHandle, report: GuestReport, ctx: StopGuestContext): Promise<void> {
  const { now } = ctx.hooks;
  try {
    // The hard shutdown cancels the clean task too (xapi does); ours only makes the intent explicit.
    await bounded(handle.cancel(), Math.min(now() + CANCEL_BOUND_MS, ctx.clock.deadlineAt), 'cancel of the clean request', now);
  } catch (err) {
    report.errors.push(errorTuple(err));
  }
}

async function readGuest(ctx: StopGuestContext, uuid: string, report: GuestReport): Promise<Guest | null | 'unreadable'> {
  try {
    return await bounded(ctx.toolstack.guest(uuid), ctx.clock.deadlineAt, 'reading the guest', ctx.hooks.now);
  } catch (err) {
    report.errors.push(errorTuple(err));
    return 'unreadable';
  }
}

function gone(reason: string): Ending {
  // Not an error: nothing of this host is left running.
  return { outcome: 'gone', reason, step: 'gone' };
}

function secs(ms: number): string {
  return (Math.max(0, ms) / 1000).toFixed(ms >= 10_000 ? 0 : 1);
}
