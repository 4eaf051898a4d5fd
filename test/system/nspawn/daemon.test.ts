// The real units/xen-guests.service and the real daemon under a real systemd 252 (nspawn), against
// the simulator standing in for xapi: boot starts the guests in order and sends READY; `systemctl
// poweroff` stops them (clean, hard after timeout, hard at once) before the daemon exits, and
// systemd reports the unit deactivated successfully. A second run restarts the unit first, as an
// upgrade does: that must neither stop nor start a guest, and the power-off must still work.
// The unit runs /usr/bin/xen-guests: with XEN_GUESTS_BIN=out/xen-guests that is the self-contained
// executable the RPM ships (bound in read-only), otherwise a two-line wrapper running the clone's
// dist/ on node. The simulator always runs on node from the clone: it is the fixture, not the product.
//   npm run test:system   (root; builds/caches the rootfs on first use)

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { GuestReport, RunReport } from '../../../src/core/types.js';
import { EXECUTABLE_UNDER_TEST } from '../../helpers/bin.js';
import { cannotRun, createContainer, ensureRootfs, ensureTools, log, PROJECT } from './harness.js';

const FILES = join(import.meta.dirname, 'files');
const why = cannotRun();

interface JournalEntry {
  MESSAGE?: string;
  _SYSTEMD_UNIT?: string;
  __REALTIME_TIMESTAMP: string;
}

interface DaemonLine {
  t: number;
  msg: string;
  level: number;
  [k: string]: unknown;
}

interface Run {
  entries: JournalEntry[];
  daemonLog: DaemonLine[];
  driver: (prefix: string) => string;
  bootReport: RunReport | null;
  stopReport: RunReport | null;
  /** `journalctl -p err -u xen-guests` and `-p warning`, as JSON entries. */
  atPriority: { err: JournalEntry[]; warning: JournalEntry[] };
}

const UNITS = ['xen-guests.service', 'xen-guests-sim.service', 'xen-guests-testdriver.service'];
const at = (iso: string | null) => (iso ? Date.parse(iso) : NaN);
const time = (e: JournalEntry) => Number(e.__REALTIME_TIMESTAMP) / 1000;
const message = (e: JournalEntry) => e.MESSAGE ?? '';

async function bootAndPowerOff(name: string, restartFirst: boolean): Promise<Run> {
  ensureTools();
  const container = await createContainer(await ensureRootfs(), name);
  let ok = false;
  try {
    const file = (f: string) => readFile(join(FILES, f), 'utf8');
    // As an install would: the real unit and the shipped config; the test adds only a drop-in.
    await container.put('etc/systemd/system/xen-guests.service', await readFile(join(PROJECT, 'units/xen-guests.service'), 'utf8'));
    await container.put('etc/xen-guests/config.toml', await readFile(join(PROJECT, 'config/config.toml'), 'utf8'));
    await container.put('etc/systemd/system/xen-guests.service.d/test.conf', await file('xen-guests-test.conf'));
    await container.put('etc/systemd/system/xen-guests-sim.service', await file('xen-guests-sim.service'));
    await container.put('etc/systemd/system/xen-guests-testdriver.service', await file('xen-guests-testdriver.service'));
    await container.put('etc/xen-guests-test/scenario.json', await file('scenario.json'));
    if (restartFirst) await container.put('etc/xen-guests-test/restart-first', '');
    if (!EXECUTABLE_UNDER_TEST) {
      await container.put('usr/bin/xen-guests', '#!/bin/sh\nexec /usr/bin/node /opt/xen-guests/dist/src/cli/bin.js "$@"\n', 0o755);
    }
    const program = EXECUTABLE_UNDER_TEST ? [`--bind-ro=${EXECUTABLE_UNDER_TEST}:/usr/bin/xen-guests`] : [];
    for (const unit of UNITS) await container.enable(unit);

    const run = await container.boot({ binds: ['--bind-ro=/usr/bin/node', `--bind-ro=${PROJECT}:/opt/xen-guests`, ...program], timeoutMs: 150_000 });
    log(`${name}: ${EXECUTABLE_UNDER_TEST ?? 'node dist/src/cli/bin.js'} as /usr/bin/xen-guests; container booted and powered off in ${run.seconds.toFixed(1)} s (nspawn exit ${run.exitCode})`);

    const unitArgs = UNITS.flatMap((u) => ['-u', u]);
    const entries = container
      .journal(['-o', 'json', ...unitArgs])
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as JournalEntry);
    const readReport = async (mode: string) =>
      JSON.parse(await readFile(join(container.root, `var/lib/xen-guests/report-${mode}.json`), 'utf8').catch(() => 'null')) as RunReport | null;
    const result: Run = {
      entries,
      daemonLog: entries
        .filter((e) => e._SYSTEMD_UNIT === 'xen-guests.service' && message(e).startsWith('{'))
        .map((e) => ({ t: time(e), ...(JSON.parse(message(e)) as Omit<DaemonLine, 't'>) })),
      driver: (prefix) => entries.map(message).find((m) => m.startsWith(`TESTDRIVER ${prefix}:`)) ?? '',
      bootReport: await readReport('boot'),
      stopReport: await readReport('shutdown'),
      atPriority: {
        err: parseJournal(container.journal(['-o', 'json', '-p', 'err', '-u', 'xen-guests'])),
        warning: parseJournal(container.journal(['-o', 'json', '-p', 'warning', '-u', 'xen-guests'])),
      },
    };
    printStory(name, container.journal(['-o', 'short-monotonic', ...unitArgs]), result);
    ok = true;
    return result;
  } finally {
    // The run is kept for a post-mortem only when the harness itself failed; assertions come later.
    await container.dispose(!ok);
  }
}

/** Both runs: READY and STATUS as systemd saw them, the boot plan, and the shutdown at power-off. */
function expectBootThenCleanPowerOff(run: Run): void {
  const show = run.driver('show');
  expect(show).toContain('Type=notify');
  expect(show).toContain('NotifyAccess=main');
  expect(show).toContain('KillMode=mixed');
  expect(show).toContain('ActiveState=active');
  expect(show).toContain('SubState=running'); // a Type=notify unit is "running" only after READY=1
  expect(show).toMatch(/StatusText=idle; boot plan[^|]+/);

  // Boot: order groups respected; maintenance and disabled guests untouched.
  expect(run.bootReport, 'report-boot.json').not.toBeNull();
  const boot = byName(run.bootReport!);
  for (const name of ['db', 'legacy-hvm', 'web', 'hung']) expect(boot[name]?.outcome, name).toBe('started');
  expect(boot.parked?.outcome).toBe('skipped');
  expect(boot.manual?.outcome).toBe('skipped');
  expect(Math.max(at(boot.db!.endedAt), at(boot['legacy-hvm']!.endedAt))).toBeLessThanOrEqual(Math.min(at(boot.web!.startedAt), at(boot.hung!.startedAt)));

  // Power-off: systemd said the host is going down; every guest stopped by the right step.
  const goingDown = run.daemonLog.filter((l) => l.msg.startsWith('host is going down'));
  expect(goingDown, 'daemon log "host is going down"').toHaveLength(1);
  expect(String(goingDown[0]!.why)).toMatch(/stopping|poweroff\.target/);
  expect(run.stopReport, 'report-shutdown.json').not.toBeNull();
  const stop = byName(run.stopReport!);
  expect(stop.web?.outcome).toBe('clean');
  expect(stop.db?.outcome).toBe('clean');
  expect(stop.hung?.outcome).toBe('hard-after-timeout');
  expect(stop['legacy-hvm']?.outcome).toBe('hard-no-clean-path');
  expect(run.stopReport!.leftRunning).toEqual([]);
  // The hung guest was hard-stopped only after its 4 s clean phase.
  expect(at(stop.hung!.phase2At) - at(stop.hung!.startedAt)).toBeGreaterThanOrEqual(4000);
  // Descending order: group 2 finished before group 1 began.
  expect(Math.max(at(stop.web!.endedAt), at(stop.hung!.endedAt))).toBeLessThanOrEqual(Math.min(at(stop.db!.startedAt), at(stop['legacy-hvm']!.startedAt)));

  // systemd: the unit ended well, after every guest had stopped, and before the "toolstack" went.
  const deactivated = run.entries.filter((e) => message(e) === 'xen-guests.service: Deactivated successfully.').at(-1);
  expect(deactivated, 'systemd line "xen-guests.service: Deactivated successfully."').toBeDefined();
  const lastGuestEnd = Math.max(...run.stopReport!.guests.map((g) => at(g.endedAt)).filter(Number.isFinite));
  expect(lastGuestEnd).toBeLessThanOrEqual(time(deactivated!));
  const simStopping = run.entries.find((e) => message(e).startsWith('Stopping xen-guests-sim.service'));
  expect(simStopping && time(simStopping)).toBeGreaterThanOrEqual(time(deactivated!));
  const systemdLines = run.entries.filter((e) => e._SYSTEMD_UNIT !== 'xen-guests.service').map(message);
  expect(systemdLines.filter((m) => /^xen-guests\.service: (Failed with result|State '.*' timed out|Killing process|Main process exited, code=(exited|killed), status=[^0])/.test(m))).toEqual([]);
}

describe.skipIf(why !== null)(`xen-guests.service in a real systemd${why ? ` (skipped: ${why})` : ''}`, () => {
  it('starts guests at boot, stops them at power-off before exiting, and deactivates successfully', async () => {
    const run = await bootAndPowerOff('xg-daemon', false);
    expectBootThenCleanPowerOff(run);
    expect(run.entries.filter((e) => message(e) === 'xen-guests.service: Deactivated successfully.')).toHaveLength(1);
    expectJournalPriorities(run);
  });

  it('a `systemctl restart` (upgrade) touches no guest, and the restarted daemon still handles the power-off', async () => {
    const run = await bootAndPowerOff('xg-restart', true);
    const decisions = run.daemonLog.filter((l) => /^(host is going down|stop is not a host shutdown)/.test(l.msg)).map((l) => l.msg);
    expect(decisions[0]).toBe('stop is not a host shutdown: leaving every guest as it is');
    const leftAlone = run.daemonLog.find((l) => l.msg.startsWith('stop is not a host shutdown'));
    expect(String(leftAlone?.why)).toMatch(/no shutdown, poweroff, reboot, halt or kexec job is queued/);
    // The second daemon in this boot starts nothing, says so, and stays up until the power-off.
    expect(run.daemonLog.filter((l) => /this boot was handled already/.test(l.msg))).toHaveLength(1);
    expect(run.daemonLog.filter((l) => l.msg === 'boot plan: starting')).toHaveLength(1);
    const after = run.driver('after-restart');
    expect(after).toContain('SubState=running');
    expect(after).toMatch(/StatusText=idle; boot plan ran at /);
    const sinceRestart = run.entries.slice(run.entries.findIndex((e) => message(e).startsWith('TESTDRIVER after-restart:')));
    const stoppingAgain = sinceRestart.find((e) => message(e).startsWith('Stopping xen-guests.service'));
    const exitedAgain = sinceRestart.find((e) => message(e) === 'xen-guests.service: Deactivated successfully.');
    expect(stoppingAgain, 'the restarted daemon was still running when the power-off came').toBeDefined();
    expect(time(exitedAgain!)).toBeGreaterThan(time(stoppingAgain!));
    expectBootThenCleanPowerOff(run);
  });
});

function parseJournal(text: string): JournalEntry[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as JournalEntry);
}

/**
 * Severity reaches the journal: `journalctl -p err` shows exactly the daemon's lines of level error
 * and fatal, `-p warning` adds the warnings (a hung guest's hard stop), and never an info line.
 */
function expectJournalPriorities(run: Run): void {
  const levelOf = (e: JournalEntry) => (message(e).startsWith('{') ? (JSON.parse(message(e)) as { level: number }).level : null);
  const daemonLines = (entries: JournalEntry[]) => entries.filter((e) => e._SYSTEMD_UNIT === 'xen-guests.service' && levelOf(e) !== null);
  const errs = daemonLines(run.atPriority.err);
  const warnings = daemonLines(run.atPriority.warning);
  expect(errs.every((e) => levelOf(e)! >= 50)).toBe(true);
  expect(errs.length).toBe(run.daemonLog.filter((l) => l.level >= 50).length);
  expect(warnings.every((e) => levelOf(e)! >= 40)).toBe(true);
  expect(warnings.length).toBe(run.daemonLog.filter((l) => l.level >= 40).length);
  expect(warnings.some((e) => /hung: hard-after-timeout/.test(message(e)))).toBe(true);
  expect(errs.some((e) => /hung: hard-after-timeout/.test(message(e)))).toBe(false);
}

function byName(report: RunReport): Record<string, GuestReport> {
  return Object.fromEntries(report.guests.map((g) => [g.guest.name, g]));
}

/** What booted, what stopped, how and when — for a person reading the test output. */
function printStory(name: string, readable: string, run: Run): void {
  const t0 = time(run.entries[0] ?? { __REALTIME_TIMESTAMP: '0' });
  const fmt = (ms: number) => `+${((ms - t0) / 1000).toFixed(2)}s`.padStart(8);
  const lines = [`${name}: journal of xen-guests, the simulator and the test driver:`, readable.trimEnd()];
  lines.push(`${name}: what systemd did (times from the first journal line):`);
  for (const e of run.entries) {
    const m = message(e);
    if (e._SYSTEMD_UNIT === 'xen-guests.service' || !/^(Start|Stopp|xen-guests[\w-]*\.service:)/.test(m)) continue;
    lines.push(`  ${fmt(time(e))}  ${m.split(' - ')[0]}`);
  }
  for (const report of [run.bootReport, run.stopReport]) {
    if (!report) {
      lines.push(`${name}: (a report was not written)`);
      continue;
    }
    lines.push(`${name}: ${report.mode} report, trigger "${report.trigger}":`);
    for (const g of report.guests) {
      if (g.outcome === 'skipped' && /template|snapshot|control domain/.test(g.reason ?? '')) continue;
      const span = g.startedAt ? `${fmt(at(g.startedAt))} … ${fmt(at(g.endedAt))}` : '         -           ';
      lines.push(`  ${g.guest.name.padEnd(11)} order ${String(g.order).padStart(2)}  ${g.action.padEnd(14)} → ${g.outcome.padEnd(19)} ${span}${g.reason ? `  ${g.reason}` : ''}`);
    }
  }
  log(lines.join('\n'));
}
