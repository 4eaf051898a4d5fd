// Findings of issue 16's last walk (every command on a terminal and with --json, with the usual
// fumbles), each as the real CLI process: typos get a "did you mean", a forgotten value is named as
// such, and a bad value typed on the command line is bad usage (exit 2) for every command alike.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './run-cli.js';
import { spawnSim } from '../helpers/sim.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'xg-walk-'));
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Runs the CLI with private state and runtime directories, so nothing of a real install is touched. */
function xg(...args: string[]) {
  return runCli(args, { env: { XEN_GUESTS_RUNTIME_DIR: join(dir, 'run') }, timeoutMs: 30_000 });
}

describe('typos and forgotten values', () => {
  it('no command at all: the usage on stderr (not on stdout, where a script reads), exit 2; --help on stdout, exit 0', async () => {
    const none = await xg();
    expect(none.code).toBe(2);
    expect(none.stdout).toBe('');
    expect(none.stderr).toContain('Usage: xen-guests COMMAND');
    const help = await xg('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: xen-guests COMMAND');
  });

  it('a mistyped command is answered with the likely one', async () => {
    const r = await xg('stauts');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown command "stauts" (did you mean "status"?)');
  });

  it.each([
    ['status', '--jsno', '--json'],
    ['plan', '--stat-dir', '--state-dir'],
    ['demo', '--kep', '--keep'],
    ['config', '--cofnig', '--config'],
  ])('%s %s: unknown option named with the likely one, not node\'s raw wording', async (command, typo, meant) => {
    const r = await xg(command, typo);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`unknown option "${typo}" (did you mean "${meant}"?)`);
    expect(r.stderr).not.toContain('Unknown option');
  });

  it('help stauts: the command it likely meant', async () => {
    const r = await xg('help', 'stauts');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown command or option "stauts" (did you mean "status"?)');
  });

  it('config chek: the subcommand it likely meant', async () => {
    const r = await xg('config', 'chek');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('expected the subcommand "check", got "chek" (did you mean "check"?)');
  });

  it('maintenance on --reason followed by another flag says the reason is missing, not "argument is ambiguous"', async () => {
    const r = await xg('maintenance', 'on', 'web', '--reason', '--xapi', 'http://127.0.0.1:1');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--reason needs a value (--reason VALUE), but "--xapi" follows it, which reads as an option');
    expect(r.stderr).not.toMatch(/ambiguous|Did you forget/);
  });
});

describe('a negative number where a value is due', () => {
  it('--wait -1 names the -1 it read as an option and the way to pass it', async () => {
    const r = await xg('status', '--wait', '-1');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--wait needs a value (--wait VALUE), but "-1" follows it, which reads as an option (to give a value that starts with "-", write --wait=-1)');
  });
});

describe('a bad value on the command line is bad usage (2) for every command; a bad file stays 78', () => {
  it.each([
    [['daemon', '--on-sigterm', 'stop', '--state-dir']],
    [['config', 'check', '--on-sigterm', 'stop', '--state-dir']],
    [['status', '--xapi', 'ftp://example.org', '--state-dir']],
  ])('%j', async (args) => {
    const r = await xg(...args, join(dir, 'state'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--on-sigterm "stop"|--xapi "ftp:\/\/example.org"/);
  });

  it('the daemon with a bad config file still exits 78', async () => {
    const r = await xg('daemon', '--config', join(dir, 'nonexistent.toml'), '--state-dir', join(dir, 'state'));
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(join(dir, 'nonexistent.toml'));
  });
});

describe('run totals count guests only', () => {
  it('start-all: templates, snapshots and the control domain are not counted as skipped guests', async () => {
    const sim = await spawnSim({
      scenario: {
        guests: [
          { name_label: 'web', power_state: 'Halted', other_config: { auto_poweron: 'true' } },
          { name_label: 'off', power_state: 'Halted', other_config: { auto_poweron: 'false' } },
          { name_label: 'tpl', is_a_template: true },
        ],
      },
      timeScale: 0.01,
    });
    try {
      // How many VMs are no guests, as the toolstack itself says (the simulator adds its control domain).
      const records = Object.values((await sim.call('VM.get_all_records', await sim.login())) as Record<string, Record<string, unknown>>);
      const notGuests = records.filter((r) => r.is_a_template || r.is_a_snapshot || r.is_control_domain).length;
      expect(notGuests).toBeGreaterThanOrEqual(2);
      const args = ['--xapi', sim.url, '--state-dir', join(dir, 'totals-state')];
      const run = await xg('start-all', ...args);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain(`Totals: 1 started, 1 skipped (plus ${notGuests} VMs that are not guests`);
      const report = JSON.parse((await xg('report', 'boot', '--json', '--state-dir', join(dir, 'totals-state'))).stdout) as { totals: Record<string, number> };
      expect(report.totals).toMatchObject({ started: 1, skipped: 1 });
    } finally {
      await sim.stop();
    }
  });
});

describe('config problems name what the file says', () => {
  it('a short deadline is blamed on the deadline the file sets, not on a guest_timeout it never set', async () => {
    const config = join(dir, 'short-deadline.toml');
    await writeFile(config, '[shutdown]\ndeadline = 20\nhard_reserve = 5\n');
    const r = await xg('config', 'check', '--config', config);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(`shutdown.deadline = 20 in ${config}: leaves shutdown.deadline - shutdown.hard_reserve = 20 - 5 = 15 seconds for clean shutdowns`);
    expect(r.stderr).toContain('built-in default shutdown.guest_timeout = 180');
    expect(r.stderr).not.toContain(`shutdown.guest_timeout = 180 in ${config}`);
  });
});

describe('status VM: the clean shutdown line', () => {
  it('a halted guest has nothing to shut down (not "impossible"); a running one says whether it can', async () => {
    const sim = await spawnSim({
      scenario: {
        guests: [
          { name_label: 'down', power_state: 'Halted' },
          { name_label: 'up', power_state: 'Running' },
        ],
      },
      timeScale: 0.01,
    });
    try {
      const args = ['--xapi', sim.url, '--state-dir', join(dir, 'status-state')];
      const down = await xg('status', 'down', ...args);
      expect(down.code).toBe(0);
      expect(down.stdout).toMatch(/clean shutdown +- \(Halted: nothing to shut down/);
      expect(down.stdout).not.toContain('impossible');
      // What the toolstack says of the running guest decides the word, not the command's own idea.
      const records = Object.values((await sim.call('VM.get_all_records', await sim.login())) as Record<string, { name_label: string; power_state: string }>);
      expect(records.find((r) => r.name_label === 'up')?.power_state).toBe('Running');
      const up = await xg('status', 'up', ...args);
      expect(up.stdout).toMatch(/clean shutdown +(possible|impossible): /);
    } finally {
      await sim.stop();
    }
  });
});

describe('refusals and failures as an admin meets them (the fresh walk of issue 16)', () => {
  it('a daemon that cannot start says why in one line, without a stack trace', async () => {
    const bootId = join(dir, 'empty-boot_id');
    await writeFile(bootId, '');
    const r = await runCli(['daemon', '--xapi', 'unix:/nonexistent/xapi', '--state-dir', join(dir, 'daemon-state')], {
      env: { XEN_GUESTS_RUNTIME_DIR: join(dir, 'daemon-run'), XEN_GUESTS_BOOT_ID_FILE: bootId, NOTIFY_SOCKET: '' },
      timeoutMs: 30_000,
    });
    expect(r.code).toBe(1);
    const fatal = (r.stdout + r.stderr).split('\n').filter((l) => l.includes('"level":60')).map((l) => JSON.parse(l) as { msg: string });
    expect(fatal).toEqual([expect.objectContaining({ msg: expect.stringMatching(/^daemon failed: boot id file .*empty-boot_id holds ""; expected a uuid/) })]);
    expect(r.stdout + r.stderr).not.toMatch(/\bat .*:\d+:\d+/);
  });
});
