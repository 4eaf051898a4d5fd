// The real daemon process against the real simulator process over loopback XML-RPC, with a real
// AF_UNIX datagram socket as NOTIFY_SOCKET: issue 3's "Done when", end to end.

import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { restartToolstack, spawnSim, until, type SimHandle } from '../helpers/sim.js';
import { makeBootIdFile, makeTempDir, spawnDaemon, type RunningDaemon } from '../helpers/daemon.js';
import { EXECUTABLE_UNDER_TEST } from '../helpers/bin.js';
import { startNotifyReceiver, type NotifyReceiver } from '../helpers/notify.js';
import { count, firstAt, maxOverlap, timelines } from './timeline.js';
import type { RunReport } from '../../src/core/types.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

async function sim(guests: object[], timeScale = 0.02): Promise<SimHandle> {
  const s = await spawnSim({ timeScale, scenario: { guests, templates: 1, snapshot: false, hosts: [{ name_label: 'host-a', memory_mib: 262144 }] } });
  cleanups.push(() => s.stop());
  return s;
}

async function daemon(opts: Parameters<typeof spawnDaemon>[0]): Promise<RunningDaemon> {
  const d = await spawnDaemon(opts);
  cleanups.push(() => d.stop());
  return d;
}

async function notifySocket(): Promise<NotifyReceiver> {
  const n = await startNotifyReceiver();
  cleanups.push(() => n.close());
  return n;
}

async function readReport(stateDir: string, mode: 'boot' | 'shutdown'): Promise<RunReport> {
  return JSON.parse(await readFile(join(stateDir, `report-${mode}.json`), 'utf8')) as RunReport;
}

const on = (extra: Record<string, string> = {}) => ({ auto_poweron: 'true', ...extra });
const READY_MSG = 'ready; waiting for a stop';

const CONFIG = `
[boot]
parallelism = 2
ready_timeout = 30
[shutdown]
parallelism = 4
guest_timeout = 20
deadline = 120
hard_reserve = 10
`;

beforeAll(() => {
  // dist/ is built by `npm test` before vitest runs (the simulator runs from it even when
  // XEN_GUESTS_BIN names the daemon under test); fail clearly when either is missing.
  return Promise.all([readFile(join(import.meta.dirname, '../../dist/src/cli/bin.js')), EXECUTABLE_UNDER_TEST && readFile(EXECUTABLE_UNDER_TEST)]).then(() => undefined);
});

describe('daemon: host boot then host shutdown', () => {
  it('keeps order groups and parallelism, stops hung and no-PV guests correctly, refuses suspend, tells systemd', async () => {
    const s = await sim([
      { name_label: 'g1-dc', order: 1, other_config: on({ 'xen-guests:ready': 'agent' }), behaviour: { agent_s: 20 } },
      { name_label: 'g2-a', order: 2, other_config: on(), behaviour: { boot_s: 5 } },
      { name_label: 'g2-b', order: 2, other_config: on(), behaviour: { boot_s: 5 } },
      { name_label: 'g2-c', order: 2, other_config: on(), behaviour: { boot_s: 5 } },
      { name_label: 'g2-d', order: 2, other_config: on(), behaviour: { boot_s: 5 } },
      { name_label: 'g3-hung', order: 3, other_config: on({ 'xen-guests:shutdown_timeout': '3' }), behaviour: { shutdown: 'hung' } },
      { name_label: 'g3-nopv', order: 3, other_config: on(), behaviour: { pv: false, agent_s: 'none' } },
      { name_label: 'g3-suspend', order: 3, other_config: on({ 'xen-guests:on_stop': 'suspend' }) },
      { name_label: 'g3-maint', order: 3, other_config: on({ 'xen-guests:maintenance': 'disk replacement' }) },
      { name_label: 'off', order: 1, other_config: {} },
    ]);
    const notify = await notifySocket();
    const stateDir = await makeTempDir();
    // Group 2's starts are held in the simulator until two of them are in flight together, so the
    // overlap checked below does not depend on how fast this machine builds a domain.
    const group2 = ['g2-a', 'g2-b', 'g2-c', 'g2-d'];
    await s.call('sim.hold_starts', group2);
    const d = await daemon({
      xapi: s.url,
      stateDir,
      configToml: CONFIG,
      onSigterm: 'stop-guests',
      bootIdFile: await makeBootIdFile(await makeTempDir()),
      env: { NOTIFY_SOCKET: notify.path },
    });
    const held = await until('two of group 2\'s starts held together', async () => {
      const tl = await timelines(s);
      const names = group2.filter((n) => count(tl.get(n), 'start held') > 0);
      return names.length >= 2 && names;
    }, 60_000);
    expect(held).toHaveLength(2); // parallelism 2: a third is not asked while two are in flight
    await s.call('sim.release_starts');
    await d.waitForLog((l) => l.msg === READY_MSG, 60_000);
    await notify.waitFor((m) => m.assignments.includes('READY=1'), 10_000);

    // Boot: group n+1 starts only once group n is ready; at most 2 starts in flight.
    let t = await timelines(s);
    const readyAt = (name: string, event: string) => firstAt(t.get(name), event)!;
    const requested = (name: string) => firstAt(t.get(name), 'start requested')!;
    expect(readyAt('g1-dc', 'agent live')).toBeLessThanOrEqual(Math.min(...['g2-a', 'g2-b', 'g2-c', 'g2-d'].map(requested)));
    const group2Done = Math.max(...['g2-a', 'g2-b', 'g2-c', 'g2-d'].map((n) => readyAt(n, 'running')));
    expect(group2Done).toBeLessThanOrEqual(Math.min(...['g3-hung', 'g3-nopv', 'g3-suspend'].map(requested)));
    const inFlight = ['g2-a', 'g2-b', 'g2-c', 'g2-d'].map((n) => [requested(n), readyAt(n, 'running')] as [number, number]);
    expect(maxOverlap(inFlight)).toBe(2);
    expect(count(t.get('g3-maint'), 'start requested')).toBe(0);
    expect(count(t.get('off'), 'start requested')).toBe(0);
    const boot = await readReport(stateDir, 'boot');
    expect(boot.totals.started).toBe(8);
    expect(boot.guests.find((g) => g.guest.name === 'g3-maint')?.reason).toContain('disk replacement');

    // The refused suspend policy is an error-level line naming the guest.
    expect(d.logs.some((l) => l.level === 50 && String(l.msg).includes('g3-suspend') && String(l.msg).includes('suspend'))).toBe(true);

    const stopSentAt = Date.now();
    d.signal('SIGTERM');
    expect(await d.exited).toBe(0);
    t = await timelines(s);
    const clean = (n: string) => firstAt(t.get(n), 'clean_shutdown requested');
    const hard = (n: string) => firstAt(t.get(n), 'hard_shutdown requested');
    // The hung guest got its full clean phase before the hard stop.
    expect(clean('g3-hung')).not.toBeNull();
    expect(hard('g3-hung')! - clean('g3-hung')!).toBeGreaterThanOrEqual(3000);
    // The HVM guest without PV drivers is hard-stopped at once, never asked cleanly.
    expect(clean('g3-nopv')).toBeNull();
    expect(hard('g3-nopv')).not.toBeNull();
    // Suspend refused: shut down, never suspended.
    for (const vm of t.values()) expect(vm.events.map((e) => e.event)).not.toContain('suspend requested');
    expect(clean('g3-suspend')).not.toBeNull();
    // Descending groups: group 3 done before group 2 is asked, group 2 before group 1.
    const haltedAt = (n: string) => firstAt(t.get(n), 'halted')!;
    const g3Done = Math.max(...['g3-hung', 'g3-nopv', 'g3-suspend'].map(haltedAt));
    expect(g3Done).toBeLessThanOrEqual(Math.min(...['g2-a', 'g2-b', 'g2-c', 'g2-d'].map((n) => clean(n)!)));
    expect(Math.max(...['g2-a', 'g2-b', 'g2-c', 'g2-d'].map(haltedAt))).toBeLessThanOrEqual(clean('g1-dc')!);
    // Maintenance and templates untouched.
    expect(t.get('g3-maint')?.events ?? []).toEqual([]);

    const report = await readReport(stateDir, 'shutdown');
    const outcome = (n: string) => report.guests.find((g) => g.guest.name === n)?.outcome;
    expect(outcome('g3-hung')).toBe('hard-after-timeout');
    expect(outcome('g3-nopv')).toBe('hard-no-clean-path');
    expect(outcome('g3-suspend')).toBe('clean');
    expect(outcome('g2-a')).toBe('clean');
    expect(report.leftRunning).toEqual([]);
    expect(Date.parse(report.endedAt)).toBeLessThanOrEqual(Date.parse(report.deadlineAt!));
    expect(Date.parse(report.deadlineAt!)).toBeLessThanOrEqual(stopSentAt + 120_000 + 1000);

    // systemd heard all of it.
    const sent = notify.received().flatMap((m) => m.assignments);
    expect(sent).toContain('READY=1');
    expect(sent).toContain('STOPPING=1');
    expect(sent.some((a) => a.startsWith('STATUS=') && a.includes('group'))).toBe(true);
    expect(sent.some((a) => a.startsWith('EXTEND_TIMEOUT_USEC='))).toBe(true);
    const readyIndex = sent.indexOf('READY=1');
    const stoppingIndex = sent.indexOf('STOPPING=1');
    expect(readyIndex).toBeLessThan(stoppingIndex);
    // The metadata snapshot was written before any guest was touched.
    const snapshot = JSON.parse(await readFile(join(stateDir, 'shutdown-snapshot.json'), 'utf8')) as { guests: { name: string; powerState: string }[] };
    expect(snapshot.guests.find((g) => g.name === 'g2-a')?.powerState).toBe('Running');
  });
});

describe('daemon: once per boot, decoupled from restarts', () => {
  it('a second start in the same boot starts nothing; a new boot does', async () => {
    const s = await sim([
      { name_label: 'web', order: 1, other_config: on() },
      { name_label: 'db', order: 0, other_config: on() },
    ]);
    const stateDir = await makeTempDir();
    const bootIdFile = await makeBootIdFile(await makeTempDir());
    const first = await daemon({ xapi: s.url, stateDir, configToml: CONFIG, onSigterm: 'auto', bootIdFile });
    await first.waitForLog((l) => l.msg === READY_MSG, 30_000);
    // A plain `systemctl restart`: SIGTERM while the host is not going down (systemd is not
    // stopping here, so 'auto' must leave the guests alone).
    first.signal('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(first.logs.some((l) => l.msg.includes('not a host shutdown'))).toBe(true);
    let t = await timelines(s);
    expect(count(t.get('web'), 'clean_shutdown requested')).toBe(0);

    // The admin stops a guest by hand; the restarted daemon must not start it again.
    const session = await s.login();
    const [web] = (await s.call('VM.get_by_name_label', session, 'web')) as string[];
    await s.call('VM.clean_shutdown', session, web);
    const second = await daemon({ xapi: s.url, stateDir, configToml: CONFIG, onSigterm: 'leave-guests', bootIdFile });
    await second.waitForLog((l) => l.msg === READY_MSG, 30_000);
    expect(second.logs.some((l) => l.msg.includes('handled already'))).toBe(true);
    second.signal('SIGTERM');
    expect(await second.exited).toBe(0);
    t = await timelines(s);
    expect(count(t.get('web'), 'start requested')).toBe(1);

    // A host reboot (new boot id): the boot plan runs again.
    await writeFile(bootIdFile, crypto.randomUUID() + '\n');
    const third = await daemon({ xapi: s.url, stateDir, configToml: CONFIG, onSigterm: 'leave-guests', bootIdFile });
    await third.waitForLog((l) => l.msg === READY_MSG, 30_000);
    t = await timelines(s);
    expect(count(t.get('web'), 'start requested')).toBe(2);
    expect(count(t.get('db'), 'start requested')).toBe(1); // still running: not started twice
    third.signal('SIGTERM');
    expect(await third.exited).toBe(0);
  });
});

describe('daemon: toolstack restarts change nothing in the outcome', () => {
  const guests = () => [
    { name_label: 'a1', order: 1, other_config: on(), behaviour: { boot_s: 40 } },
    { name_label: 'a2', order: 1, other_config: on(), behaviour: { boot_s: 40 } },
    { name_label: 'b1', order: 2, other_config: on(), behaviour: { boot_s: 40, shutdown_s: 60 } },
    { name_label: 'b2', order: 2, other_config: on({ 'xen-guests:shutdown_timeout': '4' }), behaviour: { shutdown: 'hung' } },
    { name_label: 'c1', order: 3, other_config: on(), behaviour: { boot_s: 40, shutdown_s: 60 } },
  ];

  it('xapi restarting in the middle of the boot plan', async () => {
    const s = await sim(guests(), 0.05);
    const stateDir = await makeTempDir();
    // The first starts stay pending in the simulator until the restart drops them, so the restart
    // lands in the middle of the boot plan however fast or slow the machine is.
    await s.call('sim.hold_starts');
    const d = await daemon({ xapi: s.url, stateDir, configToml: CONFIG, onSigterm: 'leave-guests', bootIdFile: await makeBootIdFile(await makeTempDir()) });
    await until('the first start held', async () => firstAt((await timelines(s)).get('a1'), 'start held'));
    await restartToolstack(s.call, 2);
    await d.waitForLog((l) => l.msg === READY_MSG, 60_000);
    const t = await timelines(s);
    expect(count(t.get('a1'), 'toolstack restarted'), 'the restart cut off a1\'s start').toBe(1);
    for (const name of ['a1', 'a2', 'b1', 'b2', 'c1']) {
      expect(firstAt(t.get(name), 'running'), name).not.toBeNull();
      expect(count(t.get(name), 'running'), name).toBe(1);
    }
    const boot = await readReport(stateDir, 'boot');
    expect(boot.guests.filter((g) => g.outcome === 'started').length).toBe(5);
    d.signal('SIGTERM');
    expect(await d.exited).toBe(0);
  });

  it('xapi restarting in the middle of the shutdown plan', async () => {
    const s = await sim(guests(), 0.05);
    const stateDir = await makeTempDir();
    const d = await daemon({ xapi: s.url, stateDir, configToml: CONFIG, onSigterm: 'stop-guests', bootIdFile: await makeBootIdFile(await makeTempDir()) });
    await d.waitForLog((l) => l.msg === READY_MSG, 60_000);
    d.signal('SIGTERM');
    await until('c1 clean shutdown requested', async () => firstAt((await timelines(s)).get('c1'), 'clean_shutdown requested'));
    await restartToolstack(s.call, 2);
    expect(await d.exited).toBe(0);
    const t = await timelines(s);
    for (const name of ['a1', 'a2', 'b1', 'b2', 'c1']) expect(firstAt(t.get(name), 'halted'), name).not.toBeNull();
    const report = await readReport(stateDir, 'shutdown');
    expect(report.leftRunning).toEqual([]);
    expect(count(t.get('c1'), 'toolstack restarted'), 'the restart landed while c1\'s clean shutdown ran').toBe(1);
    const b2 = t.get('b2')!;
    expect(firstAt(b2, 'hard_shutdown requested')! - firstAt(b2, 'clean_shutdown requested')!).toBeGreaterThanOrEqual(4000);
    for (const name of ['a1', 'a2', 'b1', 'c1']) expect(report.guests.find((g) => g.guest.name === name)?.outcome, name).toBe('clean');
  });
});

describe('daemon: SIGTERM during the boot plan', () => {
  const guests = [
    { name_label: 'first', order: 1, other_config: on({ 'xen-guests:ready': 'agent' }), behaviour: { agent_s: 100 } },
    { name_label: 'second', order: 2, other_config: on() },
    { name_label: 'third', order: 3, other_config: on() },
  ];

  it('stops launching, lets the start in flight finish, then follows the shutdown rule', async () => {
    const s = await sim(guests, 0.03);
    const stateDir = await makeTempDir();
    const d = await daemon({ xapi: s.url, stateDir, configToml: CONFIG, onSigterm: 'stop-guests', bootIdFile: await makeBootIdFile(await makeTempDir()) });
    await until('first started', async () => firstAt((await timelines(s)).get('first'), 'running'));
    d.signal('SIGTERM');
    expect(await d.exited).toBe(0);
    const t = await timelines(s);
    expect(count(t.get('second'), 'start requested')).toBe(0);
    expect(count(t.get('third'), 'start requested')).toBe(0);
    // The guest it had started is stopped cleanly (the host is going down).
    expect(firstAt(t.get('first'), 'clean_shutdown requested')).not.toBeNull();
    expect(firstAt(t.get('first'), 'halted')).not.toBeNull();
    const boot = await readReport(stateDir, 'boot');
    expect(boot.guests.find((g) => g.guest.name === 'second')?.outcome).toBe('not-attempted');
  });

  it('with a stop that is not a host shutdown, leaves the started guest running', async () => {
    const s = await sim(guests, 0.03);
    const stateDir = await makeTempDir();
    const d = await daemon({ xapi: s.url, stateDir, configToml: CONFIG, onSigterm: 'leave-guests', bootIdFile: await makeBootIdFile(await makeTempDir()) });
    await until('first started', async () => firstAt((await timelines(s)).get('first'), 'running'));
    d.signal('SIGTERM');
    expect(await d.exited).toBe(0);
    const t = await timelines(s);
    expect(count(t.get('second'), 'start requested')).toBe(0);
    expect(firstAt(t.get('first'), 'clean_shutdown requested')).toBeNull();
  });
});

describe('daemon: on_start=restore after stop-all', () => {
  it('keeps the snapshot stop-all wrote, so the next boot restores what stop-all stopped', async () => {
    const { spawn } = await import('node:child_process');
    const { productCommand } = await import('../helpers/bin.js');
    const s = await sim([
      { name_label: 'keep', order: 1, other_config: { 'xen-guests:on_start': 'restore' }, power_state: 'Running' },
      { name_label: 'idle', order: 1, other_config: { 'xen-guests:on_start': 'restore' } },
    ]);
    const stateDir = await makeTempDir();
    const bootIdFile = await makeBootIdFile(await makeTempDir());
    const env = { ...process.env, XEN_GUESTS_BOOT_ID_FILE: bootIdFile, XEN_GUESTS_RUNTIME_DIR: await makeTempDir() };
    const first = await daemon({ xapi: s.url, stateDir, configToml: CONFIG, onSigterm: 'stop-guests', bootIdFile, env: { XEN_GUESTS_RUNTIME_DIR: env.XEN_GUESTS_RUNTIME_DIR } });
    await first.waitForLog((l) => l.msg === READY_MSG, 30_000);

    // The admin stops everything by hand before the host goes down.
    const stopAll = spawn(...productCommand(['stop-all', '--xapi', s.url, '--state-dir', stateDir]), { env, stdio: 'ignore' });
    expect(await new Promise((r) => stopAll.on('exit', r))).toBe(0);
    first.signal('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(first.logs.some((l) => l.msg.includes('keeping the metadata snapshot'))).toBe(true);

    // The host boots again: the guest stop-all found running comes back, the other does not.
    await writeFile(bootIdFile, crypto.randomUUID() + '\n');
    const second = await daemon({ xapi: s.url, stateDir, configToml: CONFIG, onSigterm: 'leave-guests', bootIdFile, env: { XEN_GUESTS_RUNTIME_DIR: await makeTempDir() } });
    await second.waitForLog((l) => l.msg === READY_MSG, 30_000);
    const t = await timelines(s);
    expect(count(t.get('keep'), 'start requested')).toBe(1);
    expect(count(t.get('idle'), 'start requested')).toBe(0);
    second.signal('SIGTERM');
    expect(await second.exited).toBe(0);
  });
});
