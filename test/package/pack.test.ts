// The product ships alone: what `npm pack` puts in the tarball (the install the README describes)
// holds the program, its units and its example config — no simulator, no benchmark, no tests, no
// sources — and the unpacked program runs, saying plainly that the simulator is not part of it.

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');

interface PackEntry {
  filename: string;
  files: { path: string }[];
}

let work: string;
let packed: PackEntry;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'xg-pack-'));
  // --ignore-scripts: dist/ is already built by `npm test`; `prepare` would rebuild it under the other tests' feet.
  const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: ROOT });
  packed = (JSON.parse(stdout) as PackEntry[])[0]!;
  await run('tar', ['-xzf', join(work, packed.filename), '-C', work]);
  // The unpacked package gets the clone's node_modules, as an install would provide its dependencies.
  await symlink(join(ROOT, 'node_modules'), join(work, 'package', 'node_modules'));
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('npm pack', () => {
  it('contains the program, its units and config, and nothing of the simulator, benchmark, tests or sources', () => {
    const paths = packed.files.map((f) => f.path);
    expect(paths).toEqual(expect.arrayContaining(['dist/src/cli/bin.js', 'dist/src/daemon/daemon.js', 'dist/src/app/compose.js', 'units/xen-guests.service', 'config/config.toml', 'package.json', 'README.md']));
    const unwanted = paths.filter((p) => p.startsWith('dist/src/sim/') || p.startsWith('dist/bench/') || p.startsWith('bench/') || p.startsWith('test/') || p.startsWith('src/') || p.endsWith('.map') || p.endsWith('.ts'));
    expect(unwanted).toEqual([]);
  });

  it('declares no runtime dependency that only the simulator needs', async () => {
    const manifest = JSON.parse(await readFile(join(work, 'package', 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(Object.keys(manifest.dependencies)).not.toContain('sax');
  });

  it('the unpacked program runs: config check works, `sim` says the simulator is not part of this installation', async () => {
    const bin = join(work, 'package', 'dist', 'src', 'cli', 'bin.js');
    const check = await run(process.execPath, [bin, 'config', 'check', '--config', join(work, 'package', 'config', 'config.toml')]);
    expect(check.stdout).toMatch(/^ok: /);
    const sim = await run(process.execPath, [bin, 'sim', '--listen', '127.0.0.1:0']).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => err,
    );
    expect(sim.code).toBe(1);
    expect(sim.stderr).toContain('the simulated host is not part of this installation');
  });
});
