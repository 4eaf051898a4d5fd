// Lean at rest (issue 15): after the boot plan the real daemon lets go of its toolstack connection —
// the simulator sees its session logged out, its event stream end and its connections close — and
// a host shutdown then starts from nothing: a new session, every guest stopped, exit 0. Each plan's
// read is the event cache's sync: one VM.get_all_records, and event.from at the host before the
// first start / stop.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeBootIdFile, makeTempDir, spawnDaemon } from '../helpers/daemon.js';
import { callLog, expectOneReadThenEvents, isCleanStop, isStart } from '../helpers/call-log.js';
import { spawnSim, until } from '../helpers/sim.js';
import { count, timelines } from './timeline.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

beforeAll(() => readFile(join(import.meta.dirname, '../../dist/src/cli/bin.js')).then(() => undefined));

interface CallCounts {
  total: number;
  by_method: Record<string, number>;
}

describe('daemon: lean at rest', () => {
  it('logs out after the boot plan, then runs the host shutdown on a fresh session; each plan reads the guests once', async () => {
    const names = ['rest-a', 'rest-b', 'rest-c'];
    const sim = await spawnSim({
      timeScale: 0.02,
      scenario: { templates: 0, snapshot: false, guests: names.map((name_label) => ({ name_label, other_config: { auto_poweron: 'true' } })) },
    });
    cleanups.push(() => sim.stop());
    const counts = async (): Promise<CallCounts> => (await sim.call('sim.get_call_counts')) as CallCounts;
    const method = (c: CallCounts, m: string): number => Number(c.by_method[m] ?? 0);

    const d = await spawnDaemon({
      xapi: sim.url,
      stateDir: await makeTempDir(),
      onSigterm: 'stop-guests',
      bootIdFile: await makeBootIdFile(await makeTempDir()),
      configToml: '[shutdown]\ndeadline = 120\nguest_timeout = 20\nhard_reserve = 10\n',
    });
    cleanups.push(() => d.stop());
    await d.waitForLog((l) => l.msg === 'ready; waiting for a stop', 60_000);

    // At rest: the boot's session is logged out, so no event.from waits on the host any more.
    const atRest = await until('the daemon to log out after its boot plan', async () => {
      const c = await counts();
      return method(c, 'session.logout') >= 1 ? c : undefined;
    });
    expect(method(atRest, 'session.login_with_password')).toBe(1);
    // …and holds no connection to it: the only one the host has open is this reading's own.
    await until('the daemon’s connections to the host closed', async () => Number(((await sim.call('sim.get_info')) as { connections_open: unknown }).connections_open) === 1);
    const logout = (await callLog(sim.call)).findIndex((c) => c.method === 'session.logout');
    expectOneReadThenEvents((await callLog(sim.call)).slice(0, logout), isStart);
    const booted = await timelines(sim);
    expect(names.every((n) => count(booted.get(n), 'running') === 1)).toBe(true);

    d.signal('SIGTERM');
    expect(await d.exited).toBe(0);
    const after = await counts();
    expect(method(after, 'session.login_with_password')).toBe(2);
    expectOneReadThenEvents((await callLog(sim.call)).slice(logout + 1), isCleanStop);
    const stopped = await timelines(sim);
    expect(names.every((n) => count(stopped.get(n), 'halted') === 1)).toBe(true);
  });
});
