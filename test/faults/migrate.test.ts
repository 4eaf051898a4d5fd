// Fault matrix, area "migrate" (issue 14, item 4): on_stop=migrate at host shutdown in a simulated
// pool of several hosts, with the migration failing half-way or its destination disabled meanwhile.
// Where each guest runs at the end is read from the simulator, not from the daemon's report.

import { expect } from 'vitest';
import { on, scene, type Scene } from './harness.js';
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
    title: 'the preferred destination host is disabled during the shutdown',
    injected: 'host.disable on host-b (the host with the most free memory, the first choice) by someone else right after SIGTERM; host-c stays enabled',
    when: 'shutdown plan',
    must: 'the on_stop=migrate guest ends up running on host-c, never on host-b or host-a; nothing is left running on host-a',
  },
  async (rec) => {
    const s = await scene([{ name_label: 'r-mover', order: 1, power_state: 'Running', host: 'host-a', other_config: on(MIGRATE) }], {
      sim: { hosts: [{ name_label: 'host-a', memory_mib: 262144 }, { name_label: 'host-b', memory_mib: 524288 }, { name_label: 'host-c', memory_mib: 262144 }] },
    });
    const session = await s.sim.login();
    const [hostB] = (await s.sim.call('host.get_by_name_label', session, 'host-b')) as string[];
    const d = await s.start({ onSigterm: 'stop-guests' });
    await s.ready(d);
    d.daemon.signal('SIGTERM');
    await s.sim.call('host.disable', session, hostB);
    expect(await s.exited(d)).toBe(0);
    expect((await whereEach(s)).get('r-mover')).toEqual(['Running', 'host-c']);
    const migrated = (await s.timelines()).get('r-mover')!.events.filter((e) => e.event === 'migrated').map((e) => e.detail);
    expect(migrated).toEqual(['to host-c']);
    const report = await s.report('shutdown');
    expect(reportOf(report, 'r-mover')?.outcome).toBe('migrated');
    expect(report!.leftRunning).toEqual([]);
    rec.held(`r-mover migrated ${migrated.join(', ')}; host-b disabled, never a destination`);
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
