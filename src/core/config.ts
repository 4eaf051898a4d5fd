// The host's config file: TOML in, a fully-filled Config out, or a ConfigError listing every problem
// (file, dotted key, bad value, what is allowed). A bad config stops the daemon before it acts, so
// everything is checked here: types, ranges, unknown keys (typos must not be silent), cross-field rules.

import { isAbsolute } from 'node:path';
import { parse, stringify, TomlError } from 'smol-toml';
import type { Config, LogLevel, OnSigterm, ReadyCheck } from './types.js';
import {
  type Checked,
  DELAY_MAX,
  didYouMean,
  formatReadyCheck,
  GUEST_TABLE_KEYS,
  GUEST_TIMEOUT_MAX,
  GUEST_TIMEOUT_MIN,
  ON_START_VALUES,
  ON_STOP_VALUES,
  oneOf,
  ORDER_LIMIT,
  readyCheck,
  seconds,
  showValue,
  wholeNumber,
} from './keys.js';
import { ORDER_WITHIN_GROUP_VALUES } from './within-group.js';

export const DEFAULT_CONFIG_PATH = '/etc/xen-guests/config.toml';

/** Where command-line overrides are said to come from in problems. */
export const COMMAND_LINE = 'command line';

const SUSPEND_REFUSED_TEXT = 'must be shutdown, poweroff or migrate; suspend is refused: resuming an old memory image against disks that changed since corrupts data';

export const ON_SIGTERM_VALUES: readonly OnSigterm[] = ['auto', 'stop-guests', 'leave-guests'];
export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

export const DEADLINE_MIN = 10;
export const DEADLINE_MAX = 86_400;

export interface ConfigProblem {
  /** The config file, or 'command line'. */
  file: string;
  /** Dotted TOML key (`shutdown.deadline`, `guests."web".on_stop`) or the flag (`--xapi`); '' for the whole file. */
  key: string;
  /** The bad value as written ('' when there is none, e.g. a syntax error). */
  value: string;
  allowed: string;
  message: string;
}

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: ConfigProblem[],
  ) {
    const head = problems.length === 1 ? `1 problem in ${source}` : `${problems.length} problems in ${source}`;
    super(`${head}:\n${problems.map((p) => `  ${p.message}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

function problem(file: string, key: string, value: string, allowed: string): ConfigProblem {
  let message: string;
  if (file === COMMAND_LINE) message = `${key} ${value}: ${allowed}`;
  else if (key === '') message = `${file}: ${allowed}`;
  else message = `${key} = ${value} in ${file}: ${allowed}`;
  return { file, key, value, allowed, message };
}

export function defaultConfig(): Config {
  return {
    source: '',
    toolstack: { kind: 'xenapi' },
    xapi: {
      url: 'unix:/var/lib/xcp/xapi',
      protocol: 'auto',
      user: 'root',
      passwordFile: '',
      caFile: '',
      fingerprint: '',
      hostUuid: '',
      callTimeout: 60,
      waitReady: 600,
    },
    boot: { parallelism: 4, ready: { kind: 'running' }, readyTimeout: 300, honourAutoPoweron: true, orderWithinGroup: 'longest-first' },
    shutdown: { parallelism: 8, guestTimeout: 180, deadline: 900, hardReserve: 60, onSigterm: 'auto', onStop: 'shutdown', orderWithinGroup: 'longest-first' },
    stateDir: '/var/lib/xen-guests',
    alerts: true,
    log: { level: 'info' },
    guests: {},
  };
}

// ---------------------------------------------------------------- value checks (TOML values)

type Check<T> = (value: unknown) => Checked<T>;

function text<T>(inner: (s: string) => Checked<T>, allowedType = 'a quoted string'): Check<T> {
  return (value) => {
    if (typeof value !== 'string') {
      // Say which strings would do: ask the inner check about a value it surely refuses.
      const probe = inner('\u0000');
      const detail = probe.ok ? '' : `: ${probe.allowed.replace(/^must be /, '')}`;
      return { ok: false, allowed: `must be ${allowedType}${detail}` };
    }
    if (value.includes('\u0000')) return { ok: false, allowed: 'must not contain a NUL character' };
    return inner(value);
  };
}

function integer(min: number, max: number, unit: string): Check<number> {
  const allowed = `must be a whole number${unit ? ` of ${unit}` : ''} from ${min} to ${max}`;
  return (value) =>
    typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max
      ? { ok: true, value }
      : { ok: false, allowed };
}

const boolean: Check<boolean> = (value) =>
  typeof value === 'boolean' ? { ok: true, value } : { ok: false, allowed: 'must be true or false (no quotes)' };

function absolutePath(optional: boolean): (s: string) => Checked<string> {
  const allowed = optional ? 'must be "" (none) or an absolute path' : 'must be an absolute path';
  return (s) => (s === '' && optional) || (s !== '' && isAbsolute(s) && !s.includes('\u0000'))
    ? { ok: true, value: s }
    : { ok: false, allowed };
}

const LOOPBACK_HOSTS = new Set(['localhost', '[::1]']);
const URL_ALLOWED =
  'must be unix:/ABSOLUTE/PATH or https://HOST[:PORT] (http:// only for loopback: 127.0.0.1, [::1], localhost; no user or password in the URL — use xapi.user and xapi.password_file)';

/** `unix:/path` or `https://host[:port]`; plain http only where nobody else can listen in. */
export function checkXapiUrl(s: string): Checked<string> {
  if (s.startsWith('unix:')) {
    const path = s.slice('unix:'.length);
    return isAbsolute(path) && !path.includes('\u0000') ? { ok: true, value: s } : { ok: false, allowed: URL_ALLOWED };
  }
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    return { ok: false, allowed: URL_ALLOWED };
  }
  if (url.username || url.password || url.search || url.hash || !url.hostname) return { ok: false, allowed: URL_ALLOWED };
  if (url.protocol === 'https:') return { ok: true, value: s };
  const loopback = LOOPBACK_HOSTS.has(url.hostname) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(url.hostname);
  if (url.protocol === 'http:' && loopback) return { ok: true, value: s };
  return { ok: false, allowed: URL_ALLOWED };
}

function fingerprint(s: string): Checked<string> {
  if (s === '') return { ok: true, value: '' };
  const hex = s.replace(/:/g, '');
  const wellFormed = /^[0-9A-Fa-f]{64}$/.test(hex) && (!s.includes(':') || /^([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$/.test(s));
  if (!wellFormed) {
    return { ok: false, allowed: 'must be "" (none) or a SHA-256 fingerprint: 32 hex byte pairs separated by colons (AA:BB:…:FF)' };
  }
  return { ok: true, value: hex.toUpperCase().match(/../g)!.join(':') };
}

function hostUuid(s: string): Checked<string> {
  if (s === '') return { ok: true, value: '' };
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s)
    ? { ok: true, value: s.toLowerCase() }
    : { ok: false, allowed: 'must be "" (find it from /etc/xensource-inventory) or a host uuid like 01234567-89ab-cdef-0123-456789abcdef' };
}

function userName(s: string): Checked<string> {
  return s.trim() !== '' && !/[\u0000-\u001f]/.test(s)
    ? { ok: true, value: s }
    : { ok: false, allowed: 'must be a non-empty user name' };
}

// ---------------------------------------------------------------- schema

interface Field {
  check: Check<unknown>;
  set(config: Config, value: unknown): void;
}

function field<T>(check: Check<T>, set: (config: Config, value: T) => void): Field {
  return { check, set: set as (config: Config, value: unknown) => void };
}

const SECTIONS: Record<string, Record<string, Field>> = {
  toolstack: {
    kind: field(text((s) => oneOf(s, ['xenapi', 'xl'] as const)), (c, v) => (c.toolstack.kind = v)),
  },
  xapi: {
    url: field(text(checkXapiUrl), (c, v) => (c.xapi.url = v)),
    protocol: field(text((s) => oneOf(s, ['auto', 'xml-rpc', 'json-rpc'] as const)), (c, v) => (c.xapi.protocol = v)),
    user: field(text(userName), (c, v) => (c.xapi.user = v)),
    password_file: field(text(absolutePath(true)), (c, v) => (c.xapi.passwordFile = v)),
    ca_file: field(text(absolutePath(true)), (c, v) => (c.xapi.caFile = v)),
    fingerprint: field(text(fingerprint), (c, v) => (c.xapi.fingerprint = v)),
    host_uuid: field(text(hostUuid), (c, v) => (c.xapi.hostUuid = v)),
    call_timeout: field(integer(1, 3600, 'seconds'), (c, v) => (c.xapi.callTimeout = v)),
    wait_ready: field(integer(1, 86_400, 'seconds'), (c, v) => (c.xapi.waitReady = v)),
  },
  boot: {
    parallelism: field(integer(1, 1000, ''), (c, v) => (c.boot.parallelism = v)),
    ready: field(text<ReadyCheck>(readyCheck), (c, v) => (c.boot.ready = v)),
    ready_timeout: field(integer(1, 86_400, 'seconds'), (c, v) => (c.boot.readyTimeout = v)),
    honour_auto_poweron: field(boolean, (c, v) => (c.boot.honourAutoPoweron = v)),
    order_within_group: field(text((s) => oneOf(s, ORDER_WITHIN_GROUP_VALUES)), (c, v) => (c.boot.orderWithinGroup = v)),
  },
  shutdown: {
    parallelism: field(integer(1, 1000, ''), (c, v) => (c.shutdown.parallelism = v)),
    guest_timeout: field(integer(GUEST_TIMEOUT_MIN, GUEST_TIMEOUT_MAX, 'seconds'), (c, v) => (c.shutdown.guestTimeout = v)),
    deadline: field(integer(DEADLINE_MIN, DEADLINE_MAX, 'seconds'), (c, v) => (c.shutdown.deadline = v)),
    hard_reserve: field(integer(5, 3600, 'seconds'), (c, v) => (c.shutdown.hardReserve = v)),
    on_sigterm: field(text((s) => oneOf(s, ON_SIGTERM_VALUES)), (c, v) => (c.shutdown.onSigterm = v)),
    on_stop: field(text((s) => (s === 'suspend' ? { ok: false, allowed: SUSPEND_REFUSED_TEXT } : oneOf(s, ON_STOP_VALUES))), (c, v) => (c.shutdown.onStop = v)),
    order_within_group: field(text((s) => oneOf(s, ORDER_WITHIN_GROUP_VALUES)), (c, v) => (c.shutdown.orderWithinGroup = v)),
  },
  log: {
    level: field(text((s) => oneOf(s, LOG_LEVELS)), (c, v) => (c.log.level = v)),
  },
};

const TOP_LEVEL: Record<string, Field> = {
  state_dir: field(text(absolutePath(false)), (c, v) => (c.stateDir = v)),
  alerts: field(boolean, (c, v) => (c.alerts = v)),
};

const HINTS: Record<string, string> = {
  'xapi.password': 'the password never goes in the config file: write it to a file only root can read (chmod 600) and name that file in xapi.password_file',
};

// ---------------------------------------------------------------- parsing

/** Parse and check a config file's text; `source` names it in every problem. */
export function parseConfig(textIn: string, source: string): Config {
  let doc: Record<string, unknown>;
  try {
    doc = parse(textIn) as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError(source, [syntaxProblem(source, err)]);
  }
  const problems: ConfigProblem[] = [];
  const config = defaultConfig();
  config.source = source;
  const topAllowed = [...Object.keys(SECTIONS), ...Object.keys(TOP_LEVEL), 'guests'];

  for (const [key, value] of Object.entries(doc)) {
    if (key === 'guests') {
      config.guests = readGuestTables(value, source, problems);
    } else if (key in TOP_LEVEL) {
      applyField(TOP_LEVEL[key]!, key, value, config, source, problems);
    } else if (key in SECTIONS) {
      readSection(key, value, config, source, problems);
    } else {
      problems.push(problem(source, key, showUnknown(key, value), `unknown key; allowed at the top level: ${topAllowed.join(', ')}${didYouMean(key, topAllowed)}`));
    }
  }
  if (problems.length === 0) problems.push(...crossFieldProblems(config, source, (key) => shutdownKeyInFile(doc, key)));
  if (problems.length > 0) throw new ConfigError(source, problems);
  return config;
}

function shutdownKeyInFile(doc: Record<string, unknown>, key: string): boolean {
  const section = doc.shutdown;
  return typeof section === 'object' && section !== null && key in section;
}

function syntaxProblem(source: string, err: unknown): ConfigProblem {
  if (err instanceof TomlError) {
    const first = err.message.split('\n')[0]!.replace(/^Invalid TOML document:\s*/, '');
    return problem(source, '', '', `TOML syntax error at line ${err.line}, column ${err.column}: ${first}`);
  }
  return problem(source, '', '', `cannot be parsed as TOML: ${err instanceof Error ? err.message : String(err)}`);
}

/** A misplaced secret must not be echoed into logs and terminals by the very error about it. */
function showUnknown(key: string, value: unknown): string {
  return /passw|secret|token/i.test(key) ? '[redacted]' : showValue(value);
}

function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

function applyField(f: Field, key: string, value: unknown, config: Config, source: string, problems: ConfigProblem[]): void {
  const checked = f.check(value);
  if (checked.ok) f.set(config, checked.value);
  else problems.push(problem(source, key, showValue(value), checked.allowed));
}

function readSection(section: string, value: unknown, config: Config, source: string, problems: ConfigProblem[]): void {
  const fields = SECTIONS[section]!;
  if (!isTable(value)) {
    problems.push(problem(source, section, showValue(value), `must be a table ([${section}])`));
    return;
  }
  for (const [key, v] of Object.entries(value)) {
    const dotted = `${section}.${key}`;
    const f = fields[key];
    if (f) {
      applyField(f, dotted, v, config, source, problems);
      continue;
    }
    const allowed = Object.keys(fields);
    const hint = HINTS[dotted] ? `; ${HINTS[dotted]}` : didYouMean(key, allowed);
    problems.push(problem(source, dotted, showUnknown(key, v), `unknown key; allowed in [${section}]: ${allowed.join(', ')}${hint}`));
  }
}

/** Text a guest-table key accepts, the same checks as for other_config values. */
const GUEST_VALUE_CHECKS: Record<string, (raw: string) => Checked<string>> = {
  on_start: (s) => oneOf(s, ON_START_VALUES),
  on_stop: (s) =>
    s === 'suspend'
      ? { ok: false, allowed: SUSPEND_REFUSED_TEXT }
      : oneOf(s, ON_STOP_VALUES),
  shutdown_timeout: (s) => asText(seconds(s, GUEST_TIMEOUT_MIN, GUEST_TIMEOUT_MAX)),
  ready: (s) => asText(readyCheck(s)),
  maintenance: (s) => ({ ok: true, value: s }),
  maintenance_since: (s) => ({ ok: true, value: s }),
  maintenance_by: (s) => ({ ok: true, value: s }),
  auto_poweron: (s) => (s === 'true' || s === 'false' ? { ok: true, value: s } : { ok: false, allowed: 'must be true or false' }),
  auto_poweroff: (s) => (s === 'true' || s === 'false' ? { ok: true, value: s } : { ok: false, allowed: 'must be true or false' }),
  order: (s) => asText(wholeNumber(s, -ORDER_LIMIT, ORDER_LIMIT)),
  start_delay: (s) => asText(wholeNumber(s, 0, DELAY_MAX, 'seconds')),
  shutdown_delay: (s) => asText(wholeNumber(s, 0, DELAY_MAX, 'seconds')),
  // Not policy: where the xl backend finds this guest's domain config when it is not in /etc/xen/auto.
  config: (s) => (s.startsWith('/') ? { ok: true, value: s } : { ok: false, allowed: 'must be an absolute path to the guest\'s xl config file, e.g. "/etc/xen/web-01.cfg"' }),
};

function asText(checked: Checked<unknown>): Checked<string> {
  return checked.ok ? { ok: true, value: '' } : checked;
}

function guestKey(name: string, key?: string): string {
  const quoted = `guests.${JSON.stringify(name)}`;
  return key === undefined ? quoted : `${quoted}.${key}`;
}

function readGuestTables(value: unknown, source: string, problems: ConfigProblem[]): Record<string, Record<string, string>> {
  // Null prototypes: a guest may well be called "constructor" or "__proto__".
  const guests: Record<string, Record<string, string>> = Object.create(null);
  if (!isTable(value)) {
    problems.push(problem(source, 'guests', showValue(value), 'must be tables named by guest: [guests."NAME"]'));
    return guests;
  }
  for (const [name, table] of Object.entries(value)) {
    if (!isTable(table) || name.trim() === '') {
      problems.push(problem(source, guestKey(name), showValue(table), 'must be a table [guests."NAME"] with a non-empty guest name'));
      continue;
    }
    const policy: Record<string, string> = Object.create(null);
    for (const [key, raw] of Object.entries(table)) {
      const dotted = guestKey(name, key);
      const check = GUEST_VALUE_CHECKS[key];
      if (!check) {
        problems.push(problem(source, dotted, showUnknown(key, raw), `unknown key; allowed in a guest table: ${GUEST_TABLE_KEYS.join(', ')}${didYouMean(key, GUEST_TABLE_KEYS)}`));
        continue;
      }
      if (typeof raw !== 'string' && typeof raw !== 'number' && typeof raw !== 'boolean') {
        problems.push(problem(source, dotted, showValue(raw), 'must be a string, a whole number or true/false'));
        continue;
      }
      const rawText = String(raw);
      const checked = check(rawText);
      if (!checked.ok) {
        problems.push(problem(source, dotted, showValue(raw), checked.allowed));
        continue;
      }
      // auto_poweroff counts by presence (as xapi does), so false means "leave the key out".
      if (key === 'auto_poweroff' && rawText === 'false') continue;
      policy[key] = rawText;
    }
    guests[name] = policy;
  }
  return guests;
}

function crossFieldProblems(config: Config, source: string, inFile: (shutdownKey: string) => boolean): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const { deadline, hardReserve, guestTimeout } = config.shutdown;
  if (hardReserve >= deadline) {
    problems.push(problem(source, 'shutdown.hard_reserve', String(hardReserve), `must be less than shutdown.deadline (${deadline}), so that some time is left for clean shutdowns`));
  } else if (guestTimeout > deadline - hardReserve) {
    const left = `shutdown.deadline - shutdown.hard_reserve = ${deadline} - ${hardReserve} = ${deadline - hardReserve} seconds`;
    problems.push(
      inFile('guest_timeout')
        ? problem(source, 'shutdown.guest_timeout', String(guestTimeout), `must be at most ${left}`)
        : // The file did not set guest_timeout: name what it did set, and the default it collides with.
          inFile('deadline')
          ? problem(source, 'shutdown.deadline', String(deadline), `leaves ${left} for clean shutdowns, less than the built-in default shutdown.guest_timeout = ${guestTimeout}; raise shutdown.deadline, or set shutdown.guest_timeout to at most ${deadline - hardReserve}`)
          : problem(source, 'shutdown.hard_reserve', String(hardReserve), `leaves ${left} for clean shutdowns, less than the built-in default shutdown.guest_timeout = ${guestTimeout}; lower shutdown.hard_reserve, or set shutdown.guest_timeout to at most ${deadline - hardReserve}`),
    );
  }
  if (config.xapi.url.startsWith('https:') && config.xapi.passwordFile === '') {
    problems.push(problem(source, 'xapi.password_file', '""', `must name a password file when xapi.url is https (${config.xapi.url}); only the local Unix socket logs in without a password`));
  }
  if (config.toolstack.kind !== 'xl' && Object.keys(config.guests).length > 0) {
    const first = Object.keys(config.guests)[0]!;
    problems.push(
      problem(source, guestKey(first), '{…}', 'guest tables are for toolstack.kind = "xl" only; on XenAPI hosts the policy lives in VM.other_config (xe vm-param-set, XO, XenCenter, xen-guests enable/maintenance)'),
    );
  }
  return problems;
}

// ---------------------------------------------------------------- password file

/**
 * Why a password file with these stat facts is refused, or null when it is acceptable. Anyone who
 * reads the file owns every guest on the pool, so group or others must have no access at all. The
 * problem is the config key naming the file, so it is reported against `where` (the config file).
 * (Reading the file is the composition root's job, src/app/config-files.ts; the core only judges.)
 */
export function passwordFileModeProblem(where: string, path: string, isFile: boolean, mode: number): ConfigProblem | null {
  if (!isFile) return problem(where, 'xapi.password_file', JSON.stringify(path), 'must be a regular file');
  const permissions = mode & 0o777;
  if ((permissions & 0o077) === 0) return null;
  return problem(
    where,
    'xapi.password_file',
    JSON.stringify(path),
    `is open to group or others (mode ${permissions.toString(8).padStart(4, '0')}); allowed: owner only — chmod 600 ${path}`,
  );
}

/** A problem with the config file itself (missing, unreadable, empty password file), for the loaders. */
export function fileProblem(file: string, key: string, value: string, allowed: string): ConfigProblem {
  return problem(file, key, value, allowed);
}

// ---------------------------------------------------------------- command-line overrides

export interface ConfigOverrides {
  xapi?: string;
  stateDir?: string;
  onSigterm?: string;
}

/** The config with the daemon's and commands' flags applied; bad flags raise a ConfigError naming the flag. */
export function applyOverrides(config: Config, overrides: ConfigOverrides): Config {
  const problems: ConfigProblem[] = [];
  const next: Config = { ...config, xapi: { ...config.xapi }, shutdown: { ...config.shutdown } };
  if (overrides.xapi !== undefined) {
    const checked = checkXapiUrl(overrides.xapi);
    if (checked.ok) next.xapi.url = checked.value;
    else problems.push(problem(COMMAND_LINE, '--xapi', showValue(overrides.xapi), checked.allowed));
  }
  if (overrides.stateDir !== undefined) {
    // The caller resolves a relative path against its working directory (the core reads no process state).
    if (overrides.stateDir.trim() === '' || overrides.stateDir.includes('\u0000') || !isAbsolute(overrides.stateDir)) {
      problems.push(problem(COMMAND_LINE, '--state-dir', showValue(overrides.stateDir), 'must be a directory path'));
    } else {
      next.stateDir = overrides.stateDir;
    }
  }
  if (overrides.onSigterm !== undefined) {
    const checked = oneOf(overrides.onSigterm, ON_SIGTERM_VALUES);
    if (checked.ok) next.shutdown.onSigterm = checked.value;
    else problems.push(problem(COMMAND_LINE, '--on-sigterm', showValue(overrides.onSigterm), checked.allowed));
  }
  if (problems.length === 0 && next.xapi.url.startsWith('https:') && next.xapi.passwordFile === '') {
    problems.push(problem(COMMAND_LINE, '--xapi', showValue(next.xapi.url), `an https endpoint needs xapi.password_file in the config file${config.source ? ` (${config.source})` : ''}`));
  }
  if (problems.length > 0) throw new ConfigError(COMMAND_LINE, problems);
  return next;
}

// ---------------------------------------------------------------- showing the effective values

/** The effective config in the file's own shape (snake_case keys), e.g. for `config check --json`. */
export function configAsToml(config: Config): Record<string, unknown> {
  const doc: Record<string, unknown> = {
    state_dir: config.stateDir,
    alerts: config.alerts,
    toolstack: { kind: config.toolstack.kind },
    xapi: {
      url: config.xapi.url,
      protocol: config.xapi.protocol,
      user: config.xapi.user,
      password_file: config.xapi.passwordFile,
      ca_file: config.xapi.caFile,
      fingerprint: config.xapi.fingerprint,
      host_uuid: config.xapi.hostUuid,
      call_timeout: config.xapi.callTimeout,
      wait_ready: config.xapi.waitReady,
    },
    boot: {
      parallelism: config.boot.parallelism,
      ready: formatReadyCheck(config.boot.ready),
      ready_timeout: config.boot.readyTimeout,
      honour_auto_poweron: config.boot.honourAutoPoweron,
      order_within_group: config.boot.orderWithinGroup,
    },
    shutdown: {
      parallelism: config.shutdown.parallelism,
      guest_timeout: config.shutdown.guestTimeout,
      deadline: config.shutdown.deadline,
      hard_reserve: config.shutdown.hardReserve,
      on_sigterm: config.shutdown.onSigterm,
      on_stop: config.shutdown.onStop,
      order_within_group: config.shutdown.orderWithinGroup,
    },
    log: { level: config.log.level },
  };
  if (Object.keys(config.guests).length > 0) doc.guests = config.guests;
  return doc;
}

/** The effective config as TOML text that parseConfig accepts again. */
export function formatConfig(config: Config): string {
  return stringify(configAsToml(config));
}
