// The fault matrix's bookkeeping: every row is a vitest test that records what was injected, when,
// what had to hold and what did hold (with the run's own figures). Each test file keeps its rows in
// results/<file>.json, and docs/RELIABILITY.md is regenerated from all of them after each file —
// so the document always says what the last run showed, never what someone wrote by hand.

import { afterAll, it } from 'vitest';
import { mkdir, readdir, readFile, rename, rmdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

export type When = 'boot plan' | 'idle' | 'shutdown plan' | 'daemon start' | 'any time';

export interface RowDef {
  /** Stable id, e.g. "X1"; rows are listed by it. */
  id: string;
  title: string;
  injected: string;
  when: When;
  /** What must hold, in words. */
  must: string;
  /**
   * A known failure of the product, with the fix it needs: the row runs as `it.fails`, so the suite
   * stays green while the document shows the row FAILED, and turns red once the fix lands.
   */
  known?: string;
  /** Rows that mount file systems need root; elsewhere they are skipped (and keep their last result). */
  needsRoot?: boolean;
  /** Set when a tool the row needs is missing here: the row is skipped (not run), for this reason. */
  notRunBecause?: string;
}

export interface RowResult extends RowDef {
  area: string;
  result: 'pass' | 'fail';
  /** What held, with the run's figures; in order of checking. */
  held: string[];
  /** The shared invariants checked in this row: code → figure. */
  invariants: Record<string, string>;
  failure?: string;
  seconds: number;
  ranAt: string;
}

export interface Recorder {
  /** Record a statement that held (call after the assertion that proves it). */
  held(text: string): void;
  /** Record that a shared invariant (I1…I8, see INVARIANTS) held, with this run's figure. */
  invariant(code: keyof typeof INVARIANTS, figure: string): void;
}

/** The invariants of issue 6 that every row checks where they apply (test/faults/invariants.ts). */
export const INVARIANTS = {
  I1: 'no guest started twice, none started while in maintenance',
  I2: 'nothing suspended, no suspend image discarded',
  I3: 'no hard stop before the guest\'s clean phase ran out, unless its policy says poweroff or it has no clean path',
  I4: 'no guest of this host running when the daemon says done (exit 0); otherwise exit 1 and the report names each',
  I5: 'the shutdown deadline kept (report and process exit)',
  I6: 'every failure reported with the guest and the reason, in the report and in the log',
  I7: 'state files old or new, never torn (every file in the state and runtime directories parses)',
  I8: 'no hang (every wait bounded), no crash (no fatal line), no crash loop',
} as const;

const RESULTS_DIR = resolve(import.meta.dirname, 'results');
const DOC = resolve(import.meta.dirname, '../../docs/RELIABILITY.md');
const DECISIONS = resolve(import.meta.dirname, 'decisions.md');

/** Declare the matrix area of this test file; returns `row`, which defines one row as a test. */
export function matrixArea(area: string, file: string) {
  const results: RowResult[] = [];
  afterAll(async () => {
    await saveResults(file, results);
    await writeReliabilityDoc();
  });
  return function row(def: RowDef, body: (rec: Recorder) => Promise<void>, timeoutMs = 120_000): void {
    const test = def.notRunBecause || (def.needsRoot && process.getuid?.() !== 0) ? it.skip : def.known ? it.fails : it;
    test(`${def.id}: ${def.title}`, async () => {
      const held: string[] = [];
      const invariants: Record<string, string> = {};
      const t0 = Date.now();
      const base = { ...def, area, held, invariants, ranAt: new Date().toISOString() };
      try {
        await body({ held: (text) => held.push(text), invariant: (code, figure) => (invariants[code] = figure) });
        results.push({ ...base, result: 'pass', seconds: (Date.now() - t0) / 1000 });
      } catch (err) {
        const failure = (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 300);
        results.push({ ...base, result: 'fail', failure, seconds: (Date.now() - t0) / 1000 });
        throw err;
      }
    }, timeoutMs);
  };
}

async function saveResults(file: string, rows: RowResult[]): Promise<void> {
  if (rows.length === 0) return;
  await mkdir(RESULTS_DIR, { recursive: true });
  const path = join(RESULTS_DIR, `${file}.json`);
  // Rows not run this time (a -t filter) keep their last result.
  const previous = await readRows(path);
  const byId = new Map(previous.map((r) => [r.id, r]));
  for (const r of rows) byId.set(r.id, r);
  const merged = [...byId.values()].sort(byRowId);
  const temp = `${path}.tmp-${process.pid}`;
  await writeFile(temp, JSON.stringify(merged, null, 2) + '\n');
  await rename(temp, path);
}

async function readRows(path: string): Promise<RowResult[]> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as RowResult[];
  } catch {
    return [];
  }
}

function byRowId(a: { id: string }, b: { id: string }): number {
  const [pa, na] = [a.id.replace(/\d+$/, ''), Number(/\d+$/.exec(a.id)?.[0] ?? 0)];
  const [pb, nb] = [b.id.replace(/\d+$/, ''), Number(/\d+$/.exec(b.id)?.[0] ?? 0)];
  return pa === pb ? na - nb : pa.localeCompare(pb);
}

/** Regenerate docs/RELIABILITY.md from every results file; test files run in parallel, hence the lock. */
export async function writeReliabilityDoc(): Promise<void> {
  const lock = `${DOC}.lock`;
  const until = Date.now() + 20_000;
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch {
      if (Date.now() > until) await rmdir(lock).catch(() => undefined); // a lock left by a killed run
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  try {
    const files = (await readdir(RESULTS_DIR).catch(() => [] as string[])).filter((f) => f.endsWith('.json')).sort();
    const rows = (await Promise.all(files.map((f) => readRows(join(RESULTS_DIR, f))))).flat();
    const decisions = await readFile(DECISIONS, 'utf8').catch(() => '');
    const temp = `${DOC}.tmp-${process.pid}`;
    await writeFile(temp, renderDoc(rows, decisions));
    await rename(temp, DOC);
  } finally {
    await rmdir(lock).catch(() => undefined);
  }
}

const AREA_ORDER = ['toolstack', 'errors', 'daemon', 'guests', 'state', 'input', 'security'];
const AREA_TITLES: Record<string, string> = {
  toolstack: 'Toolstack faults: restarts, latency, calls that never answer (X)',
  errors: 'Error codes injected into XenAPI calls (E)',
  daemon: 'The daemon itself: kills, signals, reloads (D)',
  guests: 'Guests that misbehave (G)',
  state: 'The state directory (S)',
  input: 'Bad input everywhere (B)',
  security: 'Security (Z)',
};

export function renderDoc(rows: RowResult[], decisions: string): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const passed = rows.filter((r) => r.result === 'pass').length;
  const rank = (area: string) => (AREA_ORDER.includes(area) ? AREA_ORDER.indexOf(area) : AREA_ORDER.length);
  const areas = [...new Set(rows.map((r) => r.area))].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const last = rows.map((r) => r.ranAt).sort().at(-1) ?? 'never';
  const out: string[] = [
    '# Reliability: the fault matrix',
    '',
    '<!-- GENERATED by the test run (test/faults/matrix.ts from test/faults/results/*.json and',
    '     test/faults/decisions.md). Do not edit by hand: `npm test` rewrites it. -->',
    '',
    `Every row below is a test in \`test/faults/\` that runs the **real daemon process** against the **real`,
    `simulator process** (time-scaled), with real signals, real kills and real file systems, and checks the`,
    `invariants of issue 6 from the simulator's timeline, the daemon's reports and its logs.`,
    '',
    `**${passed} of ${rows.length} rows held** in the last run (latest row ${last}).`,
    '',
    decisions.trim(),
    '',
    '## The invariants',
    '',
    'Checked in every row where they apply, from the simulator\'s timeline and VM records, the reports, the state files',
    'and the daemons\' logs and exit codes (`test/faults/invariants.ts`). The last column of each table gives the',
    'figures of the run for each one checked.',
    '',
    ...Object.entries(INVARIANTS).map(([code, text]) => `- **${code}** ${text}`),
    '',
  ];
  for (const area of areas) {
    const inArea = rows.filter((r) => r.area === area).sort(byRowId);
    out.push(`## ${AREA_TITLES[area] ?? area}`, '', '| row | injected | when | must hold | result | what held in the run | invariants |', '|---|---|---|---|---|---|---|');
    for (const r of inArea) {
      const result =
        r.result === 'pass' ? `held (${r.seconds.toFixed(1)} s)` : `**FAILED**: ${cell(r.failure ?? '')}${r.known ? `<br>**Known; fix needed:** ${cell(r.known)}` : ''}`;
      const inv = Object.entries(r.invariants ?? {}).map(([code, figure]) => `${code} ${cell(figure)}`).join('<br>');
      out.push(`| **${r.id}** ${cell(r.title)} | ${cell(r.injected)} | ${r.when} | ${cell(r.must)} | ${result} | ${r.held.map(cell).join('<br>')} | ${inv} |`);
    }
    out.push('');
  }
  return out.join('\n');
}
