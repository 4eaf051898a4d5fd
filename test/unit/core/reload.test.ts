import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../../../src/core/config.js';
import { configAfterReload, reloadChanges, RESTART_ONLY_SETTINGS } from '../../../src/core/reload.js';

describe('what a SIGHUP changes', () => {
  it('names every changed setting; the connection settings ask for a reconnect', () => {
    const running = defaultConfig();
    const next = defaultConfig();
    next.xapi.url = 'https://pool-master.example';
    next.xapi.callTimeout = 5;
    next.shutdown.deadline = 300;
    expect(reloadChanges(running, next)).toEqual({ changed: ['shutdown.deadline', 'xapi.call_timeout', 'xapi.url'], restartOnly: [], reconnect: true });
  });

  it('settings that need no connection do not reconnect', () => {
    const next = defaultConfig();
    next.log.level = 'debug';
    next.boot.parallelism = 9;
    expect(reloadChanges(defaultConfig(), next)).toEqual({ changed: ['boot.parallelism', 'log.level'], restartOnly: [], reconnect: false });
  });

  it('the state directory and the toolstack kind are restart-only: named, and kept as running', () => {
    const running = defaultConfig();
    const next = defaultConfig();
    next.stateDir = '/srv/elsewhere';
    next.toolstack.kind = 'xl';
    next.boot.readyTimeout = 33;
    const changes = reloadChanges(running, next);
    expect(changes.restartOnly).toEqual(['state_dir', 'toolstack.kind']);
    expect([...RESTART_ONLY_SETTINGS].sort()).toEqual(changes.restartOnly);
    const applied = configAfterReload(running, next);
    expect(applied.stateDir).toBe(running.stateDir);
    expect(applied.toolstack.kind).toBe('xenapi');
    expect(applied.boot.readyTimeout).toBe(33);
  });

  it('on xl, a changed guest table reconnects (the backend finds guest configs through it)', () => {
    const running = defaultConfig();
    running.toolstack.kind = 'xl';
    const next = { ...running, guests: { web: { config: '/etc/xen/web.cfg' } } };
    expect(reloadChanges(running, next)).toEqual({ changed: ['guests."web"'], restartOnly: [], reconnect: true });
  });
});
