// The real units/xen-guests.service and the real daemon under a real systemd 252 (nspawn), against
// the simulator standing in for xapi: boot starts the guests in order and sends READY; `systemctl
// poweroff` stops them (clean, hard after timeout, hard at once) before the daemon exits, and
// systemd reports the unit deactivated successfully.
//   npm run test:system   (root; builds/caches the rootfs on first use)

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GuestReport, RunReport } from '../../../src/core/types.js';
import { cannotRun, createContainer, ensureRootfs, ensureTools, log, PROJECT, type Container } from './harness.js';

const FILES = join(import.meta.dirname, 'files');
const why = cannotRun();

interface JournalEntry {
  MESSAGE?: string;
  _SYSTEMD_UNIT?: string;
  UNIT?: string;
  __REALTIME_TIMESTAMP: string;
  __MONOTONIC_TIMESTAMP: string;
}

const at = (iso: string | null) => (iso ? Date.parse(iso) : NaN);
const fmt = (ms: number, t0: number) => `+${((ms - t0) / 1000).toFixed(2)}s`;

describe.skipIf(why !== null)(`xen-guests.service in a real systemd${why ? ` (skipped: ${why})` : ''}`, () => {
  let container: Container;
  let ok = false;
  beforeAll(async () => {
    ensureTools();
    const rootfs = await ensureRootfs();
    container = await createContainer(rootfs, 'xg-daemon');
    const file = (name: string) => readFile(join(FILES, name), 'utf8');
    // As an install would: the real unit, the shipped config; the test adds only a drop-in.
    await container.put('etc/systemd/system/xen-guests.service', await readFile(join(PROJECT, 'units/xen-guests.service'), 'utf8'));
    await container.put('etc/xen-guests/config.toml', await readFile(join(PROJECT, 'config/config.toml'), 'utf8'));
    await container.put('etc/systemd/system/xen-guests.service.d/test.conf', await file('xen-guests-test.conf'));
    await container.put('etc/systemd/system/xen-guests-sim.service', await file('xen-guests-sim.service'));
    await container.put('etc/systemd/system/xen-guests-testdriver.service', await file('xen-guests-testdriver.service'));
    await container.put('etc/xen-guests-test/scenario.json', await file('scenario.json'));
    for (const unit of ['xen-guests.service', 'xen-guests-sim.service', 'xen-guests-testdriver.service']) await container.enable(unit);
  });
  afterAll(async () => {
    await container?.dispose(!ok);
  });

  it('starts guests at boot, stops them at poweroff before exiting, and deactivates successfully', async () => {
    const run = await container.boot({ binds: ['--bind-ro=/usr/bin/node', `--bind-ro=${PROJECT}:/opt/xen-guests`], timeoutMs: 150_000 });
    log(`container booted and powered off in ${run.seconds.toFixed(1)} s (nspawn exit ${run.exitCode})`);

    const units = ['xen-guests.service', 'xen-guests-sim.service', 'xen-guests-testdriver.service'];
    const entries = container
      .journal(['-o', 'json', ...units.flatMap((u) => ['-u', u])])
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as JournalEntry);
    const readable = container.journal(['-o', 'short-monotonic', ...units.flatMap((u) => ['-u', u])]);
    const bootReport = JSON.parse(await readFile(join(container.root, 'var/lib/xen-guests/report-boot.json'), 'utf8').catch(() => 'null')) as RunReport | null;
    const stopReport = JSON.parse(await readFile(join(container.root, 'var/lib/xen-guests/report-shutdown.json'), 'utf8').catch(() => 'null')) as RunReport | null;
    printStory(readable, entries, bootReport, stopReport);

    const message = (e: JournalEntry) => e.MESSAGE ?? '';
    const time = (e: JournalEntry) => Number(e.__REALTIME_TIMESTAMP) / 1000;
    const daemonLog = entries
      .filter((e) => e._SYSTEMD_UNIT === 'xen-guests.service' && message(e).startsWith('{'))
      .map((e) => ({ t: time(e), ...(JSON.parse(message(e)) as { msg: string; level: number; [k: string]: unknown }) }));

    // READY and STATUS as systemd saw them, from the test driver (ordered after the start job).
    const show = entries.map(message).find((m) => m.startsWith('TESTDRIVER show:')) ?? '';
    expect(show).toContain('Type=notify');
    expect(show).toContain('NotifyAccess=main');
    expect(show).toContain('KillMode=mixed');
    expect(show).toContain('ActiveState=active');
    expect(show).toContain('SubState=running'); // a Type=notify unit is "running" only after READY=1
    expect(show).toMatch(/StatusText=idle; boot plan[^|]+/);

    // Boot: the plan ran in order groups; maintenance and disabled guests untouched.
    expect(bootReport).not.toBeNull();
    const boot = byName(bootReport!);
    for (const name of ['db', 'legacy-hvm', 'web', 'hung']) expect(boot[name]?.outcome, name).toBe('started');
    expect(boot.parked?.outcome).toBe('skipped');
    expect(boot.manual?.outcome).toBe('skipped');
    expect(Math.max(at(boot.db!.endedAt), at(boot['legacy-hvm']!.endedAt))).toBeLessThanOrEqual(Math.min(at(boot.web!.startedAt), at(boot.hung!.startedAt)));

    // Shutdown: asked systemd, got "going down", stopped every guest, each by the right step.
    expect(daemonLog.some((l) => /host is going down/.test(l.msg) && /stopping|poweroff\.target/.test(String(l.why)))).toBe(true);
    expect(stopReport).not.toBeNull();
    const stop = byName(stopReport!);
    expect(stop.web?.outcome).toBe('clean');
    expect(stop.db?.outcome).toBe('clean');
    expect(stop.hung?.outcome).toBe('hard-after-timeout');
    expect(stop['legacy-hvm']?.outcome).toBe('hard-no-clean-path');
    expect(stopReport!.leftRunning).toEqual([]);
    // The hung guest was hard-stopped only after its 4 s clean phase.
    expect(at(stop.hung!.phase2At) - at(stop.hung!.startedAt)).toBeGreaterThanOrEqual(4000);
    // Descending order: group 2 finished before group 1 began.
    expect(Math.max(at(stop.web!.endedAt), at(stop.hung!.endedAt))).toBeLessThanOrEqual(Math.min(at(stop.db!.startedAt), at(stop['legacy-hvm']!.startedAt)));

    // systemd: the unit ended well, after every guest had stopped, and before the "toolstack" went.
    const deactivated = entries.find((e) => message(e) === 'xen-guests.service: Deactivated successfully.');
    expect(deactivated, 'systemd line "xen-guests.service: Deactivated successfully."').toBeDefined();
    const lastGuestEnd = Math.max(...stopReport!.guests.map((g) => at(g.endedAt)).filter(Number.isFinite));
    expect(lastGuestEnd).toBeLessThanOrEqual(time(deactivated!));
    const simStopping = entries.find((e) => message(e).startsWith('Stopping xen-guests-sim.service'));
    expect(simStopping && time(simStopping)).toBeGreaterThanOrEqual(time(deactivated!));
    expect(readable).not.toMatch(/xen-guests\.service: (Failed with result|State '.*' timed out|Killing process)/);
    ok = true;
  });
});

function byName(report: RunReport): Record<string, GuestReport> {
  return Object.fromEntries(report.guests.map((g) => [g.guest.name, g]));
}

/** What booted, what stopped, how and when — for a person reading the test output. */
function printStory(readable: string, entries: JournalEntry[], boot: RunReport | null, stop: RunReport | null): void {
  const t0 = Number(entries[0]?.__REALTIME_TIMESTAMP ?? 0) / 1000;
  const lines = ['journal (xen-guests, simulator, test driver):', readable.trimEnd()];
  for (const report of [boot, stop]) {
    if (!report) {
      lines.push('(no report written)');
      continue;
    }
    lines.push(`${report.mode} report (trigger: ${report.trigger}; times from the first journal line):`);
    for (const g of report.guests) {
      lines.push(
        `  ${g.guest.name.padEnd(12)} order ${String(g.order).padStart(2)}  ${g.action.padEnd(14)} → ${g.outcome.padEnd(20)} ` +
          `${g.startedAt ? fmt(at(g.startedAt), t0) : '-'} … ${g.endedAt ? fmt(at(g.endedAt), t0) : '-'}${g.reason ? `  (${g.reason})` : ''}`,
      );
    }
  }
  log(lines.join('\n'));
}
