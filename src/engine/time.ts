// Bounds for every wait the engine makes. A backend should honour the deadlines it is given; these
// helpers make sure the engine ends on time even when one does not.

import { systemClock, timerDelay, wallIso, type Clock } from '../core/clock.js';

/** A wait the engine itself cut at its deadline. */
export class EngineTimeout extends Error {
  constructor(
    readonly what: string,
    readonly afterMs: number,
  ) {
    super(`${what}: no answer within ${formatSeconds(afterMs)} s`);
    this.name = 'EngineTimeout';
  }
}

/** Resolve or reject with `work`, or reject with EngineTimeout at `deadline` (monotonic ms on `now`'s clock). */
export function bounded<T>(work: Promise<T>, deadline: number, what: string, now: () => number): Promise<T> {
  const waitMs = Math.max(0, deadline - now());
  let timer: NodeJS.Timeout | undefined;
  const cut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new EngineTimeout(what, waitMs)), timerDelay(waitMs));
  });
  // The losing promise may still settle later; keep its rejection from becoming unhandled.
  work.catch(() => undefined);
  return Promise.race([work, cut]).finally(() => clearTimeout(timer));
}

/** The product's one abortable sleep lives with the retry helper. */
export { sleep } from '../retry.js';

export function formatSeconds(ms: number): string {
  const s = ms / 1000;
  return Number.isInteger(s) || s >= 10 ? String(Math.round(s)) : s.toFixed(1);
}

/** Wall-clock ISO text (for people) of an instant on the engine's monotonic clock. */
export function iso(monotonicMs: number, clock: Clock = systemClock): string {
  return wallIso(monotonicMs, clock);
}

/** A promise that resolves 'aborted' when `signal` aborts (never, without a signal); dispose when done. */
export function whenAborted(signal?: AbortSignal): { promise: Promise<'aborted'>; dispose: () => void } {
  if (!signal) return { promise: new Promise(() => undefined), dispose: () => undefined };
  let onAbort = (): void => undefined;
  const promise = new Promise<'aborted'>((resolve) => {
    onAbort = () => resolve('aborted');
    if (signal.aborted) resolve('aborted');
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  return { promise, dispose: () => signal.removeEventListener('abort', onAbort) };
}

/**
 * The reason given when the engine stops watching because the wait is decided. A ready-made reason:
 * abort() without one builds a DOMException with a stack trace, per guest and per wait.
 */
export const WAIT_DECIDED = Object.freeze(Object.assign(new Error('wait decided'), { name: 'WaitDecided' }));
