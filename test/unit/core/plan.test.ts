import { describe, expect, it } from 'vitest';
import { MIN_CLEAN_TIMEOUT } from '../../../src/core/budget.js';
import { buildPlan, type PlanInput } from '../../../src/core/plan.js';
import { effectivePolicy } from '../../../src/core/policy.js';
import type { Plan, PlanEntry, RunReport, SkipCode } from '../../../src/core/types.js';
import type { Guest } from '../../../src/toolstack/types.js';
import { GiB, HOST_UUID, OTHER_HOST_UUID, makeConfig, makeEnabled, makeGuest, makeHost, makeRunning, makeSnapshot } from './fixtures.js';

function plan(mode: PlanInput['mode'], guests: Guest[], extra: Partial<PlanInput> = {}): Plan {
  return buildPlan({ mode, guests, host: makeHost(), config: makeConfig(), snapshot: null, ...extra });
}

function entryOf(p: Plan, guest: Guest): PlanEntry {
  const all = [...p.groups.flatMap((g) => g.entries), ...p.skipped];
  const found = all.filter((e) => e.guest.uuid === guest.uuid);
  expect(found, `exactly one entry for ${guest.name}`).toHaveLength(1);
  return found[0]!;
}

function skipOf(p: Plan, guest: Guest): { code: SkipCode | null; reason: string | null } {
  const e = entryOf(p, guest);
  expect(e.action).toBe('skip');
  return { code: e.skipCode, reason: e.reason };
}

const names = (p: Plan) => p.groups.map((g) => [g.order, g.entries.map((e) => e.guest.name)]);

describe('boot: groups and order', () => {
  it('ascending VM.order, ties by name; only guests to start are in groups', () => {
    const guests = [
      makeEnabled({ name: 'c', order: 2 }),
      makeEnabled({ name: 'b', order: 0 }),
      makeEnabled({ name: 'a', order: 0 }),
      makeEnabled({ name: 'd', order: 1 }),
      makeGuest({ name: 'off', order: 0 }),
    ];
    const p = plan('boot', guests);
    expect(names(p)).toEqual([
      [0, ['a', 'b']],
      [1, ['d']],
      [2, ['c']],
    ]);
    expect(p.totals).toEqual({ guests: 5, acting: 4, skipped: 1, notGuests: 0, groups: 3 });
    expect(p.budget).toBeNull();
    expect(p.hostUuid).toBe(HOST_UUID);
  });

  it('each start carries its readiness and a timeout of ready_timeout + start_delay', () => {
    const g = makeEnabled({ startDelay: 20, otherConfig: { auto_poweron: 'true', 'xen-guests:ready': 'vm-data/ready' } });
    const e = entryOf(plan('boot', [g], { config: makeConfig((c) => (c.boot.readyTimeout = 100)) }), g);
    expect(e).toMatchObject({ action: 'start', timeout: 120, ready: { kind: 'vm-data', key: 'ready' }, reason: null, skipCode: null });
  });

  it('policies passed in are used instead of being computed again', () => {
    const g = makeGuest();
    const forced = { ...effectivePolicy(g, makeConfig()), onStart: 'start' as const };
    const p = plan('boot', [g], { policies: new Map([[g.uuid, forced]]) });
    expect(entryOf(p, g).action).toBe('start');
  });
});

describe('boot: a reason and a code for every skip', () => {
  it('control domain, snapshot, template', () => {
    const dom0 = makeRunning({ isControlDomain: true, otherConfig: { auto_poweron: 'true' } });
    const snap = makeEnabled({ isSnapshot: true, isTemplate: true });
    const tmpl = makeEnabled({ isTemplate: true });
    const p = plan('boot', [dom0, snap, tmpl]);
    expect(skipOf(p, dom0).code).toBe('control-domain');
    expect(skipOf(p, snap).code).toBe('snapshot');
    expect(skipOf(p, tmpl).code).toBe('template');
  });

  it('maintenance, with its reason, time and who', () => {
    const g = makeEnabled({
      otherConfig: { auto_poweron: 'true', 'xen-guests:maintenance': 'disk swap', 'xen-guests:maintenance_since': '2024-05-01T10:00:00Z', 'xen-guests:maintenance_by': 'ann' },
    });
    expect(skipOf(plan('boot', [g]), g)).toEqual({ code: 'maintenance', reason: 'in maintenance: disk swap (since 2024-05-01T10:00:00Z by ann)' });
  });

  it('disabled, saying which key decided', () => {
    const none = makeGuest();
    const off = makeGuest({ otherConfig: { auto_poweron: 'false' } });
    const ignore = makeGuest({ otherConfig: { auto_poweron: 'true', 'xen-guests:on_start': 'ignore' } });
    const p = plan('boot', [none, off, ignore]);
    expect(skipOf(p, none)).toEqual({ code: 'disabled', reason: 'not enabled: no auto_poweron = "true" and no xen-guests:on_start key' });
    expect(skipOf(p, off)).toEqual({ code: 'disabled', reason: 'not enabled: auto_poweron = "false" (only exactly "true" means start)' });
    expect(skipOf(p, ignore)).toEqual({ code: 'disabled', reason: 'not enabled: xen-guests:on_start = ignore' });
  });

  it('restore: started only if it was running here at the last shutdown', () => {
    const restore = { 'xen-guests:on_start': 'restore' };
    const wasUp = makeGuest({ name: 'was-up', otherConfig: restore });
    const wasDown = makeGuest({ name: 'was-down', otherConfig: restore });
    const snapshot = makeSnapshot([{ ...wasUp, powerState: 'Running', residentOn: HOST_UUID }, wasDown]);
    const p = plan('boot', [wasUp, wasDown], { snapshot });
    expect(entryOf(p, wasUp).action).toBe('start');
    expect(skipOf(p, wasDown).code).toBe('restore-not-running');
    expect(skipOf(p, wasDown).reason).toContain('not running here at the last shutdown (snapshot of 2024-05-01T10:00:00.000Z)');

    const noSnapshot = plan('boot', [wasUp]);
    expect(skipOf(noSnapshot, wasUp)).toEqual({
      code: 'restore-not-running',
      reason: 'on_start = restore and no shutdown snapshot is recorded, so it cannot be known to have been running',
    });
  });

  it('not this host\'s: affinity elsewhere or none in a pool, unless it ran here at the last shutdown', () => {
    const pool = makeHost({ poolSize: 3 });
    const mine = makeEnabled({ name: 'mine', affinity: HOST_UUID });
    const theirs = makeEnabled({ name: 'theirs', affinity: OTHER_HOST_UUID });
    const nobody = makeEnabled({ name: 'nobody', affinity: null });
    const ranHere = makeEnabled({ name: 'ran-here', affinity: OTHER_HOST_UUID });
    const snapshot = makeSnapshot([{ ...ranHere, powerState: 'Running', residentOn: HOST_UUID }]);
    const p = plan('boot', [mine, theirs, nobody, ranHere], { host: pool, snapshot });
    expect(entryOf(p, mine).action).toBe('start');
    expect(entryOf(p, ranHere).action).toBe('start');
    expect(skipOf(p, theirs).code).toBe('not-this-host');
    expect(skipOf(p, theirs).reason).toContain(`its affinity is host ${OTHER_HOST_UUID}`);
    expect(skipOf(p, nobody).reason).toContain('it has no affinity');
  });

  it('on a one-host pool every guest is this host\'s', () => {
    const g = makeEnabled({ affinity: OTHER_HOST_UUID });
    expect(entryOf(plan('boot', [g]), g).action).toBe('start');
  });

  it('running on another host is not this host\'s', () => {
    const g = makeEnabled({ powerState: 'Running', residentOn: OTHER_HOST_UUID });
    expect(skipOf(plan('boot', [g], { host: makeHost({ poolSize: 2 }) }), g)).toEqual({
      code: 'not-this-host',
      reason: `not this host's: running on host ${OTHER_HOST_UUID}`,
    });
  });

  it('already running (or paused), or an operation under way', () => {
    const up = makeEnabled({ powerState: 'Running', residentOn: HOST_UUID });
    const paused = makeEnabled({ powerState: 'Paused', residentOn: HOST_UUID });
    const busy = makeEnabled({ currentOperations: { 'OpaqueRef:task1': 'start' } });
    const p = plan('boot', [up, paused, busy]);
    expect(skipOf(p, up)).toEqual({ code: 'already-running', reason: 'already running' });
    expect(skipOf(p, paused)).toEqual({ code: 'already-running', reason: 'already running (paused)' });
    expect(skipOf(p, busy).reason).toContain('an operation is under way on it already (start)');
  });

  it('suspended needs an admin: never started fresh, image never discarded', () => {
    const g = makeEnabled({ powerState: 'Suspended' });
    const s = skipOf(plan('boot', [g]), g);
    expect(s.code).toBe('suspended-needs-admin');
    expect(s.reason).toContain('never started fresh and its suspend image is never discarded');
  });

  it('start blocked in the toolstack, with the block\'s text', () => {
    const g = makeEnabled({ blockedOperations: { start: 'xen-guests maintenance' } });
    expect(skipOf(plan('boot', [g]), g)).toEqual({
      code: 'start-blocked',
      reason: 'start is blocked in the toolstack (blocked_operations:start = "xen-guests maintenance"); remove the block to start it',
    });
  });

  it('every skipped entry has a code and a reason', () => {
    const guests = [makeGuest(), makeEnabled({ isTemplate: true }), makeEnabled({ powerState: 'Suspended' }), makeEnabled({ memoryRequired: 999 * GiB })];
    const p = plan('boot', guests);
    expect(p.skipped).toHaveLength(4);
    for (const e of p.skipped) {
      expect(e.skipCode).not.toBeNull();
      expect(e.reason).toBeTruthy();
      expect(e.timeout).toBe(0);
    }
  });
});

describe('boot: memory, allotted by priority', () => {
  it('lower order first, then name; later guests that do not fit are skipped with the numbers', () => {
    const host = makeHost({ freeMemory: 6 * GiB });
    const guests = [
      makeEnabled({ name: 'late-big', order: 3, memoryRequired: 2 * GiB }),
      makeEnabled({ name: 'b', order: 0, memoryRequired: 2 * GiB }),
      makeEnabled({ name: 'a', order: 0, memoryRequired: 2 * GiB }),
      makeEnabled({ name: 'mid', order: 1, memoryRequired: 3 * GiB }),
      makeEnabled({ name: 'late-small', order: 4, memoryRequired: 1 * GiB }),
    ];
    const p = plan('boot', guests, { host });
    // a and b take 4 GiB; mid (3 GiB) does not fit in the 2 GiB left, but late-big (2 GiB) still does.
    expect(names(p)).toEqual([
      [0, ['a', 'b']],
      [3, ['late-big']],
    ]);
    const mid = skipOf(p, guests[3]!);
    expect(mid.code).toBe('not-enough-memory');
    expect(mid.reason).toBe("not enough memory: needs 3072 MiB, only 2048 MiB of the host's 6144 MiB free is left after guests with priority (lower order, then name)");
    expect(skipOf(p, guests[4]!).reason).toContain('needs 1024 MiB, only 0 MiB');
  });

  it('a guest that fits exactly is started', () => {
    const host = makeHost({ freeMemory: 4 * GiB });
    const guests = [makeEnabled({ name: 'a', memoryRequired: 2 * GiB }), makeEnabled({ name: 'b', memoryRequired: 2 * GiB }), makeEnabled({ name: 'c', memoryRequired: 1 })];
    const p = plan('boot', guests, { host });
    expect(names(p)).toEqual([[0, ['a', 'b']]]);
    expect(skipOf(p, guests[2]!).code).toBe('not-enough-memory');
  });

  it('unknown free memory: no memory check, and a warning', () => {
    const g = makeEnabled({ memoryRequired: 999 * GiB });
    const p = plan('boot', [g], { host: makeHost({ freeMemory: Number.NaN }) });
    expect(entryOf(p, g).action).toBe('start');
    expect(p.warnings.map((w) => w.message)).toContainEqual(expect.stringContaining('host free memory is unknown'));
  });
});

describe('boot: a resumed plan (guests already asked to start in this boot)', () => {
  const resumedOf = (...gs: Guest[]) => new Set(gs.map((g) => g.uuid));

  it('a guest already started keeps its real record and its place in its group, marked as not to be asked again', () => {
    const started = makeEnabled({ name: 'started', order: 1, powerState: 'Running', residentOn: HOST_UUID });
    const starting = makeEnabled({ name: 'starting', order: 1, currentOperations: { 'OpaqueRef:task1': 'start' } });
    const next = makeEnabled({ name: 'next', order: 2 });
    const p = plan('boot', [started, starting, next], { resumed: resumedOf(started, starting) });
    expect(names(p)).toEqual([
      [1, ['started', 'starting']],
      [2, ['next']],
    ]);
    for (const g of [started, starting]) {
      expect(entryOf(p, g)).toMatchObject({ action: 'start', resumed: true, powerState: g.powerState });
      expect(entryOf(p, g).reason).toContain('not asked again');
    }
    expect(entryOf(p, next).resumed).toBeUndefined();
    // The same records without the journal: what the plan would say of them on a first run.
    const fresh = plan('boot', [started, starting, next]);
    expect(skipOf(fresh, started).code).toBe('already-running');
    expect(skipOf(fresh, starting).code).toBe('already-running');
  });

  it('asks no memory for them: the rest get the host\'s free memory as it is now', () => {
    const host = makeHost({ freeMemory: 2 * GiB });
    const started = makeEnabled({ name: 'a-started', order: 1, powerState: 'Running', residentOn: HOST_UUID, memoryRequired: 4 * GiB });
    const halted = makeEnabled({ name: 'b-halted-since', order: 1, memoryRequired: 4 * GiB });
    const fits = makeEnabled({ name: 'c-fits', order: 1, memoryRequired: 2 * GiB });
    const tooBig = makeEnabled({ name: 'd-too-big', order: 2, memoryRequired: 1 });
    const p = plan('boot', [started, halted, fits, tooBig], { host, resumed: resumedOf(started, halted) });
    expect(names(p)).toEqual([[1, ['a-started', 'b-halted-since', 'c-fits']]]);
    expect(skipOf(p, tooBig).reason).toContain("only 0 MiB of the host's 2048 MiB free");
  });

  it('one whose start is still in flight is charged its memory first (the host\'s free memory may not count it yet)', () => {
    const host = makeHost({ freeMemory: 4 * GiB });
    const starting = makeEnabled({ name: 'b-starting', order: 2, memoryRequired: 3 * GiB, currentOperations: { 'OpaqueRef:task1': 'start' } });
    const fits = makeEnabled({ name: 'a-fits', order: 1, memoryRequired: 1 * GiB });
    const tooBig = makeEnabled({ name: 'c-too-big', order: 1, memoryRequired: 2 * GiB });
    const p = plan('boot', [starting, fits, tooBig], { host, resumed: resumedOf(starting) });
    // 4 GiB free − 3 GiB for the start in flight: a-fits (1 GiB) fits, c-too-big (2 GiB) does not, though lower in order.
    expect(names(p)).toEqual([
      [1, ['a-fits']],
      [2, ['b-starting']],
    ]);
    expect(entryOf(p, starting)).toMatchObject({ resumed: true });
    expect(skipOf(p, tooBig)).toMatchObject({ code: 'not-enough-memory' });
    expect(skipOf(p, tooBig).reason).toContain("only 0 MiB of the host's 4096 MiB free is left after starts still in flight (3072 MiB)");
    // Larger than all the free memory: still kept (its start was sent), and it leaves nothing to the rest.
    const huge = { ...starting, memoryRequired: 8 * GiB };
    const q = plan('boot', [huge, fits], { host, resumed: resumedOf(huge) });
    expect(names(q)).toEqual([[2, ['b-starting']]]);
    expect(skipOf(q, fits).code).toBe('not-enough-memory');
  });

  it('their policy still decides: maintenance, on_start = ignore, a host in maintenance, a blocked start', () => {
    const inMaintenance = makeEnabled({ powerState: 'Running', residentOn: HOST_UUID, otherConfig: { auto_poweron: 'true', 'xen-guests:maintenance': 'disk swap' } });
    const disabled = makeGuest({ powerState: 'Running', residentOn: HOST_UUID });
    const blocked = makeEnabled({ blockedOperations: { start: 'by hand' } });
    const p = plan('boot', [inMaintenance, disabled, blocked], { resumed: resumedOf(inMaintenance, disabled, blocked) });
    expect(skipOf(p, inMaintenance).code).toBe('maintenance');
    expect(skipOf(p, disabled).code).toBe('disabled');
    expect(skipOf(p, blocked).code).toBe('start-blocked');
    const running = makeEnabled({ powerState: 'Running', residentOn: HOST_UUID });
    const hostDown = plan('boot', [running], { host: makeHost({ maintenance: { reason: 'firmware', since: null, by: null } }), resumed: resumedOf(running) });
    expect(skipOf(hostDown, running).code).toBe('host-maintenance');
  });

  it('paused or suspended since: judged on that state, as any other guest', () => {
    const paused = makeEnabled({ powerState: 'Paused', residentOn: HOST_UUID });
    const suspended = makeEnabled({ powerState: 'Suspended' });
    const p = plan('boot', [paused, suspended], { resumed: resumedOf(paused, suspended) });
    expect(skipOf(p, paused).code).toBe('already-running');
    expect(skipOf(p, suspended).code).toBe('suspended-needs-admin');
  });
});

describe('boot: warnings', () => {
  it('pool-level auto_poweron on: xapi\'s own autostart would also act', () => {
    const p = plan('boot', [makeEnabled()], { host: makeHost({ poolAutoPoweron: true }) });
    expect(p.warnings[0]!.guest).toBeNull();
    expect(p.warnings[0]!.message).toContain('pool-wide and unordered');
    expect(plan('boot', [makeEnabled()]).warnings).toEqual([]);
  });

  it('refused and bad policy values show up, naming the guest; templates\' keys do not', () => {
    const bad = makeEnabled({ name: 'db', otherConfig: { auto_poweron: 'true', 'xen-guests:on_stop': 'suspend' } });
    const tmpl = makeGuest({ isTemplate: true, otherConfig: { 'xen-guests:on_stop': 'suspend' } });
    const p = plan('boot', [bad, tmpl]);
    expect(p.warnings).toHaveLength(1);
    expect(p.warnings[0]!.guest?.uuid).toBe(bad.uuid);
    expect(p.warnings[0]!.message).toContain('guest "db"');
    expect(p.warnings[0]!.message).toContain('suspend is refused');
  });
});

describe('shutdown: actions', () => {
  it('descending VM.order, ties by name', () => {
    const guests = [makeRunning({ name: 'x', order: 0 }), makeRunning({ name: 'z', order: 5 }), makeRunning({ name: 'y', order: 5 }), makeRunning({ name: 'w', order: 2 })];
    expect(names(plan('shutdown', guests))).toEqual([
      [5, ['y', 'z']],
      [2, ['w']],
      [0, ['x']],
    ]);
  });

  it('clean by default with the policy timeout; hard for poweroff, Paused, no clean path, blocked clean_shutdown', () => {
    const clean = makeRunning({ name: 'clean', otherConfig: { 'xen-guests:shutdown_timeout': '45' } });
    const poweroff = makeRunning({ name: 'poweroff', otherConfig: { 'xen-guests:on_stop': 'poweroff' } });
    const paused = makeRunning({ name: 'paused', powerState: 'Paused' });
    const noPv = makeRunning({ name: 'no-pv', cleanShutdown: { able: false, reason: 'HVM guest without PV drivers or feature-shutdown' } });
    const blocked = makeRunning({ name: 'blocked', blockedOperations: { clean_shutdown: 'no' } });
    const p = plan('shutdown', [clean, poweroff, paused, noPv, blocked]);
    expect(entryOf(p, clean)).toMatchObject({ action: 'clean-shutdown', timeout: 45, reason: null, ready: null });
    expect(entryOf(p, poweroff)).toMatchObject({ action: 'hard-shutdown', reason: 'on_stop=poweroff', timeout: 0 });
    expect(entryOf(p, paused)).toMatchObject({ action: 'hard-shutdown', reason: 'paused: a paused guest cannot answer a clean shutdown request' });
    expect(entryOf(p, noPv)).toMatchObject({ action: 'hard-shutdown', reason: 'cannot take a clean shutdown request: HVM guest without PV drivers or feature-shutdown' });
    expect(entryOf(p, blocked).action).toBe('hard-shutdown');
    expect(p.warnings.map((w) => w.message)).toContainEqual(expect.stringContaining(`guest "no-pv" (${noPv.uuid}): clean shutdown impossible (HVM guest without PV drivers`));
  });

  it('on_stop=suspend is refused: a clean shutdown, and a warning', () => {
    const g = makeRunning({ otherConfig: { 'xen-guests:on_stop': 'suspend' } });
    const p = plan('shutdown', [g]);
    expect(entryOf(p, g).action).toBe('clean-shutdown');
    expect(p.warnings[0]!.message).toContain('suspend is refused');
  });

  it('skips: halted, suspended, self-managed poweroff, resident elsewhere, templates, dom0', () => {
    const halted = makeGuest();
    const suspended = makeGuest({ powerState: 'Suspended' });
    const selfManaged = makeRunning({ otherConfig: { auto_poweroff: 'true' } });
    const elsewhere = makeGuest({ powerState: 'Running', residentOn: OTHER_HOST_UUID });
    const dom0 = makeRunning({ isControlDomain: true });
    const p = plan('shutdown', [halted, suspended, selfManaged, elsewhere, dom0], { host: makeHost({ poolSize: 2 }) });
    expect(skipOf(p, halted)).toEqual({ code: 'already-halted', reason: 'already halted' });
    expect(skipOf(p, suspended)).toEqual({ code: 'already-halted', reason: 'suspended, not running; its suspend image is kept' });
    expect(skipOf(p, selfManaged).code).toBe('self-managed-poweroff');
    expect(skipOf(p, elsewhere)).toEqual({ code: 'not-this-host', reason: `not this host's: resident on host ${OTHER_HOST_UUID}` });
    expect(skipOf(p, dom0).code).toBe('control-domain');
    expect(p.groups).toEqual([]);
  });

  it('maintenance does not keep a running guest from being stopped at host shutdown', () => {
    const g = makeRunning({ otherConfig: { 'xen-guests:maintenance': 'upgrade' } });
    expect(entryOf(plan('shutdown', [g]), g).action).toBe('clean-shutdown');
  });

  it('a blocked hard_shutdown is warned about', () => {
    const g = makeRunning({ blockedOperations: { hard_shutdown: 'careful' } });
    expect(plan('shutdown', [g]).warnings[0]!.message).toContain('hard_shutdown is blocked');
  });
});

describe('shutdown: the deadline budget', () => {
  const running = (order: number, timeout: number, n = 1) =>
    Array.from({ length: n }, (_, i) => makeRunning({ name: `g${order}-${i}`, order, otherConfig: { 'xen-guests:shutdown_timeout': String(timeout) } }));

  it('no cut when the groups fit in deadline − reserve', () => {
    const p = plan('shutdown', [...running(1, 300), ...running(1, 100), ...running(0, 200)]);
    expect(p.budget).toEqual({ deadline: 900, hardReserve: 60, cleanBudget: 840, delays: 0, requested: 500, cut: false });
    expect(p.groups.flatMap((g) => g.entries.map((e) => e.timeout))).toEqual([300, 100, 200]);
  });

  it('VM.shutdown_delay: every group but the last waits its longest delay, and the waits come out of the clean budget', () => {
    const delayed = (order: number, delay: number) => makeRunning({ name: `d${order}-${delay}`, order, shutdownDelay: delay, otherConfig: { 'xen-guests:shutdown_timeout': '100' } });
    const p = plan('shutdown', [delayed(2, 30), delayed(2, 10), delayed(1, 0), delayed(0, 50)]);
    // Descending order: group order 2 waits 30 s, order 1 none, order 0 is last (its 50 s holds nothing back).
    expect(p.groups.map((g) => [g.order, g.delayAfter ?? 0])).toEqual([[2, 30], [1, 0], [0, 0]]);
    expect(p.budget).toEqual({ deadline: 900, hardReserve: 60, cleanBudget: 810, delays: 30, requested: 300, cut: false });
  });

  it('hard-only groups ask for no clean time', () => {
    const hard = makeRunning({ order: 3, otherConfig: { 'xen-guests:on_stop': 'poweroff' } });
    expect(plan('shutdown', [hard, ...running(0, 100)]).budget?.requested).toBe(100);
  });

  it('cuts every clean timeout by the same factor so the groups fit', () => {
    const p = plan('shutdown', [...running(2, 600), ...running(1, 600), ...running(1, 300), ...running(0, 600)]);
    expect(p.budget).toEqual({ deadline: 900, hardReserve: 60, cleanBudget: 840, delays: 0, requested: 1800, cut: true });
    const timeouts = p.groups.map((g) => g.entries.map((e) => e.timeout));
    expect(timeouts).toEqual([[280], [280, 140], [280]]);
    expect(p.warnings.map((w) => w.message)).toContainEqual(expect.stringContaining('clean shutdown timeouts cut to fit the deadline: the groups ask for 1800 s in sequence, only 840 s fit'));
  });

  it('whatever the timeouts, the cut groups fit, no timeout grows, and none falls below the floor unless asked', () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let round = 0; round < 50; round++) {
      const guests = Array.from({ length: 30 }, (_, i) =>
        makeRunning({ name: `r${i}`, order: Math.floor(random() * 8), otherConfig: { 'xen-guests:shutdown_timeout': String(1 + Math.floor(random() * 2000)) } }),
      );
      const asked = new Map(guests.map((g) => [g.uuid, Number(g.otherConfig['xen-guests:shutdown_timeout'])]));
      const p = plan('shutdown', guests);
      const fitted = p.groups.reduce((sum, g) => sum + Math.max(...g.entries.map((e) => e.timeout)), 0);
      expect(fitted).toBeLessThanOrEqual(p.budget!.cleanBudget);
      for (const e of p.groups.flatMap((g) => g.entries)) {
        const wanted = asked.get(e.guest.uuid)!;
        expect(e.timeout).toBeLessThanOrEqual(wanted);
        expect(e.timeout).toBeGreaterThanOrEqual(Math.min(MIN_CLEAN_TIMEOUT, wanted));
      }
    }
  });

  it('too many groups even at the floor: said plainly', () => {
    const config = makeConfig((c) => {
      c.shutdown.deadline = 30;
      c.shutdown.hardReserve = 10;
      c.shutdown.guestTimeout = 20;
    });
    const guests = Array.from({ length: 6 }, (_, i) => makeRunning({ order: i }));
    const p = plan('shutdown', guests, { config });
    expect(p.groups.flatMap((g) => g.entries.map((e) => e.timeout))).toEqual(Array(6).fill(MIN_CLEAN_TIMEOUT));
    expect(p.warnings.map((w) => w.message)).toContainEqual(expect.stringContaining('the 6 groups need 30 s of clean time, more than the 20 s available'));
  });

  it('a group larger than the parallelism is warned about when its rounds overrun the budget', () => {
    const p = plan('shutdown', running(0, 180, 40));
    expect(p.budget?.cut).toBe(false);
    expect(p.warnings.map((w) => w.message)).toContainEqual(expect.stringContaining('with shutdown.parallelism 8 the clean phases may take up to 900 s'));
    expect(plan('shutdown', running(0, 180, 8)).warnings).toEqual([]);
  });
});

describe('names with quotes and unicode', () => {
  it('are kept as they are, sorted stably, and quoted in messages', () => {
    const weird = makeEnabled({ name: 'web "front" — 東京', otherConfig: { auto_poweron: 'true', 'xen-guests:on_stop': 'suspend' } });
    const plain = makeEnabled({ name: 'Zeta' });
    const emoji = makeEnabled({ name: 'ünïcode 🚀' });
    const p = plan('boot', [weird, plain, emoji]);
    expect(p.groups[0]!.entries.map((e) => e.guest.name)).toEqual(['Zeta', 'web "front" — 東京', 'ünïcode 🚀']);
    expect(p.warnings[0]!.message).toContain('guest "web \\"front\\" — 東京"');
    expect(p.warnings[0]!.guest).toEqual({ uuid: weird.uuid, name: 'web "front" — 東京', ref: weird.ref });
  });
});

describe('input checks', () => {
  it('an unknown mode is refused by name', () => {
    expect(() => buildPlan({ mode: 'reboot' as never, guests: [], host: makeHost(), config: makeConfig(), snapshot: null })).toThrow('plan mode "reboot": must be boot or shutdown');
  });

  it('the same input gives the same plan', () => {
    const guests = [makeEnabled({ order: 1 }), makeEnabled({ order: 0 }), makeGuest({ isTemplate: true })];
    expect(plan('boot', guests)).toEqual(plan('boot', [...guests].reverse()));
  });
});

describe('10,000 guests', () => {
  it('are planned quickly (measured, printed, not asserted)', () => {
    const guests: Guest[] = [];
    for (let i = 0; i < 10_000; i++) {
      const otherConfig: Record<string, string> = { auto_poweron: i % 10 === 0 ? 'false' : 'true', 'xen-guests-sim:boot_time': '2' };
      if (i % 97 === 0) otherConfig['xen-guests:maintenance'] = 'batch';
      if (i % 13 === 0) otherConfig['xen-guests:shutdown_timeout'] = String(60 + (i % 300));
      guests.push(
        makeGuest({
          name: `guest-${String(i).padStart(5, '0')}`,
          order: i % 20,
          powerState: i % 2 === 0 ? 'Running' : 'Halted',
          residentOn: i % 2 === 0 ? HOST_UUID : null,
          memoryRequired: 512 * 1024 * 1024,
          isTemplate: i % 250 === 0,
        }),
      );
      guests[i]!.otherConfig = otherConfig;
    }
    const host = makeHost({ freeMemory: 4000 * GiB });
    const config = makeConfig();
    buildPlan({ mode: 'boot', guests, host, config, snapshot: null }); // warm-up
    const timings: Record<string, number> = {};
    for (const mode of ['boot', 'shutdown'] as const) {
      const runs: number[] = [];
      let last: Plan | null = null;
      for (let r = 0; r < 5; r++) {
        const t0 = performance.now();
        last = buildPlan({ mode, guests, host, config, snapshot: null });
        runs.push(performance.now() - t0);
      }
      timings[mode] = Math.min(...runs);
      expect(last!.totals.guests + last!.totals.notGuests).toBe(10_000);
      expect(last!.totals.acting + last!.totals.skipped + last!.totals.notGuests).toBe(10_000);
      expect(last!.groups.length).toBe(10); // halted guests have odd orders, running ones even
    }
    console.log(`buildPlan, 10,000 guests (best of 5): boot ${timings.boot!.toFixed(1)} ms, shutdown ${timings.shutdown!.toFixed(1)} ms`);
  });
});

describe('on_stop=migrate', () => {
  it('a running guest with on_stop=migrate is marked to migrate first, its action the clean-then-hard fallback; others and paused ones are not', () => {
    const mover = makeRunning({ name: 'mover', otherConfig: { 'xen-guests:on_stop': 'migrate' } });
    const paused = makeRunning({ name: 'paused', powerState: 'Paused', otherConfig: { 'xen-guests:on_stop': 'migrate' } });
    const plain = makeRunning({ name: 'plain' });
    const p = plan('shutdown', [mover, paused, plain]);
    expect(entryOf(p, mover)).toMatchObject({ action: 'clean-shutdown', migrate: true });
    expect(entryOf(p, paused).action).toBe('hard-shutdown');
    expect(entryOf(p, paused).migrate).toBeUndefined();
    expect(entryOf(p, plain).migrate).toBeUndefined();
    expect(entryOf(plan('shutdown', [plain], { config: makeConfig((c) => (c.shutdown.onStop = 'migrate')) }), plain).migrate).toBe(true);
  });

  it('at the next boot, a guest migrated away (running on another host) is not started here, though it ran here at the shutdown', () => {
    const moved = makeEnabled({ name: 'moved', powerState: 'Running', residentOn: OTHER_HOST_UUID, otherConfig: { 'xen-guests:on_stop': 'migrate' } });
    const snapshot = makeSnapshot([{ ...moved, residentOn: HOST_UUID }]);
    const p = plan('boot', [moved], { host: makeHost({ poolSize: 3 }), snapshot });
    expect(skipOf(p, moved).code).toBe('not-this-host');
  });

  /** The last shutdown's report as the daemon writes it: the given guests migrated to host-b. */
  function shutdownReport(migrated: Guest[], over: Partial<RunReport> = {}): RunReport {
    const at = '2024-05-01T10:00:01.000Z';
    const guests = migrated.map((g) => ({
      guest: { uuid: g.uuid, name: g.name, ref: g.ref }, order: g.order, action: 'clean-shutdown' as const, outcome: 'migrated' as const, reason: null,
      startedAt: at, phase1EndAt: null, phase2At: null, endedAt: at, errors: [], migration: { to: { uuid: OTHER_HOST_UUID, name: 'host-b' }, seconds: 2, failed: null },
    }));
    return { mode: 'shutdown', bootId: 'boot-before', hostUuid: HOST_UUID, startedAt: at, endedAt: at, deadlineAt: at, trigger: 'host shutdown', guests, groups: [], totals: {} as RunReport['totals'], exitCode: 0, leftRunning: [], ...over };
  }

  it('a guest migrated away, then brought back and halted here by an admin, is not started again (only its affinity would make it this host\'s)', () => {
    const pool = makeHost({ poolSize: 3 });
    const back = makeEnabled({ name: 'back', otherConfig: { auto_poweron: 'true', 'xen-guests:on_stop': 'migrate' } });
    const homed = makeEnabled({ name: 'homed', affinity: HOST_UUID, otherConfig: { auto_poweron: 'true', 'xen-guests:on_stop': 'migrate' } });
    const stopped = makeEnabled({ name: 'stopped' });
    const snapshot = makeSnapshot([back, homed, stopped].map((g) => ({ ...g, powerState: 'Running' as const, residentOn: HOST_UUID })));
    const p = plan('boot', [back, homed, stopped], { host: pool, snapshot, lastShutdown: shutdownReport([back, homed]) });
    expect(skipOf(p, back)).toEqual({
      code: 'not-this-host',
      reason: "not this host's: the last shutdown migrated it to host-b and it has no affinity; it is halted now, so someone stopped it since (start it by hand, or set its affinity to this host)",
    });
    expect(entryOf(p, homed).action).toBe('start');
    expect(entryOf(p, stopped).action).toBe('start');
    // Without the report (or with one of another run) the snapshot alone decides, as before.
    expect(entryOf(plan('boot', [back], { host: pool, snapshot }), back).action).toBe('start');
    expect(entryOf(plan('boot', [back], { host: pool, snapshot, lastShutdown: shutdownReport([back], { bootId: 'another-boot' }) }), back).action).toBe('start');
  });

  it('restore: a guest migrated away at the last shutdown was not stopped by it, so it is not restored even with affinity here', () => {
    const homed = makeEnabled({ name: 'homed', affinity: HOST_UUID, otherConfig: { 'xen-guests:on_start': 'restore' } });
    const snapshot = makeSnapshot([{ ...homed, powerState: 'Running', residentOn: HOST_UUID }]);
    const p = plan('boot', [homed], { host: makeHost({ poolSize: 3 }), snapshot, lastShutdown: shutdownReport([homed]) });
    expect(skipOf(p, homed)).toEqual({ code: 'restore-not-running', reason: 'on_start = restore and the last shutdown migrated it to host-b rather than stopping it' });
  });

  it('a migrated guest still running elsewhere is skipped naming where the last shutdown sent it', () => {
    const moved = makeEnabled({ name: 'moved', powerState: 'Running', residentOn: OTHER_HOST_UUID });
    const snapshot = makeSnapshot([{ ...moved, residentOn: HOST_UUID }]);
    const p = plan('boot', [moved], { host: makeHost({ poolSize: 3 }), snapshot, lastShutdown: shutdownReport([moved]) });
    expect(skipOf(p, moved).reason).toBe(`not this host's: running on host ${OTHER_HOST_UUID} (migrated to host-b at the last shutdown)`);
  });
});
