// The benchmark harness works: each strategy, run against the real simulator in its own process
// at 20 guests, ends with the outcome its design implies. Outcomes only — never times.

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

function run(mode: Mode, strategy: StrategyName, scale = SCALE, protocol: 'xml-rpc' | 'json-rpc' = 'xml-rpc'): Promise<RunResult> {
  return measure({ workload, mode, strategy, scale, protocol, limitMs: 120_000 });
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

describe('shutdown strategies at 20 guests', { timeout: 180_000 }, () => {
  it('ours: hard-stops exactly the hung and no-PV guests, keeps the groups, leaves nothing running', async () => {
    const r = await run('shutdown', 'ours');
    expect(r.outcome.leftRunning).toBe(0);
    expect(r.outcome.needlessHard).toBe(0);
    expect(r.outcome.hard).toBe(hung + noPv);
    expect(r.outcome.outOfOrder).toBe(0);
    expect(r.calls.total).toBeGreaterThan(0);
  });

  it('ours over JSON-RPC: the same outcome', async () => {
    const r = await run('shutdown', 'ours', SCALE, 'json-rpc');
    expect(r.protocol).toBe('json-rpc');
    expect(r.outcome.leftRunning).toBe(0);
    expect(r.outcome.needlessHard).toBe(0);
    expect(r.outcome.hard).toBe(hung + noPv);
    expect(r.outcome.outOfOrder).toBe(0);
  });

  it('libvirt-guests: never destroys, so the hung and no-PV guests are left running', async () => {
    const r = await run('shutdown', 'libvirt');
    expect(r.outcome.hard).toBe(0);
    expect(r.outcome.leftRunning).toBe(hung + noPv);
  });

  it("xapi's power-off: nothing left running, but guests needing more than its 60 s are hard-stopped", async () => {
    // A slower scale: the strategy's own work after its 60 s (cancel, re-read, hard) must stay
    // small against the slow guests' remaining time, or they halt cleanly meanwhile.
    const r = await run('shutdown', 'xapi', 0.02);
    const slow = workload.guests.filter((g) => g.kind === 'normal' && g.shutdownS + 0.5 > 60).length;
    expect(r.outcome.leftRunning).toBe(0);
    expect(r.outcome.needlessHard).toBe(slow);
  });

  it('sequential and proxmox: clean-then-hard per guest, nothing left running', async () => {
    for (const strategy of ['sequential', 'proxmox'] as const) {
      const r = await run('shutdown', strategy);
      expect(r.outcome.leftRunning, strategy).toBe(0);
      expect(r.outcome.needlessHard, strategy).toBe(0);
    }
  });
});

describe('boot strategies at 20 guests', { timeout: 180_000 }, () => {
  it('ours starts every guest and keeps the groups; the sequential loop ignores VM.order', async () => {
    const ours = await run('boot', 'ours');
    expect(ours.outcome.done).toBe(20);
    expect(ours.outcome.outOfOrder).toBe(0);
    const seq = await run('boot', 'sequential');
    // It does not wait for readiness: its last guests may still be booting when it returns.
    expect(seq.outcome.done + seq.outcome.notReady).toBe(20);
    expect(seq.outcome.outOfOrder).toBeGreaterThan(0);
  });
});
