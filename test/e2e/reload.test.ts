// SIGHUP reloads the toolstack connection too (issue 11 item 6): the real daemon process, two real
// simulator processes, and a recording HTTP relay in front of the second one. The config file is
// rewritten to point at the other simulator, over JSON-RPC, with other credentials; after SIGHUP the
// host shutdown's calls must arrive there — seen by the relay (path, content type) and by that
// simulator's own call log and timeline — and nothing more may be asked of the first one.

import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeBootIdFile, makeTempDir, spawnDaemon, type RunningDaemon } from '../helpers/daemon.js';
import { recordingRelay } from '../helpers/relay.js';
import { spawnSim, type SimHandle } from '../helpers/sim.js';
import { count, timelines } from './timeline.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

beforeAll(() => readFile(join(import.meta.dirname, '../../dist/src/cli/bin.js')).then(() => undefined));

const guest = (name: string, power: 'Halted' | 'Running') => ({ name_label: name, power_state: power, other_config: { auto_poweron: 'true' } });

describe('daemon: SIGHUP', () => {
  it('moves the toolstack connection to the new url, protocol and credentials; restart-only settings are named and kept', async () => {
    const first = await spawnSim({ timeScale: 0.02, scenario: { guests: [guest('first-guest', 'Halted')], templates: 0, snapshot: false } });
    cleanups.push(() => first.stop());
    const second: SimHandle = await spawnSim({
      timeScale: 0.02,
      user: 'operator',
      password: 'second-secret',
      scenario: { guests: [guest('second-guest', 'Running')], templates: 0, snapshot: false },
    });
    cleanups.push(() => second.stop());
    const relay = await recordingRelay(second.url);
    cleanups.push(() => relay.close());

    const dir = await makeTempDir('xg-reload-');
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const configPath = join(dir, 'config.toml');
    const passwordPath = join(dir, 'password');
    await writeFile(passwordPath, 'second-secret\n');
    await chmod(passwordPath, 0o600);
    await writeFile(configPath, `[xapi]\nurl = "${first.url}"\nprotocol = "xml-rpc"\n[shutdown]\ndeadline = 120\nguest_timeout = 20\nhard_reserve = 10\n`);
    const stateDir = await makeTempDir();
    cleanups.push(() => rm(stateDir, { recursive: true, force: true }));
    const d: RunningDaemon = await spawnDaemon({
      xapi: null,
      stateDir,
      onSigterm: 'stop-guests',
      bootIdFile: await makeBootIdFile(dir),
      extraArgs: ['--config', configPath],
    });
    cleanups.push(() => d.stop());
    await d.waitForLog((l) => l.msg === 'ready; waiting for a stop');
    // The boot plan ran against the first simulator: it started its guest.
    expect(count((await timelines(first)).get('first-guest'), 'running')).toBeGreaterThan(0);

    await writeFile(
      configPath,
      `[toolstack]\nkind = "xl"\n[xapi]\nurl = "${relay.url}"\nprotocol = "json-rpc"\nuser = "operator"\npassword_file = "${passwordPath}"\n` +
        `call_timeout = 20\n[shutdown]\ndeadline = 120\nguest_timeout = 20\nhard_reserve = 10\n`,
    );
    const firstCallsBefore = ((await first.call('sim.get_call_log', 0)) as unknown[]).length;
    d.signal('SIGHUP');
    const reloaded = await d.waitForLog((l) => String(l.msg).startsWith('config reloaded'));
    // toolstack.kind needs a restart: named in the line, kept as running (XenAPI), at warn level.
    expect(reloaded.level).toBe(40);
    expect(reloaded.msg).toContain('toolstack.kind');
    expect(reloaded.notApplied).toEqual(['toolstack.kind']);
    expect(reloaded.changed).toEqual(expect.arrayContaining(['xapi.url', 'xapi.protocol', 'xapi.user', 'xapi.password_file', 'xapi.call_timeout']));

    d.signal('SIGTERM');
    expect(await d.exited).toBe(0);

    // The shutdown's calls went through the relay to the second simulator, as JSON-RPC.
    expect(relay.seen.length).toBeGreaterThan(0);
    expect(relay.seen.every((r) => r.path === '/jsonrpc' && r.contentType.startsWith('application/json'))).toBe(true);
    // … logged in with the new credentials (the simulator refuses any other), and stopped its guest.
    const secondLog = (await second.call('sim.get_call_log', 0)) as { method: string; caller: string }[];
    expect(secondLog.some((e) => e.method === 'session.login_with_password')).toBe(true);
    expect(secondLog.filter((e) => e.method.includes('clean_shutdown')).every((e) => e.caller.startsWith('operator'))).toBe(true);
    const secondTimeline = (await timelines(second)).get('second-guest');
    expect(count(secondTimeline, 'clean_shutdown requested')).toBe(1);
    // The first simulator was asked nothing after the reload but the old session's goodbye.
    const firstLate = ((await first.call('sim.get_call_log', 0)) as { method: string }[]).slice(firstCallsBefore);
    expect(firstLate.filter((e) => !['session.logout', 'event.from'].includes(e.method))).toEqual([]);
    expect(count((await timelines(first)).get('first-guest'), 'clean_shutdown requested')).toBe(0);
  });
});
