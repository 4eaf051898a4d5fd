// The session layer: logs in once, prepends the session to every call, unwraps xapi's
// {Status, Value | ErrorDescription} envelope, and hides the toolstack's ordinary turbulence within
// each call's deadline: SESSION_INVALID → log in again and retry once; HOST_IS_SLAVE → follow to the
// master; refused connections, a missing socket and HOST_STILL_BOOTING → retry with backoff (a
// connection reset under a call too, but only when the call is safe to repeat: safe-to-repeat.ts).

import { setMaxListeners } from 'node:events';
import type { Logger } from '../log.js';
import { type BackoffPolicy, DEFAULT_BACKOFF, retry } from '../retry.js';
import { asLiveRef, asStruct } from './decode.js';
import { BAD_RESPONSE, CALL_TIMEOUT, CLIENT_CLOSED, UNREACHABLE, XenApiError, failureFromDescription, isXenApiError, preview } from './errors.js';
import { type OnProtocolChosen, type Protocol, type Transport, type TlsSettings, type WireProtocol, parseEndpoint, redirectEndpoint, transportFor } from './transport.js';
import { monotonicNow } from '../core/clock.js';
import { mayResendAfter } from './safe-to-repeat.js';

export interface SessionOptions extends TlsSettings {
  url: string;
  user: string;
  password: string;
  /** Deadline of one call, including its retries, ms. */
  callTimeoutMs: number;
  /** Shown by xapi in the session record and in its logs. */
  originator: string;
  /** Wire protocol, or 'auto' (the default): JSON-RPC when the host answers it, else XML-RPC. */
  protocol?: Protocol;
  backoff: BackoffPolicy;
  log: Logger;
}

export interface CallOptions {
  /** Overrides the default call deadline, ms. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /**
   * Retry refused connections / HOST_STILL_BOOTING within the deadline (default true). A connection
   * reset under the call is retried only for a call safe to repeat (safe-to-repeat.ts).
   */
  retryUnavailable?: boolean;
}

export interface SessionCaller {
  /** Where calls go right now (changes after a HOST_IS_SLAVE redirect). */
  readonly label: string;
  /** The protocol calls go in; null while `auto` has not heard the host yet. */
  readonly wireProtocol: WireProtocol | null;
  /** Increments on every successful login: a consumer that cached anything per session resyncs. */
  readonly epoch: number;
  call(opts: CallOptions, method: string, params: unknown[]): Promise<unknown>;
  /** Calls that take no session: system.listMethods, and a simulator's sim.* controls. */
  callWithoutSession(opts: CallOptions, method: string, params: unknown[]): Promise<unknown>;
  /** Logs in now if there is no session (waitUntilReady uses this to probe). */
  ensureSession(opts?: CallOptions): Promise<string>;
  /** Logs out (best effort, bounded) and closes connections; later calls fail with XENAPI_CLIENT_CLOSED. */
  close(): Promise<void>;
}

/** Codes meaning "the toolstack is not there yet": worth retrying with backoff. */
const UNAVAILABLE_ERRNOS = new Set(['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE', 'ECONNABORTED', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EAI_AGAIN']);

export function isUnavailable(err: unknown): boolean {
  if (!isXenApiError(err)) return false;
  if (err.code === 'HOST_STILL_BOOTING') return true;
  return err.code === UNREACHABLE && UNAVAILABLE_ERRNOS.has(err.params[1] ?? '');
}

const MAX_REDIRECTS = 3;
const LOGIN = 'session.login_with_password';

/** Unwraps the XenAPI envelope; system.listMethods is the one call answered bare. */
export function unwrapEnvelope(method: string, raw: unknown): unknown {
  if (method === 'system.listMethods') return raw;
  let envelope: Record<string, unknown>;
  try {
    envelope = asStruct({ call: method, path: '' }, raw);
  } catch {
    throw new XenApiError(BAD_RESPONSE, [method, `expected a {Status, Value} struct, got ${preview(raw)}`], method);
  }
  if (envelope['Status'] === 'Success') {
    if (!('Value' in envelope)) throw new XenApiError(BAD_RESPONSE, [method, 'Status Success without a Value'], method);
    return envelope['Value'];
  }
  if (envelope['Status'] === 'Failure') throw failureFromDescription(method, envelope['ErrorDescription']);
  throw new XenApiError(BAD_RESPONSE, [method, `Status is ${preview(envelope['Status'])}, expected Success or Failure`], method);
}

export function createSessionCaller(opts: SessionOptions): SessionCaller {
  const tlsSettings: TlsSettings = { caFile: opts.caFile, fingerprint: opts.fingerprint };
  const log = opts.log;
  // Said once per endpoint: which protocol `auto` found, and why.
  const onChosen: OnProtocolChosen = (protocol, why) => log.info({ endpoint: transport.label, protocol, why }, `XenAPI protocol: ${protocol} (${why})`);
  let transport: Transport = transportFor(parseEndpoint(opts.url), tlsSettings, opts.protocol, onChosen);
  let session: string | null = null;
  let loggingIn: Promise<string> | null = null;
  let epoch = 0;
  const closing = new AbortController();
  // Every call in flight listens for close; hundreds at once are normal, not a leak.
  setMaxListeners(0, closing.signal);

  function deadlineOf(o: CallOptions): number {
    return monotonicNow() + (o.timeoutMs ?? opts.callTimeoutMs);
  }

  function signalOf(o: CallOptions): AbortSignal {
    return o.signal ? AbortSignal.any([o.signal, closing.signal]) : closing.signal;
  }

  /** Time left before the deadline, or the error to raise now. */
  function remaining(method: string, deadline: number, total: number, last: unknown): number {
    const left = deadline - monotonicNow();
    if (left > 0) return left;
    if (last instanceof XenApiError) throw last;
    throw new XenApiError(CALL_TIMEOUT, [method, transport.label, String(total)], method,
      `${method}: no answer from ${transport.label} within ${total} ms (XENAPI_CALL_TIMEOUT)`);
  }

  function followMaster(err: XenApiError): void {
    const master = err.params[0] ?? '';
    const next = transportFor(redirectEndpoint(transport.endpoint, master), tlsSettings, opts.protocol, onChosen);
    log.warn({ from: transport.label, to: next.label }, 'XenAPI host is a pool member (HOST_IS_SLAVE); following to the master');
    transport.close();
    transport = next;
    session = null;
  }

  /**
   * One request with the retries every call shares: HOST_IS_SLAVE redirects and backoff while the
   * toolstack is unavailable. `params` is built per attempt so a fresh session can go in.
   */
  async function withRetries(o: CallOptions, method: string, attempt: () => Promise<unknown>, onFailure?: (err: XenApiError) => boolean): Promise<unknown> {
    const total = o.timeoutMs ?? opts.callTimeoutMs;
    const deadline = deadlineOf(o);
    const signal = signalOf(o);
    let redirects = 0;
    let last: unknown = null;
    try {
      return await retry(
        async () => {
          if (closing.signal.aborted) throw new XenApiError(CLIENT_CLOSED, [method], method);
          remaining(method, deadline, total, last);
          return attempt();
        },
        {
          ...opts.backoff,
          deadline,
          now: monotonicNow,
          signal,
          retryable: (err) => {
            if (!isXenApiError(err) || err.code === CLIENT_CLOSED) return false;
            if (onFailure?.(err)) return 'at-once';
            if (err.code === 'HOST_IS_SLAVE' && redirects < MAX_REDIRECTS) {
              redirects++;
              followMaster(err);
              return 'at-once';
            }
            if (!isUnavailable(err) || o.retryUnavailable === false) return false;
            // A connection dropped under the call may have carried it to xapi: only a call that is
            // safe to repeat goes again; any other fails, and its caller reads the state again.
            if (err.code === UNREACHABLE && !mayResendAfter(method, err.params[1] ?? '')) return false;
            last = err;
            return true;
          },
          onRetry: (err, _n, delayMs) => {
            const { code, params } = err as XenApiError;
            log.debug({ method, code, params, retryInMs: Math.round(delayMs) }, 'XenAPI unavailable; retrying');
          },
        },
      );
    } catch (err) {
      if (isXenApiError(err) && signal.aborted) throw new XenApiError(CLIENT_CLOSED, [method], method);
      throw err;
    }
  }

  async function request(o: CallOptions, method: string, params: unknown[], deadline: number): Promise<unknown> {
    const signal = signalOf(o);
    const timeoutMs = Math.max(1, deadline - monotonicNow());
    const started = monotonicNow();
    // Method names only: parameters can hold the password (login) and are not for the journal.
    try {
      const value = unwrapEnvelope(method, await transport.request(method, params, { timeoutMs, signal }));
      log.trace({ method, ms: monotonicNow() - started }, 'XenAPI call');
      return value;
    } catch (err) {
      const code = (err as XenApiError).code;
      // A call cut at its deadline is the one failure an operator must see even when it is retried.
      if (code === CALL_TIMEOUT) log.warn({ method, endpoint: transport.label, timeoutMs, code }, (err as Error).message);
      else log.trace({ method, ms: monotonicNow() - started, code }, 'XenAPI call failed');
      throw err;
    }
  }

  async function login(o: CallOptions): Promise<string> {
    const deadline = deadlineOf(o);
    // The password goes only into the request; never into a log line or an error.
    const ref = await withRetries(o, LOGIN, async () =>
      asLiveRef({ call: LOGIN, path: '' }, await request(o, LOGIN, [opts.user, opts.password, '1.0', opts.originator], deadline)),
    );
    epoch++;
    log.info({ endpoint: transport.label, user: opts.user }, 'XenAPI session opened');
    return ref as string;
  }

  function ensureSession(o: CallOptions = {}): Promise<string> {
    if (session) return Promise.resolve(session);
    if (!loggingIn) {
      loggingIn = login(o)
        .then((ref) => {
          session = ref;
          return ref;
        })
        .finally(() => {
          loggingIn = null;
        });
    }
    return loggingIn;
  }

  async function call(o: CallOptions, method: string, params: unknown[]): Promise<unknown> {
    const deadline = deadlineOf(o);
    let relogged = false;
    let used: string | null = null;
    return withRetries(
      o,
      method,
      async () => {
        used = await ensureSession({ ...o, timeoutMs: Math.max(1, deadline - monotonicNow()) });
        return request(o, method, [used, ...params], deadline);
      },
      (err) => {
        // One transparent re-login per call: xapi forgets every session when it restarts.
        if (err.code !== 'SESSION_INVALID' || relogged) return false;
        relogged = true;
        if (session === used) session = null;
        log.info({ method, endpoint: transport.label }, 'XenAPI session invalid (toolstack restarted?); logging in again');
        return true;
      },
    );
  }

  async function close(): Promise<void> {
    if (closing.signal.aborted) return;
    const current = session;
    session = null;
    if (current) {
      try {
        await transport.request('session.logout', [current], { timeoutMs: Math.min(opts.callTimeoutMs, 5_000) });
        log.debug({ endpoint: transport.label }, 'XenAPI session closed');
      } catch (err) {
        log.debug({ err: (err as Error).message }, 'XenAPI logout failed (ignored)');
      }
    }
    closing.abort();
    transport.close();
  }

  return {
    get label() {
      return transport.label;
    },
    get epoch() {
      return epoch;
    },
    get wireProtocol() {
      return transport.wireProtocol;
    },
    call,
    callWithoutSession: (o, method, params) => {
      const deadline = deadlineOf(o);
      return withRetries(o, method, () => request(o, method, params, deadline));
    },
    ensureSession,
    close,
  };
}
