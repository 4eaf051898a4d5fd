import { describe, expect, it } from 'vitest';
import { createProgressDisplay } from '../../src/cli/format/progress.js';
import type { GuestStep, Progress } from '../../src/engine/hooks.js';

function capture(isTTY: boolean) {
  let text = '';
  return { out: { isTTY, columns: 120, write: (s: string) => void (text += s) }, text: () => text };
}

function step(name: string, s: GuestStep, done: number, group = 1): Progress {
  return { mode: 'shutdown', guest: { uuid: `uuid-${name}`, name, ref: 'r' }, step: s, group, groups: 2, done, total: 3, succeeded: done, at: 0 };
}

describe('progress display', () => {
  it('prints plain lines without escapes when not a terminal: one per group, one per finished guest', () => {
    const c = capture(false);
    const d = createProgressDisplay(c.out, { mode: 'shutdown', deadlineAt: 100_000, now: () => 0 });
    d.progress(step('a', 'clean-requested', 0));
    d.progress(step('a', 'halted', 1));
    d.progress(step('b', 'hard-requested', 1, 2));
    d.progress(step('b', 'stopped', 2, 2));
    d.status('stopping group 2/2: 1 left, 90 s to deadline');
    d.finish();
    expect(c.text()).not.toMatch(/\x1b|\r/);
    expect(c.text().trimEnd().split('\n')).toEqual([
      '-- group 1/2',
      'a (uuid-a): halted cleanly  [1/3 done, group 1/2]',
      '-- group 2/2',
      'b (uuid-b): hard stop requested  [1/3 done, group 2/2]',
      'b (uuid-b): stopped  [2/3 done, group 2/2]',
    ]);
  });

  it('redraws one live line in place on a terminal, with done/total, group and time to the deadline', () => {
    const c = capture(true);
    const d = createProgressDisplay(c.out, { mode: 'shutdown', deadlineAt: 125_000, now: () => 0 });
    d.progress(step('a', 'clean-requested', 0));
    d.progress(step('a', 'halted', 1));
    d.finish();
    const text = c.text();
    expect(text).toContain('[1/3] · group 1/2 · 1 stopped · 2m5s to deadline');
    // Each redraw clears the previous live line first; finish leaves the line cleared.
    expect(text.split('\r\x1b[2K').length).toBeGreaterThan(2);
    expect(text.endsWith('\r\x1b[2K')).toBe(true);
    expect(text).toContain('a (uuid-a): halted cleanly');
  });
});

describe('what the live line says it waits for', async () => {
  const { describeInFlight } = await import('../../src/engine/in-flight.js');
  const { formatSeconds } = await import('../../src/cli/format/units.js');
  const fmt = { seconds: formatSeconds };
  it('names the guest, the check and the time left; a clean phase past its timeout is called out', () => {
    const base = { name: 'db', since: 0, timeout: 60, ready: 'vm-data/ready written by the guest' };
    expect(describeInFlight({ ...base, waitingFor: 'readiness' }, 15_000, fmt)).toBe('db: vm-data/ready written by the guest, 45s left');
    expect(describeInFlight({ ...base, waitingFor: 'clean' }, 30_000, fmt)).toBe('db: clean shutdown, 30s left');
    expect(describeInFlight({ ...base, waitingFor: 'clean' }, 61_000, fmt)).toBe('db: PAST its 1m clean timeout');
    expect(describeInFlight({ ...base, waitingFor: 'hard' }, 61_000, fmt)).toBe('db: hard stop');
  });
});

describe('what the line says while guests wait for storage', async () => {
  const { createInFlightTracker } = await import('../../src/engine/in-flight.js');
  const { formatSeconds } = await import('../../src/cli/format/units.js');
  const entry = (name: string) => ({ guest: { uuid: `uuid-${name}`, name, ref: 'r' }, timeout: 300 }) as never;
  const boot = (name: string, s: GuestStep, srs?: string[]): Progress => ({ mode: 'boot', guest: { uuid: `uuid-${name}`, name, ref: 'r' }, step: s, group: 1, groups: 1, done: 0, total: 3, succeeded: 0, at: 0, ...(srs ? { srs } : {}) });
  it('counts the guests per SR, ahead of the other waits, and forgets a guest once its start is asked', () => {
    let now = 0;
    const t = createInFlightTracker([entry('a'), entry('b'), entry('c')], () => now);
    t.track(boot('a', 'storage-wait', ['nfs-vms']));
    t.track(boot('c', 'start-requested'));
    now = 10_000;
    t.track(boot('b', 'storage-wait', ['nfs-vms']));
    expect(t.line({ seconds: formatSeconds })).toBe("waiting for SR 'nfs-vms' (2 guests), 5m left; c: starting, 4m50s left");
    t.track(boot('a', 'start-requested'));
    t.track(boot('b', 'start-failed'));
    // a's ready timeout counts from its storage wait, not from the start request.
    expect(t.line({ seconds: formatSeconds })).toBe('waiting for a: starting, 4m50s left; c: starting, 4m50s left');
  });
});
