// `xl` as a bounded child process, for what only libxl can do (create, destroy, trigger, list, info).
// `xl create` leaves a per-domain monitor process behind that may hold our pipes open, so a run
// ends when xl itself exits, not when its output closes.

import { spawn } from 'node:child_process';
import { xlFailure } from './meanings.js';
import { monotonicNow } from '../../core/clock.js';

export interface XlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface XlRunner {
  readonly path: string;
  /** Run `xl args…`, killing it at the deadline; rejects only when it cannot be run or timed out. */
  run(args: string[], deadline: number): Promise<XlResult>;
}

const OUTPUT_LIMIT = 4 * 1024 * 1024;

export function createXlRunner(xlPath = 'xl'): XlRunner {
  return {
    path: xlPath,
    run(args, deadline) {
      const what = `${xlPath} ${args.join(' ')}`;
      return new Promise((resolve, reject) => {
        const budget = deadline - monotonicNow();
        if (budget <= 0) {
          reject(xlFailure('transient', 'XL_TIMEOUT', [what], `${what}: no time left before the deadline`));
          return;
        }
        const child = spawn(xlPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        let settled = false;
        child.stdout.on('data', (d: Buffer) => {
          if (stdout.length < OUTPUT_LIMIT) stdout += d.toString('utf8');
        });
        child.stderr.on('data', (d: Buffer) => {
          if (stderr.length < OUTPUT_LIMIT) stderr += d.toString('utf8');
        });
        const timer = setTimeout(() => {
          if (settled) return;
          settled = true;
          child.kill('SIGKILL');
          reject(xlFailure('transient', 'XL_TIMEOUT', [what, String(Math.round(budget / 1000))], `${what}: no result within ${Math.round(budget / 1000)} s; killed`));
        }, budget);
        child.on('error', (err: NodeJS.ErrnoException) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          reject(xlFailure('refused', 'XL_NOT_RUNNABLE', [xlPath, err.code ?? err.message], `cannot run ${xlPath}: ${err.code ?? err.message} (is xen-utils installed, and xl on PATH?)`));
        });
        child.on('exit', (code) => {
          if (settled) return;
          clearTimeout(timer);
          // Give the pipes a moment to drain; a monitor process may keep them open for good.
          const finish = (): void => {
            if (settled) return;
            settled = true;
            child.stdout.destroy();
            child.stderr.destroy();
            resolve({ code, stdout, stderr });
          };
          const grace = setTimeout(finish, 200);
          let closed = 0;
          const onClose = (): void => {
            if (++closed === 2) {
              clearTimeout(grace);
              finish();
            }
          };
          if (child.stdout.readableEnded) onClose();
          else child.stdout.once('end', onClose);
          if (child.stderr.readableEnded) onClose();
          else child.stderr.once('end', onClose);
        });
      });
    },
  };
}

/** The last meaningful lines of xl's complaint, for an error message. */
export function xlComplaint(r: XlResult): string {
  const text = (r.stderr.trim() || r.stdout.trim()).split('\n').filter((l) => !/^Parsing config from /.test(l));
  return text.slice(-3).join(' | ').slice(0, 500) || `exit code ${r.code}`;
}

export interface XlListEntry {
  name: string;
  domid: number;
  /** Six-character state column: r running, b blocked, p paused, s shutdown, c crashed, d dying. */
  state: string;
  memoryMiB: number;
}

/** Parse plain `xl list` (Name ID Mem VCPUs State Time(s)); names may contain blanks. */
export function parseXlList(text: string): XlListEntry[] {
  const out: XlListEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /^(.+?)\s+(\d+)\s+(\d+)\s+(\d+)\s+([-rbpscd]{6})\s+[\d.]+\s*$/.exec(line);
    if (!m) continue;
    out.push({ name: m[1]!, domid: Number(m[2]), memoryMiB: Number(m[3]), state: m[5]! });
  }
  return out;
}
