import { afterEach, describe, expect, it, vi } from 'vitest';
import { bootStatus, shutdownStatus, throttleStatus } from '../../src/engine/status.js';

describe('status lines', () => {
  it('says how far the boot plan is', () => {
    expect(bootStatus({ group: 2, groups: 4, up: 12, total: 40, failed: 0 })).toBe('starting group 2/4: 12/40 guests up');
    expect(bootStatus({ group: 1, groups: 1, up: 3, total: 5, failed: 2 })).toBe('starting group 1/1: 3/5 guests up, 2 failed');
  });

  it('says how many guests are left and the time to the deadline', () => {
    const now = 1_000_000;
    expect(shutdownStatus({ phase: 'group', group: 1, groups: 3, left: 31, deadlineAt: now + 140_000, now })).toBe(
      'stopping group 1/3: 31 left, 140 s to deadline',
    );
    expect(shutdownStatus({ phase: 'transitions', group: 0, groups: 0, left: 1, deadlineAt: now + 500, now })).toBe(
      'waiting for 1 transition to finish, 1 s to deadline',
    );
    expect(shutdownStatus({ phase: 'sweep', group: 0, groups: 0, left: 2, deadlineAt: now - 1, now })).toBe(
      'stopping guests started meanwhile: 2 left, 0 s to deadline',
    );
  });
});

describe('status throttle', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('emits a thousand updates as a handful of lines, the newest always last', () => {
    vi.useFakeTimers();
    const lines: string[] = [];
    const t = throttleStatus((l) => lines.push(l), 1_000, () => Date.now());
    for (let i = 1; i <= 1_000; i++) {
      t.update(`line ${i}`);
      vi.advanceTimersByTime(5); // 1,000 updates over 5 s
    }
    t.flush();
    expect(lines.length).toBeGreaterThan(2);
    expect(lines.length).toBeLessThanOrEqual(7);
    expect(lines[0]).toBe('line 1');
    expect(lines.at(-1)).toBe('line 1000');
  });

  it('emits a held-back line when the interval ends, without a flush', () => {
    vi.useFakeTimers();
    const lines: string[] = [];
    const t = throttleStatus((l) => lines.push(l), 1_000, () => Date.now());
    t.update('a');
    t.update('b');
    t.update('c');
    expect(lines).toEqual(['a']);
    vi.advanceTimersByTime(1_000);
    expect(lines).toEqual(['a', 'c']);
  });

  it('does not repeat an unchanged line', () => {
    vi.useFakeTimers();
    const lines: string[] = [];
    const t = throttleStatus((l) => lines.push(l), 1_000, () => Date.now());
    t.update('same');
    vi.advanceTimersByTime(2_000);
    t.update('same');
    t.flush();
    expect(lines).toEqual(['same']);
  });
});
