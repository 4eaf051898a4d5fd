// Reading the recorded real-xapi traces (../shared/xapi-traces, beside the clone) and turning both
// the recorded answers and the simulator's raw bytes into one typed model, so that the comparison
// sees wire types (untyped string, <i4>, <double>, <boolean>, <dateTime.iso8601>, struct, array;
// JSON string / integer / fraction number) and not only JS values.
//
// Parsers here are written for the test on purpose: the simulator's own codecs are what is judged,
// so they cannot also be the judge.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export type Typed =
  | { t: 'str'; v: string }
  | { t: 'int'; v: string }
  | { t: 'double'; v: number }
  | { t: 'bool'; v: boolean }
  | { t: 'date'; v: string }
  | { t: 'nil' }
  | { t: 'struct'; v: Map<string, Typed> }
  | { t: 'array'; v: Typed[] };

/** Where the traces are: $XEN_GUESTS_TRACES_DIR, else `shared/xapi-traces` beside the repository. */
export function tracesDir(): string {
  const repo = resolve(import.meta.dirname, '../..');
  return process.env.XEN_GUESTS_TRACES_DIR ?? resolve(repo, '../shared/xapi-traces');
}

export function tracesPresent(dir = tracesDir()): boolean {
  return existsSync(dir) && readdirSync(dir).some((f) => f.endsWith('.jsonl'));
}

/**
 * A contributor's clone without `../shared` skips the replay; a run that names the traces
 * (.ci/run sets XEN_GUESTS_TRACES_DIR) must not pass quietly without them.
 */
export function missingTracesAreAnError(): boolean {
  return process.env.XEN_GUESTS_TRACES_DIR !== undefined;
}

export const MISSING_TRACES = (dir: string): string =>
  `no recorded traces at ${dir} (put shared/xapi-traces beside the clone or set XEN_GUESTS_TRACES_DIR)`;

// JSON numbers with a fraction or exponent are floats (Python's json wrote 0.0, not 0); everything
// else is an integer. Node 20's JSON.parse cannot tell 1.0 from 1, so floats are wrapped first.
// Strings are matched as a whole by the first alternative, so digits inside strings are left alone.
const FLOAT_OR_STRING = /"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+(?:[eE][-+]?\d+)?|[eE][-+]?\d+)/g;
const DOUBLE_KEY = '__double__';

export function parseJsonKeepingFloats(text: string): unknown {
  const marked = text.replace(FLOAT_OR_STRING, (m) => (m.startsWith('"') ? m : `{"${DOUBLE_KEY}":"${m}"}`));
  return JSON.parse(marked);
}

/** A JSON value (from the recording, or a JSON-RPC body) in the typed model. */
export function typedFromJson(v: unknown): Typed {
  if (v === null) return { t: 'nil' };
  if (typeof v === 'string') return { t: 'str', v };
  if (typeof v === 'boolean') return { t: 'bool', v };
  if (typeof v === 'number') return { t: 'int', v: String(v) };
  if (Array.isArray(v)) return { t: 'array', v: v.map(typedFromJson) };
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length === 1 && keys[0] === DOUBLE_KEY) return { t: 'double', v: Number(o[DOUBLE_KEY]) };
  if (keys.length === 1 && keys[0] === '__dateTime.iso8601') return { t: 'date', v: String(o['__dateTime.iso8601']) };
  return { t: 'struct', v: new Map(keys.map((k) => [k, typedFromJson(o[k])])) };
}

/** A canonical text of a typed value (struct members sorted), to find a recorded answer again. */
export function canonical(v: Typed): string {
  switch (v.t) {
    case 'struct':
      return `{${[...v.v].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`).join(',')}}`;
    case 'array':
      return `[${v.v.map(canonical).join(',')}]`;
    case 'nil':
      return 'nil';
    default:
      return `${v.t}:${JSON.stringify(v.v)}`;
  }
}

/** Back to plain JSON-able values (for sending recorded parameters). */
export function plain(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (DOUBLE_KEY in o) return Number(o[DOUBLE_KEY]);
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, plain(x)]));
  }
  return v;
}

export interface RecordedCall {
  file: string;
  line: number;
  call: string;
  params: unknown;
  response: unknown;
  transport: 'xml' | 'json';
  http_status: string;
  http_headers: Array<[string, string]>;
  duration_s?: number;
  endpoint?: string;
  note?: string;
}

export interface Scenario {
  file: string;
  calls: RecordedCall[];
}

export function loadScenarios(dir = tracesDir()): Scenario[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .sort()
    .map((file) => ({
      file,
      calls: readFileSync(join(dir, file), 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l, i) => {
          const raw = parseJsonKeepingFloats(l) as Omit<RecordedCall, 'file' | 'line'>;
          // Only params and response keep their float markers (they are compared and sent typed).
          return { ...raw, duration_s: plain(raw.duration_s) as number | undefined, file, line: i + 1 };
        }),
    }));
}

// ---- XML-RPC: a small tokenizer-based reader of methodResponse bodies --------------------------

function unescapeXml(s: string): string {
  return s.replace(/&(lt|gt|amp|quot|apos|#(\d+)|#x([0-9a-fA-F]+));/g, (_m, name: string, dec?: string, hex?: string) => {
    if (dec) return String.fromCodePoint(Number(dec));
    if (hex) return String.fromCodePoint(parseInt(hex, 16));
    return ({ lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" } as Record<string, string>)[name]!;
  });
}

type Token = { kind: 'open' | 'close' | 'empty'; name: string } | { kind: 'text'; text: string };

function tokenize(xml: string): Token[] {
  const out: Token[] = [];
  const re = /<\?[^>]*\?>|<(\/?)([A-Za-z_][\w.\-]*)\s*(\/?)>|([^<]+)/g;
  for (let m = re.exec(xml); m; m = re.exec(xml)) {
    if (m[0].startsWith('<?')) continue;
    if (m[4] !== undefined) out.push({ kind: 'text', text: unescapeXml(m[4]) });
    else out.push({ kind: m[1] ? 'close' : m[3] ? 'empty' : 'open', name: m[2]! });
  }
  return out;
}

class Reader {
  private i = 0;
  constructor(private readonly tokens: Token[]) {}

  private next(): Token {
    const t = this.tokens[this.i++];
    if (!t) throw new Error('XML ended early');
    return t;
  }

  private peek(): Token | undefined {
    return this.tokens[this.i];
  }

  open(name: string): void {
    const t = this.next();
    if (t.kind !== 'open' || t.name !== name) throw new Error(`expected <${name}>, got ${JSON.stringify(t)}`);
  }

  close(name: string): void {
    const t = this.next();
    if (t.kind !== 'close' || t.name !== name) throw new Error(`expected </${name}>, got ${JSON.stringify(t)}`);
  }

  text(): string {
    const t = this.peek();
    if (t?.kind === 'text') {
      this.i++;
      return t.text;
    }
    return '';
  }

  isClose(name: string): boolean {
    const t = this.peek();
    return t?.kind === 'close' && t.name === name;
  }

  value(): Typed {
    this.open('value');
    const first = this.peek();
    if (first?.kind === 'text' || this.isClose('value')) {
      const s = this.text();
      this.close('value');
      return { t: 'str', v: s };
    }
    const t = this.next();
    if (t.kind === 'empty') {
      this.close('value');
      if (t.name === 'nil') return { t: 'nil' };
      if (t.name === 'string') return { t: 'str', v: '' };
      throw new Error(`unexpected <${t.name}/>`);
    }
    if (t.kind !== 'open') throw new Error(`unexpected ${JSON.stringify(t)} in <value>`);
    let out: Typed;
    switch (t.name) {
      case 'string':
        out = { t: 'str', v: this.text() };
        break;
      case 'i4':
      case 'int':
      case 'i8':
        out = { t: 'int', v: this.text().trim() };
        break;
      case 'double':
        out = { t: 'double', v: Number(this.text()) };
        break;
      case 'boolean':
        out = { t: 'bool', v: this.text().trim() === '1' };
        break;
      case 'dateTime.iso8601':
        out = { t: 'date', v: this.text().trim() };
        break;
      case 'struct': {
        const members = new Map<string, Typed>();
        while (!this.isClose('struct')) {
          this.open('member');
          this.open('name');
          const name = this.text();
          this.close('name');
          members.set(name, this.value());
          this.close('member');
        }
        out = { t: 'struct', v: members };
        break;
      }
      case 'array': {
        const items: Typed[] = [];
        const data = this.next();
        if (data.kind === 'open' && data.name === 'data') {
          while (!this.isClose('data')) items.push(this.value());
          this.close('data');
        } else if (!(data.kind === 'empty' && data.name === 'data')) throw new Error('expected <data>');
        out = { t: 'array', v: items };
        break;
      }
      default:
        throw new Error(`unknown XML-RPC type <${t.name}>`);
    }
    this.close(t.name);
    this.close('value');
    return out;
  }
}

/** The single value of a methodResponse body. */
export function typedFromXmlResponse(xml: string): Typed {
  const r = new Reader(tokenize(xml));
  r.open('methodResponse');
  r.open('params');
  r.open('param');
  const v = r.value();
  r.close('param');
  r.close('params');
  r.close('methodResponse');
  return v;
}

export function typedFromJsonBody(body: string): Typed {
  return typedFromJson(parseJsonKeepingFloats(body));
}

// ---- requests as the recording client (Python's xmlrpc.client) wrote them ------------------------

function escape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Encodes a recorded parameter (floats wrapped, dates as the marker) like xmlrpc.client does. */
export function xmlParam(v: unknown): string {
  if (v === null || v === undefined) return '<value><nil/></value>';
  if (typeof v === 'string') return `<value><string>${escape(v)}</string></value>`;
  if (typeof v === 'boolean') return `<value><boolean>${v ? 1 : 0}</boolean></value>`;
  if (typeof v === 'number') return `<value><int>${v}</int></value>`;
  if (Array.isArray(v)) return `<value><array><data>${v.map(xmlParam).join('')}</data></array></value>`;
  const o = v as Record<string, unknown>;
  if (DOUBLE_KEY in o) return `<value><double>${String(o[DOUBLE_KEY])}</double></value>`;
  if ('__dateTime.iso8601' in o) return `<value><dateTime.iso8601>${String(o['__dateTime.iso8601'])}</dateTime.iso8601></value>`;
  return `<value><struct>${Object.entries(o)
    .map(([k, x]) => `<member><name>${escape(k)}</name>${xmlParam(x)}</member>`)
    .join('')}</struct></value>`;
}

export function xmlRequest(method: string, params: unknown[]): string {
  return `<?xml version='1.0'?>\n<methodCall>\n<methodName>${escape(method)}</methodName>\n<params>\n${params.map((p) => `<param>\n${xmlParam(p)}\n</param>\n`).join('')}</params>\n</methodCall>\n`;
}
