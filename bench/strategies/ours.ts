// xen-guests itself: the real planner and the real engine, configured as the daemon would be, with
// every duration of the config given in simulated seconds and scaled to real time here (the engine
// works in real time; the simulator's guests in scaled time).

import { readFile } from 'node:fs/promises';
import { deadlineIn } from '../../src/core/clock.js';
import { defaultConfig } from '../../src/core/config.js';
import { buildPlan } from '../../src/core/plan.js';
import type { Config, Plan, RunReport } from '../../src/core/types.js';
import { runBoot, runShutdown } from '../../src/engine/index.js';
import { silentLogger } from '../../src/log.js';
import { simMs, type Strategy, type StrategyInput } from './types.js';

/** Long enough that the global deadline never cuts a guest's clean phase in the benchmark. */
const DEADLINE_S = 20_000;
const HARD_RESERVE_S = 60;

export function benchConfig(input: StrategyInput): Config {
  const c = defaultConfig();
  c.boot.parallelism = input.parallelism;
  c.boot.readyTimeout = input.readyTimeoutS;
  c.shutdown.parallelism = input.parallelism;
  c.shutdown.guestTimeout = input.guestTimeoutS;
  c.shutdown.deadline = DEADLINE_S;
  c.shutdown.hardReserve = HARD_RESERVE_S;
  return c;
}

/** Plan timeouts are seconds of the engine's (real) clock. */
function scalePlan(plan: Plan, scale: number): void {
  for (const g of plan.groups) for (const e of g.entries) e.timeout = e.timeout * scale;
}

async function readReportFile(file: string): Promise<RunReport> {
  return JSON.parse(await readFile(file, 'utf8')) as RunReport;
}

export const ours: Strategy = async (input) => {
  const { ts, mode, scale } = input;
  const config = benchConfig(input);
  const t0 = performance.now();
  // As the daemon does: the guests through the event cache's sync (then following events for the
  // run), the last report of this kind beside them (the read is timed too).
  const [guests, host, lastRun] = await Promise.all([ts.guests({ throughEvents: true }), ts.host(), input.lastRunFile ? readReportFile(input.lastRunFile) : null]);
  const t1 = performance.now();
  const plan = buildPlan({ mode, guests, host, config, snapshot: null, lastRun });
  const planMs = performance.now() - t1;
  scalePlan(plan, scale);
  const hooks = { log: silentLogger() };
  const report =
    mode === 'boot'
      ? await runBoot(ts, plan, hooks, { parallelism: config.boot.parallelism, bootId: 'bench', trigger: 'benchmark' })
      : await runShutdown(ts, plan, hooks, {
          parallelism: config.shutdown.parallelism,
          deadlineAt: deadlineIn(simMs(config.shutdown.deadline, scale)), // engine deadlines are monotonic ms
          hardReserveMs: simMs(config.shutdown.hardReserve, scale),
          bootId: 'bench',
          trigger: 'benchmark',
          hostUuid: host.uuid,
        });
  input.onReport?.(report);
  const entries = plan.groups.flatMap((g) => g.entries);
  return {
    ...(lastRun ? { learned: { from: plan.withinGroup?.lastRun ?? null, known: entries.filter((e) => e.lastRun?.seconds != null).length } } : {}),
    readMs: Math.round(t1 - t0),
    planMs: Math.round(planMs * 10) / 10,
    acting: plan.totals.acting,
    totals: Object.fromEntries(Object.entries(report.totals).filter(([, n]) => n > 0)),
    leftRunning: report.leftRunning.length,
  };
};
