// Daemon start-to-READY when there is nothing to start: the real daemon process, a real
// NOTIFY_SOCKET (an AF_UNIX datagram socket bound by a tiny python3 receiver, since Node cannot
// bind one), and the real simulator with guests none of which is enabled. Timed from spawn to the
// arrival of READY=1. Also timed: a restart in the same boot (boot already handled), and a bare
// `node -e 0`, the floor any Node daemon pays.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { BIN, startSimProcess, stopChild } from './sim-process.js';

const RECEIVER = String.raw`
import json, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print(json.dumps({"bound": True}), flush=True)
while True:
    data = s.recv(65536)
    print(json.dumps({"text": data.decode("utf-8", "replace")}), flush=True)
`;
const WITHIN_MS = 60_000;

export interface ReadyTiming {
  guests: number;
  /** ms, spawn → READY=1, first start in a boot (boot plan runs, nothing to start). */
  firstMs: number[];
  /** ms, spawn → READY=1, restart in the same boot (boot already handled). */
  restartMs: number[];
  /** ms, spawn → exit of `node -e 0`. */
  nodeFloorMs: number[];
}

export async function timeReady(guests: number, repeats: number): Promise<ReadyTiming> {
  const scenario = {
    templates: 0,
    snapshot: false,
    guests: Array.from({ length: guests }, (_, i) => ({ name_label: `idle-${i + 1}`, other_config: {} })),
  };
  const sim = await startSimProcess(scenario, 0.01);
  const dir = await mkdtemp(join(tmpdir(), 'xg-bench-ready-'));
  try {
    const firstMs: number[] = [];
    const restartMs: number[] = [];
    const nodeFloorMs: number[] = [];
    for (let i = 0; i < repeats; i++) {
      const stateDir = join(dir, `state-${i}`);
      const bootIdFile = join(dir, `boot_id-${i}`);
      await writeFile(bootIdFile, `${crypto.randomUUID()}\n`);
      firstMs.push(await oneStart(sim.xapiUrl, stateDir, bootIdFile, join(dir, `n1-${i}.sock`)));
      restartMs.push(await oneStart(sim.xapiUrl, stateDir, bootIdFile, join(dir, `n2-${i}.sock`)));
      const t = performance.now();
      spawnSync(process.execPath, ['-e', '0']);
      nodeFloorMs.push(Math.round(performance.now() - t));
    }
    return { guests, firstMs, restartMs, nodeFloorMs };
  } finally {
    await sim.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Spawns the daemon, resolves with ms to READY=1, then stops it (leaving every guest alone). */
async function oneStart(url: string, stateDir: string, bootIdFile: string, socketPath: string): Promise<number> {
  const started = await startDaemonUntilReady({ url, stateDir, bootIdFile, socketPath, onSigterm: 'leave-guests' });
  await started.stop();
  return started.readyMs;
}

export interface DaemonRun {
  url: string;
  stateDir: string;
  bootIdFile: string;
  /** Where the notify receiver binds (NOTIFY_SOCKET). */
  socketPath: string;
  onSigterm: 'leave-guests' | 'stop-guests';
  /** The program and its leading arguments (default: node with the given flags and dist/src/cli/bin.js). */
  command?: string[];
  /** Flags for node before the script (the unit's, when measuring as shipped). */
  nodeFlags?: string[];
  configToml?: string;
}

export interface StartedDaemon {
  /** ms, spawn → READY=1. */
  readyMs: number;
  proc: ChildProcess;
  /** Ends when the daemon exits, with its exit code. */
  exited: Promise<number | null>;
  /** SIGTERM, bounded; also stops the notify receiver. */
  stop(): Promise<void>;
}

/** Spawns the daemon with a real NOTIFY_SOCKET and resolves once it sent READY=1. */
export async function startDaemonUntilReady(run: DaemonRun): Promise<StartedDaemon> {
  const receiver = spawn('python3', ['-c', RECEIVER, run.socketPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = createInterface({ input: receiver.stdout! });
  const cleanup = async (daemon: ChildProcess | null): Promise<void> => {
    if (daemon) await stopChild(daemon);
    lines.close();
    await stopChild(receiver);
  };
  let daemon: ChildProcess | null = null;
  try {
    let onLine: (text: string) => void = () => undefined;
    lines.on('line', (l) => onLine(l));
    await waitLine((f) => (onLine = f), (j) => j.bound === true, 'the notify receiver to bind');

    const env: NodeJS.ProcessEnv = { ...process.env, NOTIFY_SOCKET: run.socketPath, XEN_GUESTS_BOOT_ID_FILE: run.bootIdFile, XEN_GUESTS_RUNTIME_DIR: join(run.stateDir, 'run') };
    const configArgs: string[] = [];
    if (run.configToml !== undefined) {
      const file = join(run.stateDir, '..', `config-${Date.now()}.toml`);
      await writeFile(file, run.configToml);
      configArgs.push('--config', file);
    }
    const command = run.command ?? [process.execPath, ...(run.nodeFlags ?? []), BIN];
    const args = [...command.slice(1), 'daemon', ...configArgs, '--xapi', run.url, '--state-dir', run.stateDir, '--on-sigterm', run.onSigterm, '--log-level', 'warn'];
    const t0 = performance.now();
    const ready = waitLine((f) => (onLine = f), (j) => typeof j.text === 'string' && j.text.split('\n').includes('READY=1'), 'READY=1 from the daemon');
    const d = spawn(command[0]!, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    daemon = d;
    let stderr = '';
    d.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((resolve) => d.once('exit', (code) => resolve(code)));
    const early = exited.then((code) => Promise.reject(new Error(`daemon exited (${code}) before READY=1: ${stderr}`)));
    early.catch(() => undefined);
    await Promise.race([ready, early]);
    const readyMs = Math.round(performance.now() - t0);
    return { readyMs, proc: d, exited, stop: () => cleanup(d) };
  } catch (err) {
    await cleanup(daemon);
    throw err;
  }
}

function waitLine(setHandler: (f: (line: string) => void) => void, pred: (j: Record<string, unknown>) => boolean, what: string): Promise<void> {
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`timed out after ${WITHIN_MS} ms waiting for ${what}`)), WITHIN_MS);
    setHandler((line) => {
      let j: Record<string, unknown>;
      try {
        j = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      if (pred(j)) {
        clearTimeout(timer);
        ok();
      }
    });
  });
}
