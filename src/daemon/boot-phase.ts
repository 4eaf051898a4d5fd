// Host boot, once per boot: the boot id recorded in the state directory says whether this boot
// was handled already, so neither a daemon restart nor a toolstack restart starts anything.
// A daemon killed in the middle of the plan resumes it: guests it already asked to start are
// never asked again.

import type { Config, RunReport } from '../core/types.js';
import { buildPlan } from '../core/plan.js';
import { runBoot } from '../engine/index.js';
import type { Logger } from '../log.js';
import type { Notifier } from '../systemd/notify.js';
import type { StateDir } from '../state/index.js';
import type { Toolstack } from '../toolstack/types.js';
import { describeRun, summarizePlan } from './summaries.js';

export interface BootPhaseInput {
  config: Config;
  log: Logger;
  notifier: Notifier;
  state: StateDir;
  toolstack: Toolstack;
  bootId: string;
  stopSignal: AbortSignal;
}

export interface BootPhaseResult {
  ran: boolean;
  report: RunReport | null;
  idleStatus: string;
}

export async function runBootPhase(input: BootPhaseInput): Promise<BootPhaseResult> {
  const { config, log, notifier, state, toolstack, bootId, stopSignal } = input;
  const marker = await state.readBootMarker();
  if (marker && marker.bootId === bootId && marker.outcome === 'done') {
    log.info({ bootId, handledAt: marker.handledAt }, 'this boot was handled already; starting nothing');
    return { ran: false, report: null, idleStatus: `idle; boot plan ran at ${marker.handledAt}` };
  }

  const ready = await waitForToolstack(input);
  if (!ready) {
    // Nothing is marked: a later start of the daemon in this boot tries again.
    return { ran: false, report: null, idleStatus: 'idle; boot plan not run (stop requested while waiting for the toolstack)' };
  }

  const alreadyStarted = marker && marker.bootId === bootId ? await state.readBootProgress() : new Set<string>();
  if (alreadyStarted.size > 0) {
    log.warn({ count: alreadyStarted.size }, 'resuming a boot plan interrupted in this boot; guests already asked to start are not asked again');
  }
  await state.writeBootMarker({ bootId, handledAt: new Date().toISOString(), outcome: 'in-progress' });

  const [guests, host, snapshot] = await Promise.all([toolstack.guests(), toolstack.host(), state.readSnapshot()]);
  const plan = buildPlan({ mode: 'boot', guests, host, config, snapshot });
  for (const w of plan.warnings) log[w.level ?? 'warn']({ guest: w.guest?.uuid, name: w.guest?.name }, w.message);
  log.info(summarizePlan(plan), 'boot plan');

  const extendBy = Math.max(config.boot.readyTimeout * 2, 60) * 1000;
  const report = await runBoot(
    toolstack,
    plan,
    {
      log,
      onStatus: (line) => notifier.status(line),
      onProgress: () => notifier.extendTimeout(extendBy),
    },
    {
      parallelism: config.boot.parallelism,
      bootId,
      trigger: 'host boot',
      signal: stopSignal,
      alreadyStarted,
      beforeStart: (guest) => state.markBootStarted(bootId, guest.uuid),
    },
  );
  await state.writeReport(report);
  // An interrupted plan stays 'in-progress' so that the next start in this boot finishes it.
  const outcome = stopSignal.aborted ? 'in-progress' : 'done';
  await state.writeBootMarker({ bootId, handledAt: new Date().toISOString(), outcome });
  const idleStatus = `idle; boot plan: ${describeRun(report)}`;
  log.info({ outcome, totals: report.totals, exitCode: report.exitCode }, 'boot plan finished');
  return { ran: true, report, idleStatus };
}

async function waitForToolstack(input: BootPhaseInput): Promise<boolean> {
  const { config, notifier, toolstack, stopSignal, log } = input;
  const deadline = Date.now() + config.xapi.waitReady * 1000;
  notifier.status(`waiting for the toolstack (${config.toolstack.kind})`);
  try {
    await toolstack.waitUntilReady({
      deadline,
      signal: stopSignal,
      onWaiting: (why) => {
        notifier.status(`waiting for the toolstack: ${why}`);
        log.info({ why }, 'waiting for the toolstack');
      },
    });
    return true;
  } catch (err) {
    if (stopSignal.aborted) return false;
    throw err;
  }
}
