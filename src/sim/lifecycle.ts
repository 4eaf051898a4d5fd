// VM life-cycle calls as xapi runs them (REFERENCE §5): admission under the VM's operation lock
// with conflicting operations queued (not failed), then the operation itself with its delays
// slept inside the task, and guest interaction through the simulated domain.

import { vmForcedShutdownMessage, vmStartedMessage } from './api/messages.js';
import { waitUntil } from './clock.js';
import { ApiError } from './errors.js';
import { behaviourOf } from './behaviour.js';
import { createDomain, destroyDomain, hostFreeMemory, isDomainGone, shutdownAcknowledged, writeShutdownRequest } from './guest.js';
import { checkOperation, guestMetricsOf, hasPvDrivers, refreshAllowedOperations, supportsCleanShutdown } from './operations.js';
import { recordTimeline, type Sim, type TaskRuntime } from './state.js';
import { assertStorageHere } from './storage.js';
import { cancelTask, isCancellation, setCancellable } from './tasks.js';
import { NULL_REF, isStruct, ocamlFloatString, type RpcStruct } from './wire/values.js';

/** xapi retries a conflicting operation for up to 2 hours (Policy.standard). */
const QUEUE_LIMIT_S = 7200;
/** Ops a hard_shutdown cancels and waits for (message_forwarding.ml). */
const CANCELLED_BY_HARD = new Set(['clean_shutdown', 'clean_reboot', 'hard_reboot', 'pool_migrate', 'call_plugin', 'shutdown', 'suspend']);

export function vmOrThrow(sim: Sim, vmRef: string): RpcStruct {
  const vm = sim.db.get('VM', vmRef);
  if (!vm) throw new ApiError('HANDLE_INVALID', ['VM', vmRef]);
  return vm;
}

function currentOps(vm: RpcStruct): Record<string, string> {
  return isStruct(vm.current_operations) ? (vm.current_operations as Record<string, string>) : {};
}

function onVm(sim: Sim, vmRef: string) {
  return (wake: () => void): (() => void) => {
    sim.bus.on(`vm:${vmRef}`, wake);
    return () => sim.bus.off(`vm:${vmRef}`, wake);
  };
}

function onDomain(sim: Sim, vmRef: string) {
  return (wake: () => void): (() => void) => {
    sim.bus.on(`dom:${vmRef}`, wake);
    return () => sim.bus.off(`dom:${vmRef}`, wake);
  };
}

/** with_vm_operation: check, queue while another op conflicts, then hold the op until release. */
async function admit(sim: Sim, vmRef: string, op: string, task: TaskRuntime): Promise<() => void> {
  let queued = false;
  for (;;) {
    const err = checkOperation(sim, vmRef, op);
    if (!err) break;
    if (err.code !== 'OTHER_OPERATION_IN_PROGRESS') throw err;
    if (!queued) {
      queued = true;
      recordTimeline(sim, vmRef, 'queued', { task: task.ref, detail: `${op} waits for ${err.params[2]}` });
    }
    setCancellable(sim, task, true);
    const free = await waitUntil(sim.clock, onVm(sim, vmRef), () => checkOperation(sim, vmRef, op)?.code !== 'OTHER_OPERATION_IN_PROGRESS', QUEUE_LIMIT_S, task.abort.signal);
    if (!free) throw err;
  }
  setCancellable(sim, task, false);
  const vm = sim.db.get('VM', vmRef)!;
  sim.db.update('VM', vmRef, { current_operations: { ...currentOps(vm), [task.ref]: op } });
  refreshAllowedOperations(sim, vmRef);
  sim.bus.emit(`vm:${vmRef}`);
  return () => {
    const now = sim.db.get('VM', vmRef);
    if (now && task.ref in currentOps(now)) {
      const ops = { ...currentOps(now) };
      delete ops[task.ref];
      sim.db.update('VM', vmRef, { current_operations: ops });
      refreshAllowedOperations(sim, vmRef);
    }
    sim.bus.emit(`vm:${vmRef}`);
  };
}

/** Runs an admitted op, recording errors on the timeline. */
export async function withOperation<T>(sim: Sim, vmRef: string, op: string, task: TaskRuntime, body: () => Promise<T>): Promise<T> {
  vmOrThrow(sim, vmRef);
  recordTimeline(sim, vmRef, `${op} requested`, { task: task.ref });
  let release: (() => void) | undefined;
  try {
    release = await admit(sim, vmRef, op, task);
    const value = await body();
    // When the operation's task succeeds: what frees a client's slot (the benchmark's reaction latency).
    if (sim.db.get('VM', vmRef)) recordTimeline(sim, vmRef, `${op} done`, { task: task.ref });
    return value;
  } catch (err) {
    const what = isCancellation(err) ? 'cancelled' : 'error';
    const detail = err instanceof ApiError ? err.description.join(' ') : String(err);
    if (sim.db.get('VM', vmRef)) recordTimeline(sim, vmRef, what, { task: task.ref, detail: `${op}: ${detail}` });
    throw err;
  } finally {
    release?.();
  }
}

/** The local SR a guest with local_storage has its disks on (the simulator keeps no SR objects). */
export function localSrOf(sim: Sim, hostRef: string): string {
  return `OpaqueRef:local-sr-${String(sim.db.get('host', hostRef)?.uuid ?? hostRef)}`;
}

function isEnabledHost(sim: Sim, hostRef: string): boolean {
  return sim.db.get('host', hostRef)?.enabled === true;
}

function pcpusOf(sim: Sim, hostRef: string): number {
  const info = sim.db.get('host', hostRef)?.cpu_info;
  return Number((isStruct(info ?? null) ? (info as Record<string, string>) : {}).cpu_count ?? 0);
}

/** xapi's assert_can_boot_here: the host exists, is enabled, has the guest's SRs plugged, the pCPUs and the free memory. */
/** `memory: false` as xapi's evacuation plan asks it: memory is its own bin-packing's business. */
export function assertCanBootHere(sim: Sim, vmRef: string, hostRef: string, check: { memory: boolean } = { memory: true }): void {
  const vm = vmOrThrow(sim, vmRef);
  if (!sim.db.get('host', hostRef)) throw new ApiError('HANDLE_INVALID', ['host', hostRef]);
  if (!isEnabledHost(sim, hostRef)) throw new ApiError('HOST_DISABLED', [hostRef]);
  assertStorageHere(sim, vmRef, hostRef);
  // A running guest's disks on its host's local SR cannot be reached from another host.
  const home = String(vm.resident_on ?? NULL_REF);
  if (home !== NULL_REF && home !== hostRef && behaviourOf(sim, vmRef).local_storage) throw new ApiError('VM_REQUIRES_SR', [vmRef, localSrOf(sim, home)]);
  const vcpus = Number(vm.VCPUs_max);
  const pcpus = pcpusOf(sim, hostRef);
  if (vcpus > pcpus) throw new ApiError('HOST_NOT_ENOUGH_PCPUS', [String(vcpus), String(pcpus)]);
  if (!check.memory) return;
  const needed = Number(vm.memory_dynamic_min) + Number(vm.memory_overhead);
  const available = hostFreeMemory(sim, hostRef);
  if (needed > available) throw new ApiError('HOST_NOT_ENOUGH_FREE_MEMORY', [String(needed), String(available)]);
}

/**
 * Host selection: the given host (its own error if it cannot take the VM), else affinity, this
 * host, any host that can; VM.start on no host that can answers only NO_HOSTS_AVAILABLE, the
 * reason is left to assert_can_boot_here (recorded: shared/xapi-traces 05, 09).
 */
function chooseHost(sim: Sim, vmRef: string, vm: RpcStruct, requested: string | null): string {
  if (requested) {
    assertCanBootHere(sim, vmRef, requested);
    return requested;
  }
  const candidates = [vm.affinity as string, sim.hostRef, ...sim.db.table('host').keys()].filter((h, i, all) => h && h !== NULL_REF && all.indexOf(h) === i && sim.db.get('host', h));
  const fits = candidates.find((h) => {
    try {
      assertCanBootHere(sim, vmRef, h);
      return true;
    } catch {
      return false;
    }
  });
  if (!fits) throw new ApiError('NO_HOSTS_AVAILABLE', []);
  return fits;
}

/** xapi only boots PV kernels from dom0's guest kernel directory (checked at start, not create). */
function checkPvKernel(vm: RpcStruct): void {
  const kernel = String(vm.PV_kernel ?? '');
  if (vm.domain_type !== 'hvm' && kernel !== '' && !kernel.startsWith('/var/lib/xcp/guest/')) throw new ApiError('INVALID_VALUE', ['kernel', kernel, 'File does not exist']);
}

/** sim.hold_starts: the start's task stays pending until sim.release_starts lets it go on or a toolstack restart aborts it. */
function heldUntilReleased(sim: Sim, vmRef: string, task: TaskRuntime): Promise<void> {
  recordTimeline(sim, vmRef, 'start held', { task: task.ref });
  const signal = task.abort.signal;
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const release = () => {
      signal.removeEventListener('abort', abort);
      recordTimeline(sim, vmRef, 'start released', { task: task.ref });
      resolve();
    };
    const abort = () => {
      sim.faults.heldStarts.delete(release);
      reject(signal.reason);
    };
    sim.faults.heldStarts.add(release);
    signal.addEventListener('abort', abort, { once: true });
  });
}

export async function start(sim: Sim, task: TaskRuntime, vmRef: string, hostRef: string | null, paused: boolean): Promise<void> {
  const op = hostRef ? 'start_on' : 'start';
  await withOperation(sim, vmRef, op, task, async () => {
    const b = behaviourOf(sim, vmRef);
    const vm = vmOrThrow(sim, vmRef);
    if (b.start_error) throw new ApiError(b.start_error, [vmRef]);
    const host = chooseHost(sim, vmRef, vm, hostRef);
    checkPvKernel(vm);
    sim.db.update('VM', vmRef, { scheduled_to_be_resident_on: host });
    try {
      if (sim.faults.holdStartsUntilRestart && (sim.faults.holdStartsOf?.has(vmRef) ?? true)) await heldUntilReleased(sim, vmRef, task);
      await sim.clock.sleep(sim.host.domainBuild_s, task.abort.signal);
    } catch (e) {
      sim.db.update('VM', vmRef, { scheduled_to_be_resident_on: NULL_REF });
      throw e;
    }
    createDomain(sim, vmRef, host, paused);
    vmStartedMessage(sim, vmRef, host);
    if (vm.ha_restart_priority === 'restart') sim.db.update('VM', vmRef, { ha_always_run: true });
    const delay = Number(vm.start_delay) || 0;
    // start_on sleeps start_delay twice (forwarding layer and xapi_vm), as real xapi does.
    for (let i = 0; i < (hostRef ? 2 : 1) && delay > 0; i++) {
      recordTimeline(sim, vmRef, 'start_delay', { task: task.ref, detail: `${delay}s` });
      await sim.clock.sleep(delay, task.abort.signal);
    }
  });
}

/** The clean phase: request, wait for the ack, wait for the halt. Cancellable throughout. */
async function cleanPhase(sim: Sim, task: TaskRuntime, vmRef: string, request: string, timeout_s: number): Promise<void> {
  const began = sim.clock.simNow();
  const domid = sim.guests.get(vmRef)?.domid;
  setCancellable(sim, task, true);
  writeShutdownRequest(sim, vmRef, request);
  const ackWait = Math.min(sim.host.ackTimeout_s, timeout_s);
  const acked = await waitUntil(sim.clock, onDomain(sim, vmRef), () => shutdownAcknowledged(sim, vmRef), ackWait, task.abort.signal);
  const suspend = request === 'suspend';
  if (!acked) throw new ApiError(suspend ? 'VM_FAILED_SUSPEND_ACKNOWLEDGMENT' : 'VM_FAILED_SHUTDOWN_ACKNOWLEDGMENT', [vmRef]);
  const remaining = Math.max(0, timeout_s - (sim.clock.simNow() - began));
  const gone = await waitUntil(sim.clock, onDomain(sim, vmRef), () => isDomainGone(sim, vmRef) || sim.guests.get(vmRef)?.domid !== domid, remaining, task.abort.signal);
  if (!gone) throw new ApiError(suspend ? 'VM_SUSPEND_TIMEOUT' : 'VM_SHUTDOWN_TIMEOUT', [vmRef, ocamlFloatString(timeout_s)]);
  setCancellable(sim, task, false);
}

/**
 * xenopsd's domain destructions under way, per VM. xenopsd runs one operation per VM at a time and
 * outlives a toolstack restart, which clears current_operations: a hard stop asked after the
 * restart waits behind the one still destroying the domain, and then finds the guest halted.
 */
const destroying = new WeakMap<Sim, Map<string, Promise<void>>>();

/**
 * Queues this hard stop behind the one under way for the VM, synchronously — before any await — so
 * two hard stops asked in the same tick cannot both find the guest running and both destroy it.
 */
async function hardPhase(sim: Sim, task: TaskRuntime, vmRef: string): Promise<void> {
  let underWay = destroying.get(sim);
  if (!underWay) destroying.set(sim, (underWay = new Map()));
  const prior = underWay.get(vmRef) ?? Promise.resolve();
  const mine = prior.then(() => destroyUnlessHalted(sim, task, vmRef));
  const settled = mine.catch(() => undefined);
  underWay.set(vmRef, settled);
  try {
    await mine;
  } finally {
    if (underWay.get(vmRef) === settled) underWay.delete(vmRef);
  }
}

/** The hard stop itself, once the one before it has finished: the power state is read only now. */
async function destroyUnlessHalted(sim: Sim, task: TaskRuntime, vmRef: string): Promise<void> {
  const vm = vmOrThrow(sim, vmRef);
  if (vm.power_state === 'Halted') return; // it halted meanwhile: a no-op success
  if (vm.power_state === 'Suspended') {
    sim.db.update('VM', vmRef, { suspend_VDI: NULL_REF });
    destroyDomain(sim, vmRef, 'suspend image discarded');
    return;
  }
  if (sim.faults.holdHardStopsUntilRestart) {
    // xenopsd's half of the hard stop: it outlives the restart and finishes after it.
    recordTimeline(sim, vmRef, 'hard stop held', { task: task.ref });
    await new Promise<void>((resolve) => sim.bus.once('toolstack-back', resolve));
  }
  await sim.clock.sleep(sim.host.domainDestroy_s);
  destroyDomain(sim, vmRef, `hard shutdown (${task.ref})`);
}

async function shutdownDelay(sim: Sim, task: TaskRuntime, vmRef: string): Promise<void> {
  const vm = sim.db.get('VM', vmRef);
  const delay = Number(vm?.shutdown_delay) || 0;
  if (delay <= 0) return;
  recordTimeline(sim, vmRef, 'shutdown_delay', { task: task.ref, detail: `${delay}s` });
  await sim.clock.sleep(delay);
}

export async function cleanShutdown(sim: Sim, task: TaskRuntime, vmRef: string): Promise<void> {
  await withOperation(sim, vmRef, 'clean_shutdown', task, async () => {
    sim.db.update('VM', vmRef, { ha_always_run: false });
    await cleanPhase(sim, task, vmRef, 'poweroff', sim.host.shutdownTimeout_s);
    await shutdownDelay(sim, task, vmRef);
  });
}

export async function cleanReboot(sim: Sim, task: TaskRuntime, vmRef: string): Promise<void> {
  await withOperation(sim, vmRef, 'clean_reboot', task, async () => {
    await cleanPhase(sim, task, vmRef, 'reboot', sim.host.shutdownTimeout_s);
  });
}

export async function hardShutdown(sim: Sim, task: TaskRuntime, vmRef: string): Promise<void> {
  await withOperation(sim, vmRef, 'hard_shutdown', task, async () => {
    recordTimeline(sim, vmRef, 'hard shutdown', { task: task.ref });
    const pending = (): string[] => Object.entries(currentOps(vmOrThrow(sim, vmRef))).filter(([ref, op]) => ref !== task.ref && CANCELLED_BY_HARD.has(op)).map(([ref]) => ref);
    for (const ref of pending()) cancelTask(sim, ref);
    await waitUntil(sim.clock, onVm(sim, vmRef), () => pending().length === 0, QUEUE_LIMIT_S, undefined);
    sim.db.update('VM', vmRef, { ha_always_run: false });
    await hardPhase(sim, task, vmRef);
    vmForcedShutdownMessage(sim, vmRef);
    await shutdownDelay(sim, task, vmRef);
  });
}

/** VM.destroy: the record goes (with its metrics); event.from reports a `del` without snapshot. */
export async function destroy(sim: Sim, task: TaskRuntime, vmRef: string): Promise<void> {
  await withOperation(sim, vmRef, 'destroy', task, async () => {
    const vm = vmOrThrow(sim, vmRef);
    for (const [cls, field] of [['VM_guest_metrics', 'guest_metrics'], ['VM_metrics', 'metrics']] as const) {
      const ref = vm[field];
      if (typeof ref === 'string' && ref !== NULL_REF) sim.db.delete(cls, ref);
    }
    sim.destroyed.set(vmRef, { uuid: String(vm.uuid), name_label: String(vm.name_label) });
    recordTimeline(sim, vmRef, 'destroyed', { task: task.ref });
    sim.db.delete('VM', vmRef);
    sim.bus.emit(`vm:${vmRef}`);
  });
}

export async function hardReboot(sim: Sim, task: TaskRuntime, vmRef: string): Promise<void> {
  await withOperation(sim, vmRef, 'hard_reboot', task, async () => {
    await sim.clock.sleep(sim.host.domainDestroy_s);
    destroyDomain(sim, vmRef, 'hard reboot');
    await sim.clock.sleep(sim.host.domainBuild_s);
    createDomain(sim, vmRef, sim.hostRef, false, false, true);
  });
}

/** VM.shutdown: clean with timeout shutdown_delay (or 1200 s), then hard on any failure. */
export async function shutdown(sim: Sim, task: TaskRuntime, vmRef: string): Promise<void> {
  await withOperation(sim, vmRef, 'shutdown', task, async () => {
    const vm = vmOrThrow(sim, vmRef);
    sim.db.update('VM', vmRef, { ha_always_run: false });
    if (vm.power_state === 'Running') {
      // An HVM guest without PV drivers is not asked: xenopsd pulls the power at once.
      const canAsk = vm.domain_type === 'pv' || hasPvDrivers(guestMetricsOf(sim, vm)) || supportsCleanShutdown(sim, vm);
      if (canAsk) {
        const delay = Number(vm.shutdown_delay) || 0;
        try {
          await cleanPhase(sim, task, vmRef, 'poweroff', delay > 0 ? delay : sim.host.shutdownTimeout_s);
        } catch (err) {
          if (isCancellation(err)) throw err;
          recordTimeline(sim, vmRef, 'error', { task: task.ref, detail: `shutdown: clean phase failed (${err instanceof ApiError ? err.code : String(err)}); hard shutdown follows` });
          setCancellable(sim, task, false);
        }
      }
    }
    await hardPhase(sim, task, vmRef);
    await shutdownDelay(sim, task, vmRef);
  });
}

export async function suspend(sim: Sim, task: TaskRuntime, vmRef: string): Promise<void> {
  await withOperation(sim, vmRef, 'suspend', task, async () => {
    // The suspend image needs an SR: the VM's suspend_SR, else the pool's or the host's. The
    // simulator has no storage, so this fails as on a host without one (recorded: 03).
    if (!hasSuspendSr(sim, vmOrThrow(sim, vmRef))) throw new ApiError('VM_NO_SUSPEND_SR', [vmRef]);
    const gm = guestMetricsOf(sim, vmOrThrow(sim, vmRef));
    const reason = isStruct(gm?.other ?? null) ? (gm!.other as Record<string, string>)['data-cant-suspend-reason'] : undefined;
    if (reason) throw new ApiError('VM_NON_SUSPENDABLE', [vmRef, reason]);
    await cleanPhase(sim, task, vmRef, 'suspend', sim.host.shutdownTimeout_s);
  });
}

function hasSuspendSr(sim: Sim, vm: RpcStruct): boolean {
  const set = (v: unknown): boolean => typeof v === 'string' && v !== NULL_REF && v !== '';
  const host = sim.db.get('host', String(vm.resident_on));
  return set(vm.suspend_SR) || set(sim.db.get('pool', sim.poolRef)?.suspend_image_SR) || set(host?.suspend_image_sr);
}

export async function resume(sim: Sim, task: TaskRuntime, vmRef: string, hostRef: string | null, paused: boolean): Promise<void> {
  await withOperation(sim, vmRef, hostRef ? 'resume_on' : 'resume', task, async () => {
    const vm = vmOrThrow(sim, vmRef);
    const host = chooseHost(sim, vmRef, vm, hostRef);
    await sim.clock.sleep(sim.host.domainBuild_s);
    createDomain(sim, vmRef, host, paused, true);
  });
}

export async function pause(sim: Sim, task: TaskRuntime, vmRef: string, paused: boolean): Promise<void> {
  await withOperation(sim, vmRef, paused ? 'pause' : 'unpause', task, async () => {
    sim.db.update('VM', vmRef, { power_state: paused ? 'Paused' : 'Running' });
    refreshAllowedOperations(sim, vmRef);
    recordTimeline(sim, vmRef, paused ? 'paused' : 'unpaused', { task: task.ref });
  });
}
