// The HTTP side of xapi: POST on any path is XML-RPC except /jsonrpc (JSON-RPC) and /json (legacy:
// XML-RPC request, JSON string Value). Content-Length is required, bodies are limited to 300 KiB,
// malformed XML gets HTTP 500 with an HTML body. Listens on TCP and/or Unix sockets; the Unix
// socket is the host-local, pre-authenticated one.

import { existsSync, unlinkSync } from 'node:fs';
import http from 'node:http';
import type { Socket } from 'node:net';
import { dispatch, type CallResult, type Registry, type Transport } from './api/registry.js';
import type { Sim } from './state.js';
import { JsonRpcParseError, encodeJsonError, encodeJsonResult, parseJsonRpc, toJson } from './wire/jsonrpc.js';
import { encodeBare, encodeFailure, encodeSuccess } from './wire/xmlrpc-encode.js';
import { XmlRpcParseError, parseMethodCall } from './wire/xmlrpc-parse.js';

export const MAX_BODY = 300 * 1024;

export type ListenSpec = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

/** Parses `HOST:PORT`, `[V6]:PORT` or `unix:/path`. Throws an Error naming the bad value. */
export function parseListen(value: string): ListenSpec {
  if (value.startsWith('unix:')) {
    const path = value.slice(5);
    if (!path.startsWith('/')) throw new Error(`--listen ${value}: the Unix socket path must be absolute, e.g. unix:/tmp/xapi.sock`);
    return { kind: 'unix', path };
  }
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new Error(`--listen ${value}: expected HOST:PORT (port 0-65535, 0 = any free port) or unix:/path`);
  return { kind: 'tcp', host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

const CORS = { 'Access-Control-Allow-Origin': '*', 'Access-Control-Allow-Headers': 'X-Requested-With' };

// xapi's headers, in its order and letter case (recorded: shared/xapi-traces); not to be cached;
// error pages carry no CORS pair; no Date header. xapi serves HTTP/1.1 keep-alive (http_svr.ml): an
// answer keeps the connection unless the request asked to close (its `connection` header mirrors
// the request's), and every error page closes it.
function send(res: http.ServerResponse, status: number, contentType: string, body: string, keepAlive = false): void {
  const buf = Buffer.from(body, 'utf8');
  const connection = status === 200 && keepAlive ? 'keep-alive' : 'close';
  const headers: Array<[string, string | number]> =
    status === 200
      ? [['content-length', buf.length], ['connection', connection], ['cache-control', 'no-cache, no-store'], ['content-type', contentType], ...Object.entries(CORS)]
      : [['content-length', buf.length], ['content-type', contentType], ['connection', connection], ['cache-control', 'no-cache, no-store']];
  res.sendDate = false;
  res.writeHead(status, status === 200 ? 'OK' : status === 404 ? 'Not Found' : 'Internal Error', headers.flat() as string[]);
  res.end(buf);
}

/**
 * xapi's `req.close` turned round: HTTP/1.0 closes unless it says `Connection: keep-alive`, HTTP/1.1
 * keeps the connection unless it says `Connection: close`.
 */
function keepsAlive(req: Pick<http.IncomingMessage, 'headers' | 'httpVersion'>): boolean {
  const tokens = String(req.headers.connection ?? '').toLowerCase().split(',').map((t) => t.trim());
  if (tokens.includes('close')) return false;
  if (tokens.includes('keep-alive')) return true;
  return req.httpVersion !== '1.0';
}

function sendHtmlError(res: http.ServerResponse, message: string): void {
  const safe = message.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  send(res, 500, 'text/html', `<html><body><h1>HTTP 500 internal server error</h1>An unexpected error occurred; please wait a while and try again. If the problem persists, please contact your support representative.<h1> Additional information </h1>${safe}</body></html>`);
}

function readBody(req: http.IncomingMessage): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        resolve(null);
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function xmlResponse(result: CallResult, jsonValue: boolean): string {
  if (result.kind === 'failure') return encodeFailure(result.description);
  if (result.kind === 'bare') return encodeBare(result.value);
  return encodeSuccess(jsonValue ? toJson(result.value) : result.value);
}

export interface HttpOptions {
  /**
   * Serve JSON-RPC on /jsonrpc. Without it /jsonrpc goes where any other path goes, to the XML-RPC
   * handler, as in an xapi that has no JSON-RPC: the JSON body is a parse error, HTTP 500 in HTML.
   */
  jsonRpc: boolean;
}

async function handle(sim: Sim, registry: Registry, transport: Transport, options: HttpOptions, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  if (req.method !== 'POST') {
    send(res, 404, 'text/html', '<html><body><h1>HTTP 404 not found</h1></body></html>');
    return;
  }
  if (req.headers['content-length'] === undefined) {
    req.resume();
    sendHtmlError(res, 'We require a content-length: HTTP header');
    return;
  }
  if (Number(req.headers['content-length']) > MAX_BODY) {
    sendHtmlError(res, `Request body exceeds the limit of ${MAX_BODY} bytes`);
    req.destroy();
    return;
  }
  const body = await readBody(req);
  if (body === null) {
    sendHtmlError(res, `Request body exceeds the limit of ${MAX_BODY} bytes`);
    return;
  }
  const path = (req.url ?? '/').split('?')[0]!;
  const remote = transport === 'unix' ? 'local' : `${req.socket.remoteAddress}:${req.socket.remotePort}`;
  if (options.jsonRpc && (path === '/jsonrpc' || path.startsWith('/jsonrpc/'))) {
    let call;
    try {
      call = parseJsonRpc(body);
    } catch (e) {
      if (e instanceof JsonRpcParseError) return sendHtmlError(res, `Jsonrpc.Malformed_method_request(${e.message})`);
      throw e;
    }
    const result = await dispatch(sim, registry, call.method, call.params, transport, remote);
    const out = result.kind === 'failure' ? encodeJsonError(call, result.description) : encodeJsonResult(call, result.value);
    send(res, 200, 'application/json', out, keepsAlive(req));
    return;
  }
  let call;
  try {
    call = parseMethodCall(body);
  } catch (e) {
    if (e instanceof XmlRpcParseError) return sendHtmlError(res, `Xmlrpc.Parse_error(${JSON.stringify(e.message)})`);
    throw e;
  }
  const result = await dispatch(sim, registry, call.method, call.params, transport, remote);
  send(res, 200, 'text/xml', xmlResponse(result, path === '/json'), keepsAlive(req));
}

export interface Listener {
  spec: ListenSpec;
  /** http://HOST:PORT with the real port, or the socket path. */
  address: string;
}

export interface HttpServers {
  listeners: Listener[];
  /** Drops every connection and refuses new ones for downMs, then listens again; onUp once every listener is back. */
  restart(downMs: number, onDown: () => void, onUp: () => void): void;
  close(): Promise<void>;
}

function listen(server: http.Server, spec: ListenSpec): Promise<string> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => reject(new Error(`cannot listen on ${spec.kind === 'unix' ? `unix:${spec.path}` : `${spec.host}:${spec.port}`}: ${e.message}`));
    server.once('error', onError);
    const done = (): void => {
      server.off('error', onError);
      const a = server.address();
      if (spec.kind === 'unix') resolve(spec.path);
      else if (a && typeof a === 'object') resolve(`http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`);
      else reject(new Error('no address'));
    };
    if (spec.kind === 'unix') {
      if (existsSync(spec.path)) unlinkSync(spec.path); // a stale socket from a killed run
      server.listen(spec.path, done);
    } else server.listen(spec.port, spec.host, done);
  });
}

function closeServer(server: http.Server, sockets: Set<Socket>): Promise<void> {
  return new Promise((resolve) => {
    for (const s of sockets) s.destroy();
    sockets.clear();
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });
}

export async function startHttp(sim: Sim, registry: Registry, specs: ListenSpec[], options: HttpOptions = { jsonRpc: true }): Promise<HttpServers> {
  const entries = specs.map((spec) => {
    const sockets = new Set<Socket>();
    const transport: Transport = spec.kind;
    // No idle timeout: xapi keeps an idle connection until the client or a restart ends it.
    const server = http.createServer({ keepAliveTimeout: 0 }, (req, res) => {
      handle(sim, registry, transport, options, req, res).catch((e: unknown) => {
        if (!res.headersSent) sendHtmlError(res, e instanceof Error ? e.message : String(e));
      });
    });
    server.headersTimeout = 66_000;
    server.requestTimeout = 0; // event.from may legitimately wait minutes
    server.on('connection', (s: Socket) => {
      sockets.add(s);
      sim.connections.accepted += 1;
      sim.connections.open += 1;
      s.on('close', () => {
        sockets.delete(s);
        sim.connections.open -= 1;
      });
    });
    return { spec, server, sockets, address: '' };
  });
  try {
    for (const e of entries) e.address = await listen(e.server, e.spec);
  } catch (err) {
    await Promise.all(entries.map((e) => closeServer(e.server, e.sockets)));
    throw err;
  }
  // Port 0 becomes the real port so a restart comes back where clients expect it.
  for (const e of entries) if (e.spec.kind === 'tcp') e.spec = { ...e.spec, port: Number(new URL(e.address).port) };
  let closed = false;
  let restarting: NodeJS.Timeout | undefined;
  return {
    listeners: entries.map((e) => ({ spec: e.spec, address: e.address })),
    restart(downMs, onDown, onUp) {
      if (closed) return;
      void Promise.all(entries.map((e) => closeServer(e.server, e.sockets))).then(() => {
        for (const e of entries) if (e.spec.kind === 'unix' && existsSync(e.spec.path)) unlinkSync(e.spec.path);
        onDown();
        clearTimeout(restarting);
        restarting = setTimeout(() => {
          if (closed) return;
          // Back up only when every listener is: a test waiting on onUp's count may then call on any of them.
          Promise.all(entries.map((e) => listen(e.server, e.spec))).then(onUp, (err: Error) => sim.log(`restart: ${err.message}`));
        }, downMs);
      });
    },
    async close() {
      closed = true;
      clearTimeout(restarting);
      await Promise.all(entries.map((e) => closeServer(e.server, e.sockets)));
      for (const e of entries) if (e.spec.kind === 'unix' && existsSync(e.spec.path)) unlinkSync(e.spec.path);
    },
  };
}
