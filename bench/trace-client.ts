// The client's side of bench/reaction-trace.ts, installed in the benchmark child when
// XG_BENCH_TRACE=FILE is set: when each XenAPI request went out and when its answer was in and
// read (node:http, observed from outside the product: the request's end() and the response's
// 'end', which fires after the product's own 'end' handler has decoded the answer), when the
// engine asked for each start or stop and when that call returned, GC pauses and event-loop delay.
// Epoch ms (trace-clock.ts). Nothing of the product is changed; the child writes FILE at its end.

import http from 'node:http';
import { writeFileSync } from 'node:fs';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { Toolstack } from '../src/toolstack/types.js';
import { epochNow, watchGc, type GcPause } from './trace-clock.js';

export interface RequestTrace {
  method: string;
  sentAt: number;
  /** The request was handed to the operating system whole (its 'finish'). */
  flushedAt: number | null;
  /** The answer's headers arrived. */
  headersAt: number | null;
  /** The whole answer was read and decoded. */
  readAt: number | null;
  /** Characters of the answer (decoded text). */
  chars: number;
  /** Sent on a socket no earlier request used (the agent opened a connection for it). */
  newSocket: boolean;
}

export interface ActionTrace {
  uuid: string;
  action: 'start' | 'clean' | 'hard';
  calledAt: number;
  returnedAt: number | null;
}

export interface ClientTrace {
  requests: RequestTrace[];
  actions: ActionTrace[];
  gc: GcPause[];
  eventLoopDelay: { p50Ms: number; p99Ms: number; maxMs: number };
}

/** The XenAPI method a request body names (JSON-RPC or XML-RPC), read from its first bytes. */
export function methodOf(body: unknown): string {
  const head = Buffer.isBuffer(body) ? body.subarray(0, 300).toString('utf8') : typeof body === 'string' ? body.slice(0, 300) : '';
  return /"method"\s*:\s*"([^"]+)"/.exec(head)?.[1] ?? /<methodName>([^<]+)<\/methodName>/.exec(head)?.[1] ?? '?';
}

export interface ClientTracer {
  /** The toolstack, with every start and stop the engine asks for stamped. */
  wrap(ts: Toolstack): Toolstack;
  write(file: string): void;
}

export function startClientTrace(): ClientTracer {
  const requests: RequestTrace[] = [];
  const actions: ActionTrace[] = [];
  const gc: GcPause[] = [];
  watchGc(gc);
  const delay: IntervalHistogram = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const sockets = new WeakSet<object>();
  const end = http.ClientRequest.prototype.end;
  http.ClientRequest.prototype.end = function (this: http.ClientRequest, ...args: unknown[]) {
    const r: RequestTrace = { method: methodOf(args[0]), sentAt: epochNow(), flushedAt: null, headersAt: null, readAt: null, chars: 0, newSocket: false };
    requests.push(r);
    this.once('finish', () => (r.flushedAt = epochNow()));
    this.once('socket', (socket: object) => {
      r.newSocket = !sockets.has(socket);
      sockets.add(socket);
    });
    this.once('response', (res: http.IncomingMessage) => {
      r.headersAt = epochNow();
      // Listeners added after the product's: 'data' only counts, 'end' runs after its decode.
      res.on('data', (chunk: string | Buffer) => (r.chars += chunk.length));
      res.once('end', () => (r.readAt = epochNow()));
    });
    return (end as (...a: unknown[]) => http.ClientRequest).apply(this, args);
  } as typeof end;

  const stamp = <T>(uuid: string, action: ActionTrace['action'], run: () => Promise<T>): Promise<T> => {
    const a: ActionTrace = { uuid, action, calledAt: epochNow(), returnedAt: null };
    actions.push(a);
    const p = run();
    p.then(
      () => (a.returnedAt = epochNow()),
      () => (a.returnedAt = epochNow()),
    );
    return p;
  };
  return {
    wrap: (ts) => ({
      ...ts,
      kind: ts.kind,
      start: (g, o) => stamp(g.uuid, 'start', () => ts.start(g, o)),
      requestCleanShutdown: (g) => stamp(g.uuid, 'clean', () => ts.requestCleanShutdown(g)),
      hardShutdown: (g, o) => stamp(g.uuid, 'hard', () => ts.hardShutdown(g, o)),
    }),
    write(file) {
      delay.disable();
      const trace: ClientTrace = { requests, actions, gc, eventLoopDelay: { p50Ms: delay.percentile(50) / 1e6, p99Ms: delay.percentile(99) / 1e6, maxMs: delay.max / 1e6 } };
      writeFileSync(file, JSON.stringify(trace));
    },
  };
}
