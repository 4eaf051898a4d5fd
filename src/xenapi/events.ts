// One event.from loop per client: a cache of the records of the subscribed classes, kept current
// by events, and waiters that are re-checked whenever the cache changes — nobody polls.
//
// Sync: take a token first (event.inject on the pool), then read every class with get_all_records,
// then follow event.from from that token; changes made between the token and the reads come again
// as events, which is harmless because a later snapshot simply replaces an earlier one.
// Recovery: EVENTS_LOST, a token xapi refuses, SESSION_INVALID, a re-login, a reconnect, a malformed
// batch — all lead to a fresh full sync, after which every waiter re-checks its condition.
// Fresh reads: a caller about to wait on events (a plan it will run) reads the cache through
// current() instead of a whole-table read of its own, so one read serves both.

import { setMaxListeners } from 'node:events';
import type { Logger } from '../log.js';
import { type BackoffPolicy, retry } from '../retry.js';
import { asLiveRef, asString } from './decode.js';
import { CLIENT_CLOSED, XenApiError, isXenApiError } from './errors.js';
import { API_CLASS, type EventClass, type RecordTypes, type Ref, type UnreadableRecord, decodeAll, decodeEventBatch, decodeOrReport, isEventClass, logUnreadable } from './records.js';
import { type SessionCaller, isUnavailable } from './session.js';
import { XmlRpcDouble } from './transport.js';
import { monotonicNow, timerDelay } from '../core/clock.js';

export interface EventsOptions {
  caller: SessionCaller;
  classes: readonly EventClass[];
  /** event.from's own timeout, seconds; the call's deadline is this plus callTimeoutMs. */
  pollTimeoutS: number;
  callTimeoutMs: number;
  backoff: BackoffPolicy;
  log: Logger;
}

export interface CacheView {
  get<C extends EventClass>(cls: C, ref: Ref): RecordTypes[C] | undefined;
  all<C extends EventClass>(cls: C): ReadonlyMap<Ref, RecordTypes[C]>;
  find<C extends EventClass>(cls: C, predicate: (record: RecordTypes[C]) => boolean): RecordTypes[C] | undefined;
}

/** What a waiter's check can ask besides the cache. */
export interface WaitContext {
  /**
   * The object is known not to exist: it was deleted, or a full read that began after this wait
   * began did not contain it. (Merely "not seen yet" is not gone.)
   */
  gone(cls: EventClass, ref: Ref): boolean;
}

export type Change =
  | { kind: 'event'; class: EventClass; operation: 'add' | 'mod' | 'del'; ref: Ref }
  | { kind: 'resync' };

export interface WaitOptions {
  /** Absolute deadline, ms since epoch; none = until the condition holds or the client closes. */
  deadline?: number;
  signal?: AbortSignal;
}

export interface XenApiEvents extends CacheView {
  /** Starts the loop if needed; resolves once the first full read is in the cache. */
  ready(opts?: WaitOptions): Promise<void>;
  readonly synced: boolean;
  /**
   * Resolves once the cache is as fresh as a full read begun now: at once while the loop follows
   * events after a completed sync (on the same session); else — loop not started, failing, needing
   * or in a resync — when the next sync attempt ends and its first event.from is on its way, so the
   * caller's next action is heard of. Rejects with that attempt's failure, XENAPI_CALL_TIMEOUT at
   * the deadline, or the client's closing. Starts the loop.
   */
  current(opts?: WaitOptions): Promise<void>;
  /** The records of `cls` the last full read or a later event could not decode (until an event brings a readable one), with why. */
  unreadableOf(cls: EventClass): ReadonlyMap<Ref, UnreadableRecord>;
  /**
   * Resolves with the first non-undefined result of `check`, evaluated now and after every change
   * to the cache; 'timeout' at the deadline. Starts the loop if needed.
   */
  waitFor<T>(check: (view: CacheView, ctx: WaitContext) => T | undefined, opts?: WaitOptions): Promise<T | 'timeout'>;
  /** Drops an object this client itself deleted (task.destroy), so the cache need not wait for an event. */
  forget(cls: EventClass, ref: Ref): void;
  /** Called after each applied batch (and after each full read) with what changed. */
  subscribe(listener: (changes: Change[]) => void): () => void;
  /** Counters for tests and benchmarks. */
  readonly stats: { syncs: number; batches: number; events: number };
  stop(): Promise<void>;
}

interface Waiter {
  /** Value of resyncStarts when the wait began. */
  mark: number;
  evaluate(): void;
}

/** Codes after which the current token or session is of no use: resync at once. */
const RESYNC_AT_ONCE = new Set(['EVENTS_LOST', 'EVENT_FROM_TOKEN_PARSE_FAILURE', 'SESSION_INVALID']);
/** Deleted refs remembered for `gone` (a bound, not a cache: a waiter checks soon after). */
const DELETED_MEMORY = 10_000;
/**
 * An object created after the sync token and deleted before the next event.from never produces an
 * event (xapi coalesces add+del away), so it would linger in the cache. valid_ref_counts reveals
 * that; a mismatch triggers a resync, at most this often.
 */
const COUNT_RESYNC_MIN_INTERVAL_MS = 10_000;

export function createEvents(opts: EventsOptions): XenApiEvents {
  const { caller, log } = opts;
  const classes = [...new Set(opts.classes)];
  const cache = new Map<EventClass, Map<Ref, unknown>>(classes.map((c) => [c, new Map()]));
  /** Records the last full read or a later event left out (malformed), with why: xapi counts them, the cache does not hold them. */
  const unreadable = new Map<EventClass, Map<Ref, UnreadableRecord>>(classes.map((c) => [c, new Map()]));
  const deleted = new Set<string>();
  const waiters = new Set<Waiter>();
  const listeners = new Set<(changes: Change[]) => void>();
  const stopping = new AbortController();
  // Every waiter listens for stop; a thousand guests waited on at once is ordinary.
  setMaxListeners(0, stopping.signal);
  const stats = { syncs: 0, batches: 0, events: 0 };
  let resyncStarts = 0;
  let lastCompletedResyncStart = 0;
  let synced = false;
  let loop: Promise<void> | null = null;
  let poolRef: Ref | null = null;
  /** From a completed sync (and its first event.from sent) until the loop drops its token. */
  let following = false;
  /** The session epoch the loop follows on: after a re-login the events in between may be lost. */
  let followingEpoch = -1;
  /** Sync attempts that failed so far, and the last one's error: a current() caller fails with a later one. */
  const syncFailures = { count: 0, last: undefined as unknown };

  const view: CacheView = {
    get: (cls, ref) => cache.get(cls)?.get(ref) as never,
    all: (cls) => (cache.get(cls) ?? new Map()) as never,
    find: (cls, predicate) => {
      for (const record of cache.get(cls)?.values() ?? []) if (predicate(record as never)) return record as never;
      return undefined;
    },
  };

  function rememberDeleted(cls: EventClass, ref: Ref): void {
    const key = `${cls}/${ref}`;
    deleted.delete(key);
    deleted.add(key);
    if (deleted.size > DELETED_MEMORY) deleted.delete(deleted.values().next().value as string);
  }

  function notify(changes: Change[]): void {
    for (const listener of listeners) {
      try {
        listener(changes);
      } catch (err) {
        log.error({ err: (err as Error).message }, 'XenAPI event listener failed');
      }
    }
    evaluateWaiters();
  }

  function evaluateWaiters(): void {
    for (const waiter of [...waiters]) waiter.evaluate();
  }

  async function token(): Promise<string> {
    const signal = stopping.signal;
    if (!poolRef) {
      const pools = await caller.call({ signal }, 'pool.get_all', []);
      if (!Array.isArray(pools) || pools.length === 0) throw new XenApiError('XENAPI_BAD_RESPONSE', ['pool.get_all', 'no pool']);
      poolRef = asLiveRef({ call: 'pool.get_all', path: '[0]' }, pools[0]);
    }
    try {
      return asString({ call: 'event.inject', path: '' }, await caller.call({ signal }, 'event.inject', ['pool', poolRef]));
    } catch (err) {
      if (isXenApiError(err, 'HANDLE_INVALID')) poolRef = null;
      if (!isXenApiError(err, 'MESSAGE_METHOD_UNKNOWN')) throw err;
      // No event.inject: an event.from on the pool alone returns at once with a current token.
      const batch = decodeEventBatch('event.from', await caller.call({ signal }, 'event.from', [['pool'], '', new XmlRpcDouble(0)]));
      return batch.token;
    }
  }

  /**
   * Every record of `cls`: one get_all_records, or — when that call itself fails (xapi cannot
   * serialise one bad row, say) — get_all and one get_record per ref, so one broken record cannot
   * keep the cache, and every wait on it, from ever syncing.
   */
  async function readAllOf(cls: EventClass, onUnreadable: (bad: UnreadableRecord) => void): Promise<Map<Ref, RecordTypes[EventClass]>> {
    const signal = stopping.signal;
    const call = `${API_CLASS[cls]}.get_all_records`;
    try {
      return decodeAll(call, cls, await caller.call({ signal }, call, []), onUnreadable);
    } catch (err) {
      if (!(err instanceof XenApiError) || isUnavailable(err) || err.code === CLIENT_CLOSED) throw err;
      log.error({ class: cls, err: err.message }, `${call} failed; reading the records one by one`);
    }
    const out = new Map<Ref, RecordTypes[EventClass]>();
    const refs = await caller.call({ signal }, `${API_CLASS[cls]}.get_all`, []);
    for (const ref of Array.isArray(refs) ? refs : []) {
      if (typeof ref !== 'string') continue;
      let raw: unknown;
      try {
        raw = await caller.call({ signal }, `${API_CLASS[cls]}.get_record`, [ref]);
      } catch (err) {
        if (isXenApiError(err, 'HANDLE_INVALID')) continue;
        if (!(err instanceof XenApiError) || isUnavailable(err)) throw err;
        onUnreadable({ cls, ref, uuid: null, name: null, problem: `${API_CLASS[cls]}.get_record failed: ${err.message}` });
        continue;
      }
      const record = decodeOrReport(`${API_CLASS[cls]}.get_record`, cls, ref, raw, onUnreadable);
      if (record) out.set(ref, record);
    }
    return out;
  }

  async function resync(): Promise<string> {
    try {
      return await readEverything();
    } catch (err) {
      // A lost session or token is read again at once (the loop's retry): wait for that attempt.
      if (!RESYNC_AT_ONCE.has(isXenApiError(err) ? err.code : '')) {
        syncFailures.count++;
        syncFailures.last = err;
        evaluateWaiters();
      }
      throw err;
    }
  }

  async function readEverything(): Promise<string> {
    const started = ++resyncStarts;
    const from = await token();
    const fresh = new Map<EventClass, Map<Ref, unknown>>();
    const left = new Map<EventClass, Map<Ref, UnreadableRecord>>();
    for (const cls of classes) {
      const bad = new Map<Ref, UnreadableRecord>();
      const onUnreadable = (record: UnreadableRecord): void => {
        bad.set(record.ref, record);
        logUnreadable(log, record);
      };
      fresh.set(cls, (await readAllOf(cls, onUnreadable)) as Map<Ref, unknown>);
      left.set(cls, bad);
    }
    for (const [cls, bad] of left) unreadable.set(cls, bad);
    for (const cls of classes) {
      const old = cache.get(cls)!;
      const next = fresh.get(cls)!;
      for (const ref of old.keys()) if (!next.has(ref)) rememberDeleted(cls, ref);
      cache.set(cls, next);
    }
    lastCompletedResyncStart = started;
    mismatchedBefore = new Set();
    stats.syncs++;
    synced = true;
    log.debug({ classes, counts: Object.fromEntries(classes.map((c) => [c, cache.get(c)!.size])) }, 'XenAPI event cache synced');
    notify([{ kind: 'resync' }]);
    return from;
  }

  let lastCountResync = -Infinity; // never: monotonic time starts near 0 at boot
  let mismatchedBefore = new Set<EventClass>();

  /**
   * A snapshot that does not decode is handled as a full read handles such a record: what the cache
   * held before is dropped (it is stale, and a plan must not be made from it), and the ref is kept
   * with its problem among the unreadable, so readers report it and valid_ref_counts (cache +
   * unreadable) still agrees. One bad record never stops the events of every other object.
   */
  function markUnreadable(records: Map<Ref, unknown>, bad: UnreadableRecord): void {
    records.delete(bad.ref);
    unreadable.get(bad.cls)!.set(bad.ref, bad);
    logUnreadable(log, bad);
  }

  /** The next token, or null when the cache disagrees with xapi's row counts and needs a full read. */
  function apply(batchValue: unknown): string | null {
    const batch = decodeEventBatch('event.from', batchValue);
    const changes: Change[] = [];
    for (const ev of batch.events) {
      if (!isEventClass(ev.class) || !cache.has(ev.class)) continue;
      const records = cache.get(ev.class)!;
      if (ev.operation === 'del') {
        records.delete(ev.ref);
        unreadable.get(ev.class)?.delete(ev.ref);
        rememberDeleted(ev.class, ev.ref);
      } else {
        const record = decodeOrReport('event.from', ev.class, ev.ref, ev.snapshot, (bad) => markUnreadable(records, bad));
        if (record) {
          records.set(ev.ref, record);
          unreadable.get(ev.class)!.delete(ev.ref);
        }
      }
      changes.push({ kind: 'event', class: ev.class, operation: ev.operation, ref: ev.ref });
    }
    stats.batches++;
    stats.events += batch.events.length;
    if (changes.length) notify(changes);
    // A single mismatch can be a race with our own forget(); one that survives a second batch is real.
    const mismatched = classes.filter((c) => batch.validRefCounts[c] !== undefined && batch.validRefCounts[c] !== cache.get(c)!.size + unreadable.get(c)!.size);
    const stale = mismatched.filter((c) => mismatchedBefore.has(c));
    mismatchedBefore = new Set(mismatched);
    if (stale.length && monotonicNow() - lastCountResync >= COUNT_RESYNC_MIN_INTERVAL_MS) {
      lastCountResync = monotonicNow();
      log.debug({ classes: stale }, 'XenAPI event cache disagrees with valid_ref_counts; resyncing');
      return null;
    }
    return batch.token;
  }

  async function run(): Promise<void> {
    let from: string | null = null;
    let epoch = -1;
    /** One event.from poll, after a full read when there is no token (first run, new session, a failure). */
    const poll = async (): Promise<void> => {
      const syncing = from === null || epoch !== caller.epoch;
      if (syncing) {
        following = false;
        from = await resync();
        epoch = caller.epoch;
      }
      const answer = caller.call(
        { signal: stopping.signal, timeoutMs: opts.pollTimeoutS * 1000 + opts.callTimeoutMs },
        'event.from',
        [classes, from, new XmlRpcDouble(opts.pollTimeoutS)],
      );
      if (syncing) {
        // The poll is on its way: what a current() caller does next is heard of by it.
        following = true;
        followingEpoch = epoch;
        evaluateWaiters();
      }
      const value = await answer;
      // Logged in again meanwhile: whatever happened in between is read afresh.
      from = caller.epoch !== epoch ? null : apply(value);
      if (from === null) following = false;
    };
    while (!stopping.signal.aborted) {
      // One retry run per poll: a poll that works ends the backoff of the failures before it.
      let failures = 0;
      await retry(poll, {
        ...opts.backoff,
        deadline: Infinity,
        now: monotonicNow,
        signal: stopping.signal,
        retryable: (err) => {
          from = null;
          following = false;
          const code = isXenApiError(err) ? err.code : '';
          if (!RESYNC_AT_ONCE.has(code)) return true;
          log.info({ code }, 'XenAPI events need a full resync');
          return 'at-once';
        },
        onRetry: (err, _n, delayMs) => {
          const fields = { err: (err as Error).message, retryInMs: Math.round(delayMs) };
          if (++failures === 1) log.warn(fields, 'XenAPI event loop failed; resyncing');
          else log.debug(fields, 'XenAPI event loop still failing');
        },
      }).catch(() => undefined); // fails only once stopping: the loop ends
    }
  }

  function start(): void {
    if (loop || stopping.signal.aborted) return;
    loop = run().catch((err) => log.error({ err: (err as Error).message }, 'XenAPI event loop ended'));
  }

  function closedError(): XenApiError {
    return new XenApiError(CLIENT_CLOSED, ['event.from'], 'event.from');
  }

  async function current(wopts: WaitOptions = {}): Promise<void> {
    const failuresBefore = syncFailures.count;
    const result = await wait(() => {
      if (syncFailures.count > failuresBefore) throw syncFailures.last;
      return following && followingEpoch === caller.epoch ? true : undefined;
    }, wopts, true);
    if (result === 'timeout') throw new XenApiError('XENAPI_CALL_TIMEOUT', ['event.from', caller.label, 'sync'], 'event.from', `no event sync from ${caller.label} before the deadline`);
  }

  function waitFor<T>(check: (v: CacheView, ctx: WaitContext) => T | undefined, wopts: WaitOptions = {}): Promise<T | 'timeout'> {
    return wait(check, wopts, false);
  }

  /** `beforeSync`: evaluate the check before the first sync too (it does not read the cache). */
  function wait<T>(check: (v: CacheView, ctx: WaitContext) => T | undefined, wopts: WaitOptions, beforeSync: boolean): Promise<T | 'timeout'> {
    start();
    // A dependent signal: the caller's own signal gets no listener per wait (it may be shared by many).
    const callerSignal = wopts.signal ? AbortSignal.any([wopts.signal]) : undefined;
    return new Promise<T | 'timeout'>((resolve, reject) => {
      if (stopping.signal.aborted) return reject(closedError());
      let timer: NodeJS.Timeout | undefined;
      const waiter: Waiter = {
        mark: resyncStarts,
        evaluate: () => {
          if (!synced && !beforeSync) return;
          let result: T | undefined;
          try {
            result = check(view, ctx);
          } catch (err) {
            return finish(() => reject(err));
          }
          if (result !== undefined) finish(() => resolve(result as T));
        },
      };
      const ctx: WaitContext = {
        gone: (cls, ref) =>
          !cache.get(cls)?.has(ref) && (deleted.has(`${cls}/${ref}`) || lastCompletedResyncStart > waiter.mark),
      };
      const onAbort = () => finish(() => reject(callerSignal?.aborted ? (callerSignal.reason ?? new Error('aborted')) : closedError()));
      const finish = (settle: () => void) => {
        if (!waiters.delete(waiter)) return;
        clearTimeout(timer);
        callerSignal?.removeEventListener('abort', onAbort);
        stopping.signal.removeEventListener('abort', onAbort);
        settle();
      };
      waiters.add(waiter);
      if (wopts.deadline !== undefined) {
        timer = setTimeout(() => finish(() => resolve('timeout')), timerDelay(wopts.deadline - monotonicNow()));
      }
      callerSignal?.addEventListener('abort', onAbort, { once: true });
      stopping.signal.addEventListener('abort', onAbort, { once: true });
      if (callerSignal?.aborted) return onAbort();
      waiter.evaluate();
    });
  }

  return {
    ...view,
    get synced() {
      return synced;
    },
    stats,
    async ready(wopts = {}) {
      const result = await waitFor(() => true, wopts);
      if (result === 'timeout') throw new XenApiError('XENAPI_CALL_TIMEOUT', ['event.from', caller.label, 'first sync'], 'event.from', `no first event sync from ${caller.label} before the deadline`);
    },
    current,
    unreadableOf: (cls) => unreadable.get(cls) ?? new Map(),
    waitFor,
    forget(cls, ref) {
      if (cache.get(cls)?.delete(ref)) {
        rememberDeleted(cls, ref);
        notify([{ kind: 'event', class: cls, operation: 'del', ref }]);
      }
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async stop() {
      stopping.abort();
      await loop;
    },
  };
}
