// The scenario file: a documented JSON description of the pool, its hosts and guests with their
// behaviours (docs/SIMULATOR.md). Validated field by field; every error names the file, the path
// of the bad field, the bad value and what is allowed. Unknown keys are errors (typos must not
// silently fall back to defaults).

import { readFileSync } from 'node:fs';
import type { Behaviour } from './state.js';
import type { ScenarioSr } from './storage.js';

export interface ScenarioHost {
  name_label: string;
  address: string;
  memory_mib: number | null;
  enabled: boolean;
}

export interface ScenarioGuest {
  name_label: string;
  uuid: string | null;
  name_description: string;
  power_state: 'Halted' | 'Running' | 'Paused' | 'Suspended';
  host: string | null;
  affinity: string | null;
  order: number;
  start_delay: number;
  shutdown_delay: number;
  memory_mib: number;
  vcpus: number;
  domain_type: string | null;
  other_config: Record<string, string>;
  blocked_operations: Record<string, string>;
  xenstore_data: Record<string, string>;
  ha_restart_priority: string;
  is_a_template: boolean;
  behaviour: Partial<Behaviour>;
  /** Names of the SRs its disks live on, one VDI + VBD each (none: a guest without disks). */
  disks?: string[];
}

export interface XapiSettings {
  /** Scale event.from's 50 ms batch window with the time scale (default: real 50 ms, as xapi). */
  event_batch_scaled: boolean;
  ack_timeout_s: number;
  shutdown_timeout_s: number;
  domain_build_s: number;
  domain_destroy_s: number;
  dom0_memory_mib: number;
}

export interface Scenario {
  seed: number | null;
  time_scale: number | null;
  pool: { name_label: string; other_config: Record<string, string> };
  hosts: ScenarioHost[];
  defaults: Partial<Behaviour>;
  generate: number;
  templates: number;
  snapshot: boolean;
  guests: ScenarioGuest[];
  srs: ScenarioSr[];
  xapi: XapiSettings;
}

export class ScenarioError extends Error {
  override name = 'ScenarioError';
}

type Obj = Record<string, unknown>;

class Reader {
  constructor(private readonly source: string) {}

  fail(path: string, value: unknown, allowed: string): never {
    throw new ScenarioError(`scenario ${this.source}: ${path}: bad value ${JSON.stringify(value)}; allowed: ${allowed}`);
  }

  obj(path: string, v: unknown, keys: readonly string[]): Obj {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(path, v, 'an object');
    for (const k of Object.keys(v as Obj)) if (!keys.includes(k)) throw new ScenarioError(`scenario ${this.source}: ${path}.${k}: unknown key; allowed keys: ${keys.join(', ')}`);
    return v as Obj;
  }

  num(path: string, v: unknown, def: number, opts: { min?: number; int?: boolean } = {}): number {
    if (v === undefined) return def;
    const min = opts.min ?? 0;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || (opts.int && !Number.isInteger(v))) this.fail(path, v, `${opts.int ? 'an integer' : 'a number'} ≥ ${min}`);
    return v as number;
  }

  str(path: string, v: unknown, def: string): string {
    if (v === undefined) return def;
    if (typeof v !== 'string') this.fail(path, v, 'a string');
    return v as string;
  }

  bool(path: string, v: unknown, def: boolean): boolean {
    if (v === undefined) return def;
    if (typeof v !== 'boolean') this.fail(path, v, 'true or false');
    return v as boolean;
  }

  oneOf<T extends string>(path: string, v: unknown, def: T, allowed: readonly T[]): T {
    if (v === undefined) return def;
    if (typeof v !== 'string' || !allowed.includes(v as T)) this.fail(path, v, allowed.join(', '));
    return v as T;
  }

  strMap(path: string, v: unknown): Record<string, string> {
    if (v === undefined) return {};
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(path, v, 'an object of string values');
    for (const [k, x] of Object.entries(v as Obj)) if (typeof x !== 'string') this.fail(`${path}.${k}`, x, 'a string');
    return { ...(v as Record<string, string>) };
  }

  strList(path: string, v: unknown): string[] {
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) this.fail(path, v, 'an array of strings');
    return [...(v as string[])];
  }

  behaviour(path: string, v: unknown): Partial<Behaviour> {
    if (v === undefined) return {};
    const o = this.obj(path, v, ['boot_s', 'agent_s', 'shutdown_s', 'shutdown', 'pv', 'start_error', 'vm_data', 'local_storage', 'migrate_error', 'metrics_swap']);
    const b: Partial<Behaviour> = {};
    if (o.boot_s !== undefined) b.boot_s = this.num(`${path}.boot_s`, o.boot_s, 0);
    if (o.agent_s !== undefined) b.agent_s = o.agent_s === 'none' ? 'none' : this.num(`${path}.agent_s`, o.agent_s, 0);
    if (o.shutdown_s !== undefined) b.shutdown_s = this.num(`${path}.shutdown_s`, o.shutdown_s, 0);
    if (o.shutdown !== undefined) b.shutdown = this.oneOf(`${path}.shutdown`, o.shutdown, 'normal', ['normal', 'hung', 'ignore'] as const);
    if (o.pv !== undefined) b.pv = this.bool(`${path}.pv`, o.pv, true);
    if (o.start_error !== undefined) {
      const e = this.str(`${path}.start_error`, o.start_error, '');
      if (e !== '' && !/^[A-Z][A-Z0-9_]*$/.test(e)) this.fail(`${path}.start_error`, e, 'an upper-case error code, e.g. VM_BOOT_FAILED');
      b.start_error = e;
    }
    if (o.local_storage !== undefined) b.local_storage = this.bool(`${path}.local_storage`, o.local_storage, false);
    if (o.metrics_swap !== undefined) b.metrics_swap = this.oneOf(`${path}.metrics_swap`, o.metrics_swap, 'with-start', ['with-start', 'held'] as const);
    if (o.migrate_error !== undefined) {
      const e = this.str(`${path}.migrate_error`, o.migrate_error, '');
      if (e !== '' && !/^[A-Z][A-Z0-9_]*$/.test(e)) this.fail(`${path}.migrate_error`, e, 'an upper-case error code, e.g. VM_MIGRATE_FAILED');
      b.migrate_error = e;
    }
    if (o.vm_data !== undefined) {
      const vd = this.obj(`${path}.vm_data`, o.vm_data, Object.keys(o.vm_data as Obj));
      b.vm_data = {};
      for (const [key, w] of Object.entries(vd)) {
        if (!key.startsWith('vm-data/')) this.fail(`${path}.vm_data`, key, 'keys starting with "vm-data/"');
        const wo = this.obj(`${path}.vm_data.${key}`, w, ['after_s', 'value']);
        b.vm_data[key] = { after_s: this.num(`${path}.vm_data.${key}.after_s`, wo.after_s, 0), value: this.str(`${path}.vm_data.${key}.value`, wo.value, '1') };
      }
    }
    return b;
  }
}

const TOP = ['seed', 'time_scale', 'pool', 'hosts', 'defaults', 'generate', 'templates', 'snapshot', 'guests', 'srs', 'xapi', 'comment'] as const;
const GUEST_KEYS = ['name_label', 'uuid', 'name_description', 'power_state', 'host', 'affinity', 'order', 'start_delay', 'shutdown_delay', 'memory_mib', 'vcpus', 'domain_type', 'other_config', 'blocked_operations', 'xenstore_data', 'ha_restart_priority', 'is_a_template', 'behaviour', 'disks', 'comment'] as const;

export function parseScenario(raw: unknown, source = '(inline)'): Scenario {
  const r = new Reader(source);
  const top = r.obj('(top level)', raw, TOP);
  const pool = top.pool === undefined ? {} : r.obj('pool', top.pool, ['name_label', 'other_config']);
  const hostsRaw = top.hosts === undefined ? [{}] : top.hosts;
  if (!Array.isArray(hostsRaw) || hostsRaw.length === 0) r.fail('hosts', hostsRaw, 'a non-empty array of hosts (the first is the simulated host itself)');
  const hosts = (hostsRaw as unknown[]).map((h, i) => {
    const o = r.obj(`hosts[${i}]`, h, ['name_label', 'address', 'memory_mib', 'enabled']);
    return {
      name_label: r.str(`hosts[${i}].name_label`, o.name_label, `sim-host-${i + 1}`),
      address: r.str(`hosts[${i}].address`, o.address, `127.0.0.${i + 1}`),
      memory_mib: o.memory_mib === undefined ? null : r.num(`hosts[${i}].memory_mib`, o.memory_mib, 0, { min: 1, int: true }),
      enabled: r.bool(`hosts[${i}].enabled`, o.enabled, true),
    };
  });
  const hostNames = hosts.map((h) => h.name_label);
  const guestsRaw = top.guests === undefined ? [] : top.guests;
  if (!Array.isArray(guestsRaw)) r.fail('guests', guestsRaw, 'an array of guests');
  const guests = (guestsRaw as unknown[]).map((g, i): ScenarioGuest => {
    const p = `guests[${i}]`;
    const o = r.obj(p, g, GUEST_KEYS);
    const hostName = (key: 'host' | 'affinity'): string | null => {
      if (o[key] === undefined) return null;
      return r.oneOf(`${p}.${key}`, o[key], hostNames[0]!, hostNames);
    };
    const uuid = o.uuid === undefined ? null : r.str(`${p}.uuid`, o.uuid, '');
    // A PV-booted guest always answers shutdown requests (the recordings show it): "no PV drivers" means nothing there.
    const pvBooted = o.domain_type === 'pv' || o.domain_type === 'pvh' || o.domain_type === 'pv_in_pvh';
    const behaviourPv = (o.behaviour as { pv?: unknown } | undefined)?.pv;
    if (pvBooted && behaviourPv === false) r.fail(`${p}.behaviour.pv`, false, `true only: domain_type "${String(o.domain_type)}" boots a Xen-aware kernel that always has PV drivers; use domain_type "hvm" for a guest without PV drivers`);
    const keyPv = (o.other_config as Record<string, unknown> | undefined)?.['xen-guests-sim:pv'];
    if (pvBooted && keyPv === 'false') r.fail(`${p}.other_config.xen-guests-sim:pv`, 'false', `true only: domain_type "${String(o.domain_type)}" boots a Xen-aware kernel that always has PV drivers; use domain_type "hvm" for a guest without PV drivers`);
    if (uuid !== null && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(uuid)) r.fail(`${p}.uuid`, uuid, 'a uuid like 01234567-89ab-cdef-0123-456789abcdef');
    return {
      name_label: r.str(`${p}.name_label`, o.name_label, `guest-${i + 1}`),
      uuid,
      name_description: r.str(`${p}.name_description`, o.name_description, ''),
      power_state: r.oneOf(`${p}.power_state`, o.power_state, 'Halted', ['Halted', 'Running', 'Paused', 'Suspended'] as const),
      host: hostName('host'),
      affinity: hostName('affinity'),
      order: r.num(`${p}.order`, o.order, 0, { int: true, min: -1e9 }),
      start_delay: r.num(`${p}.start_delay`, o.start_delay, 0, { int: true }),
      shutdown_delay: r.num(`${p}.shutdown_delay`, o.shutdown_delay, 0, { int: true }),
      memory_mib: r.num(`${p}.memory_mib`, o.memory_mib, 1024, { int: true, min: 16 }),
      vcpus: r.num(`${p}.vcpus`, o.vcpus, 1, { int: true, min: 1 }),
      domain_type: o.domain_type === undefined ? null : r.oneOf(`${p}.domain_type`, o.domain_type, 'hvm', ['hvm', 'pv', 'pvh', 'pv_in_pvh'] as const),
      other_config: r.strMap(`${p}.other_config`, o.other_config),
      blocked_operations: r.strMap(`${p}.blocked_operations`, o.blocked_operations),
      xenstore_data: r.strMap(`${p}.xenstore_data`, o.xenstore_data),
      ha_restart_priority: r.oneOf(`${p}.ha_restart_priority`, o.ha_restart_priority, '', ['', 'restart', 'best-effort'] as const),
      is_a_template: r.bool(`${p}.is_a_template`, o.is_a_template, false),
      behaviour: r.behaviour(`${p}.behaviour`, o.behaviour),
      disks: r.strList(`${p}.disks`, o.disks),
    };
  });
  const srs = parseSrs(r, top.srs, hostNames, guests);
  const x = top.xapi === undefined ? {} : r.obj('xapi', top.xapi, ['ack_timeout_s', 'shutdown_timeout_s', 'domain_build_s', 'domain_destroy_s', 'dom0_memory_mib', 'event_batch_scaled']);
  return {
    seed: top.seed === undefined ? null : r.num('seed', top.seed, 0, { int: true }),
    time_scale: top.time_scale === undefined ? null : r.num('time_scale', top.time_scale, 1, { min: 1e-6 }),
    pool: { name_label: r.str('pool.name_label', pool.name_label, 'sim-pool'), other_config: r.strMap('pool.other_config', pool.other_config) },
    hosts,
    defaults: r.behaviour('defaults', top.defaults),
    generate: r.num('generate', top.generate, 0, { int: true }),
    templates: r.num('templates', top.templates, 2, { int: true }),
    snapshot: r.bool('snapshot', top.snapshot, true),
    guests,
    srs,
    xapi: {
      event_batch_scaled: r.bool('xapi.event_batch_scaled', x.event_batch_scaled, false),
      ack_timeout_s: r.num('xapi.ack_timeout_s', x.ack_timeout_s, 60),
      shutdown_timeout_s: r.num('xapi.shutdown_timeout_s', x.shutdown_timeout_s, 1200),
      domain_build_s: r.num('xapi.domain_build_s', x.domain_build_s, 1),
      domain_destroy_s: r.num('xapi.domain_destroy_s', x.domain_destroy_s, 0.5),
      dom0_memory_mib: r.num('xapi.dom0_memory_mib', x.dom0_memory_mib, 4096, { int: true }),
    },
  };
}

/** `srs`: each with its type, shared or local, plugged and available at start, served by a guest. */
function parseSrs(r: Reader, raw: unknown, hostNames: string[], guests: ScenarioGuest[]): ScenarioSr[] {
  if (raw === undefined) raw = [];
  if (!Array.isArray(raw)) r.fail('srs', raw, 'an array of SRs');
  const guestNames = guests.map((g) => g.name_label);
  const srs = (raw as unknown[]).map((s, i): ScenarioSr => {
    const p = `srs[${i}]`;
    const o = r.obj(p, s, ['name_label', 'type', 'shared', 'host', 'plugged', 'available', 'served_by', 'comment']);
    const shared = r.bool(`${p}.shared`, o.shared, true);
    return {
      name_label: r.str(`${p}.name_label`, o.name_label, `sr-${i + 1}`),
      type: r.str(`${p}.type`, o.type, shared ? 'nfs' : 'lvm'),
      shared,
      host: o.host === undefined ? null : r.oneOf(`${p}.host`, o.host, hostNames[0]!, hostNames),
      plugged: r.bool(`${p}.plugged`, o.plugged, true),
      available: r.bool(`${p}.available`, o.available, true),
      served_by: o.served_by === undefined ? null : r.oneOf(`${p}.served_by`, o.served_by, guestNames[0]!, guestNames),
    };
  });
  const srNames = srs.map((s) => s.name_label);
  for (const [i, g] of guests.entries()) {
    for (const [j, d] of (g.disks ?? []).entries()) if (!srNames.includes(d)) r.fail(`guests[${i}].disks[${j}]`, d, srNames.length ? srNames.join(', ') : 'the name of an SR in "srs" (there are none)');
  }
  return srs;
}

export function loadScenarioFile(path: string): Scenario {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ScenarioError(`scenario ${path}: cannot read: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ScenarioError(`scenario ${path}: not valid JSON: ${(e as Error).message}`);
  }
  return parseScenario(raw, path);
}
