// One JSON-RPC v2 request to xapi (POST /jsonrpc). It exists for speed: a VM record is ~7 KB of
// XML-RPC that the `xmlrpc` package decodes with sax in JavaScript (a 1,000-guest get_all_records
// takes seconds of CPU), while JSON.parse reads the same answer in milliseconds.
//
// The answer is handed back in XML-RPC's envelope shape ({Status, Value} / {Status, ErrorDescription})
// so the session layer and the decoders treat both protocols alike. Values differ only in that
// int64 arrives as a JSON number and datetimes as strings; the decoders accept both forms and
// refuse integers past 2^53, which JSON.parse cannot carry exactly.

import http from 'node:http';
import https from 'node:https';
import { BAD_RESPONSE, XenApiError, preview } from './errors.js';

export const JSONRPC_PATH = '/jsonrpc';
/** Answers are read whole before parsing; a 1,000-guest get_all_records is ~2.5 MB. Far above that is not xapi. */
const MAX_ANSWER_BYTES = 512 * 1024 * 1024;

export interface JsonRequestTarget {
  https: boolean;
  /** node:http request options without method/path/headers: agent, socketPath or host/port, signal. */
  options: http.RequestOptions;
}

let nextId = 1;

/** A float parameter must stay a JSON number with its fraction; others are already plain values. */
export function jsonBody(method: string, params: unknown[]): string {
  return JSON.stringify({ jsonrpc: '2.0', method, params, id: nextId++ });
}

/**
 * Sends the call; resolves with the envelope. Transport failures reject with the raw error (with
 * `res` and `body` for a non-200 answer), for the caller to turn into a XenApiError that names the host.
 */
export function jsonRequest(target: JsonRequestTarget, method: string, body: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const payload = Buffer.from(body, 'utf8');
    const request = (target.https ? https : http).request(
      {
        ...target.options,
        method: 'POST',
        path: JSONRPC_PATH,
        headers: { 'User-Agent': 'xen-guests', 'Content-Type': 'application/json', 'Content-Length': payload.length },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_ANSWER_BYTES) {
            res.destroy(new XenApiError(BAD_RESPONSE, [method, `answer larger than ${MAX_ANSWER_BYTES} bytes`], method));
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) return reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { res, body: text }));
          try {
            resolve(envelopeOf(method, JSON.parse(text)));
          } catch (err) {
            reject(err instanceof XenApiError ? err : new XenApiError(BAD_RESPONSE, [method, `answer is not JSON: ${preview(text)}`], method));
          }
        });
      },
    );
    request.on('error', reject);
    request.end(payload);
  });
}

/** JSON-RPC v2 (and v1, which xapi also speaks) answer → XML-RPC-shaped envelope. */
export function envelopeOf(method: string, answer: unknown): unknown {
  if (answer === null || typeof answer !== 'object' || Array.isArray(answer)) {
    throw new XenApiError(BAD_RESPONSE, [method, `expected a JSON-RPC answer object, got ${preview(answer)}`], method);
  }
  const a = answer as Record<string, unknown>;
  const error = a['error'];
  if (error !== undefined && error !== null) {
    // v2: {code, message: CODE, data: [params]}; v1: [CODE, params…].
    if (Array.isArray(error)) return { Status: 'Failure', ErrorDescription: error };
    if (typeof error === 'object') {
      const e = error as Record<string, unknown>;
      const data = Array.isArray(e['data']) ? e['data'] : e['data'] === undefined || e['data'] === null ? [] : [e['data']];
      return { Status: 'Failure', ErrorDescription: [e['message'], ...data] };
    }
    throw new XenApiError(BAD_RESPONSE, [method, `JSON-RPC error is neither an object nor an array: ${preview(error)}`], method);
  }
  if (!('result' in a)) throw new XenApiError(BAD_RESPONSE, [method, `JSON-RPC answer without result or error: ${preview(answer)}`], method);
  // system.listMethods is bare over XML-RPC; keep the same shape here.
  if (method === 'system.listMethods') return a['result'];
  return { Status: 'Success', Value: a['result'] };
}
