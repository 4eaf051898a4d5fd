// Life-cycle semantics against the real simulator process: tasks, queuing, cancel, hard wins,
// guest behaviours, delays inside the task, memory, xenstore_data (seed 000), event.from, faults.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSim, until, XapiFailure, type SimHandle } from '../helpers/sim.js';

const GiB = 1024;
const scenario = {
  hosts: [{ name_label: 'h1', memory_mib: 4096 + 3 * GiB + 200 }],
  xapi: { dom0_memory_mib: 4096 },
  templates: 1,
  guests: [
    { name_label: 'normal', memory_mib: 1024, behaviour: { boot_s: 1, agent_s: 2, shutdown_s: 5 } },
    { name_label: 'hung', memory_mib: 1024, power_state: 'Running', behaviour: { shutdown: 'hung' } },
    { name_label: 'ignore', memory_mib: 256, power_state: 'Running', behaviour: { shutdown: 'ignore' } },
    { name_label: 'hvm', memory_mib: 256, power_state: 'Running', behaviour: { pv: false } },
    { name_label: 'slow', memory_mib: 256, power_state: 'Running', shutdown_delay: 30, behaviour: { shutdown_s: 100 } },
    { name_label: 'delayed', memory_mib: 256, start_delay: 50, xenstore_data: { 'vm-data/a': 'x', 'not-vm-data/z': 'foo' }, behaviour: { boot_s: 1, vm_data: { 'vm-data/ready': { after_s: 3, value: 'yes' } } } },
    { name_label: 'big', memory_mib: 8192 },
    { name_label: 'broken', memory_mib: 128, behaviour: { start_error: 'VM_BOOT_FAILED' } },
  ],
};

let sim: SimHandle;
let s: string;
const refs: Record<string, string> = {};

async function failure(p: Promise<unknown>): Promise<XapiFailure> {
  try {
    await p;
  } catch (e) {
    if (e instanceof XapiFailure) return e;
    throw e;
  }
  throw new Error('expected a Failure');
}

async function taskDone(task: string): Promise<Record<string, unknown>> {
  return until(`task ${task}`, async () => {
    const r = (await sim.call('task.get_record', s, task)) as Record<string, unknown>;
    return r.status !== 'pending' && r;
  });
}

async function events(vm: string): Promise<string[]> {
  const t = await sim.timeline(vm);
  return t[vm]?.events.map((e) => e.event) ?? [];
}

beforeAll(async () => {
  // time scale 0.01: 1 simulated second = 10 ms
  sim = await spawnSim({ scenario, timeScale: 0.01, unix: true });
  s = await sim.login();
  const all = (await sim.call('VM.get_all_records', s)) as Record<string, { name_label: string }>;
  for (const [ref, r] of Object.entries(all)) refs[r.name_label] = ref;
});
afterAll(async () => sim?.stop());

describe('start', () => {
  it('runs in a task: Running, start_time set, guest_metrics appear when the agent reports', async () => {
    const vm = refs.normal!;
    const task = (await sim.call('Async.VM.start', s, vm, false, false)) as string;
    expect(task).toMatch(/^OpaqueRef:/);
    const rec = await taskDone(task);
    expect(rec).toMatchObject({ status: 'success', result: '<value></value>', error_info: [], name_label: 'Async.VM.start' });
    expect(await sim.call('VM.get_power_state', s, vm)).toBe('Running');
    const metrics = (await sim.call('VM.get_metrics', s, vm)) as string;
    const start = (await sim.call('VM_metrics.get_start_time', s, metrics)) as Date;
    expect(start.getTime()).toBeGreaterThan(Date.now() - 60_000);
    // The guest-metrics record exists from Running on; the agent fills it in later (agent_s).
    const g = await until('the agent reporting in the guest metrics', async () => {
      const r = (await sim.call('VM.get_guest_metrics', s, vm)) as string;
      if (r === 'OpaqueRef:NULL') return false;
      const rec = (await sim.call('VM_guest_metrics.get_record', s, r)) as Record<string, any>;
      return Object.keys(rec.PV_drivers_version as object).length > 0 && rec;
    });
    expect(g.live).toBe(true);
    expect(g.PV_drivers_version).toMatchObject({ major: expect.stringMatching(/^\d+$/), minor: expect.stringMatching(/^\d+$/) });
    expect(g.other['feature-shutdown']).toBe('1');
    expect(await events(vm)).toEqual(expect.arrayContaining(['start requested', 'running', 'booted', 'agent live']));
  });

  it('VM_BAD_POWER_STATE with lower-case states; VM_IS_TEMPLATE; OPERATION_BLOCKED first', async () => {
    expect(await failure(sim.call('VM.start', s, refs.normal, false, false))).toMatchObject({ code: 'VM_BAD_POWER_STATE', params: [refs.normal, 'halted', 'running'] });
    const tpl = Object.keys(refs).find((n) => n.startsWith('Debian'))!;
    expect(await failure(sim.call('VM.start', s, refs[tpl], false, false))).toMatchObject({ code: 'VM_IS_TEMPLATE', params: [refs[tpl], 'start'] });
    await sim.call('VM.add_to_blocked_operations', s, refs.normal, 'start', 'kept-off');
    expect(await failure(sim.call('VM.start', s, refs.normal, false, false))).toMatchObject({ code: 'OPERATION_BLOCKED', params: [refs.normal, 'kept-off'] });
    await sim.call('VM.remove_from_blocked_operations', s, refs.normal, 'start');
  });

  it('fails in the task with NO_HOSTS_AVAILABLE (the reason from assert_can_boot_here) and with a scripted start_error', async () => {
    // As the recorded xapi: VM.start names no reason, assert_can_boot_here names the memory.
    const t = (await sim.call('Async.VM.start', s, refs.big, false, false)) as string;
    const r = await taskDone(t);
    expect(r.status).toBe('failure');
    expect(r.error_info).toEqual(['NO_HOSTS_AVAILABLE']);
    const host = (await sim.call('host.get_all', s) as string[])[0];
    const why = await failure(sim.call('VM.assert_can_boot_here', s, refs.big, host));
    expect(why.code).toBe('HOST_NOT_ENOUGH_FREE_MEMORY');
    const [needed, available] = why.params;
    expect(Number(needed)).toBeGreaterThan(Number(available));
    expect(Number(available)).toBe(Number(await sim.call('host.compute_free_memory', s, host)));
    expect(await failure(sim.call('VM.start', s, refs.broken, false, false))).toMatchObject({ code: 'VM_BOOT_FAILED', params: [refs.broken] });
  });

  it('sleeps start_delay inside the task; copies vm-data in and drops other keys (seed 000); guest writes are live', async () => {
    const vm = refs.delayed!;
    const t0 = performance.now();
    await sim.call('VM.start', s, vm, false, false);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(450); // 50 simulated s at 0.01
    const ev = await events(vm);
    expect(ev.indexOf('running')).toBeLessThan(ev.indexOf('start_delay'));
    const data = await until('vm-data/ready', async () => {
      const d = (await sim.call('VM.get_xenstore_data', s, vm)) as Record<string, string>;
      return d['vm-data/ready'] === 'yes' && d;
    });
    expect(data).toEqual({ 'vm-data': '', 'vm-data/a': 'x', 'vm-data/ready': 'yes' });
    await sim.call('sim.xenstore_write', vm, 'vm-data/b/c', 'v');
    expect(await sim.call('VM.get_xenstore_data', s, vm)).toMatchObject({ 'vm-data/b': '', 'vm-data/b/c': 'v' });
  });
});

describe('shutdown', () => {
  it('clean_shutdown writes control/shutdown, the guest acknowledges and halts on its schedule', async () => {
    const vm = refs.normal!;
    await sim.call('VM.clean_shutdown', s, vm);
    expect(await sim.call('VM.get_power_state', s, vm)).toBe('Halted');
    // As xapi (recorded: shared/xapi-traces 03): the guest metrics of the last run outlive the halt.
    const gm = (await sim.call('VM.get_guest_metrics', s, vm)) as string;
    expect(gm).not.toBe('OpaqueRef:NULL');
    expect(await sim.call('VM_guest_metrics.get_live', s, gm)).toBe(true);
    const ev = await events(vm);
    const i = ev.lastIndexOf('control/shutdown written');
    expect(ev.slice(i)).toEqual(['control/shutdown written', 'acknowledged', 'halted', 'clean_shutdown done']);
  });

  it('VM_LACKS_FEATURE for an HVM guest without PV drivers; VM.shutdown pulls its power instead', async () => {
    const vm = refs.hvm!;
    expect(await failure(sim.call('VM.clean_shutdown', s, vm))).toMatchObject({ code: 'VM_LACKS_FEATURE', params: [vm] });
    expect(await sim.call('VM.get_allowed_operations', s, vm)).not.toContain('clean_shutdown');
    await sim.call('VM.shutdown', s, vm);
    expect(await sim.call('VM.get_power_state', s, vm)).toBe('Halted');
    expect(await failure(sim.call('VM.hard_shutdown', s, vm))).toMatchObject({ code: 'VM_BAD_POWER_STATE', params: [vm, 'paused, suspended, running', 'halted'] });
  });

  it('a guest that ignores the request fails with VM_FAILED_SHUTDOWN_ACKNOWLEDGMENT after 60 s (scaled)', async () => {
    const vm = refs.ignore!;
    expect(await failure(sim.call('VM.clean_shutdown', s, vm))).toMatchObject({ code: 'VM_FAILED_SHUTDOWN_ACKNOWLEDGMENT', params: [vm] });
    expect(await sim.call('VM.get_power_state', s, vm)).toBe('Running');
  });

  it('cancel of a pending clean_shutdown: task cancelled, error_info [], VM stays Running', async () => {
    const vm = refs.hung!;
    const t = (await sim.call('Async.VM.clean_shutdown', s, vm)) as string;
    await until('acknowledged', async () => (await events(vm)).includes('acknowledged'));
    expect(await sim.call('task.get_allowed_operations', s, t)).toEqual(['cancel']);
    await sim.call('task.cancel', s, t);
    const r = await taskDone(t);
    expect(r).toMatchObject({ status: 'cancelled', error_info: [] });
    expect(await sim.call('VM.get_power_state', s, vm)).toBe('Running');
    await sim.call('task.cancel', s, t); // finished: a silent no-op
  });

  it('queues a second clean_shutdown behind the first; hard_shutdown cancels the clean one and wins', async () => {
    const vm = refs.hung!;
    const first = (await sim.call('Async.VM.clean_shutdown', s, vm)) as string;
    const second = (await sim.call('Async.VM.clean_shutdown', s, vm)) as string;
    await until('queued', async () => (await events(vm)).includes('queued'));
    expect(Object.keys((await sim.call('VM.get_current_operations', s, vm)) as object)).toEqual([first]);
    await sim.call('VM.hard_shutdown', s, vm);
    expect(await sim.call('VM.get_power_state', s, vm)).toBe('Halted');
    expect((await taskDone(first)).status).toBe('cancelled');
    const r2 = await taskDone(second);
    // The queued one was cancelled too (it is in the cancel list), or failed on the new power state.
    expect(['cancelled', 'failure']).toContain(r2.status);
    if (r2.status === 'failure') expect(r2.error_info).toEqual(['VM_BAD_POWER_STATE', vm, 'running', 'halted']);
    const ev = await events(vm);
    expect(ev.indexOf('hard shutdown')).toBeLessThan(ev.lastIndexOf('halted'));
  });

  it('sleeps shutdown_delay inside the task, after the halt', async () => {
    const vm = refs.slow!;
    const t = (await sim.call('Async.VM.clean_shutdown', s, vm)) as string;
    await until('halted', async () => (await sim.call('VM.get_power_state', s, vm)) === 'Halted');
    expect((await sim.call('task.get_status', s, t))).toBe('pending');
    expect((await taskDone(t)).status).toBe('success');
    const ev = await events(vm);
    expect(ev.indexOf('halted')).toBeLessThan(ev.indexOf('shutdown_delay'));
  });
});

describe('event.from', () => {
  it('returns adds for everything from "", a %020d,%020d token, and an empty batch on timeout', async () => {
    const r = (await sim.call('event.from', s, ['vm'], '', 1.0)) as { events: any[]; token: string; valid_ref_counts: Record<string, number> };
    expect(r.token).toMatch(/^\d{20},\d{20}$/);
    expect(r.events.every((e) => e.operation === 'add' && e.class === 'vm' && typeof e.id === 'string' && e.timestamp === '0.0' && e.snapshot)).toBe(true);
    expect(r.events.length).toBe(Object.keys(refs).length - 1 + 1); // every VM incl. dom0 and the snapshot
    expect(typeof r.valid_ref_counts.vm).toBe('number');
    const empty = (await sim.call('event.from', s, ['vm'], r.token, 0.2)) as { events: unknown[]; token: string };
    expect(empty.events).toEqual([]);
    expect(empty.token >= r.token).toBe(true);
  });

  it('coalesces changes per object and reports del without a snapshot', async () => {
    const vm = refs.normal!;
    const { token } = (await sim.call('event.from', s, ['vm', 'task'], '', 0.1)) as { token: string };
    await sim.call('VM.add_to_other_config', s, vm, 'a', '1');
    await sim.call('VM.add_to_other_config', s, vm, 'b', '2');
    const t = (await sim.call('Async.VM.get_allowed_operations', s, vm).catch(() => null)) as string | null;
    expect(t).toBeNull(); // getters have no Async form
    const task = (await sim.call('Async.VM.clean_shutdown', s, vm)) as string; // fails (halted) inside the task
    await taskDone(task);
    await sim.call('task.destroy', s, task);
    const r = (await sim.call('event.from', s, ['vm', 'task'], token, 1.0)) as { events: any[] };
    const forVm = r.events.filter((e) => e.ref === vm);
    expect(forVm).toHaveLength(1);
    expect(forVm[0].operation).toBe('mod');
    expect(forVm[0].snapshot.other_config).toMatchObject({ a: '1', b: '2' });
    // The task was created and deleted after the token: nothing to report for it.
    expect(r.events.filter((e) => e.ref === task)).toEqual([]);
    const { token: t2 } = (await sim.call('event.from', s, ['task'], '', 0.1)) as { token: string };
    const task2 = (await sim.call('Async.VM.clean_shutdown', s, vm)) as string;
    await taskDone(task2);
    const { token: t3 } = (await sim.call('event.from', s, ['task'], t2, 1.0)) as { token: string };
    await sim.call('task.destroy', s, task2);
    const del = (await sim.call('event.from', s, ['task'], t3, 1.0)) as { events: any[] };
    expect(del.events).toEqual([{ id: expect.any(String), timestamp: '0.0', class: 'task', operation: 'del', ref: task2 }]);
  });

  it('event.inject gives a token from which the object is reported; HANDLE_INVALID for a bad ref', async () => {
    const pool = ((await sim.call('pool.get_all', s)) as string[])[0]!;
    const token = (await sim.call('event.inject', s, 'pool', pool)) as string;
    const r = (await sim.call('event.from', s, ['pool'], token, 1.0)) as { events: any[] };
    expect(r.events.map((e) => e.ref)).toEqual([pool]);
    expect(await failure(sim.call('event.inject', s, 'pool', 'OpaqueRef:x'))).toMatchObject({ code: 'HANDLE_INVALID', params: ['pool', 'OpaqueRef:x'] });
  });
});

describe('faults', () => {
  it('inject_error fails the next N calls of a method, then it works again', async () => {
    await sim.call('sim.inject_error', 'host.get_all', 2, 'HOST_STILL_BOOTING');
    expect((await failure(sim.call('host.get_all', s))).code).toBe('HOST_STILL_BOOTING');
    expect((await failure(sim.call('host.get_all', s))).code).toBe('HOST_STILL_BOOTING');
    expect(await sim.call('host.get_all', s)).toHaveLength(1);
  });

  it('set_master makes TCP logins answer HOST_IS_SLAVE; the Unix socket still logs in', async () => {
    await sim.call('sim.set_master', '10.0.0.1');
    expect(await failure(sim.call('session.login_with_password', 'root', ''))).toMatchObject({ code: 'HOST_IS_SLAVE', params: ['10.0.0.1'] });
    expect(await sim.callUnix('session.login_with_password', 'root', '')).toMatch(/^OpaqueRef:/);
    await sim.call('sim.set_master', '');
  });

  it('lose_events: a waiting event.next gets EVENTS_LOST; old event.from tokens expire', async () => {
    const s2 = (await sim.call('session.login_with_password', 'root', '')) as string;
    await sim.call('event.register', s2, ['vm']);
    const { token } = (await sim.call('event.from', s, ['vm'], '', 0.1)) as { token: string };
    const mark = ((await sim.call('sim.get_call_log', 0)) as unknown[]).length;
    const next = failure(sim.call('event.next', s2));
    // Logged on arrival, and the simulator reaches its wait in the same turn: once the log shows it, it waits.
    await until('event.next waiting', async () => ((await sim.call('sim.get_call_log', 0)) as { method: string }[]).slice(mark).some((c) => c.method === 'event.next'), 10_000);
    await sim.call('sim.lose_events');
    expect((await next).code).toBe('EVENTS_LOST');
    expect((await failure(sim.call('event.from', s, ['vm'], token, 0.1))).code).toBe('EVENTS_LOST');
    const fresh = (await sim.call('event.from', s, ['vm'], '', 0.1)) as { token: string };
    expect((await sim.call('event.from', s, ['vm'], fresh.token, 0.1)) as object).toMatchObject({ events: [] });
  });

  it('restart_toolstack refuses connections for a while and invalidates sessions; VM state stays', async () => {
    const before = await sim.call('VM.get_power_state', s, refs.delayed);
    const restarts = Number((await sim.call('sim.get_info') as { toolstack_restarts: unknown }).toolstack_restarts);
    await sim.call('sim.restart_toolstack', 100); // 100 simulated s = 1 s real
    await until('refused', async () => sim.call('system.listMethods').then(() => false, () => true), 5000);
    const s2 = await until('back', async () => sim.call('session.login_with_password', 'root', '').catch(() => false), 10_000);
    // Counted once every listener (TCP and the Unix socket here) is back, not when asked for.
    await until('the restart counted', async () => Number(((await sim.call('sim.get_info')) as { toolstack_restarts: unknown }).toolstack_restarts) === restarts + 1, 10_000);
    expect(Array.isArray(await sim.callUnix('VM.get_all', s2))).toBe(true);
    expect(await failure(sim.call('VM.get_all', s))).toMatchObject({ code: 'SESSION_INVALID', params: [s] });
    s = s2 as string;
    expect(await sim.call('VM.get_power_state', s, refs.delayed)).toBe(before);
  });

  it('logs every call with caller and the VM it touched', async () => {
    const log = (await sim.call('sim.get_call_log', 0)) as Array<{ method: string; vm?: string; caller: string }>;
    expect(log.some((e) => e.method === 'VM.clean_shutdown' && e.vm === refs.normal && e.caller.includes('root'))).toBe(true);
    const counts = (await sim.call('sim.get_call_counts')) as { total: string; by_method: Record<string, string>; by_vm: Record<string, string> };
    expect(Number(counts.by_method['VM.get_power_state'])).toBeGreaterThan(0);
    expect(Number(counts.by_vm[refs.normal!])).toBeGreaterThan(3);
  });
});

describe('VM.destroy', () => {
  it('refuses a running VM, deletes a halted one: HANDLE_INVALID after, a del event without snapshot', async () => {
    const all = (await sim.call('VM.get_all_records', s)) as Record<string, { power_state: string; is_control_domain: boolean }>;
    const live = Object.keys(all).find((r) => all[r]!.power_state === 'Running' && !all[r]!.is_control_domain)!;
    const running = await failure(sim.call('VM.destroy', s, live));
    expect(running.code).toBe('VM_BAD_POWER_STATE');
    expect(running.params).toEqual([live, 'halted, suspended', 'running']);

    const { token } = (await sim.call('event.from', s, ['vm'], '', 0.1)) as { token: string };
    await sim.call('VM.destroy', s, refs.big!);
    const gone = await failure(sim.call('VM.get_record', s, refs.big!));
    expect(gone.code).toBe('HANDLE_INVALID');
    expect(gone.params).toEqual(['VM', refs.big]);
    const batch = (await sim.call('event.from', s, ['vm'], token, 1.0)) as { events: Record<string, unknown>[] };
    const del = batch.events.find((e) => e.ref === refs.big);
    expect(del?.operation).toBe('del');
    expect(del && 'snapshot' in del).toBe(false);
    // The timeline keeps the deleted VM's name.
    const t = await sim.timeline();
    expect(t[refs.big!]?.name_label).toBe('big');
    expect(t[refs.big!]?.events.map((e) => e.event)).toContain('destroyed');
  });
});
