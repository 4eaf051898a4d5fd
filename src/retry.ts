// The product's one retry helper and its one sleep. Every loop that asks the toolstack again after a
// failure goes through `retry`: the waits grow exponentially with jitter (so a hundred guests that
// failed together do not ask again in lockstep), never run past the caller's deadline, end at once
// when the caller's signal aborts, and only failures the caller calls retryable are retried — by
// default those a backend gave the meaning `transient`.
//
// Deadlines are plain numbers on the caller's own clock, read through `now()`: the helper never
// reads a clock itself, so a monotonic clock passed in keeps every wait safe from clock steps.

import { isTransient } from './core/meanings.js';
import { timerDelay } from './core/clock.js';

export interface BackoffPolicy {
  /** First delay, ms. */
  initialMs: number;
  /** Upper bound of one delay, ms. */
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 200, maxMs: 5_000 };

/**
 * The delay before retry number `attempt` (0-based): initial·2^attempt capped at max, of which the
 * upper half is random ("equal jitter": never less than half the step, never more than it).
 */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const step = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(attempt, 30));
  return step / 2 + random() * (step / 2);
}

export type Verdict = boolean | 'at-once';

export interface RetryOptions extends BackoffPolicy {
  /** No attempt starts at or after this time (on `now`'s clock); Infinity for none. */
  deadline: number;
  now: () => number;
  /** Aborted: no further attempt; the last failure is thrown. */
  signal?: AbortSignal;
  /**
   * Whether a failure is worth another attempt; default: its meaning is `transient`. 'at-once' asks
   * again without waiting (the failure told where to ask instead, e.g. a redirect): no backoff step.
   */
  retryable?: (err: unknown, attempt: number) => Verdict | Promise<Verdict>;
  /** Told before each wait (for a log line or a status). */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  /**
   * How the wait between attempts is spent; default `sleep`. A caller that can tell early that asking
   * again is pointless (the guest halted meanwhile) waits on that event instead and aborts its signal.
   */
  pause?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
}

/** Run `attempt` until it succeeds, a failure is not retryable, the deadline passes or `signal` aborts. */
export async function retry<T>(attempt: (n: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  const retryable = opts.retryable ?? isTransient;
  const pause = opts.pause ?? sleep;
  let waits = 0;
  for (let n = 0; ; n++) {
    try {
      return await attempt(n);
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      const verdict = await retryable(err, n);
      if (!verdict) throw err;
      const left = opts.deadline - opts.now();
      if (left <= 0) throw err;
      if (verdict === 'at-once') continue;
      const delay = Math.min(backoffDelay(opts, waits++, opts.random), left);
      opts.onRetry?.(err, n, delay);
      await pause(delay, opts.signal);
      if (opts.signal?.aborted || opts.now() >= opts.deadline) throw err;
    }
  }
}

/** Resolves after `ms`, or early (without error) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, timerDelay(ms));
    signal?.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}
