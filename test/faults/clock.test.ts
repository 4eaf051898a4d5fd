// Fault matrix, area "clock": the wall clock stepped ±1 h (a chronyd/ntpd makestep) while the daemon
// waits — during a boot plan's readiness wait and during a shutdown's clean phase. libfaketime moves
// the daemon's wall clock only (FAKETIME_DONT_FAKE_MONOTONIC=1: CLOCK_MONOTONIC stays real); the
// simulator runs unfaked, so its timeline is the independent, real-time record of what happened.
// Also from that timeline: VM.shutdown_delay between shutdown groups, and (K7) the boot journal read
// back after a step between a journal line and the start it records.

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import { configToml, on, scene, timelineShows, vmRef, xapi, type Scene } from './harness.js';
import { reportOf } from './invariants.js';
import { matrixArea } from './matrix.js';
import { journalResumeGuests, judgeJournalResume } from './journal-resume.js';
import { firstAt } from '../e2e/timeline.js';
import { monotonicNow } from '../../src/core/clock.js';

const row = matrixArea('clock', 'clock', 'The clock stepped, and the delays between groups (K)');

const LIBFAKETIME_PATHS = ['/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib64/faketime/libfaketime.so.1', '/usr/lib/faketime/libfaketime.so.1'];

/** libfaketime, installed when missing and allowed (root with apt-get); null with the reason otherwise. */
function findLibfaketime(): { lib: string } | { missing: string } {
  const found = () => LIBFAKETIME_PATHS.find((p) => existsSync(p));
  if (!found() && process.getuid?.() === 0) {
    try {
      execFileSync('apt-get', ['install', '-y', 'faketime'], { stdio: 'ignore', timeout: 120_000 });
    } catch {
      // Reported below as the reason the rows did not run.
    }
  }
  const lib = found();
  return lib ? { lib } : { missing: `libfaketime not found (${LIBFAKETIME_PATHS.join(', ')}) and \`apt-get install -y faketime\` was not possible here` };
}
const faketime = findLibfaketime();
const notRun = 'missing' in faketime ? { unavailable: faketime.missing } : {};

/**
 * The daemon's environment under libfaketime, with the offset read from a file the row rewrites to
 * step the clock; FAKETIME_NO_CACHE makes every clock read see a new offset at once.
 */
async function steppableClock(s: Scene): Promise<{ env: Record<string, string>; step: (offset: string) => Promise<void> }> {
  const file = join(s.runtimeDir, '..', 'faketime-offset');
  await writeFile(file, '+0\n');
  return {
    env: {
      LD_PRELOAD: 'lib' in faketime ? faketime.lib : '',
      FAKETIME_TIMESTAMP_FILE: file,
      FAKETIME_NO_CACHE: '1',
      FAKETIME_DONT_FAKE_MONOTONIC: '1',
    },
    step: (offset) => writeFile(file, `${offset}\n`),
  };
}

/** libfaketime really moves Date.now in node and leaves the monotonic clock alone (else the row proves nothing). */
function checkFaketimeWorks(env: Record<string, string>, offset: string, rec: { held(t: string): void }): void {
  const probe = `const w=Date.now(),m=Number(process.hrtime.bigint())/1e6;process.stdout.write(JSON.stringify({w,m}))`;
  const before = { w: Date.now(), m: Number(process.hrtime.bigint()) / 1e6 };
  const out = JSON.parse(execFileSync(process.execPath, ['-e', probe], { env: { ...process.env, ...env, FAKETIME: offset, FAKETIME_TIMESTAMP_FILE: '' } }).toString()) as { w: number; m: number };
  const wallShift = out.w - before.w - (out.m - before.m);
  const hour = offset.startsWith('-') ? -3_600_000 : 3_600_000;
  expect(Math.abs(wallShift - hour), `libfaketime ${offset}: Date.now moved by ${wallShift} ms`).toBeLessThan(60_000);
  rec.held(`libfaketime ${offset} moves Date.now in node by ${Math.round(wallShift / 60_000)} min while process.hrtime stays on the real CLOCK_MONOTONIC`);
}

const bootGuests = () => [
  // Its agent comes up well inside the readiness wait, a few real seconds after the start.
  { name_label: 'a-agent', order: 1, other_config: on({ 'xen-guests:ready': 'agent' }), behaviour: { agent_s: 200 } },
  // Never reports an agent: its readiness wait must end after ready_timeout real seconds.
  { name_label: 'a-silent', order: 1, other_config: on({ 'xen-guests:ready': 'agent' }), behaviour: { agent_s: 'none' } },
  { name_label: 'b', order: 2, other_config: on() },
];
const READY_TIMEOUT_S = 15;

for (const [id, offset] of [['K1', '+1h'], ['K2', '-1h']] as const) {
  row(
    {
      id,
      title: `wall clock stepped ${offset} during a boot plan's readiness wait`,
      injected: `libfaketime on the daemon: its wall clock steps ${offset} while the first group's starts are in flight, before their readiness waits begin (monotonic clock real)`,
      when: 'boot plan',
      must: 'the next group waits for readiness; a guest that is never ready is given up after ready_timeout real seconds, not at once and not an hour late',
      ...notRun,
    },
    async (rec) => {
      // Building a domain takes 3 s real (150 × 0.02): the step lands while both starts are in flight,
      // so every deadline of the readiness waits is taken and armed after it.
      const s = await scene(bootGuests(), { config: configToml({ readyTimeout: READY_TIMEOUT_S }), sim: { xapi: { domain_build_s: 150 } } });
      const clock = await steppableClock(s);
      checkFaketimeWorks(clock.env, offset, rec);
      const daemon = await s.start({ env: clock.env });
      await timelineShows(s, 'a-agent', 'start requested');
      await timelineShows(s, 'a-silent', 'start requested');
      await clock.step(offset);
      // The row's premise: the step came before either guest ran (its readiness wait not yet armed).
      const atStep = await s.timelines();
      expect(firstAt(atStep.get('a-agent'), 'running') ?? firstAt(atStep.get('a-silent'), 'running')).toBeNull();
      rec.held('the clock stepped while both starts of group 1 were in flight');
      await s.ready(daemon, 90_000);

      const t = await s.timelines();
      const agentLive = firstAt(t.get('a-agent'), 'agent live');
      const silentAsked = firstAt(t.get('a-silent'), 'start requested');
      const bAsked = firstAt(t.get('b'), 'start requested');
      expect(agentLive).not.toBeNull();
      expect(bAsked).not.toBeNull();
      expect(bAsked!).toBeGreaterThanOrEqual(agentLive!);
      rec.held(`group 2 was asked ${bAsked! - agentLive!} ms after group 1's agent went live (simulator timeline)`);
      // The silent guest's wait runs from its turn, which began before its start request.
      expect(bAsked! - silentAsked!).toBeGreaterThanOrEqual(READY_TIMEOUT_S * 1000 - 1_000);
      rec.held(`the never-ready guest held group 2 back ${((bAsked! - silentAsked!) / 1000).toFixed(1)} s after its start request (ready_timeout ${READY_TIMEOUT_S} s, real)`);
      const report = await s.report('boot');
      expect(reportOf(report, 'a-agent')?.outcome).toBe('started');
      expect(reportOf(report, 'a-silent')?.outcome).toBe('started-not-ready');
      expect(reportOf(report, 'b')?.outcome).toBe('started');
      rec.held('report: a-agent started, a-silent started-not-ready, b started');
    },
  );
}

const shutdownGuests = () => [
  { name_label: 'low', order: 1, power_state: 'Running', other_config: on() },
  // Obeys after 4 real seconds (200 × 0.02), inside its 20 s clean timeout.
  { name_label: 'top-slow', order: 2, power_state: 'Running', other_config: on({ 'xen-guests:shutdown_timeout': '20' }), behaviour: { shutdown_s: 200 } },
  { name_label: 'top-hung', order: 2, power_state: 'Running', other_config: on({ 'xen-guests:shutdown_timeout': '6' }), behaviour: { shutdown: 'hung' } },
];
const DEADLINE_S = 60;

for (const [id, offset] of [['K3', '+1h'], ['K4', '-1h']] as const) {
  row(
    {
      id,
      title: `wall clock stepped ${offset} during a shutdown's clean phase`,
      injected: `libfaketime on the daemon: its wall clock steps ${offset} right after the clean requests went out (monotonic clock real)`,
      when: 'shutdown plan',
      must: 'no guest hard-stopped before its clean phase ran out; the hung guest hard-stopped after its timeout in real seconds; the deadline kept in real seconds',
      ...notRun,
    },
    async (rec) => {
      const s = await scene(shutdownGuests(), { config: configToml({ deadline: DEADLINE_S, hardReserve: 10 }) });
      const clock = await steppableClock(s);
      checkFaketimeWorks(clock.env, offset, rec);
      const daemon = await s.start({ env: clock.env });
      await s.ready(daemon);
      const sigtermAt = Date.now();
      daemon.daemon.signal('SIGTERM');
      await timelineShows(s, 'top-hung', 'clean_shutdown requested');
      await timelineShows(s, 'top-slow', 'clean_shutdown requested');
      await clock.step(offset);
      expect(await s.exited(daemon)).toBe(0);

      const t = await s.timelines();
      expect(firstAt(t.get('top-slow'), 'hard shutdown')).toBeNull();
      rec.held('top-slow (obeys in 4 s of its 20 s) halted cleanly: no hard stop (simulator timeline)');
      const hungAsked = firstAt(t.get('top-hung'), 'clean_shutdown requested')!;
      const hungHard = firstAt(t.get('top-hung'), 'hard shutdown');
      expect(hungHard).not.toBeNull();
      expect(hungHard! - hungAsked).toBeGreaterThanOrEqual(6_000);
      rec.held(`top-hung hard-stopped ${((hungHard! - hungAsked) / 1000).toFixed(1)} s after its clean request (its clean timeout: 6 s, real)`);
      const lowAsked = firstAt(t.get('low'), 'clean_shutdown requested');
      expect(lowAsked).not.toBeNull();
      expect(lowAsked!).toBeGreaterThanOrEqual(Math.max(firstAt(t.get('top-slow'), 'halted')!, firstAt(t.get('top-hung'), 'halted')!));
      rec.held('the lower group was asked only after both upper guests halted');
      const exitAt = daemon.exit!.at;
      expect(exitAt - sigtermAt).toBeLessThanOrEqual(DEADLINE_S * 1000);
      const record = JSON.parse(await readFile(join(s.stateDir, 'shutdown-progress.json'), 'utf8')) as { deadlineMonotonicMs: number; finishedAt: string | null };
      expect(record.finishedAt).not.toBeNull();
      rec.held(`the daemon exited 0 ${((exitAt - sigtermAt) / 1000).toFixed(1)} s after SIGTERM, inside the ${DEADLINE_S} s deadline (real seconds)`);
      const report = await s.report('shutdown');
      expect(reportOf(report, 'top-slow')?.outcome).toBe('clean');
      expect(reportOf(report, 'top-hung')?.outcome).toBe('hard-after-timeout');
      expect(Date.parse(report!.endedAt)).toBeLessThanOrEqual(Date.parse(report!.deadlineAt!));
      rec.held('report: top-slow clean, top-hung hard-after-timeout, ended before its deadline');
    },
  );
}

row(
  {
    id: 'K5',
    title: 'VM.shutdown_delay between shutdown order groups',
    injected: 'the upper group\'s guests carry VM.shutdown_delay = 3 s',
    when: 'shutdown plan',
    must: 'the next group is asked no earlier than shutdown_delay after the upper group\'s last guest halted',
  },
  async (rec) => {
    // The daemon reads the field as real seconds (the simulator scales only its own sleeps of it).
    const delayS = 3;
    const realDelayMs = delayS * 1000;
    const s = await scene([
      { name_label: 'top-1', order: 2, power_state: 'Running', shutdown_delay: delayS, other_config: on() },
      { name_label: 'top-2', order: 2, power_state: 'Running', shutdown_delay: delayS, other_config: on(), behaviour: { shutdown_s: 50 } },
      { name_label: 'low', order: 1, power_state: 'Running', other_config: on() },
    ]);
    const daemon = await s.start();
    await s.ready(daemon);
    daemon.daemon.signal('SIGTERM');
    expect(await s.exited(daemon)).toBe(0);
    const t = await s.timelines();
    const lastHalt = Math.max(firstAt(t.get('top-1'), 'halted')!, firstAt(t.get('top-2'), 'halted')!);
    const lowAsked = firstAt(t.get('low'), 'clean_shutdown requested');
    expect(lowAsked, JSON.stringify([...t.values()].map((g) => [g.name, g.events.map((e) => e.event)]))).not.toBeNull();
    expect(lowAsked! - lastHalt).toBeGreaterThanOrEqual(realDelayMs);
    rec.held(`the lower group was asked ${lowAsked! - lastHalt} ms after the upper group's last halt (shutdown_delay: ${delayS} s)`);
    expect(reportOf(await s.report('shutdown'), 'low')?.outcome).toBe('clean');
    rec.held('every guest stopped cleanly');
  },
);


row(
  {
    id: 'K6',
    title: 'VM.start_delay counted once on a two-host pool',
    injected: 'a pool of two hosts (VM.start_on, which sleeps start_delay twice inside xapi); the first group\'s guest has start_delay = 4 s',
    when: 'boot plan',
    must: 'the next group is asked one start_delay after the guest ran, not two',
  },
  async (rec) => {
    const delayS = 4;
    // Real time (scale 1), so that the simulator's sleeps of start_delay and the daemon's seconds agree.
    const quick = { boot_s: 1, agent_s: 1 };
    const s = await scene(
      [
        { name_label: 'first', order: 1, affinity: 'host-a', start_delay: delayS, other_config: on({ 'xen-guests:ready': 'running' }), behaviour: quick },
        { name_label: 'second', order: 2, affinity: 'host-a', other_config: on({ 'xen-guests:ready': 'running' }), behaviour: quick },
      ],
      { timeScale: 1, sim: { hosts: [{ name_label: 'host-a', memory_mib: 262144 }, { name_label: 'host-b', memory_mib: 262144 }] } },
    );
    const call = await xapi(s);
    const hosts = (await call('host.get_all_records')) as Record<string, { uuid: string; name_label: string }>;
    const hostA = Object.values(hosts).find((h) => h.name_label === 'host-a')!.uuid;
    const daemon = await s.start({ config: s.config.replace('[xapi]\n', `[xapi]\nhost_uuid = "${hostA}"\n`) });
    await s.ready(daemon, 90_000);
    const t = await s.timelines();
    const firstRan = firstAt(t.get('first'), 'running');
    const secondAsked = firstAt(t.get('second'), 'start_on requested');
    expect(firstRan).not.toBeNull();
    expect(secondAsked, JSON.stringify(t.get('second')?.events.map((e) => e.event))).not.toBeNull();
    // xapi's own two sleeps show in the timeline; the plan waited for one of them.
    const sleeps = t.get('first')!.events.filter((e) => e.event === 'start_delay').map((e) => e.at);
    expect(sleeps).toHaveLength(2);
    expect(secondAsked! - firstRan!).toBeGreaterThanOrEqual(delayS * 1000);
    rec.held(`the second group was asked ${((secondAsked! - firstRan!) / 1000).toFixed(1)} s after the first guest ran (start_delay ${delayS} s)`);
    // Counted once: asked before xapi's second sleep of the first guest's start_on task was over.
    expect(secondAsked!).toBeLessThan(sleeps[1]! + delayS * 1000);
    rec.held(`and before xapi's second start_delay sleep ended (${((sleeps[1]! + delayS * 1000 - secondAsked!) / 1000).toFixed(1)} s early)`);
    const report = await s.report('boot');
    expect(reportOf(report, 'first')?.outcome).toBe('started');
    expect(reportOf(report, 'second')?.outcome).toBe('started');
  },
);

row(
  {
    id: 'K7',
    title: 'boot journal read back after the wall clock stepped −1 h between the journal line and the start',
    injected:
      'libfaketime: the first daemon journals its starts with a wall clock 1 h ahead of the host clock that stamps VM_metrics.start_time (xapi\'s: the simulator\'s real clock), i.e. a −1 h step between the line and the start; it is SIGKILLed in the boot plan; an admin hard-stops a guest it had started; a journal line for a guest never sent; a new daemon in the same boot on the stepped clock',
    when: 'boot plan (P7\'s scenario)',
    must: 'the guest the admin stopped is not started again; the never-sent one is started, once',
    ...notRun,
  },
  async (rec) => {
    const s = await scene(journalResumeGuests());
    const clock = await steppableClock(s);
    checkFaketimeWorks(clock.env, '+1h', rec);
    await clock.step('+1h');
    const first = await s.start({ env: clock.env });
    await timelineShows(s, 'g-wait', 'start requested');
    first.daemon.signal('SIGKILL');
    await s.exited(first);

    // The premise: the start xapi stamped reads as older than the journal line (what fools a wall-clock comparison).
    const call = await xapi(s);
    const admin = await vmRef(s, 'g-admin');
    const startTime = new Date((await call('VM_metrics.get_start_time', await call('VM.get_metrics', admin))) as string | Date).getTime();
    const bootId = (await readFile(s.bootIdFile, 'utf8')).trim();
    const adminUuid = (await s.vms()).find((v) => v.name === 'g-admin')!.uuid;
    const lines = (await readFile(join(s.stateDir, 'boot-progress.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { uuid: string; at: string });
    const journalled = Date.parse(lines.find((l) => l.uuid === adminUuid)!.at);
    expect(startTime).toBeLessThan(journalled - 30 * 60_000);
    rec.held(`g-admin's start_time is ${Math.round((journalled - startTime) / 60_000)} min before its journal line`);

    await call('VM.hard_shutdown', admin);
    await timelineShows(s, 'g-admin', 'halted');
    // What the first daemon, killed between journalling a start and sending it, leaves behind (its clock, this boot's monotonic instant).
    const never = (await s.vms()).find((v) => v.name === 'g-never')!.uuid;
    await appendFile(join(s.stateDir, 'boot-progress.jsonl'), JSON.stringify({ bootId, uuid: never, at: new Date(Date.now() + 3_600_000).toISOString(), monotonicMs: monotonicNow() }) + '\n');

    await clock.step('+0');
    const second = await s.start({ env: clock.env });
    await s.ready(second, 90_000);
    await judgeJournalResume(s, rec);
    const decided = second.daemon.logs.find((l) => l.level === 30 && /^g-admin: started at .* in this boot and shut down since/.test(String(l.msg)));
    expect(decided).toMatchObject({ name: 'xen-guests', guestName: 'g-admin' });
    rec.held('the decision logged with the guest under guestName and the program under name');
    second.daemon.signal('SIGTERM');
    await s.exited(second);
  },
  180_000,
);
