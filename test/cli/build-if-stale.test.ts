// `npm run demo` builds only when a source is newer than dist/ (issue 16, item 10): the script as a
// real process on a temporary tree whose file times the test sets.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const SCRIPT = resolve(import.meta.dirname, '../../scripts/build-if-stale.mjs');
let root: string;

function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) =>
    execFile(process.execPath, [SCRIPT, ...args], { timeout: 30_000 }, (err, stdout, stderr) =>
      done({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    ),
  );
}

async function at(path: string, seconds: number): Promise<void> {
  await utimes(path, seconds, seconds);
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'xg-stale-'));
  await mkdir(join(root, 'src/cli'), { recursive: true });
  await mkdir(join(root, 'dist/src/cli'), { recursive: true });
  for (const f of ['src/cli/main.ts', 'tsconfig.json', 'package.json', 'dist/src/cli/bin.js']) await writeFile(join(root, f), '{}\n');
});

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

describe('scripts/build-if-stale.mjs', () => {
  it('a build newer than every source is fresh: nothing is compiled, dist is untouched', async () => {
    for (const f of ['src/cli/main.ts', 'tsconfig.json', 'package.json']) await at(join(root, f), 1_000_000);
    await at(join(root, 'dist/src/cli/bin.js'), 2_000_000);
    expect((await run('--check', root)).stdout).toBe('fresh\n');
    const r = await run(root);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect((await stat(join(root, 'dist/src/cli/bin.js'))).mtimeMs).toBe(2_000_000_000);
  });

  it('a source newer than the build, or no build at all, is stale and named', async () => {
    await at(join(root, 'src/cli/main.ts'), 3_000_000);
    expect((await run('--check', root)).stdout).toBe(`stale: ${join(root, 'src/cli/main.ts')}\n`);
    await rm(join(root, 'dist'), { recursive: true });
    expect((await run('--check', root)).stdout).toBe('stale: no build yet\n');
  });
});
