// Shared vocabulary of the pure core (config → policy → plan) and of the records the engine writes.
// Nothing in here performs I/O.

import type { PowerState } from './guest.js';

// ---------------------------------------------------------------- config

export type OnSigterm = 'auto' | 'stop-guests' | 'leave-guests';
/**
 * The order of the guests inside one order group: those that took longest in the last run of the
 * same kind first (longest-processing-time first), or plain name order.
 */
export type OrderWithinGroup = 'longest-first' | 'name';
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

export interface Config {
  /** Path the config was read from ('' for built-in defaults). */
  source: string;
  toolstack: {
    kind: 'xenapi' | 'xl';
  };
  xapi: {
    /** 'unix:/var/lib/xcp/xapi' or 'https://host[:port]' (http:// only for loopback). */
    url: string;
    /** Wire protocol: 'auto' (default: JSON-RPC on /jsonrpc when the host answers it, else XML-RPC), 'xml-rpc' or 'json-rpc'. */
    protocol: 'auto' | 'xml-rpc' | 'json-rpc';
    user: string;
    /** File holding the password (must not be world-readable); '' = none (Unix socket). */
    passwordFile: string;
    /** PEM CA bundle for a self-signed host; '' = system CAs. */
    caFile: string;
    /** Pinned SHA-256 fingerprint of the host certificate, 'AA:BB:…'; '' = none. */
    fingerprint: string;
    /**
     * This host's uuid. '' = from /etc/xensource-inventory (INSTALLATION_UUID), else the only host
     * of a one-host pool, else the pool master (the host answering the session).
     */
    hostUuid: string;
    /** Deadline of one XenAPI call, seconds. */
    callTimeout: number;
    /** How long to wait at boot for the toolstack to answer, seconds. */
    waitReady: number;
  };
  boot: {
    parallelism: number;
    /** Default readiness check when a guest has no xen-guests:ready key. */
    ready: ReadyCheck;
    /** Per-guest bound on start + readiness, seconds. */
    readyTimeout: number;
    /** Whether auto_poweron=true (XenServer's key) means start; xen-guests:on_start overrides it. */
    honourAutoPoweron: boolean;
    /** Which guest of an order group is started first (see core/within-group.ts). */
    orderWithinGroup: OrderWithinGroup;
  };
  shutdown: {
    parallelism: number;
    /** Default clean-phase timeout per guest, seconds. */
    guestTimeout: number;
    /** Global deadline for the whole shutdown, seconds. */
    deadline: number;
    /** Part of the deadline kept for hard stops, seconds. */
    hardReserve: number;
    onSigterm: OnSigterm;
    /** Host default for guests without xen-guests:on_stop. */
    onStop: OnStop;
    /** Which guest of an order group is asked to stop first (see core/within-group.ts). */
    orderWithinGroup: OrderWithinGroup;
  };
  stateDir: string;
  /** Write what needs an admin as XenAPI messages (message.create) too; XenAPI only. */
  alerts: boolean;
  log: { level: LogLevel };
  /** Per-guest policy for xl hosts, keyed by domain name (same keys as other_config, without prefix). */
  guests: Record<string, Record<string, string>>;
}

// ---------------------------------------------------------------- policy

export type OnStart = 'start' | 'restore' | 'ignore';
/** migrate: live-migrate to another host of the pool (XenAPI only), clean-then-hard when it cannot move. */
export type OnStop = 'shutdown' | 'poweroff' | 'migrate';

export type ReadyCheck =
  | { kind: 'running' }
  | { kind: 'agent' }
  | { kind: 'vm-data'; key: string };

/** Where one part of a guest's effective policy came from. */
export interface Provenance {
  from: 'key' | 'native' | 'config' | 'default';
  /** The other_config key or field it was read from, e.g. 'xen-guests:on_start', 'VM.order'. */
  key?: string;
  /** The raw value as found. */
  raw?: string;
  /** The guest's own key or field whose bad value this fallback stands in for. */
  replaced?: { key: string; raw: string };
}

/** A bad per-guest value: named, logged, defaulted; other guests unaffected. */
export interface PolicyProblem {
  level: 'error' | 'warn';
  key: string;
  value: string;
  allowed: string;
  /** What was done instead, e.g. "treated as shutdown". */
  fallback: string;
  message: string;
}

export interface Maintenance {
  reason: string;
  since: string | null;
  by: string | null;
}

export interface EffectivePolicy {
  onStart: OnStart;
  onStop: OnStop;
  order: number;
  startDelay: number;
  shutdownDelay: number;
  shutdownTimeout: number;
  ready: ReadyCheck;
  maintenance: Maintenance | null;
  /** other_config:auto_poweroff present: xapi's "self-managed poweroff", left alone at shutdown. */
  selfManagedPoweroff: boolean;
  sources: {
    onStart: Provenance;
    onStop: Provenance;
    order: Provenance;
    shutdownTimeout: Provenance;
    ready: Provenance;
    maintenance: Provenance;
  };
  problems: PolicyProblem[];
}

// ---------------------------------------------------------------- plan

export type PlanMode = 'boot' | 'shutdown';

export type PlanAction = 'start' | 'clean-shutdown' | 'hard-shutdown' | 'skip';

/** Machine-readable reason codes for skips and for hard-by-policy decisions. */
export type SkipCode =
  | 'maintenance'
  | 'host-maintenance'
  | 'ha-managed'
  | 'disabled'
  | 'restore-not-running'
  | 'not-this-host'
  | 'template'
  | 'snapshot'
  | 'control-domain'
  | 'suspended-needs-admin'
  | 'already-running'
  | 'already-halted'
  | 'not-enough-memory'
  | 'self-managed-poweroff'
  | 'start-blocked'
  /** Its toolstack record does not decode (a field of the wrong type): neither started nor stopped. */
  | 'unreadable-record';

export interface GuestRef {
  uuid: string;
  name: string;
  ref: string;
}

export interface PlanEntry {
  guest: GuestRef;
  action: PlanAction;
  order: number;
  /** Boot: bound on start + readiness. Shutdown: clean-phase timeout (after fitting the deadline). */
  timeout: number;
  ready: ReadyCheck | null;
  /** The policy's start_delay, seconds (0 when not starting): slept once, by xapi or by the xl backend. */
  startDelay: number;
  /** Why skipped, or why hard at once ('poweroff policy', 'no PV drivers'…). */
  reason: string | null;
  skipCode: SkipCode | null;
  memoryRequired: number;
  powerState: PowerState;
  /** Shutdown: on_stop=migrate — try a live migration first; `action` is the fallback. */
  migrate?: boolean;
  /** Boot: a start this boot's plan asked for before a daemon restart; kept to wait for, never asked again. */
  resumed?: true;
  /** Longest-first within the group: what the last run of this kind says of the guest (absent under name order or without a last run). */
  lastRun?: LastRunTime;
}

/** How long a guest held its order group in the last run of the same kind, as the plan ranked it. */
export interface LastRunTime {
  /**
   * Seconds from its slot to ready (boot) or from its request to halted (shutdown); null when that
   * run says nothing of it (not in it, or an outcome such as start-failed whose span is no duration).
   */
  seconds: number | null;
  /** Its outcome in that run; null when it was not in it. */
  outcome: Outcome | null;
  /** The seconds it was ranked by: its own, or for a guest with none the median of the known ones of the plan. */
  rankedBy: number;
}

/** How the guests inside each group were ordered, and from which run. */
export interface WithinGroupOrder {
  rule: OrderWithinGroup;
  /** The last run of this kind the durations come from; null when there is none (or under name order). */
  lastRun: { startedAt: string; trigger: string } | null;
}

export interface PlanGroup {
  order: number;
  entries: PlanEntry[];
  /**
   * Shutdown: seconds the next group waits after this group's last guest stopped — the longest
   * VM.shutdown_delay of its guests (XenAPI: "delay before proceeding to the next order in the
   * shutdown sequence"). Absent or 0 for the last group and at boot.
   */
  delayAfter?: number;
}

export interface PlanWarning {
  guest: GuestRef | null;
  message: string;
  /** 'error' for refused values (on_stop=suspend): logged as errors. Default 'warn'. */
  level?: 'error' | 'warn';
}

export interface ShutdownBudget {
  /** Global deadline, seconds. */
  deadline: number;
  hardReserve: number;
  /** deadline − hardReserve − delays, shared by the clean phases of the groups in sequence. */
  cleanBudget: number;
  /** Seconds spent waiting between groups for VM.shutdown_delay (sum of the groups' delayAfter). */
  delays: number;
  /** Sum over groups of the longest clean timeout in the group as configured. */
  requested: number;
  /** True when per-guest timeouts had to be cut to fit cleanBudget. */
  cut: boolean;
}

export interface Plan {
  mode: PlanMode;
  hostUuid: string;
  /** Groups in execution order (ascending for boot, descending for shutdown); skips excluded. */
  groups: PlanGroup[];
  skipped: PlanEntry[];
  warnings: PlanWarning[];
  /** What holds for the whole host (maintenance mode, HA, dueling managers): shown first by plan and status. */
  notices?: string[];
  /** guests/skipped count real guests; notGuests the templates, snapshots and control domains listed as skipped. */
  totals: { guests: number; acting: number; skipped: number; notGuests: number; groups: number };
  budget: ShutdownBudget | null;
  /** How the guests inside each group were ordered (absent in plans made before it existed). */
  withinGroup?: WithinGroupOrder;
}

// ---------------------------------------------------------------- records written by the engine

/** Which step ended a guest's part in a run. */
export type Outcome =
  | 'started'
  | 'started-not-ready'
  | 'start-failed'
  | 'clean'
  | 'hard-after-timeout'
  | 'hard-by-policy'
  | 'hard-no-clean-path'
  /** Live-migrated to another host of the pool (on_stop=migrate): it runs there now. */
  | 'migrated'
  | 'already-halted'
  | 'halted-by-itself'
  /** The guest was deleted during the run: nothing of it is left to start or stop. */
  | 'gone'
  | 'failed'
  | 'not-attempted'
  | 'skipped';

export interface GuestReport {
  guest: GuestRef;
  order: number;
  action: PlanAction;
  outcome: Outcome;
  reason: string | null;
  /** For a skip, why, as the plan said it (reports written before it was kept lack it). */
  skipCode?: SkipCode | null;
  /** ISO timestamps; null when that step did not happen. */
  startedAt: string | null;
  /** Start: toolstack reported started. Shutdown: clean request issued. */
  phase1EndAt: string | null;
  /** Start: readiness confirmed. Shutdown: hard stop issued. */
  phase2At: string | null;
  endedAt: string | null;
  /**
   * Milliseconds the guest held its group, on the monotonic clock (a wall-clock step cannot enter
   * it): at boot from its start slot to ready or its ready timeout (not its wait for storage, nor its
   * queue for a slot); at shutdown from its turn (fresh read, then its request) to halted or moved.
   * What `longest-first` ranks by at the next run. Absent when the guest never got its turn, and in
   * reports of older versions, which are ranked by their ISO stamps instead.
   */
  heldMs?: number;
  /** Toolstack errors as [code, ...params]. */
  errors: string[][];
  /** Boot: the guest's SRs were not plugged on this host, so its start waited for them (plugged: they came). */
  storageWait?: StorageWait;
  /** on_stop=migrate: where it went (or why not) and how long the attempt took. */
  migration?: MigrationReport;
}

export interface MigrationReport {
  /** Destination host uuid and name; null when no host was tried. */
  to: { uuid: string; name: string } | null;
  /** Seconds from asking to the end of the attempt. */
  seconds: number;
  /** Why it did not move (the guest was then stopped clean-then-hard); null when it moved. */
  failed: string | null;
}

export interface StorageWait {
  /** Names of the SRs that were not plugged. */
  srs: string[];
  startedAt: string;
  endedAt: string;
  plugged: boolean;
}

export interface RunReport {
  mode: PlanMode;
  bootId: string;
  hostUuid: string;
  startedAt: string;
  endedAt: string;
  /** Shutdown only: absolute deadline (ISO) the run had to keep. */
  deadlineAt: string | null;
  trigger: string;
  guests: GuestReport[];
  groups: { order: number; startedAt: string; endedAt: string }[];
  totals: Record<Outcome, number>;
  /** 0 when everything went as planned, non-zero when anything failed or was hard-stopped. */
  exitCode: number;
  leftRunning: GuestRef[];
  /** XenAPI messages written for this run (absent when alerts are off or the backend has none). */
  alerts?: AlertTally;
  /** Set when the run was cut short by the person running it (Ctrl-C on start-all / stop-all): why and what was done about it. */
  interrupted?: string;
  /**
   * Shutdown only: the `takenAt` of the metadata snapshot this run kept or wrote, naming that
   * snapshot (not a time to compare): a snapshot of this boot that no report names is a run under
   * way. Absent in reports of older versions and when the toolstack could not be read.
   */
  snapshotTakenAt?: string;
}

/** What became of the alerts of one run. */
export interface AlertTally {
  /** Messages xapi accepted. */
  sent: number;
  /** Alerts past the per-run bound, counted into one summary message instead of their own. */
  folded: number;
  /** message.create calls that failed (logged; never holding up a start or a stop). */
  failed: number;
}

/** Written atomically before a host shutdown touches any guest (seed 003); read by `restore` and reports. */
export interface ShutdownSnapshot {
  takenAt: string;
  bootId: string;
  hostUuid: string;
  guests: SnapshotGuest[];
}

export interface SnapshotGuest {
  uuid: string;
  name: string;
  powerState: PowerState;
  residentOn: string | null;
  affinity: string | null;
  order: number;
  memoryMax: number;
  otherConfig: Record<string, string>;
  policy: EffectivePolicy;
}
