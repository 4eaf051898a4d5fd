// What the two traces of bench/reaction-trace.ts share: one time base across the simulator's and
// the client's processes (epoch ms with fractions: the same machine's clock, read through each
// process's monotonic performance.now from its own origin), and GC pauses on it.

import { PerformanceObserver, performance } from 'node:perf_hooks';

export interface GcPause {
  /** Epoch ms. */
  at: number;
  ms: number;
}

export const epochNow = (): number => performance.timeOrigin + performance.now();

/** Records this process's GC pauses as they happen. */
export function watchGc(into: GcPause[]): PerformanceObserver {
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) into.push({ at: performance.timeOrigin + e.startTime, ms: e.duration });
  });
  observer.observe({ entryTypes: ['gc'] });
  return observer;
}
