// Issue 14, `xen-guests status` and migrations, end to end: the real daemon shuts down a host of a
// three-host simulated pool (`sim --hosts 3`) whose on_stop=migrate guests move to the other hosts,
// and the real CLI is asked while one migration is parked mid-copy (sim.hold_migration, waited on
// through the simulator's timeline) and again after the daemon exited. What status must say — which
// guest is migrating and where to, which already runs elsewhere, and afterwards where each went and
// for how long — is judged against the simulator's own VM records and timeline.

import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { spawnSim, until, type SimHandle } from '../helpers/sim.js';
import { makeBootIdFile, makeTempDir, spawnDaemon, type RunningDaemon } from '../helpers/daemon.js';
import { runCli } from '../cli/run-cli.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

beforeAll(() => readFile(join(import.meta.dirname, '../../dist/src/cli/bin.js')).then(() => undefined));

const MIGRATE = { auto_poweron: 'true', 'xen-guests:on_stop': 'migrate' };
const CONFIG = `
[boot]
parallelism = 4
ready_timeout = 30
[shutdown]
parallelism = 4
guest_timeout = 20
deadline = 300
hard_reserve = 10
`;

interface JsonMigration {
  uuid: string;
  name: string;
  state: string;
  to: { uuid: string; name: string } | null;
  seconds: number | null;
}
interface StatusJson {
  migrations: { run: string; since: string; guests: JsonMigration[] } | null;
}

async function hostOf(s: SimHandle, session: string, vmRef: string, field: 'resident_on' | 'scheduled_to_be_resident_on'): Promise<{ uuid: string; name: string }> {
  const ref = String(await s.call(`VM.get_${field}`, session, vmRef));
  return { uuid: String(await s.call('host.get_uuid', session, ref)), name: String(await s.call('host.get_name_label', session, ref)) };
}

describe('status shows migrations (3-host pool, real daemon, real CLI)', () => {
  it('during the host shutdown: who is migrating and where to, who already runs elsewhere; after it: where each went and how long it took', async () => {
    const s = await spawnSim({
      timeScale: 0.02,
      args: ['--hosts', '3'],
      scenario: {
        templates: 0,
        snapshot: false,
        guests: [
          { name_label: 'mv-first', order: 2, power_state: 'Running', host: 'sim-host-1', other_config: MIGRATE },
          { name_label: 'mv-held', order: 1, power_state: 'Running', host: 'sim-host-1', other_config: MIGRATE },
          { name_label: 'plain', order: 1, power_state: 'Running', host: 'sim-host-1', other_config: { auto_poweron: 'true' } },
        ],
      },
    });
    cleanups.push(() => s.stop());
    const session = await s.login();
    const ref = async (name: string) => ((await s.call('VM.get_by_name_label', session, name)) as string[])[0]!;
    const [first, held, plain] = [await ref('mv-first'), await ref('mv-held'), await ref('plain')];
    const uuid = async (vm: string) => String(await s.call('VM.get_uuid', session, vm));

    const stateDir = await makeTempDir();
    const bootIdFile = await makeBootIdFile(await makeTempDir());
    const cli = (args: string[]) => runCli([...args, '--xapi', s.url, '--state-dir', stateDir], { env: { XEN_GUESTS_BOOT_ID_FILE: bootIdFile } });
    const d: RunningDaemon = await spawnDaemon({ xapi: s.url, stateDir, configToml: CONFIG, onSigterm: 'stop-guests', bootIdFile });
    cleanups.push(() => d.stop());
    await d.waitForLog((l) => l.msg === 'boot plan finished', 60_000);

    // mv-held's migration parks mid-copy: memory reserved on its destination, not there yet.
    await s.call('sim.hold_migration', 'mv-held', 'copy');
    const sigtermAt = performance.now();
    d.signal('SIGTERM');
    await until('mv-held parked mid-copy', async () => Object.values(await s.timeline(held))[0]?.events.some((e) => e.event === 'migration held'), 60_000);

    const heldTo = await hostOf(s, session, held, 'scheduled_to_be_resident_on');
    const firstAt = await hostOf(s, session, first, 'resident_on');
    expect(firstAt.name).not.toBe('sim-host-1');
    const during = await cli(['status']);
    expect(during.code).toBe(0);
    expect(during.stdout).toContain('Migrations (host shutdown under way since');
    expect(during.stdout).toContain(`mv-held (${await uuid(held)}): migrating to ${heldTo.name} (${heldTo.uuid})`);
    expect(during.stdout).toContain(`mv-first (${await uuid(first)}): migrated: runs on ${firstAt.name} (${firstAt.uuid}) now`);
    const duringJson = JSON.parse((await cli(['status', '--json'])).stdout) as StatusJson;
    expect(duringJson.migrations?.run).toBe('under-way');
    const byName = (j: StatusJson) => new Map((j.migrations?.guests ?? []).map((g) => [g.name, g]));
    expect(byName(duringJson).get('mv-held')).toMatchObject({ state: 'migrating', to: heldTo });
    expect(byName(duringJson).get('mv-first')).toMatchObject({ state: 'migrated', to: firstAt });
    expect(byName(duringJson).has('plain')).toBe(false);
    const detail = await cli(['status', 'mv-held']);
    expect(detail.stdout).toMatch(new RegExp(`migration now +migrating to ${heldTo.name}`));

    await s.call('sim.release_migration', 'mv-held');
    expect(await d.exited).toBe(0);
    const shutdownSeconds = (performance.now() - sigtermAt) / 1000;

    const heldAt = await hostOf(s, session, held, 'resident_on');
    expect(heldAt).toEqual(heldTo);
    expect(String(await s.call('VM.get_power_state', session, plain))).toBe('Halted');
    // The simulator's own span of mv-held's migration (asked → landed) bounds what status reports.
    const events = Object.values(await s.timeline(held))[0]!.events;
    const asked = events.find((e) => e.event === 'pool_migrate requested')!.t_ms;
    const landed = events.find((e) => e.event === 'migrated')!.t_ms;

    const after = await cli(['status']);
    expect(after.stdout).toContain('Migrations at the last shutdown (');
    const heldUuid = await uuid(held);
    const line = after.stdout.split('\n').find((l) => l.includes(`mv-held (${heldUuid}): to ${heldAt.name} (${heldAt.uuid}) in `));
    expect(line, after.stdout).toBeDefined();
    expect(after.stdout).toContain(`mv-first (${await uuid(first)}): to ${firstAt.name} (${firstAt.uuid}) in `);
    const afterJson = JSON.parse((await cli(['status', '--json'])).stdout) as StatusJson;
    expect(afterJson.migrations?.run).toBe('last');
    const heldAfter = byName(afterJson).get('mv-held')!;
    expect(heldAfter).toMatchObject({ state: 'migrated', to: heldAt });
    expect(heldAfter.seconds!).toBeGreaterThanOrEqual((landed - asked) / 1000 - 0.1);
    expect(heldAfter.seconds!).toBeLessThanOrEqual(shutdownSeconds + 0.1);
    expect(Number(/in ([\d.]+) s/.exec(line!)![1])).toBe(heldAfter.seconds);
  }, 180_000); // six CLI runs and a daemon, each a process start on a shared machine: bounded like a fault row, not timed
});
