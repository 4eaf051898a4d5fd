// The fault matrix's bookkeeping: every row is a vitest test that records what was injected, when,
// what had to hold and what did hold (with the run's own figures).
//
// Under `npm test` the rows run as ordinary tests and nothing is written. Only `npm run reliability`
// (vitest.reliability.config.ts) sets XEN_GUESTS_RELIABILITY_RESULTS: then each test file writes
// every row it declares — run or not — to <that dir>/<file>.json, and the run's global teardown
// (reliability-run.ts) renders docs/RELIABILITY.md from those files alone. A row that did not run is
// shown as "not run" with the reason; nothing is carried over from an earlier run.
//
// Adding rows in a new file (see test/faults/README.md): create test/faults/<name>.test.ts with
//   const row = matrixArea('<area>', '<name>', '<section title (letter)>');
// and define rows with row({...}, async (rec) => {...}). The file is picked up by both runs; the
// title (or AREA_TITLES) names its section in the document.

import { afterAll, it } from 'vitest';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
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
  /** Rows that mount file systems need root; elsewhere they are skipped and shown as "not run". */
  needsRoot?: boolean;
  /** Why this row cannot run on this machine (a missing tool), or undefined: it is skipped and shown as "not run" with this reason. */
  unavailable?: string;
}

export type Outcome = 'pass' | 'fail' | 'not run';

export interface RowResult extends RowDef {
  area: string;
  /** The section title of the area in the document. */
  areaTitle?: string;
  result: Outcome;
  /** What held, with the run's figures; in order of checking. */
  held: string[];
  /** The shared invariants checked in this row: code → figure. */
  invariants: Record<string, string>;
  failure?: string;
  /** Why a row did not run. */
  notRun?: string;
  seconds: number;
  ranAt: string | null;
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
  I3: 'no hard stop before the guest\'s clean phase ran out, unless the scenario gives it no clean path (no PV drivers, paused) or its policy says poweroff; clean phases from the scenario\'s keys and the config',
  I4: 'no guest of this host running when the daemon says done (exit 0), except those the scenario leaves alone (auto_poweroff); otherwise exit 1 and the report names each',
  I5: 'the shutdown deadline kept: the daemon exits and the last guest operation reaches the simulator within the configured deadline of the first SIGTERM (measured by the test, not read from the report)',
  I6: 'every failure reported with the guest and the reason, in the report and in the log; every guest the simulator saw hard-stopped after a clean request is among them',
  I7: 'state files old or new, never torn (every file in the state and runtime directories parses)',
  I8: 'no hang (every wait bounded), no crash (no fatal line), no crash loop',
} as const;

/** Set only by `npm run reliability`: where each test file writes its rows. */
export const RESULTS_ENV = 'XEN_GUESTS_RELIABILITY_RESULTS';
/** docs/RELIABILITY.md; XEN_GUESTS_RELIABILITY_DOC puts it elsewhere (the test of the generator itself). */
export const DOC = process.env.XEN_GUESTS_RELIABILITY_DOC ?? resolve(import.meta.dirname, '../../docs/RELIABILITY.md');
const DECISIONS = resolve(import.meta.dirname, 'decisions.md');
const isRoot = () => process.getuid?.() === 0;

/**
 * Declare the matrix area of this test file (`file` is the file's name without `.test.ts`, `title`
 * the heading of its section); returns `row`, which defines one row as a test.
 */
export function matrixArea(area: string, file: string, title?: string) {
  const declared: RowDef[] = [];
  const results = new Map<string, RowResult>();
  const areaTitle = title ?? AREA_TITLES[area];
  const resultsDir = process.env[RESULTS_ENV];
  if (resultsDir) {
    afterAll(async () => {
      const rows = declared.map((def) => results.get(def.id) ?? notRun(def, area, areaTitle));
      await saveResults(resultsDir, file, rows);
    });
  }
  return function row(def: RowDef, body: (rec: Recorder) => Promise<void>, timeoutMs = 120_000): void {
    declared.push(def);
    const test = skipReason(def) ? it.skip : def.known ? it.fails : it;
    test(`${def.id}: ${def.title}`, async () => {
      const held: string[] = [];
      const invariants: Record<string, string> = {};
      const t0 = performance.now();
      const base = { ...def, area, ...(areaTitle ? { areaTitle } : {}), held, invariants, ranAt: new Date().toISOString() };
      const seconds = () => (performance.now() - t0) / 1000;
      try {
        await body({ held: (text) => held.push(text), invariant: (code, figure) => (invariants[code] = figure) });
        results.set(def.id, { ...base, result: 'pass', seconds: seconds() });
      } catch (err) {
        const failure = (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 300);
        results.set(def.id, { ...base, result: 'fail', failure, seconds: seconds() });
        throw err;
      }
    }, timeoutMs);
  };
}

function skipReason(def: RowDef): string | undefined {
  if (def.needsRoot && !isRoot()) return 'needs root (it mounts file systems); the run was not root';
  return def.unavailable;
}

function notRun(def: RowDef, area: string, areaTitle: string | undefined): RowResult {
  const reason = skipReason(def) ?? 'not reached in this run (filtered out, or the file stopped before it)';
  return { ...def, area, ...(areaTitle ? { areaTitle } : {}), result: 'not run', notRun: reason, held: [], invariants: {}, seconds: 0, ranAt: null };
}

async function saveResults(dir: string, file: string, rows: RowResult[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${file}.json`);
  const temp = `${path}.tmp-${process.pid}`;
  await writeFile(temp, JSON.stringify([...rows].sort(byRowId), null, 2) + '\n');
  await rename(temp, path);
}

async function readRows(path: string): Promise<RowResult[]> {
  return JSON.parse(await readFile(path, 'utf8')) as RowResult[];
}

function byRowId(a: { id: string }, b: { id: string }): number {
  const [pa, na] = [a.id.replace(/\d+$/, ''), Number(/\d+$/.exec(a.id)?.[0] ?? 0)];
  const [pb, nb] = [b.id.replace(/\d+$/, ''), Number(/\d+$/.exec(b.id)?.[0] ?? 0)];
  return pa === pb ? na - nb : pa.localeCompare(pb);
}

/**
 * Render docs/RELIABILITY.md from this run's results directory. `rowFiles` are the matrix files
 * that should have written results: one that wrote none (it failed to load, or crashed) is named.
 */
export async function writeReliabilityDoc(resultsDir: string, rowFiles: string[]): Promise<{ rows: RowResult[]; silent: string[] }> {
  const files = (await readdir(resultsDir).catch(() => [] as string[])).filter((f) => f.endsWith('.json')).sort();
  const rows = (await Promise.all(files.map((f) => readRows(join(resultsDir, f))))).flat();
  const silent = rowFiles.filter((f) => !files.includes(`${f}.json`));
  const decisions = await readFile(DECISIONS, 'utf8').catch(() => '');
  const temp = `${DOC}.tmp-${process.pid}`;
  await writeFile(temp, renderDoc(rows, decisions, silent));
  await rename(temp, DOC);
  return { rows, silent };
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

export function renderDoc(rows: RowResult[], decisions: string, silentFiles: string[] = []): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const count = (o: Outcome) => rows.filter((r) => r.result === o).length;
  const rank = (area: string) => (AREA_ORDER.includes(area) ? AREA_ORDER.indexOf(area) : AREA_ORDER.length);
  const areas = [...new Set(rows.map((r) => r.area))].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const ran = rows.map((r) => r.ranAt).filter((x): x is string => x !== null).sort();
  const notRunNote = count('not run') ? `, **${count('not run')} not run** (each says why)` : '';
  const silentNote = silentFiles.length
    ? ['', `**Row files that wrote no results** (not selected in this run, failed to load, or crashed; their rows are not listed): ${silentFiles.map((f) => `\`test/faults/${f}.test.ts\``).join(', ')}.`]
    : [];
  const out: string[] = [
    '# Reliability: the fault matrix',
    '',
    '<!-- GENERATED by `npm run reliability` (test/faults/reliability-run.ts renders this run\'s results',
    '     with test/faults/decisions.md). Do not edit by hand; `npm test` never writes it. -->',
    '',
    `Every row below is a test in \`test/faults/\` that runs the **real daemon process** against the **real`,
    `simulator process** (time-scaled), with real signals, real kills and real file systems, and checks the`,
    `invariants of issue 6 from the simulator's timeline and call log, the scenario and the config given to the`,
    `daemon, its state files, its logs and its exit codes.`,
    '',
    `**${count('pass')} of ${rows.length} rows held**, ${count('fail')} failed${notRunNote} in the run of ${ran[0] ?? 'never'} → ${ran.at(-1) ?? 'never'}.`,
    ...silentNote,
    '',
    decisions.trim(),
    '',
    '## The invariants',
    '',
    'Checked in every row where they apply, from what the row can see from outside the daemon (`test/faults/invariants.ts`):',
    'what is allowed comes from the scenario and the config the row gave, what happened from the simulator and the',
    'processes. The last column of each table gives the figures of the run for each one checked.',
    '',
    ...Object.entries(INVARIANTS).map(([code, text]) => `- **${code}** ${text}`),
    '',
  ];
  for (const area of areas) {
    const inArea = rows.filter((r) => r.area === area).sort(byRowId);
    const title = inArea.find((r) => r.areaTitle)?.areaTitle ?? AREA_TITLES[area] ?? area;
    out.push(`## ${title}`, '', '| row | injected | when | must hold | result | what held in the run | invariants |', '|---|---|---|---|---|---|---|');
    for (const r of inArea) {
      const inv = Object.entries(r.invariants ?? {}).map(([code, figure]) => `${code} ${cell(figure)}`).join('<br>');
      out.push(`| **${r.id}** ${cell(r.title)} | ${cell(r.injected)} | ${r.when} | ${cell(r.must)} | ${resultCell(r, cell)} | ${r.held.map(cell).join('<br>')} | ${inv} |`);
    }
    out.push('');
  }
  return out.join('\n');
}

function resultCell(r: RowResult, cell: (s: string) => string): string {
  if (r.result === 'pass') return `held (${r.seconds.toFixed(1)} s)`;
  if (r.result === 'not run') return `**not run**: ${cell(r.notRun ?? '')}`;
  return `**FAILED**: ${cell(r.failure ?? '')}${r.known ? `<br>**Known; fix needed:** ${cell(r.known)}` : ''}`;
}
