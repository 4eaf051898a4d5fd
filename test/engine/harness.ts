// The engine's test rig: the REAL simulator process, the XenAPI toolstack on top of it, and plans
// built by the real planner. Only the hypervisor is simulated.

import { buildPlan } from '../../src/core/plan.js';
import { defaultConfig } from '../../src/core/config.js';
import type { Config, Plan, PlanMode, RunReport, GuestReport } from '../../src/core/types.js';
import type { Progress } from '../../src/engine/hooks.js';
import { createLogger, silentLogger, type Logger } from '../../src/log.js';
import { createXenApiToolstack } from '../../src/toolstack/xenapi.js';
import type { Toolstack } from '../../src/toolstack/types.js';
import { spawnSim, type SimHandle, type TimelineEvent } from '../helpers/sim.js';

export const HOST = 'sim-host-1';

export interface Rig {
  sim: SimHandle;
  ts: Toolstack;
  /** A second, independent client: "someone else" acting on the pool. */
  other: { call(method: string, ...params: unknown[]): Promise<unknown>; refOf(name: string): Promise<string> };
  log: Logger;
  close(): Promise<void>;
}

/** Test scenario guest; behaviour durations in simulated seconds. */
export type SimGuest = Record<string, unknown> & { name_label: string };

export async function rig(guests: SimGuest[], opts: { timeScale?: number; xapi?: Record<string, number>; logLines?: object[]; srs?: object[] } = {}): Promise<Rig> {
  const sim = await spawnSim({
    timeScale: opts.timeScale ?? 0.01,
    scenario: { guests, templates: 1, snapshot: false, ...(opts.xapi ? { xapi: opts.xapi } : {}), ...(opts.srs ? { srs: opts.srs } : {}) },
  });
  const log = opts.logLines ? captureLogger(opts.logLines) : silentLogger();
  const ts = createXenApiToolstack({
    url: sim.url,
    user: 'root',
    password: '',
    callTimeoutMs: 10_000,
    log: silentLogger(),
    inventoryPath: '/nonexistent/xensource-inventory',
    eventTimeoutS: 5,
  });
  const session = await sim.login();
  const other = {
    call: (method: string, ...params: unknown[]) => sim.call(method, session, ...params),
    async refOf(name: string) {
      const refs = (await sim.call('VM.get_by_name_label', session, name)) as string[];
      if (refs.length !== 1) throw new Error(`expected one VM named ${name}, found ${refs.length}`);
      return refs[0]!;
    },
  };
  return {
    sim,
    ts,
    other,
    log,
    async close() {
      await ts.close().catch(() => undefined);
      await sim.stop();
    },
  };
}

function captureLogger(lines: object[]): Logger {
  const sink = {
    write(chunk: string) {
      for (const l of chunk.split('\n')) if (l.trim()) lines.push(JSON.parse(l) as object);
      return true;
    },
  };
  return createLogger({ json: true, level: 'info', destination: sink as unknown as NodeJS.WritableStream });
}

export function testConfig(over: (c: Config) => void = () => undefined): Config {
  const c = defaultConfig();
  over(c);
  return c;
}

/** The real planner over the simulator's guests; `timeouts` (seconds, real time) replaces each entry's timeout. */
export async function planFor(ts: Toolstack, mode: PlanMode, opts: { config?: Config; timeout?: number } = {}): Promise<Plan> {
  const [guests, host] = await Promise.all([ts.guests(), ts.host()]);
  const plan = buildPlan({ mode, guests, host, config: opts.config ?? testConfig(), snapshot: null });
  if (opts.timeout !== undefined) for (const g of plan.groups) for (const e of g.entries) e.timeout = opts.timeout;
  return plan;
}

export function startOn(): Record<string, string> {
  return { auto_poweron: 'true' };
}

/** Per guest name: its timeline events, with t_ms as numbers (ms since the simulator started). */
export async function timelines(sim: SimHandle): Promise<Map<string, (TimelineEvent & { t: number })[]>> {
  const raw = await sim.timeline();
  const out = new Map<string, (TimelineEvent & { t: number })[]>();
  for (const v of Object.values(raw)) out.set(v.name_label, v.events.map((e) => ({ ...e, t: Number(e.t_ms) })));
  return out;
}

export function firstAt(events: { event: string; t: number }[] | undefined, event: string): number | undefined {
  return events?.find((e) => e.event === event)?.t;
}

export function byName(report: RunReport): Map<string, GuestReport> {
  return new Map(report.guests.map((g) => [g.guest.name, g]));
}

/** Largest number of intervals [from, to) open at once. */
export function maxOverlap(intervals: [number, number][]): number {
  const points = intervals.flatMap(([a, b]) => [
    [a, 1],
    [b, -1],
  ] as [number, number][]);
  points.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let open = 0;
  let max = 0;
  for (const [, d] of points) {
    open += d;
    max = Math.max(max, open);
  }
  return max;
}

export function recorder(): { progress: Progress[]; status: string[]; hooks: { onProgress: (p: Progress) => void; onStatus: (l: string) => void } } {
  const progress: Progress[] = [];
  const status: string[] = [];
  return { progress, status, hooks: { onProgress: (p) => progress.push(p), onStatus: (l) => status.push(l) } };
}
