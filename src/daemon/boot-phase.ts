// Host boot, once per boot: either witness (state directory, runtime directory) saying this boot was
// handled means neither a daemon restart nor a toolstack restart starts anything. A daemon killed in
// the middle of the plan resumes it: guests it already asked to start are never asked again.
//
// Nothing here may end the daemon: a toolstack that does not answer, an error reading the guests or
// a state directory that cannot be written is logged, and the daemon stays up (READY=1 is sent so
// that systemd's start job ends) to keep retrying the plan and, above all, to handle the shutdown.

import type { Config, RunReport } from '../core/types.js';
import { buildPlan } from '../core/plan.js';
import { runBoot } from '../engine/index.js';
import { alertSinkFor, settleAlerts } from '../engine/alerts.js';
import { retry } from '../retry.js';
import { deadlineIn, monotonicNow } from '../core/clock.js';
import type { Logger } from '../log.js';
import type { Notifier } from '../systemd/notify.js';
import type { Toolstack, UnreadableGuest } from '../toolstack/types.js';
import { describeRun, logPlanWarnings, statusWithWaits, summarizePlan } from './summaries.js';
import type { Witnesses } from './witnesses.js';
import { OPERATION_LOCK, tryLock } from '../state/lock.js';
import { startedFromJournal, startTimeBefore } from './boot-journal.js';

export interface BootPhaseInput {
  config: Config;
  log: Logger;
  notifier: Notifier;
  witnesses: Witnesses;
  toolstack: Toolstack;
  bootId: string;
  stopSignal: AbortSignal;
  /** Called once when the plan cannot run at once, so that systemd's start job can end meanwhile. */
  onDelayed: (status: string) => void;
}

export interface BootPhaseResult {
  ran: boolean;
  report: RunReport | null;
  idleStatus: string;
}

/** Pause between attempts at a boot plan that could not run: 5 s, doubling, at most a minute. */
const RETRY_FIRST_MS = 5_000;
const RETRY_MAX_MS = 60_000;

export async function runBootPhase(input: BootPhaseInput): Promise<BootPhaseResult> {
  const { log, witnesses, bootId, stopSignal } = input;
  const handled = await witnesses.bootHandled(bootId);
  if (handled.handled) {
    log.info({ bootId, handledAt: handled.at, witness: handled.by }, 'this boot was handled already; starting nothing');
    return { ran: false, report: null, idleStatus: `idle; boot plan ran at ${handled.at}` };
  }
  // Starts this daemon asked for, even when no witness could journal them.
  const askedHere = new Set<string>();
  if (stopSignal.aborted) return notRun('stop requested before the boot plan could run');
  try {
    // Whatever failed, the daemon stays up and tries again until it is told to stop.
    return await retry(() => attemptBoot(input, askedHere), {
      initialMs: RETRY_FIRST_MS,
      maxMs: RETRY_MAX_MS,
      deadline: Infinity,
      now: monotonicNow,
      signal: stopSignal,
      retryable: () => true,
      onRetry: (err, n, delayMs) => {
        const why = err instanceof Error ? err.message : String(err);
        const status = `boot plan not run yet (attempt ${n + 1}: ${why}); retrying in ${Math.round(delayMs / 1000)} s`;
        log.error({ attempt: n + 1, err: why, retryInMs: Math.round(delayMs) }, 'boot plan could not run; the daemon stays up and retries');
        input.onDelayed(status);
        input.notifier.status(status);
      },
    });
  } catch (err) {
    if (stopSignal.aborted) return notRun('stop requested while waiting for the toolstack');
    throw err;
  }
}

function notRun(why: string): BootPhaseResult {
  // Nothing is marked done: a later start of the daemon in this boot tries again.
  return { ran: false, report: null, idleStatus: `idle; boot plan not run (${why})` };
}

async function attemptBoot(input: BootPhaseInput, askedHere: Set<string>): Promise<BootPhaseResult> {
  const { config, log, notifier, witnesses, toolstack, bootId, stopSignal } = input;
  await waitForToolstack(input);

  const journal = await witnesses.alreadyStarted(bootId);
  await witnesses.markBoot(bootId, 'in-progress');

  const unreadable: UnreadableGuest[] = [];
  const [guests, host, snapshot, lastShutdown, lastRun] = await Promise.all([
    // Read through the event cache: its one read is the plan's, and it follows events before the first start.
    toolstack.guests({ throughEvents: true, onUnreadable: (g) => unreadable.push(g) }),
    toolstack.host(),
    witnesses.state.readSnapshot(),
    // Which guests the last shutdown migrated away rather than stopped (an unreadable report is logged and read as none).
    witnesses.state.readReport('shutdown'),
    // How long each guest took at the last boot: the slow ones start first in their group.
    witnesses.state.readReport('boot'),
  ]);
  witnesses.learnHost(host.uuid);
  const alreadyStarted = new Set([...(await startedFromJournal(journal, guests, toolstack, log)), ...askedHere]);
  if (alreadyStarted.size > 0) {
    log.warn({ count: alreadyStarted.size }, 'resuming a boot plan interrupted in this boot; guests already asked to start are not asked again');
  }
  // Guests already asked to start keep their real records: the plan keeps them in their groups
  // (the order holds across the restart), asks them for no memory and never starts them again.
  const plan = buildPlan({ mode: 'boot', config, snapshot, lastShutdown, lastRun, unreadable, guests, host, resumed: alreadyStarted });
  await logPlanWarnings(log, plan, { bootId, witnesses });
  log.info(summarizePlan(plan), 'boot plan');
  const alerts = alertSinkFor(config, toolstack, log, host.uuid, 'boot');

  const extendBy = Math.max(config.boot.readyTimeout * 2, 60) * 1000;
  const status = statusWithWaits(plan, (line) => notifier.status(line));
  // A start-all running now makes this attempt fail (LockBusyError names it) and retry later.
  const lock = await tryLock(witnesses.state.paths.dir, OPERATION_LOCK, 'the daemon (boot plan)', bootId, log);
  const report = await runBoot(
    toolstack,
    plan,
    {
      log,
      onStatus: status.onStatus,
      onProgress: (p) => {
        status.track(p);
        notifier.extendTimeout(extendBy);
      },
    },
    {
      parallelism: config.boot.parallelism,
      bootId,
      trigger: 'host boot',
      signal: stopSignal,
      alreadyStarted,
      ...(alerts ? { alerts } : {}),
      beforeStart: async (guest) => {
        askedHere.add(guest.uuid);
        await witnesses.markStarted(bootId, guest.uuid, await startTimeBefore(toolstack, guest, log));
      },
    },
  ).finally(() => lock?.release());
  // A stop that cut the boot short must reach its shutdown plan at once, not wait for alerts.
  if (alerts) report.alerts = await settleAlerts(alerts, stopSignal.aborted ? 1_000 : Infinity, log);
  await witnesses.state.writeReport(report).catch((err: unknown) => log.error({ err: (err as Error).message }, 'could not write the boot report; carrying on'));
  // An interrupted plan stays 'in-progress' so that the next start in this boot finishes it.
  const outcome = stopSignal.aborted ? 'in-progress' : 'done';
  await witnesses.markBoot(bootId, outcome);
  log.info({ outcome, totals: report.totals, exitCode: report.exitCode }, 'boot plan finished');
  return { ran: true, report, idleStatus: `idle; boot plan: ${describeRun(report)}` };
}

async function waitForToolstack(input: BootPhaseInput): Promise<void> {
  const { config, notifier, toolstack, stopSignal, log } = input;
  notifier.status(`waiting for the toolstack (${config.toolstack.kind})`);
  await toolstack.waitUntilReady({
    deadline: deadlineIn(config.xapi.waitReady * 1000),
    signal: stopSignal,
    onWaiting: (why) => {
      notifier.status(`waiting for the toolstack: ${why}`);
      log.info({ why }, 'waiting for the toolstack');
    },
  });
}
