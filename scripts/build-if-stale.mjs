#!/usr/bin/env node
// Builds dist/ with tsc only when a source is newer than the build, so `npm run demo` right after
// `npm ci` (which built it) starts at once instead of compiling everything again.
//   node scripts/build-if-stale.mjs [--check] [ROOT]
// --check only says "fresh" or "stale: <newest source>" (exit 0 either way) and builds nothing.

import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';

const args = process.argv.slice(2);
const check = args.includes('--check');
const root = resolve(args.find((a) => !a.startsWith('--')) ?? '.');
const BUILT = join(root, 'dist/src/cli/bin.js');
/** What tsconfig.json compiles, and the files that change how. */
const SOURCE_DIRS = ['src', 'bench'];
const SOURCE_FILES = ['tsconfig.json', 'package.json'];

function mtimeOf(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return null;
  }
}

/** The newest .ts file (or build input) under root, as [path, mtime]. */
function newestSource() {
  let newest = [null, -Infinity];
  const visit = (dir) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) visit(path);
      else if (entry.name.endsWith('.ts')) consider(path);
    }
  };
  const consider = (path) => {
    const t = mtimeOf(path);
    if (t !== null && t > newest[1]) newest = [path, t];
  };
  for (const dir of SOURCE_DIRS) visit(join(root, dir));
  for (const file of SOURCE_FILES) consider(join(root, file));
  return newest;
}

const built = mtimeOf(BUILT);
const [source, sourceTime] = newestSource();
const stale = built === null || sourceTime > built;
if (check) {
  process.stdout.write(stale ? `stale: ${built === null ? 'no build yet' : source}\n` : 'fresh\n');
  process.exit(0);
}
if (!stale) process.exit(0);
process.stderr.write(`building: ${built === null ? 'no build yet' : `${source} is newer than the build`}\n`);
const tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');
const result = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });
process.exit(result.status ?? 1);
