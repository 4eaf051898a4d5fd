// The boot-journal decision (src/daemon/boot-journal.ts, review A9): a journalled guest found Halted
// counts as "started, then shut down since" when its start_time (xapi's wall clock, whole seconds)
// is after the journal line — on the wall clock or on this boot's monotonic clock, so that a clock
// step between the line and the start cannot make a guest an admin shut down look never started.
// Clocks here are fixed readings: the decision is pure.

import { describe, expect, it } from 'vitest';
import type { Clock } from '../../../src/core/clock.js';
import { startedAfterJournalLine } from '../../../src/daemon/boot-journal.js';

const HOUR = 3_600_000;
const at = (iso: string) => Date.parse(iso);
/** A clock that reads `wall` (ISO) on the wall clock and `mono` ms on the monotonic one. */
const reading = (wall: string, mono: number): Clock => ({ wallNow: () => at(wall), now: () => mono });

describe('startedAfterJournalLine', () => {
  // Journalled at 10:00:00.400 (wall), 50 000 ms into the boot.
  const line = { at: '2026-11-29T10:00:00.400Z', monotonicMs: 50_000 };

  it('no clock step: a start in or after the line\'s second counts; an earlier start or none does not', () => {
    const now = reading('2026-11-29T10:05:00.000Z', 50_000 + 299_600);
    expect(startedAfterJournalLine(line, new Date('2026-11-29T10:00:00Z'), now)).toBe(true);
    expect(startedAfterJournalLine(line, new Date('2026-11-29T10:00:03Z'), now)).toBe(true);
    expect(startedAfterJournalLine(line, new Date('2026-11-28T09:00:00Z'), now)).toBe(false);
    expect(startedAfterJournalLine(line, new Date('2026-11-29T09:59:58Z'), now)).toBe(false);
    expect(startedAfterJournalLine(line, null, now)).toBe(false);
  });

  it('clock stepped −1 h between the line and the start: the start still counts (row K7)', () => {
    // The start happened 3 s after the line, stamped on the stepped clock: 09:00:03.
    const start = new Date('2026-11-29T09:00:03Z');
    const now = reading('2026-11-29T09:05:00.000Z', 50_000 + 299_600);
    expect(start.getTime()).toBeLessThan(at(line.at));
    expect(startedAfterJournalLine(line, start, now)).toBe(true);
    // A line of an older version (no monotonic instant) has only the wall reading, which the step fools.
    expect(startedAfterJournalLine({ at: line.at }, start, now)).toBe(false);
  });

  it('clock stepped +1 h between the start and now: the wall reading still counts it', () => {
    const now = reading('2026-11-29T11:05:00.000Z', 50_000 + 299_600);
    expect(startedAfterJournalLine(line, new Date('2026-11-29T10:00:03Z'), now)).toBe(true);
  });

  it('a guest never sent stays "not started" across a step either way', () => {
    const lastRun = new Date('2026-11-28T22:00:00Z');
    for (const shift of [-HOUR, 0, HOUR]) {
      const now = reading(new Date(at('2026-11-29T10:05:00.000Z') + shift).toISOString(), 50_000 + 299_600);
      expect(startedAfterJournalLine(line, lastRun, now), `step ${shift / HOUR} h`).toBe(false);
    }
  });

  describe('a line that records the start time read just before the start was sent', () => {
    const lastRun = '2026-11-29T09:58:00.000Z';
    const withBefore = { ...line, startTimeBefore: lastRun };

    it('review 2 counter-example: last start 2 min before the line, never sent, clock stepped −1 h after the line: not started', () => {
      const now = reading('2026-11-29T09:05:00.000Z', 349_600);
      // The clocks alone are fooled by this case (the earlier start projects past the line) ...
      expect(startedAfterJournalLine(line, new Date(lastRun), now)).toBe(true);
      // ... the recorded start time is not: it has not changed, so the start was never sent.
      expect(startedAfterJournalLine(withBefore, new Date(lastRun), now)).toBe(false);
    });

    it('a start since the line shows as a changed start time, whatever the clocks did', () => {
      for (const shift of [-HOUR, 0, HOUR]) {
        const now = reading(new Date(at('2026-11-29T10:05:00.000Z') + shift).toISOString(), 349_600);
        // Stamped on a clock stepped back an hour: older than the recorded value, still a new start.
        expect(startedAfterJournalLine(withBefore, new Date('2026-11-29T09:00:03Z'), now), `step ${shift / HOUR} h`).toBe(true);
        expect(startedAfterJournalLine(withBefore, new Date('2026-11-29T10:00:03Z'), now), `step ${shift / HOUR} h`).toBe(true);
        expect(startedAfterJournalLine(withBefore, new Date(lastRun), now), `step ${shift / HOUR} h`).toBe(false);
      }
    });

    it('a guest that had never run: started exactly when it now has a start time', () => {
      const never = { ...line, startTimeBefore: null };
      const now = reading('2026-11-29T09:05:00.000Z', 349_600);
      expect(startedAfterJournalLine(never, null, now)).toBe(false);
      expect(startedAfterJournalLine(never, new Date('2026-11-29T09:00:03Z'), now)).toBe(true);
    });
  });
});
