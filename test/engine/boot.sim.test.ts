// The boot runner against the real simulator process, through the XenAPI toolstack. Every claim is
// read back from the simulator's own timeline of per-VM life-cycle events.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { runBoot } from '../../src/engine/index.js';
import type { GuestRef } from '../../src/core/types.js';
import { until } from '../helpers/sim.js';
import { simCallLog } from '../faults/harness.js';
import { byName, firstAt, maxOverlap, planFor, recorder, rig, timelines, type Rig, type SimGuest } from './harness.js';

const on = { auto_poweron: 'true' };
let r: Rig | undefined;
afterEach(async () => {
  await r?.close();
  r = undefined;
});

function guest(name: string, order: number, extra: Partial<SimGuest> = {}): SimGuest {
  return { name_label: name, order, memory_mib: 256, other_config: { ...on }, ...extra };
}

describe('boot plan on the simulator', () => {
  it('runs groups in ascending order, waits for readiness, and keeps the parallel starts at the bound and no higher', async () => {
    const agent = { other_config: { ...on, 'xen-guests:ready': 'agent' }, behaviour: { agent_s: 60 } };
    r = await rig(
      [
        ...['a1', 'a2', 'a3', 'a4', 'a5'].map((n) => guest(n, 1, agent)),
        ...['b1', 'b2', 'b3'].map((n) => guest(n, 2)),
        guest('c1', 3),
      ],
      { xapi: { domain_build_s: 20 } },
    );
    const plan = await planFor(r.ts, 'boot', { timeout: 20 });
    expect(plan.groups.map((g) => g.order)).toEqual([1, 2, 3]);
    const rec = recorder();
    const report = await runBoot(r.ts, plan, { log: r.log, ...rec.hooks }, { parallelism: 2, bootId: 'b', trigger: 'test' });

    expect(report.exitCode).toBe(0);
    expect(report.totals.started).toBe(9);
    const tl = await timelines(r.sim);
    const requested = (n: string) => firstAt(tl.get(n), 'start requested')!;
    const running = (n: string) => firstAt(tl.get(n), 'running')!;
    const agentLive = (n: string) => firstAt(tl.get(n), 'agent live')!;
    const a = ['a1', 'a2', 'a3', 'a4', 'a5'];
    const b = ['b1', 'b2', 'b3'];
    // Group 2 begins only once every guest of group 1 is ready (agent live), group 3 after group 2.
    expect(Math.min(...b.map(requested))).toBeGreaterThanOrEqual(Math.max(...a.map(agentLive)));
    expect(requested('c1')).toBeGreaterThanOrEqual(Math.max(...b.map(running)));
    // Starts in flight (request → domain running) never exceed 2, and reach 2 while work waits.
    for (const group of [a, b]) {
      expect(maxOverlap(group.map((n) => [requested(n), running(n)]))).toBe(2);
    }
    // Readiness is awaited outside the start slots: the next start does not wait for an agent.
    expect(Math.max(...a.map(requested))).toBeLessThan(Math.min(...a.map(agentLive)));
    // Report: ready after started, groups recorded in order.
    for (const g of report.guests.filter((x) => x.action === 'start')) expect(Date.parse(g.phase2At!)).toBeGreaterThanOrEqual(Date.parse(g.phase1EndAt!));
    expect(report.groups.map((g) => g.order)).toEqual([1, 2, 3]);
    // Progress reached every guest; status lines are few and say where the plan is.
    expect(rec.progress.filter((p) => p.step === 'ready')).toHaveLength(9);
    expect(rec.progress.at(-1)).toMatchObject({ done: 9, total: 9, succeeded: 9 });
    expect(rec.status.at(-1)).toBe('boot plan done: 9/9 guests up, 0 failed');
    expect(rec.status.length).toBeLessThan(20);
  });

  it('records a start failure with the toolstack code and goes on with the others and the next group', async () => {
    r = await rig([
      guest('broken', 1, { behaviour: { start_error: 'VM_BOOT_FAILED' } }),
      guest('blocked-later', 1),
      guest('fine', 1),
      guest('next', 2),
    ]);
    const plan = await planFor(r.ts, 'boot', { timeout: 10 });
    // Blocked after planning: the start itself is refused with OPERATION_BLOCKED.
    await r.other.call('VM.add_to_blocked_operations', await r.other.refOf('blocked-later'), 'start', 'replica');
    const report = await runBoot(r.ts, plan, { log: r.log }, { parallelism: 4, bootId: 'b', trigger: 'test' });

    const g = byName(report);
    expect(g.get('broken')).toMatchObject({ outcome: 'start-failed' });
    expect(g.get('broken')!.errors[0]).toEqual(['VM_BOOT_FAILED', expect.stringMatching(/^OpaqueRef:/)]);
    expect(g.get('blocked-later')).toMatchObject({ outcome: 'start-failed' });
    expect(g.get('blocked-later')!.errors[0]).toEqual(['OPERATION_BLOCKED', expect.stringMatching(/^OpaqueRef:/), 'replica']);
    expect(g.get('fine')!.outcome).toBe('started');
    expect(g.get('next')!.outcome).toBe('started');
    expect(report.exitCode).toBe(1);
    const tl = await timelines(r.sim);
    expect(firstAt(tl.get('next'), 'running')).toBeDefined();
    expect(firstAt(tl.get('broken'), 'running')).toBeUndefined();
  });

  it('waits for a vm-data key the guest writes, and moves on at the timeout when an agent never comes', async () => {
    r = await rig([
      guest('writer', 1, { other_config: { ...on, 'xen-guests:ready': 'vm-data/ready' }, behaviour: { vm_data: { 'vm-data/ready': { after_s: 40, value: '1' } } } }),
      guest('no-agent', 1, { other_config: { ...on, 'xen-guests:ready': 'agent' }, behaviour: { agent_s: 'none' } }),
      guest('after', 2),
    ]);
    const plan = await planFor(r.ts, 'boot', { timeout: 1.5 });
    const report = await runBoot(r.ts, plan, { log: r.log }, { parallelism: 4, bootId: 'b', trigger: 'test' });

    const g = byName(report);
    expect(g.get('writer')!.outcome).toBe('started');
    expect(g.get('no-agent')).toMatchObject({ outcome: 'started-not-ready', reason: 'not ready within 1.5 s (waited for: guest agent reports)' });
    expect(g.get('after')!.outcome).toBe('started');
    expect(report.exitCode).toBe(3);
    const tl = await timelines(r.sim);
    const wrote = tl.get('writer')!.find((e) => e.event === 'xenstore write' && e.detail === 'vm-data/ready=1')!;
    expect(wrote).toBeDefined();
    expect(firstAt(tl.get('after'), 'start requested')).toBeGreaterThan(wrote.t);
    // The not-ready guest held its group for its whole timeout, not longer than needed by much.
    const noAgent = g.get('no-agent')!;
    expect(Date.parse(noAgent.endedAt!) - Date.parse(noAgent.startedAt!)).toBeGreaterThanOrEqual(1500);
  });

  it('does not take a vm-data value left from an earlier boot for readiness', async () => {
    const ready = { ...on, 'xen-guests:ready': 'vm-data/ready' };
    r = await rig([
      guest('rewrites', 1, { other_config: ready, xenstore_data: { 'vm-data/ready': 'boot-1' }, behaviour: { vm_data: { 'vm-data/ready': { after_s: 40, value: 'boot-2' } } } }),
      guest('silent', 1, { other_config: ready, xenstore_data: { 'vm-data/ready': 'boot-1' } }),
    ]);
    const plan = await planFor(r.ts, 'boot', { timeout: 1.5 });
    const report = await runBoot(r.ts, plan, { log: r.log }, { parallelism: 2, bootId: 'b', trigger: 'test' });

    const g = byName(report);
    expect(g.get('rewrites')!.outcome).toBe('started');
    expect(g.get('silent')).toMatchObject({ outcome: 'started-not-ready', reason: 'not ready within 1.5 s (waited for: vm-data/ready written by the guest)' });
    const tl = await timelines(r.sim);
    // The leftover value was there from the moment the domain ran; only 'rewrites' wrote a new one.
    expect(tl.get('rewrites')!.some((e) => e.event === 'xenstore write' && e.detail === 'vm-data/ready=boot-2')).toBe(true);
    expect(tl.get('silent')!.some((e) => e.event === 'xenstore write')).toBe(false);
  });

  it('on abort launches nothing more, lets the starts in flight finish and marks the rest not attempted', async () => {
    r = await rig([...['a1', 'a2', 'a3', 'a4'].map((n) => guest(n, 1)), guest('b1', 2), guest('b2', 2)], { xapi: { domain_build_s: 30 } });
    const plan = await planFor(r.ts, 'boot', { timeout: 10 });
    const abort = new AbortController();
    const inFlight: string[] = [];
    const report = await runBoot(
      r.ts,
      plan,
      {
        log: r.log,
        onProgress: (p) => {
          if (p.step !== 'start-requested') return;
          inFlight.push(p.guest.name);
          if (inFlight.length === 2) abort.abort(); // SIGTERM while two starts are in flight
        },
      },
      { parallelism: 2, bootId: 'b', trigger: 'test', signal: abort.signal },
    );

    const g = byName(report);
    expect(inFlight).toHaveLength(2);
    for (const n of inFlight) expect(g.get(n)!.outcome).toBe('started');
    const rest = [...g.values()].filter((x) => x.action === 'start' && !inFlight.includes(x.guest.name));
    expect(rest).toHaveLength(4);
    for (const x of rest) expect(x).toMatchObject({ outcome: 'not-attempted', startedAt: null });
    const tl = await timelines(r.sim);
    for (const n of inFlight) expect(firstAt(tl.get(n), 'running')).toBeDefined();
    for (const x of rest) expect(firstAt(tl.get(x.guest.name), 'start requested')).toBeUndefined();
    expect(report.groups).toHaveLength(1);
    expect(report.exitCode).toBe(3);
  });

  it('never starts twice: honours guests an earlier daemon of this boot started, records intent before each start', async () => {
    r = await rig([guest('earlier', 1), guest('fresh', 1)]);
    const plan = await planFor(r.ts, 'boot', { timeout: 10 });
    const earlier = plan.groups[0]!.entries.find((e) => e.guest.name === 'earlier')!.guest.uuid;
    const intents: { guest: GuestRef; alreadyRequested: boolean }[] = [];
    const sim = r.sim;
    const report = await runBoot(r.ts, plan, { log: r.log }, {
      parallelism: 2,
      bootId: 'b',
      trigger: 'test',
      alreadyStarted: new Set([earlier]),
      beforeStart: async (guest) => {
        const tl = await timelines(sim);
        intents.push({ guest, alreadyRequested: firstAt(tl.get(guest.name), 'start requested') !== undefined });
      },
    });

    expect(intents.map((i) => i.guest.name)).toEqual(['fresh']);
    expect(intents[0]!.alreadyRequested).toBe(false);
    const g = byName(report);
    expect(g.get('earlier')).toMatchObject({ outcome: 'not-attempted' });
    expect(g.get('earlier')!.reason).toMatch(/not started twice/);
    expect(g.get('fresh')!.outcome).toBe('started');
    const tl = await timelines(r.sim);
    expect(firstAt(tl.get('earlier'), 'start requested')).toBeUndefined();
  });

  it('waits for a start someone else has in flight instead of starting again', async () => {
    r = await rig([guest('contested', 1), guest('other', 2)], { xapi: { domain_build_s: 50 } });
    const plan = await planFor(r.ts, 'boot', { timeout: 10 });
    const ref = await r.other.refOf('contested');
    // The foreign start is held in the simulator until the engine has seen it in flight, so it cannot
    // finish first on a busy machine (then the guest would merely be "already running").
    await r.sim.call('sim.hold_starts');
    await r.other.call('Async.VM.start', ref, false, false);
    await until('the foreign start to be in flight', async () => Object.keys((await r!.other.call('VM.get_current_operations', ref)) as object).length > 0);
    const rec = recorder();
    const running = runBoot(r.ts, plan, { log: r.log, ...rec.hooks }, { parallelism: 2, bootId: 'b', trigger: 'test' });
    await until('the engine waiting on the start in flight', async () => rec.progress.some((p) => p.guest.name === 'contested' && p.step === 'start-awaited'));
    await r.sim.call('sim.release_starts');
    const report = await running;

    const g = byName(report);
    expect(g.get('contested')).toMatchObject({ outcome: 'started', reason: 'started by an operation already in flight' });
    expect(rec.progress.filter((p) => p.guest.name === 'contested').map((p) => p.step)).toEqual(['start-awaited', 'started', 'ready']);
    const tl = await timelines(r.sim);
    expect(tl.get('contested')!.filter((e) => e.event === 'start requested')).toHaveLength(1);
    expect(firstAt(tl.get('other'), 'start requested')).toBeGreaterThanOrEqual(firstAt(tl.get('contested'), 'running')!);
  });
});

describe('the time a guest held its group (heldMs, what longest-first ranks by next boot)', () => {
  it('runs from its start slot: a wait for storage that ended before the slot, the queue after it and a wall-clock step are not in it', async () => {
    // One slot; a-on-nfs waits for its SR (outside the slots) while b-slow holds the slot through
    // its 200 simulated seconds of start_delay (2 s here), then a-on-nfs queues for the slot.
    r = await rig([guest('a-on-nfs', 1, { disks: ['nfs'] }), guest('b-slow', 1, { start_delay: 200 })], { srs: [{ name_label: 'nfs', type: 'nfs', plugged: false }] });
    const plan = await planFor(r.ts, 'boot', { timeout: 30 });
    const seen = new Map<string, number>();
    // The wall clock steps an hour forward once b-slow has started (NTP setting the clock at boot).
    const realNow = Date.now.bind(Date);
    let step = 0;
    const wall = vi.spyOn(Date, 'now').mockImplementation(() => realNow() + step);
    let report;
    try {
      report = await runBoot(
        r.ts,
        plan,
        {
          log: r.log,
          onProgress: (p) => {
            seen.set(`${p.guest.name} ${p.step}`, performance.now());
            if (p.guest.name === 'b-slow' && p.step === 'started') step = 3_600_000;
          },
        },
        { parallelism: 1, bootId: 'b', trigger: 'test' },
      );
    } finally {
      wall.mockRestore();
    }
    const after = performance.now();
    // As the simulator saw it: a-on-nfs's SR was plugged before b-slow ran, so a-on-nfs then queued.
    const plugged = (await simCallLog(r.sim)).find((c) => c.method === 'PBD.plug' && c.outcome === 'ok')!.t_ms;
    const tl = await timelines(r.sim);
    expect(plugged).toBeLessThan(firstAt(tl.get('b-slow'), 'running')!);
    expect(firstAt(tl.get('a-on-nfs'), 'start requested')!).toBeGreaterThan(firstAt(tl.get('b-slow'), 'running')!);

    const a = byName(report).get('a-on-nfs')!;
    expect(a.outcome).toBe('started');
    expect(a.storageWait).toMatchObject({ srs: ['nfs'], plugged: true });
    // a-on-nfs got its slot only after b-slow started (the test's own clock): its time is within that.
    const slotFreed = seen.get('b-slow started')!;
    expect(a.heldMs).toBeGreaterThanOrEqual(0);
    expect(a.heldMs!).toBeLessThanOrEqual(after - slotFreed);
    // Its ISO stamps took the step in; heldMs did not.
    expect(Date.parse(a.endedAt!) - Date.parse(a.storageWait!.endedAt)).toBeGreaterThanOrEqual(3_600_000);
  });
});
