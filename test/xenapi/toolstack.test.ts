// The XenAPI Toolstack backend against the real simulator process: the Guest mapping, this host,
// start / clean / hard shutdown through tasks and events, waitFor, policy keys, waitUntilReady, and
// the call budget (≤ 3 XenAPI calls per guest per run besides the event stream).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { createXenApiToolstack } from '../../src/toolstack/xenapi.js';
import type { Guest, Toolstack } from '../../src/toolstack/types.js';
import { PROTOCOLS } from '../../src/xenapi/index.js';
import { ToolstackError } from '../../src/core/meanings.js';
import { kindOfGenerated } from '../../src/sim/build.js';
import { rejectionOf } from '../helpers/rejection.js';
import { type SimHandle, spawnSim, until } from '../helpers/sim.js';
import { monotonicNow } from '../../src/core/clock.js';

const SCENARIO = {
  guests: [
    { name_label: 'web', power_state: 'Halted', domain_type: 'pv', behaviour: { boot_s: 2, agent_s: 4, shutdown_s: 2 } },
    { name_label: 'db', power_state: 'Running', domain_type: 'hvm', behaviour: { boot_s: 2, agent_s: 3, shutdown_s: 2 } },
    { name_label: 'legacy', power_state: 'Running', domain_type: 'hvm', behaviour: { pv: false, agent_s: 'none' } },
    { name_label: 'hung', power_state: 'Running', domain_type: 'pv', behaviour: { shutdown: 'hung' } },
    { name_label: 'frozen', power_state: 'Paused', domain_type: 'pv' },
    { name_label: 'broken', power_state: 'Halted', domain_type: 'pv', behaviour: { start_error: 'VM_BOOT_FAILED' } },
    { name_label: 'locked', power_state: 'Halted', domain_type: 'pv' },
  ],
};

const soon = (ms = 20_000) => ({ deadline: monotonicNow() + ms });

async function info(sim: SimHandle): Promise<{ host_uuid: string; host: string }> {
  return (await sim.call('sim.get_info')) as { host_uuid: string; host: string };
}

function byName(guests: Guest[], name: string): Guest {
  const g = guests.find((x) => x.name === name);
  if (!g) throw new Error(`no guest ${name}`);
  return g;
}

/** The backend's failure: a ToolstackError with a meaning, xapi's code and parameters kept. */
const caught = (p: Promise<unknown>): Promise<ToolstackError> => rejectionOf(p, ToolstackError);

describe.each(PROTOCOLS)('XenAPI toolstack backend over %s', (protocol) => {
  let sim: SimHandle;
  let ts: Toolstack;
  let dir: string;

  beforeAll(async () => {
    sim = await spawnSim({ scenario: SCENARIO, unix: true });
    dir = mkdtempSync(join(tmpdir(), 'xg-ts-'));
    ts = createXenApiToolstack({ protocol, url: `unix:${sim.socketPath}`, user: 'root', password: '', callTimeoutMs: 10_000, log: silentLogger(), inventoryPath: join(dir, 'none'), eventTimeoutS: 5 });
  });
  afterAll(async () => {
    await ts?.close();
    await sim?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('maps VM records to Guests: memory, hosts as uuids, flags, clean-shutdown ability with a reason', async () => {
    const guests = await ts.guests();
    const { host_uuid } = await info(sim);
    const session = await sim.login();
    const db = byName(guests, 'db');
    const raw = (await sim.call('VM.get_record', session, db.ref)) as Record<string, string>;
    expect(db.memoryRequired).toBe(Number(raw.memory_dynamic_min) + Number(raw.memory_overhead));
    expect(db.memoryMax).toBe(Number(raw.memory_static_max));
    expect(db.residentOn).toBe(host_uuid);
    expect(db.powerState).toBe('Running');
    expect(guests.some((g) => g.isControlDomain)).toBe(true);
    expect(guests.some((g) => g.isTemplate)).toBe(true);

    const legacy = byName(guests, 'legacy');
    expect(legacy.cleanShutdown.able).toBe(false);
    expect(legacy.cleanShutdown.reason).toMatch(/HVM guest without PV drivers/);
    expect(legacy.tools.pvDrivers).toBe(false);
    const frozen = byName(guests, 'frozen');
    expect(frozen.cleanShutdown).toMatchObject({ able: false, reason: expect.stringMatching(/Paused/) });
    const hung = byName(guests, 'hung');
    expect(hung.cleanShutdown).toMatchObject({ able: true, reason: expect.stringMatching(/PV guest/) });
    const web = byName(guests, 'web');
    expect(web.residentOn).toBeNull();
    expect(web.cleanShutdown.able).toBe(false);
  });

  it('guests({ liveOnThisHost }) reads only the guests not Halted on this host; throughEvents answers from the event cache once synced', async () => {
    const { host_uuid } = await info(sim);
    const all = await ts.guests();
    const expected = all.filter((g) => g.residentOn === host_uuid && g.powerState !== 'Halted').map((g) => g.uuid).sort();
    expect(expected.length).toBeGreaterThan(0);
    const live = await ts.guests({ liveOnThisHost: true });
    expect(live.map((g) => g.uuid).sort()).toEqual(expected);
    expect(live.every((g) => g.residentOn === host_uuid)).toBe(true);
    // The cache: once a wait has synced it, the same guests come back without a whole-table read.
    await ts.waitFor(all[0]!.uuid, () => true, soon());
    const before = (await sim.call('sim.get_call_counts')) as { by_method: Record<string, string> };
    const cached = await ts.guests({ throughEvents: true });
    const after = (await sim.call('sim.get_call_counts')) as { by_method: Record<string, string> };
    expect(after.by_method['VM.get_all_records']).toBe(before.by_method['VM.get_all_records']);
    expect(cached.map((g) => g.uuid).sort()).toEqual(all.map((g) => g.uuid).sort());
  });

  it('an HVM guest with PV drivers reports tools and can shut down cleanly', async () => {
    const db = await until('db agent', async () => {
      const g = await ts.guest(byName(await ts.guests(), 'db').uuid);
      return g?.tools.pvDrivers ? g : undefined;
    });
    expect(db.tools.version).toMatch(/^\d+\.\d+/);
    expect(db.tools.features).toContain('shutdown');
    expect(db.cleanShutdown).toMatchObject({ able: true, reason: expect.stringMatching(/PV drivers .* detected/) });
  });

  it('identifies this host from the inventory, and names a wrong host uuid', async () => {
    const { host_uuid } = await info(sim);
    const inventory = join(dir, 'xensource-inventory');
    writeFileSync(inventory, `PRODUCT_BRAND='XCP-ng'\nINSTALLATION_UUID='${host_uuid}'\nCONTROL_DOMAIN_UUID='x'\n`);
    const viaInventory = createXenApiToolstack({ protocol, url: sim.url, user: 'root', password: '', callTimeoutMs: 10_000, log: silentLogger(), inventoryPath: inventory });
    const wrong = createXenApiToolstack({ protocol, url: sim.url, user: 'root', password: '', callTimeoutMs: 10_000, log: silentLogger(), hostUuid: '00000000-0000-0000-0000-00000000dead' });
    try {
      const host = await viaInventory.host();
      expect(host.uuid).toBe(host_uuid);
      expect(host.poolSize).toBe(1);
      const session = await sim.login();
      const free = await sim.call('host.compute_free_memory', session, (await info(sim)).host);
      expect(host.freeMemory).toBe(Number(free));
      expect(host.poolAutoPoweron).toBe(false);
      const err = await caught(wrong.host());
      expect([err.meaning, err.code]).toEqual(['refused', 'UUID_INVALID']); // a host's uuid, not a guest gone
      expect(err.message).toContain('00000000-0000-0000-0000-00000000dead');
    } finally {
      await viaInventory.close();
      await wrong.close();
    }
  });

  it('starts a guest, waits for its agent by events, then shuts it down cleanly', async () => {
    const web = byName(await ts.guests(), 'web');
    await ts.start(web, soon());
    const running = await ts.waitFor(web.uuid, (g) => g.tools.agentLive, soon());
    expect(typeof running).toBe('object');
    const live = running as Guest;
    expect(live.powerState).toBe('Running');
    expect(live.cleanShutdown.able).toBe(true);
    const handle = await ts.requestCleanShutdown(live);
    await handle.done;
    expect((await ts.guest(web.uuid))?.powerState).toBe('Halted');
  });

  it('reports a failed start with the code and parameters xapi sent', async () => {
    const broken = byName(await ts.guests(), 'broken');
    const err = await caught(ts.start(broken, soon()));
    expect([err.meaning, err.code, ...err.params]).toEqual(['refused', 'VM_BOOT_FAILED', broken.ref]);
  });

  it('cancels a clean shutdown the guest never completes, then pulls the plug', async () => {
    const hung = byName(await ts.guests(), 'hung');
    const handle = await ts.requestCleanShutdown(hung);
    let outcome = 'pending';
    void handle.done.then(() => (outcome = 'done'), () => (outcome = 'failed'));
    // Not settled once the guest has seen the request and ignored it (the simulator's timeline),
    // and a later call through the same toolstack has come back after that.
    await until('the hung guest acknowledged the request', async () => (await sim.timeline(hung.ref))[hung.ref]?.events.some((e) => e.event === 'acknowledged'));
    await ts.guest(hung.uuid);
    expect(outcome).toBe('pending');
    await handle.cancel();
    const err = await caught(handle.done);
    expect([err.meaning, err.code]).toEqual(['refused', 'TASK_CANCELLED']);
    expect(await ts.hardShutdown(hung, soon())).toBeUndefined(); // it was running: ours was the stop
    expect((await ts.guest(hung.uuid))?.powerState).toBe('Halted');
  });

  it('a hard shutdown during a clean one cancels the clean one and wins', async () => {
    const db = byName(await ts.guests(), 'db');
    await ts.setOtherConfigKey(db, 'xen-guests-sim:shutdown', 'hung');
    const fresh = (await ts.guest(db.uuid))!;
    const clean = await ts.requestCleanShutdown(fresh);
    await ts.hardShutdown(fresh, soon());
    const err = await caught(clean.done);
    expect([err.meaning, err.code]).toEqual(['refused', 'TASK_CANCELLED']);
    expect((await ts.guest(db.uuid))?.powerState).toBe('Halted');
    // Already halted: a success, not VM_BAD_POWER_STATE, and it says so (the halt was not ours).
    expect(await ts.hardShutdown(fresh, soon())).toBe('already-halted');
  });

  it('waitFor answers timeout at the deadline and gone for an unknown guest', async () => {
    const legacy = byName(await ts.guests(), 'legacy');
    expect(await ts.waitFor(legacy.uuid, (g) => g.powerState === 'Halted', { deadline: monotonicNow() + 200 })).toBe('timeout');
    expect(await ts.waitFor('00000000-0000-4000-8000-000000000000', () => true, soon())).toBe('gone');
  });

  it('sets, replaces and removes policy keys; blocked operations block', async () => {
    const locked = byName(await ts.guests(), 'locked');
    await ts.setOtherConfigKey(locked, 'xen-guests:order-test', 'a');
    await ts.setOtherConfigKey(locked, 'xen-guests:order-test', 'b'); // MAP_DUPLICATE_KEY handled
    // Read-your-writes: the next read (served from the event cache) already shows the write.
    expect((await ts.guest(locked.uuid))?.otherConfig['xen-guests:order-test']).toBe('b');
    await ts.removeOtherConfigKey(locked, 'xen-guests:order-test');
    expect((await ts.guest(locked.uuid))?.otherConfig).not.toHaveProperty('xen-guests:order-test');
    await ts.setBlockedOperation(locked, 'start', 'maintenance: disk swap');
    const err = await caught(ts.start(locked, soon()));
    expect([err.meaning, err.code, ...err.params]).toEqual(['refused', 'OPERATION_BLOCKED', locked.ref, 'maintenance: disk swap']);
    await ts.removeBlockedOperation(locked, 'start');
    expect((await ts.guest(locked.uuid))?.blockedOperations).toEqual({});
  });
});

describe('waitUntilReady', () => {
  it('retries while the toolstack is down or booting, telling why, then returns', async () => {
    const sim = await spawnSim({ guests: 1 });
    const ts = createXenApiToolstack({ url: sim.url, user: 'root', password: '', callTimeoutMs: 5_000, log: silentLogger(), backoff: { initialMs: 50, maxMs: 300 } });
    try {
      await sim.call('sim.inject_error', 'pool.get_all', 2, 'HOST_STILL_BOOTING');
      const reasons: string[] = [];
      await ts.waitUntilReady({ ...soon(), onWaiting: (why) => reasons.push(why) });
      expect(reasons).toHaveLength(2);
      expect(reasons[0]).toMatch(/still starting \(HOST_STILL_BOOTING\)/);

      await sim.call('sim.restart_toolstack', 80);
      await until('down', () => sim.call('pool.get_all', 'x').then(() => false, (e: { code?: string }) => e.code === 'ECONNREFUSED'), 10_000);
      const whileDown: string[] = [];
      await ts.waitUntilReady({ ...soon(), onWaiting: (why) => whileDown.push(why) });
      expect(whileDown.length).toBeGreaterThan(0);
      // A kept-alive connection may first be reset; then connections are refused until it is back.
      expect(whileDown.some((r) => /refuses connections \(ECONNREFUSED\)/.test(r))).toBe(true);
      for (const r of whileDown) expect(r).toMatch(/^xapi at http:\/\/127\.0\.0\.1:\d+ (refuses connections \(ECONNREFUSED\)|dropped the connection \(ECONNRESET\))$/);
    } finally {
      await ts.close();
      await sim.stop();
    }
  });

  it('gives up at the deadline with XENAPI_NOT_READY naming the endpoint and the last reason', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'xg-ready-'));
    const ts = createXenApiToolstack({ url: `unix:${join(dir, 'no-such.sock')}`, user: 'root', password: '', callTimeoutMs: 1_000, log: silentLogger(), backoff: { initialMs: 50, maxMs: 200 } });
    try {
      const reasons: string[] = [];
      const err = await caught(ts.waitUntilReady({ deadline: monotonicNow() + 600, onWaiting: (w) => reasons.push(w) }));
      expect([err.meaning, err.code]).toEqual(['transient', 'XENAPI_NOT_READY']);
      expect(err.message).toContain('no-such.sock');
      expect(err.message).toMatch(/has no socket yet \(ENOENT\)/);
      expect(reasons.length).toBeGreaterThan(1);
    } finally {
      await ts.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('call budget', () => {
  // event.from is left out: how many answers the stream takes depends on how the host's changes fall
  // in time (load, batching), which is the benchmark's to measure (BENCHMARKS.md), not a test's.
  it('a boot run and a shutdown run of 30 guests each cost at most 3 XenAPI calls per guest besides event.from', async () => {
    const sim = await spawnSim({ guests: 30 });
    const total = async () => {
      const counts = (await sim.call('sim.get_call_counts')) as { total: string; by_method: Record<string, string> };
      return Number(counts.total) - Number(counts.by_method['event.from'] ?? 0);
    };
    const fresh = () => createXenApiToolstack({ url: sim.url, user: 'root', password: '', callTimeoutMs: 20_000, log: silentLogger(), eventTimeoutS: 5 });
    const limit = pLimit(8);
    try {
      // Boot run: as the daemon does it, with a fresh client.
      let ts = fresh();
      let before = await total();
      await ts.waitUntilReady(soon());
      await ts.host();
      const guests = (await ts.guests()).filter((g) => !g.isControlDomain && !g.isTemplate && !g.isSnapshot && g.powerState === 'Halted');
      expect(guests.length).toBe(30);
      await Promise.all(guests.map((g) => limit(async () => {
        await ts.start(g, soon(60_000));
        // --guests makes every tenth guest an HVM guest without PV drivers: it has no agent to wait for.
        const noAgent = kindOfGenerated(Number(g.name.replace(/^vm-/, ''))) === 'hvm-no-tools';
        const r = await ts.waitFor(g.uuid, (x) => x.powerState === 'Running' && (noAgent || x.tools.agentLive), soon(60_000));
        expect(typeof r).toBe('object');
      })));
      await ts.close();
      const bootCalls = (await total()) - before - 1;
      expect(bootCalls / guests.length).toBeLessThanOrEqual(3);

      // Shutdown run.
      ts = fresh();
      before = await total();
      await ts.host();
      const running = (await ts.guests()).filter((g) => guests.some((x) => x.uuid === g.uuid));
      expect(running.every((g) => g.powerState === 'Running')).toBe(true);
      await Promise.all(running.map((g) => limit(async () => {
        if (g.cleanShutdown.able) await (await ts.requestCleanShutdown(g)).done;
        else await ts.hardShutdown(g, soon(60_000));
        const r = await ts.waitFor(g.uuid, (x) => x.powerState === 'Halted', soon(60_000));
        expect(typeof r).toBe('object');
      })));
      await ts.close();
      const shutdownCalls = (await total()) - before - 1;
      expect(shutdownCalls / guests.length).toBeLessThanOrEqual(3);

      // No per-guest getters at all: whole-table reads and events only.
      const counts = (await sim.call('sim.get_call_counts')) as { by_method: Record<string, string> };
      const getters = Object.keys(counts.by_method).filter((m) => /\.get_(record|power_state|status|guest_metrics)$/.test(m));
      expect(getters).toEqual([]);
    } finally {
      await sim.stop();
    }
  });
});
