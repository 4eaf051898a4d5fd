// Fault matrix, area "state": the state directory missing, uncreatable, read-only, full, or holding
// corrupt files. The daemon must log a clear error, fall back safely, keep starting and stopping
// guests, and never exit for it (an exit would be a crash loop under Restart=on-failure).

import { describe, expect } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { on, onCleanup, scene, vmRef, xapi, type Scene } from './harness.js';
import { checkInvariants, reportOf } from './invariants.js';
import { matrixArea, type Recorder } from './matrix.js';
import { count } from '../e2e/timeline.js';

const run = promisify(execFile);
const row = matrixArea('state', 'state');

const guests = () => [
  { name_label: 'web', order: 1, other_config: on() },
  { name_label: 'db', order: 0, other_config: on() },
  { name_label: 'restore-me', order: 1, other_config: { 'xen-guests:on_start': 'restore' } },
];

async function mountTmpfs(dir: string, options: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await run('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir]);
  onCleanup(() => run('umount', ['-l', dir]));
}

/**
 * The daemon is started on a broken state dir: the boot plan runs, READY comes; an admin stops a guest
 * by hand; a restarted daemon in the same boot must start nothing (the runtime witness); then the
 * host shutdown stops everything.
 */
async function survivesBrokenStateDir(s: Scene, rec: Recorder, stateDir: string, errno: RegExp): Promise<void> {
  const first = await s.start({ stateDir });
  await s.ready(first);
  const errors = first.daemon.logs.filter((l) => l.level >= 50 && errno.test(JSON.stringify(l)));
  expect(errors.length, 'error lines naming the errno').toBeGreaterThan(0);
  rec.held(`clear error: "${String(errors[0]!.msg).slice(0, 140)}"`);
  const t = await s.timelines();
  for (const n of ['web', 'db']) expect(count(t.get(n), 'running'), n).toBe(1);
  rec.held('the boot plan ran anyway: both enabled guests started, READY=1 sent');
  first.daemon.signal('SIGKILL');
  await s.exited(first);
  const call = await xapi(s);
  await call('VM.clean_shutdown', await vmRef(s, 'web'));
  const second = await s.start({ stateDir });
  await s.ready(second);
  expect(second.daemon.logs.some((l) => String(l.msg).includes('handled already') && l.witness === 'runtime directory')).toBe(true);
  expect(count((await s.timelines()).get('web'), 'start requested')).toBe(1);
  rec.held('a restart in the same boot started nothing: the runtime directory witnessed the handled boot');
  second.daemon.signal('SIGTERM');
  expect(await s.exited(second)).toBe(0);
  rec.held('the host shutdown ran and the daemon exited 0');
}

describe('fault matrix: the state directory', () => {
  row(
    {
      id: 'S1',
      title: 'state directory missing',
      injected: 'the configured state directory does not exist',
      when: 'daemon start',
      must: 'created (0750); everything works',
    },
    async (rec) => {
      const s = await scene(guests());
      const dir = join(s.stateDir, 'not', 'yet');
      const d = await s.start({ stateDir: dir });
      await s.ready(d);
      const files = await readdir(dir);
      expect(files).toContain('boot-marker.json');
      rec.held(`created with its files: ${files.filter((f) => !f.startsWith('.')).join(', ')}`);
      d.daemon.signal('SIGTERM');
      expect(await s.exited(d)).toBe(0);
      await checkInvariants(s, rec, { shutdown: false });
    },
  );

  row(
    {
      id: 'S2',
      title: 'state directory missing and impossible to create',
      injected: 'the state directory path runs through a regular file (ENOTDIR)',
      when: 'daemon start',
      must: 'clear error; boot plan runs, READY; a restart in the same boot starts nothing; shutdown works; never exits for it',
    },
    async (rec) => {
      const s = await scene(guests());
      const blocker = join(s.stateDir, 'a-file');
      await writeFile(blocker, 'not a directory\n');
      await survivesBrokenStateDir(s, rec, join(blocker, 'state'), /ENOTDIR/);
      await checkInvariants(s, rec, { shutdown: false });
    },
  );

  row(
    {
      id: 'S3',
      title: 'state directory read-only',
      injected: 'the state directory is a read-only mount (EROFS)',
      when: 'daemon start',
      must: 'clear error; boot plan runs, READY; a restart in the same boot starts nothing; shutdown works; never exits for it',
      needsRoot: true,
    },
    async (rec) => {
      const s = await scene(guests());
      const dir = join(s.stateDir, 'ro');
      await mountTmpfs(dir, 'size=1m');
      await run('mount', ['-o', 'remount,ro', dir]);
      await survivesBrokenStateDir(s, rec, dir, /EROFS/);
      await checkInvariants(s, rec, { shutdown: false });
    },
  );

  row(
    {
      id: 'S4',
      title: 'state directory on a full disk',
      injected: 'the state directory is a 64 KiB tmpfs filled to the last block (ENOSPC on every write)',
      when: 'daemon start',
      must: 'clear error; boot plan runs, READY; a restart in the same boot starts nothing; shutdown works; old files never torn',
      needsRoot: true,
    },
    async (rec) => {
      const s = await scene(guests());
      const dir = join(s.stateDir, 'full');
      await mountTmpfs(dir, 'size=64k');
      await run('dd', ['if=/dev/zero', `of=${join(dir, 'filler')}`, 'bs=4k', 'count=64']).catch(() => undefined);
      await survivesBrokenStateDir(s, rec, dir, /ENOSPC/);
      await checkInvariants(s, rec, { shutdown: false });
    },
  );

  row(
    {
      id: 'S5',
      title: 'corrupt boot marker, restart in the same boot',
      injected: 'boot-marker.json overwritten with garbage after the boot plan; an admin stops a guest; the daemon restarts',
      when: 'idle',
      must: 'the corrupt file is moved aside with an error; nothing is started again (the runtime witness)',
    },
    async (rec) => {
      const s = await scene(guests());
      const first = await s.start();
      await s.ready(first);
      first.daemon.signal('SIGKILL');
      await s.exited(first);
      await writeFile(join(s.stateDir, 'boot-marker.json'), '{"bootId": "trunc');
      const call = await xapi(s);
      await call('VM.clean_shutdown', await vmRef(s, 'web'));
      const second = await s.start();
      await s.ready(second);
      const moved = second.daemon.logs.find((l) => l.level === 50 && String(l.msg).includes('is corrupt'));
      expect(moved).toBeDefined();
      rec.held(`"${String(moved!.msg).slice(0, 150)}…"`);
      expect(count((await s.timelines()).get('web'), 'start requested')).toBe(1);
      rec.held('the guest stopped by the admin was not started again');
      second.daemon.signal('SIGTERM');
      expect(await s.exited(second)).toBe(0);
      await checkInvariants(s, rec, { shutdown: true });
    },
  );

  row(
    {
      id: 'S6',
      title: 'corrupt snapshot and report files',
      injected: 'shutdown-snapshot.json, report-boot.json and report-shutdown.json hold garbage before a new boot',
      when: 'daemon start',
      must: 'each moved aside with an error naming it; safe default (restore guests not started, reason given); fresh reports written',
    },
    async (rec) => {
      const s = await scene(guests());
      await writeFile(join(s.stateDir, 'shutdown-snapshot.json'), '{"takenAt": 5, "guests": "many"}');
      await writeFile(join(s.stateDir, 'report-boot.json'), '\u0000\u0000\u0000');
      await writeFile(join(s.stateDir, 'report-shutdown.json'), '[1, 2');
      const d = await s.start();
      await s.ready(d);
      const boot = await s.report('boot');
      expect(reportOf(boot, 'restore-me')?.outcome).toBe('skipped');
      rec.held(`restore-me: skipped — "${reportOf(boot, 'restore-me')?.reason}"`);
      const moved = d.daemon.logs.filter((l) => l.level === 50 && String(l.msg).includes('is corrupt')).map((l) => String(l.file));
      expect(moved.some((f) => f.endsWith('shutdown-snapshot.json'))).toBe(true);
      rec.held(`corrupt files moved aside with an error: ${moved.map((f) => f.split('/').pop()).join(', ')}`);
      d.daemon.signal('SIGTERM');
      expect(await s.exited(d)).toBe(0);
      const files = await readdir(s.stateDir);
      expect(files.filter((f) => f.includes('.corrupt-')).length).toBeGreaterThanOrEqual(1);
      await checkInvariants(s, rec, { shutdown: true });
    },
  );
});
