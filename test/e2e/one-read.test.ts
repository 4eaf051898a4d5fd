// Issue 15: the real daemon's boot plan and shutdown plan (and start-all / stop-all) each read the
// guests once — the event cache's own sync is the plan's read — and the event loop is waiting at
// the host before the first start or stop is sent. Judged by the simulator's call log (what reached the host, in order) and
// its timelines.

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/run-cli.js';
import { makeBootIdFile, makeTempDir, spawnDaemon } from '../helpers/daemon.js';
import { spawnSim, until } from '../helpers/sim.js';
import { count, timelines } from './timeline.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

beforeAll(() => readFile(join(import.meta.dirname, '../../dist/src/cli/bin.js')).then(() => undefined));

interface LoggedCall {
  seq: number;
  method: string;
}

/** How often `method` reached the host among `calls`. */
const times = (calls: LoggedCall[], method: string): number => calls.filter((c) => c.method === method).length;
const firstOf = (calls: LoggedCall[], test: (method: string) => boolean): number => calls.findIndex((c) => test(c.method));

describe('daemon: one whole-table read per plan', () => {
  it('boot and shutdown each read VM and guest metrics once, with event.from at the host before the first start / stop', async () => {
    const toStart = ['one-a', 'one-b', 'one-c', 'one-d', 'one-e', 'one-f'];
    const sim = await spawnSim({
      timeScale: 0.02,
      scenario: {
        templates: 0,
        snapshot: false,
        guests: [
          ...toStart.map((name_label, i) => ({ name_label, order: 1 + (i % 2), other_config: { auto_poweron: 'true' } })),
          { name_label: 'one-running', power_state: 'Running', other_config: { auto_poweron: 'true' } },
        ],
      },
    });
    cleanups.push(() => sim.stop());
    const callLog = async (): Promise<LoggedCall[]> => (await sim.call('sim.get_call_log', 0)) as LoggedCall[];

    const d = await spawnDaemon({
      xapi: sim.url,
      stateDir: await makeTempDir(),
      onSigterm: 'stop-guests',
      bootIdFile: await makeBootIdFile(await makeTempDir()),
      configToml: '[shutdown]\ndeadline = 120\nguest_timeout = 20\nhard_reserve = 10\n',
    });
    cleanups.push(() => d.stop());
    await d.waitForLog((l) => l.msg === 'ready; waiting for a stop', 60_000);
    // At rest the boot's session is logged out: everything before that is the boot's.
    const boot = await until('the daemon to log out after its boot plan', async () => {
      const log = await callLog();
      const logout = firstOf(log, (m) => m === 'session.logout');
      return logout >= 0 ? log.slice(0, logout) : undefined;
    });
    const booted = await timelines(sim);
    expect(toStart.filter((n) => count(booted.get(n), 'running') === 1)).toEqual(toStart);

    expect(times(boot, 'VM.get_all_records')).toBe(1);
    expect(times(boot, 'VM_guest_metrics.get_all_records')).toBe(1);
    const firstStart = firstOf(boot, (m) => m === 'Async.VM.start' || m === 'Async.VM.start_on');
    expect(firstStart).toBeGreaterThan(-1);
    expect(firstOf(boot, (m) => m === 'event.from')).toBeGreaterThan(firstOf(boot, (m) => m === 'VM.get_all_records'));
    expect(firstOf(boot, (m) => m === 'event.from')).toBeLessThan(firstStart);

    const bootCalls = (await callLog()).length;
    d.signal('SIGTERM');
    expect(await d.exited).toBe(0);
    const stopped = await timelines(sim);
    expect([...toStart, 'one-running'].filter((n) => count(stopped.get(n), 'halted') === 1)).toEqual([...toStart, 'one-running']);

    const shutdown = (await callLog()).slice(bootCalls);
    const firstStop = firstOf(shutdown, (m) => m === 'Async.VM.clean_shutdown');
    expect(firstStop).toBeGreaterThan(-1);
    const beforeStops = shutdown.slice(0, firstStop);
    expect(times(beforeStops, 'VM.get_all_records')).toBe(1);
    expect(times(beforeStops, 'VM_guest_metrics.get_all_records')).toBe(1);
    expect(firstOf(beforeStops, (m) => m === 'event.from')).toBeGreaterThan(firstOf(beforeStops, (m) => m === 'VM.get_all_records'));
  });

  it('start-all and stop-all each read VM and guest metrics once, with event.from at the host before the first start / stop', async () => {
    const names = ['cli-a', 'cli-b', 'cli-c', 'cli-d'];
    const sim = await spawnSim({
      timeScale: 0.02,
      scenario: { templates: 0, snapshot: false, guests: names.map((name_label, i) => ({ name_label, order: 1 + (i % 2), other_config: { auto_poweron: 'true' } })) },
    });
    cleanups.push(() => sim.stop());
    const dir = await makeTempDir();
    const config = join(dir, 'config.toml');
    await writeFile(config, '[shutdown]\ndeadline = 120\nguest_timeout = 20\nhard_reserve = 10\n');
    const callLog = async (): Promise<LoggedCall[]> => (await sim.call('sim.get_call_log', 0)) as LoggedCall[];
    const run = async (command: string): Promise<LoggedCall[]> => {
      const before = (await callLog()).length;
      const r = await runCli([command, '--xapi', sim.url, '--state-dir', join(dir, 'state'), '--config', config], { timeoutMs: 90_000, env: { XEN_GUESTS_RUNTIME_DIR: join(dir, 'run') } });
      expect(r.code, r.stderr).toBe(0);
      return (await callLog()).slice(before);
    };

    const started = await run('start-all');
    const firstStart = firstOf(started, (m) => m === 'Async.VM.start' || m === 'Async.VM.start_on');
    expect(firstStart).toBeGreaterThan(-1);
    expect(times(started, 'VM.get_all_records')).toBe(1);
    expect(times(started, 'VM_guest_metrics.get_all_records')).toBe(1);
    expect(firstOf(started, (m) => m === 'event.from')).toBeGreaterThan(firstOf(started, (m) => m === 'VM.get_all_records'));
    expect(firstOf(started, (m) => m === 'event.from')).toBeLessThan(firstStart);
    const booted = await timelines(sim);
    expect(names.filter((n) => count(booted.get(n), 'running') === 1)).toEqual(names);

    const stopped = await run('stop-all');
    const firstStop = firstOf(stopped, (m) => m === 'Async.VM.clean_shutdown');
    expect(firstStop).toBeGreaterThan(-1);
    const beforeStops = stopped.slice(0, firstStop);
    expect(times(beforeStops, 'VM.get_all_records')).toBe(1);
    expect(times(beforeStops, 'VM_guest_metrics.get_all_records')).toBe(1);
    expect(firstOf(beforeStops, (m) => m === 'event.from')).toBeGreaterThan(firstOf(beforeStops, (m) => m === 'VM.get_all_records'));
    const after = await timelines(sim);
    expect(names.filter((n) => count(after.get(n), 'halted') === 1)).toEqual(names);
  });
});
