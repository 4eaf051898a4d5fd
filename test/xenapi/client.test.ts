// The XenAPI client against the real simulator process, over TCP and the Unix socket: typed
// decoding, error codes with their parameters, deadlines, re-login, reconnect, HOST_IS_SLAVE,
// EVENTS_LOST recovery and Async tasks. (Build first: the simulator runs from dist/.)
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { PROTOCOLS, type XenApiClient, XenApiError, createXenApiClient } from '../../src/xenapi/index.js';
import { type SimHandle, restartToolstackBegun, spawnSim } from '../helpers/sim.js';
import { monotonicNow } from '../../src/core/clock.js';
import { rejectionOf } from '../helpers/rejection.js';

/** sim.restart_toolstack answers first and goes down just after: wait until it really has. */
function restartAndWaitDown(sim: SimHandle, secondsDown: number, via: 'tcp' | 'unix' = 'tcp'): Promise<void> {
  return restartToolstackBegun(via === 'unix' ? sim.callUnix : sim.call, secondsDown);
}

const SCENARIO = {
  guests: [
    { name_label: 'web', power_state: 'Halted', domain_type: 'pv', behaviour: { boot_s: 2, agent_s: 3, shutdown_s: 2 } },
    { name_label: 'db', power_state: 'Running', domain_type: 'pv', behaviour: { boot_s: 2, agent_s: 3, shutdown_s: 2 } },
    { name_label: 'legacy', power_state: 'Running', domain_type: 'hvm', behaviour: { pv: false, agent_s: 'none' } },
    { name_label: 'hung', power_state: 'Running', domain_type: 'pv', behaviour: { shutdown: 'hung' } },
    { name_label: 'broken', power_state: 'Halted', domain_type: 'pv', behaviour: { start_error: 'VM_BOOT_FAILED' } },
  ],
};

const caught = (p: Promise<unknown>): Promise<XenApiError> => rejectionOf(p, XenApiError);

async function counts(sim: SimHandle): Promise<Record<string, number>> {
  const c = (await sim.call('sim.get_call_counts')) as { by_method: Record<string, string> };
  return Object.fromEntries(Object.entries(c.by_method).map(([k, v]) => [k, Number(v)]));
}

async function refByName(sim: SimHandle, name: string): Promise<string> {
  const session = await sim.login();
  const refs = (await sim.call('VM.get_by_name_label', session, name)) as string[];
  if (refs.length !== 1) throw new Error(`expected one VM named ${name}, got ${refs.length}`);
  return refs[0]!;
}

describe.each(PROTOCOLS)('XenAPI client against the simulator over %s', (protocol) => {
  let sim: SimHandle;
  let client: XenApiClient;

  beforeAll(async () => {
    sim = await spawnSim({ scenario: SCENARIO, unix: true, password: 's3cret' });
    client = createXenApiClient({ protocol, url: sim.url, password: 's3cret', callTimeoutMs: 10_000, eventTimeoutS: 5 });
  });
  afterAll(async () => {
    await client?.close();
    await sim?.stop();
  });

  it('decodes VM records: int64 strings become numbers, refs typed, flags and maps checked', async () => {
    const session = await sim.login();
    const raw = (await sim.call('VM.get_all_records', session)) as Record<string, Record<string, unknown>>;
    const vms = await client.getAllRecords('vm');
    expect(vms.size).toBe(Object.keys(raw).length);
    const db = [...vms.values()].find((v) => v.nameLabel === 'db')!;
    const rawDb = raw[db.ref]!;
    expect(typeof rawDb.memory_static_max).toBe('string'); // the wire form
    expect(db.memoryStaticMax).toBe(Number(rawDb.memory_static_max));
    expect(db.powerState).toBe('Running');
    expect(db.residentOn).toMatch(/^OpaqueRef:/);
    const web = [...vms.values()].find((v) => v.nameLabel === 'web')!;
    expect(web.residentOn).toBeNull(); // OpaqueRef:NULL
    expect([...vms.values()].some((v) => v.isControlDomain)).toBe(true);
    expect([...vms.values()].some((v) => v.isATemplate)).toBe(true);
  });

  it('decodes datetimes and metrics records', async () => {
    const metrics = await client.getAllRecords('vm_metrics');
    const vms = await client.getAllRecords('vm');
    const db = [...vms.values()].find((v) => v.nameLabel === 'db')!;
    const m = metrics.get(db.metrics!)!;
    expect(m.startTime).toBeInstanceOf(Date);
    expect(m.vcpusNumber).toBeGreaterThan(0);
    const hosts = await client.getAllRecords('host');
    const [host] = [...hosts.values()];
    expect(host!.uuid).toMatch(/^[0-9a-f-]{36}$/);
    const hm = await client.getRecord('host_metrics', host!.metrics!);
    expect(hm.memoryTotal).toBeGreaterThan(hm.memoryFree);
  });

  it('works over the Unix socket with any credentials', async () => {
    const local = createXenApiClient({ protocol, url: `unix:${sim.socketPath}`, user: 'nobody', password: 'wrong', callTimeoutMs: 10_000 });
    try {
      const pools = await local.getAllRecords('pool');
      expect(pools.size).toBe(1);
      expect(local.endpoint).toBe(`unix:${sim.socketPath}`);
    } finally {
      await local.close();
    }
  });

  it('surfaces each error code with the parameters xapi sends', async () => {
    const web = await refByName(sim, 'web');
    const db = await refByName(sim, 'db');
    const e1 = await caught(client.call('VM.get_record', 'OpaqueRef:00000000-0000-0000-0000-000000000000'));
    expect([e1.code, ...e1.params]).toEqual(['HANDLE_INVALID', 'VM', 'OpaqueRef:00000000-0000-0000-0000-000000000000']);
    expect(e1.method).toBe('VM.get_record');
    const e2 = await caught(client.call('VM.get_by_uuid', '00000000-1111-2222-3333-444444444444'));
    expect([e2.code, ...e2.params]).toEqual(['UUID_INVALID', 'VM', '00000000-1111-2222-3333-444444444444']);
    const e3 = await caught(client.call('VM.frobnicate', web));
    expect([e3.code, ...e3.params]).toEqual(['MESSAGE_METHOD_UNKNOWN', 'VM.frobnicate']);
    const e4 = await caught(client.call('VM.get_record'));
    expect([e4.code, ...e4.params]).toEqual(['MESSAGE_PARAMETER_COUNT_MISMATCH', 'VM.get_record', '1', '0']);
    const e5 = await caught(client.call('VM.start', db, false, false));
    expect([e5.code, ...e5.params]).toEqual(['VM_BAD_POWER_STATE', db, 'halted', 'running']);
    await client.call('VM.add_to_other_config', web, 'test:key', 'a');
    const e6 = await caught(client.call('VM.add_to_other_config', web, 'test:key', 'b'));
    expect([e6.code, ...e6.params]).toEqual(['MAP_DUPLICATE_KEY', 'VM', 'other_config', web, 'test:key']);
    await sim.call('sim.inject_error', 'VM.get_all', 1, 'HOST_DISABLED', 'OpaqueRef:somehost');
    const e7 = await caught(client.call('VM.get_all'));
    expect([e7.code, ...e7.params]).toEqual(['HOST_DISABLED', 'OpaqueRef:somehost']);
    expect(Array.isArray(await client.call('VM.get_all'))).toBe(true); // count was 1
    const vms = [...(await client.getAllRecords('vm')).values()];
    const template = vms.find((v) => v.isATemplate)!;
    const e8 = await caught(client.call('VM.start', template.ref, false, false));
    expect([e8.code, ...e8.params]).toEqual(['VM_IS_TEMPLATE', template.ref, 'start']);
    const dom0 = vms.find((v) => v.isControlDomain)!;
    const e9 = await caught(client.call('VM.clean_shutdown', dom0.ref));
    expect([e9.code, ...e9.params]).toEqual(['OPERATION_NOT_ALLOWED', 'This operation is not allowed on a control domain']);
  });

  it('reports a wrong password as SESSION_AUTHENTICATION_FAILED [user, msg], without the password', async () => {
    const bad = createXenApiClient({ protocol, url: sim.url, user: 'root', password: 'not-the-password', callTimeoutMs: 5_000 });
    try {
      const err = await caught(bad.call('VM.get_all'));
      expect(err.code).toBe('SESSION_AUTHENTICATION_FAILED');
      expect(err.params[0]).toBe('root');
      expect(err.message).not.toContain('not-the-password');
    } finally {
      await bad.close();
    }
  });

  it('runs an Async call to success through events: void result, task destroyed after', async () => {
    const web = await refByName(sim, 'web');
    const before = await counts(sim);
    const task = await client.callAsync('VM.start', web, false, false);
    expect(task.taskRef).toMatch(/^OpaqueRef:/);
    expect(await task.result).toBeUndefined();
    const vm = await client.getRecord('vm', web);
    expect(vm.powerState).toBe('Running');
    const after = await counts(sim);
    // Waited by event.from, never by asking the task.
    expect(after['task.get_record'] ?? 0).toBe(before['task.get_record'] ?? 0);
    expect(after['task.get_status'] ?? 0).toBe(before['task.get_status'] ?? 0);
    const session = await sim.login();
    // task.destroy is best effort and runs after the result; it is bounded by the call deadline.
    const destroyed = await client.events.waitFor((view, ctx) => (ctx.gone('task', task.taskRef) ? true : undefined), { deadline: monotonicNow() + 10_000 });
    expect(destroyed).toBe(true);
    const err = await caught(client.call('task.get_record', task.taskRef));
    expect(err.code).toBe('HANDLE_INVALID');
    void session;
  });

  it('turns a failed task into XenApiError with its error_info', async () => {
    const broken = await refByName(sim, 'broken');
    const task = await client.callAsync('VM.start', broken, false, false);
    const err = await caught(task.result);
    expect([err.code, ...err.params]).toEqual(['VM_BOOT_FAILED', broken]);
    const legacy = await refByName(sim, 'legacy');
    const clean = await client.callAsync('VM.clean_shutdown', legacy);
    const lacks = await caught(clean.result);
    expect([lacks.code, ...lacks.params]).toEqual(['VM_LACKS_FEATURE', legacy]);
  });

  it('cancels a task: the result is TASK_CANCELLED [task], distinct from a failure', async () => {
    const hung = await refByName(sim, 'hung');
    const task = await client.callAsync('VM.clean_shutdown', hung);
    await task.cancel();
    const err = await caught(task.result);
    expect([err.code, ...err.params]).toEqual(['TASK_CANCELLED', task.taskRef]);
    expect((await client.getRecord('vm', hung)).powerState).toBe('Running');
  });

  it('stops waiting for a task at the caller deadline with XENAPI_TASK_TIMEOUT', async () => {
    const hung = await refByName(sim, 'hung');
    const task = await client.callAsyncWith({ deadline: monotonicNow() + 300 }, 'VM.clean_shutdown', hung);
    const err = await caught(task.result);
    expect([err.code, ...err.params]).toEqual(['XENAPI_TASK_TIMEOUT', task.taskRef, 'VM.clean_shutdown']);
    await task.cancel();
  });

  it('waits for conditions from the event cache, without polling getters', async () => {
    const db = await refByName(sim, 'db');
    await client.events.ready({ deadline: monotonicNow() + 10_000 });
    const before = await counts(sim);
    const waiting = client.events.waitFor((view) => (view.get('vm', db)?.otherConfig['test:flag'] === 'up' ? 'seen' : undefined), {
      deadline: monotonicNow() + 15_000,
    });
    const session = await sim.login();
    await sim.call('VM.add_to_other_config', session, db, 'test:flag', 'up');
    expect(await waiting).toBe('seen');
    const after = await counts(sim);
    const used = Object.keys(after).filter((m) => (after[m] ?? 0) !== (before[m] ?? 0));
    // Only event.from (plus our own raw login and write) — no VM.get_* loop.
    expect(used.filter((m) => !['event.from', 'session.login_with_password', 'VM.add_to_other_config', 'sim.get_call_counts'].includes(m))).toEqual([]);
  });

  it('holds hundreds of waiters and calls at once on one caller signal without leak warnings', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const shared = new AbortController();
      const waits = Array.from({ length: 200 }, () => client.events.waitFor(() => undefined, { deadline: monotonicNow() + 300, signal: shared.signal }));
      const calls = Array.from({ length: 50 }, () => client.callWith({ signal: shared.signal }, 'pool.get_all'));
      expect(new Set(await Promise.all(waits))).toEqual(new Set(['timeout']));
      expect((await Promise.all(calls)).every(Array.isArray)).toBe(true);
      await new Promise((r) => setImmediate(r));
      expect(warnings.filter((w) => w === 'MaxListenersExceededWarning')).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('resolves a waiter with timeout at its deadline', async () => {
    const r = await client.events.waitFor(() => undefined, { deadline: monotonicNow() + 100 });
    expect(r).toBe('timeout');
  });

  it('recovers from EVENTS_LOST by a full resync, and waiters still resolve', async () => {
    const web = await refByName(sim, 'web');
    await client.events.ready({ deadline: monotonicNow() + 10_000 });
    const syncs = client.events.stats.syncs;
    await sim.call('sim.lose_events');
    const session = await sim.login();
    const waiting = client.events.waitFor((view) => (view.get('vm', web)?.otherConfig['test:after-loss'] === '1' ? true : undefined), {
      deadline: monotonicNow() + 15_000,
    });
    await sim.call('VM.add_to_other_config', session, web, 'test:after-loss', '1');
    expect(await waiting).toBe(true);
    const settled = await client.events.waitFor(() => (client.events.stats.syncs > syncs ? true : undefined), { deadline: monotonicNow() + 15_000 });
    expect(settled).toBe(true);
  });
  it('resyncs after a token xapi refuses and after SESSION_INVALID on event.from', async () => {
    await client.events.ready({ deadline: monotonicNow() + 10_000 });
    const syncs = client.events.stats.syncs;
    await sim.call('sim.inject_error', 'event.from', 1, 'EVENT_FROM_TOKEN_PARSE_FAILURE', 'bogus');
    const db = await refByName(sim, 'db');
    const session = await sim.login();
    await sim.call('VM.add_to_other_config', session, db, 'test:poke1', '1');
    expect(await client.events.waitFor(() => (client.events.stats.syncs > syncs ? true : undefined), { deadline: monotonicNow() + 15_000 })).toBe(true);
    const afterParse = client.events.stats.syncs;
    await sim.call('sim.inject_error', 'event.from', 1, 'SESSION_INVALID', 'OpaqueRef:whatever');
    await sim.call('VM.add_to_other_config', session, db, 'test:poke2', '1');
    expect(await client.events.waitFor(() => (client.events.stats.syncs > afterParse ? true : undefined), { deadline: monotonicNow() + 15_000 })).toBe(true);
    expect(client.events.get('vm', db)?.otherConfig['test:poke2']).toBe('1');
  });
});

describe('deadlines and a toolstack that goes away', () => {
  it('fires the call deadline, naming the method and the host', async () => {
    const sim = await spawnSim({ guests: 1 });
    const client = createXenApiClient({ url: sim.url, callTimeoutMs: 300 });
    try {
      await client.call('pool.get_all'); // logged in
      await sim.call('sim.set_latency', 1_500);
      const err = await caught(client.call('VM.get_all'));
      expect(err.code).toBe('XENAPI_CALL_TIMEOUT');
      expect(err.params).toEqual(['VM.get_all', sim.url.replace(/\/$/, ''), '300']);
      expect(err.message).toContain('VM.get_all');
      expect(err.message).toContain(sim.url.replace(/\/$/, ''));
      await sim.call('sim.set_latency', 0);
      // A per-call deadline overrides the default.
      expect(Array.isArray(await client.callWith({ timeoutMs: 10_000 }, 'VM.get_all'))).toBe(true);
    } finally {
      await client.close();
      await sim.stop();
    }
  });

  it('logs in again after a toolstack restart and retries the call (TCP)', async () => {
    const sim = await spawnSim({ guests: 2 });
    const client = createXenApiClient({ url: sim.url, callTimeoutMs: 20_000, backoff: { initialMs: 50, maxMs: 400 } });
    try {
      await client.call('VM.get_all');
      await restartAndWaitDown(sim, 50); // 0.5 s real at time scale 0.01
      // Down for a while: refused connections are retried with backoff, then SESSION_INVALID → login again.
      const vms = await client.call('VM.get_all');
      expect(Array.isArray(vms)).toBe(true);
      const log = (await sim.call('sim.get_call_log', 0)) as { method: string; outcome: string }[];
      const mine = log.filter((e) => e.method !== 'pool.get_all' && !e.method.startsWith('sim.')).map((e) => `${e.method}:${e.outcome}`);
      expect(mine[0]).toBe('session.login_with_password:ok');
      expect(mine.slice(-3)).toEqual(['VM.get_all:SESSION_INVALID', 'session.login_with_password:ok', 'VM.get_all:ok']);
    } finally {
      await client.close();
      await sim.stop();
    }
  });

  it('reconnects over the Unix socket while it is gone, and gives up at the deadline', async () => {
    const sim = await spawnSim({ guests: 1, unix: true });
    const client = createXenApiClient({ url: `unix:${sim.socketPath}`, callTimeoutMs: 20_000, backoff: { initialMs: 50, maxMs: 400 } });
    try {
      await client.call('VM.get_all');
      await restartAndWaitDown(sim, 50, 'unix');
      expect(Array.isArray(await client.call('VM.get_all'))).toBe(true);
      await restartAndWaitDown(sim, 1_000, 'unix'); // 10 s real: longer than the next deadline
      const err = await caught(client.callWith({ timeoutMs: 800 }, 'VM.get_all'));
      expect(err.code).toBe('XENAPI_UNREACHABLE');
      expect(['ECONNREFUSED', 'ENOENT', 'ECONNRESET']).toContain(err.params[1]);
    } finally {
      await client.close();
      await sim.stop();
    }
  });

  it('loses a task to a toolstack restart as XENAPI_TASK_LOST, and the event loop resyncs', async () => {
    const sim = await spawnSim({ scenario: SCENARIO });
    const client = createXenApiClient({ url: sim.url, callTimeoutMs: 20_000, eventTimeoutS: 5, backoff: { initialMs: 50, maxMs: 400 } });
    try {
      const hung = await refByName(sim, 'hung');
      await client.events.ready({ deadline: monotonicNow() + 10_000 });
      const syncs = client.events.stats.syncs;
      const task = await client.callAsync('VM.clean_shutdown', hung);
      await restartAndWaitDown(sim, 30);
      const err = await caught(task.result);
      expect([err.code, ...err.params]).toEqual(['XENAPI_TASK_LOST', task.taskRef, 'VM.clean_shutdown']);
      expect(client.events.stats.syncs).toBeGreaterThan(syncs);
    } finally {
      await client.close();
      await sim.stop();
    }
  });
});

describe('HOST_IS_SLAVE', () => {
  it('follows the redirect to the master address given in the error', async () => {
    const master = await spawnSim({ guests: 1 });
    const member = await spawnSim({ guests: 1 });
    const client = createXenApiClient({ url: member.url, callTimeoutMs: 10_000 });
    try {
      const masterAddress = new URL(master.url).host; // 127.0.0.1:PORT
      await member.call('sim.set_master', masterAddress);
      const pools = await client.getAllRecords('pool');
      expect(pools.size).toBe(1);
      expect(client.endpoint).toBe(`http://${masterAddress}`);
      const onMaster = await counts(master);
      expect(onMaster['session.login_with_password']).toBe(1);
      expect(onMaster['pool.get_all_records']).toBe(1);
      expect((await counts(member))['pool.get_all_records'] ?? 0).toBe(0);
    } finally {
      await client.close();
      await master.stop();
      await member.stop();
    }
  });
});

describe('secrets', () => {
  it('never writes the password to the log, even at trace level', async () => {
    const sim = await spawnSim({ guests: 1, password: 'hunter2-very-secret' });
    let logged = '';
    const sink = new Writable({ write: (chunk, _enc, cb) => ((logged += chunk.toString()), cb()) });
    const log = createLogger({ level: 'trace', json: true, destination: sink });
    const client = createXenApiClient({ url: sim.url, password: 'hunter2-very-secret', callTimeoutMs: 10_000, log });
    const wrong = createXenApiClient({ url: sim.url, password: 'hunter3-also-secret', callTimeoutMs: 10_000, log });
    try {
      await client.call('VM.get_all');
      await client.events.ready({ deadline: monotonicNow() + 10_000 });
      await caught(wrong.call('VM.get_all'));
    } finally {
      await client.close();
      await wrong.close();
      await sim.stop();
    }
    expect(logged).toContain('XenAPI session opened');
    expect(logged).not.toContain('hunter2');
    expect(logged).not.toContain('hunter3');
  });
});
