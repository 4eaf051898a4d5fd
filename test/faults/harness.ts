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
}

export interface DaemonRun {
  daemon: RunningDaemon;
  startedAt: number;
  /** Set once it exited. */
  exit: { code: number | null; at: number } | null;
}

export interface Scene {
  sim: SimHandle;
  stateDir: string;
  runtimeDir: string;
  bootIdFile: string;
  config: string;
  runs: DaemonRun[];
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

export async function scene(guests: object[], opts: { timeScale?: number; config?: string; memoryMib?: number; sim?: Record<string, unknown>; simArgs?: string[]; password?: string } = {}): Promise<Scene> {
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

  const s: Scene = {
    sim,
    stateDir,
    runtimeDir,
    bootIdFile,
    config,
    runs,
    async start(o = {}) {
      const daemon = await spawnDaemon({
        xapi: o.xapi ?? sim.url,
        stateDir: o.stateDir ?? stateDir,
        configToml: o.config ?? config,
        onSigterm: o.onSigterm ?? 'stop-guests',
        bootIdFile,
        env: { XEN_GUESTS_RUNTIME_DIR: runtimeDir, ...(o.env ?? {}) },
        ...(o.extraArgs ? { extraArgs: o.extraArgs } : {}),
      });
      cleanups.push(() => daemon.stop());
      const run: DaemonRun = { daemon, startedAt: Date.now(), exit: null };
      void daemon.exited.then((code) => {
        run.exit = { code, at: Date.now() };
      });
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
      return Object.entries(records).map(([ref, r]) => ({
        ref,
        uuid: String(r.uuid),
        name: String(r.name_label),
        powerState: String(r.power_state),
        otherConfig: (r.other_config ?? {}) as Record<string, string>,
        system: Boolean(r.is_a_template) || Boolean(r.is_control_domain) || Boolean(r.is_a_snapshot),
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
