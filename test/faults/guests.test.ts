// Fault matrix, area "guests": guests that hang, ignore the request, have no PV drivers, are Paused or
// Suspended, halt by themselves or are started by someone else during the plan, or are deleted.

import { describe, expect } from 'vitest';
import { configToml, on, scene, timelineShows, vmRef, xapi } from './harness.js';
import { checkInvariants, reportOf } from './invariants.js';
import { matrixArea } from './matrix.js';
import { count, firstAt } from '../e2e/timeline.js';

const row = matrixArea('guests', 'guests');

describe('fault matrix: guests', () => {
  row(
    {
      id: 'G1',
      title: 'hung guest and a guest ignoring the request',
      injected: 'one guest acknowledges control/shutdown and never halts; one never acknowledges (xapi: VM_FAILED_SHUTDOWN_ACKNOWLEDGMENT)',
      when: 'shutdown plan',
      must: 'both get their whole clean phase, then cancel + hard stop; the others clean',
    },
    async (rec) => {
      const s = await scene([
        { name_label: 'hung', order: 1, power_state: 'Running', other_config: on({ 'xen-guests:shutdown_timeout': '3' }), behaviour: { shutdown: 'hung' } },
        { name_label: 'ignore', order: 1, power_state: 'Running', other_config: on({ 'xen-guests:shutdown_timeout': '3' }), behaviour: { shutdown: 'ignore' } },
        { name_label: 'fine', order: 1, power_state: 'Running', other_config: on() },
      ]);
      const d = await s.start();
      await s.ready(d);
      d.daemon.signal('SIGTERM');
      expect(await s.exited(d)).toBe(0);
      const report = await s.report('shutdown');
      expect(reportOf(report, 'hung')?.outcome).toBe('hard-after-timeout');
      expect(reportOf(report, 'ignore')?.outcome).toBe('hard-after-timeout');
      expect(reportOf(report, 'fine')?.outcome).toBe('clean');
      rec.held(`hung: ${reportOf(report, 'hung')?.reason}; ignore: ${reportOf(report, 'ignore')?.reason}`);
      await checkInvariants(s, rec, { shutdown: true });
    },
  );

  row(
    {
      id: 'G2',
      title: 'no PV drivers, and a Paused guest',
      injected: 'an HVM guest without PV drivers or agent; a guest Paused by an admin',
      when: 'shutdown plan',
      must: 'both hard-stopped at once (no clean path), never asked cleanly; reported why',
    },
    async (rec) => {
      const s = await scene([
        { name_label: 'nopv', order: 1, power_state: 'Running', domain_type: 'hvm', other_config: on(), behaviour: { pv: false, agent_s: 'none' } },
        { name_label: 'paused', order: 1, power_state: 'Paused', other_config: on() },
        { name_label: 'fine', order: 1, power_state: 'Running', other_config: on() },
      ]);
      const d = await s.start();
      await s.ready(d);
      const boot = await s.report('boot');
      expect(count((await s.timelines()).get('paused'), 'start requested')).toBe(0);
      rec.held(`boot: the Paused guest was not started or unpaused (${reportOf(boot, 'paused')?.reason})`);
      d.daemon.signal('SIGTERM');
      expect(await s.exited(d)).toBe(0);
      const t = await s.timelines();
      for (const n of ['nopv', 'paused']) {
        expect(count(t.get(n), 'clean_shutdown requested'), n).toBe(0);
        expect(count(t.get(n), 'hard_shutdown requested'), n).toBe(1);
      }
      const report = await s.report('shutdown');
      rec.held(`nopv: ${reportOf(report, 'nopv')?.outcome} (${reportOf(report, 'nopv')?.reason}); paused: ${reportOf(report, 'paused')?.outcome} (${reportOf(report, 'paused')?.reason})`);
      await checkInvariants(s, rec, { shutdown: true, hardAtOnce: ['nopv', 'paused'] });
    },
  );

  row(
    {
      id: 'G3',
      title: 'a Suspended guest',
      injected: 'a guest with auto_poweron=true left Suspended',
      when: 'boot plan',
      must: 'never started fresh, never resumed, its suspend image kept at shutdown; reported as needing an admin',
    },
    async (rec) => {
      const s = await scene([
        { name_label: 'suspended', order: 1, power_state: 'Suspended', other_config: on() },
        { name_label: 'fine', order: 1, other_config: on() },
      ]);
      const d = await s.start();
      await s.ready(d);
      const boot = await s.report('boot');
      expect(reportOf(boot, 'suspended')?.outcome).toBe('skipped');
      expect(reportOf(boot, 'suspended')?.reason).toContain('admin');
      rec.held(`boot: skipped — "${reportOf(boot, 'suspended')?.reason?.slice(0, 90)}…"`);
      d.daemon.signal('SIGTERM');
      expect(await s.exited(d)).toBe(0);
      const vm = (await s.vms()).find((v) => v.name === 'suspended');
      expect(vm?.powerState).toBe('Suspended');
      rec.held('after the shutdown it is still Suspended: the image was not discarded');
      await checkInvariants(s, rec, { shutdown: true });
    },
  );

  row(
    {
      id: 'G4',
      title: 'guests halting by themselves during the plan',
      injected: 'a lower-group guest halted by its own OS while the top group is being stopped',
      when: 'shutdown plan',
      must: 'not touched, reported halted by itself; nothing else changes',
    },
    async (rec) => {
      const s = await scene([
        { name_label: 'top-slow', order: 2, power_state: 'Running', other_config: on(), behaviour: { shutdown_s: 100 } },
        { name_label: 'low-self', order: 1, power_state: 'Running', other_config: on() },
        { name_label: 'low', order: 1, power_state: 'Running', other_config: on() },
      ]);
      const d = await s.start();
      await s.ready(d);
      d.daemon.signal('SIGTERM');
      await timelineShows(s, 'top-slow', 'clean_shutdown requested');
      const call = await xapi(s);
      await call('VM.hard_shutdown', await vmRef(s, 'low-self'));
      expect(await s.exited(d)).toBe(0);
      const report = await s.report('shutdown');
      expect(reportOf(report, 'low-self')?.outcome).toBe('halted-by-itself');
      const t = await s.timelines();
      expect(count(t.get('low-self'), 'clean_shutdown requested')).toBe(0);
      rec.held(`low-self: ${reportOf(report, 'low-self')?.outcome} (${reportOf(report, 'low-self')?.reason}), no request sent to it`);
      await checkInvariants(s, rec, { shutdown: true, hardAtOnce: ['low-self'] });
    },
  );

  row(
    {
      id: 'G5',
      title: 'a guest started by someone else during the boot plan',
      injected: 'an admin starts a group-2 guest by hand while group 1 waits for its agent',
      when: 'boot plan',
      must: 'not started twice; reported as already running; the order of the rest holds',
    },
    async (rec) => {
      const s = await scene([
        { name_label: 'first', order: 1, other_config: on({ 'xen-guests:ready': 'agent' }), behaviour: { agent_s: 60 } },
        { name_label: 'by-hand', order: 2, other_config: on() },
        { name_label: 'second', order: 2, other_config: on() },
      ]);
      const d = await s.start();
      await timelineShows(s, 'first', 'running');
      const call = await xapi(s);
      await call('VM.start', await vmRef(s, 'by-hand'), false, false);
      await s.ready(d);
      const t = await s.timelines();
      expect(count(t.get('by-hand'), 'start requested')).toBe(1);
      const boot = await s.report('boot');
      rec.held(`by-hand: asked to start once (by the admin); the daemon reported "${reportOf(boot, 'by-hand')?.reason ?? reportOf(boot, 'by-hand')?.outcome}"`);
      expect(firstAt(t.get('first'), 'agent live')!).toBeLessThanOrEqual(firstAt(t.get('second'), 'start requested')!);
      d.daemon.signal('SIGTERM');
      expect(await s.exited(d)).toBe(0);
      await checkInvariants(s, rec, { shutdown: true });
    },
  );

  row(
    {
      id: 'G6',
      title: 'a guest started by someone else during the shutdown plan',
      injected: 'an admin starts a guest that was off (not in the plan) while the shutdown plan runs',
      when: 'shutdown plan',
      must: 'it is found after the groups and stopped cleanly too; nothing of this host left running',
    },
    async (rec) => {
      const s = await scene([
        { name_label: 'slow', order: 1, power_state: 'Running', other_config: on(), behaviour: { shutdown_s: 100 } },
        { name_label: 'off', order: 1, other_config: {} },
      ]);
      const d = await s.start();
      await s.ready(d);
      d.daemon.signal('SIGTERM');
      await timelineShows(s, 'slow', 'clean_shutdown requested');
      const call = await xapi(s);
      await call('VM.start', await vmRef(s, 'off'), false, false);
      expect(await s.exited(d)).toBe(0);
      const report = await s.report('shutdown');
      expect(reportOf(report, 'off')?.outcome).toBe('clean');
      rec.held(`off: ${reportOf(report, 'off')?.outcome} — "${reportOf(report, 'off')?.reason}"`);
      await checkInvariants(s, rec, { shutdown: true });
    },
  );

  row(
    {
      id: 'G7',
      title: 'a guest deleted during the plan',
      injected: 'VM.destroy of a halted guest of a later group during the boot plan',
      when: 'boot plan',
      must: 'reported as deleted (outcome gone); the others go on',
    },
    async (rec) => {
      const s = await scene([
        { name_label: 'first', order: 1, other_config: on({ 'xen-guests:ready': 'agent' }), behaviour: { agent_s: 60 } },
        { name_label: 'doomed', order: 2, other_config: on() },
      ]);
      const d = await s.start();
      await timelineShows(s, 'first', 'running');
      const call = await xapi(s);
      await call('VM.destroy', await vmRef(s, 'doomed'));
      await s.ready(d);
      const boot = await s.report('boot');
      expect(reportOf(boot, 'doomed')?.outcome).toBe('gone');
      rec.held('deleted guest reported gone');
    },
    60_000,
  );
  row(
    {
      id: 'G8',
      title: 'auto_poweroff guests (xapi\'s self-managed poweroff)',
      injected: 'two running guests with other_config:auto_poweroff (one also with xen-guests:on_stop = poweroff), beside two ordinary guests, through a host shutdown',
      when: 'shutdown plan',
      must: 'the auto_poweroff guests get no request at all and are still running at the end; the others are stopped; the daemon says done (exit 0)',
    },
    async (rec) => {
      const s = await scene([
        { name_label: 'self-off', order: 1, power_state: 'Running', other_config: on({ auto_poweroff: 'true' }) },
        { name_label: 'self-off-hard', order: 2, power_state: 'Running', other_config: on({ auto_poweroff: 'true', 'xen-guests:on_stop': 'poweroff' }) },
        { name_label: 'app', order: 1, power_state: 'Running', other_config: on() },
        { name_label: 'db', order: 2, power_state: 'Running', other_config: on() },
      ]);
      const d = await s.start();
      await s.ready(d);
      d.daemon.signal('SIGTERM');
      expect(await s.exited(d)).toBe(0);
      const t = await s.timelines();
      const vms = await s.vms();
      for (const name of ['self-off', 'self-off-hard']) {
        expect(t.get(name)?.events.filter((e) => /requested$/.test(e.event)).map((e) => e.event), `${name}: requests`).toEqual([]);
        expect(vms.find((v) => v.name === name)?.powerState, `${name}: power state`).toBe('Running');
      }
      for (const name of ['app', 'db']) expect(vms.find((v) => v.name === name)?.powerState, `${name}: power state`).toBe('Halted');
      rec.held('self-off and self-off-hard: no request in the simulator\'s timeline, still Running; app and db Halted');
      await checkInvariants(s, rec, { shutdown: true });
    },
  );

  row(
    {
      id: 'G9',
      title: 'a clean phase cut by the budget',
      injected: 'shutdown.deadline = 20 s, hard_reserve = 6 s (a 14 s budget for clean phases), guest_timeout = 8 s, shutdown.parallelism = 4; five guests that never halt in the first group (so the fifth gets its turn only when the first four are hard-stopped, 8 s in), an ordinary and a hung guest in the next group (shutdown_timeout 5 s: 8 + 5 s fit the budget, so no timeout is scaled down)',
      when: 'shutdown plan',
      must: 'the first four hung guests get their whole 8 s; the fifth\'s clean phase is cut when the budget runs out (14 s after SIGTERM) — not before, and short of its 8 s; the next group, whose turn comes after the budget, is hard-stopped at once; all within the deadline, nothing left running',
    },
    async (rec) => {
      const config = configToml({ deadline: 20, hardReserve: 6, guestTimeout: 8 });
      const stuck = ['stuck-1', 'stuck-2', 'stuck-3', 'stuck-4', 'stuck-5'];
      const s = await scene(
        [
          ...stuck.map((name) => ({ name_label: name, order: 2, power_state: 'Running', other_config: on(), behaviour: { shutdown: 'hung' } })),
          { name_label: 'fine-last', order: 1, power_state: 'Running', other_config: on({ 'xen-guests:shutdown_timeout': '5' }) },
          { name_label: 'stuck-last', order: 1, power_state: 'Running', other_config: on({ 'xen-guests:shutdown_timeout': '5' }), behaviour: { shutdown: 'hung' } },
        ],
        { config },
      );
      const d = await s.start();
      await s.ready(d);
      d.daemon.signal('SIGTERM');
      const signalled = s.simMs(s.signals.at(-1)!.at);
      expect(await s.exited(d)).toBe(0);
      const t = await s.timelines();
      const at = (ms: number | null) => (ms === null ? '-' : ((ms - signalled) / 1000).toFixed(1));
      const phases = stuck.map((name) => ({ name, clean: firstAt(t.get(name), 'clean_shutdown requested'), hard: firstAt(t.get(name), 'hard_shutdown requested') }));
      for (const p of phases) expect(p.clean !== null && p.hard !== null, `${p.name}: a clean request, then a hard stop`).toBe(true);
      const byLength = phases.map((p) => ({ ...p, seconds: (p.hard! - p.clean!) / 1000 })).sort((a, b) => a.clean! - b.clean!);
      const whole = byLength.filter((p) => p.seconds >= 8 - 0.3);
      const cut = byLength.filter((p) => p.seconds < 8 - 0.3);
      expect(whole.length, 'hung guests given their whole 8 s').toBe(4);
      expect(cut.length, 'hung guests whose clean phase the budget cut').toBe(1);
      rec.held(`first group: ${whole.map((p) => `${p.name} ${p.seconds.toFixed(1)} s`).join(', ')} (whole phases); ${cut[0]!.name}: clean ${at(cut[0]!.clean)} s → hard ${at(cut[0]!.hard)} s after SIGTERM (${cut[0]!.seconds.toFixed(1)} s of 8: cut at the 14 s budget)`);
      const lastGroup = ['fine-last', 'stuck-last'].map((name) => `${name}: clean request ${at(firstAt(t.get(name), 'clean_shutdown requested'))}, hard ${at(firstAt(t.get(name), 'hard_shutdown requested'))} s after SIGTERM`);
      expect((await s.vms()).filter((v) => !v.system && v.powerState === 'Running').map((v) => v.name), 'left running').toEqual([]);
      rec.held(`next group: ${lastGroup.join('; ')}; nothing left running`);
      await checkInvariants(s, rec, { shutdown: true, cutByDeadline: true });
    },
  );
});
