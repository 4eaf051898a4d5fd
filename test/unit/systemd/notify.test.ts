// The notifier against a real AF_UNIX datagram socket, through the real systemd-notify binary.

import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/log.js';
import { createNotifier } from '../../../src/systemd/notify.js';
import { startNotifyReceiver, valuesOf, type NotifyReceiver } from '../../helpers/notify.js';

function hasSystemdNotify(): boolean {
  try {
    execFileSync('systemd-notify', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function captureLogger() {
  const lines: { level: number; msg: string }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l));
      done();
    },
  });
  return { log: createLogger({ json: true, destination: sink, level: 'debug' }), lines };
}

const itWithBinary = hasSystemdNotify() ? it : it.skip;

describe('createNotifier', () => {
  let receiver: NotifyReceiver;
  beforeEach(async () => {
    receiver = await startNotifyReceiver();
  });
  afterEach(async () => {
    await receiver.close();
  });

  itWithBinary('sends READY and STATUS in one datagram, attributed to our pid', async () => {
    const { log } = captureLogger();
    const n = createNotifier(log, { env: { ...process.env, NOTIFY_SOCKET: receiver.path } });
    n.ready('3 guests up');
    await n.close();
    const m = await receiver.waitFor((x) => x.assignments.includes('READY=1'));
    expect(m.assignments).toContain('STATUS=3 guests up');
    // systemd-notify --pid adds MAINPID=; as root the credentials carry our pid, else its own.
    expect(m.assignments).toContain(`MAINPID=${process.pid}`);
    if (process.getuid?.() === 0) expect(m.pid).toBe(process.pid);
  });

  itWithBinary('batches assignments made in the same tick and keeps the latest STATUS', async () => {
    const { log } = captureLogger();
    const n = createNotifier(log, { env: { ...process.env, NOTIFY_SOCKET: receiver.path } });
    n.status('one');
    n.status('two');
    n.extendTimeout(1500);
    n.stopping('stopping: 3 left');
    await n.close();
    await receiver.waitFor((m) => m.assignments.includes('STOPPING=1'));
    const carrying = receiver.received().filter((m) => m.assignments.some((a) => a.startsWith('STATUS=') || a.startsWith('STOPPING=')));
    expect(carrying).toHaveLength(1);
    expect(carrying[0]!.assignments).toEqual(expect.arrayContaining(['STOPPING=1', 'STATUS=stopping: 3 left', 'EXTEND_TIMEOUT_USEC=1500000']));
    expect(valuesOf(receiver, 'STATUS')).toEqual(['stopping: 3 left']);
  });

  itWithBinary('rate-limits STATUS: a thousand updates become a handful of messages, the last one wins', async () => {
    const { log } = captureLogger();
    const n = createNotifier(log, { env: { ...process.env, NOTIFY_SOCKET: receiver.path }, minIntervalMs: 100 });
    for (let i = 1; i <= 1000; i++) {
      n.status(`started ${i}/1000`);
      if (i % 50 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    await n.close();
    await receiver.waitFor((m) => m.assignments.includes('STATUS=started 1000/1000'));
    const statuses = valuesOf(receiver, 'STATUS');
    expect(statuses.at(-1)).toBe('started 1000/1000');
    expect(statuses.length).toBeGreaterThanOrEqual(1);
    expect(statuses.length).toBeLessThan(50);
  });

  itWithBinary('keeps state changes in order and never merges READY with RELOADING', async () => {
    const { log } = captureLogger();
    const n = createNotifier(log, { env: { ...process.env, NOTIFY_SOCKET: receiver.path } });
    n.reloading();
    n.ready('reloaded');
    await n.close();
    await receiver.waitFor((m) => m.assignments.includes('READY=1'));
    const states = receiver
      .received()
      .map((m) => m.assignments.filter((a) => a === 'READY=1' || a === 'RELOADING=1'))
      .filter((a) => a.length > 0);
    expect(states).toEqual([['RELOADING=1'], ['READY=1']]);
    const reloading = receiver.received().find((m) => m.assignments.includes('RELOADING=1'))!;
    expect(reloading.assignments.some((a) => /^MONOTONIC_USEC=\d+$/.test(a))).toBe(true);
  });

  itWithBinary('pings WATCHDOG=1 at half of WATCHDOG_USEC', async () => {
    const { log } = captureLogger();
    const n = createNotifier(log, {
      env: { ...process.env, NOTIFY_SOCKET: receiver.path, WATCHDOG_USEC: '400000', WATCHDOG_PID: String(process.pid) },
      minIntervalMs: 10,
    });
    n.startWatchdog();
    await receiver.waitFor(() => valuesOf(receiver, 'WATCHDOG').length >= 3, 20_000);
    await n.close();
    const count = valuesOf(receiver, 'WATCHDOG').length;
    // The moment has passed when a twin notifier, started after the close with the same period,
    // has pinged its own receiver twice: a full period went by on the same clock and timers.
    const twinReceiver = await startNotifyReceiver();
    const twin = createNotifier(log, {
      env: { ...process.env, NOTIFY_SOCKET: twinReceiver.path, WATCHDOG_USEC: '400000', WATCHDOG_PID: String(process.pid) },
      minIntervalMs: 10,
    });
    try {
      twin.startWatchdog();
      await twinReceiver.waitFor(() => valuesOf(twinReceiver, 'WATCHDOG').length >= 2, 20_000);
    } finally {
      await twin.close();
      await twinReceiver.close();
    }
    expect(valuesOf(receiver, 'WATCHDOG').length).toBe(count); // stopped by close()
  });

  itWithBinary('does not ping a watchdog meant for another process', async () => {
    const { log } = captureLogger();
    const n = createNotifier(log, {
      env: { ...process.env, NOTIFY_SOCKET: receiver.path, WATCHDOG_USEC: '100000', WATCHDOG_PID: '1' },
    });
    n.startWatchdog();
    n.status('marker');
    await n.close();
    await receiver.waitFor((m) => m.assignments.includes('STATUS=marker'));
    expect(valuesOf(receiver, 'WATCHDOG')).toEqual([]);
  });

  it('is a silent no-op without NOTIFY_SOCKET', async () => {
    const { log, lines } = captureLogger();
    const env = { ...process.env };
    delete env.NOTIFY_SOCKET;
    const n = createNotifier(log, { env, command: '/nonexistent/systemd-notify' });
    expect(n.enabled).toBe(false);
    n.ready('x');
    n.status('y');
    n.startWatchdog();
    await n.close();
    expect(lines).toEqual([]);
    expect(receiver.messages()).toEqual([]);
  });

  it('never throws when systemd-notify is missing, and says so once', async () => {
    const { log, lines } = captureLogger();
    const n = createNotifier(log, { env: { NOTIFY_SOCKET: receiver.path }, command: '/nonexistent/systemd-notify' });
    n.ready('a');
    await n.flush();
    n.stopping('b');
    n.status('c');
    await n.close();
    const warnings = lines.filter((l) => l.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.msg).toMatch(/\/nonexistent\/systemd-notify not found/);
  });

  it('bounds a send that hangs', async () => {
    const { log, lines } = captureLogger();
    const dir = await mkdtemp(join(tmpdir(), 'xg-hang-'));
    const hanging = join(dir, 'systemd-notify');
    await writeFile(hanging, '#!/bin/sh\nexec sleep 1000\n', { mode: 0o755 });
    try {
      const n = createNotifier(log, { env: { NOTIFY_SOCKET: receiver.path }, command: hanging, sendTimeoutMs: 300 });
      n.ready();
      await n.close(); // would hang for 1000 s without the bound
      expect(lines.some((l) => l.level === 40 && /did not finish within 300 ms/.test(l.msg))).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
