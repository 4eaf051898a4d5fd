// bench/reaction-trace.ts's split of one reaction into hops, on hand-made traces of both processes
// (one clock): each hop is the difference of two stamps the test itself chose.
import { describe, expect, it } from 'vitest';
import { hopsOf } from '../../bench/reaction-hops.js';
import type { ReactionPair } from '../../bench/reaction.js';
import { methodOf, type ClientTrace, type RequestTrace } from '../../bench/trace-client.js';
import type { SimTrace } from '../../bench/traced-sim.js';

const ORIGIN = 1_000_000;

function simTrace(polls: SimTrace['polls'], gc: SimTrace['gc'] = []): SimTrace {
  return { clockStarted: ORIGIN, polls, changeScans: { calls: 0, totalMs: 0, maxMs: 0 }, gc, eventLoopDelay: { p50Ms: 0, p99Ms: 0, maxMs: 0 }, cpuMs: 0 };
}

function request(method: string, sentAt: number, readAt: number | null, chars = 0): RequestTrace {
  return { method, sentAt: ORIGIN + sentAt, flushedAt: ORIGIN + sentAt + 0.5, headersAt: null, readAt: readAt === null ? null : ORIGIN + readAt, chars, newSocket: false };
}

const slot: ReactionPair = { kind: 'slot', eventAt: 100, requestAt: 130, eventGuest: 'a', requestGuest: 'b' };
const uuids = new Map([['a', 'uuid-a'], ['b', 'uuid-b']]);

describe('reaction hops', () => {
  it('a poll waiting at the event: answer, wire and decode, engine, out and in add up to the reaction', () => {
    const sim = simTrace([
      { arrivedAt: ORIGIN + 50, answeredAt: ORIGIN + 60, events: 1 },
      { arrivedAt: ORIGIN + 70, answeredAt: ORIGIN + 102, events: 3 },
    ]);
    const client: ClientTrace = {
      requests: [request('event.from', 49, 62), request('event.from', 69, 106, 900), request('Async.VM.start', 121, 123)],
      actions: [{ uuid: 'uuid-b', action: 'start', calledAt: ORIGIN + 115, returnedAt: null }],
      gc: [{ at: ORIGIN + 104, ms: 4 }],
      eventLoopDelay: { p50Ms: 0, p99Ms: 0, maxMs: 0 },
    };
    const h = hopsOf(slot, 'boot', sim, client, uuids)!;
    expect(h).toMatchObject({ totalMs: 30, noPollMs: 0, answerMs: 2, wireDecodeMs: 4, engineMs: 9, outMs: 6, flushMs: 0.5, inMs: 9, viaSync: false, batchEvents: 3, batchChars: 900, clientGcMs: 4, hostGcMs: 0 });
    expect(h.answerMs + h.wireDecodeMs! + h.engineMs! + h.outMs! + h.inMs!).toBe(h.totalMs);
    // At the event the second poll was at the host and nothing else was in flight.
    expect(h.clientInFlight).toBe(1);
  });

  it('no poll waiting at the event: the time until the client asked again is its own hop', () => {
    const sim = simTrace([
      { arrivedAt: ORIGIN + 50, answeredAt: ORIGIN + 95, events: 1 },
      { arrivedAt: ORIGIN + 112, answeredAt: ORIGIN + 113, events: 2 },
    ]);
    const client: ClientTrace = {
      requests: [request('event.from', 49, 111), request('event.from', 111.5, 116), request('Async.VM.start', 118, null)],
      actions: [{ uuid: 'uuid-b', action: 'start', calledAt: ORIGIN + 117, returnedAt: null }],
      gc: [],
      eventLoopDelay: { p50Ms: 0, p99Ms: 0, maxMs: 0 },
    };
    expect(hopsOf(slot, 'boot', sim, client, uuids)).toMatchObject({ noPollMs: 12, answerMs: 1, wireDecodeMs: 3, engineMs: 1, outMs: 1, inMs: 12 });
  });

  it("heard of through the event cache's first full read: marked, not charged to a poll", () => {
    const sim = simTrace([{ arrivedAt: ORIGIN + 140, answeredAt: ORIGIN + 141, events: 5 }]);
    const client: ClientTrace = {
      requests: [request('task.get_all_records', 90, 110), request('Async.VM.start', 121, null), request('event.from', 139, 150)],
      actions: [{ uuid: 'uuid-b', action: 'start', calledAt: ORIGIN + 120, returnedAt: null }],
      gc: [],
      eventLoopDelay: { p50Ms: 0, p99Ms: 0, maxMs: 0 },
    };
    expect(hopsOf(slot, 'boot', sim, client, uuids)).toMatchObject({ viaSync: true, engineMs: -30 });
  });

  it('reads the method of a JSON-RPC or XML-RPC request body', () => {
    expect(methodOf(Buffer.from('{"jsonrpc":"2.0","method":"event.from","params":[]}'))).toBe('event.from');
    expect(methodOf('<?xml version="1.0"?><methodCall><methodName>Async.VM.start</methodName>')).toBe('Async.VM.start');
    expect(methodOf(undefined)).toBe('?');
  });
});
