// The benchmark's command line refuses what it would not do: `--transport` names one transport, and
// a list is an error (exit 2, the flag and what is allowed named) — not a run over its first item.
// Runs the built `node dist/bench/run.js` as a real process; it stops at its arguments, before any
// simulator or output file.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';

const RUN = join(import.meta.dirname, '../../dist/bench/run.js');
let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function bench(...args: string[]) {
  dir = mkdtempSync(join(tmpdir(), 'bench-args-'));
  const out = join(dir, 'results.json');
  const r = spawnSync(process.execPath, [RUN, '--out', out, ...args], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stderr: r.stderr, wrote: readdirSync(dir) };
}

it('--transport with a list is refused, naming the flag, the value and the choices', () => {
  const r = bench('--transport', 'unix,tcp');
  expect(r.status).toBe(2);
  expect(r.stderr).toContain('--transport unix,tcp: takes exactly one of unix, tcp');
  expect(r.wrote).toEqual([]);
});

it('--transport with an unknown value is refused too', () => {
  const r = bench('--transport', 'udp');
  expect(r.status).toBe(2);
  expect(r.stderr).toContain('--transport udp: "udp" is not one of unix, tcp');
  expect(r.wrote).toEqual([]);
});
