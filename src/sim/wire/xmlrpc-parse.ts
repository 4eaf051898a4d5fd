// Parses an XML-RPC methodCall into a method name and decoded parameters, accepting what xapi
// accepts: <int>/<i4>/<i8>, <string> or untyped text, <boolean>, <double>, <dateTime.iso8601>,
// <array>, <struct>, <nil/>. Anything malformed (including a methodCall without <params>) throws
// XmlRpcParseError, which the HTTP layer turns into xapi's HTTP 500.

import sax from 'sax';
import { Double, parseDateTime, type RpcStruct, type RpcValue } from './values.js';

export class XmlRpcParseError extends Error {
  override name = 'XmlRpcParseError';
}

export interface MethodCall {
  method: string;
  params: RpcValue[];
}

interface ValueFrame {
  kind: 'value';
  text: string;
  typed: boolean;
  result: RpcValue | undefined;
}
interface ScalarFrame {
  kind: 'scalar';
  tag: string;
  text: string;
}
interface ArrayFrame {
  kind: 'array';
  items: RpcValue[];
}
interface StructFrame {
  kind: 'struct';
  members: RpcStruct;
  name: string | undefined;
}
interface TextFrame {
  kind: 'text';
  tag: string;
  text: string;
}
type Frame = ValueFrame | ScalarFrame | ArrayFrame | StructFrame | TextFrame;

const SCALARS = new Set(['string', 'int', 'i4', 'i8', 'boolean', 'double', 'datetime.iso8601', 'base64', 'nil']);

function decodeScalar(tag: string, text: string): RpcValue {
  switch (tag) {
    case 'string':
      return text;
    case 'int':
    case 'i4':
    case 'i8': {
      const t = text.trim();
      if (!/^[+-]?\d+$/.test(t)) throw new XmlRpcParseError(`<${tag}> holds "${text}", not an integer`);
      return Number(t);
    }
    case 'boolean': {
      const t = text.trim();
      if (t !== '0' && t !== '1') throw new XmlRpcParseError(`<boolean> holds "${text}"; allowed: 0 or 1`);
      return t === '1';
    }
    case 'double': {
      const n = Number(text.trim());
      if (text.trim() === '' || Number.isNaN(n)) throw new XmlRpcParseError(`<double> holds "${text}", not a number`);
      return new Double(n);
    }
    case 'datetime.iso8601': {
      const d = parseDateTime(text);
      if (!d) throw new XmlRpcParseError(`<dateTime.iso8601> holds "${text}"`);
      return d;
    }
    case 'base64':
      return Buffer.from(text.trim(), 'base64').toString('utf8');
    case 'nil':
      return null;
    default:
      throw new XmlRpcParseError(`unknown value type <${tag}>`);
  }
}

export function parseMethodCall(xml: string): MethodCall {
  const parser = sax.parser(true, { trim: false, normalize: false, lowercase: true });
  const stack: Frame[] = [];
  const path: string[] = [];
  let method: string | undefined;
  let params: RpcValue[] | undefined;
  let error: Error | undefined;

  const deliver = (v: RpcValue): void => {
    const top = stack[stack.length - 1];
    if (!top) {
      params?.push(v);
      return;
    }
    if (top.kind === 'value') {
      top.result = v;
      top.typed = true;
    } else if (top.kind === 'array') top.items.push(v);
    else if (top.kind === 'struct') {
      if (top.name === undefined) throw new XmlRpcParseError('struct member without <name>');
      top.members[top.name] = v;
      top.name = undefined;
    } else throw new XmlRpcParseError('value in an unexpected place');
  };

  parser.onerror = (e) => {
    error ??= e;
    throw e;
  };
  parser.onopentag = (node) => {
    const tag = node.name.toLowerCase();
    path.push(tag);
    if (tag === 'methodcall' || tag === 'param' || tag === 'data' || tag === 'member') return;
    if (tag === 'params') {
      params = [];
      return;
    }
    if (tag === 'methodname' || tag === 'name') {
      stack.push({ kind: 'text', tag, text: '' });
      return;
    }
    if (tag === 'value') stack.push({ kind: 'value', text: '', typed: false, result: undefined });
    else if (tag === 'array') stack.push({ kind: 'array', items: [] });
    else if (tag === 'struct') stack.push({ kind: 'struct', members: {}, name: undefined });
    else if (SCALARS.has(tag)) stack.push({ kind: 'scalar', tag, text: '' });
    else throw new XmlRpcParseError(`unexpected element <${node.name}>`);
  };
  parser.ontext = (t) => {
    const top = stack[stack.length - 1];
    if (top && (top.kind === 'value' || top.kind === 'scalar' || top.kind === 'text')) top.text += t;
  };
  parser.oncdata = parser.ontext;
  parser.onclosetag = (name) => {
    const tag = name.toLowerCase();
    path.pop();
    if (tag === 'methodcall' || tag === 'param' || tag === 'data' || tag === 'member' || tag === 'params') return;
    const top = stack.pop();
    if (!top) throw new XmlRpcParseError(`unbalanced </${name}>`);
    if (top.kind === 'text') {
      if (top.tag === 'methodname') method = top.text.trim();
      else {
        const parent = stack[stack.length - 1];
        if (!parent || parent.kind !== 'struct') throw new XmlRpcParseError('<name> outside a struct member');
        parent.name = top.text;
      }
      return;
    }
    if (top.kind === 'value') deliver(top.typed ? top.result! : top.text);
    else if (top.kind === 'array') deliver(top.items);
    else if (top.kind === 'struct') deliver(top.members);
    else deliver(decodeScalar(top.tag, top.text));
  };

  try {
    parser.write(xml).close();
  } catch (e) {
    throw e instanceof XmlRpcParseError ? e : new XmlRpcParseError(error?.message ?? (e as Error).message);
  }
  if (method === undefined) throw new XmlRpcParseError('methodCall without <methodName>');
  if (params === undefined) throw new XmlRpcParseError('methodCall without <params>');
  return { method, params };
}
