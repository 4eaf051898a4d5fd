// The order inside an order group: longest first by the last run of the same kind, or by name.
// Durations are written into the report as a run would have left them; the expected orders follow
// from those numbers by hand, not from the planner.

import { describe, expect, it } from 'vitest';
import { buildPlan, type PlanInput } from '../../../src/core/plan.js';
import { parseConfig } from '../../../src/core/config.js';
import type { GuestReport, Outcome, Plan, PlanMode, RunReport } from '../../../src/core/types.js';
import type { Guest } from '../../../src/toolstack/types.js';
import { GiB, HOST_UUID, OTHER_HOST_UUID, makeConfig, makeEnabled, makeHost, makeRunning } from './fixtures.js';

const T0 = Date.parse('2026-11-01T22:00:00.000Z');
const at = (s: number) => new Date(T0 + s * 1000).toISOString();

/** One guest's line of a report: it held its group for `seconds` from t = `from`. */
function line(g: Guest, outcome: Outcome, seconds: number, from = 0, extra: Partial<GuestReport> = {}): GuestReport {
  return {
    guest: { uuid: g.uuid, name: g.name, ref: g.ref }, order: g.order, action: 'start', outcome, reason: null,
    startedAt: at(from), phase1EndAt: at(from), phase2At: null, endedAt: at(from + seconds), errors: [], ...extra,
  };
}

function report(mode: PlanMode, guests: GuestReport[], over: Partial<RunReport> = {}): RunReport {
  return {
    mode, bootId: 'boot-before', hostUuid: HOST_UUID, startedAt: at(0), endedAt: at(600), deadlineAt: null, trigger: 'host shutdown',
    guests, groups: [], totals: {} as RunReport['totals'], exitCode: 0, leftRunning: [], ...over,
  };
}

function plan(mode: PlanMode, guests: Guest[], extra: Partial<PlanInput> = {}): Plan {
  return buildPlan({ mode, guests, host: makeHost(), config: makeConfig(), snapshot: null, ...extra });
}

const names = (p: Plan) => p.groups.map((g) => g.entries.map((e) => e.guest.name));

describe('shutdown: longest first within a group', () => {
  const [a, b, hung, d] = ['a', 'b', 'hung', 'd'].map((name) => makeRunning({ name }));
  const last = report('shutdown', [line(a!, 'clean', 4), line(b!, 'clean', 12), line(hung!, 'hard-after-timeout', 182), line(d!, 'clean', 1)]);

  it('the guest that hung until its timeout last time is asked first, then by time taken', () => {
    const p = plan('shutdown', [a!, b!, hung!, d!], { lastRun: last });
    expect(names(p)).toEqual([['hung', 'b', 'a', 'd']]);
    expect(p.groups[0]!.entries[0]!.lastRun).toEqual({ seconds: 182, outcome: 'hard-after-timeout', rankedBy: 182 });
    expect(p.withinGroup).toEqual({ rule: 'longest-first', lastRun: { startedAt: at(0), trigger: 'host shutdown' } });
  });

  it('each group is ordered on its own; groups keep their VM.order', () => {
    const hi = makeRunning({ name: 'hi', order: 2 });
    const hi2 = makeRunning({ name: 'hi2', order: 2 });
    const p = plan('shutdown', [a!, hung!, hi, hi2], { lastRun: report('shutdown', [line(a!, 'clean', 3), line(hung!, 'hard-after-timeout', 182), line(hi, 'clean', 1), line(hi2, 'clean', 9)]) });
    expect(p.groups.map((g) => g.order)).toEqual([2, 0]);
    expect(names(p)).toEqual([['hi2', 'hi'], ['hung', 'a']]);
  });

  it('shutdown.order_within_group = name keeps name order and shows no times', () => {
    const p = plan('shutdown', [d!, hung!, b!, a!], { lastRun: last, config: makeConfig((c) => (c.shutdown.orderWithinGroup = 'name')) });
    expect(names(p)).toEqual([['a', 'b', 'd', 'hung']]);
    expect(p.groups[0]!.entries.every((e) => e.lastRun === undefined)).toBe(true);
    expect(p.withinGroup).toEqual({ rule: 'name', lastRun: null });
  });

  it('without a last report, or with a boot report, or another host\'s, name order stands', () => {
    for (const lastRun of [null, undefined, report('boot', last.guests), report('shutdown', last.guests, { hostUuid: OTHER_HOST_UUID })]) {
      const p = plan('shutdown', [hung!, d!, b!, a!], { lastRun });
      expect(names(p)).toEqual([['a', 'b', 'd', 'hung']]);
      expect(p.withinGroup).toEqual({ rule: 'longest-first', lastRun: null });
    }
  });

  it('a guest the last run does not know ranks as the median of the known: after the long, before the short', () => {
    const fresh = makeRunning({ name: 'fresh' });
    const e = makeRunning({ name: 'e' });
    // Known: 182, 12, 4, 1 → median (12 + 4) / 2 = 8.
    const p = plan('shutdown', [a!, b!, hung!, d!, fresh, e], { lastRun: last });
    expect(names(p)).toEqual([['hung', 'b', 'e', 'fresh', 'a', 'd']]);
    const byName = new Map(p.groups[0]!.entries.map((x) => [x.guest.name, x.lastRun]));
    expect(byName.get('fresh')).toEqual({ seconds: null, outcome: null, rankedBy: 8 });
  });

  it('outcomes that say nothing of a duration (failed, already halted, halted by itself, not attempted) rank as unknown', () => {
    const f = makeRunning({ name: 'f' });
    const g = makeRunning({ name: 'g' });
    const h = makeRunning({ name: 'h' });
    // f failed after 300 s (the toolstack refused): not a 300 s guest. Known: 10, 2 → median 6.
    const lastRun = report('shutdown', [line(a!, 'clean', 10), line(b!, 'clean', 2), line(f, 'failed', 300), line(g, 'halted-by-itself', 50), line(h, 'not-attempted', 0, 0, { startedAt: null, endedAt: null })]);
    const p = plan('shutdown', [a!, b!, f, g, h], { lastRun });
    expect(names(p)).toEqual([['a', 'f', 'g', 'h', 'b']]);
    expect(p.groups[0]!.entries.find((x) => x.guest.name === 'f')!.lastRun).toEqual({ seconds: null, outcome: 'failed', rankedBy: 6 });
  });

  it('hard stops by policy or for lack of a clean path and migrations are measured spans', () => {
    const nopv = makeRunning({ name: 'nopv' });
    const moved = makeRunning({ name: 'moved' });
    const lastRun = report('shutdown', [line(a!, 'clean', 5), line(nopv, 'hard-no-clean-path', 0.2), line(moved, 'migrated', 40)]);
    expect(names(plan('shutdown', [a!, nopv, moved], { lastRun }))).toEqual([['moved', 'a', 'nopv']]);
  });

  it('a wall-clock step during the run does not enter the ranking: heldMs (monotonic) is what counts', () => {
    const [stepped, back, steady] = ['stepped', 'back', 'steady'].map((name) => makeRunning({ name }));
    // The wall clock jumped an hour forward while "stepped" was stopping (its stamps span 3602 s) and
    // 50 s back while "back" was (its stamps end before they begin); their own times were 2 s and 30 s.
    const lastRun = report('shutdown', [
      line(stepped!, 'clean', 3_602, 0, { heldMs: 2_000 }),
      { ...line(back!, 'clean', 0, 60, { heldMs: 30_000 }), endedAt: at(40) },
      line(steady!, 'clean', 10, 0, { heldMs: 10_000 }),
    ]);
    const p = plan('shutdown', [stepped!, back!, steady!], { lastRun });
    expect(names(p)).toEqual([['back', 'steady', 'stepped']]);
    expect(p.groups[0]!.entries.map((e) => e.lastRun!.seconds)).toEqual([30, 10, 2]);
  });

  it('ties go by name, then uuid, whatever the input order', () => {
    const twinA = makeRunning({ name: 'twin', uuid: '00000000-0000-4000-8000-00000000000a' });
    const twinB = makeRunning({ name: 'twin', uuid: '00000000-0000-4000-8000-00000000000b' });
    const lastRun = report('shutdown', [line(b!, 'clean', 7), line(a!, 'clean', 7), line(twinB, 'clean', 7), line(twinA, 'clean', 7)]);
    const forward = plan('shutdown', [twinB, b!, twinA, a!], { lastRun });
    const backward = plan('shutdown', [a!, twinA, b!, twinB], { lastRun });
    const ids = (p: Plan) => p.groups[0]!.entries.map((e) => e.guest.uuid);
    expect(ids(forward)).toEqual([a!.uuid, b!.uuid, twinA.uuid, twinB.uuid]);
    expect(ids(backward)).toEqual(ids(forward));
  });
});

describe('boot: longest first within a group', () => {
  it('from the slot to ready; started-not-ready counts (it held the group to its timeout), start-failed does not', () => {
    const [quick, slow, notReady, failed] = ['quick', 'slow', 'not-ready', 'failed'].map((name) => makeEnabled({ name }));
    const lastRun = report('boot', [line(quick!, 'started', 2), line(slow!, 'started', 40), line(notReady!, 'started-not-ready', 300), line(failed!, 'start-failed', 0)], { trigger: 'host boot' });
    const p = plan('boot', [quick!, slow!, notReady!, failed!], { lastRun });
    // Known 300, 40, 2 → the failed one ranks as the median, 40, tied with slow: by name.
    expect(names(p)).toEqual([['not-ready', 'failed', 'slow', 'quick']]);
  });

  it('a wait for storage (outside the slots) is not counted: only its slot to ready', () => {
    const [waited, plain] = ['waited', 'plain'].map((name) => makeEnabled({ name }));
    // waited: 100 s for its SR, then 5 s to ready; plain: 20 s.
    const storageWait = { srs: ['nfs'], startedAt: at(0), endedAt: at(100), plugged: true };
    const lastRun = report('boot', [line(waited!, 'started', 105, 0, { storageWait }), line(plain!, 'started', 20)]);
    expect(names(plan('boot', [waited!, plain!], { lastRun }))).toEqual([['plain', 'waited']]);
  });

  it('ranked by the time it held its slot (heldMs): a storage wait that ended well before the slot, and the queue after it, do not count', () => {
    const [waited, plain] = ['waited', 'plain'].map((name) => makeEnabled({ name }));
    // waited: its SR came at t = 10 s, it then queued behind the group until t = 95 s, got its slot
    // and was ready 5 s later; plain: 20 s from its slot to ready.
    const storageWait = { srs: ['nfs'], startedAt: at(0), endedAt: at(10), plugged: true };
    const lastRun = report('boot', [line(waited!, 'started', 100, 0, { storageWait, heldMs: 5_000 }), line(plain!, 'started', 20, 0, { heldMs: 20_000 })]);
    const p = plan('boot', [waited!, plain!], { lastRun });
    expect(names(p)).toEqual([['plain', 'waited']]);
    expect(p.groups[0]!.entries.find((e) => e.guest.name === 'waited')!.lastRun).toEqual({ seconds: 5, outcome: 'started', rankedBy: 5 });
  });

  it('a report of an older version (no heldMs) is ranked by its stamps, from the end of the storage wait', () => {
    const [waited, plain] = ['waited', 'plain'].map((name) => makeEnabled({ name }));
    // The same night as above, as older versions wrote it: 90 s from the SR to ready, queue included.
    const storageWait = { srs: ['nfs'], startedAt: at(0), endedAt: at(10), plugged: true };
    const lastRun = report('boot', [line(waited!, 'started', 100, 0, { storageWait }), line(plain!, 'started', 20)]);
    expect(names(plan('boot', [waited!, plain!], { lastRun }))).toEqual([['waited', 'plain']]);
  });

  it('memory is still allotted in name order: a known-slow guest does not take memory from one before it by name', () => {
    const big = makeEnabled({ name: 'a-big', memoryRequired: 6 * GiB });
    const slow = makeEnabled({ name: 'z-slow', memoryRequired: 6 * GiB });
    const lastRun = report('boot', [line(big, 'started', 1), line(slow, 'started', 90)]);
    const p = plan('boot', [big, slow], { host: makeHost({ freeMemory: 8 * GiB }), lastRun });
    expect(names(p)).toEqual([['a-big']]);
    expect(p.skipped.map((e) => [e.guest.name, e.skipCode])).toEqual([['z-slow', 'not-enough-memory']]);
  });

  it('boot.order_within_group = name: name order even with a last boot report', () => {
    const [x, y] = ['x', 'y'].map((name) => makeEnabled({ name }));
    const lastRun = report('boot', [line(x!, 'started', 1), line(y!, 'started', 90)]);
    const config = makeConfig((c) => (c.boot.orderWithinGroup = 'name'));
    expect(names(plan('boot', [y!, x!], { lastRun, config }))).toEqual([['x', 'y']]);
  });
});

describe('config: order_within_group', () => {
  it('longest-first by default, name when asked, in both sections', () => {
    const c = parseConfig('[boot]\norder_within_group = "name"\n[shutdown]\norder_within_group = "longest-first"\n', '/etc/x.toml');
    expect([c.boot.orderWithinGroup, c.shutdown.orderWithinGroup]).toEqual(['name', 'longest-first']);
    expect(makeConfig().boot.orderWithinGroup).toBe('longest-first');
  });

  it('a bad value names the key, the value and what is allowed', () => {
    expect(() => parseConfig('[shutdown]\norder_within_group = "slowest"\n', '/etc/x.toml')).toThrow(
      'shutdown.order_within_group = "slowest" in /etc/x.toml: must be one of longest-first, name',
    );
  });
});
