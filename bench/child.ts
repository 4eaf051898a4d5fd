// One strategy run in a process of its own (`node dist/bench/child.js JOB_JSON`), so that its CPU
// time and peak memory are the daemon side's alone. Prints one JSON line: the result.

import { readFileSync } from 'node:fs';
import { silentLogger } from '../src/log.js';
import { createXenApiToolstack } from '../src/toolstack/xenapi.js';
import { ours } from './strategies/ours.js';
import { libvirtGuests, proxmox, sequential, xapiPoweroff } from './strategies/peers.js';
import { isStrategyName, type Mode, type Strategy, type StrategyName, type StrategyNotes } from './strategies/types.js';

export interface ChildJob {
  url: string;
  strategy: StrategyName;
  mode: Mode;
  parallelism: number;
  scale: number;
  guestTimeoutS: number;
  readyTimeoutS: number;
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
  notes: StrategyNotes;
  /** At process start (modules loaded, nothing connected), after connecting, and at the end. */
  atStart: Usage;
  beforeRun: Usage;
  afterRun: Usage;
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
  if (typeof j.url !== 'string' || !j.url.startsWith('http')) throw new Error(`bench child: job.url = ${JSON.stringify(j.url)}: must be the simulator's http:// URL`);
  if (typeof j.strategy !== 'string' || !isStrategyName(j.strategy)) throw new Error(`bench child: job.strategy = ${JSON.stringify(j.strategy)}: must be one of ${Object.keys(STRATEGIES).join(', ')}`);
  if (j.mode !== 'boot' && j.mode !== 'shutdown') throw new Error(`bench child: job.mode = ${JSON.stringify(j.mode)}: must be boot or shutdown`);
  return { url: j.url, strategy: j.strategy, mode: j.mode, parallelism: num('parallelism'), scale: num('scale'), guestTimeoutS: num('guestTimeoutS'), readyTimeoutS: num('readyTimeoutS') };
}

async function main(): Promise<void> {
  const atStart = usage();
  const job = parseJob(process.argv[2] ?? '');
  const ts = createXenApiToolstack({
    url: job.url,
    user: 'root',
    password: '',
    callTimeoutMs: 60_000,
    log: silentLogger(),
    inventoryPath: '/nonexistent/xensource-inventory',
  });
  try {
    // Connected and logged in before the clock starts, as the daemon is when its plan begins.
    await ts.waitUntilReady({ deadline: Date.now() + 30_000 });
    const beforeRun = usage();
    const t0 = performance.now();
    const notes = await STRATEGIES[job.strategy]({ ts, mode: job.mode, parallelism: job.parallelism, scale: job.scale, guestTimeoutS: job.guestTimeoutS, readyTimeoutS: job.readyTimeoutS });
    const wallMs = performance.now() - t0;
    const afterRun = usage();
    const result: ChildResult = { wallMs, notes, atStart, beforeRun, afterRun, maxRssKb: process.resourceUsage().maxRSS, vmHwmKb: vmHwmKb() };
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
