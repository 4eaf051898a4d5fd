// Spawns the REAL simulator process (`node dist/src/cli/bin.js sim …`, so build first) and gives
// tests a raw XML-RPC caller through the npm `xmlrpc` client, with the xapi envelope unwrapped.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import xmlrpc from 'xmlrpc';
import { productCommand } from './bin.js';

export interface SpawnSimOptions {
  guests?: number;
  scenario?: object | string;
  timeScale?: number;
  seed?: number;
  /** Also listen on a Unix socket in a temporary directory. */
  unix?: boolean;
  user?: string;
  password?: string;
  /** Extra CLI arguments. */
  args?: string[];
  /** Run it the way under test (XEN_GUESTS_BIN, see bin.ts) rather than always from the clone. */
  underTest?: boolean;
}

export class XapiFailure extends Error {
  constructor(
    readonly code: string,
    readonly params: string[],
  ) {
    super(`${code} [${params.join(', ')}]`);
  }
}

export interface TimelineEvent {
  t_ms: string;
  sim_s: number;
  event: string;
  task?: string;
  detail?: string;
}

export interface SimHandle {
  url: string;
  socketPath: string | null;
  process: ChildProcess;
  /** Raw XML-RPC call over TCP; the Success envelope is unwrapped, a Failure is thrown as XapiFailure. */
  call(method: string, ...params: unknown[]): Promise<unknown>;
  /** The same over the Unix socket (requires unix: true). */
  callUnix(method: string, ...params: unknown[]): Promise<unknown>;
  /** login_with_password over TCP with the configured credentials; returns the session ref. */
  login(): Promise<string>;
  /** sim.get_timeline: VM ref → {uuid, name_label, events}. */
  timeline(vm?: string): Promise<Record<string, { uuid: string; name_label: string; events: TimelineEvent[] }>>;
  stop(): Promise<void>;
}

const BIN = resolve(import.meta.dirname, '../../dist/src/cli/bin.js');

function makeCaller(client: xmlrpc.Client) {
  return (method: string, ...params: unknown[]): Promise<unknown> =>
    new Promise((ok, fail) => {
      client.methodCall(method, params, (err: unknown, value: unknown) => {
        if (err) return fail(err);
        const v = value as { Status?: string; Value?: unknown; ErrorDescription?: string[] };
        if (v && typeof v === 'object' && v.Status === 'Failure') {
          const [code, ...rest] = v.ErrorDescription ?? ['UNKNOWN'];
          return fail(new XapiFailure(code!, rest));
        }
        ok(v && typeof v === 'object' && v.Status === 'Success' ? v.Value : value);
      });
    });
}

export async function spawnSim(opts: SpawnSimOptions = {}): Promise<SimHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'xg-sim-'));
  const args = [BIN, 'sim', '--listen', '127.0.0.1:0', '--time-scale', String(opts.timeScale ?? 0.01), '--seed', String(opts.seed ?? 1)];
  if (opts.guests !== undefined) args.push('--guests', String(opts.guests));
  const socketPath = opts.unix ? join(dir, 'xapi.sock') : null;
  if (socketPath) args.push('--listen', `unix:${socketPath}`);
  if (opts.scenario !== undefined) {
    const file = typeof opts.scenario === 'string' ? opts.scenario : join(dir, 'scenario.json');
    if (typeof opts.scenario !== 'string') writeFileSync(file, JSON.stringify(opts.scenario));
    args.push('--scenario', file);
  }
  if (opts.user !== undefined) args.push('--user', opts.user);
  if (opts.password !== undefined) args.push('--password', opts.password);
  args.push(...(opts.args ?? []));
  const [command, argv] = opts.underTest ? productCommand(args.slice(1)) : [process.execPath, args];
  const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = await new Promise<string>((ok, fail) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`simulator not ready within 20 s; stderr: ${stderr}`)), 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (m && out.includes('ready')) {
        clearTimeout(timer);
        ok(m[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`simulator exited with ${code} before ready; stderr: ${stderr}`));
    });
  });
  const u = new URL(url);
  // A connection per call (Connection: close, no agent to keep it), as the recording client made: the
  // tests' own calls hold no connection, so the simulator's connection counts show the product's,
  // and no call of theirs meets an idle connection a toolstack restart dropped.
  const unkept = () => ({ path: '/', agent: false, headers: { Connection: 'close' } });
  const call = makeCaller(xmlrpc.createClient({ host: u.hostname, port: Number(u.port), ...unkept() } as never));
  const callUnix = socketPath ? makeCaller(xmlrpc.createClient({ socketPath, ...unkept() } as never)) : () => Promise.reject(new Error('spawnSim: started without unix: true'));
  return {
    url,
    socketPath,
    process: child,
    call,
    callUnix,
    login: async () => String(await call('session.login_with_password', opts.user ?? 'root', opts.password ?? '', '2.0', 'test')),
    timeline: async (vm?: string) => (await call('sim.get_timeline', vm ?? '')) as never,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The XenAPI failure a call ended with (fails the test if it succeeded or failed otherwise). */
export async function xapiFailure(p: Promise<unknown>): Promise<XapiFailure> {
  try {
    await p;
  } catch (e) {
    if (e instanceof XapiFailure) return e;
    throw e;
  }
  throw new Error('expected a XenAPI failure, the call succeeded');
}

/** Polls a condition with a bound (the simulator's time scale makes waits short). */
export async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const end = performance.now() + timeoutMs; // monotonic: a stepped wall clock neither ends nor stretches the wait
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

type SimCaller = (method: string, ...params: unknown[]) => Promise<unknown>;

/** What a call to a simulator that is restarting its toolstack may meet instead of an answer. */
function isConnectionLoss(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return ['ECONNREFUSED', 'ECONNRESET', 'ENOENT', 'EPIPE'].includes(String(code)) || (err instanceof Error && /socket hang up/.test(err.message));
}

/** sim.get_info's count of completed toolstack restarts; undefined while the toolstack is down. */
export async function toolstackRestarts(call: SimCaller): Promise<number | undefined> {
  try {
    return Number(((await call('sim.get_info')) as { toolstack_restarts: unknown }).toolstack_restarts);
  } catch (err) {
    if (isConnectionLoss(err)) return undefined;
    throw err;
  }
}

/**
 * Restarts the simulated toolstack and returns once it is back up. sim.restart_toolstack answers
 * BEFORE it drops its listeners, so "the call answered" proves nothing; the simulator's restart
 * count going past the one read before is the event that does.
 */
export async function restartToolstack(call: SimCaller, secondsDown: number, opts: { boundMs?: number; before?: number } = {}): Promise<void> {
  // A caller whose restart must follow its trigger closely reads the count beforehand (opts.before).
  const before = opts.before ?? (await toolstackRestarts(call));
  if (before === undefined) throw new Error('restartToolstack: the toolstack is already down');
  await call('sim.restart_toolstack', secondsDown);
  await until(`the toolstack back up after restart #${before + 1}`, async () => ((await toolstackRestarts(call)) ?? -1) > before, opts.boundMs);
}

/**
 * Asks for a toolstack restart and returns once it has begun: connections refused, or already
 * back (the count went up) when the machine was too slow to see the refusal. For a test whose
 * next step must meet the restart, not the toolstack from before it.
 */
export async function restartToolstackBegun(call: SimCaller, secondsDown: number, boundMs = 30_000): Promise<void> {
  const before = await toolstackRestarts(call);
  if (before === undefined) throw new Error('restartToolstackBegun: the toolstack is already down');
  await call('sim.restart_toolstack', secondsDown);
  await until(`toolstack restart #${before + 1} begun`, async () => {
    const now = await toolstackRestarts(call);
    return now === undefined || now > before;
  }, boundMs);
}
