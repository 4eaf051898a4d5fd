// Per-record decoding against the real simulator process: a record with a field of the wrong type
// (sim.corrupt_field) is left out of a read and reported with its ref and field, every other record
// is read, the event cache still syncs, and the corruption lasts only until the next real write.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deadlineIn } from '../../src/core/clock.js';
import { silentLogger } from '../../src/log.js';
import { createXenApiToolstack } from '../../src/toolstack/xenapi.js';
import type { Toolstack, UnreadableGuest } from '../../src/toolstack/types.js';
import { createXenApiClient, type UnreadableRecord } from '../../src/xenapi/index.js';
import { type SimHandle, spawnSim } from '../helpers/sim.js';

let sim: SimHandle;
let toolstack: Toolstack;

beforeAll(async () => {
  sim = await spawnSim({
    timeScale: 0.02,
    scenario: {
      guests: [
        { name_label: 'fine', power_state: 'Running' },
        { name_label: 'bad', power_state: 'Running' },
        { name_label: 'also-fine', power_state: 'Halted' },
      ],
    },
  });
  toolstack = createXenApiToolstack({ url: sim.url, user: 'root', password: '', callTimeoutMs: 10_000, log: silentLogger() });
});
afterAll(async () => {
  await toolstack?.close();
  await sim?.stop();
});

async function refOf(name: string): Promise<string> {
  const session = await sim.login();
  return ((await sim.call('VM.get_by_name_label', session, name)) as string[])[0]!;
}

describe('a malformed VM record', () => {
  it('is left out of guests() with its ref and field; the others are read', async () => {
    const ref = await refOf('bad');
    await sim.call('sim.corrupt_field', 'VM', 'bad', 'power_state', 42);
    const unreadable: UnreadableGuest[] = [];
    const guests = await toolstack.guests({ onUnreadable: (g) => unreadable.push(g) });
    expect(guests.filter((g) => !g.isTemplate && !g.isSnapshot && !g.isControlDomain).map((g) => g.name).sort()).toEqual(['also-fine', 'fine']);
    expect(unreadable).toHaveLength(1);
    expect(unreadable[0]).toMatchObject({ ref, name: 'bad' });
    expect(unreadable[0]!.problem).toMatch(new RegExp(`^${ref}\\.power_state: expected one of Halted\\|Paused\\|Running\\|Suspended, got "?42`));
  });

  it('does not keep the event cache from syncing, even when every get_all_records fails', async () => {
    await sim.call('sim.inject_error', 'VM.get_all_records', 1000, 'INTERNAL_ERROR', 'injected');
    const client = createXenApiClient({ url: sim.url, user: 'root', password: '', callTimeoutMs: 10_000, eventClasses: ['vm'] });
    try {
      const seen = await client.events.waitFor((view) => (view.find('vm', (v) => v.nameLabel === 'fine') ? true : undefined), { deadline: deadlineIn(20_000) });
      expect(seen).toBe(true);
      expect(client.events.find('vm', (v) => v.nameLabel === 'bad')).toBeUndefined();
    } finally {
      await client.close();
      await sim.call('sim.inject_error', 'VM.get_all_records', 0, 'INTERNAL_ERROR');
    }
  });

  it('reads again after the next real write to it', async () => {
    const session = await sim.login();
    await sim.call('VM.add_to_other_config', session, await refOf('bad'), 'touched', 'yes');
    const bad: UnreadableRecord[] = [];
    const client = createXenApiClient({ url: sim.url, user: 'root', password: '' });
    try {
      const vms = await client.getAllRecords('vm', { onUnreadable: (r) => bad.push(r) });
      expect(bad).toEqual([]);
      expect([...vms.values()].find((v) => v.nameLabel === 'bad')?.powerState).toBe('Running');
    } finally {
      await client.close();
    }
  });
});
