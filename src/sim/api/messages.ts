// The message class (alerts XO and XenCenter show) and the session-less sim.set_ha, as recorded in
// ../shared/xapi-traces/09_pool_ops.jsonl: message.create checks the class name (case-insensitive,
// stored in its proper case) and that the object exists in that class, does not range-check the
// priority, and stamps whole seconds; messages come through event.from(["message"]).

import { ApiError } from '../errors.js';
import type { Sim } from '../state.js';
import { parseDateTime, VOID, type RpcStruct, type RpcValue } from '../wire/values.js';
import { addClassAccessors, recordOrThrow } from './objects.js';
import type { Registry } from './registry.js';

/** Message classes xapi knows (cls is an enum); the simulator can check objects of those it models. */
const MESSAGE_CLASSES = ['VM', 'Host', 'SR', 'Pool', 'VMPP', 'VMSS', 'PVS_proxy', 'VDI', 'Certificate'];

function messageClass(raw: string): string {
  const proper = MESSAGE_CLASSES.find((c) => c.toLowerCase() === raw.toLowerCase());
  if (!proper) throw new ApiError('INTERNAL_ERROR', ['Failure("Unknown tag/contents")']);
  return proper;
}

/** int64 on the wire: an <int> or a decimal string; anything else fails as xapi's Int64.of_string. */
function priorityOf(v: RpcValue): number {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^-?\d+$/.test(v.trim())) return Number(v.trim());
  throw new ApiError('INTERNAL_ERROR', ['Failure("Int64.of_string")']);
}

/** A dateTime, or a string in xapi's basic form ("20200101T00:00:00Z") or ISO 8601. */
function sinceOf(v: RpcValue): number {
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'string') {
    const d = parseDateTime(v) ?? (Number.isNaN(Date.parse(v)) ? null : new Date(v));
    if (d) return d.getTime();
  }
  throw new ApiError('INTERNAL_ERROR', [`Failure("Date.of_iso8601: ${String(v)}")`]);
}

function messages(sim: Sim, keep: (r: RpcStruct) => boolean = () => true): RpcStruct {
  const out: RpcStruct = {};
  for (const [ref, row] of sim.db.table('message')) if (keep(row.record)) out[ref] = row.record;
  return out;
}

const timeOf = (r: RpcStruct): number => (r.timestamp instanceof Date ? r.timestamp.getTime() : 0);

export function addMessages(reg: Registry): void {
  const self = { name: 'self', type: 'ref' as const };
  reg.add({
    name: 'message.create',
    params: [
      { name: 'name', type: 'string' },
      { name: 'priority', type: 'any' },
      { name: 'cls', type: 'string' },
      { name: 'obj_uuid', type: 'string' },
      { name: 'body', type: 'string' },
    ],
    session: true,
    run: (ctx, [name, priority, cls, objUuid, body]) => {
      const { sim } = ctx;
      const proper = messageClass(cls as string);
      const prio = priorityOf(priority!);
      const modelled = sim.db.tables.has(proper.toLowerCase());
      if (!modelled || !sim.db.refByUuid(proper, objUuid as string)) throw new ApiError('UUID_INVALID', [proper, objUuid as string]);
      const ref = sim.newRef();
      // xapi stamps whole seconds.
      const timestamp = new Date(Math.floor(Date.now() / 1000) * 1000);
      sim.db.insert('message', ref, { uuid: sim.uuid(), name: name as string, priority: prio, cls: proper, obj_uuid: objUuid as string, timestamp, body: body as string });
      return ref;
    },
  });
  const sample = { uuid: '', name: '', priority: 0, cls: '', obj_uuid: '', timestamp: new Date(0), body: '' };
  addClassAccessors(reg, { cls: 'message', sample, fieldGetters: false });
  reg.add({
    name: 'message.get_since',
    params: [{ name: 'since', type: 'any' }],
    session: true,
    run: (ctx, [since]) => {
      const t = sinceOf(since!);
      return messages(ctx.sim, (r) => timeOf(r) > t);
    },
  });
  reg.add({
    name: 'message.get',
    params: [{ name: 'cls', type: 'string' }, { name: 'obj_uuid', type: 'string' }, { name: 'since', type: 'any' }],
    session: true,
    run: (ctx, [cls, objUuid, since]) => {
      const proper = messageClass(cls as string);
      const t = sinceOf(since!);
      return messages(ctx.sim, (r) => r.cls === proper && r.obj_uuid === objUuid && timeOf(r) > t);
    },
  });
  reg.add({
    name: 'message.destroy',
    params: [self],
    session: true,
    run: (ctx, [ref]) => {
      recordOrThrow(ctx.sim, 'message', ref as string);
      ctx.sim.db.delete('message', ref as string);
      return VOID;
    },
  });
  reg.add({
    name: 'message.destroy_many',
    params: [{ name: 'messages', type: 'string_set' }],
    session: true,
    run: (ctx, [refs]) => {
      for (const ref of refs as string[]) ctx.sim.db.delete('message', ref);
      return VOID;
    },
  });
}

/** sim.set_ha(bool): pool.ha_enabled without heartbeat storage (enabling HA for real needs it). */
export function addSetHa(reg: Registry): void {
  reg.add({
    name: 'sim.set_ha',
    params: [{ name: 'enabled', type: 'bool' }],
    session: false,
    run: (ctx, [enabled]) => {
      for (const ref of ctx.sim.db.table('pool').keys()) ctx.sim.db.update('pool', ref, { ha_enabled: enabled as boolean });
      return VOID;
    },
  });
}
