// Issue 15: start-all and stop-all read the guests once — the event cache's own sync is the plan's
// read — and the event loop is waiting at the host before the first start or stop is sent (the
// daemon's boot and shutdown: test/e2e/rest.test.ts). Judged by the simulator's call log (what
// reached the host, in order) and its timelines.

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/run-cli.js';
import { callLog, expectOneReadThenEvents, isCleanStop, isStart, type LoggedCall } from '../helpers/call-log.js';
import { makeTempDir } from '../helpers/daemon.js';
import { spawnSim } from '../helpers/sim.js';
import { count, timelines } from './timeline.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

beforeAll(() => readFile(join(import.meta.dirname, '../../dist/src/cli/bin.js')).then(() => undefined));

describe('start-all / stop-all: one whole-table read per plan', () => {
  it('each reads VM and guest metrics once, with event.from at the host before the first start / stop', async () => {
    const names = ['cli-a', 'cli-b', 'cli-c', 'cli-d'];
    const sim = await spawnSim({
      timeScale: 0.02,
      scenario: { templates: 0, snapshot: false, guests: names.map((name_label, i) => ({ name_label, order: 1 + (i % 2), other_config: { auto_poweron: 'true' } })) },
    });
    cleanups.push(() => sim.stop());
    const dir = await makeTempDir();
    const config = join(dir, 'config.toml');
    await writeFile(config, '[shutdown]\ndeadline = 120\nguest_timeout = 20\nhard_reserve = 10\n');
    const run = async (command: string): Promise<LoggedCall[]> => {
      const before = (await callLog(sim.call)).length;
      const r = await runCli([command, '--xapi', sim.url, '--state-dir', join(dir, 'state'), '--config', config], { timeoutMs: 90_000, env: { XEN_GUESTS_RUNTIME_DIR: join(dir, 'run') } });
      expect(r.code, r.stderr).toBe(0);
      return (await callLog(sim.call)).slice(before);
    };

    expectOneReadThenEvents(await run('start-all'), isStart);
    const booted = await timelines(sim);
    expect(names.filter((n) => count(booted.get(n), 'running') === 1)).toEqual(names);

    expectOneReadThenEvents(await run('stop-all'), isCleanStop);
    const after = await timelines(sim);
    expect(names.filter((n) => count(after.get(n), 'halted') === 1)).toEqual(names);
  });
});
