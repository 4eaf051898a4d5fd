// The domain model every layer shares: a guest and a host as the engine, the policy and the plan see
// them. Backends fill these from their own records (src/toolstack/xenapi.ts, src/toolstack/xl.ts);
// nothing here knows which toolstack answered. Types only: no I/O.

export type PowerState = 'Halted' | 'Running' | 'Paused' | 'Suspended';

/** Can this guest take a clean shutdown request, and why (shown by `status` and `plan`). */
export interface CleanShutdownAbility {
  able: boolean;
  /** e.g. "PV drivers 9.3.1 detected", "HVM guest without PV drivers or feature-shutdown". */
  reason: string;
}

/** Guest-tools state in the terms of seed 002: what the agent reported, if anything. */
export interface GuestTools {
  /** PV drivers detected (xapi: PV_drivers_version has integer major/minor). */
  pvDrivers: boolean;
  /** "major.minor.micro[-build]" when known. */
  version: string | null;
  /**
   * The guest agent reports: it wrote what only an agent writes (XenAPI: a PV drivers version or an
   * OS version in a live guest-metrics record; `live` alone is set by xapi at every start).
   */
  agentLive: boolean;
  /** PVAddons/NotUpgradable or up-to-date flag; null when unknown. */
  upToDate: boolean | null;
  /** control/feature-* the guest advertises (shutdown, poweroff, reboot, suspend …). */
  features: string[];
}

/** One guest as the engine sees it. Backends fill it from their own records. */
export interface Guest {
  /** Backend handle: XenAPI OpaqueRef, or the xl domain name. Never shown as identity. */
  ref: string;
  uuid: string;
  name: string;
  powerState: PowerState;
  isTemplate: boolean;
  isSnapshot: boolean;
  isControlDomain: boolean;
  /** Host uuid the guest runs on (null when Halted/Suspended). */
  residentOn: string | null;
  /**
   * Host uuid a live migration under way is taking the guest to (XenAPI: scheduled_to_be_resident_on
   * while VM.pool_migrate runs); null or absent when none is.
   */
  migratingTo?: string | null;
  /** Host uuid the guest prefers (null = none). */
  affinity: string | null;
  /** Native XenAPI VM.order / start_delay / shutdown_delay (seconds). */
  order: number;
  startDelay: number;
  shutdownDelay: number;
  otherConfig: Record<string, string>;
  blockedOperations: Record<string, string>;
  /** Bytes the host must have free to start it (dynamic_min + overhead on XenAPI). */
  memoryRequired: number;
  /** memory_static_max, for reports. */
  memoryMax: number;
  cleanShutdown: CleanShutdownAbility;
  tools: GuestTools;
  /**
   * Which record `tools` was read from (XenAPI: the VM's guest_metrics ref). A halted guest keeps
   * its last run's record, agent facts and all, and xapi gives every start a new one: after a start,
   * the record the guest had before it means the facts are still the last run's. Absent where the
   * facts die with the domain (xl reads them from the running domain's xenstore).
   */
  toolsRecord?: string;
  /** VM.xenstore_data (vm-data/… keys visible live while running). */
  xenstoreData: Record<string, string>;
  /** Operations in flight on this guest right now (task ref → operation). */
  currentOperations: Record<string, string>;
  /** 'hvm' | 'pv' | 'pvh' | 'pv_in_pvh' | 'unspecified'. */
  domainType: string;
  /** XenAPI VM.ha_restart_priority: 'restart', 'best-effort' or '' (absent on xl: there is no HA). */
  haRestartPriority?: string;
}

export interface HostInfo {
  uuid: string;
  name: string;
  /** Free memory for new guests, bytes. */
  freeMemory: number;
  /** Number of hosts in the pool (1 on an xl host). */
  poolSize: number;
  /** pool.other_config:auto_poweron = "true": xapi's own autostart would also act. */
  poolAutoPoweron: boolean;
  /** The XenAPI wire protocol the connection uses (what `xapi.protocol = auto` found); absent on xl. */
  protocol?: 'xml-rpc' | 'json-rpc';
  /** The host is in maintenance mode: nothing is started on it at boot. Absent/null: it is not. */
  maintenance?: HostMaintenance | null;
  /** pool.ha_enabled: HA restarts the guests with a restart priority itself (absent on xl). */
  haEnabled?: boolean;
}

/** Why the host counts as in maintenance, and what is known of when and by whom. */
export interface HostMaintenance {
  /** What says so, e.g. "host.enabled = false", or the reason an admin gave `host maintenance on`. */
  reason: string;
  /** ISO time, when known. */
  since: string | null;
  /** Who or what set it, when known. */
  by: string | null;
}

/** A guest left out of a read because its record is malformed: what is known of it, and why. */
export interface UnreadableGuest {
  ref: string;
  uuid: string | null;
  name: string | null;
  /** Which field and what was wrong with it. */
  problem: string;
}
