// host.get_vms_which_prevent_evacuation and host.evacuate in a pool of three hosts, against the real
// simulator process: which guests prevent it and with which of xapi's errors (local storage, no host
// with room, no enabled host, HA not protecting it), evacuate moving every guest with resident_on
// changing at the end, and a destination disabled while evacuate runs. Where each guest runs is read
// from the VM records and the simulator's timeline.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSim, until, xapiFailure, type SimHandle } from '../helpers/sim.js';

const NAMES = ['g8', 'g6', 'g4', 'local', 'huge'] as const;
const scenario = {
  hosts: [{ name_label: 'h1' }, { name_label: 'h2', memory_mib: 20480 }, { name_label: 'h3', memory_mib: 12288 }],
  xapi: { dom0_memory_mib: 4096 },
  templates: 0,
  snapshot: false,
  guests: [
    { name_label: 'g8', memory_mib: 8192, power_state: 'Running', host: 'h1' },
    { name_label: 'g6', memory_mib: 6144, power_state: 'Running', host: 'h1' },
    { name_label: 'g4', memory_mib: 4096, power_state: 'Running', host: 'h1' },
    { name_label: 'local', memory_mib: 256, power_state: 'Running', host: 'h1', behaviour: { local_storage: true } },
    { name_label: 'huge', memory_mib: 65536, power_state: 'Running', host: 'h1' },
  ],
};

let sim: SimHandle;
let s: string;
const vm: Record<string, string> = {};
const host: Record<string, string> = {};
const nameOfHost = (ref: string) => Object.keys(host).find((n) => host[n] === ref) ?? ref;

async function where(name: string): Promise<[string, string]> {
  return [String(await sim.call('VM.get_power_state', s, vm[name])), nameOfHost(String(await sim.call('VM.get_resident_on', s, vm[name])))];
}

async function preventing(): Promise<Record<string, string[]>> {
  const raw = (await sim.call('host.get_vms_which_prevent_evacuation', s, host.h1)) as Record<string, string[]>;
  return Object.fromEntries(Object.entries(raw).map(([ref, why]) => [Object.keys(vm).find((n) => vm[n] === ref) ?? ref, why]));
}

async function migrationsSoFar(): Promise<string[]> {
  const t = await sim.timeline();
  return Object.values(t).flatMap((v) => v.events.filter((e) => e.event === 'migrated').map((e) => `${v.name_label} ${e.detail}`));
}

beforeAll(async () => {
  sim = await spawnSim({ timeScale: 0.01, scenario });
  s = await sim.login();
  for (const n of NAMES) vm[n] = ((await sim.call('VM.get_by_name_label', s, n)) as string[])[0]!;
  for (const n of ['h1', 'h2', 'h3']) host[n] = ((await sim.call('host.get_by_name_label', s, n)) as string[])[0]!;
});
afterAll(async () => {
  await sim?.stop();
});

describe('host.get_vms_which_prevent_evacuation and host.evacuate, three hosts', () => {
  it('names each guest that cannot move with xapi\'s error, and evacuate then moves nothing', async () => {
    const p = await preventing();
    expect(Object.keys(p).sort()).toEqual(['huge', 'local']);
    expect(p.local![0]).toBe('VM_REQUIRES_SR');
    expect(p.local![1]).toBe(vm.local);
    expect(p.huge).toEqual(['HOST_NOT_ENOUGH_FREE_MEMORY', vm.huge]);
    const f = await xapiFailure(sim.call('host.evacuate', s, host.h1));
    expect(['VM_REQUIRES_SR', 'HOST_NOT_ENOUGH_FREE_MEMORY']).toContain(f.code);
    expect(await migrationsSoFar()).toEqual([]);
    for (const n of NAMES) expect(await where(n)).toEqual(['Running', 'h1']);
  });

  it('with every other host disabled, each guest is NO_HOSTS_AVAILABLE [vm]; with HA on, an unprotected guest is refused', async () => {
    await sim.call('host.disable', s, host.h2);
    await sim.call('host.disable', s, host.h3);
    const none = await preventing();
    expect(Object.keys(none).sort()).toEqual([...NAMES].sort());
    for (const n of NAMES) expect(none[n]).toEqual(['NO_HOSTS_AVAILABLE', vm[n]]);
    await sim.call('host.enable', s, host.h2);
    await sim.call('host.enable', s, host.h3);

    await sim.call('sim.set_ha', true);
    await sim.call('VM.set_ha_restart_priority', s, vm.g4, 'restart');
    const ha = await preventing();
    for (const n of ['g8', 'g6', 'local', 'huge']) expect(ha[n]).toEqual(['HOST_EVACUATE_VM_NOT_HA_PROTECTED', vm[n]]);
    expect(ha.g4).toBeUndefined();
    await sim.call('VM.set_ha_restart_priority', s, vm.g4, '');
    await sim.call('sim.set_ha', false);
  });

  it('a destination disabled while evacuate runs fails it with HOST_DISABLED; the guest stays here', async () => {
    await sim.call('VM.hard_shutdown', s, vm.local);
    await sim.call('VM.hard_shutdown', s, vm.huge);
    expect(await preventing()).toEqual({});
    // One at a time, biggest first: g8 and g6 have moved when g4's migration is parked before its checks.
    await sim.call('sim.hold_migration', 'g4', 'start');
    const task = (await sim.call('Async.host.evacuate', s, host.h1, 'OpaqueRef:NULL', 1)) as string;
    const held = await until('g4 held', async () => Object.values(await sim.timeline(vm.g4))[0]!.events.find((e) => e.event === 'migration held'));
    const dest = /to (\S+)/.exec(held.detail ?? '')![1]!;
    await sim.call('host.disable', s, host[dest]);
    await sim.call('sim.release_migration', 'g4');
    await until('evacuate ended', async () => (await sim.call('task.get_status', s, task)) !== 'pending');
    expect(await sim.call('task.get_status', s, task)).toBe('failure');
    expect(await sim.call('task.get_error_info', s, task)).toEqual(['HOST_DISABLED', host[dest]]);
    expect(await where('g4')).toEqual(['Running', 'h1']);
    expect(await where('g8')).toEqual(['Running', 'h2']);
    expect(await where('g6')).toEqual(['Running', 'h3']);
    await sim.call('host.enable', s, host[dest]);
  });

  it('evacuate moves every guest, resident_on changing at the end, and leaves the host enabled', async () => {
    await sim.call('host.evacuate', s, host.h1);
    const [state, at] = await where('g4');
    expect(state).toBe('Running');
    expect(['h2', 'h3']).toContain(at);
    const left = ((await sim.call('host.get_resident_VMs', s, host.h1)) as string[]).filter((r) => Object.values(vm).includes(r));
    expect(left).toEqual([]);
    expect(await sim.call('host.get_enabled', s, host.h1)).toBe(true);
    expect((await migrationsSoFar()).sort()).toEqual(['g4 to ' + at, 'g6 to h3', 'g8 to h2'].sort());
    const g4 = Object.values(await sim.timeline(vm.g4))[0]!.events.map((e) => e.event);
    expect(g4.indexOf('migrating')).toBeLessThan(g4.lastIndexOf('migrated'));
  });
});
