// Runtime shape checks for what the state directory holds. A file is data from the past (an older
// version of us, an admin's editor, a disk error): trust nothing, and say exactly where it is wrong.

/** A check returns null when the value fits, else what is wrong at `path`. */
export type Check = (value: unknown, path: string) => string | null;

const describe = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'string' ? `"${v.length > 40 ? v.slice(0, 40) + '…' : v}"` : typeof v);

export const str: Check = (v, p) => (typeof v === 'string' ? null : `${p}: expected a string, found ${describe(v)}`);

export const num: Check = (v, p) => (typeof v === 'number' && Number.isFinite(v) ? null : `${p}: expected a number, found ${describe(v)}`);

export const bool: Check = (v, p) => (typeof v === 'boolean' ? null : `${p}: expected true or false, found ${describe(v)}`);

/** Any JSON value (parts owned by other modules, checked there). */
export const any: Check = () => null;

export function isoTime(v: unknown, p: string): string | null {
  if (typeof v !== 'string' || Number.isNaN(Date.parse(v))) return `${p}: expected an ISO timestamp, found ${describe(v)}`;
  return null;
}

export function oneOf(allowed: readonly string[]): Check {
  return (v, p) => (typeof v === 'string' && allowed.includes(v) ? null : `${p}: expected one of ${allowed.join(', ')}, found ${describe(v)}`);
}

export function nullable(check: Check): Check {
  return (v, p) => (v === null ? null : check(v, p));
}

export function arrayOf(check: Check): Check {
  return (v, p) => {
    if (!Array.isArray(v)) return `${p}: expected an array, found ${describe(v)}`;
    for (let i = 0; i < v.length; i++) {
      const problem = check(v[i], `${p}[${i}]`);
      if (problem) return problem;
    }
    return null;
  };
}

export function recordOf(check: Check): Check {
  return (v, p) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return `${p}: expected an object, found ${describe(v)}`;
    for (const [k, item] of Object.entries(v)) {
      const problem = check(item, `${p}.${k}`);
      if (problem) return problem;
    }
    return null;
  };
}

const optionals = new WeakSet<Check>();

/** A field an older version did not write: absent is fine, present must pass `check`. */
export function optional(check: Check): Check {
  const c: Check = (v, p) => check(v, p);
  optionals.add(c);
  return c;
}

/** An object with at least these fields (extra fields are allowed: a newer version may add some). */
export function object(fields: Record<string, Check>): Check {
  return (v, p) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return `${p}: expected an object, found ${describe(v)}`;
    const record = v as Record<string, unknown>;
    for (const [name, check] of Object.entries(fields)) {
      const where = p ? `${p}.${name}` : name;
      if (!(name in record)) {
        if (optionals.has(check)) continue;
        return `${where}: missing`;
      }
      const problem = check(record[name], where);
      if (problem) return problem;
    }
    return null;
  };
}
