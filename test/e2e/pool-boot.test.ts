// Issue 14, item 4, its last sentence, end to end: "at the next boot, a migrated guest is not started
// here (it runs elsewhere)". A real daemon shuts host-a of a three-host simulated pool down
// (SIGTERM, on_sigterm = stop-guests): its on_stop=migrate guests move to the other hosts, the other
// guest is shut down here. Then the host "reboots" — a new boot id in the boot id file (the
// documented XEN_GUESTS_BOOT_ID_FILE override), an empty runtime directory as /run after a reboot,
// host-a enabled again as xapi does when it starts — and a second daemon on the same state directory
// runs the boot plan. What it did is judged from the simulator's call log, timeline and VM records;
// what `xen-guests plan boot` and the boot report say, from their own output. One migrated guest is
// brought back to host-a and halted there by an admin before that boot: README ("Migrate instead of
// stop") says it stays halted, since the migration handed it to the pool alive.

import { beforeAll, describe, expect, it } from 'vitest';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { BIN, makeTempDir } from '../helpers/daemon.js';
import { callLogMark, on, onCleanup, scene, xapi, vmRef, type Scene } from '../faults/harness.js';
import { reportOf } from '../faults/invariants.js';
import { runCli } from '../cli/run-cli.js';
import type { Plan } from '../../src/core/types.js';

beforeAll(() => readFile(BIN).then(() => undefined));

const MIGRATE = { 'xen-guests:on_stop': 'migrate' };
const HOSTS = [
  { name_label: 'host-a', memory_mib: 262144 },
  { name_label: 'host-b', memory_mib: 262144 },
  { name_label: 'host-c', memory_mib: 262144 },
];
const START_CALLS = new Set(['VM.start', 'VM.start_on', 'Async.VM.start', 'Async.VM.start_on']);

/** Guest name → {power state, host name ('' when halted)}, from the simulator's records. */
async function placeOf(s: Scene): Promise<Map<string, { power: string; host: string }>> {
  const call = await xapi(s);
  const vms = (await call('VM.get_all_records')) as Record<string, { name_label: string; power_state: string; resident_on: string; is_control_domain: boolean }>;
  const hosts = (await call('host.get_all_records')) as Record<string, { name_label: string }>;
  const out = new Map<string, { power: string; host: string }>();
  for (const vm of Object.values(vms)) if (!vm.is_control_domain) out.set(vm.name_label, { power: vm.power_state, host: hosts[vm.resident_on]?.name_label ?? '' });
  return out;
}

/** What a reboot of host-a does to the world the next daemon sees: a new boot id, an empty /run, the host enabled by xapi. */
async function rebootHostA(s: Scene): Promise<string> {
  await writeFile(s.bootIdFile, crypto.randomUUID() + '\n');
  const call = await xapi(s);
  const [hostA] = (await call('host.get_by_name_label', 'host-a')) as string[];
  await call('host.enable', hostA);
  const runtimeDir = await makeTempDir('xg-run-after-reboot-');
  onCleanup(() => rm(runtimeDir, { recursive: true, force: true }));
  return runtimeDir;
}

describe('at the next boot, guests migrated away at the last shutdown are not started here (3-host pool, real daemons)', () => {
  it('the migrated ones keep running where they went and are not asked to start; one an admin brought back and halted here stays halted; the one shut down here is started here; plan boot and the boot report say why', async () => {
    const s = await scene(
      [
        { name_label: 'mv-web', order: 1, power_state: 'Running', host: 'host-a', other_config: on(MIGRATE) },
        { name_label: 'mv-db', order: 2, power_state: 'Running', host: 'host-a', other_config: on(MIGRATE) },
        { name_label: 'mv-back', order: 1, power_state: 'Running', host: 'host-a', other_config: on(MIGRATE) },
        { name_label: 'plain', order: 1, power_state: 'Running', host: 'host-a', other_config: on() },
      ],
      { sim: { hosts: HOSTS, templates: 0 } },
    );
    const first = await s.start({ onSigterm: 'stop-guests' });
    await s.ready(first);
    first.daemon.signal('SIGTERM');
    expect(await s.exited(first)).toBe(0);

    const afterShutdown = await placeOf(s);
    for (const name of ['mv-web', 'mv-db', 'mv-back']) {
      expect(afterShutdown.get(name)?.power, name).toBe('Running');
      expect(['host-b', 'host-c'], name).toContain(afterShutdown.get(name)?.host);
    }
    expect(afterShutdown.get('plain')).toEqual({ power: 'Halted', host: '' });

    const runtimeDir = await rebootHostA(s);
    // An admin brings mv-back home and halts it there before the next boot plan runs.
    const call = await xapi(s);
    const [hostA] = (await call('host.get_by_name_label', 'host-a')) as string[];
    const back = await vmRef(s, 'mv-back');
    await call('VM.pool_migrate', back, hostA, {});
    await call('VM.clean_shutdown', back);
    expect((await placeOf(s)).get('mv-back')).toEqual({ power: 'Halted', host: '' });

    const nameOfRef = new Map((await s.vms()).map((v) => [v.ref, v.name]));
    const hostUuid = async (name: string) => String(await call('host.get_uuid', ((await call('host.get_by_name_label', name)) as string[])[0]!));
    const wentTo = { 'mv-web': afterShutdown.get('mv-web')!.host, 'mv-db': afterShutdown.get('mv-db')!.host, 'mv-back': afterShutdown.get('mv-back')!.host };
    const runningElsewhere = async (name: 'mv-web' | 'mv-db') =>
      `not this host's: running on host ${await hostUuid(wentTo[name])} (migrated to ${wentTo[name]} at the last shutdown)`;
    const broughtBack = `not this host's: the last shutdown migrated it to ${wentTo['mv-back']} and it has no affinity; it is halted now, so someone stopped it since (start it by hand, or set its affinity to this host)`;

    // What `plan boot` says before the boot plan runs (the same state directory, the new boot).
    const cli = (args: string[]) => runCli([...args, '--xapi', s.sim.url, '--state-dir', s.stateDir], { env: { XEN_GUESTS_BOOT_ID_FILE: s.bootIdFile, XEN_GUESTS_RUNTIME_DIR: runtimeDir } });
    const planned = await cli(['plan', 'boot', '--json']);
    expect(planned.code, planned.stderr).toBe(0);
    const plan = JSON.parse(planned.stdout) as Plan;
    const skippedEntry = (name: string) => plan.skipped.find((e) => e.guest.name === name);
    for (const name of ['mv-web', 'mv-db'] as const) expect(skippedEntry(name), name).toMatchObject({ skipCode: 'not-this-host', reason: await runningElsewhere(name) });
    expect(skippedEntry('mv-back')).toMatchObject({ skipCode: 'not-this-host', reason: broughtBack });
    expect(plan.groups.flatMap((g) => g.entries.map((e) => e.guest.name))).toEqual(['plain']);
    const planText = (await cli(['plan', 'boot'])).stdout;
    expect(planText).toContain(`(migrated to ${wentTo['mv-web']} at the last shutdown)`);

    const mark = await callLogMark(s);
    const second = await s.start({ onSigterm: 'leave-guests', env: { XEN_GUESTS_RUNTIME_DIR: runtimeDir } });
    await s.ready(second);
    // The simulator's own record of what the daemon asked and where each guest is now.
    const starts = (await s.callLog()).filter((c) => c.seq > mark && START_CALLS.has(c.method));
    expect(starts.map((c) => nameOfRef.get(c.vm ?? '') ?? c.vm)).toEqual(['plain']);
    const atBoot = await placeOf(s);
    for (const name of ['mv-web', 'mv-db'] as const) expect(atBoot.get(name), name).toEqual({ power: 'Running', host: wentTo[name] });
    expect(atBoot.get('mv-back')).toEqual({ power: 'Halted', host: '' });
    expect(atBoot.get('plain')).toEqual({ power: 'Running', host: 'host-a' });
    const t = await s.timelines();
    for (const name of ['mv-web', 'mv-db']) expect(t.get(name)!.events.filter((e) => e.event === 'migrated'), name).toHaveLength(1);

    // The boot report, as written and as `xen-guests report boot` prints it.
    const report = await s.report('boot');
    expect(report?.bootId).toBe((await readFile(s.bootIdFile, 'utf8')).trim());
    expect(reportOf(report, 'plain')?.outcome).toBe('started');
    for (const name of ['mv-web', 'mv-db'] as const) expect(reportOf(report, name), name).toMatchObject({ outcome: 'skipped', skipCode: 'not-this-host', reason: await runningElsewhere(name) });
    expect(reportOf(report, 'mv-back')).toMatchObject({ outcome: 'skipped', skipCode: 'not-this-host', reason: broughtBack });
    const printed = await runCli(['report', 'boot', '--state-dir', s.stateDir]);
    expect(printed.code, printed.stderr).toBe(0);
    expect(printed.stdout).toContain(`(migrated to ${wentTo['mv-db']} at the last shutdown)`);
    expect(printed.stdout).toContain(`the last shutdown migrated it to ${wentTo['mv-back']}`);

    second.daemon.signal('SIGTERM');
    expect(await s.exited(second)).toBe(0);
  }, 180_000);
});
