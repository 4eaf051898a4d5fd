// The packaged executable's runtime (Bun) counts process.hrtime from its own start; the daemon's
// stored deadlines need the boot's clock. The anchor is checked here against a given uptime, and
// against the real /proc/uptime: after anchoring, the clock reads the time since boot.

import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { anchorMonotonicClockToBoot } from '../../../src/app/boot-clock.js';
import { calibrateMonotonic, monotonicNow } from '../../../src/core/clock.js';

const procUptimeMs = () => Number.parseFloat(readFileSync('/proc/uptime', 'utf8').split(' ')[0]!) * 1000;

afterEach(() => calibrateMonotonic(0));

describe('anchoring the monotonic clock to the boot', () => {
  it('leaves a runtime that already reads CLOCK_MONOTONIC alone (Node)', () => {
    expect(anchorMonotonicClockToBoot()).toBe(0);
    expect(Math.abs(monotonicNow() - procUptimeMs())).toBeLessThan(5_000);
  });

  it('moves a process-relative reading onto the time since boot', () => {
    // Pretend the boot is 10 hours older than this runtime's reading says.
    const bootSeconds = (monotonicNow() + 36_000_000) / 1000;
    const offset = anchorMonotonicClockToBoot(() => `${bootSeconds.toFixed(2)} 123.45\n`);
    expect(offset).toBeGreaterThan(35_990_000);
    expect(Math.abs(monotonicNow() - bootSeconds * 1000)).toBeLessThan(1_000);
  });

  it('does nothing when uptime cannot be read', () => {
    expect(anchorMonotonicClockToBoot(() => { throw new Error('no /proc'); })).toBe(0);
    expect(anchorMonotonicClockToBoot(() => 'garbage')).toBe(0);
  });
});
