// Kept-alive connections between the XenAPI client and the real simulator process, judged by the
// simulator's own count of the connections it accepted and holds open (sim.get_info), never by the
// client's: many calls share few connections over TCP and the Unix socket, closing the client leaves
// none open, a toolstack restart drops the idle ones, and a call sent on an idle connection the host
// had already dropped goes out again on a new one when it is a read; a start is not sent again
// (the client cannot tell whether the host read it), so it fails unreachable and is made once.
// (Build first: the simulator runs from dist/.)
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type XenApiClient, createXenApiClient } from '../../src/xenapi/index.js';
import { type SimHandle, spawnSim, until } from '../helpers/sim.js';

/**
 * sim.get_info's connection counts. The reading goes over the test helper's own connection, which
 * closes with the answer: it is counted in `accepted` and is the one `open` while it is answered.
 */
async function connectionsOf(sim: SimHandle): Promise<{ accepted: number; open: number }> {
  const info = (await sim.call('sim.get_info')) as { connections_accepted: unknown; connections_open: unknown };
  return { accepted: Number(info.connections_accepted), open: Number(info.connections_open) };
}

/**
 * Restarts the simulated toolstack (no time down) and returns once it is back — with this process
 * blocked throughout (a child process does the asking), so the client cannot have noticed that its
 * idle connection was dropped: its next call is sent on that dead connection.
 */
function restartWhileBlocked(sim: SimHandle): void {
  const script = `
    const http = require('node:http');
    const u = new URL(process.argv[1]);
    const call = (method, params) => new Promise((ok, fail) => {
      const body = '<?xml version="1.0"?><methodCall><methodName>' + method + '</methodName><params>' + params + '</params></methodCall>';
      const req = http.request({ host: u.hostname, port: Number(u.port), path: '/', method: 'POST', agent: false, headers: { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(body), connection: 'close' } }, (res) => {
        let text = ''; res.setEncoding('utf8'); res.on('data', (c) => (text += c)); res.on('end', () => ok(text));
      });
      req.on('error', fail); req.end(body);
    });
    const restarts = async () => { try { return Number(/<name>toolstack_restarts<\\/name><value>(\\d+)/.exec(await call('sim.get_info', ''))[1]); } catch { return -1; } };
    (async () => {
      const before = await restarts();
      await call('sim.restart_toolstack', '<param><value><double>0</double></value></param>');
      while ((await restarts()) <= before) await new Promise((r) => setTimeout(r, 10));
    })().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
  `;
  const done = spawnSync(process.execPath, ['-e', script, sim.url], { timeout: 30_000, encoding: 'utf8' });
  if (done.status !== 0) throw new Error(`restart helper failed (status ${done.status}, signal ${done.signal}): ${done.stderr}`);
}

const SCENARIO = {
  guests: [
    { name_label: 'web', power_state: 'Halted', domain_type: 'pv', behaviour: { boot_s: 1, agent_s: 1, shutdown_s: 1 } },
    { name_label: 'db', power_state: 'Halted', domain_type: 'pv', behaviour: { boot_s: 1, agent_s: 1, shutdown_s: 1 } },
  ],
};

describe.each(['tcp', 'unix'] as const)('kept-alive connections over %s', (via) => {
  let sim: SimHandle;
  const clients: XenApiClient[] = [];
  const newClient = (): XenApiClient => {
    const url = via === 'unix' ? `unix:${sim.socketPath}` : sim.url;
    const client = createXenApiClient({ url, protocol: 'xml-rpc', callTimeoutMs: 10_000, eventTimeoutS: 5 });
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    sim = await spawnSim({ scenario: SCENARIO, unix: true });
  });
  afterAll(async () => {
    for (const c of clients) await c.close();
    await sim?.stop();
  });

  it('forty calls of one client use one or two connections, and closing it leaves none open', async () => {
    const before = await connectionsOf(sim);
    const client = newClient();
    for (let i = 0; i < 40; i++) await client.call('VM.get_all');
    const after = await connectionsOf(sim);
    // Accepted meanwhile: the client's, plus the reading's own (the second reading).
    expect(after.accepted - before.accepted - 1).toBeGreaterThanOrEqual(1);
    expect(after.accepted - before.accepted - 1).toBeLessThanOrEqual(2);
    expect(after.open).toBeGreaterThanOrEqual(2); // the client's idle one(s) and the reading's
    await client.close();
    // Closing ends the client's connections; the host sees them go (only the reading's is left).
    await until('the closed client’s connections gone at the host', async () => (await connectionsOf(sim)).open === 1);
  });

  it('a toolstack restart drops the connections that lie idle', async () => {
    const client = newClient();
    await client.call('VM.get_all');
    expect((await connectionsOf(sim)).open).toBeGreaterThanOrEqual(2);
    restartWhileBlocked(sim);
    expect((await connectionsOf(sim)).open).toBe(1);
  });

  it('a call sent on an idle connection the host had dropped goes out again on a new one, even one that is never retried', async () => {
    const client = newClient();
    await client.call('VM.get_all');
    restartWhileBlocked(sim);
    // Sent before this process has read the host's close: it meets the dead connection first.
    const vms = client.callWith({ retryUnavailable: false }, 'VM.get_all');
    await expect(vms).resolves.toEqual(expect.any(Array));
  });

  it('an Async.VM.start that meets a dropped idle connection is not sent again: it fails unreachable, and the guest starts once when asked again', async () => {
    const client = newClient();
    const [vm] = (await client.call('VM.get_by_name_label', via === 'tcp' ? 'web' : 'db')) as string[];
    const seqBefore = ((await sim.call('sim.get_call_log')) as unknown[]).length;
    restartWhileBlocked(sim);
    // A dead connection giving no answer cannot tell "closed while idle" from "read, then dropped",
    // so a call that changes something is not repeated behind its caller's back.
    const lost = client.callWith({ retryUnavailable: false }, 'Async.VM.start', vm!, false, false);
    await expect(lost).rejects.toMatchObject({ code: 'XENAPI_UNREACHABLE' });
    const startsOf = async () =>
      ((await sim.call('sim.get_call_log', seqBefore)) as Array<{ method: string; outcome: string }>).filter((e) => e.method === 'Async.VM.start');
    expect(await startsOf()).toEqual([]); // the host had closed that connection: it never read the call
    expect(await sim.call('VM.get_power_state', await sim.login(), vm)).toBe('Halted');
    // The caller reads the state again and asks once more, on a new connection: one start made.
    await expect(client.callWith({ retryUnavailable: false }, 'Async.VM.start', vm!, false, false)).resolves.toMatch(/^OpaqueRef:/);
    const starts = await startsOf();
    // A session the restart forgot is refused and the start made again after a new login: one made.
    expect(starts.filter((e) => e.outcome === 'ok')).toHaveLength(1);
    expect(starts.filter((e) => e.outcome !== 'ok' && e.outcome !== 'SESSION_INVALID')).toEqual([]);
  });
});
