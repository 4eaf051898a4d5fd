// Fault matrix, area "migrate" (issue 14, item 4): on_stop=migrate at host shutdown in a simulated
// pool of several hosts, with the migration failing half-way or its destination disabled meanwhile.
// Where each guest runs at the end is read from the simulator, not from the daemon's report.

import { expect } from 'vitest';
import { on, scene, timelineShows, type Scene } from './harness.js';
import { checkInvariants, reportOf } from './invariants.js';
import { matrixArea } from './matrix.js';

const row = matrixArea('migrate', 'migrate', 'Migrate instead of stop (M)');

const MIGRATE = { 'xen-guests:on_stop': 'migrate' };

/** Guest name → [power state, host name ('' when halted)], from the simulator's records. */
async function whereEach(s: Scene): Promise<Map<string, [string, string]>> {
  const session = await s.sim.login();
  const vms = (await s.sim.call('VM.get_all_records', session)) as Record<string, { name_label: string; power_state: string; resident_on: string; is_control_domain: boolean }>;
  const hosts = (await s.sim.call('host.get_all_records', session)) as Record<string, { name_label: string }>;
  const out = new Map<string, [string, string]>();
  for (const vm of Object.values(vms)) if (!vm.is_control_domain) out.set(vm.name_label, [vm.power_state, hosts[vm.resident_on]?.name_label ?? '']);
  return out;
}

row(
  {
    id: 'M1',
    title: 'a migration fails half-way (the guest still runs on this host)',
    injected: 'xen-guests-sim:migrate_error = VM_MIGRATE_FAILED on one on_stop=migrate guest: VM.pool_migrate fails half-way through its copy; a second on_stop=migrate guest migrates normally',
    when: 'shutdown plan',
    must: 'the failed guest is shut down cleanly here inside the deadline and reported with why it did not move; the other one runs on the other host; nothing is left running on this host',
  },
  async (rec) => {
    const s = await scene(
      [
        { name_label: 'r-flaky', order: 1, power_state: 'Running', host: 'host-a', other_config: on(MIGRATE), behaviour: { migrate_error: 'VM_MIGRATE_FAILED' } },
        { name_label: 'r-mover', order: 1, power_state: 'Running', host: 'host-a', other_config: on(MIGRATE) },
      ],
      { sim: { hosts: [{ name_label: 'host-a', memory_mib: 262144 }, { name_label: 'host-b', memory_mib: 262144 }] } },
    );
    const d = await s.start({ onSigterm: 'stop-guests' });
    await s.ready(d);
    d.daemon.signal('SIGTERM');
    expect(await s.exited(d)).toBe(0);
    const where = await whereEach(s);
    expect(where.get('r-flaky')).toEqual(['Halted', '']);
    expect(where.get('r-mover')).toEqual(['Running', 'host-b']);
    const t = await s.timelines();
    const flaky = t.get('r-flaky')!.events.map((e) => e.event);
    expect(flaky).toContain('migrating');
    expect(flaky).not.toContain('migrated');
    expect(flaky).not.toContain('hard_shutdown requested');
    const report = await s.report('shutdown');
    expect(reportOf(report, 'r-flaky')?.outcome).toBe('clean');
    expect(reportOf(report, 'r-flaky')?.migration?.failed).toContain('VM_MIGRATE_FAILED');
    expect(report!.leftRunning).toEqual([]);
    rec.held(`r-flaky: migrating, failed half-way, then a clean shutdown here (no hard stop); r-mover runs on host-b; nothing left running on host-a`);
    await checkInvariants(s, rec, { shutdown: true });
  },
);

row(
  {
    id: 'M2',
    title: 'the preferred destination host is disabled during the shutdown; a re-chosen migration then fails mid-way',
    injected:
      'sim.hold_migration(at start) on two on_stop=migrate guests: each first migration is parked, admitted but before its destination checks, until released; the row waits for both "migration held" events (to host-b, the host with the most free memory), disables host-b, releases them. r-unlucky also has xen-guests-sim:migrate_error = VM_MIGRATE_FAILED: its second migration fails half-way through the copy',
    when: 'shutdown plan',
    must: 'both first migrations are refused HOST_DISABLED and a fresh destination (host-c) is chosen; r-mover runs on host-c, never on host-b; r-unlucky never leaves host-a and is shut down cleanly there (no hard stop) before the deadline; nothing is left running on host-a',
  },
  async (rec) => {
    const s = await scene(
      [
        { name_label: 'r-mover', order: 1, power_state: 'Running', host: 'host-a', other_config: on(MIGRATE) },
        { name_label: 'r-unlucky', order: 1, power_state: 'Running', host: 'host-a', other_config: on(MIGRATE), behaviour: { migrate_error: 'VM_MIGRATE_FAILED' } },
      ],
      { sim: { hosts: [{ name_label: 'host-a', memory_mib: 262144 }, { name_label: 'host-b', memory_mib: 524288 }, { name_label: 'host-c', memory_mib: 262144 }] } },
    );
    const session = await s.sim.login();
    const [hostB] = (await s.sim.call('host.get_by_name_label', session, 'host-b')) as string[];
    const d = await s.start({ onSigterm: 'stop-guests' });
    await s.ready(d);
    for (const name of ['r-mover', 'r-unlucky']) await s.sim.call('sim.hold_migration', name, 'start');
    d.daemon.signal('SIGTERM');
    for (const name of ['r-mover', 'r-unlucky']) await timelineShows(s, name, 'migration held', 60_000);
    const heldTo = [...(await s.timelines()).values()].flatMap((v) => v.events.filter((e) => e.event === 'migration held').map((e) => `${v.name}: ${e.detail}`));
    expect(heldTo.sort()).toEqual(['r-mover: at start, to host-b', 'r-unlucky: at start, to host-b']);
    await s.sim.call('host.disable', session, hostB);
    for (const name of ['r-mover', 'r-unlucky']) await s.sim.call('sim.release_migration', name);
    expect(await s.exited(d)).toBe(0);

    const where = await whereEach(s);
    expect(where.get('r-mover')).toEqual(['Running', 'host-c']);
    expect(where.get('r-unlucky')).toEqual(['Halted', '']);
    const t = await s.timelines();
    const story = (name: string) => t.get(name)!.events.filter((e) => /^(migrat|error|clean_shutdown requested|hard_shutdown requested|halted)/.test(e.event)).map((e) => (e.event === 'halted' ? 'halted' : `${e.event}${e.detail ? ` ${e.detail}` : ''}`));
    expect(story('r-mover')).toEqual(['migration held at start, to host-b', `error pool_migrate: HOST_DISABLED ${hostB}`, 'migrating to host-c', 'migrated to host-c']);
    const unlucky = story('r-unlucky');
    expect(unlucky.slice(0, 4)).toEqual(['migration held at start, to host-b', `error pool_migrate: HOST_DISABLED ${hostB}`, 'migrating to host-c', expect.stringMatching(/^error pool_migrate: VM_MIGRATE_FAILED/)]);
    expect(unlucky.slice(4)).toEqual(['clean_shutdown requested', 'halted']);
    // Halted on host-a (no "migrated" ever), and before the deadline counted from the SIGTERM.
    const sigterm = s.signals.find((x) => x.signal === 'SIGTERM')!;
    const deadlineS = Number(/^deadline = (\d+)$/m.exec(d.config)![1]);
    const deadlineAt = s.simMs(sigterm.at) + deadlineS * 1000;
    const haltedAt = t.get('r-unlucky')!.events.find((e) => e.event === 'halted')!.at;
    expect(haltedAt).toBeLessThanOrEqual(deadlineAt);
    const report = await s.report('shutdown');
    expect(report!.leftRunning).toEqual([]);
    rec.held(`both first migrations held, host-b disabled, both refused HOST_DISABLED and re-chosen to host-c; r-mover runs on host-c; r-unlucky failed half-way to host-c, never left host-a and halted cleanly there ${((deadlineAt - haltedAt) / 1000).toFixed(1)} s before the ${deadlineS} s deadline`);
    await checkInvariants(s, rec, { shutdown: true });
  },
);

row(
  {
    id: 'M3',
    title: 'host shutdown in a 3-host pool: on_stop=migrate guests, one of them on local storage',
    injected: 'xen-guests-sim:local_storage = true on one of three on_stop=migrate guests (VM_REQUIRES_SR on every other host); a fourth guest has the default on_stop',
    when: 'shutdown plan',
    must: 'this host is disabled first; the two movable guests run on the other hosts; nothing was migrated onto this host; the local-storage guest and the default one are shut down cleanly here inside the deadline',
  },
  async (rec) => {
    const s = await scene(
      [
        { name_label: 'r-web', order: 2, power_state: 'Running', host: 'host-a', other_config: on(MIGRATE) },
        { name_label: 'r-db', order: 1, power_state: 'Running', host: 'host-a', memory_mib: 2048, other_config: on(MIGRATE) },
        { name_label: 'r-local', order: 1, power_state: 'Running', host: 'host-a', other_config: on(MIGRATE), behaviour: { local_storage: true } },
        { name_label: 'r-plain', order: 1, power_state: 'Running', host: 'host-a', other_config: on() },
      ],
      { sim: { hosts: [{ name_label: 'host-a', memory_mib: 262144 }, { name_label: 'host-b', memory_mib: 262144 }, { name_label: 'host-c', memory_mib: 262144 }] } },
    );
    const d = await s.start({ onSigterm: 'stop-guests' });
    await s.ready(d);
    d.daemon.signal('SIGTERM');
    expect(await s.exited(d)).toBe(0);
    const where = await whereEach(s);
    for (const name of ['r-web', 'r-db']) {
      expect(where.get(name)?.[0], name).toBe('Running');
      expect(['host-b', 'host-c'], name).toContain(where.get(name)?.[1]);
    }
    expect(where.get('r-local')).toEqual(['Halted', '']);
    expect(where.get('r-plain')).toEqual(['Halted', '']);
    const session = await s.sim.login();
    const [hostA] = (await s.sim.call('host.get_by_name_label', session, 'host-a')) as string[];
    expect(await s.sim.call('host.get_enabled', session, hostA)).toBe(false);
    const t = await s.timelines();
    const ontoA = [...t.values()].flatMap((v) => v.events.filter((e) => e.event === 'migrated' && e.detail === 'to host-a'));
    expect(ontoA).toEqual([]);
    const local = t.get('r-local')!.events.map((e) => e.event);
    expect(local).toContain('clean_shutdown requested');
    expect(local).not.toContain('hard_shutdown requested');
    const report = await s.report('shutdown');
    expect(reportOf(report, 'r-local')?.migration?.failed).toContain('VM_REQUIRES_SR');
    expect(reportOf(report, 'r-web')?.migration?.to?.name).toBe(where.get('r-web')?.[1]);
    rec.held(`r-web → ${where.get('r-web')?.[1]}, r-db → ${where.get('r-db')?.[1]}; r-local (VM_REQUIRES_SR) and r-plain shut down cleanly; host-a disabled, nothing migrated onto it`);
    await checkInvariants(s, rec, { shutdown: true });
  },
);
