// Storage that comes up late (issue 14, item 3), end to end: the real daemon against the real
// simulator process, with SRs whose PBDs are not plugged at host boot. Judged from the simulator's
// timeline, call log and PBD records, and from systemd's STATUS= on a real notify socket; the wait
// that `report` prints and draws (SVG) is judged against the simulator's call log too.

import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnSim, until, type SimHandle } from '../helpers/sim.js';
import { BIN, makeBootIdFile, makeTempDir, spawnDaemon, type RunningDaemon } from '../helpers/daemon.js';
import { startNotifyReceiver, type NotifyReceiver } from '../helpers/notify.js';
import { runCli } from '../cli/run-cli.js';
import { parseXml, type XmlElement } from '../cli/xml-check.js';
import { simCallLog, type LoggedCall } from '../faults/harness.js';
import { count, firstAt, timelines, type GuestTimeline } from './timeline.js';
import type { Plan, RunReport } from '../../src/core/types.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

beforeAll(() => readFile(BIN).then(() => undefined));

const TIME_SCALE = 0.05;
const on = { auto_poweron: 'true' };
const READY_MSG = 'ready; waiting for a stop';
const CONFIG = `
[boot]
parallelism = 4
ready_timeout = 120
[shutdown]
guest_timeout = 20
deadline = 120
hard_reserve = 10
`;

async function sim(scenario: object): Promise<SimHandle> {
  const s = await spawnSim({ timeScale: TIME_SCALE, scenario: { templates: 0, snapshot: false, hosts: [{ name_label: 'host-a', memory_mib: 262144 }], ...scenario } });
  cleanups.push(() => s.stop());
  return s;
}

async function daemon(s: SimHandle, notify: NotifyReceiver, stateDir: string): Promise<RunningDaemon> {
  const d = await spawnDaemon({ xapi: s.url, stateDir, configToml: CONFIG, onSigterm: 'stop-guests', bootIdFile: await makeBootIdFile(await makeTempDir()), env: { NOTIFY_SOCKET: notify.path } });
  cleanups.push(() => d.stop());
  return d;
}

async function notifySocket(): Promise<NotifyReceiver> {
  const n = await startNotifyReceiver();
  cleanups.push(() => n.close());
  return n;
}

const isPlug = (c: LoggedCall) => c.method === 'PBD.plug' || c.method === 'Async.PBD.plug';

async function srAttachedHere(s: SimHandle, name: string): Promise<boolean> {
  const session = await s.login();
  const [sr] = (await s.call('SR.get_by_name_label', session, name)) as string[];
  const pbds = (await s.call('SR.get_PBDs', session, sr)) as string[];
  const attached = await Promise.all(pbds.map(async (p) => (await s.call('PBD.get_currently_attached', session, p)) as boolean));
  return attached.every(Boolean);
}

/** The bars of one guest's row in the SVG timeline, each with the instants it draws and its <title>. */
function barsOf(elements: XmlElement[], uuid: string): { kind: string; from: number; to: number; title: string }[] {
  const start = elements.findIndex((e) => e.name === 'g' && e.attributes['data-uuid'] === uuid);
  expect(start, `a row for ${uuid}`).toBeGreaterThanOrEqual(0);
  const end = elements.findIndex((e, i) => i > start && e.name === 'g');
  const row = elements.slice(start, end === -1 ? undefined : end);
  return row.flatMap((e, i) =>
    e.name === 'rect' && e.attributes.class?.startsWith('bar ')
      ? [{ kind: e.attributes.class.slice(4), from: Date.parse(e.attributes['data-from']!), to: Date.parse(e.attributes['data-to']!), title: row[i + 1]?.text ?? '' }]
      : [],
  );
}

/** The report's instants carry milliseconds and the call log whole milliseconds: one each way. */
const ROUNDING_MS = 2;

async function readReport(stateDir: string): Promise<RunReport> {
  return JSON.parse(await readFile(join(stateDir, 'report-boot.json'), 'utf8')) as RunReport;
}

describe('daemon: storage that comes up late', () => {
  it('waits for an NFS SR that answers 30 s (scaled) into the boot, plugs it, then starts its guests; others do not wait', async () => {
    const s = await sim({
      srs: [
        { name_label: 'nfs-vms', type: 'nfs', shared: true, plugged: false, available: false },
        { name_label: 'local', type: 'lvm', shared: false },
      ],
      guests: [
        { name_label: 'app-nfs-1', order: 1, other_config: on, disks: ['nfs-vms'] },
        { name_label: 'app-nfs-2', order: 1, other_config: on, disks: ['local', 'nfs-vms'] },
        { name_label: 'local-only', order: 1, other_config: on, disks: ['local'] },
      ],
    });
    const notify = await notifySocket();
    const stateDir = await makeTempDir();
    // The dry run names the guests whose SR is not plugged now, and not the one on local storage.
    const configFile = join(await makeTempDir(), 'config.toml');
    await writeFile(configFile, CONFIG);
    const plan = await runCli(['plan', 'boot', '--xapi', s.url, '--state-dir', stateDir, '--config', configFile, '--json']);
    const planned = JSON.parse(plan.stdout) as Plan;
    const notes = new Map(planned.groups.flatMap((g) => g.entries).map((e) => [e.guest.name, e.reason ?? '']));
    expect(notes.get('app-nfs-1')).toContain("SR 'nfs-vms' not plugged now");
    expect(notes.get('app-nfs-2')).toContain("SR 'nfs-vms' not plugged now");
    expect(notes.get('local-only')).toBe('');
    expect(planned.warnings.filter((w) => w.message.includes("SR 'nfs-vms'")).map((w) => w.guest?.name).sort()).toEqual(['app-nfs-1', 'app-nfs-2']);
    const d = await daemon(s, notify, stateDir);

    // The daemon found the SR unplugged and says so where admins look: the journal and STATUS=.
    await d.waitForLog((l) => String(l.msg).includes("SR 'nfs-vms' not plugged on this host"), 60_000);
    await notify.waitFor((m) => m.assignments.some((a) => a.startsWith('STATUS=') && a.includes("waiting for SR 'nfs-vms' (2 guests)")), 30_000);
    // The NFS server answers 30 simulated seconds from now.
    await s.call('sim.set_sr_available', 'nfs-vms', true, 30);
    await d.waitForLog((l) => l.msg === READY_MSG, 120_000);

    const t = await timelines(s);
    const log = await simCallLog(s);
    const plugs = log.filter(isPlug);
    const firstPlugged = plugs.find((c) => c.outcome === 'ok' || c.outcome === 'success');
    expect(plugs.filter((c) => c !== firstPlugged && c.t_ms < (firstPlugged?.t_ms ?? Infinity)).length).toBeGreaterThan(0);
    expect(firstPlugged).toBeDefined();
    expect(await srAttachedHere(s, 'nfs-vms')).toBe(true);
    for (const name of ['app-nfs-1', 'app-nfs-2']) {
      const requested = firstAt(t.get(name), 'start requested');
      expect(requested, name).not.toBeNull();
      // Started after the plug went through, and never asked while its SR was missing.
      expect(requested!).toBeGreaterThanOrEqual(firstPlugged!.t_ms);
      expect(count(t.get(name), 'storage missing')).toBe(0);
      expect(count(t.get(name), 'running')).toBe(1);
    }
    // The guest on local storage did not wait for the NFS SR.
    expect(firstAt(t.get('local-only'), 'running')!).toBeLessThan(firstPlugged!.t_ms);

    const report = await readReport(stateDir);
    for (const name of ['app-nfs-1', 'app-nfs-2']) {
      const g = report.guests.find((x) => x.guest.name === name)!;
      expect(g.outcome).toBe('started');
      expect(g.storageWait).toMatchObject({ srs: ['nfs-vms'], plugged: true });
      // The recorded wait spans the simulator's refusals: at least the 30 simulated seconds.
      expect(Date.parse(g.storageWait!.endedAt) - Date.parse(g.storageWait!.startedAt)).toBeGreaterThanOrEqual(30_000 * TIME_SCALE);
    }
    expect(report.guests.find((x) => x.guest.name === 'local-only')!.storageWait).toBeUndefined();
    const svgPath = join(stateDir, 'boot.svg');
    const text = await runCli(['report', 'boot', '--state-dir', stateDir, '--svg', svgPath]);
    expect(text.stdout).toMatch(/Waited for storage \(2\):/);
    expect(text.stdout).toMatch(/app-nfs-1 \([0-9a-f-]+\): SR 'nfs-vms' not plugged on this host at .*; plugged after/);

    // How long the report says each waited, judged by the simulator: the wait began after the
    // daemon's first read of which SRs the disks are on, before its first plug reached the simulator;
    // it ended after the plug that went through, before the guest's start was asked.
    const daemonCalls = log.filter((c) => c.caller === firstPlugged!.caller);
    const firstStorageRead = daemonCalls.find((c) => c.method === 'VBD.get_all_records_where')!.t_ms;
    expect(plugs[0]!.caller).toBe(firstPlugged!.caller);
    const atLeast = firstPlugged!.t_ms - plugs[0]!.t_ms - ROUNDING_MS;
    const elements = parseXml(await readFile(svgPath, 'utf8'));
    const lines = text.stdout.split('\n');
    const seconds = (printed: string) => Number(printed.replace(/s$/, '')) * 1000;
    expect(lines.find((l) => l.includes('SR WAIT'))).toMatch(/ENDED BY +SR WAIT +START +READY +TOTAL/);
    for (const name of ['app-nfs-1', 'app-nfs-2']) {
      const atMost = firstAt(t.get(name), 'start requested')! - firstStorageRead + ROUNDING_MS;
      // The SVG: the wait is its own segment, the start drawn from its end, not over it.
      const bars = barsOf(elements, t.get(name)!.uuid);
      expect(bars.map((b) => b.kind), name).toEqual(['storage', 'start', 'ready']);
      const [wait, start] = bars;
      expect(wait!.to - wait!.from, name).toBeGreaterThanOrEqual(atLeast);
      expect(wait!.to - wait!.from, name).toBeLessThanOrEqual(atMost);
      expect(start!.from).toBe(wait!.to);
      expect(wait!.title).toMatch(new RegExp(`^${name}: waited [0-9.]+s for SR 'nfs-vms' to be plugged on this host, then plugged$`));
      // The text, to a tenth of a second: its SR WAIT column and its line naming the SR agree.
      const srWait = seconds(lines.find((l) => new RegExp(`^\\s*1\\s+${name}\\s`).test(l))!.trim().split(/\s+/).at(-4)!);
      expect(srWait, name).toBeGreaterThanOrEqual(atLeast - 50);
      expect(srWait, name).toBeLessThanOrEqual(atMost + 50);
      const said = new RegExp(`${name} \\([0-9a-f-]+\\): SR 'nfs-vms' not plugged on this host at \\S+; plugged after ([0-9.]+s)`).exec(text.stdout);
      expect(seconds(said![1]!), name).toBe(srWait);
    }
    // The SR's name is written on the picture, once per waiting guest, and the legend explains it.
    expect(elements.filter((e) => e.name === 'text' && e.attributes.class === 'sr').map((e) => e.text)).toEqual(["SR 'nfs-vms'", "SR 'nfs-vms'"]);
    expect(elements.some((e) => e.name === 'text' && e.text.startsWith('waiting for its SR'))).toBe(true);
    // The guest on local storage waited for nothing.
    expect(barsOf(elements, t.get('local-only')!.uuid).map((b) => b.kind)).toEqual(['start', 'ready']);
    const status = await runCli(['status', 'app-nfs-2', '--xapi', s.url, '--state-dir', stateDir, '--config', configFile]);
    expect(status.stdout).toMatch(/last boot +started .*; waited [0-9.ms]+ for SR 'nfs-vms' \(then plugged\)/);
  });

  it('a storage guest of group 1 exports the SR of group 2: plugged once group 1 is ready, then group 2 starts', async () => {
    const s = await sim({
      srs: [
        { name_label: 'local', type: 'lvm', shared: false },
        { name_label: 'iscsi-vms', type: 'lvmoiscsi', shared: true, plugged: false, served_by: 'storage-vm' },
      ],
      guests: [
        { name_label: 'storage-vm', order: 1, other_config: { ...on, 'xen-guests:ready': 'agent' }, disks: ['local'], behaviour: { boot_s: 5, agent_s: 10 } },
        { name_label: 'db', order: 2, other_config: on, disks: ['iscsi-vms'] },
      ],
    });
    const notify = await notifySocket();
    const stateDir = await makeTempDir();
    const d = await daemon(s, notify, stateDir);
    await d.waitForLog((l) => l.msg === READY_MSG, 120_000);

    const t = await timelines(s);
    const plugs = (await simCallLog(s)).filter(isPlug);
    const storageUp = firstAt(t.get('storage-vm'), 'agent live')!;
    const dbStart = firstAt(t.get('db'), 'start requested')!;
    expect(storageUp).not.toBeNull();
    // Plugged after the storage guest was ready, and db started after that plug, never before.
    expect(plugs.length).toBeGreaterThan(0);
    expect(plugs[0]!.t_ms).toBeGreaterThanOrEqual(storageUp);
    expect(dbStart).toBeGreaterThanOrEqual(plugs[plugs.length - 1]!.t_ms);
    expect(count(t.get('db'), 'running')).toBe(1);
    expect(count(t.get('db'), 'storage missing')).toBe(0);
    expect(await srAttachedHere(s, 'iscsi-vms')).toBe(true);
    const report = await readReport(stateDir);
    expect(report.guests.find((g) => g.guest.name === 'db')).toMatchObject({ outcome: 'started', storageWait: { srs: ['iscsi-vms'], plugged: true } });
  });
});

/** The daemon's reads of which SRs disks are on (SR, PBD, VDI and VBD reads; plugs are not reads). */
const isStorageRead = (c: LoggedCall) => /^(Async\.)?(SR|PBD|VDI|VBD)\./.test(c.method) && !isPlug(c);

/** The caller name the simulator logged for the daemon's session (the one that starts guests). */
function daemonCaller(log: LoggedCall[]): string {
  const start = log.find((c) => /^(Async\.)?VM\.start/.test(c.method));
  expect(start, 'the daemon started a guest').toBeDefined();
  return start!.caller;
}

/** Of `names`, the earliest instant of `event` (first: true) or the latest (first: false). */
function edge(t: Map<string, GuestTimeline>, names: string[], event: string, first: boolean): number {
  const ats = names.map((n) => firstAt(t.get(n), event));
  expect(ats.every((a) => a !== null), `${event} of ${names.join(', ')}`).toBe(true);
  return first ? Math.min(...(ats as number[])) : Math.max(...(ats as number[]));
}

describe('daemon: one storage read per order group', () => {
  /** Three groups of `perGroup` guests, every guest with disks on plugged SRs; the daemon's storage reads per group. */
  async function bootThreeGroups(perGroup: number): Promise<string[][]> {
    const groups = [1, 2, 3].map((order) => Array.from({ length: perGroup }, (_, i) => `g${order}-${i}`));
    const s = await sim({
      srs: [
        { name_label: 'nfs-vms', type: 'nfs', shared: true, plugged: true },
        { name_label: 'local', type: 'lvm', shared: false },
      ],
      guests: groups.flatMap((names, g) => names.map((name, i) => ({ name_label: name, order: g + 1, other_config: on, disks: i % 2 === 0 ? ['local'] : ['nfs-vms', 'local'] }))),
    });
    const d = await daemon(s, await notifySocket(), await makeTempDir());
    await d.waitForLog((l) => l.msg === READY_MSG, 120_000);
    const log = await simCallLog(s);
    const t = await timelines(s);
    const ours = log.filter((c) => c.caller === daemonCaller(log));
    expect(ours.filter(isPlug)).toEqual([]);
    for (const name of groups.flat()) expect(count(t.get(name), 'running'), name).toBe(1);
    // Group k's reads come after group k-1 was up and before group k's first start; none elsewhere.
    const reads = groups.map((names, k) => {
      const after = k === 0 ? 0 : edge(t, groups[k - 1]!, 'running', false);
      const before = edge(t, names, 'start requested', true);
      return ours.filter((c) => isStorageRead(c) && c.t_ms >= after && c.t_ms <= before).map((c) => c.method).sort();
    });
    expect(ours.filter(isStorageRead).length).toBe(reads.flat().length);
    return reads;
  }

  it('reads the storage of 3 groups with 3 calls each, for 2 and for 10 guests per group', async () => {
    const expected = ['PBD.get_all_records_where', 'SR.get_all_records', 'VBD.get_all_records_where'];
    for (const perGroup of [2, 10]) {
      const perGroupReads = await bootThreeGroups(perGroup);
      expect(perGroupReads, `${perGroup} guests per group`).toEqual([expected, expected, expected]);
    }
  });

  it('reads per group: an SR plugged while group 1 runs is seen plugged by group 2, which neither waits nor plugs', async () => {
    const s = await sim({
      srs: [{ name_label: 'late-nfs', type: 'nfs', shared: true, plugged: false }],
      guests: [
        { name_label: 'gate', order: 1, other_config: { ...on, 'xen-guests:ready': 'vm-data/ready' } },
        { name_label: 'on-late', order: 2, other_config: on, disks: ['late-nfs'] },
      ],
    });
    const stateDir = await makeTempDir();
    const d = await daemon(s, await notifySocket(), stateDir);
    // While group 1 waits for its guest's readiness, someone else plugs the SR on this host.
    await until('gate running', async () => count((await timelines(s)).get('gate'), 'running') > 0, 60_000);
    const session = await s.login();
    const [sr] = (await s.call('SR.get_by_name_label', session, 'late-nfs')) as string[];
    for (const pbd of (await s.call('SR.get_PBDs', session, sr)) as string[]) await s.call('PBD.plug', session, pbd);
    expect(await srAttachedHere(s, 'late-nfs')).toBe(true);
    await s.call('sim.xenstore_write', 'gate', 'vm-data/ready', '1');
    await d.waitForLog((l) => l.msg === READY_MSG, 120_000);

    const log = await simCallLog(s);
    const ours = log.filter((c) => c.caller === daemonCaller(log));
    expect(ours.filter(isPlug)).toEqual([]);
    const report = await readReport(stateDir);
    const onLate = report.guests.find((g) => g.guest.name === 'on-late')!;
    expect(onLate.outcome).toBe('started');
    expect(onLate.storageWait).toBeUndefined();
    // Group 1 (no disks) cost one read; group 2 read this host's PBDs after the plug.
    const theirPlug = log.find((c) => isPlug(c) && c.caller !== daemonCaller(log))!;
    const pbdReads = ours.filter((c) => c.method === 'PBD.get_all_records_where');
    expect(pbdReads.length).toBe(1);
    expect(pbdReads[0]!.t_ms).toBeGreaterThanOrEqual(theirPlug.t_ms);
    expect(ours.filter(isStorageRead).map((c) => c.method).sort()).toEqual(['PBD.get_all_records_where', 'SR.get_all_records', 'VBD.get_all_records_where', 'VBD.get_all_records_where']);
  });

  it('a failed read of a group is logged once and its guests start anyway; the next group reads again', async () => {
    const s = await sim({
      srs: [{ name_label: 'local', type: 'lvm', shared: false }],
      guests: [
        ...['a', 'b', 'c'].map((n) => ({ name_label: `first-${n}`, order: 1, other_config: on, disks: ['local'] })),
        { name_label: 'second', order: 2, other_config: on, disks: ['local'] },
      ],
    });
    await s.call('sim.inject_error', 'VBD.get_all_records_where', 1, 'INTERNAL_ERROR', 'injected');
    const d = await daemon(s, await notifySocket(), await makeTempDir());
    await d.waitForLog((l) => l.msg === READY_MSG, 120_000);

    const t = await timelines(s);
    for (const name of ['first-a', 'first-b', 'first-c', 'second']) expect(count(t.get(name), 'running'), name).toBe(1);
    const said = d.logs.filter((l) => String(l.msg).includes("could not read which SRs"));
    expect(said.map((l) => l.msg)).toEqual([expect.stringMatching(/^boot: group 1\/2: could not read which SRs its guests' disks are on \(INTERNAL_ERROR\); starting them anyway$/)]);
    const log = await simCallLog(s);
    const vbdReads = log.filter((c) => c.method === 'VBD.get_all_records_where');
    expect(vbdReads.map((c) => c.outcome)).toEqual(['INTERNAL_ERROR', 'ok']);
  });
});
