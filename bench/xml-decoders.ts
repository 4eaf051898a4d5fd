// Candidates for decoding xapi's XML-RPC answers, measured on the same real answer: a
// VM.get_all_records of N guests read from the simulator over XML-RPC (and over JSON-RPC, for
// JSON.parse as the yardstick). Each candidate decodes the whole answer fed in 64 KiB chunks, as
// it arrives from a socket; CPU time (process.cpuUsage) is the median of the timed repetitions.
//
// * `xmlrpc` package: its deserializer (sax underneath), what the client used before.
// * saxes: a stricter, faster evented XML parser, with a value builder on its events.
// * purpose-built: src/xenapi/xml-answer.ts, what the client uses now.

import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import { isDeepStrictEqual } from 'node:util';
import { SaxesParser } from 'saxes';
import { createXmlAnswerDecoder } from '../src/xenapi/xml-answer.js';
import { measureRetained, type RetainedHeap } from './answer-memory.js';
import { startSimProcess } from './sim-process.js';
import { makeWorkload, scenarioFor } from './workload.js';

const CHUNK = 64 * 1024;
const REPEATS = 5;

export interface DecoderTiming {
  name: string;
  /** Median CPU ms for the whole answer, and per guest. */
  cpuMs: number;
  cpuMsPerGuest: number;
  /** Against JSON.parse of the same table over JSON-RPC. */
  timesJson: number;
  /** The same records (ref, name_label, power_state) as the purpose-built decoder's. */
  agrees: boolean;
}

export interface DecoderComparison {
  guests: number;
  xmlBytes: number;
  jsonBytes: number;
  candidates: DecoderTiming[];
  /** Heap the decoded table and the typed records hold, over each protocol (answer-memory.ts). */
  retained: RetainedHeap;
}

export async function compareDecoders(guests: number): Promise<DecoderComparison> {
  const { xml, json } = await answers(guests);
  const reference = decodeOurs(xml);
  const jsonMs = cpuMedian(() => JSON.parse(json));
  const candidates: [string, (text: string) => Promise<unknown> | unknown][] = [
    ['xmlrpc package (sax)', decodeWithXmlrpc],
    ['saxes + value builder', decodeWithSaxes],
    ['purpose-built (xml-answer.ts)', decodeOurs],
  ];
  const out: DecoderTiming[] = [{ name: 'JSON.parse of the JSON-RPC answer', cpuMs: round(jsonMs), cpuMsPerGuest: round(jsonMs / guests, 3), timesJson: 1, agrees: true }];
  for (const [name, decode] of candidates) {
    const value = await decode(xml);
    const ms = await cpuMedianAsync(() => decode(xml));
    out.push({ name, cpuMs: round(ms), cpuMsPerGuest: round(ms / guests, 3), timesJson: round(ms / jsonMs), agrees: sameTable(value, reference) });
  }
  return { guests, xmlBytes: Buffer.byteLength(xml), jsonBytes: Buffer.byteLength(json), candidates: out, retained: measureRetained(xml, json) };
}

/** The same table read raw over both protocols from one simulator. */
async function answers(guests: number): Promise<{ xml: string; json: string }> {
  const sim = await startSimProcess(scenarioFor(makeWorkload({ guests }), 'shutdown'), 0.01);
  try {
    const session = String(await sim.call('session.login_with_password', 'root', '', '2.0', 'xen-guests-bench-decoders'));
    const post = async (path: string, type: string, body: string): Promise<string> => {
      const res = await fetch(new URL(path, sim.url), { method: 'POST', headers: { 'content-type': type }, body });
      return res.text();
    };
    const xml = await post('/', 'text/xml', `<?xml version="1.0"?><methodCall><methodName>VM.get_all_records</methodName><params><param><value>${session}</value></param></params></methodCall>`);
    const json = await post('/jsonrpc', 'application/json', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'VM.get_all_records', params: [session] }));
    return { xml, json };
  } finally {
    await sim.stop();
  }
}

function chunks(text: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += CHUNK) out.push(text.slice(i, i + CHUNK));
  return out;
}

function decodeOurs(text: string): unknown {
  const decoder = createXmlAnswerDecoder();
  for (const c of chunks(text)) decoder.write(c);
  return decoder.end();
}

const require = createRequire(import.meta.url);
interface XmlrpcDeserializer {
  deserializeMethodResponse(stream: Readable, callback: (err: Error | null, value: unknown) => void): void;
}
const Deserializer = require('xmlrpc/lib/deserializer.js') as new () => XmlrpcDeserializer;

function decodeWithXmlrpc(text: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    new Deserializer().deserializeMethodResponse(Readable.from(chunks(text).map((c) => Buffer.from(c))), (err, value) => (err ? reject(err) : resolve(value)));
  });
}

/** A value builder on saxes' events: the same rules as the purpose-built decoder, less its checks. */
function decodeWithSaxes(text: string): unknown {
  const parser = new SaxesParser();
  const stack: (unknown[] | { struct: Record<string, unknown>; name: string | null })[] = [];
  const typed: boolean[] = [];
  let buffer = '';
  let result: unknown;
  const emit = (v: unknown): void => {
    const top = stack[stack.length - 1];
    if (top === undefined) result = v;
    else if (Array.isArray(top)) top.push(v);
    else {
      top.struct[top.name!] = v;
      top.name = null;
    }
  };
  parser.on('opentag', (tag) => {
    buffer = '';
    if (tag.name === 'value') typed.push(false);
    else if (tag.name === 'struct') {
      typed[typed.length - 1] = true;
      stack.push({ struct: {}, name: null });
    } else if (tag.name === 'array') {
      typed[typed.length - 1] = true;
      stack.push([]);
    } else if (typed.length > 0 && tag.name !== 'data' && tag.name !== 'member' && tag.name !== 'name') typed[typed.length - 1] = true;
  });
  parser.on('text', (t) => (buffer += t));
  parser.on('closetag', (tag) => {
    switch (tag.name) {
      case 'value':
        if (!typed.pop()) emit(buffer);
        break;
      case 'struct':
      case 'array': {
        const top = stack.pop()!;
        emit(Array.isArray(top) ? top : top.struct);
        break;
      }
      case 'name': {
        const top = stack[stack.length - 1] as { name: string | null };
        top.name = buffer;
        break;
      }
      case 'string':
      case 'dateTime.iso8601':
      case 'i8':
        emit(buffer);
        break;
      case 'int':
      case 'i4':
      case 'double':
        emit(Number(buffer));
        break;
      case 'boolean':
        emit(buffer === '1');
        break;
      case 'nil':
        emit(null);
        break;
    }
    buffer = '';
  });
  for (const c of chunks(text)) parser.write(c);
  parser.close();
  return result;
}

/** Same records by ref with the same name_label and power_state (the xmlrpc package types some values otherwise). */
function sameTable(a: unknown, b: unknown): boolean {
  const rows = (v: unknown): [string, unknown, unknown][] => {
    const table = (v as { Value: Record<string, Record<string, unknown>> }).Value;
    return Object.entries(table).map(([ref, r]) => [ref, r['name_label'], r['power_state']]);
  };
  try {
    return isDeepStrictEqual(rows(a).sort(), rows(b).sort());
  } catch {
    return false;
  }
}

function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function cpuMedian(run: () => unknown): number {
  run();
  const times: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    const t = cpuNow();
    run();
    times.push(cpuNow() - t);
  }
  return median(times);
}

async function cpuMedianAsync(run: () => unknown): Promise<number> {
  await run();
  const times: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    const t = cpuNow();
    await run();
    times.push(cpuNow() - t);
  }
  return median(times);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
