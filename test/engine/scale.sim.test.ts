// Many guests through a whole boot and shutdown on the simulator: outcomes, a bounded number of
// toolstack calls per guest (event-driven, no polling), and few status lines.

import { afterEach, describe, expect, it } from 'vitest';
import { runBoot, runShutdown } from '../../src/engine/index.js';
import { planFor, recorder, rig, type Rig, type SimGuest } from './harness.js';
import { monotonicNow } from '../../src/core/clock.js';

let r: Rig | undefined;
afterEach(async () => {
  await r?.close();
  r = undefined;
});

const N = 160;

interface Counts {
  total: number;
  by_method: Record<string, number>;
}

describe('engine at scale', () => {
  it(`boots and stops ${N} guests with a bounded number of calls per guest and few status lines`, async () => {
    const guests: SimGuest[] = Array.from({ length: N }, (_, i) => ({
      name_label: `vm-${String(i).padStart(3, '0')}`,
      order: i % 4,
      memory_mib: 64,
      other_config: { auto_poweron: 'true', ...(i % 3 === 0 ? { 'xen-guests:ready': 'agent' } : {}) },
    }));
    r = await rig(guests);
    const bootPlan = await planFor(r.ts, 'boot', { timeout: 30 });
    expect(bootPlan.totals.acting).toBe(N);
    const before = (await r.sim.call('sim.get_call_counts')) as Counts;
    const bootRec = recorder();
    const boot = await runBoot(r.ts, bootPlan, { log: r.log, ...bootRec.hooks }, { parallelism: 8, bootId: 'b', trigger: 'test' });
    expect(boot.totals.started).toBe(N);
    expect(boot.exitCode).toBe(0);

    const shutdownPlan = await planFor(r.ts, 'shutdown', { timeout: 30 });
    const shutRec = recorder();
    const shut = await runShutdown(r.ts, shutdownPlan, { log: r.log, ...shutRec.hooks }, {
      parallelism: 16,
      deadlineAt: monotonicNow() + 50_000,
      hardReserveMs: 10_000,
      bootId: 'b',
      trigger: 'test',
      hostUuid: (await r.ts.host()).uuid,
    });
    expect(shut.totals.clean).toBe(N);
    expect(shut.leftRunning).toEqual([]);
    expect(shut.exitCode).toBe(0);

    const after = (await r.sim.call('sim.get_call_counts')) as Counts;
    const calls = (m: string) => (after.by_method[m] ?? 0) - (before.by_method[m] ?? 0);
    // One start and one clean request per guest: nothing repeated, nothing polled per guest.
    expect(calls('Async.VM.start')).toBe(N);
    expect(calls('Async.VM.clean_shutdown')).toBe(N);
    // Per-guest reads come from the backend's event cache (a few direct reads before it is in sync).
    expect(calls('VM.get_record') + calls('VM.get_power_state') + calls('task.get_record') + calls('task.get_status')).toBeLessThan(N / 10);
    expect((after.total - before.total) / N).toBeLessThan(6);
    // Storage is read once per order group (4 groups; no guest has disks, so the VBD read alone).
    expect(calls('VBD.get_all_records_where')).toBe(4);
    expect(calls('VDI.get_SR') + calls('SR.get_record') + calls('SR.get_all_records') + calls('PBD.get_all_records_where')).toBe(0);
    // Status lines are rate-limited: a handful per second of work, not one per guest step.
    expect(bootRec.status.length).toBeLessThan(N / 4);
    expect(shutRec.status.length).toBeLessThan(N / 4);
    expect(bootRec.progress.length).toBeGreaterThanOrEqual(3 * N);
  });
});
