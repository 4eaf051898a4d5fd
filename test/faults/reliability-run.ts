// Global setup of `npm run reliability` (vitest.reliability.config.ts): starts the run with an empty
// results directory, so nothing from an earlier run is shown, and once every row file has run
// renders docs/RELIABILITY.md from what this run wrote.

import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DOC, RESULTS_ENV, writeReliabilityDoc } from './matrix.js';

const FAULTS = import.meta.dirname;

function resultsDir(): string {
  const dir = process.env[RESULTS_ENV] ?? resolve(FAULTS, 'results');
  return dir;
}

/** Test files of the matrix: those that declare an area. */
async function rowFiles(): Promise<string[]> {
  const names = (await readdir(FAULTS)).filter((f) => f.endsWith('.test.ts')).sort();
  const declaring = await Promise.all(names.map(async (f) => ((await readFile(join(FAULTS, f), 'utf8')).includes('matrixArea(') ? f.replace(/\.test\.ts$/, '') : null)));
  return declaring.filter((f): f is string => f !== null);
}

export default async function setup(): Promise<() => Promise<void>> {
  const dir = resultsDir();
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  return async () => {
    const { rows, silent } = await writeReliabilityDoc(dir, await rowFiles());
    const by = (o: string) => rows.filter((r) => r.result === o).length;
    console.log(`reliability: ${by('pass')} of ${rows.length} rows held, ${by('fail')} failed, ${by('not run')} not run${silent.length ? `; no results from ${silent.join(', ')}` : ''} → ${DOC}`);
  };
}
