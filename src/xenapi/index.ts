// The XenAPI client's public surface.
export { createXenApiClient, type XenApiClient, type XenApiClientOptions } from './client.js';
export * from './errors.js';
export { type Change, type CacheView, type WaitContext, type XenApiEvents } from './events.js';
export * from './records.js';
export { type CallOptions, isUnavailable } from './session.js';
export { type AsyncCall, type AsyncCallOptions, TASK_CANCELLED, TASK_TIMEOUT, decodeTaskResult } from './tasks.js';
export { DEFAULT_SOCKET, FALLBACK_SOCKET, PROTOCOLS, type Protocol, type WireProtocol, TLS_FAILURE, XmlRpcDouble, normaliseFingerprint, parseEndpoint } from './transport.js';
export { type BackoffPolicy, DEFAULT_BACKOFF } from '../retry.js';
export { quoteLiteral } from './filter.js';
