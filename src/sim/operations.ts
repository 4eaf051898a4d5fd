// Which VM operations are allowed now, and why not: xapi's check_operation_error, in its order
// (blocked → power state → concurrency → template → snapshot → control domain → feature), and the
// advisory allowed_operations list derived from it.

import { ApiError } from './errors.js';
import type { Sim } from './state.js';
import { NULL_REF, isStruct, type RpcStruct } from './wire/values.js';

/** Power states (lower-case, as xapi reports them in VM_BAD_POWER_STATE) each op needs. */
const NEEDS: Record<string, string[]> = {
  start: ['halted'],
  start_on: ['halted'],
  clean_shutdown: ['running'],
  clean_reboot: ['running'],
  suspend: ['running'],
  pause: ['running'],
  unpause: ['paused'],
  resume: ['suspended'],
  resume_on: ['suspended'],
  hard_shutdown: ['paused', 'suspended', 'running'],
  destroy: ['halted', 'suspended'],
  shutdown: ['paused', 'suspended', 'running'],
  hard_reboot: ['paused', 'running'],
  pool_migrate: ['running'],
};

/**
 * allowed_operations as xapi lists them (recorded from a real xapi: shared/xapi-traces 02-04), in
 * its order. Beyond the power-state operations xapi lists the advisory ones (export, snapshot,
 * changing_*…); a running guest that cannot take a clean shutdown request loses every operation
 * that needs the guest's cooperation.
 */
const XAPI_ORDER = [
  'sysprep', 'create_vtpm', 'destroy', 'metadata_export', 'export', 'make_into_template', 'changing_NVRAM', 'changing_shadow_memory',
  'changing_static_range', 'changing_VCPUs_live', 'changing_dynamic_range', 'migrate_send', 'pool_migrate', 'start_on', 'start',
  'resume_on', 'resume', 'suspend', 'hard_reboot', 'hard_shutdown', 'clean_reboot', 'clean_shutdown', 'unpause', 'pause', 'checkpoint',
  'provision', 'copy', 'clone', 'snapshot',
];
const ADVISORY: Record<string, string[]> = {
  halted: ['create_vtpm', 'metadata_export', 'export', 'make_into_template', 'changing_NVRAM', 'changing_shadow_memory', 'changing_static_range', 'changing_dynamic_range', 'migrate_send', 'copy', 'clone', 'snapshot'],
  running: ['sysprep', 'metadata_export', 'changing_VCPUs_live', 'changing_dynamic_range', 'migrate_send', 'pool_migrate', 'checkpoint', 'snapshot'],
  paused: ['metadata_export', 'checkpoint', 'snapshot'],
  suspended: ['metadata_export', 'export', 'copy', 'clone', 'snapshot'],
};
/** What a running guest without a clean shutdown path keeps of the running list. */
const WITHOUT_GUEST_COOPERATION = new Set(['sysprep', 'metadata_export', 'changing_dynamic_range', 'hard_reboot', 'hard_shutdown', 'pause', 'snapshot']);
const TEMPLATE_OPS = ['destroy', 'metadata_export', 'export', 'changing_NVRAM', 'changing_shadow_memory', 'changing_static_range', 'changing_dynamic_range', 'migrate_send', 'provision', 'copy', 'clone'];
const CONTROL_DOMAIN_OPS = ['metadata_export', 'changing_static_range', 'changing_dynamic_range'];

function mapOf(v: unknown): Record<string, string> {
  return isStruct(v as never) ? (v as Record<string, string>) : {};
}

export function guestMetricsOf(sim: Sim, vm: RpcStruct): RpcStruct | undefined {
  return typeof vm.guest_metrics === 'string' && vm.guest_metrics !== NULL_REF ? sim.db.get('VM_guest_metrics', vm.guest_metrics) : undefined;
}

/** xapi: PV drivers are present when PV_drivers_version has integer major and minor. */
export function hasPvDrivers(gm: RpcStruct | undefined): boolean {
  if (!gm) return false;
  const v = mapOf(gm.PV_drivers_version);
  return /^\d+$/.test(v.major ?? '') && /^\d+$/.test(v.minor ?? '');
}

function hasFeature(gm: RpcStruct | undefined, ...features: string[]): boolean {
  const other = mapOf(gm?.other);
  return features.some((f) => other[`feature-${f}`] === '1');
}

/** The VM_LACKS_FEATURE rule for clean shutdown (REFERENCE §5). */
export function supportsCleanShutdown(sim: Sim, vm: RpcStruct): boolean {
  const live = vm.power_state === 'Running' || vm.power_state === 'Paused';
  if (!live || vm.domain_type === 'pv') return true;
  const gm = guestMetricsOf(sim, vm);
  return hasPvDrivers(gm) || hasFeature(gm, 'shutdown', 'poweroff');
}

export function checkOperation(sim: Sim, vmRef: string, op: string): ApiError | null {
  const vm = sim.db.get('VM', vmRef);
  if (!vm) return new ApiError('HANDLE_INVALID', ['VM', vmRef]);
  const blocked = mapOf(vm.blocked_operations)[op];
  if (blocked !== undefined) return new ApiError('OPERATION_BLOCKED', [vmRef, blocked]);
  const state = String(vm.power_state).toLowerCase();
  const needs = NEEDS[op];
  if (needs && !needs.includes(state)) return new ApiError('VM_BAD_POWER_STATE', [vmRef, needs.join(', '), state]);
  const current = Object.entries(mapOf(vm.current_operations));
  const conflict = op === 'hard_shutdown' ? current.filter(([, o]) => o === 'hard_shutdown') : current;
  if (conflict.length > 0) {
    const ops = conflict.map(([, o]) => o);
    const refs = conflict.map(([r]) => r);
    return new ApiError('OTHER_OPERATION_IN_PROGRESS', ['VM', vmRef, ops.length === 1 ? ops[0]! : `{${ops.join(',')}}`, refs.length === 1 ? refs[0]! : `{${refs.join(',')}}`]);
  }
  if (vm.is_a_template === true) return new ApiError('VM_IS_TEMPLATE', [vmRef, op]);
  if (vm.is_a_snapshot === true) return new ApiError('VM_IS_SNAPSHOT', [vmRef, op]);
  if (vm.is_control_domain === true) return new ApiError('OPERATION_NOT_ALLOWED', ['This operation is not allowed on a control domain']);
  if ((op === 'clean_shutdown' || op === 'clean_reboot') && !supportsCleanShutdown(sim, vm)) return new ApiError('VM_LACKS_FEATURE', [vmRef]);
  if (op === 'suspend' && !supportsCleanShutdown(sim, vm)) return new ApiError('VM_LACKS_FEATURE', [vmRef]);
  return null;
}

function allowedOperations(sim: Sim, vmRef: string, vm: RpcStruct): string[] {
  if (Object.keys(mapOf(vm.current_operations)).length > 0) return [];
  if (vm.is_control_domain === true) return CONTROL_DOMAIN_OPS;
  if (vm.is_a_template === true || vm.is_a_snapshot === true) return TEMPLATE_OPS;
  const state = String(vm.power_state).toLowerCase();
  const candidates = new Set(ADVISORY[state] ?? []);
  for (const op of Object.keys(NEEDS)) if (op !== 'shutdown' && !checkOperation(sim, vmRef, op)) candidates.add(op);
  const blocked = mapOf(vm.blocked_operations);
  const cooperative = state !== 'running' || supportsCleanShutdown(sim, vm);
  return XAPI_ORDER.filter((op) => candidates.has(op) && blocked[op] === undefined && (cooperative || WITHOUT_GUEST_COOPERATION.has(op)));
}

/** Recomputes VM.allowed_operations (advisory; xapi does it on every state change). */
export function refreshAllowedOperations(sim: Sim, vmRef: string): void {
  const vm = sim.db.get('VM', vmRef);
  if (!vm) return;
  const allowed = allowedOperations(sim, vmRef, vm);
  const before = vm.allowed_operations;
  if (Array.isArray(before) && before.length === allowed.length && before.every((o, i) => o === allowed[i])) return;
  sim.db.update('VM', vmRef, { allowed_operations: [...allowed] });
}
