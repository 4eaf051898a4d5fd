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
  requestAt: number | null;
  freedAt: number | null;
  doneAt: number | null;
}

const REQUESTS: Record<Mode, ReadonlySet<string>> = {
  boot: new Set(['start requested', 'start_on requested']),
  shutdown: new Set(['clean_shutdown requested', 'hard_shutdown requested', 'shutdown requested']),
};
const START_ENDS = new Set(['start done', 'start_on done', 'error', 'cancelled']);

function timesOf(events: VmTimeline['events'], mode: Mode, waitsForAgent: boolean): Times {
  const first = (pred: (event: string) => boolean): number | null => events.find((e) => pred(e.event))?.t_ms ?? null;
  const requestAt = first((e) => REQUESTS[mode].has(e));
  if (mode === 'shutdown') {
    const halted = first((e) => e === 'halted');
    return { requestAt, freedAt: halted, doneAt: halted };
  }
  const startEnd = first((e) => START_ENDS.has(e));
  const agent = first((e) => e === 'agent live');
  const doneAt = startEnd === null ? null : waitsForAgent ? (agent === null ? null : Math.max(agent, startEnd)) : startEnd;
  return { requestAt, freedAt: startEnd, doneAt };
}

export function reactionLatency(w: Workload, mode: Mode, timeline: VmTimeline[]): Reaction {
  const byName = new Map(timeline.map((t) => [t.name_label, t.events]));
  const sequence = mode === 'boot' ? [...w.orders] : [...w.orders].reverse();
  const latencies: number[] = [];
  let slotTurnovers = 0;
  let groupChanges = 0;
  let previousEnd: number | null = null;
  for (const order of sequence) {
    const group = w.guests.filter((g) => g.order === order).map((g) => timesOf(byName.get(g.name) ?? [], mode, g.ready === 'agent'));
    const requests = group.map((t) => t.requestAt).filter((x): x is number => x !== null).sort((a, b) => a - b);
    const freed = group.map((t) => t.freedAt).filter((x): x is number => x !== null).sort((a, b) => a - b);
    if (previousEnd !== null && requests.length > 0 && requests[0]! >= previousEnd) {
      latencies.push(requests[0]! - previousEnd);
      groupChanges += 1;
    }
    for (let i = 0; w.parallelism + i < requests.length && i < freed.length; i++) {
      const answer = requests[w.parallelism + i]!;
      if (answer < freed[i]!) continue;
      latencies.push(answer - freed[i]!);
      slotTurnovers += 1;
    }
    const ends = group.map((t) => t.doneAt);
    previousEnd = ends.some((x) => x === null) ? null : Math.max(...(ends as number[]));
  }
  const sorted = latencies.sort((a, b) => a - b);
  return { count: sorted.length, slotTurnovers, groupChanges, p50Ms: percentile(sorted, 0.5), p99Ms: percentile(sorted, 0.99), maxMs: sorted[sorted.length - 1] ?? 0 };
}

/** Nearest-rank percentile of sorted values (0 for none). */
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
}
