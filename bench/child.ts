// One strategy run in a process of its own (`node dist/bench/child.js JOB_JSON`), so that its CPU
// time and peak memory are the daemon side's alone. Prints one JSON line: the result.

import { readFileSync, writeFileSync } from 'node:fs';
import type { RunReport } from '../src/core/types.js';
import { deadlineIn } from '../src/core/clock.js';
import { silentLogger } from '../src/log.js';
import { createXenApiToolstack } from '../src/toolstack/xenapi.js';
import type { Toolstack } from '../src/toolstack/types.js';
import { PROTOCOLS, type Protocol } from '../src/xenapi/index.js';
import { ours } from './strategies/ours.js';
import { libvirtGuests, proxmox, sequential, xapiPoweroff } from './strategies/peers.js';
import { startClientTrace } from './trace-client.js';
import { isStrategyName, type Mode, type Strategy, type StrategyName, type StrategyNotes } from './strategies/types.js';

export interface ChildJob {
  /** Where the strategy reaches the host: the simulator's Unix socket (unix:PATH), or http://. */
  url: string;
  /** The simulator's http:// URL, for the benchmark's own sim.* calls. */
  simUrl: string;
  /** XenAPI wire protocol of the run. */
  protocol: Protocol;
  strategy: StrategyName;
  mode: Mode;
  parallelism: number;
  scale: number;
  guestTimeoutS: number;
  readyTimeoutS: number;
  /** xen-guests: plan with the report of an earlier run of the same workload (the second night). */
  learnFrom?: string;
  /** xen-guests: write the run's report here (the first night, to learn from). */
  reportTo?: string;
}

export interface Usage {
  /** CPU time, µs. */
  userUs: number;
  systemUs: number;
  rssKb: number;
}

export interface ChildResult {
  /** Real ms from the strategy's first call to its return. */
  wallMs: number;
  /** XenAPI calls the simulator had served when the run began (login, warm-up). */
  callsBefore: number;
  /** Real ms from the strategy's first call to its first start or stop request (reading, planning). */
  preMs: number | null;
  notes: StrategyNotes;
  /** At process start (modules loaded, nothing connected), after connecting, and at the end. */
  atStart: Usage;
  beforeRun: Usage;
  afterRun: Usage;
  /** The wire protocol the client spoke (what `auto` found). */
  wireProtocol: string | null;
  /** Peak resident set of the process, kB (getrusage maxrss, and /proc VmHWM). */
  maxRssKb: number;
  vmHwmKb: number | null;
}

const STRATEGIES: Record<StrategyName, Strategy> = {
  ours,
  sequential,
  xapi: xapiPoweroff,
  proxmox,
  libvirt: libvirtGuests,
};

function usage(): Usage {
  const u = process.resourceUsage();
  return { userUs: u.userCPUTime, systemUs: u.systemCPUTime, rssKb: Math.round(process.memoryUsage.rss() / 1024) };
}

function vmHwmKb(): number | null {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

export function parseJob(text: string): ChildJob {
  const j = JSON.parse(text) as Partial<ChildJob>;
  const num = (k: keyof ChildJob): number => {
    const v = j[k];
    if (typeof v !== 'number' || !(v > 0)) throw new Error(`bench child: job.${k} = ${JSON.stringify(v)}: must be a number > 0`);
    return v;
  };
  if (typeof j.url !== 'string' || !/^(unix:|http:\/\/)/.test(j.url)) throw new Error(`bench child: job.url = ${JSON.stringify(j.url)}: must be the simulator's unix:PATH or http:// URL`);
  if (typeof j.simUrl !== 'string' || !j.simUrl.startsWith('http://')) throw new Error(`bench child: job.simUrl = ${JSON.stringify(j.simUrl)}: must be the simulator's http:// URL`);
  if (typeof j.strategy !== 'string' || !isStrategyName(j.strategy)) throw new Error(`bench child: job.strategy = ${JSON.stringify(j.strategy)}: must be one of ${Object.keys(STRATEGIES).join(', ')}`);
  if (j.mode !== 'boot' && j.mode !== 'shutdown') throw new Error(`bench child: job.mode = ${JSON.stringify(j.mode)}: must be boot or shutdown`);
  const protocol = j.protocol ?? 'auto';
  if (!PROTOCOLS.includes(protocol)) throw new Error(`bench child: job.protocol = ${JSON.stringify(j.protocol)}: must be one of ${PROTOCOLS.join(', ')}`);
  const files: Pick<ChildJob, 'learnFrom' | 'reportTo'> = {};
  for (const k of ['learnFrom', 'reportTo'] as const) {
    const v = j[k];
    if (v === undefined) continue;
    if (typeof v !== 'string' || !v.startsWith('/')) throw new Error(`bench child: job.${k} = ${JSON.stringify(v)}: must be an absolute file path`);
    if (j.strategy !== 'ours') throw new Error(`bench child: job.${k} is for xen-guests (ours) only, not ${j.strategy}`);
    files[k] = v;
  }
  return { url: j.url, simUrl: j.simUrl, protocol, strategy: j.strategy, mode: j.mode, parallelism: num('parallelism'), scale: num('scale'), guestTimeoutS: num('guestTimeoutS'), readyTimeoutS: num('readyTimeoutS'), ...files };
}

const WARM_UP_READS = 1;

/** sim.get_call_counts over JSON-RPC (no session; not a XenAPI call, so not counted). */
async function simCallTotal(url: string): Promise<number> {
  const res = await fetch(new URL('/jsonrpc', url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'sim.get_call_counts', params: [] }),
  });
  const body = (await res.json()) as { result?: { total?: unknown } };
  const total = Number(body.result?.total);
  if (!Number.isInteger(total)) throw new Error(`bench child: sim.get_call_counts answered ${JSON.stringify(body).slice(0, 200)}`);
  return total;
}

/** The same toolstack, noting when the strategy first asks for a start or a stop. */
function watchFirstAction(ts: Toolstack, mark: () => void): Toolstack {
  return {
    ...ts,
    kind: ts.kind,
    start: (g, o) => (mark(), ts.start(g, o)),
    requestCleanShutdown: (g) => (mark(), ts.requestCleanShutdown(g)),
    hardShutdown: (g, o) => (mark(), ts.hardShutdown(g, o)),
  };
}

async function main(): Promise<void> {
  const atStart = usage();
  const job = parseJob(process.argv[2] ?? '');
  // XG_BENCH_TRACE=FILE (bench/reaction-trace.ts): this side of every reaction, written to FILE.
  const traceFile = process.env['XG_BENCH_TRACE'];
  const tracer = traceFile ? startClientTrace() : null;
  const ts = createXenApiToolstack({
    url: job.url,
    protocol: job.protocol,
    user: 'root',
    password: '',
    callTimeoutMs: 60_000,
    log: silentLogger(),
    inventoryPath: '/nonexistent/xensource-inventory',
  });
  try {
    // Connected and logged in before the clock starts, as the daemon is when its plan begins.
    await ts.waitUntilReady({ deadline: deadlineIn(30_000) });
    // Warm both processes' code paths (a fresh process runs its first calls cold, and the time
    // scale would magnify that 50–500×); the calls this costs are subtracted from the run's count.
    for (let i = 0; i < WARM_UP_READS; i++) await ts.guests();
    const wireProtocol = (await ts.host()).protocol ?? null;
    const callsBefore = await simCallTotal(job.simUrl);
    const beforeRun = usage();
    const t0 = performance.now();
    let firstActionAt: number | null = null;
    const acting = watchFirstAction(tracer ? tracer.wrap(ts) : ts, () => (firstActionAt ??= performance.now()));
    let report: RunReport | null = null;
    const notes = await STRATEGIES[job.strategy]({
      ts: acting, mode: job.mode, parallelism: job.parallelism, scale: job.scale, guestTimeoutS: job.guestTimeoutS, readyTimeoutS: job.readyTimeoutS,
      ...(job.learnFrom ? { lastRunFile: job.learnFrom } : {}),
      onReport: (r) => (report = r),
    });
    const wallMs = performance.now() - t0;
    const afterRun = usage();
    // Written after the clock stopped: the first night's report is the learned run's input, not part of the first run's cost.
    if (job.reportTo && report) writeFileSync(job.reportTo, JSON.stringify(report));
    const preMs = firstActionAt === null ? null : (firstActionAt as number) - t0;
    const result: ChildResult = { wallMs, preMs, callsBefore, notes, atStart, beforeRun, afterRun, wireProtocol, maxRssKb: process.resourceUsage().maxRSS, vmHwmKb: vmHwmKb() };
    if (tracer && traceFile) tracer.write(traceFile);
    process.stdout.write(JSON.stringify(result) + '\n');
  } finally {
    await ts.close().catch(() => undefined);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench child: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
