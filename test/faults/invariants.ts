// The invariants of issue 6, written once and checked in every row where they apply, from what the
// row can see from outside: the simulator's per-guest timeline and VM records, the reports and other
// files in the state directories, and the daemons' JSON logs and exit codes. Each check asserts (so a
// row fails on a violation) and records what held, with the run's figures.

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { GuestReport, RunReport } from '../../src/core/types.js';
import type { Scene } from './harness.js';
import type { Recorder } from './matrix.js';

export interface InvariantOptions {
  /** The row ran a host shutdown: check "none left running", the deadline and the clean phases. */
  shutdown?: boolean;
  /** Clean-phase seconds of a guest (its xen-guests:shutdown_timeout, else the config's guest_timeout). */
  cleanTimeout: (name: string) => number;
  /** Guests that may go to a hard stop without a clean request: no PV drivers, Paused, policy poweroff. */
  hardAtOnce?: string[];
  /** Guests the daemon must leave running (auto_poweroff). */
  leftAlone?: string[];
  /** Guests in maintenance: never started. */
  maintenance?: string[];
  /** The shutdown's deadline may legitimately have cut clean phases (the row says so). */
  cutByDeadline?: boolean;
}

/** A hard stop this much earlier than the clean timeout counts as early: the engine starts the clock at the guest's turn, a moment before xapi sees the request. */
const CLOCK_SLACK_MS = 300;
/** The daemon writes its report and exits after the deadline's work is done. */
const EXIT_MARGIN_MS = 5_000;
const FAILURES = new Set(['start-failed', 'failed', 'started-not-ready', 'hard-after-timeout', 'not-attempted']);

export async function checkInvariants(s: Scene, rec: Recorder, opts: InvariantOptions): Promise<void> {
  const t = await s.timelines();
  const vms = await s.vms();
  const events = (name: string) => t.get(name)?.events ?? [];
  const guests = vms.filter((v) => !v.system);

  // No guest started twice, none started in maintenance.
  const twice = guests.filter((g) => events(g.name).filter((e) => e.event === 'running').length > 1).map((g) => g.name);
  expect(twice, 'guests started twice').toEqual([]);
  const starts = guests.reduce((n, g) => n + events(g.name).filter((e) => e.event === 'running').length, 0);
  const inMaintenance = new Set([...(opts.maintenance ?? []), ...guests.filter((g) => g.otherConfig['xen-guests:maintenance']).map((g) => g.name)]);
  const maintStarted = [...inMaintenance].filter((n) => events(n).some((e) => e.event === 'start requested'));
  expect(maintStarted, 'guests started while in maintenance').toEqual([]);
  rec.invariant('I1', `${starts} start${starts === 1 ? '' : 's'} of ${guests.length} guests, ${inMaintenance.size} in maintenance`);

  // Nothing suspended, no suspend image discarded.
  const suspends = guests.filter((g) => events(g.name).some((e) => e.event === 'suspend requested' || e.event === 'suspended')).map((g) => g.name);
  expect(suspends, 'guests suspended').toEqual([]);
  const suspendedNow = guests.filter((g) => g.powerState === 'Suspended');
  const touched = suspendedNow.filter((g) => events(g.name).some((e) => /requested$/.test(e.event))).map((g) => g.name);
  expect(touched, 'suspended guests acted on').toEqual([]);
  rec.invariant('I2', `0 suspends, ${suspendedNow.length} suspend image${suspendedNow.length === 1 ? '' : 's'} untouched`);

  const shutdownReport = await s.report('shutdown');
  if (opts.shutdown) {
    expect(shutdownReport, 'shutdown report').not.toBeNull();
    // A clean request xapi refused (an injected error) is in the call log, not in the timeline.
    // The simulator names no VM on a call it failed by injection: such a failure is given to the one
    // guest whose report carries that code (when several do, it is left out, which only shortens).
    const log = (await s.sim.call('sim.get_call_log', 0)) as { t_ms: string | number; method: string; vm?: string; outcome: string }[];
    const firstAsked = new Map<string, number>();
    const nameOf = new Map(vms.map((v) => [v.ref, v.name]));
    const carrying = (code: string) => shutdownReport!.guests.filter((g) => g.errors.some((e) => e[0] === code)).map((g) => g.guest.name);
    for (const c of log) {
      if (!/(^|\.)VM\.clean_shutdown$/.test(c.method)) continue;
      const owners = c.vm ? [nameOf.get(c.vm)] : c.outcome !== 'ok' ? carrying(c.outcome) : [];
      const name = owners.length === 1 ? owners[0] : undefined;
      if (name && !firstAsked.has(name)) firstAsked.set(name, Number(c.t_ms));
    }
    await checkHardStops(s, rec, opts, shutdownReport!, events, firstAsked);
    await checkLeftRunning(s, rec, opts, shutdownReport!, guests);
    checkDeadline(s, rec, shutdownReport!);
  }
  await checkFailuresReported(s, rec);
  await checkStateFiles(s, rec);
  const fatal = s.logs().filter((l) => l.level >= 60);
  expect(fatal.map((l) => l.msg), 'fatal log lines (daemon failed)').toEqual([]);
  const exits = s.runs.filter((r) => r.exit).map((r) => (r.exit!.code === null ? 'killed' : String(r.exit!.code)));
  rec.invariant('I8', `${s.runs.length} daemon run${s.runs.length === 1 ? '' : 's'}: ${exits.join(', ')}`);
}

async function checkHardStops(
  s: Scene,
  rec: Recorder,
  opts: InvariantOptions,
  report: RunReport,
  events: (name: string) => { at: number; event: string }[],
  firstAsked: Map<string, number>,
): Promise<void> {
  const outcomes = new Map(report.guests.map((g) => [g.guest.name, g]));
  const atOnce = new Set(opts.hardAtOnce ?? []);
  const early: string[] = [];
  const notAllowed: string[] = [];
  const waits: number[] = [];
  let immediate = 0;
  for (const [name] of outcomes) {
    for (const hard of events(name).filter((e) => e.event === 'hard_shutdown requested')) {
      // The clean phase begins with the first clean request (a failed one is retried within it).
      const requested = events(name).find((e) => e.event === 'clean_shutdown requested' && e.at <= hard.at)?.at;
      const asked = firstAsked.get(name);
      const clean = asked !== undefined && asked <= hard.at ? Math.min(asked, requested ?? asked) : requested;
      if (clean !== undefined) {
        const waited = hard.at - clean;
        waits.push(waited);
        const owed = opts.cutByDeadline ? 0 : opts.cleanTimeout(name) * 1000 - CLOCK_SLACK_MS;
        if (waited < owed) early.push(`${name} after ${waited} ms of ${opts.cleanTimeout(name)} s`);
      } else {
        immediate += 1;
        const outcome = outcomes.get(name)?.outcome;
        const allowed = atOnce.has(name) || outcome === 'hard-by-policy' || outcome === 'hard-no-clean-path' || opts.cutByDeadline;
        if (!allowed) notAllowed.push(`${name} (${outcome})`);
      }
    }
  }
  expect(early, 'hard stops before the clean phase ran out').toEqual([]);
  expect(notAllowed, 'hard stops without a clean request and without a policy or no-clean-path reason').toEqual([]);
  const shortest = waits.length ? `, shortest clean phase before one ${(Math.min(...waits) / 1000).toFixed(1)} s` : '';
  rec.invariant('I3', `${waits.length} hard after a clean request${shortest}; ${immediate} at once by policy/no clean path`);
}

async function checkLeftRunning(s: Scene, rec: Recorder, opts: InvariantOptions, report: RunReport, guests: { name: string; powerState: string }[]): Promise<void> {
  const alone = new Set(opts.leftAlone ?? []);
  const up = guests.filter((g) => (g.powerState === 'Running' || g.powerState === 'Paused') && !alone.has(g.name)).map((g) => g.name);
  const last = s.runs.at(-1)?.exit?.code;
  if (last === 0) {
    expect(up, 'guests of this host still running when the daemon said done (exit 0)').toEqual([]);
    expect(report.leftRunning).toEqual([]);
    rec.invariant('I4', `exit 0, 0 of ${guests.length} running${alone.size ? ` (${alone.size} auto_poweroff left alone)` : ''}`);
  } else {
    // Not done: then every guest still up must be named in the report, and the exit code says so.
    expect(last, 'exit code when guests are left running').toBe(1);
    expect(report.leftRunning.map((g) => g.name).sort()).toEqual(up.sort());
    rec.invariant('I4', `exit ${last}, report names the ${up.length} still running (${up.join(', ')})`);
  }
}

function checkDeadline(s: Scene, rec: Recorder, report: RunReport): void {
  const deadline = Date.parse(report.deadlineAt!);
  const ended = Date.parse(report.endedAt);
  expect(ended, 'shutdown report ended after the deadline').toBeLessThanOrEqual(deadline);
  const exit = s.runs.at(-1)?.exit?.at;
  expect(exit, 'daemon exited').toBeDefined();
  expect(exit!, 'daemon exited long after the deadline').toBeLessThanOrEqual(deadline + EXIT_MARGIN_MS);
  rec.invariant('I5', `ended ${((deadline - ended) / 1000).toFixed(1)} s before the deadline`);
}

async function checkFailuresReported(s: Scene, rec: Recorder): Promise<void> {
  let n = 0;
  for (const mode of ['boot', 'shutdown'] as const) {
    const report = await s.report(mode);
    for (const g of report?.guests ?? []) {
      if (!FAILURES.has(g.outcome)) continue;
      n += 1;
      expect(g.reason, `${mode} report: ${g.guest.name} ${g.outcome} without a reason`).toBeTruthy();
      expect(g.guest.uuid && g.guest.name, `${mode} report: failure without a guest`).toBeTruthy();
      const logged = s.logs().some((l) => l.guest === g.guest.uuid && l.outcome === g.outcome && typeof l.reason === 'string');
      expect(logged, `${mode}: no log line names ${g.guest.name} with its outcome ${g.outcome} and reason`).toBe(true);
    }
  }
  rec.invariant('I6', `${n} failure${n === 1 ? '' : 's'} reported`);
}

/** Every state file parses (old or new, never torn); the journal's lines are whole except maybe the last. */
async function checkStateFiles(s: Scene, rec: Recorder): Promise<void> {
  let files = 0;
  for (const dir of [s.stateDir, s.runtimeDir]) {
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names) {
      if (name.startsWith('.') || name.includes('.corrupt-')) continue;
      const text = await readFile(join(dir, name), 'utf8').catch(() => null);
      if (text === null) continue;
      files += 1;
      if (name.endsWith('.json')) {
        expect(() => JSON.parse(text), `${dir}/${name} is torn`).not.toThrow();
      } else if (name.endsWith('.jsonl')) {
        const lines = text.split('\n').filter((l) => l !== '');
        const whole = text.endsWith('\n') ? lines : lines.slice(0, -1);
        for (const line of whole) expect(() => JSON.parse(line), `${dir}/${name}: torn line ${line}`).not.toThrow();
      }
    }
  }
  rec.invariant('I7', `${files} files parse`);
}

export function reportOf(report: RunReport | null, name: string): GuestReport | undefined {
  return report?.guests.find((g) => g.guest.name === name);
}
