// The simulator's storage as xapi answers it (xapi-traces/09_pool_ops, "Storage"): a VM whose disk's
// SR is not plugged on the host fails VM.start with NO_HOSTS_AVAILABLE and start_on /
// assert_can_boot_here with VM_REQUIRES_SR [vm, sr]; PBD.plug fails while the target does not
// answer; PBD.unplug of an unplugged PBD succeeds. Over real XML-RPC to the real simulator process.

import { afterEach, describe, expect, it } from 'vitest';
import { spawnSim, until, XapiFailure, type SimHandle } from '../helpers/sim.js';
import { parseScenario } from '../../src/sim/scenario.js';

let s: SimHandle | undefined;
afterEach(async () => {
  await s?.stop();
  s = undefined;
});

async function failure(p: Promise<unknown>): Promise<string[]> {
  try {
    await p;
  } catch (e) {
    if (e instanceof XapiFailure) return [e.code, ...e.params];
    throw e;
  }
  throw new Error('expected a XenAPI failure');
}

describe('simulated storage', () => {
  it('fails starts as xapi does while the SR is unplugged, plugs once the target answers, then starts', async () => {
    s = await spawnSim({
      timeScale: 0.01,
      scenario: {
        templates: 0,
        snapshot: false,
        srs: [{ name_label: 'nfs-vms', type: 'nfs', plugged: false, available: false }],
        guests: [{ name_label: 'web', disks: ['nfs-vms'] }],
      },
    });
    const session = await s.login();
    const call = (m: string, ...p: unknown[]) => s!.call(m, session, ...p);
    const [vm] = (await call('VM.get_by_name_label', 'web')) as string[];
    const [sr] = (await call('SR.get_by_name_label', 'nfs-vms')) as string[];
    const host = (await call('host.get_all')) as string[];
    const [pbd] = (await call('SR.get_PBDs', sr)) as string[];
    // The disk chain: VM → VBD → VDI → SR.
    const [vbd] = (await call('VM.get_VBDs', vm)) as string[];
    expect(await call('VDI.get_SR', await call('VBD.get_VDI', vbd))).toBe(sr);
    expect(await call('PBD.get_host', pbd)).toBe(host[0]);

    expect(await failure(call('VM.start', vm, false, false))).toEqual(['NO_HOSTS_AVAILABLE']);
    expect(await failure(call('VM.start_on', vm, host[0], false, false))).toEqual(['VM_REQUIRES_SR', vm, sr]);
    expect(await failure(call('VM.assert_can_boot_here', vm, host[0]))).toEqual(['VM_REQUIRES_SR', vm, sr]);
    expect(await call('PBD.unplug', pbd)).toBe('');
    expect((await failure(call('PBD.plug', pbd)))[0]).toBe('SR_BACKEND_FAILURE_73');
    expect(await call('PBD.get_currently_attached', pbd)).toBe(false);

    await s.call('sim.set_sr_available', 'nfs-vms', true);
    await call('PBD.plug', pbd);
    expect(await call('PBD.get_currently_attached', pbd)).toBe(true);
    await call('VM.start', vm, false, false);
    expect(await call('VM.get_power_state', vm)).toBe('Running');
  });

  it('an SR served by a storage guest plugs only once that guest has booted', async () => {
    s = await spawnSim({
      timeScale: 0.01,
      scenario: {
        templates: 0,
        snapshot: false,
        srs: [{ name_label: 'iscsi', type: 'lvmoiscsi', plugged: false, served_by: 'storage-vm' }],
        guests: [{ name_label: 'storage-vm', behaviour: { boot_s: 1 } }, { name_label: 'db', disks: ['iscsi'] }],
      },
    });
    const session = await s.login();
    const call = (m: string, ...p: unknown[]) => s!.call(m, session, ...p);
    const [pbd] = (await call('SR.get_PBDs', ((await call('SR.get_by_name_label', 'iscsi')) as string[])[0])) as string[];
    expect((await failure(call('PBD.plug', pbd)))[0]).toBe('SR_BACKEND_FAILURE_47');
    const [storage] = (await call('VM.get_by_name_label', 'storage-vm')) as string[];
    await call('VM.start', storage, false, false);
    // VM.start returns once the domain exists; the guest OS boots 1 simulated second later.
    const booted = async () => ((await s!.call('sim.get_timeline', storage)) as Record<string, { events: { event: string }[] }>)[storage]?.events.some((e) => e.event === 'booted');
    await until('storage-vm booted', booted);
    await call('PBD.plug', pbd);
    expect(await call('PBD.get_currently_attached', pbd)).toBe(true);
  });

  it('refuses a scenario whose guest names an SR that does not exist, naming the field and the SRs allowed', () => {
    const bad = { srs: [{ name_label: 'nfs-vms' }], guests: [{ name_label: 'web', disks: ['nfs-vsm'] }] };
    expect(() => parseScenario(bad, 'bad.json')).toThrow('scenario bad.json: guests[0].disks[0]: bad value "nfs-vsm"; allowed: nfs-vms');
    expect(() => parseScenario({ srs: [{ name_label: 'x', served_by: 'nobody' }], guests: [{ name_label: 'web' }] }, 'b.json')).toThrow('srs[0].served_by: bad value "nobody"; allowed: web');
  });
});
