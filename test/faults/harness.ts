// One row's world: the real simulator process, a state directory, a runtime directory (the tmpfs
// witness, here a temp dir), a boot id file, and as many real daemon processes as the row starts —
// all with the same dirs, as systemd would restart the same service. Everything is torn down after
// the row, every wait is bounded.

import { afterEach } from 'vitest';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnSim, until, type SimHandle } from '../helpers/sim.js';
import { makeBootIdFile, makeTempDir, spawnDaemon, type LogLine, type RunningDaemon } from '../helpers/daemon.js';
import type { RunReport } from '../../src/core/types.js';
import { timelines, type GuestTimeline } from '../e2e/timeline.js';

export { until };
export const on = (extra: Record<string, string> = {}) => ({ auto_poweron: 'true', ...extra });
export const READY_MSG = 'ready; waiting for a stop';

/** A config for rows: small real-time budgets, since guests run on the simulator's scaled clock. */
export function configToml(over: { deadline?: number; hardReserve?: number; guestTimeout?: number; callTimeout?: number; readyTimeout?: number; waitReady?: number; extra?: string } = {}): string {
  return `
[xapi]
call_timeout = ${over.callTimeout ?? 10}
wait_ready = ${over.waitReady ?? 60}
[boot]
parallelism = 2
ready_timeout = ${over.readyTimeout ?? 20}
[shutdown]
parallelism = 4
guest_timeout = ${over.guestTimeout ?? 10}
deadline = ${over.deadline ?? 60}
hard_reserve = ${over.hardReserve ?? 5}
${over.extra ?? ''}
`;
}

export interface VmState {
  ref: string;
  uuid: string;
  name: string;
  powerState: string;
  otherConfig: Record<string, string>;
  system: boolean;
  /** Running on another host of the pool (migrated there, or never this host's). */
  elsewhere: boolean;
}

export interface DaemonRun {
  daemon: RunningDaemon;
  /** The config file's text this run was given. */
  config: string;
  /** performance.now() of the test process (monotonic), as every instant the harness records. */
  startedAt: number;
  /** Set once it exited. */
  exit: { code: number | null; at: number } | null;
}

/** A signal the row sent to a daemon, and when (monotonic, the test's clock). */
export interface SentSignal {
  run: DaemonRun;
  signal: NodeJS.Signals;
  at: number;
}

export interface Scene {
  sim: SimHandle;
  stateDir: string;
  runtimeDir: string;
  bootIdFile: string;
  config: string;
  /** The guests of the scenario, as the row gave them to the simulator. */
  guests: ScenarioGuest[];
  runs: DaemonRun[];
  /** Every signal sent to a daemon through run.daemon.signal, in order. */
  signals: SentSignal[];
  /** The simulator's timeline/call-log time (ms since it started) at a monotonic instant of the test. */
  simMs(at: number): number;
  /** The simulator's call log after the harness's own set-up call: what daemons (and the row) asked. */
  callLog(): Promise<LoggedCall[]>;
  /** Start a daemon on this scene's dirs (a systemd start or restart). */
  start(opts?: { onSigterm?: 'auto' | 'stop-guests' | 'leave-guests'; config?: string; extraArgs?: string[]; env?: Record<string, string>; stateDir?: string; xapi?: string }): Promise<DaemonRun>;
  /** Wait (bounded) for the daemon to exit; its code. */
  exited(run: DaemonRun, boundMs?: number): Promise<number | null>;
  ready(run: DaemonRun, boundMs?: number): Promise<void>;
  timelines(): Promise<Map<string, GuestTimeline>>;
  vms(): Promise<VmState[]>;
  report(mode: 'boot' | 'shutdown'): Promise<RunReport | null>;
  logs(): LogLine[];
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});
export function onCleanup(fn: () => Promise<unknown>): void {
  cleanups.push(fn);
}

/** A scenario guest as the rows write them (test/faults rows pass these to the simulator). */
export interface ScenarioGuest {
  name_label: string;
  power_state?: string;
  other_config?: Record<string, string>;
  behaviour?: { pv?: boolean; shutdown?: string; [key: string]: unknown };
  [key: string]: unknown;
}

/**
 * Offset between the test's monotonic clock and the simulator's timeline clock, from one logged call
 * the test makes (a login): its t_ms lies between the instants before and after it.
 */
async function syncSimClock(sim: SimHandle): Promise<{ offset: number; seq: number }> {
  const before = performance.now();
  await sim.login();
  const after = performance.now();
  const login = (await simCallLog(sim)).filter((c) => c.method === 'session.login_with_password').at(-1);
  if (!login) throw new Error('simulator call log shows no login after the harness logged in');
  return { offset: login.t_ms - (before + after) / 2, seq: login.seq };
}

/** One XenAPI call as the simulator logged it (sim.* calls are not logged). */
export interface LoggedCall {
  seq: number;
  t_ms: number;
  method: string;
  caller: string;
  vm?: string;
  outcome: string;
}

export async function simCallLog(sim: SimHandle, sinceSeq = 0): Promise<LoggedCall[]> {
  const raw = (await sim.call('sim.get_call_log', sinceSeq)) as (Omit<LoggedCall, 'seq' | 't_ms'> & { seq: string | number; t_ms: string | number })[];
  return raw.map((c) => ({ ...c, seq: Number(c.seq), t_ms: Number(c.t_ms) }));
}

export async function scene(guests: ScenarioGuest[], opts: { timeScale?: number; config?: string; memoryMib?: number; sim?: Record<string, unknown>; simArgs?: string[]; password?: string } = {}): Promise<Scene> {
  const sim = await spawnSim({
    timeScale: opts.timeScale ?? 0.02,
    scenario: { guests, templates: 1, snapshot: false, hosts: [{ name_label: 'host-a', memory_mib: opts.memoryMib ?? 262144 }], ...(opts.sim ?? {}) },
    ...(opts.password ? { password: opts.password } : {}),
    ...(opts.simArgs ? { args: opts.simArgs } : {}),
  });
  cleanups.push(() => sim.stop());
  const root = await makeTempDir('xg-fault-');
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  const stateDir = join(root, 'state');
  const runtimeDir = join(root, 'run');
  await mkdir(stateDir);
  const bootIdFile = await makeBootIdFile(root);
  const config = opts.config ?? configToml();
  const runs: DaemonRun[] = [];
  const signals: SentSignal[] = [];
  const simSync = await syncSimClock(sim);

  const s: Scene = {
    sim,
    stateDir,
    runtimeDir,
    bootIdFile,
    config,
    guests,
    runs,
    signals,
    simMs: (at) => at + simSync.offset,
    callLog: () => simCallLog(sim, simSync.seq),
    async start(o = {}) {
      const runConfig = o.config ?? config;
      const daemon = await spawnDaemon({
        xapi: o.xapi ?? sim.url,
        stateDir: o.stateDir ?? stateDir,
        configToml: runConfig,
        onSigterm: o.onSigterm ?? 'stop-guests',
        bootIdFile,
        env: { XEN_GUESTS_RUNTIME_DIR: runtimeDir, ...(o.env ?? {}) },
        ...(o.extraArgs ? { extraArgs: o.extraArgs } : {}),
      });
      cleanups.push(() => daemon.stop());
      const run: DaemonRun = { daemon, config: runConfig, startedAt: performance.now(), exit: null };
      void daemon.exited.then((code) => {
        run.exit = { code, at: performance.now() };
      });
      // Signals are recorded with their instant: the invariants take the shutdown's deadline from the first SIGTERM.
      const send = daemon.signal;
      daemon.signal = (signal) => {
        signals.push({ run, signal, at: performance.now() });
        send(signal);
      };
      runs.push(run);
      return run;
    },
    async exited(run, boundMs = 90_000) {
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<'hang'>((r) => (timer = setTimeout(() => r('hang'), boundMs)));
      const code = await Promise.race([run.daemon.exited, bound]);
      clearTimeout(timer);
      if (code === 'hang') throw new Error(`daemon did not exit within ${boundMs} ms (a hang); last lines:\n${run.daemon.logs.slice(-10).map((l) => JSON.stringify(l)).join('\n')}`);
      return code;
    },
    async ready(run, boundMs = 60_000) {
      await run.daemon.waitForLog((l) => l.msg === READY_MSG, boundMs);
    },
    timelines: () => timelines(sim),
    async vms() {
      // A fresh session each time: rows restart the toolstack, which drops every session.
      const session = await sim.login();
      const records = (await sim.call('VM.get_all_records', session)) as Record<string, Record<string, unknown>>;
      const thisHost = await sim.call('session.get_this_host', session, session);
      return Object.entries(records).map(([ref, r]) => ({
        ref,
        uuid: String(r.uuid),
        name: String(r.name_label),
        powerState: String(r.power_state),
        otherConfig: (r.other_config ?? {}) as Record<string, string>,
        system: Boolean(r.is_a_template) || Boolean(r.is_control_domain) || Boolean(r.is_a_snapshot),
        elsewhere: r.resident_on !== 'OpaqueRef:NULL' && r.resident_on !== thisHost,
      }));
    },
    async report(mode) {
      try {
        return JSON.parse(await readFile(join(stateDir, `report-${mode}.json`), 'utf8')) as RunReport;
      } catch {
        return null;
      }
    },
    logs: () => runs.flatMap((r) => r.daemon.logs),
  };
  return s;
}

/**
 * The last entry of the simulator's call log now: a mark to wait for what comes after it. Taken
 * before an injection, so the wait cannot miss what the injection provokes.
 */
export async function callLogMark(s: Scene): Promise<number> {
  return (await s.callLog()).at(-1)?.seq ?? 0;
}

/** Resolves with the first logged call after `mark` that `matches` (bounded); a toolstack that is restarting and refuses connections is waited out. */
export async function callAfter(s: Scene, mark: number, what: string, matches: (c: LoggedCall) => boolean, boundMs = 30_000): Promise<LoggedCall> {
  return until(what, async () => (await s.callLog().catch(() => [] as LoggedCall[])).find((c) => c.seq > mark && matches(c)), boundMs);
}

/** The daemon logged in again after `mark` (a toolstack restart drops every session). */
export function reloggedIn(s: Scene, mark: number, boundMs?: number): Promise<LoggedCall> {
  return callAfter(s, mark, 'a login after the toolstack restart', (c) => c.method === 'session.login_with_password' && c.outcome === 'ok', boundMs);
}

/** A fresh session for raw XenAPI calls in a row. */
export async function xapi(s: Scene): Promise<(method: string, ...params: unknown[]) => Promise<unknown>> {
  const session = await s.sim.login();
  return (method, ...params) => s.sim.call(method, session, ...params);
}

export async function vmRef(s: Scene, name: string): Promise<string> {
  const call = await xapi(s);
  const refs = (await call('VM.get_by_name_label', name)) as string[];
  if (refs.length !== 1) throw new Error(`expected one VM named ${name}, found ${refs.length}`);
  return refs[0]!;
}

/** Resolves when the timeline shows `event` for guest `name`. */
export async function timelineShows(s: Scene, name: string, event: string, boundMs = 30_000): Promise<void> {
  await until(`${name}: ${event}`, async () => (await s.timelines()).get(name)?.events.some((e) => e.event === event), boundMs);
}

export async function writeFileIn(dir: string, name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}
