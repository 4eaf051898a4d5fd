// A toolstack (xapi) restart in the middle of a plan changes nothing in the outcome: sessions and
// tasks are dropped, the backend reconnects, and the engine neither starts nor stops anything twice.

import { afterEach, describe, expect, it } from 'vitest';
import { runBoot, runShutdown } from '../../src/engine/index.js';
import { byName, planFor, rig, timelines, type Rig, type SimGuest } from './harness.js';
import { monotonicNow, wallTimeOf } from '../../src/core/clock.js';
import { restartToolstack, toolstackRestarts, until } from '../helpers/sim.js';

let r: Rig | undefined;
afterEach(async () => {
  await r?.close();
  r = undefined;
});

const on = { auto_poweron: 'true' };

describe('toolstack restart during a plan', () => {
  it('boot: every guest started once', async () => {
    const guests: SimGuest[] = ['a1', 'a2', 'a3', 'a4', 'b1', 'b2'].map((n) => ({ name_label: n, order: n.startsWith('a') ? 1 : 2, memory_mib: 128, other_config: on }));
    const rg = (r = await rig(guests, { xapi: { domain_build_s: 30 } }));
    const plan = await planFor(rg.ts, 'boot', { timeout: 15 });
    // Every start begun before the restart stays pending in the simulator until the restart cuts it
    // off, so the restart lands while a start is under way however slow the machine is.
    await rg.sim.call('sim.hold_starts');
    const boot = runBoot(rg.ts, plan, { log: rg.log }, { parallelism: 2, bootId: 'b', trigger: 'test' });
    await until('a start held in the simulator', async () => Object.values(await rg.sim.timeline()).some((vm) => vm.events.some((e) => e.event === 'start held')));
    await restartToolstack(rg.sim.call, 50);
    const report = await boot;
    expect(report.totals.started).toBe(6);
    expect(report.exitCode).toBe(0);
    const tl = await timelines(r.sim);
    let askedAgain = 0;
    for (const g of guests) {
      const events = tl.get(g.name_label)!;
      // Started once; a start the restart aborted (the simulator drops in-flight operations) was asked again.
      expect(events.filter((e) => e.event === 'running')).toHaveLength(1);
      const requests = events.filter((e) => e.event === 'start requested').length;
      const aborted = events.filter((e) => e.event === 'error' && /toolstack restarted/.test(e.detail ?? '')).length;
      expect(requests).toBe(1 + aborted);
      if (aborted) {
        askedAgain += 1;
        expect(byName(report).get(g.name_label)!.reason).toMatch(/^started when asked again, after /);
      }
    }
    expect(askedAgain).toBeGreaterThan(0);
  });

  it('shutdown: clean guests clean, the hung guest hard after its timeout, nothing left running', async () => {
    const guests: SimGuest[] = [
      { name_label: 'web', order: 2, memory_mib: 128, power_state: 'Running', behaviour: { shutdown_s: 40 } },
      { name_label: 'hung', order: 2, memory_mib: 128, power_state: 'Running', behaviour: { shutdown: 'hung' } },
      { name_label: 'db', order: 1, memory_mib: 128, power_state: 'Running' },
    ];
    r = await rig(guests);
    const plan = await planFor(r.ts, 'shutdown', { timeout: 2 });
    let restarted: Promise<unknown> | null = null;
    const before = await toolstackRestarts(r.sim.call);
    const report = await runShutdown(
      r.ts,
      plan,
      {
        log: r.log,
        onProgress: (p) => {
          // The hung guest's clean request is under way until its 2 s clean phase runs out.
          if (p.guest.name === 'hung' && p.step === 'clean-requested' && !restarted) restarted = restartToolstack(r!.sim.call, 50, { before });
        },
      },
      { parallelism: 4, deadlineAt: monotonicNow() + 20_000, hardReserveMs: 3_000, bootId: 'b', trigger: 'test', hostUuid: (await r.ts.host()).uuid },
    );
    await restarted;
    const g = byName(report);
    expect(g.get('web')!.outcome).toBe('clean');
    expect(g.get('db')!.outcome).toBe('clean');
    expect(g.get('hung')!.outcome).toBe('hard-after-timeout');
    expect(Date.parse(g.get('hung')!.phase2At!) - Date.parse(g.get('hung')!.startedAt!)).toBeGreaterThanOrEqual(2_000);
    expect(report.leftRunning).toEqual([]);
    expect(report.exitCode).toBe(3);
    // What the test claims, from the simulator: the restart landed inside the hung guest's clean
    // phase (its clean_shutdown in flight, the task dropped), and the hard stop came after it.
    const hung = (await timelines(r.sim)).get('hung')!.map((e) => e.event);
    const at = (event: string): number => hung.indexOf(event);
    expect(at('toolstack restarted'), hung.join(' → ')).toBeGreaterThan(at('clean_shutdown requested'));
    expect(at('hard_shutdown requested'), hung.join(' → ')).toBeGreaterThan(at('toolstack restarted'));
    expect(hung.filter((e) => e === 'hard_shutdown requested')).toHaveLength(1);
  });

  // The restart loses the hard stop's task, not the hard stop itself: the guest halted by that very
  // hard stop must not be credited to the clean request.
  it('shutdown: a restart during a hard stop changes nothing; nothing left running', async () => {
    r = await rig(
      [
        { name_label: 'hung', order: 1, memory_mib: 128, power_state: 'Running', behaviour: { shutdown: 'hung' } },
        { name_label: 'poweroff', order: 1, memory_mib: 128, power_state: 'Running', other_config: { 'xen-guests:on_stop': 'poweroff' } },
      ],
      { xapi: { domain_destroy_s: 40 } },
    );
    const plan = await planFor(r.ts, 'shutdown', { timeout: 1 });
    // Every hard stop waits in the simulator, its domain not yet destroyed, until the restart is
    // over; the restart is sent once the hung guest's hard stop is seen waiting. So it lands while
    // that hard stop is under way however slow the machine is.
    await r.sim.call('sim.hold_hard_stops');
    const sim = r.sim;
    const restarted = until('the hung guest\'s hard stop held', async () => (await timelines(sim)).get('hung')?.some((e) => e.event === 'hard stop held')).then(() => restartToolstack(sim.call, 50));
    const deadlineAt = monotonicNow() + 20_000;
    const report = await runShutdown(r.ts, plan, { log: r.log }, { parallelism: 2, deadlineAt, hardReserveMs: 5_000, bootId: 'b', trigger: 'test', hostUuid: (await r.ts.host()).uuid });
    await restarted;
    const g = byName(report);
    expect(g.get('hung')!.outcome).toBe('hard-after-timeout');
    expect(g.get('poweroff')!.outcome).toBe('hard-by-policy');
    expect(report.leftRunning).toEqual([]);
    expect(Date.parse(report.endedAt)).toBeLessThanOrEqual(wallTimeOf(deadlineAt));
    const tl = await timelines(r.sim);
    const hung = tl.get('hung')!;
    // The hard stop outlived the restart (xenopsd finishes what it began). The engine may ask once
    // more, since the restart lost the answer and the guest may still read Running: never before the
    // restart, and the guest halts once. (The task's own `hard_shutdown done` bookkeeping may follow the halt.)
    expect(hung.filter((e) => e.event === 'halted'), hung.map((e) => e.event).join(' → ')).toHaveLength(1);
    const fresh = await r.sim.login(); // the restart ended every earlier session
    const [hungRef] = (await r.sim.call('VM.get_by_name_label', fresh, 'hung')) as string[];
    expect(await r.sim.call('VM.get_power_state', fresh, hungRef)).toBe('Halted');
    const hardAsked = hung.flatMap((e, i) => (e.event === 'hard_shutdown requested' ? [i] : []));
    const restartAt = hung.findIndex((e) => e.event === 'toolstack restarted');
    expect(hardAsked[0]).toBeLessThan(restartAt);
    for (const again of hardAsked.slice(1)) expect(again).toBeGreaterThan(restartAt);
    // What the test claims, from the simulator: the restart landed while the hard stop was under
    // way (hard_shutdown in the guest's current operations), i.e. after it began and before the halt.
    const events = hung.map((e) => e.event);
    const restart = hung.find((e) => e.event === 'toolstack restarted');
    expect(restart?.detail, events.join(' → ')).toMatch(/hard_shutdown/);
    expect(events.indexOf('toolstack restarted'), events.join(' → ')).toBeGreaterThan(events.indexOf('hard shutdown'));
    expect(events.indexOf('halted'), events.join(' → ')).toBeGreaterThan(events.indexOf('toolstack restarted'));
  });
});
