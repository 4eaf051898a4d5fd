// One whole cycle with nothing but the program under test — the clone's `node dist/…/bin.js`, or
// with XEN_GUESTS_BIN the self-contained executable (and XEN_GUESTS_BIN_WRAPPER, e.g. the Linux 4.19
// syscall emulation in .ci/run): `sim`, `plan boot`, the daemon's host boot to READY, SIGTERM at
// host power-off, `report shutdown`. Outcomes are judged by the simulator's own timeline.

import { afterEach, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli } from '../cli/run-cli.js';
import { makeBootIdFile, makeTempDir, spawnDaemon } from '../helpers/daemon.js';
import { spawnSim } from '../helpers/sim.js';
import { count, firstAt, timelines } from '../e2e/timeline.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

const on = (extra: Record<string, string> = {}) => ({ auto_poweron: 'true', ...extra });

describe(`the program under test (${process.env.XEN_GUESTS_BIN ?? 'node dist/src/cli/bin.js'}${process.env.XEN_GUESTS_BIN_WRAPPER ? ' under ' + process.env.XEN_GUESTS_BIN_WRAPPER : ''})`, () => {
  it('runs sim, plan boot, a daemon boot, a SIGTERM shutdown and report', async () => {
    const sim = await spawnSim({
      underTest: true,
      timeScale: 0.02,
      scenario: {
        guests: [
          { name_label: 'first', order: 1, other_config: on() },
          { name_label: 'second', order: 2, other_config: on({ 'xen-guests:ready': 'agent' }) },
          { name_label: 'idle', order: 1, other_config: {} },
        ],
        templates: 1,
        snapshot: false,
        hosts: [{ name_label: 'host-a', memory_mib: 65536 }],
      },
    });
    cleanups.push(() => sim.stop());

    const plan = await runCli(['plan', 'boot', '--xapi', sim.url], { timeoutMs: 60_000 });
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(/first/);
    expect(plan.stdout).toMatch(/second/);

    const work = await makeTempDir();
    const stateDir = join(work, 'state');
    const config = join(work, 'config.toml');
    await writeFile(config, '[shutdown]\nguest_timeout = 20\ndeadline = 120\nhard_reserve = 10\n');
    const daemon = await spawnDaemon({
      xapi: sim.url,
      stateDir,
      onSigterm: 'stop-guests',
      bootIdFile: await makeBootIdFile(work),
      env: { XEN_GUESTS_RUNTIME_DIR: await makeTempDir() },
      extraArgs: ['--config', config],
    });
    cleanups.push(() => daemon.stop());
    await daemon.waitForLog((l) => l.msg === 'ready; waiting for a stop', 60_000);
    daemon.signal('SIGTERM');
    expect(await daemon.exited).toBe(0);

    const t = await timelines(sim);
    expect(firstAt(t.get('first'), 'halted')).toBeGreaterThan(firstAt(t.get('second'), 'halted')!); // reverse order
    expect(count(t.get('first'), 'start requested')).toBe(1);
    expect(count(t.get('idle'), 'start requested')).toBe(0);

    const report = await runCli(['report', 'shutdown', '--state-dir', stateDir], { timeoutMs: 60_000 });
    expect(report.code, report.stderr).toBe(0);
    expect(report.stdout).toMatch(/Left running: none/);
  });

  it('runs the demo, which starts the simulator and the daemon as copies of itself', async () => {
    // The demo spawns `sim`, `daemon` and `report` as children of the same program: from a clone
    // that is node + dist/…/bin.js, from the executable the executable itself.
    const demo = await runCli(['demo', '--time-scale', '0.02'], { timeoutMs: 150_000 });
    expect(demo.code, demo.stderr).toBe(0);
    expect(demo.stdout).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+/);
    expect(demo.stdout).toMatch(/== The daemon exited with code 0/);
    expect(demo.stdout).toMatch(/Left running: none/);
  }, 180_000);
});
