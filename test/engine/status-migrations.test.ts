// What `status` says of on_stop=migrate guests, from hand-built snapshots, reports and VM records:
// a shutdown run counts as under way only in the boot of its snapshot and before its report; the
// live state of each guest; the last report's destinations and times.

import { describe, expect, it } from 'vitest';
import { migrationsView, shutdownUnderWay } from '../../src/engine/status-migrations.js';
import type { RunReport } from '../../src/core/types.js';
import { HOST_UUID, OTHER_HOST_UUID, makeRunning, makeSnapshot } from '../unit/core/fixtures.js';

const MIGRATE = { 'xen-guests:on_stop': 'migrate' };
const names = new Map([[HOST_UUID, 'xcp-host-1'], [OTHER_HOST_UUID, 'xcp-host-2']]);

const moving = makeRunning({ name: 'moving', otherConfig: MIGRATE });
const moved = makeRunning({ name: 'moved', otherConfig: MIGRATE });
const waiting = makeRunning({ name: 'waiting', otherConfig: MIGRATE });
const falling = makeRunning({ name: 'falling', otherConfig: MIGRATE });
const plain = makeRunning({ name: 'plain' });
const snapshot = makeSnapshot([moving, moved, waiting, falling, plain]);
const BOOT = snapshot.bootId;

function report(startedAt: string, guests: RunReport['guests'] = []): RunReport {
  return { mode: 'shutdown', bootId: BOOT, hostUuid: HOST_UUID, startedAt, endedAt: startedAt, deadlineAt: null, trigger: 'test', guests, groups: [], totals: {} as RunReport['totals'], exitCode: 0, leftRunning: [] };
}

describe('a shutdown run under way', () => {
  it('is one whose snapshot is of this boot and newer than the last report', () => {
    const base = { hostUuid: HOST_UUID, bootId: BOOT, snapshot };
    expect(shutdownUnderWay({ ...base, lastShutdown: null })).toBe(true);
    expect(shutdownUnderWay({ ...base, lastShutdown: report('2024-04-30T10:00:00.000Z') })).toBe(true);
    expect(shutdownUnderWay({ ...base, lastShutdown: report('2024-05-01T10:00:01.000Z') })).toBe(false);
    expect(shutdownUnderWay({ ...base, bootId: 'another-boot', lastShutdown: null })).toBe(false);
    expect(shutdownUnderWay({ ...base, bootId: null, lastShutdown: null })).toBe(false);
    expect(shutdownUnderWay({ ...base, hostUuid: OTHER_HOST_UUID, lastShutdown: null })).toBe(false);
  });
});

describe('a shutdown run under way, told by the snapshot its report names (review 2, finding 3)', () => {
  const base = { hostUuid: HOST_UUID, bootId: BOOT, snapshot };
  const naming = (startedAt: string, takenAt: string) => ({ ...report(startedAt), snapshotTakenAt: takenAt });

  it('the report of this very snapshot ends the run, even when a clock step put its start before the snapshot', () => {
    // A −1 h step between the snapshot and the engine's start: by wall times this would read "under way" for the rest of the boot.
    expect(shutdownUnderWay({ ...base, lastShutdown: naming('2024-05-01T09:00:01.000Z', snapshot.takenAt) })).toBe(false);
  });

  it('a report naming an earlier snapshot leaves the newer one under way, even when a clock step put its start after it', () => {
    // A +1 h step: the earlier run's report reads as newer than this snapshot.
    expect(shutdownUnderWay({ ...base, lastShutdown: naming('2024-05-01T11:00:00.000Z', '2024-05-01T08:00:00.000Z') })).toBe(true);
  });

  it('a report of another boot naming the same instant does not end it', () => {
    expect(shutdownUnderWay({ ...base, lastShutdown: { ...naming('2024-05-01T10:00:01.000Z', snapshot.takenAt), bootId: 'another-boot' } })).toBe(true);
  });
});

describe('migrations while it runs', () => {
  it('says of each on_stop=migrate guest of the snapshot where it is now, read from its VM record', () => {
    const now = [
      { ...moving, currentOperations: { 'OpaqueRef:t1': 'pool_migrate' }, migratingTo: OTHER_HOST_UUID },
      { ...moved, residentOn: OTHER_HOST_UUID },
      waiting,
      { ...falling, currentOperations: { 'OpaqueRef:t2': 'clean_shutdown' } },
      plain,
    ];
    const view = migrationsView({ hostUuid: HOST_UUID, bootId: BOOT, snapshot, lastShutdown: null, guests: now, hostNames: names });
    expect(view?.run).toBe('under-way');
    expect(view?.since).toBe(snapshot.takenAt);
    expect(view?.guests.map((g) => [g.name, g.state, g.to?.name ?? null])).toEqual([
      ['moving', 'migrating', 'xcp-host-2'],
      ['moved', 'migrated', 'xcp-host-2'],
      ['waiting', 'waiting', null],
      ['falling', 'stopping-here', null],
    ]);
    const later = migrationsView({ hostUuid: HOST_UUID, bootId: BOOT, snapshot, lastShutdown: null, guests: [{ ...falling, powerState: 'Halted', residentOn: null }], hostNames: names });
    expect(later?.guests.map((g) => [g.name, g.state])).toEqual([
      ['moving', 'gone'],
      ['moved', 'gone'],
      ['waiting', 'gone'],
      ['falling', 'stopped-here'],
    ]);
  });
});

describe('migrations of the last shutdown', () => {
  it('come from its report: where each went and in how long, or why it stayed and how it ended', () => {
    const guestReport = (g: typeof moving, outcome: 'migrated' | 'clean', migration: NonNullable<RunReport['guests'][number]['migration']>) =>
      ({ guest: { uuid: g.uuid, name: g.name }, order: 0, action: 'clean-shutdown', outcome, reason: null, startedAt: null, phase1EndAt: null, endedAt: null, errors: [], migration }) as unknown as RunReport['guests'][number];
    const last = report('2024-05-01T10:00:01.000Z', [
      guestReport(moved, 'migrated', { to: { uuid: OTHER_HOST_UUID, name: 'xcp-host-2' }, seconds: 8.2, failed: null }),
      guestReport(falling, 'clean', { to: null, seconds: 0.1, failed: 'no host of the pool can take it: VM_REQUIRES_SR' }),
    ]);
    const view = migrationsView({ hostUuid: HOST_UUID, bootId: BOOT, snapshot, lastShutdown: last, guests: [], hostNames: names });
    expect(view?.run).toBe('last');
    expect(view?.guests).toEqual([
      { uuid: moved.uuid, name: 'moved', state: 'migrated', to: { uuid: OTHER_HOST_UUID, name: 'xcp-host-2' }, seconds: 8.2, why: null, then: null },
      { uuid: falling.uuid, name: 'falling', state: 'not-moved', to: null, seconds: 0.1, why: 'no host of the pool can take it: VM_REQUIRES_SR', then: 'clean' },
    ]);
    expect(migrationsView({ hostUuid: HOST_UUID, bootId: BOOT, snapshot: null, lastShutdown: report('2024-05-01T10:00:01.000Z'), guests: [], hostNames: names })).toBeNull();
  });
});
