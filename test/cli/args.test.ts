// Every admin command as a real process: --help with examples, and bad arguments refused with a
// clear one-line reason and exit 2 before anything is contacted.

import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { BIN, runCli } from './run-cli.js';

const COMMANDS = ['enable', 'disable', 'maintenance', 'plan', 'status', 'report', 'start-all', 'stop-all'];

beforeAll(() => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run "npx tsc -p ." first`);
});

describe('admin commands: help and argument errors', () => {
  it.each(COMMANDS)('%s --help prints usage with examples and exits 0', async (command) => {
    const r = await runCli([command, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Usage: xen-guests ${command}`);
    expect(r.stdout).toContain('Examples:');
    expect(r.stdout).toContain('--json');
    expect(r.stderr).toBe('');
  });

  const bad: [string[], RegExp][] = [
    [['enable'], /name at least one VM/],
    [['disable', '--frobnicate', 'x'], /unknown option "--frobnicate".*allowed options: --config VALUE/],
    [['maintenance'], /missing subcommand; allowed: on, off, list/],
    [['maintenance', 'of', 'vm'], /unknown subcommand "of"; allowed: on, off, list/],
    [['maintenance', 'on', 'vm'], /--reason TEXT is required/],
    [['maintenance', 'on', 'vm', '--reason', '  '], /--reason TEXT is required/],
    [['maintenance', 'off', 'vm', '--block-start'], /belong to "maintenance on"/],
    [['maintenance', 'list', 'vm'], /takes no VM arguments/],
    [['plan'], /missing mode; allowed: boot, shutdown/],
    [['plan', 'reboot'], /unknown mode "reboot"; allowed: boot, shutdown/],
    [['report', 'boot', 'shutdown'], /at most one mode/],
    [['report', '--svg'], /--svg/],
    [['start-all', 'web'], /takes no arguments/],
    [['stop-all', '--dry-run=yes'], /dry-run/],
  ];
  it.each(bad)('%j is refused with exit 2 and a reason', async (args, reason) => {
    const r = await runCli(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(reason);
    expect(r.stderr).toContain(`xen-guests ${args[0]}:`);
    expect(r.stdout).toBe('');
  });

  it('daemon --help documents the environment it reads, XEN_GUESTS_RUNTIME_DIR first', async () => {
    const r = await runCli(['daemon', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Environment:\n  XEN_GUESTS_RUNTIME_DIR  the runtime directory/);
  });

  it('a bad config file is named, with exit 78 (EX_CONFIG, as config check and the daemon)', async () => {
    const r = await runCli(['status', '--config', '/nonexistent/xen-guests.toml']);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('/nonexistent/xen-guests.toml');
  });
});
