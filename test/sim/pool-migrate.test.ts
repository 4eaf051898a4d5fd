// VM.pool_migrate and `--hosts N` against the real simulator process: xapi's errors (destination
// disabled, no room, local disks, not running), memory reserved on the destination during the
// copy, resident_on changing only at the end, a migration failing half-way leaving the guest here.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSim, until, xapiFailure, type SimHandle } from '../helpers/sim.js';

const scenario = {
  hosts: [{ name_label: 'h1' }, { name_label: 'h2' }, { name_label: 'small', memory_mib: 4096 + 512 }, { name_label: 'off', enabled: false }],
  xapi: { dom0_memory_mib: 4096 },
  templates: 0,
  snapshot: false,
  guests: [
    { name_label: 'big', memory_mib: 4096, power_state: 'Running', host: 'h1' },
    { name_label: 'local', memory_mib: 256, power_state: 'Running', host: 'h1', behaviour: { local_storage: true } },
    { name_label: 'flaky', memory_mib: 256, power_state: 'Running', host: 'h1', behaviour: { migrate_error: 'VM_MIGRATE_FAILED' } },
    { name_label: 'down', memory_mib: 256 },
  ],
};

let sim: SimHandle;
let s: string;
const vm: Record<string, string> = {};
const host: Record<string, string> = {};

beforeAll(async () => {
  sim = await spawnSim({ timeScale: 0.01, scenario });
  s = await sim.login();
  for (const n of ['big', 'local', 'flaky', 'down']) vm[n] = ((await sim.call('VM.get_by_name_label', s, n)) as string[])[0]!;
  for (const n of ['h1', 'h2', 'small', 'off']) host[n] = ((await sim.call('host.get_by_name_label', s, n)) as string[])[0]!;
});
afterAll(async () => {
  await sim?.stop();
});

describe('VM.pool_migrate', () => {
  it('refuses a disabled destination, one without room, a guest on local storage and a halted guest, as xapi does', async () => {
    expect((await xapiFailure(sim.call('VM.pool_migrate', s, vm.big, host.off, {}))).code).toBe('HOST_DISABLED');
    const room = await xapiFailure(sim.call('VM.pool_migrate', s, vm.big, host.small, {}));
    expect(room.code).toBe('HOST_NOT_ENOUGH_FREE_MEMORY');
    const local = await xapiFailure(sim.call('VM.pool_migrate', s, vm.local, host.h2, {}));
    expect(local.code).toBe('VM_REQUIRES_SR');
    expect(local.params[0]).toBe(vm.local);
    expect((await xapiFailure(sim.call('VM.assert_can_boot_here', s, vm.local, host.h2))).code).toBe('VM_REQUIRES_SR');
    expect((await xapiFailure(sim.call('VM.pool_migrate', s, vm.down, host.h2, {}))).code).toBe('VM_BAD_POWER_STATE');
    expect(await sim.call('VM.get_resident_on', s, vm.big)).toBe(host.h1);
  });

  it('reserves memory on the destination while copying and moves resident_on only at the end', async () => {
    const task = (await sim.call('Async.VM.pool_migrate', s, vm.big, host.h2, { live: 'true' })) as string;
    await until('migration under way', async () => (await sim.call('VM.get_scheduled_to_be_resident_on', s, vm.big)) === host.h2);
    expect(await sim.call('VM.get_resident_on', s, vm.big)).toBe(host.h1);
    await until('task done', async () => (await sim.call('task.get_status', s, task)) !== 'pending');
    expect(await sim.call('task.get_status', s, task)).toBe('success');
    expect(await sim.call('VM.get_resident_on', s, vm.big)).toBe(host.h2);
    expect(await sim.call('VM.get_power_state', s, vm.big)).toBe('Running');
    expect(await sim.call('host.get_resident_VMs', s, host.h2)).toContain(vm.big);
    expect(await sim.call('host.get_resident_VMs', s, host.h1)).not.toContain(vm.big);
    const events = Object.values(await sim.timeline(vm.big))[0]!.events.map((e) => e.event);
    expect(events).toEqual(expect.arrayContaining(['migrating', 'migrated']));
  });

  it('a migration failing half-way leaves the guest running where it was', async () => {
    const f = await xapiFailure(sim.call('VM.pool_migrate', s, vm.flaky, host.h2, {}));
    expect(f.code).toBe('VM_MIGRATE_FAILED');
    expect(await sim.call('VM.get_resident_on', s, vm.flaky)).toBe(host.h1);
    expect(await sim.call('VM.get_power_state', s, vm.flaky)).toBe('Running');
    expect(await sim.call('VM.get_scheduled_to_be_resident_on', s, vm.flaky)).toBe('OpaqueRef:NULL');
  });
});

describe('xen-guests sim --hosts N', () => {
  it('makes a pool of N enabled hosts on one endpoint, generated guests spread over them', async () => {
    const pool = await spawnSim({ timeScale: 0.01, guests: 6, args: ['--hosts', '3'] });
    try {
      const ps = await pool.login();
      const hosts = (await pool.call('host.get_all_records', ps)) as Record<string, { name_label: string; enabled: boolean }>;
      expect(Object.values(hosts).map((h) => [h.name_label, h.enabled]).sort()).toEqual([['sim-host-1', true], ['sim-host-2', true], ['sim-host-3', true]]);
      const vms = (await pool.call('VM.get_all_records', ps)) as Record<string, { affinity: string; is_control_domain: boolean; is_a_template: boolean; is_a_snapshot: boolean }>;
      const affinities = new Set(Object.values(vms).filter((v) => !v.is_control_domain && !v.is_a_template && !v.is_a_snapshot).map((v) => v.affinity));
      expect(affinities).toEqual(new Set(Object.keys(hosts)));
    } finally {
      await pool.stop();
    }
  });
});
