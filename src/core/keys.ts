// The per-guest policy vocabulary and its value checks, shared by the policy (other_config keys)
// and the config file ([guests."NAME"] tables on xl hosts), so both accept and refuse the same text.

import type { OnStart, OnStop, ReadyCheck } from './types.js';

/** Prefix of our keys in VM.other_config. */
export const KEY_PREFIX = 'xen-guests:';

/** xen-guests:KEY names that carry policy. */
export const POLICY_KEYS = ['on_start', 'on_stop', 'shutdown_timeout', 'ready', 'maintenance'] as const;

/** Bookkeeping written by `xen-guests maintenance on`, allowed next to the policy keys. */
export const MAINTENANCE_BOOKKEEPING_KEYS = ['maintenance_since', 'maintenance_by'] as const;

export const KNOWN_PREFIXED_KEYS: readonly string[] = [...POLICY_KEYS, ...MAINTENANCE_BOOKKEEPING_KEYS];

/** Our keys' full other_config names, built once: fresh concatenated strings make every lookup slower. */
export const OTHER_CONFIG_KEY = {
  on_start: `${KEY_PREFIX}on_start`,
  on_stop: `${KEY_PREFIX}on_stop`,
  shutdown_timeout: `${KEY_PREFIX}shutdown_timeout`,
  ready: `${KEY_PREFIX}ready`,
  maintenance: `${KEY_PREFIX}maintenance`,
  maintenance_since: `${KEY_PREFIX}maintenance_since`,
  maintenance_by: `${KEY_PREFIX}maintenance_by`,
} as const;

/** Keys that xapi keeps natively (other_config without prefix, or VM fields); on xl they come from the config. */
export const NATIVE_GUEST_KEYS = ['auto_poweron', 'auto_poweroff', 'order', 'start_delay', 'shutdown_delay'] as const;

/** Everything a [guests."NAME"] table may hold. */
export const GUEST_TABLE_KEYS: readonly string[] = [...KNOWN_PREFIXED_KEYS, ...NATIVE_GUEST_KEYS, 'config'];

export const ON_START_VALUES: readonly OnStart[] = ['start', 'restore', 'ignore'];
export const ON_STOP_VALUES: readonly OnStop[] = ['shutdown', 'poweroff', 'migrate'];

/** Bounds of a per-guest clean shutdown timeout, seconds. */
export const GUEST_TIMEOUT_MIN = 1;
export const GUEST_TIMEOUT_MAX = 86_400;

/** Bounds of VM.order / start_delay / shutdown_delay when they come from text (xl config). */
export const ORDER_LIMIT = 1_000_000;
export const DELAY_MAX = 86_400;

export type Checked<T> = { ok: true; value: T } | { ok: false; allowed: string };

export function oneOf<T extends string>(raw: string, values: readonly T[]): Checked<T> {
  const found = values.find((v) => v === raw);
  if (found !== undefined) return { ok: true, value: found };
  return { ok: false, allowed: `must be one of ${values.join(', ')}${didYouMean(raw, values)}` };
}

/** A whole number written in decimal digits (other_config values are text; no signs, no units). */
export function wholeNumber(raw: string, min: number, max: number, unit = ''): Checked<number> {
  const allowed = `must be a whole number${unit ? ` of ${unit}` : ''} from ${min} to ${max}`;
  const text = raw.trim();
  if (!/^-?[0-9]+$/.test(text)) return { ok: false, allowed };
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min || value > max) return { ok: false, allowed };
  return { ok: true, value };
}

export function seconds(raw: string, min: number, max: number): Checked<number> {
  return wholeNumber(raw, min, max, 'seconds');
}

const READY_ALLOWED = 'must be running, agent, or vm-data/KEY (KEY made of letters, digits and - _ @ . with / between parts, no . or .. parts)';
const XENSTORE_KEY = /^[A-Za-z0-9_@.-]+(\/[A-Za-z0-9_@.-]+)*$/;

/** `running` | `agent` | `vm-data/KEY` — what "started" means for a guest. */
export function readyCheck(raw: string): Checked<ReadyCheck> {
  const text = raw.trim();
  if (text === 'running') return { ok: true, value: { kind: 'running' } };
  if (text === 'agent') return { ok: true, value: { kind: 'agent' } };
  if (text.startsWith('vm-data/')) {
    const key = text.slice('vm-data/'.length);
    // "." and ".." parts would name a node outside the guest's vm-data (e.g. vm-data/../etc).
    const climbsOut = key.split('/').some((part) => part === '.' || part === '..');
    if (XENSTORE_KEY.test(key) && !climbsOut) return { ok: true, value: { kind: 'vm-data', key } };
  }
  return { ok: false, allowed: READY_ALLOWED + didYouMean(text, ['running', 'agent']) };
}

export function formatReadyCheck(ready: ReadyCheck): string {
  return ready.kind === 'vm-data' ? `vm-data/${ready.key}` : ready.kind;
}

/** ' (did you mean "x"?)' when one allowed word is a likely typo of raw, else ''. */
export function didYouMean(raw: string, allowed: readonly string[]): string {
  const lower = raw.toLowerCase();
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const candidate of allowed) {
    const d = editDistance(lower, candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  // A distance of up to a third of the word catches transpositions and one or two slips.
  const limit = Math.max(1, Math.floor((best?.length ?? 0) / 3));
  return best !== null && bestDistance > 0 && bestDistance <= limit ? ` (did you mean "${best}"?)` : '';
}

/** Edits to turn a into b, a swap of neighbours counting as one (the commonest typo). */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 3) return Infinity;
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      let best = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, before[j - 2]! + 1);
      current[j] = best;
    }
    before = previous;
    previous = current;
  }
  return previous[b.length]!;
}

/** Value shown in messages: strings quoted (so blanks and empties are visible), the rest as written. */
export function showValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object' && value !== null) {
    try {
      return JSON.stringify(value);
    } catch {
      return String(value);
    }
  }
  return String(value);
}
