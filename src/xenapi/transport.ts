// One XenAPI request to xapi, with a deadline, over the local Unix socket, HTTPS or loopback HTTP,
// in XML-RPC or JSON-RPC — or `auto`: JSON-RPC when the host answers /jsonrpc, else XML-RPC. The
// `xmlrpc` package encodes XML-RPC requests; answers are read by our streaming decoder
// (xml-answer.ts). This module adds what xapi needs around that: endpoint parsing, TLS verification
// choices (system CAs, a CA file, or a pinned certificate fingerprint), an enforced deadline that
// aborts the request, and errors that name the method and the host.

import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import CustomType from 'xmlrpc/lib/customtype.js';
import { serializeMethodCall } from 'xmlrpc/lib/serializer.js';
import { jsonBody, jsonRequest } from './jsonrpc.js';
import { BAD_RESPONSE, CALL_TIMEOUT, CLIENT_CLOSED, UNREACHABLE, XenApiError, badParameter, preview } from './errors.js';
import { NotThisProtocol, StaleConnection, post, type PostTarget } from './post.js';
import { isSafeToRepeat } from './safe-to-repeat.js';
import { XmlAnswerError, createXmlAnswerDecoder } from './xml-answer.js';

export const DEFAULT_SOCKET = '/var/lib/xcp/xapi';
/** Docs and several dom0 daemons use this path; in dom0 it is the same socket. */
export const FALLBACK_SOCKET = '/var/xapi/xapi';

/** The client could not establish trust in the server: [host, reason]. Never retried. */
export const TLS_FAILURE = 'XENAPI_TLS';

/** A wire protocol: XML-RPC (POST /), or JSON-RPC (POST /jsonrpc, which every XenServer ≥ 7 and XCP-ng has). */
export type WireProtocol = 'xml-rpc' | 'json-rpc';
/** What the config may ask for: a wire protocol, or `auto` (JSON-RPC when the host answers it, else XML-RPC). */
export type Protocol = 'auto' | WireProtocol;
export const PROTOCOLS: readonly Protocol[] = ['auto', 'xml-rpc', 'json-rpc'];

/** Told once per transport, when `auto` has learnt what the host speaks. */
export type OnProtocolChosen = (protocol: WireProtocol, why: string) => void;

export type Endpoint =
  | { kind: 'unix'; socketPaths: string[] }
  | { kind: 'http' | 'https'; host: string; port: number; path: string };

export interface TlsSettings {
  /** PEM CA bundle to trust instead of the system CAs (a self-signed host). */
  caFile?: string;
  /** Pinned SHA-256 fingerprint of the server certificate, hex with or without colons. */
  fingerprint?: string;
}

export interface RequestOptions {
  /** The whole request (connect, send, answer) must finish within this many ms. */
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface Transport {
  readonly endpoint: Endpoint;
  /** The protocol asked for. */
  readonly protocol: Protocol;
  /** The protocol requests go in: fixed, or under `auto` null until the host's first answer. */
  readonly wireProtocol: WireProtocol | null;
  /** Where requests go, for messages: 'unix:/var/lib/xcp/xapi', 'https://host:443'. */
  readonly label: string;
  /** Sends one call and resolves with the decoded methodResponse value (the envelope, not unwrapped). */
  request(method: string, params: unknown[], opts: RequestOptions): Promise<unknown>;
  /** Drops idle keep-alive connections. */
  close(): void;
}

// The request encoder of the `xmlrpc` package and its custom-type base are imported without its
// client and server (and so without sax, which only its answer decoding needs).

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|\[::1\]|localhost)$/i;

/** Parses 'unix:/path', 'https://host[:port]' or 'http://127.0.0.1:port' into an endpoint. */
export function parseEndpoint(url: string): Endpoint {
  if (typeof url !== 'string' || url.trim() === '') {
    throw badParameter('url', `empty XenAPI url; allowed: unix:/path, https://host[:port], http://127.0.0.1:port`);
  }
  if (url.startsWith('unix:')) {
    const path = url.slice('unix:'.length);
    if (path === '' || path === DEFAULT_SOCKET) return { kind: 'unix', socketPaths: [DEFAULT_SOCKET, FALLBACK_SOCKET] };
    if (!path.startsWith('/')) {
      throw badParameter('url', `XenAPI url "${url}": the socket path must be absolute, e.g. unix:${DEFAULT_SOCKET}`);
    }
    return { kind: 'unix', socketPaths: [path] };
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw badParameter('url', `XenAPI url "${url}" is not a URL; allowed: unix:/path, https://host[:port], http://127.0.0.1:port`);
  }
  const kind = parsed.protocol === 'https:' ? 'https' : parsed.protocol === 'http:' ? 'http' : null;
  if (kind === null) {
    throw badParameter('url', `XenAPI url "${url}" has scheme "${parsed.protocol}"; allowed: unix:, https:, http: (loopback only)`);
  }
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (kind === 'http' && !LOOPBACK.test(host)) {
    throw badParameter('url', `XenAPI url "${url}": plain http is allowed only on loopback (127.0.0.1, ::1, localhost), it would send the password in clear; use https://`);
  }
  const port = parsed.port ? Number(parsed.port) : kind === 'https' ? 443 : 80;
  return { kind, host, port, path: parsed.pathname || '/' };
}

export function endpointLabel(ep: Endpoint): string {
  if (ep.kind === 'unix') return `unix:${ep.socketPaths[0]}`;
  const host = ep.host.includes(':') ? `[${ep.host}]` : ep.host;
  return `${ep.kind}://${host}:${ep.port}`;
}

/**
 * The endpoint a HOST_IS_SLAVE answer points to. xapi sends the master's address (an IP or a
 * name); we keep our scheme and port. 'host:port' and full URLs are accepted too (simulators).
 */
export function redirectEndpoint(ep: Endpoint, masterAddress: string): Endpoint {
  if (ep.kind === 'unix') {
    throw badParameter('master', `HOST_IS_SLAVE over the Unix socket (master ${masterAddress}): xapi forwards local calls itself, so this should not happen`);
  }
  const address = masterAddress.trim();
  if (address === '') throw new XenApiError(BAD_RESPONSE, ['HOST_IS_SLAVE', 'empty master address']);
  if (/^[a-z]+:\/\//i.test(address)) {
    const next = parseEndpoint(address);
    if (next.kind !== ep.kind) {
      throw badParameter('master', `HOST_IS_SLAVE points to ${address}, which changes the scheme from ${ep.kind}; refused`);
    }
    return next;
  }
  const hostPort = /^([^:\[\]]+|\[[^\]]+\]):(\d+)$/.exec(address);
  if (hostPort) {
    const host = hostPort[1]!.replace(/^\[(.*)\]$/, '$1');
    return checked({ ...ep, host, port: Number(hostPort[2]) }, address);
  }
  return checked({ ...ep, host: address.replace(/^\[(.*)\]$/, '$1') }, address);
}

function checked(ep: Endpoint, address: string): Endpoint {
  if (ep.kind === 'http' && !LOOPBACK.test(ep.host)) {
    throw badParameter('master', `HOST_IS_SLAVE points to ${address}, not loopback; plain http is allowed only on loopback`);
  }
  return ep;
}

/** Normalises 'aa:bb:…' / 'AABB…' to upper-case colon-separated hex, or explains what is wrong. */
export function normaliseFingerprint(value: string): string {
  const hex = value.replace(/[:\s]/g, '').toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) {
    throw badParameter('fingerprint', `"${value}" is not a SHA-256 fingerprint; allowed: 64 hex digits, colons optional (openssl x509 -noout -fingerprint -sha256)`);
  }
  return hex.match(/../g)!.join(':');
}

export function createTransport(url: string, tlsSettings: TlsSettings = {}, protocol: Protocol = 'auto', onChosen?: OnProtocolChosen): Transport {
  return transportFor(parseEndpoint(url), tlsSettings, protocol, onChosen);
}

export function transportFor(endpoint: Endpoint, tlsSettings: TlsSettings = {}, protocol: Protocol = 'auto', onChosen?: OnProtocolChosen): Transport {
  if (!PROTOCOLS.includes(protocol)) {
    throw badParameter('protocol', `XenAPI protocol "${String(protocol)}" is not known; allowed: ${PROTOCOLS.join(', ')}`);
  }
  const label = endpointLabel(endpoint);
  const agent = makeAgent(endpoint, tlsSettings);
  const exchange = protocol === 'auto' ? autoExchange(onChosen) : protocol === 'json-rpc' ? jsonExchange : xmlExchange;
  return {
    endpoint,
    label,
    protocol,
    get wireProtocol() {
      return exchange === xmlExchange ? 'xml-rpc' : exchange === jsonExchange ? 'json-rpc' : (exchange as AutoExchange).chosen;
    },
    request: (method, params, opts) => send(endpoint, agent, label, method, params, opts, exchange),
    close: () => agent.destroy(),
  };
}

/** One request/answer on the wire; rejects with the raw transport error. */
type Exchange = (target: PostTarget, method: string, encoded: unknown[]) => Promise<unknown>;


const xmlExchange: Exchange = (target, method, encoded) =>
  post(target, {
    method,
    path: '/',
    contentType: 'text/xml',
    body: serializeMethodCall(method, encoded),
    // xapi answers every XML-RPC call with 200, failures included; anything else is an HTTP error page.
    accepts: (status) => status === 200,
    reader: createXmlAnswerDecoder,
  });

const jsonExchange: Exchange = (target, method, encoded) => jsonRequest(target, method, jsonBody(method, encoded.map(toJsonValue)));

type AutoExchange = Exchange & { readonly chosen: WireProtocol | null };

/**
 * JSON-RPC until the host shows it has none, then XML-RPC for good. The first answer decides: a
 * JSON-RPC answer (a failure too) means JSON-RPC; an answer in anything but JSON (xapi without
 * /jsonrpc hands the request to its XML-RPC handler, which answers an HTML error; a proxy may say
 * 404) means XML-RPC, and the same call is sent again over XML-RPC — the host executed nothing it
 * could not parse. No answer at all (refused, timed out) decides nothing.
 */
function autoExchange(onChosen?: OnProtocolChosen): AutoExchange {
  let chosen: WireProtocol | null = null;
  const choose = (protocol: WireProtocol, why: string): void => {
    if (chosen !== null) return;
    chosen = protocol;
    onChosen?.(protocol, why);
  };
  const exchange = async (target: PostTarget, method: string, encoded: unknown[]): Promise<unknown> => {
    if (chosen === 'json-rpc') return jsonExchange(target, method, encoded);
    if (chosen === 'xml-rpc') return xmlExchange(target, method, encoded);
    try {
      const value = await jsonExchange(target, method, encoded);
      choose('json-rpc', 'the host answers JSON-RPC on /jsonrpc');
      return value;
    } catch (err) {
      if (err instanceof XenApiError) choose('json-rpc', 'the host answers JSON-RPC on /jsonrpc');
      if (!(err instanceof NotThisProtocol)) throw err;
      if (err.contentType.toLowerCase().startsWith('application/json')) {
        choose('json-rpc', 'the host answers JSON-RPC on /jsonrpc');
        throw err;
      }
      choose('xml-rpc', `the host has no JSON-RPC: /jsonrpc answered ${err.message}`);
      return xmlExchange(target, method, encoded);
    }
  };
  return Object.defineProperty(exchange, 'chosen', { get: () => chosen }) as AutoExchange;
}

/** XmlRpcDouble → its number; everything else is already what JSON carries. */
function toJsonValue(value: unknown): unknown {
  if (value instanceof XmlRpcDouble) return Number((value as unknown as { raw: string }).raw);
  if (Array.isArray(value)) return value.map(toJsonValue);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = toJsonValue(v);
    return out;
  }
  return value;
}

/**
 * Connections are kept alive, as xapi serves them (a new connection per call was a large part of
 * the client's CPU). At most 64 at once to one host: calls beyond wait for a free one, inside their
 * deadline — room for the event stream's long poll, the plan's parallel calls and its reads, while a
 * runaway parallelism cannot open hundreds of connections (each a thread in xapi). At most 16 stay
 * open idle between bursts; the others close when their call ends.
 */
const KEEP_ALIVE = { keepAlive: true, maxSockets: 64, maxFreeSockets: 16 } as const;

function makeAgent(ep: Endpoint, settings: TlsSettings): http.Agent {
  if (ep.kind !== 'https') return new http.Agent(KEEP_ALIVE);
  if (settings.fingerprint) return pinnedAgent(normaliseFingerprint(settings.fingerprint), `${ep.host}:${ep.port}`);
  if (settings.caFile) return new https.Agent({ ...KEEP_ALIVE, ca: readCaFile(settings.caFile) });
  return new https.Agent(KEEP_ALIVE);
}

/** Closes the connections lying idle in the agent; calls under way keep theirs. */
function dropIdleSockets(agent: http.Agent): void {
  for (const sockets of Object.values(agent.freeSockets)) for (const socket of sockets ?? []) socket.destroy();
}

/**
 * One exchange, sent once more when it met a kept-alive connection that gave no answer at all
 * (StaleConnection) and the call is safe to repeat (safe-to-repeat.ts). The usual cause is an idle
 * connection the host closed (a toolstack restart), but a host that read the request and then
 * dropped the connection looks the same, so a call that changes something is never sent twice: it
 * fails as unreachable and its caller reads the state again. Either way one dead idle connection
 * means the host dropped them all — a toolstack restart drops every connection — so the others go
 * too and the next request opens a new one. Any other failure, and a second one, are the caller's
 * to judge as before.
 */
async function exchangeOnLiveConnection(exchange: Exchange, agent: http.Agent, target: PostTarget, method: string, encoded: unknown[]): Promise<unknown> {
  try {
    return await exchange(target, method, encoded);
  } catch (err) {
    if (!(err instanceof StaleConnection)) throw err;
    dropIdleSockets(agent);
    if (!isSafeToRepeat(method)) throw err;
    return exchange(target, method, encoded);
  }
}

function readCaFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw badParameter('caFile', `cannot read CA file "${path}": ${(err as Error).message}`);
  }
}

/**
 * An agent that trusts exactly one certificate, by fingerprint. The socket is handed to the HTTP
 * request only after the check, so nothing (least of all the password) is sent to an impostor.
 */
function pinnedAgent(pin: string, hostLabel: string): https.Agent {
  const agent = new https.Agent(KEEP_ALIVE);
  const connect = (options: tls.ConnectionOptions, callback: (err: Error | null, socket?: Duplex) => void): undefined => {
    const socket = tls.connect({ ...options, rejectUnauthorized: false });
    let settled = false;
    const finish = (err: Error | null) => {
      if (settled) return;
      settled = true;
      if (err) {
        socket.destroy();
        callback(err);
      } else {
        callback(null, socket);
      }
    };
    socket.once('secureConnect', () => {
      const seen = socket.getPeerCertificate()?.fingerprint256 ?? '';
      if (seen.toUpperCase() === pin) return finish(null);
      finish(Object.assign(new Error(`certificate fingerprint ${seen || '(none)'} of ${hostLabel} does not match the pinned ${pin}`), { code: 'ERR_FINGERPRINT_MISMATCH' }));
    });
    socket.once('error', (err) => finish(err));
    return undefined;
  };
  (agent as unknown as { createConnection: typeof connect }).createConnection = connect;
  return agent;
}

function pickSocket(paths: string[]): string {
  return paths.find((p) => existsSync(p)) ?? paths[0]!;
}

/**
 * XenAPI wants int64 as decimal strings and misreads Dates and nils, so refuse those here rather
 * than let the server answer INTERNAL_ERROR or, worse, read a wrong time.
 */
export function encodeParams(method: string, params: unknown[]): unknown[] {
  return params.map((p, i) => encodeValue(method, p, `parameter ${i + 1}`));
}

/** A float parameter (event.from's timeout): sent as <double> even when the number is whole. */
export class XmlRpcDouble extends CustomType {
  override tagName = 'double';
  constructor(value: number) {
    super(String(value));
  }
}

function encodeValue(method: string, value: unknown, where: string): unknown {
  if (typeof value === 'string' || typeof value === 'boolean' || value instanceof XmlRpcDouble) return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw badParameter(method, `${method}: ${where} is ${value}; numbers must be finite`);
    return Number.isInteger(value) ? String(value) : value;
  }
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map((v, i) => encodeValue(method, v, `${where}[${i}]`));
  if (value instanceof Date) {
    throw badParameter(method, `${method}: ${where} is a Date; the xmlrpc package would send local time without a zone. Send a "YYYYMMDDTHH:MM:SSZ" string`);
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = encodeValue(method, v, `${where}.${k}`);
    return out;
  }
  throw badParameter(method, `${method}: ${where} is ${value === null ? 'null' : typeof value}; xapi accepts no nil, send "OpaqueRef:NULL" or ""`);
}

const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT',
  'ECONNABORTED', 'EAI_AGAIN', 'ENOTFOUND', 'EADDRNOTAVAIL', 'ENOTSOCK', 'EACCES',
]);

function send(ep: Endpoint, agent: http.Agent, label: string, method: string, params: unknown[], opts: RequestOptions, exchange: Exchange): Promise<unknown> {
  const encoded = encodeParams(method, params);
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) return reject(new XenApiError(CLIENT_CLOSED, [method], method));
    const controller = new AbortController();
    let settled = false;
    const settle = (err: Error | null, value?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(value);
    };
    const timer = setTimeout(() => {
      settle(new XenApiError(CALL_TIMEOUT, [method, label, String(opts.timeoutMs)], method,
        `${method}: no answer from ${label} within ${opts.timeoutMs} ms (XENAPI_CALL_TIMEOUT)`));
      controller.abort();
    }, Math.max(0, opts.timeoutMs));
    const onAbort = () => {
      settle(new XenApiError(CLIENT_CLOSED, [method], method));
      controller.abort();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    const base = { agent, signal: controller.signal, headers: { 'User-Agent': 'xen-guests' } };
    const options =
      ep.kind === 'unix'
        ? { ...base, socketPath: pickSocket(ep.socketPaths), path: '/' }
        : { ...base, host: ep.host, port: ep.port, path: ep.path };
    try {
      exchangeOnLiveConnection(exchange, agent, { https: ep.kind === 'https', options }, method, encoded).then(
        (value) => settle(null, value),
        (error: unknown) => settle(error instanceof XenApiError ? error : transportError(error, method, label, ep)),
      );
    } catch (err) {
      settle(transportError(err, method, label, ep));
    }
  });
}

interface NodeishError {
  code?: unknown;
  message?: unknown;
  res?: { statusCode?: number };
  body?: unknown;
}

function transportError(failure: unknown, method: string, label: string, ep: Endpoint): XenApiError {
  // A dead connection (a second one in a row, or one under a call not sent again) is judged by its
  // socket error, as any lost connection.
  const raw = failure instanceof StaleConnection ? failure.cause : failure;
  const err = (raw ?? {}) as NodeishError;
  const code = typeof err.code === 'string' ? err.code : '';
  const message = typeof err.message === 'string' ? err.message : String(raw);
  const where = ep.kind === 'unix' ? `unix:${pickSocket(ep.socketPaths)}` : label;
  if (UNREACHABLE_CODES.has(code)) {
    return new XenApiError(UNREACHABLE, [where, code], method, `${method}: cannot reach the toolstack at ${where} (${code})`);
  }
  if (code === 'ERR_FINGERPRINT_MISMATCH' || code.startsWith('ERR_TLS') || /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|SSL/.test(code)) {
    return new XenApiError(TLS_FAILURE, [where, code ? `${code}: ${message}` : message], method,
      `${method}: TLS verification of ${where} failed: ${message}${code === 'ERR_FINGERPRINT_MISMATCH' ? '' : ' (for a self-signed host set a CA file or a pinned fingerprint)'}`);
  }
  if (raw instanceof XmlAnswerError) {
    return new XenApiError(BAD_RESPONSE, [method, `malformed XML-RPC answer from ${where}: ${message}`], method);
  }
  if (err.res && typeof err.res.statusCode === 'number') {
    const body = typeof err.body === 'string' ? err.body.replace(/\s+/g, ' ').slice(0, 160) : '';
    return new XenApiError(BAD_RESPONSE, [method, `HTTP ${err.res.statusCode} from ${where}: ${body || message}`], method);
  }
  return new XenApiError(BAD_RESPONSE, [method, `from ${where}: ${message}${code ? ` (${code})` : ''} ${raw instanceof Error ? '' : preview(raw)}`.trim()], method);
}
