// XML-RPC encoding exactly as xapi's ocaml-rpc writes it (non-strict mode): untyped strings, no
// whitespace, `<value></value>` for void. Built by string concatenation because a 1,000-guest
// VM.get_all_records is megabytes and must stay quick.

import { Double, I4, formatDateTime, formatDouble, type RpcValue } from './values.js';

const NEEDS_ESCAPE = /[&<>"\x00-\x08\x0b\x0c\x0e-\x1f]/;

/** Escapes & < > " and drops control characters other than tab, LF and CR. */
export function escapeXml(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 38) out += '&amp;';
    else if (c === 60) out += '&lt;';
    else if (c === 62) out += '&gt;';
    else if (c === 34) out += '&quot;';
    else if (c < 32 && c !== 9 && c !== 10 && c !== 13) continue;
    else out += s[i];
  }
  return out;
}

export function encodeValue(v: RpcValue): string {
  if (typeof v === 'string') return '<value>' + escapeXml(v) + '</value>';
  if (typeof v === 'number') return '<value>' + String(Math.trunc(v)) + '</value>';
  if (typeof v === 'boolean') return v ? '<value><boolean>1</boolean></value>' : '<value><boolean>0</boolean></value>';
  if (v === null) return '<value></value>';
  if (v instanceof Date) return '<value><dateTime.iso8601>' + formatDateTime(v) + '</dateTime.iso8601></value>';
  if (v instanceof Double) return '<value><double>' + formatDouble(v.value) + '</double></value>';
  if (v instanceof I4) return '<value><i4>' + String(v.value | 0) + '</i4></value>';
  if (Array.isArray(v)) {
    let out = '<value><array><data>';
    for (const item of v) out += encodeValue(item);
    return out + '</data></array></value>';
  }
  let out = '<value><struct>';
  for (const key in v) {
    out += '<member><name>' + key + '</name>' + encodeValue(v[key]!) + '</member>';
  }
  return out + '</struct></value>';
}

const HEAD = '<?xml version="1.0"?><methodResponse><params><param>';
const TAIL = '</param></params></methodResponse>';

export function encodeSuccess(value: RpcValue): string {
  return HEAD + '<value><struct><member><name>Status</name><value>Success</value></member><member><name>Value</name>' + encodeValue(value) + '</member></struct></value>' + TAIL;
}

export function encodeFailure(description: string[]): string {
  return HEAD + '<value><struct><member><name>Status</name><value>Failure</value></member><member><name>ErrorDescription</name>' + encodeValue(description) + '</member></struct></value>' + TAIL;
}

/** A response without the Status envelope (only system.listMethods). */
export function encodeBare(value: RpcValue): string {
  return HEAD + encodeValue(value) + TAIL;
}
