// Storage as xapi shows it to a guest-autostart service: SR, PBD (one per host that sees the SR),
// VDI and VBD records, PBD.plug / PBD.unplug, and VM.start failing the way xapi fails when a disk's
// SR has no attached PBD on the host (recorded in xapi-traces/09_pool_ops: VM.start →
// NO_HOSTS_AVAILABLE, start_on / assert_can_boot_here → VM_REQUIRES_SR [vm, sr]).
// What is not modelled: SM drivers, VDI contents and sizes, multipathing, SR scans, VBD hotplug.
// Whether the storage target answers (an NFS server up, a storage guest running) lives beside the
// database, as it does for real: xapi only learns it when it tries to plug.

import { ApiError } from './errors.js';
import { recordTimeline, type Sim } from './state.js';
import { EPOCH, NULL_REF, type RpcStruct } from './wire/values.js';

/** The storage classes this module keeps objects of (the other object-less classes answer empty). */
export const STORAGE_CLASSES = ['SR', 'PBD', 'VDI', 'VBD'];

export interface ScenarioSr {
  name_label: string;
  /** SM type: nfs, lvmoiscsi, ext, lvm … (only shown, and nfs picks the NFS mount error). */
  type: string;
  /** Shared SRs have a PBD on every host; local ones on their host only. */
  shared: boolean;
  /** Local SR: the host it belongs to (default the first). */
  host: string | null;
  /** The PBDs are attached when the simulator starts. */
  plugged: boolean;
  /** The target answers: PBD.plug succeeds (sim.set_sr_available changes it). */
  available: boolean;
  /** A guest exporting this SR (a storage VM): PBD.plug succeeds only once it has booted. */
  served_by: string | null;
}

interface Target {
  available: boolean;
  servedBy: string | null;
}

// Kept off the Sim record so that the shared simulator state needs no storage field.
const targets = new WeakMap<Sim, Map<string, Target>>();

function targetsOf(sim: Sim): Map<string, Target> {
  let t = targets.get(sim);
  if (!t) targets.set(sim, (t = new Map()));
  return t;
}

export function srRecord(uuid: string, name: string, type: string, shared: boolean): RpcStruct {
  return {
    uuid,
    name_label: name,
    name_description: '',
    allowed_operations: ['unplug', 'plug', 'pbd_create', 'pbd_destroy', 'forget', 'vdi_clone', 'scan'],
    current_operations: {},
    VDIs: [],
    PBDs: [],
    virtual_allocation: 0,
    physical_utilisation: 0,
    physical_size: 1024 ** 4,
    type,
    content_type: 'user',
    shared,
    other_config: {},
    tags: [],
    sm_config: {},
    blobs: {},
    local_cache_enabled: false,
    introduced_by: NULL_REF,
    clustered: false,
    is_tools_sr: false,
  };
}

export function pbdRecord(uuid: string, host: string, sr: string, attached: boolean): RpcStruct {
  return { uuid, host, SR: sr, device_config: {}, currently_attached: attached, other_config: {} };
}

export function vdiRecord(uuid: string, name: string, sr: string): RpcStruct {
  return {
    uuid,
    name_label: name,
    name_description: '',
    allowed_operations: [],
    current_operations: {},
    SR: sr,
    VBDs: [],
    crash_dumps: [],
    virtual_size: 10 * 1024 ** 3,
    physical_utilisation: 0,
    type: 'user',
    sharable: false,
    read_only: false,
    other_config: {},
    storage_lock: false,
    location: uuid,
    managed: true,
    missing: false,
    parent: NULL_REF,
    xenstore_data: {},
    sm_config: {},
    is_a_snapshot: false,
    snapshot_of: NULL_REF,
    snapshots: [],
    snapshot_time: EPOCH,
    tags: [],
    allow_caching: false,
    on_boot: 'persist',
    metadata_of_pool: NULL_REF,
    metadata_latest: false,
    is_tools_iso: false,
    cbt_enabled: false,
  };
}

export function vbdRecord(uuid: string, vm: string, vdi: string, device: number): RpcStruct {
  return {
    uuid,
    allowed_operations: [],
    current_operations: {},
    VM: vm,
    VDI: vdi,
    device: `xvd${String.fromCharCode(97 + device)}`,
    userdevice: String(device),
    bootable: device === 0,
    mode: 'RW',
    type: 'Disk',
    unpluggable: true,
    storage_lock: false,
    empty: false,
    other_config: {},
    currently_attached: false,
    status_code: 0,
    status_detail: '',
    runtime_properties: {},
    qos_algorithm_type: '',
    qos_algorithm_params: {},
    qos_supported_algorithms: [],
    metrics: NULL_REF,
  };
}

/** Builds the scenario's SRs with their PBDs, and a VDI + VBD per disk of each guest. */
export function buildStorage(sim: Sim, srs: readonly ScenarioSr[], hostRefs: ReadonlyMap<string, string>, disks: ReadonlyMap<string, readonly string[]>): void {
  const { db } = sim;
  const srRefs = new Map<string, string>();
  const vmByName = (name: string): string | undefined => [...db.table('VM')].find(([, row]) => row.record.name_label === name)?.[0];
  for (const s of srs) {
    const ref = sim.newRef();
    db.insert('SR', ref, srRecord(sim.uuid(), s.name_label, s.type, s.shared));
    srRefs.set(s.name_label, ref);
    const hosts = s.shared ? [...hostRefs.values()] : [hostRefs.get(s.host ?? '') ?? sim.hostRef];
    const pbds = hosts.map((h) => {
      const pbd = sim.newRef();
      db.insert('PBD', pbd, pbdRecord(sim.uuid(), h, ref, s.plugged));
      db.update('host', h, { PBDs: [...((db.get('host', h)!.PBDs as string[]) ?? []), pbd] });
      return pbd;
    });
    db.update('SR', ref, { PBDs: pbds });
    targetsOf(sim).set(ref, { available: s.available, servedBy: s.served_by ? (vmByName(s.served_by) ?? null) : null });
  }
  for (const [vmName, srNames] of disks) {
    const vm = vmByName(vmName);
    if (!vm) continue;
    const vbds: string[] = [];
    for (const [i, srName] of srNames.entries()) {
      const sr = srRefs.get(srName)!;
      const vdi = sim.newRef();
      const vbd = sim.newRef();
      db.insert('VDI', vdi, vdiRecord(sim.uuid(), `${vmName} disk ${i}`, sr));
      db.insert('VBD', vbd, vbdRecord(sim.uuid(), vm, vdi, i));
      db.update('VDI', vdi, { VBDs: [vbd] });
      db.update('SR', sr, { VDIs: [...(db.get('SR', sr)!.VDIs as string[]), vdi] });
      vbds.push(vbd);
    }
    db.update('VM', vm, { VBDs: vbds });
  }
}

/** The SR a session-less call names: ref, uuid or name_label. */
export function srRefOf(sim: Sim, refOrUuidOrName: string): string {
  if (sim.db.get('SR', refOrUuidOrName)) return refOrUuidOrName;
  const byUuid = sim.db.refByUuid('SR', refOrUuidOrName);
  if (byUuid) return byUuid;
  for (const [ref, row] of sim.db.table('SR')) if (row.record.name_label === refOrUuidOrName) return ref;
  throw new ApiError('UUID_INVALID', ['SR', refOrUuidOrName]);
}

export function setSrAvailable(sim: Sim, sr: string, available: boolean): void {
  const t = targetsOf(sim).get(sr) ?? { available, servedBy: null };
  targetsOf(sim).set(sr, { ...t, available });
}

/** Whether the target answers now: available, and its storage guest (if any) booted. */
function reachable(sim: Sim, sr: string): boolean {
  const t = targetsOf(sim).get(sr);
  if (!t) return true;
  if (!t.available) return false;
  return t.servedBy === null || sim.guests.get(t.servedBy)?.booted === true;
}

/** The SM error a failed plug gives: NFS's mount error, else "the SR is not available". */
function plugError(sim: Sim, sr: string): ApiError {
  const rec = sim.db.get('SR', sr)!;
  if (rec.type === 'nfs') return new ApiError('SR_BACKEND_FAILURE_73', ['', 'NFS mount error [opterr=mount failed with return code 32]', '']);
  return new ApiError('SR_BACKEND_FAILURE_47', ['', `The SR is not available [opterr=${String(rec.name_label)} unreachable]`, '']);
}

/** PBD.plug: attaches when the target answers (an attached PBD is left as it is), after 1 simulated second. */
export async function plugPbd(sim: Sim, pbd: string, signal: AbortSignal): Promise<void> {
  const rec = sim.db.get('PBD', pbd);
  if (!rec) throw new ApiError('HANDLE_INVALID', ['PBD', pbd]);
  if (rec.currently_attached === true) return;
  await sim.clock.sleep(1, signal);
  const sr = String(rec.SR);
  if (!reachable(sim, sr)) throw plugError(sim, sr);
  sim.db.update('PBD', pbd, { currently_attached: true });
}

/** PBD.unplug: detaches; an unplugged PBD succeeds unchanged (as in the recording). */
export function unplugPbd(sim: Sim, pbd: string): void {
  const rec = sim.db.get('PBD', pbd);
  if (!rec) throw new ApiError('HANDLE_INVALID', ['PBD', pbd]);
  if (rec.currently_attached === true) sim.db.update('PBD', pbd, { currently_attached: false });
}

/** The first SR a VM's disks live on that has no attached PBD on `host`, or null. */
export function unpluggedSrOf(sim: Sim, vm: string, host: string): string | null {
  const { db } = sim;
  for (const vbd of (db.get('VM', vm)?.VBDs as string[] | undefined) ?? []) {
    const b = db.get('VBD', vbd);
    if (!b || b.empty === true || b.VDI === NULL_REF) continue;
    const sr = db.get('VDI', String(b.VDI))?.SR;
    if (typeof sr !== 'string' || !db.get('SR', sr)) continue;
    const attached = ((db.get('SR', sr)!.PBDs as string[]) ?? []).some((p) => {
      const r = db.get('PBD', p);
      return r?.host === host && r.currently_attached === true;
    });
    if (!attached) return sr;
  }
  return null;
}

/**
 * Part of assert_can_boot_here: VM_REQUIRES_SR [vm, sr] (what start_on answers); VM.start, finding
 * no host that passes, answers only NO_HOSTS_AVAILABLE.
 */
export function assertStorageHere(sim: Sim, vm: string, host: string): void {
  const sr = unpluggedSrOf(sim, vm, host);
  if (sr === null) return;
  recordTimeline(sim, vm, 'storage missing', { detail: `SR ${String(sim.db.get('SR', sr)!.name_label)} not plugged on host ${String(sim.db.get('host', host)?.name_label)}` });
  throw new ApiError('VM_REQUIRES_SR', [vm, sr]);
}
