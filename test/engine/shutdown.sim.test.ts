// The shutdown runner against the real simulator process, through the XenAPI toolstack. Every
// claim about what happened to a guest is read back from the simulator's own timeline.

import { afterEach, describe, expect, it } from 'vitest';
import { runShutdown, type ShutdownOptions } from '../../src/engine/index.js';
import type { EngineHooks, Progress } from '../../src/engine/hooks.js';
import type { Plan, RunReport } from '../../src/core/types.js';
import { byName, firstAt, maxOverlap, planFor, recorder, rig, testConfig, timelines, type Rig, type SimGuest } from './harness.js';
import { lateShutdownEntry } from '../../src/core/plan.js';
import { monotonicNow, wallTimeOf } from '../../src/core/clock.js';

let r: Rig | undefined;
afterEach(async () => {
  await r?.close();
  r = undefined;
});

function running(name: string, order: number, extra: Partial<SimGuest> = {}): SimGuest {
  return { name_label: name, order, memory_mib: 256, power_state: 'Running', ...extra };
}

async function hostUuid(rg: Rig): Promise<string> {
  return (await rg.ts.host()).uuid;
}

/** Runs the shutdown plan; `meanwhile` acts as someone else once the guest "slow" was asked to shut down. */
async function shutdownWhileSlowStops(rg: Rig, plan: Plan, meanwhile: (other: Rig['other']) => Promise<unknown>[], extra: Partial<ShutdownOptions> = {}): Promise<RunReport> {
  const foreign: Promise<unknown>[] = [];
  const onProgress = (p: Progress): void => {
    if (p.guest.name === 'slow' && p.step === 'clean-requested') foreign.push(...meanwhile(rg.other));
  };
  const report = await shutdownRun(rg, plan, { onProgress }, { parallelism: 2, ...extra });
  await Promise.all(foreign);
  return report;
}

/** The shutdown runner on this host, 20 s to its deadline, 3 s of it kept for hard stops. */
async function shutdownRun(rg: Rig, plan: Plan, hooks: Omit<EngineHooks, 'log'> = {}, extra: Partial<ShutdownOptions> = {}): Promise<RunReport> {
  return runShutdown(rg.ts, plan, { log: rg.log, ...hooks }, {
    parallelism: 1,
    deadlineAt: monotonicNow() + 20_000,
    hardReserveMs: 3_000,
    bootId: 'b',
    trigger: 'test',
    hostUuid: await hostUuid(rg),
    ...extra,
  });
}

function acting(plan: Plan): number {
  return plan.groups.reduce((n, g) => n + g.entries.length, 0);
}

describe('shutdown plan on the simulator', () => {
  it('refuses a wall-clock deadline (Date.now() + …) given for a monotonic one, before touching a guest', async () => {
    // Such a deadline lies decades ahead: every bounded wait would overflow Node's timer, end after
    // 1 ms, and leave every guest running (the benchmark harness did this after the clock merge).
    r = await rig([running('web', 1)]);
    const plan = await planFor(r.ts, 'shutdown', { timeout: 10 });
    const wallDeadline = Date.now() + 20_000;
    await expect(
      runShutdown(r.ts, plan, { log: r.log }, { parallelism: 1, deadlineAt: wallDeadline, hardReserveMs: 3_000, bootId: 'b', trigger: 'test', hostUuid: await hostUuid(r) }),
    ).rejects.toThrow(/deadlineAt \d+ is \d+ days away on the monotonic clock \(allowed: at most 2147483647 ms ahead/);
    const web = (await timelines(r.sim)).get('web') ?? [];
    expect(web.length).toBeGreaterThan(0); // the simulator's timeline is read, not empty by mistake
    expect(web.filter((e) => /shutdown|halted/.test(e.event))).toEqual([]);
  });

  it('stops groups in descending order; hung and ignoring guests hard only after their timeout; no-PV and poweroff guests hard at once', async () => {
    const logLines: object[] = [];
    r = await rig(
      [
        running('web', 2),
        running('hung', 2, { behaviour: { shutdown: 'hung' } }),
        running('deaf', 2, { behaviour: { shutdown: 'ignore' } }),
        running('db', 1),
        running('no-pv', 1, { behaviour: { pv: false } }),
        running('scratch', 1, { other_config: { 'xen-guests:on_stop': 'poweroff' } }),
        running('frozen', 1, { power_state: 'Paused' }),
      ],
      { logLines },
    );
    const plan = await planFor(r.ts, 'shutdown', { timeout: 1 });
    expect(plan.groups.map((g) => g.order)).toEqual([2, 1]);
    const deadlineAt = monotonicNow() + 20_000;
    const rec = recorder();
    const report = await runShutdown(r.ts, plan, { log: r.log, ...rec.hooks }, {
      parallelism: 4,
      deadlineAt,
      hardReserveMs: 3_000,
      bootId: 'b',
      trigger: 'test',
      hostUuid: await hostUuid(r),
    });

    const g = byName(report);
    expect(g.get('web')!.outcome).toBe('clean');
    expect(g.get('db')!.outcome).toBe('clean');
    expect(g.get('hung')).toMatchObject({ outcome: 'hard-after-timeout', reason: 'still running after its 1 s clean timeout' });
    expect(g.get('deaf')!.outcome).toBe('hard-after-timeout');
    expect(g.get('no-pv')!.outcome).toBe('hard-no-clean-path');
    expect(g.get('scratch')).toMatchObject({ outcome: 'hard-by-policy', reason: 'on_stop=poweroff' });
    expect(g.get('frozen')!.outcome).toBe('hard-no-clean-path');
    expect(report.leftRunning).toEqual([]);
    expect(report.exitCode).toBe(3);
    expect(Date.parse(report.endedAt)).toBeLessThanOrEqual(wallTimeOf(deadlineAt));

    // Hard stops of the hung and the ignoring guest only once their own clean phase had run out.
    for (const n of ['hung', 'deaf']) {
      const x = g.get(n)!;
      expect(Date.parse(x.phase2At!) - Date.parse(x.startedAt!)).toBeGreaterThanOrEqual(1_000);
    }
    const tl = await timelines(r.sim);
    const at = (n: string, e: string) => firstAt(tl.get(n), e);
    for (const n of ['hung', 'deaf']) {
      expect(at(n, 'clean_shutdown requested')).toBeLessThan(at(n, 'hard_shutdown requested')!);
      expect(at(n, 'halted')).toBeGreaterThan(at(n, 'hard_shutdown requested')!);
    }
    expect(at('hung', 'acknowledged')).toBeDefined(); // hung: acknowledged, never halted by itself
    expect(at('deaf', 'acknowledged')).toBeUndefined(); // ignoring: never even acknowledged
    // No clean request where there is no clean path or the policy says poweroff.
    for (const n of ['no-pv', 'scratch', 'frozen']) {
      expect(at(n, 'clean_shutdown requested')).toBeUndefined();
      expect(tl.get(n)!.find((e) => e.event.endsWith('requested'))!.event).toBe('hard_shutdown requested');
    }
    // Descending groups: nothing of order 1 is touched before every order-2 guest is halted.
    const group2Done = Math.max(...['web', 'hung', 'deaf'].map((n) => at(n, 'halted')!));
    for (const n of ['db', 'no-pv', 'scratch', 'frozen']) {
      expect(tl.get(n)!.find((e) => e.event.endsWith('requested'))!.t).toBeGreaterThanOrEqual(group2Done);
    }
    // Never suspended.
    for (const events of tl.values()) expect(events.some((e) => /suspend/.test(e.event))).toBe(false);

    // One outcome log line per guest, with uuid and name.
    const outcomes = logLines.filter((l): l is Record<string, unknown> => 'outcome' in l);
    for (const x of report.guests.filter((y) => y.outcome !== 'skipped')) {
      expect(outcomes.filter((l) => l.guest === x.guest.uuid && l.guestName === x.guest.name && l.outcome === x.outcome)).toHaveLength(1);
    }
    expect(rec.progress.at(-1)).toMatchObject({ done: 7, total: 7 });
    expect(rec.status.at(-1)).toBe('shutdown plan done: 7/7 guests stopped, none left running');
  });

  it('a clean request the toolstack takes and then refuses for want of a clean path goes hard at once, not after the timeout', async () => {
    r = await rig([running('blocked-later', 0)]);
    // Planned for a clean shutdown with an hour to obey; only then does someone block clean shutdowns.
    const plan = await planFor(r.ts, 'shutdown', { timeout: 3_600 });
    await r.other.call('VM.add_to_blocked_operations', await r.other.refOf('blocked-later'), 'clean_shutdown', 'replica');
    const report = await runShutdown(r.ts, plan, { log: r.log }, {
      parallelism: 1,
      deadlineAt: monotonicNow() + 7_200_000,
      hardReserveMs: 5_000,
      bootId: 'b',
      trigger: 'test',
      hostUuid: await hostUuid(r),
    });
    const g = byName(report).get('blocked-later')!;
    expect(g).toMatchObject({ outcome: 'hard-no-clean-path', reason: 'clean shutdown refused: OPERATION_BLOCKED' });
    expect(g.errors[0]![0]).toBe('OPERATION_BLOCKED');
    const tl = (await timelines(r.sim)).get('blocked-later')!;
    expect(tl.map((e) => e.event)).toContain('halted');
  });

  it('keeps the parallel clean shutdowns at the bound within a group, and reaches it', async () => {
    const names = ['p1', 'p2', 'p3', 'p4', 'p5'];
    r = await rig(names.map((n) => running(n, 0, { behaviour: { shutdown_s: 30 } })));
    const plan = await planFor(r.ts, 'shutdown', { timeout: 10 });
    const report = await runShutdown(r.ts, plan, { log: r.log }, {
      parallelism: 2,
      deadlineAt: monotonicNow() + 30_000,
      hardReserveMs: 5_000,
      bootId: 'b',
      trigger: 'test',
      hostUuid: await hostUuid(r),
    });
    expect(report.exitCode).toBe(0);
    expect(report.totals.clean).toBe(5);
    const tl = await timelines(r.sim);
    const spans = names.map((n): [number, number] => [firstAt(tl.get(n), 'clean_shutdown requested')!, firstAt(tl.get(n), 'halted')!]);
    expect(maxOverlap(spans)).toBe(2);
  });

  it('fits a tight deadline: clean phases cut to the clean budget, the reserve kept for hard stops, done by the deadline', async () => {
    r = await rig([running('h-first', 2, { behaviour: { shutdown: 'hung' } }), running('h-second', 1, { behaviour: { shutdown: 'hung' } })]);
    const plan = await planFor(r.ts, 'shutdown', { timeout: 30 });
    const deadlineAt = monotonicNow() + 3_000;
    const hardReserveMs = 1_500;
    const report = await runShutdown(r.ts, plan, { log: r.log }, { parallelism: 2, deadlineAt, hardReserveMs, bootId: 'b', trigger: 'test', hostUuid: await hostUuid(r) });

    const g = byName(report);
    const first = g.get('h-first')!;
    const second = g.get('h-second')!;
    expect(first.outcome).toBe('hard-after-timeout');
    expect(first.reason).toMatch(/clean budget ran out/);
    // Not hard-stopped before the clean budget (deadline − reserve) was spent.
    expect(Date.parse(first.phase2At!)).toBeGreaterThanOrEqual(wallTimeOf(deadlineAt - hardReserveMs));
    expect(second).toMatchObject({ outcome: 'hard-after-timeout', reason: 'the clean budget was spent before its turn' });
    expect(report.leftRunning).toEqual([]);
    expect(Date.parse(report.endedAt)).toBeLessThanOrEqual(wallTimeOf(deadlineAt));
    // The report's deadline is the monotonic deadline read as wall time (projections a moment apart).
    expect(Math.abs(Date.parse(report.deadlineAt!) - wallTimeOf(deadlineAt))).toBeLessThan(1_000);
  });

  it('records a guest that halted by itself, and stops a guest someone started during the plan', async () => {
    r = await rig([
      running('slow', 2, { behaviour: { shutdown: 'hung' } }),
      running('quitter', 1),
      { name_label: 'latecomer', order: 1, memory_mib: 256 },
    ]);
    const plan = await planFor(r.ts, 'shutdown', { timeout: 1 });
    expect(plan.skipped.find((e) => e.guest.name === 'latecomer')?.skipCode).toBe('already-halted');
    const quitter = await r.other.refOf('quitter');
    const latecomer = await r.other.refOf('latecomer');
    // While group 2 waits for its hung guest: someone powers one guest off, starts another.
    const report = await shutdownWhileSlowStops(r, plan, (other) => [other.call('VM.hard_shutdown', quitter), other.call('VM.start', latecomer, false, false)]);

    const g = byName(report);
    expect(g.get('quitter')).toMatchObject({ outcome: 'halted-by-itself', reason: 'halted before its turn' });
    expect(g.get('latecomer')!.outcome).toBe('clean');
    expect(g.get('latecomer')!.reason).toBe('started by someone else during the shutdown (planned: already halted); halted after the clean request');
    expect(report.leftRunning).toEqual([]);
    const tl = await timelines(r.sim);
    expect(tl.get('quitter')!.filter((e) => e.event === 'clean_shutdown requested')).toHaveLength(0);
    const lateEvents = tl.get('latecomer')!;
    expect(firstAt(lateEvents, 'clean_shutdown requested')).toBeGreaterThan(firstAt(lateEvents, 'running')!);
    // Its last state is halted; the simulator may note the clean_shutdown task's '<op> done' after it.
    expect(lateEvents.filter((e) => !e.event.endsWith(' done')).at(-1)!.event).toBe('halted');
  });

  it('stops a guest started after the plan even when the event cache cannot sync: the sweep reads the guests directly', async () => {
    r = await rig([{ name_label: 'latecomer', order: 1, memory_mib: 256 }]);
    const plan = await planFor(r.ts, 'shutdown', { timeout: 5 });
    expect(plan.skipped.find((e) => e.guest.name === 'latecomer')?.skipCode).toBe('already-halted');
    await r.other.call('VM.start', await r.other.refOf('latecomer'), false, false);
    // The sweep's read is the cache's first sync; its token cannot be taken (not an outage).
    await r.sim.call('sim.inject_error', 'event.inject', 1, 'INTERNAL_ERROR', 'injected');
    const report = await shutdownRun(r, plan);
    const calls = (await r.sim.call('sim.get_call_log', 0)) as { method: string; outcome: string }[];
    const failedSync = calls.findIndex((c) => c.method === 'event.inject' && c.outcome !== 'ok');
    expect(failedSync).toBeGreaterThan(-1);
    expect(calls.findIndex((c) => c.method === 'Async.VM.clean_shutdown')).toBeGreaterThan(failedSync);
    const late = (await timelines(r.sim)).get('latecomer')!;
    expect(firstAt(late, 'clean_shutdown requested')).toBeGreaterThan(firstAt(late, 'running')!);
    expect(late.filter((e) => !e.event.endsWith(' done')).at(-1)!.event).toBe('halted');
    expect(report.leftRunning).toEqual([]);
  });

  it('a guest started by someone else during the shutdown is stopped by its own policy (on_stop, auto_poweroff)', async () => {
    r = await rig([
      running('slow', 1, { behaviour: { shutdown_s: 100 } }),
      { name_label: 'late-poweroff', order: 1, memory_mib: 256, other_config: { 'xen-guests:on_stop': 'poweroff' } },
      { name_label: 'late-self', order: 1, memory_mib: 256, other_config: { auto_poweroff: 'true' } },
    ]);
    const config = testConfig();
    const plan = await planFor(r.ts, 'shutdown', { config, timeout: 10 });
    const host = await r.ts.host();
    const [poweroff, self] = [await r.other.refOf('late-poweroff'), await r.other.refOf('late-self')];
    const report = await shutdownWhileSlowStops(r, plan, (other) => [other.call('VM.start', poweroff, false, false), other.call('VM.start', self, false, false)], {
      // What the daemon and stop-all hand the engine.
      entryForLateGuest: (g) => lateShutdownEntry(g, host, config),
    });
    const tl = await timelines(r.sim);
    // on_stop=poweroff: hard at once, never asked to shut down cleanly.
    expect(firstAt(tl.get('late-poweroff'), 'running')).toBeDefined();
    expect(firstAt(tl.get('late-poweroff'), 'clean_shutdown requested')).toBeUndefined();
    expect(firstAt(tl.get('late-poweroff'), 'hard_shutdown requested')).toBeGreaterThan(firstAt(tl.get('late-poweroff'), 'running')!);
    expect(byName(report).get('late-poweroff')!.outcome).toBe('hard-by-policy');
    // auto_poweroff (xapi's self-managed poweroff): left alone, still running, not counted as left running.
    expect(firstAt(tl.get('late-self'), 'clean_shutdown requested')).toBeUndefined();
    expect(firstAt(tl.get('late-self'), 'hard_shutdown requested')).toBeUndefined();
    expect(await r.other.call('VM.get_power_state', self)).toBe('Running');
    expect(report.leftRunning).toEqual([]);
  });

  it('waits for every transition in flight before it reports done', async () => {
    // shutdown_delay: xapi sleeps inside the clean_shutdown task after the guest has halted.
    r = await rig([running('delayed', 0, { shutdown_delay: 60 })]);
    const plan = await planFor(r.ts, 'shutdown', { timeout: 5 });
    const report = await shutdownRun(r, plan);
    expect(byName(report).get('delayed')!.outcome).toBe('clean');
    const ops = await r.other.call('VM.get_current_operations', await r.other.refOf('delayed'));
    expect(ops).toEqual({});
    const tl = await timelines(r.sim);
    expect(firstAt(tl.get('delayed'), 'shutdown_delay')).toBeDefined();
  });

  it('leaves a guest with auto_poweroff alone and does not count it as left running', async () => {
    r = await rig([running('self-managed', 1, { other_config: { auto_poweroff: 'true' } }), running('plain', 1)]);
    const plan = await planFor(r.ts, 'shutdown', { timeout: 5 });
    expect(acting(plan)).toBe(1);
    const report = await runShutdown(r.ts, plan, { log: r.log }, {
      parallelism: 2,
      deadlineAt: monotonicNow() + 20_000,
      hardReserveMs: 3_000,
      bootId: 'b',
      trigger: 'test',
      hostUuid: await hostUuid(r),
    });
    const g = byName(report);
    expect(g.get('self-managed')).toMatchObject({ outcome: 'skipped' });
    expect(g.get('plain')!.outcome).toBe('clean');
    expect(report.leftRunning).toEqual([]);
    expect(report.exitCode).toBe(0);
    const tl = await timelines(r.sim);
    expect(tl.get('self-managed')!.some((e) => e.event.endsWith('requested'))).toBe(false);
  });
});
