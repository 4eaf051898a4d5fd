// Wire-level fidelity: the simulator's bytes for an answer against the recorded bytes in raw/.
// Values are the replay's business (replay.ts); here it is how they are written: which element or
// JSON type carries each field (untyped string vs <string>, int64 as a string, <i4>, how a double,
// a date, an empty map or array is written), the order of the fields, no whitespace between tags,
// no self-closing forms xapi does not use. Ids and times are normalised away by only ever
// comparing encodings and field names (a ref as a map key is "ID").

const ID_KEY = /^(OpaqueRef:[0-9a-f-]{36}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|DummyRef:.*)$/;

export interface Shape {
  /** path → encoding, first occurrence per path (array items share the path "*"). */
  encodings: Map<string, string>;
  /** struct path → its member names in order (id keys as "ID"). */
  orders: Map<string, string[]>;
  /** Textual forms: whitespace between tags, self-closing tags used. */
  forms: Set<string>;
}

function keyOf(name: string): string {
  return ID_KEY.test(name) ? 'ID' : name;
}

function add(shape: Shape, path: string, encoding: string): void {
  if (!shape.encodings.has(path)) shape.encodings.set(path, encoding);
}

function doubleForm(text: string): string {
  return /^-?\d+$/.test(text) ? 'double(integral, no point)' : /^-?\d+\.\d+$/.test(text) ? 'double(point)' : `double(${text})`;
}

function dateForm(text: string): string {
  if (text === '19700101T00:00:00Z') return 'dateTime(epoch)';
  return /^\d{8}T\d\d:\d\d:\d\dZ$/.test(text) ? 'dateTime(YYYYMMDDTHH:MM:SSZ)' : `dateTime(${text})`;
}

/** The shape of an XML-RPC methodResponse body. */
export function xmlShape(body: string): Shape {
  let shape: Shape = { encodings: new Map(), orders: new Map(), forms: new Set() };
  if (/>\s+</.test(body.replace(/^<\?xml[^>]*\?>\s*/, ''))) shape.forms.add('whitespace between tags');
  for (const m of body.matchAll(/<([A-Za-z.0-9]+)\/>/g)) shape.forms.add(`<${m[1]}/>`);
  const tokens = [...body.matchAll(/<(\/?)([A-Za-z_][\w.\-]*)\s*(\/?)>|([^<]+)/g)].filter((t) => !t[0].startsWith('<?'));
  let i = 0;
  const next = () => tokens[i++];
  const peek = () => tokens[i];
  const isOpen = (t: RegExpMatchArray | undefined, name: string) => t && !t[1] && t[2] === name && !t[3];
  const isClose = (t: RegExpMatchArray | undefined, name: string) => t && t[1] === '/' && t[2] === name;
  let lastClass = '';
  function value(path: string): void {
    // An event's snapshot is a record of its class: shape each class on its own path.
    if (path.endsWith('.events.*')) return eventItem(path);
    plainValue(path);
  }
  function eventItem(path: string): void {
    const outer = shape;
    shape = { encodings: new Map(), orders: new Map(), forms: outer.forms };
    plainValue(path);
    const inner = shape;
    shape = outer;
    const at = path.replace(/\*$/, lastClass);
    for (const [p, e] of inner.encodings) add(shape, at + p.slice(path.length), e);
    for (const [p, o] of inner.orders) if (!shape.orders.has(at + p.slice(path.length))) shape.orders.set(at + p.slice(path.length), o);
  }
  function plainValue(path: string): void {
    next(); // <value>
    const t = peek();
    if (!t || t[4] !== undefined || isClose(t, 'value')) {
      const text = t && t[4] !== undefined ? (next(), t[4]) : '';
      next(); // </value>
      if (path.endsWith('.class')) lastClass = text;
      add(shape, path, text === '' ? 'untyped(empty)' : 'untyped');
      return;
    }
    const tag = next()!;
    if (tag[3]) {
      next();
      add(shape, path, `<${tag[2]}/>`);
      return;
    }
    const name = tag[2]!;
    if (name === 'struct') {
      const members: string[] = [];
      while (!isClose(peek(), 'struct')) {
        next(); // <member>
        next(); // <name>
        const key = keyOf(peek()?.[4] ?? '');
        if (peek()?.[4] !== undefined) next();
        next(); // </name>
        members.push(key);
        value(`${path}.${key}`);
        next(); // </member>
      }
      next(); // </struct>
      if (!shape.orders.has(path)) shape.orders.set(path, members);
      add(shape, path, members.length ? 'struct' : 'struct(empty)');
    } else if (name === 'array') {
      const data = next()!; // <data> or <data/>
      let n = 0;
      if (!data[3]) {
        while (!isClose(peek(), 'data')) {
          value(`${path}.*`);
          n++;
        }
        next();
      }
      next(); // </array>
      add(shape, path, n ? 'array' : data[3] ? 'array(<data/>)' : 'array(empty)');
    } else {
      const text = peek()?.[4] !== undefined ? next()![4]! : '';
      next(); // </name>
      add(shape, path, name === 'double' ? doubleForm(text) : name === 'dateTime.iso8601' ? dateForm(text) : name === 'boolean' ? `boolean(${/^[01]$/.test(text) ? '0|1' : text})` : name);
    }
    next(); // </value>
  }
  while (i < tokens.length && !isOpen(peek(), 'value')) next();
  if (i < tokens.length) value('');
  return shape;
}

/** The shape of a JSON body: JSON types (a float keeps its fraction), key order. */
export function jsonShape(body: string): Shape {
  const shape: Shape = { encodings: new Map(), orders: new Map(), forms: new Set() };
  if (/^\s|[{[,:]\s/.test(body)) shape.forms.add('whitespace between tokens');
  let i = 0;
  const ws = () => {
    while (/\s/.test(body[i] ?? '')) i++;
  };
  const str = (): string => {
    const start = i;
    i++;
    while (body[i] !== '"') i += body[i] === '\\' ? 2 : 1;
    i++;
    return JSON.parse(body.slice(start, i)) as string;
  };
  function value(path: string): void {
    ws();
    const c = body[i];
    if (c === '{') {
      i++;
      const keys: string[] = [];
      ws();
      while (body[i] !== '}') {
        ws();
        const key = keyOf(str());
        ws();
        i++; // :
        keys.push(key);
        value(`${path}.${key}`);
        ws();
        if (body[i] === ',') i++;
        ws();
      }
      i++;
      if (!shape.orders.has(path)) shape.orders.set(path, keys);
      add(shape, path, keys.length ? 'object' : 'object(empty)');
    } else if (c === '[') {
      i++;
      let n = 0;
      ws();
      while (body[i] !== ']') {
        value(`${path}.*`);
        n++;
        ws();
        if (body[i] === ',') i++;
        ws();
      }
      i++;
      add(shape, path, n ? 'array' : 'array(empty)');
    } else if (c === '"') {
      const s = str();
      add(shape, path, /^\d{8}T\d\d:\d\d:\d\dZ$/.test(s) ? 'string(datetime)' : 'string');
    } else {
      const m = /^(-?\d+(\.\d+)?([eE][-+]?\d+)?|true|false|null)/.exec(body.slice(i))!;
      i += m[0].length;
      add(shape, path, m[1] === 'true' || m[1] === 'false' ? 'bool' : m[1] === 'null' ? 'null' : m[2] || m[3] ? 'float(fraction)' : 'int');
    }
  }
  value('');
  return shape;
}

/**
 * Where the simulator writes the same answer differently. Paths present on one side only are
 * left to the replay (field sets); here only how common fields are written and ordered.
 */
export function shapeDifferences(recorded: Shape, sim: Shape): string[] {
  const out: string[] = [];
  for (const [path, enc] of recorded.encodings) {
    const other = sim.encodings.get(path);
    if (other === undefined || other === enc) continue;
    // Emptiness is a value, not an encoding: an empty and a filled map are both written as xapi does.
    const base = (e: string) => e.replace(/\(empty\)$/, '').replace(/^untyped$/, 'untyped').replace(/^dateTime\(epoch\)$/, 'dateTime(YYYYMMDDTHH:MM:SSZ)');
    if (base(enc) === base(other)) continue;
    out.push(`${path || '(top)'}: xapi writes ${enc}, the simulator ${other}`);
  }
  for (const [path, order] of recorded.orders) {
    const other = sim.orders.get(path);
    if (!other) continue;
    const common = order.filter((k) => other.includes(k));
    const otherCommon = other.filter((k) => order.includes(k));
    const dedupe = (a: string[]) => a.filter((k, j) => k !== 'ID' || a.indexOf(k) === j);
    if (dedupe(common).join(',') !== dedupe(otherCommon).join(',')) out.push(`${path || '(top)'}: members in another order: xapi ${dedupe(common).join(', ')} | simulator ${dedupe(otherCommon).join(', ')}`);
  }
  for (const form of sim.forms) if (!recorded.forms.has(form)) out.push(`the simulator writes ${form}; xapi does not`);
  return out;
}
