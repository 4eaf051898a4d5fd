// Everything the simulated host knows, in one place: the database plus what xapi and xenopsd keep
// outside it (sessions, running tasks, per-domain xenstore, guest behaviours, faults, logs).

import { EventEmitter } from 'node:events';
import type { Clock } from './clock.js';
import type { Database } from './model/db.js';
import type { Random } from './model/ids.js';

export type ShutdownBehaviour = 'normal' | 'hung' | 'ignore';

/** How a simulated guest behaves; durations in simulated seconds. */
export interface Behaviour {
  /** From VM.start until the guest OS is up (it answers control/shutdown only after that). */
  boot_s: number;
  /** From VM.start until the guest agent reports (guest_metrics appear); 'none' = no agent. */
  agent_s: number | 'none';
  /** From acknowledging control/shutdown until the domain halts. */
  shutdown_s: number;
  shutdown: ShutdownBehaviour;
  /** false = HVM guest without PV drivers (no clean shutdown possible). */
  pv: boolean;
  /** An error code VM.start fails with ('' = none). */
  start_error: string;
  /** Keys the guest writes under vm-data after start: path → {after_s, value}. */
  vm_data: Record<string, { after_s: number; value: string }>;
  /** Its disks are on this host's local SR: VM.pool_migrate fails VM_REQUIRES_SR. */
  local_storage: boolean;
  /** An error code VM.pool_migrate fails with half-way through ('' = none); the guest stays where it was. */
  migrate_error: string;
  /**
   * 'held': a start leaves the last run's VM_guest_metrics in place (Running is seen first, as when
   * xapi's two updates land in separate event batches) until sim.swap_guest_metrics.
   */
  metrics_swap: MetricsSwap;
}

export type MetricsSwap = 'with-start' | 'held';

export interface GuestRuntime {
  domid: number;
  booted: boolean;
  /** This domain's xenstore, paths relative to /local/domain/<domid>. */
  xenstore: Map<string, string>;
  /** Pending guest-side timers, cancelled when the domain goes away. */
  timers: Set<() => void>;
  /** Set while a start's guest-metrics swap is held (behaviour metrics_swap = held): performs it. */
  heldMetricsSwap?: () => void;
}

export interface TaskRuntime {
  ref: string;
  abort: AbortController;
  cancellable: boolean;
  cancelRequested: boolean;
  finished: boolean;
  /** Synchronous calls get a task too (as in xapi); it is destroyed when the call returns. */
  sync: boolean;
}

export interface SessionInfo {
  ref: string;
  uuid: string;
  user: string;
  originator: string;
  transport: 'tcp' | 'unix';
  lastActive: number;
  /** event.register state (deprecated event.next API). */
  registered?: { classes: string[]; since: number; lost: boolean };
}

export interface TimelineEvent {
  t_ms: number;
  sim_s: number;
  event: string;
  task?: string;
  detail?: string;
}

export interface CallLogEntry {
  seq: number;
  t_ms: number;
  method: string;
  caller: string;
  transport: 'tcp' | 'unix';
  vm?: string;
  task?: string;
  outcome: string;
}

export interface Faults {
  latencyMs: number;
  injected: Map<string, { count: number; description: string[] }>;
  master: string;
  /** Generation at which events were declared lost; older tokens get EVENTS_LOST. */
  eventsLostAt: number;
  /** sim.hold_starts: starts stay pending until sim.release_starts or the next toolstack restart drops them. */
  holdStartsUntilRestart: boolean;
  /** The VMs whose starts are held (refs); null: every VM's. */
  holdStartsOf: Set<string> | null;
  /** sim.hold_hard_stops: hard stops wait before destroying the domain until a toolstack restart is over. */
  holdHardStopsUntilRestart: boolean;
  /** The held starts, each let go by sim.release_starts. */
  heldStarts: Set<() => void>;
}

export interface HostSettings {
  /** Memory the control domain holds, bytes. */
  dom0Memory: number;
  /** Simulated seconds xenopsd needs to build a domain inside VM.start. */
  domainBuild_s: number;
  /** Simulated seconds a hard shutdown takes. */
  domainDestroy_s: number;
  /** event.from's batch window follows the time scale instead of xapi's real 50 ms. */
  eventBatchScaled: boolean;
  /** Simulated seconds xapi waits for the shutdown ack (60 in xapi). */
  ackTimeout_s: number;
  /** Simulated seconds xapi waits for a clean shutdown overall (1200 in xapi). */
  shutdownTimeout_s: number;
}

export interface Sim {
  db: Database;
  clock: Clock;
  random: Random;
  uuid(): string;
  newRef(): string;
  poolRef: string;
  /** The host this simulator is (its Unix socket is this host's local socket). */
  hostRef: string;
  host: HostSettings;
  credentials: { user: string; password: string };
  behaviours: Map<string, Partial<Behaviour>>;
  defaults: Behaviour;
  guests: Map<string, GuestRuntime>;
  tasks: Map<string, TaskRuntime>;
  sessions: Map<string, SessionInfo>;
  timeline: Map<string, TimelineEvent[]>;
  /** uuid and name of destroyed VMs, so their timeline stays readable. */
  destroyed: Map<string, { uuid: string; name_label: string }>;
  callLog: CallLogEntry[];
  faults: Faults;
  nextDomid: number;
  /** Fires 'vm:<ref>' when a VM's current operations change (queued ops wake on it). */
  bus: EventEmitter;
  /** Set by the server: drops connections and refuses new ones for the given real milliseconds. */
  restartToolstack?: (downMs: number) => void;
  /** Toolstack restarts completed (every listener back up): what tests wait on, as the restart answers before it happens. */
  toolstackRestarts: number;
  /** HTTP connections the server accepted (all listeners, ever) and holds open now: how tests see keep-alive at work. */
  connections: { accepted: number; open: number };
  log: (msg: string) => void;
}

export function recordTimeline(sim: Sim, vm: string, event: string, extra: { task?: string; detail?: string } = {}): void {
  let list = sim.timeline.get(vm);
  if (!list) sim.timeline.set(vm, (list = []));
  const t_ms = Date.now() - sim.clock.started;
  list.push({ t_ms, sim_s: Math.round(sim.clock.simNow() * 1000) / 1000, event, ...extra });
}
