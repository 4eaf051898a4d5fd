// The admin commands as real processes against the real simulator process: each effect is checked
// in the toolstack with raw XML-RPC calls, and the printed output in both its human and JSON forms.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSim, type SimHandle } from '../helpers/sim.js';
import { runCli } from './run-cli.js';
import { parseXml } from './xml-check.js';

const HOSTILE = `web <1> & "co" 'x'`;

/** A small host: ordered guests, a name shared by two, a template, a guest without PV drivers. */
const SCENARIO = {
  pool: { name_label: 'lab', other_config: { auto_poweron: 'true' } },
  guests: [
    { name_label: 'db', order: 0, power_state: 'Running', other_config: { auto_poweron: 'true', 'xen-guests:shutdown_timeout': '20' } },
    { name_label: HOSTILE, order: 10, power_state: 'Running', other_config: { auto_poweron: 'true', 'xen-guests:ready': 'agent' } },
    { name_label: 'twin', power_state: 'Halted' },
    { name_label: 'twin', power_state: 'Halted' },
    { name_label: 'off', power_state: 'Halted', other_config: { auto_poweron: 'false' } },
    { name_label: 'legacy', order: 10, power_state: 'Running', other_config: { 'xen-guests:on_stop': 'suspend' }, behaviour: { pv: false } },
    { name_label: 'hung', order: 5, power_state: 'Running', other_config: { auto_poweron: 'true', 'xen-guests:shutdown_timeout': '1' }, behaviour: { shutdown: 'hung' } },
    { name_label: 'tpl', is_a_template: true },
  ],
};

const CONFIG = `
[shutdown]
deadline = 60
hard_reserve = 10
guest_timeout = 20
[boot]
ready_timeout = 30
`;

interface VmRecord {
  uuid: string;
  name_label: string;
  power_state: string;
  is_a_template: boolean;
  is_control_domain: boolean;
  other_config: Record<string, string>;
  blocked_operations: Record<string, string>;
}

let sim: SimHandle;
let session: string;
let dir: string;
let args: string[];

async function records(): Promise<Map<string, VmRecord & { ref: string }>> {
  const all = (await sim.call('VM.get_all_records', session)) as Record<string, VmRecord>;
  return new Map(Object.entries(all).map(([ref, r]) => [r.uuid, { ...r, ref }]));
}

async function byName(name: string): Promise<(VmRecord & { ref: string })[]> {
  return [...(await records()).values()].filter((r) => r.name_label === name && !r.is_a_template);
}

async function one(name: string): Promise<VmRecord & { ref: string }> {
  const [r, ...more] = await byName(name);
  if (!r || more.length) throw new Error(`expected one VM named ${name}`);
  return r;
}

function xg(...rest: string[]) {
  return runCli([...rest, ...args], { timeoutMs: 90_000 });
}

/** report reads only the state directory, so it refuses --xapi. */
function report(...rest: string[]) {
  return runCli(['report', ...rest, '--state-dir', join(dir, 'state'), '--config', join(dir, 'config.toml')]);
}

beforeAll(async () => {
  sim = await spawnSim({ scenario: SCENARIO, timeScale: 0.01 });
  session = await sim.login();
  dir = await mkdtemp(join(tmpdir(), 'xg-cli-'));
  await writeFile(join(dir, 'config.toml'), CONFIG);
  args = ['--xapi', sim.url, '--state-dir', join(dir, 'state'), '--config', join(dir, 'config.toml')];
});

afterAll(async () => {
  await sim?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('enable / disable', () => {
  it('sets auto_poweron in the toolstack, also over an existing value, and warns about the pool flag', async () => {
    const off = await one('off');
    expect(off.other_config.auto_poweron).toBe('false');
    const r = await xg('enable', 'off');
    expect(r.code).toBe(0);
    expect((await one('off')).other_config.auto_poweron).toBe('true');
    expect(r.stdout).toMatch(/off +[0-9a-f-]{36} +false → true +changed/);
    expect(r.stderr).toContain('pool other-config:auto_poweron=true');
    expect(r.stderr).toContain('xe pool-param-remove uuid=$(xe pool-list --minimal) param-name=other-config param-key=auto_poweron');

    const again = await xg('enable', off.uuid);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('already set');
  });

  it('disable by uuid, with --json', async () => {
    const off = await one('off');
    const r = await xg('disable', off.uuid, '--json');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ command: 'disable', errors: [], results: [{ uuid: off.uuid, name: 'off', before: 'true', after: 'false', changed: true }] });
    expect((await one('off')).other_config.auto_poweron).toBe('false');
  });

  it('refuses an ambiguous name (listing the uuids), a template and an unknown VM; the good ones still change', async () => {
    const twins = await byName('twin');
    const r = await xg('enable', 'twin', 'tpl', 'nope', 'off');
    expect(r.code).toBe(1);
    for (const t of twins) expect(r.stderr).toContain(t.uuid);
    expect(r.stderr).toMatch(/VM "tpl" \([0-9a-f-]+\) is a template/);
    expect(r.stderr).toContain('VM "nope" not found');
    for (const t of await byName('twin')) expect(t.other_config.auto_poweron).toBeUndefined();
    expect((await one('off')).other_config.auto_poweron).toBe('true');
    await xg('disable', 'off');
  });

  it('refuses the control domain', async () => {
    const dom0 = [...(await records()).values()].find((r) => r.is_control_domain)!;
    const r = await xg('enable', dom0.uuid);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('is the control domain');
    expect((await records()).get(dom0.uuid)!.other_config.auto_poweron).toBeUndefined();
  });
});

describe('maintenance', () => {
  it('on: reason, time and who in other_config; --block-start blocks start in xapi itself', async () => {
    const before = Date.now();
    const r = await xg('maintenance', 'on', 'db', '--reason', 'disk <swap> & "co"', '--block-start');
    expect(r.code).toBe(0);
    const db = await one('db');
    expect(db.other_config['xen-guests:maintenance']).toBe('disk <swap> & "co"');
    expect(Date.parse(db.other_config['xen-guests:maintenance_since']!)).toBeGreaterThanOrEqual(before - 1000);
    expect(db.other_config['xen-guests:maintenance_by']).toMatch(/^.+@.+$/);
    expect(db.blocked_operations.start).toBe('xen-guests maintenance: disk <swap> & "co"');
    expect(r.stdout).toMatch(/db +[0-9a-f-]{36} +on +disk <swap> & "co" +yes/);
  });

  it('list shows it, human and --json; plan and status show the reason', async () => {
    const list = await xg('maintenance', 'list');
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/db .*Running .*@.* yes +disk <swap> & "co"/);
    const json = JSON.parse((await xg('maintenance', 'list', '--json')).stdout);
    expect(json.guests).toHaveLength(1);
    expect(json.guests[0]).toMatchObject({ name: 'db', reason: 'disk <swap> & "co"', startBlocked: 'xen-guests maintenance: disk <swap> & "co"' });

    const plan = JSON.parse((await xg('plan', 'boot', '--json')).stdout);
    const skip = plan.skipped.find((e: { guest: { name: string } }) => e.guest.name === 'db');
    expect(skip.skipCode).toBe('maintenance');
    expect(skip.reason).toContain('disk <swap> & "co"');

    const status = await xg('status');
    expect(status.stdout).toMatch(/In maintenance:\n {2}db \([0-9a-f-]+\): "disk <swap> & "co"" since \S+ by \S+@\S+; start blocked in xapi/);
  });

  it('off removes the mark and our start block, but leaves a block someone else set', async () => {
    const r = await xg('maintenance', 'off', 'db');
    expect(r.code).toBe(0);
    const db = await one('db');
    expect(Object.keys(db.other_config).filter((k) => k.startsWith('xen-guests:maintenance'))).toEqual([]);
    expect(db.blocked_operations.start).toBeUndefined();

    const twin = (await byName('twin'))[0]!;
    await sim.call('VM.add_to_blocked_operations', session, twin.ref, 'start', 'DR replica, do not start');
    expect((await xg('maintenance', 'on', twin.uuid, '--reason', 'replica', '--block-start')).stdout).toContain('already blocked by someone else');
    const off = await xg('maintenance', 'off', twin.uuid, '--json');
    const out = JSON.parse(off.stdout);
    expect(out.results[0].notes.join(' ')).toContain(`xe vm-param-remove uuid=${twin.uuid} param-name=blocked-operations param-key=start`);
    expect((await records()).get(twin.uuid)!.blocked_operations.start).toBe('DR replica, do not start');
    await sim.call('VM.remove_from_blocked_operations', session, twin.ref, 'start');
  });
});

describe('plan and status', () => {
  it('plan shutdown: groups in descending order, hard stop for the guest without PV drivers, refused suspend, deadline arithmetic', async () => {
    const r = await xg('plan', 'shutdown');
    expect(r.code).toBe(0);
    const text = r.stdout;
    const g10 = text.indexOf('order 10');
    const g5 = text.indexOf('order 5');
    const g0 = text.indexOf('order 0');
    expect(g10).toBeGreaterThan(0);
    expect(g5).toBeGreaterThan(g10);
    expect(g0).toBeGreaterThan(g5);
    expect(text).toMatch(/legacy +[0-9a-f]{8} +hard-shutdown +- +cannot take a clean shutdown request/);
    expect(text).toMatch(/legacy \([0-9a-f-]+\): .*guest tools: no guest tools \(no PV drivers, no agent reporting\)/);
    expect(text).toContain('xen-guests:on_stop = "suspend"');
    expect(text).toContain('Deadline: 1m for the whole shutdown; 10s kept for hard stops');
    expect(text).toContain('50s shared by the clean phases');
    expect(text).toContain('Requested: 41s');
    expect(text).toMatch(/and 1 control domain, \d+ templates, 1 snapshot: not guests/);

    const plan = JSON.parse((await xg('plan', 'shutdown', '--json')).stdout);
    expect(plan.mode).toBe('shutdown');
    expect(plan.groups.map((g: { order: number }) => g.order)).toEqual([10, 5, 0]);
    expect(plan.budget).toEqual({ deadline: 60, hardReserve: 10, cleanBudget: 50, delays: 0, requested: 41, cut: false });
  });

  it('status: every guest of this host with the source of each policy part; detail view per VM; --json', async () => {
    const r = await xg('status');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/hung +[0-9a-f]{8} +Running +start \[k\] +shutdown \[d\] +5 \[n\] +1s \[k\]/);
    expect(r.stdout).toContain(HOSTILE);
    expect(r.stdout).not.toMatch(/^tpl /m);
    expect(r.stdout).toContain('Last shutdown run: none recorded');

    const detail = await xg('status', 'hung');
    expect(detail.stdout).toMatch(/on_start +start +other_config:auto_poweron = "true"/);
    expect(detail.stdout).toMatch(/shutdown_timeout +1s +other_config:xen-guests:shutdown_timeout = "1"/);
    expect(detail.stdout).toMatch(/ready +running +built-in default boot.ready = "running"/);
    expect(detail.stdout).toMatch(/guest tools +PV drivers/);

    const json = JSON.parse((await xg('status', '--json')).stdout);
    const legacy = json.guests.find((g: { name: string }) => g.name === 'legacy');
    expect(legacy.policy.onStop).toBe('shutdown');
    expect(legacy.policy.problems[0].key).toBe('xen-guests:on_stop');
    expect(legacy.tools.pvDrivers).toBe(false);
    expect(legacy.atShutdown.action).toBe('hard-shutdown');
    expect(json.host.poolAutoPoweron).toBe(true);
  });
});

describe('stop-all, report, start-all', () => {
  it('report before any run: a clear reason, exit 1', async () => {
    const r = await report();
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/xen-guests report: no state directory at .*state/);
  });

  it('stop-all --dry-run prints the plan and changes nothing', async () => {
    const r = await xg('stop-all', '--dry-run');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Shutdown plan for host');
    expect((await one('db')).power_state).toBe('Running');
  });

  it('stop-all stops every guest by plan, exits 3 for the hard stops, and records the run', async () => {
    const r = await xg('stop-all');
    expect(r.code).toBe(3);
    for (const name of ['db', HOSTILE, 'legacy', 'hung']) expect((await one(name)).power_state).toBe('Halted');
    // Plain progress lines (not a terminal): groups in order, each guest's end.
    expect(r.stdout).not.toMatch(/\x1b/);
    const lines = r.stdout.split('\n');
    const group = (n: number) => lines.findIndex((l) => l === `-- group ${n}/3`);
    expect(group(1)).toBeGreaterThanOrEqual(0);
    expect(group(2)).toBeGreaterThan(group(1));
    expect(group(3)).toBeGreaterThan(group(2));
    expect(r.stdout).toMatch(/hung \([0-9a-f-]+\): clean timeout ran out; cancelling/);
    expect(r.stdout).toMatch(/db \([0-9a-f-]+\): halted cleanly {2}\[4\/4 done, group 3\/3\]/);
    expect(r.stdout).toMatch(/hung +[0-9a-f]{8} +clean-shutdown +! hard stop after clean timeout/);
    // legacy's hard stop was in the plan (no clean path): only the timeout counts against the run.
    expect(r.stderr).toMatch(/xen-guests stop-all: hard stop after clean timeout: hung\n/);
    const snapshot = JSON.parse(await readFile(join(dir, 'state', 'shutdown-snapshot.json'), 'utf8'));
    expect(snapshot.guests.find((g: { name: string }) => g.name === 'db').powerState).toBe('Running');
  });

  it('report shutdown: per guest outcome, human and --json, and an SVG timeline with one row per guest', async () => {
    const svgFile = join(dir, 'timeline.svg');
    const r = await report('shutdown', '--svg', svgFile);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/db +[0-9a-f]{8} +clean-shutdown +clean shutdown +\d+\.\ds +- +\d+\.\ds/);
    expect(r.stdout).toMatch(/legacy +[0-9a-f]{8} +hard-shutdown +! hard stop \(no clean shutdown path\)/);
    expect(r.stdout).toContain('Left running: none');
    expect(r.stderr).toContain('the last shutdown did not go as planned');

    const recorded = JSON.parse((await report('--json')).stdout);
    expect(recorded.mode).toBe('shutdown');
    const acted = recorded.guests.filter((g: { action: string }) => g.action !== 'skip');
    expect(acted.map((g: { guest: { name: string } }) => g.guest.name).sort()).toEqual(['db', 'hung', 'legacy', HOSTILE].sort());

    const elements = parseXml(await readFile(svgFile, 'utf8'));
    expect(elements[0]!.name).toBe('svg');
    const rows = elements.filter((e) => e.name === 'g' && e.attributes.class?.split(' ').includes('guest'));
    expect(rows.map((e) => e.attributes['data-uuid']).sort()).toEqual(acted.map((g: { guest: { uuid: string } }) => g.guest.uuid).sort());
    expect(elements.some((e) => e.name === 'text' && e.text === HOSTILE)).toBe(true);
    expect(elements.filter((e) => e.attributes.class === 'bar hard')).toHaveLength(2);
    expect(elements.filter((e) => e.name === 'g' && e.attributes.class === 'group-boundary')).toHaveLength(3);
  });

  it('start-all --dry-run changes nothing; start-all starts the enabled guests in order and records the boot run', async () => {
    const dry = await xg('start-all', '--dry-run', '--json');
    expect(dry.code).toBe(0);
    const plan = JSON.parse(dry.stdout);
    expect(plan.groups.flatMap((g: { entries: { guest: { name: string } }[] }) => g.entries.map((e) => e.guest.name))).toEqual(['db', 'hung', HOSTILE]);
    expect((await one('db')).power_state).toBe('Halted');

    const r = await xg('start-all', '--json');
    expect(r.code).toBe(0);
    const run = JSON.parse(r.stdout);
    expect(run.mode).toBe('boot');
    expect(run.exitCode).toBe(0);
    expect(run.totals.started).toBe(3);
    for (const name of ['db', 'hung', HOSTILE]) expect((await one(name)).power_state).toBe('Running');
    expect((await one('legacy')).power_state).toBe('Halted');
    // With --json the progress goes to stderr so that stdout stays one JSON document.
    expect(r.stderr).toMatch(/db \([0-9a-f-]+\): started and ready/);

    const text = await report('boot');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/db +[0-9a-f]{8} +start +started and ready/);
    expect(text.stdout).toContain('Result: everything went as planned.');

    // status now tells what happened to each guest at the last boot and the last shutdown.
    const status = JSON.parse((await xg('status', '--json')).stdout);
    const hung = status.guests.find((g: { name: string }) => g.name === 'hung');
    expect(hung.lastBoot.outcome).toBe('started');
    expect(hung.lastShutdown.outcome).toBe('hard-after-timeout');
    expect(status.lastShutdown.exitCode).toBe(3);
    expect((await xg('status')).stdout).toMatch(/hung .* started +hard-after-timeout/);
  });
});
