// JSON-RPC on /jsonrpc, v1 and v2, as xapi answers it: v2 errors are
// {"code":1,"message":CODE,"data":[params]}, v1 errors are "error":[CODE,…]. int64 is a JSON number,
// datetimes are strings in xapi's compact format.

import { Double, I4, formatDateTime, type RpcValue } from './values.js';

export class JsonRpcParseError extends Error {
  override name = 'JsonRpcParseError';
}

export interface JsonRpcCall {
  method: string;
  params: RpcValue[];
  id: unknown;
  version: 1 | 2;
}

function decode(v: unknown): RpcValue {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isInteger(v) ? v : new Double(v);
  if (Array.isArray(v)) return v.map(decode);
  if (typeof v === 'object') {
    const out: Record<string, RpcValue> = {};
    for (const [k, item] of Object.entries(v as Record<string, unknown>)) out[k] = decode(item);
    return out;
  }
  throw new JsonRpcParseError(`unsupported JSON value ${String(v)}`);
}

export function parseJsonRpc(body: string): JsonRpcCall {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch (e) {
    throw new JsonRpcParseError(`request is not JSON: ${(e as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new JsonRpcParseError('request is not a JSON object');
  const r = raw as Record<string, unknown>;
  if (typeof r.method !== 'string') throw new JsonRpcParseError('request has no string "method"');
  // xapi answers a request without an id (a JSON-RPC notification) with HTTP 500 (recorded: 08).
  if (!('id' in r)) throw new JsonRpcParseError(`Invalid field 'id' in request body`);
  const params = r.params === undefined ? [] : r.params;
  if (!Array.isArray(params)) throw new JsonRpcParseError('"params" must be an array');
  return { method: r.method, params: params.map(decode), id: r.id ?? null, version: r.jsonrpc === '2.0' ? 2 : 1 };
}

// A float is written with a fraction even when whole (`1.0`), as xapi's JSON writer does and as
// clients that type by the literal expect; JSON.stringify cannot, so floats travel as a marker.
const FLOAT_MARK = '\u0000float:';
const FLOAT_MARKED = /"\\u0000float:([^"]*)"/g;

function replacer(this: Record<string, unknown>, key: string, value: unknown): unknown {
  const raw = this[key];
  if (raw instanceof Date) return formatDateTime(raw);
  if (raw instanceof Double) return FLOAT_MARK + (Number.isInteger(raw.value) ? `${raw.value}.0` : String(raw.value));
  if (raw instanceof I4) return raw.value;
  return value;
}

export function toJson(value: RpcValue): string {
  return JSON.stringify(value, replacer).replace(FLOAT_MARKED, '$1');
}

export function encodeJsonResult(call: Pick<JsonRpcCall, 'id' | 'version'>, value: RpcValue): string {
  const id = JSON.stringify(call.id ?? null);
  if (call.version === 2) return '{"jsonrpc":"2.0","result":' + toJson(value) + ',"id":' + id + '}';
  return '{"result":' + toJson(value) + ',"error":null,"id":' + id + '}';
}

export function encodeJsonError(call: Pick<JsonRpcCall, 'id' | 'version'>, description: string[]): string {
  const [code, ...params] = description;
  const id = JSON.stringify(call.id ?? null);
  if (call.version === 2) return JSON.stringify({ jsonrpc: '2.0', error: { code: 1, message: code, data: params } }).slice(0, -1) + ',"id":' + id + '}';
  return '{"result":null,"error":' + JSON.stringify(description) + ',"id":' + id + '}';
}
