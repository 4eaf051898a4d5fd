// Builds the simulated pool from a scenario: hosts with their control domains, templates, a
// snapshot, the scenario's guests and `--guests N` generated ones (varied, deterministic by seed).

import { EventEmitter } from 'node:events';
import { OBJECTLESS_CLASSES } from './api/classes.js';
import { Clock } from './clock.js';
import { createDomain } from './guest.js';
import { buildStorage, STORAGE_CLASSES } from './storage.js';
import { Database } from './model/db.js';
import { makeUuidSource, seededRandom, type Random } from './model/ids.js';
import { hostMetricsRecord, hostRecord, MIB, poolRecord, vmMetricsRecord, vmRecord } from './model/records.js';
import { refreshAllowedOperations } from './operations.js';
import type { Scenario, ScenarioGuest } from './scenario.js';
import type { Behaviour, Sim } from './state.js';
import { Double, NULL_REF } from './wire/values.js';

export const DEFAULT_BEHAVIOUR: Behaviour = { boot_s: 20, agent_s: 30, shutdown_s: 10, shutdown: 'normal', pv: true, start_error: '', vm_data: {}, local_storage: false, migrate_error: '', metrics_swap: 'with-start' };

const TEMPLATE_NAMES = ['Debian Bookworm 12', 'Windows Server 2022 (64-bit)', 'Rocky Linux 9', 'Ubuntu Noble Numbat 24.04'];

function pick<T>(random: Random, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

/**
 * The kinds of guest a current XCP-ng host runs, in a fixed cycle of ten so that any N keeps the
 * mix (and the first guests are the common kind): seven HVM guests with PV drivers and a guest
 * agent, two PV guests (Xen-aware kernels, with an agent), one HVM guest without PV drivers (no
 * agent; it can only be hard-stopped).
 */
export type GuestKind = 'hvm-tools' | 'pv' | 'hvm-no-tools';
const KIND_CYCLE: GuestKind[] = ['hvm-tools', 'hvm-tools', 'pv', 'hvm-tools', 'hvm-tools', 'hvm-tools', 'pv', 'hvm-tools', 'hvm-tools', 'hvm-no-tools'];

export const GUEST_KIND_NAMES: Record<GuestKind, string> = {
  'hvm-tools': 'HVM with PV drivers and agent',
  pv: 'PV',
  'hvm-no-tools': 'HVM without PV drivers',
};

export function kindOfGenerated(i: number): GuestKind {
  return KIND_CYCLE[(i - 1) % KIND_CYCLE.length]!;
}

/** "7 HVM with PV drivers and agent, 2 PV, 1 HVM without PV drivers" for N generated guests. */
export function describeGeneratedMix(n: number): string {
  const counts = new Map<GuestKind, number>();
  for (let i = 1; i <= n; i++) counts.set(kindOfGenerated(i), (counts.get(kindOfGenerated(i)) ?? 0) + 1);
  return (['hvm-tools', 'pv', 'hvm-no-tools'] as const).filter((k) => counts.get(k)).map((k) => `${counts.get(k)} ${GUEST_KIND_NAMES[k]}`).join(', ');
}

/** N ordinary guests with varied, reproducible properties and a realistic mix of kinds. */
export function generateGuests(n: number, random: Random): ScenarioGuest[] {
  const width = Math.max(3, String(n).length);
  const guests: ScenarioGuest[] = [];
  for (let i = 1; i <= n; i++) {
    const kind = kindOfGenerated(i);
    const boot = 5 + Math.floor(random() * 36);
    guests.push({
      name_label: `vm-${String(i).padStart(width, '0')}`,
      uuid: null,
      name_description: 'generated guest',
      power_state: 'Halted',
      host: null,
      affinity: null,
      order: pick(random, [0, 0, 1, 1, 2, 3]),
      start_delay: random() < 0.1 ? 1 + Math.floor(random() * 5) : 0,
      shutdown_delay: 0,
      memory_mib: pick(random, [512, 1024, 1024, 2048, 4096]),
      vcpus: pick(random, [1, 2, 2, 4]),
      domain_type: kind === 'pv' ? 'pv' : 'hvm',
      other_config: random() < 0.7 ? { auto_poweron: 'true' } : {},
      blocked_operations: {},
      xenstore_data: {},
      ha_restart_priority: '',
      is_a_template: false,
      behaviour:
        kind === 'hvm-no-tools'
          ? { boot_s: boot, agent_s: 'none', pv: false, shutdown_s: 2 + Math.floor(random() * 29) }
          : { boot_s: boot, agent_s: boot + 2 + Math.floor(random() * 14), pv: true, shutdown_s: 2 + Math.floor(random() * 29) },
    });
  }
  return guests;
}

/** The scenario's hosts, completed to `count` with hosts named as the scenario names its defaults. */
function withHosts(sc: Scenario, count: number): Scenario {
  if (sc.hosts.length >= count) return sc;
  const hosts = [...sc.hosts];
  for (let i = hosts.length; i < count; i++) hosts.push({ name_label: `sim-host-${i + 1}`, address: `127.0.0.${i + 1}`, memory_mib: null, enabled: true });
  return { ...sc, hosts };
}

export interface BuildOptions {
  scenario: Scenario;
  guests: number;
  /** `--hosts N`: the pool has at least N live hosts (the scenario's, then sim-host-K); generated guests' affinity is spread over them. */
  hosts?: number;
  seed: number;
  timeScale: number;
  user: string;
  password: string;
  log: (msg: string) => void;
}

export function buildSim(o: BuildOptions): Sim {
  const random = seededRandom(o.seed);
  const uuid = makeUuidSource(random);
  const sc = withHosts(o.scenario, o.hosts ?? 0);
  const db = new Database(['session', 'pool', 'host', 'host_metrics', 'VM', 'VM_metrics', 'VM_guest_metrics', 'task', 'message', ...OBJECTLESS_CLASSES, ...STORAGE_CLASSES]);
  const generated = generateGuests(o.guests + sc.generate, random);
  if (sc.hosts.length > 1) for (const [i, g] of generated.entries()) g.affinity = sc.hosts[i % sc.hosts.length]!.name_label;
  const guests = [...sc.guests, ...generated];
  const sim: Sim = {
    db,
    clock: new Clock(o.timeScale),
    random,
    uuid,
    newRef: () => `OpaqueRef:${uuid()}`,
    poolRef: '',
    hostRef: '',
    host: {
      dom0Memory: sc.xapi.dom0_memory_mib * MIB,
      domainBuild_s: sc.xapi.domain_build_s,
      domainDestroy_s: sc.xapi.domain_destroy_s,
      ackTimeout_s: sc.xapi.ack_timeout_s,
      eventBatchScaled: sc.xapi.event_batch_scaled,
      shutdownTimeout_s: sc.xapi.shutdown_timeout_s,
    },
    credentials: { user: o.user, password: o.password },
    behaviours: new Map(),
    defaults: { ...DEFAULT_BEHAVIOUR, ...sc.defaults },
    guests: new Map(),
    tasks: new Map(),
    sessions: new Map(),
    timeline: new Map(),
    destroyed: new Map(),
    callLog: [],
    faults: { latencyMs: 0, injected: new Map(), master: '', eventsLostAt: 0, holdStartsUntilRestart: false, holdStartsOf: null, heldStarts: new Set(), holdHardStopsUntilRestart: false },
    nextDomid: 1,
    toolstackRestarts: 0,
    connections: { accepted: 0, open: 0 },
    bus: new EventEmitter(),
    log: o.log,
  };
  sim.bus.setMaxListeners(0);

  // Enough memory for every guest to run at once unless the scenario says otherwise.
  const overhead = (mib: number): number => Math.ceil(mib / 128) * MIB + 8 * MIB;
  const allGuestMemory = guests.reduce((sum, g) => sum + g.memory_mib * MIB + overhead(g.memory_mib), 0);
  const hostRefs = new Map<string, string>();
  for (const [i, h] of sc.hosts.entries()) {
    const ref = sim.newRef();
    const metrics = sim.newRef();
    const total = h.memory_mib !== null ? h.memory_mib * MIB : Math.ceil((sim.host.dom0Memory + allGuestMemory * 1.1) / (1024 * MIB)) * 1024 * MIB;
    db.insert('host_metrics', metrics, hostMetricsRecord(uuid(), total, total, new Date()));
    db.insert('host', ref, hostRecord({ uuid: uuid(), name_label: h.name_label, address: h.address, metrics, enabled: h.enabled, memory_overhead: 256 * MIB }));
    hostRefs.set(h.name_label, ref);
    if (i === 0) sim.hostRef = ref;
    const dom0 = addVm(sim, {
      name_label: `Control domain on host: ${h.name_label}`,
      name_description: 'The domain which manages physical devices and manages other domains',
      memory: sim.host.dom0Memory,
      vcpus: 2,
      is_control_domain: true,
      power_state: 'Running',
      domain_type: 'pv',
    });
    // dom0 as xapi records it: fixed memory, pinned to its host, never restarted by xapi.
    db.update('VM', dom0, { resident_on: ref, affinity: ref, domid: 0, domarch: 'x64', PV_bootloader: '', memory_static_min: sim.host.dom0Memory, actions_after_reboot: 'destroy', actions_after_crash: 'destroy' });
    db.update('host', ref, { control_domain: dom0, resident_VMs: [dom0] });
    const dom0Metrics = String(db.get('VM', dom0)!.metrics);
    db.update('VM_metrics', dom0Metrics, { memory_actual: sim.host.dom0Memory, VCPUs_utilisation: { '1': new Double(0), '2': new Double(0) }, current_domain_type: 'pv' });
  }
  sim.poolRef = sim.newRef();
  // xapi's default pool other_config (recorded), under the scenario's keys.
  db.insert('pool', sim.poolRef, poolRecord(uuid(), sc.pool.name_label, sim.hostRef, { 'memory-ratio-hvm': '0.25', 'memory-ratio-pv': '0.25', ...sc.pool.other_config }));

  for (let t = 0; t < sc.templates; t++) {
    addVm(sim, { name_label: TEMPLATE_NAMES[t % TEMPLATE_NAMES.length]! + (t >= TEMPLATE_NAMES.length ? ` (${t})` : ''), memory: 2048 * MIB, is_a_template: true, is_default_template: true, other_config: { default_template: 'true' }, domain_type: 'hvm' });
  }

  const running: Array<{ ref: string; host: string; state: string }> = [];
  const guestRefs: string[] = [];
  for (const g of guests) {
    const b = { ...sim.defaults, ...g.behaviour };
    const ref = addVm(sim, {
      uuid: g.uuid ?? undefined,
      name_label: g.name_label,
      name_description: g.name_description,
      memory: g.memory_mib * MIB,
      memory_overhead: overhead(g.memory_mib),
      vcpus: g.vcpus,
      order: g.order,
      start_delay: g.start_delay,
      shutdown_delay: g.shutdown_delay,
      other_config: g.other_config,
      blocked_operations: g.blocked_operations,
      xenstore_data: g.xenstore_data,
      ha_restart_priority: g.ha_restart_priority,
      is_a_template: g.is_a_template,
      affinity: g.affinity ? hostRefs.get(g.affinity) : undefined,
      domain_type: g.domain_type ?? (b.pv ? 'pv' : 'hvm'),
    });
    sim.behaviours.set(ref, g.behaviour);
    guestRefs.push(ref);
    if (g.power_state !== 'Halted') running.push({ ref, host: hostRefs.get(g.host ?? '') ?? sim.hostRef, state: g.power_state });
  }
  if (sc.snapshot && guestRefs.length > 0) {
    const of = db.get('VM', guestRefs[0]!)!;
    const snap = addVm(sim, { name_label: `${String(of.name_label)} snapshot`, memory: Number(of.memory_static_max), is_a_snapshot: true, snapshot_of: guestRefs[0], domain_type: String(of.domain_type) });
    db.update('VM', snap, { snapshot_time: new Date() });
    db.update('VM', guestRefs[0]!, { snapshots: [snap] });
  }
  buildStorage(sim, sc.srs, hostRefs, new Map(sc.guests.filter((g) => g.disks?.length).map((g) => [g.name_label, g.disks!])));
  for (const r of running) {
    if (r.state === 'Suspended') db.update('VM', r.ref, { power_state: 'Suspended' });
    else createDomain(sim, r.ref, r.host, r.state === 'Paused', true);
  }
  for (const ref of db.table('VM').keys()) refreshAllowedOperations(sim, ref);
  return sim;
}

interface AddVm {
  uuid?: string;
  name_label: string;
  name_description?: string;
  memory: number;
  memory_overhead?: number;
  vcpus?: number;
  order?: number;
  start_delay?: number;
  shutdown_delay?: number;
  other_config?: Record<string, string>;
  blocked_operations?: Record<string, string>;
  xenstore_data?: Record<string, string>;
  ha_restart_priority?: string;
  is_a_template?: boolean;
  is_default_template?: boolean;
  is_a_snapshot?: boolean;
  snapshot_of?: string;
  is_control_domain?: boolean;
  power_state?: string;
  affinity?: string;
  domain_type: string;
}

function addVm(sim: Sim, a: AddVm): string {
  const ref = sim.newRef();
  const metrics = sim.newRef();
  const vcpus = a.vcpus ?? 1;
  sim.db.insert('VM_metrics', metrics, vmMetricsRecord(sim.uuid(), a.is_control_domain ? vcpus : 0, a.domain_type === 'hvm'));
  sim.db.insert('VM', ref, vmRecord({ ...a, uuid: a.uuid ?? sim.uuid(), memory_overhead: a.memory_overhead ?? 8 * MIB, vcpus, metrics, snapshot_of: a.snapshot_of ?? NULL_REF, affinity: a.affinity ?? NULL_REF }));
  return ref;
}
