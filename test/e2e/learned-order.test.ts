// The second night: stop-all and start-all run twice against the real simulator process, one guest
// at a time. The first runs go by name, so the guest whose clean shutdown hangs is asked last and the
// guest with a long VM.start_delay is started last; the second runs ask each of them first, because
// the last report of the same kind says they took longest. Judged from the simulator's own timeline
// (when it received each request), not from our report. Last, the daemon itself, at host boot and
// host shutdown, plans from the same reports.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSim, type SimHandle } from '../helpers/sim.js';
import { runCli } from '../cli/run-cli.js';
import { makeBootIdFile, spawnDaemon } from '../helpers/daemon.js';
import { timelines } from './timeline.js';

const enabled = { auto_poweron: 'true' };
/** One order group; by name the two slow guests come last. */
const SCENARIO = {
  guests: [
    { name_label: 'a', power_state: 'Running', other_config: enabled },
    { name_label: 'b', power_state: 'Running', other_config: enabled },
    { name_label: 'c', power_state: 'Running', other_config: enabled },
    // 100 simulated seconds of VM.start_delay: 1 s of real time at the time scale 0.01.
    { name_label: 'y-slow-start', power_state: 'Running', start_delay: 100, other_config: enabled },
    // Never answers its clean request: hard-stopped after its 1 s clean timeout.
    { name_label: 'z-hung', power_state: 'Running', other_config: { ...enabled, 'xen-guests:shutdown_timeout': '1' }, behaviour: { shutdown: 'hung' } },
  ],
};

const CONFIG = `
[boot]
parallelism = 1
ready_timeout = 30
[shutdown]
parallelism = 1
deadline = 60
hard_reserve = 10
guest_timeout = 20
`;

const NAMES = ['a', 'b', 'c', 'y-slow-start', 'z-hung'];

let sim: SimHandle;
let dir: string;
let args: string[];
/** The shutdown order `plan` showed before the second stop-all. */
let plannedBefore: string[] = [];

function xg(...rest: string[]) {
  return runCli([...rest, ...args], { timeoutMs: 90_000 });
}

/** The guests in the order the simulator received their `op` requests in the n-th run (1-based). */
async function requestOrder(op: 'clean_shutdown' | 'start', run: number): Promise<string[]> {
  const all = await timelines(sim);
  const at = NAMES.map((name) => {
    const requests = all.get(name)!.events.filter((e) => e.event === `${op} requested`);
    expect(requests.length, `${name}: ${op} requests so far`).toBe(run);
    return [name, requests[run - 1]!.at] as const;
  });
  return [...at].sort((x, y) => x[1] - y[1]).map(([name]) => name);
}

beforeAll(async () => {
  sim = await spawnSim({ scenario: SCENARIO, timeScale: 0.01 });
  dir = await mkdtemp(join(tmpdir(), 'xg-learn-'));
  await writeFile(join(dir, 'config.toml'), CONFIG);
  args = ['--xapi', sim.url, '--state-dir', join(dir, 'state'), '--config', join(dir, 'config.toml')];
});

afterAll(async () => {
  await sim?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('longest first within a group, learned from the last run', () => {
  it('first stop-all: nothing to learn from, name order; the hung guest is asked last', async () => {
    const dry = JSON.parse((await xg('plan', 'shutdown', '--json')).stdout);
    expect(dry.withinGroup).toEqual({ rule: 'longest-first', lastRun: null });
    expect((await xg('stop-all')).code).toBe(3); // z-hung: hard stop after its clean timeout
    expect(await requestOrder('clean_shutdown', 1)).toEqual(NAMES);
  });

  it('first start-all: name order; the guest with the long start_delay is started last', async () => {
    expect((await xg('start-all')).code).toBe(0);
    expect(await requestOrder('start', 1)).toEqual(NAMES);
  });

  it('plan shows why: the hung guest first, with the time it took last time', async () => {
    const r = await xg('plan', 'shutdown');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Within each group: longest first, by how long each guest took from its request to halted in the last shutdown');
    expect(r.stdout).toMatch(/^ +z-hung +[0-9a-f]{8} +clean-shutdown +1s +\d+\.\ds hard-after-timeout/m);
    const plan = JSON.parse((await xg('plan', 'shutdown', '--json')).stdout);
    expect(plan.groups[0].entries[0].guest.name).toBe('z-hung');
    plannedBefore = plan.groups[0].entries.map((e: { guest: { name: string } }) => e.guest.name);
    expect(plan.groups[0].entries[0].lastRun.outcome).toBe('hard-after-timeout');
  });

  it('second stop-all: the guest that hung last time is asked first', async () => {
    expect((await xg('stop-all')).code).toBe(3);
    const order = await requestOrder('clean_shutdown', 2);
    expect(order[0]).toBe('z-hung');
    expect(order.slice(1).sort()).toEqual(['a', 'b', 'c', 'y-slow-start']);
    // The order the plan showed before the run is the order the simulator received.
    expect(order).toEqual(plannedBefore);
  });

  it('second start-all: the guest whose start took longest last time is started first', async () => {
    expect((await xg('start-all')).code).toBe(0);
    const order = await requestOrder('start', 2);
    expect(order[0]).toBe('y-slow-start');
  });

  it('with shutdown.order_within_group = name the third stop-all goes by name again', async () => {
    await writeFile(join(dir, 'config.toml'), CONFIG.replace('[shutdown]\n', '[shutdown]\norder_within_group = "name"\n'));
    expect((await xg('stop-all')).code).toBe(3);
    expect(await requestOrder('clean_shutdown', 3)).toEqual(NAMES);
  });

  it('the daemon learns from the same reports: at host boot the slow starter first, at host shutdown the hung guest first', async () => {
    await writeFile(join(dir, 'config.toml'), CONFIG);
    const bootIdFile = await makeBootIdFile(dir); // its runtime directory goes beside it, removed with dir
    const d = await spawnDaemon({ xapi: sim.url, stateDir: join(dir, 'state'), configToml: CONFIG, onSigterm: 'stop-guests', bootIdFile });
    try {
      await d.waitForLog((l) => l.msg === 'ready; waiting for a stop', 60_000);
      expect((await requestOrder('start', 3))[0]).toBe('y-slow-start');
      d.signal('SIGTERM');
      await d.exited;
      expect((await requestOrder('clean_shutdown', 4))[0]).toBe('z-hung');
    } finally {
      await d.stop();
    }
  });
});
