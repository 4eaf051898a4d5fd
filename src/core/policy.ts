// One effective policy per guest (DESIGN.md "Policy"): each part read from the guest's own keys,
// the native XenAPI fields, the config's [guests."NAME"] table (xl hosts) or the host defaults,
// with the source of each part recorded. A bad value is a named problem and a fallback, never a
// failure: the other guests, and the other parts of this guest's policy, are unaffected.

import type { Guest } from './guest.js';
import { defaultConfig } from './config.js';
import {
  type Checked,
  DELAY_MAX,
  GUEST_TIMEOUT_MAX,
  GUEST_TIMEOUT_MIN,
  KEY_PREFIX,
  OTHER_CONFIG_KEY,
  KNOWN_PREFIXED_KEYS,
  ON_START_VALUES,
  ON_STOP_VALUES,
  ORDER_LIMIT,
  didYouMean,
  formatReadyCheck,
  oneOf,
  readyCheck,
  seconds,
  wholeNumber,
} from './keys.js';
import type { Config, EffectivePolicy, Maintenance, OnStart, OnStop, PolicyProblem, Provenance, ReadyCheck } from './types.js';

const DEFAULTS = defaultConfig();

const SUSPEND_REFUSED =
  'suspend is refused: resuming an old memory image against disks that changed since corrupts data';

/** A raw policy value and where it was found. */
interface Found {
  raw: string;
  source: Provenance;
}

/** Reads one guest's policy values: its other_config first, then its config table (xl hosts). */
interface Reader {
  guest: Guest;
  table: Record<string, string> | undefined;
  problems: PolicyProblem[];
}

function find(r: Reader, otherConfigKey: string, tableKey: string): Found | null {
  const raw = r.guest.otherConfig[otherConfigKey];
  if (typeof raw === 'string') return { raw, source: { from: 'key', key: otherConfigKey, raw } };
  const fromTable = r.table?.[tableKey];
  if (typeof fromTable === 'string') {
    return { raw: fromTable, source: { from: 'config', key: `guests.${JSON.stringify(r.guest.name)}.${tableKey}`, raw: fromTable } };
  }
  return null;
}

const K = OTHER_CONFIG_KEY;

function report(r: Reader, level: PolicyProblem['level'], found: Found, allowed: string, fallback: string): void {
  const key = found.source.key ?? '';
  r.problems.push({
    level,
    key,
    value: found.raw,
    allowed,
    fallback,
    message: `guest ${JSON.stringify(r.guest.name)} (${r.guest.uuid}): ${key} = ${JSON.stringify(found.raw)}: ${allowed}; ${fallback}`,
  });
}

/** The guest's own bad value, kept beside the fallback so status says what it replaced. */
function replacedBy(found: Found): { key: string; raw: string } {
  return { key: found.source.key ?? '?', raw: found.raw };
}

/** A checked value from the guest's keys, or the fallback (with a problem when the key was bad). */
function pick<T>(
  r: Reader,
  key: keyof typeof K,
  check: (raw: string) => Checked<T>,
  fallback: { value: T; source: Provenance; describe: string },
): { value: T; source: Provenance } {
  const found = find(r, K[key], key);
  if (!found) return fallback;
  const checked = check(found.raw);
  if (checked.ok) return { value: checked.value, source: found.source };
  report(r, 'error', found, checked.allowed, `using ${fallback.describe}`);
  return { value: fallback.value, source: { ...fallback.source, replaced: replacedBy(found) } };
}

/** Provenance of a host default: 'config' when the file changed it, 'default' when built in. */
function hostDefault(key: string, raw: string, changed: boolean): Provenance {
  return { from: changed ? 'config' : 'default', key, raw };
}

function sameReady(a: ReadyCheck, b: ReadyCheck): boolean {
  return a.kind === b.kind && (a.kind !== 'vm-data' || (b.kind === 'vm-data' && a.key === b.key));
}

function onStartOf(r: Reader, config: Config): { value: OnStart; source: Provenance } {
  const found = find(r, K.on_start, 'on_start');
  const checked = found ? oneOf(found.raw, ON_START_VALUES) : null;
  if (found && checked?.ok) return { value: checked.value, source: found.source };
  // Only when xen-guests:on_start does not decide does auto_poweron matter (and get checked).
  const fallback = onStartFromAutoPoweron(r, config);
  if (found && checked && !checked.ok) {
    report(r, 'error', found, checked.allowed, `using ${fallback.value} (from ${fallback.source.key ?? 'the default'})`);
    return { value: fallback.value, source: { ...fallback.source, replaced: replacedBy(found) } };
  }
  return fallback;
}

/** XenServer's own toggle, compared as xapi compares it: exactly the string "true". */
function onStartFromAutoPoweron(r: Reader, config: Config): { value: OnStart; source: Provenance } {
  if (!config.boot.honourAutoPoweron) {
    return { value: 'ignore', source: { from: 'config', key: 'boot.honour_auto_poweron', raw: 'false' } };
  }
  const found = find(r, 'auto_poweron', 'auto_poweron');
  if (!found) return { value: 'ignore', source: { from: 'default' } };
  if (found.raw !== 'true' && found.raw.trim().toLowerCase() === 'true') {
    report(r, 'warn', found, 'must be exactly "true" to mean on (xapi compares the exact string)', 'treated as off');
  }
  return { value: found.raw === 'true' ? 'start' : 'ignore', source: found.source };
}

function onStopOf(r: Reader, config: Config): { value: OnStop; source: Provenance } {
  const hostValue = config.shutdown.onStop;
  const changed = hostValue !== DEFAULTS.shutdown.onStop;
  const source: Provenance = changed ? hostDefault('shutdown.on_stop', hostValue, true) : { from: 'default' };
  const fallback = { value: hostValue, source, describe: changed ? `shutdown.on_stop = ${hostValue}` : hostValue };
  const found = find(r, K.on_stop, 'on_stop');
  if (found?.raw.trim() === 'suspend') {
    report(r, 'error', found, `must be shutdown, poweroff or migrate; ${SUSPEND_REFUSED}`, `treated as ${hostValue}`);
    return { value: hostValue, source: { ...fallback.source, replaced: replacedBy(found) } };
  }
  return pick(r, 'on_stop', (raw) => oneOf(raw, ON_STOP_VALUES), fallback);
}

/** VM.order and the delays: native on XenAPI, from the guest table on xl. */
function nativeNumber(
  r: Reader,
  tableKey: 'order' | 'start_delay' | 'shutdown_delay',
  field: 'order' | 'startDelay' | 'shutdownDelay',
  min: number,
  max: number,
): { value: number; source: Provenance } {
  const fromTable = r.table?.[tableKey];
  if (typeof fromTable === 'string') {
    const checked = wholeNumber(fromTable, min, max);
    if (checked.ok) return { value: checked.value, source: { from: 'config', key: `guests.${JSON.stringify(r.guest.name)}.${tableKey}`, raw: fromTable } };
  }
  const native = r.guest[field];
  const source: Provenance = { from: 'native', key: `VM.${tableKey}`, raw: String(native) };
  if (typeof native === 'number' && Number.isSafeInteger(native) && native >= min && native <= max) return { value: native, source };
  report(r, 'error', { raw: String(native), source }, `must be a whole number from ${min} to ${max}`, 'using 0');
  return { value: 0, source: { from: 'default', replaced: { key: source.key!, raw: source.raw! } } };
}

function maintenanceOf(r: Reader): { value: Maintenance | null; source: Provenance } {
  const found = find(r, K.maintenance, 'maintenance');
  if (!found) return { value: null, source: { from: 'default' } };
  return {
    value: {
      reason: found.raw.trim() === '' ? 'no reason given' : found.raw,
      since: find(r, K.maintenance_since, 'maintenance_since')?.raw ?? null,
      by: find(r, K.maintenance_by, 'maintenance_by')?.raw ?? null,
    },
    source: found.source,
  };
}

function reportUnknownKeys(r: Reader): void {
  for (const key of Object.keys(r.guest.otherConfig)) {
    if (!key.startsWith(KEY_PREFIX)) continue;
    const name = key.slice(KEY_PREFIX.length);
    if (KNOWN_PREFIXED_KEYS.includes(name)) continue;
    const allowed = `unknown key; allowed: ${KNOWN_PREFIXED_KEYS.map((k) => KEY_PREFIX + k).join(', ')}${didYouMean(name, KNOWN_PREFIXED_KEYS)}`;
    report(r, 'error', { raw: r.guest.otherConfig[key]!, source: { from: 'key', key } }, allowed, 'ignored');
  }
}

export function effectivePolicy(guest: Guest, config: Config): EffectivePolicy {
  const table = Object.hasOwn(config.guests, guest.name) ? config.guests[guest.name] : undefined;
  const r: Reader = { guest, table, problems: [] };
  const onStart = onStartOf(r, config);
  const onStop = onStopOf(r, config);
  const order = nativeNumber(r, 'order', 'order', -ORDER_LIMIT, ORDER_LIMIT);
  const startDelay = nativeNumber(r, 'start_delay', 'startDelay', 0, DELAY_MAX);
  const shutdownDelay = nativeNumber(r, 'shutdown_delay', 'shutdownDelay', 0, DELAY_MAX);
  const guestTimeout = config.shutdown.guestTimeout;
  const shutdownTimeout = pick(r, 'shutdown_timeout', (raw) => seconds(raw, GUEST_TIMEOUT_MIN, GUEST_TIMEOUT_MAX), {
    value: guestTimeout,
    source: hostDefault('shutdown.guest_timeout', String(guestTimeout), guestTimeout !== DEFAULTS.shutdown.guestTimeout),
    describe: `shutdown.guest_timeout = ${guestTimeout}`,
  });
  const readyText = formatReadyCheck(config.boot.ready);
  const ready = pick<ReadyCheck>(r, 'ready', readyCheck, {
    value: config.boot.ready,
    source: hostDefault('boot.ready', readyText, !sameReady(config.boot.ready, DEFAULTS.boot.ready)),
    describe: `boot.ready = ${readyText}`,
  });
  const maintenance = maintenanceOf(r);
  reportUnknownKeys(r);
  return {
    onStart: onStart.value,
    onStop: onStop.value,
    order: order.value,
    startDelay: startDelay.value,
    shutdownDelay: shutdownDelay.value,
    shutdownTimeout: shutdownTimeout.value,
    ready: ready.value,
    maintenance: maintenance.value,
    selfManagedPoweroff: find(r, 'auto_poweroff', 'auto_poweroff') !== null,
    sources: {
      onStart: onStart.source,
      onStop: onStop.source,
      order: order.source,
      shutdownTimeout: shutdownTimeout.source,
      ready: ready.source,
      maintenance: maintenance.source,
    },
    problems: r.problems,
  };
}

/** Policies of many guests, keyed by uuid (what buildPlan takes). */
export function effectivePolicies(guests: readonly Guest[], config: Config): Map<string, EffectivePolicy> {
  const policies = new Map<string, EffectivePolicy>();
  for (const guest of guests) policies.set(guest.uuid, effectivePolicy(guest, config));
  return policies;
}

/**
 * One line saying where a part of the policy came from — the one wording `status`, `enable` and the
 * logs share: "other_config:auto_poweron = "true"", "VM.order = "10"", "config boot.ready = "agent"",
 * "built-in default shutdown.guest_timeout = "180"". A guest's own refused value is named after it,
 * never shown as if it were the default's.
 */
export function describeProvenance(source: Provenance): string {
  const { replaced } = source;
  const instead = replaced ? ` (instead of ${replaced.key} = ${JSON.stringify(replaced.raw)}, refused)` : '';
  return describeOrigin(source) + instead;
}

function describeOrigin(source: Provenance): string {
  const raw = source.raw === undefined ? '' : ` = ${JSON.stringify(source.raw)}`;
  switch (source.from) {
    case 'key':
      return `other_config:${source.key ?? '?'}${raw}`;
    case 'native':
      return `${source.key ?? 'native field'}${raw}`;
    case 'config':
      return `config ${source.key ?? ''}${raw}`.trimEnd();
    case 'default':
      return source.key ? `built-in default ${source.key}${raw}` : 'built-in default';
  }
}
