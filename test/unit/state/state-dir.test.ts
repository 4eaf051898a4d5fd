// The state directory on a real file system: atomic replacement under concurrent readers, corrupt
// files moved aside, the boot journal, and real I/O errors (read-only, not a directory, disk full).

import { execFileSync, spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { monotonicNow } from '../../../src/core/clock.js';
import type { RunReport, ShutdownSnapshot } from '../../../src/core/types.js';
import { createLogger } from '../../../src/log.js';
import { openStateDir, readBootId, StateDirError, writeFileAtomic } from '../../../src/state/index.js';

function captureLogger() {
  const lines: { level: number; msg: string; [k: string]: unknown }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l));
      done();
    },
  });
  return { log: createLogger({ json: true, destination: sink, level: 'debug' }), lines };
}

const isRoot = process.getuid?.() === 0;

function report(mode: 'boot' | 'shutdown', guests = 2): RunReport {
  const now = new Date().toISOString();
  return {
    mode,
    bootId: 'b1',
    hostUuid: 'h1',
    startedAt: now,
    endedAt: now,
    deadlineAt: mode === 'shutdown' ? now : null,
    trigger: 'test',
    guests: Array.from({ length: guests }, (_, i) => ({
      guest: { uuid: `u${i}`, name: `vm${i}`, ref: `OpaqueRef:${i}` },
      order: i,
      action: mode === 'boot' ? 'start' : 'clean-shutdown',
      outcome: mode === 'boot' ? 'started' : 'clean',
      reason: null,
      startedAt: now,
      phase1EndAt: now,
      phase2At: null,
      endedAt: now,
      errors: [],
    })),
    groups: [{ order: 0, startedAt: now, endedAt: now }],
    totals: { started: guests } as RunReport['totals'],
    exitCode: 0,
    leftRunning: [],
  };
}

function snapshot(): ShutdownSnapshot {
  return {
    takenAt: new Date().toISOString(),
    bootId: 'b1',
    hostUuid: 'h1',
    guests: [
      {
        uuid: 'u1',
        name: 'web',
        powerState: 'Running',
        residentOn: 'h1',
        affinity: null,
        order: 1,
        memoryMax: 1 << 30,
        otherConfig: { auto_poweron: 'true' },
        policy: {
          onStart: 'start',
          onStop: 'shutdown',
          order: 1,
          startDelay: 0,
          shutdownDelay: 0,
          shutdownTimeout: 180,
          ready: { kind: 'running' },
          maintenance: null,
          selfManagedPoweroff: false,
          sources: {
            onStart: { from: 'key' },
            onStop: { from: 'default' },
            order: { from: 'native' },
            shutdownTimeout: { from: 'config' },
            ready: { from: 'default' },
            maintenance: { from: 'default' },
          },
          problems: [],
        },
      },
    ],
  };
}

describe('state directory', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'xg-state-'));
  });
  afterEach(async () => {
    await chmod(root, 0o700).catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  });

  it('creates a missing directory 0750 and round-trips every file', async () => {
    const { log, lines } = captureLogger();
    const dir = join(root, 'nested', 'xen-guests');
    const state = await openStateDir(dir, log);
    expect(state.problem).toBeNull();
    expect((await stat(dir)).mode & 0o777).toBe(0o750);

    expect(await state.readBootMarker()).toBeNull();
    expect(await state.readSnapshot()).toBeNull();
    expect(await state.readReport('boot')).toBeNull();

    const marker = { bootId: 'b1', handledAt: new Date().toISOString(), outcome: 'done' as const };
    await state.writeBootMarker(marker);
    const snap = snapshot();
    await state.writeSnapshot(snap);
    await state.writeReport(report('boot'));
    await state.writeReport(report('shutdown', 3));

    expect(await state.readBootMarker()).toEqual(marker);
    expect(await state.readSnapshot()).toEqual(snap);
    expect((await state.readReport('boot'))!.mode).toBe('boot');
    expect((await state.readReport('shutdown'))!.guests).toHaveLength(3);
    expect((await readdir(dir)).sort()).toEqual(['boot-marker.json', 'report-boot.json', 'report-shutdown.json', 'shutdown-snapshot.json']);
    expect(lines.filter((l) => l.level >= 50)).toEqual([]);
  });

  it('never shows a torn file to a concurrent reader in another process', async () => {
    const { log } = captureLogger();
    const state = await openStateDir(root, log);
    const path = state.paths.report('shutdown');
    await state.writeReport(report('shutdown', 1));
    // The reader checks that every read parses and is one of the versions we write (n guests, all named).
    const reader = spawn(
      process.execPath,
      [
        '-e',
        `const fs = require('fs'); let reads = 0, bad = 0;
         const until = performance.now() + 60000; // monotonic: a bound, not a time of day
         process.stdin.on('data', () => { console.log(JSON.stringify({ reads, bad })); process.exit(0); });
         (function loop() {
           for (let i = 0; i < 50; i++) {
             try { const r = JSON.parse(fs.readFileSync(${JSON.stringify(path)}, 'utf8'));
                   if (r.guests.length !== r.totals.started) bad++; reads++; }
             catch (e) { bad++; }
           }
           if (performance.now() < until) setImmediate(loop);
         })();`,
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    let out = '';
    reader.stdout.on('data', (d: Buffer) => (out += d.toString()));
    for (let i = 0; i < 200; i++) await state.writeReport(report('shutdown', 1 + (i % 7) * 40));
    const done = new Promise((resolve) => reader.once('exit', resolve));
    reader.stdin.write('stop\n');
    await done;
    const { reads, bad } = JSON.parse(out) as { reads: number; bad: number };
    expect(reads).toBeGreaterThan(0);
    expect(bad).toBe(0);
    // No temp files left behind.
    expect((await readdir(root)).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('moves a corrupt file aside, logs which file and why, and uses the default', async () => {
    const { log, lines } = captureLogger();
    const state = await openStateDir(root, log);
    await writeFile(state.paths.bootMarker, '{"bootId": "b1", "handledAt": "yesterday-ish", "outcome": "done"}');
    await writeFile(state.paths.snapshot, '{"takenAt": ');
    await writeFile(state.paths.report('boot'), JSON.stringify({ ...report('boot'), guests: [{ ...report('boot').guests[0], outcome: 'exploded' }] }));

    expect(await state.readBootMarker()).toBeNull();
    expect(await state.readSnapshot()).toBeNull();
    expect(await state.readReport('boot')).toBeNull();

    const errors = lines.filter((l) => l.level === 50).map((l) => l.msg);
    expect(errors).toHaveLength(3);
    expect(errors[0]).toContain(state.paths.bootMarker);
    expect(errors[0]).toMatch(/handledAt: expected an ISO timestamp, found "yesterday-ish"/);
    expect(errors[1]).toMatch(/not valid JSON/);
    expect(errors[2]).toMatch(/guests\[0\]\.outcome: expected one of started, .*found "exploded"/);
    const files = await readdir(root);
    expect(files.filter((f) => f.startsWith('boot-marker.json.corrupt-'))).toHaveLength(1);
    expect(files.filter((f) => f.startsWith('shutdown-snapshot.json.corrupt-'))).toHaveLength(1);
    expect(files.filter((f) => f.startsWith('report-boot.json.corrupt-'))).toHaveLength(1);
    expect(files).not.toContain('boot-marker.json');
    // The next write works normally.
    await state.writeBootMarker({ bootId: 'b2', handledAt: new Date().toISOString(), outcome: 'in-progress' });
    expect((await state.readBootMarker())!.bootId).toBe('b2');
  });

  it("reads a report's heldMs back, reads one without it (older versions), and names a heldMs that is not a number", async () => {
    const { log, lines } = captureLogger();
    const state = await openStateDir(root, log);
    const held = report('boot', 2);
    held.guests[0]!.heldMs = 4_200;
    await state.writeReport(held);
    const back = (await state.readReport('boot'))!;
    expect(back.guests.map((g) => g.heldMs)).toEqual([4_200, undefined]);

    await writeFile(state.paths.report('shutdown'), JSON.stringify({ ...report('shutdown', 1), guests: [{ ...report('shutdown', 1).guests[0], heldMs: '4s' }] }));
    expect(await state.readReport('shutdown')).toBeNull();
    expect(lines.filter((l) => l.level === 50).map((l) => l.msg)).toEqual([expect.stringMatching(/guests\[0\]\.heldMs: expected a number, found "4s"/)]);
  });

  it('journals start requests per boot, survives a torn last line, and drops an older boot’s journal', async () => {
    const { log, lines } = captureLogger();
    const state = await openStateDir(root, log);
    await state.writeBootMarker({ bootId: 'boot-1', handledAt: new Date().toISOString(), outcome: 'in-progress' });
    await Promise.all(['a', 'b', 'c', 'd'].map((u) => state.markBootStarted('boot-1', u)));
    // A daemon SIGKILLed in the middle of an append leaves half a line.
    await writeFile(state.paths.bootProgress, (await readFile(state.paths.bootProgress, 'utf8')) + '{"bootId":"boot-1","uu');

    expect([...(await state.readBootProgress())].sort()).toEqual(['a', 'b', 'c', 'd']);
    expect([...(await state.readBootProgress('boot-1'))].sort()).toEqual(['a', 'b', 'c', 'd']);
    expect(lines.some((l) => l.level === 40 && /torn line/.test(l.msg))).toBe(true);

    // Same boot, restarted daemon: the journal is kept.
    await state.writeBootMarker({ bootId: 'boot-1', handledAt: new Date().toISOString(), outcome: 'in-progress' });
    expect((await state.readBootProgress()).size).toBe(4);

    // Next boot: the old journal is gone, new entries count.
    await state.writeBootMarker({ bootId: 'boot-2', handledAt: new Date().toISOString(), outcome: 'in-progress' });
    expect((await state.readBootProgress()).size).toBe(0);
    await state.markBootStarted('boot-2', 'e');
    expect([...(await state.readBootProgress())]).toEqual(['e']);
    expect((await state.readBootProgress('boot-1')).size).toBe(0);
  });

  it('journals each start with its wall time and this boot\'s monotonic instant; reads older lines without one', async () => {
    const { log } = captureLogger();
    const state = await openStateDir(root, log);
    await state.writeBootMarker({ bootId: 'boot-1', handledAt: new Date().toISOString(), outcome: 'in-progress' });
    const before = monotonicNow();
    await state.markBootStarted('boot-1', 'a');
    const after = monotonicNow();
    await writeFile(state.paths.bootProgress, (await readFile(state.paths.bootProgress, 'utf8')) + JSON.stringify({ bootId: 'boot-1', uuid: 'old', at: '2026-01-01T00:00:00.000Z' }) + '\n');
    const journal = await state.readBootJournal();
    const a = journal.get('a')!;
    expect(a.monotonicMs).toBeGreaterThanOrEqual(before);
    expect(a.monotonicMs).toBeLessThanOrEqual(after);
    expect(Number.isNaN(Date.parse(a.at))).toBe(false);
    expect(journal.get('old')).toEqual({ at: '2026-01-01T00:00:00.000Z' });
    expect(a.startTimeBefore).toBeUndefined();
  });

  it('journals the start time read before the start as given: a time, null for never run', async () => {
    const { log } = captureLogger();
    const state = await openStateDir(root, log);
    await state.writeBootMarker({ bootId: 'boot-1', handledAt: new Date().toISOString(), outcome: 'in-progress' });
    await state.markBootStarted('boot-1', 'ran', undefined, '2026-11-29T09:58:00.000Z');
    await state.markBootStarted('boot-1', 'never', undefined, null);
    const journal = await state.readBootJournal();
    expect(journal.get('ran')?.startTimeBefore).toBe('2026-11-29T09:58:00.000Z');
    expect(journal.get('never')?.startTimeBefore).toBeNull();
  });

  it('refuses to write a malformed boot marker', async () => {
    const { log } = captureLogger();
    const state = await openStateDir(root, log);
    await expect(state.writeBootMarker({ bootId: 'x', handledAt: 'now', outcome: 'done' })).rejects.toThrow(/handledAt/);
  });

  it('names the directory and the errno when the path is not a directory', async () => {
    const { log, lines } = captureLogger();
    const file = join(root, 'plain-file');
    await writeFile(file, 'x');
    const dir = join(file, 'state');
    const state = await openStateDir(dir, log);
    expect(state.problem).toBeInstanceOf(StateDirError);
    expect(state.problem!.errno).toBe('ENOTDIR');
    expect(lines.some((l) => l.level === 50 && l.msg.includes(dir) && l.msg.includes('ENOTDIR'))).toBe(true);
    const err = await state.writeReport(report('boot')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StateDirError);
    expect((err as Error).message).toContain(`state directory ${dir}`);
    expect((err as Error).message).toContain('ENOTDIR');
  });

  it('names the directory and EROFS on a read-only file system (root) or EACCES (non-root)', async () => {
    const { log } = captureLogger();
    const dir = join(root, 'ro');
    await mkdir(dir);
    let mounted = false;
    if (isRoot) {
      try {
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,ro', 'tmpfs', dir], { stdio: 'pipe' });
        mounted = true;
      } catch {
        // no mount capability: fall through to the permission check below, which root bypasses
      }
    } else {
      await chmod(dir, 0o500);
    }
    if (isRoot && !mounted) return; // cannot produce a write error as root without mount(2)
    try {
      const state = await openStateDir(dir, log);
      expect(state.problem?.errno).toBe(isRoot ? 'EROFS' : 'EACCES');
      const err = await state.writeSnapshot(snapshot()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StateDirError);
      expect((err as StateDirError).message).toMatch(new RegExp(`cannot write ${dir}/shutdown-snapshot.json in state directory ${dir}: ${isRoot ? 'EROFS \\(read-only file system\\)' : 'EACCES'}`));
      expect(await state.readSnapshot()).toBeNull();
    } finally {
      if (mounted) execFileSync('umount', [dir]);
    }
  });

  it('names ENOSPC when the disk is full, and leaves the old file intact', async (ctx) => {
    if (!isRoot) return ctx.skip(); // a tiny tmpfs needs mount(2), i.e. root
    const dir = join(root, 'tiny');
    await mkdir(dir);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { stdio: 'pipe' });
    } catch (e) {
      return ctx.skip(); // no mount capability in this sandbox
    }
    try {
      const { log } = captureLogger();
      const state = await openStateDir(dir, log);
      await state.writeReport(report('shutdown', 1));
      const err = await state.writeReport(report('shutdown', 400)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StateDirError);
      expect((err as StateDirError).errno).toBe('ENOSPC');
      expect((err as Error).message).toMatch(/in state directory .*tiny: ENOSPC \(no space left on device\)/);
      expect((await state.readReport('shutdown'))!.guests).toHaveLength(1);
      expect((await readdir(dir)).filter((f) => f.includes('.tmp-'))).toEqual([]);
    } finally {
      execFileSync('umount', [dir]);
    }
  });

  it('writeFileAtomic replaces content whole', async () => {
    const path = join(root, 'f.json');
    await writeFileAtomic(path, 'one');
    await writeFileAtomic(path, 'two');
    expect(await readFile(path, 'utf8')).toBe('two');
    expect((await stat(path)).mode & 0o777).toBe(0o640);
  });
});

describe('readBootId', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'xg-bootid-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('reads the kernel boot id', async () => {
    const id = await readBootId('/proc/sys/kernel/random/boot_id');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('follows XEN_GUESTS_BOOT_ID_FILE, so a test can simulate a reboot', async () => {
    const file = join(root, 'boot_id');
    await writeFile(file, 'AAAAAAAA-0000-4000-8000-000000000001\n');
    const saved = process.env.XEN_GUESTS_BOOT_ID_FILE;
    process.env.XEN_GUESTS_BOOT_ID_FILE = file;
    try {
      expect(await readBootId()).toBe('aaaaaaaa-0000-4000-8000-000000000001');
      await writeFile(file, 'bbbbbbbb-0000-4000-8000-000000000002\n');
      expect(await readBootId()).toBe('bbbbbbbb-0000-4000-8000-000000000002');
    } finally {
      if (saved === undefined) delete process.env.XEN_GUESTS_BOOT_ID_FILE;
      else process.env.XEN_GUESTS_BOOT_ID_FILE = saved;
    }
  });

  it('names the file when it is missing or holds garbage', async () => {
    await expect(readBootId(join(root, 'nope'))).rejects.toThrow(/cannot read the boot id from .*nope: ENOENT/);
    const bad = join(root, 'bad');
    await writeFile(bad, 'hello world');
    await expect(readBootId(bad)).rejects.toThrow(/boot id file .*bad holds "hello world"; expected a uuid/);
  });
});
