// Runs the built CLI as a real child process (node dist/src/cli/bin.js …, or the executable named
// by XEN_GUESTS_BIN: see ../helpers/bin.ts) and collects its output.
// Every run is bounded so that a hang fails the test instead of stalling the suite.

import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { productCommand } from '../helpers/bin.js';

export const BIN = resolve(import.meta.dirname, '../../dist/src/cli/bin.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], opts: { env?: Record<string, string>; timeoutMs?: number; cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(...productCommand(args), {
      env: { ...process.env, NO_COLOR: '1', ...opts.env },
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`xen-guests ${args.join(' ')} did not finish within ${opts.timeoutMs ?? 30_000} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}
