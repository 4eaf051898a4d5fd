// The simulated host for one benchmark run: the real `xen-guests sim` process (a child, so its CPU
// and memory never count against the strategy under test), fresh for every run so that every
// strategy meets the same guests in the same state. Its sim.* calls are made with the npm xmlrpc
// client, independent of the client under test.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import xmlrpc from 'xmlrpc';

/** The repository root, whether this runs compiled (dist/bench) or from source (bench, under vitest). */
export const ROOT = resolve(import.meta.dirname, import.meta.dirname.endsWith(join('dist', 'bench')) ? '../..' : '..');
export const BIN = join(ROOT, 'dist/src/cli/bin.js');
const READY_WITHIN_MS = 60_000;
const STOP_WITHIN_MS = 10_000;

export interface TimelineEvent {
  t_ms: number;
  sim_s: number;
  event: string;
  task?: string;
  detail?: string;
}

export interface VmTimeline {
  uuid: string;
  name_label: string;
  events: TimelineEvent[];
}

export interface CallCounts {
  total: number;
  by_method: Record<string, number>;
}

export interface SimProcess {
  /** TCP, for the benchmark's own bookkeeping calls (sim.*). */
  url: string;
  /**
   * What a strategy under test connects to: the simulator's Unix socket, as xen-guests on a dom0
   * reaches xapi by default (`xapi.url = unix:/var/lib/xcp/xapi`).
   */
  xapiUrl: string;
  pid: number;
  call(method: string, ...params: unknown[]): Promise<unknown>;
  timeline(): Promise<VmTimeline[]>;
  callCounts(): Promise<CallCounts>;
  /** When each event.from call reached the host, ms on its timeline's clock (the call log). */
  eventFromArrivals(): Promise<number[]>;
  /** name_label → power_state of every ordinary guest (one XenAPI call: read it after callCounts). */
  powerStates(): Promise<Map<string, string>>;
  stop(): Promise<void>;
}

/** `traceTo`: run the traced simulator (bench/traced-sim.ts), which writes its trace there when stopped. */
export async function startSimProcess(scenario: object, timeScale: number, traceTo?: string): Promise<SimProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'xg-bench-sim-'));
  const file = join(dir, 'scenario.json');
  await writeFile(file, JSON.stringify(scenario));
  const socket = join(dir, 'xapi.sock');
  const entry = traceTo ? [join(ROOT, 'dist/bench/traced-sim.js'), traceTo, '--socket', socket] : [BIN, 'sim', '--listen', '127.0.0.1:0', '--listen', `unix:${socket}`];
  const child = spawn(process.execPath, [...entry, '--time-scale', String(timeScale), '--scenario', file], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  let url: string;
  try {
    url = await listeningUrl(child, () => stderr);
  } catch (err) {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const u = new URL(url);
  const client = xmlrpc.createClient({ host: u.hostname, port: Number(u.port), path: '/' });
  const call = (method: string, ...params: unknown[]): Promise<unknown> =>
    new Promise((ok, fail) => {
      client.methodCall(method, params, (err: unknown, value: unknown) => {
        if (err) return fail(err instanceof Error ? err : new Error(String(err)));
        const v = value as { Status?: string; Value?: unknown; ErrorDescription?: string[] };
        if (v && typeof v === 'object' && v.Status === 'Failure') return fail(new Error(`${method}: ${(v.ErrorDescription ?? []).join(' ')}`));
        ok(v && typeof v === 'object' && v.Status === 'Success' ? v.Value : value);
      });
    });
  return {
    url,
    xapiUrl: `unix:${socket}`,
    pid: child.pid!,
    call,
    async timeline() {
      const raw = (await call('sim.get_timeline', '')) as Record<string, { uuid: string; name_label: string; events: Record<string, unknown>[] }>;
      return Object.values(raw).map((v) => ({
        uuid: v.uuid,
        name_label: v.name_label,
        events: v.events.map((e) => ({ ...(e as object), t_ms: Number(e.t_ms), sim_s: Number(e.sim_s), event: String(e.event) }) as TimelineEvent),
      }));
    },
    async callCounts() {
      const raw = (await call('sim.get_call_counts')) as { total: unknown; by_method: Record<string, unknown> };
      const byMethod: Record<string, number> = {};
      for (const [k, v] of Object.entries(raw.by_method)) byMethod[k] = Number(v);
      return { total: Number(raw.total), by_method: byMethod };
    },
    async eventFromArrivals() {
      const log = (await call('sim.get_call_log', 0)) as { method: string; t_ms: unknown }[];
      return log.filter((e) => e.method === 'event.from').map((e) => Number(e.t_ms));
    },
    async powerStates() {
      const session = await call('session.login_with_password', 'root', '', '2.0', 'xen-guests-bench');
      const records = (await call('VM.get_all_records', session)) as Record<string, Record<string, unknown>>;
      const out = new Map<string, string>();
      for (const r of Object.values(records)) {
        if (r.is_a_template || r.is_a_snapshot || r.is_control_domain) continue;
        out.set(String(r.name_label), String(r.power_state));
      }
      return out;
    },
    async stop() {
      await stopChild(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function listeningUrl(child: ChildProcess, stderr: () => string): Promise<string> {
  return new Promise((ok, fail) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`simulator not ready within ${READY_WITHIN_MS} ms; stderr: ${stderr()}`)), READY_WITHIN_MS);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m && out.includes('ready')) {
        clearTimeout(timer);
        ok(m[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`simulator exited with ${code} before it was ready; stderr: ${stderr()}`));
    });
  });
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_WITHIN_MS);
  await exited;
  clearTimeout(timer);
}
