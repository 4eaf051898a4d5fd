// The one retry helper: bounded by the caller's deadline on the caller's clock, abortable, jittered,
// retrying only what the caller (by default: the meaning `transient`) calls retryable. The clock and
// the pauses are the test's own, so nothing here depends on how fast the machine is.

import { describe, expect, it } from 'vitest';
import { ToolstackError } from '../../src/core/meanings.js';
import { backoffDelay, retry, sleep } from '../../src/retry.js';

/** A clock the pauses advance: retry's waits are recorded, never slept. */
function fakeTime(start = 1_000) {
  let t = start;
  const pauses: number[] = [];
  return {
    now: () => t,
    pause: async (ms: number) => {
      pauses.push(ms);
      t += ms;
    },
    pauses,
  };
}

const transient = () => new ToolstackError('transient', 'XL_TIMEOUT', ['xl create'], 'xl create timed out');
const refused = () => new ToolstackError('refused', 'XL_CREATE_FAILED', ['web', 'no memory']);

describe('retry', () => {
  it('asks again after transient failures and returns the first success', async () => {
    const time = fakeTime();
    let calls = 0;
    const value = await retry(
      async () => {
        if (++calls < 3) throw transient();
        return 'up';
      },
      { initialMs: 100, maxMs: 1_000, deadline: 100_000, now: time.now, pause: time.pause, random: () => 1 },
    );
    expect(value).toBe('up');
    expect(calls).toBe(3);
    expect(time.pauses).toEqual([100, 200]); // exponential; random()=1 is the top of the jitter band
  });

  it('does not retry a failure with another meaning, and throws it unchanged', async () => {
    const time = fakeTime();
    const err = refused();
    let calls = 0;
    await expect(retry(async () => {
      calls++;
      throw err;
    }, { initialMs: 100, maxMs: 1_000, deadline: 100_000, now: time.now, pause: time.pause })).rejects.toBe(err);
    expect(calls).toBe(1);
    expect(time.pauses).toEqual([]);
  });

  it('never waits past the deadline and starts no attempt at or after it', async () => {
    const time = fakeTime(0);
    let calls = 0;
    await expect(retry(async () => {
      calls++;
      throw transient();
    }, { initialMs: 400, maxMs: 400, deadline: 1_000, now: time.now, pause: time.pause, random: () => 1 })).rejects.toMatchObject({ code: 'XL_TIMEOUT' });
    // 0 → fail, wait 400; 400 → fail, wait 400; 800 → fail, wait cut to 200; at 1000 no attempt.
    expect(time.pauses).toEqual([400, 400, 200]);
    expect(calls).toBe(3);
  });

  it('stops at once when the signal aborts, throwing the last failure', async () => {
    const time = fakeTime();
    const ac = new AbortController();
    let calls = 0;
    await expect(retry(async () => {
      calls++;
      throw transient();
    }, {
      initialMs: 100, maxMs: 100, deadline: 100_000, now: time.now, signal: ac.signal,
      pause: async (ms) => {
        await time.pause(ms);
        ac.abort();
      },
    })).rejects.toMatchObject({ code: 'XL_TIMEOUT' });
    expect(calls).toBe(1);
  });

  it('asks again without waiting when the failure says where to ask instead (at-once)', async () => {
    const time = fakeTime();
    let calls = 0;
    const value = await retry(async () => {
      if (++calls === 1) throw refused();
      return calls;
    }, { initialMs: 100, maxMs: 100, deadline: 100_000, now: time.now, pause: time.pause, retryable: () => 'at-once' });
    expect(value).toBe(2);
    expect(time.pauses).toEqual([]);
  });

  it('spreads the delays: each within the upper half of its exponential step, capped', () => {
    const policy = { initialMs: 200, maxMs: 5_000 };
    expect(backoffDelay(policy, 0, () => 0)).toBe(100);
    expect(backoffDelay(policy, 0, () => 1)).toBe(200);
    expect(backoffDelay(policy, 3, () => 0.5)).toBe(1_200);
    expect(backoffDelay(policy, 50, () => 1)).toBe(5_000);
    expect(backoffDelay(policy, 50, () => 0)).toBe(2_500);
  });
});

describe('sleep', () => {
  it('ends early, without error, when its signal aborts', async () => {
    const ac = new AbortController();
    const slept = sleep(600_000, ac.signal);
    ac.abort();
    await expect(slept).resolves.toBeUndefined();
    await expect(sleep(600_000, AbortSignal.abort())).resolves.toBeUndefined();
  });
});
