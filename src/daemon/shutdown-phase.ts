// Host shutdown: snapshot first (seed 003), then the shutdown plan inside one global deadline.
// systemd's stop timeout is pushed out while the work runs, never past our own deadline.

import type { Config, RunReport, ShutdownSnapshot } from '../core/types.js';
import { buildPlan } from '../core/plan.js';
import { effectivePolicy } from '../core/policy.js';
import { runShutdown } from '../engine/index.js';
import type { Logger } from '../log.js';
import type { Notifier } from '../systemd/notify.js';
import type { StateDir } from '../state/index.js';
import type { Guest, HostInfo, Toolstack } from '../toolstack/types.js';
import { summarizePlan } from './summaries.js';

export interface ShutdownPhaseInput {
  config: Config;
  log: Logger;
  notifier: Notifier;
  state: StateDir;
  toolstack: Toolstack;
  bootId: string;
  trigger: string;
}

/** Margin added to systemd's stop timeout beyond our own deadline, for writing the report and exiting. */
const SYSTEMD_MARGIN_MS = 30_000;
const EXTEND_EVERY_MS = 5_000;

export async function runShutdownPhase(input: ShutdownPhaseInput): Promise<RunReport> {
  const { config, log, notifier, state, toolstack, bootId, trigger } = input;
  const deadlineAt = Date.now() + config.shutdown.deadline * 1000;
  const hardReserveMs = config.shutdown.hardReserve * 1000;
  const extend = () => notifier.extendTimeout(Math.max(0, deadlineAt - Date.now()) + SYSTEMD_MARGIN_MS);
  extend();
  const ticker = setInterval(extend, EXTEND_EVERY_MS);
  try {
    await toolstack.waitUntilReady({
      deadline: deadlineAt - hardReserveMs,
      onWaiting: (why) => {
        notifier.status(`stopping: waiting for the toolstack: ${why}`);
        log.error({ why }, 'host is going down but the toolstack does not answer; retrying');
      },
    });
    const [guests, host] = await Promise.all([toolstack.guests(), toolstack.host()]);
    await writeSnapshotSafely(state, log, takeSnapshot(guests, host, config, bootId));

    const plan = buildPlan({ mode: 'shutdown', guests, host, config, snapshot: null });
    for (const w of plan.warnings) log[w.level ?? 'warn']({ guest: w.guest?.uuid, name: w.guest?.name }, w.message);
    log.info(summarizePlan(plan), 'shutdown plan');

    const report = await runShutdown(
      toolstack,
      plan,
      { log, onStatus: (line) => notifier.status(line), onProgress: extend },
      { parallelism: config.shutdown.parallelism, deadlineAt, hardReserveMs, bootId, trigger, hostUuid: host.uuid },
    );
    await state.writeReport(report).catch((err: unknown) => log.error({ err }, 'could not write the shutdown report'));
    const level = report.leftRunning.length > 0 ? 'error' : 'info';
    log[level]({ totals: report.totals, leftRunning: report.leftRunning }, 'shutdown plan finished');
    return report;
  } finally {
    clearInterval(ticker);
  }
}

export function takeSnapshot(guests: Guest[], host: HostInfo, config: Config, bootId: string): ShutdownSnapshot {
  return {
    takenAt: new Date().toISOString(),
    bootId,
    hostUuid: host.uuid,
    guests: guests
      .filter((g) => !g.isTemplate && !g.isSnapshot && !g.isControlDomain)
      .map((g) => ({
        uuid: g.uuid,
        name: g.name,
        powerState: g.powerState,
        residentOn: g.residentOn,
        affinity: g.affinity,
        order: g.order,
        memoryMax: g.memoryMax,
        otherConfig: g.otherConfig,
        policy: effectivePolicy(g, config),
      })),
  };
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
