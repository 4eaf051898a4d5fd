// A request that meets a reused kept-alive connection which the host drops without answering is
// sent again only when the call is safe to repeat. A raw keep-alive XML-RPC server in this test
// reads a request in full and then destroys the connection — as xapi does on an exception in its
// handler — so the host HAS read it: the server's own count of what arrived, and on which
// connection, is the judge.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { type XenApiClient, createXenApiClient } from '../../src/xenapi/index.js';
import { isSafeToRepeat } from '../../src/xenapi/safe-to-repeat.js';

interface Arrival {
  method: string;
  /** How many requests this connection had carried before this one: > 0 means a reused connection. */
  earlierOnConnection: number;
  dropped: boolean;
}

interface RawHost {
  url: string;
  arrivals: Arrival[];
  /** The next request of this method is read and then its connection destroyed, unanswered. */
  dropNext(method: string): void;
  close(): Promise<void>;
}

function success(value: string): string {
  return `<?xml version="1.0"?><methodResponse><params><param><value><struct>`
    + `<member><name>Status</name><value>Success</value></member>`
    + `<member><name>Value</name><value>${value}</value></member>`
    + `</struct></value></param></params></methodResponse>`;
}

const ANSWERS: Record<string, string> = {
  'session.login_with_password': success('OpaqueRef:session-1'),
  'VM.get_all': success('<array><data><value>OpaqueRef:vm-1</value></data></array>'),
  'Async.VM.start': success('OpaqueRef:task-1'),
  'session.logout': success(''),
};

async function rawHost(): Promise<RawHost> {
  const arrivals: Arrival[] = [];
  const carried = new WeakMap<object, number>();
  const dropping = new Set<string>();
  const server = http.createServer({ keepAlive: true }, (req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (text: string) => (body += text));
    req.on('end', () => {
      const method = /<methodName>([^<]+)<\/methodName>/.exec(body)?.[1] ?? '?';
      const earlierOnConnection = carried.get(req.socket) ?? 0;
      carried.set(req.socket, earlierOnConnection + 1);
      const dropped = dropping.delete(method);
      arrivals.push({ method, earlierOnConnection, dropped });
      if (dropped) {
        req.socket.destroy();
        return;
      }
      res.writeHead(200, { 'Content-Type': 'text/xml' });
      res.end(ANSWERS[method] ?? `<?xml version="1.0"?><methodResponse><params><param><value><struct><member><name>Status</name><value>Failure</value></member><member><name>ErrorDescription</name><value><array><data><value>MESSAGE_METHOD_UNKNOWN</value><value>${method}</value></data></array></value></member></struct></value></param></params></methodResponse>`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    arrivals,
    dropNext: (method) => void dropping.add(method),
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

let host: RawHost | undefined;
let client: XenApiClient | undefined;
afterEach(async () => {
  await client?.close();
  await host?.close();
  client = host = undefined;
});

async function connectedClient(): Promise<{ host: RawHost; client: XenApiClient }> {
  host = await rawHost();
  client = createXenApiClient({ url: host.url, protocol: 'xml-rpc', callTimeoutMs: 10_000 });
  // Logs in and reads on one connection, which then lies idle for the next call to reuse.
  await client.call('VM.get_all');
  return { host, client };
}

const arrived = (h: RawHost, method: string): Arrival[] => h.arrivals.filter((a) => a.method === method);

it('an Async.VM.start the host read and then dropped the connection on arrives once, and the call fails unreachable', async () => {
  const { host, client } = await connectedClient();
  host.dropNext('Async.VM.start');
  const start = client.callWith({ retryUnavailable: false }, 'Async.VM.start', 'OpaqueRef:vm-1', false, false);
  await expect(start).rejects.toMatchObject({ code: 'XENAPI_UNREACHABLE' });
  const starts = arrived(host, 'Async.VM.start');
  expect(starts).toHaveLength(1);
  // It was the reused-connection case: the connection had carried the login and the read before.
  expect(starts[0]).toMatchObject({ dropped: true, earlierOnConnection: 2 });
});

it('with the client’s usual retries too, the start is not sent again: the dropped connection fails it unreachable', async () => {
  const { host, client } = await connectedClient();
  host.dropNext('Async.VM.start');
  await expect(client.call('Async.VM.start', 'OpaqueRef:vm-1', false, false)).rejects.toMatchObject({ code: 'XENAPI_UNREACHABLE', params: [host.url, 'ECONNRESET'] });
  expect(arrived(host, 'Async.VM.start')).toHaveLength(1);
});

it('a read the host read and then dropped the connection on is sent again on a new connection and answered', async () => {
  const { host, client } = await connectedClient();
  host.dropNext('VM.get_all');
  await expect(client.callWith({ retryUnavailable: false }, 'VM.get_all')).resolves.toEqual(['OpaqueRef:vm-1']);
  const reads = arrived(host, 'VM.get_all');
  // The first read set the connection up; the second was dropped on that reused connection; the
  // third is the one resend, on a connection of its own.
  expect(reads.map(({ dropped, earlierOnConnection }) => ({ dropped, earlierOnConnection }))).toEqual([
    { dropped: false, earlierOnConnection: 1 },
    { dropped: true, earlierOnConnection: 2 },
    { dropped: false, earlierOnConnection: 0 },
  ]);
});

it('only reads, the event calls and a login count as safe to repeat', () => {
  for (const read of ['VM.get_all', 'VM.get_all_records', 'VM.get_all_records_where', 'VM.get_record', 'task.get_record', 'SR.get_by_uuid', 'event.from', 'event.inject', 'session.login_with_password']) {
    expect(isSafeToRepeat(read), read).toBe(true);
  }
  for (const write of ['Async.VM.start', 'VM.start_on', 'Async.VM.pool_migrate', 'PBD.plug', 'host.disable', 'message.create', 'VM.add_to_other_config', 'VM.set_name_label', 'task.cancel', 'Async.VM.get_record']) {
    expect(isSafeToRepeat(write), write).toBe(false);
  }
});
