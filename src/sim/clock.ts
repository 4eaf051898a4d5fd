// Simulated time: every guest duration and every xapi-internal timeout is given in simulated
// seconds and runs for seconds × timeScale of real time. Timers are tracked so that close() can
// cancel them all and the process exits promptly.

import { ApiError } from './errors.js';

export class Clock {
  readonly started = Date.now();
  private timers = new Set<NodeJS.Timeout>();

  constructor(readonly timeScale: number) {}

  /** Real milliseconds for a simulated duration in seconds. */
  ms(simSeconds: number): number {
    return Math.max(0, simSeconds * 1000 * this.timeScale);
  }

  /** Simulated seconds since start (real elapsed / scale). */
  simNow(): number {
    return (Date.now() - this.started) / 1000 / this.timeScale;
  }

  /** Runs fn after a simulated duration; returns a cancel function. */
  after(simSeconds: number, fn: () => void): () => void {
    return this.afterMs(this.ms(simSeconds), fn);
  }

  afterMs(ms: number, fn: () => void): () => void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
    return () => {
      clearTimeout(t);
      this.timers.delete(t);
    };
  }

  /** Sleeps a simulated duration; rejects with the signal's reason when aborted. */
  sleep(simSeconds: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const cancel = this.after(simSeconds, () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
      const onAbort = (): void => {
        cancel();
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  stopAll(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}

/** Waits until `check()` returns true, re-evaluated whenever `subscribe` fires; bounded by simSeconds. */
export function waitUntil(
  clock: Clock,
  subscribe: (wake: () => void) => () => void,
  check: () => boolean,
  simSeconds: number,
  signal: AbortSignal | undefined,
): Promise<boolean> {
  return new Promise((resolve, reject) => {
    if (check()) return resolve(true);
    if (signal?.aborted) return reject(signal.reason);
    let done = false;
    const finish = (ok: boolean | Error): void => {
      if (done) return;
      done = true;
      unsubscribe();
      cancelTimer();
      signal?.removeEventListener('abort', onAbort);
      if (ok instanceof Error) reject(ok);
      else resolve(ok);
    };
    const unsubscribe = subscribe(() => {
      if (check()) finish(true);
    });
    const cancelTimer = Number.isFinite(simSeconds) ? clock.after(simSeconds, () => finish(check())) : () => {};
    const onAbort = (): void => finish(signal!.reason instanceof Error ? signal!.reason : new ApiError('TASK_CANCELLED'));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
