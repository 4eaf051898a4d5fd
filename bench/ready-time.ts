// Daemon start-to-READY when there is nothing to start: the real daemon process, a real
// NOTIFY_SOCKET (an AF_UNIX datagram socket bound by a tiny python3 receiver, since Node cannot
// bind one), and the real simulator with guests none of which is enabled. Timed from spawn to the
// arrival of READY=1. Also timed: a restart in the same boot (boot already handled), and a bare
// `node -e 0`, the floor any Node daemon pays.

import { spawn, spawnSync } from 'node:child_process';
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
      firstMs.push(await oneStart(sim.url, stateDir, bootIdFile, join(dir, `n1-${i}.sock`)));
      restartMs.push(await oneStart(sim.url, stateDir, bootIdFile, join(dir, `n2-${i}.sock`)));
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
  const receiver = spawn('python3', ['-c', RECEIVER, socketPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = createInterface({ input: receiver.stdout! });
  let daemon: ReturnType<typeof spawn> | null = null;
  try {
    let onLine: (text: string) => void = () => undefined;
    lines.on('line', (l) => onLine(l));
    await waitLine((f) => (onLine = f), (j) => j.bound === true, 'the notify receiver to bind');

    const env: NodeJS.ProcessEnv = { ...process.env, NOTIFY_SOCKET: socketPath, XEN_GUESTS_BOOT_ID_FILE: bootIdFile };
    const args = [BIN, 'daemon', '--xapi', url, '--state-dir', stateDir, '--on-sigterm', 'leave-guests', '--log-level', 'warn'];
    const t0 = performance.now();
    const ready = waitLine((f) => (onLine = f), (j) => typeof j.text === 'string' && j.text.split('\n').includes('READY=1'), 'READY=1 from the daemon');
    const d = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    daemon = d;
    let stderr = '';
    d.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<never>((_, fail) => d.once('exit', (code) => fail(new Error(`daemon exited (${code}) before READY=1: ${stderr}`))));
    exited.catch(() => undefined);
    await Promise.race([ready, exited]);
    return Math.round(performance.now() - t0);
  } finally {
    if (daemon) await stopChild(daemon);
    lines.close();
    await stopChild(receiver);
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
