// The real simulator process keeps HTTP connections as xapi's http_svr does: HTTP/1.1 keep-alive
// unless the request says `Connection: close`, HTTP/1.0 closed unless it says keep-alive, the
// answer's `connection` header mirroring it, and every error page closing the connection. Judged on
// raw sockets (did the same socket carry a second answer; did the server end it) over TCP and the
// Unix socket.

import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSim, type SimHandle } from '../helpers/sim.js';

let sim: SimHandle;

beforeAll(async () => {
  sim = await spawnSim({ unix: true });
});
afterAll(async () => {
  await sim?.stop();
});

const INFO = '<?xml version="1.0"?><methodCall><methodName>sim.get_info</methodName><params></params></methodCall>';

interface Answer {
  status: number;
  connection: string | undefined;
}

/**
 * One raw connection: writes each request once the answer before it is read (by its content-length),
 * and reports the answers and whether the server ended the connection after the last (bounded wait).
 */
function exchange(via: 'tcp' | 'unix', requests: string[]): Promise<{ answers: Answer[]; closedByServer: boolean }> {
  return new Promise((resolve, reject) => {
    const u = new URL(sim.url);
    const socket = via === 'unix' ? net.connect(sim.socketPath!) : net.connect(Number(u.port), u.hostname);
    const answers: Answer[] = [];
    let buffer = Buffer.alloc(0);
    let next = 0;
    const bound = setTimeout(() => finish(false), 5_000);
    const finish = (closedByServer: boolean): void => {
      clearTimeout(bound);
      socket.destroy();
      resolve({ answers, closedByServer });
    };
    const sendNext = (): void => {
      if (next < requests.length) socket.write(requests[next++]!);
    };
    socket.on('connect', sendNext);
    socket.on('error', reject);
    socket.on('end', () => finish(true));
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const headEnd = buffer.indexOf('\r\n\r\n');
        if (headEnd < 0) return;
        const head = buffer.subarray(0, headEnd).toString('latin1');
        const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (buffer.length < headEnd + 4 + length) return;
        buffer = buffer.subarray(headEnd + 4 + length);
        answers.push({ status: Number(head.split(' ')[1]), connection: /\r\nconnection: ([^\r]*)/i.exec(head)?.[1] });
        // After the last answer: one that says close is waited on for the server's end; one that
        // says keep-alive is proven kept by the answers before it, all on this one socket.
        if (answers.length === requests.length) {
          if (answers.at(-1)!.connection === 'keep-alive') finish(false);
          return;
        }
        sendNext();
      }
    });
  });
}

const post = (body: string, headers: string[] = [], version = '1.1', path = '/'): string =>
  [`POST ${path} HTTP/${version}`, 'host: sim', 'content-type: text/xml', `content-length: ${Buffer.byteLength(body)}`, ...headers, '', body].join('\r\n');

describe.each(['tcp', 'unix'] as const)('connections over %s', (via) => {
  it('HTTP/1.1 keeps the connection: three calls, three answers on one socket, each saying keep-alive', async () => {
    const { answers } = await exchange(via, [post(INFO), post(INFO), post(INFO)]);
    expect(answers.map((a) => [a.status, a.connection])).toEqual([[200, 'keep-alive'], [200, 'keep-alive'], [200, 'keep-alive']]);
  });

  it('Connection: close is mirrored and the server ends the connection after that answer', async () => {
    const { answers, closedByServer } = await exchange(via, [post(INFO), post(INFO, ['Connection: close'])]);
    expect(answers.map((a) => a.connection)).toEqual(['keep-alive', 'close']);
    expect(closedByServer).toBe(true);
  });

  it('HTTP/1.0 closes unless it asks to keep alive', async () => {
    const plain = await exchange(via, [post(INFO, [], '1.0')]);
    expect(plain.answers.map((a) => a.connection)).toEqual(['close']);
    expect(plain.closedByServer).toBe(true);
    const asked = await exchange(via, [post(INFO, ['Connection: keep-alive'], '1.0'), post(INFO, ['Connection: keep-alive'], '1.0')]);
    expect(asked.answers.map((a) => a.connection)).toEqual(['keep-alive', 'keep-alive']);
  });

  it('error pages close the connection, as xapi does, even when the request asked to keep it', async () => {
    const notFound = await exchange(via, ['GET / HTTP/1.1\r\nhost: sim\r\nConnection: keep-alive\r\n\r\n']);
    expect(notFound.answers.map((a) => [a.status, a.connection])).toEqual([[404, 'close']]);
    expect(notFound.closedByServer).toBe(true);
    const malformed = await exchange(via, [post('<methodCall>', ['Connection: keep-alive'])]);
    expect(malformed.answers.map((a) => [a.status, a.connection])).toEqual([[500, 'close']]);
    expect(malformed.closedByServer).toBe(true);
  });
});
