// Fault matrix, area "daemon": the daemon itself killed, signalled twice, reloaded with a broken
// config, or started while the host is already going down.

import { describe, expect } from 'vitest';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { configToml, on, scene, timelineShows, type Scene } from './harness.js';
import { checkInvariants, reportOf } from './invariants.js';
import { matrixArea } from './matrix.js';
import { count, firstAt } from '../e2e/timeline.js';
import { startNotifyReceiver } from '../helpers/notify.js';
import { onCleanup } from './harness.js';

const row = matrixArea('daemon', 'daemon');

/** A PATH whose `systemctl` answers as systemd does while the host powers off. */
async function systemdGoingDown(s: Scene): Promise<Record<string, string>> {
  const bin = join(s.runtimeDir, '..', 'fakebin');
  await mkdir(bin, { recursive: true });
  const path = join(bin, 'systemctl');
  await writeFile(path, `#!/bin/sh
case "$1" in
  is-system-running) echo stopping; exit 1 ;;
  list-jobs) echo "1234 poweroff.target start waiting"; exit 0 ;;
esac
exit 0
`);
  await chmod(path, 0o755);
  return { PATH: `${bin}:${process.env.PATH ?? ''}` };
}

const bootGuests = () => [
  { name_label: 'a1', order: 1, other_config: on({ 'xen-guests:ready': 'agent' }), behaviour: { agent_s: 40 } },
  { name_label: 'a2', order: 1, other_config: on({ 'xen-guests:ready': 'agent' }), behaviour: { agent_s: 60 } },
  { name_label: 'b1', order: 2, other_config: on({ 'xen-guests:ready': 'agent' }), behaviour: { agent_s: 40 } },
  { name_label: 'b2', order: 2, other_config: on({ 'xen-guests:ready': 'agent' }), behaviour: { agent_s: 60 } },
  { name_label: 'c1', order: 3, other_config: on() },
  { name_label: 'c2', order: 3, other_config: on() },
  { name_label: 'maint', order: 3, other_config: on({ 'xen-guests:maintenance': 'disk swap' }) },
];

const shutdownGuests = () => [
  { name_label: 'low-1', order: 1, power_state: 'Running', other_config: on(), behaviour: { shutdown_s: 40 } },
  { name_label: 'low-2', order: 1, power_state: 'Running', other_config: on() },
  { name_label: 'top-hung', order: 2, power_state: 'Running', other_config: on({ 'xen-guests:shutdown_timeout': '3' }), behaviour: { shutdown: 'hung' } },
  { name_label: 'top-slow', order: 2, power_state: 'Running', other_config: on(), behaviour: { shutdown_s: 60 } },
];

describe('fault matrix: the daemon itself', () => {
  row(
    {
      id: 'D1',
      title: 'daemon SIGKILLed in the middle of the boot plan, started again',
      injected: 'SIGKILL when the second order group\'s first start is sent; then a new daemon in the same boot',
      when: 'boot plan',
      must: 'no guest started twice; the rest of the plan completed; maintenance untouched',
    },
    async (rec) => {
      const s = await scene(bootGuests());
      const first = await s.start();
      await timelineShows(s, 'b1', 'start requested');
      first.daemon.signal('SIGKILL');
      await s.exited(first);
      const second = await s.start();
      await s.ready(second);
      const t = await s.timelines();
      for (const n of ['a1', 'a2', 'b1', 'b2', 'c1', 'c2']) {
        expect(count(t.get(n), 'running'), n).toBe(1);
        expect(count(t.get(n), 'start requested'), n).toBe(1);
      }
      rec.held('all 6 guests of the plan running, each asked to start exactly once across both daemons');
      expect(second.daemon.logs.some((l) => String(l.msg).includes('resuming a boot plan interrupted'))).toBe(true);
      const boot = await s.report('boot');
      const started = boot!.guests.filter((g) => g.outcome === 'started');
      expect(started.length, JSON.stringify(boot!.guests.map((g) => [g.guest.name, g.outcome, g.reason]))).toBe(6);
      const found = started.filter((g) => g.reason === "already running (asked to start earlier in this boot's plan)").length;
      expect(found).toBeGreaterThanOrEqual(3);
      rec.held(`the second daemon resumed from the boot journal: its report has all 6 started, ${found} of them found running (started by the killed daemon) and not asked again`);
      // The order holds across the restart: group 3 only after group 2's agents were live.
      const agentsUp = Math.max(...['b1', 'b2'].map((n) => firstAt(t.get(n), 'agent live') ?? Infinity));
      const group3 = Math.min(...['c1', 'c2'].map((n) => firstAt(t.get(n), 'start requested')!));
      expect(agentsUp).toBeLessThanOrEqual(group3);
      rec.held('order kept across the restart: group 3 was started only after group 2\'s agents were live');
      second.daemon.signal('SIGTERM');
      expect(await s.exited(second)).toBe(0);
      await checkInvariants(s, rec, { maintenance: ['maint'], shutdown: true });
    },
  );

  row(
    {
      id: 'D2',
      title: 'daemon SIGKILLed in the middle of the shutdown plan, started again (stop-guests)',
      injected: 'SIGKILL while a hung guest\'s clean phase runs; a new daemon started in the same boot',
      when: 'shutdown plan',
      must: 'the new daemon finishes the same shutdown inside the first daemon\'s deadline; no early hard stop',
    },
    async (rec) => {
      const s = await scene(shutdownGuests(), { config: configToml({ deadline: 40, hardReserve: 5 }) });
      const first = await s.start();
      await s.ready(first);
      first.daemon.signal('SIGTERM');
      await timelineShows(s, 'top-hung', 'clean_shutdown requested');
      first.daemon.signal('SIGKILL');
      await s.exited(first);
      const recorded = await shutdownRecord(s.stateDir);
      expect(recorded.finishedAt).toBeNull();
      const second = await s.start();
      expect(await s.exited(second)).toBe(0);
      const report = await s.report('shutdown');
      // The deadline lives on CLOCK_MONOTONIC: the second daemon's record must carry the very same instant.
      expect((await shutdownRecord(s.stateDir)).deadlineMonotonicMs).toBe(recorded.deadlineMonotonicMs);
      expect(Math.abs(Date.parse(report!.deadlineAt!) - Date.parse(recorded.deadlineAt))).toBeLessThan(1_000);
      rec.held(`the new daemon resumed without a SIGTERM and kept the first daemon's deadline (${recorded.deadlineAt})`);
      expect(reportOf(report, 'top-hung')?.outcome).toBe('hard-after-timeout');
      const t = await s.timelines();
      expect(count(t.get('top-hung'), 'hard_shutdown requested')).toBe(1);
      rec.held('the hung guest was hard-stopped once, after its clean phase, by the second daemon');
      await checkInvariants(s, rec, { shutdown: true });
    },
  );

  row(
    {
      id: 'D3',
      title: 'daemon SIGKILLed while idle, started again, then a host shutdown',
      injected: 'SIGKILL after READY; a new daemon; later SIGTERM with the host going down',
      when: 'idle',
      must: 'the restart starts and stops nothing; the later shutdown is normal',
    },
    async (rec) => {
      const s = await scene(bootGuests().slice(4));
      const first = await s.start();
      await s.ready(first);
      const before = await s.timelines();
      first.daemon.signal('SIGKILL');
      await s.exited(first);
      const second = await s.start();
      await s.ready(second);
      expect(second.daemon.logs.some((l) => String(l.msg).includes('handled already'))).toBe(true);
      const after = await s.timelines();
      const requests = (m: typeof before) => [...m.values()].reduce((n, g) => n + g.events.filter((e) => e.event.endsWith(' requested')).length, 0);
      expect(requests(after)).toBe(requests(before));
      rec.held(`the restarted daemon found the boot handled and made no life-cycle request (${requests(after)} before and after the restart)`);
      second.daemon.signal('SIGTERM');
      expect(await s.exited(second)).toBe(0);
      await checkInvariants(s, rec, { maintenance: ['maint'], shutdown: true });
    },
  );

  row(
    {
      id: 'D4',
      title: 'SIGTERM during the boot plan, host going down',
      injected: 'SIGTERM while the first group waits for its agents',
      when: 'boot plan',
      must: 'no new start; the start in flight finishes; then the shutdown rule stops what runs',
    },
    async (rec) => {
      const s = await scene(bootGuests());
      const d = await s.start();
      await timelineShows(s, 'a1', 'running');
      d.daemon.signal('SIGTERM');
      expect(await s.exited(d)).toBe(0);
      const t = await s.timelines();
      for (const n of ['b1', 'b2', 'c1', 'c2']) expect(count(t.get(n), 'start requested'), n).toBe(0);
      const boot = await s.report('boot');
      expect(reportOf(boot, 'b1')?.outcome).toBe('not-attempted');
      rec.held('no start sent after the SIGTERM (groups 2 and 3 not attempted, reported with the reason)');
      for (const n of ['a1', 'a2']) expect(firstAt(t.get(n), 'halted'), n).not.toBeNull();
      rec.held('the guests it had started were shut down cleanly');
      await checkInvariants(s, rec, { maintenance: ['maint'], shutdown: true });
    },
  );

  row(
    {
      id: 'D5',
      title: 'two SIGTERMs (and a SIGINT) during the shutdown plan',
      injected: 'SIGTERM, then SIGTERM and SIGINT again while the hung guest\'s clean phase runs',
      when: 'shutdown plan',
      must: 'one shutdown, its deadline kept; the repeats are logged and change nothing',
    },
    async (rec) => {
      const s = await scene(shutdownGuests());
      const d = await s.start();
      await s.ready(d);
      d.daemon.signal('SIGTERM');
      await timelineShows(s, 'top-hung', 'clean_shutdown requested');
      d.daemon.signal('SIGTERM');
      d.daemon.signal('SIGINT');
      expect(await s.exited(d)).toBe(0);
      const repeats = d.daemon.logs.filter((l) => String(l.msg).startsWith('already stopping'));
      expect(repeats.length).toBe(2);
      rec.held('both repeats logged as "already stopping"; the daemon exited 0 once the plan was done');
      const t = await s.timelines();
      for (const g of t.values()) expect(count(g, 'clean_shutdown requested'), g.name).toBeLessThanOrEqual(1);
      rec.held('no guest asked to shut down twice');
      await checkInvariants(s, rec, { shutdown: true });
    },
  );

  row(
    {
      id: 'D6',
      title: 'SIGHUP with a broken config file',
      injected: 'the config file rewritten with a bad value and an unknown key, then SIGHUP',
      when: 'idle',
      must: 'old config kept (its deadline used at shutdown), error logged naming the file and key, no crash',
    },
    async (rec) => {
      const s = await scene(bootGuests().slice(4), { config: configToml({ deadline: 47 }) });
      const d = await s.start();
      await s.ready(d);
      const configPath = String(d.daemon.proc.spawnargs[d.daemon.proc.spawnargs.indexOf('--config') + 1]);
      await writeFile(configPath, '[shutdown]\ndeadline = "soon"\nbogus_key = 1\n');
      d.daemon.signal('SIGHUP');
      const line = await d.daemon.waitForLog((l) => String(l.msg).includes('config reload failed'), 20_000);
      expect(line.level).toBe(50);
      expect(String(line.err)).toContain(configPath);
      expect(String(line.err)).toContain('deadline');
      rec.held(`error-level log line names the file and the key: "${String(line.err).split('\n')[0]!.slice(0, 120)}"`);
      d.daemon.signal('SIGTERM');
      expect(await s.exited(d)).toBe(0);
      const report = await s.report('shutdown');
      const span = (Date.parse(report!.deadlineAt!) - Date.parse(report!.startedAt)) / 1000;
      expect(Math.round(span)).toBe(47);
      rec.held('the shutdown kept the old config\'s 47 s deadline');
      await checkInvariants(s, rec, { shutdown: true });
    },
  );

  row(
    {
      id: 'D7',
      title: 'SIGHUP during the boot plan',
      injected: 'SIGHUP (valid config) while the first group waits for its agents',
      when: 'boot plan',
      must: 'READY=1 is not sent before the boot plan ends; the plan completes',
    },
    async (rec) => {
      const notify = await startNotifyReceiver();
      onCleanup(() => notify.close());
      const s = await scene(bootGuests());
      const d = await s.start({ env: { NOTIFY_SOCKET: notify.path } });
      await timelineShows(s, 'a1', 'running');
      d.daemon.signal('SIGHUP');
      await d.daemon.waitForLog((l) => l.msg === 'config reloaded', 20_000);
      await s.ready(d);
      await notify.waitFor((m) => m.assignments.includes('READY=1'), 10_000);
      const t = await s.timelines();
      const lastStart = Math.max(...['c1', 'c2'].map((n) => firstAt(t.get(n), 'start requested') ?? 0));
      const readyIndex = notify.received().findIndex((m) => m.assignments.includes('READY=1'));
      expect(readyIndex).toBeGreaterThanOrEqual(0);
      const beforeReady = notify.received().slice(0, readyIndex).flatMap((m) => m.assignments);
      expect(beforeReady).not.toContain('RELOADING=1');
      expect(lastStart).toBeGreaterThan(0);
      rec.held(`no RELOADING=1/READY=1 during the plan; READY=1 came after the last group (message ${readyIndex + 1} of ${notify.received().length})`);
      d.daemon.signal('SIGTERM');
      expect(await s.exited(d)).toBe(0);
      await checkInvariants(s, rec, { maintenance: ['maint'], shutdown: true });
    },
  );

  row(
    {
      id: 'D8',
      title: 'daemon started while the host is already going down (crashed just before the power-off)',
      injected: 'SIGKILL while idle; a new daemon (--on-sigterm auto) started while systemd says "stopping" and a poweroff job is queued',
      when: 'daemon start',
      must: 'it runs the host shutdown at once (no boot plan, no SIGTERM needed) and exits inside the deadline',
    },
    async (rec) => {
      const s = await scene(bootGuests().slice(4));
      const first = await s.start({ onSigterm: 'leave-guests' });
      await s.ready(first);
      first.daemon.signal('SIGKILL');
      await s.exited(first);
      const second = await s.start({ onSigterm: 'auto', env: await systemdGoingDown(s) });
      expect(await s.exited(second)).toBe(0);
      expect(second.daemon.logs.some((l) => String(l.msg).includes('finishing the host shutdown before anything else'))).toBe(true);
      rec.held('the new daemon asked systemd at start, found a poweroff queued, and ran the shutdown without waiting for a SIGTERM');
      await checkInvariants(s, rec, { maintenance: ['maint'], shutdown: true });
    },
  );

  row(
    {
      id: 'D9',
      title: 'daemon SIGKILLed in the middle of the shutdown plan, systemd still going down (auto)',
      injected: 'SIGKILL during the hung guest\'s clean phase; a new daemon with --on-sigterm auto while systemd says "stopping"',
      when: 'shutdown plan',
      must: 'the new daemon finishes the shutdown with the remaining deadline, not a fresh one',
    },
    async (rec) => {
      const s = await scene(shutdownGuests(), { config: configToml({ deadline: 40 }) });
      const first = await s.start();
      await s.ready(first);
      first.daemon.signal('SIGTERM');
      await timelineShows(s, 'top-hung', 'clean_shutdown requested');
      first.daemon.signal('SIGKILL');
      await s.exited(first);
      const first_ = await shutdownRecord(s.runtimeDir);
      const second = await s.start({ onSigterm: 'auto', env: await systemdGoingDown(s) });
      expect(await s.exited(second)).toBe(0);
      const report = await s.report('shutdown');
      expect((await shutdownRecord(s.runtimeDir)).deadlineMonotonicMs).toBe(first_.deadlineMonotonicMs);
      expect(Math.abs(Date.parse(report!.deadlineAt!) - Date.parse(first_.deadlineAt))).toBeLessThan(1_000);
      rec.held('the runtime directory\'s shutdown record gave the second daemon the first one\'s deadline');
      await checkInvariants(s, rec, { shutdown: true });
    },
  );
});

/** The shutdown record a daemon left in `dir` (state or runtime directory), as written on disk. */
async function shutdownRecord(dir: string): Promise<{ deadlineMonotonicMs: number; deadlineAt: string; finishedAt: string | null }> {
  return JSON.parse(await readFile(join(dir, 'shutdown-progress.json'), 'utf8')) as { deadlineMonotonicMs: number; deadlineAt: string; finishedAt: string | null };
}
