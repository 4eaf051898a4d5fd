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
});
