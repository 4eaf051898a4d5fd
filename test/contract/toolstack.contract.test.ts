// The Toolstack contract: the same scenarios, run against both backends, must give the same
// meanings (core/meanings.ts) and the same effect on the host. XenAPI runs against the real simulator
// process, xl against the fake xenstored and fake `xl`; each host answers "what really happened" from
// its own records (hosts.ts), never from the backend under test.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ToolstackError } from '../../src/core/meanings.js';
import { rejectionOf } from '../helpers/rejection.js';
import { type ContractHost, type XenApiContractHost, xenapiHost, xlHost } from './hosts.js';
import type { Guest } from '../../src/toolstack/types.js';
import { monotonicNow } from '../../src/core/clock.js';

const soon = (ms = 20_000) => ({ deadline: monotonicNow() + ms });

const failure = (p: Promise<unknown>): Promise<ToolstackError> => rejectionOf(p, ToolstackError);

describe.each([
  ['xenapi', xenapiHost],
  ['xl', xlHost],
] as const)('Toolstack contract: %s backend', (_kind, open) => {
  let host: ContractHost;
  beforeAll(async () => {
    host = await open();
  });
  afterAll(async () => {
    await host?.close();
  });

  it('guests({ throughEvents }): the same guests as a plain read, field for field (xl ignores the hint, XenAPI reads through its event cache)', async () => {
    const byUuid = (guests: Guest[]) => [...guests].sort((a, b) => (a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0));
    const cached = byUuid(await host.toolstack.guests({ throughEvents: true }));
    const plain = byUuid(await host.toolstack.guests());
    expect(plain.length).toBeGreaterThan(0);
    // Whole records: tools (so the clean-shutdown ability), residentOn, order, otherConfig, memory,
    // domain type… whatever the plan reads must not differ by the way it was read.
    expect(cached).toEqual(plain);
  });

  it.runIf(_kind === 'xenapi')('guests({ throughEvents }): each guest as the simulator itself records it (VM.get_all_records, host uuids)', async () => {
    const own = await (host as XenApiContractHost).ownRecords();
    const cached = await host.toolstack.guests({ throughEvents: true });
    expect(new Set(cached.map((g) => g.uuid))).toEqual(new Set(own.keys()));
    for (const g of cached) {
      const mine = { name: g.name, powerState: g.powerState, residentOn: g.residentOn, order: g.order, memoryMax: g.memoryMax, otherConfig: g.otherConfig, domainType: g.domainType, isControlDomain: g.isControlDomain, isTemplate: g.isTemplate, isSnapshot: g.isSnapshot, pvDrivers: g.tools.pvDrivers };
      expect(mine, g.name).toEqual(own.get(g.uuid));
    }
  });

  it('start: a halted guest runs once start resolves, asked once', async () => {
    const g = await host.guest('start');
    expect(g.powerState).toBe('Halted');
    await host.toolstack.start(g, soon());
    expect(await host.observed('start')).toBe('Running');
    expect(await host.startsAsked('start')).toBe(1);
  });

  it('start failure: refused, with the backend code kept, and the guest still halted', async () => {
    const err = await failure(host.toolstack.start(await host.guest('broken'), soon()));
    expect(err.meaning).toBe('refused');
    expect(err.code).toBe(host.startRefusedCode);
    expect(await host.observed('broken')).toBe('Halted');
  });

  it('clean stop: the request is done when the guest has halted', async () => {
    const handle = await host.toolstack.requestCleanShutdown(await host.guest('clean'));
    await handle.done;
    expect(await host.observed('clean')).toBe('Halted');
  });

  it('a guest that never halts: the wait runs out, cancelling refuses the request, a hard stop ends it', async () => {
    const g = await host.guest('hung');
    const handle = await host.toolstack.requestCleanShutdown(g);
    expect(await host.toolstack.waitFor(g.uuid, (x) => x.powerState === 'Halted', { deadline: monotonicNow() + 500 })).toBe('timeout');
    expect(await host.observed('hung')).toBe('Running');
    await handle.cancel();
    expect((await failure(handle.done)).meaning).toBe('refused');
    expect(await host.toolstack.hardShutdown(g, soon())).toBeUndefined(); // running until the plug was pulled
    expect(await host.observed('hung')).toBe('Halted');
  });

  it('a guest without a clean path: the request (or its completion) fails as no-clean-path, and it stays up until a hard stop', async () => {
    const g = await host.guest('nopath');
    // XenAPI refuses in the task's result (Async.VM.clean_shutdown); xl refuses the request itself.
    const asked = host.toolstack.requestCleanShutdown(g).then((handle) => handle.done);
    expect((await failure(asked)).meaning).toBe('no-clean-path');
    expect(await host.observed('nopath')).toBe('Running');
    expect(await host.toolstack.hardShutdown(g, soon())).toBeUndefined();
    expect(await host.observed('nopath')).toBe('Halted');
  });

  it('already halted at the hard stop: a guest that obeyed just before the plug was pulled is not called hard-stopped', async () => {
    const g = await host.guest('obeys'); // the record the caller holds: Running
    await host.toolstack.requestCleanShutdown(g);
    await host.stoppedByItself('obeys');
    expect(await host.toolstack.hardShutdown(g, soon())).toBe('already-halted');
    expect(await host.observed('obeys')).toBe('Halted');
  });

  it('a deleted guest: its start fails as gone and it is no longer listed', async () => {
    const g = await host.guest('deleted');
    await host.deleteBehindTheBackendsBack('deleted');
    expect((await failure(host.toolstack.start(g, soon()))).meaning).toBe('gone');
    expect((await host.toolstack.guests()).some((x) => x.uuid === g.uuid)).toBe(false);
    expect(await host.observed('deleted')).toBe('gone');
  });

  it('a transient failure then success: the backend asks again by itself and the guest runs', async () => {
    const g = await host.guest('flaky');
    await host.failNextStartTransiently('flaky');
    await host.toolstack.start(g, soon());
    expect(await host.observed('flaky')).toBe('Running');
    expect(await host.startsAsked('flaky')).toBe(2);
  });
});
