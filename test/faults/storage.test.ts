// Fault matrix, area "storage": an SR a guest's disks live on never becomes pluggable on this host
// (issue 14, item 3). Judged from the simulator's call log and timeline, and the daemon's exit.

import { describe, expect } from 'vitest';
import { configToml, on, scene, xapi } from './harness.js';
import { checkInvariants, reportOf } from './invariants.js';
import { matrixArea } from './matrix.js';
import { count } from '../e2e/timeline.js';

const row = matrixArea('storage', 'storage', 'Storage that never comes (ST)');

const READY_TIMEOUT_S = 6;

describe('fault matrix: storage', () => {
  row(
    {
      id: 'ST1',
      title: 'SR never available',
      injected: "an NFS SR unplugged at host boot whose target never answers (every PBD.plug fails SR_BACKEND_FAILURE_73); one guest's disk is on it",
      when: 'boot plan',
      must: 'PBD.plug retried with backoff only within the guest ready timeout; the guest is never started and is reported with the SR named (report and a XenAPI message); the other guests of its group and the next group start; the daemon reaches READY and stops cleanly later',
    },
    async (rec) => {
      const s = await scene(
        [
          { name_label: 'on-nfs', order: 1, other_config: on(), disks: ['nfs-dead'] },
          { name_label: 'local-1', order: 1, other_config: on(), disks: ['local'] },
          { name_label: 'next-group', order: 2, other_config: on(), disks: ['local'] },
        ],
        {
          config: configToml({ readyTimeout: READY_TIMEOUT_S }),
          sim: {
            srs: [
              { name_label: 'nfs-dead', type: 'nfs', shared: true, plugged: false, available: false },
              { name_label: 'local', type: 'lvm', shared: false },
            ],
          },
        },
      );
      const d = await s.start();
      await s.ready(d);
      const readyCalls = (await s.callLog()).length;

      const calls = await s.callLog();
      const plugs = calls.filter((c) => c.method === 'PBD.plug');
      expect(plugs.length).toBeGreaterThan(1);
      expect(plugs.every((c) => c.outcome === 'SR_BACKEND_FAILURE_73')).toBe(true);
      // Bounded: no attempt begins after the guest's ready timeout (counted before the first plug).
      const spanMs = plugs.at(-1)!.t_ms - plugs[0]!.t_ms;
      expect(spanMs).toBeLessThan(READY_TIMEOUT_S * 1000);

      const t = await s.timelines();
      expect(count(t.get('on-nfs'), 'start requested')).toBe(0);
      expect(count(t.get('local-1'), 'running')).toBe(1);
      expect(count(t.get('next-group'), 'running')).toBe(1);

      const boot = (await s.report('boot'))!;
      const failed = reportOf(boot, 'on-nfs');
      expect(failed?.outcome).toBe('start-failed');
      expect(failed?.reason).toContain("SR 'nfs-dead'");
      expect(failed?.storageWait).toMatchObject({ srs: ['nfs-dead'], plugged: false });
      expect(reportOf(boot, 'next-group')?.outcome).toBe('started');
      // Where admins look: one XenAPI message for that guest, naming the SR (alerts are on by default).
      const call = await xapi(s);
      const messages = Object.values((await call('message.get_all_records')) as Record<string, { name: string; obj_uuid: string; body: string }>);
      const srAlerts = messages.filter((m) => m.name === 'XEN_GUESTS_SR_UNPLUGGED');
      expect(srAlerts.map((m) => m.obj_uuid)).toEqual([failed!.guest.uuid]);
      expect(srAlerts[0]!.body).toContain('nfs-dead');

      d.daemon.signal('SIGTERM');
      expect(await s.exited(d)).toBe(0);
      // The wait ended with the boot plan: nothing plugged during the idle time or the shutdown.
      expect((await s.callLog()).slice(readyCalls).filter((c) => c.method === 'PBD.plug')).toEqual([]);
      rec.held(`${plugs.length} PBD.plug attempts over ${(spanMs / 1000).toFixed(1)} s (ready timeout ${READY_TIMEOUT_S} s), all SR_BACKEND_FAILURE_73; on-nfs: ${failed?.reason}; one XEN_GUESTS_SR_UNPLUGGED message for it; local-1 and next-group started`);
      await checkInvariants(s, rec, { shutdown: true });
    },
  );
});
