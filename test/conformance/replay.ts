// Replays recorded calls against the simulator as a real process (`node dist/src/cli/bin.js sim`,
// XML-RPC on `/` and JSON-RPC on `/jsonrpc`, over its Unix socket — pre-authenticated like xapi's —
// or over TCP where the recording used TCP) and compares each answer with the recording.

import http from 'node:http';
import { spawnSim } from '../helpers/sim.js';
import { Comparer, IdMap, type Diff } from './compare.js';
import { HTML_ERROR_RULE, TASK_RAN_AHEAD_RULE } from './normalise.js';
import { plain, typedFromJson, typedFromJsonBody, typedFromXmlResponse, xmlRequest, type RecordedCall, type Scenario, type Typed } from './traces.js';

/**
 * The recorded host: a fresh xapi (one host, its control domain, no templates) on the xenopsd
 * simulator with 8 pCPUs and 1 TiB, dom0 4 GiB; guests made by VM.create have no agent and no
 * PV drivers and answer a shutdown request at once (the xenopsd simulator's wait_shutdown).
 * Durations are not compared, so the host runs 10× faster.
 */
export const RECORDED_HOST = {
  time_scale: 0.1,
  pool: { name_label: '' },
  hosts: [{ name_label: 'vm', address: '', memory_mib: 1024 * 1024 }],
  templates: 0,
  snapshot: false,
  defaults: { boot_s: 0, agent_s: 'none', shutdown_s: 0, pv: false },
  xapi: { domain_build_s: 0.025, domain_destroy_s: 0.015, dom0_memory_mib: 4096 },
};

export interface SimProcess {
  socketPath: string;
  port: number;
  stop(): Promise<void>;
}

/** The simulator process as the recorded host (test/helpers/sim.ts starts it: `node dist/src/cli/bin.js sim`). */
export async function startRecordedHost(): Promise<SimProcess> {
  const sim = await spawnSim({ scenario: RECORDED_HOST, unix: true, user: 'root', password: 'xenroot', timeScale: RECORDED_HOST.time_scale });
  return { socketPath: sim.socketPath!, port: Number(new URL(sim.url).port), stop: () => sim.stop() };
}

export interface HttpAnswer {
  status: number;
  /** Raw header pairs in the order sent, names as sent. */
  headers: Array<[string, string]>;
  body: string;
}

/** One POST with `Connection: close`, as the recording client made. null = no answer within the bound. */
export function post(sim: SimProcess, viaTcp: boolean, path: string, contentType: string, body: string, boundMs: number): Promise<HttpAnswer | null> {
  return new Promise((ok, fail) => {
    const target = viaTcp ? { host: '127.0.0.1', port: sim.port } : { socketPath: sim.socketPath };
    const req = http.request({ ...target, path, method: 'POST', headers: { 'content-type': contentType, 'content-length': Buffer.byteLength(body), connection: 'close' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        const pairs: Array<[string, string]> = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) pairs.push([res.rawHeaders[i]!, res.rawHeaders[i + 1]!]);
        ok({ status: res.statusCode ?? 0, headers: pairs, body: Buffer.concat(chunks).toString('utf8') });
      });
    });
    const timer = setTimeout(() => {
      req.destroy();
      ok(null);
    }, boundMs);
    req.on('error', (e) => {
      clearTimeout(timer);
      if (req.destroyed && (e as NodeJS.ErrnoException).code === 'ECONNRESET') return;
      fail(e);
    });
    req.end(body);
  });
}

export type Verdict = 'matched' | 'normalised' | 'differ';

export interface Outcome {
  call: RecordedCall;
  /** The simulator's answer body, for the wire-level comparison. */
  simBody?: string;
  verdict: Verdict;
  diffs: Diff[];
  normalised: string[];
}

const TERMINAL = new Set(['success', 'failure', 'cancelled']);

function recordedValue(call: RecordedCall): Typed | undefined {
  const r = typedFromJson(call.response);
  if (r.t !== 'struct') return undefined;
  return r.v.get('Value') ?? r.v.get('result');
}

/** The task a task.* read is about, and whether the recording saw it finished. */
function taskRead(call: RecordedCall): { ref: string; finished: boolean } | null {
  if (!/^task\.get_(record|status|result|progress|error_info|finished)$/.test(call.call) || !Array.isArray(call.params)) return null;
  const v = recordedValue(call);
  let status: string | undefined;
  if (v?.t === 'struct') status = (v.v.get('status') as { v?: string } | undefined)?.v;
  else if (call.call === 'task.get_status' && v?.t === 'str') status = v.v;
  else if (call.call === 'task.get_result') status = 'success';
  return { ref: String(call.params[1]), finished: status !== undefined && TERMINAL.has(status) };
}

export class Replayer {
  readonly ids = new IdMap();
  private jsonId = 0;

  constructor(private readonly sim: SimProcess) {}

  private async statusOf(session: string, simTask: string): Promise<string | null> {
    const a = await post(this.sim, false, '/', 'text/xml', xmlRequest('task.get_status', [session, simTask]), 10_000);
    if (!a) return null;
    const v = typedFromXmlResponse(a.body);
    if (v.t !== 'struct') return null;
    const value = v.v.get('Value');
    return value?.t === 'str' ? value.v : null;
  }

  /** Before reading a task the recording saw finished, wait (bounded) until the simulator's has too. */
  private async settle(call: RecordedCall): Promise<void> {
    const read = taskRead(call);
    if (!read?.finished) return;
    const simTask = this.ids.recToSim.get(read.ref);
    const session = this.ids.recToSim.get(String((call.params as unknown[])[0]));
    if (!simTask || !session) return;
    const deadline = performance.now() + 20_000;
    while (performance.now() < deadline) {
      const s = await this.statusOf(session, simTask);
      if (s === null || TERMINAL.has(s)) return;
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async replay(call: RecordedCall): Promise<Outcome> {
    await this.settle(call);
    const viaTcp = call.endpoint?.startsWith('tcp:') ?? false;
    const recordedTimeout = call.http_status.startsWith('CLIENT-TIMEOUT');
    // A call xapi never answered is matched by no answer within a short bound: the 30 s the
    // recording client waited are not waited out again.
    const bound = recordedTimeout ? 1_500 : Math.min(20_000, 3_000 + 2_000 * (call.duration_s ?? 0));
    let answer: HttpAnswer | null;
    // Float markers stay for XML-RPC (<double>); JSON-RPC gets plain numbers.
    const params = this.ids.translate(call.params);
    if (call.transport === 'json') {
      let body: string;
      if (call.call.startsWith('(raw)')) body = params === null ? 'this is not JSON' : JSON.stringify(plain(params));
      else {
        const recId = (call.response as { id?: unknown } | null)?.id;
        body = JSON.stringify({ jsonrpc: '2.0', method: call.call, params: plain(params), id: recId ?? ++this.jsonId });
      }
      answer = await post(this.sim, viaTcp, '/jsonrpc', 'application/json', body, bound);
    } else {
      answer = await post(this.sim, viaTcp, '/', 'text/xml', xmlRequest(call.call, params as unknown[]), bound);
    }
    return { ...this.judge(call, answer), ...(answer ? { simBody: answer.body } : {}) };
  }

  /**
   * VMs the recording client removed without recording it: made by this file, never mentioned by
   * a later file of the same database (02b's VMs are absent from 07's full event.from). The replay
   * removes them too, through its own session, so later answers see the same set of objects.
   */
  async removeUnrecordedLeftovers(file: Scenario, later: Scenario[]): Promise<number> {
    const made = file.calls.filter((c) => /^VM\.(create|clone|copy|snapshot)$/.test(c.call)).map((c) => (c.response as { Value?: unknown } | null)?.Value);
    const laterText = later.map((s) => JSON.stringify(s.calls)).join('\n');
    const gone = made.filter((r): r is string => typeof r === 'string' && r.startsWith('OpaqueRef:') && !laterText.includes(r));
    if (gone.length === 0) return 0;
    const call = async (method: string, params: unknown[]): Promise<Typed | undefined> => {
      const a = await post(this.sim, false, '/', 'text/xml', xmlRequest(method, params), 10_000);
      const v = a ? typedFromXmlResponse(a.body) : undefined;
      return field(v, 'Value');
    };
    const session = await call('session.login_with_password', ['root', '', '1.0', 'conformance-cleanup']);
    if (session?.t !== 'str') throw new Error('conformance cleanup: cannot log in to the simulator');
    for (const ref of gone) {
      const simRef = this.ids.recToSim.get(ref);
      if (simRef) await call('VM.destroy', [session.v, simRef]);
    }
    await call('session.logout', [session.v]);
    return gone.length;
  }

  private judge(call: RecordedCall, answer: HttpAnswer | null): Outcome {
    const c = new Comparer(this.ids, call.call);
    const recordedTimeout = call.http_status.startsWith('CLIENT-TIMEOUT');
    if (recordedTimeout || !answer) {
      if (recordedTimeout !== !answer) c.diffs.push({ path: '', kind: 'no-answer', rec: recordedTimeout ? 'no answer (client timeout)' : 'an answer', sim: answer ? `answered HTTP ${answer.status}` : 'no answer within the replay bound' });
      return finish(call, c);
    }
    compareHttp(call, answer, c);
    const contentType = header(answer.headers, 'content-type') ?? '';
    const recordedHtml = typeof call.response === 'string' && call.response.startsWith('<html>');
    if (recordedHtml || contentType === 'text/html') {
      if (recordedHtml && contentType === 'text/html' && answer.body.startsWith('<html>')) c.normalised.add(HTML_ERROR_RULE.id);
      else c.diffs.push({ path: 'body', kind: 'type', rec: recordedHtml ? 'HTML page' : 'RPC answer', sim: `${contentType}: ${answer.body.replace(/<[^>]+>/g, ' ').slice(0, 200)}` });
      return finish(call, c);
    }
    let sim: Typed;
    try {
      sim = call.transport === 'json' ? typedFromJsonBody(answer.body) : typedFromXmlResponse(answer.body);
    } catch (e) {
      c.diffs.push({ path: 'body', kind: 'type', rec: 'a decodable answer', sim: `undecodable: ${(e as Error).message}` });
      return finish(call, c);
    }
    const rec = typeof call.response === 'string' ? typedFromJsonBody(call.response) : typedFromJson(call.response);
    const description = field(rec, 'ErrorDescription');
    if (description?.t === 'array' && description.v[0]?.t === 'str') c.errorCode = description.v[0].v;
    if (call.call === 'system.listMethods') compareMethodList(rec, sim, c);
    else if (isTaskRanAhead(rec, sim)) {
      c.shape(rec, sim, []);
      c.markTaskRanAhead();
    } else compareEnvelope(rec, sim, c);
    return finish(call, c);
  }
}

function finish(call: RecordedCall, c: Comparer): Outcome {
  const verdict: Verdict = c.diffs.length > 0 ? 'differ' : c.normalised.size > 0 ? 'normalised' : 'matched';
  return { call, verdict, diffs: c.diffs, normalised: [...c.normalised] };
}

function header(headers: Array<[string, string]>, name: string): string | undefined {
  return headers.find(([k]) => k.toLowerCase() === name)?.[1];
}

/** Status code, content type, and every header a client sees (names as sent; content-length's value aside). */
function compareHttp(call: RecordedCall, answer: HttpAnswer, c: Comparer): void {
  const recCode = Number(/^HTTP\/1\.[01] (\d+)/.exec(call.http_status)?.[1] ?? 0);
  if (recCode !== answer.status) c.diffs.push({ path: 'http.status', kind: 'http', rec: String(recCode), sim: String(answer.status) });
  const recHeaders = new Map(call.http_headers.map(([k, v]) => [k, v]));
  const simHeaders = new Map(answer.headers.map(([k, v]) => [k, v]));
  for (const [k, v] of recHeaders) {
    const s = simHeaders.get(k);
    if (s === undefined) c.diffs.push({ path: `http.header.${k}`, kind: 'http', rec: v, sim: '(absent, or named otherwise)' });
    else if (k !== 'content-length' && s !== v) c.diffs.push({ path: `http.header.${k}`, kind: 'http', rec: v, sim: s });
  }
  for (const [k, v] of simHeaders) if (!recHeaders.has(k)) c.diffs.push({ path: `http.header.${k}`, kind: 'http', rec: '(absent)', sim: v });
}

function field(v: Typed | undefined, name: string): Typed | undefined {
  return v?.t === 'struct' ? v.v.get(name) : undefined;
}

function isTaskRanAhead(rec: Typed, sim: Typed): boolean {
  const r = field(rec, 'Value') ?? field(rec, 'result');
  const s = field(sim, 'Value') ?? field(sim, 'result');
  const rs = field(r, 'status');
  const ss = field(s, 'status');
  return rs?.t === 'str' && ss?.t === 'str' && rs.v === 'pending' && ss.v !== 'pending' && field(r, 'progress') !== undefined;
}

/** The envelope and value, with event batches compared as batches. */
function compareEnvelope(rec: Typed, sim: Typed, c: Comparer): void {
  if (rec.t !== 'struct' || sim.t !== 'struct') return c.compare(rec, sim, []);
  const value = rec.v.get('Value') ?? rec.v.get('result');
  const events = eventsOf(value);
  if (events === undefined) return c.compare(rec, sim, []);
  // Compare everything but the events, then the batch.
  c.compare(rec, sim, []);
  const simValue = sim.v.get('Value') ?? sim.v.get('result');
  const simEvents = eventsOf(simValue);
  if (simEvents === undefined) return;
  c.compareEvents(events, simEvents, [rec.v.has('Value') ? 'Value' : 'result', 'events']);
}

function eventsOf(value: Typed | undefined): Typed[] | undefined {
  if (value?.t === 'array' && value.v.every((e) => e.t === 'struct' && e.v.has('class') && e.v.has('operation'))) return value.v.length > 0 ? value.v : undefined;
  const e = field(value, 'events');
  return e?.t === 'array' ? e.v : undefined;
}

/** system.listMethods: every name the simulator offers must be xapi's; xapi's that it lacks are one difference. */
function compareMethodList(rec: Typed, sim: Typed, c: Comparer): void {
  if (rec.t !== 'array' || sim.t !== 'array') return c.compare(rec, sim, []);
  const names = (v: Typed[]): Set<string> => new Set(v.map((x) => (x.t === 'str' ? x.v : '')));
  const recNames = names(rec.v);
  const simNames = names(sim.v);
  const extra = [...simNames].filter((n) => !recNames.has(n));
  const lacking = [...recNames].filter((n) => !simNames.has(n));
  if (extra.length) c.diffs.push({ path: 'methods.extra', kind: 'methods', rec: '(not in xapi)', sim: extra.join(', ') });
  if (lacking.length) c.diffs.push({ path: 'methods.lacking', kind: 'methods', rec: `${lacking.length} of ${recNames.size} methods`, sim: `${simNames.size} offered` });
}

/**
 * Which recordings share one database. They were recorded in name order against one xapi unless
 * stated otherwise; another database shows in its singletons: a one-host pool has one pool and one
 * host, so a file that is answered other refs for `pool.get_all` / `host.get_all` than the files
 * before it ran against a fresh xapi, and gets a fresh simulator.
 */
export function groupByDatabase(scenarios: Scenario[]): Scenario[][] {
  const groups: Scenario[][] = [];
  let singletons = new Set<string>();
  for (const s of scenarios) {
    const mine = new Set<string>();
    for (const call of s.calls) {
      if (call.call !== 'pool.get_all' && call.call !== 'host.get_all') continue;
      const value = (call.response as { Value?: unknown } | null)?.Value;
      if (Array.isArray(value)) for (const ref of value) mine.add(String(ref));
    }
    const fresh = groups.length === 0 || (singletons.size > 0 && mine.size > 0 && ![...mine].some((r) => singletons.has(r)));
    if (fresh) {
      groups.push([s]);
      singletons = new Set();
    } else groups[groups.length - 1]!.push(s);
    for (const r of mine) singletons.add(r);
  }
  return groups;
}

export function describeOutcome(o: Outcome): string {
  const where = `${o.call.file}:${o.call.line} ${o.call.call}`;
  return `${where}\n${o.diffs.map((d) => `    ${d.kind} at ${d.path || '(top)'}: xapi ${d.rec} | sim ${d.sim}`).join('\n')}`;
}

export { TASK_RAN_AHEAD_RULE };
