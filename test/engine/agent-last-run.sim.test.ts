// ready = agent through the boot runner, against the real simulator (review A8). The guest ran once
// with its agent and was shut down, so its guest-metrics record still holds that run's agent facts;
// its next start is Running while that record is still in place (the simulator holds the swap,
// behaviour metrics_swap = held). The engine must not call it ready on that record: the next group
// waits until this run's record exists and its agent has written into it. Judged from the
// simulator's timeline, and from what the engine's own predicate answered on the stale record (a
// wrapper on the toolstack seam records it, so the swap is released only after the engine saw it).

import { afterEach, describe, expect, it } from 'vitest';
import { runBoot } from '../../src/engine/index.js';
import type { Guest, Toolstack } from '../../src/toolstack/types.js';
import { until } from '../helpers/sim.js';
import { byName, firstAt, planFor, rig, timelines, type Rig } from './harness.js';

let r: Rig | undefined;
afterEach(async () => {
  await r?.close();
  r = undefined;
});

/**
 * The toolstack, with every answer the engine's agent check gave on a Running guest named `name`
 * kept. The engine waits on other predicates too (e.g. "Running"); the agent check is the one that
 * the same guest without an agent does not meet.
 */
function watchingAnswers(ts: Toolstack, name: string): { ts: Toolstack; answers: { record: string | undefined; agentLive: boolean; ready: boolean }[] } {
  const answers: { record: string | undefined; agentLive: boolean; ready: boolean }[] = [];
  const waitFor: Toolstack['waitFor'] = (uuid, holds, opts) =>
    ts.waitFor(
      uuid,
      (g: Guest) => {
        const ready = holds(g);
        const agentCheck = g.powerState === 'Running' && !holds({ ...g, tools: { ...g.tools, agentLive: false } });
        if (g.name === name && agentCheck) answers.push({ record: g.toolsRecord, agentLive: g.tools.agentLive, ready });
        return ready;
      },
      opts,
    );
  return { ts: new Proxy(ts, { get: (target, key) => (key === 'waitFor' ? waitFor : Reflect.get(target, key)) }), answers };
}

describe('ready = agent after a restart of the guest', () => {
  it('the last run\'s agent record does not make the guest ready; the next group starts after this run\'s agent wrote', async () => {
    const on = { auto_poweron: 'true' };
    r = await rig([
      { name_label: 'returner', order: 1, memory_mib: 256, other_config: { ...on, 'xen-guests:ready': 'agent' }, behaviour: { boot_s: 1, agent_s: 3 } },
      { name_label: 'next', order: 2, memory_mib: 256, other_config: { ...on } },
    ]);
    const vm = await r.other.refOf('returner');
    // Its last run: started, the agent wrote, shut down. The record outlives the halt.
    await r.other.call('VM.start', vm, false, false);
    await until('the first run\'s agent', async () => firstAt((await timelines(r!.sim)).get('returner'), 'agent live') !== undefined);
    await r.other.call('VM.hard_shutdown', vm);
    const lastRuns = (await r.other.call('VM.get_guest_metrics', vm)) as string;
    expect(await r.other.call('VM_guest_metrics.get_record', lastRuns)).toMatchObject({ live: true, PV_drivers_version: { major: expect.any(String) } });
    await r.other.call('VM.add_to_other_config', vm, 'xen-guests-sim:metrics_swap', 'held');

    const plan = await planFor(r.ts, 'boot', { timeout: 60 });
    const watched = watchingAnswers(r.ts, 'returner');
    const boot = runBoot(watched.ts, plan, { log: r.log }, { parallelism: 2, bootId: 'b', trigger: 'test' });

    // The engine looked at the guest Running with the last run's record, agent facts and all.
    await until('the engine to see the stale record', async () => watched.answers.some((a) => a.record === lastRuns && a.agentLive));
    expect(watched.answers.filter((a) => a.record === lastRuns).map((a) => a.ready)).not.toContain(true);
    const held = await timelines(r.sim);
    expect(firstAt(held.get('returner'), 'running')).toBeDefined();
    expect(firstAt(held.get('next'), 'start requested')).toBeUndefined();
    expect(await r.other.call('VM.get_guest_metrics', vm)).toBe(lastRuns);

    await r.sim.call('sim.swap_guest_metrics', vm);
    const report = await boot;
    expect(byName(report).get('returner')).toMatchObject({ outcome: 'started' });
    expect(byName(report).get('next')).toMatchObject({ outcome: 'started' });
    expect(watched.answers.filter((a) => a.record === lastRuns).map((a) => a.ready)).not.toContain(true);

    const tl = await timelines(r.sim);
    const returner = tl.get('returner')!;
    const swapped = firstAt(returner, 'guest metrics replaced')!;
    const agentOfThisRun = returner.filter((e) => e.event === 'agent live').at(-1)!.t;
    expect(swapped).toBeDefined();
    expect(agentOfThisRun).toBeGreaterThanOrEqual(swapped);
    expect(firstAt(tl.get('next'), 'start requested')!).toBeGreaterThanOrEqual(agentOfThisRun);
  });
});
