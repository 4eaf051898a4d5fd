// The XenAPI client: sessions, typed calls, the shared event loop and Async tasks behind one
// object. It knows XenAPI, nothing about what its caller does with it.

import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { type BackoffPolicy, DEFAULT_BACKOFF } from '../retry.js';
import { CLIENT_CLOSED, XenApiError, badParameter } from './errors.js';
import { type XenApiEvents, createEvents } from './events.js';
import { type EventClass, type RecordTypes, type Ref, type UnreadableRecord, decodeAll, decodeOne, logUnreadable, API_CLASS } from './records.js';
import { type CallOptions, createSessionCaller } from './session.js';
import type { Protocol, WireProtocol } from './transport.js';
import { type AsyncCall, type AsyncCallOptions, createTaskRunner } from './tasks.js';

export interface XenApiClientOptions {
  /** 'unix:/var/lib/xcp/xapi' (also 'unix:' for the default), 'https://host[:port]', or 'http://127.0.0.1:port'. */
  url: string;
  user?: string;
  password?: string;
  /** PEM CA bundle for a self-signed host (instead of the system CAs). */
  caFile?: string;
  /** Pinned SHA-256 fingerprint of the host certificate (instead of CA verification). */
  fingerprint?: string;
  /** Deadline of one call including its retries, ms (default 60 s). */
  callTimeoutMs?: number;
  originator?: string;
  /** 'auto' (default: JSON-RPC when the host answers /jsonrpc, else XML-RPC), 'xml-rpc' or 'json-rpc'. */
  protocol?: Protocol;
  /** Classes the event loop follows (default VM, guest metrics, VM metrics, task). */
  eventClasses?: readonly EventClass[];
  /** event.from's timeout, seconds (default 30). */
  eventTimeoutS?: number;
  backoff?: BackoffPolicy;
  log?: Logger;
}

export interface XenApiClient {
  /** Where calls go (after any HOST_IS_SLAVE redirect). */
  readonly endpoint: string;
  /** The protocol calls go in; null while `auto` has not heard the host yet. */
  readonly wireProtocol: WireProtocol | null;
  /** Calls `method` with the session prepended; resolves with the unwrapped Value. */
  call(method: string, ...params: unknown[]): Promise<unknown>;
  callWith(opts: CallOptions, method: string, ...params: unknown[]): Promise<unknown>;
  /** system.listMethods and other session-less calls. */
  callWithoutSession(opts: CallOptions, method: string, ...params: unknown[]): Promise<unknown>;
  /**
   * `<Class>.get_all_records`, decoded record by record: one that does not decode is logged (ref and
   * field), handed to `onUnreadable` when given, and left out; the others are returned.
   */
  getAllRecords<C extends EventClass>(cls: C, opts?: CallOptions & { onUnreadable?: (record: UnreadableRecord) => void }): Promise<Map<Ref, RecordTypes[C]>>;
  /** `<Class>.get_record`, decoded. */
  getRecord<C extends EventClass>(cls: C, ref: Ref, opts?: CallOptions): Promise<RecordTypes[C]>;
  /** `Async.<method>`; resolves once the task exists. */
  callAsync(method: string, ...params: unknown[]): Promise<AsyncCall>;
  callAsyncWith(opts: AsyncCallOptions, method: string, ...params: unknown[]): Promise<AsyncCall>;
  /** Logs in now unless already logged in (probing readiness). */
  connect(opts?: CallOptions): Promise<void>;
  readonly events: XenApiEvents;
  /** Stops the event loop, lets task.destroy calls finish, logs out. */
  close(): Promise<void>;
}

export function createXenApiClient(options: XenApiClientOptions): XenApiClient {
  const log = options.log ?? silentLogger();
  const callTimeoutMs = options.callTimeoutMs ?? 60_000;
  if (!(Number.isFinite(callTimeoutMs) && callTimeoutMs > 0)) {
    throw badParameter('callTimeoutMs', `XenAPI call timeout ${callTimeoutMs} ms: must be a number of milliseconds > 0`);
  }
  const eventTimeoutS = options.eventTimeoutS ?? 30;
  if (!(Number.isFinite(eventTimeoutS) && eventTimeoutS > 0)) {
    throw badParameter('eventTimeoutS', `event.from timeout ${eventTimeoutS} s: must be a number of seconds > 0`);
  }
  const backoff = options.backoff ?? DEFAULT_BACKOFF;
  const caller = createSessionCaller({
    url: options.url,
    user: options.user ?? 'root',
    password: options.password ?? '',
    caFile: options.caFile,
    fingerprint: options.fingerprint,
    callTimeoutMs,
    originator: options.originator ?? 'xen-guests',
    protocol: options.protocol,
    backoff,
    log,
  });
  const events = createEvents({
    caller,
    classes: options.eventClasses ?? ['vm', 'vm_guest_metrics', 'vm_metrics', 'task'],
    pollTimeoutS: eventTimeoutS,
    callTimeoutMs,
    backoff,
    log,
  });
  const tasks = createTaskRunner(caller, events, log);
  let closed: Promise<void> | null = null;

  const guard = (method: string) => {
    if (closed) throw new XenApiError(CLIENT_CLOSED, [method], method);
  };

  return {
    get endpoint() {
      return caller.label;
    },
    get wireProtocol() {
      return caller.wireProtocol;
    },
    async call(method, ...params) {
      guard(method);
      return caller.call({}, method, params);
    },
    async callWith(opts, method, ...params) {
      guard(method);
      return caller.call(opts, method, params);
    },
    async callWithoutSession(opts, method, ...params) {
      guard(method);
      return caller.callWithoutSession(opts, method, params);
    },
    async getAllRecords(cls, opts = {}) {
      const method = `${API_CLASS[cls]}.get_all_records`;
      guard(method);
      return decodeAll(method, cls, await caller.call(opts, method, []), (bad) => {
        logUnreadable(log, bad);
        opts.onUnreadable?.(bad);
      });
    },
    async getRecord(cls, ref, opts = {}) {
      const method = `${API_CLASS[cls]}.get_record`;
      guard(method);
      return decodeOne(method, cls, ref, await caller.call(opts, method, [ref]));
    },
    async callAsync(method, ...params) {
      guard(method);
      return tasks.start({}, method, params);
    },
    async callAsyncWith(opts, method, ...params) {
      guard(method);
      return tasks.start(opts, method, params);
    },
    async connect(opts = {}) {
      guard('session.login_with_password');
      await caller.ensureSession(opts);
    },
    events,
    close() {
      closed ??= (async () => {
        await events.stop();
        await tasks.settle(2_000);
        await caller.close();
      })();
      return closed;
    },
  };
}
