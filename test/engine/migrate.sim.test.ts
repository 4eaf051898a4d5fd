// on_stop=migrate against the real simulator process with a three-host pool. Where each guest runs
// at the end, whether it was migrated or shut down, and which host is disabled are read back from
// the simulator's own records and timeline, not from the engine's report.

import { afterEach, describe, expect, it } from 'vitest';
import { runShutdown } from '../../src/engine/index.js';
import { createAlertSink, type AlertSink } from '../../src/engine/alerts.js';
import type { Progress } from '../../src/engine/hooks.js';
import type { Config, RunReport } from '../../src/core/types.js';
import { monotonicNow } from '../../src/core/clock.js';
import { silentLogger } from '../../src/log.js';
import { createXenApiToolstack } from '../../src/toolstack/xenapi.js';
import type { Toolstack } from '../../src/toolstack/types.js';
import { spawnSim, type SimHandle } from '../helpers/sim.js';
import { byName, planFor, testConfig, timelines } from './harness.js';
import { renderReport } from '../../src/report/text.js';
import { renderPlan } from '../../src/cli/format/plan.js';

const MIGRATE = { 'xen-guests:on_stop': 'migrate' };

interface Pool {
  sim: SimHandle;
  ts: Toolstack;
  session: string;
  call(method: string, ...params: unknown[]): Promise<unknown>;
  close(): Promise<void>;
}

let pool: Pool | undefined;
afterEach(async () => {
  await pool?.ts.close().catch(() => undefined);
  await pool?.sim.stop();
  pool = undefined;
});

async function threeHostPool(guests: object[], hosts: object[] = [{ name_label: 'sim-host-1' }, { name_label: 'sim-host-2' }, { name_label: 'sim-host-3' }]): Promise<Pool> {
  const sim = await spawnSim({ timeScale: 0.01, scenario: { hosts, guests, templates: 0, snapshot: false } });
  const ts = createXenApiToolstack({ url: sim.url, user: 'root', password: '', callTimeoutMs: 10_000, log: silentLogger(), inventoryPath: '/nonexistent/xensource-inventory', eventTimeoutS: 5 });
  const session = await sim.login();
  return { sim, ts, session, call: (method, ...params) => sim.call(method, session, ...params), close: () => sim.stop() };
}

function running(name: string, extra: Record<string, unknown> = {}): object {
  return { name_label: name, memory_mib: 1024, power_state: 'Running', host: 'sim-host-1', ...extra };
}

/** Guest name → [power state, name of the host it runs on ('' when halted)], from the simulator. */
async function whereEach(p: Pool): Promise<Map<string, [string, string]>> {
  const vms = (await p.call('VM.get_all_records')) as Record<string, { name_label: string; power_state: string; resident_on: string; is_control_domain: boolean }>;
  const hosts = (await p.call('host.get_all_records')) as Record<string, { name_label: string }>;
  const out = new Map<string, [string, string]>();
  for (const vm of Object.values(vms)) if (!vm.is_control_domain) out.set(vm.name_label, [vm.power_state, hosts[vm.resident_on]?.name_label ?? '']);
  return out;
}

async function hostEnabled(p: Pool, name: string): Promise<boolean> {
  const [ref] = (await p.call('host.get_by_name_label', name)) as string[];
  return (await p.call('host.get_enabled', ref)) as boolean;
}

async function shutdown(p: Pool, config: Config, onProgress: (x: Progress) => void = () => undefined, alerts?: AlertSink): Promise<{ report: RunReport; deadlineAt: number; endedAt: number }> {
  const plan = await planFor(p.ts, 'shutdown', { config });
  const deadlineAt = monotonicNow() + 60_000;
  const report = await runShutdown(p.ts, plan, { log: silentLogger(), onProgress }, {
    parallelism: 2,
    deadlineAt,
    hardReserveMs: 5_000,
    bootId: 'b',
    trigger: 'test',
    hostUuid: (await p.ts.host()).uuid,
    ...(alerts ? { alerts } : {}),
  });
  return { report, deadlineAt, endedAt: monotonicNow() };
}

describe('on_stop=migrate in a three-host pool', () => {
  it('migrates the guests to the other hosts, nothing onto the host going down; a guest on local storage is shut down cleanly instead', async () => {
    pool = await threeHostPool([
      running('web', { other_config: MIGRATE, order: 2 }),
      running('db', { other_config: MIGRATE, order: 1, memory_mib: 2048 }),
      running('local-disk', { other_config: MIGRATE, order: 1, behaviour: { local_storage: true } }),
      running('plain', { order: 1 }),
      running('theirs', { host: 'sim-host-2', other_config: MIGRATE }),
    ]);
    const { report, deadlineAt, endedAt } = await shutdown(pool, testConfig());

    const where = await whereEach(pool);
    expect(where.get('web')?.[0]).toBe('Running');
    expect(['sim-host-2', 'sim-host-3']).toContain(where.get('web')?.[1]);
    expect(where.get('db')?.[0]).toBe('Running');
    expect(['sim-host-2', 'sim-host-3']).toContain(where.get('db')?.[1]);
    expect(where.get('local-disk')).toEqual(['Halted', '']);
    expect(where.get('plain')).toEqual(['Halted', '']);
    expect(where.get('theirs')).toEqual(['Running', 'sim-host-2']);
    // Nothing runs on the host that went down, and it was disabled so nothing could land there.
    expect([...where.values()].filter(([, h]) => h === 'sim-host-1')).toEqual([]);
    expect(await hostEnabled(pool, 'sim-host-1')).toBe(false);

    const t = await timelines(pool.sim);
    expect(t.get('local-disk')?.map((e) => e.event)).toContain('clean_shutdown requested');
    expect(t.get('local-disk')?.map((e) => e.event)).not.toContain('hard shutdown');
    expect(t.get('local-disk')?.map((e) => e.event)).not.toContain('migrated');
    for (const [name, events] of t) {
      for (const e of events) if (e.event === 'migrated') expect(e.detail, name).not.toBe('to sim-host-1');
    }
    expect(endedAt).toBeLessThanOrEqual(deadlineAt);

    const r = byName(report);
    expect(r.get('web')?.outcome).toBe('migrated');
    expect(r.get('web')?.migration?.to?.name).toBe(where.get('web')?.[1]);
    expect(r.get('db')?.migration?.to?.name).toBe(where.get('db')?.[1]);
    expect(r.get('local-disk')?.outcome).toBe('clean');
    expect(r.get('local-disk')?.migration?.failed).toContain('VM_REQUIRES_SR');
    expect(r.get('plain')?.migration).toBeUndefined();
    // What a person reads: where each went, and why the local-disk guest stayed.
    const text = renderReport(report);
    expect(text).toMatch(new RegExp(`web \\(${r.get('web')!.guest.uuid}\\): to ${where.get('web')![1]} `));
    expect(text).toMatch(/local-disk \([0-9a-f-]+\): not moved after [\d.]+ s \(no host of the pool can take it: VM_REQUIRES_SR .*\); then clean shutdown/);
  });

  it('the plan says which guests migrate first and what happens when they cannot', async () => {
    pool = await threeHostPool([running('web', { other_config: MIGRATE }), running('plain')]);
    const text = renderPlan(await planFor(pool.ts, 'shutdown', { config: testConfig() }));
    expect(text).toMatch(/web .*migrate, else clean-shutdown/);
    expect(text).not.toMatch(/plain .*migrate/);
  });

  it('the host default shutdown.on_stop = "migrate" applies to guests without their own key', async () => {
    pool = await threeHostPool([running('a'), running('b', { other_config: { 'xen-guests:on_stop': 'shutdown' } })]);
    const { report } = await shutdown(pool, testConfig((c) => (c.shutdown.onStop = 'migrate')));
    const where = await whereEach(pool);
    expect(where.get('a')?.[0]).toBe('Running');
    expect(where.get('a')?.[1]).not.toBe('sim-host-1');
    expect(where.get('b')).toEqual(['Halted', '']);
    expect(byName(report).get('a')?.outcome).toBe('migrated');
  });

  it('fault: a migration failing half-way leaves the guest here, and it is then shut down inside the deadline', async () => {
    pool = await threeHostPool([running('flaky', { other_config: MIGRATE, behaviour: { migrate_error: 'VM_MIGRATE_FAILED' } })]);
    const ts = pool.ts;
    const alerts = createAlertSink({ send: (a) => ts.sendAlert!(a), log: silentLogger(), hostUuid: (await ts.host()).uuid, mode: 'shutdown' });
    const { report, deadlineAt, endedAt } = await shutdown(pool, testConfig(), undefined, alerts);
    await alerts.settle(10_000);
    // The admin sees it where XO and XenCenter look: a message on the guest.
    const messages = Object.values((await pool.call('message.get_all_records')) as Record<string, { name: string; obj_uuid: string; body: string }>);
    const failed = messages.filter((m) => m.name === 'XEN_GUESTS_MIGRATION_FAILED');
    expect(failed).toHaveLength(1);
    expect(failed[0]!.obj_uuid).toBe(byName(report).get('flaky')!.guest.uuid);
    expect(failed[0]!.body).toContain('VM_MIGRATE_FAILED');
    expect((await whereEach(pool)).get('flaky')).toEqual(['Halted', '']);
    const events = (await timelines(pool.sim)).get('flaky')!.map((e) => e.event);
    expect(events).toContain('migrating');
    expect(events).not.toContain('migrated');
    expect(events.lastIndexOf('clean_shutdown requested')).toBeGreaterThan(events.indexOf('migrating'));
    expect(endedAt).toBeLessThanOrEqual(deadlineAt);
    const r = byName(report).get('flaky')!;
    expect(r.outcome).toBe('clean');
    expect(r.migration?.failed).toContain('VM_MIGRATE_FAILED');
  });

  it('fault: the chosen destination disabled during the shutdown — the guest goes to another host, never to the disabled one', async () => {
    // sim-host-2 has the most free memory: the first choice, disabled by someone else as the migration is asked for.
    pool = await threeHostPool([running('mover', { other_config: MIGRATE })], [{ name_label: 'sim-host-1' }, { name_label: 'sim-host-2', memory_mib: 262144 }, { name_label: 'sim-host-3' }]);
    const [host2] = (await pool.call('host.get_by_name_label', 'sim-host-2')) as string[];
    const disabling: Promise<unknown>[] = [];
    const p = pool;
    const { report } = await shutdown(pool, testConfig(), (x) => {
      if (x.step === 'migrate-requested') disabling.push(p.call('host.disable', host2));
    });
    await Promise.all(disabling);
    expect(await hostEnabled(pool, 'sim-host-2')).toBe(false);
    expect((await whereEach(pool)).get('mover')).toEqual(['Running', 'sim-host-3']);
    expect(byName(report).get('mover')?.migration?.to?.name).toBe('sim-host-3');
  });
});
