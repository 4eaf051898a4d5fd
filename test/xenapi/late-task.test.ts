// A task whose end the client sees late (its event loop busy, or its events stalled) must not be
// reported as still pending: at the deadline the client asks xapi once before it says timeout.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type XenApiClient, createXenApiClient } from '../../src/xenapi/index.js';
import { type SimHandle, spawnSim } from '../helpers/sim.js';
import { monotonicNow } from '../../src/core/clock.js';

describe('a task that ended while the client saw no events', () => {
  let sim: SimHandle;
  let client: XenApiClient;

  beforeAll(async () => {
    // Scale 0.1: boot_s 5 → the start task ends ~0.6 s after it was asked (domain build + boot).
    sim = await spawnSim({ timeScale: 0.1, scenario: { guests: [{ name_label: 'web', power_state: 'Halted', domain_type: 'pv', behaviour: { boot_s: 5 } }, { name_label: 'slow', power_state: 'Halted', domain_type: 'pv', start_delay: 100 }] } });
    // A long backoff: after one failed event.from the loop stays silent for 4 s.
    client = createXenApiClient({ url: sim.url, callTimeoutMs: 10_000, eventTimeoutS: 5, backoff: { initialMs: 4_000, maxMs: 4_000 } });
    await client.events.ready({ deadline: monotonicNow() + 10_000 });
  });
  afterAll(async () => {
    await client?.close();
    await sim?.stop();
  });

  async function refOf(name: string): Promise<string> {
    const vms = await client.getAllRecords('vm');
    const vm = [...vms.values()].find((v) => v.nameLabel === name);
    if (!vm) throw new Error(`no VM ${name}`);
    return vm.ref;
  }

  it('resolves with the task result, not XENAPI_TASK_TIMEOUT, when the task had succeeded before the deadline', async () => {
    const ref = await refOf('web');
    // The event.from after the next one fails, so the task's end arrives only after the 4 s backoff.
    await sim.call('sim.inject_error', 'event.from', 1, 'INTERNAL_ERROR', 'injected');
    const call = await client.callAsyncWith({ deadline: monotonicNow() + 2_500 }, 'VM.start', ref, false, false);
    await expect(call.result).resolves.toBeUndefined();
    const session = await sim.login();
    expect(await sim.call('VM.get_power_state', session, ref)).toBe('Running');
  }, 30_000);

  it('still says XENAPI_TASK_TIMEOUT when the task is really pending at the deadline', async () => {
    const ref = await refOf('slow');
    const call = await client.callAsyncWith({ deadline: monotonicNow() + 500 }, 'VM.start', ref, false, false);
    await expect(call.result).rejects.toMatchObject({ code: 'XENAPI_TASK_TIMEOUT' });
    await call.cancel();
  }, 30_000);
});
