// session, pool, host, host_metrics, VM, VM_metrics, VM_guest_metrics and task: the calls beyond
// the generic accessors.

import { assertValidOtherConfig } from '../behaviour.js';
import { ApiError } from '../errors.js';
import { hostFreeMemory } from '../guest.js';
import * as life from '../lifecycle.js';
import { guestMetricsRecord, hostAllowedOperations, hostMetricsRecord, hostRecord, poolRecord, taskRecord, vmMetricsRecord, vmRecord } from '../model/records.js';
import { refreshAllowedOperations } from '../operations.js';
import type { Sim } from '../state.js';
import { cancelTask } from '../tasks.js';
import { EPOCH, NULL_REF, VOID, type RpcStruct, type RpcValue } from '../wire/values.js';
import { addClassAccessors, recordOrThrow } from './objects.js';
import type { CallContext, Registry } from './registry.js';

const SAMPLE_VM = vmRecord({ uuid: '', name_label: '', memory: 0, memory_overhead: 0, vcpus: 1, domain_type: 'pv', metrics: '' });

function addSession(reg: Registry): void {
  reg.add({
    name: 'session.login_with_password',
    params: [
      { name: 'uname', type: 'string' },
      { name: 'pwd', type: 'string' },
      { name: 'version', type: 'string', default: '1.1' },
      { name: 'originator', type: 'string', default: '' },
    ],
    session: false,
    run: (ctx, [uname, pwd, , originator]) => {
      const { sim } = ctx;
      if (ctx.transport === 'tcp') {
        if (sim.faults.master) throw new ApiError('HOST_IS_SLAVE', [sim.faults.master]);
        // PAM's two answers, as xapi passes them on (recorded: 01).
        if (uname !== sim.credentials.user) throw new ApiError('SESSION_AUTHENTICATION_FAILED', [uname as string, 'User not known to the underlying authentication module']);
        if (pwd !== sim.credentials.password) throw new ApiError('SESSION_AUTHENTICATION_FAILED', [uname as string, 'Authentication failure']);
      }
      const ref = sim.newRef();
      sim.sessions.set(ref, { ref, uuid: sim.uuid(), user: uname as string, originator: originator as string, transport: ctx.transport, lastActive: Date.now() });
      return ref;
    },
  });
  reg.add({
    name: 'session.slave_local_login_with_password',
    params: [
      { name: 'uname', type: 'string' },
      { name: 'pwd', type: 'string' },
    ],
    session: false,
    run: (ctx, [uname, pwd]) => {
      const { sim } = ctx;
      if (ctx.transport === 'tcp' && (uname !== sim.credentials.user || pwd !== sim.credentials.password)) throw new ApiError('SESSION_AUTHENTICATION_FAILED', [uname as string, 'Authentication failure']);
      const ref = sim.newRef();
      sim.sessions.set(ref, { ref, uuid: sim.uuid(), user: uname as string, originator: '', transport: ctx.transport, lastActive: Date.now() });
      return ref;
    },
  });
  const logout = (ctx: CallContext): RpcValue => {
    ctx.sim.sessions.delete(ctx.session!.ref);
    ctx.sim.bus.emit('session-ended', ctx.session!.ref);
    return VOID;
  };
  reg.add({ name: 'session.logout', params: [], session: true, run: logout });
  reg.add({ name: 'session.local_logout', params: [], session: true, run: logout });
  reg.add({ name: 'session.get_this_host', params: [{ name: 'self', type: 'ref' }], session: true, run: (ctx) => ctx.sim.hostRef });
  reg.add({ name: 'session.get_this_user', params: [{ name: 'self', type: 'ref' }], session: true, run: () => NULL_REF });
  reg.add({ name: 'session.get_uuid', params: [{ name: 'self', type: 'ref' }], session: true, run: (ctx, [ref]) => sessionRecord(ctx.sim, ref as string).uuid! });
  reg.add({ name: 'session.get_record', params: [{ name: 'self', type: 'ref' }], session: true, run: (ctx, [ref]) => sessionRecord(ctx.sim, ref as string) });
}

function sessionRecord(sim: Sim, ref: string): RpcStruct {
  const s = sim.sessions.get(ref);
  if (!s) throw new ApiError('HANDLE_INVALID', ['session', ref]);
  return {
    uuid: s.uuid,
    this_host: sim.hostRef,
    this_user: NULL_REF,
    last_active: new Date(s.lastActive),
    pool: false,
    other_config: {},
    is_local_superuser: true,
    subject: NULL_REF,
    validation_time: new Date(s.lastActive),
    auth_user_sid: '',
    auth_user_name: s.user,
    rbac_permissions: [],
    tasks: [],
    parent: NULL_REF,
    originator: s.originator,
    client_certificate: false,
  };
}

function addPoolAndHost(reg: Registry): void {
  addClassAccessors(reg, { cls: 'pool', sample: poolRecord('', '', '', {}), settable: ['name_label', 'name_description', 'other_config'], maps: ['other_config'] });
  addClassAccessors(reg, { cls: 'host', sample: hostRecord({ uuid: '', name_label: '', address: '', metrics: '', enabled: true, memory_overhead: 0 }), settable: ['name_label', 'name_description', 'other_config'], maps: ['other_config'] });
  addClassAccessors(reg, { cls: 'host_metrics', sample: hostMetricsRecord('', 0, 0, EPOCH), settable: ['other_config'], maps: ['other_config'] });
  const host = { name: 'host', type: 'ref' as const };
  reg.add({
    name: 'host.compute_free_memory',
    params: [host],
    session: true,
    run: (ctx, [ref]) => {
      recordOrThrow(ctx.sim, 'host', ref as string);
      return hostFreeMemory(ctx.sim, ref as string);
    },
  });
  reg.add({
    name: 'host.disable',
    params: [host, { name: 'auto_enable', type: 'bool', default: true }],
    session: true,
    async: true,
    run: (ctx, [ref]) => {
      recordOrThrow(ctx.sim, 'host', ref as string);
      ctx.sim.db.update('host', ref as string, { enabled: false, allowed_operations: hostAllowedOperations(false) });
      return VOID;
    },
  });
  reg.add({
    name: 'host.enable',
    params: [host],
    session: true,
    async: true,
    run: (ctx, [ref]) => {
      recordOrThrow(ctx.sim, 'host', ref as string);
      ctx.sim.db.update('host', ref as string, { enabled: true, allowed_operations: hostAllowedOperations(true) });
      return VOID;
    },
  });
  reg.add({
    name: 'host.call_plugin',
    params: [host, { name: 'plugin', type: 'string' }, { name: 'fn', type: 'string' }, { name: 'args', type: 'string_map' }],
    session: true,
    async: true,
    run: async (ctx, [ref, plugin]) => {
      recordOrThrow(ctx.sim, 'host', ref as string);
      // Only the recordings' test plugin exists: /etc/xapi.d/plugins/sleep sleeps 10 s, cannot be cancelled.
      if (plugin !== 'sleep') throw new ApiError('XENAPI_MISSING_PLUGIN', [plugin as string]);
      await ctx.sim.clock.sleep(10);
      return 'slept';
    },
  });
}

function validateVmField(ctx: CallContext, ref: string, field: string, value: RpcValue): void {
  if (field === 'other_config') assertValidOtherConfig(value as Record<string, string>, String(ctx.sim.db.get('VM', ref)?.domain_type ?? 'hvm'));
}

function addVm(reg: Registry): void {
  addClassAccessors(reg, {
    cls: 'VM',
    sample: SAMPLE_VM,
    settable: ['name_label', 'name_description', 'other_config', 'xenstore_data', 'blocked_operations', 'order', 'start_delay', 'shutdown_delay', 'affinity', 'actions_after_shutdown', 'actions_after_reboot', 'actions_after_crash', 'is_a_template', 'tags', 'VCPUs_at_startup', 'platform', 'suspend_SR', 'appliance'],
    maps: ['other_config', 'xenstore_data', 'blocked_operations', 'platform', 'VCPUs_params', 'HVM_boot_params'],
    validate: validateVmField,
    afterSet: (sim, ref, field) => {
      if (field === 'blocked_operations' || field === 'is_a_template') refreshAllowedOperations(sim, ref);
    },
  });
  const vm = { name: 'vm', type: 'ref' as const };
  const paused = { name: 'start_paused', type: 'bool' as const };
  const force = { name: 'force', type: 'bool' as const };
  const hostP = { name: 'host', type: 'ref' as const };
  const op = (name: string, params: typeof vm[], body: (sim: Sim, task: Parameters<typeof life.start>[1], args: RpcValue[]) => Promise<void>): void => {
    reg.add({
      name: `VM.${name}`,
      params,
      session: true,
      async: true,
      run: (ctx, args) =>
        ctx.inTask(async (task) => {
          ctx.log.task = task.ref;
          await body(ctx.sim, task, args);
          return VOID;
        }),
    });
  };
  op('start', [vm, paused, force] as never, (sim, task, [ref, p]) => life.start(sim, task, ref as string, null, p as boolean));
  op('start_on', [vm, hostP, paused, force] as never, (sim, task, [ref, h, p]) => life.start(sim, task, ref as string, h as string, p as boolean));
  op('clean_shutdown', [vm], (sim, task, [ref]) => life.cleanShutdown(sim, task, ref as string));
  op('hard_shutdown', [vm], (sim, task, [ref]) => life.hardShutdown(sim, task, ref as string));
  op('destroy', [{ name: 'self', type: 'ref' }] as never, (sim, task, [ref]) => life.destroy(sim, task, ref as string));
  op('shutdown', [vm], (sim, task, [ref]) => life.shutdown(sim, task, ref as string));
  op('clean_reboot', [vm], (sim, task, [ref]) => life.cleanReboot(sim, task, ref as string));
  op('hard_reboot', [vm], (sim, task, [ref]) => life.hardReboot(sim, task, ref as string));
  op('suspend', [vm], (sim, task, [ref]) => life.suspend(sim, task, ref as string));
  op('resume', [vm, paused, force] as never, (sim, task, [ref, p]) => life.resume(sim, task, ref as string, null, p as boolean));
  op('resume_on', [vm, hostP, paused, force] as never, (sim, task, [ref, h, p]) => life.resume(sim, task, ref as string, h as string, p as boolean));
  op('pause', [vm], (sim, task, [ref]) => life.pause(sim, task, ref as string, true));
  op('unpause', [vm], (sim, task, [ref]) => life.pause(sim, task, ref as string, false));
  reg.add({
    name: 'VM.assert_can_boot_here',
    params: [{ name: 'self', type: 'ref' }, hostP],
    session: true,
    async: true,
    run: (ctx, [ref, h]) => {
      life.assertCanBootHere(ctx.sim, ref as string, h as string);
      return VOID;
    },
  });
  reg.add({
    name: 'VM.get_allowed_operations',
    params: [{ name: 'self', type: 'ref' }],
    session: true,
    run: (ctx, [ref]) => recordOrThrow(ctx.sim, 'VM', ref as string).allowed_operations!,
  });
  addClassAccessors(reg, { cls: 'VM_metrics', sample: vmMetricsRecord('', 1, false), settable: ['other_config'], maps: ['other_config'] });
  addClassAccessors(reg, { cls: 'VM_guest_metrics', sample: guestMetricsRecord('', EPOCH), settable: ['other_config'], maps: ['other_config'] });
}

function addTask(reg: Registry): void {
  addClassAccessors(reg, { cls: 'task', sample: taskRecord('', '', '', EPOCH), settable: ['other_config'], maps: ['other_config'] });
  reg.add({
    name: 'task.cancel',
    params: [{ name: 'task', type: 'ref' }],
    session: true,
    async: true,
    run: (ctx, [ref]) => {
      recordOrThrow(ctx.sim, 'task', ref as string);
      ctx.log.task = ref as string;
      cancelTask(ctx.sim, ref as string);
      // xapi records the cancel request as an operation on the task while it is still running.
      const task = ctx.sim.db.get('task', ref as string)!;
      if (task.status === 'pending') ctx.sim.db.update('task', ref as string, { current_operations: { [`DummyRef:|${ctx.sim.uuid()}|task.cancel`]: 'cancel' } });
      return VOID;
    },
  });
  reg.add({
    name: 'task.create',
    params: [
      { name: 'label', type: 'string' },
      { name: 'description', type: 'string' },
    ],
    session: true,
    run: (ctx, [label, description]) => {
      // A client's own task: xapi only keeps the record; the client sets its status.
      const ref = ctx.sim.newRef();
      ctx.sim.db.insert('task', ref, { ...taskRecord(ctx.sim.uuid(), label as string, ctx.sim.hostRef, new Date()), name_description: description as string });
      return ref;
    },
  });
  reg.add({
    name: 'task.set_status',
    params: [
      { name: 'self', type: 'ref' },
      { name: 'value', type: 'string' },
    ],
    session: true,
    run: (ctx, [ref, value]) => {
      recordOrThrow(ctx.sim, 'task', ref as string);
      if (!['pending', 'success', 'failure', 'cancelling', 'cancelled'].includes(value as string)) throw new ApiError('INTERNAL_ERROR', ['Failure("Unknown tag/contents")']);
      ctx.sim.db.update('task', ref as string, { status: value as string });
      return VOID;
    },
  });
  reg.add({
    name: 'task.destroy',
    params: [{ name: 'self', type: 'ref' }],
    session: true,
    run: (ctx, [ref]) => {
      recordOrThrow(ctx.sim, 'task', ref as string);
      ctx.log.task = ref as string;
      ctx.sim.db.delete('task', ref as string);
      return VOID;
    },
  });
}

/**
 * Classes the simulator keeps no objects of (no networks, no consoles; storage is sim/storage.ts): their
 * get_all / get_all_records answer empty, as on the recorded xapi without SM plugins or PIFs.
 */
export const OBJECTLESS_CLASSES = ['VIF', 'PIF', 'SM', 'network', 'console', 'host_cpu', 'secret', 'role', 'pool_update', 'Certificate'];

export function addClasses(reg: Registry): void {
  for (const cls of OBJECTLESS_CLASSES) addClassAccessors(reg, { cls, sample: { uuid: '' } });
  addSession(reg);
  addPoolAndHost(reg);
  addVm(reg);
  addTask(reg);
}
