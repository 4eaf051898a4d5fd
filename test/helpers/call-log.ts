// The simulator's call log (what reached the host, in order of arrival): the independent witness of
// how many reads a run cost and whether the event loop was waiting before the first action.

import { expect } from 'vitest';

export interface LoggedCall {
  seq: number;
  method: string;
  outcome: string;
}

type Call = (method: string, ...params: unknown[]) => Promise<unknown>;

/** Every call the simulator logged (sim.* calls are not logged). */
export async function callLog(call: Call): Promise<LoggedCall[]> {
  return (await call('sim.get_call_log', 0)) as LoggedCall[];
}

export const isStart = (method: string): boolean => method === 'Async.VM.start' || method === 'Async.VM.start_on';
export const isCleanStop = (method: string): boolean => method === 'Async.VM.clean_shutdown';

/**
 * Before the first call `isAction` names, `calls` read the VM and guest-metrics tables exactly once
 * each, and an event.from reached the host after that read (the event cache's sync) and before it.
 */
export function expectOneReadThenEvents(calls: LoggedCall[], isAction: (method: string) => boolean): void {
  const first = calls.findIndex((c) => isAction(c.method));
  expect(first, 'the first action').toBeGreaterThan(-1);
  const before = calls.slice(0, first);
  const times = (method: string) => before.filter((c) => c.method === method).length;
  expect(times('VM.get_all_records')).toBe(1);
  expect(times('VM_guest_metrics.get_all_records')).toBe(1);
  const read = before.findIndex((c) => c.method === 'VM.get_all_records');
  expect(before.findIndex((c, i) => i > read && c.method === 'event.from'), 'an event.from after the read').toBeGreaterThan(read);
}
