// The single-instance locks (src/state/lock.ts), judged by the files on disk and by real processes:
// a dead holder's pid, a holder from another boot, a reused pid, and processes racing for one lock.

import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { acquireLock, DAEMON_LOCK, LockBusyError, processStartTicks, type LockHolder } from '../../../src/state/lock.js';
import { makeTempDir } from '../../helpers/daemon.js';

const BOOT = 'boot-1';
const dirs: string[] = [];
afterEach(async () => {
  while (dirs.length) await rm(dirs.pop()!, { recursive: true, force: true });
});
async function dir(): Promise<string> {
  const d = await makeTempDir('xg-lock-');
  dirs.push(d);
  return d;
}

/** Runs `node -e script` to its exit; resolves with its stdout and pid. */
function node(script: string, args: string[] = []): Promise<{ pid: number; stdout: string; code: number | null }> {
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.on('error', fail);
    child.on('exit', (code) => ok({ pid: child.pid!, stdout, code }));
  });
}

async function writeHolder(d: string, holder: Partial<LockHolder>): Promise<void> {
  const full: LockHolder = { pid: process.pid, what: 'someone', bootId: BOOT, startTicks: null, since: new Date().toISOString(), ...holder };
  await writeFile(join(d, DAEMON_LOCK), JSON.stringify(full));
}

describe('single-instance lock', () => {
  it('refuses a second taker while the holder lives, naming its pid', async () => {
    const d = await dir();
    const first = await acquireLock(d, DAEMON_LOCK, 'the daemon', BOOT);
    const err = await acquireLock(d, DAEMON_LOCK, 'another daemon', BOOT).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockBusyError);
    expect((err as LockBusyError).message).toContain(`the daemon (pid ${process.pid}`);
    await first.release();
    const again = await acquireLock(d, DAEMON_LOCK, 'another daemon', BOOT);
    expect(JSON.parse(await readFile(join(d, DAEMON_LOCK), 'utf8')).what).toBe('another daemon');
    await again.release();
  });

  it('takes over the lock of a process that exited, saying why', async () => {
    const d = await dir();
    const gone = await node('');
    await writeHolder(d, { pid: gone.pid });
    const stale: string[] = [];
    const lock = await acquireLock(d, DAEMON_LOCK, 'the daemon', BOOT, (_h, why) => stale.push(why));
    expect(stale).toEqual([`process ${gone.pid} no longer exists`]);
    expect(JSON.parse(await readFile(join(d, DAEMON_LOCK), 'utf8')).pid).toBe(process.pid);
    await lock.release();
  });

  it('takes over a lock from an earlier boot and one whose pid now belongs to another process', async () => {
    const d = await dir();
    await writeHolder(d, { bootId: 'boot-0' });
    const whys: string[] = [];
    const a = await acquireLock(d, DAEMON_LOCK, 'the daemon', BOOT, (_h, why) => whys.push(why));
    await a.release();
    const ticks = await processStartTicks(process.pid);
    expect(typeof ticks).toBe('number');
    await writeHolder(d, { startTicks: (ticks as number) - 1 });
    const b = await acquireLock(d, DAEMON_LOCK, 'the daemon', BOOT, (_h, why) => whys.push(why));
    await b.release();
    expect(whys).toEqual(['taken in an earlier boot (boot-0)', `pid ${process.pid} now belongs to another process`]);
  });

  it('release leaves a lock that is no longer ours', async () => {
    const d = await dir();
    const lock = await acquireLock(d, DAEMON_LOCK, 'the daemon', BOOT);
    await writeHolder(d, { what: 'a taker after us' });
    await lock.release();
    expect(JSON.parse(await readFile(join(d, DAEMON_LOCK), 'utf8')).what).toBe('a taker after us');
  });

  it('lets exactly one of several processes racing for a stale lock win', async () => {
    const d = await dir();
    const gone = await node('');
    await writeHolder(d, { pid: gone.pid });
    const lockJs = resolve(import.meta.dirname, '../../../dist/src/state/lock.js');
    // Each racer reports, then stays alive (holding what it took) until every racer has reported:
    // the parent's "done" file is the barrier, so a late racer never meets a winner already gone.
    const script = `
      const { acquireLock } = await import(${JSON.stringify(lockJs)});
      const { existsSync } = await import('node:fs');
      const [dir, boot] = process.argv.slice(1);
      try { await acquireLock(dir, 'daemon.lock', 'racer ' + process.pid, boot); console.log('won'); }
      catch (e) { console.log(e.name); }
      for (let i = 0; i < 1200 && !existsSync(dir + '/done'); i++) await new Promise((r) => setTimeout(r, 50));`;
    const racers = Array.from({ length: 4 }, () => spawn(process.execPath, ['--input-type=module', '-e', script, d, BOOT], { stdio: ['ignore', 'pipe', 'inherit'] }));
    const outcomes = await Promise.all(
      racers.map((child) => new Promise<string>((ok) => child.stdout.setEncoding('utf8').once('data', (line: string) => ok(line.trim())))),
    );
    await writeFile(join(d, 'done'), '');
    await Promise.all(racers.map((child) => new Promise((ok) => (child.exitCode !== null ? ok(null) : child.once('exit', ok)))));
    expect(outcomes.filter((o) => o === 'won')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'LockBusyError')).toHaveLength(3);
  });
});
