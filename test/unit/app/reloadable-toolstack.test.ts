import { describe, expect, it } from 'vitest';
import { createReloadableToolstack } from '../../../src/app/reloadable-toolstack.js';
import { defaultConfig } from '../../../src/core/config.js';
import type { Config } from '../../../src/core/types.js';
import { silentLogger } from '../../../src/log.js';
import type { CleanShutdownHandle, Guest, Toolstack } from '../../../src/toolstack/types.js';

/** A backend that records its calls and lets the test settle a clean shutdown request by hand. */
function fakeBackend(name: string) {
  const calls: string[] = [];
  let settle!: () => void;
  const done = new Promise<void>((ok) => {
    settle = ok;
  });
  let closed = false;
  const backend = {
    kind: 'xenapi',
    guests: async () => {
      calls.push('guests');
      return [];
    },
    requestCleanShutdown: async (): Promise<CleanShutdownHandle> => {
      calls.push('requestCleanShutdown');
      return { done, cancel: async () => undefined };
    },
    close: async () => {
      closed = true;
    },
  } as unknown as Toolstack;
  return { name, backend, calls, settle: () => settle(), isClosed: () => closed };
}

describe('the daemon\'s replaceable toolstack connection', () => {
  it('sends new calls to the new backend and closes the old one only after its request in flight settled', async () => {
    const first = fakeBackend('first');
    const second = fakeBackend('second');
    const built: Config[] = [];
    const byUrl = new Map([
      ['http://127.0.0.1:1', first],
      ['http://127.0.0.1:2', second],
    ]);
    const config = defaultConfig();
    config.xapi.url = 'http://127.0.0.1:1';
    const r = await createReloadableToolstack(config, silentLogger(), async (c) => {
      built.push(c);
      return byUrl.get(c.xapi.url)!.backend;
    });
    const handle = await r.toolstack.requestCleanShutdown({} as Guest);

    await r.replace({ ...config, xapi: { ...config.xapi, url: 'http://127.0.0.1:2' } });
    await r.toolstack.guests();
    expect(first.calls).toEqual(['requestCleanShutdown']);
    expect(second.calls).toEqual(['guests']);
    expect(first.isClosed()).toBe(false);

    first.settle();
    await handle.done;
    await new Promise((ok) => setImmediate(ok));
    expect(first.isClosed()).toBe(true);
    expect(second.isClosed()).toBe(false);
    expect(built.map((c) => c.xapi.url)).toEqual(['http://127.0.0.1:1', 'http://127.0.0.1:2']);
  });

  it('a backend that cannot be built changes nothing; another toolstack kind is refused', async () => {
    const only = fakeBackend('only');
    const config = defaultConfig();
    let fail = false;
    const r = await createReloadableToolstack(config, silentLogger(), async () => {
      if (fail) throw new Error('xapi.password_file "/x": cannot be read (ENOENT)');
      return only.backend;
    });
    fail = true;
    await expect(r.replace(config)).rejects.toThrow(/password_file/);
    await expect(r.replace({ ...config, toolstack: { kind: 'xl' } })).rejects.toThrow(/toolstack.kind cannot change from "xenapi" to "xl" without a restart/);
    await r.toolstack.guests();
    expect(only.calls).toEqual(['guests']);
    expect(only.isClosed()).toBe(false);
  });
});
