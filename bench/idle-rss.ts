// Lean at rest: the real daemon, started as the unit starts it (the node flags of
// units/xen-guests.service's ExecStart), boots N enabled guests on the simulated host, reports READY,
// and then idles; its resident set is sampled from /proc until it settles. Beside it, the runtime's
// own floor: `node -e 'setInterval(()=>{},1e9)'` (and the compiled executable, when out/xen-guests
// exists). Then SIGTERM, and the time until the first stop request reaches the host — how fast
// the shutdown starts from rest — read from the simulator's call log.

import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, startSimProcess, stopChild } from './sim-process.js';
import { startDaemonUntilReady } from './ready-time.js';
import { makeWorkload, scenarioFor } from './workload.js';

const SAMPLE_EVERY_MS = 500;
/** Long enough for V8 to return freed pages (they go back ~10 s after the collection). */
const IDLE_FOR_MS = 30_000;
/** The settled value: the least of the samples in this last stretch. */
const SETTLED_WINDOW_MS = 10_000;
const SCALE = 0.01;

export interface IdleRun {
  guests: number;
  /** What ran: 'node' (with the unit's flags) or 'executable'. */
  runtime: 'node' | 'executable';
  readyMs: number;
  /** CPU the daemon used up to READY=1, ms. */
  cpuMsToReady: number;
  /** Resident set at rest after it settled, MB; and its peak over the whole life (VmHWM). */
  idleMb: number;
  /** Of the settled resident set: anonymous memory (heaps) and pages of files (the executable, libraries), MB. */
  idleAnonMb: number;
  idleFileMb: number;
  peakMb: number;
  /** XenAPI sessions the simulator holds while the daemon rests (0: it let go of its own). */
  sessionsAtRest: number;
  /** SIGTERM → the host's first stop request, ms (the simulator's call log). */
  sigtermToFirstStopMs: number | null;
  exitCode: number | null;
}

export interface IdleRss {
  /** `node -e 'setInterval(()=>{},1e9)'`, MB. */
  nodeBaselineMb: number;
  /**
   * The same under the Bun runtime the executable is compiled with (packaging/runtime/, pinned),
   * MB; null when that runtime is not installed (the packaging step installs it).
   */
  bunBaselineMb: number | null;
  /** The node flags the unit starts the daemon with. */
  unitNodeFlags: string[];
  runs: IdleRun[];
  /** Why the compiled executable was not measured, when it was not. */
  executableNotRun: string | null;
}

const EXECUTABLE = join(ROOT, 'out/xen-guests');
/** The runtime packaging/build.sh compiles into the executable, where its `npm ci` puts it. */
const BUN = join(ROOT, 'packaging/runtime/node_modules/@oven/bun-linux-x64-baseline/bin/bun');
const IDLE_SCRIPT = 'setInterval(()=>{},1e9)';

/**
 * The node flags the daemon runs with under node (README, "Run the daemon by hand"): V8's young
 * generation capped, or it stays committed at 2 × 16 MiB after the boot. The packaged unit runs the
 * compiled executable instead, measured beside it when out/xen-guests exists.
 */
export const DAEMON_NODE_FLAGS = ['--max-semi-space-size=1'];

export function unitNodeFlags(): string[] {
  return DAEMON_NODE_FLAGS;
}

export async function measureIdle(sizes: number[], log: (line: string) => void): Promise<IdleRss> {
  const flags = unitNodeFlags();
  const nodeBaselineMb = await baseline([process.execPath, '-e', IDLE_SCRIPT]);
  const bunBaselineMb = existsSync(BUN) ? await baseline([BUN, '-e', IDLE_SCRIPT]) : null;
  const runs: IdleRun[] = [];
  for (const n of sizes) {
    log(`idle RSS after booting ${n} guests (node ${flags.join(' ')})`);
    runs.push(await idleAfterBoot(n, 'node', [process.execPath, ...flags, join(ROOT, 'dist/src/cli/bin.js')]));
  }
  let executableNotRun: string | null = `${EXECUTABLE} does not exist (build it with the packaging step)`;
  if (existsSync(EXECUTABLE)) {
    executableNotRun = null;
    for (const n of sizes) {
      log(`idle RSS after booting ${n} guests (compiled executable)`);
      runs.push(await idleAfterBoot(n, 'executable', [EXECUTABLE]));
    }
  }
  return { nodeBaselineMb, bunBaselineMb, unitNodeFlags: flags, runs, executableNotRun };
}

async function baseline(command: string[]): Promise<number> {
  const proc = spawn(command[0]!, command.slice(1), { stdio: 'ignore' });
  try {
    // Past its start-up (the first samples see a process still loading), then steady.
    const samples = await sampleRss(proc.pid!, 4_000);
    return round1(Math.min(...samples.slice(samples.length / 2)));
  } finally {
    await stopChild(proc);
  }
}

async function idleAfterBoot(guests: number, runtime: IdleRun['runtime'], command: string[]): Promise<IdleRun> {
  const sim = await startSimProcess(scenarioFor(makeWorkload({ guests }), 'boot'), SCALE);
  const dir = await mkdtemp(join(tmpdir(), 'xg-bench-idle-'));
  try {
    const bootIdFile = join(dir, 'boot_id');
    await writeFile(bootIdFile, `${crypto.randomUUID()}\n`);
    const daemon = await startDaemonUntilReady({
      url: sim.xapiUrl, // the daemon's default: xapi's Unix socket
      stateDir: join(dir, 'state'),
      bootIdFile,
      socketPath: join(dir, 'notify.sock'),
      onSigterm: 'stop-guests',
      command,
      // The daemon's timeouts are real seconds while the guests live scaled time: a short clean
      // phase, so that the hung guests are hard-stopped in seconds.
      configToml: '[shutdown]\nguest_timeout = 5\ndeadline = 120\nhard_reserve = 10\n',
    });
    try {
      const pid = daemon.proc.pid!;
      const cpuMsToReady = cpuMsOf(pid);
      const samples = await sampleRss(pid, IDLE_FOR_MS);
      const idleMb = Math.min(...samples.slice(-Math.round(SETTLED_WINDOW_MS / SAMPLE_EVERY_MS)));
      const peakMb = statusKb(pid, 'VmHWM') / 1024;
      const idleAnonMb = round1(statusKb(pid, 'RssAnon') / 1024);
      const idleFileMb = round1(statusKb(pid, 'RssFile') / 1024);
      const info = (await sim.call('sim.get_info')) as { sessions: number };
      // A marker on the host's own clock right before the signal: a login of ours.
      const seqBefore = lastSeq((await sim.call('sim.get_call_log', 0)) as CallLogEntry[]);
      await sim.call('session.login_with_password', 'root', '', '2.0', 'xen-guests-bench-marker');
      daemon.proc.kill('SIGTERM');
      const exitCode = await daemon.exited;
      const entries = ((await sim.call('sim.get_call_log', seqBefore)) as CallLogEntry[]).map((e) => ({ ...e, t_ms: Number(e.t_ms), seq: Number(e.seq) }));
      const marker = entries.find((e) => e.method === 'session.login_with_password');
      const firstStop = entries.find((e) => /VM\.(clean|hard)_shutdown$/.test(e.method));
      return {
        guests,
        runtime,
        readyMs: daemon.readyMs,
        cpuMsToReady,
        idleMb: round1(idleMb),
        idleAnonMb,
        idleFileMb,
        peakMb: round1(peakMb),
        sessionsAtRest: Number(info.sessions),
        sigtermToFirstStopMs: marker && firstStop ? firstStop.t_ms - marker.t_ms : null,
        exitCode,
      };
    } finally {
      await daemon.stop();
    }
  } finally {
    await sim.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

interface CallLogEntry {
  seq: number | string;
  t_ms: number | string;
  method: string;
}

function lastSeq(entries: CallLogEntry[]): number {
  return entries.reduce((max, e) => Math.max(max, Number(e.seq)), 0);
}

async function sampleRss(pid: number, forMs: number): Promise<number[]> {
  const samples: number[] = [];
  const end = performance.now() + forMs;
  while (performance.now() < end) {
    samples.push(statusKb(pid, 'VmRSS') / 1024);
    await new Promise((r) => setTimeout(r, SAMPLE_EVERY_MS));
  }
  return samples;
}

function statusKb(pid: number, field: 'VmRSS' | 'VmHWM' | 'RssAnon' | 'RssFile'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`/proc/${pid}/status has no ${field}`);
  return Number(m[1]);
}

/** utime + stime of a process, ms (clock ticks of 10 ms, as Linux reports them). */
function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
