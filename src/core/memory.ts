// Host memory for the boot plan: guests are allotted the free memory in priority order (lower
// VM.order first, then name), and a guest that does not fit is skipped with the numbers — later,
// smaller guests may still fit, so one big guest does not block the rest of the plan.

import type { PlanEntry } from './types.js';

const MiB = 1024 * 1024;

/** Bytes as MiB, whole when whole, else to one decimal (so near misses still read differently). */
export function formatMiB(bytes: number): string {
  const mib = bytes / MiB;
  return `${Number.isInteger(mib) ? mib : mib.toFixed(1)} MiB`;
}

/**
 * Allot `freeMemory` bytes to `candidates`, which must already be in priority order, after
 * `inFlight` bytes that starts already sent are about to take. Returns the entries that do not
 * fit, each with the reason to show.
 */
export function allotMemory(candidates: readonly PlanEntry[], freeMemory: number, inFlight = 0): Map<PlanEntry, string> {
  const refused = new Map<PlanEntry, string>();
  const after = inFlight > 0 ? `starts still in flight (${formatMiB(inFlight)}) and ` : '';
  let left = Math.max(0, freeMemory - inFlight);
  for (const entry of candidates) {
    const need = entry.memoryRequired > 0 ? entry.memoryRequired : 0;
    if (need <= left) {
      left -= need;
      continue;
    }
    refused.set(
      entry,
      `not enough memory: needs ${formatMiB(need)}, only ${formatMiB(left)} of the host's ${formatMiB(freeMemory)} free is left after ${after}guests with priority (lower order, then name)`,
    );
  }
  return refused;
}
