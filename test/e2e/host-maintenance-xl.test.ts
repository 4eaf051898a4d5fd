// Host maintenance mode on a plain Xen host: `xen-guests host maintenance on|off` (the real CLI
// process) keeps a flag in the state directory, and the xl backend, talking to the fake xenstored and
// fake `xl` of test/unit/xenstore, reports it so that the boot plan starts nothing. On XenAPI the
// command refuses and names xapi's own switch.

import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildPlan } from '../../src/core/plan.js';
import { defaultConfig } from '../../src/core/config.js';
import { silentLogger } from '../../src/log.js';
import { createXlToolstack } from '../../src/toolstack/xl.js';
import { startFakeXenHost } from '../unit/xenstore/fake-xen-host.js';
import { runCli } from '../cli/run-cli.js';
import { makeTempDir } from '../helpers/daemon.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

beforeAll(() => readFile(join(import.meta.dirname, '../../dist/src/cli/bin.js')).then(() => undefined));

async function configFile(kind: 'xl' | 'xenapi'): Promise<string> {
  const path = join(await makeTempDir('xg-hm-'), 'config.toml');
  await writeFile(path, `[toolstack]\nkind = "${kind}"\n`);
  return path;
}

describe('host maintenance on an xl host', () => {
  it('on: the boot plan skips every guest with the reason, time and who; off: they start again', async () => {
    const host = await startFakeXenHost();
    cleanups.push(() => host.close());
    await host.addConfig('web', { auto: true });
    await host.addConfig('db', { auto: true });
    const toolstack = createXlToolstack({ ...host.wiring, guestTables: {}, log: silentLogger() });
    cleanups.push(() => toolstack.close());
    const config = { ...defaultConfig(), toolstack: { kind: 'xl' as const }, stateDir: host.stateDir };
    const configPath = await configFile('xl');
    const cli = (args: string[]) => runCli([...args, '--config', configPath, '--state-dir', host.stateDir], { env: { SUDO_USER: 'alice' } });

    const on = await cli(['host', 'maintenance', 'on', '--reason', 'RAM upgrade']);
    expect(on.stderr).toBe('');
    expect(on.code).toBe(0);
    const flag = JSON.parse(await readFile(join(host.stateDir, 'host-maintenance.json'), 'utf8')) as { reason: string; since: string; by: string };
    expect(flag.reason).toBe('RAM upgrade');
    expect(flag.by).toMatch(/^alice@/);

    const plan = buildPlan({ mode: 'boot', guests: await toolstack.guests(), host: await toolstack.host(), config, snapshot: null });
    const ours = plan.skipped.filter((e) => ['web', 'db'].includes(e.guest.name));
    expect(plan.groups).toEqual([]);
    expect(ours).toHaveLength(2);
    for (const e of ours) {
      expect(e.skipCode).toBe('host-maintenance');
      expect(e.reason).toBe(`host in maintenance mode (since ${flag.since}, by ${flag.by}): RAM upgrade`);
    }
    expect(plan.notices?.[0]).toContain('no guest is started at boot');

    const off = await cli(['host', 'maintenance', 'off']);
    expect(off.code).toBe(0);
    const again = buildPlan({ mode: 'boot', guests: await toolstack.guests(), host: await toolstack.host(), config, snapshot: null });
    expect(again.groups.flatMap((g) => g.entries.map((e) => e.guest.name)).sort()).toEqual(['db', 'web']);
    expect(again.notices).toEqual([]);
  });

  it('a flag file that cannot be read counts as on, and says how to fix it', async () => {
    const host = await startFakeXenHost();
    cleanups.push(() => host.close());
    await host.addConfig('web', { auto: true });
    await writeFile(join(host.stateDir, 'host-maintenance.json'), '{"reason": ');
    const toolstack = createXlToolstack({ ...host.wiring, guestTables: {}, log: silentLogger() });
    cleanups.push(() => toolstack.close());
    const m = (await toolstack.host()).maintenance;
    expect(m?.reason).toMatch(/host-maintenance\.json cannot be read \(not JSON .*\); counted as on — fix it or run `xen-guests host maintenance off`/);
  });
});

describe('host maintenance on a XenAPI host', () => {
  // The refusal of on/off, with this host's uuid in the xe hint, runs against the simulator in test/cli/admin.test.ts.
  it('bad arguments are usage errors, before any toolstack is asked', async () => {
    const stateDir = await makeTempDir();
    const configPath = await configFile('xenapi');
    const noReason = await runCli(['host', 'maintenance', 'on', '--config', configPath, '--state-dir', stateDir]);
    expect(noReason.code).toBe(2);
    expect(noReason.stderr).toContain('--reason TEXT is required');
    const bad = await runCli(['host', 'maintenance', 'maybe', '--config', configPath, '--state-dir', stateDir]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unknown subcommand "maybe" for "host maintenance"; allowed: on, off, show');
  });
});
