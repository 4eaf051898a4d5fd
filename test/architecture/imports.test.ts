// The layering the README's Architecture section and docs/ARCHITECTURE.md promise, checked against
// the real import graph (the TypeScript compiler's own import scanner, static and literal dynamic
// imports): each folder of src/ may import only the folders listed for it, the core no I/O module,
// and nothing of the product imports the simulator or the benchmark. The engine also holds no
// XenAPI error code: backends translate their codes into meanings (issue 10).

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');

/** Node modules that do no I/O: the only ones the core and the engine may use. */
const NO_IO_NODE = ['node:path', 'node:util', 'node:perf_hooks', 'node:assert', 'node:timers', 'node:timers/promises', 'node:events'];

type Area =
  | 'core' | 'seam' | 'engine' | 'toolstack' | 'xenapi' | 'xenstore' | 'state' | 'systemd'
  | 'report' | 'daemon' | 'app' | 'cli' | 'log' | 'clock' | 'retry' | 'sim' | 'bench';

interface Rule {
  /** Areas this one may import (its own always). */
  may: Area[];
  /** node: modules allowed; 'any' when the area does I/O by design. */
  node: string[] | 'any';
  /** npm packages allowed; 'any' for tools and the composition root. */
  npm: string[] | 'any';
}

export const RULES: Record<Area, Rule> = {
  core: { may: [], node: ['node:path', 'node:util', 'node:perf_hooks', 'node:assert'], npm: ['smol-toml'] },
  seam: { may: ['core'], node: [], npm: [] },
  engine: { may: ['core', 'seam', 'log', 'retry'], node: NO_IO_NODE, npm: ['p-limit'] },
  toolstack: { may: ['seam', 'core', 'xenapi', 'xenstore', 'state', 'log', 'retry'], node: 'any', npm: 'any' },
  xenapi: { may: ['log', 'retry'], node: 'any', npm: 'any' },
  xenstore: { may: ['log', 'retry'], node: 'any', npm: 'any' },
  state: { may: ['core', 'log'], node: 'any', npm: 'any' },
  systemd: { may: ['log'], node: 'any', npm: 'any' },
  report: { may: ['core', 'state', 'log'], node: 'any', npm: 'any' },
  daemon: { may: ['core', 'seam', 'engine', 'state', 'systemd', 'report', 'log', 'retry'], node: 'any', npm: 'any' },
  app: { may: ['core', 'seam', 'toolstack', 'daemon', 'state', 'systemd', 'log'], node: 'any', npm: 'any' },
  cli: { may: ['app', 'core', 'seam', 'engine', 'report', 'state', 'systemd', 'log', 'retry'], node: 'any', npm: 'any' },
  log: { may: [], node: 'any', npm: ['pino', 'pino-pretty'] },
  // core/clock.ts: a leaf (it imports nothing) that every product folder may import, so that a
  // deadline crossing any seam — engine, backend, protocol client — is on the one monotonic clock.
  clock: { may: [], node: [], npm: [] },
  // The one retry helper and sleep: timers only; the core's meanings give its default.
  retry: { may: ['core'], node: [], npm: [] },
  sim: { may: [], node: 'any', npm: 'any' },
  bench: { may: ['core', 'seam', 'engine', 'toolstack', 'xenapi', 'xenstore', 'state', 'log', 'sim'], node: 'any', npm: 'any' },
};

/** Codes the engine itself gives to what happened (not a toolstack's). */
const ENGINE_OWN_CODES = new Set(['ENGINE_TIMEOUT', 'INTENT_NOT_RECORDED', 'OPERATION_LOST']);

/** Which area a repository path (relative to ROOT) belongs to; null outside src/ and bench/. */
export function areaOf(path: string): Area | null {
  const parts = path.split('/');
  if (parts[0] === 'bench') return 'bench';
  if (parts[0] !== 'src' || parts.length < 2) return null;
  if (path === 'src/toolstack/types.ts') return 'seam';
  if (path === 'src/log.ts') return 'log';
  if (path === 'src/core/clock.ts') return 'clock';
  if (path === 'src/retry.ts') return 'retry';
  const area = parts[1]!;
  return area in RULES ? (area as Area) : null;
}

function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/** Every rule broken by `files` (repository path → source text). */
export function violations(files: Map<string, string>): string[] {
  const found: string[] = [];
  for (const [path, text] of files) {
    const from = areaOf(path);
    if (!from) continue;
    const rule = RULES[from];
    for (const { fileName: spec } of ts.preProcessFile(text, true, true).importedFiles) {
      if (spec.startsWith('.')) {
        const target = relative(ROOT, resolve(ROOT, dirname(path), spec)).replace(/\.js$/, '.ts');
        const to = areaOf(target);
        if (!to || to === from || rule.may.includes(to) || (to === 'clock' && from !== 'sim')) continue;
        found.push(`${path} (${from}) imports ${target} (${to}); ${from} may import: ${rule.may.join(', ') || 'nothing outside itself'}`);
      } else if (spec.startsWith('node:')) {
        if (rule.node !== 'any' && !rule.node.includes(spec)) found.push(`${path} (${from}) imports ${spec}; ${from} does no I/O (allowed: ${rule.node.join(', ') || 'none'})`);
      } else if (rule.npm !== 'any' && !rule.npm.includes(packageOf(spec))) {
        found.push(`${path} (${from}) imports the package ${spec}; allowed: ${rule.npm.join(', ') || 'none'}`);
      }
    }
  }
  return found;
}

/** SCREAMING_SNAKE string literals in engine code that are not the engine's own codes. */
export function xapiCodesInEngine(files: Map<string, string>): string[] {
  const found: string[] = [];
  for (const [path, text] of files) {
    if (areaOf(path) !== 'engine') continue;
    const source = ts.createSourceFile(path, text, ts.ScriptTarget.ES2022, false, ts.ScriptKind.TS);
    const visit = (node: ts.Node): void => {
      if ((ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) && /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$/.test(node.text) && !ENGINE_OWN_CODES.has(node.text)) {
        found.push(`${path} ${node.text}`);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return [...new Set(found)].sort();
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = `${dir}/${name}`;
    if (statSync(join(ROOT, path)).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

function readTree(): Map<string, string> {
  return new Map([...sourceFiles('src'), ...sourceFiles('bench')].map((p) => [p, readFileSync(join(ROOT, p), 'utf8')]));
}

describe('import rules', () => {
  const tree = readTree();

  it('every file of src/ belongs to a known area', () => {
    expect([...tree.keys()].filter((p) => p.startsWith('src/') && areaOf(p) === null)).toEqual([]);
  });

  it('each folder imports only what docs/ARCHITECTURE.md allows it', () => {
    expect(violations(tree)).toEqual([]);
  });

  it('the engine holds no toolstack error code: it decides on meanings only', () => {
    expect(xapiCodesInEngine(tree)).toEqual([]);
  });

  it('the checker sees each kind of break (so that an empty answer means something)', () => {
    const bad = new Map([
      ['src/core/x.ts', "import { readFile } from 'node:fs/promises';\nimport { a } from '../engine/boot.js';\nimport 'pino';"],
      ['src/daemon/x.ts', "import { COMMON_OPTIONS } from '../cli/context.js';"],
      ['src/report/x.ts', "import { renderTable } from '../cli/format/table.js';"],
      ['src/cli/x.ts', "const m = await import('../sim/cli.js');\nimport { runDaemon } from '../daemon/daemon.js';"],
      ['src/engine/x.ts', "import { createXenApiClient } from '../xenapi/client.js';\nimport { readFile } from 'node:fs';"],
      ['src/xenapi/x.ts', "import { runBoot } from '../engine/boot.js';"],
    ]);
    const found = violations(bad);
    expect(found).toHaveLength(10);
    for (const what of ['node:fs/promises', 'src/engine/boot.ts (engine)', 'package pino', 'src/cli/context.ts (cli)', 'src/cli/format/table.ts (cli)', 'src/sim/cli.ts (sim)', 'src/daemon/daemon.ts (daemon)', 'src/xenapi/client.ts (xenapi)', 'imports node:fs;']) {
      expect(found.some((f) => f.includes(what)), what).toBe(true);
    }
    expect(xapiCodesInEngine(new Map([['src/engine/x.ts', "if (e.code === 'VM_BAD_POWER_STATE' || e.code === 'ENGINE_TIMEOUT') {}"]]))).toEqual(['src/engine/x.ts VM_BAD_POWER_STATE']);
  });
});
