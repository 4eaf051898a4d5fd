// `npm run bench [-- --out FILE] [-- --quick]`: every measurement in one process run, so that the
// comparisons share the machine's conditions. Prints a table and writes a JSON file.

import { execSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { measure, TRANSPORTS, type RunResult, type RunSpec, type Transport } from './measure.js';
import { timePlan, type PlanTiming } from './plan-time.js';
import { timeReady, type ReadyTiming } from './ready-time.js';
import { STRATEGIES_FOR, STRATEGY_NAMES, type Mode, type StrategyName } from './strategies/types.js';
import { PROTOCOLS, type Protocol } from '../src/xenapi/index.js';
import { measureIdle, type IdleRss } from './idle-rss.js';
import { formatReport, judgeTargets, type Target } from './table.js';
import { compareDecoders, type DecoderComparison } from './xml-decoders.js';
import { makeWorkload, type Workload } from './workload.js';

const HELP = `Usage: npm run bench [-- --out FILE] [-- --quick] [-- --sizes N,N] [-- --protocol LIST] [-- --strategies LIST]

Runs xen-guests' engine and four peer strategies (sequential, xapi's host power-off, Proxmox's
stopall/startall, libvirt-guests) against the simulated XenAPI host, time-scaled, and measures
makespan against the lower bound, outcomes, XenAPI calls, CPU and memory per guest, the engine's
reaction latency, plan time for 10,000 guests and daemon start-to-READY; then makespan at a slow
time scale (what a real host sees), the daemon's idle RSS after a boot against the runtime's own,
and the XML-RPC decoder candidates. Prints tables; writes JSON.

Options:
  --out FILE     JSON results (default bench-results.json)
  --quick        ~30 s smoke run: 20 guests, one repetition of the timings
  --sizes LIST   guest counts to run, e.g. 100,1000 (default 100,1000; quick: 20)
  --protocol LIST  XenAPI protocols xen-guests is measured over (default auto,xml-rpc: auto is the
                 default, JSON-RPC on the simulator); the peers always run over the first one
  --transport T  how every strategy reaches the host: unix (default: the simulator's Unix socket,
                 as xen-guests reaches xapi on a dom0) or tcp (http:// on the loopback)
  --no-slow      skip the slow-time-scale runs (1,000 guests at scale 0.1: ~10 minutes)
  --no-idle      skip the idle-RSS and decoder measurements
  --no-learned   skip xen-guests' "second night" rows: the same workload measured again, planned
                 with the report of a first (unmeasured) run, longest first within each group;
                 each learned row costs two runs
  --strategies LIST  only these strategies (ours,sequential,xapi,proxmox,libvirt; default all)
  --scale S      real seconds per simulated second for every strategy (default: per profile). The
                 simulator batches events for 50 ms of real time, as xapi does; the smaller the
                 scale, the more simulated time that fixed latency costs each slot turnover
  --help
`;

/** Real seconds per simulated second. Serial strategies run faster so the run stays within minutes. */
interface Profile {
  sizes: number[];
  scale: (n: number, strategy: StrategyName) => number;
  readyRepeats: number;
  readyGuests: number;
  planGuests: number;
  /** Makespan where real-time overhead is small against guest durations. */
  slow: { guests: number; scale: number; strategies: StrategyName[] };
  idleSizes: number[];
  decoderGuests: number;
}

const SERIAL: ReadonlySet<StrategyName> = new Set(['sequential', 'libvirt']);

const PROFILES: Record<'default' | 'quick', Profile> = {
  default: {
    sizes: [100, 1000],
    scale: (n, s) => (SERIAL.has(s) ? (n >= 1000 ? 0.002 : 0.01) : n >= 1000 ? 0.01 : 0.02),
    readyRepeats: 3,
    readyGuests: 1000,
    planGuests: 10_000,
    slow: { guests: 1000, scale: 0.1, strategies: ['ours', 'proxmox'] },
    idleSizes: [100, 1000],
    decoderGuests: 1000,
  },
  quick: {
    sizes: [20],
    scale: (_n, s) => (SERIAL.has(s) ? 0.005 : 0.01),
    readyRepeats: 1,
    readyGuests: 100,
    planGuests: 10_000,
    slow: { guests: 20, scale: 0.05, strategies: ['ours'] },
    idleSizes: [20],
    decoderGuests: 100,
  },
};

export interface BenchResults {
  command: string;
  startedAt: string;
  durationS: number;
  machine: { nproc: number; cpuModel: string; node: string; platform: string };
  profile: 'default' | 'quick';
  workloads: Record<string, WorkloadSummary>;
  runs: RunResult[];
  /** The same, at the slow time scale. */
  slowRuns: RunResult[];
  planTime: PlanTiming[];
  ready: ReadyTiming;
  idle: IdleRss | null;
  decoders: DecoderComparison | null;
  targets: Target[];
}

export interface WorkloadSummary {
  guests: number;
  groups: { order: number; guests: number }[];
  hung: number;
  noPv: number;
  agentReady: number;
  /** The guest mix: HVM with PV drivers, PV, HVM without drivers. */
  types: Record<string, number>;
  parallelism: number;
  guestTimeoutS: number;
}

function summarize(w: Workload): WorkloadSummary {
  return {
    guests: w.guests.length,
    groups: w.orders.map((order) => ({ order, guests: w.guests.filter((g) => g.order === order).length })),
    hung: w.guests.filter((g) => g.kind === 'hung').length,
    noPv: w.guests.filter((g) => g.kind === 'nopv').length,
    agentReady: w.guests.filter((g) => g.ready === 'agent').length,
    types: Object.fromEntries(['hvm', 'pv', 'hvm-no-drivers'].map((t) => [t, w.guests.filter((g) => g.type === t).length])),
    parallelism: w.parallelism,
    guestTimeoutS: w.guestTimeoutS,
  };
}

export function machine(): BenchResults['machine'] {
  let cpuModel = cpus()[0]?.model ?? 'unknown';
  try {
    cpuModel = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpuModel;
  } catch {
    // not Linux: os.cpus() said it
  }
  let nproc = cpus().length;
  try {
    nproc = Number(execSync('nproc', { encoding: 'utf8' }).trim()) || nproc;
  } catch {
    // no nproc binary
  }
  return { nproc, cpuModel, node: process.version, platform: `${process.platform} ${process.arch}` };
}

function parseList<T extends string>(raw: string, flag: string, allowed: readonly T[]): T[] {
  const items = raw.split(',').map((s) => s.trim());
  for (const item of items) {
    if (!(allowed as readonly string[]).includes(item)) throw new Error(`${flag} ${raw}: "${item}" is not one of ${allowed.join(', ')}`);
  }
  return items as T[];
}

/** A flag that names exactly one of `allowed`: a list is refused rather than cut to its first item. */
function parseOne<T extends string>(raw: string, flag: string, allowed: readonly T[]): T {
  if (raw.includes(',')) throw new Error(`${flag} ${raw}: takes exactly one of ${allowed.join(', ')}, not a list`);
  return parseList(raw, flag, allowed)[0]!;
}

function parseSizes(raw: string): number[] {
  const sizes = raw.split(',').map((s) => Number(s.trim()));
  for (const [i, n] of sizes.entries()) {
    if (!Number.isInteger(n) || n < 4 || n > 5000) {
      throw new Error(`--sizes ${raw}: item ${i + 1} (${raw.split(',')[i]}) must be a whole number from 4 to 5000`);
    }
  }
  return sizes;
}

/** xen-guests on "the second night": the same workload, planned with the report of a first run of it. */
async function measureLearned(spec: Omit<RunSpec, 'learned'>, log: (line: string) => void): Promise<RunResult> {
  const t = Date.now();
  const r = await measure({ ...spec, learned: true });
  log(`${r.guests} guests, ${r.mode}, ours learned (scale ${r.scale}): ${r.makespanS} s simulated (${r.ratio}× bound) in ${((Date.now() - t) / 1000).toFixed(1)} s real, first run included`);
  return r;
}

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        out: { type: 'string' },
        quick: { type: 'boolean' },
        sizes: { type: 'string' },
        protocol: { type: 'string' },
        transport: { type: 'string' },
        strategies: { type: 'string' },
        scale: { type: 'string' },
        'no-slow': { type: 'boolean' },
        'no-idle': { type: 'boolean' },
        'no-learned': { type: 'boolean' },
        help: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n${HELP}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const profileName = values.quick ? 'quick' : 'default';
  const profile = PROFILES[profileName];
  let sizes = profile.sizes;
  let protocols: Protocol[] = ['auto', 'xml-rpc'];
  let only: ReadonlySet<StrategyName> | null = null;
  let transport: Transport = 'unix';
  let scaleFor = profile.scale;
  try {
    if (values.sizes !== undefined) sizes = parseSizes(values.sizes);
    if (values.protocol !== undefined) protocols = parseList(values.protocol, '--protocol', PROTOCOLS);
    if (values.transport !== undefined) transport = parseOne(values.transport, '--transport', TRANSPORTS);
    if (values.strategies !== undefined) only = new Set(parseList(values.strategies, '--strategies', STRATEGY_NAMES));
    if (values.scale !== undefined) {
      const fixed = Number(values.scale);
      if (!(fixed > 0 && fixed <= 1)) throw new Error(`--scale ${values.scale}: must be a number > 0 and ≤ 1`);
      scaleFor = () => fixed;
    }
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n`);
    return 2;
  }
  const out = values.out ?? 'bench-results.json';
  const learned = !values['no-learned'];
  const started = Date.now();
  const log = (line: string) => process.stderr.write(`bench: ${line}\n`);

  log(`every strategy reaches the host over ${transport === 'unix' ? "the simulator's Unix socket (as xen-guests reaches xapi on a dom0)" : 'TCP on the loopback'}`);
  // Quiet machine first: the planner and the daemon's start, before any simulated host runs.
  log(`plan time for ${profile.planGuests} guests`);
  const planTime = [timePlan(profile.planGuests, 'boot'), timePlan(profile.planGuests, 'shutdown')];
  log(`daemon start-to-READY, ${profile.readyGuests} guests, nothing to start`);
  const ready = await timeReady(profile.readyGuests, profile.readyRepeats);
  let decoders: DecoderComparison | null = null;
  let idle: IdleRss | null = null;
  if (!values['no-idle']) {
    log(`XML-RPC decoders on a ${profile.decoderGuests}-guest VM.get_all_records`);
    decoders = await compareDecoders(profile.decoderGuests);
    idle = await measureIdle(profile.idleSizes, log);
  }

  const runs: RunResult[] = [];
  const workloads: Record<string, WorkloadSummary> = {};
  for (const n of sizes) {
    const w = makeWorkload({ guests: n });
    workloads[String(n)] = summarize(w);
    log(`${n} guests: ${JSON.stringify(workloads[String(n)]!.types)}, ${workloads[String(n)]!.hung} hung, ${workloads[String(n)]!.agentReady} ready by agent`);
    for (const mode of ['boot', 'shutdown'] as Mode[]) {
      for (const strategy of STRATEGIES_FOR[mode]) {
        if (only && !only.has(strategy)) continue;
        for (const protocol of strategy === 'ours' ? protocols : protocols.slice(0, 1)) {
          const scale = scaleFor(n, strategy);
          const t = Date.now();
          const r = await measure({ workload: w, mode, strategy, scale, protocol, transport });
          log(`${n} guests, ${mode}, ${strategy} over ${protocol}: ${r.makespanS} s simulated (${r.ratio}× bound) in ${((Date.now() - t) / 1000).toFixed(1)} s real`);
          runs.push(r);
        }
        if (strategy === 'ours' && learned) runs.push(await measureLearned({ workload: w, mode, strategy, scale: scaleFor(n, strategy), protocol: protocols[0]!, transport }, log));
      }
    }
  }

  const slowRuns: RunResult[] = [];
  if (!values['no-slow']) {
    const { guests, scale, strategies } = profile.slow;
    const w = makeWorkload({ guests });
    workloads[String(guests)] ??= summarize(w);
    for (const mode of ['boot', 'shutdown'] as Mode[]) {
      for (const strategy of strategies) {
        if (!STRATEGIES_FOR[mode].includes(strategy) || (only && !only.has(strategy))) continue;
        const t = Date.now();
        const r = await measure({ workload: w, mode, strategy, scale, protocol: protocols[0]!, transport, limitMs: 40 * 60_000 });
        log(`slow scale: ${guests} guests, ${mode}, ${strategy}: ${r.makespanS} s simulated (${r.ratio}× bound) in ${((Date.now() - t) / 1000).toFixed(1)} s real`);
        slowRuns.push(r);
        if (strategy === 'ours' && learned) slowRuns.push(await measureLearned({ workload: w, mode, strategy, scale, protocol: protocols[0]!, transport, limitMs: 40 * 60_000 }, log));
      }
    }
  }

  const results: BenchResults = {
    command: `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`,
    startedAt: new Date(started).toISOString(),
    durationS: Math.round((Date.now() - started) / 1000),
    machine: machine(),
    profile: profileName,
    workloads,
    runs,
    slowRuns,
    planTime,
    ready,
    idle,
    decoders,
    targets: [],
  };
  results.targets = judgeTargets(results);
  writeFileSync(out, JSON.stringify(results, null, 2) + '\n');
  process.stdout.write(formatReport(results));
  process.stdout.write(`\nJSON: ${out}\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
