// The hops of one reaction (bench/reaction-trace.ts), from the two traces of a run on one clock.
// Pure: no I/O.

import type { ReactionPair } from './reaction.js';
import type { Mode } from './strategies/types.js';
import type { ClientTrace, RequestTrace } from './trace-client.js';
import type { GcPause } from './trace-clock.js';
import type { SimPollTrace, SimTrace } from './traced-sim.js';

/** One reaction's hops, real ms. null where the trace has no such hop. */
export interface Hops {
  kind: ReactionPair['kind'];
  /** The host's timeline ms of the event, and the guests (bench/reaction.ts). */
  eventAt: number;
  eventGuest: string;
  requestGuest: string;
  totalMs: number;
  /** No event.from was waiting on the host when the event happened: until the client asked again. */
  noPollMs: number;
  /** The host's batch window and its answer (from the event, or from the poll's arrival if later). */
  answerMs: number;
  wireDecodeMs: number | null;
  engineMs: number | null;
  outMs: number | null;
  /** Of `in`: from end() to the request handed to the operating system (a socket from the agent, the write). */
  flushMs: number | null;
  inMs: number | null;
  /**
   * The engine heard of the event from the event cache's full read (its first sync, which the
   * engine's first start sets off), not from an event.from answer: noPoll/answer/wireDecode then
   * describe a poll that came after, and engineMs is negative.
   */
  viaSync: boolean;
  /** The client's requests in flight when the event happened (sent, answer not yet read). */
  clientInFlight: number;
  /** Events in the answer that carried the event, and its size in characters. */
  batchEvents: number;
  batchChars: number | null;
  /** GC pause time inside the reaction, client and host. */
  clientGcMs: number;
  hostGcMs: number;
}

const ACTION = { boot: new Set(['start']), shutdown: new Set(['clean', 'hard']) };
const REQUEST_METHOD = { boot: /^Async\.VM\.start(_on)?$/, shutdown: /^Async\.VM\.(clean|hard)_shutdown$/ };

export function hopsOf(pair: ReactionPair, mode: Mode, sim: SimTrace, client: ClientTrace, uuidOf: Map<string, string>): Hops | null {
  const e = sim.clockStarted + pair.eventAt;
  const q = sim.clockStarted + pair.requestAt;
  const polls = [...sim.polls].sort((a, b) => a.arrivedAt - b.arrivedAt);
  const sent = client.requests.filter((r) => r.method === 'event.from').sort((a, b) => a.sentAt - b.sentAt);
  // The answer that carries the event: the first one computed after it (the timeline's ms is truncated: ≥ e).
  const k = polls.findIndex((p) => p.answeredAt >= e);
  if (k < 0) return null;
  const poll: SimPollTrace = polls[k]!;
  // One event loop polls one call at a time: the k-th poll the host had is the k-th the client sent.
  const read: RequestTrace | undefined = sent[k];
  const uuid = uuidOf.get(pair.requestGuest);
  const action = client.actions.find((a) => a.uuid === uuid && ACTION[mode].has(a.action));
  // The engine's start or stop sends its request at once; the first such request after the call is taken as its own.
  const request = action ? client.requests.find((r) => REQUEST_METHOD[mode].test(r.method) && r.sentAt >= action.calledAt) : undefined;
  const between = (gc: GcPause[]): number => gc.filter((g) => g.at < q && g.at + g.ms > e).reduce((n, g) => n + Math.min(g.at + g.ms, q) - Math.max(g.at, e), 0);
  const readAt = read?.readAt ?? null;
  return {
    kind: pair.kind,
    eventAt: pair.eventAt,
    eventGuest: pair.eventGuest,
    requestGuest: pair.requestGuest,
    totalMs: q - e,
    noPollMs: Math.max(0, poll.arrivedAt - e),
    answerMs: poll.answeredAt - Math.max(poll.arrivedAt, e),
    wireDecodeMs: readAt === null ? null : readAt - poll.answeredAt,
    engineMs: readAt === null || !action ? null : action.calledAt - readAt,
    outMs: action && request ? request.sentAt - action.calledAt : null,
    flushMs: request?.flushedAt ? request.flushedAt - request.sentAt : null,
    inMs: request ? q - request.sentAt : null,
    viaSync: action !== undefined && readAt !== null && action.calledAt < readAt && client.requests.some((r) => r.method === 'task.get_all_records' && r.readAt !== null && r.readAt >= e && r.readAt <= action.calledAt),
    clientInFlight: client.requests.filter((r) => r.sentAt <= e && (r.readAt === null || r.readAt > e)).length,
    batchEvents: poll.events,
    batchChars: read?.chars ?? null,
    clientGcMs: between(client.gc),
    hostGcMs: between(sim.gc),
  };
}

export interface Summary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export function summary(values: (number | null)[]): Summary {
  const v = values.filter((x): x is number => x !== null).sort((a, b) => a - b);
  const pick = (p: number): number => (v.length ? Math.round(v[Math.min(v.length - 1, Math.ceil(p * v.length) - 1)]! * 10) / 10 : 0);
  return { count: v.length, p50: pick(0.5), p90: pick(0.9), p99: pick(0.99), max: pick(1) };
}

