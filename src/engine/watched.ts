// A toolstack operation with the guest watched by events meanwhile. The guest's own record is the
// ground truth: the target state reached means done, even before the task's answer arrives; the
// operation seen in flight and then gone while the guest did not change, with no answer from the
// task soon after, was lost (a toolstack restart drops operations). So a backend that misses a
// lost task cannot hold a guest until its deadline.

import { ToolstackError, type Guest, type Toolstack } from '../toolstack/types.js';
import { WAIT_DECIDED, bounded, sleep } from './time.js';

/** How long an operation that vanished from the guest's operations may take to give its answer. */
const LOST_GRACE_MS = 2_000;
/** Extra time past a deadline given to the backend so its own error (with its code) wins the race. */
export const BACKEND_GRACE_MS = 250;
/**
 * How long past the deadline an operation's answer is still awaited. A busy client sees a task's end
 * late; the backend then asks the toolstack once, and that answer must not be cut by our own timer.
 */
const LATE_ANSWER_MS = 5_000;

export interface WatchedOperation<T = void> {
  /** What the backend is asked to do, e.g. toolstack.start(g, { deadline }). */
  run: () => Promise<T>;
  /** The operation's names in currentOperations (e.g. start, start_on). */
  inFlight: (g: Guest) => boolean;
  /** The guest reached the state the operation is for. */
  reached: (g: Guest) => boolean;
  /** For messages: 'start', 'hard shutdown'. */
  method: string;
  /** The answer matters even once the state is reached (it tells who reached it): wait a moment for it. */
  awaitAnswer?: boolean;
}

/**
 * Resolves when the operation is done, with the backend's answer when it came (undefined when the
 * guest's record showed the state first and no answer followed within a short grace); rejects with
 * its error, or a transient OPERATION_LOST when it vanished unanswered.
 */
export async function runWatched<T>(toolstack: Toolstack, g: Guest, op: WatchedOperation<T>, deadline: number, now: () => number): Promise<T | undefined> {
  const answered = bounded(op.run(), deadline + LATE_ANSWER_MS, op.method, now);
  const stopWatching = new AbortController();
  let sawInFlight = false;
  const seen = toolstack
    .waitFor(
      g.uuid,
      (x) => {
        if (op.inFlight(x)) sawInFlight = true;
        else if (op.reached(x) || sawInFlight) return true;
        return false;
      },
      { deadline, signal: stopWatching.signal },
    )
    .catch(() => 'timeout' as const);
  const answer = answered.then((value) => ({ value }));
  try {
    const first = await Promise.race([answer, seen]);
    if (typeof first === 'object' && 'value' in first) return first.value;
    if (first === 'timeout' || first === 'gone') return await answered;
    if (op.reached(first) && !op.awaitAnswer) return undefined;
    // The answer may still say how the state was reached (e.g. the guest was halted already), so give it a moment.
    const grace = sleep(Math.min(LOST_GRACE_MS, Math.max(0, deadline - now()))).then(() => 'silent' as const);
    const late = await Promise.race([answer.catch(() => 'silent' as const), grace]);
    if (late !== 'silent') return late.value;
    if (op.reached(first)) return undefined;
    // Gone from the operations without the state changing: a failing task answers at once; a lost one never does.
    throw new ToolstackError('transient', 'OPERATION_LOST', [g.ref, op.method], `${g.name}: ${op.method} vanished without an answer and without effect`);
  } finally {
    stopWatching.abort(WAIT_DECIDED);
  }
}
