// The XenAPI client against answers recorded from a real xapi (../shared/xapi-traces): a socket
// server writes back the exact recorded HTTP bytes (raw/*.http), or the recorded answers of the
// JSON lines re-encoded the way xapi writes them, and the client's own transport and decoders must
// turn them into typed results: records, failures, tasks and event batches. The expected values
// come from the recording itself (read by the test's own XML reader), never from the client.

import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guestTools } from '../../src/toolstack/xenapi.js';
import { XenApiError, decodeTaskResult } from '../../src/xenapi/index.js';
import { decodeAll, decodeEventBatch, decodeOne, type EventClass } from '../../src/xenapi/records.js';
import { unwrapEnvelope } from '../../src/xenapi/session.js';
import { createTransport, type Protocol, type Transport } from '../../src/xenapi/transport.js';
import { loadScenarios, MISSING_TRACES, missingTracesAreAnError, tracesDir, tracesPresent, typedFromJson, typedFromJsonBody, typedFromXmlResponse, type Typed } from '../conformance/traces.js';

const dir = tracesDir();
const raw = join(dir, 'raw');

/** A server that answers each request with the bytes queued for it. */
class ReplayServer {
  private queue: Buffer[] = [];
  private server = net.createServer((socket) => {
    let got = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      const head = got.indexOf('\r\n\r\n');
      if (head < 0) return;
      const length = Number(/content-length:\s*(\d+)/i.exec(got.subarray(0, head).toString())?.[1] ?? 0);
      if (got.length < head + 4 + length) return;
      socket.end(this.queue.shift() ?? Buffer.from('HTTP/1.1 500 Internal Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n'));
    });
  });
  port = 0;

  async start(): Promise<void> {
    await new Promise<void>((ok) => this.server.listen(0, '127.0.0.1', ok));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  answerWith(bytes: Buffer): void {
    this.queue.push(bytes);
  }

  close(): Promise<void> {
    return new Promise((ok) => this.server.close(() => ok()));
  }
}

/** The recorded HTTP response, byte for byte (CRLF line ends as recorded; bare LF files are converted in the head only). */
function httpBytes(file: string): Buffer {
  const text = readFileSync(file);
  if (text.includes('\r\n\r\n')) return text;
  const split = text.indexOf('\n\n');
  const head = text.subarray(0, split).toString().replace(/\r?\n/g, '\r\n');
  return Buffer.concat([Buffer.from(head + '\r\n\r\n'), text.subarray(split + 2)]);
}

/** xapi's XML for a recorded value: untyped strings, <i4>, <double>, <boolean>, dateTime, struct, array. */
function xapiXml(v: Typed): string {
  const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
  switch (v.t) {
    case 'str':
      return `<value>${esc(v.v)}</value>`;
    case 'int':
      return `<value><i4>${v.v}</i4></value>`;
    case 'double':
      return `<value><double>${v.v}</double></value>`;
    case 'bool':
      return `<value><boolean>${v.v ? 1 : 0}</boolean></value>`;
    case 'date':
      return `<value><dateTime.iso8601>${v.v}</dateTime.iso8601></value>`;
    case 'nil':
      return '<value></value>';
    case 'array':
      return `<value><array><data>${v.v.map(xapiXml).join('')}</data></array></value>`;
    case 'struct':
      return `<value><struct>${[...v.v].map(([k, x]) => `<member><name>${esc(k)}</name>${xapiXml(x)}</member>`).join('')}</struct></value>`;
  }
}

/** xapi's JSON for a recorded value: floats keep their fraction. */
function xapiJson(v: Typed): string {
  switch (v.t) {
    case 'str':
    case 'date':
      return JSON.stringify(v.v);
    case 'int':
      return v.v;
    case 'double':
      return Number.isInteger(v.v) ? `${v.v}.0` : String(v.v);
    case 'bool':
      return String(v.v);
    case 'nil':
      return 'null';
    case 'array':
      return `[${v.v.map(xapiJson).join(',')}]`;
    case 'struct':
      return `{${[...v.v].map(([k, x]) => `${JSON.stringify(k)}:${xapiJson(x)}`).join(',')}}`;
  }
}

function response(contentType: string, body: string): Buffer {
  const b = Buffer.from(body);
  return Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: ${b.length}\r\nconnection: close\r\ncache-control: no-cache, no-store\r\ncontent-type: ${contentType}\r\n\r\n`), b]);
}

const str = (v: Typed | undefined): string => (v && (v.t === 'str' || v.t === 'int' || v.t === 'date') ? v.v : '');
const member = (v: Typed | undefined, k: string): Typed | undefined => (v?.t === 'struct' ? v.v.get(k) : undefined);

/** The typed class a recorded `<Class>.get_record` / `get_all_records` answer decodes to. */
const CLASS_OF: Record<string, EventClass> = { VM: 'vm', VM_guest_metrics: 'vm_guest_metrics', VM_metrics: 'vm_metrics', host: 'host', host_metrics: 'host_metrics', pool: 'pool', task: 'task' };

/** Decodes a successful value the way the client would for that call; returns what it made. */
async function decodeFor(method: string, value: unknown): Promise<string> {
  const [cls, call] = method.replace(/^Async\./, '').split('.') as [string, string];
  const typed = CLASS_OF[cls];
  if (typed && call === 'get_record') {
    const rec = decodeOne(method, typed, 'OpaqueRef:recorded', value);
    if (typed === 'task') await decodeTaskResult(method, (rec as { result: string }).result);
    return `${typed} record`;
  }
  if (typed && (call === 'get_all_records' || call === 'get_all_records_where')) return `${decodeAll(method, typed, value).size} ${typed} records`;
  if (method === 'event.from') return `${decodeEventBatch(method, value).events.length} events`;
  return 'value';
}

const present = tracesPresent(dir);
const title = present ? 'the XenAPI client decodes answers recorded from a real xapi' : `SKIPPED: ${MISSING_TRACES(dir)}`;

if (!present && missingTracesAreAnError()) {
  describe('recorded answers', () => {
    it('finds the traces that XEN_GUESTS_TRACES_DIR names', () => {
      throw new Error(MISSING_TRACES(dir));
    });
  });
}

describe.skipIf(!present)(title, () => {
  const server = new ReplayServer();
  const transports = new Map<Protocol, Transport>();
  const timeout = { timeoutMs: 10_000 };

  beforeAll(async () => {
    await server.start();
    for (const p of ['xml-rpc', 'json-rpc'] as const) transports.set(p, createTransport(`http://127.0.0.1:${server.port}`, {}, p));
  });
  afterAll(async () => {
    for (const t of transports.values()) t.close();
    await server.close();
  });

  /** One raw recording through the client's transport: the envelope it hands back, and the recording read independently. */
  async function viaTransport(name: string): Promise<{ envelope: unknown; recorded: Typed; method: string }> {
    const json = name.startsWith('json.');
    const request = readFileSync(join(raw, `${name}.request.${json ? 'json' : 'xml'}`), 'utf8');
    const method = json ? (JSON.parse(request) as { method: string }).method : /<methodName>([^<]+)<\/methodName>/.exec(request)![1]!;
    server.answerWith(httpBytes(join(raw, `${name}.http`)));
    const envelope = await transports.get(json ? 'json-rpc' : 'xml-rpc')!.request(method, [], timeout);
    const body = readFileSync(join(raw, `${name}.${json ? 'json' : 'xml'}`), 'utf8');
    return { envelope, recorded: json ? typedFromJsonBody(body) : typedFromXmlResponse(body), method };
  }

  it('types VM records (halted, running, dom0) with their int64s, enums, refs and dates', async () => {
    for (const name of ['VM.get_record.halted', 'VM.get_record.running', 'json.VM.get_record']) {
      const { envelope, recorded, method } = await viaTransport(name);
      const value = member(recorded, 'Value') ?? member(recorded, 'result');
      const vm = decodeOne(method, 'vm', 'OpaqueRef:x', unwrapEnvelope(method, envelope));
      expect(vm.uuid).toBe(str(member(value, 'uuid')));
      expect(vm.powerState).toBe(str(member(value, 'power_state')));
      expect(vm.memoryStaticMax).toBe(Number(str(member(value, 'memory_static_max'))));
      expect(vm.domainType).toBe(str(member(value, 'domain_type')));
      const gm = str(member(value, 'guest_metrics'));
      expect(vm.guestMetrics).toBe(gm === 'OpaqueRef:NULL' ? null : gm);
      expect(vm.allowedOperations).toEqual((member(value, 'allowed_operations') as { v: Typed[] }).v.map(str));
    }
    const { envelope, method } = await viaTransport('VM.get_all_records.dom0');
    const all = [...decodeAll(method, 'vm', unwrapEnvelope(method, envelope)).values()];
    expect(all.map((v) => [v.isControlDomain, v.powerState])).toEqual([[true, 'Running']]);
  });

  it('reads the live, empty guest metrics xapi makes at a start as "no agent reporting"', async () => {
    const { envelope, recorded, method } = await viaTransport('VM_guest_metrics.get_record.running');
    expect(member(member(recorded, 'Value'), 'live')).toEqual({ t: 'bool', v: true });
    const gm = decodeOne(method, 'vm_guest_metrics', 'OpaqueRef:x', unwrapEnvelope(method, envelope));
    expect(gm.live).toBe(true);
    expect(guestTools(gm)).toMatchObject({ pvDrivers: false, agentLive: false });
    const metrics = await viaTransport('VM_metrics.get_record.running');
    const vmm = decodeOne(metrics.method, 'vm_metrics', 'OpaqueRef:x', unwrapEnvelope(metrics.method, metrics.envelope));
    expect(vmm.currentDomainType).toBe(str(member(member(metrics.recorded, 'Value'), 'current_domain_type')));
    expect(vmm.startTime).toBeInstanceOf(Date);
  });

  it('types task records (pending, finished, cancelled plugin, failed evacuate) and their results', async () => {
    for (const name of ['task.get_record.pending', 'task.get_record.finished', 'task.get_record.cancelled_plugin', 'task.get_record.evacuate_failed', 'json.task.get_record']) {
      const { envelope, recorded, method } = await viaTransport(name);
      const value = member(recorded, 'Value') ?? member(recorded, 'result');
      const task = decodeOne(method, 'task', 'OpaqueRef:x', unwrapEnvelope(method, envelope));
      expect(task.status).toBe(str(member(value, 'status')));
      expect(task.progress).toBe((member(value, 'progress') as { v: number }).v);
      expect(task.errorInfo).toEqual((member(value, 'error_info') as { v: Typed[] }).v.map(str));
      const result = await decodeTaskResult(method, task.result);
      const text = str(member(value, 'result'));
      expect(result).toBe(text === '<value></value>' || text === '' ? undefined : /<value>(.*)<\/value>/.exec(text)![1]);
    }
  });

  it('turns every recorded Failure into a XenApiError with the recorded code and parameters', async () => {
    const failures = readdirSync(raw).filter((f) => /^(json\.)?failure\..*\.http$/.test(f)).map((f) => f.replace(/\.http$/, ''));
    expect(failures.length).toBeGreaterThanOrEqual(7);
    for (const name of failures) {
      const { envelope, recorded, method } = await viaTransport(name);
      const description = member(recorded, 'ErrorDescription');
      const error = member(recorded, 'error');
      const expected = description ? (description as { v: Typed[] }).v.map(str) : [str(member(error, 'message')), ...(member(error, 'data') as { v: Typed[] }).v.map(str)];
      let caught: unknown;
      try {
        unwrapEnvelope(method, envelope);
      } catch (e) {
        caught = e;
      }
      expect(caught, name).toBeInstanceOf(XenApiError);
      expect([(caught as XenApiError).code, ...(caught as XenApiError).params], name).toEqual(expected);
    }
  });

  it('types event batches (initial, after a start, all classes): events, token and valid_ref_counts', async () => {
    for (const name of ['event.from.initial', 'event.from.vm_start', 'event.from.all', 'json.event.from']) {
      const { envelope, recorded, method } = await viaTransport(name);
      const value = member(recorded, 'Value') ?? member(recorded, 'result');
      const batch = decodeEventBatch(method, unwrapEnvelope(method, envelope));
      const events = (member(value, 'events') as { v: Typed[] }).v;
      expect(batch.token).toBe(str(member(value, 'token')));
      expect(batch.events.map((e) => `${e.class}/${e.operation}/${e.ref}`)).toEqual(events.map((e) => `${str(member(e, 'class'))}/${str(member(e, 'operation'))}/${str(member(e, 'ref'))}`));
      expect(batch.validRefCounts['vm']).toBe(Number(str(member(member(value, 'valid_ref_counts'), 'vm'))));
    }
  });

  it('decodes every answer of the JSON lines (both protocols) that the client has a type for', async () => {
    let decoded = 0;
    const kinds = new Map<string, number>();
    for (const scenario of loadScenarios(dir)) {
      for (const call of scenario.calls) {
        if (typeof call.response !== 'object' || call.response === null || call.call.startsWith('(raw)') || call.call === 'system.listMethods' || call.http_status.startsWith('CLIENT-TIMEOUT')) continue;
        const recorded = typedFromJson(call.response);
        const json = call.transport === 'json';
        server.answerWith(json ? response('application/json', xapiJson(recorded)) : response('text/xml', `<?xml version="1.0"?><methodResponse><params><param>${xapiXml(recorded)}</param></params></methodResponse>`));
        const envelope = await transports.get(json ? 'json-rpc' : 'xml-rpc')!.request(call.call, [], timeout);
        const failure = member(recorded, 'ErrorDescription') ?? member(recorded, 'error');
        if (failure) {
          expect(() => unwrapEnvelope(call.call, envelope), `${call.file}:${call.line}`).toThrow(XenApiError);
        } else {
          const what = await decodeFor(call.call, unwrapEnvelope(call.call, envelope));
          kinds.set(what.replace(/^\d+ /, ''), (kinds.get(what.replace(/^\d+ /, '')) ?? 0) + 1);
        }
        decoded++;
      }
    }
    expect(decoded).toBeGreaterThan(500);
    for (const k of ['vm record', 'task record', 'vm_guest_metrics record', 'vm_metrics record', 'events', 'vm records']) expect(kinds.get(k), k).toBeGreaterThan(0);
  });
});
