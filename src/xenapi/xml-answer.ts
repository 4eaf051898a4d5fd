// A streaming decoder for xapi's XML-RPC answers. xapi writes a small, fixed subset of XML-RPC
// (methodResponse → params → one value; structs, arrays, untyped strings, <int>/<i4>/<i8>,
// <boolean>, <double>, <dateTime.iso8601>, <base64>, <nil/>; no attributes, comments, CDATA or
// DTD), and a 1,000-guest VM.get_all_records is ~7 MB of it. A general XML parser (sax, under the
// `xmlrpc` package) spends most of its time on what xapi never sends; this one scans tags with
// indexOf and builds values as they close, chunk by chunk as the answer arrives, so the text of the
// whole answer is never held at once.
//
// Values come out as the session layer and the decoders (decode.ts) read them: untyped values and
// <string> as strings, <int>/<i4> as numbers, <i8> as its decimal string (int64 may pass 2^53),
// <double> as a number, <boolean> as true/false, <dateTime.iso8601> as its text (decode.ts reads
// it as UTC, as xapi means it — the JSON-RPC path carries the same string), <base64> as a Buffer,
// <nil/> as null. Anything outside the subset is an error naming what was found and where.

/** What went wrong, with the offending text; the caller adds the method and the host. */
export class XmlAnswerError extends Error {
  override name = 'XmlAnswerError';
}

const ENTITY = /&(#x[0-9a-fA-F]+|#[0-9]+|[A-Za-z]+)?(;?)/g;
const NAMED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function unescapeXml(raw: string): string {
  if (!raw.includes('&')) return raw;
  return raw.replace(ENTITY, (whole, body: string | undefined, semicolon: string) => {
    if (body === undefined || semicolon === '') throw new XmlAnswerError(`a bare "&" or an unterminated entity: "${whole}"`);
    if (body.startsWith('#')) {
      const code = body[1] === 'x' ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
      if (!(code >= 0 && code <= 0x10ffff)) throw new XmlAnswerError(`bad character reference "${whole}"`);
      return String.fromCodePoint(code);
    }
    const named = NAMED[body];
    if (named === undefined) throw new XmlAnswerError(`unknown entity "${whole}"; XML-RPC has only &lt; &gt; &amp; &quot; &apos; and character references`);
    return named;
  });
}

const INTEGER = /^[+-]?\d+$/;

function scalar(tag: string, raw: string): unknown {
  const text = unescapeXml(raw);
  switch (tag) {
    case 'string':
      return text;
    case 'int':
    case 'i4': {
      const t = text.trim();
      if (!INTEGER.test(t)) throw new XmlAnswerError(`<${tag}> holds "${t.slice(0, 40)}", not an integer`);
      return Number(t);
    }
    case 'i8': {
      const t = text.trim();
      if (!INTEGER.test(t)) throw new XmlAnswerError(`<i8> holds "${t.slice(0, 40)}", not an integer`);
      return t;
    }
    case 'double': {
      const n = Number(text.trim());
      if (text.trim() === '' || Number.isNaN(n)) throw new XmlAnswerError(`<double> holds "${text.trim().slice(0, 40)}", not a number`);
      return n;
    }
    case 'boolean': {
      const t = text.trim();
      if (t === '1') return true;
      if (t === '0') return false;
      throw new XmlAnswerError(`<boolean> holds "${t.slice(0, 40)}"; allowed: 0, 1`);
    }
    case 'dateTime.iso8601':
      return text.trim();
    case 'base64':
      return Buffer.from(text.replace(/\s+/g, ''), 'base64');
    case 'nil':
      return null;
  }
  throw new XmlAnswerError(`<${tag}> is not an XML-RPC type`);
}

/**
 * Below this length a slice is already a copy (V8's SlicedString::kMinLength); from it on, a slice
 * is a view that keeps its whole parent string alive.
 */
const SHORTEST_VIEW = 13;

/**
 * `s` as a string of its own. A value sliced from the answer is a view into the chunk it came from
 * (V8 and JavaScriptCore both make long substrings views), so one uuid kept in a record would keep
 * its whole chunk of the answer alive for as long as the record lives. Measured on 1,000 VM records
 * read over XML-RPC: the decoded records held 10.3 MB of heap, 8.9 MB of it the answer's text,
 * against 1.4 MB read over JSON-RPC (BENCHMARKS.md, "XML-RPC decoding"). Concatenating makes a new
 * flat string; dropping the added character leaves a view of that small copy only.
 */
function ownCopy(s: string): string {
  return s.length < SHORTEST_VIEW ? s : (' ' + s).slice(1);
}

const SCALARS = new Set(['string', 'int', 'i4', 'i8', 'double', 'boolean', 'dateTime.iso8601', 'base64', 'nil']);

interface StructFrame {
  struct: Record<string, unknown>;
  /** The member name read last, waiting for its value. */
  name: string | null;
}
type Container = unknown[] | StructFrame;

export interface XmlAnswerDecoder {
  /** Feed the next piece of the answer (any split, even inside a tag). */
  write(text: string): void;
  /** The answer is complete: its value, or throws XmlAnswerError (an XML-RPC fault included). */
  end(): unknown;
}

/** A decoder for one methodResponse. */
export function createXmlAnswerDecoder(): XmlAnswerDecoder {
  /** Unconsumed input: a tag cut by the chunk boundary. */
  let pending = '';
  /** Raw text of the element being read (untyped value, scalar, member name), or null when text is not wanted. */
  let text: string | null = null;
  let scalarTag: string | null = null;
  const containers: Container[] = [];
  /** Per open <value>: whether a typed child was seen (else its text is the string). */
  const typed: boolean[] = [];
  let result: unknown = undefined;
  let haveResult = false;
  let sawResponse = false;
  let sawParams = false;
  let sawFault = false;
  let finished = false;

  function emit(decoded: unknown): void {
    const value = typeof decoded === 'string' ? ownCopy(decoded) : decoded;
    const top = containers[containers.length - 1];
    if (top === undefined) {
      if (haveResult) throw new XmlAnswerError('more than one value in the answer');
      result = value;
      haveResult = true;
    } else if (Array.isArray(top)) {
      top.push(value);
    } else {
      if (top.name === null) throw new XmlAnswerError('a struct member without a <name>');
      top.struct[top.name] = value;
      top.name = null;
    }
  }

  function markTyped(tag: string): void {
    if (typed.length === 0) throw new XmlAnswerError(`<${tag}> outside a <value>`);
    if (typed[typed.length - 1]) throw new XmlAnswerError(`<${tag}>: a <value> holds one type only`);
    typed[typed.length - 1] = true;
  }

  function open(tag: string): void {
    switch (tag) {
      case 'value':
        typed.push(false);
        text = '';
        return;
      case 'struct':
        markTyped(tag);
        containers.push({ struct: {}, name: null });
        text = null;
        return;
      case 'array':
        markTyped(tag);
        containers.push([]);
        text = null;
        return;
      case 'name':
        text = '';
        return;
      case 'member':
      case 'data':
      case 'param':
        text = null;
        return;
      case 'params':
        sawParams = true;
        return;
      case 'fault':
        sawFault = true;
        return;
      case 'methodResponse':
        sawResponse = true;
        return;
    }
    if (!SCALARS.has(tag)) throw new XmlAnswerError(`unexpected element <${tag}>`);
    markTyped(tag);
    scalarTag = tag;
    text = '';
  }

  function close(tag: string): void {
    switch (tag) {
      case 'value': {
        const wasTyped = typed.pop();
        if (wasTyped === undefined) throw new XmlAnswerError('</value> without <value>');
        if (!wasTyped) emit(unescapeXml(text ?? ''));
        text = null;
        return;
      }
      case 'struct': {
        const frame = containers.pop();
        if (frame === undefined || Array.isArray(frame)) throw new XmlAnswerError('</struct> does not close a struct');
        emit(frame.struct);
        return;
      }
      case 'array': {
        const items = containers.pop();
        if (!Array.isArray(items)) throw new XmlAnswerError('</array> does not close an array');
        emit(items);
        return;
      }
      case 'name': {
        const top = containers[containers.length - 1];
        if (top === undefined || Array.isArray(top)) throw new XmlAnswerError('<name> outside a struct');
        top.name = unescapeXml(text ?? '');
        text = null;
        return;
      }
      case 'member':
      case 'data':
      case 'param':
      case 'params':
      case 'fault':
        return;
      case 'methodResponse':
        finished = true;
        return;
    }
    if (tag !== scalarTag) throw new XmlAnswerError(`</${tag}> does not close the open element${scalarTag ? ` <${scalarTag}>` : ''}`);
    emit(scalar(tag, text ?? ''));
    scalarTag = null;
    text = null;
  }

  /** One tag's inside, without the angle brackets. */
  function tag(inside: string): void {
    const first = inside.charCodeAt(0);
    if (first === 47 /* / */) return close(nameOf(inside.slice(1)));
    if (first === 63 /* ? */) return; // the XML declaration
    if (first === 33 /* ! */) throw new XmlAnswerError(`unsupported XML construct "<${inside.slice(0, 20)}"`);
    if (inside.charCodeAt(inside.length - 1) === 47 /* / */) {
      const name = nameOf(inside.slice(0, -1));
      open(name);
      close(name);
      return;
    }
    open(nameOf(inside));
  }

  /** The element name: up to the first whitespace (xapi writes no attributes, but XML allows them). */
  function nameOf(inside: string): string {
    for (let i = 0; i < inside.length; i++) {
      const c = inside.charCodeAt(i);
      if (c === 32 || c === 9 || c === 10 || c === 13) return inside.slice(0, i);
    }
    return inside;
  }

  return {
    write(chunk) {
      if (finished && chunk.trim() === '') return;
      const input = pending === '' ? chunk : pending + chunk;
      pending = '';
      let pos = 0;
      for (;;) {
        const lt = input.indexOf('<', pos);
        if (lt === -1) {
          if (text !== null) text += input.slice(pos);
          else if (input.slice(pos).trim() !== '') throw new XmlAnswerError(`text "${input.slice(pos, pos + 40).trim()}" where no value is`);
          return;
        }
        if (lt > pos && text !== null) text += input.slice(pos, lt);
        const gt = input.indexOf('>', lt + 1);
        if (gt === -1) {
          pending = input.slice(lt);
          return;
        }
        tag(input.slice(lt + 1, gt));
        pos = gt + 1;
      }
    },
    end() {
      if (pending !== '') throw new XmlAnswerError(`the answer ends inside a tag: "${pending.slice(0, 40)}"`);
      if (!sawResponse || !finished) throw new XmlAnswerError('not a complete XML-RPC methodResponse');
      if (!haveResult) throw new XmlAnswerError('a methodResponse without a value');
      if (sawFault) {
        const fault = result as Record<string, unknown> | null;
        throw new XmlAnswerError(`XML-RPC fault ${String(fault?.['faultCode'] ?? '?')}: ${String(fault?.['faultString'] ?? '')}`);
      }
      if (!sawParams) throw new XmlAnswerError('a methodResponse without params or fault');
      return result;
    },
  };
}

/** Decodes one XML-RPC value as text, e.g. a task's result ('<value>OpaqueRef:…</value>'). */
export function decodeXmlValue(valueText: string): unknown {
  const decoder = createXmlAnswerDecoder();
  decoder.write(`<methodResponse><params><param>${valueText}</param></params></methodResponse>`);
  return decoder.end();
}
