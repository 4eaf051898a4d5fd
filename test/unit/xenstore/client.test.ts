import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createXenstoreClient, parsePermissions, type XenstoreClient } from '../../../src/xenstore/client.js';
import { XenstoreError } from '../../../src/xenstore/errors.js';
import { MessageType } from '../../../src/xenstore/wire.js';
import { startFakeXenstored, type FakeXenstored } from './fake-xenstored.js';

/** Resolve when check() holds, polling a fake in the same process; bounded. */
async function until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = performance.now() + timeoutMs; // monotonic: a stepped wall clock neither ends nor stretches the wait
  while (!check()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

let xsd: FakeXenstored;
let xs: XenstoreClient;

beforeEach(async () => {
  xsd = await startFakeXenstored();
  xs = createXenstoreClient({ path: xsd.socketPath, requestTimeoutMs: 2000, reconnectInitialMs: 10, reconnectMaxMs: 50 });
});
afterEach(async () => {
  await xs.close();
  await xsd.close();
});

describe('xenstore client: basic operations', () => {
  it('writes, reads, lists and removes nodes', async () => {
    await xs.write('/local/domain/3/name', 'web');
    await xs.write('/local/domain/3/control/shutdown', '');
    expect(await xs.read('/local/domain/3/name')).toBe('web');
    expect((await xs.directory('/local/domain/3')).sort()).toEqual(['control', 'name']);
    expect(await xs.directory('/local/domain')).toEqual(['3']);
    await xs.rm('/local/domain/3/control');
    expect(await xs.directory('/local/domain/3')).toEqual(['name']);
    expect(xsd.tree.has('/local/domain/3/control/shutdown')).toBe(false);
  });

  it('keeps values byte-exact, including empty values and non-ASCII', async () => {
    await xs.write('/a', '');
    await xs.write('/b', 'grüße, 世界');
    expect(await xs.read('/a')).toBe('');
    expect(await xs.read('/b')).toBe('grüße, 世界');
  });

  it('answers ENOENT as an error naming the path, and as null/[] from the OrNull/OrEmpty forms', async () => {
    const err = await xs.read('/no/such').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(XenstoreError);
    expect((err as XenstoreError).code).toBe('ENOENT');
    expect((err as XenstoreError).message).toContain('/no/such');
    expect(await xs.readOrNull('/no/such')).toBeNull();
    expect(await xs.directoryOrEmpty('/no/such')).toEqual([]);
    await expect(xs.rm('/no/such')).resolves.toBeUndefined();
  });

  it('sends the documented wire layout: NUL-terminated path, raw value', async () => {
    await xs.write('/k', 'v');
    const w = xsd.received.find((m) => m.type === MessageType.WRITE);
    expect(w?.payload.toString('latin1')).toBe('/k\0v');
    await xs.read('/k');
    const r = xsd.received.find((m) => m.type === MessageType.READ);
    expect(r?.payload.toString('latin1')).toBe('/k\0');
  });

  it('reads permissions and the domain path', async () => {
    await xs.write('/local/domain/7/control/shutdown', '');
    expect(await xs.getPerms('/local/domain/7/control/shutdown')).toEqual([
      { domid: 7, access: 'none' },
      { domid: 0, access: 'read' },
    ]);
    expect(await xs.getDomainPath(7)).toBe('/local/domain/7');
  });

  it('rejects a malformed permission entry with what it got', () => {
    expect(() => parsePermissions(['x1'], 'GET_PERMS /p')).toThrow(/bad permission entry "x1"/);
  });
});

describe('xenstore client: multiplexing and deadlines', () => {
  it('matches answers to requests by req_id even when they come back out of order', async () => {
    await xs.write('/one', '1');
    await xs.write('/two', '2');
    await xs.write('/three', '3');
    xsd.reorderNext(3);
    const [a, b, c] = await Promise.all([xs.read('/one'), xs.read('/two'), xs.read('/three')]);
    expect([a, b, c]).toEqual(['1', '2', '3']);
    const ids = xsd.received.filter((m) => m.type === MessageType.READ).map((m) => m.reqId);
    expect(new Set(ids).size).toBe(3);
  });

  it('fails a request nobody answers at its deadline with ETIMEDOUT, and keeps working after', async () => {
    const quick = createXenstoreClient({ path: xsd.socketPath, requestTimeoutMs: 150 });
    try {
      await quick.write('/x', 'y');
      xsd.stall.add(MessageType.DIRECTORY);
      const err = await quick.directory('/').catch((e: unknown) => e);
      expect((err as XenstoreError).code).toBe('ETIMEDOUT');
      expect((err as XenstoreError).message).toMatch(/DIRECTORY \/.*no answer within 150 ms/);
      expect(await quick.read('/x')).toBe('y');
    } finally {
      await quick.close();
    }
  });

  it('fails with ETIMEDOUT naming the socket when xenstored is not there', async () => {
    const nowhere = createXenstoreClient({ path: `${xsd.socketPath}.absent`, requestTimeoutMs: 200, reconnectInitialMs: 10 });
    try {
      const err = await nowhere.read('/x').catch((e: unknown) => e);
      expect((err as XenstoreError).code).toBe('ETIMEDOUT');
      expect((err as XenstoreError).message).toContain(`${xsd.socketPath}.absent`);
      expect((err as XenstoreError).message).toContain('ENOENT');
    } finally {
      await nowhere.close();
    }
  });

  it('rejects requests after close with ECLOSED', async () => {
    await xs.write('/x', 'y');
    await xs.close();
    await expect(xs.read('/x')).rejects.toMatchObject({ code: 'ECLOSED' });
  });
});

describe('xenstore client: transactions', () => {
  it('commits a transaction and its writes become visible together', async () => {
    const result = await xs.transaction(async (tx) => {
      await tx.write('/t/a', '1');
      await tx.write('/t/b', '2');
      expect(xsd.tree.has('/t/a')).toBe(false); // not visible before commit
      return tx.directory('/t');
    });
    expect(result.sort()).toEqual(['a', 'b']);
    expect(xsd.tree.get('/t/a')).toBe('1');
    expect(xsd.tree.get('/t/b')).toBe('2');
  });

  it('runs the body again when the commit meets EAGAIN, and reads fresh data on the retry', async () => {
    await xs.write('/counter', '0');
    let runs = 0;
    const final = await xs.transaction(async (tx) => {
      runs++;
      const n = Number(await tx.read('/counter'));
      if (runs === 1) xsd.write('/counter', '10'); // another writer gets in between
      await tx.write('/counter', String(n + 1));
      return n + 1;
    });
    expect(runs).toBe(2);
    expect(final).toBe(11);
    expect(xsd.tree.get('/counter')).toBe('11');
  });

  it('gives up after maxAttempts conflicts with EAGAIN', async () => {
    xsd.conflictNextCommits(5);
    let runs = 0;
    const err = await xs
      .transaction(
        async (tx) => {
          runs++;
          await tx.write('/z', 'v');
        },
        { maxAttempts: 3 },
      )
      .catch((e: unknown) => e);
    expect((err as XenstoreError).code).toBe('EAGAIN');
    expect(runs).toBe(3);
    expect(xsd.tree.has('/z')).toBe(false);
  });

  it('aborts the transaction when the body throws, and nothing is written', async () => {
    const err = await xs
      .transaction(async (tx) => {
        await tx.write('/y', 'v');
        throw new Error('changed my mind');
      })
      .catch((e: unknown) => e);
    expect((err as Error).message).toBe('changed my mind');
    expect(xsd.tree.has('/y')).toBe(false);
    const ends = xsd.received.filter((m) => m.type === MessageType.TRANSACTION_END);
    expect(ends.map((m) => m.payload.toString('latin1'))).toEqual(['F\0']);
  });
});

describe('xenstore client: watches', () => {
  it('fires once on registration, then for changes at or below the path, and stops after unwatch', async () => {
    const seen: string[] = [];
    const w = await xs.watch('/local/domain/4/control', (p) => seen.push(p));
    await until(() => seen.length === 1, 'initial event');
    expect(seen[0]).toBe('/local/domain/4/control');
    xsd.write('/local/domain/4/control/shutdown', 'poweroff');
    xsd.write('/local/domain/5/name', 'other'); // not below the watch
    await until(() => seen.length >= 2, 'change event');
    expect(seen).toContain('/local/domain/4/control/shutdown');
    await w.unwatch();
    xsd.write('/local/domain/4/control/shutdown', '');
    await xs.read('/local/domain/4/control/shutdown'); // a round trip after the write
    expect(seen.filter((p) => p.endsWith('/shutdown'))).toHaveLength(1);
    expect(seen.some((p) => p.includes('/5/'))).toBe(false);
  });

  it('delivers @releaseDomain and @introduceDomain to their watchers only', async () => {
    const released: string[] = [];
    const introduced: string[] = [];
    await xs.watch('@releaseDomain', (p) => released.push(p));
    await xs.watch('@introduceDomain', (p) => introduced.push(p));
    await until(() => released.length === 1 && introduced.length === 1, 'initial events');
    xsd.fireSpecial('@releaseDomain');
    await until(() => released.length === 2, 'release event');
    expect(introduced).toHaveLength(1);
    expect(released).toEqual(['@releaseDomain', '@releaseDomain']);
  });

  it('keeps other requests flowing while watch events interleave', async () => {
    const seen: string[] = [];
    await xs.watch('/busy', (p) => seen.push(p));
    const writes = Array.from({ length: 50 }, (_, i) => xs.write(`/busy/k${i}`, String(i)));
    await Promise.all(writes);
    const values = await Promise.all(Array.from({ length: 50 }, (_, i) => xs.read(`/busy/k${i}`)));
    expect(values).toEqual(Array.from({ length: 50 }, (_, i) => String(i)));
    await until(() => seen.length >= 51, 'events for every write');
  });
});

describe('xenstore client: reconnect', () => {
  it('sends a plain request lost with its connection again, and re-registers watches', async () => {
    const seen: string[] = [];
    await xs.write('/whatever', 'still here');
    await xs.watch('@releaseDomain', (p) => seen.push(p));
    await until(() => seen.length === 1, 'initial event');
    xsd.stall.add(MessageType.READ);
    const inFlight = xs.read('/whatever');
    await until(() => xsd.received.some((m) => m.type === MessageType.READ), 'read to arrive');
    xsd.dropConnections();
    xsd.stall.clear(); // before the client can reconnect (synchronous here)
    // The read is sent again on the new connection and answered there.
    expect(await inFlight).toBe('still here');
    expect(xsd.received.filter((m) => m.type === MessageType.READ)).toHaveLength(2);
    // The watch came back on the new connection and fired its registration event again.
    await until(() => seen.length === 2, 're-registration event');
    xsd.fireSpecial('@releaseDomain');
    await until(() => seen.length === 3, 'event on the new connection');
    expect(xsd.connectionCount()).toBe(1);
  });

  it('fails a transaction whose connection is lost with ECONNRESET (it died with the connection)', async () => {
    const err = await xs
      .transaction(async (tx) => {
        await tx.write('/t', '1');
        xsd.dropConnections();
        await tx.write('/t2', '2');
      })
      .catch((e: unknown) => e);
    expect((err as XenstoreError).code).toBe('ECONNRESET');
    expect(xsd.tree.has('/t')).toBe(false);
  });

  it('queues a request made while disconnected until the connection is back', async () => {
    await xs.write('/k', 'v');
    await xs.watch('/k', () => undefined); // keeps the client reconnecting
    xsd.dropConnections();
    expect(await xs.read('/k')).toBe('v');
  });
});
