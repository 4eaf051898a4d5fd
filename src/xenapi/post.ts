// One HTTP POST to xapi with its answer read as it arrives, shared by both wire protocols: the
// request goes out with the Content-Length xapi requires, the answer is handed to a reader chunk by
// chunk (decoded text), and a size limit stops a runaway answer. An answer that is not the
// protocol's (a non-200 status, or a content type the protocol never uses) rejects with
// NotThisProtocol carrying the status and the start of the body, which is how `auto` learns that a
// host has no JSON-RPC, and how the caller names the host in the error.

import http from 'node:http';
import https from 'node:https';
import { BAD_RESPONSE, XenApiError } from './errors.js';
import { DROPPED_CONNECTION_CODES } from './safe-to-repeat.js';

/** Far above any real answer: a 1,000-guest VM.get_all_records is ~7 MB of XML, ~2.5 MB of JSON. */
const MAX_ANSWER_BYTES = 512 * 1024 * 1024;
/** How much of an unexpected answer is kept for the error message. */
const PREVIEW_BYTES = 4096;

export interface PostTarget {
  https: boolean;
  /** node:http request options without method/path/headers: agent, socketPath or host/port, signal. */
  options: http.RequestOptions;
}

export interface AnswerReader {
  write(text: string): void;
  /** The whole answer was read: its value (or throws). */
  end(): unknown;
}

export interface PostRequest {
  method: string;
  path: string;
  contentType: string;
  body: string;
  /** Whether the answer belongs to this protocol, from its status and content type. */
  accepts(status: number, contentType: string): boolean;
  reader(): AnswerReader;
}

/**
 * The host answered, but not in this protocol. `res` and `body` are what transportError reads to
 * name the status and the answer.
 */
export class NotThisProtocol extends Error {
  override name = 'NotThisProtocol';
  constructor(
    readonly res: { statusCode: number },
    readonly contentType: string,
    readonly body: string,
  ) {
    super(`HTTP ${res.statusCode} (${contentType || 'no content type'})`);
  }
}

/**
 * The request went out on a reused kept-alive connection and the connection was reset or broken
 * before a single byte of answer. That is how a connection the host closed while it lay idle shows
 * (xapi restarted) — but it is also how a host that read the request, acted on it and then dropped
 * the connection shows, and the two cannot be told apart here. So this says only "no answer on a
 * reused connection"; whether the call may go out again is the caller's to decide from the call
 * itself (safe-to-repeat.ts). `cause` is the socket error (ECONNRESET, EPIPE).
 */
export class StaleConnection extends Error {
  override name = 'StaleConnection';
  constructor(override readonly cause: Error & { code?: string }) {
    super(`kept-alive connection reset or closed before any answer (${cause.code ?? cause.message})`);
  }
}


export function post(target: PostTarget, request: PostRequest): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const payload = Buffer.from(request.body, 'utf8');
    let answered = false;
    const req = (target.https ? https : http).request(
      {
        ...target.options,
        method: 'POST',
        path: request.path,
        headers: { 'User-Agent': 'xen-guests', 'Content-Type': request.contentType, 'Content-Length': payload.length },
      },
      (res) => {
        answered = true;
        const status = res.statusCode ?? 0;
        const contentType = String(res.headers['content-type'] ?? '');
        res.setEncoding('utf8');
        res.on('error', reject);
        if (!request.accepts(status, contentType)) {
          let preview = '';
          res.on('data', (text: string) => {
            if (preview.length < PREVIEW_BYTES) preview += text.slice(0, PREVIEW_BYTES - preview.length);
          });
          res.on('end', () => reject(new NotThisProtocol({ statusCode: status }, contentType, preview)));
          return;
        }
        const reader = request.reader();
        let size = 0;
        res.on('data', (text: string) => {
          size += text.length;
          if (size > MAX_ANSWER_BYTES) {
            res.destroy(new XenApiError(BAD_RESPONSE, [request.method, `answer larger than ${MAX_ANSWER_BYTES} bytes`], request.method));
            return;
          }
          try {
            reader.write(text);
          } catch (err) {
            res.destroy(err as Error);
          }
        });
        res.on('end', () => {
          try {
            resolve(reader.end());
          } catch (err) {
            reject(err as Error);
          }
        });
      },
    );
    req.on('error', (err: Error & { code?: string }) => {
      const stale = !answered && req.reusedSocket && DROPPED_CONNECTION_CODES.has(err.code ?? '');
      reject(stale ? new StaleConnection(err) : err);
    });
    req.end(payload);
  });
}
