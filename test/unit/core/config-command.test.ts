// `xen-guests config check` as a real process (node dist/src/cli/bin.js; `npm test` builds first).

import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = resolve('dist/src/cli/bin.js');

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(...args: string[]): Promise<Result> {
  return new Promise((done) => {
    execFile(process.execPath, [BIN, 'config', ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

describe('xen-guests config check', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'xg-config-cli-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prints ok and the effective values for the shipped config, exit 0', async () => {
    const shipped = resolve('config/config.toml');
    const r = await cli('check', '--config', shipped);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe(`ok: ${shipped}`);
    expect(r.stdout).toContain('[shutdown]\nparallelism = 8\nguest_timeout = 180\ndeadline = 900\nhard_reserve = 60\n');
  });

  it('names the settings a running daemon cannot take on SIGHUP (they need a restart)', async () => {
    const shipped = resolve('config/config.toml');
    const text = await cli('check', '--config', shipped);
    expect(text.stdout).toContain('except state_dir, toolstack.kind: those need a restart');
    const json = await cli('check', '--config', shipped, '--json');
    expect((JSON.parse(json.stdout) as { restartOnly: string[] }).restartOnly).toEqual(['state_dir', 'toolstack.kind']);
  });

  it('applies and shows command-line overrides', async () => {
    const r = await cli('check', '--config', resolve('config/config.toml'), '--xapi', 'http://127.0.0.1:4040', '--on-sigterm', 'leave-guests', '--state-dir', dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('url = "http://127.0.0.1:4040"');
    expect(r.stdout).toContain('on_sigterm = "leave-guests"');
    expect(r.stdout).toContain(`state_dir = "${dir}"`);
  });

  it('prints every problem and exits 78 (EX_CONFIG) for a bad file', async () => {
    const path = join(dir, 'bad.toml');
    await writeFile(path, '[shutdown]\ndeadline = -5\n[boot]\nparalellism = 3\n');
    const r = await cli('check', '--config', path);
    expect(r.code).toBe(78);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`2 problems in ${path}:`);
    expect(r.stderr).toContain(`shutdown.deadline = -5 in ${path}: must be a whole number of seconds from 10 to 86400`);
    expect(r.stderr).toContain('boot.paralellism = 3');
    expect(r.stderr).toContain('did you mean "parallelism"?');
  });

  it('--json for scripts, both ways', async () => {
    const bad = join(dir, 'bad-json.toml');
    await writeFile(bad, '[toolstack]\nkind = "xapi"\n');
    const r1 = await cli('check', '--config', bad, '--json');
    expect(r1.code).toBe(78);
    const out1 = JSON.parse(r1.stdout) as { ok: boolean; problems: { key: string; value: string }[] };
    expect(out1.ok).toBe(false);
    expect(out1.problems).toEqual([expect.objectContaining({ key: 'toolstack.kind', value: '"xapi"', file: bad })]);
    // The one --json shape of every command: the problems' messages in errors[].
    expect(out1).toMatchObject({ command: 'config check', errors: [expect.stringContaining('toolstack.kind')] });

    const good = join(dir, 'good.toml');
    await writeFile(good, '[boot]\nparallelism = 2\n');
    const r2 = await cli('check', '--config', good, '--json');
    expect(r2.code).toBe(0);
    const out2 = JSON.parse(r2.stdout) as { ok: boolean; source: string; config: { boot: { parallelism: number } } };
    expect(out2).toMatchObject({ command: 'config check', ok: true, source: good, config: { boot: { parallelism: 2 } }, errors: [] });
  });

  it('refuses a password file others can read, without printing the password', async () => {
    const password = join(dir, 'password');
    await writeFile(password, 'topsecret\n');
    await chmod(password, 0o644);
    const config = join(dir, 'https.toml');
    await writeFile(config, `[xapi]\nurl = "https://xcp.example"\npassword_file = "${password}"\n`);
    const r = await cli('check', '--config', config);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('is open to group or others (mode 0644)');
    // The problem is the config key naming the file, reported against the config file itself.
    expect(r.stderr).toContain(`xapi.password_file = "${password}" in ${config}:`);
    expect(r.stderr + r.stdout).not.toContain('topsecret');
    await chmod(password, 0o600);
    const ok = await cli('check', '--config', config);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(`# ${password}: readable by its owner only`);
    expect(ok.stdout).not.toContain('topsecret');
  });

  it('a bad override is named by its flag, and is bad usage (exit 2), not a bad config file', async () => {
    const r = await cli('check', '--config', resolve('config/config.toml'), '--on-sigterm', 'never');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--on-sigterm "never": must be one of auto, stop-guests, leave-guests');
  });

  it('--help, and usage errors exit 2', async () => {
    const help = await cli('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: xen-guests config check');
    const none = await cli();
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('expected the subcommand "check", got nothing');
    const flag = await cli('check', '--bogus');
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain('unknown option "--bogus"');
  });
});
