// An HTTP relay that records every request it forwards (path, content type) and the status of each
// answer: an observer of the wire that is independent of both the product and the simulator.

import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Relayed {
  path: string;
  contentType: string;
  /** The HTTP status the target answered (0 until it has). */
  status: number;
}

export interface RecordingRelay {
  url: string;
  seen: Relayed[];
  close(): Promise<void>;
}

export async function recordingRelay(target: string): Promise<RecordingRelay> {
  const to = new URL(target);
  const seen: Relayed[] = [];
  const server = http.createServer((req, res) => {
    const entry: Relayed = { path: req.url ?? '', contentType: String(req.headers['content-type'] ?? ''), status: 0 };
    seen.push(entry);
    const out = http.request({ host: to.hostname, port: to.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
      entry.status = answer.statusCode ?? 502;
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () =>
      new Promise((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
