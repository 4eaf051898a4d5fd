// The daemon's logs as an admin reads them (issue 16, item 6), from the real daemon process against
// the real simulator: JSON lines with one "name" key each (the guest's name is guestName), the host
// named in "this host", a per-guest policy problem at error once and at debug afterwards, and on a
// terminal one line per event.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSim, type SimHandle } from '../helpers/sim.js';
import { BIN, runCli } from './run-cli.js';

const SCENARIO = {
  hosts: [{ name_label: 'lab-host-7' }],
  guests: [
    { name_label: 'web', power_state: 'Halted', other_config: { auto_poweron: 'true' } },
    { name_label: 'batch', power_state: 'Halted', other_config: { auto_poweron: 'true', 'xen-guests:on_stop': 'suspend' } },
  ],
};

let sim: SimHandle;
let dir: string;

beforeAll(async () => {
  sim = await spawnSim({ scenario: SCENARIO, timeScale: 0.01 });
  dir = await mkdtemp(join(tmpdir(), 'xg-logs-'));
});

afterAll(async () => {
  await sim?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A fresh simulated host boot with private state and runtime directories. */
async function bootEnv(name: string): Promise<{ env: Record<string, string>; args: string[] }> {
  const runtime = join(dir, `${name}-run`);
  const bootId = join(dir, `${name}-boot_id`);
  await writeFile(bootId, crypto.randomUUID() + '\n');
  return {
    env: { XEN_GUESTS_RUNTIME_DIR: runtime, XEN_GUESTS_BOOT_ID_FILE: bootId, NOTIFY_SOCKET: '' },
    args: ['daemon', '--xapi', sim.url, '--state-dir', join(dir, `${name}-state`), '--on-sigterm', 'stop-guests'],
  };
}

/** The daemon with JSON logs at debug, until "ready; waiting for a stop", then SIGTERM: its exit code and raw stdout. */
async function daemonUntilReady(env: Record<string, string>, args: string[]): Promise<{ code: number | null; raw: string }> {
  const child = spawn(process.execPath, [BIN, ...args, '--log-level', 'debug'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let raw = '';
  const seen = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "ready; waiting for a stop" within 30 s:\n${raw}`)), 30_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      raw += d;
      if (raw.includes('"msg":"ready; waiting for a stop"')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  await seen;
  child.kill('SIGTERM');
  return { code: await exited, raw };
}

describe('daemon logs', () => {
  it('JSON: one "name" key per line, guests under guest/guestName, the host named, a policy problem at error once then debug', async () => {
    const { env, args } = await bootEnv('json');
    const { code, raw } = await daemonUntilReady(env, args);
    expect(code).toBe(0);

    const lines = raw.split('\n').filter(Boolean);
    for (const line of lines) expect({ line, names: line.match(/"name":/g)?.length ?? 0 }).toMatchObject({ names: 1 });
    const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const e of entries.filter((e) => typeof e.guest === 'string')) expect(e).toHaveProperty('guestName');

    const thisHost = entries.find((e) => typeof e.msg === 'string' && e.msg.startsWith('this host'));
    expect(thisHost).toMatchObject({ hostName: 'lab-host-7', msg: expect.stringContaining('lab-host-7') });

    // The boot plan and the shutdown plan both see batch's refused on_stop: error once, then debug.
    const refused = entries.filter((e) => typeof e.msg === 'string' && e.msg.includes('xen-guests:on_stop = "suspend"'));
    expect(refused.map((e) => e.level)).toEqual([50, 20]);
    expect(refused[0]).toMatchObject({ guestName: 'batch' });
  });

  it('once per host boot: a daemon restarted in the same boot logs a known problem at debug only, and a new one at error; a third remembers both daemons\' problems', async () => {
    const { env, args } = await bootEnv('restart');
    const bootArgs = args.map((a) => (a === 'stop-guests' ? 'leave-guests' : a));
    const runDaemon = async (daemonArgs: string[]) => {
      const { code, raw } = await daemonUntilReady(env, daemonArgs);
      expect(code).toBe(0);
      return raw.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: number; msg: string; repeated?: number });
    };
    const about = (entries: Array<{ level: number; msg: string }>, text: string) => entries.filter((e) => e.msg.includes(text)).map((e) => e.level);

    // First daemon of the boot: the boot plan logs batch's refused on_stop at error; a restart (leave-guests) touches nothing.
    const first = await runDaemon(bootArgs);
    expect(about(first, 'xen-guests:on_stop = "suspend"')).toEqual([50]);

    // Between the two daemons, web gets a bad value of its own.
    const session = String(await sim.call('session.login_with_password', 'root', '', '2.0', 'test'));
    const web = String(await sim.call('VM.get_by_name_label', session, 'web').then((refs) => (refs as string[])[0]));
    await sim.call('VM.add_to_other_config', session, web, 'xen-guests:shutdown_timeout', 'soon');

    // Second daemon, same boot, host going down: the known problem at debug only (and counted), the new one at error.
    const second = await runDaemon(args);
    expect(about(second, 'xen-guests:on_stop = "suspend"')).toEqual([20]);
    expect(about(second, 'xen-guests:shutdown_timeout = "soon"')).toEqual([50]);
    expect(second.find((e) => e.msg.includes('already logged earlier in this boot'))).toMatchObject({ level: 30, repeated: 1 });

    // Third daemon, same boot: both were told by earlier daemons (the first and the second), so both at debug only.
    const third = await runDaemon(args);
    expect(about(third, 'xen-guests:on_stop = "suspend"')).toEqual([20]);
    expect(about(third, 'xen-guests:shutdown_timeout = "soon"')).toEqual([20]);
    expect(third.find((e) => e.msg.includes('already logged earlier in this boot'))).toMatchObject({ level: 30, repeated: 2 });
  });

  it('on a terminal: one line per event, each starting with its time', async () => {
    const { env, args } = await bootEnv('tty');
    // The shell prints its pid and becomes the daemon (exec), so the test signals the daemon itself.
    const command = `echo "daemon pid $$"; exec "${process.execPath}" "${BIN}" ${args.map((a) => `'${a}'`).join(' ')}`;
    const tty = spawn('script', ['-qfec', command, '/dev/null'], { env: { ...process.env, ...env, NO_COLOR: '1' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    const ready = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the daemon did not get ready within 30 s:\n${out}`)), 30_000);
      tty.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        const pid = /daemon pid (\d+)/.exec(out);
        if (pid && out.includes('ready; waiting for a stop')) {
          clearTimeout(timer);
          resolve(Number(pid[1]));
        }
      });
    });
    const exited = new Promise<number | null>((r) => tty.once('exit', (code) => r(code)));
    const pid = await ready;
    process.kill(pid, 'SIGTERM');
    expect(await exited).toBe(0);
    const lines = out
      .replace(/\x1b\[[0-9;]*m/g, '')
      .split(/\r?\n/)
      .filter((l) => l.trim() !== '' && !l.startsWith('daemon pid'));
    expect(lines.length).toBeGreaterThan(10);
    for (const line of lines) expect(line).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] (TRACE|DEBUG|INFO|WARN|ERROR|FATAL): /);
  });
});

describe('daemon: the toolstack gone at host shutdown (issue 16, item 5)', () => {
  it('says once what it does, ends with a summary naming what could not be done, closes its record, exit 1, no stack trace', async () => {
    const gone = await spawnSim({ scenario: { hosts: [{ name_label: 'lab-host-8' }], guests: [{ name_label: 'app', power_state: 'Halted' }, { name_label: 'db', power_state: 'Halted', other_config: { auto_poweron: 'true' } }] }, timeScale: 0.01 });
    const { env } = await bootEnv('gone');
    const stateDir = join(dir, 'gone-state');
    const config = join(dir, 'gone.toml');
    // The shortest deadline the config allows, so the wait for the toolstack ends within the test.
    await writeFile(config, '[shutdown]\ndeadline = 15\nhard_reserve = 5\nguest_timeout = 5\n');
    const child = spawn(process.execPath, [BIN, 'daemon', '--xapi', gone.url, '--state-dir', stateDir, '--config', config, '--on-sigterm', 'stop-guests', '--log-level', 'debug'], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let raw = '';
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const lineSeen = (text: string, timeoutMs = 30_000) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${text} within ${timeoutMs} ms:\n${raw}`)), timeoutMs);
        const check = () => {
          if (!raw.includes(text)) return;
          clearTimeout(timer);
          child.stdout.off('data', check);
          resolve();
        };
        child.stdout.on('data', check);
        check();
      });
    child.stdout.setEncoding('utf8').on('data', (d: string) => (raw += d));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    await lineSeen('"msg":"ready; waiting for a stop"');
    await gone.stop();
    child.kill('SIGTERM');
    expect(await exited).toBe(1);

    const entries = raw.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: number; msg: string });
    const told = entries.filter((e) => e.msg.startsWith('toolstack unreachable'));
    expect(told).toHaveLength(1);
    expect(told[0]).toMatchObject({ level: 50, msg: expect.stringMatching(/retrying until the deadline at \d\d:\d\d:\d\d, 1 guest still running as last seen$/) });
    expect(entries.filter((e) => e.level >= 50).length).toBeLessThanOrEqual(3);
    const summary = entries.find((e) => e.msg.startsWith('shutdown gave up'));
    // One sentence, no brackets nested in brackets: when and why it gave up, xapi's last error code and
    // its parameters flat, then what could not be done.
    expect(summary?.msg).toMatch(
      /^shutdown gave up at \d\d:\d\d:\d\d, the deadline for reaching the toolstack: the toolstack at http:\/\/127\.0\.0\.1:\d+ did not become ready before the deadline; the last attempt: xapi at http:\/\/127\.0\.0\.1:\d+ refuses connections \(ECONNREFUSED\) — error XENAPI_UNREACHABLE with http:\/\/127\.0\.0\.1:\d+, ECONNREFUSED\. Could not stop 1 guest last seen running: db\. No snapshot was taken\.$/,
    );
    for (const e of entries) expect({ msg: e.msg, nested: /\([^()]*\(|\[[^\]]*\[/.test(e.msg) }).toMatchObject({ nested: false });
    expect(entries.some((e) => e.msg.startsWith('daemon failed'))).toBe(false);
    expect(raw + stderr).not.toMatch(/\n\s+at /);

    const record = JSON.parse(await readFile(join(stateDir, 'shutdown-progress.json'), 'utf8')) as { finishedAt: string | null };
    expect(record.finishedAt).not.toBeNull();
    const report = await runCli(['report', 'shutdown', '--json', '--state-dir', stateDir]);
    expect(report.code).toBe(1);
    expect(JSON.parse(report.stdout)).toMatchObject({ interrupted: expect.stringContaining('Could not stop 1 guest'), leftRunning: [expect.objectContaining({ name: 'db' })] });
  });
});

describe('daemon STATUS= names what the boot waits for (issue 16, item 4)', () => {
  it('the guest, its readiness check and the time left, as systemctl status shows it', async () => {
    const { startNotifyReceiver } = await import('../helpers/notify.js');
    const notify = await startNotifyReceiver();
    const waiting = await spawnSim({ scenario: { guests: [{ name_label: 'slow-db', power_state: 'Halted', other_config: { auto_poweron: 'true', 'xen-guests:ready': 'vm-data/never' } }] }, timeScale: 0.01 });
    const { env } = await bootEnv('status');
    const config = join(dir, 'status.toml');
    await writeFile(config, '[boot]\nready_timeout = 600\n');
    const child = spawn(process.execPath, [BIN, 'daemon', '--xapi', waiting.url, '--state-dir', join(dir, 'status-state'), '--config', config, '--on-sigterm', 'leave-guests'], {
      env: { ...process.env, ...env, NOTIFY_SOCKET: notify.path },
      stdio: ['ignore', 'ignore', 'ignore'],
    });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      const m = await notify.waitFor((msg) => msg.assignments.some((a) => /^STATUS=.*waiting for slow-db: vm-data\/never written by the guest, \d+m\d*s? left/.test(a)));
      expect(m.pid).toBe(child.pid);
    } finally {
      child.kill('SIGTERM');
      await exited;
      await notify.close();
      await waiting.stop();
    }
  });
});
