// Issue 14, slice "pool-admin", end to end: the real daemon and CLI against the real simulator over
// loopback XML-RPC. Host maintenance mode, HA-owned guests, and alerts written as XenAPI messages
// (by the daemon, and by start-all / stop-all run by hand) — each judged by the simulator (its per-VM timeline, its message table, VM power states), not by
// what the product says of itself.

import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnSim, type SimHandle } from '../helpers/sim.js';
import { makeBootIdFile, makeTempDir, spawnDaemon, type RunningDaemon } from '../helpers/daemon.js';
import { runCli } from '../cli/run-cli.js';
import { count, timelines } from './timeline.js';
import type { RunReport } from '../../src/core/types.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

beforeAll(() => readFile(join(import.meta.dirname, '../../dist/src/cli/bin.js')).then(() => undefined));

interface SimOptions {
  poolOtherConfig?: Record<string, string>;
}

async function sim(guests: object[], o: SimOptions = {}): Promise<SimHandle> {
  const s = await spawnSim({
    timeScale: 0.02,
    scenario: {
      guests,
      templates: 0,
      snapshot: false,
      pool: { name_label: 'pool', other_config: o.poolOtherConfig ?? {} },
      hosts: [{ name_label: 'host-a', memory_mib: 262144 }],
    },
  });
  cleanups.push(() => s.stop());
  return s;
}

const CONFIG = `
[boot]
parallelism = 4
ready_timeout = 30
[shutdown]
parallelism = 4
guest_timeout = 20
deadline = 60
hard_reserve = 10
`;

async function daemon(s: SimHandle, stateDir: string, configToml = CONFIG): Promise<RunningDaemon> {
  const d = await spawnDaemon({ xapi: s.url, stateDir, configToml, onSigterm: 'stop-guests', bootIdFile: await makeBootIdFile(await makeTempDir()) });
  cleanups.push(() => d.stop());
  return d;
}

async function readReport(stateDir: string, mode: 'boot' | 'shutdown'): Promise<RunReport> {
  return JSON.parse(await readFile(join(stateDir, `report-${mode}.json`), 'utf8')) as RunReport;
}

interface Message {
  name: string;
  priority: string;
  cls: string;
  obj_uuid: string;
  body: string;
}

async function messages(s: SimHandle): Promise<Message[]> {
  const session = await s.login();
  return Object.values((await s.call('message.get_all_records', session)) as Record<string, Message>);
}

async function theHost(s: SimHandle): Promise<{ session: string; ref: string; uuid: string }> {
  const session = await s.login();
  const [ref] = (await s.call('host.get_all', session)) as string[];
  return { session, ref: ref!, uuid: String(await s.call('host.get_uuid', session, ref)) };
}

async function uuidOf(s: SimHandle, session: string, name: string): Promise<string> {
  const [ref] = (await s.call('VM.get_by_name_label', session, name)) as string[];
  return String(await s.call('VM.get_uuid', session, ref));
}

async function powerState(s: SimHandle, session: string, name: string): Promise<string> {
  const [ref] = (await s.call('VM.get_by_name_label', session, name)) as string[];
  return String(await s.call('VM.get_power_state', session, ref));
}

/** The CLI on the simulator, with a state directory of the test's own (never /var/lib). */
function cli(s: SimHandle, stateDir: string, args: string[]) {
  return runCli([...args, '--xapi', s.url, '--state-dir', stateDir]);
}

const on = { auto_poweron: 'true' };
const BOOT_DONE = (l: { msg: string }) => l.msg === 'boot plan finished';

describe('host maintenance mode (XenAPI: host.enabled = false)', () => {
  it('starts nothing at boot and says why in plan, status, report and one Host alert; shutdown still stops guests', async () => {
    const s = await sim([
      { name_label: 'web', order: 1, other_config: on },
      { name_label: 'db', order: 0, other_config: on },
      { name_label: 'running', other_config: on, power_state: 'Running', host: 'host-a' },
    ]);
    const host = await theHost(s);
    await s.call('host.disable', host.session, host.ref);
    await s.call('host.add_to_other_config', host.session, host.ref, 'MAINTENANCE_MODE', 'true');
    const stateDir = await makeTempDir();

    const plan = await cli(s, stateDir, ['plan', 'boot']);
    expect(plan.code).toBe(0);
    // At the top: the line after the title.
    expect(plan.stdout.split('\n')[1]).toMatch(/^\*\* host in maintenance mode: host\.enabled = false, other_config:MAINTENANCE_MODE = true/);
    const status = await cli(s, stateDir, ['status']);
    expect(status.stdout.split('\n').slice(0, 3).join('\n')).toContain('host in maintenance mode');

    const d = await daemon(s, stateDir);
    await d.waitForLog(BOOT_DONE, 60_000);

    const t = await timelines(s);
    for (const name of ['web', 'db']) expect(count(t.get(name), 'start requested'), name).toBe(0);
    const boot = await readReport(stateDir, 'boot');
    for (const name of ['web', 'db']) {
      const g = boot.guests.find((r) => r.guest.name === name)!;
      expect(g.outcome).toBe('skipped');
      expect(g.reason).toMatch(/^host in maintenance mode/);
    }
    const hostAlerts = (await messages(s)).filter((m) => m.name === 'XEN_GUESTS_HOST_MAINTENANCE');
    expect(hostAlerts).toHaveLength(1);
    expect(hostAlerts[0]).toMatchObject({ cls: 'Host', obj_uuid: host.uuid });
    expect(hostAlerts[0]!.body).toContain('2 guests not started');

    // Shutdown is unchanged by maintenance: the running guest is stopped cleanly.
    d.signal('SIGTERM');
    expect(await d.exited).toBe(0);
    expect(await powerState(s, host.session, 'running')).toBe('Halted');
    const shutdown = await readReport(stateDir, 'shutdown');
    expect(shutdown.guests.find((r) => r.guest.name === 'running')?.outcome).toBe('clean');
  });
});

describe('HA', () => {
  it('leaves guests HA restarts to HA, reports dueling managers, and enable warns', async () => {
    const s = await sim(
      [
        { name_label: 'ha-restart', other_config: on, ha_restart_priority: 'restart' },
        { name_label: 'ha-best', other_config: on, ha_restart_priority: 'best-effort' },
        { name_label: 'plain', other_config: on },
        { name_label: 'in-maint', other_config: { ...on, 'xen-guests:maintenance': 'disk swap' } },
      ],
      { poolOtherConfig: { auto_poweron: 'true' } },
    );
    await s.call('sim.set_ha', true);
    const stateDir = await makeTempDir();

    const plan = await cli(s, stateDir, ['plan', 'boot']);
    const top = plan.stdout.split('\n\n')[0]!;
    expect(top).toContain('pool HA is on');
    expect(top).toContain('dueling managers');
    const status = await cli(s, stateDir, ['status']);
    expect(status.stdout).toContain('dueling managers');

    const enable = await cli(s, stateDir, ['enable', 'ha-restart', 'plain']);
    expect(enable.code).toBe(0);
    expect(enable.stderr).toMatch(/ha-restart \([0-9a-f-]+\): pool HA is on and its ha_restart_priority is "restart"/);
    expect(enable.stderr).not.toMatch(/plain \(/);

    const d = await daemon(s, stateDir);
    await d.waitForLog(BOOT_DONE, 60_000);
    const t = await timelines(s);
    expect(count(t.get('plain'), 'start requested')).toBe(1);
    expect(count(t.get('ha-restart'), 'start requested')).toBe(0);
    expect(count(t.get('ha-best'), 'start requested')).toBe(0);
    const boot = await readReport(stateDir, 'boot');
    expect(boot.guests.find((r) => r.guest.name === 'ha-best')?.reason).toBe('HA restarts it: pool HA is on and its ha_restart_priority is "best-effort"');
    // HA's guests need no admin; the guest in maintenance gets its one informational message.
    const ours = (await messages(s)).filter((m) => m.name.startsWith('XEN_GUESTS_'));
    const session = await s.login();
    expect(ours).toEqual([expect.objectContaining({ name: 'XEN_GUESTS_SKIPPED_MAINTENANCE', priority: '4', cls: 'VM', obj_uuid: await uuidOf(s, session, 'in-maint') })]);
    expect(ours[0]!.body).toContain('guest "in-maint" was not started at host boot (in maintenance: disk swap');

    // With HA off the same guests are ours again.
    await s.call('sim.set_ha', false);
    const after = await cli(s, stateDir, ['plan', 'boot', '--json']);
    const p = JSON.parse(after.stdout) as { skipped: { guest: { name: string }; skipCode: string }[] };
    expect(p.skipped.filter((e) => e.skipCode === 'ha-managed')).toEqual([]);
  });
});

describe('alerts as XenAPI messages', () => {
  it('one VM message per failed start, bounded per run, the rest folded and counted; report says so', async () => {
    const failing = Array.from({ length: 26 }, (_, i) => ({ name_label: `bad-${String(i).padStart(2, '0')}`, other_config: on, behaviour: { start_error: 'VM_BOOT_FAILED' } }));
    const s = await sim([...failing, { name_label: 'good', other_config: on }]);
    const stateDir = await makeTempDir();
    const d = await daemon(s, stateDir);
    await d.waitForLog(BOOT_DONE, 60_000);

    const session = await s.login();
    const badUuids = new Set(await Promise.all(failing.map((g) => uuidOf(s, session, g.name_label))));
    const ours = (await messages(s)).filter((m) => m.name.startsWith('XEN_GUESTS_'));
    const startFailed = ours.filter((m) => m.name === 'XEN_GUESTS_START_FAILED');
    expect(startFailed).toHaveLength(20);
    expect(startFailed.every((m) => m.cls === 'VM' && badUuids.has(m.obj_uuid))).toBe(true);
    expect(new Set(startFailed.map((m) => m.obj_uuid)).size).toBe(20);
    expect(startFailed[0]!.body).toMatch(/guest "bad-\d\d" was not started at host boot \(.*VM_BOOT_FAILED/);
    const folded = ours.filter((m) => m.name === 'XEN_GUESTS_ALERTS_FOLDED');
    expect(folded).toHaveLength(1);
    expect(folded[0]!.body).toContain('6 more alerts');
    expect(ours).toHaveLength(21);

    const boot = await readReport(stateDir, 'boot');
    expect(boot.alerts).toEqual({ sent: 21, folded: 6, failed: 0 });
    const text = await runCli(['report', 'boot', '--state-dir', stateDir]);
    expect(text.stderr).toContain('start failed: bad-00');
    expect(text.stdout).toContain('Alerts: 21 written as XenAPI messages (Xen Orchestra / XenCenter), 6 more folded into one summary message');
    const status = await cli(s, stateDir, ['status']);
    expect(status.stdout).toMatch(/^Last boot run: .*; alerts: 21 sent, 6 folded$/m);
  });

  it('a guest hard-stopped after its timeout gets a VM message; message.create failing never holds up the stop', async () => {
    const s = await sim([
      { name_label: 'hung', other_config: { ...on, 'xen-guests:shutdown_timeout': '3' }, power_state: 'Running', host: 'host-a', behaviour: { shutdown: 'hung' } },
      { name_label: 'hung-2', other_config: { ...on, 'xen-guests:shutdown_timeout': '3' }, power_state: 'Running', host: 'host-a', behaviour: { shutdown: 'hung' } },
    ]);
    const stateDir = await makeTempDir();
    const d = await daemon(s, stateDir);
    await d.waitForLog(BOOT_DONE, 60_000);
    // Every message.create fails from here on, as when xapi's database is read-only.
    await s.call('sim.inject_error', 'message.create', 1, 'INTERNAL_ERROR', 'database is read-only');
    d.signal('SIGTERM');
    expect(await d.exited).toBe(0);
    const session = await s.login();
    expect(await powerState(s, session, 'hung')).toBe('Halted');
    expect(await powerState(s, session, 'hung-2')).toBe('Halted');
    const shutdown = await readReport(stateDir, 'shutdown');
    expect(shutdown.guests.filter((g) => g.guest.name.startsWith('hung')).map((g) => g.outcome)).toEqual(['hard-after-timeout', 'hard-after-timeout']);
    expect(shutdown.leftRunning).toEqual([]);
    expect(Date.parse(shutdown.endedAt)).toBeLessThanOrEqual(Date.parse(shutdown.deadlineAt!));
    expect(shutdown.alerts).toEqual({ sent: 1, folded: 0, failed: 1 });
    const hard = (await messages(s)).filter((m) => m.name === 'XEN_GUESTS_HARD_STOPPED');
    expect(hard).toHaveLength(1);
    expect(['hung', 'hung-2']).toContain(hard[0]!.body.match(/guest "([^"]+)"/)?.[1]);
    expect(hard[0]!.cls).toBe('VM');
    expect([await uuidOf(s, session, 'hung'), await uuidOf(s, session, 'hung-2')]).toContain(hard[0]!.obj_uuid);
  });

  it('alerts = false writes no message', async () => {
    const s = await sim([{ name_label: 'bad', other_config: on, behaviour: { start_error: 'VM_BOOT_FAILED' } }]);
    const stateDir = await makeTempDir();
    const d = await daemon(s, `${stateDir}`, `alerts = false\n${CONFIG}`);
    await d.waitForLog(BOOT_DONE, 60_000);
    const boot = await readReport(stateDir, 'boot');
    expect(boot.guests[0]?.outcome).toBe('start-failed');
    expect(boot.alerts).toBeUndefined();
    expect((await messages(s)).filter((m) => m.name.startsWith('XEN_GUESTS_'))).toEqual([]);
  });
});

describe('alerts from start-all and stop-all, run by hand', () => {
  /** The command on the simulator with its own config file and state directory. */
  async function byHand(s: SimHandle, config = CONFIG) {
    const dir = await makeTempDir();
    const configFile = join(dir, 'config.toml');
    await writeFile(configFile, config);
    const stateDir = join(dir, 'state');
    return {
      run: (name: 'start-all' | 'stop-all') => runCli([name, '--xapi', s.url, '--state-dir', stateDir, '--config', configFile], { timeoutMs: 90_000 }),
      report: (mode: 'boot' | 'shutdown') => readReport(stateDir, mode),
    };
  }
  const ours = async (s: SimHandle) => (await messages(s)).filter((m) => m.name.startsWith('XEN_GUESTS_'));
  const hung = (name: string) => ({ name_label: name, power_state: 'Running', host: 'host-a', other_config: { ...on, 'xen-guests:shutdown_timeout': '3' }, behaviour: { shutdown: 'hung' } });

  it('start-all: one VM message per failed start naming the command, at most 20, the rest folded and counted', async () => {
    const failing = Array.from({ length: 23 }, (_, i) => ({ name_label: `bad-${String(i).padStart(2, '0')}`, other_config: on, behaviour: { start_error: 'VM_BOOT_FAILED' } }));
    const s = await sim([...failing, { name_label: 'good', other_config: on }]);
    const cmd = await byHand(s);
    const run = await cmd.run('start-all');
    expect(run.code, run.stderr).toBe(1);

    const session = await s.login();
    const badUuids = new Set(await Promise.all(failing.map((g) => uuidOf(s, session, g.name_label))));
    const mine = await ours(s);
    const startFailed = mine.filter((m) => m.name === 'XEN_GUESTS_START_FAILED');
    expect(startFailed).toHaveLength(20);
    expect(startFailed.every((m) => m.cls === 'VM' && badUuids.has(m.obj_uuid))).toBe(true);
    expect(new Set(startFailed.map((m) => m.obj_uuid)).size).toBe(20);
    // Said as what happened: the admin's command, not a host boot.
    expect(startFailed[0]!.body).toMatch(/guest "bad-\d\d" was not started by `xen-guests start-all` \(run by [^)]+\) \(.*VM_BOOT_FAILED/);
    const folded = mine.filter((m) => m.name === 'XEN_GUESTS_ALERTS_FOLDED');
    expect(folded).toHaveLength(1);
    expect(folded[0]!.cls).toBe('Host');
    expect(folded[0]!.body).toContain('3 more alerts of this `xen-guests start-all` run');
    expect(mine).toHaveLength(21);
    // The good guest runs: the alerts held nothing up.
    expect(await powerState(s, session, 'good')).toBe('Running');

    expect((await cmd.report('boot')).alerts).toEqual({ sent: 21, folded: 3, failed: 0 });
    expect(run.stdout).toContain('Alerts: 21 written as XenAPI messages (Xen Orchestra / XenCenter), 3 more folded into one summary message');
  });

  it('stop-all: a guest hard-stopped after its timeout gets a VM message; message.create failing never holds up the stop', async () => {
    const s = await sim([hung('hung-1'), hung('hung-2'), { name_label: 'fine', power_state: 'Running', host: 'host-a', other_config: on }]);
    const cmd = await byHand(s);
    // The first message.create fails, as when xapi's database is read-only for a moment.
    await s.call('sim.inject_error', 'message.create', 1, 'INTERNAL_ERROR', 'database is read-only');
    const run = await cmd.run('stop-all');
    expect(run.code, run.stderr).toBe(3);

    const session = await s.login();
    for (const name of ['hung-1', 'hung-2', 'fine']) expect(await powerState(s, session, name), name).toBe('Halted');
    const report = await cmd.report('shutdown');
    expect(report.guests.filter((g) => g.guest.name.startsWith('hung')).map((g) => g.outcome)).toEqual(['hard-after-timeout', 'hard-after-timeout']);
    expect(report.alerts).toEqual({ sent: 1, folded: 0, failed: 1 });
    const mine = await ours(s);
    expect(mine.map((m) => m.name)).toEqual(['XEN_GUESTS_HARD_STOPPED']);
    expect(mine[0]!.cls).toBe('VM');
    expect([await uuidOf(s, session, 'hung-1'), await uuidOf(s, session, 'hung-2')]).toContain(mine[0]!.obj_uuid);
    expect(mine[0]!.body).toMatch(/guest "hung-[12]" was powered off \(hard\) by `xen-guests stop-all` \(run by [^)]+\) after its clean shutdown did not finish in time/);
  });

  it('alerts = false: neither command writes a message', async () => {
    const s = await sim([{ name_label: 'bad', other_config: on, behaviour: { start_error: 'VM_BOOT_FAILED' } }, hung('hung')]);
    const cmd = await byHand(s, `alerts = false\n${CONFIG}`);
    expect((await cmd.run('start-all')).code).toBe(1);
    expect((await cmd.run('stop-all')).code).toBe(3);
    const [boot, shutdown] = [await cmd.report('boot'), await cmd.report('shutdown')];
    expect(boot.guests.find((g) => g.guest.name === 'bad')?.outcome).toBe('start-failed');
    expect(shutdown.guests.find((g) => g.guest.name === 'hung')?.outcome).toBe('hard-after-timeout');
    expect(boot.alerts).toBeUndefined();
    expect(shutdown.alerts).toBeUndefined();
    expect(await ours(s)).toEqual([]);
  });
});
