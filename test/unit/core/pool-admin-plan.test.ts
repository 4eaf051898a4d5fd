// The boot plan on a host in maintenance mode and in a pool with HA (issue 14, items 1 and 2).

import { describe, expect, it } from 'vitest';
import { buildPlan } from '../../../src/core/plan.js';
import type { Plan } from '../../../src/core/types.js';
import type { Guest, HostInfo } from '../../../src/toolstack/types.js';
import { makeConfig, makeEnabled, makeGuest, makeHost, makeRunning } from './fixtures.js';

function plan(mode: 'boot' | 'shutdown', guests: Guest[], host: Partial<HostInfo>): Plan {
  return buildPlan({ mode, guests, host: { ...makeHost(), ...host }, config: makeConfig(), snapshot: null });
}

const skips = (p: Plan) => Object.fromEntries(p.skipped.map((e) => [e.guest.name, [e.skipCode, e.reason]]));

describe('host maintenance mode', () => {
  const maintenance = { reason: 'RAM upgrade', since: '2026-11-29T10:00:00.000Z', by: 'alice@h1' };

  it('skips every guest that would start, with since and by; guests skipped for their own reasons keep them', () => {
    const guests = [makeEnabled({ name: 'web' }), makeEnabled({ name: 'db', order: 2 }), makeGuest({ name: 'off' })];
    const p = plan('boot', guests, { maintenance });
    expect(p.groups).toEqual([]);
    expect(skips(p)).toMatchObject({
      web: ['host-maintenance', 'host in maintenance mode (since 2026-11-29T10:00:00.000Z, by alice@h1): RAM upgrade'],
      db: ['host-maintenance', 'host in maintenance mode (since 2026-11-29T10:00:00.000Z, by alice@h1): RAM upgrade'],
      off: ['disabled', expect.any(String)],
    });
    expect(p.notices).toEqual(['host in maintenance mode (since 2026-11-29T10:00:00.000Z, by alice@h1): RAM upgrade — no guest is started at boot']);
  });

  it('leaves out what is not known rather than inventing it', () => {
    const p = plan('boot', [makeEnabled({ name: 'web' })], { maintenance: { reason: 'host.enabled = false', since: null, by: null } });
    expect(p.skipped[0]!.reason).toBe('host in maintenance mode: host.enabled = false');
  });

  it('changes nothing at shutdown: running guests are still stopped cleanly', () => {
    const p = plan('shutdown', [makeRunning({ name: 'web' })], { maintenance });
    expect(p.groups.flatMap((g) => g.entries).map((e) => [e.guest.name, e.action])).toEqual([['web', 'clean-shutdown']]);
    expect(p.notices?.[0]).toContain('at shutdown guests are still stopped as usual');
  });
});

describe('HA', () => {
  const restart = makeEnabled({ name: 'ha-r', haRestartPriority: 'restart' });
  const best = makeEnabled({ name: 'ha-b', haRestartPriority: 'best-effort' });
  const plain = makeEnabled({ name: 'plain', haRestartPriority: '' });

  it('with pool HA on, guests HA restarts are skipped as HA\'s; others start', () => {
    const p = plan('boot', [restart, best, plain], { haEnabled: true });
    expect(p.groups.flatMap((g) => g.entries).map((e) => e.guest.name)).toEqual(['plain']);
    expect(skips(p)).toEqual({
      'ha-r': ['ha-managed', 'HA restarts it: pool HA is on and its ha_restart_priority is "restart"'],
      'ha-b': ['ha-managed', 'HA restarts it: pool HA is on and its ha_restart_priority is "best-effort"'],
    });
    expect(p.notices).toEqual([expect.stringContaining('pool HA is on') ]);
    expect(p.notices![0]).toContain('(2 here)');
  });

  it('with HA off the priority means nothing to us', () => {
    const p = plan('boot', [restart, best], { haEnabled: false });
    expect(p.skipped).toEqual([]);
    expect(p.notices).toEqual([]);
  });

  it('HA on and pool auto_poweron: dueling managers, with the command that ends it', () => {
    const p = plan('boot', [plain], { haEnabled: true, poolAutoPoweron: true });
    expect(p.notices?.[1]).toMatch(/^dueling managers: pool HA is on and pool other_config:auto_poweron is "true".*xe pool-param-remove/);
  });
});
