// Typed XenAPI records for the classes this client reads, decoded from get_record /
// get_all_records / event snapshots. Field names are camel-cased from xapi's (power_state →
// powerState); only fields someone uses are decoded, the rest stay out of the way.

import { type Origin, asInt, asLiveRef, asString, asStruct, at, fieldsOf, malformed } from './decode.js';
import { XenApiError } from './errors.js';
import type { Logger } from '../log.js';

export type Ref = string;

export const POWER_STATES = ['Halted', 'Paused', 'Running', 'Suspended'] as const;
export type VmPowerState = (typeof POWER_STATES)[number];

export interface VmRecord {
  ref: Ref;
  uuid: string;
  nameLabel: string;
  nameDescription: string;
  powerState: VmPowerState;
  isATemplate: boolean;
  isDefaultTemplate: boolean;
  isASnapshot: boolean;
  isControlDomain: boolean;
  otherConfig: Record<string, string>;
  xenstoreData: Record<string, string>;
  residentOn: Ref | null;
  /** The host a start or a live migration under way has reserved memory on (null otherwise). */
  scheduledToBeResidentOn: Ref | null;
  affinity: Ref | null;
  domid: number;
  /** task ref → operation. */
  currentOperations: Record<string, string>;
  allowedOperations: string[];
  /** operation → reason. */
  blockedOperations: Record<string, string>;
  guestMetrics: Ref | null;
  metrics: Ref | null;
  order: number;
  startDelay: number;
  shutdownDelay: number;
  memoryStaticMax: number;
  memoryStaticMin: number;
  memoryDynamicMax: number;
  memoryDynamicMin: number;
  memoryOverhead: number;
  /** 'hvm' | 'pv' | 'pv_in_pvh' | 'pvh' | 'unspecified'. */
  domainType: string;
  /** '' means PV boot on VMs that predate domain_type. */
  hvmBootPolicy: string;
  /** 'restart', 'best-effort' or '' (HA leaves it alone). */
  haRestartPriority: string;
}

export interface GuestMetricsRecord {
  ref: Ref;
  uuid: string;
  /** major, minor, micro, build. */
  pvDriversVersion: Record<string, string>;
  pvDriversUpToDate: boolean;
  pvDriversDetected: boolean;
  /** One key per xenstore control/* entry (feature-shutdown …), plus data-* keys. */
  other: Record<string, string>;
  osVersion: Record<string, string>;
  networks: Record<string, string>;
  live: boolean;
  lastUpdated: Date | null;
}

export interface VmMetricsRecord {
  ref: Ref;
  uuid: string;
  memoryActual: number;
  vcpusNumber: number;
  state: string[];
  startTime: Date | null;
  installTime: Date | null;
  lastUpdated: Date | null;
  currentDomainType: string;
}

export interface HostRecord {
  ref: Ref;
  uuid: string;
  nameLabel: string;
  address: string;
  hostname: string;
  enabled: boolean;
  metrics: Ref | null;
  residentVms: Ref[];
  controlDomain: Ref | null;
  memoryOverhead: number;
  otherConfig: Record<string, string>;
  apiVersionMajor: number;
  apiVersionMinor: number;
}

export interface HostMetricsRecord {
  ref: Ref;
  uuid: string;
  memoryTotal: number;
  memoryFree: number;
  live: boolean;
  lastUpdated: Date | null;
}

export interface PoolRecord {
  ref: Ref;
  uuid: string;
  nameLabel: string;
  master: Ref | null;
  otherConfig: Record<string, string>;
  haEnabled: boolean;
}

export const TASK_STATUSES = ['pending', 'success', 'failure', 'cancelling', 'cancelled'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export interface TaskRecord {
  ref: Ref;
  uuid: string;
  nameLabel: string;
  status: TaskStatus;
  progress: number;
  /** The XML-RPC-encoded result, e.g. '<value></value>'; see decodeTaskResult. */
  result: string;
  /** [CODE, params…] on failure; [] otherwise (also when cancelled). */
  errorInfo: string[];
  created: Date | null;
  finished: Date | null;
  allowedOperations: string[];
  residentOn: Ref | null;
  subtaskOf: Ref | null;
  otherConfig: Record<string, string>;
}

export function decodeVm(origin: Origin, ref: Ref, value: unknown): VmRecord {
  const f = fieldsOf(origin, value);
  return {
    ref,
    uuid: f.str('uuid'),
    nameLabel: f.str('name_label'),
    nameDescription: f.str('name_description', ''),
    powerState: f.oneOf('power_state', POWER_STATES),
    isATemplate: f.bool('is_a_template'),
    isDefaultTemplate: f.bool('is_default_template', false),
    isASnapshot: f.bool('is_a_snapshot'),
    isControlDomain: f.bool('is_control_domain'),
    otherConfig: f.map('other_config'),
    xenstoreData: f.map('xenstore_data', true),
    residentOn: f.ref('resident_on'),
    scheduledToBeResidentOn: f.ref('scheduled_to_be_resident_on', true),
    affinity: f.ref('affinity', true),
    domid: f.int('domid', -1),
    currentOperations: f.map('current_operations', true),
    allowedOperations: f.strings('allowed_operations', true),
    blockedOperations: f.map('blocked_operations', true),
    guestMetrics: f.ref('guest_metrics', true),
    metrics: f.ref('metrics', true),
    order: f.int('order', 0),
    startDelay: f.int('start_delay', 0),
    shutdownDelay: f.int('shutdown_delay', 0),
    memoryStaticMax: f.int('memory_static_max'),
    memoryStaticMin: f.int('memory_static_min', 0),
    memoryDynamicMax: f.int('memory_dynamic_max'),
    memoryDynamicMin: f.int('memory_dynamic_min'),
    memoryOverhead: f.int('memory_overhead', 0),
    domainType: f.str('domain_type', 'unspecified'),
    hvmBootPolicy: f.str('HVM_boot_policy', ''),
    haRestartPriority: f.str('ha_restart_priority', ''),
  };
}

export function decodeGuestMetrics(origin: Origin, ref: Ref, value: unknown): GuestMetricsRecord {
  const f = fieldsOf(origin, value);
  return {
    ref,
    uuid: f.str('uuid'),
    pvDriversVersion: f.map('PV_drivers_version', true),
    pvDriversUpToDate: f.bool('PV_drivers_up_to_date', false),
    pvDriversDetected: f.bool('PV_drivers_detected', false),
    other: f.map('other', true),
    osVersion: f.map('os_version', true),
    networks: f.map('networks', true),
    live: f.bool('live', false),
    lastUpdated: f.date('last_updated', true),
  };
}

export function decodeVmMetrics(origin: Origin, ref: Ref, value: unknown): VmMetricsRecord {
  const f = fieldsOf(origin, value);
  return {
    ref,
    uuid: f.str('uuid'),
    memoryActual: f.int('memory_actual', 0),
    vcpusNumber: f.int('VCPUs_number', 0),
    state: f.strings('state', true),
    startTime: f.date('start_time', true),
    installTime: f.date('install_time', true),
    lastUpdated: f.date('last_updated', true),
    currentDomainType: f.str('current_domain_type', 'unspecified'),
  };
}

export function decodeHost(origin: Origin, ref: Ref, value: unknown): HostRecord {
  const f = fieldsOf(origin, value);
  return {
    ref,
    uuid: f.str('uuid'),
    nameLabel: f.str('name_label'),
    address: f.str('address', ''),
    hostname: f.str('hostname', ''),
    enabled: f.bool('enabled', true),
    metrics: f.ref('metrics', true),
    residentVms: f.refs('resident_VMs', true),
    controlDomain: f.ref('control_domain', true),
    memoryOverhead: f.int('memory_overhead', 0),
    otherConfig: f.map('other_config', true),
    apiVersionMajor: f.int('API_version_major', 0),
    apiVersionMinor: f.int('API_version_minor', 0),
  };
}

export function decodeHostMetrics(origin: Origin, ref: Ref, value: unknown): HostMetricsRecord {
  const f = fieldsOf(origin, value);
  return {
    ref,
    uuid: f.str('uuid'),
    memoryTotal: f.int('memory_total'),
    memoryFree: f.int('memory_free', 0),
    live: f.bool('live', true),
    lastUpdated: f.date('last_updated', true),
  };
}

export function decodePool(origin: Origin, ref: Ref, value: unknown): PoolRecord {
  const f = fieldsOf(origin, value);
  return {
    ref,
    uuid: f.str('uuid'),
    nameLabel: f.str('name_label', ''),
    master: f.ref('master'),
    otherConfig: f.map('other_config', true),
    haEnabled: f.bool('ha_enabled', false),
  };
}

export function decodeTask(origin: Origin, ref: Ref, value: unknown): TaskRecord {
  const f = fieldsOf(origin, value);
  return {
    ref,
    uuid: f.str('uuid'),
    nameLabel: f.str('name_label', ''),
    status: f.oneOf('status', TASK_STATUSES),
    progress: f.float('progress', 0),
    result: f.str('result', ''),
    errorInfo: f.strings('error_info', true),
    created: f.date('created', true),
    finished: f.date('finished', true),
    allowedOperations: f.strings('allowed_operations', true),
    residentOn: f.ref('resident_on', true),
    subtaskOf: f.ref('subtask_of', true),
    otherConfig: f.map('other_config', true),
  };
}

export interface RecordTypes {
  vm: VmRecord;
  vm_guest_metrics: GuestMetricsRecord;
  vm_metrics: VmMetricsRecord;
  host: HostRecord;
  host_metrics: HostMetricsRecord;
  pool: PoolRecord;
  task: TaskRecord;
}

/** Event class names as event.from reports them (lower case). */
export type EventClass = keyof RecordTypes;

type Decoder<T> = (origin: Origin, ref: Ref, value: unknown) => T;

export const DECODERS: { [C in EventClass]: Decoder<RecordTypes[C]> } = {
  vm: decodeVm,
  vm_guest_metrics: decodeGuestMetrics,
  vm_metrics: decodeVmMetrics,
  host: decodeHost,
  host_metrics: decodeHostMetrics,
  pool: decodePool,
  task: decodeTask,
};

/** The API class name for an event class: vm → VM, vm_guest_metrics → VM_guest_metrics. */
export const API_CLASS: { [C in EventClass]: string } = {
  vm: 'VM',
  vm_guest_metrics: 'VM_guest_metrics',
  vm_metrics: 'VM_metrics',
  host: 'host',
  host_metrics: 'host_metrics',
  pool: 'pool',
  task: 'task',
};

export function isEventClass(name: string): name is EventClass {
  return Object.prototype.hasOwnProperty.call(DECODERS, name);
}

/** A record left out of a read because one of its fields does not decode: which, and why. */
export interface UnreadableRecord {
  cls: EventClass;
  ref: Ref;
  /** From the raw record when that much of it is readable, for the log and the report. */
  uuid: string | null;
  name: string | null;
  /** The field path and what was wrong with it, e.g. "memory_static_max: expected an integer …, got \"lots\"". */
  problem: string;
}

/** The one log line for a record left out of a read (a whole-table read's, or the event cache's). */
export function logUnreadable(log: Logger, bad: UnreadableRecord): void {
  log.error({ class: bad.cls, ref: bad.ref, uuid: bad.uuid, guest: bad.name, problem: bad.problem }, `unreadable ${API_CLASS[bad.cls]} record ${bad.ref} left out: ${bad.problem}`);
}

/**
 * Decodes a get_all_records answer (map ref → record) one record at a time: a record that does not
 * decode is handed to `onUnreadable` and left out, so one malformed record never sinks the read of
 * every other one. Only an answer that is not a map at all throws.
 */
export function decodeAll<C extends EventClass>(
  call: string,
  cls: C,
  value: unknown,
  onUnreadable: (record: UnreadableRecord) => void,
): Map<Ref, RecordTypes[C]> {
  const origin: Origin = { call, path: '' };
  const out = new Map<Ref, RecordTypes[C]>();
  for (const [ref, record] of Object.entries(asStruct(origin, value))) {
    const decoded = decodeOrReport(call, cls, ref, record, onUnreadable);
    if (decoded) out.set(ref, decoded);
  }
  return out;
}

/** One record, or null after telling `onUnreadable` which field of it is wrong. */
export function decodeOrReport<C extends EventClass>(
  call: string,
  cls: C,
  ref: string,
  value: unknown,
  onUnreadable: (record: UnreadableRecord) => void,
): RecordTypes[C] | null {
  const o = at({ call, path: '' }, ref);
  try {
    asLiveRef(o, ref);
    return DECODERS[cls](o, ref, value) as RecordTypes[C];
  } catch (err) {
    if (!(err instanceof XenApiError)) throw err;
    onUnreadable({ cls, ref, ...identityOf(value), problem: err.params[1] ?? err.message });
    return null;
  }
}

/** uuid and name_label of a raw record, each only when it is a string. */
function identityOf(value: unknown): { uuid: string | null; name: string | null } {
  const raw = value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
  const text = (v: unknown) => (typeof v === 'string' ? v : null);
  return { uuid: text(raw['uuid']), name: text(raw['name_label']) };
}

export function decodeOne<C extends EventClass>(call: string, cls: C, ref: Ref, value: unknown): RecordTypes[C] {
  return DECODERS[cls]({ call, path: '' }, ref, value) as RecordTypes[C];
}

export const EVENT_OPERATIONS = ['add', 'mod', 'del'] as const;

/** One event.from event, the snapshot still raw (decoded by class when it is cached). */
export interface RawEvent {
  id: string;
  class: string;
  operation: (typeof EVENT_OPERATIONS)[number];
  ref: Ref;
  /** Absent for 'del'. */
  snapshot?: unknown;
}

export interface EventBatch {
  events: RawEvent[];
  validRefCounts: Record<string, number>;
  token: string;
}

export function decodeEventBatch(call: string, value: unknown): EventBatch {
  const origin: Origin = { call, path: '' };
  const f = fieldsOf(origin, value);
  const list = f.raw['events'];
  if (!Array.isArray(list)) throw malformed(at(origin, 'events'), 'an array', list);
  const events = list.map((item, i) => decodeEvent(at(at(origin, 'events'), i), item));
  const counts: Record<string, number> = {};
  const rawCounts = f.raw['valid_ref_counts'];
  if (rawCounts !== undefined) {
    for (const [k, v] of Object.entries(asStruct(at(origin, 'valid_ref_counts'), rawCounts))) {
      counts[k] = asInt(at(at(origin, 'valid_ref_counts'), k), v);
    }
  }
  return { events, validRefCounts: counts, token: f.str('token') };
}

function decodeEvent(origin: Origin, value: unknown): RawEvent {
  const f = fieldsOf(origin, value);
  const operation = f.oneOf('operation', EVENT_OPERATIONS);
  const id = f.raw['id'];
  return {
    id: typeof id === 'number' ? String(id) : asString(at(origin, 'id'), id ?? ''),
    class: f.str('class').toLowerCase(),
    operation,
    ref: f.str('ref'),
    ...(operation === 'del' ? {} : { snapshot: f.raw['snapshot'] }),
  };
}
