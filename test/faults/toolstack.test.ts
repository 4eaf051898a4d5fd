// Fault matrix, area "toolstack": xapi restarting (sessions and tasks gone, connections refused for a
// while) during the boot plan, while idle and during the shutdown plan; every call slowed; calls that
// never answer inside their deadline; xapi not up when the daemon starts.

import { describe, expect } from 'vitest';
import { callLogMark, configToml, on, scene, timelineShows } from './harness.js';
import { lateEndpoint } from './wire.js';
import { restartToolstack, toolstackRestarts } from '../helpers/sim.js';
import { checkInvariants, reportOf } from './invariants.js';
import { matrixArea } from './matrix.js';
import { count, firstAt } from '../e2e/timeline.js';

const row = matrixArea('toolstack', 'toolstack');

const guests = () => [
  { name_label: 'a1', order: 1, other_config: on({ 'xen-guests:ready': 'agent' }), behaviour: { agent_s: 40, shutdown_s: 30 } },
  { name_label: 'a2', order: 1, other_config: on(), behaviour: { boot_s: 40, shutdown_s: 30 } },
  { name_label: 'b1', order: 2, other_config: on(), behaviour: { shutdown_s: 60 } },
  { name_label: 'b-hung', order: 2, other_config: on({ 'xen-guests:shutdown_timeout': '3' }), behaviour: { shutdown: 'hung' } },
  { name_label: 'c1', order: 3, other_config: on(), behaviour: { shutdown_s: 40 } },
];

describe('fault matrix: the toolstack', () => {
  row(
    {
      id: 'X1',
      title: 'xapi restarts in the middle of the boot plan',
      injected: 'sim.restart_toolstack: every session and task dropped, connections refused for 2 s',
      when: 'boot plan',
      must: 'every guest started once; the plan completes; nothing started twice',
    },
    async (rec) => {
      const s = await scene(guests());
      const d = await s.start();
      await timelineShows(s, 'a1', 'start requested');
      await restartToolstack(s.sim.call, 100);
      await s.ready(d);
      const boot = await s.report('boot');
      const started = boot!.guests.filter((g) => g.outcome === 'started').map((g) => g.guest.name).sort();
      expect(started, JSON.stringify(boot!.guests.map((g) => [g.guest.name, g.outcome, g.reason, g.errors]))).toEqual(['a1', 'a2', 'b-hung', 'b1', 'c1']);
      rec.held('all 5 guests started and reported started');
      expect(d.daemon.logs.some((l) => /toolstack restarted|logging in again|toolstack is answering|unavailable/i.test(String(l.msg)))).toBe(true);
      rec.held('the daemon saw the restart (re-login) and carried on');
      d.daemon.signal('SIGTERM');
      expect(await s.exited(d)).toBe(0);
      await checkInvariants(s, rec, { shutdown: true });
    },
  );

  row(
    {
      id: 'X2',
      title: 'xapi restarts while the daemon is idle',
      injected: 'sim.restart_toolstack (2 s down) after READY, twice',
      when: 'idle',
      must: 'no guest started or stopped by the restart; the later shutdown is normal',
    },
    async (rec) => {
      const s = await scene(guests());
      const d = await s.start();
      await s.ready(d);
      const before = await s.timelines();
      // At rest after READY the daemon holds no session (it logged out), so a restart while idle
      // has nothing of ours to drop: wait until each restart is over (the simulator's restart
      // count), and check the daemon made no call meanwhile (the simulator's call log) — the
      // shutdown below logs in afresh.
      const mark = await callLogMark(s);
      for (let i = 0; i < 2; i++) await restartToolstack(s.sim.call, 100);
      expect(await toolstackRestarts(s.sim.call), 'restarts completed (sim.get_info)').toBe(2);
      const idleCalls = (await s.callLog()).filter((c) => c.seq > mark && c.caller !== 'sim');
      expect(idleCalls.filter((c) => /^(Async\.)?VM\./.test(c.method)), 'VM calls while idle').toEqual([]);
      const after = await s.timelines();
      const lifecycle = (m: typeof before) => [...m.values()].reduce((n, g) => n + g.events.filter((e) => e.event.endsWith('requested')).length, 0);
      expect(lifecycle(after)).toBe(lifecycle(before));
      rec.held(`two restarts while idle: ${lifecycle(after)} life-cycle requests before and after (none added)`);
      expect(d.daemon.proc.exitCode).toBeNull();
      d.daemon.signal('SIGTERM');
      expect(await s.exited(d)).toBe(0);
      await checkInvariants(s, rec, { shutdown: true });
    },
  );

  row(
    {
      id: 'X3',
      title: 'xapi restarts in the middle of the shutdown plan',
      injected: 'sim.restart_toolstack (2 s down) while the hung guest\'s clean phase runs',
      when: 'shutdown plan',
      must: 'every guest halted; the hung one hard-stopped only after its clean phase; deadline kept',
    },
    async (rec) => {
      const s = await scene(guests());
      const d = await s.start();
      await s.ready(d);
      d.daemon.signal('SIGTERM');
      await timelineShows(s, 'b-hung', 'clean_shutdown requested');
      await restartToolstack(s.sim.call, 100);
      expect(await s.exited(d)).toBe(0);
      const report = await s.report('shutdown');
      for (const n of ['a1', 'a2', 'b1', 'c1']) expect(reportOf(report, n)?.outcome, n).toBe('clean');
      expect(reportOf(report, 'b-hung')?.outcome).toBe('hard-after-timeout');
      // From the simulator: the restart landed inside the hung guest's clean phase, before its hard stop.
      const hung = (await s.timelines()).get('b-hung')!.events.map((e) => e.event);
      expect(hung.indexOf('toolstack restarted'), hung.join(' → ')).toBeGreaterThan(hung.indexOf('clean_shutdown requested'));
      expect(hung.indexOf('hard_shutdown requested'), hung.join(' → ')).toBeGreaterThan(hung.indexOf('toolstack restarted'));
      rec.held('the restart landed in the hung guest\'s clean phase (simulator timeline); 4 guests clean, the hung one hard after its timeout, despite the restart');
      await checkInvariants(s, rec, { shutdown: true });
    },
  );

  row(
    {
      id: 'X4',
      title: 'every XenAPI call slowed',
      injected: 'sim.set_latency 150 ms on every call, for the whole boot and shutdown',
      when: 'boot plan',
      must: 'same outcome as without latency, only later; deadline kept',
    },
    async (rec) => {
      const s = await scene(guests());
      await s.sim.call('sim.set_latency', 150);
      const d = await s.start();
      await s.ready(d, 90_000);
      const boot = await s.report('boot');
      expect(boot!.totals.started).toBe(5);
      d.daemon.signal('SIGTERM');
      expect(await s.exited(d)).toBe(0);
      const report = await s.report('shutdown');
      expect(report!.totals.clean).toBe(4);
      rec.held(`5 started, then 4 clean + 1 hard after timeout, with every call 150 ms late (boot plan ${((Date.parse(boot!.endedAt) - Date.parse(boot!.startedAt)) / 1000).toFixed(1)} s)`);
      await checkInvariants(s, rec, { shutdown: true });
    },
  );

  row(
    {
      id: 'X5',
      title: 'calls that never answer in time (the per-call deadline fires)',
      injected: 'xapi.call_timeout = 1 s and sim.set_latency 3 s on every call, from just before the SIGTERM until the daemon has cut a call at its deadline',
      when: 'shutdown plan',
      must: 'the call deadline fires and is retried; the shutdown completes inside its deadline',
    },
    async (rec) => {
      const s = await scene(guests().filter((g) => g.name_label !== 'b-hung'), { config: configToml({ callTimeout: 1, deadline: 40 }) });
      const d = await s.start();
      await s.ready(d);
      await s.sim.call('sim.set_latency', 3000);
      d.daemon.signal('SIGTERM');
      // The latency stays until the daemon has cut a call at its deadline (its log says so).
      await d.daemon.waitForLog((l) => JSON.stringify(l).includes('CALL_TIMEOUT') || JSON.stringify(l).includes('no answer'), 30_000);
      await s.sim.call('sim.set_latency', 0);
      expect(await s.exited(d)).toBe(0);
      const timeouts = d.daemon.logs.filter((l) => JSON.stringify(l).includes('CALL_TIMEOUT') || JSON.stringify(l).includes('no answer'));
      expect(timeouts.length).toBeGreaterThan(0);
      rec.held(`${timeouts.length} log lines show calls cut at their 1 s deadline; the daemon retried and went on`);
      const report = await s.report('shutdown');
      expect(report!.leftRunning).toEqual([]);
      await checkInvariants(s, rec, { shutdown: true });
    },
  );

  row(
    {
      id: 'X6',
      title: 'xapi not answering when the daemon starts, for longer than xapi.wait_ready',
      injected: 'no xapi socket (nothing listening) from before the daemon starts until the daemon has given up its first wait_ready = 2 s; then xapi comes up',
      when: 'daemon start',
      must: 'no exit, no crash loop: READY=1 with a pending status, retries, then the boot plan runs once',
    },
    async (rec) => {
      const s = await scene(guests().slice(0, 3), { config: configToml({ waitReady: 2 }) });
      // xapi stays away until the daemon has said it gave up waiting — not for a fixed time that a
      // slow daemon start could outlast.
      const xapi = await lateEndpoint(s.sim.url);
      const mark = await callLogMark(s);
      const d = await s.start({ xapi: xapi.url });
      await d.daemon.waitForLog((l) => l.msg === 'boot plan could not run; the daemon stays up and retries', 30_000);
      expect((await s.callLog()).filter((c) => c.seq > mark), 'calls that reached the simulator before xapi came up').toEqual([]);
      rec.held('the wait_ready deadline passed with no xapi: error logged, the daemon stayed up');
      await xapi.open();
      await s.ready(d, 60_000);
      const boot = await s.report('boot');
      expect(boot!.totals.started).toBe(3);
      const t = await s.timelines();
      for (const n of ['a1', 'a2', 'b1']) expect(count(t.get(n), 'start requested'), n).toBe(1);
      rec.held('once xapi answered, the boot plan ran: 3 guests started, each asked once');
      d.daemon.signal('SIGTERM');
      expect(await s.exited(d)).toBe(0);
      expect(firstAt(t.get('a1'), 'running')).not.toBeNull();
      await checkInvariants(s, rec, { shutdown: true });
    },
  );
});
