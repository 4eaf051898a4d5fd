// The simulator's message class, sim.set_ha and VM.set_ha_restart_priority, checked against what
// real xapi answered in ../shared/xapi-traces/09_pool_ops.jsonl (README section "Messages").

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSim, XapiFailure, type SimHandle } from '../helpers/sim.js';

let sim: SimHandle;
let session: string;
let vm: { ref: string; uuid: string };
let host: { ref: string; uuid: string };

beforeAll(async () => {
  sim = await spawnSim({ scenario: { guests: [{ name_label: 'm-a' }], templates: 0, snapshot: false } });
  session = await sim.login();
  const [vmRef] = (await sim.call('VM.get_by_name_label', session, 'm-a')) as string[];
  vm = { ref: vmRef!, uuid: String(await sim.call('VM.get_uuid', session, vmRef)) };
  const [hostRef] = (await sim.call('host.get_all', session)) as string[];
  host = { ref: hostRef!, uuid: String(await sim.call('host.get_uuid', session, hostRef)) };
});
afterAll(() => sim.stop());

async function failure(p: Promise<unknown>): Promise<string[]> {
  try {
    await p;
  } catch (err) {
    if (err instanceof XapiFailure) return [err.code, ...err.params];
    throw err;
  }
  throw new Error('expected a XenAPI failure');
}

describe('message', () => {
  it('create returns a ref; the record is {uuid, name, priority, cls, obj_uuid, timestamp, body}, whole seconds', async () => {
    const ref = String(await sim.call('message.create', session, 'TRACE_VM_ALERT_P1', '1', 'VM', vm.uuid, 'body for priority 1'));
    expect(ref).toMatch(/^OpaqueRef:/);
    const r = (await sim.call('message.get_record', session, ref)) as Record<string, unknown>;
    expect(Object.keys(r).sort()).toEqual(['body', 'cls', 'name', 'obj_uuid', 'priority', 'timestamp', 'uuid']);
    expect(r).toMatchObject({ name: 'TRACE_VM_ALERT_P1', priority: '1', cls: 'VM', obj_uuid: vm.uuid, body: 'body for priority 1' });
    expect((r.timestamp as Date).getMilliseconds()).toBe(0);
  });

  it('accepts any int64 priority and an <int>, a lower-case class stored in its proper case, Host and Pool', async () => {
    for (const p of ['0', '6', '-1', 2]) await sim.call('message.create', session, 'P', p, 'VM', vm.uuid, 'x');
    const lc = String(await sim.call('message.create', session, 'TRACE_LC_CLS', '3', 'vm', vm.uuid, 'x'));
    expect(await sim.call('message.get_cls', session, lc).catch(() => null)).toBeNull(); // no field getters on message
    expect(((await sim.call('message.get_record', session, lc)) as { cls: string }).cls).toBe('VM');
    await sim.call('message.create', session, 'TRACE_HOST_ALERT', '3', 'Host', host.uuid, 'host alert body');
    const [pool] = (await sim.call('pool.get_all', session)) as string[];
    await sim.call('message.create', session, 'TRACE_POOL_ALERT', '4', 'Pool', String(await sim.call('pool.get_uuid', session, pool)), 'pool alert body');
  });

  it('fails as xapi does: unknown class, a uuid not of that class, a priority that is not a number, wrong arity', async () => {
    expect(await failure(sim.call('message.create', session, 'X', '3', 'Bogus', vm.uuid, 'x'))).toEqual(['INTERNAL_ERROR', 'Failure("Unknown tag/contents")']);
    expect(await failure(sim.call('message.create', session, 'X', '3', 'VM', '00000000-0000-0000-0000-000000000000', 'x'))).toEqual(['UUID_INVALID', 'VM', '00000000-0000-0000-0000-000000000000']);
    expect(await failure(sim.call('message.create', session, 'X', '3', 'VM', host.uuid, 'x'))).toEqual(['UUID_INVALID', 'VM', host.uuid]);
    expect(await failure(sim.call('message.create', session, 'X', 'high', 'VM', vm.uuid, 'x'))).toEqual(['INTERNAL_ERROR', 'Failure("Int64.of_string")']);
    expect(await failure(sim.call('message.create', session, 'X', '3', 'VM', vm.uuid, 'x', 'extra'))).toEqual(['MESSAGE_PARAMETER_COUNT_MISMATCH', 'message.create', '5', '6']);
  });

  it('get_since (dateTime or plain string), get(cls, uuid, since), destroy, and events through event.from(["message"])', async () => {
    const since = new Date(Date.now() - 3_600_000);
    const all = (await sim.call('message.get_all_records', session)) as Record<string, { obj_uuid: string }>;
    expect(Object.keys(await sim.call('message.get_since', session, since) as object)).toEqual(Object.keys(all));
    expect(await sim.call('message.get_since', session, '20990101T00:00:00Z')).toEqual({});
    const forHost = (await sim.call('message.get', session, 'Host', host.uuid, '20200101T00:00:00Z')) as Record<string, { name: string }>;
    expect(Object.values(forHost).map((m) => m.name)).toEqual(['TRACE_HOST_ALERT']);

    const first = (await sim.call('event.from', session, ['message'], '', 0)) as { token: string };
    const created = String(await sim.call('message.create', session, 'NEW', '2', 'VM', vm.uuid, 'y'));
    const next = (await sim.call('event.from', session, ['message'], first.token, 5)) as { events: { class: string; operation: string; ref: string; snapshot: { name: string } }[]; token: string };
    expect(next.events).toHaveLength(1);
    expect(next.events[0]).toMatchObject({ class: 'message', operation: 'add', ref: created, snapshot: { name: 'NEW' } });

    await sim.call('message.destroy', session, created);
    expect(await failure(sim.call('message.get_record', session, created))).toEqual(['HANDLE_INVALID', 'message', created]);
    const del = (await sim.call('event.from', session, ['message'], next.token, 5)) as { events: { operation: string; ref: string; snapshot?: unknown }[] };
    expect(del.events).toEqual([expect.objectContaining({ operation: 'del', ref: created })]);
    expect(del.events[0]!.snapshot).toBeUndefined();
  });
});

describe('HA', () => {
  it('sim.set_ha needs no session and sets pool.ha_enabled', async () => {
    const [pool] = (await sim.call('pool.get_all', session)) as string[];
    expect(await sim.call('pool.get_ha_enabled', session, pool)).toBe(false);
    await sim.call('sim.set_ha', true);
    expect(await sim.call('pool.get_ha_enabled', session, pool)).toBe(true);
    await sim.call('sim.set_ha', false);
    expect(await sim.call('pool.get_ha_enabled', session, pool)).toBe(false);
  });

  it('VM.set_ha_restart_priority takes restart, best-effort and "" only; a bad value leaves it unchanged', async () => {
    for (const v of ['restart', 'best-effort', '']) {
      await sim.call('VM.set_ha_restart_priority', session, vm.ref, v);
      expect(await sim.call('VM.get_ha_restart_priority', session, vm.ref)).toBe(v);
    }
    await sim.call('VM.set_ha_restart_priority', session, vm.ref, 'restart');
    expect(await failure(sim.call('VM.set_ha_restart_priority', session, vm.ref, 'bogus'))).toEqual(['INVALID_VALUE', 'ha_restart_priority', 'bogus']);
    expect(await sim.call('VM.get_ha_restart_priority', session, vm.ref)).toBe('restart');
  });
});
