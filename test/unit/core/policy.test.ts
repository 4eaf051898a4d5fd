import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/core/config.js';
import { describeProvenance, effectivePolicies, effectivePolicy } from '../../../src/core/policy.js';
import { makeConfig, makeGuest } from './fixtures.js';

const config = makeConfig();

function policyOf(otherConfig: Record<string, string>, extra: Parameters<typeof makeGuest>[0] = {}) {
  return effectivePolicy(makeGuest({ name: 'web-01', ...extra, otherConfig }), config);
}

describe('no keys: the defaults, each with its source', () => {
  const p = policyOf({}, { order: 3, startDelay: 7, shutdownDelay: 2 });
  it('values', () => {
    expect(p).toMatchObject({
      onStart: 'ignore',
      onStop: 'shutdown',
      order: 3,
      startDelay: 7,
      shutdownDelay: 2,
      shutdownTimeout: 180,
      ready: { kind: 'running' },
      maintenance: null,
      selfManagedPoweroff: false,
      problems: [],
    });
  });
  it('sources', () => {
    expect(p.sources).toEqual({
      onStart: { from: 'default' },
      onStop: { from: 'default' },
      order: { from: 'native', key: 'VM.order', raw: '3' },
      shutdownTimeout: { from: 'default', key: 'shutdown.guest_timeout', raw: '180' },
      ready: { from: 'default', key: 'boot.ready', raw: 'running' },
      maintenance: { from: 'default' },
    });
  });
});

describe('auto_poweron (XenServer\'s own key)', () => {
  it('exactly "true" means start', () => {
    const p = policyOf({ auto_poweron: 'true' });
    expect(p.onStart).toBe('start');
    expect(p.sources.onStart).toEqual({ from: 'key', key: 'auto_poweron', raw: 'true' });
  });

  it('"false" means not started, no complaint', () => {
    const p = policyOf({ auto_poweron: 'false' });
    expect(p.onStart).toBe('ignore');
    expect(p.problems).toEqual([]);
  });

  it('"True" is not "true" (as xapi compares it): off, with a warning', () => {
    const p = policyOf({ auto_poweron: 'True' });
    expect(p.onStart).toBe('ignore');
    expect(p.problems).toHaveLength(1);
    expect(p.problems[0]).toMatchObject({ level: 'warn', key: 'auto_poweron', value: 'True', fallback: 'treated as off' });
    expect(p.problems[0]!.message).toContain('guest "web-01"');
  });

  it('ignored when boot.honour_auto_poweron = false', () => {
    const p = effectivePolicy(makeGuest({ otherConfig: { auto_poweron: 'true' } }), makeConfig((c) => (c.boot.honourAutoPoweron = false)));
    expect(p.onStart).toBe('ignore');
    expect(p.sources.onStart).toEqual({ from: 'config', key: 'boot.honour_auto_poweron', raw: 'false' });
  });
});

describe('xen-guests:on_start', () => {
  it.each(['start', 'restore', 'ignore'] as const)('%s overrides auto_poweron', (value) => {
    const p = policyOf({ auto_poweron: value === 'start' ? 'false' : 'true', 'xen-guests:on_start': value });
    expect(p.onStart).toBe(value);
    expect(p.sources.onStart).toEqual({ from: 'key', key: 'xen-guests:on_start', raw: value });
    expect(p.problems).toEqual([]);
  });

  it('an unknown value is an error, and auto_poweron decides', () => {
    const p = policyOf({ auto_poweron: 'true', 'xen-guests:on_start': 'always' });
    expect(p.onStart).toBe('start');
    expect(p.sources.onStart.key).toBe('auto_poweron');
    expect(p.problems).toHaveLength(1);
    expect(p.problems[0]).toMatchObject({ level: 'error', key: 'xen-guests:on_start', value: 'always', allowed: 'must be one of start, restore, ignore' });
    expect(p.problems[0]!.message).toBe(
      `guest "web-01" (${p.problems[0]!.message.match(/\(([^)]+)\)/)![1]}): xen-guests:on_start = "always": must be one of start, restore, ignore; using start (from auto_poweron)`,
    );
  });

  it('a near miss gets a did-you-mean', () => {
    expect(policyOf({ 'xen-guests:on_start': 'restroe' }).problems[0]!.allowed).toContain('(did you mean "restore"?)');
  });
});

describe('xen-guests:on_stop', () => {
  it('poweroff', () => {
    const p = policyOf({ 'xen-guests:on_stop': 'poweroff' });
    expect(p.onStop).toBe('poweroff');
    expect(p.sources.onStop).toEqual({ from: 'key', key: 'xen-guests:on_stop', raw: 'poweroff' });
  });

  it('migrate, from the key or from the host default shutdown.on_stop; a guest key still wins', () => {
    expect(policyOf({ 'xen-guests:on_stop': 'migrate' }).onStop).toBe('migrate');
    const hostMigrates = { ...config, shutdown: { ...config.shutdown, onStop: 'migrate' as const } };
    const p = effectivePolicy(makeGuest({ otherConfig: {} }), hostMigrates);
    expect(p.onStop).toBe('migrate');
    expect(p.sources.onStop).toEqual({ from: 'config', key: 'shutdown.on_stop', raw: 'migrate' });
    expect(effectivePolicy(makeGuest({ otherConfig: { 'xen-guests:on_stop': 'shutdown' } }), hostMigrates).onStop).toBe('shutdown');
  });

  it('suspend is REFUSED: an error naming the guest and why, treated as shutdown', () => {
    const guest = makeGuest({ name: 'db-primary', otherConfig: { 'xen-guests:on_stop': 'suspend' } });
    const p = effectivePolicy(guest, config);
    expect(p.onStop).toBe('shutdown');
    expect(p.sources.onStop).toEqual({ from: 'default', replaced: { key: 'xen-guests:on_stop', raw: 'suspend' } });
    expect(p.problems).toHaveLength(1);
    const problem = p.problems[0]!;
    expect(problem.level).toBe('error');
    expect(problem.fallback).toBe('treated as shutdown');
    expect(problem.message).toContain(`guest "db-primary" (${guest.uuid})`);
    expect(problem.message).toContain('resuming an old memory image against disks that changed since corrupts data');
  });

  it('an unknown value is an error, shutdown is used', () => {
    const p = policyOf({ 'xen-guests:on_stop': 'halt' });
    expect(p.onStop).toBe('shutdown');
    expect(p.problems[0]).toMatchObject({ level: 'error', key: 'xen-guests:on_stop', value: 'halt', fallback: 'using shutdown' });
  });
});

describe('xen-guests:shutdown_timeout', () => {
  it('whole seconds from the key', () => {
    const p = policyOf({ 'xen-guests:shutdown_timeout': '45' });
    expect(p.shutdownTimeout).toBe(45);
    expect(p.sources.shutdownTimeout).toEqual({ from: 'key', key: 'xen-guests:shutdown_timeout', raw: '45' });
  });

  it.each(['-5', 'abc', '1e3', '12.5', '0', '999999999', ''])('%j is refused, the host default used', (raw) => {
    const p = policyOf({ 'xen-guests:shutdown_timeout': raw });
    expect(p.shutdownTimeout).toBe(180);
    expect(p.problems).toHaveLength(1);
    expect(p.problems[0]).toMatchObject({
      level: 'error',
      key: 'xen-guests:shutdown_timeout',
      value: raw,
      allowed: 'must be a whole number of seconds from 1 to 86400',
      fallback: 'using shutdown.guest_timeout = 180',
    });
  });

  it('the host default, when the config changed it, comes from config', () => {
    const p = effectivePolicy(makeGuest(), makeConfig((c) => (c.shutdown.guestTimeout = 90)));
    expect(p.shutdownTimeout).toBe(90);
    expect(p.sources.shutdownTimeout).toEqual({ from: 'config', key: 'shutdown.guest_timeout', raw: '90' });
  });
});

describe('xen-guests:ready', () => {
  it.each([
    ['running', { kind: 'running' }],
    ['agent', { kind: 'agent' }],
    ['vm-data/ready', { kind: 'vm-data', key: 'ready' }],
    ['vm-data/app/booted', { kind: 'vm-data', key: 'app/booted' }],
  ])('%s', (raw, ready) => {
    const p = policyOf({ 'xen-guests:ready': raw });
    expect(p.ready).toEqual(ready);
    expect(p.sources.ready).toEqual({ from: 'key', key: 'xen-guests:ready', raw });
  });

  it.each(['vm-data/', 'vm-data', 'vm-data//x', 'Agent', 'ping'])('%j is refused, the host default used', (raw) => {
    const p = policyOf({ 'xen-guests:ready': raw });
    expect(p.ready).toEqual({ kind: 'running' });
    expect(p.problems[0]).toMatchObject({ level: 'error', key: 'xen-guests:ready', value: raw });
  });

  it('the config default applies without a key', () => {
    const p = effectivePolicy(makeGuest(), makeConfig((c) => (c.boot.ready = { kind: 'agent' })));
    expect(p.ready).toEqual({ kind: 'agent' });
    expect(p.sources.ready).toEqual({ from: 'config', key: 'boot.ready', raw: 'agent' });
  });
});

describe('maintenance', () => {
  it('reason, since and by', () => {
    const p = policyOf({
      'xen-guests:maintenance': 'replacing disk 2',
      'xen-guests:maintenance_since': '2024-05-01T10:00:00Z',
      'xen-guests:maintenance_by': 'root@admin1',
    });
    expect(p.maintenance).toEqual({ reason: 'replacing disk 2', since: '2024-05-01T10:00:00Z', by: 'root@admin1' });
    expect(p.sources.maintenance).toEqual({ from: 'key', key: 'xen-guests:maintenance', raw: 'replacing disk 2' });
    expect(p.problems).toEqual([]);
  });

  it('an empty reason still means maintenance', () => {
    expect(policyOf({ 'xen-guests:maintenance': '' }).maintenance).toEqual({ reason: 'no reason given', since: null, by: null });
  });
});

describe('auto_poweroff', () => {
  it.each(['true', 'false', ''])('present (%j) means self-managed poweroff, as xapi counts it', (value) => {
    expect(policyOf({ auto_poweroff: value }).selfManagedPoweroff).toBe(true);
  });
  it('absent means managed by us', () => {
    expect(policyOf({ auto_poweron: 'true' }).selfManagedPoweroff).toBe(false);
  });
});

describe('native fields', () => {
  it('order, delays from the VM record', () => {
    const p = policyOf({}, { order: -4, startDelay: 30, shutdownDelay: 5 });
    expect([p.order, p.startDelay, p.shutdownDelay]).toEqual([-4, 30, 5]);
  });
  it('a nonsense native number is named and replaced by 0', () => {
    const p = policyOf({}, { order: Number.NaN, startDelay: -3 });
    expect([p.order, p.startDelay]).toEqual([0, 0]);
    expect(p.problems.map((x) => x.key)).toEqual(['VM.order', 'VM.start_delay']);
  });
});

describe('unknown and foreign keys', () => {
  it('an unknown xen-guests: key is an error with a did-you-mean; other keys are untouched', () => {
    const p = policyOf({ 'xen-guests:on_stpo': 'poweroff', 'xen-guests:on_start': 'start' });
    expect(p.onStop).toBe('shutdown');
    expect(p.onStart).toBe('start');
    expect(p.problems).toHaveLength(1);
    expect(p.problems[0]).toMatchObject({ level: 'error', key: 'xen-guests:on_stpo', value: 'poweroff', fallback: 'ignored' });
    expect(p.problems[0]!.allowed).toContain('(did you mean "on_stop"?)');
  });

  it('the simulator\'s xen-guests-sim:* keys and everyone else\'s keys are ignored', () => {
    const p = policyOf({ 'xen-guests-sim:boot_time': '3', 'xen-guests-sim:hung': 'true', default_template: 'x', 'XenCenter.CustomFields.owner': 'ann' });
    expect(p.problems).toEqual([]);
  });

  it('several problems on one guest are all reported, each part falling back on its own', () => {
    const p = policyOf({
      'xen-guests:on_stop': 'suspend',
      'xen-guests:shutdown_timeout': 'forever',
      'xen-guests:ready': 'agent',
      'xen-guests:colour': 'blue',
    });
    expect(p.problems.map((x) => x.key)).toEqual(['xen-guests:on_stop', 'xen-guests:shutdown_timeout', 'xen-guests:colour']);
    expect(p.ready).toEqual({ kind: 'agent' });
  });
});

describe('[guests."NAME"] tables (xl hosts)', () => {
  const xl = parseConfig(
    '[toolstack]\nkind = "xl"\n[guests."mail"]\nauto_poweron = true\non_stop = "poweroff"\norder = 5\nstart_delay = 10\nshutdown_timeout = 40\n[guests."dns"]\non_start = "restore"\n',
    '/etc/xen-guests/config.toml',
  );

  it('the table is the source, named as a config key', () => {
    const p = effectivePolicy(makeGuest({ name: 'mail' }), xl);
    expect(p).toMatchObject({ onStart: 'start', onStop: 'poweroff', order: 5, startDelay: 10, shutdownTimeout: 40 });
    expect(p.sources.onStart).toEqual({ from: 'config', key: 'guests."mail".auto_poweron', raw: 'true' });
    expect(p.sources.order).toEqual({ from: 'config', key: 'guests."mail".order', raw: '5' });
  });

  it('a guest without a table gets the defaults', () => {
    expect(effectivePolicy(makeGuest({ name: 'other' }), xl).onStart).toBe('ignore');
  });

  it('the guest\'s own keys win over the table', () => {
    const p = effectivePolicy(makeGuest({ name: 'dns', otherConfig: { 'xen-guests:on_start': 'ignore' } }), xl);
    expect(p.onStart).toBe('ignore');
    expect(p.sources.onStart.from).toBe('key');
  });
});

describe('effectivePolicies', () => {
  it('keys by uuid', () => {
    const a = makeGuest({ otherConfig: { auto_poweron: 'true' } });
    const b = makeGuest();
    const map = effectivePolicies([a, b], config);
    expect(map.get(a.uuid)?.onStart).toBe('start');
    expect(map.get(b.uuid)?.onStart).toBe('ignore');
  });
});

describe('describeProvenance', () => {
  it('one readable line per source', () => {
    const p = policyOf({ auto_poweron: 'true', 'xen-guests:on_stop': 'suspend' }, { order: 2 });
    expect(describeProvenance(p.sources.onStart)).toBe('other_config:auto_poweron = "true"');
    expect(describeProvenance(p.sources.onStop)).toBe('built-in default (instead of xen-guests:on_stop = "suspend", refused)');
    expect(describeProvenance(p.sources.order)).toBe('VM.order = "2"');
    expect(describeProvenance(p.sources.shutdownTimeout)).toBe('built-in default shutdown.guest_timeout = "180"');
    expect(describeProvenance(p.sources.maintenance)).toBe('built-in default');
    const fromConfig = effectivePolicy(makeGuest(), makeConfig((c) => (c.shutdown.guestTimeout = 90)));
    expect(describeProvenance(fromConfig.sources.shutdownTimeout)).toBe('config shutdown.guest_timeout = "90"');
    // The guest's own bad value is never shown as if it were the default's.
    const refused = policyOf({ 'xen-guests:shutdown_timeout': '2 minutes' });
    expect(describeProvenance(refused.sources.shutdownTimeout)).toBe(
      'built-in default shutdown.guest_timeout = "180" (instead of xen-guests:shutdown_timeout = "2 minutes", refused)',
    );
  });
});

describe('guests named like object internals', () => {
  it('"constructor" and "__proto__" are ordinary names, in other_config and in xl tables', () => {
    const xl = parseConfig('[toolstack]\nkind = "xl"\n[guests."__proto__"]\non_start = "start"\n[guests."constructor"]\norder = 4\n', '/x.toml');
    expect(Object.keys(xl.guests).sort()).toEqual(['__proto__', 'constructor']);
    expect(effectivePolicy(makeGuest({ name: '__proto__' }), xl).onStart).toBe('start');
    expect(effectivePolicy(makeGuest({ name: 'constructor' }), xl).order).toBe(4);
    expect(effectivePolicy(makeGuest({ name: 'toString' }), xl).onStart).toBe('ignore');
    expect(effectivePolicy(makeGuest({ name: 'constructor' }), config).problems).toEqual([]);
  });
});
