// sim.* calls: fault injection and inspection for tests and benchmarks. They need no session and
// are not in system.listMethods (they are not XenAPI). Documented in docs/SIMULATOR.md.

import { ApiError } from '../errors.js';
import { guestWrite, swapHeldGuestMetrics } from '../guest.js';
import type { Sim } from '../state.js';
import { Double, VOID, type RpcStruct, type RpcValue } from '../wire/values.js';
import { loseEvents } from './events.js';
import type { Registry } from './registry.js';

/** A VM named by ref, uuid or name-label, as every sim.* call takes it. */
export function vmRefOf(sim: Sim, refOrUuidOrName: string): string {
  if (sim.db.get('VM', refOrUuidOrName)) return refOrUuidOrName;
  const byUuid = sim.db.refByUuid('VM', refOrUuidOrName);
  if (byUuid) return byUuid;
  for (const [ref, row] of sim.db.table('VM')) if (row.record.name_label === refOrUuidOrName) return ref;
  throw new ApiError('UUID_INVALID', ['VM', refOrUuidOrName]);
}

function timelineOf(sim: Sim, filter: string | undefined): RpcStruct {
  const out: RpcStruct = {};
  const wanted = filter ? vmRefOf(sim, filter) : undefined;
  for (const [ref, events] of sim.timeline) {
    if (wanted && ref !== wanted) continue;
    const vm = sim.db.get('VM', ref) ?? sim.destroyed.get(ref);
    out[ref] = {
      uuid: String(vm?.uuid ?? ''),
      name_label: String(vm?.name_label ?? ''),
      events: events.map((e) => {
        const r: RpcStruct = { t_ms: e.t_ms, sim_s: new Double(e.sim_s), event: e.event };
        if (e.task) r.task = e.task;
        if (e.detail) r.detail = e.detail;
        return r;
      }),
    };
  }
  return out;
}

export function addSimCalls(reg: Registry): void {
  const str = (name: string, def?: string) => ({ name, type: 'string' as const, ...(def !== undefined ? { default: def } : {}) });
  reg.add({
    name: 'sim.restart_toolstack',
    params: [{ name: 'seconds_down', type: 'float' }],
    session: false,
    run: (ctx, [seconds]) => {
      const s = seconds as number;
      if (!(s >= 0)) throw new ApiError('INVALID_VALUE', ['seconds_down', String(s), 'allowed: a number ≥ 0']);
      const restart = ctx.sim.restartToolstack;
      if (!restart) throw new ApiError('INTERNAL_ERROR', ['the simulator is not serving; nothing to restart']);
      // Answer first, then drop everything.
      setTimeout(() => restart(ctx.sim.clock.ms(s)), 50);
      return VOID;
    },
  });
  reg.add({
    name: 'sim.set_latency',
    params: [{ name: 'ms', type: 'float' }],
    session: false,
    run: (ctx, [ms]) => {
      const v = ms as number;
      if (!(v >= 0)) throw new ApiError('INVALID_VALUE', ['ms', String(v), 'allowed: milliseconds ≥ 0']);
      ctx.sim.faults.latencyMs = v;
      return VOID;
    },
  });
  reg.add({
    name: 'sim.inject_error',
    params: [{ name: 'method', type: 'string' }, { name: 'count', type: 'int' }, { name: 'code', type: 'string' }, { name: 'params', type: 'any', default: [] }],
    session: false,
    run: (ctx, args) => {
      // Variadic: sim.inject_error(method, count, code, p1, p2, …) or (method, count, code, [p…]).
      const [method, count, code] = args as [string, number, string];
      if (count < 0) throw new ApiError('INVALID_VALUE', ['count', String(count), 'allowed: an integer ≥ 0']);
      if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(code)) throw new ApiError('INVALID_VALUE', ['code', code, 'allowed: an error code such as HOST_STILL_BOOTING']);
      const extra = ctx.rawParams.slice(3);
      const params = extra.length === 1 && Array.isArray(extra[0]) ? (extra[0] as RpcValue[]) : extra;
      ctx.sim.faults.injected.set(method, { count, description: [code, ...params.map(String)] });
      return VOID;
    },
  });
  reg.add({
    name: 'sim.corrupt_field',
    params: [str('class'), str('ref'), str('field'), { name: 'value', type: 'any' }],
    session: false,
    run: (ctx, [cls, ref, field, value]) => {
      // A malformed record as a broken or newer xapi might send it: the value is served as given
      // (a string where an int belongs, a struct where a string belongs) until the next real write.
      const table = String(cls).toLowerCase();
      if (!ctx.sim.db.tables.has(table)) throw new ApiError('INVALID_VALUE', ['class', String(cls), `allowed: ${[...ctx.sim.db.tables.keys()].join(', ')}`]);
      const target = table === 'vm' ? vmRefOf(ctx.sim, ref as string) : (ctx.sim.db.refByUuid(table, ref as string) ?? (ref as string));
      if (!ctx.sim.db.get(table, target)) throw new ApiError('HANDLE_INVALID', [String(cls), String(ref)]);
      if (!(String(field) in ctx.sim.db.get(table, target)!)) throw new ApiError('INVALID_VALUE', ['field', String(field), `not a field of ${String(cls)}`]);
      ctx.sim.db.corrupt(table, target, field as string, value as RpcValue);
      return VOID;
    },
  });
  reg.add({
    name: 'sim.hold_starts',
    params: [{ name: 'vms', type: 'any', default: [] }],
    session: false,
    // A start that cannot finish before the next restart: tests cut off a start under way without racing the build.
    run: (ctx, [vms]) => {
      const only = Array.isArray(vms) ? vms.map((v) => vmRefOf(ctx.sim, String(v))) : [];
      ctx.sim.faults.holdStartsUntilRestart = true;
      ctx.sim.faults.holdStartsOf = only.length > 0 ? new Set(only) : null;
      return VOID;
    },
  });
  reg.add({
    name: 'sim.hold_hard_stops',
    params: [],
    session: false,
    // A hard stop still under way when the toolstack restarts, however slow the machine is.
    run: (ctx) => ((ctx.sim.faults.holdHardStopsUntilRestart = true), VOID),
  });
  reg.add({
    name: 'sim.release_starts',
    params: [],
    session: false,
    // The held starts go on (domain build and all) and later starts are no longer held: a start someone
    // else has in flight for exactly as long as a test needs.
    run: (ctx) => {
      const { faults } = ctx.sim;
      faults.holdStartsUntilRestart = false;
      faults.holdStartsOf = null;
      const held = [...faults.heldStarts];
      faults.heldStarts.clear();
      for (const release of held) release();
      return VOID;
    },
  });
  reg.add({ name: 'sim.lose_events', params: [], session: false, run: (ctx) => (loseEvents(ctx.sim), VOID) });
  reg.add({
    name: 'sim.set_master',
    params: [str('address')],
    session: false,
    run: (ctx, [address]) => {
      ctx.sim.faults.master = address as string;
      return VOID;
    },
  });
  reg.add({
    name: 'sim.xenstore_write',
    params: [str('vm'), str('path'), str('value')],
    session: false,
    run: (ctx, [vm, path, value]) => {
      const ref = vmRefOf(ctx.sim, vm as string);
      if (!guestWrite(ctx.sim, ref, path as string, value as string)) throw new ApiError('VM_BAD_POWER_STATE', [ref, 'running', String(ctx.sim.db.get('VM', ref)?.power_state).toLowerCase()]);
      return VOID;
    },
  });
  reg.add({
    name: 'sim.swap_guest_metrics',
    params: [str('vm')],
    session: false,
    run: (ctx, [vm]) => {
      const ref = vmRefOf(ctx.sim, vm as string);
      if (!swapHeldGuestMetrics(ctx.sim, ref)) throw new ApiError('INVALID_VALUE', ['vm', vm as string, 'allowed: a running guest whose start holds its guest-metrics swap (behaviour metrics_swap = held)']);
      return VOID;
    },
  });
  reg.add({
    name: 'sim.get_call_log',
    params: [{ name: 'since_seq', type: 'int', default: 0 }],
    session: false,
    run: (ctx, [since]) =>
      ctx.sim.callLog
        .filter((e) => e.seq > (since as number))
        .map((e) => {
          const r: RpcStruct = { seq: e.seq, t_ms: e.t_ms, method: e.method, caller: e.caller, transport: e.transport, outcome: e.outcome };
          if (e.vm) r.vm = e.vm;
          if (e.task) r.task = e.task;
          return r;
        }),
  });
  reg.add({
    name: 'sim.get_call_counts',
    params: [],
    session: false,
    run: (ctx) => {
      const byMethod: Record<string, number> = {};
      const byVm: Record<string, number> = {};
      for (const e of ctx.sim.callLog) {
        byMethod[e.method] = (byMethod[e.method] ?? 0) + 1;
        if (e.vm) byVm[e.vm] = (byVm[e.vm] ?? 0) + 1;
      }
      return { total: ctx.sim.callLog.length, by_method: byMethod, by_vm: byVm };
    },
  });
  reg.add({ name: 'sim.get_timeline', params: [str('vm', '')], session: false, run: (ctx, [vm]) => timelineOf(ctx.sim, (vm as string) || undefined) });
  reg.add({
    name: 'sim.get_info',
    params: [],
    session: false,
    run: (ctx) => {
      const { sim } = ctx;
      const host = sim.db.get('host', sim.hostRef)!;
      const dom0 = [...sim.db.table('VM').values()].find((r) => r.record.is_control_domain === true && r.record.resident_on === sim.hostRef);
      return {
        pool: sim.poolRef,
        host: sim.hostRef,
        host_uuid: String(host.uuid),
        control_domain_uuid: String(dom0?.record.uuid ?? ''),
        time_scale: new Double(sim.clock.timeScale),
        generation: sim.db.generation,
        sessions: sim.sessions.size,
        tasks_pending: sim.tasks.size,
        toolstack_restarts: sim.toolstackRestarts,
        connections_accepted: sim.connections.accepted,
        connections_open: sim.connections.open,
      };
    },
  });
}
