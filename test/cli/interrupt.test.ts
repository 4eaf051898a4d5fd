// Ctrl-C during stop-all / start-all (issue 16, item 3): SIGINT sent to the real CLI process while
// a guest's clean shutdown (or start) is in flight. The first launches nothing more, lets what is in
// flight end, records the run marked interrupted and prints the summary; a second exits at once.
// What happened is read from the simulator (power states, its call timeline), not from the CLI.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSim, until, type SimHandle } from '../helpers/sim.js';
import { BIN, runCli } from './run-cli.js';

/** Three order groups; the first one stopped (order 3) takes 120 simulated seconds to halt, the first one started (order 1) 300 to boot. */
const SCENARIO = {
  defaults: { boot_s: 1, agent_s: 1, shutdown_s: 1 },
  guests: [
    { name_label: 'slow', order: 3, power_state: 'Running', other_config: { auto_poweron: 'true' }, behaviour: { shutdown_s: 120 } },
    { name_label: 'middle', order: 2, power_state: 'Running', other_config: { auto_poweron: 'true' } },
    // Its start takes 300 simulated seconds (6 s here), so start-all is still in group 1 when the
    // test's Ctrl-C arrives, however busy the machine is.
    { name_label: 'last', order: 1, power_state: 'Running', other_config: { auto_poweron: 'true' }, behaviour: { boot_s: 300 } },
  ],
};

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  waitFor(stream: 'stdout' | 'stderr', pattern: RegExp, timeoutMs?: number): Promise<void>;
  exit(timeoutMs?: number): Promise<number | null>;
}

function start(args: string[]): Run {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  const text = { stdout: '', stderr: '' };
  const waiters = new Set<() => void>();
  for (const name of ['stdout', 'stderr'] as const) {
    child[name].setEncoding('utf8').on('data', (d: string) => {
      text[name] += d;
      for (const w of waiters) w();
    });
  }
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return {
    child,
    stdout: () => text.stdout,
    stderr: () => text.stderr,
    waitFor: (stream, pattern, timeoutMs = 30_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (!pattern.test(text[stream])) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no ${pattern} on ${stream} within ${timeoutMs} ms\nstdout: ${text.stdout}\nstderr: ${text.stderr}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      }),
    exit: (timeoutMs = 60_000) => {
      let timer: NodeJS.Timeout;
      const bound = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`still running after ${timeoutMs} ms\nstdout: ${text.stdout}\nstderr: ${text.stderr}`)), timeoutMs);
      });
      return Promise.race([exited, bound]).finally(() => clearTimeout(timer));
    },
  };
}

let sim: SimHandle;
let session: string;
let dir: string;
let args: string[];

async function powerStates(): Promise<Record<string, string>> {
  const all = Object.values((await sim.call('VM.get_all_records', session)) as Record<string, { name_label: string; power_state: string }>);
  return Object.fromEntries(all.filter((r) => ['slow', 'middle', 'last'].includes(r.name_label)).map((r) => [r.name_label, r.power_state]));
}

/** Names of the guests the simulator was asked to shut down, from its own timeline. */
async function shutdownsAsked(): Promise<string[]> {
  const timeline = await sim.timeline();
  return Object.values(timeline)
    .filter((vm) => vm.events.some((e) => /shutdown/i.test(e.event)))
    .map((vm) => vm.name_label)
    .sort();
}

beforeEach(async () => {
  sim = await spawnSim({ scenario: SCENARIO, timeScale: 0.02 });
  session = await sim.login();
  dir = await mkdtemp(join(tmpdir(), 'xg-interrupt-'));
  await writeFile(join(dir, 'config.toml'), '[shutdown]\nguest_timeout = 600\ndeadline = 900\nhard_reserve = 60\n');
  args = ['--xapi', sim.url, '--state-dir', join(dir, 'state'), '--config', join(dir, 'config.toml')];
});

afterEach(async () => {
  await sim?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('Ctrl-C during stop-all', () => {
  it('first Ctrl-C: no further group, the clean shutdown in flight ends, the run is recorded INTERRUPTED with a summary; exit 130', async () => {
    const run = start(['stop-all', ...args]);
    await run.waitFor('stdout', /-- group 1\/3/);
    run.child.kill('SIGINT');
    await run.waitFor('stderr', /interrupted: launching nothing more/);
    expect(await run.exit()).toBe(130);

    expect(await powerStates()).toEqual({ slow: 'Halted', middle: 'Running', last: 'Running' });
    expect(await shutdownsAsked()).toEqual(['slow']);
    expect(run.stdout()).toContain('INTERRUPTED: Ctrl-C at');
    // The shell sees 130: the summary names no other exit code.
    expect(run.stdout()).toMatch(/^Result: interrupted before the end/m);
    expect(run.stdout()).not.toMatch(/Result: exit \d/);
    expect(run.stdout()).toMatch(/Totals: .*1 clean.*2 not-attempted|Totals: .*2 not-attempted.*1 clean/);
    expect(run.stderr()).toContain('2 guests not attempted');

    const report = await runCli(['report', 'shutdown', '--json', '--state-dir', join(dir, 'state')]);
    const recorded = JSON.parse(report.stdout) as { interrupted?: string; guests: { guest: { name: string }; outcome: string }[] };
    expect(recorded.interrupted).toMatch(/^Ctrl-C at .*2 guests not attempted$/);
    expect(Object.fromEntries(recorded.guests.map((g) => [g.guest.name, g.outcome]))).toMatchObject({ slow: 'clean', middle: 'not-attempted', last: 'not-attempted' });
  });

  it('second Ctrl-C exits at once, while the clean shutdown is still in flight', async () => {
    const run = start(['stop-all', ...args]);
    await run.waitFor('stdout', /-- group 1\/3/);
    run.child.kill('SIGINT');
    await run.waitFor('stderr', /interrupted: launching nothing more/);
    run.child.kill('SIGINT');
    expect(await run.exit()).toBe(130);
    expect(run.stderr()).toContain('second Ctrl-C: exiting at once');
    // The guest had 120 simulated seconds to go: it is still shutting down, the run was not recorded.
    expect((await powerStates()).slow).toBe('Running');
    const report = await runCli(['report', 'shutdown', '--state-dir', join(dir, 'state')]);
    expect(report.code).toBe(1);
    expect(report.stderr).toContain('no shutdown report');
  });
});

describe('Ctrl-C during start-all', () => {
  it('launches nothing more, records the boot run INTERRUPTED, exit 130', async () => {
    for (const name of ['slow', 'middle', 'last']) {
      const [ref] = (await sim.call('VM.get_by_name_label', session, name)) as string[];
      await sim.call('VM.hard_shutdown', session, ref);
    }
    // start-all goes in ascending order: last (1), middle (2), slow (3); stop it in the first group.
    const run = start(['start-all', ...args]);
    await run.waitFor('stdout', /-- group 1\/3/);
    run.child.kill('SIGINT');
    expect(await run.exit()).toBe(130);
    const states = await powerStates();
    expect(states.slow).toBe('Halted');
    expect(states.middle).toBe('Halted');
    const report = JSON.parse((await runCli(['report', 'boot', '--json', '--state-dir', join(dir, 'state')])).stdout) as { interrupted?: string };
    expect(report.interrupted).toMatch(/^Ctrl-C at .*no further start launched/);
  });
});

describe('Ctrl-C during a readiness wait (the last walk of issue 16)', () => {
  it('the started guest is reported as not confirmed ready because of the interrupt, never as timed out', async () => {
    const [ref] = (await sim.call('VM.get_by_name_label', session, 'last')) as string[];
    for (const name of ['slow', 'middle', 'last']) {
      const [r] = (await sim.call('VM.get_by_name_label', session, name)) as string[];
      await sim.call('VM.hard_shutdown', session, r);
    }
    await sim.call('VM.add_to_other_config', session, ref, 'xen-guests:ready', 'vm-data/never');
    const config = join(dir, 'long-ready.toml');
    await writeFile(config, '[boot]\nready_timeout = 600\n');
    const run = start(['start-all', '--xapi', sim.url, '--state-dir', join(dir, 'state'), '--config', config]);
    // Interrupt once the toolstack shows the guest running: its readiness (never written) is being awaited.
    await until('last running', async () => (await powerStates()).last === 'Running');
    run.child.kill('SIGINT');
    expect(await run.exit()).toBe(130);
    expect(run.stdout()).toContain('last (');
    expect(run.stdout()).toContain('started, readiness not confirmed');
    expect(run.stdout()).toContain('boot plan aborted before it was ready');
    expect(run.stdout()).not.toMatch(/timed out|not ready in time/);
    const report = JSON.parse((await runCli(['report', 'boot', '--json', '--state-dir', join(dir, 'state')])).stdout) as { guests: { guest: { name: string }; outcome: string; reason: string }[] };
    expect(report.guests.find((g) => g.guest.name === 'last')).toMatchObject({ outcome: 'started-not-ready', reason: 'boot plan aborted before it was ready' });
  });
});

describe('the live line names what it waits for (issue 16, item 4)', () => {
  it('start-all on a terminal: the guest, its readiness check and the time left', async () => {
    const { runInPty } = await import('./pty.js');
    const [ref] = (await sim.call('VM.get_by_name_label', session, 'last')) as string[];
    await sim.call('VM.hard_shutdown', session, ref);
    await sim.call('VM.remove_from_other_config', session, ref, 'xen-guests:ready');
    await sim.call('VM.add_to_other_config', session, ref, 'xen-guests:ready', 'vm-data/never');
    const config = join(dir, 'ready.toml');
    await writeFile(config, '[boot]\nready_timeout = 30\n');
    const run = runInPty(['start-all', '--xapi', sim.url, '--state-dir', join(dir, 'state'), '--config', config]);
    try {
      await run.waitFor(/waiting for last: vm-data\/never written by the guest, \d+s left/);
    } finally {
      run.child.kill('SIGTERM');
    }
  });

  it('stop-all on a terminal: the guest still shutting down and its clean time left', async () => {
    const { runInPty } = await import('./pty.js');
    const run = runInPty(['stop-all', ...args]);
    try {
      await run.waitFor(/waiting for slow: clean shutdown, \d+m?\d*s? left/);
    } finally {
      run.child.kill('SIGTERM');
    }
  });
});

describe('a guest that never becomes ready (issue 16, item 9)', () => {
  it('is reported as waited for, never as if the guest wrote the key', async () => {
    const [ref] = (await sim.call('VM.get_by_name_label', session, 'last')) as string[];
    await sim.call('VM.hard_shutdown', session, ref);
    await sim.call('VM.add_to_other_config', session, ref, 'xen-guests:ready', 'vm-data/never');
    const config = join(dir, 'short-ready.toml');
    await writeFile(config, '[boot]\nready_timeout = 1\n');
    const r = await runCli(['start-all', '--xapi', sim.url, '--state-dir', join(dir, 'state'), '--config', config], { timeoutMs: 60_000 });
    expect(r.code).toBe(3);
    expect(r.stdout).toContain('last (');
    expect(r.stdout).toContain('not ready within 1 s (waited for: vm-data/never written by the guest)');
    expect(r.stdout).not.toContain('guest wrote');
  });
});
