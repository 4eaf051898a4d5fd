// One logger for the whole process: JSON lines for the journal, pretty when a person watches a TTY.
// Secrets are redacted at the logger, so no call site can leak them by accident.

import { fstatSync } from 'node:fs';
import { pino, type Logger, type LoggerOptions } from 'pino';
import { build as prettyStream } from 'pino-pretty';

export type { Logger };

const REDACT = [
  'password',
  'pwd',
  '*.password',
  '*.pwd',
  '*.*.password',
  'params.password',
  'credentials',
  '*.credentials',
];

export interface LoggerSettings {
  level?: string;
  /** Force JSON even on a TTY (tests, --json). */
  json?: boolean;
  /** Write here instead of stdout (tests); a file descriptor number or a pino destination. */
  destination?: number | NodeJS.WritableStream;
  name?: string;
}

export function createLogger(settings: LoggerSettings = {}): Logger {
  const name = settings.name ?? 'xen-guests';
  const options: LoggerOptions = {
    name,
    level: settings.level ?? process.env.XEN_GUESTS_LOG_LEVEL ?? 'info',
    redact: { paths: REDACT, censor: '[redacted]' },
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { log: guestNameNotName },
    onChild: (child) => refuseChildName(child, name),
  };
  const dest = settings.destination ?? 1;
  if (typeof dest === 'number' && writesToJournal(dest)) options.hooks = { streamWrite: withSyslogPrefix };
  const pretty = !settings.json && typeof dest === 'number' && process.stdout.isTTY && !process.env.JOURNAL_STREAM;
  if (pretty) {
    // One line per event for a person watching: the bulky detail objects stay in the JSON journal.
    // In process, not as a transport by name: a transport is a worker thread that resolves the module
    // from disk, which the self-contained executable has none of.
    const ignore = 'pid,hostname,name,totals,groups,budget,reason,ms,guests';
    return pino(options, prettyStream({ destination: dest, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore, singleLine: true }));
  }
  if (typeof dest === 'number') return pino(options, pino.destination({ fd: dest, sync: true }));
  return pino(options, dest);
}

/**
 * `name` is the program's (pino writes it into every line); a call that logs `name` too would give
 * the line two "name" keys, and jq and journald keep only one of them. Every name a call site logs
 * is a guest's, so it goes out under the house key, `guestName`.
 */
export function guestNameNotName(fields: Record<string, unknown>): Record<string, unknown> {
  if (!Object.hasOwn(fields, 'name')) return fields;
  const { name, ...rest } = fields;
  return { ...rest, guestName: rest.guestName ?? name };
}

/**
 * A child logger's bindings go into every line unformatted: a `name` there is refused where it is
 * made. (Its bindings read back with the program's name unless the child bound one of its own.)
 */
function refuseChildName(child: Logger, programName: string): void {
  if (child.bindings().name !== programName) {
    throw new Error('a child logger may not bind "name" (every line already carries the program\'s name); bind a guest\'s name as guestName');
  }
}

/**
 * Journald priorities by the `<N>` prefix that systemd's stdout stream parses (SyslogLevelPrefix=,
 * on by default), so `journalctl -p err` finds "guest could not be stopped". Chosen over the native
 * journal protocol because that needs a Unix datagram socket, which Node's core cannot open; the
 * prefix costs nothing and keeps the JSON line as it was.
 */
const SYSLOG_PRIORITY: [minLevel: number, priority: number][] = [
  [60, 2], // fatal → crit
  [50, 3], // error → err
  [40, 4], // warn → warning
  [30, 6], // info → info
  [0, 7], // debug, trace → debug
];

export function syslogPriority(pinoLevel: number): number {
  return SYSLOG_PRIORITY.find(([min]) => pinoLevel >= min)![1];
}

/** `<N>` before a pino JSON line, N from its "level" field (pino writes it first). */
export function withSyslogPrefix(line: string): string {
  const m = /"level":(\d+)/.exec(line);
  return m ? `<${syslogPriority(Number(m[1]))}>${line}` : line;
}

/**
 * Whether `fd` is systemd's journal stream: JOURNAL_STREAM names its device and inode, and must
 * match the fd itself (a child whose stdout was redirected inherits the variable, not the stream).
 */
function writesToJournal(fd: number): boolean {
  const stream = process.env.JOURNAL_STREAM;
  if (!stream) return false;
  try {
    const st = fstatSync(fd);
    return stream === `${st.dev}:${st.ino}`;
  } catch {
    return false;
  }
}

/** A logger that discards everything (pure code under test, benchmarks). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
