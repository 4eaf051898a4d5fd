// A hard stop outlives a toolstack restart (xenopsd finishes what it began) and xenopsd runs one
// operation per VM at a time: a hard stop asked after the restart, while the first is still
// destroying the domain, waits for it and then finds the guest halted — the guest halts once.
// Judged by the real simulator process's timeline.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { restartToolstack, spawnSim, until, type SimHandle } from '../helpers/sim.js';
import { buildSim } from '../../src/sim/build.js';
import { hardShutdown } from '../../src/sim/lifecycle.js';
import { parseScenario } from '../../src/sim/scenario.js';
import { createTask } from '../../src/sim/tasks.js';

let sim: SimHandle;

beforeAll(async () => {
  // Destroying a domain takes 3 s real (300 simulated s at 0.01): the second request lands inside it.
  sim = await spawnSim({ timeScale: 0.01, scenario: { xapi: { domain_destroy_s: 300 }, guests: [{ name_label: 'g', power_state: 'Running', domain_type: 'pv' }] } });
});
afterAll(async () => {
  await sim?.stop();
});

it('a hard stop asked while a restart-surviving one destroys the domain waits for it; the guest halts once', async () => {
  const session = await sim.login();
  const [vm] = (await sim.call('VM.get_by_name_label', session, 'g')) as string[];
  await sim.call('sim.hold_hard_stops');
  await sim.call('Async.VM.hard_shutdown', session, vm);
  const events = async (): Promise<string[]> => ((await sim.timeline(vm))[vm!]?.events ?? []).map((e) => e.event);
  await until('the first hard stop held', async () => (await events()).includes('hard stop held'));
  await restartToolstack(sim.call, 0);

  const fresh = await sim.login();
  const second = String(await sim.call('Async.VM.hard_shutdown', fresh, vm));
  const status = await until('the second hard stop finished', async () => {
    const s = String(await sim.call('task.get_status', fresh, second));
    return s === 'pending' ? undefined : s;
  });
  expect(status).toBe('success');
  const timeline = await events();
  // The second request came while the first was still destroying the domain: after the restart, before the halt.
  const secondAsked = timeline.lastIndexOf('hard_shutdown requested');
  expect(secondAsked, timeline.join(' → ')).toBeGreaterThan(timeline.indexOf('toolstack restarted'));
  expect(secondAsked, timeline.join(' → ')).toBeLessThan(timeline.indexOf('halted'));
  expect(timeline.filter((e) => e === 'halted'), timeline.join(' → ')).toHaveLength(1);
  expect(await sim.call('VM.get_power_state', fresh, vm)).toBe('Halted');
});

// The same race with no prior destruction to wait behind: two hard stops of one running VM reach the
// domain destruction in the same tick — a restart cleared current_operations between them, so both
// were admitted. The simulator runs in this process here, as only then can the two land in one tick;
// its own timeline is the judge.
it('two hard stops admitted in the same tick (a restart cleared current_operations between them) halt the guest once', async () => {
  const local = buildSim({
    scenario: parseScenario({ guests: [{ name_label: 'g', power_state: 'Running', domain_type: 'pv' }] }),
    guests: 0, seed: 1, timeScale: 0.001, user: 'root', password: '', log: () => {},
  });
  try {
    const [vm] = [...local.db.table('VM')].filter(([, row]) => row.record.name_label === 'g').map(([ref]) => ref);
    const first = hardShutdown(local, createTask(local, 'VM.hard_shutdown', false), vm!);
    // What a toolstack restart does to the VM's record (forgetVolatileState), in the same tick.
    local.db.update('VM', vm!, { current_operations: {} });
    const second = hardShutdown(local, createTask(local, 'VM.hard_shutdown', false), vm!);
    await Promise.all([first, second]);
    const events = (local.timeline.get(vm!) ?? []).map((e) => e.event);
    expect(events.filter((e) => e === 'hard_shutdown requested'), events.join(' → ')).toHaveLength(2);
    expect(events.filter((e) => e === 'halted'), events.join(' → ')).toHaveLength(1);
    expect(local.db.get('VM', vm!)?.power_state).toBe('Halted');
  } finally {
    local.clock.stopAll();
  }
});
