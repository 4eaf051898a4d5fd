// The seam between the engine (which decides and sequences) and a toolstack backend (which acts).
// Two backends implement it: XenAPI (XCP-ng / XenServer, src/toolstack/xenapi.ts) and xl
// (plain Xen, src/toolstack/xl.ts). Everything above this file is toolstack-neutral.

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
  /** The guest agent is reporting (guest_metrics.live). */
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
  /** VM.xenstore_data (vm-data/… keys visible live while running). */
  xenstoreData: Record<string, string>;
  /** Operations in flight on this guest right now (task ref → operation). */
  currentOperations: Record<string, string>;
  /** 'hvm' | 'pv' | 'pvh' | 'pv_in_pvh' | 'unspecified'. */
  domainType: string;
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
}

/** A failure the toolstack reported, with its code and parameters exactly as sent. */
export class ToolstackError extends Error {
  constructor(
    readonly code: string,
    readonly params: string[] = [],
    message?: string,
  ) {
    super(message ?? (params.length ? `${code} [${params.join(', ')}]` : code));
    this.name = 'ToolstackError';
  }
}

/** A clean shutdown request in flight. */
export interface CleanShutdownHandle {
  /** Settles when the request ends: resolves on Halted, rejects with ToolstackError otherwise. */
  readonly done: Promise<void>;
  /** Withdraw the request (XenAPI task.cancel). Does not wait. */
  cancel(): Promise<void>;
}

export interface WaitOptions {
  /** Absolute deadline, monotonic ms (core/clock.ts monotonicNow): a wall-clock step cannot move it. */
  deadline: number;
  signal?: AbortSignal;
}

/** What a caller of guests() needs, so that a backend can avoid a whole-table read. */
export interface GuestsQuery {
  /** The backend's event-fed cache is recent enough (no whole-table read when it has one). */
  fromCache?: boolean;
  /** Only guests running or paused on this host are wanted (a fresh read, filtered by the toolstack). */
  liveOnThisHost?: boolean;
}

export interface Toolstack {
  readonly kind: 'xenapi' | 'xl';
  /** Block until the toolstack answers, retrying with backoff; calls onWaiting with a reason. */
  waitUntilReady(opts: WaitOptions & { onWaiting?: (why: string) => void }): Promise<void>;
  /** This host (the one the daemon runs on). */
  host(): Promise<HostInfo>;
  /**
   * Every VM the toolstack knows, templates and control domain included. The query is a hint a
   * backend may use to read less (callers still filter what they get).
   */
  guests(query?: GuestsQuery): Promise<Guest[]>;
  /** One guest by uuid; null when it no longer exists. */
  guest(uuid: string): Promise<Guest | null>;
  /** Start on this host; resolves once the toolstack reports it started (start_delay included). */
  start(guest: Guest, opts: WaitOptions): Promise<void>;
  /** Ask the guest to power off (XenAPI Async.VM.clean_shutdown / xenstore control/shutdown). */
  requestCleanShutdown(guest: Guest): Promise<CleanShutdownHandle>;
  /**
   * Pull the plug; resolves when the guest is Halted: 'already-halted' when it was Halted before the
   * hard stop took effect (it obeyed a clean request or stopped by itself), so it is not called hard.
   */
  hardShutdown(guest: Guest, opts: WaitOptions): Promise<void | 'already-halted'>;
  /**
   * Resolve with the guest's record as soon as `until` holds for it (event-driven, not polled),
   * or with 'timeout' at the deadline, or 'gone' if the guest was deleted.
   */
  waitFor(uuid: string, until: (g: Guest) => boolean, opts: WaitOptions): Promise<Guest | 'timeout' | 'gone'>;
  setOtherConfigKey(guest: Guest, key: string, value: string): Promise<void>;
  removeOtherConfigKey(guest: Guest, key: string): Promise<void>;
  setBlockedOperation(guest: Guest, operation: string, reason: string): Promise<void>;
  removeBlockedOperation(guest: Guest, operation: string): Promise<void>;
  close(): Promise<void>;
}
