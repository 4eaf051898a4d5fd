// The fault matrix's document generator, run as a user runs it: vitest as a child process, once
// with `npm test`'s config and once with `npm run reliability`'s, on one quick row (Z4) of one file.
// Judged by the files on disk and git's view of the work tree, not by the generator's own words.

import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const VITEST = join(ROOT, 'node_modules/vitest/vitest.mjs');

function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string }> {
  return new Promise((ok, fail) => {
    const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
    child.on('error', fail);
    child.on('exit', (code) => {
      clearTimeout(timer);
      ok({ code, out });
    });
  });
}

/** Tracked files changed in the work tree (other tests may create untracked files meanwhile). */
const gitStatus = async () => (await run('git', ['status', '--porcelain', '--untracked-files=no'])).out;

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'xg-reliability-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('fault matrix document', { timeout: 180_000 }, () => {
  it("npm test's config runs the rows and writes nothing: the work tree is as it was", async () => {
    const before = await gitStatus();
    const r = await run(process.execPath, [VITEST, 'run', 'test/faults/security.test.ts', '-t', 'Z4'], {
      XEN_GUESTS_RELIABILITY_DOC: join(dir, 'from-npm-test.md'),
      XEN_GUESTS_RELIABILITY_RESULTS: '', // as under npm test: unset
    });
    expect(r.code, r.out).toBe(0);
    expect(await gitStatus()).toBe(before);
    expect(await readdir(dir)).toEqual([]);
  });

  it('npm run reliability writes the document from this run alone: rows it did not run are "not run", files it did not run are named', async () => {
    const doc = join(dir, 'RELIABILITY.md');
    const results = join(dir, 'results');
    const r = await run(process.execPath, [VITEST, 'run', '--config', 'vitest.reliability.config.ts', 'test/faults/security.test.ts', '-t', 'Z4'], {
      XEN_GUESTS_RELIABILITY_DOC: doc,
      XEN_GUESTS_RELIABILITY_RESULTS: results,
    });
    expect(r.code, r.out).toBe(0);
    expect(await readdir(results)).toEqual(['security.json']);
    const text = await readFile(doc, 'utf8');
    const rows = text.split('\n').filter((l) => l.startsWith('| **Z'));
    expect(rows.map((l) => /^\| \*\*(Z\d)\*\*/.exec(l)![1]).sort()).toEqual(['Z1', 'Z2', 'Z3', 'Z4', 'Z5', 'Z6']);
    for (const line of rows) {
      if (line.startsWith('| **Z4**')) expect(line).toMatch(/\| held \(\d+\.\d s\) \|/);
      else expect(line).toContain('**not run**: not reached in this run');
    }
    expect(text).toMatch(/\*\*1 of 6 rows held\*\*, 0 failed, \*\*5 not run\*\*/);
    expect(text).toContain('`test/faults/daemon.test.ts`');
  });
});
