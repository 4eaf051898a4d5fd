// One measured run: a fresh simulated host, one strategy in its own process, then the simulator's
// account of what happened (calls, timeline, final states) judged against the workload's facts.

import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { loadavg, tmpdir } from 'node:os';
import { analyze, type Outcome } from './analyze.js';
import { lowerBound } from './bound.js';
import type { ChildJob, ChildResult } from './child.js';
import { ROOT, startSimProcess, stopChild } from './sim-process.js';
import type { Mode, StrategyName, StrategyNotes } from './strategies/types.js';
import type { Protocol } from '../src/xenapi/index.js';
import { unitNodeFlags } from './idle-rss.js';
import { reactionBreakdown, reactionLatency, type Reaction, type ReactionBreakdown } from './reaction.js';
import { scenarioFor, type Workload } from './workload.js';

const CHILD = join(ROOT, 'dist/bench/child.js');

export interface RunSpec {
  workload: Workload;
  /** XenAPI protocol the strategy's client is configured with (default auto, as shipped). */
  protocol?: Protocol;
  mode: Mode;
  strategy: StrategyName;
  /** Real seconds per simulated second. */
  scale: number;
  /** Bound on the whole run, real ms (a hang fails the benchmark instead of stalling it). */
  limitMs?: number;
  /**
   * xen-guests only, "the second night": a first run of the same workload on a fresh simulator,
   * unmeasured, whose report the measured run (on another fresh simulator) plans with.
   */
  learned?: boolean;
  /** How the strategy reaches the host: its Unix socket (default, as on a dom0) or TCP. */
  transport?: Transport;
}

export type Transport = 'unix' | 'tcp';
export const TRANSPORTS: readonly Transport[] = ['unix', 'tcp'];

export interface RunResult {
  strategy: StrategyName;
  /** Planned with the report of a first run of the same workload (RunSpec.learned). */
  learned: boolean;
  protocol: Protocol;
  transport: Transport;
  /** What the client spoke (what `auto` found on the simulator). */
  wireProtocol: string | null;
  mode: Mode;
  guests: number;
  scale: number;
  /**
   * Simulated seconds from the strategy's first start/stop request to its return (its own clock),
   * and the lower bound from the workload's facts.
   */
  makespanS: number;
  boundS: number;
  ratio: number;
  /** The bound from the durations the simulated guests took in this run (see bound.ts). */
  observedBoundS: number;
  observedRatio: number;
  /** Real ms before the first request: reading the guests and planning (does not scale with guest time). */
  preMs: number;
  /** The formula applied to whole guest durations (differs at boot, see bound.ts). */
  literalBoundS: number;
  /** First request → last guest done as the simulator saw it, simulated seconds. */
  spanS: number;
  outcome: Outcome;
  /** XenAPI calls of the run (login and warm-up excluded); byMethod counts everything the simulator served. */
  calls: { total: number; perGuest: number; byMethod: Record<string, number> };
  cost: {
    /** Strategy run only (after connect), ms of CPU. */
    cpuMs: number;
    cpuMsPerGuest: number;
    /** Whole process, start to end, ms of CPU. */
    processCpuMs: number;
    peakRssMb: number;
    rssAtStartMb: number;
  };
  /** xen-guests only: from the event that frees a slot or ends a group to the next request (reaction.ts). */
  reaction: Reaction | null;
  /** The machine's 1-minute load average when the run began and when it ended (os.loadavg). */
  load: { before: number; after: number };
  /** xen-guests only: where the reaction's time goes, and the host's own timer lateness beside it. */
  reactionBreakdown: ReactionBreakdown | null;
  notes: StrategyNotes;
}

export async function measure(spec: RunSpec): Promise<RunResult> {
  const { workload: w, mode, strategy, scale } = spec;
  const learned = spec.learned === true;
  if (learned && strategy !== 'ours') throw new Error(`bench: a learned run is for xen-guests (ours) only, not ${strategy}`);
  const protocol = spec.protocol ?? 'auto';
  const limitMs = spec.limitMs ?? 15 * 60_000;
  const learnDir = learned ? await mkdtemp(join(tmpdir(), 'xg-bench-learn-')) : null;
  try {
    const lastRunFile = learnDir ? await firstNight(spec, protocol, limitMs, join(learnDir, `${mode}-report.json`)) : null;
    return await measured(spec, protocol, limitMs, lastRunFile);
  } finally {
    if (learnDir) await rm(learnDir, { recursive: true, force: true });
  }
}

/** The unmeasured first run of a learned pair, on its own fresh simulator: it leaves its report in `reportTo`. */
async function firstNight(spec: RunSpec, protocol: Protocol, limitMs: number, reportTo: string): Promise<string> {
  const { workload: w, mode, scale } = spec;
  const sim = await startSimProcess(scenarioFor(w, mode), scale);
  try {
    await runChild(jobFor(spec, sim, protocol, { reportTo }), limitMs);
    return reportTo;
  } finally {
    await sim.stop();
  }
}

/** The child's job for this spec on this simulator (over its Unix socket unless the spec says TCP). */
function jobFor(spec: RunSpec, sim: { url: string; xapiUrl: string }, protocol: Protocol, files: Pick<ChildJob, 'learnFrom' | 'reportTo'>): ChildJob {
  const { workload: w, mode, strategy, scale } = spec;
  const url = (spec.transport ?? 'unix') === 'unix' ? sim.xapiUrl : sim.url;
  return { url, simUrl: sim.url, protocol, strategy, mode, parallelism: w.parallelism, scale, guestTimeoutS: w.guestTimeoutS, readyTimeoutS: w.readyTimeoutS, ...files };
}

async function measured(spec: RunSpec, protocol: Protocol, limitMs: number, lastRunFile: string | null): Promise<RunResult> {
  const { workload: w, mode, strategy, scale } = spec;
  const loadBefore = round(loadavg()[0]!, 2);
  const sim = await startSimProcess(scenarioFor(w, mode), scale);
  try {
    const transport = spec.transport ?? 'unix';
    const child = await runChild(jobFor(spec, sim, protocol, lastRunFile ? { learnFrom: lastRunFile } : {}), limitMs);
    // The same workload on a fresh simulator has the same host and guest uuids: a report the plan could not use is a broken benchmark, not a result.
    const learnedFrom = (child.notes['learned'] as { from: unknown; known: number } | undefined);
    if (lastRunFile && (!learnedFrom?.from || learnedFrom.known === 0)) throw new Error(`bench: ${mode}: the learned run could not use the first run's report (${JSON.stringify(learnedFrom)})`);
    const counts = await sim.callCounts();
    const [timeline, powerStates, eventFromAt] = await Promise.all([sim.timeline(), sim.powerStates(), strategy === 'ours' ? sim.eventFromArrivals() : []]);
    const { outcome, observed } = analyze(w, mode, timeline, powerStates, scale);
    const bound = lowerBound(w, mode);
    const observedBound = lowerBound(w, mode, observed);
    const n = w.guests.length;
    const preMs = child.preMs ?? 0;
    const makespanS = (child.wallMs - preMs) / 1000 / scale;
    const cpu = (u: { userUs: number; systemUs: number }) => (u.userUs + u.systemUs) / 1000;
    const cpuMs = cpu(child.afterRun) - cpu(child.beforeRun);
    return {
      strategy,
      learned: lastRunFile !== null,
      protocol,
      transport,
      wireProtocol: child.wireProtocol ?? null,
      mode,
      guests: n,
      scale,
      makespanS: round(makespanS, 1),
      boundS: round(bound.total, 1),
      ratio: round(makespanS / bound.total, 3),
      observedBoundS: round(observedBound.total, 1),
      observedRatio: round(makespanS / observedBound.total, 3),
      preMs: round(preMs, 0),
      literalBoundS: round(bound.literal, 1),
      spanS: round(outcome.spanMs / 1000 / scale, 1),
      outcome,
      calls: { total: counts.total - child.callsBefore, perGuest: round((counts.total - child.callsBefore) / n, 2), byMethod: counts.by_method },
      cost: {
        cpuMs: round(cpuMs, 1),
        cpuMsPerGuest: round(cpuMs / n, 3),
        processCpuMs: round(cpu(child.afterRun), 1),
        peakRssMb: round((child.vmHwmKb ?? child.maxRssKb) / 1024, 1),
        rssAtStartMb: round(child.atStart.rssKb / 1024, 1),
      },
      reaction: strategy === 'ours' ? reactionLatency(w, mode, timeline) : null,
      load: { before: loadBefore, after: round(loadavg()[0]!, 2) },
      reactionBreakdown: strategy === 'ours' ? reactionBreakdown(w, mode, timeline, eventFromAt, scale) : null,
      notes: child.notes,
    };
  } finally {
    await sim.stop();
  }
}

/** `env`: the child's environment (XG_BENCH_TRACE for bench/reaction-trace.ts). */
export function runChild(job: ChildJob, limitMs: number, env: NodeJS.ProcessEnv = process.env): Promise<ChildResult> {
  return new Promise((ok, fail) => {
    // XG_BENCH_CPU_PROF=DIR: a --cpu-prof of every child, to find where the engine's CPU goes.
    const prof = process.env['XG_BENCH_CPU_PROF'];
    const flags = prof ? ['--cpu-prof', '--cpu-prof-dir', prof, '--cpu-prof-name', `${job.strategy}-${job.mode}-${job.protocol}-${Date.now()}.cpuprofile`] : [];
    // Every strategy runs with the node flags the unit gives the daemon, so memory compares as shipped.
    const proc = spawn(process.execPath, [...unitNodeFlags(), ...flags, CHILD, JSON.stringify(job)], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    let err = '';
    proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => {
      void stopChild(proc);
      fail(new Error(`${job.strategy} ${job.mode}: no result within ${Math.round(limitMs / 1000)} s; stderr: ${err}`));
    }, limitMs);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line) return fail(new Error(`${job.strategy} ${job.mode}: child exited with ${code}; stderr: ${err}`));
      try {
        ok(JSON.parse(line) as ChildResult);
      } catch {
        fail(new Error(`${job.strategy} ${job.mode}: unreadable child result: ${line.slice(0, 200)}`));
      }
    });
  });
}

export function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
