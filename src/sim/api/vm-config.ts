// VM calls that create or reconfigure VMs, as the recorded real xapi answers them
// (shared/xapi-traces 02, 02b, 05, 09): VM.create with xapi's unmarshalling errors, clone,
// provision, memory and vCPU setters with their power-state rules, set_domain_type, the HA
// priority setters, get_boot_record.

import { assertValidOtherConfig } from '../behaviour.js';
import { ApiError } from '../errors.js';
import { MIB, vmMetricsRecord, vmRecord } from '../model/records.js';
import { refreshAllowedOperations } from '../operations.js';
import type { Sim } from '../state.js';
import { Double, I4, NULL_REF, VOID, isStruct, type RpcStruct, type RpcValue } from '../wire/values.js';
import { recordOrThrow } from './objects.js';
import type { CallContext, Registry } from './registry.js';

/** The fields VM.create requires, in the order xapi's unmarshaller looks for them. */
const REQUIRED = [
  'user_version', 'is_a_template', 'affinity', 'memory_static_max', 'memory_dynamic_max', 'memory_dynamic_min', 'memory_static_min',
  'VCPUs_params', 'VCPUs_max', 'VCPUs_at_startup', 'actions_after_shutdown', 'actions_after_reboot', 'actions_after_crash',
  'PV_bootloader', 'PV_kernel', 'PV_ramdisk', 'PV_args', 'PV_bootloader_args', 'PV_legacy_args', 'HVM_boot_policy', 'HVM_boot_params',
  'platform', 'PCI_bus', 'other_config', 'recommendations',
];
const INT64_FIELDS = ['user_version', 'memory_static_max', 'memory_dynamic_max', 'memory_dynamic_min', 'memory_static_min', 'VCPUs_max', 'VCPUs_at_startup', 'start_delay', 'shutdown_delay', 'order', 'version', 'hardware_platform_version'];
const BOOL_FIELDS = ['is_a_template', 'ha_always_run', 'is_snapshot_from_vmpp', 'has_vendor_device'];
const MAP_FIELDS = ['VCPUs_params', 'HVM_boot_params', 'platform', 'other_config', 'xenstore_data', 'blocked_operations', 'NVRAM'];
const ENUMS: Record<string, string[]> = {
  actions_after_shutdown: ['destroy', 'restart'],
  actions_after_reboot: ['destroy', 'restart'],
  actions_after_crash: ['destroy', 'coredump_and_destroy', 'restart', 'coredump_and_restart', 'preserve', 'rename_restart'],
  domain_type: ['hvm', 'pv', 'pv_in_pvh', 'pvh', 'unspecified'],
};
const HA_PRIORITIES = ['restart', 'best-effort', ''];

/** ocaml-rpc's errors for a value of the wrong type, as xapi reports them (INTERNAL_ERROR). */
export function int64(v: RpcValue): number {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (v instanceof I4) return v.value;
  if (typeof v === 'string' && /^-?\d+$/.test(v.trim())) return Number(v.trim());
  throw new ApiError('INTERNAL_ERROR', ['Failure("Int64.of_string")']);
}

function bool(v: RpcValue): boolean {
  if (typeof v === 'boolean') return v;
  const shown = typeof v === 'string' ? `S(${v})` : typeof v === 'number' ? `Int(${v})` : String(v);
  throw new ApiError('INTERNAL_ERROR', [`Failure("Expected bool, got '${shown}'")`]);
}

function enumValue(field: string, v: RpcValue): string {
  if (typeof v !== 'string' || !ENUMS[field]!.includes(v.toLowerCase())) throw new ApiError('INTERNAL_ERROR', ['Failure("Unknown tag/contents")']);
  return v.toLowerCase();
}

function stringMap(v: RpcValue): Record<string, string> {
  if (!isStruct(v) || !Object.values(v).every((x) => typeof x === 'string')) throw new ApiError('INTERNAL_ERROR', ['Failure("Expected a struct of strings")']);
  return { ...(v as Record<string, string>) };
}

/** Unmarshals a VM.create record; the first missing or ill-typed field fails the call. */
function unmarshalVm(given: RpcStruct): RpcStruct {
  for (const f of REQUIRED) if (!(f in given)) throw new ApiError('INTERNAL_ERROR', [`Server_helpers.Dispatcher_FieldNotFound("${f}")`]);
  const out: RpcStruct = {};
  for (const [f, v] of Object.entries(given)) {
    if (INT64_FIELDS.includes(f)) out[f] = int64(v);
    else if (BOOL_FIELDS.includes(f)) out[f] = bool(v);
    else if (MAP_FIELDS.includes(f)) out[f] = stringMap(v);
    else if (f in ENUMS) out[f] = enumValue(f, v);
    else if (f === 'HVM_shadow_multiplier') out[f] = new Double(v instanceof Double ? v.value : Number(v));
    else out[f] = v;
  }
  return out;
}

/** xapi's memory overhead for a guest: a page-table share of its memory plus per-vCPU and shadow costs. */
export function memoryOverhead(memoryStaticMax: number, vcpus: number, hvm: boolean): number {
  return ((hvm ? 4 : 3) + vcpus + Math.ceil(memoryStaticMax / (256 * MIB))) * MIB;
}

export function createVm(sim: Sim, fields: RpcStruct): string {
  const f = unmarshalVm(fields);
  const hvm = (f.domain_type ?? (String(f.HVM_boot_policy) === '' ? 'pv' : 'hvm')) === 'hvm';
  const domainType = String(f.domain_type ?? (hvm ? 'hvm' : 'pv'));
  const ref = sim.newRef();
  const metrics = sim.newRef();
  const vcpus = Number(f.VCPUs_max);
  sim.db.insert('VM_metrics', metrics, vmMetricsRecord(sim.uuid(), 0, hvm));
  const base = vmRecord({ uuid: sim.uuid(), name_label: '', memory: Number(f.memory_static_max), memory_overhead: memoryOverhead(Number(f.memory_static_max), vcpus, hvm), vcpus, domain_type: domainType, metrics });
  const platform = { ...(f.platform as Record<string, string>) };
  if (hvm && !('device-model' in platform)) platform['device-model'] = 'qemu-upstream-compat';
  const record: RpcStruct = { ...base, ...f, domain_type: domainType, platform, memory_target: 0, metrics, guest_metrics: NULL_REF, power_state: 'Halted' };
  // xapi seeds the MAC addresses of the VM's VIFs from other_config:mac_seed.
  record.other_config = { ...(f.other_config as Record<string, string>), mac_seed: sim.uuid() };
  sim.db.insert('VM', ref, record);
  refreshAllowedOperations(sim, ref);
  return ref;
}

function halted(sim: Sim, ref: string): RpcStruct {
  const vm = recordOrThrow(sim, 'VM', ref);
  if (vm.power_state !== 'Halted') throw new ApiError('VM_BAD_POWER_STATE', [ref, 'halted', String(vm.power_state).toLowerCase()]);
  return vm;
}

function checkMemoryOrder(staticMin: number, dynamicMin: number, dynamicMax: number, staticMax: number): void {
  if (!(staticMin <= dynamicMin && dynamicMin <= dynamicMax && dynamicMax <= staticMax)) throw new ApiError('MEMORY_CONSTRAINT_VIOLATION_ORDER', []);
}

export function addVmConfig(reg: Registry): void {
  const self = { name: 'self', type: 'ref' as const };
  const int = (name: string) => ({ name, type: 'any' as const });
  reg.add({
    name: 'VM.create',
    params: [{ name: 'args', type: 'any' }],
    session: true,
    async: true,
    run: (ctx, [args]) => {
      if (!isStruct(args)) throw new ApiError('INTERNAL_ERROR', ['Failure("Expected a struct")']);
      if (isStruct(args.other_config)) assertValidOtherConfig(args.other_config as Record<string, string>, String(args.domain_type ?? (args.HVM_boot_policy ? 'hvm' : 'pv')));
      return createVm(ctx.sim, args);
    },
  });
  reg.add({
    name: 'VM.clone',
    params: [{ name: 'vm', type: 'ref' }, { name: 'new_name', type: 'string' }],
    session: true,
    async: true,
    run: (ctx, [ref, name]) => {
      const { sim } = ctx;
      const src = recordOrThrow(sim, 'VM', ref as string);
      if (src.power_state !== 'Halted' && src.is_a_template !== true) throw new ApiError('VM_BAD_POWER_STATE', [ref as string, 'halted', String(src.power_state).toLowerCase()]);
      const clone = sim.newRef();
      const metrics = sim.newRef();
      sim.db.insert('VM_metrics', metrics, vmMetricsRecord(sim.uuid(), 0, src.domain_type === 'hvm'));
      const otherConfig: Record<string, string> = { ...(src.other_config as Record<string, string>), mac_seed: sim.uuid() };
      if (src.is_a_template === true && !('base_template_name' in otherConfig)) otherConfig.base_template_name = String(src.name_label);
      const copy: RpcStruct = {};
      // Maps and sets are copied; Double and Date values are immutable and shared.
      for (const [k, v] of Object.entries(src)) copy[k] = Array.isArray(v) ? [...v] : isStruct(v) ? { ...v } : v;
      sim.db.insert('VM', clone, { ...copy, allowed_operations: [], current_operations: {}, uuid: sim.uuid(), name_label: name as string, is_default_template: false, metrics, guest_metrics: NULL_REF, other_config: otherConfig, snapshots: [], children: [] });
      refreshAllowedOperations(sim, clone);
      return clone;
    },
  });
  reg.add({
    name: 'VM.provision',
    params: [{ name: 'vm', type: 'ref' }],
    session: true,
    async: true,
    run: (ctx, [ref]) => {
      recordOrThrow(ctx.sim, 'VM', ref as string);
      ctx.sim.db.update('VM', ref as string, { is_a_template: false });
      refreshAllowedOperations(ctx.sim, ref as string);
      return VOID;
    },
  });
  reg.add({
    name: 'VM.set_memory_limits',
    params: [self, int('static_min'), int('static_max'), int('dynamic_min'), int('dynamic_max')],
    session: true,
    async: true,
    run: (ctx, [ref, smin, smax, dmin, dmax]) => {
      recordOrThrow(ctx.sim, 'VM', ref as string);
      const [a, b, c, d] = [smin, smax, dmin, dmax].map((v) => int64(v!)) as [number, number, number, number];
      checkMemoryOrder(a, c, d, b);
      ctx.sim.db.update('VM', ref as string, { memory_static_min: a, memory_static_max: b, memory_dynamic_min: c, memory_dynamic_max: d });
      return VOID;
    },
  });
  reg.add({
    name: 'VM.set_memory',
    params: [self, int('value')],
    session: true,
    async: true,
    run: (ctx, [ref, value]) => {
      const vm = recordOrThrow(ctx.sim, 'VM', ref as string);
      const v = int64(value!);
      checkMemoryOrder(Number(vm.memory_static_min), v, v, v);
      ctx.sim.db.update('VM', ref as string, { memory_static_max: v, memory_dynamic_max: v, memory_dynamic_min: v, memory_target: v });
      return VOID;
    },
  });
  reg.add({
    name: 'VM.set_memory_static_max',
    params: [self, int('value')],
    session: true,
    run: (ctx, [ref, value]) => {
      const vm = halted(ctx.sim, ref as string);
      const v = int64(value!);
      checkMemoryOrder(Number(vm.memory_static_min), Number(vm.memory_dynamic_min), Number(vm.memory_dynamic_max), v);
      ctx.sim.db.update('VM', ref as string, { memory_static_max: v });
      return VOID;
    },
  });
  reg.add({
    name: 'VM.set_VCPUs_max',
    params: [self, int('value')],
    session: true,
    run: (ctx, [ref, value]) => {
      halted(ctx.sim, ref as string);
      const v = int64(value!);
      if (v < 1) throw new ApiError('INVALID_VALUE', ['VCPU values must satisfy: 0 < VCPUs_at_startup ≤ VCPUs_max', String(v)]);
      ctx.sim.db.update('VM', ref as string, { VCPUs_max: v });
      return VOID;
    },
  });
  reg.add({
    name: 'VM.set_domain_type',
    params: [self, { name: 'value', type: 'string' }],
    session: true,
    run: (ctx, [ref, value]) => {
      const vm = recordOrThrow(ctx.sim, 'VM', ref as string);
      const type = enumValue('domain_type', value!);
      // xapi keeps HVM_boot_policy consistent with the domain type (it is what older clients read).
      const policy = type === 'hvm' ? (String(vm.HVM_boot_policy) || 'BIOS order') : '';
      const oc = vm.other_config as Record<string, string>;
      assertValidOtherConfig(oc, type);
      ctx.sim.db.update('VM', ref as string, { domain_type: type, HVM_boot_policy: policy });
      return VOID;
    },
  });
  reg.add({
    name: 'VM.set_ha_restart_priority',
    params: [self, { name: 'value', type: 'string' }],
    session: true,
    run: (ctx, [ref, value]) => {
      const vm = recordOrThrow(ctx.sim, 'VM', ref as string);
      if (!HA_PRIORITIES.includes(value as string)) throw new ApiError('INVALID_VALUE', ['ha_restart_priority', value as string]);
      // ha_always_run follows the priority, but only while the VM runs (recorded: 09).
      const patch: RpcStruct = { ha_restart_priority: value as string };
      if (vm.power_state === 'Running') patch.ha_always_run = value === 'restart';
      ctx.sim.db.update('VM', ref as string, patch);
      return VOID;
    },
  });
  reg.add({
    name: 'VM.set_ha_always_run',
    params: [self, { name: 'value', type: 'bool' }],
    session: true,
    run: (ctx, [ref, value]) => {
      const vm = recordOrThrow(ctx.sim, 'VM', ref as string);
      const patch: RpcStruct = { ha_restart_priority: value ? 'restart' : '' };
      if (vm.power_state === 'Running') patch.ha_always_run = value as boolean;
      ctx.sim.db.update('VM', ref as string, patch);
      return VOID;
    },
  });
  reg.add({
    name: 'VM.get_boot_record',
    params: [self],
    session: true,
    run: (ctx, [ref]) => {
      const vm = recordOrThrow(ctx.sim, 'VM', ref as string);
      // The record as booted, taken inside xapi's own get_boot_record operation (recorded: 03).
      return { ...vm, allowed_operations: ['hard_reboot', 'hard_shutdown'], current_operations: { [`DummyRef:|${ctx.sim.uuid()}|VM.get_boot_record`]: 'get_boot_record' } };
    },
  });
}
