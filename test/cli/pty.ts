// Runs the built CLI on a real pseudo-terminal (util-linux `script`), so what a person at a
// terminal sees can be tested: the process's stdin/stdout/stderr are a TTY. Output is collected as
// it comes; tests wait for a line (an event), every wait bounded.

import { spawn, type ChildProcess } from 'node:child_process';
import { BIN } from './run-cli.js';

export interface PtyRun {
  child: ChildProcess;
  output(): string;
  /** Resolves when the output matches; rejects after timeoutMs with what was seen. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code of `script`, which passes on the command's (-e). */
  exited(timeoutMs?: number): Promise<number | null>;
}

const quote = (arg: string) => `'${arg.replace(/'/g, `'\\''`)}'`;

/** A terminal as wide as an admin's usual window (script's own default is 80 columns). */
export function runInPty(args: string[], env: Record<string, string> = {}, columns = 160): PtyRun {
  const command = `stty cols ${columns} 2>/dev/null; exec ${[process.execPath, BIN, ...args].map(quote).join(' ')}`;
  const child = spawn('script', ['-qfec', command, '/dev/null'], {
    env: { ...process.env, NO_COLOR: '1', TERM: 'dumb', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const l of listeners) l();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => out,
    waitFor(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = pattern.exec(out);
          if (!m) return;
          cleanup();
          resolve(m[0]);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no ${pattern} within ${timeoutMs} ms; output so far:\n${out}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
    exited(timeoutMs = 60_000) {
      let timer: NodeJS.Timeout;
      const bound = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`still running after ${timeoutMs} ms; output:\n${out}`)), timeoutMs);
      });
      return Promise.race([exit, bound]).finally(() => clearTimeout(timer));
    },
  };
}
