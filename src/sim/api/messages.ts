// XenAPI messages (alerts), as the recorded real xapi keeps them (shared/xapi-traces 09): create
// with xapi's checks (priority any int64, class by name in any case, the object must exist in that
// class), get_since / get / where, destroy, and the messages xapi writes itself on VM starts and
// forced shutdowns.

import { ApiError } from '../errors.js';
import type { Sim } from '../state.js';
import { VOID, parseDateTime, type RpcStruct, type RpcValue } from '../wire/values.js';
import { addClassAccessors, recordOrThrow } from './objects.js';
import type { Registry } from './registry.js';
import { int64 } from './vm-config.js';

/** message.cls values and the table each names (only those the simulator has can be the subject). */
const CLASSES: Record<string, string | null> = { VM: 'VM', Host: 'host', Pool: 'pool', SR: null, VMPP: null, VMSS: null, PVS_proxy: null, VDI: null, Certificate: null };

export function messageRecord(uuid: string, name: string, priority: number, cls: string, objUuid: string, body: string, now: Date): RpcStruct {
  // xapi keeps whole seconds.
  return { uuid, name, priority, cls, obj_uuid: objUuid, timestamp: new Date(Math.floor(now.getTime() / 1000) * 1000), body };
}

export function createMessage(sim: Sim, name: string, priority: number, cls: string, objUuid: string, body: string): string {
  const ref = sim.newRef();
  sim.db.insert('message', ref, messageRecord(sim.uuid(), name, priority, cls, objUuid, body, new Date()));
  return ref;
}

/** VM_STARTED, as xapi writes it after every successful start. */
export function vmStartedMessage(sim: Sim, vmRef: string, hostRef: string): void {
  const vm = sim.db.get('VM', vmRef);
  const host = sim.db.get('host', hostRef);
  if (!vm || !host) return;
  createMessage(sim, 'VM_STARTED', 5, 'VM', String(vm.uuid), `VM '${String(vm.name_label)}' (uuid: ${String(vm.uuid)}) started on host: ${String(host.name_label)} (uuid: ${String(host.uuid)})`);
}

/** VM_SHUTDOWN after a hard shutdown. */
export function vmForcedShutdownMessage(sim: Sim, vmRef: string): void {
  const vm = sim.db.get('VM', vmRef);
  if (vm) createMessage(sim, 'VM_SHUTDOWN', 5, 'VM', String(vm.uuid), `VM '${String(vm.name_label)}' (uuid: ${String(vm.uuid)}) shutdown forcibly`);
}

function classOf(v: RpcValue): string {
  const name = Object.keys(CLASSES).find((c) => typeof v === 'string' && c.toLowerCase() === v.toLowerCase());
  if (!name) throw new ApiError('INTERNAL_ERROR', ['Failure("Unknown tag/contents")']);
  return name;
}

function dateOf(v: RpcValue): Date {
  if (v instanceof Date) return v;
  const d = typeof v === 'string' ? parseDateTime(v) : null;
  if (!d) throw new ApiError('INTERNAL_ERROR', ['Failure("Expected a dateTime")']);
  return d;
}

function messagesWhere(sim: Sim, keep: (r: RpcStruct) => boolean): RpcStruct {
  const out: RpcStruct = {};
  for (const [ref, row] of sim.db.table('message')) if (keep(row.record)) out[ref] = row.record;
  return out;
}

export function addMessages(reg: Registry): void {
  addClassAccessors(reg, { cls: 'message', sample: messageRecord('', '', 0, '', '', '', new Date(0)), fieldGetters: false });
  reg.add({
    name: 'message.create',
    params: [
      { name: 'name', type: 'string' },
      { name: 'priority', type: 'any' },
      { name: 'cls', type: 'any' },
      { name: 'obj_uuid', type: 'string' },
      { name: 'body', type: 'string' },
    ],
    session: true,
    run: (ctx, [name, priority, cls, objUuid, body]) => {
      const p = int64(priority!);
      const c = classOf(cls!);
      const table = CLASSES[c];
      if (!table || !ctx.sim.db.refByUuid(table, objUuid as string)) throw new ApiError('UUID_INVALID', [c, objUuid as string]);
      return createMessage(ctx.sim, name as string, p, c, objUuid as string, body as string);
    },
  });
  reg.add({
    name: 'message.get_since',
    params: [{ name: 'since', type: 'any' }],
    session: true,
    run: (ctx, [since]) => {
      const t = dateOf(since!).getTime();
      return messagesWhere(ctx.sim, (r) => (r.timestamp as Date).getTime() > t);
    },
  });
  reg.add({
    name: 'message.get',
    params: [
      { name: 'cls', type: 'any' },
      { name: 'obj_uuid', type: 'string' },
      { name: 'since', type: 'any' },
    ],
    session: true,
    run: (ctx, [cls, objUuid, since]) => {
      const c = classOf(cls!);
      const t = dateOf(since!).getTime();
      return messagesWhere(ctx.sim, (r) => r.cls === c && r.obj_uuid === objUuid && (r.timestamp as Date).getTime() > t);
    },
  });
  reg.add({
    name: 'message.destroy',
    params: [{ name: 'self', type: 'ref' }],
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
      for (const ref of refs as string[]) recordOrThrow(ctx.sim, 'message', ref);
      for (const ref of refs as string[]) ctx.sim.db.delete('message', ref);
      return VOID;
    },
  });
}
