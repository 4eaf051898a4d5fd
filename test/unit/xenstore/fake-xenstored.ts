// A small xenstored stand-in speaking the real wire format on a Unix socket. The real xenstored
// cannot run without a hypervisor; the system test (test/system/xen) runs the client against it.
// Enough of xenstored's semantics for the client and the xl backend: a tree of nodes, implicit
// parents on write, transactions that fail with EAGAIN when the tree changed meanwhile, watches
// that fire once on registration and on every change at or below their path, @releaseDomain and
// @introduceDomain. Fault hooks let a test stall replies, reorder them, force conflicts and drop
// connections.

import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { MessageType, createDecoder, encodeMessage, nulTerminated, splitNul, type Message } from '../../../src/xenstore/wire.js';

interface Conn {
  socket: net.Socket;
  watches: Map<string, string>; // token -> path
  transactions: Map<number, { tree: Map<string, string>; baseGeneration: number; changed: Set<string> }>;
}

export interface FakeXenstored {
  socketPath: string;
  /** The tree, path -> value ("" for directories); tests read and write it directly. */
  tree: Map<string, string>;
  /** Every request received, in arrival order. */
  received: Message[];
  /** Set a node as if another client wrote it (fires watches). */
  write(p: string, value: string): void;
  /** Remove a node and its children as if another client did (fires watches). */
  remove(p: string): void;
  fireSpecial(special: '@releaseDomain' | '@introduceDomain'): void;
  /** Never answer requests of this type until cleared. */
  stall: Set<number>;
  /** Hold answers until `count` are held, then send them in reverse order. */
  reorderNext(count: number): void;
  /** Fail the next n TRANSACTION_END commits with EAGAIN. */
  conflictNextCommits(n: number): void;
  /** Close every client connection (as a restarted xenstored would). */
  dropConnections(): void;
  connectionCount(): number;
  /** Called after a client's WRITE outside a transaction was applied (a guest's view of dom0 writing). */
  onClientWrite: ((path: string, value: string) => void) | null;
  close(): Promise<void>;
}

function parentOf(p: string): string | null {
  if (p === '/') return null;
  const i = p.lastIndexOf('/');
  return i <= 0 ? '/' : p.slice(0, i);
}

function isAtOrBelow(p: string, base: string): boolean {
  return p === base || base === '/' || p.startsWith(`${base}/`);
}

export async function startFakeXenstored(): Promise<FakeXenstored> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fake-xenstored-'));
  const socketPath = path.join(dir, 'socket');
  const tree = new Map<string, string>([['/', '']]);
  const received: Message[] = [];
  const conns = new Set<Conn>();
  const stall = new Set<number>();
  let generation = 0;
  let nextTx = 1;
  let forcedConflicts = 0;
  let reorderCount = 0;
  let held: { conn: Conn; msg: Message }[] = [];

  function absolute(p: string, domid = 0): string {
    return p.startsWith('/') || p.startsWith('@') ? p : `/local/domain/${domid}/${p}`;
  }

  /** A removed node also fires the watches below it (xenstored does the same for rm). */
  function fire(changed: string): void {
    const removed = changed.startsWith('-');
    const p = removed ? changed.slice(1) : changed;
    for (const c of conns) {
      for (const [token, wpath] of c.watches) {
        if (p.startsWith('@') ? wpath === p : isAtOrBelow(p, wpath) || (removed && isAtOrBelow(wpath, p))) {
          c.socket.write(encodeMessage({ type: MessageType.WATCH_EVENT, reqId: 0, txId: 0, payload: nulTerminated(wpath.startsWith('@') || (removed && isAtOrBelow(wpath, p)) ? wpath : p, token) }));
        }
      }
    }
  }

  function setNode(t: Map<string, string>, p: string, value: string, changed: string[]): void {
    const missing: string[] = [];
    for (let q = parentOf(p); q && !t.has(q); q = parentOf(q)) missing.push(q);
    for (const q of missing.reverse()) {
      t.set(q, '');
      changed.push(q);
    }
    t.set(p, value);
    changed.push(p);
  }

  function removeNode(t: Map<string, string>, p: string, changed: string[]): boolean {
    if (!t.has(p)) return false;
    for (const k of [...t.keys()]) if (isAtOrBelow(k, p) && k !== '/') t.delete(k);
    changed.push(`-${p}`);
    return true;
  }

  function children(t: Map<string, string>, p: string): string[] {
    const prefix = p === '/' ? '/' : `${p}/`;
    const out: string[] = [];
    for (const k of t.keys()) {
      if (k !== p && k.startsWith(prefix) && !k.slice(prefix.length).includes('/')) out.push(k.slice(prefix.length));
    }
    return out;
  }

  function reply(conn: Conn, msg: Message): void {
    if (reorderCount > 0) {
      held.push({ conn, msg });
      if (held.length >= reorderCount) {
        const batch = held.reverse();
        held = [];
        reorderCount = 0;
        for (const h of batch) h.conn.socket.write(encodeMessage(h.msg));
      }
      return;
    }
    conn.socket.write(encodeMessage(msg));
  }

  function handle(conn: Conn, req: Message): void {
    received.push(req);
    if (stall.has(req.type)) return;
    const ok = (payload: Buffer = nulTerminated('OK')): void => reply(conn, { type: req.type, reqId: req.reqId, txId: req.txId, payload });
    const err = (code: string): void => reply(conn, { type: MessageType.ERROR, reqId: req.reqId, txId: req.txId, payload: nulTerminated(code) });
    const parts = splitNul(req.payload);
    const tx = req.txId ? conn.transactions.get(req.txId) : undefined;
    if (req.txId && !tx) return err('ENOENT');
    const t = tx ? tx.tree : tree;
    const changed: string[] = [];
    const commit = (): void => {
      if (tx) {
        for (const c of changed) tx.changed.add(c);
      } else if (changed.length) {
        generation++;
        for (const c of changed) fire(c);
      }
    };
    switch (req.type) {
      case MessageType.READ: {
        const v = t.get(absolute(parts[0] ?? ''));
        return v === undefined ? err('ENOENT') : ok(Buffer.from(v, 'utf8'));
      }
      case MessageType.WRITE: {
        const nul = req.payload.indexOf(0);
        if (nul < 0) return err('EINVAL');
        const p = absolute(req.payload.subarray(0, nul).toString('utf8'));
        const value = req.payload.subarray(nul + 1).toString('utf8');
        setNode(t, p, value, changed);
        commit();
        ok();
        if (!tx) api.onClientWrite?.(p, value);
        return;
      }
      case MessageType.MKDIR: {
        const p = absolute(parts[0] ?? '');
        if (!t.has(p)) setNode(t, p, '', changed);
        commit();
        return ok();
      }
      case MessageType.RM: {
        if (!removeNode(t, absolute(parts[0] ?? ''), changed)) return err('ENOENT');
        commit();
        return ok();
      }
      case MessageType.DIRECTORY: {
        const p = absolute(parts[0] ?? '');
        if (!t.has(p)) return err('ENOENT');
        return ok(nulTerminated(...children(t, p)));
      }
      case MessageType.GET_PERMS: {
        const p = absolute(parts[0] ?? '');
        if (!t.has(p)) return err('ENOENT');
        const m = /^\/local\/domain\/(\d+)/.exec(p);
        return ok(nulTerminated(m ? `n${m[1]}` : 'n0', 'r0'));
      }
      case MessageType.GET_DOMAIN_PATH:
        return ok(nulTerminated(`/local/domain/${parts[0] ?? ''}`));
      case MessageType.WATCH: {
        const [wpath, token] = parts;
        if (wpath === undefined || token === undefined) return err('EINVAL');
        if (conn.watches.has(token) && conn.watches.get(token) === wpath) return err('EEXIST');
        const abs = absolute(wpath);
        conn.watches.set(token, abs);
        ok();
        // xenstored fires a new watch once, right after acknowledging it.
        conn.socket.write(encodeMessage({ type: MessageType.WATCH_EVENT, reqId: 0, txId: 0, payload: nulTerminated(abs, token) }));
        return;
      }
      case MessageType.UNWATCH: {
        const [, token] = parts;
        if (token === undefined || !conn.watches.delete(token)) return err('ENOENT');
        return ok();
      }
      case MessageType.TRANSACTION_START: {
        const id = nextTx++;
        conn.transactions.set(id, { tree: new Map(tree), baseGeneration: generation, changed: new Set() });
        return ok(nulTerminated(String(id)));
      }
      case MessageType.TRANSACTION_END: {
        const t2 = conn.transactions.get(req.txId);
        if (!t2) return err('ENOENT');
        conn.transactions.delete(req.txId);
        if (parts[0] !== 'T') return ok();
        if (forcedConflicts > 0 || t2.baseGeneration !== generation) {
          if (forcedConflicts > 0) forcedConflicts--;
          return err('EAGAIN');
        }
        tree.clear();
        for (const [k, v] of t2.tree) tree.set(k, v);
        if (t2.changed.size) {
          generation++;
          for (const c of t2.changed) fire(c);
        }
        return ok();
      }
      default:
        return err('ENOSYS');
    }
  }

  const server = net.createServer((socket) => {
    const conn: Conn = { socket, watches: new Map(), transactions: new Map() };
    conns.add(conn);
    const decode = createDecoder();
    socket.on('data', (chunk: Buffer) => {
      for (const m of decode(chunk)) handle(conn, m);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => conns.delete(conn));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });

  const api: FakeXenstored = {
    onClientWrite: null,
    socketPath,
    tree,
    received,
    stall,
    write(p, value) {
      const changed: string[] = [];
      setNode(tree, p, value, changed);
      generation++;
      for (const c of changed) fire(c);
    },
    remove(p) {
      const changed: string[] = [];
      if (removeNode(tree, p, changed)) {
        generation++;
        for (const c of changed) fire(c);
      }
    },
    fireSpecial(special) {
      fire(special);
    },
    reorderNext(count) {
      reorderCount = count;
    },
    conflictNextCommits(n) {
      forcedConflicts = n;
    },
    dropConnections() {
      for (const c of conns) c.socket.destroy();
      conns.clear();
    },
    connectionCount() {
      return conns.size;
    },
    async close() {
      for (const c of conns) c.socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
  return api;
}
