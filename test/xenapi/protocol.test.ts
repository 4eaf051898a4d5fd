// xapi.protocol = "auto" against the real simulator process, watched on the wire by a recording
// relay: JSON-RPC when the host answers /jsonrpc, XML-RPC when it does not (`sim --no-jsonrpc`
// answers it as an xapi without JSON-RPC does), the choice logged once and shown by `status`.
// And the XML-RPC decoder read against JSON.parse: the same tables, read over both protocols from
// one simulator, must decode to the same records.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { createXenApiClient, type XenApiClient } from '../../src/xenapi/client.js';
import type { EventClass } from '../../src/xenapi/records.js';
import type { Protocol } from '../../src/xenapi/transport.js';
import { runCli } from '../cli/run-cli.js';
import { recordingRelay } from '../helpers/relay.js';
import { spawnSim, until } from '../helpers/sim.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

function loggedClient(url: string, protocol: Protocol): { client: XenApiClient; logged: () => string } {
  let logged = '';
  const sink = new Writable({ write: (chunk, _enc, cb) => ((logged += String(chunk)), cb()) });
  const client = createXenApiClient({ url, protocol, callTimeoutMs: 10_000, log: createLogger({ level: 'info', json: true, destination: sink }) });
  cleanups.push(() => client.close());
  return { client, logged: () => logged };
}

/** Log lines saying which protocol was chosen. */
function choices(logged: string): { protocol: string; why: string }[] {
  return logged
    .split('\n')
    .filter((l) => l.includes('"msg":"XenAPI protocol:'))
    .map((l) => JSON.parse(l) as { protocol: string; why: string });
}

async function simBehindRelay(args: string[] = []) {
  const sim = await spawnSim({ guests: 6, args });
  cleanups.push(() => sim.stop());
  const relay = await recordingRelay(sim.url);
  cleanups.push(() => relay.close());
  return { sim, relay };
}

describe('xapi.protocol = auto', () => {
  it('uses JSON-RPC when the host answers /jsonrpc: every request goes there, the choice is logged once', async () => {
    const { relay } = await simBehindRelay();
    const { client, logged } = loggedClient(relay.url, 'auto');
    expect(client.wireProtocol).toBeNull();
    await client.getAllRecords('vm');
    await client.call('VM.get_all');
    await client.call('host.get_all');
    expect(client.wireProtocol).toBe('json-rpc');
    expect(relay.seen.length).toBeGreaterThanOrEqual(4); // login + 3 calls
    expect(relay.seen.every((r) => r.path === '/jsonrpc' && r.contentType === 'application/json' && r.status === 200)).toBe(true);
    expect(choices(logged())).toEqual([expect.objectContaining({ protocol: 'json-rpc', why: expect.stringContaining('/jsonrpc') })]);
  });

  it('falls back to XML-RPC when the host has no JSON-RPC: one refused /jsonrpc request, then XML-RPC only', async () => {
    const { relay } = await simBehindRelay(['--no-jsonrpc']);
    const { client, logged } = loggedClient(relay.url, 'auto');
    const vms = await client.getAllRecords('vm');
    await client.call('VM.get_all');
    expect(vms.size).toBeGreaterThanOrEqual(6);
    expect(client.wireProtocol).toBe('xml-rpc');
    const [probe, ...rest] = relay.seen;
    expect(probe).toMatchObject({ path: '/jsonrpc', status: 500 });
    expect(rest.length).toBeGreaterThanOrEqual(3); // the login again, then 2 calls
    expect(rest.every((r) => r.path === '/' && r.contentType === 'text/xml' && r.status === 200)).toBe(true);
    const said = choices(logged());
    expect(said).toHaveLength(1);
    expect(said[0]).toMatchObject({ protocol: 'xml-rpc', why: expect.stringMatching(/no JSON-RPC.*HTTP 500/) });
  });

  it('a fixed protocol is used as asked, with no probe', async () => {
    const { relay } = await simBehindRelay();
    const { client, logged } = loggedClient(relay.url, 'xml-rpc');
    expect(client.wireProtocol).toBe('xml-rpc');
    await client.call('VM.get_all');
    expect(relay.seen.every((r) => r.path === '/')).toBe(true);
    expect(choices(logged())).toEqual([]);
  });

  it('json-rpc asked of a host without it fails naming the host and the HTTP answer', async () => {
    const { relay } = await simBehindRelay(['--no-jsonrpc']);
    const { client } = loggedClient(relay.url, 'json-rpc');
    await expect(client.call('VM.get_all')).rejects.toThrow(/HTTP 500 from http:\/\/127\.0\.0\.1:\d+/);
  });

  it('status shows the protocol auto found, per host', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'xg-protocol-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'config.toml'), '');
    for (const [args, expected] of [[[], 'json-rpc'], [['--no-jsonrpc'], 'xml-rpc']] as const) {
      const sim = await spawnSim({ guests: 2, args: [...args] });
      cleanups.push(() => sim.stop());
      const common = ['--xapi', sim.url, '--state-dir', join(dir, 'state'), '--config', join(dir, 'config.toml')];
      const text = await runCli(['status', ...common]);
      expect(text.code, text.stderr).toBe(0);
      expect(text.stdout.split('\n')[0]).toContain(`; XenAPI over ${expected} (xapi.protocol = auto)`);
      const json = JSON.parse((await runCli(['status', '--json', ...common])).stdout) as { host: { protocol: string }; xapiProtocol: string };
      expect(json.host.protocol).toBe(expected);
      expect(json.xapiProtocol).toBe('auto');
    }
  });
});

describe('the XML-RPC decoder', () => {
  it('decodes every table the client reads exactly as JSON-RPC carries it', async () => {
    const sim = await spawnSim({ guests: 40, seed: 3 });
    cleanups.push(() => sim.stop());
    const xml = loggedClient(sim.url, 'xml-rpc').client;
    const json = loggedClient(sim.url, 'json-rpc').client;
    // Start some guests so records carry live fields: domids, metrics, start times, a task.
    const halted = [...(await xml.getAllRecords('vm'))].filter(([, vm]) => vm.powerState === 'Halted' && !vm.isATemplate && !vm.isControlDomain);
    expect(halted.length).toBeGreaterThanOrEqual(3);
    for (const [ref] of halted.slice(0, 2)) await xml.call('VM.start', ref, false, false);
    await xml.call('Async.VM.start', halted[2]![0], false, false);
    await until('a guest agent to report', async () => (await json.getAllRecords('vm_guest_metrics')).size > 0);
    for (const cls of ['vm', 'vm_guest_metrics', 'vm_metrics', 'host', 'pool', 'task'] as EventClass[]) {
      // The guests still boot between two reads; a pair read while nothing changed must agree.
      let pair: [unknown, unknown] = [null, null];
      for (let attempt = 0; attempt < 10; attempt++) {
        const [overXml, overJson] = await Promise.all([xml.getAllRecords(cls), json.getAllRecords(cls)]);
        expect(overXml.size, cls).toBeGreaterThan(0);
        pair = [normalised(overXml), normalised(overJson)];
        if (JSON.stringify(pair[0]) === JSON.stringify(pair[1])) break;
      }
      expect(pair[0], cls).toEqual(pair[1]);
    }
  });
});

/** Date fields compare by instant: the protocols spell them alike but a decoder may build either form. */
function normalised(table: Map<string, unknown>): unknown {
  return JSON.parse(JSON.stringify([...table].sort(([a], [b]) => a.localeCompare(b))));
}
