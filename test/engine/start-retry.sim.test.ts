// Start failures that are passing for xapi (storage not there yet, a queue that gave up) are asked
// again with backoff inside the guest's ready timeout; permanent ones are not. Judged from the
// simulator's call log and timeline.

import { afterEach, describe, expect, it } from 'vitest';
import { runBoot } from '../../src/engine/index.js';
import { ToolstackError } from '../../src/core/meanings.js';
import { deadlineIn } from '../../src/core/clock.js';
import { simCallLog } from '../faults/harness.js';
import { firstAt, planFor, recorder, rig, timelines, type Rig } from './harness.js';

const on = { auto_poweron: 'true' };
let r: Rig | undefined;
afterEach(async () => {
  await r?.close();
  r = undefined;
});

const isStart = (m: string) => m === 'VM.start' || m === 'Async.VM.start';

describe('start failures at boot', () => {
  it('retries an SR backend failure until the start goes through; a licence refusal is asked once', async () => {
    r = await rig([
      { name_label: 'flaky', order: 1, memory_mib: 256, other_config: on },
      { name_label: 'unlicensed', order: 2, memory_mib: 256, other_config: on, behaviour: { start_error: 'LICENCE_RESTRICTION' } },
    ]);
    await r.sim.call('sim.inject_error', 'Async.VM.start', 2, 'SR_BACKEND_FAILURE_46', '', 'The VDI is not available', '');
    const plan = await planFor(r.ts, 'boot', { timeout: 60 });
    const report = await runBoot(r.ts, plan, { log: r.log, ...recorder().hooks }, { parallelism: 2, bootId: 'b', trigger: 'test' });

    const starts = (await simCallLog(r.sim)).filter((c) => isStart(c.method));
    // flaky: two injected refusals, then the start that worked; unlicensed: asked once.
    expect(starts.slice(0, 3).map((c) => c.outcome)).toEqual(['SR_BACKEND_FAILURE_46', 'SR_BACKEND_FAILURE_46', 'ok']);
    expect(starts).toHaveLength(4);
    const tl = await timelines(r.sim);
    expect(firstAt(tl.get('flaky'), 'running') ?? null).not.toBeNull();
    expect(firstAt(tl.get('unlicensed'), 'running') ?? null).toBeNull();
    const flaky = report.guests.find((g) => g.guest.name === 'flaky')!;
    expect(flaky.outcome).toBe('started');
    expect(flaky.errors.map((e) => e[0])).toEqual(['SR_BACKEND_FAILURE_46', 'SR_BACKEND_FAILURE_46']);
    expect(report.guests.find((g) => g.guest.name === 'unlicensed')!.outcome).toBe('start-failed');
  });

  it('a start xapi answers NO_HOSTS_AVAILABLE is explained by assert_can_boot_here: an SR not plugged here is VM_REQUIRES_SR, transient', async () => {
    r = await rig([{ name_label: 'on-nfs', memory_mib: 256, other_config: on, disks: ['nfs'] }], { srs: [{ name_label: 'nfs', type: 'nfs', plugged: false }] });
    const guest = (await r.ts.guests()).find((g) => g.name === 'on-nfs')!;
    const err = await r.ts.start(guest, { deadline: deadlineIn(20_000) }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(ToolstackError);
    const t = err as ToolstackError;
    expect([t.meaning, t.code, t.params[0]]).toEqual(['transient', 'VM_REQUIRES_SR', await r.other.refOf('on-nfs')]);
    // The start was asked, and the check that explained its failure came after it (the simulator's log).
    const calls = (await simCallLog(r.sim)).map((c) => `${c.method} ${c.outcome}`);
    const asked = calls.indexOf('Async.VM.start ok');
    expect(asked).toBeGreaterThanOrEqual(0);
    expect(calls.indexOf('VM.assert_can_boot_here VM_REQUIRES_SR')).toBeGreaterThan(asked);
  });
});
