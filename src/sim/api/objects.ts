// The generic part of every class: get_all, get_all_records(_where), get_record, get_by_uuid,
// get_by_name_label, a getter per field, and the setters / map add_to_ / remove_from_ that xapi
// has for the settable fields.

import { ApiError } from '../errors.js';
import { CLASS_NAMES } from '../model/records.js';
import type { Sim } from '../state.js';
import { Double, isStruct, type RpcStruct, type RpcValue, VOID } from '../wire/values.js';
import type { CallContext, ParamType, Registry } from './registry.js';
import { compileWhere } from './where.js';

export interface ClassOptions {
  /** Proper-case class name, e.g. "VM". */
  cls: string;
  /** A sample record: its keys are the fields, its values give the field types. */
  sample: RpcStruct;
  /** Fields with a set_<field> call. */
  settable?: string[];
  /** Map fields with add_to_<field> / remove_from_<field>. */
  maps?: string[];
  /** false: no get_<field> per field (xapi has none for message). */
  fieldGetters?: boolean;
  /** Called after any setter changed a row (e.g. to recompute allowed_operations or validate). */
  validate?: (ctx: CallContext, ref: string, field: string, value: RpcValue) => void;
  afterSet?: (sim: Sim, ref: string, field: string) => void;
}

export function recordOrThrow(sim: Sim, cls: string, ref: string): RpcStruct {
  const r = sim.db.get(cls, ref);
  if (!r) throw new ApiError('HANDLE_INVALID', [CLASS_NAMES[cls.toLowerCase()] ?? cls, ref]);
  return r;
}

function fieldType(v: RpcValue): ParamType {
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return 'int';
  if (v instanceof Double) return 'float';
  if (isStruct(v)) return 'string_map';
  if (Array.isArray(v)) return 'string_set';
  return 'string';
}

function allRecords(sim: Sim, cls: string, filter?: (r: RpcStruct) => boolean): RpcStruct {
  const out: RpcStruct = {};
  for (const [ref, row] of sim.db.table(cls)) if (!filter || filter(row.record)) out[ref] = row.record;
  return out;
}

export function addClassAccessors(reg: Registry, o: ClassOptions): void {
  const { cls } = o;
  const self = { name: 'self', type: 'ref' as const };
  reg.add({ name: `${cls}.get_all`, params: [], session: true, run: (ctx) => [...ctx.sim.db.table(cls).keys()] });
  reg.add({ name: `${cls}.get_all_records`, params: [], session: true, run: (ctx) => allRecords(ctx.sim, cls) });
  reg.add({
    name: `${cls}.get_all_records_where`,
    params: [{ name: 'expr', type: 'string' }],
    session: true,
    run: (ctx, [expr]) => allRecords(ctx.sim, cls, compileWhere(expr as string, Object.keys(o.sample))),
  });
  reg.add({ name: `${cls}.get_record`, params: [self], session: true, run: (ctx, [ref]) => recordOrThrow(ctx.sim, cls, ref as string) });
  reg.add({
    name: `${cls}.get_by_uuid`,
    params: [{ name: 'uuid', type: 'string' }],
    session: true,
    run: (ctx, [uuid]) => {
      const ref = ctx.sim.db.refByUuid(cls, uuid as string);
      if (!ref) throw new ApiError('UUID_INVALID', [CLASS_NAMES[cls.toLowerCase()] ?? cls, uuid as string]);
      return ref;
    },
  });
  if ('name_label' in o.sample) {
    reg.add({
      name: `${cls}.get_by_name_label`,
      params: [{ name: 'label', type: 'string' }],
      session: true,
      run: (ctx, [label]) => [...ctx.sim.db.table(cls)].filter(([, row]) => row.record.name_label === label).map(([ref]) => ref),
    });
  }
  for (const field of o.fieldGetters === false ? [] : Object.keys(o.sample)) {
    reg.add({ name: `${cls}.get_${field}`, params: [self], session: true, run: (ctx, [ref]) => recordOrThrow(ctx.sim, cls, ref as string)[field]! });
  }
  for (const field of o.settable ?? []) {
    const type = fieldType(o.sample[field]!);
    reg.add({
      name: `${cls}.set_${field}`,
      params: [self, { name: 'value', type }],
      session: true,
      run: (ctx, [ref, value]) => {
        recordOrThrow(ctx.sim, cls, ref as string);
        o.validate?.(ctx, ref as string, field, value!);
        ctx.sim.db.update(cls, ref as string, { [field]: isStruct(value) ? { ...value } : value! });
        o.afterSet?.(ctx.sim, ref as string, field);
        return VOID;
      },
    });
  }
  for (const field of o.maps ?? []) {
    reg.add({
      name: `${cls}.add_to_${field}`,
      params: [self, { name: 'key', type: 'string' }, { name: 'value', type: 'string' }],
      session: true,
      run: (ctx, [ref, key, value]) => {
        const r = recordOrThrow(ctx.sim, cls, ref as string);
        const map = (r[field] ?? {}) as Record<string, string>;
        if (Object.prototype.hasOwnProperty.call(map, key as string)) throw new ApiError('MAP_DUPLICATE_KEY', [CLASS_NAMES[cls.toLowerCase()] ?? cls, field, ref as string, key as string]);
        // xapi keeps maps as association lists and puts a new key first (recorded: raw/VM.get_record.running).
        const next = { [key as string]: value as string, ...map };
        o.validate?.(ctx, ref as string, field, next);
        ctx.sim.db.update(cls, ref as string, { [field]: next });
        o.afterSet?.(ctx.sim, ref as string, field);
        return VOID;
      },
    });
    reg.add({
      name: `${cls}.remove_from_${field}`,
      params: [self, { name: 'key', type: 'string' }],
      session: true,
      run: (ctx, [ref, key]) => {
        const r = recordOrThrow(ctx.sim, cls, ref as string);
        const map = (r[field] ?? {}) as Record<string, string>;
        if (!Object.prototype.hasOwnProperty.call(map, key as string)) return VOID;
        const next = { ...map };
        delete next[key as string];
        ctx.sim.db.update(cls, ref as string, { [field]: next });
        o.afterSet?.(ctx.sim, ref as string, field);
        return VOID;
      },
    });
  }
}
