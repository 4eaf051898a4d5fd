// Records for the pure renderers' tests, shaped like what the toolstack, the planner and the engine
// produce. Builders take overrides so each test states only what it is about.

import type { GuestReport, Outcome, Plan, PlanEntry, RunReport } from '../../src/core/types.js';
import type { Guest } from '../../src/toolstack/types.js';
import { makeGuest } from '../helpers/guest.js';
import { countOutcomes } from '../../src/engine/report.js';

let counter = 0;
export function uuid(n = ++counter): string {
  return `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
}

export function guest(over: Partial<Guest> = {}): Guest {
  return makeGuest({ name: 'vm', memoryRequired: 1 << 30, memoryMax: 1 << 30, ...over, uuid: over.uuid ?? uuid() });
}

export function entry(name: string, over: Partial<PlanEntry> = {}): PlanEntry {
  const id = uuid();
  return {
    guest: { uuid: id, name, ref: `OpaqueRef:${id}` },
    action: 'start',
    order: 0,
    timeout: 120,
    ready: { kind: 'running' },
    startDelay: 0,
    reason: null,
    skipCode: null,
    memoryRequired: 1 << 30,
    powerState: 'Halted',
    ...over,
  };
}

export function allOutcomes(counts: Partial<Record<Outcome, number>> = {}): Record<Outcome, number> {
  return { ...countOutcomes([]), ...counts };
}

const T0 = Date.parse('2024-05-01T10:00:00.000Z');
export const at = (seconds: number): string => new Date(T0 + seconds * 1000).toISOString();

export function guestReport(name: string, over: Partial<GuestReport> = {}): GuestReport {
  const id = uuid();
  return {
    guest: { uuid: id, name, ref: `OpaqueRef:${id}` },
    order: 0,
    action: 'clean-shutdown',
    outcome: 'clean',
    reason: null,
    startedAt: at(0),
    phase1EndAt: at(0.1),
    phase2At: null,
    endedAt: at(5),
    errors: [],
    ...over,
  };
}

export function shutdownReport(guests: GuestReport[], over: Partial<RunReport> = {}): RunReport {
  const totals = allOutcomes();
  for (const g of guests) totals[g.outcome]++;
  return {
    mode: 'shutdown',
    bootId: 'b00t',
    hostUuid: uuid(),
    startedAt: at(0),
    endedAt: at(40),
    deadlineAt: at(60),
    trigger: 'stop-all (by hand)',
    guests,
    groups: [...new Set(guests.map((g) => g.order))].map((order) => ({ order, startedAt: at(order === 0 ? 20 : 0), endedAt: at(order === 0 ? 40 : 20) })),
    totals,
    exitCode: guests.some((g) => g.outcome.startsWith('hard-after') || g.outcome === 'failed') ? 1 : 0,
    leftRunning: [],
    ...over,
  };
}

export function samplePlan(over: Partial<Plan> = {}): Plan {
  const groups = [
    { order: 0, entries: [entry('db', { timeout: 300, ready: { kind: 'vm-data', key: 'ready' } })] },
    { order: 10, entries: [entry('web-1'), entry('web-2', { ready: { kind: 'agent' } })] },
  ];
  const skipped = [
    entry('old', { action: 'skip', skipCode: 'maintenance', reason: 'maintenance: disk swap (since 2024-05-01T09:00:00Z by root@h1)' }),
    entry('img', { action: 'skip', skipCode: 'suspended-needs-admin', reason: 'suspended: resume or discard it by hand', powerState: 'Suspended' }),
  ];
  return {
    mode: 'boot',
    hostUuid: uuid(),
    groups,
    skipped,
    warnings: [{ guest: skipped[0]!.guest, message: 'xen-guests:on_stop=suspend is refused; treated as shutdown' }],
    totals: { guests: 5, acting: 3, skipped: 2, notGuests: 0, groups: 2 },
    budget: null,
    ...over,
  };
}
