// The value model shared by both wire codecs. xapi's encoding depends on the declared type, not on
// the JS type, so the types that JS cannot tell apart carry a wrapper:
//   plain integer number  → int64 (XML-RPC: untyped string, JSON-RPC: number)
//   Double                → float (XML-RPC <double> printed %.16g)
//   I4                    → int32 (<i4>, only event.from's valid_ref_counts)
//   Date                  → datetime (<dateTime.iso8601>YYYYMMDDTHH:MM:SSZ)
// Strings, booleans, arrays (sets) and plain objects (maps/structs) map directly. Void is ''.

export class Double {
  constructor(readonly value: number) {}
}

export class I4 {
  constructor(readonly value: number) {}
}

export type RpcValue = string | number | boolean | Date | Double | I4 | null | RpcValue[] | RpcStruct;
export interface RpcStruct {
  [key: string]: RpcValue;
}

/** A void result: xapi sends `<value></value>`. */
export const VOID = '';

export const NULL_REF = 'OpaqueRef:NULL';
export const EPOCH = new Date(0);

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** xapi's datetime format: `%04i%02i%02iT%02i:%02i:%02iZ` in UTC. */
export function formatDateTime(d: Date): string {
  return (
    pad(d.getUTCFullYear(), 4) +
    pad(d.getUTCMonth() + 1) +
    pad(d.getUTCDate()) +
    'T' +
    pad(d.getUTCHours()) +
    ':' +
    pad(d.getUTCMinutes()) +
    ':' +
    pad(d.getUTCSeconds()) +
    'Z'
  );
}

/** Parses `YYYYMMDDTHH:MM:SS[Z]` (and the hyphenated ISO form); null when it is neither. */
export function parseDateTime(s: string): Date | null {
  const m = /^(\d{4})-?(\d{2})-?(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?Z?$/.exec(s.trim());
  if (!m) return null;
  return new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
}

/** OCaml's `%.16g`, which is how xapi prints floats. */
export function formatDouble(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  return String(Number(n.toPrecision(16)));
}

/** OCaml's `string_of_float` (e.g. "1200."), used in some error parameters. */
export function ocamlFloatString(n: number): string {
  const s = formatDouble(n);
  return /[.e]/.test(s) ? s : s + '.';
}

export function isStruct(v: unknown): v is RpcStruct {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date) && !(v instanceof Double) && !(v instanceof I4);
}

/** The name of a value's wire type, for error messages. */
export function typeName(v: RpcValue): string {
  if (v === null) return 'nil';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number') return 'int';
  if (typeof v === 'boolean') return 'boolean';
  if (v instanceof Date) return 'dateTime.iso8601';
  if (v instanceof Double) return 'double';
  if (v instanceof I4) return 'int';
  if (Array.isArray(v)) return 'array';
  return 'struct';
}
