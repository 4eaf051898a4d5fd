// guests({ throughEvents }) against the real simulator process: the plan's read IS the event cache's
// sync (one VM.get_all_records, the event loop following before the first start), never staler than
// a read begun at the call (a failing loop is waited for), unreadable records still reported with
// their problem, and a sync that cannot be made falls back to the direct read where asked to.
// Judged by the simulator's call log and its own records, not by what the product says.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { monotonicNow } from '../../src/core/clock.js';
import { ToolstackError } from '../../src/core/meanings.js';
import { silentLogger } from '../../src/log.js';
import type { Toolstack, UnreadableGuest } from '../../src/toolstack/types.js';
import { createXenApiToolstack } from '../../src/toolstack/xenapi.js';
import { rejectionOf } from '../helpers/rejection.js';
import { type SimHandle, spawnSim, until } from '../helpers/sim.js';

interface CallCounts {
  by_method: Record<string, number>;
}
interface LoggedCall {
  seq: number;
  method: string;
  outcome: string;
}

let sim: SimHandle;
const opened: Toolstack[] = [];

beforeAll(async () => {
  sim = await spawnSim({
    timeScale: 0.02,
    scenario: {
      templates: 0,
      snapshot: false,
      guests: [
        { name_label: 'te-run', power_state: 'Running' },
        { name_label: 'te-halted', power_state: 'Halted' },
        { name_label: 'te-other', power_state: 'Halted' },
      ],
    },
  });
});
afterEach(async () => {
  while (opened.length) await opened.pop()!.close();
  await sim.call('sim.inject_error', 'event.from', 0, 'INTERNAL_ERROR');
  await sim.call('sim.inject_error', 'event.inject', 0, 'INTERNAL_ERROR');
});
afterAll(async () => {
  await sim?.stop();
});

/** A toolstack whose event loop, once failing, waits 2–4 s before its next sync. */
function toolstack(): Toolstack {
  const ts = createXenApiToolstack({
    url: sim.url, user: 'root', password: '', callTimeoutMs: 10_000, eventTimeoutS: 5,
    backoff: { initialMs: 4_000, maxMs: 4_000 }, log: silentLogger(),
  });
  opened.push(ts);
  return ts;
}

const counts = async (): Promise<Record<string, number>> => ((await sim.call('sim.get_call_counts')) as CallCounts).by_method;
const added = (before: Record<string, number>, after: Record<string, number>, method: string): number => Number(after[method] ?? 0) - Number(before[method] ?? 0);
const callLog = async (since: number): Promise<LoggedCall[]> => (await sim.call('sim.get_call_log', since)) as LoggedCall[];
const lastSeq = async (): Promise<number> => (await callLog(0)).at(-1)?.seq ?? 0;

/** The simulator's own list of VM name labels (not the product's). */
async function namesAtHost(): Promise<string[]> {
  const session = await sim.login();
  const records = (await sim.call('VM.get_all_records', session)) as Record<string, { name_label: string; is_control_domain: boolean }>;
  return Object.values(records).filter((r) => !r.is_control_domain).map((r) => r.name_label).sort();
}

describe('guests({ throughEvents })', () => {
  it('reads every table once — the event cache\'s sync — and is following events before the first start', async () => {
    const expected = await namesAtHost();
    const ts = toolstack();
    const since = await lastSeq();
    const before = await counts();
    const guests = await ts.guests({ throughEvents: true });
    expect(guests.filter((g) => !g.isControlDomain).map((g) => g.name).sort()).toEqual(expected);
    const halted = guests.find((g) => g.name === 'te-halted')!;
    await ts.start(halted, { deadline: monotonicNow() + 20_000 });
    await ts.guests({ throughEvents: true }); // a synced, following cache: no read at all

    const after = await counts();
    expect(added(before, after, 'VM.get_all_records')).toBe(1);
    expect(added(before, after, 'VM_guest_metrics.get_all_records')).toBe(1);
    expect(added(before, after, 'event.inject')).toBe(1);
    const log = await callLog(since);
    const firstPoll = log.findIndex((c) => c.method === 'event.from');
    const firstStart = log.findIndex((c) => c.method === 'Async.VM.start');
    expect(firstPoll).toBeGreaterThan(log.findIndex((c) => c.method === 'VM.get_all_records'));
    expect(firstStart).toBeGreaterThan(-1);
    expect(firstPoll).toBeLessThan(firstStart);
  });

  it('waits for a failing event loop\'s next sync instead of handing out what it last heard', async () => {
    const ts = toolstack();
    const session = await sim.login();
    const [ref] = (await sim.call('VM.get_by_name_label', session, 'te-other')) as string[];
    await ts.guests({ throughEvents: true });
    // From now every event.from fails: the loop resyncs, fails again, and waits 2–4 s each time.
    await sim.call('sim.inject_error', 'event.from', 100_000, 'INTERNAL_ERROR', 'injected');
    const since = await lastSeq();
    await sim.call('VM.add_to_other_config', session, ref, 'wake', 'the-poll');
    await until('an event.from to fail', async () => (await callLog(since)).some((c) => c.method === 'event.from' && c.outcome !== 'ok'));
    // A change the loop cannot hear of any more.
    await sim.call('VM.add_to_other_config', session, ref, 'written', 'while-failing');
    const before = await counts();
    const guests = await ts.guests({ throughEvents: true });
    expect(guests.find((g) => g.name === 'te-other')?.otherConfig['written']).toBe('while-failing');
    expect(added(before, await counts(), 'VM.get_all_records')).toBeGreaterThanOrEqual(1);
  });

  it('reports a record that does not decode, with its problem, and reads every other one', async () => {
    const session = await sim.login();
    const [ref] = (await sim.call('VM.get_by_name_label', session, 'te-other')) as string[];
    await sim.call('sim.corrupt_field', 'VM', 'te-other', 'memory_static_max', 'lots');
    try {
      const ts = toolstack();
      const unreadable: UnreadableGuest[] = [];
      const before = await counts();
      const guests = await ts.guests({ throughEvents: true, onUnreadable: (g) => unreadable.push(g) });
      expect(guests.filter((g) => !g.isControlDomain).map((g) => g.name).sort()).toEqual(['te-halted', 'te-run']);
      expect(unreadable).toHaveLength(1);
      expect(unreadable[0]).toMatchObject({ ref, name: 'te-other' });
      expect(unreadable[0]!.problem).toMatch(/memory_static_max/);
      expect(added(before, await counts(), 'VM.get_all_records')).toBe(1);
    } finally {
      // A real write ends the corruption.
      await sim.call('VM.add_to_other_config', session, ref, 'mended', 'yes');
    }
  });

  it('a record that stops decoding after the sync: the stale record is dropped and the guest reported unreadable', async () => {
    const session = await sim.login();
    const [ref] = (await sim.call('VM.get_by_name_label', session, 'te-other')) as string[];
    const [bystander] = (await sim.call('VM.get_by_name_label', session, 'te-run')) as string[];
    const ts = toolstack();
    await ts.guests({ throughEvents: true });
    const before = await counts();
    /**
     * Two event.from arrivals after `since`, each prompted by a write to another guest: a poll that
     * arrives after a change is answered after it, and the next arrival shows that answer applied.
     */
    const twoPollsAfter = async (since: number, what: string): Promise<void> => {
      for (const step of ['an', 'the next']) {
        await sim.call('VM.add_to_other_config', session, bystander, `nudge-${since}`, what);
        await until(`${step} event.from after ${what}`, async () => (await callLog(since)).some((c) => c.method === 'event.from'));
        since = (await callLog(since)).find((c) => c.method === 'event.from')!.seq;
      }
    };
    const beforeCorruption = await lastSeq();
    await sim.call('sim.corrupt_field', 'VM', 'te-other', 'memory_static_max', 'lots');
    try {
      await twoPollsAfter(beforeCorruption, 'the corruption');
      const unreadable: UnreadableGuest[] = [];
      const guests = await ts.guests({ throughEvents: true, onUnreadable: (g) => unreadable.push(g) });
      expect(guests.filter((g) => !g.isControlDomain).map((g) => g.name).sort()).toEqual(['te-halted', 'te-run']);
      expect(unreadable).toHaveLength(1);
      expect(unreadable[0]).toMatchObject({ ref, name: 'te-other' });
      expect(unreadable[0]!.problem).toMatch(/memory_static_max/);
      // Two more batches: the cache plus its unreadable records still match xapi's valid_ref_counts,
      // so no resync was needed; the answer came from the events alone.
      await twoPollsAfter(await lastSeq(), 'the read');
      await twoPollsAfter(await lastSeq(), 'two more batches');
      expect(added(before, await counts(), 'VM.get_all_records')).toBe(0);
    } finally {
      await sim.call('VM.add_to_other_config', session, ref, 'mended-after-events', 'yes');
    }
  });

  it('a sync that cannot be made: fails without residentFallback, reads directly with it', async () => {
    await sim.call('sim.inject_error', 'event.inject', 100_000, 'INTERNAL_ERROR', 'injected');
    const failing = await rejectionOf(toolstack().guests({ throughEvents: true }), ToolstackError);
    expect(failing.code).toBe('INTERNAL_ERROR');
    const expected = await namesAtHost();
    const ts = toolstack();
    const before = await counts();
    const guests = await ts.guests({ throughEvents: true, residentFallback: true });
    expect(guests.filter((g) => !g.isControlDomain).map((g) => g.name).sort()).toEqual(expected);
    expect(added(before, await counts(), 'VM.get_all_records')).toBe(1);
  });
});
