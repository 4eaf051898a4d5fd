// The daemon's toolstack connection, replaceable while the daemon runs (SIGHUP): every call goes to
// the backend of the config in force when the call began. A replaced backend finishes the calls it
// has in flight (a start, a clean shutdown request until it settles, a wait) and is closed after the
// last of them, so a reload never cuts an operation in half and never mixes two endpoints in one.

import type { Config } from '../core/types.js';
import type { Logger } from '../log.js';
import type { Alert, CleanShutdownHandle, Guest, PoolMigration, Toolstack } from '../toolstack/types.js';

export interface ReloadableToolstack {
  /** Stable for the daemon's whole life; routes each call to the current backend. */
  readonly toolstack: Toolstack;
  /** Build the backend for `next` (throws, changing nothing, when it cannot) and route new calls to it. */
  replace(next: Config): Promise<void>;
  /**
   * Swap the backend for a fresh one of the config in force, not yet connected, and resolve once
   * the old one has closed (its session, event loop, record cache and sockets gone): what the
   * daemon does to idle lean between its boot plan and a stop.
   */
  rest(): Promise<void>;
}

interface Generation {
  backend: Toolstack;
  inFlight: number;
  retired: boolean;
  /** Settles once a retired backend is closed. */
  closed: Promise<void>;
  close: () => void;
}

function generation(backend: Toolstack): Generation {
  let close = (): void => undefined;
  const closed = new Promise<void>((resolve) => (close = resolve));
  return { backend, inFlight: 0, retired: false, closed, close };
}

export async function createReloadableToolstack(
  config: Config,
  log: Logger,
  build: (config: Config) => Promise<Toolstack>,
): Promise<ReloadableToolstack> {
  let current: Generation = generation(await build(config));
  let inForce = config;
  const kind = current.backend.kind;

  const closeRetired = (gen: Generation): void => {
    if (!gen.retired || gen.inFlight > 0) return;
    // Calls do not wait on this close: the daemon goes on with the new backend. A failure is only logged.
    gen.backend
      .close()
      .catch((err: unknown) => log.warn({ err }, 'closing the replaced toolstack connection failed'))
      .finally(gen.close);
  };

  async function replace(next: Config): Promise<Generation> {
    if (next.toolstack.kind !== kind) throw new Error(`toolstack.kind cannot change from "${kind}" to "${next.toolstack.kind}" without a restart`);
    const fresh = generation(await build(next));
    const old = current;
    current = fresh;
    inForce = next;
    old.retired = true;
    closeRetired(old);
    return old;
  }

  /** Run one call on the current backend; it counts as in flight until `settled` (default: the call itself). */
  async function route<T>(call: (b: Toolstack) => Promise<T>, settled?: (result: T) => Promise<unknown>): Promise<T> {
    const gen = current;
    gen.inFlight += 1;
    const release = (): void => {
      gen.inFlight -= 1;
      closeRetired(gen);
    };
    let result: T;
    try {
      result = await call(gen.backend);
    } catch (err) {
      release();
      throw err;
    }
    if (settled) settled(result).then(release, release);
    else release();
    return result;
  }

  const toolstack: Toolstack = {
    kind,
    waitUntilReady: (opts) => route((b) => b.waitUntilReady(opts)),
    host: () => route((b) => b.host()),
    guests: (query) => route((b) => b.guests(query)),
    guest: (uuid) => route((b) => b.guest(uuid)),
    start: (guest, opts) => route((b) => b.start(guest, opts)),
    requestCleanShutdown: (guest) => route<CleanShutdownHandle>((b) => b.requestCleanShutdown(guest), (handle) => handle.done),
    hardShutdown: (guest, opts) => route((b) => b.hardShutdown(guest, opts)),
    waitFor: (uuid, until, opts) => route((b) => b.waitFor(uuid, until, opts)),
    storageOf: (guest) => route((b) => b.storageOf(guest)),
    plugStorage: (sr) => route((b) => b.plugStorage(sr)),
    setOtherConfigKey: (guest, key, value) => route((b) => b.setOtherConfigKey(guest, key, value)),
    removeOtherConfigKey: (guest, key) => route((b) => b.removeOtherConfigKey(guest, key)),
    setBlockedOperation: (guest, operation, reason) => route((b) => b.setBlockedOperation(guest, operation, reason)),
    removeBlockedOperation: (guest, operation) => route((b) => b.removeBlockedOperation(guest, operation)),
    // Optional in the seam; the kind never changes on reload, so neither does whether they exist.
    ...(current.backend.lastStartTime ? { lastStartTime: (guest: Pick<Guest, 'uuid' | 'name' | 'ref'>) => route(async (b) => (await b.lastStartTime?.(guest)) ?? null) } : {}),
    ...(current.backend.sendAlert ? { sendAlert: (alert: Alert) => route((b) => b.sendAlert!(alert)) } : {}),
    ...(current.backend.pool ? { pool: routedPool(route) } : {}),
    async close() {
      current.retired = true;
      await current.backend.close();
    },
  };

  return {
    toolstack,
    async replace(next) {
      await replace(next);
    },
    async rest() {
      await (await replace(inForce)).closed;
    },
  };
}

/** The pool operations through the current backend (a reload never changes the kind, so never whether they exist). */
function routedPool(route: <T>(call: (b: Toolstack) => Promise<T>) => Promise<T>): PoolMigration {
  const pool = (b: Toolstack): PoolMigration => {
    if (!b.pool) throw new Error('the toolstack backend has no pool operations');
    return b.pool;
  };
  return {
    hosts: () => route((b) => pool(b).hosts()),
    disableThisHost: () => route((b) => pool(b).disableThisHost()),
    enableThisHost: () => route((b) => pool(b).enableThisHost()),
    migrationTarget: (guest, opts) => route((b) => pool(b).migrationTarget(guest, opts)),
    migrate: (guest, to, opts) => route((b) => pool(b).migrate(guest, to, opts)),
  };
}
