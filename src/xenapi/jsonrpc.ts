// One JSON-RPC v2 request to xapi (POST /jsonrpc), the protocol `auto` picks when the host has it:
// a VM record is ~7 KB of XML-RPC but ~2.5 KB of JSON, which JSON.parse reads natively.
//
// The answer is handed back in XML-RPC's envelope shape ({Status, Value} / {Status, ErrorDescription})
// so the session layer and the decoders treat both protocols alike. Values differ only in that
// int64 arrives as a JSON number and datetimes as strings; the decoders accept both forms and
// refuse integers past 2^53, which JSON.parse cannot carry exactly.

import { BAD_RESPONSE, XenApiError, preview } from './errors.js';
import { post, type PostTarget } from './post.js';

export const JSONRPC_PATH = '/jsonrpc';

let nextId = 1;

/** A float parameter must stay a JSON number with its fraction; others are already plain values. */
export function jsonBody(method: string, params: unknown[]): string {
  return JSON.stringify({ jsonrpc: '2.0', method, params, id: nextId++ });
}

/**
 * An answer is JSON-RPC when its content type says so (what Xen Orchestra's client checks too); a
 * host without /jsonrpc answers its XML-RPC handler's HTML error or a 404 instead.
 */
export function isJsonContentType(contentType: string): boolean {
  return /^application\/json\s*(;|$)/i.test(contentType);
}

/**
 * Sends the call; resolves with the envelope. Transport failures reject with the raw error; an
 * answer that is not JSON-RPC (or not HTTP 200) rejects with NotThisProtocol, for the caller to
 * turn into a XenApiError that names the host — or, under `auto`, to fall back to XML-RPC.
 */
export function jsonRequest(target: PostTarget, method: string, body: string): Promise<unknown> {
  return post(target, {
    method,
    path: JSONRPC_PATH,
    contentType: 'application/json',
    body,
    accepts: (status, contentType) => status === 200 && isJsonContentType(contentType),
    reader() {
      const parts: string[] = [];
      return {
        write: (text) => parts.push(text),
        end() {
          const text = parts.join('');
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch {
            throw new XenApiError(BAD_RESPONSE, [method, `answer is not JSON: ${preview(text)}`], method);
          }
          return envelopeOf(method, parsed);
        },
      };
    },
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
