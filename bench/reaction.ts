// The engine's reaction latency, read from the simulator's timeline alone (one clock, the host's):
// from the event that frees a slot or ends an order group to the engine's next request.
//
// * A slot is freed when a guest's start task succeeds (`start done`; boot: readiness is awaited
//   outside the slots) or when it halts (shutdown). Within a group whose slots are full, the i-th
//   slot freed is answered by the (parallelism + i)-th request of the group: requests and freed
//   slots pair up in order. A request that came before its paired slot was freed was not waiting
//   for it and is not a reaction.
// * A group ends when its last guest is done (boot: ready — started, and its agent live when that
//   is its readiness; shutdown: halted); the reaction is the next group's first request.
//
// The figures include the simulator's event batching window (xapi holds event.from answers to
// coalesce them; the benchmark scales that window with the time scale).

import type { VmTimeline } from './sim-process.js';
import type { Mode } from './strategies/types.js';
import type { Workload } from './workload.js';

export interface Reaction {
  /** Reactions measured: slot turnovers and group changes. */
  count: number;
  slotTurnovers: number;
  groupChanges: number;
  /** Real ms. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

interface Times {
  name: string;
  requestAt: number | null;
  freedAt: number | null;
  doneAt: number | null;
}

const REQUESTS: Record<Mode, ReadonlySet<string>> = {
  boot: new Set(['start requested', 'start_on requested']),
  shutdown: new Set(['clean_shutdown requested', 'hard_shutdown requested', 'shutdown requested']),
};
const START_ENDS = new Set(['start done', 'start_on done', 'error', 'cancelled']);

function timesOf(name: string, events: VmTimeline['events'], mode: Mode, waitsForAgent: boolean): Times {
  const first = (pred: (event: string) => boolean): number | null => events.find((e) => pred(e.event))?.t_ms ?? null;
  const requestAt = first((e) => REQUESTS[mode].has(e));
  if (mode === 'shutdown') {
    const halted = first((e) => e === 'halted');
    return { name, requestAt, freedAt: halted, doneAt: halted };
  }
  const startEnd = first((e) => START_ENDS.has(e));
  const agent = first((e) => e === 'agent live');
  const doneAt = startEnd === null ? null : waitsForAgent ? (agent === null ? null : Math.max(agent, startEnd)) : startEnd;
  return { name, requestAt, freedAt: startEnd, doneAt };
}

/** One reaction: the host's event (a slot freed, a group ended) and the request that answered it, host ms. */
export interface ReactionPair {
  eventAt: number;
  requestAt: number;
  kind: 'slot' | 'group';
  /** The guest whose event it was (its slot freed; the last of its group done), and the guest asked next. */
  eventGuest: string;
  requestGuest: string;
}

export function reactionLatency(w: Workload, mode: Mode, timeline: VmTimeline[]): Reaction {
  const pairs = reactionPairs(w, mode, timeline);
  const sorted = pairs.map((p) => p.requestAt - p.eventAt).sort((a, b) => a - b);
  return {
    count: sorted.length,
    slotTurnovers: pairs.filter((p) => p.kind === 'slot').length,
    groupChanges: pairs.filter((p) => p.kind === 'group').length,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    maxMs: sorted[sorted.length - 1] ?? 0,
  };
}

export function reactionPairs(w: Workload, mode: Mode, timeline: VmTimeline[]): ReactionPair[] {
  const byName = new Map(timeline.map((t) => [t.name_label, t.events]));
  const sequence = mode === 'boot' ? [...w.orders] : [...w.orders].reverse();
  const pairs: ReactionPair[] = [];
  let previousEnd: { t: number; name: string } | null = null;
  for (const order of sequence) {
    const group = w.guests.filter((g) => g.order === order).map((g) => timesOf(g.name, byName.get(g.name) ?? [], mode, g.ready === 'agent'));
    const requests = at(group, 'requestAt');
    const freed = at(group, 'freedAt');
    if (previousEnd !== null && requests.length > 0 && requests[0]!.t >= previousEnd.t) {
      pairs.push({ eventAt: previousEnd.t, requestAt: requests[0]!.t, kind: 'group', eventGuest: previousEnd.name, requestGuest: requests[0]!.name });
    }
    for (let i = 0; w.parallelism + i < requests.length && i < freed.length; i++) {
      const answer = requests[w.parallelism + i]!;
      if (answer.t < freed[i]!.t) continue;
      pairs.push({ eventAt: freed[i]!.t, requestAt: answer.t, kind: 'slot', eventGuest: freed[i]!.name, requestGuest: answer.name });
    }
    const ends = at(group, 'doneAt');
    previousEnd = ends.length < group.length ? null : ends[ends.length - 1]!;
  }
  return pairs;
}

/** The guests of a group that have the time `key`, earliest first. */
function at(group: Times[], key: 'requestAt' | 'freedAt' | 'doneAt'): { t: number; name: string }[] {
  return group.flatMap((x) => (x[key] === null ? [] : [{ t: x[key], name: x.name }])).sort((a, b) => a.t - b.t);
}

export interface Spread {
  count: number;
  p50Ms: number;
  p99Ms: number;
}

/**
 * Where a reaction's time goes, on the host's clock alone:
 * * eventToPoll — from the event to the engine's next event.from reaching the host: the host's
 *   batch window, its answer, the client reading and applying it (the loop polls again at once);
 * * pollToRequest — from that poll to the request: the engine's own scheduling of the next start
 *   or stop (negative when the request went out before the next poll);
 * * hostTimerLate — a yardstick that involves no engine at all: how late the simulator's own timers
 *   fire (a guest's shutdown or start_delay, request to end, against its nominal duration). It
 *   shows what the machine's load alone does to a process waiting on a timer or a socket.
 */
export interface ReactionBreakdown {
  eventToPoll: Spread;
  pollToRequest: Spread;
  hostTimerLate: Spread;
}

export function reactionBreakdown(w: Workload, mode: Mode, timeline: VmTimeline[], eventFromAt: number[], scale: number): ReactionBreakdown {
  const polls = [...eventFromAt].sort((a, b) => a - b);
  const toPoll: number[] = [];
  const toRequest: number[] = [];
  for (const pair of reactionPairs(w, mode, timeline)) {
    const poll = polls.find((t) => t >= pair.eventAt);
    if (poll === undefined) continue;
    toPoll.push(poll - pair.eventAt);
    toRequest.push(pair.requestAt - poll);
  }
  return { eventToPoll: spread(toPoll), pollToRequest: spread(toRequest), hostTimerLate: spread(timerLateness(w, mode, timeline, scale)) };
}

/** Per guest, a simulator timer's end against its nominal duration, real ms. */
function timerLateness(w: Workload, mode: Mode, timeline: VmTimeline[], scale: number): number[] {
  const byName = new Map(timeline.map((t) => [t.name_label, t.events]));
  const late: number[] = [];
  for (const g of w.guests) {
    const events = byName.get(g.name) ?? [];
    const at = (name: string): number | null => events.find((e) => e.event === name)?.t_ms ?? null;
    // Boot: the start task sleeps start_delay once the domain runs, then ends. Shutdown: a normal
    // guest halts shutdownS after it acknowledged the request.
    const [from, to, nominalS] = mode === 'boot' ? [at('start_delay'), at('start done'), g.startDelay] : [at('acknowledged'), at('halted'), g.kind === 'normal' ? g.shutdownS : 0];
    if (from === null || to === null || nominalS <= 0) continue;
    late.push(to - from - nominalS * scale * 1000);
  }
  return late;
}

function spread(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  return { count: sorted.length, p50Ms: Math.round(percentile(sorted, 0.5)), p99Ms: Math.round(percentile(sorted, 0.99)) };
}

/** Nearest-rank percentile of sorted values (0 for none). */
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
}
