// Runtime checks for values as the xmlrpc package hands them over from xapi: int64 as decimal
// strings, untyped strings, Dates for <dateTime.iso8601>, refs as 'OpaqueRef:…'. Every failure
// names the call and the field path, so a malformed answer is reported where it was read.

import { BAD_RESPONSE, XenApiError, preview } from './errors.js';

/** Where a value came from: the XenAPI call and the path inside its answer. */
export interface Origin {
  call: string;
  path: string;
}

export function at(origin: Origin, key: string | number): Origin {
  return { call: origin.call, path: typeof key === 'number' ? `${origin.path}[${key}]` : origin.path ? `${origin.path}.${key}` : key };
}

export function malformed(origin: Origin, expected: string, got: unknown): XenApiError {
  const field = origin.path || '(result)';
  return new XenApiError(BAD_RESPONSE, [origin.call, `${field}: expected ${expected}, got ${preview(got)}`], origin.call);
}

export function asStruct(origin: Origin, v: unknown): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Date || Buffer.isBuffer(v)) {
    throw malformed(origin, 'a struct', v);
  }
  return v as Record<string, unknown>;
}

export function asString(origin: Origin, v: unknown): string {
  if (typeof v !== 'string') throw malformed(origin, 'a string', v);
  return v;
}

/** int64 arrives as a decimal string over XML-RPC, as a JSON number over JSON-RPC; int32 as a number. */
export function asInt(origin: Origin, v: unknown): number {
  if (typeof v === 'number' && Number.isInteger(v)) {
    // JSON.parse already rounded anything past 2^53: refuse it rather than use a wrong value.
    if (!Number.isSafeInteger(v)) throw malformed(origin, 'an integer within ±2^53', v);
    return v;
  }
  if (typeof v === 'string' && /^-?\d+$/.test(v.trim())) {
    const n = Number(v.trim());
    if (!Number.isSafeInteger(n)) throw malformed(origin, 'an integer within ±2^53', v);
    return n;
  }
  throw malformed(origin, 'an integer (int64 as a decimal string)', v);
}

/** Floats are <double>, but xapi accepts and some peers send strings or ints. */
export function asFloat(origin: Origin, v: unknown): number {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  throw malformed(origin, 'a float', v);
}

export function asBool(origin: Origin, v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  throw malformed(origin, 'a boolean', v);
}

const COMPACT_DATETIME = /^(\d{4})-?(\d{2})-?(\d{2})T(\d{2}):?(\d{2}):?(\d{2})(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * A datetime; null for xapi's "unset" value 19700101T00:00:00Z. A zone-less string is read as UTC,
 * as xapi does (the xmlrpc package reads zone-less <dateTime.iso8601> as local time — only UTC
 * values carry the Z, which is what xapi sends for every field we read).
 */
export function asDate(origin: Origin, v: unknown): Date | null {
  let date: Date | null = null;
  if (v instanceof Date) date = v;
  else if (typeof v === 'string') {
    const m = COMPACT_DATETIME.exec(v.trim());
    if (m) {
      const zone = m[7] && m[7] !== 'Z' ? m[7].replace(/^([+-]\d{2})(\d{2})$/, '$1:$2') : 'Z';
      date = new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${zone}`);
    }
  }
  if (!date || Number.isNaN(date.getTime())) throw malformed(origin, 'a datetime (YYYYMMDDTHH:MM:SSZ)', v);
  return date.getTime() === 0 ? null : date;
}

/** 'OpaqueRef:…' or null for 'OpaqueRef:NULL' and '' (both mean "none" in xapi). */
export function asRef(origin: Origin, v: unknown): string | null {
  if (v === '' || v === 'OpaqueRef:NULL') return null;
  if (typeof v === 'string' && v.startsWith('OpaqueRef:')) return v;
  throw malformed(origin, 'a ref (OpaqueRef:…)', v);
}

/** A ref that must be present (results of get_by_uuid, login, Async calls). */
export function asLiveRef(origin: Origin, v: unknown): string {
  const ref = asRef(origin, v);
  if (ref === null) throw malformed(origin, 'a non-null ref', v);
  return ref;
}

export function asArray(origin: Origin, v: unknown): unknown[] {
  if (!Array.isArray(v)) throw malformed(origin, 'an array', v);
  return v;
}

export function asStringSet(origin: Origin, v: unknown): string[] {
  return asArray(origin, v).map((item, i) => asString(at(origin, i), item));
}

export function asRefSet(origin: Origin, v: unknown): string[] {
  return asArray(origin, v).map((item, i) => asLiveRef(at(origin, i), item));
}

/** (string → string) map. Keys of an int-keyed map arrive stringified; numeric values are accepted as text. */
export function asStringMap(origin: Origin, v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, value] of Object.entries(asStruct(origin, v))) {
    out[k] = typeof value === 'number' ? String(value) : asString(at(origin, k), value);
  }
  return out;
}

export function asEnum<T extends string>(origin: Origin, v: unknown, allowed: readonly T[]): T {
  if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
  throw malformed(origin, `one of ${allowed.join('|')}`, v);
}

/**
 * Reads the fields of one record. A missing required field is an error naming it; `fallback`
 * makes a field optional (peers and older xapi versions omit some).
 */
export function fieldsOf(origin: Origin, value: unknown) {
  const record = asStruct(origin, value);
  const read = <T>(name: string, decode: (o: Origin, v: unknown) => T, fallback?: { value: T }): T => {
    const o = at(origin, name);
    if (!(name in record) || record[name] === undefined) {
      if (fallback) return fallback.value;
      throw malformed(o, 'the field to be present', undefined);
    }
    return decode(o, record[name]);
  };
  const opt = <T>(v: T | undefined) => (v === undefined ? undefined : { value: v });
  return {
    raw: record,
    str: (name: string, fallback?: string) => read(name, asString, opt(fallback)),
    int: (name: string, fallback?: number) => read(name, asInt, opt(fallback)),
    float: (name: string, fallback?: number) => read(name, asFloat, opt(fallback)),
    bool: (name: string, fallback?: boolean) => read(name, asBool, opt(fallback)),
    date: (name: string, optional = false) => read(name, asDate, optional ? { value: null } : undefined),
    ref: (name: string, optional = false) => read(name, asRef, optional ? { value: null } : undefined),
    refs: (name: string, optional = false) => read(name, asRefSet, optional ? { value: [] } : undefined),
    strings: (name: string, optional = false) => read(name, asStringSet, optional ? { value: [] } : undefined),
    map: (name: string, optional = false) => read(name, asStringMap, optional ? { value: {} } : undefined),
    oneOf: <T extends string>(name: string, allowed: readonly T[], fallback?: T) =>
      read(name, (o, v) => asEnum(o, v, allowed), opt(fallback)),
  };
}
