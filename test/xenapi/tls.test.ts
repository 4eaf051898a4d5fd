// TLS trust: verification on by default, a CA file for a self-signed host, a pinned fingerprint.
// A real HTTPS server with a certificate made by openssl; it counts requests, so we can prove that
// nothing — least of all the password — reaches a server the client does not trust.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createXenApiClient } from '../../src/xenapi/index.js';

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const OPENSSL = hasOpenssl();

describe.skipIf(!OPENSSL)('TLS verification (needs openssl to make a self-signed certificate)', () => {
  let dir = '';
  let server: https.Server;
  let port = 0;
  let fingerprint = '';
  let requests: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'xg-tls-'));
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '2',
      '-subj', '/CN=xen-guests-test', '-addext', 'subjectAltName=IP:127.0.0.1',
    ], { stdio: 'ignore' });
    const fp = execFileSync('openssl', ['x509', '-noout', '-fingerprint', '-sha256', '-in', join(dir, 'cert.pem')], { encoding: 'utf8' });
    fingerprint = fp.trim().split('=')[1]!;
    server = https.createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        if (req.url === '/jsonrpc') {
          const call = JSON.parse(body) as { method: string; id: number };
          requests.push(`json:${call.method}`);
          const json = JSON.stringify({ jsonrpc: '2.0', result: call.method === 'session.login_with_password' ? 'OpaqueRef:s1' : ['OpaqueRef:p1'], id: call.id });
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
          return res.end(json);
        }
        const method = /<methodName>([^<]*)<\/methodName>/.exec(body)?.[1] ?? '';
        requests.push(method);
        const value = method === 'session.login_with_password' ? '<value>OpaqueRef:s1</value>' : '<value><array><data><value>OpaqueRef:p1</value></data></array></value>';
        const xml = `<?xml version="1.0"?><methodResponse><params><param><value><struct><member><name>Status</name><value>Success</value></member><member><name>Value</name>${value}</member></struct></value></param></params></methodResponse>`;
        res.writeHead(200, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(xml) });
        res.end(xml);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  async function tryCall(opts: { caFile?: string; fingerprint?: string; host?: string; protocol?: 'xml-rpc' | 'json-rpc' }) {
    requests = [];
    const client = createXenApiClient({ url: `https://${opts.host ?? '127.0.0.1'}:${port}`, password: 'secret', callTimeoutMs: 5_000, ...opts });
    try {
      return await client.call('pool.get_all');
    } finally {
      await client.close();
    }
  }

  it('refuses a self-signed certificate by default and sends nothing', async () => {
    await expect(tryCall({})).rejects.toMatchObject({ code: 'XENAPI_TLS' });
    expect(requests).toEqual([]);
  });

  it('trusts the certificate through a CA file', async () => {
    expect(await tryCall({ caFile: join(dir, 'cert.pem'), protocol: 'xml-rpc' })).toEqual(['OpaqueRef:p1']);
    expect(requests).toEqual(['session.login_with_password', 'pool.get_all', 'session.logout']);
  });

  it('still checks the host name against the certificate with a CA file', async () => {
    await expect(tryCall({ caFile: join(dir, 'cert.pem'), host: 'localhost' })).rejects.toMatchObject({ code: 'XENAPI_TLS' });
    expect(requests).toEqual([]);
  });

  it('accepts the pinned fingerprint', async () => {
    expect(await tryCall({ fingerprint })).toEqual(['OpaqueRef:p1']);
    expect(await tryCall({ fingerprint: fingerprint.replace(/:/g, '').toLowerCase() })).toEqual(['OpaqueRef:p1']);
  });

  it('JSON-RPC goes through the same verification: pinned fingerprint and CA file accepted, default refused', async () => {
    expect(await tryCall({ fingerprint, protocol: 'json-rpc' })).toEqual(['OpaqueRef:p1']);
    expect(requests).toEqual(['json:session.login_with_password', 'json:pool.get_all', 'json:session.logout']);
    expect(await tryCall({ caFile: join(dir, 'cert.pem'), protocol: 'json-rpc' })).toEqual(['OpaqueRef:p1']);
    await expect(tryCall({ protocol: 'json-rpc' })).rejects.toMatchObject({ code: 'XENAPI_TLS' });
    expect(requests).toEqual([]);
  });

  it('refuses a certificate whose fingerprint does not match, before sending anything', async () => {
    const wrong = fingerprint.startsWith('00') ? `11${fingerprint.slice(2)}` : `00${fingerprint.slice(2)}`;
    await expect(tryCall({ fingerprint: wrong })).rejects.toThrow(/does not match the pinned/);
    expect(requests).toEqual([]);
  });

  it('names an unreadable CA file', () => {
    expect(() => createXenApiClient({ url: `https://127.0.0.1:${port}`, caFile: join(dir, 'missing.pem') })).toThrow(/cannot read CA file ".*missing.pem"/);
  });
});
