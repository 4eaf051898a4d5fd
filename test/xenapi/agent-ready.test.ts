// ready = agent is met only when the guest agent wrote something, not when xapi marked the guest
// metrics live: real xapi creates VM_guest_metrics with live = true and empty maps at every start
// (recorded: shared/xapi-traces 03, issue 12), and the simulator now does the same.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deadlineIn } from '../../src/core/clock.js';
import { readinessHolds } from '../../src/engine/ready.js';
import { silentLogger } from '../../src/log.js';
import type { Guest, Toolstack } from '../../src/toolstack/types.js';
import { createXenApiToolstack } from '../../src/toolstack/xenapi.js';
import { type SimHandle, spawnSim } from '../helpers/sim.js';

const SCENARIO = {
  templates: 0,
  snapshot: false,
  guests: [
    // An HVM guest without PV drivers or agent: xapi still gives it a live, empty guest-metrics record.
    { name_label: 'silent', power_state: 'Halted', domain_type: 'hvm', behaviour: { boot_s: 1, pv: false, agent_s: 'none' } },
    // A PV guest whose agent reports 3 simulated seconds after the start.
    { name_label: 'talker', power_state: 'Halted', domain_type: 'pv', behaviour: { boot_s: 1, agent_s: 3 } },
    // Runs once with its agent, is shut down, and is started again with the guest-metrics swap held.
    { name_label: 'returner', power_state: 'Halted', domain_type: 'pv', behaviour: { boot_s: 1, agent_s: 2 } },
  ],
};

// Deadlines are monotonic ms (src/core/clock.ts), never wall time.
const soon = (ms = 30_000) => ({ deadline: deadlineIn(ms) });

describe('ready = agent against xapi-shaped guest metrics', () => {
  let sim: SimHandle;
  let ts: Toolstack;
  let dir: string;

  beforeAll(async () => {
    sim = await spawnSim({ scenario: SCENARIO, unix: true });
    dir = mkdtempSync(join(tmpdir(), 'xg-agent-'));
    ts = createXenApiToolstack({ protocol: 'xml-rpc', url: `unix:${sim.socketPath}`, user: 'root', password: '', callTimeoutMs: 10_000, log: silentLogger(), inventoryPath: join(dir, 'none'), eventTimeoutS: 5 });
  });
  afterAll(async () => {
    await ts?.close();
    await sim?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('does not count a live but empty guest-metrics record as the agent reporting', async () => {
    const guests = await ts.guests();
    const silent = guests.find((g) => g.name === 'silent')!;
    const talker = guests.find((g) => g.name === 'talker')!;
    await ts.start(silent, soon());
    await ts.start(talker, soon());
    const agent = readinessHolds({ kind: 'agent' });
    const talking = await ts.waitFor(talker.uuid, agent, soon());
    expect(typeof talking).toBe('object');

    // By now the silent guest has run for longer than the talker; xapi's record for it is live and empty.
    const s = await sim.login();
    const vm = ((await sim.call('VM.get_by_name_label', s, 'silent')) as string[])[0]!;
    const gmRef = (await sim.call('VM.get_guest_metrics', s, vm)) as string;
    const gm = (await sim.call('VM_guest_metrics.get_record', s, gmRef)) as Record<string, unknown>;
    expect(gm).toMatchObject({ live: true, os_version: {}, PV_drivers_version: {} });

    const seen = (await ts.guests()).find((g) => g.name === 'silent') as Guest;
    expect(seen.powerState).toBe('Running');
    expect(readinessHolds({ kind: 'running' })(seen)).toBe(true);
    expect(seen.tools.agentLive).toBe(false);
    expect(agent(seen)).toBe(false);
  });

  // Review A8: a halted VM keeps its last run's guest metrics (live, with what that run's agent
  // wrote); xapi replaces them at the next start, and the Running state may reach us first. The
  // simulator holds that swap (behaviour metrics_swap = held) until sim.swap_guest_metrics.
  it('does not count the last run\'s agent record after a start; counts the agent once this run\'s record shows it', async () => {
    const s = await sim.login();
    const vm = ((await sim.call('VM.get_by_name_label', s, 'returner')) as string[])[0]!;
    const uuid = (await sim.call('VM.get_uuid', s, vm)) as string;
    const first = (await ts.guests()).find((g) => g.uuid === uuid)!;
    await ts.start(first, soon());
    expect(typeof (await ts.waitFor(uuid, readinessHolds({ kind: 'agent' }, first), soon()))).toBe('object');
    await sim.call('VM.hard_shutdown', s, vm);
    const lastRuns = (await sim.call('VM.get_guest_metrics', s, vm)) as string;
    expect(await sim.call('VM_guest_metrics.get_record', s, lastRuns)).toMatchObject({ live: true, PV_drivers_version: { major: expect.any(String) } });
    await sim.call('VM.add_to_other_config', s, vm, 'xen-guests-sim:metrics_swap', 'held');

    const before = (await ts.waitFor(uuid, (g) => g.powerState === 'Halted', soon())) as Guest;
    expect(before.tools.agentLive).toBe(true);
    const ready = readinessHolds({ kind: 'agent' }, before);
    await ts.start(before, soon());
    let settled = false;
    const waiting = ts.waitFor(uuid, ready, soon(60_000)).finally(() => (settled = true));

    // Running, and still the last run's record with its agent facts: the race, made to hold.
    const running = (await ts.waitFor(uuid, (g) => g.powerState === 'Running', soon())) as Guest;
    expect(await sim.call('VM.get_guest_metrics', s, vm)).toBe(lastRuns);
    expect(running.tools.agentLive).toBe(true);
    expect(readinessHolds({ kind: 'agent' })(running)).toBe(true);
    expect(ready(running)).toBe(false);
    // Nothing changes while the swap is held: the wait for this run's agent is still open.
    expect(settled).toBe(false);

    await sim.call('sim.swap_guest_metrics', vm);
    const done = await waiting;
    expect(typeof done).toBe('object');
    const thisRuns = (await sim.call('VM.get_guest_metrics', s, vm)) as string;
    expect(thisRuns).not.toBe(lastRuns);
    expect((done as Guest).tools.agentLive).toBe(true);
    const events = ((await sim.call('sim.get_timeline', vm)) as Record<string, { events: { event: string; t_ms: number | string }[] }>)[vm]!.events;
    const last = (name: string) => Number(events.filter((e) => e.event === name).at(-1)!.t_ms);
    // The agent that made it ready wrote after this run's record appeared, which came after Running.
    expect(last('running')).toBeLessThanOrEqual(last('guest metrics replaced'));
    expect(last('guest metrics replaced')).toBeLessThanOrEqual(last('agent live'));
    expect(await sim.call('VM_guest_metrics.get_record', s, thisRuns)).toMatchObject({ live: true, PV_drivers_version: { major: expect.any(String) } });
  });

  it('sim.swap_guest_metrics refuses a guest whose start holds no swap, naming it', async () => {
    await expect(sim.call('sim.swap_guest_metrics', 'silent')).rejects.toMatchObject({ code: 'INVALID_VALUE', params: ['vm', 'silent', expect.stringContaining('metrics_swap = held')] });
  });
});
