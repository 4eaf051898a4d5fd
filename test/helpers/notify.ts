// A real NOTIFY_SOCKET for tests: an AF_UNIX datagram socket, as systemd's. Node cannot bind one, so
// a tiny python3 receiver binds it and prints every datagram as one JSON line on stdout, with the
// sender pid from SCM_CREDENTIALS (what systemd checks for NotifyAccess=main).

import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export interface NotifyMessage {
  /** The datagram as sent, e.g. "STATUS=starting\nREADY=1". */
  text: string;
  /** Its assignments in order, e.g. ["STATUS=starting", "READY=1"]. */
  assignments: string[];
  /** Sender pid from SCM_CREDENTIALS (null when the kernel attached none). */
  pid: number | null;
}

export interface NotifyReceiver {
  /** Pass as NOTIFY_SOCKET. */
  path: string;
  /** Raw datagrams received so far, in arrival order. */
  messages(): string[];
  /** Same, parsed, with the sender pid. */
  received(): NotifyMessage[];
  /** Resolves with the first message (already received or arriving later) that satisfies predicate. */
  waitFor(predicate: (m: NotifyMessage) => boolean, timeoutMs?: number): Promise<NotifyMessage>;
  close(): Promise<void>;
}

const RECEIVER = String.raw`
import json, os, socket, struct, sys
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(path)
os.chmod(path, 0o777)
print(json.dumps({"bound": path}), flush=True)
space = socket.CMSG_SPACE(12) + socket.CMSG_SPACE(16 * 4)
while True:
    data, anc, flags, addr = s.recvmsg(65536, space)
    pid = None
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("iII", payload[:12])[0]
        elif level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            # systemd-notify's BARRIER=1 carries a pipe fd; closing it is what systemd does.
            for i in range(len(payload) // 4):
                os.close(struct.unpack("i", payload[i * 4:i * 4 + 4])[0])
    print(json.dumps({"text": data.decode("utf-8", "replace"), "pid": pid}), flush=True)
`;

export async function startNotifyReceiver(): Promise<NotifyReceiver> {
  const dir = await mkdtemp(join(tmpdir(), 'xg-notify-'));
  const path = join(dir, 'notify.sock');
  const proc = spawn('python3', ['-c', RECEIVER, path], { stdio: ['ignore', 'pipe', 'pipe'] });
  const got: NotifyMessage[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));

  const bound = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`notify receiver did not bind ${path} within 10 s: ${stderr}`)), 10_000);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`notify receiver exited (${code}) before binding ${path}: ${stderr}`));
    });
    createInterface({ input: proc.stdout }).on('line', (line) => {
      const parsed = JSON.parse(line) as { bound?: string; text?: string; pid?: number | null };
      if (parsed.bound) {
        clearTimeout(timer);
        resolve();
        return;
      }
      const text = parsed.text ?? '';
      got.push({ text, assignments: text.split('\n').filter((a) => a !== ''), pid: parsed.pid ?? null });
      for (const wake of waiters) wake();
    });
  });
  proc.on('error', () => undefined);
  await bound;

  return {
    path,
    messages: () => got.map((m) => m.text),
    received: () => [...got],
    waitFor(predicate, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = got.find(predicate);
          if (!hit) return false;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(hit);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching notify message within ${timeoutMs} ms; got: ${JSON.stringify(got.map((m) => m.text))}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async close() {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((resolve) => proc.once('exit', resolve));
        proc.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Every value a key was given, in order, over all messages (e.g. values(r, 'STATUS')). */
export function valuesOf(receiver: NotifyReceiver, key: string): string[] {
  const prefix = `${key}=`;
  return receiver
    .received()
    .flatMap((m) => m.assignments)
    .filter((a) => a.startsWith(prefix))
    .map((a) => a.slice(prefix.length));
}
