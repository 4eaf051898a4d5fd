import { describe, expect, it } from 'vitest';
import type { GuestReport, Outcome, PlanEntry } from '../../src/core/types.js';
import { bootExitCode, countOutcomes, errorTuple, pendingReport, runReport, shutdownExitCode, skippedReport } from '../../src/engine/report.js';
import { EngineTimeout } from '../../src/engine/time.js';
import { ToolstackError } from '../../src/toolstack/types.js';

function entry(name: string, over: Partial<PlanEntry> = {}): PlanEntry {
  return {
    guest: { uuid: `uuid-${name}`, name, ref: `OpaqueRef:${name}` },
    action: 'start',
    order: 1,
    timeout: 10,
    ready: { kind: 'running' },
    startDelay: 0,
    reason: null,
    skipCode: null,
    memoryRequired: 1,
    powerState: 'Halted',
    ...over,
  };
}

function withOutcomes(...outcomes: Outcome[]): GuestReport[] {
  return outcomes.map((o, i) => ({ ...pendingReport(entry(`g${i}`)), outcome: o }));
}

describe('guest reports', () => {
  it('records a skip with its reason', () => {
    const r = skippedReport(entry('m', { action: 'skip', reason: 'maintenance: disk swap', skipCode: 'maintenance' }));
    expect(r).toMatchObject({ outcome: 'skipped', reason: 'maintenance: disk swap', action: 'skip', startedAt: null, errors: [] });
  });

  it('keeps toolstack errors as [code, ...params] exactly as sent', () => {
    expect(errorTuple(new ToolstackError('refused', 'HOST_NOT_ENOUGH_FREE_MEMORY', ['1073741824', '52428800']))).toEqual([
      'HOST_NOT_ENOUGH_FREE_MEMORY',
      '1073741824',
      '52428800',
    ]);
    expect(errorTuple(new EngineTimeout('start', 2500))).toEqual(['ENGINE_TIMEOUT', 'start', '2.5']);
    expect(errorTuple(new TypeError('boom'))).toEqual(['TypeError', 'boom']);
    expect(errorTuple('odd')).toEqual(['Error', 'odd']);
  });

  it('counts every outcome, zeros included', () => {
    const totals = countOutcomes(withOutcomes('clean', 'clean', 'skipped'));
    expect(totals.clean).toBe(2);
    expect(totals.skipped).toBe(1);
    expect(totals.failed).toBe(0);
    expect(Object.keys(totals)).toHaveLength(14);
  });
});

describe('exit codes', () => {
  it('boot: 0 as planned, 3 degraded, 1 on a failed start', () => {
    expect(bootExitCode(countOutcomes(withOutcomes('started', 'skipped')))).toBe(0);
    expect(bootExitCode(countOutcomes(withOutcomes('started', 'started-not-ready')))).toBe(3);
    expect(bootExitCode(countOutcomes(withOutcomes('not-attempted')))).toBe(3);
    expect(bootExitCode(countOutcomes(withOutcomes('started-not-ready', 'start-failed')))).toBe(1);
  });

  it('shutdown: a policy hard stop is as planned; a timeout or an unforeseen lack of clean path is 3; failure or a guest left running is 1', () => {
    expect(shutdownExitCode(countOutcomes(withOutcomes('clean', 'hard-by-policy', 'halted-by-itself')), 0)).toBe(0);
    expect(shutdownExitCode(countOutcomes(withOutcomes('migrated', 'clean')), 0)).toBe(0);
    expect(shutdownExitCode(countOutcomes(withOutcomes('clean', 'hard-after-timeout')), 0)).toBe(3);
    expect(shutdownExitCode(countOutcomes(withOutcomes('hard-no-clean-path')), 0)).toBe(3);
    expect(shutdownExitCode(countOutcomes(withOutcomes('hard-no-clean-path', 'failed')), 0)).toBe(1);
    expect(shutdownExitCode(countOutcomes(withOutcomes('clean')), 1)).toBe(1);
  });

  it('shutdown: no clean path is as planned when the plan foresaw the hard stop, 3 when it had counted on a clean one', () => {
    const shutdownOf = (guests: GuestReport[]) =>
      runReport({ mode: 'shutdown', bootId: 'b', hostUuid: 'h', trigger: 'test', startedAt: 0, endedAt: 1, deadlineAt: 2, guests, groups: [], leftRunning: [] }).exitCode;
    const stopped = (action: PlanEntry['action'], outcome: Outcome): GuestReport => ({ ...pendingReport(entry(`${action}-${outcome}`, { action })), outcome });
    // A driverless HVM guest the plan marked "hard stop at once", beside a clean one: exit 0.
    expect(shutdownOf([stopped('clean-shutdown', 'clean'), stopped('hard-shutdown', 'hard-no-clean-path')])).toBe(0);
    // Planned clean, found without a clean path at its turn (paused since, or the request refused): 3.
    expect(shutdownOf([stopped('clean-shutdown', 'hard-no-clean-path')])).toBe(3);
    expect(shutdownOf([stopped('hard-shutdown', 'hard-no-clean-path'), stopped('clean-shutdown', 'hard-no-clean-path')])).toBe(3);
    // A foreseen one does not hide a timeout.
    expect(shutdownOf([stopped('hard-shutdown', 'hard-no-clean-path'), stopped('clean-shutdown', 'hard-after-timeout')])).toBe(3);
  });

  it('assembles a run report with ISO times', () => {
    const r = runReport({
      mode: 'shutdown',
      bootId: 'b',
      hostUuid: 'h',
      trigger: 'test',
      startedAt: 0,
      endedAt: 1_000,
      deadlineAt: 2_000,
      guests: withOutcomes('clean'),
      groups: [{ order: 1, startedAt: 0, endedAt: 500 }],
      leftRunning: [],
      // Instants are monotonic; the stamps are wall time: monotonic 1 000 reads 2020-01-01T00:00:10 here.
      clock: { now: () => 1_000, wallNow: () => Date.parse('2020-01-01T00:00:10.000Z') },
    });
    expect(r.startedAt).toBe('2020-01-01T00:00:09.000Z');
    expect(r.deadlineAt).toBe('2020-01-01T00:00:11.000Z');
    expect(r.groups[0]?.endedAt).toBe('2020-01-01T00:00:09.500Z');
    expect(r.exitCode).toBe(0);
  });
});
