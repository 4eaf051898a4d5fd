// sd_notify for a Node process, through the `systemd-notify` binary.
//
// Why not a socket of our own: Node's dgram module only speaks UDP, and NOTIFY_SOCKET is an AF_UNIX
// datagram socket. A native addon (unix-dgram and friends) needs a C compiler at install time, which a
// dom0 does not have, and ties the install to one Node ABI. `systemd-notify` ships with systemd on
// every host we target. With `--pid=<our pid>` it sends SCM_CREDENTIALS naming our pid, so systemd
// attributes the message to the main process (NotifyAccess=main works, and there is no "sender already
// exited" race). That needs root; when unprivileged, libsystemd retries without credentials (checked on
// systemd 252), which is what tests running as a normal user get.
//
// Cost: one short-lived process per message. Hence: assignments made in the same tick are batched into
// one message, each key is coalesced (latest STATUS wins), messages that change no state are sent at
// most every minIntervalMs, and only one send is in flight.

import { execFile } from 'node:child_process';
import type { Logger } from '../log.js';
import { monotonicNow } from '../core/clock.js';

export interface Notifier {
  /** READY=1 (and STATUS= when given): startup finished. */
  ready(status?: string): void;
  /** STATUS=: one line a person reads in `systemctl status`. Coalesced, at most a few per second. */
  status(text: string): void;
  /** STOPPING=1 (and STATUS= when given). */
  stopping(status?: string): void;
  /**
   * EXTEND_TIMEOUT_USEC=: ask systemd (>= 236) for `ms` more milliseconds from now before it gives up
   * on the current start/stop. Older systemd ignores it, so TimeoutStopSec must cover the deadline.
   */
  extendTimeout(ms: number): void;
  /** RELOADING=1 (+ MONOTONIC_USEC=); call ready() once the reload is done. */
  reloading(): void;
  /** Ping WATCHDOG=1 at half of WATCHDOG_USEC, when systemd asked for a watchdog for this process. */
  startWatchdog(): void;
  /** Resolves when everything queued so far has been handed to systemd (or given up on). */
  flush(): Promise<void>;
  /** Stops the watchdog and flushes. */
  close(): Promise<void>;
  /** False when NOTIFY_SOCKET is unset: every call is a no-op. */
  readonly enabled: boolean;
}

export interface NotifierOptions {
  /** Environment to read NOTIFY_SOCKET / WATCHDOG_USEC / WATCHDOG_PID from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** The systemd-notify binary (default: found on PATH). */
  command?: string;
  /**
   * Minimum gap between two messages that change no state (STATUS, EXTEND_TIMEOUT_USEC, WATCHDOG), ms
   * (default 250). READY/STOPPING/RELOADING go out at once, carrying whatever else is pending.
   */
  minIntervalMs?: number;
  /** Bound on one systemd-notify run, ms (default 5000). */
  sendTimeoutMs?: number;
  /** Pid systemd should attribute the messages to (default process.pid). */
  pid?: number;
}

/** Keys that change the unit's state; two different ones never share a message (order matters). */
const TRANSITIONS = new Set(['READY', 'RELOADING', 'STOPPING']);

type Batch = Map<string, string>;

export function createNotifier(log: Logger, options: NotifierOptions = {}): Notifier {
  const env = options.env ?? process.env;
  const socket = env.NOTIFY_SOCKET ?? '';
  const command = options.command ?? 'systemd-notify';
  const minIntervalMs = options.minIntervalMs ?? 250;
  const sendTimeoutMs = options.sendTimeoutMs ?? 5000;
  const pid = options.pid ?? process.pid;
  const enabled = socket !== '';

  const queue: Batch[] = [];
  let sending: Promise<void> | null = null;
  let lastSentAt = -Infinity; // never: monotonic time starts near 0 at boot
  let delayTimer: NodeJS.Timeout | null = null;
  let watchdogTimer: NodeJS.Timeout | null = null;
  let gaveUp = false;
  const reported = new Set<string>();
  let noBlock: Promise<boolean> | null = null;

  function reportOnce(kind: string, message: string, err?: unknown): void {
    if (reported.has(kind)) {
      log.debug({ err }, message);
      return;
    }
    reported.add(kind);
    log.warn({ err, notifySocket: socket }, message);
  }

  function lastBatch(): Batch {
    let batch = queue[queue.length - 1];
    if (!batch) {
      batch = new Map();
      queue.push(batch);
    }
    return batch;
  }

  function add(key: string, value: string): void {
    if (!enabled || gaveUp) return;
    let batch = lastBatch();
    if (TRANSITIONS.has(key) && [...batch.keys()].some((k) => TRANSITIONS.has(k) && k !== key)) {
      batch = new Map();
      queue.push(batch);
    }
    // Re-inserting moves the key to the end, keeping the message in call order.
    batch.delete(key);
    batch.set(key, value);
  }

  function transitionPending(): boolean {
    return queue.some((b) => [...b.keys()].some((k) => TRANSITIONS.has(k)));
  }

  function schedule(): void {
    if (sending || queue.length === 0) return;
    if (!transitionPending()) {
      const wait = lastSentAt + minIntervalMs - monotonicNow();
      if (wait > 0) {
        delayTimer ??= setTimeout(() => {
          delayTimer = null;
          schedule();
        }, wait);
        delayTimer.unref();
        return;
      }
    }
    if (delayTimer) {
      clearTimeout(delayTimer);
      delayTimer = null;
    }
    // setImmediate: assignments made in the same tick join the batch.
    sending = new Promise<void>((resolve) => setImmediate(resolve)).then(drain).finally(() => {
      sending = null;
      schedule();
    });
  }

  async function drain(): Promise<void> {
    const batch = queue.shift();
    if (!batch || batch.size === 0 || gaveUp) return;
    lastSentAt = monotonicNow();
    await send([...batch].map(([k, v]) => `${k}=${v}`));
  }

  function supportsNoBlock(): Promise<boolean> {
    // `--no-block` (systemd >= 246) skips the BARRIER round trip; systemd 219 on XCP-ng would reject it.
    noBlock ??= new Promise((resolve) => {
      execFile(command, ['--version'], { timeout: sendTimeoutMs, killSignal: 'SIGKILL' }, (err, stdout) => {
        const version = /systemd\s+(\d+)/.exec(String(stdout ?? ''));
        resolve(!err && version !== null && Number(version[1]) >= 246);
      });
    });
    return noBlock;
  }

  async function send(assignments: string[]): Promise<void> {
    const args = [`--pid=${pid}`];
    if (await supportsNoBlock()) args.push('--no-block');
    args.push(...assignments);
    await new Promise<void>((resolve) => {
      execFile(command, args, { env, timeout: sendTimeoutMs, killSignal: 'SIGKILL' }, (err, _stdout, stderr) => {
        if (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') {
            gaveUp = true;
            queue.length = 0;
            reportOnce('missing', `${command} not found: cannot tell systemd our state (READY/STATUS/STOPPING); systemd will time out a Type=notify unit`, err);
          } else if ((err as { killed?: boolean }).killed) {
            reportOnce('timeout', `${command} did not finish within ${sendTimeoutMs} ms; message dropped: ${assignments.join(' ')}`);
          } else {
            reportOnce('failed', `${command} failed (${String(stderr).trim() || err.message}); message dropped: ${assignments.join(' ')}`);
          }
        }
        resolve();
      });
    });
  }

  function transition(key: string, status?: string): void {
    if (status !== undefined) add('STATUS', oneLine(status));
    add(key, '1');
    schedule();
  }

  function watchdogInterval(): number | null {
    const usec = Number(env.WATCHDOG_USEC ?? '');
    if (!Number.isFinite(usec) || usec <= 0) return null;
    const owner = env.WATCHDOG_PID;
    if (owner !== undefined && owner !== '' && Number(owner) !== pid) return null;
    return Math.max(1, Math.floor(usec / 1000 / 2));
  }

  async function flush(): Promise<void> {
    if (delayTimer) {
      clearTimeout(delayTimer);
      delayTimer = null;
    }
    while (queue.length > 0 || sending) {
      if (!sending) {
        sending = drain().finally(() => {
          sending = null;
        });
      }
      await sending;
    }
  }

  return {
    enabled,
    ready: (status) => transition('READY', status),
    stopping: (status) => transition('STOPPING', status),
    reloading() {
      // Type=notify-reload (systemd >= 253) wants the monotonic time of the reload request.
      add('RELOADING', '1');
      add('MONOTONIC_USEC', String(monotonicUsec()));
      schedule();
    },
    status(text) {
      add('STATUS', oneLine(text));
      schedule();
    },
    extendTimeout(ms) {
      if (!Number.isFinite(ms) || ms <= 0) {
        log.warn({ ms }, 'extendTimeout: ignoring a non-positive or non-finite extension');
        return;
      }
      add('EXTEND_TIMEOUT_USEC', String(Math.ceil(ms * 1000)));
      schedule();
    },
    startWatchdog() {
      if (!enabled || watchdogTimer) return;
      const every = watchdogInterval();
      if (every === null) return;
      log.debug({ everyMs: every }, 'systemd watchdog enabled');
      const ping = () => {
        add('WATCHDOG', '1');
        schedule();
      };
      ping();
      watchdogTimer = setInterval(ping, every);
      watchdogTimer.unref();
    },
    flush,
    async close() {
      if (watchdogTimer) clearInterval(watchdogTimer);
      watchdogTimer = null;
      await flush();
    },
  };
}

/** STATUS is one line in `systemctl status`; a newline would end the assignment early. */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').trim();
}

function monotonicUsec(): bigint {
  return process.hrtime.bigint() / 1000n;
}
