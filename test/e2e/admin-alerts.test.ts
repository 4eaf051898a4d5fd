// Issue 14, item 5 for the commands an admin runs by hand: `start-all` and `stop-all` write the
// same XenAPI messages as the daemon (a failed start, a guest hard-stopped after its timeout), named
// as the command's, bounded per run, never holding up a stop, and none with `alerts = false`. The
// real CLI process against the real simulator process; the messages are read back from the
// simulator with message.get_all_records, the guests' fate from VM.get_power_state.

import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnSim, type SimHandle } from '../helpers/sim.js';
import { BIN, makeTempDir } from '../helpers/daemon.js';
import { runCli, type CliResult } from '../cli/run-cli.js';
import type { RunReport } from '../../src/core/types.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

beforeAll(() => readFile(BIN).then(() => undefined));

const on = { auto_poweron: 'true' };
const CONFIG = `
[boot]
parallelism = 8
ready_timeout = 30
[shutdown]
parallelism = 4
guest_timeout = 20
deadline = 60
hard_reserve = 10
`;

interface Message {
  name: string;
  priority: string;
  cls: string;
  obj_uuid: string;
  body: string;
}

interface Setup {
  sim: SimHandle;
  session: string;
  /** Runs the command against the simulator with this setup's config and state directory. */
  xg(...args: string[]): Promise<CliResult>;
  report(mode: 'boot' | 'shutdown'): Promise<RunReport>;
  /** Our messages only: xapi itself posts VM_STARTED and the like. */
  ours(): Promise<Message[]>;
  uuidOf(name: string): Promise<string>;
}

async function setup(guests: object[], config = CONFIG): Promise<Setup> {
  const sim = await spawnSim({ timeScale: 0.02, scenario: { guests, templates: 0, snapshot: false, hosts: [{ name_label: 'host-a', memory_mib: 262144 }] } });
  cleanups.push(() => sim.stop());
  const dir = await makeTempDir('xg-admin-alerts-');
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const configFile = join(dir, 'config.toml');
  await writeFile(configFile, config);
  const stateDir = join(dir, 'state');
  const session = await sim.login();
  return {
    sim,
    session,
    xg: (...args) => runCli([...args, '--xapi', sim.url, '--state-dir', stateDir, '--config', configFile], { timeoutMs: 90_000 }),
    report: async (mode) => JSON.parse(await readFile(join(stateDir, `report-${mode}.json`), 'utf8')) as RunReport,
    ours: async () =>
      Object.values((await sim.call('message.get_all_records', session)) as Record<string, Message>).filter((m) => m.name.startsWith('XEN_GUESTS_')),
    uuidOf: async (name) => {
      const [ref] = (await sim.call('VM.get_by_name_label', session, name)) as string[];
      return String(await sim.call('VM.get_uuid', session, ref));
    },
  };
}

const hung = (name: string) => ({ name_label: name, power_state: 'Running', other_config: { ...on, 'xen-guests:shutdown_timeout': '3' }, behaviour: { shutdown: 'hung' } });

describe('alerts from start-all and stop-all', () => {
  it('start-all: one VM message per failed start naming the command, at most 20, the rest folded and counted', async () => {
    const failing = Array.from({ length: 23 }, (_, i) => ({ name_label: `bad-${String(i).padStart(2, '0')}`, other_config: on, behaviour: { start_error: 'VM_BOOT_FAILED' } }));
    const s = await setup([...failing, { name_label: 'good', other_config: on }]);
    const run = await s.xg('start-all');
    expect(run.code, run.stderr).toBe(1);

    const badUuids = new Set(await Promise.all(failing.map((g) => s.uuidOf(g.name_label))));
    const ours = await s.ours();
    const startFailed = ours.filter((m) => m.name === 'XEN_GUESTS_START_FAILED');
    expect(startFailed).toHaveLength(20);
    expect(startFailed.every((m) => m.cls === 'VM' && badUuids.has(m.obj_uuid))).toBe(true);
    expect(new Set(startFailed.map((m) => m.obj_uuid)).size).toBe(20);
    // Said as what happened: the admin's command, not a host boot.
    expect(startFailed[0]!.body).toMatch(/guest "bad-\d\d" was not started by `xen-guests start-all` \(run by [^)]+\) \(.*VM_BOOT_FAILED/);
    const folded = ours.filter((m) => m.name === 'XEN_GUESTS_ALERTS_FOLDED');
    expect(folded).toHaveLength(1);
    expect(folded[0]!.cls).toBe('Host');
    expect(folded[0]!.body).toContain('3 more alerts of this `xen-guests start-all` run');
    expect(ours).toHaveLength(21);
    // The good guest runs: the alerts held nothing up.
    const [goodRef] = (await s.sim.call('VM.get_by_name_label', s.session, 'good')) as string[];
    expect(await s.sim.call('VM.get_power_state', s.session, goodRef)).toBe('Running');

    expect((await s.report('boot')).alerts).toEqual({ sent: 21, folded: 3, failed: 0 });
    expect(run.stdout).toContain('Alerts: 21 written as XenAPI messages (Xen Orchestra / XenCenter), 3 more folded into one summary message');
  });

  it('stop-all: a guest hard-stopped after its timeout gets a VM message; message.create failing never holds up the stop', async () => {
    const s = await setup([hung('hung-1'), hung('hung-2'), { name_label: 'fine', power_state: 'Running', other_config: on }]);
    // The first message.create fails, as when xapi's database is read-only for a moment.
    await s.sim.call('sim.inject_error', 'message.create', 1, 'INTERNAL_ERROR', 'database is read-only');
    const run = await s.xg('stop-all');
    expect(run.code, run.stderr).toBe(3);

    for (const name of ['hung-1', 'hung-2', 'fine']) {
      const [ref] = (await s.sim.call('VM.get_by_name_label', s.session, name)) as string[];
      expect(await s.sim.call('VM.get_power_state', s.session, ref), name).toBe('Halted');
    }
    const report = await s.report('shutdown');
    expect(report.guests.filter((g) => g.guest.name.startsWith('hung')).map((g) => g.outcome)).toEqual(['hard-after-timeout', 'hard-after-timeout']);
    expect(report.alerts).toEqual({ sent: 1, folded: 0, failed: 1 });
    const ours = await s.ours();
    expect(ours.map((m) => m.name)).toEqual(['XEN_GUESTS_HARD_STOPPED']);
    expect(ours[0]!.cls).toBe('VM');
    expect([await s.uuidOf('hung-1'), await s.uuidOf('hung-2')]).toContain(ours[0]!.obj_uuid);
    expect(ours[0]!.body).toMatch(/guest "hung-[12]" was powered off \(hard\) by `xen-guests stop-all` \(run by [^)]+\) after its clean shutdown did not finish in time/);
  });

  it('alerts = false: neither command writes a message', async () => {
    const s = await setup([{ name_label: 'bad', other_config: on, behaviour: { start_error: 'VM_BOOT_FAILED' } }, hung('hung')], `alerts = false\n${CONFIG}`);
    expect((await s.xg('start-all')).code).toBe(1);
    expect((await s.xg('stop-all')).code).toBe(3);
    expect((await s.report('boot')).guests.find((g) => g.guest.name === 'bad')?.outcome).toBe('start-failed');
    expect((await s.report('shutdown')).guests.find((g) => g.guest.name === 'hung')?.outcome).toBe('hard-after-timeout');
    expect((await s.report('boot')).alerts).toBeUndefined();
    expect((await s.report('shutdown')).alerts).toBeUndefined();
    expect(await s.ours()).toEqual([]);
  });
});
