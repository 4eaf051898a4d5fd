// A xenstore client over xenstored's Unix socket: requests multiplexed by req_id, each with its own
// deadline; transactions retried on EAGAIN; watches dispatched by token and re-registered after a
// reconnect (xenstored fires every watch once on registration, so a watcher re-checks what it
// watches after a gap without extra code).

import { existsSync } from 'node:fs';
import net from 'node:net';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { XenstoreError, isXenstoreError } from './errors.js';
import { backoffDelay, retry } from '../retry.js';
import { MessageType, createDecoder, encodeMessage, messageTypeName, nulTerminated, splitNul, type Message } from './wire.js';
import { monotonicNow } from '../core/clock.js';

/** Where xenstored listens, newest layout first (XENSTORED_PATH overrides, as in libxenstore). */
export const DEFAULT_SOCKET_PATHS = ['/run/xenstored/socket', '/var/run/xenstored/socket'];

export interface XenstoreClientOptions {
  /** Socket path; default $XENSTORED_PATH, else the first of DEFAULT_SOCKET_PATHS that exists. */
  path?: string;
  /** Deadline of one request, including waiting for a connection. Default 10 s. */
  requestTimeoutMs?: number;
  /** Backoff between reconnect attempts. Default 100 ms doubling up to 2 s. */
  reconnectInitialMs?: number;
  reconnectMaxMs?: number;
  log?: Logger;
}

export type PermissionAccess = 'none' | 'read' | 'write' | 'both';
export interface Permission {
  domid: number;
  access: PermissionAccess;
}

/** The operations that can run inside or outside a transaction. */
export interface XenstoreOps {
  /** The value; rejects with ENOENT when the node does not exist. */
  read(path: string): Promise<string>;
  /** The value, or null when the node does not exist. */
  readOrNull(path: string): Promise<string | null>;
  write(path: string, value: string): Promise<void>;
  /** Child names (not paths); rejects with ENOENT when the node does not exist. */
  directory(path: string): Promise<string[]>;
  /** Child names, or [] when the node does not exist. */
  directoryOrEmpty(path: string): Promise<string[]>;
  mkdir(path: string): Promise<void>;
  /** Removes the node and its children; a node already gone is not an error. */
  rm(path: string): Promise<void>;
  getPerms(path: string): Promise<Permission[]>;
}

export interface Watch {
  readonly path: string;
  readonly token: string;
  unwatch(): Promise<void>;
}

export interface XenstoreClient extends XenstoreOps {
  readonly socketPath: string;
  /** Resolves once connected (or already), rejects at the deadline with the last connect error. */
  connected(timeoutMs?: number): Promise<void>;
  getDomainPath(domid: number): Promise<string>;
  /**
   * Run fn inside a transaction and commit; on EAGAIN (another writer got there first) run it again,
   * up to maxAttempts. fn must be safe to repeat: it only touches xenstore through `tx`.
   */
  transaction<T>(fn: (tx: XenstoreOps) => Promise<T>, opts?: { maxAttempts?: number }): Promise<T>;
  /**
   * Watch a path (and everything below it), or a special path (@introduceDomain, @releaseDomain).
   * onEvent gets the path that changed; it is called once right after registration too, and again
   * after every reconnect.
   */
  watch(path: string, onEvent: (changedPath: string) => void): Promise<Watch>;
  close(): Promise<void>;
}

interface Pending {
  request: string;
  resolve: (payload: Buffer) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

interface WatchEntry {
  path: string;
  token: string;
  onEvent: (changedPath: string) => void;
  /** Connection generation it is registered on; 0 = not yet registered anywhere. */
  generation: number;
}

export function pickSocketPath(explicit?: string): string {
  if (explicit) return explicit;
  const fromEnv = process.env.XENSTORED_PATH;
  if (fromEnv) return fromEnv;
  return DEFAULT_SOCKET_PATHS.find((p) => existsSync(p)) ?? DEFAULT_SOCKET_PATHS[0]!;
}

const ACCESS: Record<string, PermissionAccess> = { n: 'none', r: 'read', w: 'write', b: 'both' };

/** Parses GET_PERMS answers such as "n0", "r5", "b12" (first entry = owner and default access). */
export function parsePermissions(entries: string[], request: string): Permission[] {
  return entries.map((e) => {
    const access = ACCESS[e.charAt(0)];
    const domid = Number(e.slice(1));
    if (!access || !/^\d+$/.test(e.slice(1))) throw new XenstoreError('EPROTO', request, `bad permission entry ${JSON.stringify(e)}`);
    return { domid, access };
  });
}

export function createXenstoreClient(options: XenstoreClientOptions = {}): XenstoreClient {
  const socketPath = pickSocketPath(options.path);
  const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
  const reconnectInitialMs = options.reconnectInitialMs ?? 100;
  const reconnectMaxMs = options.reconnectMaxMs ?? 2_000;
  const log = options.log ?? silentLogger();

  let socket: net.Socket | null = null;
  let isConnected = false;
  let closed = false;
  let lastConnectError: string | null = null;
  /** Reconnect attempts since the last connection: the step of the shared jittered backoff. */
  let reconnects = 0;
  let reconnectTimer: NodeJS.Timeout | null = null;
  let nextReqId = 1;
  let nextToken = 1;
  let generation = 0;
  const pending = new Map<number, Pending>();
  const watches = new Map<string, WatchEntry>();
  const waitingForConnection = new Set<() => void>();

  function connect(): void {
    if (closed || socket) return;
    const s = net.createConnection({ path: socketPath });
    socket = s;
    const decode = createDecoder();
    s.on('connect', () => {
      isConnected = true;
      generation++;
      lastConnectError = null;
      reconnects = 0;
      log.debug({ socketPath }, 'xenstore connected');
      // Watches registered on an earlier connection; a watch() still waiting registers itself.
      for (const w of watches.values()) {
        if (w.generation > 0 && w.generation < generation) {
          registerWatch(w).catch((err) => log.warn({ err, path: w.path }, 'xenstore watch re-registration failed'));
        }
      }
      for (const wake of waitingForConnection) wake();
      waitingForConnection.clear();
    });
    s.on('data', (chunk: Buffer) => {
      let messages: Message[];
      try {
        messages = decode(chunk);
      } catch (err) {
        log.error({ err }, 'xenstore stream out of step; reconnecting');
        s.destroy();
        return;
      }
      for (const m of messages) dispatch(m);
    });
    s.on('error', (err: NodeJS.ErrnoException) => {
      lastConnectError = err.code ? `${err.code} ${socketPath}` : err.message;
    });
    s.on('close', () => {
      const wasConnected = isConnected;
      socket = null;
      isConnected = false;
      const reason = lastConnectError ?? 'connection closed by xenstored';
      for (const [id, p] of pending) {
        clearTimeout(p.timer);
        pending.delete(id);
        p.reject(new XenstoreError(closed ? 'ECLOSED' : 'ECONNRESET', p.request, reason));
      }
      if (closed) return;
      if (wasConnected) log.warn({ socketPath, reason }, 'xenstore connection lost; reconnecting');
      scheduleReconnect();
    });
  }

  function scheduleReconnect(): void {
    if (closed || reconnectTimer) return;
    // Only keep trying while someone needs the connection: a request waiting, or a watch to restore.
    if (waitingForConnection.size === 0 && watches.size === 0) return;
    reconnectTimer = setTimeout(() => {
      reconnectTimer = null;
      connect();
    }, backoffDelay({ initialMs: reconnectInitialMs, maxMs: reconnectMaxMs }, reconnects++));
    reconnectTimer.unref();
  }

  function dispatch(m: Message): void {
    if (m.type === MessageType.WATCH_EVENT) {
      const [changedPath, token] = splitNul(m.payload);
      const w = token === undefined ? undefined : watches.get(token);
      if (!w || changedPath === undefined) return;
      try {
        w.onEvent(changedPath);
      } catch (err) {
        log.error({ err, path: w.path }, 'xenstore watch handler threw');
      }
      return;
    }
    const p = pending.get(m.reqId);
    if (!p) return; // answer to a request that already timed out
    pending.delete(m.reqId);
    clearTimeout(p.timer);
    if (m.type === MessageType.ERROR) {
      const [code] = splitNul(m.payload);
      p.reject(new XenstoreError(code || 'EIO', p.request));
    } else {
      p.resolve(m.payload);
    }
  }

  function waitConnected(deadline: number, request: string): Promise<void> {
    if (isConnected) return Promise.resolve();
    if (closed) return Promise.reject(new XenstoreError('ECLOSED', request));
    return new Promise((resolve, reject) => {
      const wake = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        waitingForConnection.delete(wake);
        reject(new XenstoreError('ETIMEDOUT', request, `no connection to xenstored at ${socketPath}${lastConnectError ? `: ${lastConnectError}` : ''}`));
      }, Math.max(0, deadline - monotonicNow()));
      waitingForConnection.add(wake);
      if (!socket) connect();
    });
  }

  /**
   * Send one request and wait for its answer, within requestTimeoutMs overall. A request outside a
   * transaction that loses its connection is sent again on the next one: every such request is
   * idempotent (a write of the same value, a read), while a transaction dies with its connection.
   */
  async function request(type: number, payload: Buffer, txId = 0, what = ''): Promise<Buffer> {
    const description = `${messageTypeName(type)}${what ? ` ${what}` : ''}${txId ? ` (transaction ${txId})` : ''}`;
    const deadline = monotonicNow() + requestTimeoutMs;
    for (;;) {
      try {
        return await sendOnce(type, payload, txId, description, deadline);
      } catch (err) {
        if (!isXenstoreError(err, 'ECONNRESET') || txId !== 0 || closed || monotonicNow() >= deadline) throw err;
        log.debug({ request: description }, 'xenstore request lost with its connection; sending again');
      }
    }
  }

  async function sendOnce(type: number, payload: Buffer, txId: number, description: string, deadline: number): Promise<Buffer> {
    await waitConnected(deadline, description);
    if (closed) throw new XenstoreError('ECLOSED', description);
    const s = socket;
    if (!s || !isConnected) throw new XenstoreError('ECONNRESET', description, 'connection lost before sending');
    const reqId = nextReqId;
    nextReqId = nextReqId >= 0xfffffffe ? 1 : nextReqId + 1;
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(reqId);
        reject(new XenstoreError('ETIMEDOUT', description, `no answer within ${requestTimeoutMs} ms`));
      }, Math.max(1, deadline - monotonicNow()));
      pending.set(reqId, { request: description, resolve, reject, timer });
      s.write(encodeMessage({ type, reqId, txId, payload }));
    });
  }

  function ops(txId: number): XenstoreOps {
    const read = async (path: string): Promise<string> =>
      (await request(MessageType.READ, nulTerminated(path), txId, path)).toString('utf8');
    const directory = async (path: string): Promise<string[]> =>
      splitNul(await request(MessageType.DIRECTORY, nulTerminated(path), txId, path));
    return {
      read,
      async readOrNull(path) {
        try {
          return await read(path);
        } catch (err) {
          if (isXenstoreError(err, 'ENOENT')) return null;
          throw err;
        }
      },
      async write(path, value) {
        const payload = Buffer.concat([nulTerminated(path), Buffer.from(value, 'utf8')]);
        await request(MessageType.WRITE, payload, txId, path);
      },
      directory,
      async directoryOrEmpty(path) {
        try {
          return await directory(path);
        } catch (err) {
          if (isXenstoreError(err, 'ENOENT')) return [];
          throw err;
        }
      },
      async mkdir(path) {
        await request(MessageType.MKDIR, nulTerminated(path), txId, path);
      },
      async rm(path) {
        try {
          await request(MessageType.RM, nulTerminated(path), txId, path);
        } catch (err) {
          if (!isXenstoreError(err, 'ENOENT')) throw err;
        }
      },
      async getPerms(path) {
        const what = `GET_PERMS ${path}`;
        return parsePermissions(splitNul(await request(MessageType.GET_PERMS, nulTerminated(path), txId, path)), what);
      },
    };
  }

  async function registerWatch(w: WatchEntry): Promise<void> {
    const on = generation;
    try {
      await request(MessageType.WATCH, nulTerminated(w.path, w.token), 0, w.path);
    } catch (err) {
      if (!isXenstoreError(err, 'EEXIST')) throw err;
    }
    w.generation = isConnected ? generation : on;
  }

  const plain = ops(0);

  return {
    socketPath,
    ...plain,
    async connected(timeoutMs = requestTimeoutMs) {
      await waitConnected(monotonicNow() + timeoutMs, `connect ${socketPath}`);
    },
    async getDomainPath(domid) {
      return splitNul(await request(MessageType.GET_DOMAIN_PATH, nulTerminated(String(domid)), 0, String(domid)))[0] ?? '';
    },
    async transaction<T>(fn: (tx: XenstoreOps) => Promise<T>, opts: { maxAttempts?: number } = {}): Promise<T> {
      const maxAttempts = opts.maxAttempts ?? 10;
      const once = async (): Promise<T> => {
        const [idText] = splitNul(await request(MessageType.TRANSACTION_START, nulTerminated(''), 0));
        const txId = Number(idText);
        if (!Number.isInteger(txId) || txId <= 0) throw new XenstoreError('EPROTO', 'TRANSACTION_START', `bad transaction id ${JSON.stringify(idText)}`);
        const outcome = await fn(ops(txId)).then(
          (value) => ({ ok: true as const, value }),
          (error: unknown) => ({ ok: false as const, error }),
        );
        if (!outcome.ok) {
          await request(MessageType.TRANSACTION_END, nulTerminated('F'), txId).catch(() => undefined);
          throw outcome.error;
        }
        await request(MessageType.TRANSACTION_END, nulTerminated('T'), txId);
        return outcome.value;
      };
      // EAGAIN: the tree changed under the transaction; run it again on the new tree.
      return retry(once, {
        initialMs: 5,
        maxMs: 50,
        deadline: Infinity,
        now: monotonicNow,
        retryable: (err, n) => isXenstoreError(err, 'EAGAIN') && n + 1 < maxAttempts,
        onRetry: (_err, n) => log.debug({ attempt: n + 1 }, 'xenstore transaction conflict; retrying'),
      });
    },
    async watch(path, onEvent) {
      const token = `xen-guests-${process.pid}-${nextToken++}`;
      const entry: WatchEntry = { path, token, onEvent, generation: 0 };
      watches.set(token, entry);
      try {
        await registerWatch(entry);
      } catch (err) {
        watches.delete(token);
        throw err;
      }
      return {
        path,
        token,
        async unwatch() {
          if (!watches.delete(token)) return;
          if (!isConnected) return; // a new connection will not re-register it
          await request(MessageType.UNWATCH, nulTerminated(path, token), 0, path).catch((err) => {
            if (!isXenstoreError(err, 'ENOENT') && !isXenstoreError(err, 'ECLOSED')) throw err;
          });
        },
      };
    },
    async close() {
      if (closed) return;
      closed = true;
      if (reconnectTimer) clearTimeout(reconnectTimer);
      reconnectTimer = null;
      watches.clear();
      for (const wake of waitingForConnection) wake();
      waitingForConnection.clear();
      const s = socket;
      if (!s) return;
      await new Promise<void>((resolve) => {
        s.once('close', () => resolve());
        s.destroy();
      });
    },
  };
}
