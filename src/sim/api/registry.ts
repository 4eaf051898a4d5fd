// The XenAPI method table and the dispatcher that applies xapi's generated-server rules in xapi's
// order: method lookup (unknown → MESSAGE_METHOD_UNKNOWN, after a session check when params were
// given), arity (counts exclude the session), unmarshalling (bad types → INTERNAL_ERROR), session
// check (SESSION_INVALID), then the body. Async.* runs the body inside a task.

import { ApiError, toDescription } from '../errors.js';
import type { CallLogEntry, SessionInfo, Sim, TaskRuntime } from '../state.js';
import { runInTask } from '../tasks.js';
import { Double, I4, isStruct, type RpcValue } from '../wire/values.js';

export type ParamType = 'string' | 'ref' | 'int' | 'float' | 'bool' | 'string_set' | 'string_map' | 'any';

export interface ParamSpec {
  name: string;
  type: ParamType;
  /** Present when the parameter may be omitted. */
  default?: RpcValue;
}

export type Transport = 'tcp' | 'unix';

export interface CallContext {
  sim: Sim;
  session: SessionInfo | null;
  transport: Transport;
  /** Wire name without the Async. prefix. */
  method: string;
  async: boolean;
  /** The parameters as sent, after the session (for variadic calls). */
  rawParams: RpcValue[];
  task: TaskRuntime | null;
  log: CallLogEntry;
  /** Runs a life-cycle body in a task (the Async call's own, or a sync call's short-lived one). */
  inTask(body: (task: TaskRuntime) => Promise<RpcValue>): Promise<RpcValue>;
}

export interface MethodSpec {
  name: string;
  params: ParamSpec[];
  session: boolean;
  /** Whether Async.<name> exists. */
  async?: boolean;
  run(ctx: CallContext, args: RpcValue[]): RpcValue | Promise<RpcValue>;
}

export type CallResult = { kind: 'success'; value: RpcValue } | { kind: 'failure'; description: string[] } | { kind: 'bare'; value: RpcValue };

export class Registry {
  readonly methods = new Map<string, MethodSpec>();
  private alternatives = new Map<string, string>();

  add(spec: MethodSpec): void {
    this.methods.set(spec.name, spec);
    this.alternatives.set(spec.name.replace('.', '_'), spec.name);
  }

  /** `Class.message`, or the alternative `Class_message` (synchronous calls only). */
  find(name: string): MethodSpec | undefined {
    return this.methods.get(name) ?? this.methods.get(this.alternatives.get(name) ?? '');
  }

  /** system.listMethods: xapi lists the synchronous names only (recorded: 01), never Async.*. */
  list(): string[] {
    const names: string[] = [];
    for (const spec of this.methods.values()) if (!spec.name.startsWith('sim.')) names.push(spec.name);
    return names.sort();
  }
}

/** How ocaml-rpc shows a value in its unmarshalling errors: S(text), Int(n), Bool(b), … */
function rpcShown(v: RpcValue): string {
  if (typeof v === 'string') return `S(${v})`;
  if (typeof v === 'number' || v instanceof I4) return `Int(${v instanceof I4 ? v.value : v})`;
  if (typeof v === 'boolean') return `Bool(${v})`;
  if (v instanceof Double) return `Float(${v.value})`;
  if (v instanceof Date) return `DateTime(${v.toISOString()})`;
  if (v === null) return 'Null';
  return Array.isArray(v) ? 'Enum(...)' : 'Dict(...)';
}

/** A parameter of the wrong type is INTERNAL_ERROR with ocaml-rpc's message (recorded: 05). */
function typeError(_method: string, _p: ParamSpec, v: RpcValue, expected: string): ApiError {
  return new ApiError('INTERNAL_ERROR', [`Failure("Expected ${expected}, got '${rpcShown(v)}'")`]);
}

/** Unmarshals one parameter the way ocaml-rpc does for its declared type. */
export function coerce(method: string, p: ParamSpec, v: RpcValue): RpcValue {
  switch (p.type) {
    case 'string':
    case 'ref':
      if (typeof v !== 'string') throw typeError(method, p, v, 'string');
      return v;
    case 'int':
      if (typeof v === 'number') return v;
      if (typeof v === 'string' && /^-?\d+$/.test(v.trim())) return Number(v.trim());
      throw typeError(method, p, v, 'int64');
    case 'float':
      if (typeof v === 'number') return v;
      if (v instanceof Double) return v.value;
      if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
      throw typeError(method, p, v, 'float');
    case 'bool':
      if (typeof v !== 'boolean') throw typeError(method, p, v, 'bool');
      return v;
    case 'string_set':
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw typeError(method, p, v, 'string set');
      return v;
    case 'string_map':
      if (!isStruct(v) || !Object.values(v).every((x) => typeof x === 'string')) throw typeError(method, p, v, 'string map');
      return v;
    case 'any':
      return v;
  }
}

function callerOf(session: SessionInfo | null, transport: Transport, remote: string): string {
  if (session) return session.originator ? `${session.user}/${session.originator}` : session.user || transport;
  return `${transport}:${remote}`;
}

function sessionFor(sim: Sim, ref: RpcValue): SessionInfo {
  const s = typeof ref === 'string' ? sim.sessions.get(ref) : undefined;
  if (!s) throw new ApiError('SESSION_INVALID', [typeof ref === 'string' ? ref : String(ref)]);
  s.lastActive = Date.now();
  return s;
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function dispatch(sim: Sim, registry: Registry, wireName: string, params: RpcValue[], transport: Transport, remote: string): Promise<CallResult> {
  if (wireName === 'system.listMethods') return { kind: 'bare', value: registry.list() };
  const isAsync = wireName.startsWith('Async.');
  const name = isAsync ? wireName.slice('Async.'.length) : wireName;
  const spec = registry.find(name);
  const log: CallLogEntry = { seq: sim.callLog.length + 1, t_ms: Date.now() - sim.clock.started, method: wireName, caller: `${transport}:${remote}`, transport, outcome: 'ok' };
  const internal = name.startsWith('sim.');
  if (!internal) sim.callLog.push(log);
  try {
    if (!internal && sim.faults.latencyMs > 0) await delay(sim.faults.latencyMs);
    if (!spec || (isAsync && spec.name !== name)) {
      if (params.length > 0) sessionFor(sim, params[0]!);
      throw new ApiError('MESSAGE_METHOD_UNKNOWN', [wireName]);
    }
    if (isAsync && !spec.async) throw new ApiError('Fault', [`No async mode for this operation (rpc: ${wireName})`]);
    const given = params.length - (spec.session ? 1 : 0);
    const required = spec.params.filter((p) => p.default === undefined).length;
    const hasDefaults = required < spec.params.length;
    if (given < required || (given > spec.params.length && !hasDefaults)) {
      throw new ApiError('MESSAGE_PARAMETER_COUNT_MISMATCH', [spec.name, String(required), String(Math.max(0, given))]);
    }
    if (spec.session) coerce(spec.name, { name: 'session_id', type: 'ref' }, params[0]!);
    const rest = spec.session ? params.slice(1) : params;
    const args = spec.params.map((p, i) => (i < rest.length ? coerce(spec.name, p, rest[i]!) : p.default!));
    const session = spec.session ? sessionFor(sim, params[0]!) : null;
    log.caller = callerOf(session, transport, remote);
    const injected = sim.faults.injected.get(wireName) ?? sim.faults.injected.get(name);
    if (injected && injected.count > 0) {
      injected.count--;
      throw new ApiError(injected.description[0]!, injected.description.slice(1));
    }
    if (spec.params[0]?.type === 'ref' && name.startsWith('VM.') && typeof args[0] === 'string') log.vm = args[0];
    const ctx: CallContext = {
      sim,
      session,
      transport,
      method: spec.name,
      async: isAsync,
      rawParams: rest,
      task: null,
      log,
      inTask(body) {
        if (ctx.task) return body(ctx.task);
        return runInTask(sim, spec.name, true, body, (ref) => (log.task = ref));
      },
    };
    if (isAsync) {
      const ref = await runInTask(sim, wireName, false, async (task) => {
        ctx.task = task;
        return spec.run(ctx, args);
      });
      log.task = String(ref);
      return { kind: 'success', value: ref };
    }
    return { kind: 'success', value: await spec.run(ctx, args) };
  } catch (err) {
    const description = toDescription(err);
    log.outcome = description[0]!;
    return { kind: 'failure', description };
  }
}
