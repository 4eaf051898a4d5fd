// Judges one run from what the simulator saw (its timeline and final power states), against the
// workload's facts: makespan as the guests lived it, hard stops that were not needed, guests left
// running, and guests handled out of their order group.

import type { VmTimeline } from './sim-process.js';
import type { Mode } from './strategies/types.js';
import type { GuestFacts, Workload } from './workload.js';
import type { GuestWork } from './bound.js';

export interface Outcome {
  /** First request → last guest done, real ms, from the simulator's clock. */
  spanMs: number;
  /** Guests that ended where the mode wants them: ready (boot) or Halted (shutdown). */
  done: number;
  /** Shutdown: guests hard-stopped though they would have halted cleanly within their time. */
  needlessHard: number;
  /** Shutdown: every hard stop (hung and no-PV guests need one). */
  hard: number;
  leftRunning: number;
  /** Boot: started before every guest of the earlier groups was ready. Shutdown: asked to stop before every guest of the later groups had halted. */
  outOfOrder: number;
  /** Boot: started but never ready in the run (never started counts in `done`'s complement). */
  notReady: number;
  /** Shutdown, normal guests: request → Halted as measured / as the facts say (simulator fidelity under load). */
  simTimeRatio: number | null;
}

interface GuestTimes {
  requestAt: number | null;
  runningAt: number | null;
  doneAt: number | null;
  hardAt: number | null;
  cleanAt: number | null;
}

const STOP_REQUESTS = new Set(['clean_shutdown requested', 'hard_shutdown requested', 'shutdown requested']);

function timesOf(facts: GuestFacts, events: VmTimeline['events'], mode: Mode, scale: number): GuestTimes {
  const first = (pred: (e: VmTimeline['events'][number]) => boolean): number | null => events.find(pred)?.t_ms ?? null;
  if (mode === 'boot') {
    const requestAt = first((e) => e.event === 'start requested' || e.event === 'start_on requested');
    const runningAt = first((e) => e.event === 'running');
    // VM.start returns after start_delay, slept inside the task once the domain runs.
    const startedAt = runningAt === null ? null : runningAt + facts.startDelay * scale * 1000;
    const agentAt = first((e) => e.event === 'agent live');
    const doneAt = facts.ready === 'agent' ? (agentAt === null || startedAt === null ? null : Math.max(agentAt, startedAt)) : startedAt;
    return { requestAt, runningAt, doneAt, hardAt: null, cleanAt: null };
  }
  const requestAt = first((e) => STOP_REQUESTS.has(e.event));
  const halted = events.find((e) => e.event === 'halted');
  return {
    requestAt,
    runningAt: null,
    doneAt: halted?.t_ms ?? null,
    hardAt: halted && (halted.detail ?? '').startsWith('hard shutdown') ? halted.t_ms : null,
    cleanAt: first((e) => e.event === 'clean_shutdown requested'),
  };
}

export interface Analysis {
  outcome: Outcome;
  /** Per guest, the slot time and tail it took in this run, where the timeline shows its natural course. */
  observed: Map<string, GuestWork>;
}

export function analyze(w: Workload, mode: Mode, timeline: VmTimeline[], powerStates: Map<string, string>, scale: number): Analysis {
  const byName = new Map(timeline.map((t) => [t.name_label, t.events]));
  const times = new Map<string, GuestTimes>();
  for (const g of w.guests) times.set(g.name, timesOf(g, byName.get(g.name) ?? [], mode, scale));

  const requests = [...times.values()].map((t) => t.requestAt).filter((x): x is number => x !== null);
  const dones = [...times.values()].map((t) => t.doneAt).filter((x): x is number => x !== null);
  const spanMs = requests.length && dones.length ? Math.max(...dones) - Math.min(...requests) : 0;

  let needlessHard = 0;
  let hard = 0;
  let leftRunning = 0;
  let notReady = 0;
  const ratios: number[] = [];
  for (const g of w.guests) {
    const t = times.get(g.name)!;
    if (mode === 'shutdown') {
      if (t.hardAt !== null) {
        hard += 1;
        if (g.kind === 'normal') needlessHard += 1;
      }
      if (powerStates.get(g.name) === 'Running' || powerStates.get(g.name) === 'Paused') leftRunning += 1;
      if (g.kind === 'normal' && t.hardAt === null && t.cleanAt !== null && t.doneAt !== null) {
        ratios.push((t.doneAt - t.cleanAt) / 1000 / scale / (0.5 + g.shutdownS));
      }
    } else if (t.requestAt !== null && t.doneAt === null) {
      notReady += 1;
    }
  }
  const outcome: Outcome = {
    spanMs,
    done: dones.length,
    needlessHard,
    hard,
    leftRunning,
    outOfOrder: outOfOrder(w, mode, times),
    notReady,
    simTimeRatio: ratios.length ? median(ratios) : null,
  };
  return { outcome, observed: observedWork(w, mode, times, scale) };
}

/** Seconds as the simulated guests lived them; guests cut short by the strategy keep their facts. */
function observedWork(w: Workload, mode: Mode, times: Map<string, GuestTimes>, scale: number): Map<string, GuestWork> {
  const out = new Map<string, GuestWork>();
  const s = (ms: number): number => ms / 1000 / scale;
  for (const g of w.guests) {
    const t = times.get(g.name)!;
    if (mode === 'boot') {
      if (t.requestAt === null || t.runningAt === null) continue;
      const slot = s(t.runningAt - t.requestAt) + g.startDelay;
      const tail = g.ready === 'agent' && t.doneAt !== null ? Math.max(0, s(t.doneAt - t.runningAt) - g.startDelay) : 0;
      out.set(g.name, { slot, tail });
    } else if (g.kind === 'normal' && t.hardAt === null && t.cleanAt !== null && t.doneAt !== null) {
      out.set(g.name, { slot: s(t.doneAt - t.cleanAt), tail: 0 });
    }
  }
  return out;
}

/** Guests acted on before the groups that should precede them were finished (never finished = +∞). */
function outOfOrder(w: Workload, mode: Mode, times: Map<string, GuestTimes>): number {
  const sequence = mode === 'boot' ? [...w.orders] : [...w.orders].reverse();
  let finishedBefore = -Infinity;
  let count = 0;
  for (const order of sequence) {
    const group = w.guests.filter((g) => g.order === order);
    for (const g of group) {
      const at = times.get(g.name)!.requestAt;
      if (at !== null && at < finishedBefore) count += 1;
    }
    const ends = group.map((g) => times.get(g.name)!.doneAt ?? Infinity);
    finishedBefore = Math.max(finishedBefore, ...ends);
  }
  return count;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
