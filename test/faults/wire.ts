// What goes over the wire between the daemon and the simulator, seen by the test itself: a TCP
// proxy that records every XML-RPC request the daemon sends (method and parameters, as bytes on the
// socket, before the simulator parses anything), and a TLS endpoint with a self-signed certificate
// that counts the bytes a client sends after the handshake.

import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onCleanup } from './harness.js';

export interface WireCall {
  /** Order of arrival over all connections. */
  seq: number;
  method: string;
  /** The parameters as the text of their XML-RPC values (entities decoded, tags dropped). */
  params: string[];
}

export interface Recorder {
  /** The URL to give the daemon instead of the simulator's. */
  url: string;
  calls(): WireCall[];
}

/** Listen on a loopback port until the row's cleanup, which also cuts the connections still open. */
async function listenForRow(server: net.Server): Promise<number> {
  const open = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  onCleanup(() => {
    for (const socket of open) socket.destroy();
    return new Promise((r) => server.close(r));
  });
  return (server.address() as net.AddressInfo).port;
}

function forward(client: net.Socket, target: URL, onData?: (chunk: Buffer) => void): void {
  const upstream = net.connect(Number(target.port), target.hostname);
  client.on('data', (chunk: Buffer) => onData?.(chunk));
  client.pipe(upstream).pipe(client);
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close).on('close', close);
  upstream.on('error', close).on('close', close);
}

function decodeEntities(text: string): string {
  return text
    .replace(/&#x([0-9a-f]+);/gi, (_, h: string) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#(\d+);/g, (_, d: string) => String.fromCodePoint(Number(d)))
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** A JSON-RPC parameter as text, like an XML-RPC one with its tags stripped: its strings joined. */
function jsonText(value: unknown): string {
  if (Array.isArray(value)) return value.map(jsonText).join('');
  if (value !== null && typeof value === 'object') return Object.values(value).map(jsonText).join('');
  return String(value);
}

/**
 * The calls in one connection's request stream: every complete <methodCall> in it, or every
 * JSON-RPC request (the daemon's `auto` protocol speaks JSON-RPC to the simulator). A JSON string
 * cannot hold an unescaped `,"id":N}`, so the first one ends the request.
 */
function parseCalls(stream: string): { method: string; params: string[] }[] {
  const calls: { method: string; params: string[] }[] = [];
  for (const m of stream.matchAll(/<methodCall>([\s\S]*?)<\/methodCall>|\{"jsonrpc":"2\.0","method":("(?:[^"\\]|\\.)*"),"params":([\s\S]*?),"id":\d+\}/g)) {
    if (m[1] === undefined) {
      calls.push({ method: JSON.parse(m[2]!) as string, params: (JSON.parse(m[3]!) as unknown[]).map(jsonText) });
      continue;
    }
    const method = /<methodName>([\s\S]*?)<\/methodName>/.exec(m[1])?.[1] ?? '';
    const params = [...m[1].matchAll(/<param>([\s\S]*?)<\/param>/g)].map((p) => decodeEntities(p[1]!.replace(/<[^>]+>/g, '')));
    calls.push({ method: decodeEntities(method), params });
  }
  return calls;
}

/** A recording proxy in front of the simulator at `simUrl` (XML-RPC or JSON-RPC over TCP); closed after the row. */
export async function recordingProxy(simUrl: string): Promise<Recorder> {
  const target = new URL(simUrl);
  const streams: { text: string; seen: number }[] = [];
  const calls: WireCall[] = [];
  let seq = 0;
  const harvest = () => {
    for (const s of streams) {
      const found = parseCalls(s.text);
      for (const c of found.slice(s.seen)) calls.push({ seq: ++seq, ...c });
      s.seen = found.length;
    }
  };
  const server = net.createServer((client) => {
    const stream = { text: '', seen: 0 };
    streams.push(stream);
    forward(client, target, (chunk) => {
      stream.text += chunk.toString('utf8');
      harvest();
    });
  });
  const port = await listenForRow(server);
  return { url: `http://127.0.0.1:${port}`, calls: () => [...calls] };
}

export function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export interface TlsEndpoint {
  url: string;
  certFile: string;
  /** SHA-256 fingerprint of the certificate (AA:BB:…). */
  fingerprint: string;
  /** TCP connections accepted, TLS handshakes completed, and bytes received after a handshake. */
  counts(): { connections: number; handshakes: number; requestBytes: number };
}

/** A TLS endpoint with a fresh self-signed certificate (openssl) that forwards what it decrypts to `simUrl`. */
export async function selfSignedTlsFront(simUrl: string): Promise<TlsEndpoint> {
  const dir = await mkdtemp(join(tmpdir(), 'xg-tls-'));
  onCleanup(() => rm(dir, { recursive: true, force: true }));
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=xen-guests-fault-row', '-addext', 'subjectAltName=IP:127.0.0.1',
  ], { stdio: 'ignore' });
  const fp = execFileSync('openssl', ['x509', '-noout', '-fingerprint', '-sha256', '-in', certFile], { encoding: 'utf8' });
  const counts = { connections: 0, handshakes: 0, requestBytes: 0 };
  const target = new URL(simUrl);
  const server = tls.createServer({ key: await readFile(keyFile), cert: await readFile(certFile) }, (secure) => {
    counts.handshakes += 1;
    forward(secure, target, (chunk) => (counts.requestBytes += chunk.length));
  });
  server.on('connection', () => (counts.connections += 1));
  server.on('tlsClientError', () => undefined);
  const port = await listenForRow(server);
  return { url: `https://127.0.0.1:${port}`, certFile, fingerprint: fp.trim().split('=')[1]!, counts: () => ({ ...counts }) };
}

export interface LateEndpoint {
  /** The URL to give the daemon: a Unix socket that does not exist until open(). */
  url: string;
  /** Creates the socket, forwarding to the simulator: xapi "comes up" when the test says so. */
  open(): Promise<void>;
}

/**
 * xapi not up yet, for as long as the test needs and not a second less: the daemon meets no socket
 * (ENOENT, as on a host whose xapi has not started) until open(), whatever the machine's load.
 */
export async function lateEndpoint(simUrl: string): Promise<LateEndpoint> {
  const target = new URL(simUrl);
  const dir = await mkdtemp(join(tmpdir(), 'xg-late-'));
  const path = join(dir, 'xapi.sock');
  const open = new Set<net.Socket>();
  const server = net.createServer((client) => {
    open.add(client);
    client.on('close', () => open.delete(client));
    forward(client, target);
  });
  onCleanup(async () => {
    for (const socket of open) socket.destroy();
    if (server.listening) await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
  });
  return { url: `unix:${path}`, open: () => new Promise<void>((r) => server.listen(path, r)) };
}
