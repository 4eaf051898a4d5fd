// The benchmark harness works: our engine, run against the real simulator in its own process at 20
// guests, is measured end to end. Only outcomes that no amount of load can change — never times.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { measure, type RunResult } from '../../bench/measure.js';
import { lowerBound } from '../../bench/bound.js';
import type { Mode, StrategyName } from '../../bench/strategies/types.js';
import { makeWorkload } from '../../bench/workload.js';

const workload = makeWorkload({ guests: 20, seed: 11 });
const hung = workload.guests.filter((g) => g.kind === 'hung').length;
const noPv = workload.guests.filter((g) => g.kind === 'nopv').length;
const SCALE = 0.005;

function run(mode: Mode, strategy: StrategyName): Promise<RunResult> {
  return measure({ workload, mode, strategy, scale: SCALE, protocol: 'xml-rpc', limitMs: 120_000 });
}

beforeAll(async () => {
  // The strategies run as `node dist/bench/child.js`: `npm test` builds dist/ first.
  await readFile(join(import.meta.dirname, '../../dist/bench/child.js'));
});

describe('benchmark workload', () => {
  it('has hung and no-PV guests in several order groups, and a bound that counts hung guests at their timeout', () => {
    expect(hung).toBeGreaterThan(0);
    expect(noPv).toBeGreaterThan(0);
    expect(workload.orders.length).toBeGreaterThanOrEqual(3);
    const bound = lowerBound(workload, 'shutdown');
    expect(bound.total).toBeGreaterThanOrEqual(workload.guestTimeoutS);
    expect(bound.groups.map((g) => g.guests).reduce((a, b) => a + b, 0)).toBe(20);
  });
});

// The strategies' design-implied outcomes (libvirt leaves the hung guests running, xapi's 60 s
// cuts slow guests, a sequential loop ignores VM.order, ours needs no needless hard stop) depend on
// timing — a slow guest against a fixed timeout — so they are checked by `npm run bench` ("outcome
// as designed" in its targets), not here. What is left holds however slow the machine is.
describe('benchmark harness smoke run at 20 guests', { timeout: 180_000 }, () => {
  it('ours, shutdown: the harness measures a run; the hung and no-PV guests (which cannot halt cleanly) are hard-stopped, nothing is left running', async () => {
    const r = await run('shutdown', 'ours');
    expect(r.calls.total).toBeGreaterThan(0);
    expect(r.outcome.leftRunning).toBe(0);
    expect(r.outcome.hard).toBeGreaterThanOrEqual(hung + noPv);
  });

  it('ours learned, shutdown: a first run on its own simulator, then the measured run plans with its report (every guest known)', async () => {
    const r = await measure({ workload, mode: 'shutdown', strategy: 'ours', scale: SCALE, protocol: 'xml-rpc', limitMs: 120_000, learned: true });
    expect(r.learned).toBe(true);
    expect(r.notes['learned']).toMatchObject({ known: 20, from: { trigger: 'benchmark' } });
    expect(r.outcome.leftRunning).toBe(0);
  });

  it('ours, boot: every guest is asked to start once and ends ready or not ready, none lost', async () => {
    const r = await run('boot', 'ours');
    expect(r.calls.total).toBeGreaterThan(0);
    expect(r.outcome.done + r.outcome.notReady).toBe(20);
  });
});
