// The group's storage read at boot (which SRs its guests' disks are on) checks the SR, PBD and VBD
// records xapi sends: a malformed one fails the read with an error naming the call, the ref, the
// field and the value; the daemon logs it once and starts the group anyway (the start itself then
// says what is missing). The records are made malformed in the real simulator (sim.corrupt_field);
// the outcome is judged from the log line and the simulator's timeline.

import { afterEach, describe, expect, it } from 'vitest';
import { runBoot } from '../../src/engine/index.js';
import { firstAt, planFor, rig, timelines, type Rig } from './harness.js';

const on = { auto_poweron: 'true' };
let r: Rig | undefined;
afterEach(async () => {
  await r?.close();
  r = undefined;
});

interface LogLine {
  level: number;
  msg: string;
  err?: string[];
}

/** Boots the one guest on SR "nfs" after `corrupt` made a record malformed; the log's storage-read warnings and whether it ran. */
async function bootWithCorrupt(corrupt: (session: string, srRef: string) => Promise<unknown>, timeoutS = 30): Promise<{ warnings: LogLine[]; ran: boolean }> {
  const lines: object[] = [];
  r = await rig([{ name_label: 'on-nfs', memory_mib: 256, other_config: on, disks: ['nfs'] }], { srs: [{ name_label: 'nfs', type: 'nfs' }], logLines: lines });
  const session = await r.sim.login();
  const [srRef] = (await r.sim.call('SR.get_by_name_label', session, 'nfs')) as string[];
  await corrupt(session, srRef!);
  const plan = await planFor(r.ts, 'boot', { timeout: timeoutS });
  await runBoot(r.ts, plan, { log: r.log }, { parallelism: 1, bootId: 'b', trigger: 'test' });
  const warnings = (lines as LogLine[]).filter((l) => l.msg.includes("could not read which SRs its guests' disks are on"));
  const ran = firstAt((await timelines(r.sim)).get('on-nfs'), 'running') !== undefined;
  return { warnings, ran };
}

describe('the storage read at boot checks what xapi sends', () => {
  it('an SR whose VDIs is not a list: the read fails naming SR.get_all_records, the ref, VDIs and the value; the group starts', async () => {
    let ref = '';
    const { warnings, ran } = await bootWithCorrupt(async (_s, srRef) => {
      ref = srRef;
      await r!.sim.call('sim.corrupt_field', 'SR', srRef, 'VDIs', 'x');
    });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.err).toEqual(['XENAPI_BAD_RESPONSE', 'SR.get_all_records', `${ref}.VDIs: expected an array, got "x"`]);
    expect(ran).toBe(true);
  });

  it("an SR whose uuid is not a string: named the same way, never an SR called 'undefined'", async () => {
    let ref = '';
    const { warnings, ran } = await bootWithCorrupt(async (_s, srRef) => {
      ref = srRef;
      await r!.sim.call('sim.corrupt_field', 'SR', srRef, 'uuid', 42);
    });
    expect(warnings.map((w) => w.err)).toEqual([['XENAPI_BAD_RESPONSE', 'SR.get_all_records', `${ref}.uuid: expected a string, got 42`]]);
    expect(ran).toBe(true);
  });

  it('a disk VBD whose VM is not a ref: it could be one of ours, so the read fails naming the VBD, never skips it', async () => {
    let vbd = '';
    const { warnings, ran } = await bootWithCorrupt(async (session) => {
      const [vm] = (await r!.sim.call('VM.get_by_name_label', session, 'on-nfs')) as string[];
      [vbd] = (await r!.sim.call('VM.get_VBDs', session, vm)) as string[];
      await r!.sim.call('sim.corrupt_field', 'VBD', vbd, 'VM', 7);
    });
    expect(warnings.map((w) => w.err)).toEqual([['XENAPI_BAD_RESPONSE', 'VBD.get_all_records_where', `${vbd}.VM: expected a ref (OpaqueRef:…), got 7`]]);
    expect(ran).toBe(true);
  });

  it("this host's PBD whose currently_attached is not a boolean: named with the PBD's ref", async () => {
    let pbd = '';
    const { warnings } = await bootWithCorrupt(async (session, srRef) => {
      [pbd] = (await r!.sim.call('SR.get_PBDs', session, srRef)) as string[];
      await r!.sim.call('sim.corrupt_field', 'PBD', pbd, 'currently_attached', 'yes');
      // The simulator too then holds the SR for unplugged and refuses the start: a short timeout ends it.
    }, 2);
    expect(warnings.map((w) => w.err)).toEqual([['XENAPI_BAD_RESPONSE', 'PBD.get_all_records_where', `${pbd}.currently_attached: expected a boolean, got "yes"`]]);
  });
});
