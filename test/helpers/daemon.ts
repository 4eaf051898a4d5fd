// Runs the real daemon process (`node dist/src/cli/bin.js daemon`, or the executable named by
// XEN_GUESTS_BIN: see bin.ts) for end-to-end tests and collects its JSON log lines.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DIST_BIN, productCommand } from './bin.js';

export const BIN = DIST_BIN;

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface RunningDaemon {
  proc: ChildProcess;
  logs: LogLine[];
  stderr: () => string;
  waitForLog(predicate: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  signal(sig: NodeJS.Signals): void;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

export interface DaemonOptions {
  /** --xapi on the command line; null leaves the endpoint to the config file (a SIGHUP can change it). */
  xapi: string | null;
  stateDir: string;
  /** TOML text of the config file; written to a temp file. */
  configToml?: string;
  onSigterm?: 'auto' | 'stop-guests' | 'leave-guests';
  env?: Record<string, string>;
  bootIdFile?: string;
  extraArgs?: string[];
}

export async function makeTempDir(prefix = 'xg-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** A file standing in for /proc/sys/kernel/random/boot_id; rewrite it to simulate a host reboot. */
export async function makeBootIdFile(dir: string, id = crypto.randomUUID()): Promise<string> {
  const path = join(dir, 'boot_id');
  await writeFile(path, id + '\n');
  return path;
}

export async function spawnDaemon(opts: DaemonOptions): Promise<RunningDaemon> {
  const args = ['daemon', ...(opts.xapi === null ? [] : ['--xapi', opts.xapi]), '--state-dir', opts.stateDir, '--log-level', 'debug'];
  if (opts.configToml !== undefined) {
    const dir = await makeTempDir('xg-config-');
    const path = join(dir, 'config.toml');
    await writeFile(path, opts.configToml);
    args.push('--config', path);
  }
  if (opts.onSigterm) args.push('--on-sigterm', opts.onSigterm);
  args.push(...(opts.extraArgs ?? []));
  const env: Record<string, string> = { ...(process.env as Record<string, string>), ...(opts.env ?? {}) };
  delete env.NOTIFY_SOCKET;
  if (opts.env?.NOTIFY_SOCKET) env.NOTIFY_SOCKET = opts.env.NOTIFY_SOCKET;
  if (opts.bootIdFile) env.XEN_GUESTS_BOOT_ID_FILE = opts.bootIdFile;
  // Never the real /run/xen-guests (tests may run as root): beside the simulated boot id, as the
  // product itself does, so restarts within one simulated boot share it; else a private directory.
  if (!env.XEN_GUESTS_RUNTIME_DIR) env.XEN_GUESTS_RUNTIME_DIR = opts.bootIdFile ? join(dirname(opts.bootIdFile), 'run-xen-guests') : join(await makeTempDir('xg-run-'), 'run');
  const proc = spawn(...productCommand(args), { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: LogLine[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  let buffer = '';
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        logs.push({ level: 30, msg: line });
      }
      for (const w of waiters) w();
    }
  });
  proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolveExit) => proc.on('exit', (code) => resolveExit(code)));
  return {
    proc,
    logs,
    stderr: () => stderr,
    exited,
    signal: (sig) => proc.kill(sig),
    waitForLog(predicate, timeoutMs = 30_000) {
      return new Promise((resolveWait, reject) => {
        const check = () => {
          const hit = logs.find(predicate);
          if (hit) {
            cleanup();
            resolveWait(hit);
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`daemon log line not seen within ${timeoutMs} ms; last lines:\n${logs.slice(-15).map((l) => JSON.stringify(l)).join('\n')}\nstderr: ${stderr}`));
        }, timeoutMs);
        const onExit = () => {
          check();
          cleanup();
          reject(new Error(`daemon exited before the log line; stderr: ${stderr}\nlast lines:\n${logs.slice(-15).map((l) => JSON.stringify(l)).join('\n')}`));
        };
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
          proc.off('exit', onExit);
        };
        waiters.add(check);
        proc.once('exit', onExit);
        check();
      });
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGKILL');
        await exited;
      }
    },
  };
}
