// Fault matrix, area "errors" (issue 14, item 5): alerts are written as XenAPI messages, and a
// message.create that fails must never hold up a start or a stop.

import { expect } from 'vitest';
import { on, scene } from './harness.js';
import { checkInvariants, reportOf } from './invariants.js';
import { matrixArea } from './matrix.js';

const row = matrixArea('errors', 'alerts');

row(
  {
    id: 'E11',
    title: 'message.create fails on every call (alerts cannot be written)',
    injected: 'sim.inject_error message.create INTERNAL_ERROR × 1000, from before the daemon starts',
    when: 'any time',
    must: 'the boot plan and the shutdown run as without alerts (a failed start reported, the hung guest hard-stopped inside the deadline); the reports count the alerts as failed',
  },
  async (rec) => {
    const s = await scene([
      { name_label: 'broken', order: 1, other_config: on(), behaviour: { start_error: 'VM_BOOT_FAILED' } },
      { name_label: 'web', order: 2, other_config: on() },
      { name_label: 'r-hung', order: 3, power_state: 'Running', other_config: on({ 'xen-guests:shutdown_timeout': '3' }), behaviour: { shutdown: 'hung' } },
    ]);
    await s.sim.call('sim.inject_error', 'message.create', 1000, 'INTERNAL_ERROR', 'database is read-only');
    const d = await s.start({ onSigterm: 'stop-guests' });
    await s.ready(d);
    const boot = await s.report('boot');
    expect(reportOf(boot, 'broken')?.outcome).toBe('start-failed');
    expect(reportOf(boot, 'web')?.outcome).toBe('started');
    expect(boot!.alerts).toEqual({ sent: 0, folded: 0, failed: 1 });
    rec.held(`boot: broken start-failed, web started; alerts ${JSON.stringify(boot!.alerts)}`);

    d.daemon.signal('SIGTERM');
    expect(await s.exited(d)).toBe(0);
    const shutdown = await s.report('shutdown');
    expect(reportOf(shutdown, 'r-hung')?.outcome).toBe('hard-after-timeout');
    expect(shutdown!.leftRunning).toEqual([]);
    expect(shutdown!.alerts).toEqual({ sent: 0, folded: 0, failed: 1 });
    rec.held(`shutdown: r-hung hard-stopped after its 3 s, nothing left running; alerts ${JSON.stringify(shutdown!.alerts)}`);
    const messages = s.logs().filter((l) => l.msg === 'could not write an alert as a XenAPI message; carrying on');
    expect(messages.length).toBe(2);
    rec.held(`${messages.length} "could not write an alert" warnings in the log, no error about the run`);
    await checkInvariants(s, rec, { cleanTimeout: (n) => (n === 'r-hung' ? 3 : 10), shutdown: true });
  },
);
