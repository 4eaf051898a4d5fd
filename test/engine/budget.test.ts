import { describe, expect, it } from 'vitest';
import { bootDeadline, cleanCutoff, cleanDeadline, cutByBudget, secondsLeft } from '../../src/engine/budget.js';

const clock = { deadlineAt: 100_000, hardReserveMs: 20_000 };

describe('shutdown budget', () => {
  it('keeps the hard reserve out of every clean phase', () => {
    expect(cleanCutoff(clock)).toBe(80_000);
  });

  it('gives a guest its own timeout when the budget allows', () => {
    expect(cleanDeadline(clock, 10_000, 30)).toBe(40_000);
    expect(cutByBudget(clock, 10_000, 30)).toBe(false);
  });

  it('cuts a guest timeout to what remains of the clean budget', () => {
    expect(cleanDeadline(clock, 70_000, 30)).toBe(80_000);
    expect(cutByBudget(clock, 70_000, 30)).toBe(true);
  });

  it('never ends a clean phase before it began, even when the budget is spent', () => {
    expect(cleanDeadline(clock, 90_000, 30)).toBe(90_000);
  });

  it('treats a negative reserve or timeout as zero', () => {
    expect(cleanCutoff({ deadlineAt: 5_000, hardReserveMs: -1 })).toBe(5_000);
    expect(cleanDeadline(clock, 1_000, -5)).toBe(1_000);
  });

  it('counts whole seconds left, never negative', () => {
    expect(secondsLeft(10_500, 0)).toBe(11);
    expect(secondsLeft(0, 5_000)).toBe(0);
  });

  it('bounds a boot step by the guest timeout from its turn', () => {
    expect(bootDeadline(1_000, 2.5)).toBe(3_500);
  });
});
