// The simulated domain and the guest inside it (what xenopsd and the guest OS do): boot, the PV
// drivers and guest agent reporting, vm-data writes, answering control/shutdown, halting.
// xapi-side state (power_state, resident_on, metrics, memory) is updated here as xapi would see it.

import { behaviourOf } from './behaviour.js';
import { refreshAllowedOperations } from './operations.js';
import { recordTimeline, type GuestRuntime, type Sim } from './state.js';
import { agentReport, guestMetricsRecord } from './model/records.js';
import { NULL_REF, isStruct, type RpcStruct } from './wire/values.js';

/** Simulated seconds a guest takes to acknowledge control/shutdown once it sees it. */
const ACK_DELAY_S = 0.5;
const PV_FEATURES = ['shutdown', 'poweroff', 'reboot', 'suspend', 'vcpu-hotplug'];

function domainChanged(sim: Sim, vmRef: string): void {
  sim.bus.emit(`dom:${vmRef}`);
}

function guestTimer(sim: Sim, g: GuestRuntime, simSeconds: number, fn: () => void): void {
  const cancel = sim.clock.after(simSeconds, () => {
    g.timers.delete(cancel);
    fn();
  });
  g.timers.add(cancel);
}

/** VM.xenstore_data mirrors the domain's vm-data subtree, intermediate nodes included (seed 000). */
function syncXenstoreData(sim: Sim, vmRef: string, g: GuestRuntime): void {
  const data: Record<string, string> = {};
  for (const [path, value] of g.xenstore) if (path === 'vm-data' || path.startsWith('vm-data/')) data[path] = value;
  sim.db.update('VM', vmRef, { xenstore_data: data });
}

function xenstoreSet(g: GuestRuntime, path: string, value: string): void {
  const parts = path.split('/');
  for (let i = 1; i < parts.length; i++) {
    const parent = parts.slice(0, i).join('/');
    if (!g.xenstore.has(parent)) g.xenstore.set(parent, '');
  }
  g.xenstore.set(path, value);
}

/** A guest (or the admin in dom0) writes a xenstore key of a running domain. */
export function guestWrite(sim: Sim, vmRef: string, path: string, value: string): boolean {
  const g = sim.guests.get(vmRef);
  if (!g) return false;
  xenstoreSet(g, path, value);
  if (path.startsWith('vm-data')) syncXenstoreData(sim, vmRef, g);
  recordTimeline(sim, vmRef, 'xenstore write', { detail: `${path}=${value}` });
  domainChanged(sim, vmRef);
  return true;
}

export function hostFreeMemory(sim: Sim, hostRef: string): number {
  const host = sim.db.get('host', hostRef);
  const metrics = host && typeof host.metrics === 'string' ? sim.db.get('host_metrics', host.metrics) : undefined;
  const total = Number(metrics?.memory_total ?? 0);
  // Every host of the pool has its own control domain holding the same memory.
  let used = sim.host.dom0Memory;
  for (const row of sim.db.table('VM').values()) {
    const vm = row.record;
    if (vm.is_control_domain === true) continue;
    const resident = vm.resident_on === hostRef && (vm.power_state === 'Running' || vm.power_state === 'Paused');
    if (!resident && vm.scheduled_to_be_resident_on !== hostRef) continue;
    used += Number(vm.memory_dynamic_min) + Number(vm.memory_overhead);
  }
  return Math.max(0, total - used);
}

function refreshHostMemory(sim: Sim, hostRef: string): void {
  const host = sim.db.get('host', hostRef);
  if (host && typeof host.metrics === 'string') sim.db.update('host_metrics', host.metrics, { memory_free: hostFreeMemory(sim, hostRef), last_updated: new Date() });
}

/** The end of a live migration: the domain runs on `toHost` now (xapi updates resident_on last). */
export function moveDomain(sim: Sim, vmRef: string, fromHost: string, toHost: string): void {
  sim.db.update('VM', vmRef, { resident_on: toHost, scheduled_to_be_resident_on: NULL_REF });
  setResident(sim, fromHost, vmRef, false);
  setResident(sim, toHost, vmRef, true);
  refreshHostMemory(sim, fromHost);
  refreshHostMemory(sim, toHost);
}

function setResident(sim: Sim, hostRef: string, vmRef: string, present: boolean): void {
  const host = sim.db.get('host', hostRef);
  if (!host || !Array.isArray(host.resident_VMs)) return;
  const list = (host.resident_VMs as string[]).filter((r) => r !== vmRef);
  if (present) list.push(vmRef);
  sim.db.update('host', hostRef, { resident_VMs: list });
}

function deleteGuestMetrics(sim: Sim, vm: RpcStruct): void {
  if (typeof vm.guest_metrics === 'string' && vm.guest_metrics !== NULL_REF) sim.db.delete('VM_guest_metrics', vm.guest_metrics);
}

/** xapi makes a fresh VM_guest_metrics on every start (live, empty); it outlives the halt. */
function newGuestMetrics(sim: Sim, vmRef: string, vm: RpcStruct): void {
  deleteGuestMetrics(sim, vm);
  const ref = sim.newRef();
  sim.db.insert('VM_guest_metrics', ref, guestMetricsRecord(sim.uuid(), new Date()));
  sim.db.update('VM', vmRef, { guest_metrics: ref });
}

/** The guest agent reports: it fills the guest metrics (PV driver version, OS, features). */
function agentReports(sim: Sim, vmRef: string, pv: boolean): void {
  const vm = sim.db.get('VM', vmRef);
  if (!vm) return;
  if (typeof vm.guest_metrics !== 'string' || !sim.db.get('VM_guest_metrics', vm.guest_metrics)) newGuestMetrics(sim, vmRef, vm);
  sim.db.update('VM_guest_metrics', sim.db.get('VM', vmRef)!.guest_metrics as string, agentReport(pv, pv ? PV_FEATURES : [], new Date()));
  refreshAllowedOperations(sim, vmRef);
  recordTimeline(sim, vmRef, 'agent live');
  domainChanged(sim, vmRef);
}

/** The SMBIOS strings xapi gives a VM on its first start (recorded: shared/xapi-traces 03). */
const DEFAULT_BIOS_STRINGS: Record<string, string> = {
  'bios-vendor': 'Xen', 'bios-version': '', 'system-manufacturer': 'Xen', 'system-product-name': 'HVM domU', 'system-version': '',
  'system-serial-number': '', 'baseboard-manufacturer': '', 'baseboard-product-name': '', 'baseboard-version': '', 'baseboard-serial-number': '',
  'baseboard-asset-tag': '', 'baseboard-location-in-chassis': '', 'enclosure-asset-tag': '', 'hp-rombios': '', 'oem-1': 'Xen',
  'oem-2': 'MS_VM_CERT/SHA1/bdbeb6e0a816d43fa6d3fe8aaef04c2bad9d3e3d',
};

/** What xapi writes into a VM at a start: BIOS strings once, the CPU it booted on every time. */
function firstBootFacts(sim: Sim, vm: RpcStruct, hostRef: string): RpcStruct {
  const cpu = sim.db.get('host', hostRef)?.cpu_info as Record<string, string> | undefined;
  const patch: RpcStruct = { last_boot_CPU_flags: { vendor: cpu?.vendor ?? '', features: '' } };
  if (!isStruct(vm.bios_strings) || Object.keys(vm.bios_strings).length === 0) patch.bios_strings = { ...DEFAULT_BIOS_STRINGS };
  return patch;
}

/** xenopsd has built the domain and unpaused it: the VM is Running; the guest now boots. */
export function createDomain(sim: Sim, vmRef: string, hostRef: string, startPaused: boolean, alreadyUp = false, reboot = false): void {
  const vm = sim.db.get('VM', vmRef)!;
  const b = behaviourOf(sim, vmRef);
  const g: GuestRuntime = { domid: sim.nextDomid++, booted: false, xenstore: new Map(), timers: new Set() };
  sim.guests.set(vmRef, g);
  // Seed 000: vm-data/* keys are copied into xenstore; xenstore_data then mirrors the subtree exactly.
  xenstoreSet(g, 'vm-data', '');
  for (const [k, v] of Object.entries(isStruct(vm.xenstore_data) ? (vm.xenstore_data as Record<string, string>) : {})) {
    if (k === 'vm-data' || k.startsWith('vm-data/')) xenstoreSet(g, k, v);
  }
  // A held swap leaves the last run's record (and what its agent wrote) in place past Running.
  const swapHeld = !reboot && !alreadyUp && b.metrics_swap === 'held';
  if (!reboot && !swapHeld) newGuestMetrics(sim, vmRef, vm);
  syncXenstoreData(sim, vmRef, g);
  sim.db.update('VM', vmRef, firstBootFacts(sim, vm, hostRef));
  sim.db.update('VM', vmRef, {
    power_state: startPaused ? 'Paused' : 'Running',
    resident_on: hostRef,
    domid: g.domid,
    memory_target: Number(vm.memory_dynamic_max),
    scheduled_to_be_resident_on: NULL_REF,
  });
  if (typeof vm.metrics === 'string') {
    sim.db.update('VM_metrics', vm.metrics, {
      ...(reboot ? {} : { start_time: new Date() }),
      memory_actual: Number(vm.memory_dynamic_min),
      VCPUs_number: Number(vm.VCPUs_at_startup),
      current_domain_type: vm.domain_type as string,
    });
  }
  setResident(sim, hostRef, vmRef, true);
  refreshHostMemory(sim, hostRef);
  refreshAllowedOperations(sim, vmRef);
  recordTimeline(sim, vmRef, startPaused ? 'paused' : 'running', { detail: `domid ${g.domid}` });

  const booted = (): void => {
    g.booted = true;
    if (b.pv) for (const f of PV_FEATURES) g.xenstore.set(`control/feature-${f}`, '1');
    recordTimeline(sim, vmRef, 'booted');
    domainChanged(sim, vmRef);
    if (g.xenstore.has('control/shutdown')) answerShutdownRequest(sim, vmRef, g);
  };
  // A guest that was already up (scenario start state, resume) reports at once.
  if (alreadyUp) {
    booted();
    if (b.pv && b.agent_s !== 'none') agentReports(sim, vmRef, b.pv);
    for (const [path, w] of Object.entries(b.vm_data)) xenstoreSet(g, path, w.value);
    syncXenstoreData(sim, vmRef, g);
    return;
  }
  guestTimer(sim, g, b.boot_s, booted);
  // The agent writes into this run's record: agent_s after it exists.
  const agentStarts = (): void => {
    if (b.pv && b.agent_s !== 'none') guestTimer(sim, g, b.agent_s, () => agentReports(sim, vmRef, b.pv));
  };
  if (swapHeld) {
    g.heldMetricsSwap = () => {
      delete g.heldMetricsSwap;
      newGuestMetrics(sim, vmRef, sim.db.get('VM', vmRef)!);
      recordTimeline(sim, vmRef, 'guest metrics replaced');
      domainChanged(sim, vmRef);
      agentStarts();
    };
  } else agentStarts();
  // "@boot" stands for a value unique to this boot (the domid and the time), as a guest script
  // writing `date +%s` would produce: readiness probes must see a fresh value on every boot.
  for (const [path, w] of Object.entries(b.vm_data)) {
    guestTimer(sim, g, w.after_s, () => guestWrite(sim, vmRef, path, w.value === '@boot' ? `domid ${g.domid} at ${new Date().toISOString()}` : w.value));
  }
}

/** sim.swap_guest_metrics: the held swap of this run's start happens now; false when none is held. */
export function swapHeldGuestMetrics(sim: Sim, vmRef: string): boolean {
  const swap = sim.guests.get(vmRef)?.heldMetricsSwap;
  if (!swap) return false;
  swap();
  return true;
}

/** The domain is gone (clean halt, hard shutdown or suspend): xapi's view follows. */
export function destroyDomain(sim: Sim, vmRef: string, how: string, finalState: 'Halted' | 'Suspended' = 'Halted'): void {
  const vm = sim.db.get('VM', vmRef);
  const g = sim.guests.get(vmRef);
  if (g) {
    for (const cancel of g.timers) cancel();
    g.timers.clear();
    sim.guests.delete(vmRef);
  }
  if (!vm) return;
  const hostRef = vm.resident_on as string;
  sim.db.update('VM', vmRef, { power_state: finalState, resident_on: NULL_REF, domid: -1, memory_target: 0 });
  if (typeof vm.metrics === 'string') sim.db.update('VM_metrics', vm.metrics, { memory_actual: 0, VCPUs_number: 0, current_domain_type: 'unspecified' });
  if (hostRef && hostRef !== NULL_REF) {
    setResident(sim, hostRef, vmRef, false);
    refreshHostMemory(sim, hostRef);
  }
  refreshAllowedOperations(sim, vmRef);
  recordTimeline(sim, vmRef, finalState === 'Halted' ? 'halted' : 'suspended', { detail: how });
  domainChanged(sim, vmRef);
}

/** A booted guest sees control/shutdown and acts on it per its behaviour. */
function answerShutdownRequest(sim: Sim, vmRef: string, g: GuestRuntime): void {
  const b = behaviourOf(sim, vmRef);
  const request = g.xenstore.get('control/shutdown') ?? '';
  if (b.shutdown === 'ignore' || request === '') return;
  guestTimer(sim, g, ACK_DELAY_S, () => {
    g.xenstore.delete('control/shutdown');
    recordTimeline(sim, vmRef, 'acknowledged', { detail: request });
    domainChanged(sim, vmRef);
    if (b.shutdown === 'hung') return;
    guestTimer(sim, g, b.shutdown_s, () => {
      if (request === 'suspend') destroyDomain(sim, vmRef, 'guest suspended', 'Suspended');
      else if (request === 'reboot') {
        destroyDomain(sim, vmRef, 'guest rebooted');
        const vm = sim.db.get('VM', vmRef);
        if (vm) createDomain(sim, vmRef, sim.hostRef, false, false, true);
      } else destroyDomain(sim, vmRef, 'guest powered off');
    });
  });
}

/** xenopsd writes control/shutdown (removing any old request first, in one transaction). */
export function writeShutdownRequest(sim: Sim, vmRef: string, request: string): void {
  const g = sim.guests.get(vmRef);
  if (!g) return;
  g.xenstore.set('control/shutdown', request);
  recordTimeline(sim, vmRef, 'control/shutdown written', { detail: request });
  domainChanged(sim, vmRef);
  if (g.booted) answerShutdownRequest(sim, vmRef, g);
}

export function shutdownAcknowledged(sim: Sim, vmRef: string): boolean {
  const g = sim.guests.get(vmRef);
  return !g || !g.xenstore.get('control/shutdown');
}

export function isDomainGone(sim: Sim, vmRef: string): boolean {
  return !sim.guests.has(vmRef);
}
