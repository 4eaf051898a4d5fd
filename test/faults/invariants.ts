// The invariants of issue 6, written once and checked in every row where they apply, from what the
// row can see from outside: the simulator's per-guest timeline, call log and VM records, the files in
// the state directories, and the daemons' JSON logs, exit codes and the instants the row signalled
// them. What is *allowed* (clean phases, who may be hard-stopped at once, who is left alone, the
// deadline) is worked out from the scenario and the config the row gave — never from the daemon's
// report, whose labels and times are what is being checked. Each check asserts (so a row fails on a
// violation) and records what held, with the run's figures.

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { expect } from 'vitest';
import type { GuestReport, RunReport } from '../../src/core/types.js';
import type { DaemonRun, Scene, ScenarioGuest, VmState } from './harness.js';
import type { Recorder } from './matrix.js';

export interface InvariantOptions {
  /** The row ran a host shutdown: check "none left running", the deadline and the clean phases. */
  shutdown?: boolean;
  /**
   * Guests the row itself hard-stops or strips of their clean path while it runs (the scenario's own
   * — no PV drivers, Paused, on_stop = poweroff — are found from the scenario and the VM records).
   */
  hardAtOnce?: string[];
  /** Guests in maintenance beyond those the VM records mark: never started. */
  maintenance?: string[];
  /**
   * The row's budget is meant to cut clean phases: at least one hard stop must come before its
   * guest's clean timeout — and each such one no earlier than the budget's end (deadline − hard
   * reserve after the first SIGTERM). Without it the budget still allows cuts, but none is required.
   */
  cutByDeadline?: boolean;
}

/** A hard stop this much earlier than owed counts as early: the engine starts the clock at the guest's turn, a moment before xapi sees the request. */
const CLOCK_SLACK_MS = 300;
/** The daemon writes its report and exits after the deadline's work is done. */
const EXIT_MARGIN_MS = 5_000;
const FAILURES = new Set(['start-failed', 'failed', 'started-not-ready', 'hard-after-timeout', 'not-attempted']);

/** What the row's config and scenario allow, worked out by the test, never read from the daemon. */
interface Terms {
  /** Monotonic instant the shutdown began no earlier than: the first SIGTERM, else the start of the run that shut down. */
  origin: number;
  originWhat: string;
  deadlineS: number;
  hardReserveS: number;
  cleanS(name: string): number;
  hardAtOnce: Set<string>;
  leftAlone: Set<string>;
}

function configNumber(config: string, key: 'deadline' | 'hard_reserve' | 'guest_timeout'): number {
  const shutdown = (parseToml(config) as { shutdown?: Record<string, unknown> }).shutdown ?? {};
  const value = shutdown[key];
  if (typeof value !== 'number') throw new Error(`invariants: the row's config sets no [shutdown] ${key}; rows that shut down must set it (configToml does)`);
  return value;
}

/**
 * The daemons that took part in the last shutdown: the last one, and before it each one that was
 * killed (no exit code) — a killed daemon's successor resumes its shutdown and keeps its deadline.
 */
function lastShutdownChain(s: Scene): DaemonRun[] {
  const chain: DaemonRun[] = [];
  for (let i = s.runs.length - 1; i >= 0; i--) {
    const run = s.runs[i]!;
    if (chain.length > 0 && run.exit?.code !== null) break;
    chain.unshift(run);
  }
  return chain;
}

function termsOf(s: Scene, vms: VmState[], opts: InvariantOptions): Terms {
  const chain = lastShutdownChain(s);
  const sigterm = s.signals.find((x) => x.signal === 'SIGTERM' && chain.includes(x.run));
  const shutdownRun = sigterm?.run ?? chain.at(-1);
  if (!shutdownRun) throw new Error('invariants: the row ran a shutdown without starting a daemon');
  const config = shutdownRun.config;
  const guestTimeoutS = configNumber(config, 'guest_timeout');
  // The policy keys as the scenario set them, with what the row changed over the API since.
  const keys = new Map<string, Record<string, string>>(s.guests.map((g: ScenarioGuest) => [g.name_label, { ...(g.other_config ?? {}) }]));
  for (const vm of vms) keys.set(vm.name, { ...(keys.get(vm.name) ?? {}), ...vm.otherConfig });
  const byName = new Map(s.guests.map((g) => [g.name_label, g]));
  const noCleanPath = (name: string) => byName.get(name)?.behaviour?.pv === false || byName.get(name)?.power_state === 'Paused' || keys.get(name)?.['xen-guests:on_stop'] === 'poweroff';
  const names = [...keys.keys()];
  return {
    origin: sigterm?.at ?? shutdownRun.startedAt,
    originWhat: sigterm ? 'the shutdown\'s first SIGTERM' : 'the start of the daemon that ran the shutdown (no SIGTERM sent)',
    deadlineS: configNumber(config, 'deadline'),
    hardReserveS: configNumber(config, 'hard_reserve'),
    cleanS(name) {
      const own = Number(keys.get(name)?.['xen-guests:shutdown_timeout'] ?? NaN);
      return Number.isFinite(own) && own > 0 ? own : guestTimeoutS;
    },
    hardAtOnce: new Set([...names.filter(noCleanPath), ...(opts.hardAtOnce ?? [])]),
    leftAlone: new Set(names.filter((n) => keys.get(n)?.auto_poweroff !== undefined)),
  };
}

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

  let hardAfterClean: number | undefined;
  if (opts.shutdown) {
    const shutdownReport = await s.report('shutdown');
    expect(shutdownReport, 'shutdown report').not.toBeNull();
    const terms = termsOf(s, vms, opts);
    const firstAsked = await firstCleanRequests(s, vms, shutdownReport!);
    checkHardStops(s, rec, opts, terms, guests, events, firstAsked);
    checkLeftRunning(s, rec, terms, shutdownReport!, guests);
    checkDeadline(s, rec, terms, guests, events);
    hardAfterClean = checkHardStopsReported(terms, shutdownReport!, guests, events, s.simMs(terms.origin));
  }
  await checkFailuresReported(s, rec, hardAfterClean);
  await checkStateFiles(s, rec);
  const fatal = s.logs().filter((l) => l.level >= 60);
  expect(fatal.map((l) => l.msg), 'fatal log lines (daemon failed)').toEqual([]);
  const exits = s.runs.filter((r) => r.exit).map((r) => (r.exit!.code === null ? 'killed' : String(r.exit!.code)));
  rec.invariant('I8', `${s.runs.length} daemon run${s.runs.length === 1 ? '' : 's'}: ${exits.join(', ')}`);
}

/**
 * The first clean_shutdown request per guest in the simulator's call log, failed ones included (a
 * refused request begins the clean phase too; it is retried within it). The simulator names no VM on
 * a call it failed by injection: such a call is given to the one guest whose report carries that
 * error code, or to none when several do — this only moves a clean phase's start, never justifies a
 * hard stop.
 */
async function firstCleanRequests(s: Scene, vms: VmState[], report: RunReport): Promise<Map<string, number>> {
  const firstAsked = new Map<string, number>();
  const nameOf = new Map(vms.map((v) => [v.ref, v.name]));
  const carrying = (code: string) => report.guests.filter((g) => g.errors.some((e) => e[0] === code)).map((g) => g.guest.name);
  for (const c of await s.callLog()) {
    if (!/(^|\.)VM\.clean_shutdown$/.test(c.method)) continue;
    const owners = c.vm ? [nameOf.get(c.vm)] : c.outcome !== 'ok' ? carrying(c.outcome) : [];
    const name = owners.length === 1 ? owners[0] : undefined;
    if (name && !firstAsked.has(name)) firstAsked.set(name, c.t_ms);
  }
  return firstAsked;
}

function checkHardStops(
  s: Scene,
  rec: Recorder,
  opts: InvariantOptions,
  terms: Terms,
  guests: VmState[],
  events: (name: string) => { at: number; event: string }[],
  firstAsked: Map<string, number>,
): void {
  // The clean phases end at the latest when the budget does: deadline − hard reserve after the shutdown began.
  const budgetEnd = s.simMs(terms.origin) + (terms.deadlineS - terms.hardReserveS) * 1000;
  const owedS = fittedCleanPhases(s, terms, guests, events, s.simMs(terms.origin));
  const early: string[] = [];
  const notAllowed: string[] = [];
  const waits: number[] = [];
  let immediate = 0;
  let cut = 0;
  for (const { name } of guests) {
    for (const hard of events(name).filter((e) => e.event === 'hard_shutdown requested')) {
      const requested = events(name).find((e) => e.event === 'clean_shutdown requested' && e.at <= hard.at)?.at;
      const asked = firstAsked.get(name);
      const clean = asked !== undefined && asked <= hard.at ? Math.min(asked, requested ?? asked) : requested;
      if (clean !== undefined) {
        const waited = hard.at - clean;
        waits.push(waited);
        const full = owedS(name) * 1000;
        const owed = Math.min(full, budgetEnd - clean) - CLOCK_SLACK_MS;
        if (waited < owed) early.push(`${name} after ${waited} ms of its ${owedS(name)} s (budget ends ${Math.round(budgetEnd - clean)} ms after its clean request)`);
        if (waited < full - CLOCK_SLACK_MS) cut += 1;
      } else {
        immediate += 1;
        const byBudget = hard.at >= budgetEnd - CLOCK_SLACK_MS;
        if (!terms.hardAtOnce.has(name) && byBudget) cut += 1;
        if (!terms.hardAtOnce.has(name) && !byBudget) notAllowed.push(`${name} at ${Math.round(budgetEnd - hard.at)} ms before the budget's end`);
      }
    }
  }
  expect(early, 'hard stops before the clean phase ran out (its timeout, or the budget if sooner)').toEqual([]);
  expect(notAllowed, 'hard stops without a clean request, for a guest the scenario gives a clean path, before the budget ran out').toEqual([]);
  if (opts.cutByDeadline) expect(cut, 'clean phases cut by the budget (the row requires one)').toBeGreaterThan(0);
  const shortest = waits.length ? `, shortest clean phase before one ${(Math.min(...waits) / 1000).toFixed(1)} s` : '';
  const cutNote = cut ? `; ${cut} cut by the budget (${terms.deadlineS - terms.hardReserveS} s after ${terms.originWhat})` : '';
  rec.invariant('I3', `${waits.length} hard after a clean request${shortest}${cutNote}; ${immediate} at once (scenario: ${terms.hardAtOnce.size} without a clean path)`);
}

/** The smallest clean phase any guest keeps when the groups' timeouts are cut to fit (README, "What it does at shutdown"). */
const MIN_FITTED_S = 5;

/**
 * Each guest's clean phase as the documented budget rule gives it: the order groups of the guests
 * up when the shutdown began (the timeline) that get a clean request by the scenario run one after
 * another; when their longest timeouts add up to more than deadline − hard reserve, every timeout is
 * cut by the same factor, to whole seconds, never below 5 s (or its own, if smaller).
 */
function fittedCleanPhases(s: Scene, terms: Terms, guests: VmState[], events: (name: string) => { at: number; event: string }[], originSim: number): (name: string) => number {
  const POWER = /^(running|halted|suspended|paused)$/;
  const upAtOrigin = (name: string) => events(name).filter((e) => e.at <= originSim && POWER.test(e.event)).at(-1)?.event === 'running';
  const orderOf = new Map(s.guests.map((g) => [g.name_label, Number(g.order ?? 0)]));
  const longest = new Map<number, number>();
  for (const { name } of guests) {
    if (!upAtOrigin(name) || terms.hardAtOnce.has(name) || terms.leftAlone.has(name)) continue;
    const order = orderOf.get(name) ?? 0;
    longest.set(order, Math.max(longest.get(order) ?? 0, terms.cleanS(name)));
  }
  const requested = [...longest.values()].reduce((a, b) => a + b, 0);
  const budget = Math.max(0, terms.deadlineS - terms.hardReserveS);
  if (requested <= budget) return (name) => terms.cleanS(name);
  const factor = budget / requested;
  return (name) => Math.max(Math.min(MIN_FITTED_S, terms.cleanS(name)), Math.floor(terms.cleanS(name) * factor));
}

function checkLeftRunning(s: Scene, rec: Recorder, terms: Terms, report: RunReport, guests: VmState[]): void {
  // A guest running on another host of the pool (on_stop=migrate moved it there) is not this host's.
  const up = guests.filter((g) => (g.powerState === 'Running' || g.powerState === 'Paused') && !g.elsewhere);
  const alone = up.filter((g) => terms.leftAlone.has(g.name)).map((g) => g.name);
  const stillUp = up.filter((g) => !terms.leftAlone.has(g.name)).map((g) => g.name);
  const last = s.runs.at(-1)?.exit?.code;
  const aloneNote = terms.leftAlone.size ? `; ${alone.length} of ${terms.leftAlone.size} auto_poweroff guests left running as the scenario asks` : '';
  if (last === 0) {
    expect(stillUp, 'guests of this host still running when the daemon said done (exit 0)').toEqual([]);
    rec.invariant('I4', `exit 0, 0 of ${guests.length - alone.length} running${aloneNote}`);
  } else {
    // Not done: then every guest still up must be named in the report, and the exit code says so.
    expect(last, 'exit code when guests are left running').toBe(1);
    expect(report.leftRunning.map((g) => g.name).sort()).toEqual(stillUp.sort());
    rec.invariant('I4', `exit ${last}, report names the ${stillUp.length} still running (${stillUp.join(', ')})${aloneNote}`);
  }
}

/** The configured deadline from the first SIGTERM: the process exit and every request the simulator saw after it fall within it. */
function checkDeadline(s: Scene, rec: Recorder, terms: Terms, guests: VmState[], events: (name: string) => { at: number; event: string }[]): void {
  const deadline = terms.origin + terms.deadlineS * 1000;
  const exit = s.runs.at(-1)?.exit?.at;
  expect(exit, 'daemon exited').toBeDefined();
  expect(exit!, `daemon exited more than ${EXIT_MARGIN_MS} ms after the configured deadline (${terms.deadlineS} s from ${terms.originWhat})`).toBeLessThanOrEqual(deadline + EXIT_MARGIN_MS);
  const lateRequests = guests.flatMap((g) => events(g.name).filter((e) => /requested$/.test(e.event) && e.at > s.simMs(deadline) + CLOCK_SLACK_MS).map((e) => `${g.name}: ${e.event}`));
  expect(lateRequests, 'guest operations requested after the deadline').toEqual([]);
  rec.invariant('I5', `exit ${((deadline - exit!) / 1000).toFixed(1)} s before the ${terms.deadlineS} s deadline from ${terms.originWhat}; no request after it`);
}

/**
 * Every guest the simulator saw hard-stopped in this shutdown after a clean request (its clean phase
 * ran out or was cut) is a failure the shutdown report must name, whatever the daemon thought.
 */
function checkHardStopsReported(terms: Terms, report: RunReport, guests: VmState[], events: (name: string) => { at: number; event: string }[], originSim: number): number {
  const afterClean = guests
    .map((g) => g.name)
    .filter((name) => !terms.hardAtOnce.has(name))
    .filter((name) => {
      const clean = events(name).find((e) => e.event === 'clean_shutdown requested' && e.at >= originSim)?.at;
      return clean !== undefined && events(name).some((e) => e.event === 'hard_shutdown requested' && e.at >= clean);
    });
  const reported = new Map(report.guests.map((g) => [g.guest.name, g]));
  const missing = afterClean.filter((name) => !FAILURES.has(reported.get(name)?.outcome ?? '') || !reported.get(name)?.reason).map((name) => `${name} (${reported.get(name)?.outcome ?? 'absent'})`);
  expect(missing, 'guests hard-stopped after a clean request (the simulator) that the shutdown report does not name as failures with a reason').toEqual([]);
  return afterClean.length;
}

async function checkFailuresReported(s: Scene, rec: Recorder, hardAfterClean?: number): Promise<void> {
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
  const seen = hardAfterClean === undefined ? '' : `, among them the ${hardAfterClean} hard stop${hardAfterClean === 1 ? '' : 's'} after a clean request the simulator saw`;
  rec.invariant('I6', `${n} failure${n === 1 ? '' : 's'} reported${seen}`);
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
