// `xen-guests sim --guests N` makes what a current XCP-ng host runs (mostly HVM guests with PV
// drivers and an agent, some PV, a few HVM without drivers), says so at start, and refuses
// "no PV drivers" on a PV-booted guest instead of letting it mean nothing.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SimHandle, spawnSim, until, xapiFailure } from '../helpers/sim.js';

const BIN = resolve(import.meta.dirname, '../../dist/src/cli/bin.js');

const failure = xapiFailure;

describe('the default generated host', () => {
  let sim: SimHandle;
  let s: string;
  const records = async () => (await sim.call('VM.get_all_records', s)) as Record<string, Record<string, unknown>>;
  const byName = async (name: string) => Object.entries(await records()).find(([, r]) => r.name_label === name)!;

  beforeAll(async () => {
    sim = await spawnSim({ guests: 20, timeScale: 0.01 });
    s = await sim.login();
  });
  afterAll(async () => {
    await sim?.stop();
  });

  it('prints the mix of kinds when it starts', async () => {
    const child = spawn(process.execPath, [BIN, 'sim', '--listen', '127.0.0.1:0', '--guests', '20'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await until('ready line', async () => out.includes('ready'), 20_000);
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
    expect(out).toContain('generated guests: 14 HVM with PV drivers and agent, 4 PV, 2 HVM without PV drivers');
  });

  it('is mostly HVM guests whose PV drivers and agent report, some PV guests, a few HVM guests without drivers', async () => {
    const guests = Object.values(await records()).filter((r) => !r.is_a_template && !r.is_a_snapshot && !r.is_control_domain);
    const types = guests.map((r) => r.domain_type);
    expect(types.filter((t) => t === 'hvm')).toHaveLength(16);
    expect(types.filter((t) => t === 'pv')).toHaveLength(4);

    // Judged by what the guests do: start one of each HVM kind and watch xapi's records.
    const [tools] = await byName('vm-001');
    const [bare] = await byName('vm-010');
    await sim.call('VM.start', s, tools, false, false);
    await sim.call('VM.start', s, bare, false, false);
    const driversOf = async (vm: string) => {
      const gm = (await sim.call('VM.get_guest_metrics', s, vm)) as string;
      return ((await sim.call('VM_guest_metrics.get_record', s, gm)) as { PV_drivers_version: Record<string, string> }).PV_drivers_version;
    };
    await until('vm-001 PV drivers reported', async () => (await driversOf(tools)).major !== undefined, 30_000);
    await sim.call('VM.clean_shutdown', s, tools);
    expect(await sim.call('VM.get_power_state', s, tools)).toBe('Halted');
    expect(await driversOf(bare)).toEqual({});
    expect(await failure(sim.call('VM.clean_shutdown', s, bare))).toMatchObject({ code: 'VM_LACKS_FEATURE', params: [bare] });
    await sim.call('VM.hard_shutdown', s, bare);
  });

  it('refuses xen-guests-sim:pv=false on a PV-booted guest, naming the key, the value and what is allowed', async () => {
    const [pv] = await byName('vm-003');
    const e = await failure(sim.call('VM.add_to_other_config', s, pv, 'xen-guests-sim:pv', 'false'));
    expect(e.code).toBe('INVALID_VALUE');
    expect(e.params[0]).toBe('other_config:xen-guests-sim:pv');
    expect(e.params[1]).toBe('false');
    expect(e.params[2]).toMatch(/true only: this guest boots PV .*use domain_type "hvm"/);
    // On an HVM guest the key is what it says: no PV drivers.
    const [hvm] = await byName('vm-002');
    await sim.call('VM.add_to_other_config', s, hvm, 'xen-guests-sim:pv', 'false');
  });

  it('refuses a scenario that gives a PV guest no PV drivers', async () => {
    await expect(spawnSim({ scenario: { guests: [{ name_label: 'p', domain_type: 'pv', behaviour: { pv: false } }] } })).rejects.toThrow(/guests\[0\]\.behaviour\.pv: bad value false; allowed: true only: domain_type "pv"/);
  });
});
