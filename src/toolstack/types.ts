// The seam between the engine (which decides and sequences) and a toolstack backend (which acts).
// Two backends implement it: XenAPI (XCP-ng / XenServer, src/toolstack/xenapi.ts) and xl
// (plain Xen, src/toolstack/xl.ts). Everything above this file is toolstack-neutral.

// The domain types live in the core; re-exported here so that a backend needs one import for the seam.
import type { Guest, HostInfo, UnreadableGuest } from '../core/guest.js';
import type { Alert } from '../core/alerts.js';
export type { CleanShutdownAbility, Guest, GuestTools, HostInfo, HostMaintenance, PowerState, UnreadableGuest } from '../core/guest.js';
export type { Alert } from '../core/alerts.js';

// Every failure a backend raises through this seam is a ToolstackError carrying one of the meanings
// of core/meanings.ts, with the backend's own code and parameters kept for the report.
export { ToolstackError, type Meaning } from '../core/meanings.js';

/** A storage repository a guest's disks live on, as this host sees it. */
export interface GuestStorage {
  uuid: string;
  name: string;
  /** Attached on this host (XenAPI: a PBD of this host with currently_attached). */
  plugged: boolean;
}

/** A clean shutdown request in flight. */
export interface CleanShutdownHandle {
  /** Settles when the request ends: resolves on Halted, rejects with a ToolstackError otherwise. */
  readonly done: Promise<void>;
  /** Withdraw the request (XenAPI task.cancel). Does not wait. */
  cancel(): Promise<void>;
}

/** A start: its deadline, and the policy's start_delay for a backend whose toolstack does not sleep it. */
export interface StartOptions extends WaitOptions {
  /** Seconds. xapi sleeps VM.start_delay inside VM.start (this is then ignored); xl sleeps it after `xl create`. */
  startDelay?: number;
}

export interface WaitOptions {
  /** Absolute deadline, monotonic ms (core/clock.ts monotonicNow): a wall-clock step cannot move it. */
  deadline: number;
  signal?: AbortSignal;
}

/** What a caller of guests() needs, so that a backend can avoid a whole-table read. */
export interface GuestsQuery {
  /**
   * The caller is about to wait on this toolstack's events (it will run a plan): read the guests
   * through the backend's event cache, starting its sync now when it has none, so that one
   * whole-table read serves both and events are followed before the first action. As fresh as a
   * read begun at the call: a cache whose event loop fails or resyncs is waited for. A backend
   * without an event cache (xl) reads as usual.
   */
  throughEvents?: boolean;
  /** Monotonic ms: how long `throughEvents` may wait for the sync (default: the backend's call timeout). */
  deadline?: number;
  /** Only guests running or paused on this host are wanted (a fresh read, filtered by the toolstack). */
  liveOnThisHost?: boolean;
  /**
   * A guest whose record does not decode is left out of the answer and handed here (the backend
   * logs it too), so the caller can report it while every other guest is planned and acted on.
   */
  onUnreadable?: (guest: UnreadableGuest) => void;
  /**
   * When the whole-table read fails (not a toolstack outage), read this host's resident guests one
   * by one instead: at host shutdown a broken bulk read must not mean "nothing stopped". With
   * `throughEvents`, a sync that fails for another reason than an outage or the time also falls
   * back to the direct read.
   */
  residentFallback?: boolean;
}


/** A host of the pool, as the report names it. */
export interface PoolHost {
  uuid: string;
  name: string;
}

/**
 * Live migration inside the pool (on_stop=migrate), XenAPI only: xapi's own pool operations, the
 * engine only sequences them (engine/migrate-guest.ts).
 */
export interface PoolMigration {
  /** Every host of the pool, read fresh (names for what `status` shows). */
  hosts(): Promise<PoolHost[]>;
  /** host.disable on this host: no guest is started or migrated onto it meanwhile. */
  disableThisHost(): Promise<void>;
  /** host.enable on this host (after a stop-all that disabled it; a rebooting host re-enables by itself). */
  enableThisHost(): Promise<void>;
  /**
   * The host the guest would move to now: another enabled host of the pool that can run it (xapi's
   * VM.assert_can_boot_here: memory, its disks reachable), the most free memory first. Fails
   * refused with the toolstack's reason (no other host, no room, local disks) when there is none.
   */
  migrationTarget(guest: Guest, opts: WaitOptions): Promise<PoolHost>;
  /** Live-migrate (VM.pool_migrate); resolves once it runs there. At the deadline the migration is cancelled and this fails. */
  migrate(guest: Guest, to: PoolHost, opts: WaitOptions): Promise<void>;
}

export interface Toolstack {
  readonly kind: 'xenapi' | 'xl';
  /** Present when guests can be live-migrated to other hosts of the pool (XenAPI). */
  readonly pool?: PoolMigration;
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
  /**
   * Start on this host; resolves once the toolstack reports it started (start_delay included).
   * Fails with wrong-state (not halted), gone (deleted), transient (retried by the backend until the
   * deadline first) or refused (the toolstack's own reason, its code kept).
   */
  start(guest: Guest, opts: StartOptions): Promise<void>;
  /**
   * Ask the guest to power off (XenAPI Async.VM.clean_shutdown / xenstore control/shutdown). The
   * request or its `done` fails with no-clean-path when the guest cannot act on it, wrong-state when
   * it is not running, gone when deleted; `done` fails refused when the request was withdrawn.
   */
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
  /**
   * For each guest asked about (by uuid): the SRs its disks live on and whether each is plugged on
   * this host, read fresh with a constant number of calls however many guests (XenAPI: the disk
   * VBDs, the SRs, this host's PBDs). Every guest asked about is in the answer; [] when it has no
   * disks, or when the toolstack has no such notion (xl: disks are files and devices of dom0).
   */
  storageOf(guests: readonly Pick<Guest, 'uuid' | 'ref'>[]): Promise<Map<string, GuestStorage[]>>;
  /** Attach an SR on this host (XenAPI PBD.plug); fails transient while its target does not answer. */
  plugStorage(srUuid: string): Promise<void>;
  /**
   * When the guest was last started (XenAPI VM_metrics.start_time), null when never or unknown.
   * Optional: a backend without it leaves "journalled, then halted" guests alone.
   */
  lastStartTime?(guest: Pick<Guest, 'uuid' | 'name' | 'ref'>): Promise<Date | null>;
  setOtherConfigKey(guest: Guest, key: string, value: string): Promise<void>;
  removeOtherConfigKey(guest: Guest, key: string): Promise<void>;
  setBlockedOperation(guest: Guest, operation: string, reason: string): Promise<void>;
  removeBlockedOperation(guest: Guest, operation: string): Promise<void>;
  /**
   * Write an alert where admins look (XenAPI: message.create, shown by Xen Orchestra and XenCenter).
   * Absent on a backend with no such place (xl): alerts then go to the journal only.
   */
  sendAlert?(alert: Alert): Promise<void>;
  close(): Promise<void>;
}
