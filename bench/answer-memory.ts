// Where XML-RPC's extra memory lives: the heap a 1,000-guest VM.get_all_records holds once
// decoded, over XML-RPC (the purpose-built decoder) and over JSON-RPC (JSON.parse), at two points:
// the raw table (xapi's records as decoded, what a whole-table read holds until it is turned into
// typed records) and the typed VM records the client keeps (the plan's guests, the event cache).
// Measured as V8's heapUsed after full collections, the answer arriving as independent chunk
// strings, as a socket hands it over.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { decodeVm } from '../src/xenapi/records.js';
import { createXmlAnswerDecoder } from '../src/xenapi/xml-answer.js';

const CHUNK_BYTES = 64 * 1024;

export interface RetainedHeap {
  /** MB of heap held by the decoded raw table, and by the typed VM records made from it. */
  xmlRawMb: number;
  xmlRecordsMb: number;
  jsonRawMb: number;
  jsonRecordsMb: number;
}

type Protocol = 'xml' | 'json';

export function measureRetained(xml: string, json: string): RetainedHeap {
  const collect = exposedGc();
  const xmlHeld = retained(collect, 'xml', socketChunks(xml));
  const jsonHeld = retained(collect, 'json', socketChunks(json));
  return { xmlRawMb: xmlHeld.rawMb, xmlRecordsMb: xmlHeld.recordsMb, jsonRawMb: jsonHeld.rawMb, jsonRecordsMb: jsonHeld.recordsMb };
}

function exposedGc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/** Chunks as buffers: each becomes a string of its own when decoded, never a view of one whole. */
function socketChunks(text: string): Buffer[] {
  const bytes = Buffer.from(text, 'utf8');
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += CHUNK_BYTES) out.push(Buffer.from(bytes.subarray(at, at + CHUNK_BYTES)));
  return out;
}

function retained(collect: () => void, protocol: Protocol, chunks: Buffer[]): { rawMb: number; recordsMb: number } {
  const heap = (): number => {
    collect();
    collect();
    return process.memoryUsage().heapUsed;
  };
  const before = heap();
  let table: Record<string, unknown> | null = decodeTable(protocol, chunks);
  const rawMb = mb(heap() - before);
  const records = typedRecords(table);
  table = null;
  const recordsMb = mb(heap() - before);
  // Read after the measurement, so that the records are alive while it is taken.
  if (records.length === 0) throw new Error('no VM records decoded');
  return { rawMb, recordsMb };
}

/** In its own frame, so that the decoder and the chunk strings are garbage when it returns. */
function decodeTable(protocol: Protocol, chunks: Buffer[]): Record<string, unknown> {
  if (protocol === 'xml') {
    const decoder = createXmlAnswerDecoder();
    for (const chunk of chunks) decoder.write(chunk.toString('utf8'));
    return (decoder.end() as { Value: Record<string, unknown> }).Value;
  }
  // The JSON-RPC transport joins the chunks and parses the whole answer.
  let text = '';
  for (const chunk of chunks) text += chunk.toString('utf8');
  return (JSON.parse(text) as { result: Record<string, unknown> }).result;
}

function typedRecords(table: Record<string, unknown>): unknown[] {
  return Object.entries(table).map(([ref, value]) => decodeVm({ call: 'VM.get_all_records', path: '' }, ref, value));
}

function mb(bytes: number): number {
  return Math.round((bytes / 1e6) * 100) / 100;
}
