// "Is the host going down?" — parsing of real systemctl output (recorded from systemd 252 in the
// nspawn system test), the decision, and the real command on this machine.

import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decide, isHostGoingDown, parseShutdownJobs, parseSystemState, type CommandResult } from '../../../src/systemd/host-state.js';

// systemd 252, `systemctl list-jobs --no-legend --no-pager --full` during `systemctl poweroff`
// (excerpt of the recording; unit names with escapes kept as printed).
const JOBS_POWEROFF = [
  '133 poweroff.target                                                   start waiting',
  '188 systemd-tmpfiles-setup.service                                    stop  waiting',
  '236 opt-xen\\x2dguests.mount                                           stop  waiting',
  '169 xen-guests-probe.service                                          stop  running',
  '135 final.target                                                      start waiting',
  '136 shutdown.target                                                   start waiting',
  '239 run-credentials-systemd\\x2dtmpfiles\\x2dsetup\\x2ddev.service.mount stop  waiting',
  '134 systemd-poweroff.service                                          start waiting',
  '234 umount.target                                                     start waiting',
  '',
].join('\n');

// Same, during `systemctl restart xen-guests-probe` while the boot was still going on.
const JOBS_RESTART = [
  '72 xen-guests-probe-driver.service      start   running',
  '83 xen-guests-probe.service             restart running',
  '73 systemd-update-utmp-runlevel.service start   waiting',
  '2  multi-user.target                    start   waiting',
  '1  graphical.target                     start   waiting',
  '',
].join('\n');

const ok = (stdout: string): CommandResult => ({ code: 0, stdout, stderr: '', error: null });

describe('parsing systemctl output', () => {
  it('reads the manager state and ignores anything else', () => {
    expect(parseSystemState('stopping\n')).toBe('stopping');
    expect(parseSystemState('running\n')).toBe('running');
    expect(parseSystemState('degraded')).toBe('degraded');
    expect(parseSystemState('')).toBeNull();
    expect(parseSystemState('Failed to connect to bus: No such file or directory\n')).toBeNull();
  });

  it('finds queued starts of shutdown targets in a recorded power-off', () => {
    expect(parseShutdownJobs(JOBS_POWEROFF).map((j) => j.unit)).toEqual(['poweroff.target', 'shutdown.target']);
    expect(parseShutdownJobs(JOBS_POWEROFF)[0]).toEqual({ id: '133', unit: 'poweroff.target', type: 'start', state: 'waiting' });
  });

  it('finds reboot, halt and kexec too, and only as start jobs', () => {
    expect(parseShutdownJobs('7 reboot.target start waiting\n').map((j) => j.unit)).toEqual(['reboot.target']);
    expect(parseShutdownJobs('7 halt.target start waiting\n8 kexec.target start waiting\n').length).toBe(2);
    expect(parseShutdownJobs('7 reboot.target stop waiting\n')).toEqual([]);
  });

  it('finds nothing in a recorded manual restart', () => {
    expect(parseShutdownJobs(JOBS_RESTART)).toEqual([]);
  });

  it('copes with a status glyph before the job id (newer systemctl on a TTY)', () => {
    expect(parseShutdownJobs('● 133 poweroff.target start waiting\n').map((j) => j.id)).toEqual(['133']);
  });
});

describe('decide', () => {
  it('says down when the manager is stopping', () => {
    expect(decide(ok('stopping\n'), ok(''))).toEqual({ down: true, why: 'systemd manager state is "stopping"' });
  });

  it('says down when a power-off is queued even before the manager state changes', () => {
    const answer = decide(ok('running\n'), ok(JOBS_POWEROFF));
    expect(answer.down).toBe(true);
    expect(answer.why).toBe('systemd has queued start poweroff.target (job 133), start shutdown.target (job 136)');
  });

  it('says not down on a manual restart, and says what it saw', () => {
    const answer = decide({ code: 1, stdout: 'starting\n', stderr: '', error: null }, ok(JOBS_RESTART));
    expect(answer).toEqual({ down: false, why: 'systemd manager state is "starting" and no shutdown, poweroff, reboot, halt or kexec job is queued' });
  });

  it('says it could not ask when systemd is not PID 1 (recorded from a container without systemd)', () => {
    const answer = decide(
      { code: 1, stdout: 'offline\n', stderr: '', error: null },
      { code: 1, stdout: '', stderr: 'System has not been booted with systemd as init system (PID 1). Can\'t operate.\nFailed to connect to bus: Host is down\n', error: null },
    );
    expect(answer.down).toBe(false);
    expect(answer.why).toMatch(/^cannot ask systemd whether the host is going down \(systemctl is-system-running: answered "offline"\).*--on-sigterm=stop-guests/);
  });

  it('says it could not ask when systemctl is missing or hangs', () => {
    const missing = { code: null, stdout: '', stderr: '', error: 'systemctl not found' };
    expect(decide(missing, missing).why).toMatch(/systemctl is-system-running: systemctl not found/);
    const hung = { code: null, stdout: '', stderr: '', error: 'no answer within 5000 ms' };
    expect(decide(hung, hung)).toMatchObject({ down: false, why: expect.stringMatching(/no answer within 5000 ms/) });
  });
});

describe('isHostGoingDown (real commands)', () => {
  it('answers from the real systemctl on this machine, whatever PID 1 is', async () => {
    const answer = await isHostGoingDown();
    let state = '';
    try {
      state = execFileSync('systemctl', ['is-system-running'], { encoding: 'utf8' }).trim();
    } catch (err) {
      state = String((err as { stdout?: string }).stdout ?? '').trim();
    }
    expect(typeof answer.why).toBe('string');
    if (state === 'stopping') expect(answer.down).toBe(true);
    else if (state === '' || state === 'offline' || state === 'unknown') expect(answer.why).toMatch(/cannot ask systemd/);
    else expect(answer.why).toContain(`"${state}"`);
  });

  it('bounds a systemctl that never answers', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'xg-systemctl-'));
    try {
      const fake = join(dir, 'systemctl');
      await writeFile(fake, '#!/bin/sh\nexec sleep 1000\n');
      await chmod(fake, 0o755);
      const answer = await isHostGoingDown({ systemctl: fake, timeoutMs: 300 });
      expect(answer.down).toBe(false);
      expect(answer.why).toMatch(/no answer within 300 ms/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reads a fake systemctl that reports a queued reboot', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'xg-systemctl-'));
    try {
      const fake = join(dir, 'systemctl');
      await writeFile(fake, '#!/bin/sh\ncase "$1" in\n is-system-running) echo running;;\n list-jobs) echo "41 reboot.target start waiting";;\nesac\n');
      await chmod(fake, 0o755);
      expect(await isHostGoingDown({ systemctl: fake })).toEqual({ down: true, why: 'systemd has queued start reboot.target (job 41)' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
