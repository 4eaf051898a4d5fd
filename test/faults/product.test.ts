// Fault matrix, area "product": faults the first matrix did not cover (issue 11) — malformed
// records, another host's runtime records, two daemons, stop-all racing the host shutdown, and a
// stray promise rejection during the shutdown. Every outcome is judged by the simulator's timeline
// and call log, the processes' exit codes and the files they left.

import { describe, expect } from 'vitest';
import { appendFile, mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { on, onCleanup, scene, timelineShows, writeFileIn, xapi, vmRef, type Scene } from './harness.js';
import { reportOf } from './invariants.js';
import { matrixArea } from './matrix.js';
import { journalResumeGuests, judgeJournalResume } from './journal-resume.js';
import { count } from '../e2e/timeline.js';
import { makeTempDir } from '../helpers/daemon.js';
import { spawnSim } from '../helpers/sim.js';
import { runCli } from '../cli/run-cli.js';
import { timelines } from '../e2e/timeline.js';
import type { ShutdownSnapshot } from '../../src/core/types.js';

const row = matrixArea('product', 'product');
const EX_TEMPFAIL = 75;

const hasLine = (s: Scene, level: number, re: RegExp) => s.logs().some((l) => l.level === level && re.test(String(l.msg)));

/** The CLI as an admin runs it on this scene's host and state directory. */
async function cli(s: Scene, ...args: string[]) {
  const config = await writeFileIn(await makeTempDir('xg-cli-config-'), 'config.toml', s.config);
  return runCli([...args, '--xapi', s.sim.url, '--state-dir', s.stateDir, '--config', config], {
    env: { XEN_GUESTS_BOOT_ID_FILE: s.bootIdFile, XEN_GUESTS_RUNTIME_DIR: s.runtimeDir },
    timeoutMs: 90_000,
  });
}

describe('fault matrix: product faults of issue 11', () => {
  row(
    {
      id: 'P1',
      title: 'a malformed VM record at boot',
      injected: 'sim.corrupt_field(VM, bad, memory_static_max, "lots") before the daemon starts',
      when: 'boot plan',
      must: 'the bad record logged with its ref and field and reported as "unreadable record"; every other guest started',
    },
    async (rec) => {
      const s = await scene([
        { name_label: 'good-1', order: 1, other_config: on() },
        { name_label: 'bad', order: 1, other_config: on() },
        { name_label: 'good-2', order: 2, other_config: on() },
      ]);
      await s.sim.call('sim.corrupt_field', 'VM', 'bad', 'memory_static_max', 'lots');
      const d = await s.start();
      await s.ready(d);
      const t = await s.timelines();
      for (const n of ['good-1', 'good-2']) expect(count(t.get(n), 'running'), n).toBe(1);
      expect(count(t.get('bad'), 'start requested')).toBe(0);
      rec.held('good-1 and good-2 started (simulator timeline), the malformed guest was never asked to start');
      const badRef = (await s.vms()).find((v) => v.name === 'bad')!.ref;
      const line = d.daemon.logs.find((l) => l.level === 50 && String(l.msg).includes(badRef) && String(l.msg).includes('memory_static_max'));
      expect(line, 'an error line naming the ref and the field').toBeDefined();
      rec.held(`logged at error with its ref and field: "${String(line!.msg).slice(0, 120)}"`);
      const boot = await s.report('boot');
      expect(reportOf(boot, 'bad')?.outcome).toBe('skipped');
      expect(reportOf(boot, 'bad')?.reason).toMatch(/^unreadable record: .*memory_static_max/);
      rec.held('the boot report lists it as skipped: unreadable record (with the field)');
      d.daemon.signal('SIGTERM');
      await s.exited(d);
    },
  );

  row(
    {
      id: 'P2',
      title: 'a malformed VM record and a failing whole-table read at shutdown',
      injected: 'sim.corrupt_field on a running guest, and every VM.get_all_records fails (INTERNAL_ERROR), then SIGTERM',
      when: 'shutdown plan',
      must: 'the daemon reads the guests one by one (the event cache\'s sync, which is the plan\'s read: VM.get_all, then VM.get_record each) and stops every readable one cleanly; the unreadable one is named as left running (exit 1)',
    },
    async (rec) => {
      const s = await scene([
        { name_label: 'run-1', order: 1, power_state: 'Running', other_config: on() },
        { name_label: 'run-2', order: 2, power_state: 'Running', other_config: on() },
        { name_label: 'broken', order: 1, power_state: 'Running', other_config: on() },
      ]);
      const d = await s.start();
      await s.ready(d);
      await s.sim.call('sim.corrupt_field', 'VM', 'broken', 'memory_static_max', { not: 'a number' });
      await s.sim.call('sim.inject_error', 'VM.get_all_records', 100_000, 'INTERNAL_ERROR', 'injected');
      d.daemon.signal('SIGTERM');
      expect(await s.exited(d)).toBe(1);
      const t = await s.timelines();
      for (const n of ['run-1', 'run-2']) expect(count(t.get(n), 'halted'), n).toBe(1);
      expect(count(t.get('broken'), 'clean_shutdown requested') + count(t.get('broken'), 'hard_shutdown requested')).toBe(0);
      rec.held('run-1 and run-2 halted after clean requests although no whole-table read succeeded; the unreadable guest was not touched');
      expect(hasLine(s, 50, /VM\.get_all_records failed; reading the records one by one/)).toBe(true);
      rec.held('the fallback to per-guest reads is logged at error');
      const report = await s.report('shutdown');
      expect(reportOf(report, 'broken')?.reason).toMatch(/^unreadable record: .*memory_static_max/);
      expect(report!.leftRunning.map((g) => g.name)).toEqual(['broken']);
      rec.held('the report names the unreadable guest as skipped (unreadable record) and left running; the daemon exited 1');
    },
  );

  row(
    {
      id: 'P3',
      title: 'a daemon against another host, with this machine\'s runtime records present',
      injected: 'daemon A SIGKILLed in its shutdown plan (unfinished shutdown record, boot marker "done"); then daemons against host B: one with A\'s state directory, one with a fresh one; same runtime directory and boot id',
      when: 'daemon start',
      must: 'neither resumes A\'s shutdown nor calls B\'s boot handled; each logs which record it ignored and why; B\'s boot plan runs once',
    },
    async (rec) => {
      const s = await scene([
        { name_label: 'a-hung', order: 1, power_state: 'Running', other_config: on(), behaviour: { shutdown: 'hung' } },
      ]);
      const a = await s.start();
      await s.ready(a);
      a.daemon.signal('SIGTERM');
      await timelineShows(s, 'a-hung', 'clean_shutdown requested');
      a.daemon.signal('SIGKILL');
      await s.exited(a);

      const simB = await spawnSim({
        timeScale: 0.02,
        // Another seed: the simulator derives its uuids from it, so host B's uuid differs from A's.
        seed: 4242,
        scenario: { guests: [{ name_label: 'b-run', power_state: 'Running', other_config: on() }, { name_label: 'b-halted', other_config: on() }], templates: 0, snapshot: false, hosts: [{ name_label: 'host-b', memory_mib: 262144 }] },
      });
      onCleanup(() => simB.stop());
      const hostOf = async (call: (m: string) => Promise<unknown>) => ((await call('sim.get_info')) as { host_uuid: string }).host_uuid;
      expect(await hostOf(simB.call)).not.toBe(await hostOf(s.sim.call));
      const sameState = await s.start({ xapi: simB.url });
      await s.ready(sameState);
      const own = sameState.daemon.logs.filter((l) => /ignored: it is about host/.test(String(l.msg)));
      expect(own.length).toBeGreaterThan(0);
      rec.held(`with A's state directory: ${own.length} record(s) ignored as "about host …, not this daemon's host …"`);
      sameState.daemon.signal('SIGKILL');
      await s.exited(sameState);

      const fresh = join(await makeTempDir('xg-other-state-'), 'state');
      await mkdir(fresh);
      onCleanup(() => rm(fresh, { recursive: true, force: true }));
      const other = await s.start({ xapi: simB.url, stateDir: fresh });
      await s.ready(other);
      expect(other.daemon.logs.some((l) => /ignored: it is about state directory/.test(String(l.msg)))).toBe(true);
      rec.held('with a fresh state directory: the runtime records are ignored as "about state directory …"');
      other.daemon.signal('SIGKILL');
      await s.exited(other);

      const tB = await timelines(simB);
      expect(count(tB.get('b-run'), 'clean_shutdown requested')).toBe(0);
      expect(count(tB.get('b-halted'), 'start requested')).toBe(1);
      expect(count(tB.get('b-halted'), 'running')).toBe(1);
      rec.held('on host B nothing was shut down and b-halted was started exactly once (simulator timeline)');
    },
  );

  row(
    {
      id: 'P4',
      title: 'two daemons on one state directory',
      injected: 'a second daemon started while the first runs',
      when: 'idle',
      must: 'the second refuses (exit 75) naming the first one\'s pid before it connects; the first goes on',
    },
    async (rec) => {
      const s = await scene([{ name_label: 'g1', order: 1, other_config: on() }]);
      const first = await s.start();
      await s.ready(first);
      const second = await s.start();
      expect(await s.exited(second)).toBe(EX_TEMPFAIL);
      const refusal = second.daemon.logs.find((l) => l.level === 60);
      expect(String(refusal?.msg)).toContain(`pid ${first.daemon.proc.pid}`);
      rec.held(`the second daemon exited ${EX_TEMPFAIL}: "${String(refusal!.msg).slice(0, 140)}"`);
      expect(second.daemon.logs.some((l) => l.msg === 'this host')).toBe(false);
      rec.held('the second daemon never reached the toolstack (no "this host" line)');
      first.daemon.signal('SIGTERM');
      expect(await s.exited(first)).toBe(0);
      expect(count((await s.timelines()).get('g1'), 'halted')).toBe(1);
      rec.held('the first daemon then ran its shutdown (g1 halted) and exited 0');
    },
  );

  row(
    {
      id: 'P5',
      title: 'stop-all racing the host shutdown; start-all during the boot plan',
      injected: 'SIGTERM (host going down) once stop-all has sent its first clean shutdown; start-all while the daemon\'s boot plan waits for an agent',
      when: 'shutdown plan',
      must: 'no guest asked to stop twice; the snapshot is the one taken before anything was stopped; start-all refuses with exit 75 naming the daemon',
    },
    async (rec) => {
      const s = await scene([
        { name_label: 'slow-1', order: 1, other_config: on({ 'xen-guests:ready': 'agent' }), behaviour: { agent_s: 200, shutdown_s: 60 } },
        { name_label: 'slow-2', order: 2, other_config: on(), behaviour: { shutdown_s: 60 } },
      ]);
      // slow-2's start is held by the simulator until start-all has been refused, so the daemon's
      // boot plan (and its lock) is still running then however slowly this machine starts start-all.
      await s.sim.call('sim.hold_starts', ['slow-2']);
      const d = await s.start();
      await timelineShows(s, 'slow-1', 'start requested');
      const refused = await cli(s, 'start-all');
      expect(refused.code, refused.stderr).toBe(EX_TEMPFAIL);
      expect(refused.stderr).toContain('the daemon (boot plan)');
      expect(refused.stderr).toContain(`pid ${d.daemon.proc.pid}`);
      rec.held(`start-all during the boot plan exited ${EX_TEMPFAIL}: ${refused.stderr.trim().slice(0, 140)}`);
      await s.sim.call('sim.release_starts');
      await s.ready(d, 90_000);

      const stopAll = cli(s, 'stop-all');
      await timelineShows(s, 'slow-2', 'clean_shutdown requested');
      d.daemon.signal('SIGTERM');
      const [stopped, daemonExit] = await Promise.all([stopAll, s.exited(d)]);
      expect(stopped.code, stopped.stderr).toBe(0);
      expect(daemonExit).toBe(0);
      const t = await s.timelines();
      for (const n of ['slow-1', 'slow-2']) {
        expect(count(t.get(n), 'clean_shutdown requested'), n).toBe(1);
        expect(count(t.get(n), 'hard_shutdown requested'), n).toBe(0);
      }
      rec.held('each guest asked to shut down exactly once (by stop-all), none hard-stopped; stop-all and the daemon both exited 0');
      expect(hasLine(s, 40, /is running; the host shutdown waits for it to end/)).toBe(true);
      const snapshot = JSON.parse(await readFile(join(s.stateDir, 'shutdown-snapshot.json'), 'utf8')) as ShutdownSnapshot;
      expect(snapshot.guests.map((g) => [g.name, g.powerState]).sort()).toEqual([['slow-1', 'Running'], ['slow-2', 'Running']]);
      rec.held('the daemon waited for stop-all; the snapshot on disk shows both guests Running (taken before anything was stopped)');
    },
    180_000,
  );

  row(
    {
      id: 'P6',
      title: 'an unhandled promise rejection during the host shutdown',
      injected: 'XEN_GUESTS_TEST_FAULT=unhandled-rejection-in-shutdown (test-only hook): a rejection nobody handles as the shutdown begins',
      when: 'shutdown plan',
      must: 'logged at fatal with its stack; the shutdown runs to its end (every guest stopped cleanly), exit 0',
    },
    async (rec) => {
      const s = await scene([
        { name_label: 'x1', order: 1, power_state: 'Running', other_config: on(), behaviour: { shutdown_s: 40 } },
        { name_label: 'x2', order: 2, power_state: 'Running', other_config: on() },
      ]);
      const d = await s.start({ env: { XEN_GUESTS_TEST_FAULT: 'unhandled-rejection-in-shutdown' } });
      await s.ready(d);
      d.daemon.signal('SIGTERM');
      expect(await s.exited(d)).toBe(0);
      const fatal = d.daemon.logs.find((l) => l.level === 60);
      expect(String(fatal?.msg)).toMatch(/^unhandled promise rejection: injected .*the host shutdown in progress carries on/);
      expect(String((fatal!.err as { stack?: string }).stack)).toMatch(/Error: injected[^\n]*\n\s+at /);
      rec.held('logged at fatal with its stack, saying the shutdown carries on');
      const t = await s.timelines();
      for (const n of ['x1', 'x2']) expect(count(t.get(n), 'halted'), n).toBe(1);
      rec.held('both guests halted after clean requests; the daemon exited 0');
      const report = await s.report('shutdown');
      expect(report!.guests.filter((g) => g.outcome !== 'skipped').map((g) => [g.guest.name, g.outcome]).sort()).toEqual([['x1', 'clean'], ['x2', 'clean']]);
      rec.held('the shutdown report (written after the rejection) shows both clean');
    },
  );

  row(
    {
      id: 'P7',
      title: 'boot journal: "journalled but never sent" told from "started, then shut down by an admin"',
      injected: 'daemon SIGKILLed in the boot plan; an admin hard-stops a guest it had started; the journal holds a start line for a guest whose start was never sent; a new daemon in the same boot',
      when: 'boot plan',
      must: 'the guest the admin stopped is not started again; the never-sent one is started, once',
    },
    async (rec) => {
      const s = await scene(journalResumeGuests());
      const first = await s.start();
      await timelineShows(s, 'g-wait', 'start requested');
      first.daemon.signal('SIGKILL');
      await s.exited(first);
      const call = await xapi(s);
      await call('VM.hard_shutdown', await vmRef(s, 'g-admin'));
      await timelineShows(s, 'g-admin', 'halted');
      // What a daemon killed between journalling a start and sending it leaves behind.
      const never = (await s.vms()).find((v) => v.name === 'g-never')!.uuid;
      const bootId = (await readFile(s.bootIdFile, 'utf8')).trim();
      await appendFile(join(s.stateDir, 'boot-progress.jsonl'), JSON.stringify({ bootId, uuid: never, at: new Date().toISOString() }) + '\n');

      const second = await s.start();
      await s.ready(second, 90_000);
      await judgeJournalResume(s, rec);
      expect(hasLine(s, 40, /g-never: its start was journalled at .* but never reached the toolstack/)).toBe(true);
      expect(hasLine(s, 30, /g-admin: started at .* in this boot and shut down since/)).toBe(true);
      rec.held('both decisions logged with the journal time and the guest\'s start time');
      second.daemon.signal('SIGTERM');
      await s.exited(second);
    },
    180_000,
  );
});
