// The monotonic clock every deadline runs on must be the boot's, shared by all processes: a daemon
// restarted in the middle of a host shutdown keeps the deadline the first one stored. Node's
// process.hrtime is CLOCK_MONOTONIC; Bun's starts near zero in every process. When the runtime's
// reading is far from the time since boot, move it onto the boot's clock once, at start.

import { readFileSync } from 'node:fs';
import { calibrateMonotonic, monotonicNow } from '../core/clock.js';

/** More apart than this, the runtime counts from its own start (the two agree within ms on Node). */
const SAME_CLOCK_WITHIN_MS = 5_000;

/** /proc/uptime's first field, seconds since boot in 10 ms steps (it also counts suspended time, which a Xen host does not do). */
function uptimeMs(read: () => string): number | null {
  try {
    const ms = Math.round(Number.parseFloat(read().split(' ')[0] ?? '') * 1000);
    return Number.isFinite(ms) ? ms : null;
  } catch {
    return null;
  }
}

/** Returns the offset applied (0 when the runtime already reads the boot's clock or uptime is unreadable). */
export function anchorMonotonicClockToBoot(read: () => string = () => readFileSync('/proc/uptime', 'utf8')): number {
  const boot = uptimeMs(read);
  if (boot === null) return 0;
  const offset = boot - monotonicNow();
  if (Math.abs(offset) <= SAME_CLOCK_WITHIN_MS) return 0;
  calibrateMonotonic(offset);
  return offset;
}
