// One logger for the whole process: JSON lines for the journal, pretty when a person watches a TTY.
// Secrets are redacted at the logger, so no call site can leak them by accident.

import { pino, type Logger, type LoggerOptions } from 'pino';

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
  const options: LoggerOptions = {
    name: settings.name ?? 'xen-guests',
    level: settings.level ?? process.env.XEN_GUESTS_LOG_LEVEL ?? 'info',
    redact: { paths: REDACT, censor: '[redacted]' },
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  const dest = settings.destination ?? 1;
  const pretty = !settings.json && typeof dest === 'number' && process.stdout.isTTY && !process.env.JOURNAL_STREAM;
  if (pretty) {
    // One line per event for a person watching: the bulky detail objects stay in the JSON journal.
    const ignore = 'pid,hostname,name,totals,groups,budget,reason,ms,guests';
    return pino({ ...options, transport: { target: 'pino-pretty', options: { destination: dest, translateTime: 'SYS:HH:MM:ss.l', ignore, singleLine: true } } });
  }
  if (typeof dest === 'number') return pino(options, pino.destination({ fd: dest, sync: true }));
  return pino(options, dest);
}

/** A logger that discards everything (pure code under test, benchmarks). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
