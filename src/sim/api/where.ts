// get_all_records_where expressions (xapi's db_filter grammar): `field "<column>" = "<literal>"`,
// `and`, `or`, `not`, `true`, `false`, parentheses. Columns use double underscores between
// namespaces (name__label); values compare as their DB string form.

import { ApiError } from '../errors.js';
import { Double, formatDateTime, formatDouble, type RpcStruct, type RpcValue } from '../wire/values.js';

type Expr = { t: 'true' } | { t: 'false' } | { t: 'eq'; field: string; value: string } | { t: 'not'; e: Expr } | { t: 'and' | 'or'; a: Expr; b: Expr };
type Token = { k: 'word'; v: string } | { k: 'str'; v: string } | { k: 'sym'; v: string };

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) i++;
    else if (c === '(' || c === ')' || c === '=') {
      out.push({ k: 'sym', v: c });
      i++;
    } else if (c === '"') {
      let j = i + 1;
      let v = '';
      while (j < src.length && src[j] !== '"') {
        if (src[j] === '\\' && j + 1 < src.length) j++;
        v += src[j++];
      }
      if (j >= src.length) throw new Error('unterminated string');
      out.push({ k: 'str', v });
      i = j + 1;
    } else if (/[A-Za-z_]/.test(c)) {
      let j = i;
      while (j < src.length && /[A-Za-z_0-9]/.test(src[j]!)) j++;
      out.push({ k: 'word', v: src.slice(i, j).toLowerCase() });
      i = j;
    } else throw new Error(`unexpected character '${c}' at ${i}`);
  }
  return out;
}

function parse(tokens: Token[]): Expr {
  let pos = 0;
  const peek = (): Token | undefined => tokens[pos];
  const expectSym = (v: string): void => {
    const t = tokens[pos++];
    if (!t || t.k !== 'sym' || t.v !== v) throw new Error(`expected '${v}'`);
  };
  const expectStr = (): string => {
    const t = tokens[pos++];
    if (!t || t.k !== 'str') throw new Error('expected a quoted string');
    return t.v;
  };
  const orExpr = (): Expr => {
    let a = andExpr();
    while (peek()?.k === 'word' && peek()!.v === 'or') {
      pos++;
      a = { t: 'or', a, b: andExpr() };
    }
    return a;
  };
  const andExpr = (): Expr => {
    let a = unary();
    while (peek()?.k === 'word' && peek()!.v === 'and') {
      pos++;
      a = { t: 'and', a, b: unary() };
    }
    return a;
  };
  const unary = (): Expr => {
    const t = tokens[pos++];
    if (!t) throw new Error('unexpected end of expression');
    if (t.k === 'sym' && t.v === '(') {
      const e = orExpr();
      expectSym(')');
      return e;
    }
    if (t.k === 'word' && t.v === 'not') return { t: 'not', e: unary() };
    if (t.k === 'word' && t.v === 'true') return { t: 'true' };
    if (t.k === 'word' && t.v === 'false') return { t: 'false' };
    if (t.k === 'word' && t.v === 'field') {
      const field = expectStr();
      expectSym('=');
      return { t: 'eq', field, value: expectStr() };
    }
    throw new Error(`unexpected token ${t.v}`);
  };
  const e = orExpr();
  if (pos !== tokens.length) throw new Error(`trailing input at token ${pos}`);
  return e;
}

/** The DB string form of a field value. */
function dbString(v: RpcValue | undefined): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (v instanceof Date) return formatDateTime(v);
  if (v instanceof Double) return formatDouble(v.value);
  return JSON.stringify(v);
}

function evaluate(e: Expr, r: RpcStruct): boolean {
  switch (e.t) {
    case 'true':
      return true;
    case 'false':
      return false;
    case 'not':
      return !evaluate(e.e, r);
    case 'and':
      return evaluate(e.a, r) && evaluate(e.b, r);
    case 'or':
      return evaluate(e.a, r) || evaluate(e.b, r);
    case 'eq':
      return dbString(r[e.field.replace(/__/g, '_')]) === e.value;
  }
}

function fieldsOf(e: Expr): string[] {
  switch (e.t) {
    case 'eq':
      return [e.field];
    case 'not':
      return fieldsOf(e.e);
    case 'and':
    case 'or':
      return [...fieldsOf(e.a), ...fieldsOf(e.b)];
    default:
      return [];
  }
}

/**
 * Compiles a where-expression for a class with the given fields. As xapi: a syntax error is
 * INVALID_VALUE [expr, lexer failure], a field the class lacks is INTERNAL_ERROR
 * ["missing field", field, ""] (recorded: shared/xapi-traces 05).
 */
export function compileWhere(expr: string, fields?: string[]): (r: RpcStruct) => boolean {
  let ast: Expr;
  try {
    ast = parse(tokenize(expr));
  } catch {
    throw new ApiError('INVALID_VALUE', [expr, 'Failure("lexing: empty token")']);
  }
  const missing = fields ? fieldsOf(ast).find((f) => !fields.includes(f.replace(/__/g, '_'))) : undefined;
  if (missing !== undefined) throw new ApiError('INTERNAL_ERROR', ['missing field', missing, '']);
  return (r) => evaluate(ast, r);
}
